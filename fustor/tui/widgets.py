"""Widgets of the console: they render what ``fustor.tui.model`` computed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.markup import escape
from textual.widgets import DataTable, Static

from . import model as m
from .source import CONNECTED, CONNECTING, ConnState

#: the screens of each kind of process: (screen name, label in the top bar)
NAV = {
    "fusion": (("overview", "Overview"), ("sessions", "Sessions"), ("pipes", "Pipes"), ("browser", "Browse"),
               ("search", "Search"), ("config", "Config")),
    "agent": (("agent", "Agent"), ("config", "Config")),
}  # fmt: skip


class TopBar(Static):
    """``fustor │ Overview  Sessions …`` (clickable) and the process on the right."""

    DEFAULT_CSS = """
    TopBar { height: 1; background: $panel; color: $text; }
    """

    def show(self, kind: str, current: str, right: str = "") -> None:
        parts = ["[b reverse] fustor [/] "]
        used = 9
        for name, label in NAV.get(kind, NAV["fusion"]):
            style = "b reverse" if name == current else "u"
            parts.append(f"[{style} @click=app.goto('{name}')]{label}[/] ")
            used += len(label) + 1
        if right:
            width = self.size.width or 100
            pad = width - used - len(right) - 1
            if pad > 0:
                parts.append(" " * pad + f"[dim]{escape(right)}[/]")
        self.update("".join(parts))


class StatusLine(Static):
    """The connection, one line: green when connected, red while retrying."""

    DEFAULT_CSS = """
    StatusLine { height: 1; padding: 0 1; }
    StatusLine.-connected { color: $success; }
    StatusLine.-connecting { color: $warning; }
    StatusLine.-disconnected { background: $error; color: $text; text-style: bold; }
    """

    def show(self, state: ConnState, extra: str = "", readonly: bool = False) -> None:
        self.set_class(state.state == CONNECTED, "-connected")
        self.set_class(state.state == CONNECTING, "-connecting")
        self.set_class(state.state not in (CONNECTED, CONNECTING), "-disconnected")
        mark = "●" if state.state == CONNECTED else ("◌" if state.state == CONNECTING else "✖")
        text = f"{mark} {state.line()}"
        if readonly:
            text += " · READ-ONLY"
        if extra and state.state == CONNECTED:
            text += f" · {extra}"
        self.update(text)


def cell(text: str, style: str = "", align: str = "left") -> Text:
    return Text(text, style=style or "", justify=align if align in ("left", "right", "center") else "left",
                no_wrap=True, overflow="ellipsis")


class FTable(DataTable):
    """A DataTable fed with :class:`fustor.tui.model.Row` lists.

    Rows are updated in place when the keys did not change (a live update
    every few hundred milliseconds must not rebuild the table or move the
    cursor); otherwise the table is rebuilt and the cursor stays on the same
    key. Clicking a header (or ``o``) sorts by that column, again reverses.
    """

    DEFAULT_CSS = """
    FTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("o", "cycle_sort", "Sort", show=True),
        Binding("O", "reverse_sort", "Reverse", show=False),
    ]

    def __init__(self, columns: Sequence[m.Column], *, sortable: bool = True, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.columns_spec = tuple(columns)
        self.sortable = sortable
        self.sort_state = m.SortState()
        self._rows: list[m.Row] = []
        self._shown_keys: list[str] = []
        self._cells: dict[str, tuple] = {}

    def on_mount(self) -> None:
        for c in self.columns_spec:
            label = Text(c.label, justify=c.align if c.align in ("left", "right", "center") else "left")
            self.add_column(label, key=c.key, width=c.width)

    # -- data ------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[m.Row]) -> None:
        self._rows = list(rows)
        self._render()

    def _render(self) -> None:
        rows = m.sort_rows(self._rows, self.sort_state.column, self.sort_state.reverse) if self.sortable else self._rows
        keys = [r.key for r in rows]
        specs = {c.key: c for c in self.columns_spec}
        if keys == self._shown_keys:
            for r in rows:
                for c in self.columns_spec:
                    value = (r.cells.get(c.key, ""), r.style.get(c.key, ""))
                    if self._cells.get((r.key, c.key)) != value:
                        self._cells[(r.key, c.key)] = value
                        self.update_cell(r.key, c.key, cell(value[0], value[1], c.align))
            return
        current = self.current_key()
        self.clear()
        self._cells = {}
        for r in rows:
            cells = []
            for c in self.columns_spec:
                value = (r.cells.get(c.key, ""), r.style.get(c.key, ""))
                self._cells[(r.key, c.key)] = value
                cells.append(cell(value[0], value[1], specs[c.key].align))
            self.add_row(*cells, key=r.key)
        self._shown_keys = keys
        if current in keys:
            self.move_cursor(row=keys.index(current), animate=False)

    def current_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value
        except Exception:
            return None

    def current_row(self) -> m.Row | None:
        key = self.current_key()
        for r in self._rows:
            if r.key == key:
                return r
        return None

    # -- sorting -------------------------------------------------------------------------

    def sort_by(self, column: str) -> None:
        spec = {c.key: c for c in self.columns_spec}.get(column)
        if spec is None or not spec.sortable or not self.sortable:
            return
        self.sort_state.choose(column, default_reverse=spec.align == "right")
        self._relabel()
        self._render()

    def action_cycle_sort(self) -> None:
        if not self.sortable:
            return
        cols = [c.key for c in self.columns_spec if c.sortable]
        self.sort_state.cycle(cols)
        spec = {c.key: c for c in self.columns_spec}[self.sort_state.column]  # type: ignore[index]
        self.sort_state.reverse = spec.align == "right"
        self._relabel()
        self._render()

    def action_reverse_sort(self) -> None:
        if self.sort_state.column is None:
            return
        self.sort_state.reverse = not self.sort_state.reverse
        self._relabel()
        self._render()

    def _relabel(self) -> None:
        for c in self.columns_spec:
            col = self.columns.get(c.key)  # type: ignore[call-overload]
            if col is None:
                continue
            mark = ""
            if self.sort_state.column == c.key:
                mark = " ↓" if self.sort_state.reverse else " ↑"
            col.label = Text(c.label + mark, justify=c.align if c.align in ("left", "right", "center") else "left")
            if col.auto_width:
                col.content_width = max(col.content_width, col.label.cell_len)
        clear = getattr(self, "_clear_caches", None)
        if clear is not None:
            clear()  # the header cells are cached by the table
        self._require_update_dimensions = True
        self.refresh()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))


def labelled_lines(lines: Sequence[tuple[str, str, str]], label_width: int = 11) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=label_width, style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, text, style in lines:
        grid.add_row(label, Text(text, style=style or ""))
    return grid


def verdict_renderable(vv: m.VerdictView, path: str, job: m.JobView | None, now: float,
                       wide: bool = False) -> Table:
    """The completeness panel: a column (beside the listing) or three (under it, ``wide``)."""
    head = Table.grid()
    head.add_column()
    head.add_row(Text("Completeness", style="bold underline"))
    head.add_row(Text(f" {vv.badge} ", style=vv.style))
    head.add_row(Text(path, style="bold", overflow="fold"))
    if vv.meaning:
        head.add_row(Text(vv.meaning, style="italic dim", overflow="fold"))
    if job is not None:
        head.add_row(Text(job.text(now), style=job.style(), overflow="fold"))
    facts = Table.grid(padding=(0, 1))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    for k, v in vv.facts:
        facts.add_row(k, v)
    why = Table.grid()
    why.add_column()
    if vv.reasons:
        why.add_row(Text("Why:", style="bold"))
        for r in vv.reasons:
            why.add_row(Text("• " + r, overflow="fold"))
    if wide:
        grid = Table.grid(padding=(0, 2), expand=True)
        grid.add_column(ratio=3)
        grid.add_column(ratio=3)
        grid.add_column(ratio=4)
        grid.add_row(head, facts, why)
        return grid
    grid = Table.grid()
    grid.add_column()
    grid.add_row(head)
    grid.add_row(facts)
    grid.add_row(why)
    return grid
