"""Audit lifecycle (C5, C7) and missing detection (C6).

An audit has an id handed out at ``audit start``. Only rows and an end that
carry the running audit's id are taken. The end waits (bounded) for the
view's pending events to drain, purges expired tombstones, judges every
directory whose complete listing arrived in this audit, then resets. An
audit that is abandoned (by the watchdog, a leader change, the session
closing, or a newer audit start) judges nothing: its silence proves nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from fustor.core import AuditError

from .tree import Node, subtree_max


@dataclass(eq=False)
class AuditRun:
    audit_id: str
    session_id: str
    started_wall: float
    started_mono: float
    #: (path, version the listing showed, inode) of each completely listed directory
    completed: list[tuple[str, float, int | None]] = field(default_factory=list)
    #: nodes this audit reported (kept or dropped); C6 judges the others
    seen: set = field(default_factory=set)
    rows_seen: int = 0
    dirs_listed: int = 0
    dirs_skipped: int = 0
    ctx: Any = None  # the ListingContext of this audit

    def complete(self, path: str, row: dict) -> None:
        self.completed.append((path, row["ctime"], row["inode"]))

    def progress(self, now_wall: float) -> dict:
        return {
            "audit_id": self.audit_id,
            "session_id": self.session_id,
            "started_at": self.started_wall,
            "elapsed_s": max(0.0, now_wall - self.started_wall),
            "rows_seen": self.rows_seen,
            "dirs_listed": self.dirs_listed,
            "dirs_skipped": self.dirs_skipped,
        }


@dataclass
class AuditReport:
    audit_id: str
    aborted: bool
    deleted: list[str]
    spared: dict[str, int]
    dirs_judged: int
    tombstones_purged: int

    def to_dict(self) -> dict:
        return {
            "audit_id": self.audit_id,
            "aborted": self.aborted,
            "deleted": self.deleted,
            "spared": self.spared,
            "dirs_judged": self.dirs_judged,
            "tombstones_purged": self.tombstones_purged,
        }


class AuditManager:
    """At most one audit runs per view; ids are unique per view instance."""

    def __init__(self, view_id: str) -> None:
        self._view_id = view_id
        self._ids = itertools.count(1)
        self.current: AuditRun | None = None
        self.last_started_wall: float | None = None
        self.last_completed_wall: float | None = None
        #: when the last audit that completed had started (its listings are at least that fresh)
        self.last_completed_start_wall: float | None = None
        self.last_report: AuditReport | None = None
        self.abandoned: list[tuple[str, str]] = []  # (audit_id, reason), most recent last

    def start(self, session_id: str, now_wall: float, now_mono: float, ctx: Any) -> AuditRun:
        if self.current is not None:
            self.abandon(f"superseded by a new audit of session {session_id}")
        run = AuditRun(f"{self._view_id}-a{next(self._ids)}-{int(now_wall)}", session_id, now_wall, now_mono, ctx=ctx)
        self.current = run
        self.last_started_wall = now_wall
        return run

    def require(self, audit_id: Any, session_id: str | None = None) -> AuditRun:
        run = self.current
        if run is None:
            raise AuditError(f"no audit is running on this view (got audit id {audit_id!r})", audit_id=audit_id)
        if audit_id != run.audit_id:
            raise AuditError(
                f"audit id {audit_id!r} is not the running audit {run.audit_id!r}", audit_id=audit_id
            )
        if session_id is not None and session_id != run.session_id:
            raise AuditError(f"audit {audit_id!r} belongs to another session", audit_id=audit_id)
        return run

    def abandon(self, reason: str) -> AuditRun | None:
        run = self.current
        if run is not None:
            self.abandoned.append((run.audit_id, reason))
            del self.abandoned[:-20]
            self.current = None
        return run

    def overdue(self, now_mono: float, audit_interval: float) -> bool:
        run = self.current
        return run is not None and now_mono - run.started_mono > 2 * audit_interval


async def wait_drained(pending: Callable[[], int], timeout: float, poll: float = 0.01) -> bool:
    """Wait until ``pending()`` is 0, at most ``timeout`` seconds; whether it drained (C7)."""
    deadline = time.monotonic() + timeout
    while pending() > 0:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(poll)
    return True


def max_rt_ver(node: Node) -> float:
    """Newest version realtime saw anywhere in ``node``'s subtree (C6 c)."""
    return subtree_max(node, "rt_ver")
