"""FusionService: sessions, leaders, pipes and views behind both planes.

No sockets here: :meth:`dispatch` takes a decoded request from a
:class:`~fustor.transport.protocol.Peer` and returns the reply (or
``DEFERRED`` when the pipe's consumer acknowledges later). The websocket
adapter (``fustor.transport.server``) and the tests drive it alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

from fustor import __version__
from fustor.core import (
    AuditError,
    ConfigError,
    EventBase,
    FustorError,
    MessageSource,
    NotFoundError,
    SchemaMismatchError,
    SystemClock,
    ValidationError,
)
from fustor.schema import RowError, is_compatible, validate_rows
from fustor.transport import wire
from fustor.transport.protocol import DEFERRED, Grant
from fustor.transport.wire import Code, WireError
from fustor.views.fs import wait_drained

from .config import FusionConfig, load_fusion_config
from .jobs import Jobs
from .pipe import FusionPipe, Item
from .session import FOLLOWER, LEADER, Session, new_session_id
from .views import ViewRuntime

log = logging.getLogger("fustor.fusion")

SERVER_NAME = f"fustor-fusion/{__version__}"

#: Rows applied between two yields to the event loop.
_APPLY_SLICE = 250


def _wire_error(exc: FustorError) -> WireError:
    code = {
        "invalid": Code.INVALID,
        "schema_mismatch": Code.SCHEMA_MISMATCH,
        "not_found": Code.NOT_FOUND,
        "audit_refused": Code.AUDIT_REFUSED,
        "config_invalid": Code.CONFIG_INVALID,
    }.get(exc.code, Code.INVALID)
    return WireError(code, exc.message, **exc.details)


class FusionService:
    def __init__(self, config: FusionConfig, clock: Any = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.started_wall = self.clock.wall()
        self.views: dict[str, ViewRuntime] = {}
        self.pipes: dict[str, FusionPipe] = {}
        self.sessions: dict[str, Session] = {}
        self.ended: OrderedDict[str, str] = OrderedDict()  # session id -> why fusion ended it
        self.jobs = Jobs()
        self.subscribers: set[Any] = set()
        self.log_lines: list[dict] = []
        self._tasks: list[asyncio.Task] = []
        self._auth: dict[str, tuple[str, Grant]] = {}
        self.listeners: Any = None  # set by the server adapter: restarts receivers on reload
        self._build(config)

    # --- construction and reload ----------------------------------------------------

    def _build(self, config: FusionConfig) -> None:
        for view_id, vf in config.views.items():
            self.views[view_id] = ViewRuntime(view_id, vf.view_config(), self.clock)
        for pipe_id, pf in config.pipes.items():
            self._add_pipe(pipe_id, pf)
        self._rebuild_auth(config)

    def _add_pipe(self, pipe_id: str, pf: Any) -> FusionPipe:
        pipe = FusionPipe(pipe_id, pf, pf.views, self._apply)
        self.pipes[pipe_id] = pipe
        for v in pf.views:
            self.views[v].pipes.append(pipe)
        return pipe

    def _rebuild_auth(self, config: FusionConfig) -> None:
        auth: dict[str, tuple[str, Grant]] = {}
        for rc in config.receivers.receivers.values():
            for k in rc.keys:
                auth[k.key] = ("pipe", Grant("pipe", frozenset(k.pipes)))
        for k in config.receivers.control.keys:
            auth[k.key] = ("control", Grant(k.access))
        self._auth = auth

    def authenticate(self, plane: str, key: str) -> Grant | None:
        entry = self._auth.get(key)
        if entry is None or entry[0] != plane:
            return None
        return entry[1]

    async def start(self) -> None:
        for pipe in self.pipes.values():
            pipe.start()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._sweeper(), name="fusion:sweep"),
            loop.create_task(self._expirer(), name="fusion:expiry"),
            loop.create_task(self._ticker(), name="fusion:tick"),
        ]
        for w in self.config.warnings:
            self._log("warning", w)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass
        self._tasks = []
        for pipe in self.pipes.values():
            await pipe.stop()

    # --- logging to subscribers --------------------------------------------------------

    def _log(self, level: str, message: str, **fields: Any) -> None:
        getattr(log, level if level != "warning" else "warning")(message)
        line = {"at": self.clock.wall(), "level": level, "message": message, **fields}
        self.log_lines.append(line)
        del self.log_lines[:-200]
        for peer in list(self.subscribers):
            peer.send(wire.push("log", **line))

    # --- the dispatcher ------------------------------------------------------------------

    async def dispatch(self, peer: Any, req_id: Any, op: str, msg: dict) -> Any:
        handler = getattr(self, "_op_" + op.replace(".", "_"), None)
        if handler is None:
            raise WireError(Code.UNKNOWN_OP, f"op {op!r} is not served by fusion")
        try:
            return await handler(peer, req_id, msg)
        except WireError:
            raise
        except FustorError as exc:
            raise _wire_error(exc) from None

    def peer_gone(self, peer: Any) -> None:
        """The connection closed: sessions stay until their timeout (they may resume)."""
        self.subscribers.discard(peer)
        for sid in list(peer.state.get("sessions", ())):
            s = self.sessions.get(sid)
            if s is not None and s.peer is peer:
                s.peer = None

    # --- sessions ---------------------------------------------------------------------------

    def _session(self, peer: Any, session_id: str) -> Session:
        s = self.sessions.get(session_id)
        if s is None:
            why = self.ended.get(session_id)
            if why is not None:
                raise WireError(Code.SESSION_ENDED, f"fusion ended session {session_id}: {why}; open a new one",
                                session_id=session_id, reason=why)
            raise WireError(Code.SESSION_UNKNOWN, f"no session {session_id!r}", session_id=session_id)
        if s.peer is not peer:
            raise WireError(Code.SESSION_MISMATCH, f"session {session_id!r} was not opened on this connection",
                            session_id=session_id)
        s.last_seen_mono = self.clock.monotonic()
        return s

    def roles(self, session: Session) -> dict[str, str]:
        out = {}
        for v in self.pipes[session.pipe_id].view_ids:
            role = self.views[v].leadership.role(session)
            if role is not None:
                out[v] = role
        return out

    def _intervals(self, pipe: FusionPipe) -> dict[str, Any]:
        cfgs = [self.views[v].config for v in pipe.view_ids]
        return {
            "audit_interval": min(c.audit_interval for c in cfgs),
            "sentinel_interval": min(c.sentinel_interval for c in cfgs),
            "hot_file_threshold": min(c.hot_file_threshold for c in cfgs),
            "full_audit_every": min(c.full_audit_every for c in cfgs),
            "sentinel_batch": min(c.sentinel_batch for c in cfgs),
        }

    async def _op_session_open(self, peer: Any, req_id: Any, msg: dict) -> dict:
        pipe_id = msg["pipe_id"]
        pipe = self.pipes.get(pipe_id)
        if pipe is None:
            raise WireError(Code.NOT_FOUND, f"no fusion pipe {pipe_id!r}", pipe_id=pipe_id)
        if pipe_id not in peer.grants:
            raise WireError(Code.FORBIDDEN, f"this key may not feed pipe {pipe_id!r}", pipe_id=pipe_id)
        if not is_compatible(msg["schema"], msg["schema_version"]):
            raise WireError(Code.SCHEMA_MISMATCH, f"pipe {pipe_id!r} feeds fs views (schema fs 1.x); "
                            f"got {msg['schema']!r} {msg['schema_version']!r}")
        now_mono = self.clock.monotonic()
        resume = msg.get("resume")
        old = self.sessions.get(resume) if resume else None
        if old is not None and old.pipe_id == pipe_id and old.agent_id == msg["agent_id"]:
            if old.peer is not None and old.peer is not peer:
                old.peer.state.get("sessions", set()).discard(old.session_id)
            old.peer = peer
            old.last_seen_mono = now_mono
            peer.state.setdefault("sessions", set()).add(old.session_id)
            self._log("info", f"session {old.session_id} resumed by {old.agent_id}", session_id=old.session_id)
            pending, old.pending_commands = old.pending_commands, []
            loop = asyncio.get_running_loop()
            for cmd in pending:  # after the reply, which the protocol sends when we return
                loop.call_soon(peer.send, cmd)
            return self._open_reply(old, pipe, resumed=True)
        hint = msg.get("timeout_hint") or 0
        session = Session(
            session_id=new_session_id(msg["agent_id"]),
            pipe_id=pipe_id,
            agent_id=msg["agent_id"],
            host=msg.get("host") or "",
            source_uri=msg.get("source_uri") or "",
            timeout=max(float(hint), pipe.config.session_timeout),
            opened_wall=self.clock.wall(),
            last_seen_mono=now_mono,
            peer=peer,
            can_realtime=msg.get("can_realtime", True),
        )
        self.sessions[session.session_id] = session
        pipe.sessions.add(session)
        peer.state.setdefault("sessions", set()).add(session.session_id)
        for v in pipe.view_ids:
            rt = self.views[v]
            rt.view.on_session_start(session.session_id)
            role = rt.leadership.join(session)
            if role == LEADER:
                rt.view.on_leader_change(session.session_id)
        self._log("info", f"session {session.session_id} opened: agent {session.agent_id} on {session.host or '?'}, "
                  f"pipe {pipe_id}, roles {self.roles(session)}", session_id=session.session_id)
        return self._open_reply(session, pipe, resumed=False)

    def _open_reply(self, s: Session, pipe: FusionPipe, resumed: bool) -> dict:
        return {
            "session_id": s.session_id,
            "timeout": s.timeout,
            "intervals": self._intervals(pipe),
            "views": self.roles(s),
            "last_seq": s.last_applied_seq,
            "resumed": resumed,
        }

    def end_session(self, session: Session, reason: str, notify: bool = True) -> None:
        """Fusion ends a session (close, expiry, reload): hooks run, followers promoted."""
        if session.closed:
            return
        session.closed = True
        self.sessions.pop(session.session_id, None)
        self.ended[session.session_id] = reason
        while len(self.ended) > 10_000:
            self.ended.popitem(last=False)
        pipe = self.pipes.get(session.pipe_id)
        if pipe is not None:
            pipe.sessions.discard(session)
        now = self.clock.wall()
        self.jobs.fail_session(session.session_id, now, f"session ended: {reason}")
        promoted: set[Session] = set()
        for v in (pipe.view_ids if pipe else []):
            rt = self.views.get(v)
            if rt is None:
                continue
            new_leader = rt.leadership.leave(session)
            rt.view.on_session_close(session.session_id)
            if new_leader is not None:
                rt.view.on_leader_change(new_leader.session_id)
                promoted.add(new_leader)
                self._log("info", f"view {v}: {new_leader.session_id} promoted to leader", view=v)
        for s in promoted:
            s.push(wire.push("roles", session_id=s.session_id, views=self.roles(s)))
        if notify and session.peer is not None:
            session.peer.send(wire.push("session_ended", session_id=session.session_id, reason=reason))
        if session.peer is not None:
            session.peer.state.get("sessions", set()).discard(session.session_id)
        self._log("info", f"session {session.session_id} ended: {reason}", session_id=session.session_id)

    async def _op_heartbeat(self, peer: Any, req_id: Any, msg: dict) -> dict:
        s = self._session(peer, msg["session_id"])
        if msg.get("can_realtime") is not None:
            s.can_realtime = msg["can_realtime"]
        if msg.get("counters"):
            s.counters = msg["counters"]
        commands, s.pending_commands = s.pending_commands, []
        return {"views": self.roles(s), "commands": commands}

    async def _op_session_close(self, peer: Any, req_id: Any, msg: dict) -> Any:
        s = self._session(peer, msg["session_id"])
        await self.pipes[s.pipe_id].put(Item("session.close", s, req_id, peer))
        return DEFERRED

    # --- events -------------------------------------------------------------------------------

    async def _op_events(self, peer: Any, req_id: Any, msg: dict) -> Any:
        s = self._session(peer, msg["session_id"])
        seq = msg["seq"]
        if seq < 1:  # not a seq any session sends: not to be acknowledged as a duplicate
            raise WireError(Code.BAD_MESSAGE, f"events: seq must be 1 or more, got {seq}", field="seq")
        if seq <= s.last_enqueued_seq:
            return {"seq": seq, "duplicate": True}
        try:
            event = EventBase.from_dict(msg["event"])
        except ValidationError as exc:
            raise WireError(Code.INVALID, f"event: {exc.message}") from None
        if event.type.value == "delete" and event.source is not MessageSource.REALTIME:
            raise WireError(Code.INVALID, f"{event.source.value} events list what exists; deletes come only from realtime")
        if not is_compatible(event.schema, event.schema_version):
            raise WireError(Code.SCHEMA_MISMATCH, f"views of pipe {s.pipe_id!r} take schema fs 1.x; got "
                            f"{event.schema!r} {event.schema_version!r}")
        rows = event.rows
        try:
            validate_rows(rows, deleting=event.type.value == "delete")
        except RowError as exc:
            raise WireError(Code.BAD_ROW, str(exc)) from None
        if event.source is MessageSource.AUDIT and (s.audit_id is None or event.audit_id != s.audit_id):
            raise WireError(Code.AUDIT_REFUSED, f"audit id {event.audit_id!r} is not this session's running audit "
                            f"({s.audit_id!r})", audit_id=event.audit_id)
        if event.source is not MessageSource.REALTIME and event.source is not MessageSource.AUDIT:
            if not any(self.views[v].leadership.leader is s for v in self.pipes[s.pipe_id].view_ids):
                raise WireError(Code.NOT_LEADER, f"{event.source.value} rows come only from a view's leader")
        s.last_enqueued_seq = seq
        s.rows_received += len(rows)
        await self.pipes[s.pipe_id].put(Item("events", s, req_id, peer, event, seq))
        return DEFERRED

    async def _apply(self, item: Item) -> dict | None:
        s = item.session
        pipe = self.pipes.get(s.pipe_id)
        kind = item.kind
        if kind == "events":
            return await self._apply_events(item, pipe)
        if kind == "snapshot.end":
            for v in pipe.view_ids:
                rt = self.views[v]
                if rt.leadership.leader is s:
                    rt.view.snapshot_end(s.session_id)
            s.snapshot_ended = True
            self._check_ready(pipe)
            return {}
        if kind == "audit.end":
            return await self._apply_audit_end(item, pipe)
        if kind == "job.complete":
            job = self.jobs.get(item.payload["job_id"])
            if job is not None:
                rt = self.views.get(job.view_id)
                if rt is not None:
                    rt.view.job_complete(s.session_id, job.job_id)
                self.jobs.finish(job, self.clock.wall(), item.payload.get("error"))
            return {}
        if kind == "session.close":
            self.end_session(s, "closed by the agent", notify=False)
            return {}
        raise WireError(Code.INTERNAL, f"unknown queued item {kind}")

    async def _apply_events(self, item: Item, pipe: FusionPipe) -> dict:
        s, event = item.session, item.payload
        if s.closed:
            raise WireError(Code.SESSION_ENDED, f"session {s.session_id} ended before this batch was applied",
                            session_id=s.session_id)
        realtime = event.source is MessageSource.REALTIME
        audit = event.source is MessageSource.AUDIT
        targets = []
        for v in pipe.view_ids:
            rt = self.views[v]
            if not realtime and rt.leadership.leader is not s:
                continue
            if audit and v not in s.audit_views:
                continue
            targets.append(rt)
        rows = event.rows
        applied = 0
        # Apply in slices, yielding between them: a query waits for one slice,
        # not for a whole batch (docs/protocol.md §11, "Turns").
        for start in range(0, len(rows), _APPLY_SLICE):
            part = rows if len(rows) <= _APPLY_SLICE else rows[start:start + _APPLY_SLICE]
            for rt in targets:
                if audit:
                    view_audit = s.audit_views.get(rt.view_id)
                    if view_audit is None:
                        continue
                    event.audit_id = view_audit
                sub = event if part is rows else EventBase(event.schema, event.schema_version, event.type, event.source,
                                                           event.index, part, event.audit_id, event.job_id)
                try:
                    applied += rt.view.process_event(sub, s.session_id)
                except AuditError:
                    # The view abandoned this audit (watchdog, leader change): its rows are moot.
                    continue
                except SchemaMismatchError as exc:
                    raise WireError(Code.SCHEMA_MISMATCH, exc.message) from None
                rt.events.add(len(part))
            if part is not rows and start + _APPLY_SLICE < len(rows):
                await asyncio.sleep(0)
        n = len(rows)
        s.events.add(n)
        pipe.events.add(n)
        pipe.rows_applied += n
        s.last_applied_seq = max(s.last_applied_seq, item.seq)
        self._check_ready(pipe)
        return {"seq": item.seq, "applied": applied}

    def _check_ready(self, pipe: FusionPipe) -> None:
        for v in pipe.view_ids:
            rt = self.views[v]
            if not rt.ready and rt.check_ready():
                self._log("info", f"view {v} is ready", view=v)

    async def _op_snapshot_end(self, peer: Any, req_id: Any, msg: dict) -> Any:
        s = self._session(peer, msg["session_id"])
        await self.pipes[s.pipe_id].put(Item("snapshot.end", s, req_id, peer))
        return DEFERRED

    # --- audits ---------------------------------------------------------------------------------

    async def _op_audit_start(self, peer: Any, req_id: Any, msg: dict) -> dict:
        s = self._session(peer, msg["session_id"])
        led = [v for v in self.pipes[s.pipe_id].view_ids if self.views[v].leadership.leader is s]
        if not led:
            raise WireError(Code.NOT_LEADER, "only a view's leader may audit it; this session leads no view")
        s.audit_views = {v: self.views[v].view.audit_start(s.session_id) for v in led}
        s.audit_id = "+".join(s.audit_views[v] for v in led)
        self._log("info", f"audit {s.audit_id} started by {s.session_id}", session_id=s.session_id)
        return {"audit_id": s.audit_id, "views": led}

    async def _op_audit_end(self, peer: Any, req_id: Any, msg: dict) -> Any:
        s = self._session(peer, msg["session_id"])
        if s.audit_id is None or msg["audit_id"] != s.audit_id:
            raise WireError(Code.AUDIT_REFUSED, f"audit id {msg['audit_id']!r} is not this session's running audit",
                            audit_id=msg["audit_id"])
        await self.pipes[s.pipe_id].put(Item("audit.end", s, req_id, peer, {"aborted": bool(msg.get("aborted"))}))
        return DEFERRED

    async def _apply_audit_end(self, item: Item, pipe: FusionPipe) -> dict:
        s = item.session
        reports: dict[str, Any] = {}
        views, s.audit_views, s.audit_id = s.audit_views, {}, None
        for v, view_audit in views.items():
            rt = self.views.get(v)
            if rt is None:
                continue
            current = rt.view.audits.current
            if current is None or current.audit_id != view_audit:
                abandoned = dict(rt.view.audits.abandoned).get(view_audit, "no longer running")
                reports[v] = {"audit_id": view_audit, "abandoned": abandoned}
                continue
            others = [p for p in rt.pipes if p is not pipe]
            if others:
                await wait_drained(lambda: sum(p.pending for p in others), rt.config.audit_drain_wait)
            try:
                reports[v] = rt.view.audit_end(s.session_id, view_audit, item.payload["aborted"]).to_dict()
            except AuditError as exc:
                reports[v] = {"audit_id": view_audit, "abandoned": exc.message}
                continue
            self._log("info", f"view {v}: audit {view_audit} ended, {len(reports[v]['deleted'])} missing",
                      view=v)
        return {"reports": reports}

    # --- sentinel, audit requests, jobs ------------------------------------------------------------

    async def _op_sentinel_tasks(self, peer: Any, req_id: Any, msg: dict) -> dict:
        s = self._session(peer, msg["session_id"])
        paths: list[str] = []
        seen: set[str] = set()
        for v in self.pipes[s.pipe_id].view_ids:
            rt = self.views[v]
            if rt.leadership.leader is not s:
                continue
            for p in rt.view.sentinel_tasks():
                if p not in seen:
                    seen.add(p)
                    paths.append(p)
        return {"paths": paths}

    async def _op_sentinel_feedback(self, peer: Any, req_id: Any, msg: dict) -> dict:
        s = self._session(peer, msg["session_id"])
        results = msg["results"]
        for r in results:
            if not isinstance(r, dict) or not isinstance(r.get("path"), str):
                raise WireError(Code.BAD_MESSAGE, "each sentinel result must be an object with a string path")
        counts: dict[str, dict] = {}
        for v in self.pipes[s.pipe_id].view_ids:
            rt = self.views[v]
            if rt.leadership.leader is s:
                counts[v] = rt.view.sentinel_feedback(results)
        return {"counts": counts}

    async def _op_audit_request(self, peer: Any, req_id: Any, msg: dict) -> dict:
        s = self._session(peer, msg["session_id"])
        path = msg.get("path") or "/"
        forwarded = []
        for v in self.pipes[s.pipe_id].view_ids:
            leader = self.views[v].leadership.leader
            if leader is not None and leader is not s and leader.session_id not in forwarded:
                leader.push(wire.push("audit_now", session_id=leader.session_id, path=path, view=v,
                                      reason=msg.get("reason") or f"requested by {s.session_id}"))
                forwarded.append(leader.session_id)
        self._log("info", f"{s.session_id} asked for an audit of {path}: forwarded to {forwarded or 'nobody'}")
        return {"forwarded_to": forwarded}

    async def _op_job_complete(self, peer: Any, req_id: Any, msg: dict) -> Any:
        s = self._session(peer, msg["session_id"])
        await self.pipes[s.pipe_id].put(Item("job.complete", s, req_id, peer, {"job_id": msg["job_id"], "error": msg.get("error")}))
        return DEFERRED

    def start_scan(self, view_id: str, path: str) -> Any:
        rt = self._view(view_id)
        leader = rt.leadership.leader
        job = self.jobs.create(view_id, path, leader.session_id if leader else None, self.clock.wall())
        if leader is None:
            self.jobs.finish(job, self.clock.wall(), "no agent session leads this view")
            return job
        leader.push(wire.push("scan", session_id=leader.session_id, job_id=job.job_id, path=path, view=view_id))
        return job

    # --- timers ---------------------------------------------------------------------------------------

    async def _sweeper(self) -> None:
        while True:
            interval = min((rt.config.suspect_sweep_interval for rt in self.views.values()), default=0.5)
            await asyncio.sleep(interval)
            for rt in self.views.values():
                try:
                    rt.view.sweep()
                    abandoned = rt.view.check_audit_watchdog()
                    if abandoned:
                        self._log("warning", f"view {rt.view_id}: audit {abandoned} abandoned by the watchdog "
                                  "(running past twice the audit interval)", view=rt.view_id)
                except Exception:
                    log.exception("sweep of view %s failed", rt.view_id)

    async def _expirer(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            now = self.clock.monotonic()
            for s in list(self.sessions.values()):
                if s.inflight == 0 and now - s.last_seen_mono > s.timeout:
                    self.end_session(s, f"no heartbeat or event for {s.timeout:g} s")

    async def _ticker(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            if now - last >= 1.0:
                span, last = now - last, now
                for s in self.sessions.values():
                    s.events.tick(span)
                for p in self.pipes.values():
                    p.events.tick(span)
                for rt in self.views.values():
                    rt.events.tick(span)
            if self.subscribers:
                status = self.status()
                for peer in list(self.subscribers):
                    peer.send(wire.push("status", **status))

    # --- views for the control plane -----------------------------------------------------------------

    def _view(self, view_id: str) -> ViewRuntime:
        rt = self.views.get(view_id)
        if rt is None:
            raise WireError(Code.NOT_FOUND, f"no view {view_id!r} (views: {', '.join(sorted(self.views)) or 'none'})",
                            view=view_id)
        return rt

    def status(self) -> dict:
        now_mono = self.clock.monotonic()
        now = self.clock.wall()
        views = []
        for v, rt in sorted(self.views.items()):
            fv = rt.view
            run = fv.audits.current
            counts = fv.counts()
            views.append({
                "view": v, **counts, "watermark": fv.logical.watermark(), "skew": fv.logical.skew,
                "ready": rt.check_ready(), "ready_at": rt.ready_at, "not_ready_reason": rt.not_ready_reason(),
                "leader": rt.leadership.leader.session_id if rt.leadership.leader else None,
                "followers": [f.session_id for f in rt.leadership.followers],
                "audit": run.progress(now) if run else None,
                "last_audit_started_at": fv.audits.last_started_wall,
                "last_audit_completed_at": fv.audits.last_completed_wall,
                "events_per_s": round(rt.events.rate, 1), "events_history": list(rt.events.history),
                "pipes": [p.pipe_id for p in rt.pipes], "live_mode": rt.config.live_mode,
            })  # fmt: skip
        pipes = [{
            "pipe": p.pipe_id, "receiver": p.config.receiver, "views": p.view_ids, "queue": p.pending,
            "queue_size": p.config.queue_size, "sessions": len(p.sessions), "rows_applied": p.rows_applied,
            "events_per_s": round(p.events.rate, 1), "errors": p.errors,
        } for _, p in sorted(self.pipes.items())]  # fmt: skip
        sessions = [{
            "session_id": s.session_id, "pipe": s.pipe_id, "agent_id": s.agent_id, "host": s.host,
            "source_uri": s.source_uri, "roles": self.roles(s), "last_heartbeat_age": round(now_mono - s.last_seen_mono, 2),
            "timeout": s.timeout, "rows_received": s.rows_received, "events_per_s": round(s.events.rate, 1),
            "can_realtime": s.can_realtime, "connected": s.peer is not None, "last_seq": s.last_applied_seq,
            "audit_id": s.audit_id, "counters": s.counters, "opened_at": s.opened_wall,
        } for s in sorted(self.sessions.values(), key=lambda s: s.session_id)]  # fmt: skip
        receivers = [{"receiver": n, "bind": r.bind, "port": self._bound_port(n, r.port), "tls": r.tls is not None}
                     for n, r in sorted(self.config.receivers.receivers.items())]
        return {"server": SERVER_NAME, "started_at": self.started_wall, "uptime_s": now - self.started_wall,
                "views": views, "pipes": pipes, "sessions": sessions, "receivers": receivers,
                "jobs": self.jobs.recent(), "warnings": list(self.config.warnings)}

    def _bound_port(self, name: str, configured: int) -> int:
        if self.listeners is not None:
            return self.listeners.port_of(name) or configured
        return configured

    def _query_view(self, msg: dict) -> ViewRuntime:
        rt = self._view(msg["view"])
        if not msg.get("partial") and not rt.check_ready():
            raise WireError(Code.NOT_READY, f"view {rt.view_id!r} is not ready: {rt.not_ready_reason()}",
                            view=rt.view_id, reason=rt.not_ready_reason())
        return rt

    async def _op_status(self, peer: Any, req_id: Any, msg: dict) -> dict:
        return self.status()

    async def _op_subscribe(self, peer: Any, req_id: Any, msg: dict) -> dict:
        self.subscribers.add(peer)
        return {"subscribed": True, "status": self.status(), "log": self.log_lines[-50:]}

    async def _op_unsubscribe(self, peer: Any, req_id: Any, msg: dict) -> dict:
        self.subscribers.discard(peer)
        return {"subscribed": False}

    async def _op_query_ls(self, peer: Any, req_id: Any, msg: dict) -> dict:
        rt = self._query_view(msg)
        return rt.view.query.list_dir(msg.get("path") or "/", limit=msg.get("limit") or 100, cursor=msg.get("cursor"),
                                      sort=msg.get("sort") or "name", reverse=bool(msg.get("reverse")))

    async def _op_query_tree(self, peer: Any, req_id: Any, msg: dict) -> dict:
        rt = self._query_view(msg)
        depth = msg.get("depth")
        return rt.view.query.tree(msg.get("path") or "/", depth=1 if depth is None else depth,
                                  full=bool(msg.get("full")), max_nodes=msg.get("max_nodes") or 10_000)

    async def _op_query_stats(self, peer: Any, req_id: Any, msg: dict) -> dict:
        return self._query_view(msg).view.query.stats(msg.get("path") or "/")

    async def _op_query_summary(self, peer: Any, req_id: Any, msg: dict) -> dict:
        rt = self._query_view(msg)
        path = msg["path"]
        extra: dict[str, Any] = {}
        if msg.get("force_real_time"):
            job = self.start_scan(rt.view_id, path)
            timeout = msg.get("timeout")
            timeout = 5.0 if timeout is None else max(0.0, min(float(timeout), 60.0))
            if job.state == "pending":
                try:
                    await asyncio.wait_for(job.done.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
            extra = {"job_id": job.job_id, "job_pending": job.state == "pending", "job": job.to_dict()}
        return {**rt.view.query.summary(path), **extra}

    async def _op_query_search(self, peer: Any, req_id: Any, msg: dict) -> dict:
        targets = [self._query_view(msg)] if msg.get("view") else [
            rt for _, rt in sorted(self.views.items()) if msg.get("partial") or rt.check_ready()]
        limit = msg.get("limit") or 100
        out = []
        truncated = False
        for rt in targets:
            res = rt.view.query.search(msg["pattern"], mode=msg.get("mode") or "glob", field=msg.get("field") or "name",
                                       path=msg.get("path") or "/", kind=msg.get("kind"), limit=limit)
            for r in res["results"]:
                r["view"] = rt.view_id
            out += res["results"]
            truncated = truncated or res["truncated"]
        return {"pattern": msg["pattern"], "results": out[:limit] if msg.get("view") is None else out,
                "truncated": truncated or len(out) > limit, "views": [rt.view_id for rt in targets]}

    async def _op_query_suspects(self, peer: Any, req_id: Any, msg: dict) -> dict:
        return self._query_view(msg).view.query.suspects(msg.get("path") or "/", msg.get("limit") or 1000)

    async def _op_query_blind_spots(self, peer: Any, req_id: Any, msg: dict) -> dict:
        return self._query_view(msg).view.query.blind_spots(msg.get("path") or "/", msg.get("limit") or 1000)

    async def _op_query_dump(self, peer: Any, req_id: Any, msg: dict) -> dict:
        rt = self._view(msg["view"])
        return {**rt.view.debug_dump(), "ready": rt.check_ready(), "not_ready_reason": rt.not_ready_reason()}

    async def _op_scan(self, peer: Any, req_id: Any, msg: dict) -> dict:
        job = self.start_scan(msg["view"], msg["path"])
        timeout = msg.get("timeout")
        if timeout and job.state == "pending":
            try:
                await asyncio.wait_for(job.done.wait(), max(0.0, min(float(timeout), 60.0)))
            except asyncio.TimeoutError:
                pass
        return {"job_id": job.job_id, "job_pending": job.state == "pending", "job": job.to_dict()}

    async def _op_job_status(self, peer: Any, req_id: Any, msg: dict) -> dict:
        job = self.jobs.get(msg["job_id"])
        if job is None:
            raise WireError(Code.NOT_FOUND, f"no job {msg['job_id']!r} (jobs are kept for the last 1000 scans)")
        return job.to_dict()

    async def _op_audit_now(self, peer: Any, req_id: Any, msg: dict) -> dict:
        rt = self._view(msg["view"])
        leader = rt.leadership.leader
        if leader is None:
            raise WireError(Code.NOT_LEADER, f"view {rt.view_id!r} has no leader session to audit it")
        path = msg.get("path") or "/"
        leader.push(wire.push("audit_now", session_id=leader.session_id, path=path, view=rt.view_id, reason="admin"))
        return {"sent_to": leader.session_id, "path": path}

    async def _op_view_reset(self, peer: Any, req_id: Any, msg: dict) -> dict:
        rt = self._view(msg["view"])
        rt.reset()
        self._log("warning", f"view {rt.view_id} reset by an admin", view=rt.view_id)
        # The leader must rebuild it: a new snapshot comes with a new session.
        leader = rt.leadership.leader
        if leader is not None:
            self.end_session(leader, f"view {rt.view_id} was reset; re-open to send a new snapshot")
        return {"reset": rt.view_id}

    # --- configuration --------------------------------------------------------------------------------

    async def _op_config_list(self, peer: Any, req_id: Any, msg: dict) -> dict:
        home = self.config.home
        files = []
        for name in self.config.files():
            p = home / name
            files.append({"name": name, "size": p.stat().st_size if p.exists() else None})
        return {"home": str(home), "files": files}

    async def _op_config_read(self, peer: Any, req_id: Any, msg: dict) -> dict:
        from fustor.core.config import resolve_in_home

        path = resolve_in_home(self.config.home, msg["name"])
        if not path.exists():
            raise WireError(Code.NOT_FOUND, f"no config file {msg['name']!r} in {self.config.home}")
        return {"name": msg["name"], "text": path.read_text(encoding="utf-8")}

    async def _op_config_validate(self, peer: Any, req_id: Any, msg: dict) -> dict:
        from fustor.core.config import resolve_in_home

        from .config import validate_file_text

        resolve_in_home(self.config.home, msg["name"])
        try:
            validate_file_text(self.config.home, msg["name"], msg["text"])
        except ConfigError as exc:
            return {"valid": False, "message": exc.message, "errors": exc.details.get("errors") or [
                {"key": "", "message": line} for line in exc.message.splitlines()]}
        return {"valid": True}

    async def _op_config_write(self, peer: Any, req_id: Any, msg: dict) -> dict:
        from fustor.core.config import resolve_in_home, write_atomic

        from .config import validate_file_text

        path = resolve_in_home(self.config.home, msg["name"])
        validate_file_text(self.config.home, msg["name"], msg["text"])
        write_atomic(path, msg["text"])
        self._log("info", f"config {msg['name']} written through the control plane")
        return {"written": msg["name"], "reload": await self.reload()}

    async def _op_reload(self, peer: Any, req_id: Any, msg: dict) -> dict:
        return await self.reload()

    async def reload(self) -> dict:
        """Re-read the home and apply the difference; only what changed restarts."""
        new = load_fusion_config(self.config.home)
        old = self.config
        out: dict[str, list[str]] = {k: [] for k in (
            "views_added", "views_removed", "views_changed", "pipes_added", "pipes_removed", "pipes_restarted",
            "receivers_restarted")}  # fmt: skip
        # Pipes first: removing or changing one ends its sessions.
        for pid in list(self.pipes):
            if pid not in new.pipes:
                await self._remove_pipe(pid, "its pipe was removed from the config")
                out["pipes_removed"].append(pid)
        for vid in list(self.views):
            if vid not in new.views:
                for pid, p in list(self.pipes.items()):
                    if vid in p.view_ids and pid not in out["pipes_removed"]:
                        await self._remove_pipe(pid, f"view {vid} was removed")
                        out["pipes_restarted"].append(pid)
                del self.views[vid]
                out["views_removed"].append(vid)
        for vid, vf in new.views.items():
            if vid not in self.views:
                self.views[vid] = ViewRuntime(vid, vf.view_config(), self.clock)
                out["views_added"].append(vid)
            elif old.views.get(vid) != vf:
                self.views[vid].view.reconfigure(vf.view_config())
                out["views_changed"].append(vid)
        for pid, pf in new.pipes.items():
            if pid in self.pipes and old.pipes.get(pid) == pf and pid not in out["pipes_restarted"]:
                continue
            if pid in self.pipes:
                await self._remove_pipe(pid, "its pipe config changed")
                out["pipes_restarted"].append(pid)
            elif pid not in out["pipes_restarted"]:
                out["pipes_added"].append(pid)
            self._add_pipe(pid, pf).start()
        self.config = new
        self._rebuild_auth(new)
        if self.listeners is not None:
            # The request being answered may have come through a receiver that
            # restarts: restart after the reply, not while it waits.
            out["receivers_restarted"] = self.listeners.changes(new.receivers.receivers)
            if out["receivers_restarted"]:
                task = asyncio.get_running_loop().create_task(self.listeners.apply(new.receivers.receivers))
                self._tasks.append(task)
        self._log("info", "reloaded: " + ", ".join(f"{k} {v}" for k, v in out.items() if v) if any(out.values())
                  else "reloaded: nothing changed")
        return out

    async def _remove_pipe(self, pid: str, reason: str) -> None:
        pipe = self.pipes.pop(pid)
        for s in list(pipe.sessions):
            self.end_session(s, reason)
        await pipe.stop()
        for rt in self.views.values():
            if pipe in rt.pipes:
                rt.pipes.remove(pipe)


__all__ = ["SERVER_NAME", "FusionService", "FOLLOWER", "LEADER", "NotFoundError"]
