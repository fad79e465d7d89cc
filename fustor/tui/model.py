"""The console's view-model: control-plane replies in, rows and cells out.

Pure functions and small classes, no terminal and no I/O, so every rule the
console follows (how a size or an age reads, how a table sorts, what a
filter keeps, what a config edit changes, which page of a directory to ask
for next) is tested without Textual (``tests/unit/test_tui_model.py``). The
widgets in ``fustor.tui.screens`` only render what this module returns.

Replies have the shapes of ``fustor/fusion/service.py`` (``status()``,
``_op_query_*``), ``fustor/views/fs/query.py`` (listing entries, summaries)
and ``fustor/agent/service.py`` / ``fustor/agent/pipe.py`` (agent status).
Every field is read with a default: a console attached to an older or newer
process shows a dash rather than crash.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

DASH = "—"

# --- numbers, sizes, ages ---------------------------------------------------------

_SIZE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_size(n: int | float | None) -> str:
    """Bytes as ``512 B``, ``1.5 KiB``, ``12.3 MiB``, ``118 GiB`` (three significant digits)."""
    if n is None:
        return DASH
    n = float(n)
    if n < 0:
        return "-" + human_size(-n)
    if n < 1024:
        return f"{int(n)} B"
    for unit in _SIZE_UNITS:
        n /= 1024.0
        if n < 1024 or unit == _SIZE_UNITS[-1]:
            if n < 9.995:
                return f"{n:.2f} {unit}"
            if n < 99.95:
                return f"{n:.1f} {unit}"
            return f"{n:.0f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def human_count(n: int | float | None) -> str:
    """Counts as ``987``, ``9,876``, ``45.7k``, ``1.2M``, ``3.4G`` (exact below ten thousand)."""
    if n is None:
        return DASH
    n = int(n)
    a = abs(n)
    if a < 10_000:
        return f"{n:,}"
    if a < 999_950:
        return f"{n / 1000:.1f}k"
    if a < 999_950_000:
        return f"{n / 1_000_000:.1f}M"
    return f"{n / 1_000_000_000:.1f}G"


def plural(n: int | float | None, word: str, words: str | None = None) -> str:
    """``1 file``, ``2 files``, ``12.3k files`` (the count as :func:`human_count` writes it)."""
    return f"{human_count(n)} {word if n == 1 else (words or word + 's')}"


def human_rate(per_s: float | None) -> str:
    """An events-per-second rate: ``0``, ``12.5``, ``980``, ``12.3k``, ``1.2M``."""
    if per_s is None:
        return DASH
    x = float(per_s)
    if x < 0.05:
        return "0"
    if x < 100:
        return f"{x:.1f}"
    if x < 1000:
        return f"{x:.0f}"
    if x < 1_000_000:
        return f"{x / 1000:.1f}k"
    return f"{x / 1_000_000:.1f}M"


def human_age(seconds: float | None) -> str:
    """A duration as a person says it: ``now``, ``12 s``, ``4 min``, ``3 h``, ``2 d``, ``5 mo``, ``2 y``."""
    if seconds is None:
        return DASH
    s = float(seconds)
    if s < 0:
        return "in " + human_age(-s)
    if s < 1:
        return "now"
    if s < 60:
        return f"{int(s)} s"
    if s < 3600:
        return f"{int(s // 60)} min"
    if s < 86_400:
        h = s / 3600
        return f"{h:.1f} h" if h < 10 else f"{int(h)} h"
    if s < 60 * 86_400:
        return f"{int(s // 86_400)} d"
    if s < 730 * 86_400:
        return f"{int(s // (30 * 86_400))} mo"
    return f"{int(s // (365 * 86_400))} y"


def human_duration(seconds: float | None) -> str:
    """An elapsed time with precision where it matters: ``0.4 s``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``."""
    if seconds is None:
        return DASH
    s = max(0.0, float(seconds))
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        m, sec = divmod(int(s), 60)
        return f"{m} min {sec:02d} s"
    h, rem = divmod(int(s), 3600)
    return f"{h} h {rem // 60:02d} min"


def ago(ts: float | None, now: float) -> str:
    """``3 min ago`` (or ``in 2 s`` for a timestamp ahead of ``now``); a dash for none."""
    if not ts:
        return DASH
    d = now - float(ts)
    if -1 < d < 1:
        return "now"
    if d < 0:
        return "in " + human_age(-d)
    return human_age(d) + " ago"


def clock_time(ts: float | None, tz: _dt.tzinfo | None = None) -> str:
    """``14:03:07`` in ``tz`` (local time when ``None``)."""
    if not ts:
        return DASH
    return _dt.datetime.fromtimestamp(float(ts), tz).strftime("%H:%M:%S")


def date_time(ts: float | None, tz: _dt.tzinfo | None = None) -> str:
    if not ts:
        return DASH
    return _dt.datetime.fromtimestamp(float(ts), tz).strftime("%Y-%m-%d %H:%M:%S")


def signed_seconds(x: float | None) -> str:
    if x is None:
        return DASH
    return f"{float(x):+.3f} s"


def bar(fraction: float | None, width: int = 10) -> str:
    """A text bar ``█████▌    `` for ``fraction`` in [0, 1] (ncdu's size bars)."""
    if fraction is None or width <= 0:
        return " " * max(width, 0)
    f = min(1.0, max(0.0, float(fraction)))
    eighths = int(round(f * width * 8))
    full, part = divmod(eighths, 8)
    partials = " ▏▎▍▌▋▊▉"
    out = "█" * full + (partials[part] if part and full < width else "")
    return out.ljust(width)[:width]


def truncate(text: str, width: int) -> str:
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    if width == 1:
        return "…"
    return text[: width - 1] + "…"


# --- paths and breadcrumbs -------------------------------------------------------------


def parent_path(path: str) -> str:
    if path in ("", "/"):
        return "/"
    head = path.rstrip("/").rsplit("/", 1)[0]
    return head or "/"


def join_path(directory: str, name: str) -> str:
    return "/" + name if directory in ("", "/") else directory.rstrip("/") + "/" + name


def name_of(path: str) -> str:
    if path in ("", "/"):
        return "/"
    return path.rstrip("/").rsplit("/", 1)[-1]


def breadcrumbs(path: str) -> list[tuple[str, str]]:
    """``/a/b`` -> ``[("/", "/"), ("a", "/a"), ("b", "/a/b")]``: a label and the path it opens."""
    out = [("/", "/")]
    cur = ""
    for part in (path or "/").strip("/").split("/"):
        if not part:
            continue
        cur += "/" + part
        out.append((part, cur))
    return out


def breadcrumb_text(view: str, path: str, width: int | None = None, sep: str = " › ") -> str:
    """``view:/ › a › b`` shortened from the left (``view:… › b``) to fit ``width``."""
    crumbs = [label for label, _ in breadcrumbs(path)]
    text = f"{view}:" + crumbs[0] + (" " + sep.strip() + " " if len(crumbs) > 1 else "") + sep.join(crumbs[1:])
    if width is None or len(text) <= width:
        return text
    tail = crumbs[1:]
    while tail and len(f"{view}:…{sep}" + sep.join(tail)) > width:
        tail = tail[1:]
    return truncate(f"{view}:…{sep}" + sep.join(tail) if tail else f"{view}:…", width)


# --- filters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RowFilter:
    """What ``/`` typed: a regular expression, ``!`` in front inverts it.

    Smart case: case-insensitive unless the pattern has an upper-case letter.
    A pattern that does not compile is matched literally (``error`` says why),
    so a half-typed ``[`` never breaks the listing.
    """

    text: str = ""
    invert: bool = False
    pattern: re.Pattern[str] | None = None
    error: str | None = None

    @classmethod
    def parse(cls, text: str) -> "RowFilter":
        raw = text or ""
        invert = raw.startswith("!")
        body = raw[1:] if invert else raw
        if not body:
            return cls(raw, invert, None, None)
        flags = 0 if any(c.isupper() for c in body) else re.IGNORECASE
        try:
            return cls(raw, invert, re.compile(body, flags), None)
        except re.error as exc:
            return cls(raw, invert, re.compile(re.escape(body), flags), f"bad regex ({exc}); matching it literally")

    @property
    def active(self) -> bool:
        return self.pattern is not None

    def matches(self, name: str) -> bool:
        if self.pattern is None:
            return True
        return (self.pattern.search(name) is not None) != self.invert

    def describe(self) -> str:
        if not self.active:
            return ""
        return ("not " if self.invert else "") + "/" + (self.text[1:] if self.invert else self.text) + "/"


def filter_rows(rows: Iterable[Any], flt: RowFilter, key: Callable[[Any], str]) -> list[Any]:
    return [r for r in rows if flt.matches(key(r))]


# --- tables ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    align: str = "left"  # left | right | center
    width: int | None = None
    sortable: bool = True


@dataclass
class Row:
    """One table row: its key, the text of each cell, and a sortable value per column."""

    key: str
    cells: dict[str, str]
    sort: dict[str, Any] = field(default_factory=dict)
    style: dict[str, str] = field(default_factory=dict)  # column -> rich style

    def sort_value(self, column: str) -> Any:
        if column in self.sort:
            return self.sort[column]
        return self.cells.get(column, "")


def _sortable(value: Any) -> tuple:
    # Mixed types and None must sort (None last): numbers, then strings.
    if value is None:
        return (2, 0, "")
    if isinstance(value, bool):
        return (0, int(value), "")
    if isinstance(value, (int, float)):
        return (0, value, "")
    return (1, 0, str(value).lower())


def sort_rows(rows: Sequence[Row], column: str | None, reverse: bool = False) -> list[Row]:
    """Rows by ``column`` (stable; ties keep the key order); ``None`` keeps them as given."""
    if column is None:
        return list(rows)
    ordered = sorted(rows, key=lambda r: r.key)
    return sorted(ordered, key=lambda r: _sortable(r.sort_value(column)), reverse=reverse)


@dataclass
class SortState:
    """Which column a table sorts by; choosing the same column again flips the order."""

    column: str | None = None
    reverse: bool = False

    def choose(self, column: str, default_reverse: bool = False) -> None:
        if self.column == column:
            self.reverse = not self.reverse
        else:
            self.column = column
            self.reverse = default_reverse

    def cycle(self, columns: Sequence[str]) -> None:
        if not columns:
            return
        i = columns.index(self.column) + 1 if self.column in columns else 0
        self.column = columns[i % len(columns)]
        self.reverse = False

    def label(self, columns: Sequence[Column]) -> str:
        names = {c.key: c.label for c in columns}
        if self.column is None:
            return ""
        return f"{names.get(self.column, self.column)} {'↓' if self.reverse else '↑'}"


# --- fusion status ---------------------------------------------------------------------

VIEW_COLUMNS = (
    Column("view", "View"), Column("state", "State"), Column("files", "Files", "right"),
    Column("dirs", "Dirs", "right"), Column("size", "Size", "right"), Column("suspects", "Susp", "right"),
    Column("blind", "Blind", "right"), Column("tombstones", "Tomb", "right"), Column("watermark", "Watermark"),
    Column("skew", "Skew", "right"), Column("rate", "Ev/s", "right"), Column("leader", "Leader"),
)  # fmt: skip


def view_rows(status: dict | None, now: float, tz: _dt.tzinfo | None = None) -> list[Row]:
    rows = []
    for v in (status or {}).get("views", []):
        ready = bool(v.get("ready"))
        leader = v.get("leader")
        state = "ready" if ready else "not ready"
        adds, dels = v.get("blind_spot_additions", 0) or 0, v.get("blind_spot_deletions", 0) or 0
        wm = v.get("watermark")
        rows.append(Row(
            key=str(v.get("view")),
            cells={
                "view": str(v.get("view")), "state": state, "files": human_count(v.get("files")),
                "dirs": human_count(v.get("dirs")), "size": human_size(v.get("total_size")),
                "suspects": human_count(v.get("suspects")), "blind": f"+{human_count(adds)}/-{human_count(dels)}",
                "tombstones": human_count(v.get("tombstones")), "watermark": clock_time(wm, tz) if wm else DASH,
                "skew": f"{float(v.get('skew') or 0):+.1f}s", "rate": human_rate(v.get("events_per_s")),
                "leader": agent_of_session(leader) if leader else "none",
            },
            sort={"files": v.get("files"), "dirs": v.get("dirs"), "size": v.get("total_size"),
                  "suspects": v.get("suspects"), "blind": adds + dels, "tombstones": v.get("tombstones"),
                  "watermark": wm, "skew": v.get("skew"), "rate": v.get("events_per_s"), "state": ready},
            style={"state": "green" if ready else "bold yellow", "suspects": "yellow" if v.get("suspects") else "",
                   "blind": "magenta" if adds or dels else "", "leader": "" if leader else "red"},
        ))  # fmt: skip
    return rows


def not_ready_lines(status: dict | None) -> list[str]:
    """``view: why it is not ready`` for each view that is not."""
    out = []
    for v in (status or {}).get("views", []):
        if not v.get("ready"):
            out.append(f"{v.get('view')}: {v.get('not_ready_reason') or 'not ready'}")
    return out


def agent_of_session(session_id: str | None) -> str:
    """Session ids are ``AGENT-N-HEX``: the agent part, for narrow columns."""
    if not session_id:
        return DASH
    parts = session_id.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else session_id


SESSION_COLUMNS = (
    Column("agent", "Agent"), Column("host", "Host"), Column("role", "Role"), Column("views", "Views"),
    Column("pipe", "Pipe"), Column("heartbeat", "Heartbeat", "right"), Column("rate", "Ev/s", "right"),
    Column("rows", "Rows", "right"), Column("realtime", "Realtime", "center"), Column("conn", "Conn", "center"),
    Column("seq", "Seq", "right"), Column("audit", "Audit"),
)  # fmt: skip


def role_badge(roles: dict[str, str] | None) -> tuple[str, str]:
    """The badge text and its style: ``LEADER`` if the session leads any view, else ``follower``."""
    roles = roles or {}
    if any(r == "leader" for r in roles.values()):
        return " LEADER ", "bold black on green"
    if roles:
        return "follower", "cyan"
    return "no view", "dim"


def session_rows(status: dict | None) -> list[Row]:
    rows = []
    for s in (status or {}).get("sessions", []):
        roles = s.get("roles") or {}
        badge, badge_style = role_badge(roles)
        age = s.get("last_heartbeat_age")
        timeout = s.get("timeout") or 0
        rt = s.get("can_realtime")
        conn = s.get("connected")
        views = ", ".join(f"{v}{'*' if r == 'leader' else ''}" for v, r in sorted(roles.items())) or DASH
        rows.append(Row(
            key=str(s.get("session_id")),
            cells={
                "agent": str(s.get("agent_id") or DASH), "host": str(s.get("host") or DASH), "role": badge,
                "views": views, "pipe": str(s.get("pipe") or DASH), "heartbeat": human_age(age) if age is not None
                else DASH, "rate": human_rate(s.get("events_per_s")), "rows": human_count(s.get("rows_received")),
                "realtime": "yes" if rt else "NO", "conn": "up" if conn else "down",
                "seq": human_count(s.get("last_seq")), "audit": str(s.get("audit_id") or DASH),
                "session": str(s.get("session_id")),
            },
            sort={"heartbeat": age, "rate": s.get("events_per_s"), "rows": s.get("rows_received"),
                  "seq": s.get("last_seq"), "role": 0 if badge.strip() == "LEADER" else 1, "realtime": bool(rt),
                  "conn": bool(conn)},
            style={"role": badge_style, "realtime": "" if rt else "bold red", "conn": "green" if conn else "bold red",
                   "heartbeat": "bold red" if timeout and age is not None and age > timeout / 2 else ""},
        ))  # fmt: skip
    return rows


PIPE_COLUMNS = (
    Column("pipe", "Pipe"), Column("receiver", "Receiver"), Column("views", "Views"),
    Column("sessions", "Sessions", "right"), Column("queue", "Queue", "right"), Column("rows", "Rows applied", "right"),
    Column("rate", "Ev/s", "right"), Column("errors", "Errors", "right"),
)  # fmt: skip


def pipe_rows(status: dict | None) -> list[Row]:
    rows = []
    for p in (status or {}).get("pipes", []):
        q, qs = p.get("queue") or 0, p.get("queue_size") or 0
        rows.append(Row(
            key=str(p.get("pipe")),
            cells={"pipe": str(p.get("pipe")), "receiver": str(p.get("receiver") or DASH),
                   "views": ", ".join(p.get("views") or []) or DASH, "sessions": human_count(p.get("sessions")),
                   "queue": f"{q}/{qs}" if qs else str(q), "rows": human_count(p.get("rows_applied")),
                   "rate": human_rate(p.get("events_per_s")), "errors": human_count(p.get("errors"))},
            sort={"sessions": p.get("sessions"), "queue": q, "rows": p.get("rows_applied"),
                  "rate": p.get("events_per_s"), "errors": p.get("errors")},
            style={"queue": "bold yellow" if qs and q >= qs * 0.8 else "", "errors": "red" if p.get("errors") else ""},
        ))  # fmt: skip
    return rows


def pipes_line(status: dict | None) -> list[tuple[str, str]]:
    """The overview's one-line summary of the fusion pipes: ``(text, style)`` pieces."""
    out: list[tuple[str, str]] = []
    for p in (status or {}).get("pipes", []):
        q, qs = p.get("queue") or 0, p.get("queue_size") or 0
        full = bool(qs and q >= qs * 0.8)
        if out:
            out.append(("  ·  ", "dim"))
        out.append((str(p.get("pipe")), "bold"))
        out.append((f" {plural(p.get('sessions') or 0, 'session')}, queue {q}/{qs}" + (" FULL" if full else "")
                    + f", {human_rate(p.get('events_per_s'))}/s", "bold yellow" if full else ""))
        if p.get("errors"):
            out.append((f", {plural(p.get('errors'), 'error')}", "red"))
    return out or [("no pipe", "dim")]


def events_history(status: dict | None, width: int = 60) -> list[float]:
    """Events per second of all views, oldest first (the views' histories summed, aligned at now)."""
    views = (status or {}).get("views", [])
    histories = [list(v.get("events_history") or []) for v in views]
    n = min(width, max((len(h) for h in histories), default=0))
    out = [0.0] * n
    for h in histories:
        h = h[-n:] if n else []
        offset = n - len(h)
        for i, x in enumerate(h):
            out[offset + i] += float(x or 0)
    return out


def total_rate(status: dict | None) -> float:
    return sum(float(v.get("events_per_s") or 0) for v in (status or {}).get("views", []))


@dataclass
class AuditLine:
    view: str
    running: bool
    text: str
    progress: float | None = None  # steps done (directories listed + skipped)
    total: float | None = None  # steps expected (the view's directories)
    elapsed: str = ""


def audit_lines(status: dict | None, now: float, tz: _dt.tzinfo | None = None) -> list[AuditLine]:
    """Audit progress per view: started, rows seen, directories listed vs skipped, elapsed.

    No process reports how many directories an audit will visit; the view's
    directory count is the estimate (an audit lists or skips each directory).
    """
    out = []
    for v in (status or {}).get("views", []):
        name = str(v.get("view"))
        a = v.get("audit")
        if a:
            listed, skipped = int(a.get("dirs_listed") or 0), int(a.get("dirs_skipped") or 0)
            total = max(int(v.get("dirs") or 0) + 1, listed + skipped, 1)
            text = (f"{name}: audit {a.get('audit_id') or '?'} since {clock_time(a.get('started_at'), tz)}"
                    f" · {human_count(a.get('rows_seen'))} rows · dirs {human_count(listed)} listed, "
                    f"{human_count(skipped)} skipped")
            out.append(AuditLine(name, True, text, float(listed + skipped), float(total),
                                 f"{human_duration(a.get('elapsed_s'))} elapsed"))
        else:
            done = v.get("last_audit_completed_at")
            text = f"{name}: no audit running · last completed {ago(done, now)}" if done else \
                f"{name}: no audit running · none completed yet"
            out.append(AuditLine(name, False, text))
    return out


def server_line(status: dict | None, now: float) -> str:
    st = status or {}
    parts = [str(st.get("server") or "?")]
    if st.get("agent_id"):
        parts.append(f"agent {st['agent_id']}")
    if st.get("uptime_s") is not None:
        parts.append(f"up {human_age(st['uptime_s'])}")
    return " · ".join(parts)


# --- agent status --------------------------------------------------------------------

AGENT_PIPE_COLUMNS = (
    Column("pipe", "Pipe"), Column("route", "Source → sender"), Column("role", "Role"), Column("state", "State"),
    Column("sent", "Sent", "right"), Column("unacked", "Unacked", "right"),
    Column("lag", "Bus lag", "right"), Column("errors", "Errors", "right"), Column("realtime", "Realtime", "center"),
)  # fmt: skip


def agent_pipe_rows(status: dict | None) -> list[Row]:
    rows = []
    for p in (status or {}).get("pipes", []):
        stats = p.get("sender_stats") or {}
        badge, badge_style = role_badge(p.get("roles"))
        rt = p.get("can_realtime")
        state = str(p.get("state") or DASH)
        rows.append(Row(
            key=str(p.get("pipe")),
            cells={"pipe": str(p.get("pipe")), "route": f"{p.get('source')} → {p.get('sender')}", "role": badge,
                   "state": state, "session": str(p.get("session_id") or DASH),
                   "sent": human_count(stats.get("sent")), "unacked": human_count(stats.get("unacked")),
                   "lag": human_count(p.get("bus_lag")), "errors": human_count(p.get("errors")),
                   "realtime": "yes" if rt else "NO"},
            sort={"sent": stats.get("sent"), "unacked": stats.get("unacked"), "lag": p.get("bus_lag"),
                  "errors": p.get("errors"), "realtime": bool(rt)},
            style={"role": badge_style, "state": "green" if state == "running" else "bold yellow",
                   "realtime": "" if rt else "bold red", "errors": "red" if p.get("errors") else "",
                   "lag": "yellow" if (p.get("bus_lag") or 0) > 1000 else ""},
        ))  # fmt: skip
    return rows


@dataclass
class AgentPipeDetail:
    title: str
    lines: list[tuple[str, str, str]]  # (label, text, style)
    watches_used: int | None = None
    watches_limit: int | None = None
    audit_progress: float | None = None
    audit_total: float | None = None


def agent_pipe_detail(pipe: dict | None, now: float, tz: _dt.tzinfo | None = None) -> AgentPipeDetail:
    """The watch manager, drift, audit and sentinel of one agent pipe, as labelled lines."""
    if not pipe:
        return AgentPipeDetail("no pipe", [("", "this agent runs no pipe", "dim")])
    lines: list[tuple[str, str, str]] = []
    w = pipe.get("watch")
    used = limit = None
    if w:
        used, limit = w.get("watches"), w.get("limit")
        text = f"{human_count(used)} / {human_count(limit) if limit else 'no limit'}"
        text += f" · evictions {human_count(w.get('evictions'))} · overflows {human_count(w.get('overflows'))}"
        if w.get("enospc"):
            text += f" · ENOSPC {human_count(w.get('enospc'))}"
        if w.get("degraded"):
            text += " · DEGRADED"
        style = "bold red" if w.get("degraded") or w.get("overflows") else ""
        lines.append(("Watches", text, style))
    else:
        lines.append(("Watches", "no live watch (polling or echo)", "dim"))
    drift = pipe.get("drift")
    lines.append(("Drift", signed_seconds(drift) + " (storage clock vs this host)" if drift is not None else DASH,
                  "yellow" if drift and abs(drift) > 1 else ""))
    prog = pipe.get("audit_progress") or {}
    a_prog = a_total = None
    if pipe.get("audit_running"):
        listed, skipped = int(prog.get("dirs_listed") or 0), int(prog.get("dirs_skipped") or 0)
        lines.append(("Audit", f"running{' (full)' if prog.get('full') else ''}: {human_count(prog.get('rows'))} rows"
                      f" · dirs {human_count(listed)} listed / {human_count(skipped)} skipped", "bold cyan"))
        a_prog = float(listed + skipped)
        a_total = float(max(listed + skipped, (used or 0), 1))
    last = pipe.get("last_audit")
    if last:
        took = (last.get("ended_at") or 0) - (last.get("started_at") or 0)
        lines.append(("Last audit", f"{last.get('audit_id') or '?'} ended {ago(last.get('ended_at'), now)}"
                      f"{' (aborted)' if last.get('aborted') else ''} · {human_count(last.get('rows'))} rows · dirs "
                      f"{human_count(last.get('dirs_listed'))} listed / {human_count(last.get('dirs_skipped'))} skipped"
                      f" · took {human_duration(took)}", "yellow" if last.get("aborted") else ""))
    elif not pipe.get("audit_running"):
        lines.append(("Last audit", "none yet", "dim"))
    sent = pipe.get("last_sentinel")
    if sent:
        counts = sent.get("counts") or {}
        detail = ", ".join(f"{k} {_short_counts(v)}" for k, v in sorted(counts.items())) if isinstance(counts, dict) \
            else str(counts)
        lines.append(("Sentinel", f"ran {ago(sent.get('at'), now)} · {human_count(sent.get('checked'))} checked"
                      + (f" · {detail}" if detail else ""), ""))
    else:
        lines.append(("Sentinel", "no run yet", "dim"))
    stats = pipe.get("sender_stats") or {}
    lines.append(("Session", f"{pipe.get('session_id') or 'none'} · roles "
                  + (", ".join(f"{v}: {r}" for v, r in sorted((pipe.get("roles") or {}).items())) or DASH), ""))
    lines.append(("Sender", f"sent {human_count(stats.get('sent'))} · acked {human_count(stats.get('acked'))} · "
                  f"resent {human_count(stats.get('resent'))} · refused {human_count(stats.get('refused'))}", ""))
    lines.append(("Snapshot", ("done" if pipe.get("snapshot_done") else "running") +
                  f" · {human_count(pipe.get('snapshot_rows'))} rows · jobs run {human_count(pipe.get('jobs_run'))}", ""))
    lines.append(("Health", f"reconnects {human_count(pipe.get('reconnects'))} · restarts "
                  f"{human_count(pipe.get('restarts'))} · crashes {human_count(pipe.get('crashes'))}",
                  "red" if pipe.get("crashes") else ""))
    err = pipe.get("last_error") or stats.get("last_error")
    if err:
        lines.append(("Last error", str(err), "red"))
    title = f"{pipe.get('pipe')}: {pipe.get('source')} → {pipe.get('sender')} (fusion pipe {pipe.get('fusion_pipe')})"
    return AgentPipeDetail(title, lines, used, limit, a_prog, a_total)


def _short_counts(v: Any) -> str:
    if isinstance(v, dict):
        return " ".join(f"{k}={v2}" for k, v2 in sorted(v.items()))
    return str(v)


def source_lines(status: dict | None) -> list[tuple[str, str, str]]:
    out = []
    for name, s in sorted(((status or {}).get("sources") or {}).items()):
        text = f"{s.get('root')} · errors {human_count(s.get('errors'))} · drift {signed_seconds(s.get('drift'))}"
        if s.get("degraded_reason"):
            text += f" · degraded: {s['degraded_reason']}"
        out.append((name, text, "yellow" if s.get("degraded_reason") or not s.get("can_realtime", True) else ""))
    return out


# --- directory listings -----------------------------------------------------------------

LS_SORTS = ("size", "name", "count", "mtime")
#: the natural direction of each sort (ncdu: biggest first; names A to Z; newest first)
LS_DEFAULT_REVERSE = {"size": True, "name": False, "count": True, "mtime": True}


def entry_flags(e: dict, deletions: int = 0) -> str:
    """Short marks: ``S`` suspect, ``B`` blind-spot addition, ``D`` blind-spot deletion, ``?`` not
    known by an agent. Directories carry the counts of their subtree (``S3 B1``)."""
    parts = []
    if e.get("kind") == "dir":
        s = int(e.get("suspects") or 0) + (1 if e.get("suspect") else 0)
        b = int(e.get("blind_spots") or 0) + (1 if e.get("blind_spot") else 0)
        u = int(e.get("not_known_by_agent") or 0)
        for letter, n in (("S", s), ("B", b), ("D", deletions), ("?", u)):
            if n:
                parts.append(f"{letter}{_tiny(n)}")
    else:
        if e.get("suspect"):
            parts.append("S")
        if e.get("blind_spot"):
            parts.append("B")
        if e.get("known_by_agent") is False:
            parts.append("?")
    return " ".join(parts)


def _tiny(n: int) -> str:
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n // 1000}k"
    return f"{n // 1_000_000}M"


def flags_style(flags: str) -> str:
    if "S" in flags:
        return "bold yellow"
    if "B" in flags or "D" in flags:
        return "magenta"
    if "?" in flags:
        return "cyan"
    return ""


def entry_display_name(e: dict) -> str:
    name = str(e.get("name") or "?")
    kind = e.get("kind")
    if kind == "dir":
        return name + "/"
    if kind == "symlink":
        return name + "@"
    return name


def entry_newest(e: dict) -> float | None:
    if e.get("kind") == "dir":
        return e.get("newest_mtime") or e.get("mtime")
    return e.get("mtime")


LISTING_COLUMNS = (
    Column("size", "Size", "right", 9), Column("bar", "", "left", 10, sortable=False),
    Column("files", "Files", "right", 7), Column("newest", "Newest", "right", 7), Column("flags", "Flags", "left", 9),
    Column("name", "Name"),
)  # fmt: skip
#: listing column -> the server-side sort it asks for
LISTING_SORT_OF_COLUMN = {"size": "size", "files": "count", "newest": "mtime", "name": "name"}


def listing_row(e: dict, now: float, dir_size: int | None = None, deletions: int = 0) -> Row:
    size = e.get("size")
    flags = entry_flags(e, deletions)
    is_dir = e.get("kind") == "dir"
    newest = entry_newest(e)
    frac = (float(size or 0) / dir_size) if dir_size else None
    return Row(
        key=str(e.get("name")),
        cells={"size": human_size(size), "bar": bar(frac, 10), "files": human_count(e.get("files")) if is_dir else "",
               "newest": human_age(now - newest) if newest else DASH, "flags": flags,
               "name": entry_display_name(e)},
        sort={"size": size, "files": e.get("files") if is_dir else 1, "newest": newest, "name": e.get("name")},
        style={"name": "bold" if is_dir else ("italic" if e.get("kind") == "symlink" else ""),
               "flags": flags_style(flags), "bar": "green"},
    )  # fmt: skip


def deletions_by_child(directory: str, deletion_paths: Iterable[str]) -> tuple[dict[str, int], int]:
    """Blind-spot deletions under ``directory``: counts per child name, and those of direct children."""
    prefix = "/" if directory in ("", "/") else directory.rstrip("/") + "/"
    per_child: dict[str, int] = {}
    direct = 0
    for p in deletion_paths:
        if not p.startswith(prefix):
            continue
        rest = p[len(prefix):]
        if not rest:
            continue
        head, sep, _ = rest.partition("/")
        if sep:
            per_child[head] = per_child.get(head, 0) + 1
        else:
            direct += 1
    return per_child, direct


# --- paging a directory ---------------------------------------------------------------


@dataclass(frozen=True)
class Fetch:
    """A page to ask the server for: ``query.ls`` with ``limit`` and ``cursor``."""

    generation: int
    index: int
    cursor: str | None
    limit: int
    path: str
    sort: str
    reverse: bool


@dataclass
class _Page:
    entries: list[dict]
    next_cursor: str | None


class DirPager:
    """Which pages of a directory the listing holds, and which one to ask for next.

    The server sorts and pages (``query.ls`` with ``limit`` / ``cursor``); the
    console holds a *window* of at most ``max_pages`` consecutive pages, so a
    directory of 100,000 entries never puts more than a couple of pages of rows
    into the widget. Scrolling near the end of the window asks for the next
    page (and drops the first); near the start, for the previous one (the
    cursor of every page seen is remembered, so the way back needs no scan).

    A filter hides entries that do not match. While the window shows fewer
    than a page of matches and the directory has more, the next page is
    scanned, at most ``scan_budget`` pages in a row (the budget renews when the
    cursor reaches the last row), so a filter that matches nothing in a huge
    directory stops and says how far it got. Scanned pages without a match are
    not kept.

    Pages are numbered from 0; ``generation`` changes with the path, sort or
    filter, so a late reply to an old question is ignored. The widget keeps its
    cursor on the same entry by name across page changes.
    """

    def __init__(self, page_size: int = 200, max_pages: int = 2, margin: int = 20, scan_budget: int = 50) -> None:
        self.page_size = page_size
        self.max_pages = max(1, max_pages)
        self.margin = margin
        self.scan_budget = scan_budget
        self.path = "/"
        self.sort = "size"
        self.reverse = True
        self.filter = RowFilter()
        self.generation = 0
        self.total: int | None = None
        self.error: str | None = None
        self._cursors: list[str | None] = [None]  # cursor that fetches page i
        self._pages: dict[int, _Page] = {}
        self._skipped: set[int] = set()  # filtered: scanned pages without a match
        self._started = False
        self._inflight: Fetch | None = None
        self._scanned = 0  # pages scanned for the filter since the budget last renewed

    # -- state ----------------------------------------------------------------------

    def reset(self, path: str | None = None, sort: str | None = None, reverse: bool | None = None,
              flt: RowFilter | None = None) -> None:  # fmt: skip
        if path is not None:
            self.path = path
        if sort is not None:
            self.sort = sort
        if reverse is not None:
            self.reverse = reverse
        if flt is not None:
            self.filter = flt
        self.generation += 1
        self.total = None
        self.error = None
        self._cursors = [None]
        self._pages = {}
        self._skipped = set()
        self._started = False
        self._inflight = None
        self._scanned = 0

    def set_filter(self, flt: RowFilter) -> None:
        """A new filter re-reads the directory from its first page (matches may be anywhere)."""
        self.reset(flt=flt)

    @property
    def loading(self) -> bool:
        return self._inflight is not None

    @property
    def window(self) -> list[int]:
        return sorted(self._pages)

    def _hi(self) -> int | None:
        seen = set(self._pages) | self._skipped
        return max(seen) if seen else None

    def _lo(self) -> int | None:
        return min(self._pages) if self._pages else None

    @property
    def has_more(self) -> bool:
        hi = self._hi()
        return hi is not None and hi + 1 < len(self._cursors)

    def _previous_index(self) -> int | None:
        lo = self._lo()
        if lo is None:
            return None
        for i in range(lo - 1, -1, -1):
            if i not in self._skipped:
                return i
        return None

    @property
    def has_previous(self) -> bool:
        return self._previous_index() is not None

    def _matches(self, page: _Page) -> list[dict]:
        if not self.filter.active:
            return page.entries
        return [e for e in page.entries if self.filter.matches(str(e.get("name", "")))]

    def rows(self) -> list[dict]:
        """The entries the listing shows (the window, filtered), in server order."""
        out: list[dict] = []
        for i in self.window:
            out.extend(self._matches(self._pages[i]))
        return out

    def offset(self) -> int:
        """How many entries come before the window (unfiltered: its first row's place in the directory)."""
        lo = self._lo()
        return (lo or 0) * self.page_size

    def scanned(self) -> int:
        """Entries read from the server up to the end of what was fetched."""
        hi = self._hi()
        if hi is None:
            return 0
        page = self._pages.get(hi)
        return hi * self.page_size + (len(page.entries) if page is not None else self.page_size)

    def position_text(self, cursor_row: int | None = None) -> str:
        """``201 of 10,000``, or filtered ``12 matches in 1,200 of 10,000``."""
        if self.error:
            return "error"
        if self.total is None:
            return "loading…"
        total = human_count(self.total)
        if self.filter.active:
            n = len(self.rows())
            tail = " (scanning…)" if self.loading else (" (more unscanned: ⏎ in the filter goes on)" if self.has_more
                                                         else "")
            return f"{human_count(n)} match{'es' if n != 1 else ''} in {human_count(self.scanned())} of {total}{tail}"
        if not self._pages or self.total == 0:
            return f"0 of {total}"
        start = self.offset()
        end = start + len(self.rows())
        if cursor_row is not None:
            return f"{human_count(start + cursor_row + 1)} of {total}"
        return f"{human_count(start + 1)}–{human_count(end)} of {total}"

    # -- deciding -----------------------------------------------------------------------

    def next_fetch(self, cursor_row: int | None = None) -> Fetch | None:
        """The page to load now, given where the cursor is in :meth:`rows` (``None``: the top)."""
        if self._inflight is not None or self.error is not None:
            return None
        if not self._started:
            return self._make(0)
        rows_n = len(self.rows())
        row = 0 if cursor_row is None else cursor_row
        if self.filter.active:
            if cursor_row is not None and row >= rows_n - 1:
                self._scanned = 0  # the cursor is at the last match: scanning may go on
            if self.has_more and rows_n < self.page_size:
                if self._scanned < self.scan_budget:
                    return self._make(self._hi() + 1)  # type: ignore[operator]
                return None
        if self.has_more and row >= rows_n - self.margin:
            return self._make(self._hi() + 1)  # type: ignore[operator]
        prev = self._previous_index()
        if prev is not None and row < self.margin:
            return self._make(prev)
        return None

    def refresh_fetches(self) -> list[Fetch]:
        """The pages of the window again (a live refresh keeps the position)."""
        return [Fetch(self.generation, i, self._cursors[i], self.page_size, self.path, self.sort, self.reverse)
                for i in self.window if i < len(self._cursors)]

    def _make(self, index: int) -> Fetch | None:
        if index < 0 or index >= len(self._cursors):
            return None
        f = Fetch(self.generation, index, self._cursors[index], self.page_size, self.path, self.sort, self.reverse)
        self._inflight = f
        self._started = True
        return f

    # -- applying -----------------------------------------------------------------------

    def apply(self, fetch: Fetch, reply: dict) -> bool:
        """Put a fetched page into the window; ``False`` when the reply is stale (another generation)."""
        if fetch.generation != self.generation:
            return False
        if self._inflight == fetch:
            self._inflight = None
        self._started = True
        if reply.get("total") is not None:
            self.total = int(reply["total"])
        page = _Page(list(reply.get("entries") or []), reply.get("next_cursor"))
        k = fetch.index
        if k >= len(self._cursors):  # a refresh of a page that no longer exists
            return True
        old_lo = self._lo()
        if page.next_cursor is not None:
            if k + 1 < len(self._cursors):
                self._cursors[k + 1] = page.next_cursor
            else:
                self._cursors.append(page.next_cursor)
        else:
            del self._cursors[k + 1:]
            for i in [i for i in self._pages if i > k]:
                del self._pages[i]
            self._skipped = {i for i in self._skipped if i <= k}
        matched = self._matches(page)
        if self.filter.active and not matched and (self._pages.keys() - {k}):
            self._pages.pop(k, None)
            self._skipped.add(k)
            self._scanned += 1
            return True
        self._pages[k] = page
        self._skipped.discard(k)
        if self.filter.active:
            self._scanned += 1
            for i in [i for i in self._pages if i != k and not self._matches(self._pages[i])]:
                del self._pages[i]  # a page kept only because it was alone: it shows nothing
                self._skipped.add(i)
        at_end = old_lo is None or k >= old_lo
        limit = self.page_size * self.max_pages
        while len(self._pages) > 1:
            victim = self.window[0] if at_end else self.window[-1]
            if victim == k:
                break
            if self.filter.active:
                if len(self.rows()) <= limit:
                    break
            elif len(self._pages) <= self.max_pages:
                break
            del self._pages[victim]
        return True

    def failed(self, fetch: Fetch, message: str) -> None:
        if fetch.generation != self.generation:
            return
        if self._inflight == fetch:
            self._inflight = None
        if not self._pages:
            self.error = message

    def retry(self) -> None:
        self.error = None
        self._inflight = None
        if not self._pages and not self._skipped:
            self._started = False

    def renew_budget(self) -> None:
        """Let a filter scan another ``scan_budget`` pages (the user asked for more)."""
        self._scanned = 0


# --- completeness ------------------------------------------------------------------------

VERDICTS = {
    "complete": ("✔ COMPLETE", "bold black on green", "every entry is vouched for and nothing is being written"),
    "writing": ("✎ STILL BEING WRITTEN", "bold black on yellow", "some files are suspect or were written recently"),
    "unvouched": ("? NOT VOUCHED FOR", "bold white on magenta", "part of it was seen only by scans, not by a watch"),
    "absent": ("✘ ABSENT", "bold white on red", "the view holds nothing at this path"),
}


@dataclass
class VerdictView:
    verdict: str
    badge: str
    style: str
    meaning: str
    facts: list[tuple[str, str]]
    reasons: list[str]


def verdict_view(summary: dict | None, now: float, tz: _dt.tzinfo | None = None) -> VerdictView:
    """The completeness panel of one path, from ``query.summary``."""
    if not summary:
        return VerdictView("unknown", "…", "dim", "asking the view", [], [])
    verdict = str(summary.get("verdict") or "unknown")
    badge, style, meaning = VERDICTS.get(verdict, (verdict.upper(), "bold", ""))
    facts: list[tuple[str, str]] = []
    if summary.get("exists"):
        kind = summary.get("kind")
        if kind == "dir":
            nd = int(summary.get("dirs") or 0)
            facts.append(("Files", f"{human_count(summary.get('files'))} in {human_count(nd + 1)} "
                                   f"dir{'s' if nd else ''}"))
        else:
            facts.append(("Kind", str(kind)))
        facts.append(("Size", human_size(summary.get("size"))))
        age = summary.get("newest_age_s")
        facts.append(("Newest", f"{human_age(age)} old" if age is not None else DASH))
        facts.append(("Suspect", human_count(summary.get("suspects"))))
        facts.append(("Blind +/-", f"+{human_count(summary.get('blind_spot_additions') or 0)} / "
                                   f"-{human_count(summary.get('blind_spot_deletions') or 0)}"))
        facts.append(("Unknown", human_count(summary.get("not_known_by_agent"))))
    elif summary.get("blind_spot_deletions"):
        facts.append(("Blind -", human_count(summary.get("blind_spot_deletions"))))
    la = summary.get("last_audit_completed_at")
    facts.append(("Audited", ago(la, now) if la else "never"))
    if summary.get("view_ready") is False:
        facts.append(("View", "not ready"))
    reasons = [str(r) for r in summary.get("reasons") or []]
    return VerdictView(verdict, badge, style, meaning, facts, reasons)


@dataclass
class JobView:
    """A rescan asked for with ``r``: pending until the leader's scan completes."""

    job_id: str | None
    path: str
    state: str  # sending | pending | complete | failed
    started: float
    finished: float | None = None
    error: str | None = None
    rows: int | None = None

    def text(self, now: float) -> str:
        if self.state == "sending":
            return f"rescan of {self.path}: asking fusion…"
        if self.state == "pending":
            return f"rescan of {self.path}: job {self.job_id} pending · {human_duration(now - self.started)}"
        took = human_duration((self.finished or now) - self.started)
        if self.state == "complete":
            return f"rescan of {self.path}: job {self.job_id} complete in {took}"
        return f"rescan of {self.path}: failed after {took}: {self.error or 'unknown error'}"

    @property
    def done(self) -> bool:
        return self.state in ("complete", "failed")

    def style(self) -> str:
        return {"complete": "green", "failed": "bold red", "pending": "yellow"}.get(self.state, "")


def job_from_reply(path: str, reply: dict, started: float) -> JobView:
    """A :class:`JobView` from a ``query.summary(force_real_time)`` / ``scan`` / ``job.status`` reply."""
    job = reply.get("job") if isinstance(reply.get("job"), dict) else reply
    state = str(job.get("state") or ("pending" if reply.get("job_pending") else "complete"))
    return JobView(job.get("job_id") or reply.get("job_id"), path, state, started,
                   job.get("completed_at") if state != "pending" else None, job.get("error"), job.get("rows"))


# --- search results -------------------------------------------------------------------------

SEARCH_COLUMNS = (
    Column("view", "View"), Column("path", "Path"), Column("kind", "Kind"), Column("size", "Size", "right"),
    Column("files", "Files", "right"),
)  # fmt: skip


def search_pattern(text: str) -> tuple[str, str | None]:
    """What to send for a typed search: a glob as typed, and a looser glob to try when it finds nothing.

    ``S123`` (no glob characters) is an exact name first, then ``*S123*``.
    """
    t = text.strip()
    if not t:
        return "", None
    if any(c in t for c in "*?["):
        return t, None
    return t, f"*{t}*"


def search_rows(reply: dict | None) -> list[Row]:
    rows = []
    for i, r in enumerate((reply or {}).get("results", [])):
        is_dir = r.get("kind") == "dir"
        rows.append(Row(
            key=f"{r.get('view')}:{r.get('path')}:{i}",
            cells={"view": str(r.get("view") or DASH), "path": str(r.get("path")) + ("/" if is_dir else ""),
                   "kind": str(r.get("kind") or DASH), "size": human_size(r.get("size")),
                   "files": human_count(r.get("files")) if is_dir else ""},
            sort={"size": r.get("size"), "files": r.get("files")},
            style={"path": "bold" if is_dir else ""},
        ))  # fmt: skip
    return rows


# --- config editing ----------------------------------------------------------------------------


def config_diff(old: str, new: str, name: str, context: int = 2) -> list[str]:
    """The unified diff of an edit (no trailing newlines), empty when nothing changed."""
    if old == new:
        return []
    a = old.splitlines(keepends=True)
    b = new.splitlines(keepends=True)
    lines = difflib.unified_diff(a, b, fromfile=f"a/{name}", tofile=f"b/{name}", n=context)
    out = []
    for line in lines:
        if line.endswith("\n"):
            line = line[:-1]
        else:
            out.append(line)
            out.append("\\ No newline at end of file")
            continue
        out.append(line)
    return out


def diff_stats(diff: Sequence[str]) -> tuple[int, int]:
    added = sum(1 for ln in diff if ln.startswith("+") and not ln.startswith("+++"))
    removed = sum(1 for ln in diff if ln.startswith("-") and not ln.startswith("---"))
    return added, removed


def diff_line_style(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "bold"
    if line.startswith("@@"):
        return "cyan"
    if line.startswith("+"):
        return "green"
    if line.startswith("-"):
        return "red"
    return ""


_LINE_RE = re.compile(r"\(line (\d+)(?:, column (\d+))?\)")


def error_location(message: str) -> tuple[int, int] | None:
    """``(line, column)`` (1-based) named by a YAML error message, if any."""
    m = _LINE_RE.search(message or "")
    if not m:
        return None
    return int(m.group(1)), int(m.group(2) or 1)


def validation_errors(reply: dict) -> list[str]:
    """The lines of a ``config.validate`` reply that says ``valid: false``."""
    errors = reply.get("errors") or []
    out = []
    for e in errors:
        if isinstance(e, dict):
            key = e.get("key")
            out.append(f"{key}: {e.get('message')}" if key else str(e.get("message")))
        else:
            out.append(str(e))
    if not out and reply.get("message"):
        out = str(reply["message"]).splitlines()
    return out


def reload_summary(reload: dict | None) -> str:
    """What a hot reload changed: ``pipes restarted: p · views changed: v`` or ``nothing restarted``."""
    if not reload:
        return "nothing restarted"
    parts = []
    for k, v in reload.items():
        if v:
            items = ", ".join(str(x) for x in v) if isinstance(v, (list, tuple)) else str(v)
            parts.append(f"{k.replace('_', ' ')}: {items}")
    return " · ".join(parts) if parts else "nothing restarted"


class EditState:
    """The config editor's steps: editing → reviewed (valid, diff shown) → applied; or invalid."""

    EDITING = "editing"
    INVALID = "invalid"
    REVIEWED = "reviewed"
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"


# --- the command line ------------------------------------------------------------------------

#: ``:`` commands: name -> (argument, help)
COMMANDS: dict[str, tuple[str, str]] = {
    "views": ("", "the overview: views, audits, events/s, sessions"),
    "overview": ("", "same as :views"),
    "sessions": ("", "agent sessions (sortable)"),
    "pipes": ("", "pipes (fusion pipes, or an agent's pipes)"),
    "view": ("NAME [PATH]", "browse a view (at PATH)"),
    "search": ("PATTERN", "find a name or glob in every view"),
    "agent": ("", "the agent screen (when attached to an agent)"),
    "config": ("[FILE]", "the config files (edit one)"),
    "theme": ("NAME", "switch the colour theme"),
    "reconnect": ("", "reconnect now instead of waiting"),
    "help": ("", "the keys of this screen"),
    "q": ("", "quit"),
}
_ALIASES = {"quit": "q", "exit": "q", "v": "view", "s": "sessions", "p": "pipes", "c": "config", "h": "help",
            "overview": "views", "find": "search", "/": "search"}


@dataclass(frozen=True)
class ParsedCommand:
    name: str
    args: tuple[str, ...] = ()
    error: str | None = None


def parse_command(text: str) -> ParsedCommand:
    """``:view archive /upload`` -> ``ParsedCommand("view", ("archive", "/upload"))``."""
    t = (text or "").strip()
    if t.startswith(":"):
        t = t[1:].strip()
    if not t:
        return ParsedCommand("", (), "empty command")
    head, _, rest = t.partition(" ")
    name = _ALIASES.get(head.lower(), head.lower())
    args = tuple(rest.split()) if name != "search" else ((rest.strip(),) if rest.strip() else ())
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, list(COMMANDS), n=1)
        hint = f"; did you mean :{close[0]}?" if close else ""
        return ParsedCommand(name, args, f"unknown command :{name}{hint} (:help lists them)")
    if name in ("view", "search", "theme") and not args:
        return ParsedCommand(name, args, f":{name} needs {COMMANDS[name][0]}")
    return ParsedCommand(name, args)


def complete_command(prefix: str, views: Iterable[str] = ()) -> list[str]:
    """Completions of a partly typed command line (names, then view names after ``view``)."""
    t = prefix.lstrip(":")
    head, sep, rest = t.partition(" ")
    if not sep:
        return sorted(":" + c for c in COMMANDS if c.startswith(head.lower()))
    if _ALIASES.get(head, head) == "view":
        return sorted(f":view {v}" for v in views if v.startswith(rest.strip()))
    return []


# --- help -------------------------------------------------------------------------------------


def key_display(key: str) -> str:
    """A binding's key as the help shows it (``ctrl+s`` -> ``^s``, ``question_mark`` -> ``?``)."""
    names = {"question_mark": "?", "colon": ":", "slash": "/", "backspace": "⌫", "enter": "⏎", "escape": "esc",
             "exclamation_mark": "!", "left": "←", "right": "→", "up": "↑", "down": "↓"}
    out = []
    for k in key.split(","):
        k = k.strip()
        if k.startswith("ctrl+"):
            out.append("^" + names.get(k[5:], k[5:]))
        else:
            out.append(names.get(k, k))
    return "/".join(out)


def help_rows(bindings: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``(key, what it does)`` with duplicates (same description) merged, order kept."""
    seen: dict[str, list[str]] = {}
    for key, desc in bindings:
        if not desc:
            continue
        seen.setdefault(desc, [])
        disp = key_display(key)
        if disp not in seen[desc]:
            seen[desc].append(disp)
    return [("/".join(keys), desc) for desc, keys in seen.items()]
