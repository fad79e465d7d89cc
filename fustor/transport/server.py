"""The websocket adapter: receivers listening for both planes.

Each receiver serves ``/api/v1/pipe`` (agents) and ``/api/v1/control``
(console, CLI, scripts). A connection's frames go to a
:class:`~fustor.transport.protocol.ServerProtocol`; data-plane requests are
handled in order (their order is the session's order), control-plane ones
too, except those that may wait (``wire.WAITING_OPS``), which run beside the
next ones (a slow force-real-time query must not hold up the next keypress
of the console). Replies are written by the task that made them, in the
same turn of the loop; a writer task per connection sends the rest (acks
after an apply, pushes). Big data-plane frames take turns
(:class:`FrameTurns`) so that many agents sending at once do not make a
control-plane query wait for all of their batches.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

from . import wire
from .protocol import ServerProtocol

log = logging.getLogger("fustor.transport.server")

_PLANES = {wire.PIPE_PATH: "pipe", wire.CONTROL_PATH: "control"}
_CONTROL_CONCURRENCY = 32
#: Data-plane frames at least this big wait for their turn (:class:`FrameTurns`);
#: heartbeats and other small requests never do.
_BIG_FRAME = 16 * 1024


class FrameTurns:
    """At most one big data-plane frame is decoded per event-loop turn; control requests go first.

    Decoding and validating a 1,000-row batch takes a millisecond or two of
    CPU without yielding. With many agents sending at once, every
    connection's handler would do that in the same turn of the loop, and a
    control-plane query would wait for all of them: its latency would grow
    with the number of agents. Taking turns bounds a loop turn to one batch
    (plus one apply slice of each pipe), whatever the number of agents; the
    pipes' bounded queues keep ingest throughput where it was.

    A control request takes a few turns to be read, answered and written.
    :meth:`hold` lets the next turns pass with no batch decoded, so those
    turns are short; at most :attr:`MAX_HELD` turns in a row are held, so a
    busy console cannot starve the agents.
    """

    MAX_HELD = 4

    def __init__(self) -> None:
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._used = False  # a big frame was (or will be) decoded in this turn
        self._ticking = False  # a _turn_over is scheduled for the next turn
        self._hold = 0
        self._held = 0

    async def take(self) -> None:
        """Return in a turn no other big frame uses (now, or a later turn)."""
        if not self._used and not self._hold and not self._waiters:
            self._used = True
            self._tick()
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._tick()
        await fut  # a cancelled waiter's future is cancelled too, and skipped

    def hold(self, turns: int = 2) -> None:
        """Keep the next ``turns`` turns free of batches (a control request is on its way)."""
        self._hold = max(self._hold, turns)
        self._tick()

    def _tick(self) -> None:
        if not self._ticking:
            self._ticking = True
            # Callbacks scheduled now run in the next turn of the loop.
            asyncio.get_running_loop().call_soon(self._turn_over)

    def _turn_over(self) -> None:
        self._ticking = False
        self._used = False
        if self._hold:
            self._hold -= 1
            if self._held < self.MAX_HELD:
                self._held += 1
                self._used = True
                self._tick()
                return
        self._held = 0
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # its task runs in the next turn, as does the next _turn_over
                self._used = True
                self._tick()
                return
        if self._hold:
            self._tick()


class WebSocketPeer:
    def __init__(self, ws: ServerConnection, plane: str) -> None:
        self.ws = ws
        self.plane = plane
        remote = ws.remote_address
        self.remote = f"{remote[0]}:{remote[1]}" if remote else "?"
        self.access: str | None = None
        self.grants: frozenset[str] = frozenset()
        self.state: dict[str, Any] = {}
        self.gone = False
        self._out: collections.deque[str | None] = collections.deque()
        self._wake = asyncio.Event()
        self._sending = False
        self._closed = False  # the close frame was sent
        self._close: tuple[int, str] | None = None

    def send(self, msg: dict[str, Any]) -> None:
        if not self.gone:
            self._out.append(wire.encode(msg))
            self._wake.set()

    def close(self, code: int, reason: str) -> None:
        if not self.gone and self._close is None:
            self._close = (code, reason)
            self._out.append(None)
            self._wake.set()

    async def flush(self) -> None:
        """Write what is queued now, in this task (a reply need not wait for the writer's turn).

        One task writes at a time, in queue order; a flush that finds
        another one writing leaves the queue to it.
        """
        if self._sending:
            return
        self._sending = True
        try:
            out = self._out
            while out:
                frame = out.popleft()
                if frame is None:
                    code, reason = self._close or (1000, "")
                    self._closed = True
                    await self.ws.close(code, reason)
                    return
                await self.ws.send(frame)
        finally:
            self._sending = False

    async def writer(self) -> None:
        """Write what other tasks queue (acks after an apply, pushes) until the close is sent."""
        try:
            while not self._closed:
                await self._wake.wait()
                self._wake.clear()
                await self.flush()
        except ConnectionClosed:
            return


class Listeners:
    """The running websocket servers, one per receiver."""

    def __init__(self, service: Any, server_name: str) -> None:
        self.service = service
        self.server_name = server_name
        self._servers: dict[str, tuple[Server, Any]] = {}
        self._turns = FrameTurns()
        #: called after :meth:`apply` changed what listens (the app rewrites its state file)
        self.on_change: Any = None

    def port_of(self, name: str) -> int | None:
        entry = self._servers.get(name)
        if entry is None:
            return None
        for sock in entry[0].sockets:
            return sock.getsockname()[1]
        return None

    def urls(self) -> dict[str, str]:
        out = {}
        for name, (_, cfg) in self._servers.items():
            scheme = "wss" if cfg.tls else "ws"
            host = cfg.bind if ":" not in cfg.bind else f"[{cfg.bind}]"
            out[name] = f"{scheme}://{host}:{self.port_of(name)}"
        return out

    async def start(self, receivers: dict[str, Any]) -> None:
        for name, cfg in receivers.items():
            await self._start_one(name, cfg)

    async def _start_one(self, name: str, cfg: Any) -> None:
        ctx = None
        if cfg.tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cfg.tls.cert, cfg.tls.key)
        server = await serve(
            self._handle,
            cfg.bind,
            cfg.port,
            ssl=ctx,
            compression=None,
            max_size=getattr(cfg, "max_frame", wire.MAX_FRAME),
            max_queue=(2, 1),
            process_request=self._route,
            server_header=self.server_name,
            ping_interval=20,
            ping_timeout=60,
        )
        self._servers[name] = (server, cfg)
        log.info("receiver %s listening on %s", name, self.urls()[name])

    def changes(self, receivers: dict[str, Any]) -> list[str]:
        """Receivers that :meth:`apply` would restart, start or stop."""
        out = [name for name in self._servers if name not in receivers]
        for name, cfg in receivers.items():
            old = self._servers.get(name)
            if old is None or (old[1].bind, old[1].port, old[1].tls, getattr(old[1], "max_frame", None)) != (
                    cfg.bind, cfg.port, cfg.tls, getattr(cfg, "max_frame", None)):
                out.append(name)
        return out

    async def apply(self, receivers: dict[str, Any]) -> list[str]:
        """Restart receivers whose bind, port or TLS changed; start new ones, stop removed ones."""
        restarted = []
        for name in list(self._servers):
            if name not in receivers:
                await self._stop_one(name)
                restarted.append(name)
        for name, cfg in receivers.items():
            old = self._servers.get(name)
            if old is not None and (old[1].bind, old[1].port, old[1].tls, getattr(old[1], "max_frame", None)) == (
                cfg.bind, cfg.port, cfg.tls, getattr(cfg, "max_frame", None)):
                self._servers[name] = (old[0], cfg)
                continue
            if old is not None:
                await self._stop_one(name)
            await self._start_one(name, cfg)
            restarted.append(name)
        if restarted and self.on_change is not None:
            self.on_change()
        return restarted

    async def _stop_one(self, name: str) -> None:
        server, _ = self._servers.pop(name)
        server.close()
        try:
            await asyncio.wait_for(server.wait_closed(), 10)
        except asyncio.TimeoutError:
            log.warning("receiver %s: connections still closing after 10 s", name)

    async def close(self) -> None:
        for name in list(self._servers):
            await self._stop_one(name)

    @staticmethod
    def _route(connection: ServerConnection, request: Any) -> Response | None:
        if request.path.split("?", 1)[0] not in _PLANES:
            body = f"no such endpoint; use {wire.PIPE_PATH} or {wire.CONTROL_PATH}\n".encode()
            return Response(404, "Not Found", Headers([("Content-Type", "text/plain")]), body)
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        plane = _PLANES[ws.request.path.split("?", 1)[0]]
        peer = WebSocketPeer(ws, plane)
        proto = ServerProtocol(peer, self.service.authenticate, self.service.dispatch, self.server_name)
        writer = asyncio.get_running_loop().create_task(peer.writer())
        running: set[asyncio.Task] = set()
        limit = asyncio.Semaphore(_CONTROL_CONCURRENCY)

        async def concurrent(request: Any) -> None:
            async with limit:
                await proto.handle(request)
                await peer.flush()

        try:
            try:
                first = await asyncio.wait_for(ws.recv(), wire.HELLO_TIMEOUT)
            except asyncio.TimeoutError:
                await ws.close(1008, "hello_required")
                return
            await proto.receive(first)
            await peer.flush()
            async for frame in ws:
                if proto.closed:
                    break
                if plane == "control" and proto.authenticated:
                    self._turns.hold()
                    request = proto.parse(frame)
                    if request is None:
                        await peer.flush()
                    elif request.op in wire.WAITING_OPS:
                        task = asyncio.get_running_loop().create_task(concurrent(request))
                        running.add(task)
                        task.add_done_callback(running.discard)
                    else:
                        # Answered now, in this turn: a console's query does not
                        # wait for two more turns of the loop (the writer's, a task's).
                        await proto.handle(request)
                        await peer.flush()
                else:
                    if len(frame) >= _BIG_FRAME:
                        await self._turns.take()
                    await proto.receive(frame)
                    await peer.flush()
        except ConnectionClosed:
            pass
        finally:
            peer.gone = True
            for t in running:
                t.cancel()
            self.service.peer_gone(peer)
            if proto.closed and peer._close is not None:
                # Flush the error reply, then the policy close.
                try:
                    await asyncio.wait_for(writer, 2)
                except (asyncio.TimeoutError, Exception):
                    writer.cancel()
            else:
                writer.cancel()
