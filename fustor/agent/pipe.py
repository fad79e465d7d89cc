"""AgentPipe: one source bound to one sender, run as C12/C13 say.

The control loop opens a session (with a timeout hint), heartbeats at half
the negotiated timeout, and runs what its role asks: every pipe sends
realtime; a leader also runs the snapshot (first election in a session),
an audit every ``audit_interval`` and the sentinel every
``sentinel_interval``. On-demand scans run in any role and state. Errors
back off from 1 s doubling to 60 s; a session fusion ended is re-opened at
once; a crashed task is restarted and a stuck one cancelled and restarted.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any, Callable

from fustor.client import ClientError, ConnectionLost, RemoteError
from fustor.schema import SCHEMA_NAME, SCHEMA_VERSION
from fustor.sources.fs import AuditWalker, Throttle, start_row, stat_paths, walk_groups

from .config import AgentPipeConfig
from .sender import EchoSender, Sender, SessionEnded, WebSocketSender
from .source import SourceDriver, in_thread

log = logging.getLogger("fustor.agent.pipe")

LEADER = "leader"


def _event(source: str, rows: list[dict], index: int, etype: str = "update", *, carry: str = "rows",
           **extra: Any) -> dict:
    """An event dict; ``carry="groups"`` for listing groups (protocol 1.1; the sender expands them for 1.0)."""
    ev = {"schema": SCHEMA_NAME, "schema_version": SCHEMA_VERSION, "type": etype, "source": source,
          "index": index, carry: rows}
    ev.update({k: v for k, v in extra.items() if v is not None})
    return ev


class AgentPipe:
    def __init__(self, name: str, config: AgentPipeConfig, source: SourceDriver, sender_config: Any, agent_id: str,
                 *, backoff_initial: float = 1.0, backoff_max: float = 60.0, stuck_after: float = 300.0) -> None:
        self.name = name
        self.config = config
        self.source = source
        self.agent_id = agent_id
        self.host = socket.gethostname()
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stuck_after = stuck_after
        self.timeout_hint = getattr(sender_config, "timeout_hint", 30.0)
        if sender_config.driver == "echo":
            self.sender: Sender = EchoSender()
        else:
            self.sender = WebSocketSender(sender_config.url, sender_config.key, self._on_push, config.max_unacked)
        self.sub = source.bus.subscribe(name)
        self.walker = AuditWalker(source.root, source.filter, source.errors)
        self.state = "stopped"
        self.roles: dict[str, str] = {}
        self.session_timeout = 30.0
        self.intervals: dict[str, Any] = {"audit_interval": 600.0, "sentinel_interval": 60.0, "full_audit_every": 6}
        self.snapshot_done = False
        self.last_error: str | None = None
        self.crashes = 0
        self.restarts = 0
        self.reconnects = 0
        self.last_sentinel: dict | None = None
        self.last_audit: dict | None = None
        self.snapshot_rows = 0
        self.jobs_run = 0
        self._tasks: dict[str, asyncio.Task] = {}
        self._progress: dict[str, float] = {}
        self._busy: dict[str, bool] = {}
        self._audit_now = asyncio.Event()
        self._audit_path = "/"
        self._stopping = False
        self._main: asyncio.Task | None = None
        self.source.overflow_listeners.append(self._overflowed)

    # --- public ---------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return any(r == LEADER for r in self.roles.values())

    def start(self) -> None:
        self._main = asyncio.get_running_loop().create_task(self.run(), name=f"agent-pipe:{self.name}")

    async def stop(self) -> None:
        self._stopping = True
        await self._cancel_tasks()
        if self._main is not None:
            self._main.cancel()
            try:
                await self._main
            except (asyncio.CancelledError, Exception):
                pass
        try:
            await asyncio.wait_for(self.sender.close(), 5)
        except Exception:
            pass
        self.sub.close()
        if self._overflowed in self.source.overflow_listeners:
            self.source.overflow_listeners.remove(self._overflowed)
        self.source.release()
        self.state = "stopped"

    # --- the control loop -------------------------------------------------------------

    async def run(self) -> None:
        self.source.acquire()
        await asyncio.to_thread(self.source.prescan)
        backoff = self.backoff_initial
        while not self._stopping:
            why = "error"
            try:
                self.state = "connecting"
                await self.sender.connect()
                opened = await self.sender.open_session(
                    pipe_id=self.config.pipe_id or self.name, agent_id=self.agent_id, host=self.host,
                    source_uri=self.source.config.uri, timeout_hint=self.timeout_hint,
                    can_realtime=self.source.can_realtime,
                )  # fmt: skip
                if not opened.get("resumed"):
                    self.walker.clear_cache()  # C8: a new session starts with a full audit
                    self.snapshot_done = False
                self.session_timeout = float(opened.get("timeout") or 30.0)
                self.intervals.update(opened.get("intervals") or {})
                self.walker.full_audit_every = int(self.intervals.get("full_audit_every") or 6)
                backoff = self.backoff_initial
                self.state = "running"
                self.last_error = None
                self._start("heartbeat", self._heartbeat_loop)
                self._start("realtime", self._realtime_loop)
                self._start("watchdog", self._watchdog_loop)
                self._set_roles(opened.get("views") or {})
                why = await self.sender.wait_lost()
            except SessionEnded:
                why = "session_ended"
            except (ClientError, OSError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("pipe %s: %s", self.name, self.last_error)
            finally:
                await self._cancel_tasks()
                self.roles = {}
            if self._stopping:
                break
            self.reconnects += 1
            if why == "session_ended":
                self.sender.session_id = None  # a new session, at once
                self.state = "reopening"
                continue
            self.state = f"backoff {backoff:g} s"
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.backoff_max)

    # --- tasks --------------------------------------------------------------------------

    def _start(self, name: str, factory: Callable[[], Any]) -> None:
        old = self._tasks.get(name)
        if old is not None and not old.done():
            return
        self._tasks[name] = asyncio.get_running_loop().create_task(self._supervised(name, factory), name=f"{self.name}:{name}")

    def _stop_task(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass

    async def _supervised(self, name: str, factory: Callable[[], Any]) -> None:
        """Run a task; restart it when it crashes (not when it finishes or is cancelled)."""
        while True:
            self._progress[name] = time.monotonic()
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except SessionEnded:
                self.sender.ended.set() if hasattr(self.sender, "ended") else None
                return
            except ConnectionLost:
                return
            except Exception as exc:
                self.crashes += 1
                self.last_error = f"{name}: {type(exc).__name__}: {exc}"
                log.exception("pipe %s: task %s crashed; restarting", self.name, name)
                await asyncio.sleep(0.5)
            finally:
                self._busy[name] = False

    def _tick(self, name: str) -> None:
        self._progress[name] = time.monotonic()

    async def _watchdog_loop(self) -> None:
        """Cancel and restart a task that made no progress for ``stuck_after`` while busy."""
        while True:
            await asyncio.sleep(min(5.0, self.stuck_after / 4))
            now = time.monotonic()
            for name in ("snapshot", "audit", "sentinel"):
                task = self._tasks.get(name)
                if task is None or task.done() or not self._busy.get(name):
                    continue
                if now - self._progress.get(name, now) > self.stuck_after:
                    log.error("pipe %s: task %s stuck for %.0f s; restarting it", self.name, name, self.stuck_after)
                    self.restarts += 1
                    self._stop_task(name)
                    factory = {"snapshot": self._leader_loop, "audit": self._audit_loop, "sentinel": self._sentinel_loop}[name]
                    self._start(name, factory)

    # --- roles ----------------------------------------------------------------------------

    def _set_roles(self, views: dict[str, str]) -> None:
        was = self.is_leader
        self.roles = dict(views)
        now = self.is_leader
        if now and not was:
            self.walker.clear_cache()  # C8/C12: the first audit after election is full
            self._start("snapshot", self._leader_loop)
            self._start("sentinel", self._sentinel_loop)
        elif was and not now:
            for name in ("snapshot", "audit", "sentinel"):
                self._stop_task(name)

    async def _on_push(self, msg: dict) -> None:
        kind = msg.get("push")
        if kind == "roles":
            self._set_roles(msg.get("views") or {})
        elif kind == "scan":
            job_id, path = msg.get("job_id"), msg.get("path") or "/"
            asyncio.get_running_loop().create_task(self._scan(job_id, path), name=f"{self.name}:scan:{job_id}")
        elif kind == "audit_now":
            self.request_audit_now(msg.get("path") or "/")
        elif kind == "session_ended":
            if hasattr(self.sender, "ended"):
                self.sender.ended.set()

    def request_audit_now(self, path: str = "/") -> None:
        self._audit_path = path if self._audit_path == "/" or not self._audit_now.is_set() else "/"
        self._audit_now.set()

    def _overflowed(self) -> None:
        asyncio.get_running_loop().create_task(self._ask_audit("realtime queue overflow"))

    async def _ask_audit(self, reason: str, path: str = "/") -> None:
        """Events were lost: the leader audits now; a follower asks fusion to have the leader do it."""
        if self.is_leader:
            self.request_audit_now(path)
            return
        try:
            await self.sender.request("audit.request", path=path, reason=reason)
        except (ClientError, SessionEnded) as exc:
            log.warning("pipe %s: audit request failed: %s", self.name, exc)

    # --- loops ----------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, self.session_timeout / 2))
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation
                # that lands as the reply arrives, and stopping the pipe then waited forever.
                async with asyncio.timeout(max(1.0, self.session_timeout)):
                    reply = await self.sender.request(
                        "heartbeat", can_realtime=self.source.can_realtime, counters=self.counters())
            except SessionEnded:
                raise
            except (ClientError, asyncio.TimeoutError) as exc:
                log.warning("pipe %s: heartbeat failed: %s", self.name, exc)
                if isinstance(exc, ConnectionLost):
                    raise
                continue
            self._tick("heartbeat")
            self._set_roles(reply.get("views") or {})
            for cmd in reply.get("commands") or []:
                await self._on_push(cmd)

    async def _realtime_loop(self) -> None:
        batch_size = self.config.batch_size
        while True:
            await self.sub.wait(timeout=1.0)
            if self.sub.lost:
                lost, self.sub.lost = self.sub.lost, 0
                await self._ask_audit(f"lost {lost} bus items")
            items = self.sub.take(512)
            if not items:
                continue
            pending: list[dict] = []
            deleting = None
            index = 0
            handed = 0  # items the sender has taken (it delivers them, resending after a reconnect)
            try:
                for i, (d, rows, idx) in enumerate(items):
                    if deleting is not None and (d != deleting or len(pending) + len(rows) > batch_size) and pending:
                        await self.sender.send(_event("realtime", pending, index, "delete" if deleting else "update"))
                        handed = i
                        pending = []
                    deleting, index = d, idx
                    pending.extend(rows)
                if pending:
                    await self.sender.send(_event("realtime", pending, index, "delete" if deleting else "update"))
                handed = len(items)
            finally:
                if handed < len(items):
                    # The connection or the session went away: the rest is read again afterwards.
                    self.sub.rewind(len(items) - handed)
            self._tick("realtime")

    async def _leader_loop(self) -> None:
        """Snapshot once per session, then audits every audit_interval (or when asked)."""
        if not self.snapshot_done:
            self._busy["snapshot"] = True
            src = self.source
            rows = 0
            workers = src.config.snapshot_workers
            root = await asyncio.to_thread(start_row, src.root, "/", src.filter, src.errors)
            if root is not None:
                await self.sender.send(_event("snapshot", [root], src.clock.index_ms(), "insert"))
                rows += 1
            async for groups in in_thread(lambda: walk_groups(src.root, "/", src.filter, src.errors,
                                                               self.config.listing_batch_size, workers=workers)):
                await self.sender.send(_event("snapshot", groups, src.clock.index_ms(), "insert", carry="groups"))
                rows += sum(len(g["entries"]) for g in groups)
                self.snapshot_rows = rows
                self._tick("snapshot")
            await self.sender.request("snapshot.end")
            self.snapshot_done = True
            self._busy["snapshot"] = False
            log.info("pipe %s: snapshot sent (%d rows)", self.name, rows)
        self._start("audit", self._audit_loop)

    async def _audit_loop(self) -> None:
        while True:
            interval = float(self.intervals.get("audit_interval") or 600.0)
            try:
                async with asyncio.timeout(interval):  # not wait_for (see _heartbeat_loop)
                    await self._audit_now.wait()
            except TimeoutError:
                pass
            path, self._audit_path = self._audit_path, "/"
            self._audit_now.clear()
            await self._audit(path)

    async def _audit(self, path: str = "/") -> None:
        src = self.source
        started = time.time()
        reply = await self.sender.request("audit.start")
        audit_id = reply["audit_id"]
        self._busy["audit"] = True
        aborted = True
        throttle = Throttle(src.config.audit_max_stats_per_s)
        try:
            async for batch in in_thread(lambda: self.walker.walk(self.config.batch_size, throttle, start_key=path)):
                await self.sender.send(_event("audit", batch, src.clock.index_ms(), audit_id=audit_id))
                self._tick("audit")
            aborted = False
        finally:
            self._busy["audit"] = False
            prog = self.walker.progress
            self.last_audit = {"audit_id": audit_id, "path": path, "started_at": started, "ended_at": time.time(),
                               "aborted": aborted, "rows": prog.rows, "dirs_listed": prog.dirs_listed,
                               "dirs_skipped": prog.dirs_skipped, "full": prog.full}
            try:
                await asyncio.shield(self.sender.request("audit.end", audit_id=audit_id, aborted=aborted))
            except (ClientError, SessionEnded) as exc:
                log.warning("pipe %s: audit end not delivered: %s", self.name, exc)

    async def _sentinel_loop(self) -> None:
        src = self.source
        while True:
            await asyncio.sleep(float(self.intervals.get("sentinel_interval") or 60.0))
            self._busy["sentinel"] = True
            reply = await self.sender.request("sentinel.tasks")
            paths = reply.get("paths") or []
            results = await asyncio.to_thread(stat_paths, src.root, paths) if paths else []
            counts = {}
            if results:
                counts = (await self.sender.request("sentinel.feedback", results=results)).get("counts") or {}
            self.last_sentinel = {"at": time.time(), "checked": len(paths), "counts": counts}
            self._busy["sentinel"] = False
            self._tick("sentinel")

    async def _scan(self, job_id: str | None, path: str) -> None:
        """C14: walk ``path`` whatever the pipe's state; rows as on_demand, then job complete."""
        src = self.source
        error = None
        try:
            first = await asyncio.to_thread(start_row, src.root, path, src.filter, src.errors)
            if first is not None:
                await self.sender.send(_event("on_demand", [first], src.clock.index_ms(), job_id=job_id))
            async for groups in in_thread(lambda: walk_groups(src.root, path, src.filter, src.errors,
                                                               self.config.listing_batch_size)):
                await self.sender.send(_event("on_demand", groups, src.clock.index_ms(), carry="groups", job_id=job_id))
        except (ClientError, SessionEnded):
            return
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        self.jobs_run += 1
        try:
            await self.sender.request("job.complete", job_id=job_id, error=error)
        except (ClientError, SessionEnded) as exc:
            log.warning("pipe %s: job complete not delivered: %s", self.name, exc)

    # --- status -------------------------------------------------------------------------

    def counters(self) -> dict:
        return {"sent": getattr(self.sender, "sent", 0), "acked": getattr(self.sender, "acked", 0),
                "bus_lag": self.sub.lag, "errors": self.source.errors.count}

    def status(self) -> dict:
        prog = self.walker.progress
        return {
            "pipe": self.name, "source": self.config.source, "sender": self.config.sender,
            "fusion_pipe": self.config.pipe_id or self.name, "state": self.state, "roles": dict(self.roles),
            "session_id": self.sender.session_id, "sender_stats": self.sender.stats(), "bus_lag": self.sub.lag,
            "errors": self.source.errors.count, "can_realtime": self.source.can_realtime,
            "drift": self.source.clock.drift, "snapshot_done": self.snapshot_done, "snapshot_rows": self.snapshot_rows,
            "audit_running": bool(self._busy.get("audit")),
            "audit_progress": {"rows": prog.rows, "dirs_listed": prog.dirs_listed, "dirs_skipped": prog.dirs_skipped,
                               "full": prog.full},
            "last_audit": self.last_audit, "last_sentinel": self.last_sentinel, "last_error": self.last_error,
            "crashes": self.crashes, "restarts": self.restarts, "reconnects": self.reconnects, "jobs_run": self.jobs_run,
            "watch": self.source.watcher.stats() if self.source.watcher is not None else None,
        }  # fmt: skip
