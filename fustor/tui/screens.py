"""The console's screens. Each renders rows from ``fustor.tui.model``.

Fusion: overview, sessions, pipes, view browser, search, config.
Agent: agent (pipes, watches, drift, audit, sentinel), config.
Both: help (modal) and the ``:`` command line (modal).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import tempfile
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.suggester import SuggestFromList
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, OptionList, ProgressBar, Sparkline, Static, TextArea
from textual.widgets.option_list import Option

from fustor.client import ClientError, RemoteError

from . import model as m
from .widgets import NAV, FTable, StatusLine, TopBar, cell, labelled_lines, verdict_renderable

if TYPE_CHECKING:
    from .app import FustorApp


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, RemoteError):
        return f"{exc.message} [{exc.code}]"
    return str(exc) or type(exc).__name__


class BaseScreen(Screen):
    """Top bar, status line, a body, the footer; live data through :meth:`live_update`."""

    NAME = ""
    #: extra lines for the help screen: (key, what it does)
    HELP_EXTRA: tuple[tuple[str, str], ...] = ()

    @property
    def fapp(self) -> "FustorApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield TopBar(id="topbar")
        yield StatusLine(id="statusline")
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.fapp.refresh_chrome(self)

    def on_screen_resume(self) -> None:
        self.fapp.refresh_chrome(self)
        self.live_update()

    def on_resize(self) -> None:
        self.fapp.refresh_chrome(self)

    def live_update(self) -> None:
        """A newer status arrived (at most every ``refresh_interval``)."""

    def chrome_extra(self) -> str:
        return m.server_line(self.fapp.source.status, self.fapp.now())

    def spawn(self, fn: Any, *args: Any, group: str = "default", exclusive: bool = False) -> None:
        self.fapp.spawn(fn, *args, group=group, exclusive=exclusive, owner=self)


# --- fusion: overview ------------------------------------------------------------------------


class OverviewScreen(BaseScreen):
    NAME = "overview"
    HELP_EXTRA = (("⏎", "browse the highlighted view"),)
    BINDINGS = [
        Binding("b", "browse", "Browse", tooltip="browse the highlighted view (also ⏎)"),
        Binding("f", "app.search", "Search", tooltip="search every view for a name or glob"),
    ]

    def compose_body(self) -> ComposeResult:
        with Vertical(id="overview"):
            yield Static("Views", classes="section")
            yield FTable(m.VIEW_COLUMNS, id="ov-views", classes="auto-table")
            yield Static("", id="ov-notready", classes="warn-lines")
            with Horizontal(id="ov-rate"):
                yield Static("", id="ov-rate-label")
                yield Sparkline([], id="ov-spark", summary_function=max)
            yield Static("", id="ov-pipes", classes="detail")
            yield Static("Audits", classes="section")
            yield Vertical(id="ov-audits")
            yield Static("Sessions", classes="section")
            yield FTable(m.SESSION_COLUMNS[:9], id="ov-sessions")

    def live_update(self) -> None:
        app = self.fapp
        st = app.source.status
        now = app.now()
        self.query_one("#ov-views", FTable).set_rows(m.view_rows(st, now, app.tz))
        nr = m.not_ready_lines(st)
        w = self.query_one("#ov-notready", Static)
        w.display = bool(nr)
        w.update("\n".join("⚠ " + line for line in nr))
        hist = m.events_history(st)
        self.query_one("#ov-spark", Sparkline).data = hist or [0.0]
        peak = max(hist) if hist else 0.0
        self.query_one("#ov-rate-label", Static).update(
            Text.assemble(("events/s ", "bold"), (m.human_rate(m.total_rate(st)), "bold cyan"),
                          f"\npeak {m.human_rate(peak)} · 60 s"))  # fmt: skip
        self.query_one("#ov-pipes", Static).update(Text.assemble(("Pipes ", "bold"), *m.pipes_line(st)))
        self._audits(m.audit_lines(st, now, app.tz))
        self.query_one("#ov-sessions", FTable).set_rows(m.session_rows(st))

    def _audits(self, lines: list[m.AuditLine]) -> None:
        box = self.query_one("#ov-audits", Vertical)
        want = [f"audit-{i}-{int(line.running)}" for i, line in enumerate(lines)]
        have = [c.id for c in box.children]
        if want != have:
            box.remove_children()
            for i, line in enumerate(lines):
                row = Vertical(id=want[i], classes="audit-item")
                box.mount(row)
                row.mount(Static(line.text, classes="audit-text"))
                if line.running:
                    bar_row = Horizontal(classes="audit-bar-row")
                    row.mount(bar_row)
                    bar_row.mount(ProgressBar(total=line.total, show_eta=False, classes="audit-bar"))
                    bar_row.mount(Static(line.elapsed, classes="audit-elapsed"))
            self.call_after_refresh(self._audits_fill, lines)
            return
        self._audits_fill(lines)

    def _audits_fill(self, lines: list[m.AuditLine]) -> None:
        box = self.query_one("#ov-audits", Vertical)
        for row, line in zip(box.children, lines):
            texts = row.query(Static).filter(".audit-text")
            if texts:
                texts.first().update(Text(line.text, style="bold" if line.running else "dim"))
            bars = row.query(ProgressBar)
            if bars and line.total:
                bars.first().update(total=line.total, progress=line.progress or 0)
            elapsed = row.query(".audit-elapsed")
            if elapsed:
                elapsed.first().update(line.elapsed)  # type: ignore[attr-defined]

    def action_browse(self) -> None:
        key = self.query_one("#ov-views", FTable).current_key()
        self.fapp.open_view(key)

    @on(DataTable.RowSelected, "#ov-views")
    def _view_selected(self, event: DataTable.RowSelected) -> None:
        self.fapp.open_view(str(event.row_key.value))

    @on(DataTable.RowSelected, "#ov-sessions")
    def _session_selected(self, event: DataTable.RowSelected) -> None:
        self.fapp.action_goto("sessions")


# --- fusion: sessions and pipes ----------------------------------------------------------------


class SessionsScreen(BaseScreen):
    NAME = "sessions"
    HELP_EXTRA = (("click header", "sort by that column (again: reverse)"),)

    def compose_body(self) -> ComposeResult:
        yield Static("Sessions · leader/follower per view (* leads) · sorted by the column you pick", classes="section")
        yield FTable(m.SESSION_COLUMNS, id="sessions-table")
        yield Static("", id="session-detail", classes="detail")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#sessions-table", FTable).sort_by("agent")

    def live_update(self) -> None:
        st = self.fapp.source.status
        table = self.query_one("#sessions-table", FTable)
        table.set_rows(m.session_rows(st))
        self._detail()

    @on(DataTable.RowHighlighted, "#sessions-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def _detail(self) -> None:
        table = self.query_one("#sessions-table", FTable)
        key = table.current_key()
        s = next((s for s in (self.fapp.source.status or {}).get("sessions", []) if s.get("session_id") == key), None)
        if s is None:
            self.query_one("#session-detail", Static).update("no session" if not table.row_count else "")
            return
        roles = ", ".join(f"{v}: {r}" for v, r in sorted((s.get("roles") or {}).items())) or m.DASH
        lines = [("Session", str(s.get("session_id")), "bold"), ("Source", str(s.get("source_uri") or m.DASH), ""),
                 ("Roles", roles, ""),
                 ("Heartbeat", f"{m.ago(self.fapp.now() - (s.get('last_heartbeat_age') or 0), self.fapp.now())} "
                  f"(timeout {s.get('timeout')} s)", "")]
        self.query_one("#session-detail", Static).update(labelled_lines(lines))


class PipesScreen(BaseScreen):
    NAME = "pipes"

    def compose_body(self) -> ComposeResult:
        yield Static("Fusion pipes · a receiver feeding views", classes="section")
        yield FTable(m.PIPE_COLUMNS, id="pipes-table")
        yield Static("", id="pipe-detail", classes="detail")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#pipes-table", FTable).sort_by("pipe")

    def live_update(self) -> None:
        st = self.fapp.source.status
        self.query_one("#pipes-table", FTable).set_rows(m.pipe_rows(st))
        self._detail()

    @on(DataTable.RowHighlighted, "#pipes-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def _detail(self) -> None:
        key = self.query_one("#pipes-table", FTable).current_key()
        st = self.fapp.source.status or {}
        sessions = [s for s in st.get("sessions", []) if s.get("pipe") == key]
        if key is None:
            self.query_one("#pipe-detail", Static).update("")
            return
        who = ", ".join(f"{s.get('agent_id')}@{s.get('host') or '?'} ({m.role_badge(s.get('roles'))[0].strip()})"
                        for s in sessions) or "no session"
        self.query_one("#pipe-detail", Static).update(labelled_lines([("Pipe", str(key), "bold"), ("Agents", who, "")]))

    @on(DataTable.RowSelected, "#pipes-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.fapp.action_goto("sessions")


# --- fusion: the view browser -----------------------------------------------------------------


class ListingTable(DataTable):
    BINDINGS = [
        Binding("left,h", "screen.up", "Up", show=False),
        Binding("right,l", "screen.descend", "Open", show=False),
        Binding("end,G", "last_row", "Last row", show=False),
        Binding("home", "first_row", "First row", show=False),
    ]

    def action_last_row(self) -> None:
        """The last row loaded; the next page comes in (and the first leaves) as the cursor gets there."""
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0, animate=False)


class BrowserScreen(BaseScreen):
    """ncdu for a view: server-sorted, server-paged listing and a completeness panel."""

    NAME = "browser"
    HELP_EXTRA = (
        ("⏎/→", "open the highlighted directory"),
        ("/ then !re", "filter: hide names matching re (! inverts)"),
        ("click crumb", "go to that directory"),
    )  # fmt: skip
    BINDINGS = [
        Binding("backspace", "up", "Up", tooltip="go up to the parent directory (also ← and h)"),
        Binding("s", "sort('size')", "Size", tooltip="sort by size, biggest first (again: reverse)"),
        Binding("n", "sort('name')", "Name", tooltip="sort by name (again: reverse)"),
        Binding("C", "sort('count')", "Count", tooltip="sort by file count (again: reverse)"),
        Binding("m", "sort('mtime')", "Mtime", tooltip="sort by newest mtime (again: reverse)"),
        Binding("slash", "filter", "Filter", tooltip="filter names by a regex; !regex hides the matches"),
        Binding("escape", "clear_filter", "Clear filter", show=False, tooltip="clear the filter"),
        Binding("f", "app.search", "Search", tooltip="search every view for a name or glob"),
        Binding("r", "rescan", "Rescan", tooltip="force a real-time rescan of the directory; shows the job"),
        Binding("c", "copy_path", "Copy", tooltip="copy the highlighted path to the clipboard"),
        Binding("g", "reload", "Refresh", show=False, tooltip="reload the listing now (it refreshes by itself)"),
        Binding("p", "toggle_panel", "Panel", show=False, tooltip="show or hide the completeness panel"),
        Binding("v", "next_view", "Next view", show=False, tooltip="browse the next view"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view: str | None = None
        self.pager = m.DirPager(page_size=200)
        self.dir_entry: dict | None = None
        self.deletions: dict[str, int] = {}
        self.direct_deletions = 0
        self.summary: dict | None = None
        self.summary_path: str | None = None
        self.job: m.JobView | None = None
        #: (state, text) of the rescan job each time the info line showed a new state
        self.job_log: list[tuple[str, str]] = []
        self.error: str | None = None
        self._select: str | None = None
        self._shown: list[str] = []
        self._signature: tuple = ()
        self._summary_timer: Timer | None = None
        self._filter_timer: Timer | None = None
        self._refreshing = False
        self.opened_at: float | None = None  # perf counter when a directory was asked for (benchmarks)
        self.first_page_at: float | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="crumbs")
        with Horizontal(id="browser-body"):
            with Vertical(id="listing-box"):
                yield ListingTable(id="listing", cursor_type="row", zebra_stripes=True)
                yield Static("", id="listing-info")
                yield Input(placeholder="filter: a regex on names; !regex hides matches; esc clears",
                            id="filter-input")
            with VerticalScroll(id="panel"):
                yield Static("", id="panel-body")

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#listing", DataTable)
        for c in m.LISTING_COLUMNS:
            label = Text(c.label, justify=c.align if c.align in ("left", "right") else "left")
            table.add_column(label, key=c.key, width=c.width)
        self.query_one("#filter-input", Input).display = False
        self.set_interval(self.fapp.browse_refresh, self._refresh_tick)
        self._render_crumbs()
        self._render_panel()

    def on_resize(self) -> None:
        super().on_resize()
        if not self.query("#crumbs"):
            return
        narrow = self.size.width < 120
        if narrow != self.has_class("-narrow"):
            self.set_class(narrow, "-narrow")
            self._render_panel()
        self._render_crumbs()

    # -- opening ------------------------------------------------------------------------------

    def open(self, view: str, path: str = "/", select: str | None = None) -> None:
        import time as _time

        changed_view = view != self.view
        self.view = view
        self.pager.reset(path=path, flt=m.RowFilter())
        self._select = select
        self.error = None
        self.dir_entry = None
        self.deletions, self.direct_deletions = {}, 0
        if changed_view:
            self.job = None
        fi = self.query_one("#filter-input", Input)
        fi.value = ""
        fi.display = False
        self.opened_at = _time.perf_counter()
        self.first_page_at = None
        self._clear_listing()
        self._render_crumbs()
        self._render_info()
        self._pump(None)
        self.spawn(self._load_dir_info, view, path, group="dirinfo", exclusive=True)
        self._schedule_summary(path, delay=0.0)
        self.query_one("#listing", DataTable).focus()

    def ensure_open(self) -> None:
        if self.view is not None:
            return
        views = self.fapp.view_names()
        if views:
            ready = [v.get("view") for v in (self.fapp.source.status or {}).get("views", []) if v.get("ready")]
            self.open(str(ready[0]) if ready else views[0])

    def live_update(self) -> None:
        if self.view is None:
            self.ensure_open()
        self._render_crumbs()

    # -- loading ------------------------------------------------------------------------------

    def _cursor_row(self) -> int | None:
        table = self.query_one("#listing", DataTable)
        return table.cursor_row if table.row_count else None

    def _pump(self, row: int | None) -> None:
        if self.view is None:
            return
        fetch = self.pager.next_fetch(row)
        if fetch is not None:
            self.spawn(self._load, self.view, fetch, group="ls")

    async def _load(self, view: str, fetch: m.Fetch) -> None:
        try:
            reply = await self.fapp.source.ls(view, fetch.path, limit=fetch.limit, cursor=fetch.cursor,
                                              sort=fetch.sort, reverse=fetch.reverse)  # fmt: skip
        except (ClientError, OSError) as exc:
            self.pager.failed(fetch, _error_text(exc))
            if view == self.view:
                self.error = self.pager.error
                self._render_info()
                if self.pager.error:
                    self._clear_listing()
            return
        if view != self.view or not self.pager.apply(fetch, reply):
            return
        self.error = None
        self._render_listing()
        self._pump(self._cursor_row())

    async def _load_dir_info(self, view: str, path: str) -> None:
        src = self.fapp.source
        try:
            entry = await src.stats(view, path)
        except (ClientError, OSError):
            entry = None
        try:
            blind = await src.blind_spots(view, path, limit=1000)
            per_child, direct = m.deletions_by_child(path, blind.get("deletions") or [])
        except (ClientError, OSError):
            per_child, direct = {}, 0
        if view != self.view or path != self.pager.path:
            return
        changed = (entry or {}).get("size") != (self.dir_entry or {}).get("size") or per_child != self.deletions
        self.dir_entry, self.deletions, self.direct_deletions = entry, per_child, direct
        self._render_crumbs()
        if changed and self._shown:
            self._render_listing(force=True)

    def _refresh_tick(self) -> None:
        # A worker, not an awaiting timer callback: the screen's message loop (keys, cursor moves)
        # must never wait on the network.
        if self.view is None or self.fapp.screen is not self or self._refreshing or self.pager.loading:
            return
        self.spawn(self._live_refresh, group="refresh", exclusive=True)

    async def _live_refresh(self) -> None:
        if self.view is None or self.fapp.screen is not self or self._refreshing or self.pager.loading:
            return
        if self.fapp.source.state().state != "connected":
            return
        if self.pager.error:
            self.pager.retry()
            self._pump(None)
            return
        self._refreshing = True
        try:
            view, gen = self.view, self.pager.generation
            fetches = self.pager.refresh_fetches()
            replies = []
            for f in fetches:
                try:
                    replies.append((f, await self.fapp.source.ls(view, f.path, limit=f.limit, cursor=f.cursor,
                                                                 sort=f.sort, reverse=f.reverse)))
                except (ClientError, OSError):
                    return
            if view != self.view or gen != self.pager.generation:
                return
            for f, reply in replies:
                self.pager.apply(f, reply)
            self._render_listing()
            await self._load_dir_info(view, self.pager.path)
            if self.summary_path is not None and (self.job is None or self.job.done):
                await self._load_summary(view, self.summary_path)
        finally:
            self._refreshing = False

    # -- rendering ------------------------------------------------------------------------------

    def _clear_listing(self) -> None:
        table = self.query_one("#listing", DataTable)
        table.clear()
        self._shown = []
        self._signature = ()

    def _render_listing(self, force: bool = False) -> None:
        import time as _time

        table = self.query_one("#listing", DataTable)
        rows = self.pager.rows()
        seen: set[str] = set()
        uniq = []
        for e in rows:
            name = str(e.get("name"))
            if name not in seen:
                seen.add(name)
                uniq.append(e)
        sig = tuple((e.get("name"), e.get("size"), e.get("files"), m.entry_newest(e), m.entry_flags(e))
                    for e in uniq)  # fmt: skip
        if sig == self._signature and not force:
            self._render_info()
            return
        keep = self._select or (self._shown[table.cursor_row] if self._shown and table.row_count
                                and table.cursor_row < len(self._shown) else None)  # fmt: skip
        old_row = table.cursor_row if table.row_count else 0
        now = self.fapp.now()
        dir_size = (self.dir_entry or {}).get("size")
        with self.app.batch_update():
            table.clear()
            specs = m.LISTING_COLUMNS
            for e in uniq:
                r = m.listing_row(e, now, dir_size, self.deletions.get(str(e.get("name")), 0))
                table.add_row(*[cell(r.cells.get(c.key, ""), r.style.get(c.key, ""), c.align) for c in specs],
                              key=r.key)
            self._shown = [str(e.get("name")) for e in uniq]
            self._signature = sig
            if self._shown:
                target = self._shown.index(keep) if keep in self._shown else min(old_row, len(self._shown) - 1)
                if keep in self._shown:
                    self._select = None
                table.move_cursor(row=target, animate=False)
        if self.first_page_at is None and self._shown:
            self.first_page_at = _time.perf_counter()
        self._render_info()

    def _render_crumbs(self) -> None:
        if self.view is None:
            self.query_one("#crumbs", Static).update("no view yet · :view NAME opens one")
            return
        parts = [f"[b]{self.view}[/]:"]
        crumbs = m.breadcrumbs(self.pager.path)
        for i, (label, path) in enumerate(crumbs):
            sep = "" if i <= 1 else " › "
            esc = label.replace("[", r"\[")
            target = path.replace("'", "\\'")
            parts.append(f"{sep}[@click=screen.goto_path('{target}')]{esc}[/]")
        text = "".join(parts)
        d = self.dir_entry
        if d:
            text += (f"  [dim]{m.human_size(d.get('size'))} · {m.plural(d.get('files'), 'file')} · "
                     f"{m.plural(d.get('dirs'), 'dir')}[/]")
        if self.direct_deletions:
            text += f"  [magenta]{self.direct_deletions} deleted unseen (blind spot)[/]"
        self.query_one("#crumbs", Static).update(text)

    def _render_info(self) -> None:
        info = Text()
        if self.error:
            info.append(f"✖ {self.error}", style="bold red")
        else:
            row = self._cursor_row()
            info.append(self.pager.position_text(row if not self.pager.filter.active else None))
            info.append(f" · sort {self.pager.sort} {'↓' if self.pager.reverse else '↑'}", style="dim")
            flt = self.pager.filter
            if flt.active:
                info.append(f" · filter {flt.describe()}", style="bold cyan")
            if flt.error:
                info.append(f" · {flt.error}", style="yellow")
        if self.job is not None:
            text = self.job.text(self.fapp.now())
            info.append(" · " + text, style=self.job.style())
            if not self.job_log or self.job_log[-1][0] != self.job.state:
                self.job_log.append((self.job.state, text))
        self.query_one("#listing-info", Static).update(info)

    def _render_panel(self) -> None:
        body = self.query_one("#panel-body", Static)
        if self.view is None:
            body.update(Text("Completeness\n\nopen a view to see whether a directory is complete", style="dim"))
            return
        path = self.summary_path or self.pager.path
        vv = m.verdict_view(self.summary, self.fapp.now(), self.fapp.tz)
        job = self.job if self.job is not None and self.job.path == path else None
        body.update(verdict_renderable(vv, path, job, self.fapp.now(), wide=self.has_class("-narrow")))

    # -- the completeness panel -------------------------------------------------------------------

    def _highlighted_path(self) -> str:
        table = self.query_one("#listing", DataTable)
        if self._shown and table.row_count and table.cursor_row < len(self._shown):
            return m.join_path(self.pager.path, self._shown[table.cursor_row])
        return self.pager.path

    def _highlighted_entry(self) -> dict | None:
        table = self.query_one("#listing", DataTable)
        if not self._shown or not table.row_count:
            return None
        name = self._shown[min(table.cursor_row, len(self._shown) - 1)]
        return next((e for e in self.pager.rows() if str(e.get("name")) == name), None)

    def _schedule_summary(self, path: str, delay: float = 0.2) -> None:
        if self._summary_timer is not None:
            self._summary_timer.stop()
        view = self.view

        def go() -> None:
            if view is not None and view == self.view:
                self.spawn(self._load_summary, view, path, group="summary", exclusive=True)

        if delay <= 0:
            go()
        else:
            self._summary_timer = self.set_timer(delay, go)

    async def _load_summary(self, view: str, path: str) -> None:
        try:
            reply = await self.fapp.source.summary(view, path)
        except (ClientError, OSError) as exc:
            reply = {"path": path, "verdict": "unknown", "reasons": [_error_text(exc)]}
        if view != self.view:
            return
        self.summary, self.summary_path = reply, path
        self._render_panel()

    @on(DataTable.RowHighlighted, "#listing")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # The table's cursor now, not the event's: a re-render clears the table (the cursor
        # passes row 0) before it puts the cursor back, and row 0 would ask for the previous page.
        self._pump(self._cursor_row())
        self._render_info()
        path = self._highlighted_path()
        if path != self.summary_path:
            self._schedule_summary(path)

    @on(DataTable.RowSelected, "#listing")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_descend()

    # -- actions ------------------------------------------------------------------------------------

    def action_descend(self) -> None:
        e = self._highlighted_entry()
        if e is None or self.view is None:
            return
        if e.get("kind") == "dir":
            self.open(self.view, m.join_path(self.pager.path, str(e.get("name"))))
        else:
            self._schedule_summary(m.join_path(self.pager.path, str(e.get("name"))), delay=0)

    def action_up(self) -> None:
        if self.view is None or self.pager.path == "/":
            return
        here = self.pager.path
        self.open(self.view, m.parent_path(here), select=m.name_of(here))

    def action_goto_path(self, path: str) -> None:
        if self.view is not None:
            self.open(self.view, path)

    def action_sort(self, sort: str) -> None:
        if self.view is None:
            return
        reverse = (not self.pager.reverse) if self.pager.sort == sort else m.LS_DEFAULT_REVERSE[sort]
        keep = self._highlighted_entry()
        self._select = str(keep.get("name")) if keep else None
        self.pager.reset(sort=sort, reverse=reverse)
        self._clear_listing()
        self._render_info()
        self._pump(None)

    def action_filter(self) -> None:
        fi = self.query_one("#filter-input", Input)
        fi.display = True
        fi.value = self.pager.filter.text
        fi.focus()

    def action_clear_filter(self) -> None:
        fi = self.query_one("#filter-input", Input)
        fi.value = ""
        fi.display = False
        if self.pager.filter.active or self.pager.filter.text:
            self._apply_filter("")
        self.query_one("#listing", DataTable).focus()

    def _apply_filter(self, text: str) -> None:
        flt = m.RowFilter.parse(text)
        if flt == self.pager.filter:
            return
        self.pager.set_filter(flt)
        self._clear_listing()
        self._render_info()
        self._pump(None)

    @on(Input.Changed, "#filter-input")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        value = event.value
        self._filter_timer = self.set_timer(0.25, lambda: self._apply_filter(value))

    @on(Input.Submitted, "#filter-input")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        if m.RowFilter.parse(event.value) == self.pager.filter:
            self.pager.renew_budget()  # the same filter again: scan further
            self._pump(self._cursor_row())
        self._apply_filter(event.value)
        if not event.value:
            event.input.display = False
        self.query_one("#listing", DataTable).focus()

    def on_key(self, event: Any) -> None:
        if event.key == "escape" and self.focused is self.query_one("#filter-input", Input):
            event.stop()
            self.action_clear_filter()

    def action_reload(self) -> None:
        if self.view is not None:
            self.pager.retry()
            self.open(self.view, self.pager.path, select=(self._highlighted_entry() or {}).get("name"))

    def action_toggle_panel(self) -> None:
        panel = self.query_one("#panel")
        panel.display = not panel.display

    def action_next_view(self) -> None:
        views = self.fapp.view_names()
        if not views:
            return
        i = views.index(self.view) + 1 if self.view in views else 0
        self.open(views[i % len(views)])

    def action_copy_path(self) -> None:
        path = self._highlighted_path()
        self.fapp.copy(f"{path}")

    def action_rescan(self) -> None:
        if self.view is None:
            return
        if self.fapp.readonly:
            self.fapp.notify("read-only: a rescan needs an admin key", severity="warning")
            return
        e = self._highlighted_entry()
        path = m.join_path(self.pager.path, str(e["name"])) if e and e.get("kind") == "dir" else self.pager.path
        self.job = m.JobView(None, path, "sending", self.fapp.now())
        self.summary_path = path
        self._render_info()
        self._render_panel()
        self.spawn(self._rescan, self.view, path, group="rescan", exclusive=True)

    async def _rescan(self, view: str, path: str) -> None:
        app = self.fapp
        started = app.now()
        try:
            reply = await app.source.summary(view, path, force_real_time=True, timeout=0)
        except (ClientError, OSError) as exc:
            self.job = m.JobView(None, path, "failed", started, app.now(), _error_text(exc))
            self._render_info()
            self._render_panel()
            return
        self.summary, self.summary_path = reply, path
        self.job = m.job_from_reply(path, reply, started)
        self._render_info()
        self._render_panel()
        while self.job is not None and not self.job.done and self.job.job_id:
            await asyncio.sleep(app.job_poll)
            try:
                status = await app.source.job_status(self.job.job_id)
            except (ClientError, OSError) as exc:
                self.job = m.JobView(self.job.job_id, path, "failed", started, app.now(), _error_text(exc))
                break
            self.job = m.job_from_reply(path, status, started)
            if self.job.done and self.job.finished is None:
                self.job.finished = app.now()
            self._render_info()
            self._render_panel()
        if self.job is not None and self.job.state == "complete" and self.job.finished is not None:
            # The job's completion time is fusion's clock; show the console's for the duration.
            self.job.finished = max(self.job.finished, started)
        await self._load_summary(view, path)
        self._render_info()
        self._render_panel()
        if view == self.view:
            self.spawn(self._live_refresh, group="refresh-now", exclusive=True)


# --- search ----------------------------------------------------------------------------------------


class SearchScreen(BaseScreen):
    NAME = "search"
    HELP_EXTRA = (("⏎ (input)", "search every view (a name, or a glob: S12*)"),
                  ("⏎ (result)", "browse to it: its directory, with it highlighted"))  # fmt: skip
    BINDINGS = [Binding("slash,f", "focus_input", "New search", tooltip="type a new search")]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reply: dict | None = None
        self.pattern: str = ""

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="search every view: a name (S1234) or a glob (S12*, *.tmp)", id="search-input")
        yield Static("type a name or a glob and press enter: where did this submission land?", id="search-info")
        yield FTable(m.SEARCH_COLUMNS, id="search-table")

    def action_focus_input(self) -> None:
        self.query_one("#search-input", Input).focus()

    def run_search(self, text: str) -> None:
        self.query_one("#search-input", Input).value = text
        self.spawn(self._search, text, group="search", exclusive=True)

    @on(Input.Submitted, "#search-input")
    def _submitted(self, event: Input.Submitted) -> None:
        self.run_search(event.value)

    async def _search(self, text: str) -> None:
        pattern, looser = m.search_pattern(text)
        info = self.query_one("#search-info", Static)
        if not pattern:
            info.update("type a name or a glob")
            return
        info.update(f"searching every view for {pattern}…")
        try:
            reply = await self.fapp.source.search(pattern, limit=200)
            used = pattern
            if not reply.get("results") and looser:
                reply = await self.fapp.source.search(looser, limit=200)
                used = looser
        except (ClientError, OSError) as exc:
            info.update(Text(f"✖ {_error_text(exc)}", style="bold red"))
            return
        self.reply, self.pattern = reply, used
        rows = m.search_rows(reply)
        table = self.query_one("#search-table", FTable)
        table.set_rows(rows)
        n = len(rows)
        views = ", ".join(reply.get("views") or []) or "no ready view"
        more = " (more exist: narrow the pattern)" if reply.get("truncated") else ""
        info.update(f"{n} result{'s' if n != 1 else ''} for {used} in {views}{more}")
        if rows:
            table.focus()

    @on(DataTable.RowSelected, "#search-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        key = str(event.row_key.value)
        r = next((r for i, r in enumerate((self.reply or {}).get("results", []))
                  if f"{r.get('view')}:{r.get('path')}:{i}" == key), None)  # fmt: skip
        if r is None:
            return
        path = str(r.get("path"))
        self.fapp.open_view(str(r.get("view")), m.parent_path(path), select=m.name_of(path))


# --- agent --------------------------------------------------------------------------------------------


class AgentScreen(BaseScreen):
    NAME = "agent"

    def compose_body(self) -> ComposeResult:
        yield Static("Pipes · source → sender", classes="section")
        yield FTable(m.AGENT_PIPE_COLUMNS, id="agent-pipes", classes="auto-table")
        yield Static("", id="agent-title", classes="section")
        with Horizontal(classes="bar-row"):
            yield Static("Watches used", classes="bar-label")
            yield ProgressBar(total=1, show_eta=False, id="watch-bar")
        with Horizontal(classes="bar-row", id="audit-row"):
            yield Static("Audit", classes="bar-label")
            yield ProgressBar(total=1, show_eta=False, id="audit-bar")
        yield Static("", id="agent-detail", classes="detail")
        yield Static("", id="agent-sources", classes="detail")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#agent-pipes", FTable).sort_by("pipe")

    def live_update(self) -> None:
        st = self.fapp.source.status
        self.query_one("#agent-pipes", FTable).set_rows(m.agent_pipe_rows(st))
        self._detail()

    @on(DataTable.RowHighlighted, "#agent-pipes")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def _detail(self) -> None:
        st = self.fapp.source.status or {}
        key = self.query_one("#agent-pipes", FTable).current_key()
        pipe = next((p for p in st.get("pipes", []) if p.get("pipe") == key), None)
        d = m.agent_pipe_detail(pipe, self.fapp.now(), self.fapp.tz)
        self.query_one("#agent-title", Static).update(d.title)
        wb = self.query_one("#watch-bar", ProgressBar)
        if d.watches_limit:
            wb.update(total=d.watches_limit, progress=d.watches_used or 0)
        else:
            wb.update(total=max(1, d.watches_used or 1), progress=d.watches_used or 0)
        row = self.query_one("#audit-row")
        row.display = d.audit_total is not None
        if d.audit_total:
            self.query_one("#audit-bar", ProgressBar).update(total=d.audit_total, progress=d.audit_progress or 0)
        self.query_one("#agent-detail", Static).update(labelled_lines(d.lines))
        src = m.source_lines(st)
        self.query_one("#agent-sources", Static).update(
            labelled_lines([("Sources", "", "bold")] + src) if src else "")


# --- config ---------------------------------------------------------------------------------------------


class ConfigScreen(BaseScreen):
    """Edit a config file: validate (errors or a diff), then write and hot-reload."""

    NAME = "config"
    HELP_EXTRA = (("⏎ (file list)", "open the file in the editor"),
                  ("^s twice", "first: validate and show the diff; second: write and reload"))  # fmt: skip
    BINDINGS = [
        Binding("ctrl+s", "check_apply", "Check/apply", priority=True,
                tooltip="validate (errors or the diff); again: write and hot-reload"),
        Binding("escape", "revert", "Revert", priority=True, tooltip="drop the edits: back to the file as read"),
        Binding("ctrl+o", "external_editor", "$EDITOR", tooltip="edit in $VISUAL / $EDITOR, then validate"),
        Binding("ctrl+l", "reload_list", "Reload list", show=False, tooltip="list the config files again"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.files: list[dict] = []
        self.name_open: str | None = None
        self.original: str = ""
        self.state = m.EditState.EDITING
        self.reviewed: str | None = None
        self.result_lines: list[tuple[str, str]] = []
        self.last_write: dict | None = None
        self._loading_text = False

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="config-body"):
            with Vertical(id="cfg-left"):
                yield Static("Config files", classes="section")
                yield OptionList(id="cfg-files")
            with Vertical(id="cfg-right"):
                yield Static("open a file from the list (⏎)", id="cfg-title")
                yield TextArea("", language="yaml", id="cfg-editor", show_line_numbers=True,
                               soft_wrap=False, tab_behavior="indent")
                with VerticalScroll(id="cfg-result-box"):
                    yield Static("", id="cfg-result")

    def on_mount(self) -> None:
        super().on_mount()
        ed = self.query_one("#cfg-editor", TextArea)
        ed.cursor_blink = self.fapp.blink
        ed.read_only = True
        self.spawn(self._load_list, group="cfg-list", exclusive=True)

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if not self.files:
            self.spawn(self._load_list, group="cfg-list", exclusive=True)

    async def _load_list(self) -> None:
        try:
            reply = await self.fapp.source.config_list()
        except (ClientError, OSError) as exc:
            self._result([(f"✖ cannot list the config files: {_error_text(exc)}", "bold red")])
            return
        self.files = list(reply.get("files") or [])
        ol = self.query_one("#cfg-files", OptionList)
        ol.clear_options()
        for f in self.files:
            ol.add_option(Option(Text(str(f.get("name")), no_wrap=True, overflow="ellipsis"), id=str(f.get("name"))))
        if self.files and self.name_open is None:
            ol.highlighted = 0
        home = reply.get("home")
        if home and not self.name_open:
            self._result([(f"home: {home}", "dim"), ("⏎ opens a file; ^s validates and shows the diff, ^s again "
                                                     "writes it and hot-reloads; esc reverts", "dim")])

    @on(OptionList.OptionSelected, "#cfg-files")
    def _file_selected(self, event: OptionList.OptionSelected) -> None:
        name = str(event.option.id)
        self.open_file(name)

    def open_file(self, name: str) -> None:
        if self.name_open and self.modified and name != self.name_open:
            self.fapp.notify(f"{self.name_open} has unsaved edits: ^s to apply them or esc to revert first",
                             severity="warning")
            return
        self.spawn(self._open, name, group="cfg-open", exclusive=True)

    async def _open(self, name: str) -> None:
        try:
            reply = await self.fapp.source.config_read(name)
        except (ClientError, OSError) as exc:
            self._result([(f"✖ cannot read {name}: {_error_text(exc)}", "bold red")])
            return
        self.name_open = name
        self.original = str(reply.get("text") or "")
        self.reviewed = None
        self.state = m.EditState.EDITING
        ed = self.query_one("#cfg-editor", TextArea)
        self._loading_text = True
        ed.load_text(self.original)
        self._loading_text = False
        ed.read_only = self.fapp.readonly
        ed.focus()
        self._title()
        self._result([("^s validates and shows the diff · ^s again writes and hot-reloads · esc reverts · ^o $EDITOR"
                       + (" · READ-ONLY: you may validate, not write" if self.fapp.readonly else ""), "dim")])

    @property
    def modified(self) -> bool:
        return self.name_open is not None and self.query_one("#cfg-editor", TextArea).text != self.original

    def _title(self) -> None:
        if self.name_open is None:
            return
        state = {m.EditState.EDITING: "modified" if self.modified else "unchanged",
                 m.EditState.INVALID: "INVALID", m.EditState.REVIEWED: "valid · ^s again to apply",
                 m.EditState.APPLYING: "writing…", m.EditState.APPLIED: "written and reloaded",
                 m.EditState.FAILED: "write failed"}.get(self.state, self.state)  # fmt: skip
        style = {"INVALID": "bold red", "write failed": "bold red", "written and reloaded": "bold green",
                 "modified": "yellow"}.get(state, "cyan")
        self.query_one("#cfg-title", Static).update(Text.assemble((self.name_open, "bold"), "  ", (state, style)))

    def _result(self, lines: Iterable[tuple[str, str]]) -> None:
        self.result_lines = list(lines)
        t = Text()
        for i, (line, style) in enumerate(self.result_lines):
            if i:
                t.append("\n")
            t.append(line, style=style)
        self.query_one("#cfg-result", Static).update(t)

    @on(TextArea.Changed, "#cfg-editor")
    def _changed(self, event: TextArea.Changed) -> None:
        if self._loading_text:
            return
        if self.state in (m.EditState.REVIEWED, m.EditState.APPLIED, m.EditState.INVALID, m.EditState.FAILED) and \
                event.text_area.text != self.reviewed:
            self.state = m.EditState.EDITING
        self._title()

    def action_check_apply(self) -> None:
        if self.name_open is None:
            self.fapp.notify("open a config file first (⏎ in the list)", severity="warning")
            return
        text = self.query_one("#cfg-editor", TextArea).text
        if self.state == m.EditState.REVIEWED and text == self.reviewed:
            if self.fapp.readonly:
                self._result([("read-only: the process validated the edit, but writing needs an admin key", "yellow")]
                             + self.result_lines[1:])
                return
            self.spawn(self._apply, self.name_open, text, group="cfg-apply", exclusive=True)
        else:
            self.spawn(self._validate, self.name_open, text, group="cfg-validate", exclusive=True)

    async def _validate(self, name: str, text: str) -> None:
        try:
            reply = await self.fapp.source.config_validate(name, text)
        except (ClientError, OSError) as exc:
            self._result([(f"✖ could not validate: {_error_text(exc)}", "bold red")])
            return
        if not reply.get("valid"):
            self.state = m.EditState.INVALID
            self.reviewed = text
            errors = m.validation_errors(reply)
            self._result([(f"✖ {name} is not valid; nothing was written:", "bold red")] +
                          [("  " + e, "red") for e in errors])
            for e in errors:
                loc = m.error_location(e)
                if loc:
                    ed = self.query_one("#cfg-editor", TextArea)
                    ed.move_cursor((max(0, loc[0] - 1), max(0, loc[1] - 1)))
                    break
            self._title()
            return
        diff = m.config_diff(self.original, text, name)
        if not diff:
            self.state = m.EditState.EDITING
            self._result([("valid · no change to write", "green")])
            self._title()
            return
        added, removed = m.diff_stats(diff)
        self.state = m.EditState.REVIEWED
        self.reviewed = text
        head = (f"✔ valid (checked by the process) · +{added} −{removed} · ^s again: write and hot-reload · "
                "esc: revert" if not self.fapp.readonly else
                f"✔ valid (checked by the process) · +{added} −{removed} · read-only: cannot write")
        self._result([(head, "bold green")] + [(ln, m.diff_line_style(ln)) for ln in diff])
        self._title()

    async def _apply(self, name: str, text: str) -> None:
        self.state = m.EditState.APPLYING
        self._title()
        try:
            reply = await self.fapp.source.config_write(name, text)
        except (ClientError, OSError) as exc:
            self.state = m.EditState.FAILED
            self._result([(f"✖ {name} was not written: {_error_text(exc)}", "bold red")])
            self._title()
            return
        self.last_write = reply
        self.original = text
        self.reviewed = text
        self.state = m.EditState.APPLIED
        self._result([(f"✔ wrote {reply.get('written') or name} (comments and key order kept)", "bold green"),
                      (f"reload: {m.reload_summary(reply.get('reload'))}", "green")])
        self._title()

    def action_revert(self) -> None:
        if self.name_open is None:
            return
        ed = self.query_one("#cfg-editor", TextArea)
        if ed.text != self.original:
            self._loading_text = True
            ed.load_text(self.original)
            self._loading_text = False
            self._result([("reverted to the file as read", "dim")])
        self.state = m.EditState.EDITING
        self.reviewed = None
        self._title()

    def action_reload_list(self) -> None:
        self.spawn(self._load_list, group="cfg-list", exclusive=True)

    def action_external_editor(self) -> None:
        if self.name_open is None:
            self.fapp.notify("open a config file first", severity="warning")
            return
        ed = self.query_one("#cfg-editor", TextArea)
        editor = self.fapp.editor or os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        fd, tmp = tempfile.mkstemp(prefix="fustor-", suffix="-" + self.name_open.replace("/", "_"))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(ed.text)
            try:
                with self.app.suspend():
                    subprocess.call([*shlex.split(editor), tmp])
            except Exception as exc:  # headless, or the editor failed to start
                self.fapp.notify(f"cannot run {editor}: {exc}", severity="error")
                return
            with open(tmp, encoding="utf-8") as f:
                new = f.read()
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if new != ed.text:
            ed.load_text(new)
            self.state = m.EditState.EDITING
            self._title()
            self.action_check_apply()


# --- help and the command line ------------------------------------------------------------------------


class HelpScreen(ModalScreen):
    """The keys of the screen it was opened from, the app's keys and the ``:`` commands."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 96; height: 90%; border: round $accent;
        background: $surface; padding: 0 1; }
    """

    def __init__(self, origin: Screen, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.origin = origin

    def rows(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        screen_b: list[tuple[str, str]] = []
        for b in getattr(self.origin, "BINDINGS", []):
            if isinstance(b, Binding):
                screen_b.append((b.key, b.tooltip or b.description))
        for k, d in getattr(self.origin, "HELP_EXTRA", ()):
            screen_b.append((k, d))
        focused = self.origin.focused
        for b in getattr(type(focused), "BINDINGS", []) if focused is not None else []:
            if isinstance(b, Binding) and b.description and b.show:
                screen_b.append((b.key, b.tooltip or b.description))
        app_b = [(b.key, b.tooltip or b.description) for b in self.app.BINDINGS
                 if isinstance(b, Binding) and not b.action.startswith("nav(")]
        nav = NAV.get(self.app.kind, NAV["fusion"])  # type: ignore[attr-defined]
        app_b.append(("1-" + str(len(nav)), "screens: " + ", ".join(f"{i + 1} {label}" for i, (_, label) in
                                                                      enumerate(nav))))
        app_b.append(("ctrl+p", "command palette (fustor commands, themes)"))
        return m.help_rows(screen_b), m.help_rows(app_b)

    def compose(self) -> ComposeResult:
        screen_rows, app_rows = self.rows()
        title = getattr(self.origin, "NAME", "") or "this screen"
        t = Table.grid(padding=(0, 2))
        t.add_column(style="bold cyan", no_wrap=True)
        t.add_column()
        t.add_row(Text(f"Keys of {title}", style="bold underline"), "")
        for k, d in screen_rows:
            t.add_row(k, d)
        t.add_row("", "")
        t.add_row(Text("Everywhere", style="bold underline"), "")
        for k, d in app_rows:
            t.add_row(k, d)
        t.add_row("", "")
        t.add_row(Text("Commands (:)", style="bold underline"), "")
        for name, (arg, d) in m.COMMANDS.items():
            t.add_row(f":{name}" + (f" {arg}" if arg else ""), d)
        t.add_row("", "")
        t.add_row("mouse", "click tabs, breadcrumbs, rows and column headers (sort)")
        with VerticalScroll():
            yield Static(t, id="help-body")

    async def action_dismiss(self, result: Any = None) -> None:
        self.dismiss(result)


class CommandLine(ModalScreen[str | None]):
    """``:`` then a command; tab completes; esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("tab", "complete", "Complete", show=False)]
    DEFAULT_CSS = """
    CommandLine { align: left bottom; background: $background 0%; }
    CommandLine > Input { dock: bottom; width: 100%; border: none; height: 1; padding: 0 0; }
    """

    def __init__(self, views: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.views = views

    def compose(self) -> ComposeResult:
        words = [":" + c for c in m.COMMANDS] + [f":view {v}" for v in self.views]
        yield Input(value=":", id="cmdline", suggester=SuggestFromList(words, case_sensitive=False))

    def on_mount(self) -> None:
        inp = self.query_one(Input)
        inp.cursor_blink = self.app.blink  # type: ignore[attr-defined]
        inp.focus()
        inp.cursor_position = len(inp.value)

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_complete(self) -> None:
        inp = self.query_one(Input)
        options = m.complete_command(inp.value, self.views)
        if len(options) == 1:
            inp.value = options[0] + " "
            inp.cursor_position = len(inp.value)
        elif options:
            self.app.notify("  ".join(options), timeout=3)


def screen_for(name: str) -> BaseScreen:
    return {"overview": OverviewScreen, "sessions": SessionsScreen, "pipes": PipesScreen, "browser": BrowserScreen,
            "search": SearchScreen, "agent": AgentScreen, "config": ConfigScreen}[name]()

