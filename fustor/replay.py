"""``fustor replay``: feed a recorded input stream through one FS view.

A recording is a JSON-lines file; each line is one input of one view as
fusion delivers it (sessions opening and closing, event batches, audit and
snapshot signals, sentinel rounds, clock ticks), stamped with fusion's wall
time ``at``. Replay drives a :class:`~fustor.testing.FakeClock` from those
stamps, applies every line to a fresh :class:`~fustor.views.fs.FSView` and
returns the resulting view as a JSON-ready dict. The same file always gives
byte-identical output, so a consistency question can be kept as a test.

A bad line never stops a replay: it becomes an entry of ``errors`` naming
its line number and an error code, and the next line is applied. The format,
every op and the output are described in ``docs/replay.md``.

Audit ids are made by the view at ``audit_start``, so a recording cannot
know them in advance: an ``audit_start`` line names an alias (``"as":
"A1"``) and later lines refer to the audit by that alias in ``audit_id``.
Without ``as`` the alias is the id the view made (deterministic: the view's
id, a counter and the wall second), which is what a recording written by
fusion itself will use.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from fustor.core import EventBase, EventType, FustorError, MessageSource, ValidationError
from fustor.schema import FILE, RowError, check_key, validate_row
from fustor.testing import FakeClock
from fustor.views.fs import FSView, FSViewConfig
from fustor.views.fs.tree import BLIND, KNOWN, SKIPPED, SUSPECT

#: fusion's monotonic clock at the first line; it then advances with ``at``.
MONOTONIC_BASE = 1000.0

#: op -> (required fields, optional fields), besides ``at``, ``op`` and ``note``.
OPS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "config": (frozenset({"config"}), frozenset()),
    "session_start": (frozenset({"session"}), frozenset()),
    "session_close": (frozenset({"session"}), frozenset()),
    "event": (frozenset({"session", "event"}), frozenset()),
    "audit_start": (frozenset({"session"}), frozenset({"as"})),
    "audit_end": (frozenset({"session", "audit_id"}), frozenset({"aborted"})),
    "snapshot_end": (frozenset({"session"}), frozenset()),
    "sentinel_tasks": (frozenset(), frozenset({"limit", "session"})),
    "sentinel_feedback": (frozenset({"results"}), frozenset({"session"})),
    "tick": (frozenset(), frozenset()),
    "job_complete": (frozenset({"session", "job_id"}), frozenset()),
}
_COMMON = frozenset({"at", "op", "note"})

#: Exit codes of ``fustor replay``.
EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_UNREADABLE = 2


class LineError(FustorError):
    """A line that replay refused; ``code`` says why (see docs/replay.md)."""

    code = "line_refused"  # each instance names its own code

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ReplayFileError(FustorError):
    """The recording (or the view config) cannot be read at all."""

    code = "unreadable"


@dataclass
class ReplayResult:
    output: dict[str, Any]
    exit_code: int

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.output["errors"]

    def to_json(self, pretty: bool = True) -> bytes:
        return encode(self.output, pretty)


def encode(output: Mapping[str, Any], pretty: bool = True) -> bytes:
    """The replay output as JSON bytes (with a final newline)."""
    option = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
    if pretty:
        option |= orjson.OPT_INDENT_2
    return orjson.dumps(output, option=option)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _session_of(line: dict, name: str = "session") -> str:
    value = line[name]
    if not isinstance(value, str) or not value:
        raise LineError("invalid", f"{name} must be a non-empty string")
    return value


class Replayer:
    """Applies recording lines one by one; :meth:`result` reads the view.

    ``view_config`` (fields of :class:`FSViewConfig`) overrides, field by
    field, what the recording's ``config`` line sets.
    """

    def __init__(self, *, explain: bool = False, view_config: Mapping[str, Any] | None = None, view_id: str = "fs") -> None:
        self.explain = explain
        self.view_id = view_id
        self.override = dict(view_config or {})
        if self.override:
            try:
                FSViewConfig(**self.override)
            except Exception as exc:  # pydantic's ValidationError
                raise ReplayFileError(f"view config: {_first_error(exc)}") from None
        self.clock: FakeClock | None = None
        self.view: FSView | None = None
        self.aliases: dict[str, str] = {}  # alias -> audit id the view made
        self.alias_of: dict[str, str] = {}  # audit id -> alias
        self.errors: list[dict[str, Any]] = []
        self.decisions: list[dict[str, Any]] = []
        self.audits: list[dict[str, Any]] = []
        self.abandoned: list[dict[str, Any]] = []
        self.sentinel: list[dict[str, Any]] = []
        self.lines = 0
        self.applied = 0
        self._seen_line = False
        self._line_no = 0
        self._time_line = 0  # the line that last moved the clock

    # --- feeding ------------------------------------------------------------

    def feed(self, line_no: int, raw: bytes | str) -> bool | None:
        """Apply one physical line; ``None`` for a blank line, else whether it applied."""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        if not raw.strip():
            return None
        self.lines += 1
        first = not self._seen_line
        self._seen_line = True
        self._line_no = line_no
        op: str | None = None
        try:
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise LineError("bad_json", f"not JSON: {exc}") from None
            if not isinstance(line, dict):
                raise LineError("invalid", f"a line must be a JSON object, got {type(line).__name__}")
            op = line.get("op")
            if not isinstance(op, str) or op not in OPS:
                raise LineError("unknown_op", f"unknown op {op!r}; expected one of {', '.join(OPS)}")
            self._check_fields(op, line)
            at = line["at"]
            if not _is_number(at):
                raise LineError("invalid", "at must be a finite number (fusion wall time, seconds)")
            if self.clock is not None and at < self.clock.wall():
                raise LineError(
                    "time_backwards",
                    f"at {at!r} is earlier than {self.clock.wall()!r}, the time of line {self._time_line}; "
                    "lines must be in non-decreasing time",
                )
            if op == "config":
                if not first:
                    raise LineError("invalid", "a config line may only be the first line")
                self._start_clock(at)
                self._time_line = line_no
                self._configure(line["config"])
                self.applied += 1
                return True
            self._start_clock(at)
            self._ensure_view()
            self.clock.set(at)  # type: ignore[union-attr]
            self._time_line = line_no
            self._apply(op, line)
        except LineError as exc:
            self._error(line_no, op, exc.code, exc.message)
            return False
        self.applied += 1
        return True

    def _check_fields(self, op: str, line: dict) -> None:
        required, optional = OPS[op]
        missing = sorted((required | {"at"}) - line.keys())
        if missing:
            raise LineError("invalid", f"op {op} needs {', '.join(missing)}")
        unknown = sorted(line.keys() - required - optional - _COMMON)
        if unknown:
            raise LineError("invalid", f"op {op} does not take {', '.join(unknown)}")

    def _error(self, line_no: int, op: str | None, code: str, message: str) -> None:
        self.errors.append({"line": line_no, "op": op, "code": code, "message": message})

    def _start_clock(self, at: float) -> None:
        if self.clock is None:
            self.clock = FakeClock(wall=at, monotonic=MONOTONIC_BASE)

    def _configure(self, fields: Any) -> None:
        if not isinstance(fields, dict):
            raise LineError("config_invalid", "config must be an object of view settings")
        try:
            config = FSViewConfig(**{**fields, **self.override})
        except Exception as exc:
            raise LineError("config_invalid", f"view config: {_first_error(exc)}") from None
        self.view = self._new_view(config)

    def _ensure_view(self) -> FSView:
        if self.view is None:
            self.view = self._new_view(FSViewConfig(**self.override))
        return self.view

    def _new_view(self, config: FSViewConfig) -> FSView:
        if self.clock is None:
            self.clock = FakeClock(wall=0.0, monotonic=MONOTONIC_BASE)
        return FSView(self.view_id, config, self.clock)

    # --- ops ------------------------------------------------------------------

    def _apply(self, op: str, line: dict) -> None:
        view = self.view
        assert view is not None
        # Set on every line: a live-mode reset rebuilds the arbitrator.
        view.arbitrator.trace = self._trace if self.explain else None
        running = view.audits.current
        try:
            getattr(self, "_op_" + op)(view, line)
        except LineError:
            raise
        except FustorError as exc:
            raise LineError(exc.code, exc.message) from None
        except Exception as exc:  # an engine bug must not end the replay
            raise LineError("internal_error", f"{type(exc).__name__}: {exc}") from None
        finally:
            self._note_abandoned(view, running)

    def _require_session(self, view: FSView, session: str) -> None:
        if session not in view.sessions:
            raise LineError("unknown_session", f"session {session!r} is not open (no session_start for it)")

    def _op_session_start(self, view: FSView, line: dict) -> None:
        session = _session_of(line)
        if session in view.sessions:
            raise LineError("invalid", f"session {session!r} is already open")
        view.on_session_start(session)

    def _op_session_close(self, view: FSView, line: dict) -> None:
        session = _session_of(line)
        self._require_session(view, session)
        view.on_session_close(session)

    def _op_event(self, view: FSView, line: dict) -> None:
        session = _session_of(line)
        self._require_session(view, session)
        data = line["event"]
        if isinstance(data, dict) and data.get("audit_id") is not None:
            data = dict(data)
            data["audit_id"] = self._resolve(data["audit_id"])
        try:
            event = EventBase.from_dict(data)
        except ValidationError as exc:
            raise LineError(exc.code, f"event: {exc.message}") from None
        view.check_schema(event)  # C15 before the rows: a foreign schema has other rows
        deleting = event.type is EventType.DELETE
        rows = []
        for i, row in enumerate(event.rows, 1):
            try:
                rows.append(validate_row(dict(row) if isinstance(row, dict) else row, deleting=deleting))
            except RowError as exc:
                raise LineError(exc.code, f"row {i}: {exc}") from None
        event.rows = rows
        view.process_event(event, session)

    def _op_audit_start(self, view: FSView, line: dict) -> None:
        session = _session_of(line)
        self._require_session(view, session)
        alias = line.get("as")
        if alias is not None and (not isinstance(alias, str) or not alias):
            raise LineError("invalid", "as must be a non-empty string")
        if alias is not None and alias in self.aliases:
            raise LineError("invalid", f"audit alias {alias!r} is already bound to {self.aliases[alias]!r}")
        audit_id = view.audit_start(session)
        if alias is None:
            alias = audit_id
        self.aliases[alias] = audit_id
        self.alias_of[audit_id] = alias

    def _op_audit_end(self, view: FSView, line: dict) -> None:
        session = _session_of(line)
        aborted = line.get("aborted", False)
        if not isinstance(aborted, bool):
            raise LineError("invalid", "aborted must be true or false")
        self._require_session(view, session)
        audit_id = self._resolve(line["audit_id"])
        report = view.audit_end(session, audit_id, aborted)
        out = {"line": self._line_no, "alias": self.alias_of.get(audit_id, audit_id), "session": session}
        out.update(report.to_dict())
        self.audits.append(out)

    def _op_snapshot_end(self, view: FSView, line: dict) -> None:
        session = _session_of(line)
        self._require_session(view, session)
        view.snapshot_end(session)

    def _op_job_complete(self, view: FSView, line: dict) -> None:
        session = _session_of(line)
        self._require_session(view, session)
        job_id = line["job_id"]
        if not isinstance(job_id, str) or not job_id:
            raise LineError("invalid", "job_id must be a non-empty string")
        view.job_complete(session, job_id)

    def _op_sentinel_tasks(self, view: FSView, line: dict) -> None:
        if "session" in line:
            self._require_session(view, _session_of(line))
        limit = line.get("limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise LineError("invalid", "limit must be a positive integer")
        paths = view.sentinel_tasks(limit)
        self.sentinel.append({"line": self._line_no, "tasks": paths})
        if self.explain:
            for path in paths:
                self._trace(path, "sentinel", "task", "handed to the leader to stat (C10)")

    def _op_sentinel_feedback(self, view: FSView, line: dict) -> None:
        if "session" in line:
            self._require_session(view, _session_of(line))
        results = line["results"]
        if not isinstance(results, list):
            raise LineError("invalid", "results must be a list")
        for i, res in enumerate(results, 1):
            _check_sentinel_result(i, res)
        counts = view.sentinel_feedback(results)
        self.sentinel.append({"line": self._line_no, "feedback": counts})

    def _op_tick(self, view: FSView, line: dict) -> None:
        view.sweep()  # the engine traces each expiry decision itself
        view.check_audit_watchdog()

    # --- helpers --------------------------------------------------------------

    def _resolve(self, alias: Any) -> str:
        if not isinstance(alias, str):
            raise LineError("invalid", "audit_id must be a string (an alias from an audit_start line)")
        audit_id = self.aliases.get(alias)
        if audit_id is None:
            raise LineError("unknown_alias", f"no audit_start line bound the audit alias {alias!r}")
        return audit_id

    def _trace(self, path: str, source: str, decision: str, reason: str) -> None:
        self.decisions.append({"line": self._line_no, "path": path, "source": source, "decision": decision, "reason": reason})

    def _note_abandoned(self, view: FSView, running: Any) -> None:
        if running is None or view.audits.current is running:
            return
        if any(a["audit_id"] == running.audit_id for a in self.audits):
            return
        reason = next((r for aid, r in reversed(view.audits.abandoned) if aid == running.audit_id), "abandoned")
        self.abandoned.append(
            {"line": self._line_no, "alias": self.alias_of.get(running.audit_id, running.audit_id), "audit_id": running.audit_id, "reason": reason}
        )

    # --- the result -------------------------------------------------------------

    @property
    def exit_code(self) -> int:
        return EXIT_REFUSED if self.errors else EXIT_OK

    def result(self) -> ReplayResult:
        view = self._ensure_view()
        query = view.query
        out: dict[str, Any] = {
            "watermark": view.logical.watermark(),
            "skew": view.logical.skew,
            "lines": {"total": self.lines, "applied": self.applied, "refused": self.lines - self.applied},
            "nodes": nodes_of(view),
            "suspects": query.suspects(limit=max(1, len(view.suspects)))["suspects"],
        }
        blind = query.blind_spots(limit=max(1, len(view.blind.additions), len(view.blind.deletions)))
        out["blind_spots"] = {"additions": blind["additions"], "deletions": blind["deletions"]}
        out["tombstones"] = [{"path": p, **t.to_dict()} for p, t in sorted(view.tombstones.items())]
        out["audits"] = self.audits
        out["abandoned_audits"] = self.abandoned
        out["sentinel"] = self.sentinel
        out["errors"] = self.errors
        if self.explain:
            out["decisions"] = self.decisions
        out["debug"] = view.debug_dump()
        return ReplayResult(out, self.exit_code)


def nodes_of(view: FSView) -> list[dict[str, Any]]:
    """Every node of the view (the root included), sorted by path."""
    out = []
    stack = [("/", view.tree.root)]
    while stack:
        path, node = stack.pop()
        flags = node.flags
        out.append({
            "path": path,
            "kind": node.kind,
            "size": node.size,
            "mtime": node.mtime,
            "ctime": node.ctime,
            "inode": node.ino,
            "suspect": bool(flags & SUSPECT),
            "blind_spot": bool(flags & BLIND),
            "known_by_agent": bool(flags & KNOWN),
            "audit_skipped": bool(flags & SKIPPED) if node.is_dir else None,
            "last_updated_at": node.updated_at,
        })  # fmt: skip
        if node.is_dir:
            for name, child in node.children.items():
                stack.append((path + name if path == "/" else path + "/" + name, child))
    out.sort(key=lambda n: n["path"])
    return out


def _check_sentinel_result(i: int, res: Any) -> None:
    """Shape of one sentinel answer (C10), checked before any is applied."""
    if not isinstance(res, dict):
        raise LineError("invalid", f"sentinel result {i}: must be an object")
    known = {"path", "exists", "kind", "mtime", "ctime", "size", "parent_ctime"}
    unknown = sorted(set(res) - known)
    if unknown:
        raise LineError("invalid", f"sentinel result {i}: unknown field(s) {', '.join(unknown)}")
    try:
        check_key(res.get("path"))
    except ValueError as exc:
        raise LineError("bad_row", f"sentinel result {i}: {exc}") from None
    if not isinstance(res.get("exists"), bool):
        raise LineError("invalid", f"sentinel result {i}: exists must be true or false")
    kind = res.get("kind")
    if kind is not None and kind not in ("file", "dir", "symlink"):
        raise LineError("invalid", f"sentinel result {i}: kind must be file, dir or symlink")
    for name in ("mtime", "ctime", "size", "parent_ctime"):
        value = res.get(name)
        if value is not None and not _is_number(value):
            raise LineError("invalid", f"sentinel result {i}: {name} must be a finite number")
    if res["exists"] and kind == FILE and (res.get("ctime") is None or res.get("mtime") is None):
        raise LineError("invalid", f"sentinel result {i}: an existing file needs mtime and ctime")


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            err = errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ())) or "config"
            return f"{where}: {err.get('msg')}"
        except Exception:
            pass
    return str(exc)


# --- entry points ---------------------------------------------------------------


def replay_lines(
    lines: Iterable[bytes | str], *, explain: bool = False, view_config: Mapping[str, Any] | None = None
) -> ReplayResult:
    """Replay an iterable of lines (line numbers count from 1, blank lines included)."""
    replayer = Replayer(explain=explain, view_config=view_config)
    for n, raw in enumerate(lines, 1):
        replayer.feed(n, raw)
    return replayer.result()


def read_recording(path: str | os.PathLike[str]) -> list[bytes]:
    """The lines of a recording (``-``: standard input); :class:`ReplayFileError` if unreadable."""
    try:
        if str(path) == "-":
            import sys

            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as fh:
                data = fh.read()
    except OSError as exc:
        raise ReplayFileError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from None
    return data.split(b"\n") if data else []


def load_view_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """FSViewConfig fields from a YAML or JSON file; :class:`ReplayFileError` if unusable."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        with open(path, encoding="utf-8") as fh:
            data = YAML(typ="safe", pure=True).load(fh)
    except OSError as exc:
        raise ReplayFileError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from None
    except (YAMLError, UnicodeDecodeError) as exc:
        raise ReplayFileError(f"{os.fspath(path)} is not YAML or JSON: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ReplayFileError(f"{os.fspath(path)}: expected a mapping of view settings, got {type(data).__name__}")
    try:
        FSViewConfig(**data)
    except Exception as exc:
        raise ReplayFileError(f"{os.fspath(path)}: {_first_error(exc)}") from None
    return dict(data)


def replay_file(
    path: str | os.PathLike[str], *, explain: bool = False, view_config: Mapping[str, Any] | None = None
) -> ReplayResult:
    """Replay a recording file; raises :class:`ReplayFileError` when it cannot be read."""
    return replay_lines(read_recording(path), explain=explain, view_config=view_config)


__all__ = [
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_UNREADABLE",
    "MONOTONIC_BASE",
    "OPS",
    "LineError",
    "ReplayFileError",
    "ReplayResult",
    "Replayer",
    "encode",
    "load_view_config",
    "nodes_of",
    "read_recording",
    "replay_file",
    "replay_lines",
]
