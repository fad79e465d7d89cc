"""A simulated agent: speaks the data plane exactly as a real agent must.

It has no source: the caller hands it rows (or an in-memory ``tree`` of
``path -> row`` from which it answers scans, sentinel tasks and ``audit_now``
by itself). Everything else is the real protocol of ``docs/protocol.md``:

* ``hello`` then ``session.open``; after a reconnect ``session.open`` with
  ``resume`` = the previous session id;
* every event batch gets the session's next sequence number and stays in
  :attr:`SimAgent.unacked` until fusion acknowledges it; after a reconnect the
  batches with ``seq <= last_seq`` (from the resumed ``session.open``) are
  dropped as applied and the others are resent in order, before anything new;
  when fusion opened a new session instead, the kept batches are renumbered
  from 1 (batches tied to the old session, audit and on-demand ones, fail with
  :class:`SessionLost`);
* a heartbeat every ``timeout / 2`` (``timeout`` from ``session.open``) by a
  task that logs its errors and keeps going;
* reconnects with backoff (``backoff_initial`` doubling to ``backoff_max``,
  1 s to 60 s by default); ``session_ended`` / ``session_unknown`` (a reply or
  a push) open a new session at once on the same connection;
  ``session_mismatch`` / ``sequence_gap`` re-attach the session at once
  (``session.open`` with ``resume``) and resend after its ``last_seq``;
* roles from the ``session.open`` reply, heartbeat replies and ``roles``
  pushes; ``scan`` pushes answered by ``scan_handler(path)`` (or the tree) as
  ``on_demand`` batches with the job id, then ``job.complete``.

Used by the unit tests of the client and by integration tests against a real
fusion; also handy to load a fusion by hand.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fustor.client import ClientError, Connection, ConnectionLost, Refused, RemoteError
from fustor.core.events import EventBase, EventType, MessageSource
from fustor.schema import SCHEMA_NAME, SCHEMA_VERSION, parent_of
from fustor.transport.wire import Code

log = logging.getLogger("fustor.testing.simagent")

__all__ = ["SessionLost", "SimAgent"]

Row = dict[str, Any]
ScanHandler = Callable[[str], Iterable[Row] | Awaitable[Iterable[Row]]]
AnswerFn = Callable[[str], Row | None | Awaitable[Row | None]]

#: Error codes after which the session is gone and a new one is opened at once.
SESSION_GONE = frozenset((Code.SESSION_ENDED, Code.SESSION_UNKNOWN))
#: Error codes after which the session lives but is out of step with this connection:
#: ``session.open`` with ``resume`` re-attaches it here and says its ``last_seq``.
SESSION_RESYNC = frozenset((Code.SESSION_MISMATCH, Code.SEQUENCE_GAP))
_SESSION_ERRORS = SESSION_GONE | SESSION_RESYNC
#: ``session.open`` errors that :meth:`SimAgent.start` raises at once instead of retrying
#: (a configuration mistake does not fix itself; after start they are retried with backoff).
FATAL_AT_START = frozenset((Code.FORBIDDEN, Code.NOT_FOUND, Code.SCHEMA_MISMATCH, Code.INVALID, Code.BAD_MESSAGE))
_SENTINEL_FIELDS = ("path", "exists", "kind", "mtime", "ctime", "size", "parent_ctime")


class SessionLost(ClientError):
    """A batch or request that belonged to a session fusion no longer has."""

    code = "session_lost"


@dataclass(eq=False)
class _Batch:
    seq: int
    event: dict[str, Any]
    source: str
    future: asyncio.Future[dict[str, Any]]
    done: bool = False
    sends: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class SimAgent:
    """One agent pipe feeding one fusion pipe over one websocket."""

    def __init__(
        self, url: str, key: str, pipe_id: str, agent_id: str = "sim-agent", host: str = "sim-host",
        tree: dict[str, Row] | None = None, *, timeout_hint: float = 30.0, batch_size: int = 500,
        source_uri: str | None = None, can_realtime: bool = True, scan_handler: ScanHandler | None = None,
        audit_now_handler: Callable[[str | None], Awaitable[Any] | Any] | None = None,
        reload_handler: Callable[[], Any] | None = None, backoff_initial: float = 1.0, backoff_max: float = 60.0,
        max_unacked: int = 1000, open_timeout: float = 10.0, schema: str = SCHEMA_NAME,
        schema_version: str = SCHEMA_VERSION, client: str = "fustor-simagent/0.1",
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.url, self.key, self.pipe_id, self.agent_id, self.host = url, key, pipe_id, agent_id, host
        self.tree = tree
        self.timeout_hint = timeout_hint
        self.batch_size = batch_size
        self.source_uri = source_uri
        self.can_realtime = can_realtime
        self.scan_handler = scan_handler
        self.audit_now_handler = audit_now_handler
        self.reload_handler = reload_handler
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_unacked = max_unacked
        self.open_timeout = open_timeout
        self.schema, self.schema_version = schema, schema_version
        self.client = client
        self.clock = clock

        # -- session state (from fusion) --
        self.session_id: str | None = None
        #: the session's timeout (s): the hint until ``session.open`` answers
        self.timeout: float = timeout_hint
        self.intervals: dict[str, Any] = {}
        #: view id -> "leader" | "follower"
        self.roles: dict[str, str] = {}
        self.open_reply: dict[str, Any] = {}
        #: ``last_seq`` of the latest ``session.open`` reply
        self.last_seq = 0
        #: sent and not yet acknowledged: seq -> batch (in seq order)
        self.unacked: dict[int, _Batch] = {}
        self.counters: dict[str, int] = dict.fromkeys(
            ("sent", "acked", "resent", "duplicates", "refused", "discarded", "confirmed_by_resume", "heartbeats",
             "heartbeat_errors", "sessions_opened", "resumed", "session_gone", "resyncs", "connects",
             "connect_failures", "scans", "audits", "audit_now", "reloads"),
            0,
        )  # fmt: skip
        #: monotonic times at which heartbeats were sent
        self.heartbeat_times: deque[float] = deque(maxlen=1000)
        #: pushes and heartbeat commands received, newest last
        self.pushes: deque[dict[str, Any]] = deque(maxlen=1000)
        #: (job_id, path, error) of the scans answered
        self.jobs: list[tuple[str, str, str | None]] = []
        self.last_error: BaseException | None = None

        self._next_seq = 1
        self._epoch = 0
        self._conn: Connection | None = None
        self._may_resume = False
        self._closing = False
        self._send_lock = asyncio.Lock()
        self._connected = asyncio.Event()
        self._reopen = asyncio.Event()
        self._space = asyncio.Event()
        self._hb_wake = asyncio.Event()
        self._closed = asyncio.Event()
        self._opened = asyncio.Event()  # replaced at every session open
        self._first_open: asyncio.Future[None] | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._hb_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._seen_jobs: set[str] = set()
        # Pushes naming a session id we do not know yet: the reply to session.open and
        # the first pushes of the new session can be read before _open_session resumes.
        self._early_pushes: deque[dict[str, Any]] = deque(maxlen=100)
        self._last_hb = 0.0

    # --- life cycle -----------------------------------------------------------------

    async def start(self, timeout: float | None = 10.0) -> "SimAgent":
        """Connect, open the session, start the heartbeat; returns once the first
        session is open. A :class:`Refused` ``hello`` is raised at once; other
        failures are retried until ``timeout`` (then ``TimeoutError``)."""
        if self._run_task is not None:
            raise RuntimeError("this SimAgent was already started")
        self._first_open = asyncio.get_running_loop().create_future()
        self._run_task = asyncio.create_task(self._run(), name=f"simagent-run {self.agent_id}")
        self._hb_task = asyncio.create_task(self._heartbeat_loop(), name=f"simagent-heartbeat {self.agent_id}")
        try:
            await asyncio.wait_for(asyncio.shield(self._first_open), timeout)
        except TimeoutError:
            await self.close(session_close=False)
            raise TimeoutError(f"no session within {timeout} s (last error: {self.last_error!r})") from self.last_error
        except BaseException:
            await self.close(session_close=False)
            raise
        return self

    async def close(self, *, session_close: bool = True) -> None:
        """Close the session (``session.close`` when connected), stop every task."""
        if self._closing:
            return
        self._closing = True
        conn, sid = self._conn, self.session_id
        if session_close and conn is not None and sid is not None and self._connected.is_set():
            try:
                await conn.request("session.close", session_id=sid, request_timeout=max(1.0, self.open_timeout / 2))
            except Exception as exc:
                log.info("%s: session.close failed: %s", self.agent_id, exc)
        self._connected.clear()
        self._closed.set()
        self._opened.set()
        self._space.set()
        tasks = [t for t in (self._run_task, self._hb_task, *self._tasks) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        lost = ConnectionLost("the simulated agent was closed")
        for batch in self.unacked.values():
            _fail(batch.future, lost)
        if self._first_open is not None and not self._first_open.done():
            _fail(self._first_open, lost)

    async def __aenter__(self) -> "SimAgent":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        """Whether a session is open on a live connection."""
        return self._connected.is_set()

    @property
    def connection(self) -> Connection | None:
        return self._conn

    def leads(self, view: str | None = None) -> bool:
        """Whether the session leads ``view`` (any view when ``None``)."""
        if view is None:
            return "leader" in self.roles.values()
        return self.roles.get(view) == "leader"

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._wait_connected(), timeout)

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every batch sent so far is acknowledged (or refused)."""
        futures = [b.future for b in list(self.unacked.values())]
        if futures:
            _, pending = await asyncio.wait(futures, timeout=timeout)  # never cancels the batches
            if pending:
                raise TimeoutError(f"{len(pending)} batch(es) still unacknowledged after {timeout} s")

    async def drop_connection(self) -> None:
        """Abort the websocket (no closing handshake), as a network failure would."""
        if self._conn is not None:
            await self._conn.abort()

    # --- sending ----------------------------------------------------------------------

    async def send_realtime(self, rows: Iterable[Row], delete: bool = False, *, wait: bool = True) -> list[dict]:
        """Realtime rows (``delete``: a delete batch). ``wait``: return the acks."""
        rows = list(rows)
        if self.tree is not None:
            for row in rows:
                if delete:
                    self.tree.pop(row["path"], None)
                else:
                    self.tree[row["path"]] = row
        batches = await self._enqueue(MessageSource.REALTIME, rows, EventType.DELETE if delete else EventType.UPDATE)
        return await self._acks(batches) if wait else []

    async def send_snapshot(self, rows: Iterable[Row], *, wait: bool = True) -> list[dict]:
        """Snapshot rows (applied only to the views this session leads)."""
        batches = await self._enqueue(MessageSource.SNAPSHOT, list(rows), EventType.UPDATE)
        return await self._acks(batches) if wait else []

    async def snapshot_end(self) -> dict[str, Any]:
        return await self._session_request("snapshot.end")

    async def run_audit(self, rows: Iterable[Row] | AsyncIterable[Row]) -> dict[str, Any]:
        """``audit.start`` → the rows as audit batches with the audit id →
        ``audit.end`` (in a ``finally``: ``aborted`` when the rows failed).
        Batches are pipelined: fusion applies ``audit.end`` after them.
        Returns the ``audit.end`` reply (``reports``)."""
        start = await self._session_request("audit.start")
        audit_id = start["audit_id"]
        self.counters["audits"] += 1
        batches: list[_Batch] = []
        aborted = True
        try:
            chunk: list[Row] = []
            async for row in _aiter(rows):
                chunk.append(row)
                if len(chunk) >= self.batch_size:
                    batches += await self._enqueue(MessageSource.AUDIT, chunk, EventType.UPDATE, audit_id=audit_id)
                    chunk = []
            if chunk:
                batches += await self._enqueue(MessageSource.AUDIT, chunk, EventType.UPDATE, audit_id=audit_id)
            aborted = False
        finally:
            try:
                end = await self._session_request("audit.end", audit_id=audit_id, aborted=True if aborted else None)
            except Exception as exc:
                if not aborted:
                    raise
                log.warning("%s: audit.end (aborted) failed: %s", self.agent_id, exc)
        await self._acks(batches)
        return end

    async def sentinel_round(self, answer_fn: AnswerFn | None = None) -> dict[str, Any]:
        """``sentinel.tasks`` → check each path with ``answer_fn(path)`` (a dict
        with ``exists, kind, mtime, ctime, size, parent_ctime``, or ``None`` for
        gone; the tree when no function is given) → ``sentinel.feedback``.
        Returns ``{"paths", "results", "counts"}``."""
        tasks = await self._session_request("sentinel.tasks")
        paths = list(tasks.get("paths") or ())
        results = []
        for path in paths:
            if answer_fn is not None:
                answer = answer_fn(path)
                if inspect.isawaitable(answer):
                    answer = await answer
            elif self.tree is not None:
                answer = self._tree_answer(path)
            else:
                raise RuntimeError("sentinel_round needs an answer_fn or a tree")
            results.append(_sentinel_result(path, answer))
        if not results:
            return {"paths": paths, "results": [], "counts": {}}
        feedback = await self._session_request("sentinel.feedback", results=results)
        return {"paths": paths, "results": results, **feedback}

    async def request_audit(self, path: str | None = None, reason: str | None = None) -> dict[str, Any]:
        """``audit.request`` (a follower that lost events): ``{forwarded_to}``."""
        return await self._session_request("audit.request", path=path, reason=reason)

    async def heartbeat_now(self) -> dict[str, Any]:
        """One heartbeat at once (the loop keeps its own cadence)."""
        return await self._heartbeat_once()

    # --- the tree -----------------------------------------------------------------

    def rows_under(self, path: str) -> list[Row]:
        """Rows of the tree at ``path`` and below, parents first."""
        if self.tree is None:
            return []
        prefix = "/" if path == "/" else path.rstrip("/") + "/"
        keys = sorted(p for p in self.tree if p == path or p.startswith(prefix))
        return [self.tree[p] for p in keys]

    def _tree_answer(self, path: str) -> Row | None:
        assert self.tree is not None
        row = self.tree.get(path)
        parent = self.tree.get(parent_of(path)) if path != "/" else None
        parent_ctime = parent.get("ctime") if parent else None
        if row is None:
            return {"exists": False, "parent_ctime": parent_ctime}
        answer = {k: row.get(k) for k in ("kind", "mtime", "ctime", "size")}
        answer["exists"] = True
        answer["parent_ctime"] = parent_ctime if parent_ctime is not None else row.get("parent_ctime")
        return answer

    # --- internals: batches -----------------------------------------------------------

    async def _enqueue(
        self, source: MessageSource, rows: list[Row], etype: EventType, *, audit_id: str | None = None,
        job_id: str | None = None,
    ) -> list[_Batch]:  # fmt: skip
        loop = asyncio.get_running_loop()
        batches = []
        for i in range(0, len(rows), self.batch_size):
            chunk = rows[i : i + self.batch_size]
            event = EventBase(
                self.schema, self.schema_version, etype, source, int(self.clock() * 1000), chunk, audit_id, job_id
            ).to_dict()
            while len(self.unacked) >= self.max_unacked and not self._closing:
                self._space.clear()
                await self._space.wait()
            if self._closing:
                raise ConnectionLost("the simulated agent is closed")
            async with self._send_lock:
                batch = _Batch(self._next_seq, event, source.value, loop.create_future())
                self._next_seq += 1
                self.unacked[batch.seq] = batch
                conn = self._conn
                if self._connected.is_set() and conn is not None:
                    try:
                        await self._write(conn, batch)
                    except ConnectionLost:
                        pass  # kept in unacked: resent after the reconnect
            batches.append(batch)
        return batches

    async def _write(self, conn: Connection, batch: _Batch, *, resend: bool = False) -> None:
        fut = await conn.submit("events", session_id=self.session_id, seq=batch.seq, event=batch.event)
        batch.sends += 1
        self.counters["sent"] += 1
        if resend:
            self.counters["resent"] += 1
        epoch = self._epoch
        fut.add_done_callback(lambda f: self._on_reply(batch, epoch, f))

    def _on_reply(self, batch: _Batch, epoch: int, fut: asyncio.Future[dict[str, Any]]) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is None:
            reply = fut.result()
            if reply.get("duplicate"):
                self.counters["duplicates"] += 1
            self._settle(batch, reply)
        elif isinstance(exc, ConnectionLost):
            pass  # stays unacked; the run loop reconnects and resends
        elif isinstance(exc, RemoteError) and exc.code in _SESSION_ERRORS:
            # The batch stays unacked: it is resent once the session is open again
            # (re-attached for sequence_gap / session_mismatch, a new one otherwise).
            self._session_error(epoch, exc)
        elif isinstance(exc, RemoteError):
            log.warning("%s: batch %d refused: %s", self.agent_id, batch.seq, exc)
            self.counters["refused"] += 1
            self._settle(batch, exc)
        else:  # pragma: no cover
            log.error("%s: batch %d failed", self.agent_id, batch.seq, exc_info=exc)

    def _settle(self, batch: _Batch, outcome: dict[str, Any] | BaseException) -> None:
        if batch.done:
            return
        batch.done = True
        if self.unacked.get(batch.seq) is batch:
            del self.unacked[batch.seq]
        if isinstance(outcome, BaseException):
            _fail(batch.future, outcome)
        else:
            self.counters["acked"] += 1
            if not batch.future.done():
                batch.future.set_result(outcome)
        self._space.set()

    async def _acks(self, batches: list[_Batch]) -> list[dict[str, Any]]:
        # shielded: a caller that gives up must not cancel the batches themselves
        return list(await asyncio.gather(*(asyncio.shield(b.future) for b in batches)))

    # --- internals: connection and session ----------------------------------------

    async def _run(self) -> None:
        delay = self.backoff_initial
        while not self._closing:
            conn: Connection | None = None
            try:
                conn = await Connection.open(
                    self.url, self.key, plane="pipe", client=self.client, open_timeout=self.open_timeout,
                    on_push=self._on_push,
                )  # fmt: skip
                self._conn = conn
                self.counters["connects"] += 1
                while not self._closing:
                    await self._open_session(conn)
                    delay = self.backoff_initial
                    if await self._wait_trouble(conn) == "lost":
                        break
                    # a session error: open (or re-attach) a session at once on the same connection
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = exc
                self.counters["connect_failures"] += 1
                first = self._first_open
                if first is not None and not first.done() and (
                    isinstance(exc, Refused) or (isinstance(exc, RemoteError) and exc.code in FATAL_AT_START)
                ):
                    _fail(first, exc)
                    return
                log.warning("%s: %s; retrying in %.2f s", self.agent_id, exc, delay)
            finally:
                self._connected.clear()
                if conn is not None:
                    if conn.lost is not None and not self._closing:
                        self.last_error = conn.lost
                        log.info("%s: %s; reconnecting in %.2f s", self.agent_id, conn.lost, delay)
                    await conn.close()
                if self._conn is conn:
                    self._conn = None
            if self._closing:
                return
            try:
                await asyncio.wait_for(self._closed.wait(), delay)
                return
            except TimeoutError:
                pass
            delay = min(delay * 2, self.backoff_max)

    async def _wait_trouble(self, conn: Connection) -> str:
        lost = asyncio.ensure_future(conn.wait_closed())
        reopen = asyncio.ensure_future(self._reopen.wait())
        try:
            done, _ = await asyncio.wait({lost, reopen}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (lost, reopen):
                if not t.done():
                    t.cancel()
        return "lost" if lost in done else "reopen"

    async def _open_session(self, conn: Connection) -> None:
        self._reopen.clear()
        resume = self.session_id if self._may_resume else None
        reply = await conn.request(
            "session.open", pipe_id=self.pipe_id, agent_id=self.agent_id, host=self.host, source_uri=self.source_uri,
            schema=self.schema, schema_version=self.schema_version, timeout_hint=self.timeout_hint,
            can_realtime=self.can_realtime, resume=resume, request_timeout=self.open_timeout,
        )  # fmt: skip
        sid = reply["session_id"]
        last_seq = int(reply.get("last_seq") or 0)
        async with self._send_lock:
            resumed = resume is not None and sid == resume
            if resumed:
                for seq in [s for s in self.unacked if s <= last_seq]:
                    self.counters["confirmed_by_resume"] += 1
                    self._settle(self.unacked[seq], {"seq": seq, "confirmed_by_resume": True})
                self._next_seq = max(self._next_seq, last_seq + 1)
            else:
                self._renumber(last_seq + 1, resume)
            self._epoch += 1
            self.session_id = sid
            self.last_seq = last_seq
            self.open_reply = reply
            self.timeout = float(reply.get("timeout") or self.timeout_hint)
            self.intervals = dict(reply.get("intervals") or {})
            self.roles = dict(reply.get("views") or {})
            self._may_resume = True
            for batch in list(self.unacked.values()):
                await self._write(conn, batch, resend=True)
            self._connected.set()
        self.counters["sessions_opened"] += 1
        if resumed:
            self.counters["resumed"] += 1
        opened, self._opened = self._opened, asyncio.Event()
        opened.set()
        early = [m for m in self._early_pushes if m.get("session_id") == sid]
        self._early_pushes.clear()
        for msg in early:
            self._on_push(msg, replay=True)
        self._hb_wake.set()
        if self._first_open is not None and not self._first_open.done():
            self._first_open.set_result(None)
        log.info(
            "%s: session %s %s (last_seq %d, %d batch(es) resent), roles %s", self.agent_id, sid,
            "resumed" if resumed else "opened", last_seq, len(self.unacked), self.roles,
        )  # fmt: skip

    def _renumber(self, first: int, old_session: str | None) -> None:
        """A new session: keep realtime and snapshot batches, renumbered from ``first``."""
        kept: dict[int, _Batch] = {}
        seq = first
        for batch in list(self.unacked.values()):
            if batch.source in (MessageSource.AUDIT.value, MessageSource.ON_DEMAND.value):
                self.counters["discarded"] += 1
                batch.done = True
                _fail(batch.future, SessionLost(f"session {old_session} ended before batch {batch.seq} was acked"))
                continue
            batch.seq = seq
            kept[seq] = batch
            seq += 1
        self.unacked = kept
        self._next_seq = seq
        self._space.set()

    def _session_error(self, epoch: int, exc: RemoteError) -> None:
        self._session_gone(epoch, exc, resume=exc.code in SESSION_RESYNC)

    def _session_gone(self, epoch: int, why: Any, *, resume: bool = False) -> None:
        """Fusion ended (or does not know) the session of ``epoch``: open a new one at once.

        ``resume``: the session lives but is out of step (``sequence_gap``):
        ``session.open`` with ``resume`` re-attaches it and says its last_seq."""
        if epoch != self._epoch or self._closing:
            return
        if resume:
            log.warning("%s: %s; re-attaching session %s", self.agent_id, why, self.session_id)
            self.counters["resyncs"] += 1
        else:
            log.info("%s: session %s gone (%s); opening a new one", self.agent_id, self.session_id, why)
            self.counters["session_gone"] += 1
            self._may_resume = False
        self._connected.clear()
        self._epoch += 1  # later errors about the same session are ignored
        self._reopen.set()

    async def _wait_connected(self) -> None:
        while not self._connected.is_set():
            if self._closing:
                raise ConnectionLost("the simulated agent is closed")
            waiter = asyncio.ensure_future(self._connected.wait())
            closed = asyncio.ensure_future(self._closed.wait())
            try:
                await asyncio.wait({waiter, closed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                closed.cancel()
        if self._closing:
            raise ConnectionLost("the simulated agent is closed")

    async def _session_request(self, op: str, /, *, attempts: int = 5, **params: Any) -> dict[str, Any]:
        """``op`` on the current session; after a lost connection or a lost
        session, waits for the next session and tries again (``attempts`` in all)."""
        last: BaseException | None = None
        for _ in range(attempts):
            await self._wait_connected()
            conn, sid, epoch, opened = self._conn, self.session_id, self._epoch, self._opened
            assert conn is not None
            try:
                return await conn.request(op, session_id=sid, **params)
            except ConnectionLost as exc:
                last = exc
            except RemoteError as exc:
                if exc.code not in _SESSION_ERRORS:
                    raise
                self._session_error(epoch, exc)
                last = exc
            await opened.wait()
        assert last is not None
        raise last

    # --- internals: heartbeat ---------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while not self._closing:
            try:
                await self._wait_connected()
                interval = max(self.timeout / 2.0, 0.01)
                if self._hb_wake.is_set():
                    # A session was (re)opened: session.open counts as a sign of life.
                    self._hb_wake.clear()
                    self._last_hb = time.monotonic()
                wait = self._last_hb + interval - time.monotonic()
                if wait > 0:
                    try:
                        await asyncio.wait_for(self._hb_wake.wait(), wait)
                        continue  # woken by a new session: restart the timer
                    except TimeoutError:
                        pass
                if not self._connected.is_set():
                    continue
                await self._heartbeat_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.counters["heartbeat_errors"] += 1
                if not isinstance(exc, ConnectionLost):
                    log.warning("%s: heartbeat failed: %s", self.agent_id, exc)
                try:
                    await asyncio.sleep(min(1.0, max(self.timeout / 10.0, 0.01)))
                except asyncio.CancelledError:
                    raise

    async def _heartbeat_once(self) -> dict[str, Any]:
        conn, sid, epoch = self._conn, self.session_id, self._epoch
        if conn is None or sid is None or not self._connected.is_set():
            raise ConnectionLost("no session")
        self._last_hb = now = time.monotonic()
        self.heartbeat_times.append(now)
        self.counters["heartbeats"] += 1
        try:
            reply = await conn.request(
                "heartbeat", session_id=sid, can_realtime=self.can_realtime, counters=self._wire_counters(),
                request_timeout=max(self.timeout / 2.0, 0.05),
            )  # fmt: skip
        except RemoteError as exc:
            if exc.code in _SESSION_ERRORS:
                self._session_error(epoch, exc)
            raise
        views = reply.get("views")
        if isinstance(views, dict) and epoch == self._epoch:
            self.roles = dict(views)
        for command in reply.get("commands") or ():
            if isinstance(command, dict):
                self._on_push(command)
        return reply

    def _wire_counters(self) -> dict[str, int]:
        c = self.counters
        return {
            "sent": c["sent"], "acked": c["acked"], "resent": c["resent"], "duplicates": c["duplicates"],
            "unacked": len(self.unacked),
        }  # fmt: skip

    # --- internals: pushes ------------------------------------------------------------

    def _on_push(self, msg: dict[str, Any], replay: bool = False) -> None:
        if not replay:
            self.pushes.append(msg)
        kind = msg.get("push")
        sid = msg.get("session_id")
        if kind != "reload" and sid is not None and sid != self.session_id:
            log.debug("%s: push %s for session %s (ours: %s) kept aside", self.agent_id, kind, sid, self.session_id)
            self._early_pushes.append(msg)
            return
        if kind == "roles":
            views = msg.get("views")
            if isinstance(views, dict):
                self.roles.update(views)
        elif kind == "scan":
            job_id, path = msg.get("job_id"), msg.get("path")
            if isinstance(job_id, str) and isinstance(path, str) and job_id not in self._seen_jobs:
                self._seen_jobs.add(job_id)
                self._spawn(self._handle_scan(job_id, path))
        elif kind == "audit_now":
            self.counters["audit_now"] += 1
            self._spawn(self._handle_audit_now(msg.get("path")))
        elif kind == "reload":
            self.counters["reloads"] += 1
            if self.reload_handler is not None:
                self._spawn(_maybe_await(self.reload_handler()))
        elif kind == "session_ended":
            self._session_gone(self._epoch, msg.get("reason") or "session_ended")
        else:
            log.info("%s: unknown push %r", self.agent_id, kind)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.warning("%s: a push handler failed: %r", self.agent_id, t.exception())

        task.add_done_callback(done)

    async def _handle_scan(self, job_id: str, path: str) -> None:
        """A ``scan`` command: the rows as ``on_demand`` batches with the job id,
        then ``job.complete`` (pipelined: fusion applies it after the batches)."""
        error: str | None = None
        batches: list[_Batch] = []
        try:
            if self.scan_handler is not None:
                rows = await _maybe_await(self.scan_handler(path))
            elif self.tree is not None:
                rows = self.rows_under(path)
            else:
                raise RuntimeError("no scan_handler and no tree to answer a scan")
            batches = await self._enqueue(MessageSource.ON_DEMAND, list(rows), EventType.UPDATE, job_id=job_id)
        except (ConnectionLost, SessionLost):
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("%s: scan %s of %s failed: %s", self.agent_id, job_id, path, error)
        await self._session_request("job.complete", job_id=job_id, error=error)
        self.counters["scans"] += 1
        self.jobs.append((job_id, path, error))
        for outcome in await asyncio.gather(*(b.future for b in batches), return_exceptions=True):
            if isinstance(outcome, BaseException):
                log.warning("%s: a batch of scan %s failed: %s", self.agent_id, job_id, outcome)

    async def _handle_audit_now(self, path: str | None) -> None:
        if self.audit_now_handler is not None:
            await _maybe_await(self.audit_now_handler(path))
        elif self.tree is not None:
            rows = []
            for row in self.rows_under(path or "/"):
                if row.get("kind") == "dir" and row.get("audit_skipped") is None:
                    row = {**row, "audit_skipped": False}  # a complete listing of that directory
                rows.append(row)
            await self.run_audit(rows)


# --- helpers ----------------------------------------------------------------------


def _fail(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


async def _aiter(rows: Iterable[Row] | AsyncIterable[Row]) -> Any:
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row


def _sentinel_result(path: str, answer: Row | None) -> Row:
    out: Row = dict.fromkeys(_SENTINEL_FIELDS)
    out["path"] = path
    if answer is None:
        out["exists"] = False
        return out
    for k in _SENTINEL_FIELDS[1:]:
        if k in answer:
            out[k] = answer[k]
    if out["exists"] is None:
        out["exists"] = True
    return out
