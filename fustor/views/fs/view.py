"""FSView: one arbitrated tree, fed by events and lifecycle signals.

This is the pure core fusion keeps per view: no I/O, no tasks, clocks
injected. Fusion's pipes (and ``fustor replay``) call it; sessions, leaders
and queues live above it.
"""

from __future__ import annotations

from typing import Any, Iterable

from fustor.core import (
    AuditError,
    EventBase,
    EventType,
    LogicalClock,
    MessageSource,
    SchemaMismatchError,
    SystemClock,
    ValidationError,
)
from fustor.schema import DIR, FILE, SCHEMA_NAME, SCHEMA_VERSION, is_compatible

from .arbitrator import Arbitrator, ListingContext
from .audit import AuditManager, AuditReport, AuditRun, max_rt_ver
from .config import FSViewConfig
from .query import ViewQuery
from .state import BlindSpots, Suspects, Tombstones
from .tree import BLIND, KNOWN, SUSPECT, Tree

_REALTIME_SCAN_CONTEXT_LIMIT = 4096


class FSView:
    def __init__(self, view_id: str = "fs", config: FSViewConfig | None = None, clock: Any = None) -> None:
        self.view_id = view_id
        self.config = config or FSViewConfig()
        self.clock = clock or SystemClock()
        self.sessions: set[str] = set()
        #: notified of rows ingested (``fustor.core.gcpolicy``); None in tests
        self.gc_policy: Any = None
        self._build()
        self.query = ViewQuery(self)

    def _build(self) -> None:
        cfg = self.config
        self.tree = Tree()
        self.tombstones = Tombstones()
        self.suspects = Suspects()
        self.blind = BlindSpots()
        self.logical = LogicalClock(self.clock.wall, cfg.skew_window)
        self.arbitrator = Arbitrator(
            self.tree, self.tombstones, self.suspects, self.blind, self.logical, self.clock, cfg.hot_file_threshold
        )
        self.audits = AuditManager(self.view_id)
        self._snapshot_ctx: dict[str, ListingContext] = {}
        self._scan_ctx: dict[str, ListingContext] = {}
        self._job_ctx: dict[tuple[str, str], ListingContext] = {}
        self.snapshot_ended = False
        self.events_applied = 0
        self.rows_applied = 0

    # --- lifecycle --------------------------------------------------------

    def on_session_start(self, session_id: str) -> None:
        if not self.sessions:
            # C11: a view that had no session cannot vouch for what happened
            # meanwhile; old blind-spot marks would mislead.
            self._clear_blind_spots()
        self.sessions.add(session_id)

    def on_session_close(self, session_id: str) -> None:
        self.sessions.discard(session_id)
        run = self.audits.current
        if run is not None and run.session_id == session_id:
            self.audits.abandon("the session that ran it closed")
        self._snapshot_ctx.pop(session_id, None)
        self._scan_ctx.pop(session_id, None)
        for key in [k for k in self._job_ctx if k[0] == session_id]:
            del self._job_ctx[key]
        if self.config.live_mode and not self.sessions:
            self.reset()

    def on_leader_change(self, session_id: str | None) -> None:
        """A new leader: a running audit of another session is abandoned (C7)."""
        run = self.audits.current
        if run is not None and run.session_id != session_id:
            self.audits.abandon("the leader changed")

    def reconfigure(self, config: FSViewConfig) -> None:
        """Apply new settings without dropping state (a reload of a changed view config)."""
        self.config = config
        self.arbitrator.hot = config.hot_file_threshold
        if config.skew_window != self.logical._window:
            self.logical = LogicalClock(self.clock.wall, config.skew_window)
            self.arbitrator.logical = self.logical

    def reset(self) -> None:
        sessions = self.sessions
        # Break the parent/child cycles so the old nodes free by reference
        # counting (they may be frozen out of the cyclic collector's reach).
        self.tree.flush()
        self.tree.discard_subtree(self.tree.root)
        self.suspects.clear()
        self.blind.clear()
        self._build()
        self.sessions = sessions

    def _clear_blind_spots(self) -> None:
        for node in list(self.blind.additions):
            self.tree.set_flag(node, BLIND, False)
        self.blind.clear()

    def snapshot_end(self, session_id: str) -> None:
        self._snapshot_ctx.pop(session_id, None)
        self.snapshot_ended = True

    def job_complete(self, session_id: str, job_id: str) -> None:
        self._job_ctx.pop((session_id, job_id), None)

    # --- events -----------------------------------------------------------

    def check_schema(self, event: EventBase) -> None:
        if not is_compatible(event.schema, event.schema_version):
            raise SchemaMismatchError(
                f"view {self.view_id!r} takes schema {SCHEMA_NAME!r} version {SCHEMA_VERSION.split('.')[0]}.x; "
                f"got {event.schema!r} version {event.schema_version!r}",
                expected_schema=SCHEMA_NAME,
                expected_version=SCHEMA_VERSION,
            )

    def process_event(self, event: EventBase, session_id: str = "local") -> int:
        """Apply one batch; returns how many rows changed or confirmed the view.

        Rows must already have the FS row shape (``fustor.schema.validate_row``);
        the receiver validates them at the edge.
        """
        self.check_schema(event)
        source = event.source
        arb = self.arbitrator
        if source is MessageSource.REALTIME:
            ctx = self._scan_ctx.get(session_id)
            if ctx is None:
                ctx = self._scan_ctx[session_id] = ListingContext(_REALTIME_SCAN_CONTEXT_LIMIT)
            n = arb.apply_realtime(event.rows, event.type is EventType.DELETE, event.index / 1000.0 if event.index else None, ctx)
        elif event.type is EventType.DELETE:
            raise ValidationError(f"{source.value} events list what exists; deletes come only from realtime")
        elif source is MessageSource.SNAPSHOT:
            ctx = self._snapshot_ctx.get(session_id)
            if ctx is None:
                ctx = self._snapshot_ctx[session_id] = ListingContext()
            n = arb.apply_listed(event.rows, "snapshot", ctx)
        elif source is MessageSource.AUDIT:
            run = self.audits.require(event.audit_id, None)
            run.rows_seen += len(event.rows)
            for row in event.rows:
                if row["kind"] == DIR and row["audit_skipped"] is not None:
                    if row["audit_skipped"]:
                        run.dirs_skipped += 1
                    else:
                        run.dirs_listed += 1
            n = arb.apply_listed(event.rows, "audit", run.ctx, run)
        else:  # on_demand
            key = (session_id, event.job_id or "")
            ctx = self._job_ctx.get(key)
            if ctx is None:
                ctx = self._job_ctx[key] = ListingContext()
            n = arb.apply_listed(event.rows, "on_demand", ctx)
        self.tree.flush()
        if self.gc_policy is not None:
            self.gc_policy.added(len(event.rows))
        self.events_applied += 1
        self.rows_applied += len(event.rows)
        return n

    # --- audits (C5–C7) ---------------------------------------------------

    def audit_start(self, session_id: str) -> str:
        run = self.audits.start(session_id, self.clock.wall(), self.clock.monotonic(), ListingContext())
        return run.audit_id

    def audit_end(self, session_id: str | None, audit_id: str, aborted: bool = False) -> AuditReport:
        """Close the running audit: purge tombstones, judge missing children (C6), reset.

        The bounded drain wait of C7 is the caller's (fusion waits for its
        queue with :func:`fustor.views.fs.audit.wait_drained` first).
        """
        run = self.audits.require(audit_id, session_id)
        now = self.clock.wall()
        purged = self.tombstones.purge(now - self.config.tombstone_ttl)
        deleted, spared, judged = self._judge_missing(run)
        self.audits.current = None
        self.audits.last_completed_wall = now
        self.audits.last_completed_start_wall = run.started_wall
        report = AuditReport(audit_id, aborted, deleted, spared, judged, purged)
        self.audits.last_report = report
        return report

    def abandon_audit(self, reason: str) -> str | None:
        run = self.audits.abandon(reason)
        return run.audit_id if run else None

    def check_audit_watchdog(self, audit_interval: float | None = None) -> str | None:
        """Abandon an audit running past 2 × the audit interval; its id if so."""
        interval = audit_interval if audit_interval is not None else self.config.audit_interval
        if self.audits.overdue(self.clock.monotonic(), interval):
            return self.abandon_audit("watchdog: running past twice the audit interval")
        return None

    def _judge_missing(self, run: AuditRun) -> tuple[list[str], dict[str, int], int]:
        tree, arb = self.tree, self.arbitrator
        deleted: list[str] = []
        spared = {"realtime_after_start": 0, "listing_older_than_view": 0, "realtime_version": 0, "other_inode": 0}
        judged = 0
        now = self.clock.wall()
        for path, version, ino in run.completed:
            d = tree.lookup(path)
            if d is None or not d.is_dir:
                continue
            if ino is not None and d.ino is not None and d.ino != ino:
                spared["other_inode"] += 1
                arb._note(path, "audit", "keep", "the listing shows another inode at this directory: not judged (C6)")
                continue
            if d.ctime > version:  # (b)
                spared["listing_older_than_view"] += 1
                arb._note(path, "audit", "keep", "the view knows a newer version of this directory than the listing (C6 b)")
                continue
            judged += 1
            for child in list(d.children.values()):  # type: ignore[attr-defined]
                if child in run.seen:
                    continue
                if child.updated_at > run.started_wall:  # (a)
                    spared["realtime_after_start"] += 1
                    arb._note(tree.path_of(child), "audit", "keep", "missing from the listing but confirmed by realtime after the audit began (C6 a)")
                    continue
                if max_rt_ver(child) >= version:  # (c)
                    spared["realtime_version"] += 1
                    arb._note(tree.path_of(child), "audit", "keep", "missing from the listing but realtime saw it at a version at least the listing's (C6 c)")
                    continue
                child_path = tree.path_of(child)
                arb.remove_subtree(child)
                self.tombstones.record(child_path, version, child.ino, now)
                self.blind.deletions[child_path] = now
                arb._note(child_path, "audit", "delete", "missing from a complete listing (C6)")
                deleted.append(child_path)
        return deleted, spared, judged

    # --- suspects and sentinel (C9, C10) ----------------------------------

    def sweep(self) -> dict[str, int]:
        """Expire suspects (C9); also the place the audit watchdog is checked."""
        now = self.clock.monotonic()
        hot = self.config.hot_file_threshold
        out = {"cleared": 0, "renewed": 0, "unvouched": 0}
        tree = self.tree
        note = self.arbitrator._note if self.arbitrator.trace is not None else None
        for node, entry in self.suspects.pop_expired(now):
            if node.mtime != entry.mtime or node.size != entry.size:
                self.suspects.mark(node, now + hot, node.mtime, node.size, now)
                out["renewed"] += 1
                why = ("renew", "expired with other mtime or size than recorded (C9)")
            elif entry.evidence:
                self.suspects.remove(node)
                tree.set_flag(node, SUSPECT, False)
                out["cleared"] += 1
                why = ("clear", "expired with fresh evidence of the same mtime and size (C9)")
            else:
                entry = self.suspects.mark(node, now + hot, node.mtime, node.size, now)
                entry.priority = True
                out["unvouched"] += 1
                why = ("renew", "expired without fresh evidence: first in line for the sentinel (C9)")
            if note is not None:
                note(tree.path_of(node), "sweep", *why)
        return out

    def sentinel_tasks(self, limit: int | None = None) -> list[str]:
        """Suspect paths for the leader to stat, longest-suspect first (C10)."""
        limit = limit or self.config.sentinel_batch
        now, now_mono = self.clock.wall(), self.clock.monotonic()
        out = []
        for node, entry in self.suspects.longest_first(limit):
            entry.issued_at, entry.issued_mono = now, now_mono
            out.append(self.tree.path_of(node))
        return out

    def sentinel_feedback(self, results: Iterable[dict]) -> dict[str, int]:
        out = {"cleared": 0, "updated": 0, "deleted": 0, "ignored": 0}
        tree, arb = self.tree, self.arbitrator
        hot = self.config.hot_file_threshold
        now_wall, now_mono = self.clock.wall(), self.clock.monotonic()
        for res in results:
            if not isinstance(res, dict) or not isinstance(res.get("path"), str):
                raise ValidationError("a sentinel result must be an object with a path")
            path = res["path"]
            node = tree.lookup(path)
            entry = self.suspects.get(node) if node is not None else None
            if node is None or entry is None:
                out["ignored"] += 1
                arb._note(path, "sentinel", "drop", "no longer suspect")
                continue
            if node.updated_at > entry.issued_at:
                out["ignored"] += 1
                arb._note(path, "sentinel", "drop", "realtime confirmed it after the task was handed out")
                continue
            pino, ino = res.get("parent_ino"), res.get("inode")
            parent = node.parent
            if pino is not None and parent is not None and parent.ino is not None and pino != parent.ino:
                # Optional fields (docs/view-engine.md): the stat went through a stale
                # name above and looked in another directory than the view holds there.
                out["ignored"] += 1
                arb._note(path, "sentinel", "drop", "answered from another directory than the view holds there")
                continue
            pc = res.get("parent_ctime")
            exists = bool(res.get("exists"))
            if exists and res.get("kind") == FILE and ino is not None and node.ino is not None and ino != node.ino:
                out["ignored"] += 1
                arb._note(path, "sentinel", "drop", "another inode at the name: not a version of the node (the audit decides)")
                continue
            if not exists or res.get("kind") != FILE:
                if pc is None or pc < node.ctime or pc <= node.name_ver:
                    out["ignored"] += 1
                    arb._note(path, "sentinel", "keep", "gone by a listing older than the node (stale negative cache)")
                    continue
                arb.remove_subtree(node)
                self.tombstones.record(path, pc, node.ino, now_wall)
                self.blind.deletions[path] = now_wall
                out["deleted"] += 1
                arb._note(path, "sentinel", "delete", "the sentinel found it gone")
                continue
            if res.get("mtime") == node.mtime and res.get("size") == node.size:
                hot = self.config.hot_file_threshold
                if (not node.flags & KNOWN and self.logical.watermark() - node.mtime < hot
                        and (entry.issued_mono or now_mono) - entry.recorded_at < hot / 2):
                    # No agent watches where this file is written (a blind spot): an unchanged
                    # stat between two appends is all a sentinel can see, and audits skip a
                    # directory an in-place append leaves unchanged (C8). It clears once the
                    # state it shows has held for half the hot threshold (or its mtime is a
                    # whole threshold old); until then the answer is evidence only.
                    arb._evidence(node, node.mtime, node.size)
                    out["ignored"] += 1
                    arb._note(path, "sentinel", "keep", "unchanged, but no agent watches it and it is still hot: evidence only")
                    continue
                if (entry.issued_mono or now_mono) - entry.recorded_at < self.config.sentinel_interval / 2:
                    # Unchanged only since moments before the task (an append in progress between two
                    # writes): fresh evidence for C9, not proof of a finished write. The next round, or
                    # the expiry, clears it if it stays unchanged.
                    arb._evidence(node, node.mtime, node.size)
                    out["ignored"] += 1
                    arb._note(path, "sentinel", "keep", "unchanged only for moments: evidence, not a clearance")
                    continue
                arb.clear_suspect(node)
                out["cleared"] += 1
                arb._note(path, "sentinel", "clear", "unchanged")
                continue
            ctime = res.get("ctime")
            if ctime is None or ctime < node.ctime:
                out["ignored"] += 1
                arb._note(path, "sentinel", "drop", "older than the node")
                continue
            tomb = self.tombstones.get(path)
            if tomb is not None and not (ctime > tomb.stamp):
                out["ignored"] += 1
                arb._note(path, "sentinel", "drop", "tombstone: not newer than the delete")
                continue
            tree.set_attrs(node, res.get("size") or 0, res.get("mtime"), ctime, node.ino, node.meta)
            self.suspects.mark(node, now_mono + hot, node.mtime, node.size, now_mono)
            out["updated"] += 1
            arb._note(path, "sentinel", "renew", "changed since it was marked")
        return out

    # --- reads used by queries and dumps ------------------------------------

    @property
    def ready(self) -> bool:
        return self.snapshot_ended

    def counts(self) -> dict[str, Any]:
        root = self.tree.root
        return {
            "files": root.n_files,
            "dirs": root.n_dirs,
            "total_size": root.total_size,
            "suspects": len(self.suspects),
            "blind_spot_additions": len(self.blind.additions),
            "blind_spot_deletions": len(self.blind.deletions),
            "tombstones": len(self.tombstones),
        }

    def debug_dump(self) -> dict[str, Any]:
        run = self.audits.current
        now = self.clock.wall()
        return {
            "view_id": self.view_id,
            "watermark": self.logical.watermark(),
            "skew": self.logical.skew,
            "skew_samples": self.logical.sample_count,
            **self.counts(),
            "sessions": sorted(self.sessions),
            "snapshot_ended": self.snapshot_ended,
            "audit": run.progress(now) if run else None,
            "last_audit_started_at": self.audits.last_started_wall,
            "last_audit_completed_at": self.audits.last_completed_wall,
            "events_applied": self.events_applied,
            "rows_applied": self.rows_applied,
            "drops": dict(sorted(self.arbitrator.counters.items())),
        }


__all__ = ["FSView", "KNOWN"]
