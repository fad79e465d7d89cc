"""An in-process websocket server whose answers are scripted per op, for client tests.

It speaks the framing and the ``hello`` of docs/protocol.md and checks every
request against ``wire.REQUESTS`` (a malformed one gets a ``bad_message``
reply and is recorded in ``bad``), so client tests double as conformance
checks. Each op is answered by a handler ``fn(peer, msg)`` that returns the
reply's fields, raises :class:`WireError`, returns :data:`NO_REPLY`, or returns
an awaitable of one of those (answered in its own task, so replies can come
out of order).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from fustor.transport import wire
from fustor.transport.wire import Code, WireError

NO_REPLY = object()

Handler = Callable[["Peer", dict[str, Any]], Any]

DEFAULT_KEYS = {"pipe-key": "pipe", "ro-key": "readonly", "admin-key": "admin"}


async def until(cond: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll ``cond`` every 5 ms until it is true; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = cond()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


def run(coro: Any, timeout: float = 30.0) -> Any:
    """Run one test coroutine (pytest-asyncio is not a dependency)."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Peer:
    """One accepted connection, as handlers see it."""

    def __init__(self, server: "ScriptedServer", ws: ServerConnection, index: int, plane: str) -> None:
        self.server, self.ws, self.index, self.plane = server, ws, index, plane
        self.access: str | None = None
        self.client: str | None = None

    async def send(self, msg: dict[str, Any]) -> None:
        await self.ws.send(wire.encode(msg))

    async def push(self, kind: str, **fields: Any) -> None:
        await self.send(wire.push(kind, **fields))

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        self.ws.transport.abort()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.ws.close(code, reason)


class ScriptedServer:
    def __init__(self, handlers: dict[str, Handler] | None = None, *, keys: dict[str, str] | None = None) -> None:
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.keys = dict(DEFAULT_KEYS if keys is None else keys)
        #: every well-formed request after hello: (peer index, message)
        self.requests: list[tuple[int, dict[str, Any]]] = []
        #: requests the wire check refused: (peer index, frame, error code)
        self.bad: list[tuple[int, Any, str]] = []
        self.peers: list[Peer] = []
        #: hellos received: (peer index, message)
        self.hellos: list[tuple[int, dict[str, Any]]] = []
        #: a hello handler may replace the standard one: fn(peer, msg) -> reply fields
        self.hello_handler: Handler | None = None
        self._server: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def ops(self, op: str | None = None, peer: int | None = None) -> list[dict[str, Any]]:
        return [m for i, m in self.requests if (op is None or m["op"] == op) and (peer is None or i == peer)]

    async def __aenter__(self) -> "ScriptedServer":
        self._server = await serve(
            self._serve, "127.0.0.1", 0, compression=None, max_size=wire.MAX_FRAME, ping_interval=None
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._server.close()
        await self._server.wait_closed()

    def drop_all(self) -> None:
        for peer in self.peers:
            if peer.ws.transport is not None and not peer.ws.transport.is_closing():
                peer.abort()

    async def _serve(self, ws: ServerConnection) -> None:
        path = ws.request.path
        plane = {wire.PIPE_PATH: "pipe", wire.CONTROL_PATH: "control"}.get(path)
        if plane is None:
            await ws.close(1008, "unknown path")
            return
        peer = Peer(self, ws, len(self.peers), plane)
        self.peers.append(peer)
        try:
            if not await self._hello(peer):
                return
            async for frame in ws:
                try:
                    msg = wire.decode(frame)
                except WireError as exc:
                    self.bad.append((peer.index, frame, exc.code))
                    await peer.send(wire.error_reply(None, exc))
                    continue
                try:
                    req_id, op = wire.check_request(msg)
                except WireError as exc:
                    self.bad.append((peer.index, msg, exc.code))
                    await peer.send(wire.error_reply(msg.get("id"), exc))
                    continue
                self.requests.append((peer.index, msg))
                await self._answer(peer, req_id, op, msg)
        except ConnectionClosed:
            pass

    async def _hello(self, peer: Peer) -> bool:
        msg = wire.decode(await peer.ws.recv())
        req_id, op = wire.check_request(msg)
        self.hellos.append((peer.index, msg))
        if op != "hello":
            await peer.send(wire.error_reply(req_id, WireError(Code.HELLO_REQUIRED, "say hello first")))
            await peer.close(1008, Code.HELLO_REQUIRED)
            return False
        try:
            if self.hello_handler is not None:
                result = self.hello_handler(peer, msg)
            else:
                wire.check_version(msg["protocol"])
                access = self.keys.get(msg["key"])
                if access is None or (access == "pipe") != (peer.plane == "pipe"):
                    raise WireError(Code.UNAUTHORIZED, "this key is not valid here")
                result = {"protocol": wire.PROTOCOL_VERSION, "server": "scripted/0", "plane": peer.plane,
                          "access": access}  # fmt: skip
        except WireError as exc:
            await peer.send(wire.error_reply(req_id, exc))
            await peer.close(1008, exc.code)
            return False
        if result is NO_REPLY:
            return True
        peer.access, peer.client = result.get("access"), msg.get("client")
        await peer.send(wire.reply(req_id, **result))
        return True

    async def _answer(self, peer: Peer, req_id: Any, op: str, msg: dict[str, Any]) -> None:
        handler = self.handlers.get(op)
        if handler is None:
            await peer.send(wire.error_reply(req_id, WireError(Code.INTERNAL, f"{op} is not scripted")))
            return
        try:
            result = handler(peer, msg)
        except WireError as exc:
            await peer.send(wire.error_reply(req_id, exc))
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(self._finish(peer, req_id, result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        await self._reply(peer, req_id, result)

    async def _finish(self, peer: Peer, req_id: Any, awaitable: Any) -> None:
        try:
            result = await awaitable
        except WireError as exc:
            result = exc
        try:
            if isinstance(result, WireError):
                await peer.send(wire.error_reply(req_id, result))
            else:
                await self._reply(peer, req_id, result)
        except ConnectionClosed:
            pass

    async def _reply(self, peer: Peer, req_id: Any, result: Any) -> None:
        if result is NO_REPLY:
            return
        await peer.send(wire.reply(req_id, **(result or {})))
