"""A TCP proxy on loopback that can cut the network between an agent and fusion.

:class:`NetProxy` listens on ``127.0.0.1`` (port 0) and forwards every
connection to a target (fusion's receiver). It runs its own event loop in a
background thread, so a synchronous test drives it with plain calls::

    proxy = NetProxy(fusion.url).start()
    home = make_agent_home(..., fusion_url=proxy.url)
    ...
    proxy.stall()               # stop forwarding: what is sent now is in flight, unanswered
    proxy.cut(refuse_for=1.5)   # every connection reset at once (in-flight data lost),
                                # new ones refused for 1.5 s
    ...
    proxy.close()

A cut aborts both sides of every live connection (TCP reset, whatever was
buffered in the proxy is dropped, as when a link goes down), and while
``refuse_for`` lasts a new connection is accepted and reset at once, so the
agent's reconnects fail and back off. :meth:`resume` ends the refusal early.
:meth:`stall` stops forwarding without closing anything (a link that went
quiet): what either side sends meanwhile waits in the proxy and the kernel's
buffers, and a :meth:`cut` then drops it, so the batches an agent sent just
before the cut are certainly unacknowledged.
Nothing is simulated inside fusion or the agent: they see real resets.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

_CHUNK = 64 * 1024


@dataclass
class ProxyStats:
    accepted: int = 0  # connections forwarded to the target
    refused: int = 0  # connections reset while refusing
    cut: int = 0  # connections reset by cut()
    cuts: int = 0  # calls to cut()
    bytes_up: int = 0  # client -> target
    bytes_down: int = 0  # target -> client
    failed_upstream: int = 0  # the target could not be reached
    events: list[tuple[float, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "events"}


class _Link:
    """One proxied connection: two sockets and the two pumps between them."""

    def __init__(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        self.cr, self.cw = cr, cw
        self.tw: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task] = []

    def abort(self) -> None:
        for w in (self.cw, self.tw):
            if w is not None:
                transport = w.transport
                if transport is not None and not transport.is_closing():
                    transport.abort()
        for t in self.tasks:
            t.cancel()


class NetProxy:
    def __init__(self, target: str) -> None:
        if "://" not in target:
            target = "tcp://" + target
        parts = urlsplit(target)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"{target!r}: a target needs a host and a port")
        self.target_host = parts.hostname
        self.target_port = parts.port
        self.port = 0
        self.stats = ProxyStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._links: set[_Link] = set()
        self._refuse_until = 0.0
        self._flowing: asyncio.Event | None = None

    # --- from the test's thread ------------------------------------------------------

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:PORT``: give this to the agent instead of fusion's URL."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def live(self) -> int:
        return len(self._links)

    def start(self, timeout: float = 10.0) -> "NetProxy":
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._flowing = asyncio.Event()
            self._flowing.set()
            try:
                self._server = loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", 0))
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # pragma: no cover - binding loopback port 0 does not fail
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="netproxy", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("the proxy did not start")
        if failure:
            raise failure[0]
        return self

    def cut(self, refuse_for: float = 0.0) -> int:
        """Reset every live connection; refuse new ones for ``refuse_for`` s. How many were cut."""
        return self._call(self._cut(refuse_for))

    def resume(self) -> None:
        """Accept connections again now (ends a refusal early) and forward again (ends a stall)."""
        self._refuse_until = 0.0
        self._call(self._set_flowing(True))
        self._note("resume")

    def stall(self) -> None:
        """Stop forwarding on every connection (nothing is closed); :meth:`cut` or :meth:`resume` ends it."""
        self._call(self._set_flowing(False))
        self._note("stall")

    def refusing(self) -> bool:
        return time.monotonic() < self._refuse_until

    def close(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> "NetProxy":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- inside the proxy's loop -------------------------------------------------------

    def _call(self, coro: Any, timeout: float = 10.0) -> Any:
        assert self._loop is not None, "the proxy is not running"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _note(self, what: str) -> None:
        self.stats.events.append((time.time(), what))

    async def _set_flowing(self, on: bool) -> None:
        assert self._flowing is not None
        self._flowing.set() if on else self._flowing.clear()

    async def _cut(self, refuse_for: float) -> int:
        self._refuse_until = time.monotonic() + refuse_for
        links = list(self._links)
        for link in links:
            link.abort()
        self._links.clear()
        await self._set_flowing(True)  # new connections forward again
        self.stats.cuts += 1
        self.stats.cut += len(links)
        self._note(f"cut {len(links)} connection(s), refusing for {refuse_for:g} s")
        return len(links)

    async def _accept(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        link = _Link(cr, cw)
        if self.refusing():
            self.stats.refused += 1
            link.abort()
            return
        try:
            tr, tw = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            self.stats.failed_upstream += 1
            link.abort()
            return
        if self.refusing():  # a cut happened while connecting upstream
            link.tw = tw
            self.stats.refused += 1
            link.abort()
            return
        link.tw = tw
        self._links.add(link)
        self.stats.accepted += 1
        up = asyncio.ensure_future(self._pump(cr, tw, "bytes_up"))
        down = asyncio.ensure_future(self._pump(tr, cw, "bytes_down"))
        link.tasks = [up, down]
        try:
            await asyncio.wait({up, down})  # each ends at its side's EOF (passed on) or error
        except asyncio.CancelledError:
            pass  # the proxy is closing (asyncio logs a connection callback that ends cancelled)
        finally:
            self._links.discard(link)
            link.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: str) -> None:
        flowing = self._flowing
        assert flowing is not None
        try:
            while True:
                if not flowing.is_set():
                    await flowing.wait()
                data = await reader.read(_CHUNK)
                if not data:
                    if writer.can_write_eof() and not writer.transport.is_closing():
                        writer.write_eof()  # pass the half-close on
                    return
                if not flowing.is_set():
                    await flowing.wait()  # stalled while this chunk was read: hold it
                writer.write(data)
                setattr(self.stats, counter, getattr(self.stats, counter) + len(data))
                await writer.drain()
        except (ConnectionError, OSError):
            # One side broke: reset the other side too.
            for t in (writer.transport, getattr(reader, "_transport", None)):
                if t is not None and not t.is_closing():
                    t.abort()
        except asyncio.CancelledError:
            return

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.abort()
        self._links.clear()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
