"""Senders: where an agent pipe's events go (the old "pushers").

:class:`WebSocketSender` speaks the data plane to fusion: it numbers event
batches per session, keeps every batch until fusion acknowledges it (an ack
means *applied*), bounds how many are in flight (fusion's backpressure
reaches the pipe as a wait here), and after a reconnect resends what is
unacknowledged. :class:`EchoSender` prints events instead (debugging a
source without fusion).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections import OrderedDict
from typing import Any, Awaitable, Callable

from fustor import __version__
from fustor.client import Connection, ConnectionLost, RemoteError
from fustor.core import event_rows, expand_groups
from fustor.schema import SCHEMA_NAME, SCHEMA_VERSION
from fustor.transport.wire import Code

log = logging.getLogger("fustor.agent.sender")

PushHandler = Callable[[dict], Awaitable[None] | None]


class SessionEnded(Exception):
    """Fusion ended the session (or does not know it): open a new one at once."""


class Sender:
    """What an AgentPipe needs from a destination (SEED §3)."""

    session_id: str | None = None
    connected: bool = False

    async def open_session(self, **info: Any) -> dict: ...
    async def send(self, event: dict) -> None: ...
    async def flush(self, timeout: float | None = None) -> bool: ...
    async def request(self, op: str, **params: Any) -> dict: ...
    async def close(self) -> None: ...

    def stats(self) -> dict:
        return {}


class WebSocketSender(Sender):
    def __init__(self, url: str, key: str, on_push: PushHandler, max_unacked: int = 64) -> None:
        self.url = url
        self.key = key
        self.on_push = on_push
        self.max_unacked = max_unacked
        self.conn: Connection | None = None
        self.session_id: str | None = None
        self.seq = 0
        self.unacked: OrderedDict[int, dict] = OrderedDict()
        self._room = asyncio.Condition()
        self._waiting = 0  # tasks waiting on _room
        self._groups_known: tuple[Any, bool] = (None, False)  # (connection, takes groups)
        self.sent = 0
        self.batches = 0  # distinct batches given to this sender (resends not counted)
        self.rows = 0  # their rows
        self.acked = 0
        self.resent = 0
        self.duplicates = 0
        self.refused = 0
        self.ended: asyncio.Event = asyncio.Event()
        self.last_error: str | None = None

    @property
    def connected(self) -> bool:  # type: ignore[override]
        return self.conn is not None and not self.conn.closed

    async def connect(self) -> None:
        if self.conn is not None:
            await self.conn.abort()
        self.conn = await Connection.open(self.url, self.key, plane="pipe", client=f"fustor-agent/{__version__}",
                                          on_push=self.on_push)

    async def open_session(self, **info: Any) -> dict:
        """Open (or resume) the session; resends unacknowledged batches."""
        assert self.conn is not None
        self.ended = asyncio.Event()
        reply = await self.conn.request("session.open", schema=SCHEMA_NAME, schema_version=SCHEMA_VERSION,
                                        resume=self.session_id, **info)
        if reply.get("resumed"):
            # Resent with their own seqs: fusion drops a batch it already received (protocol §6).
            last = reply.get("last_seq", 0)
            for s in [s for s in self.unacked if s <= last]:
                del self.unacked[s]
                self.acked += 1
        else:
            # A new session: realtime and snapshot batches renumbered from 1; audit and on-demand
            # batches belonged to the old session's audit or job.
            kept = [m for m in self.unacked.values() if m["event"].get("source") not in ("audit", "on_demand")]
            self.unacked = OrderedDict((i, {**m, "seq": i}) for i, m in enumerate(kept, 1))
            self.seq = len(kept)
        self.session_id = reply["session_id"]
        # Every pending batch stays in unacked while it is resent: if the connection drops again
        # half way, the rest are still there for the next session.
        for seq, msg in list(self.unacked.items()):
            self.resent += 1
            await self._write(seq, msg["event"])
        return reply

    async def _submit(self, event: dict) -> None:
        self.seq += 1
        seq = self.seq
        self.unacked[seq] = {"seq": seq, "event": event}
        self.batches += 1
        self.rows += event_rows(event)
        try:
            await self._write(seq, event)
        except ConnectionLost:
            pass  # taken: it stays in unacked and is resent after the reconnect

    @property
    def takes_groups(self) -> bool:
        """Whether the server takes listing rows grouped by directory (protocol 1.1 or later)."""
        conn = self.conn
        if conn is None:
            return False
        if self._groups_known[0] is not conn:  # read once per connection, not per batch
            version = str(conn.hello.get("protocol") or "1.0")
            try:
                takes = tuple(int(p) for p in version.split(".")[:2]) >= (1, 1)
            except ValueError:
                takes = False
            self._groups_known = (conn, takes)
        return self._groups_known[1]

    async def _write(self, seq: int, event: dict) -> None:
        assert self.conn is not None
        if "groups" in event and not self.takes_groups:
            event = expand_groups(event)  # a 1.0 fusion: the same rows, one object each
        fut = await self.conn.submit("events", session_id=self.session_id, seq=seq, event=event)
        self.sent += 1
        fut.add_done_callback(lambda f, seq=seq, sid=self.session_id: self._acked(sid, seq, f))

    def _acked(self, session_id: str | None, seq: int, fut: asyncio.Future) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is None:
            if session_id == self.session_id and self.unacked.pop(seq, None) is not None:
                self.acked += 1
                if fut.result().get("duplicate"):
                    self.duplicates += 1
        elif isinstance(exc, RemoteError):
            if exc.code in (Code.SESSION_ENDED, Code.SESSION_UNKNOWN, Code.SESSION_MISMATCH):
                self.ended.set()
            else:
                # A refused batch would be refused again: drop it, loudly.
                self.refused += 1
                self.last_error = f"{exc.code}: {exc.message}"
                log.error("fusion refused batch %d: %s", seq, self.last_error)
                if session_id == self.session_id:
                    self.unacked.pop(seq, None)
        # ConnectionLost: the batch stays unacked and is resent after reconnect.
        if self._waiting:  # a task per ack costs more than the ack itself; only when someone waits
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._room:
            self._room.notify_all()

    async def send(self, event: dict) -> None:
        """Send one batch in order; waits while too many are unacknowledged.

        Raises :class:`ConnectionLost` or :class:`SessionEnded` when the batch was not taken
        (the caller keeps it); once taken, it is delivered, resent after a reconnect if need be.
        """
        if len(self.unacked) >= self.max_unacked:
            self._waiting += 1
            try:
                async with self._room:
                    await self._room.wait_for(lambda: len(self.unacked) < self.max_unacked or not self.connected)
            finally:
                self._waiting -= 1
        if not self.connected:
            raise ConnectionLost("not connected")
        if self.ended.is_set():
            raise SessionEnded(self.session_id)
        await self._submit(event)

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every batch is acknowledged (or the timeout)."""
        async def drained() -> None:
            self._waiting += 1
            try:
                async with self._room:
                    await self._room.wait_for(lambda: not self.unacked or not self.connected)
            finally:
                self._waiting -= 1

        try:
            await asyncio.wait_for(drained(), timeout)
        except asyncio.TimeoutError:
            return False
        return not self.unacked

    async def request(self, op: str, **params: Any) -> dict:
        if self.conn is None:
            raise ConnectionLost("not connected")
        try:
            return await self.conn.request(op, session_id=self.session_id, **params)
        except RemoteError as exc:
            if exc.code in (Code.SESSION_ENDED, Code.SESSION_UNKNOWN, Code.SESSION_MISMATCH):
                self.ended.set()
                raise SessionEnded(exc.message) from None
            raise

    async def wait_lost(self) -> str:
        """Until the connection is lost or the session ended; says which."""
        assert self.conn is not None
        lost = asyncio.ensure_future(self.conn.wait_closed())
        ended = asyncio.ensure_future(self.ended.wait())
        done, pending = await asyncio.wait({lost, ended}, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        await self._notify()
        return "session_ended" if ended in done else "connection_lost"

    async def close(self) -> None:
        if self.conn is not None:
            if self.session_id and self.connected:
                try:
                    await asyncio.wait_for(self.conn.request("session.close", session_id=self.session_id), 5)
                except (RemoteError, ConnectionLost, asyncio.TimeoutError):
                    pass
            await self.conn.close()
            self.conn = None

    def stats(self) -> dict:
        return {"sent": self.sent, "batches": self.batches, "rows": self.rows, "acked": self.acked,
                "unacked": len(self.unacked),
                "resent": self.resent,
                "duplicates": self.duplicates, "refused": self.refused, "last_error": self.last_error}


class EchoSender(Sender):
    """Prints each event as a JSON line (the old pusher-echo)."""

    def __init__(self, out: Any = None) -> None:
        self.out = out or sys.stdout
        self.session_id = "echo"
        self.sent = 0

    @property
    def connected(self) -> bool:  # type: ignore[override]
        return True

    async def connect(self) -> None:
        return None

    async def open_session(self, **info: Any) -> dict:
        return {"session_id": "echo", "timeout": 30.0, "views": {"echo": "leader"}, "intervals": {}, "last_seq": 0}

    async def send(self, event: dict) -> None:
        self.sent += 1
        self.out.write(json.dumps(expand_groups(event), default=str) + "\n")
        self.out.flush()

    async def flush(self, timeout: float | None = None) -> bool:
        return True

    async def request(self, op: str, **params: Any) -> dict:
        if op == "audit.start":
            return {"audit_id": "echo-audit"}
        if op == "heartbeat":
            return {"views": {"echo": "leader"}, "commands": []}
        if op == "sentinel.tasks":
            return {"paths": []}
        self.out.write(json.dumps({"op": op, **params}, default=str) + "\n")
        return {}

    async def wait_lost(self) -> str:
        await asyncio.Event().wait()
        return "never"

    async def close(self) -> None:
        return None

    def stats(self) -> dict:
        return {"sent": self.sent}
