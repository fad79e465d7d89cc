"""The connection manager: one control-plane connection that heals itself.

:class:`ConnectionManager` owns the :class:`fustor.client.ControlClient`. It
connects, subscribes to the live stream and keeps the latest ``status`` push
(fusion and agents push at most every 0.5 s); when the process goes away it
says so (``disconnected, retrying in 4 s``) and reconnects with backoff
(``backoff_initial`` doubling to ``backoff_max``; a connection that stayed up
resets it). Nothing here raises into the app: the console never crashes or
freezes because a process went away. Requests made while disconnected fail
at once with :class:`~fustor.tui.source.NotConnected`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fustor import __version__
from fustor.client import ClientError, ConnectionLost, ControlClient, Refused, RequestTimeout

from .source import CONNECTED, CONNECTING, DISCONNECTED, ConnState, ControlSource, NotConnected

log = logging.getLogger("fustor.tui.connection")

Connector = Callable[..., Awaitable[ControlClient]]


class ConnectionManager(ControlSource):
    def __init__(
        self, url: str, key: str, *, connector: Connector | None = None, backoff_initial: float = 1.0,
        backoff_max: float = 30.0, open_timeout: float = 5.0, request_timeout: float = 20.0,
        ping_interval: float | None = 5.0, clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        super().__init__()
        self.url = url
        self.key = key
        self._connector = connector or ControlClient.connect
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.open_timeout = open_timeout
        self.request_timeout = request_timeout
        self.ping_interval = ping_interval
        self._clock = clock
        self.client: ControlClient | None = None
        self.hello: dict[str, Any] = {}
        self.connects = 0
        self._state = CONNECTING
        self._reason: str | None = None
        self._retry_at: float | None = None
        self._attempts = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name=f"fustor-tui connection {self.url}")

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        client, self.client = self.client, None
        if client is not None:
            try:
                await asyncio.wait_for(client.close(), 2.0)
            except Exception:  # pragma: no cover - closing a broken socket
                log.debug("close failed", exc_info=True)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def reconnect_now(self) -> None:
        self._wake.set()

    def state(self) -> ConnState:
        retry_in = None
        if self._state == DISCONNECTED and self._retry_at is not None:
            retry_in = max(0.0, self._retry_at - self._clock())
        return ConnState(self._state, self.url, self.hello.get("access"), self.hello.get("server"), self._reason,
                         retry_in, self._attempts)

    # -- requests ------------------------------------------------------------------------

    async def request(self, op: str, /, **params: Any) -> dict[str, Any]:
        client = self.client
        if client is None or self._state != CONNECTED:
            st = self.state()
            raise NotConnected(f"not connected ({st.line()})")
        timeout = self.request_timeout
        if op == "query.summary" and params.get("timeout"):
            timeout = max(timeout, float(params["timeout"]) + 10.0)
        try:
            return await client.conn.request(op, request_timeout=timeout, **params)
        except RequestTimeout:
            raise
        except ConnectionLost as exc:
            raise NotConnected(f"the connection went away during {op}: {exc}") from None

    # -- the loop --------------------------------------------------------------------------

    def _delay(self) -> float:
        return min(self.backoff_max, self.backoff_initial * (2 ** max(0, self._attempts - 1)))

    async def _run(self) -> None:
        while not self._closing:
            self._attempts += 1
            self._state = CONNECTING
            try:
                client = await self._connector(
                    self.url, self.key, client=f"fustor-tui/{__version__}", open_timeout=self.open_timeout,
                    ping_interval=self.ping_interval, ping_timeout=self.ping_interval,
                )  # fmt: skip
            except asyncio.CancelledError:
                raise
            except Refused as exc:
                self._reason = f"refused: {exc.message} [{exc.code}]"
            except ClientError as exc:
                self._reason = str(exc)
            except Exception as exc:  # never let the console die of a connection problem
                log.exception("connecting to %s failed", self.url)
                self._reason = f"{type(exc).__name__}: {exc}"
            else:
                await self._serve(client)
            if self._closing:
                break
            delay = self._delay()
            self._retry_at = self._clock() + delay
            self._state = DISCONNECTED
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass
            self._retry_at = None

    async def _serve(self, client: ControlClient) -> None:
        self.client = client
        self.hello = dict(client.conn.hello)
        self.connects += 1
        started = self._clock()
        try:
            reply = await client.conn.request("subscribe", request_timeout=self.request_timeout)
            if isinstance(reply.get("status"), dict):
                self._set_status(reply["status"])
            self._add_logs(list(reply.get("log") or []))
            self._state = CONNECTED
            self._attempts = 0
            self._reason = None
            async for msg in client.pushes():
                kind = msg.get("push")
                if kind == "status":
                    self._set_status({k: v for k, v in msg.items() if k != "push"})
                elif kind == "log":
                    self._add_logs([{k: v for k, v in msg.items() if k != "push"}])
            # pushes() ends only when we closed it
        except asyncio.CancelledError:
            raise
        except ConnectionLost as exc:
            self._reason = _lost_reason(exc)
        except ClientError as exc:
            self._reason = str(exc)
        except Exception as exc:
            log.exception("the live stream from %s failed", self.url)
            self._reason = f"{type(exc).__name__}: {exc}"
        finally:
            self.client = None
            if self._state == CONNECTED and self._clock() - started > 10:
                self._attempts = 0
            self._state = DISCONNECTED
            try:
                await asyncio.wait_for(client.close(), 2.0)
            except Exception:
                pass


def _lost_reason(exc: ConnectionLost) -> str:
    if exc.close_code in (1001, 1006, None):
        return "connection lost"
    return f"connection closed ({exc.close_code}{': ' + exc.close_reason if exc.close_reason else ''})"
