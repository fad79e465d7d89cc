"""Driving an FSView by hand: short calls for the signals a fusion would send."""

from __future__ import annotations

from typing import Any

from fustor.core import EventBase, EventType, MessageSource
from fustor.schema import SCHEMA_NAME, SCHEMA_VERSION, make_row
from fustor.views.fs import FSView, FSViewConfig

from .clock import FakeClock


def listed(path: str, kind: str = "file", *, ino: int, ctime: float, pc: float, pino: int,
           size: int = 0, mtime: float | None = None, pm: float | None = None, skipped: bool | None = None) -> dict:
    """A listed row (snapshot, audit, on-demand): carries its listing's parent version and inode."""
    return make_row(path, kind, size=size, mtime=ctime if mtime is None else mtime, ctime=ctime, inode=ino,
                    mode=0o100644 if kind == "file" else 0o40755, uid=1000, gid=1000,
                    parent_mtime=pc if pm is None else pm, parent_ctime=pc, parent_ino=pino, audit_skipped=skipped)


def live(path: str, kind: str = "file", *, ino: int, ctime: float, pc: float, size: int = 0,
         mtime: float | None = None, atomic: bool | None = True, pm: float | None = None) -> dict:
    """A realtime event row: the parent's version read right after the operation, no parent inode."""
    return make_row(path, kind, size=size, mtime=ctime if mtime is None else mtime, ctime=ctime, inode=ino,
                    mode=0o100644 if kind == "file" else 0o40755, uid=1000, gid=1000,
                    parent_mtime=pc if pm is None else pm, parent_ctime=pc,
                    is_atomic_write=atomic if kind == "file" else None)


def gone(path: str, *, pc: float | None, ino: int | None = None, kind: str | None = None) -> dict:
    """A realtime delete row: ``pc`` is the parent's ctime right after the unlink."""
    return make_row(path, kind, size=None, inode=ino, parent_mtime=pc, parent_ctime=pc)


class ViewDriver:
    """An FSView with a FakeClock and one-line calls for each signal."""

    def __init__(self, config: FSViewConfig | None = None, *, wall: float = 1_700_000_000.0, **cfg: Any) -> None:
        self.clock = FakeClock(wall=wall)
        self.view = FSView("test", config or FSViewConfig(**cfg), self.clock)
        self.decisions: list[tuple[str, str, str, str]] = []
        self.view.arbitrator.trace = lambda *d: self.decisions.append(d)

    def _event(self, source: MessageSource, rows: list[dict], etype: EventType = EventType.UPDATE,
               session: str = "s1", audit_id: str | None = None, job_id: str | None = None, index: int | None = None) -> int:
        if index is None:
            index = int(self.clock.wall() * 1000)
        ev = EventBase(SCHEMA_NAME, SCHEMA_VERSION, etype, source, index, rows, audit_id, job_id)
        return self.view.process_event(ev, session)

    def start(self, session: str = "s1") -> None:
        self.view.on_session_start(session)

    def snapshot(self, *rows: dict, session: str = "s1", end: bool = True) -> int:
        n = self._event(MessageSource.SNAPSHOT, list(rows), EventType.INSERT, session)
        if end:
            self.view.snapshot_end(session)
        return n

    def realtime(self, *rows: dict, session: str = "s1", index: int | None = None) -> int:
        return self._event(MessageSource.REALTIME, list(rows), EventType.UPDATE, session, index=index)

    def delete(self, *rows: dict, session: str = "s1") -> int:
        return self._event(MessageSource.REALTIME, list(rows), EventType.DELETE, session)

    def audit_start(self, session: str = "s1") -> str:
        return self.view.audit_start(session)

    def audit_rows(self, audit_id: str, *rows: dict, session: str = "s1") -> int:
        return self._event(MessageSource.AUDIT, list(rows), EventType.UPDATE, session, audit_id=audit_id)

    def audit_end(self, audit_id: str, session: str = "s1", aborted: bool = False):
        return self.view.audit_end(session, audit_id, aborted)

    def audit(self, *rows: dict, session: str = "s1"):
        """A whole audit: start, the rows, end; returns the report."""
        aid = self.audit_start(session)
        self.audit_rows(aid, *rows, session=session)
        return self.audit_end(aid, session)

    def on_demand(self, *rows: dict, session: str = "s1", job_id: str = "j1") -> int:
        return self._event(MessageSource.ON_DEMAND, list(rows), EventType.UPDATE, session, job_id=job_id)

    def node(self, path: str):
        return self.view.tree.lookup(path)

    def has(self, path: str) -> bool:
        return self.view.tree.lookup(path) is not None

    def reasons(self, path: str) -> list[str]:
        return [d[3] for d in self.decisions if d[0] == path]
