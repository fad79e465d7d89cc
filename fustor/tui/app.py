"""The console: a Textual app over a :class:`fustor.tui.source.ControlSource`.

Live data is coalesced: the source keeps only the latest status (pushed at
most every 0.5 s by the process), and a timer applies it to the visible
screen at most every ``refresh_interval`` (0.3 s) — however fast events
arrive, the screen redraws a few times a second and keys stay responsive.
Every request runs in a worker that catches its errors: a process going
away shows in the status line and never crashes or freezes the console.
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.css.query import NoMatches
from textual.screen import Screen

from . import model as m
from .screens import BaseScreen, BrowserScreen, CommandLine, HelpScreen, SearchScreen, screen_for
from .source import ControlSource
from .widgets import NAV, StatusLine, TopBar

log = logging.getLogger("fustor.tui")

CSS = """
Screen { layout: vertical; }
.section { height: 1; text-style: bold; color: $accent; padding: 0 1; }
.detail { height: auto; padding: 0 1; }
.warn-lines { height: auto; color: $warning; padding: 0 1; }
FTable.auto-table { height: auto; max-height: 9; }
#overview { height: 1fr; }
#ov-views { height: auto; max-height: 8; }
#ov-rate { height: 2; }
#ov-rate-label { width: 24; padding: 0 1; }
#ov-spark { width: 1fr; height: 2; }
#ov-audits { height: auto; max-height: 8; }
.audit-item { height: auto; padding: 0 1; }
.audit-text { height: 1; }
.audit-bar-row { height: 1; }
.audit-bar { width: auto; }
.audit-elapsed { width: 1fr; padding: 0 1; color: $text-muted; }
#ov-sessions { height: 1fr; min-height: 3; }
#sessions-table, #pipes-table, #search-table { height: 1fr; }
#session-detail, #pipe-detail { height: auto; max-height: 6; }
#crumbs { height: 1; padding: 0 1; }
#browser-body { height: 1fr; }
#listing-box { width: 1fr; }
#listing { height: 1fr; }
#listing-info { height: 1; padding: 0 1; }
#filter-input { height: 1; border: none; padding: 0 1; background: $boost; }
#panel { width: 40; border-left: solid $accent; padding: 0 1; }
BrowserScreen.-narrow #browser-body { layout: vertical; }
BrowserScreen.-narrow #panel { width: 100%; height: 9; border-left: none; border-top: solid $accent; }
#search-input { height: 1; border: none; padding: 0 1; background: $boost; }
#search-info { height: 1; padding: 0 1; }
.bar-row { height: 1; padding: 0 1; }
.bar-label { width: 14; }
#agent-title { height: 1; }
#config-body { height: 1fr; }
#cfg-left { width: 38; }
#cfg-files { height: 1fr; border: none; }
#cfg-right { width: 1fr; }
#cfg-title { height: 1; padding: 0 1; }
#cfg-editor { height: 1fr; min-height: 5; }
#cfg-result-box { height: 45%; min-height: 4; border-top: solid $accent; }
#cfg-result { padding: 0 1; }
"""


class FustorCommands(Provider):
    """The command palette's fustor commands: screens, views, search, reconnect."""

    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app: FustorApp = self.app  # type: ignore[assignment]
        out: list[tuple[str, Callable[[], Any], str]] = []
        labels = {"overview": "views, audits, events/s, sessions", "sessions": "agent sessions, sortable",
                  "pipes": "pipes, sortable", "browser": "browse a view (ncdu-style)",
                  "search": "find a name or glob in every view", "config": "list and edit config files",
                  "agent": "pipes, watches, drift, audit, sentinel"}  # fmt: skip
        for name, label in NAV.get(app.kind, NAV["fusion"]):
            out.append((f"Go to {label}", partial(app.action_goto, name), labels.get(name, "")))
        for v in app.view_names():
            out.append((f"Browse view {v}", partial(app.open_view, v, "/"), f"open {v} at /"))
        out.append(("Reconnect now", app.action_reconnect, "skip the backoff wait"))
        out.append(("Keys of this screen", app.action_help, "? help"))
        return out

    async def discover(self) -> Hits:
        for name, cb, help_text in self._commands():
            yield DiscoveryHit(name, cb, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, cb, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), cb, help=help_text)


class FustorApp(App):
    """``fustor tui``. ``source`` is where the data comes from (real or fake)."""

    TITLE = "fustor"
    CSS = CSS
    COMMANDS = App.COMMANDS | {FustorCommands}
    BINDINGS = [
        Binding("question_mark", "help", "Help", tooltip="the keys of this screen (this list)"),
        Binding("colon", "command_line", "Cmd", tooltip="a command line: :views :sessions :view NAME :config :q …"),
        Binding("q", "quit", "Quit", tooltip="quit the console (the processes keep running)"),
        Binding("1", "nav(0)", "Screen 1", show=False),
        Binding("2", "nav(1)", "Screen 2", show=False),
        Binding("3", "nav(2)", "Screen 3", show=False),
        Binding("4", "nav(3)", "Screen 4", show=False),
        Binding("5", "nav(4)", "Screen 5", show=False),
        Binding("6", "nav(5)", "Screen 6", show=False),
        Binding("ctrl+r", "reconnect", "Reconnect now", show=False, tooltip="reconnect now instead of waiting"),
    ]

    def __init__(
        self, source: ControlSource, *, kind: str = "fusion", readonly: bool = False,
        clock: Callable[[], float] = time.time, tz: _dt.tzinfo | None = None, refresh_interval: float = 0.3,
        browse_refresh: float = 2.0, job_poll: float = 0.4, start: str | None = None, blink: bool = True,
        editor: str | None = None, page_size: int = 200,
    ) -> None:  # fmt: skip
        super().__init__()
        self.source = source
        self.kind = kind if kind in NAV else "fusion"
        self.force_readonly = readonly
        self.clock = clock
        self.tz = tz
        self.refresh_interval = refresh_interval
        self.browse_refresh = browse_refresh
        self.job_poll = job_poll
        self.start_screen = start
        self.blink = blink
        self.editor = editor
        self.page_size = page_size
        self.last_copied: str | None = None
        self.commands_run: list[str] = []
        self._applied_version = -1
        self._chrome_key: tuple = ()
        self._started = False

    # -- life ---------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock()

    @property
    def readonly(self) -> bool:
        return self.force_readonly or self.source.state().access == "readonly"

    async def on_mount(self) -> None:
        for name in ("overview", "sessions", "pipes", "browser", "search", "agent", "config"):
            scr = screen_for(name)
            if isinstance(scr, BrowserScreen):
                scr.pager.page_size = self.page_size
            self.install_screen(scr, name)
        await self.push_screen(self.start_screen or self.main_screen())
        await self.source.start()
        self._started = True
        self._tick()
        self.set_interval(self.refresh_interval, self._tick)

    async def on_unmount(self) -> None:
        try:
            await self.source.close()
        except Exception:  # pragma: no cover
            log.debug("closing the source failed", exc_info=True)

    def main_screen(self) -> str:
        return NAV[self.kind][0][0]

    def _tick(self) -> None:
        if not self.screen_stack or self._exit:  # shutting down
            return
        st = self.source.state()
        kind = st.kind
        if kind and kind != self.kind:
            self.kind = kind
            self.switch_screen(self.main_screen())
            return
        scr = self.screen
        if not isinstance(scr, BaseScreen) or not scr.is_mounted:
            # A screen just pushed is composed and mounted in its own task; until its
            # on_mount has run, its widgets are not all there. Its status waits a tick.
            return
        key = (st.line(), self.readonly, scr.NAME, self.source.status_version, scr.size.width)
        try:
            if key != self._chrome_key:
                self.refresh_chrome(scr)
                self._chrome_key = key
            if self.source.status_version != self._applied_version:
                scr.live_update()
                self._applied_version = self.source.status_version
        except NoMatches:
            # The screen's widgets are coming or going (a screen being switched in, the
            # app closing): the next tick applies the status again.
            return

    def refresh_chrome(self, scr: Screen) -> None:
        if not isinstance(scr, BaseScreen):
            return
        st = self.source.state()
        try:
            scr.query_one(TopBar).show(self.kind, scr.NAME, scr.chrome_extra() if self.source.status else "")
            scr.query_one(StatusLine).show(st, "", self.readonly)
        except Exception:  # not composed yet
            pass

    def spawn(self, fn: Any, *args: Any, group: str = "default", exclusive: bool = False, owner: Any = None) -> None:
        """Run ``fn(*args)`` as a worker whose errors are logged and shown, never raised into the app.

        The coroutine is made only when the worker starts (an exclusive group
        may cancel a worker before it ran)."""

        async def guarded() -> None:
            try:
                await fn(*args)
            except Exception as exc:
                log.exception("console task %s failed", group)
                self.notify(f"{group}: {type(exc).__name__}: {exc}", severity="error", timeout=6)

        (owner or self).run_worker(guarded, group=group, exclusive=exclusive, exit_on_error=False)

    # -- data helpers -----------------------------------------------------------------------------

    def view_names(self) -> list[str]:
        return [str(v.get("view")) for v in (self.source.status or {}).get("views", []) if v.get("view")]

    def copy(self, text: str) -> None:
        self.last_copied = text
        try:
            self.copy_to_clipboard(text)
        except Exception:  # pragma: no cover - no terminal
            pass
        self.notify(f"copied {text}", timeout=2)

    # -- navigation -------------------------------------------------------------------------------

    def action_goto(self, name: str) -> None:
        names = [n for n, _ in NAV.get(self.kind, NAV["fusion"])]
        if name not in names:
            if name == "agent":
                self.notify("attached to a fusion: :sessions lists its agents; run `fustor tui --agent` on an "
                            "agent host for its screen", severity="warning", timeout=6)
            else:
                self.notify(f"no {name} screen on an {self.kind}", severity="warning")
            return
        if isinstance(self.screen, BaseScreen) and self.screen.NAME == name:
            return
        while len(self.screen_stack) > 1 and not isinstance(self.screen, BaseScreen):
            self.pop_screen()
        self.switch_screen(name)
        if name == "browser":
            self.call_after_refresh(self._browser().ensure_open)

    def action_nav(self, index: int) -> None:
        items = NAV.get(self.kind, NAV["fusion"])
        if 0 <= index < len(items):
            self.action_goto(items[index][0])

    def _browser(self) -> BrowserScreen:
        return self.get_screen("browser")  # type: ignore[return-value]

    def open_view(self, view: str | None, path: str = "/", select: str | None = None) -> None:
        if self.kind != "fusion":
            self.notify("views live in fusion; this is an agent", severity="warning")
            return
        views = self.view_names()
        if view is None:
            view = views[0] if views else None
        if view is None:
            self.notify("no view yet", severity="warning")
            return
        if views and view not in views:
            self.notify(f"no view {view!r} (views: {', '.join(views)})", severity="error")
            return
        self.action_goto("browser")
        self.call_after_refresh(self._browser().open, view, path, select)

    def action_search(self, text: str | None = None) -> None:
        if self.kind != "fusion":
            self.notify("search runs on a fusion", severity="warning")
            return
        self.action_goto("search")
        scr: SearchScreen = self.get_screen("search")  # type: ignore[assignment]
        if text:
            self.call_after_refresh(scr.run_search, text)
        else:
            self.call_after_refresh(scr.action_focus_input)

    def action_help(self) -> None:
        origin = self.screen
        if isinstance(origin, HelpScreen):
            return
        self.push_screen(HelpScreen(origin))

    def action_reconnect(self) -> None:
        self.source.reconnect_now()
        self.notify("reconnecting…", timeout=2)

    def action_command_line(self) -> None:
        if isinstance(self.screen, CommandLine):
            return

        def done(text: str | None) -> None:
            if text:
                self.run_command(text)

        self.push_screen(CommandLine(self.view_names()), done)

    def run_command(self, text: str) -> None:
        """Run a ``:`` command line (also used by tests and the palette)."""
        cmd = m.parse_command(text)
        self.commands_run.append(text)
        if cmd.error:
            self.notify(cmd.error, severity="error")
            return
        n, args = cmd.name, cmd.args
        if n == "q":
            self.exit()
        elif n == "views":
            self.action_goto("overview" if self.kind == "fusion" else "agent")
        elif n == "sessions":
            self.action_goto("sessions" if self.kind == "fusion" else "agent")
        elif n == "pipes":
            self.action_goto("pipes" if self.kind == "fusion" else "agent")
        elif n == "agent":
            self.action_goto("agent")
        elif n == "view":
            path = args[1] if len(args) > 1 else "/"
            self.open_view(args[0], path if path.startswith("/") else "/" + path)
        elif n == "search":
            self.action_search(args[0] if args else None)
        elif n == "config":
            self.action_goto("config")
            if args:
                scr = self.get_screen("config")
                self.call_after_refresh(scr.open_file, args[0])  # type: ignore[attr-defined]
        elif n == "theme":
            name = args[0]
            if name not in self.available_themes:
                self.notify(f"no theme {name!r}; themes: {', '.join(sorted(self.available_themes))}",
                            severity="error", timeout=8)
            else:
                self.theme = name
        elif n == "reconnect":
            self.action_reconnect()
        elif n == "help":
            self.action_help()
