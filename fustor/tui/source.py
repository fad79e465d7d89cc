"""Where the console's data comes from: a control-plane source.

The app never holds a socket. It reads the latest ``status`` and the
connection state from a :class:`ControlSource`, and asks it questions
(``request``). Two kinds exist:

* :class:`fustor.tui.connection.ConnectionManager`: a real fusion or agent
  over the control plane (``fustor.client.ControlClient``), reconnecting with
  backoff;
* :class:`fustor.tui.fake.FakeSource`: fixed, in-memory replies, for snapshot
  tests and screenshots.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from fustor.client import ClientError

CONNECTING = "connecting"
CONNECTED = "connected"
DISCONNECTED = "disconnected"


class NotConnected(ClientError):
    """A request while the source has no connection (it is retrying)."""

    code = "not_connected"


@dataclass(frozen=True)
class ConnState:
    """What the status line says about the connection."""

    state: str  # connecting | connected | disconnected
    url: str
    access: str | None = None  # readonly | admin (from hello)
    server: str | None = None  # e.g. fustor-fusion/0.1.0
    reason: str | None = None  # why the last connection ended / failed
    retry_in: float | None = None  # seconds until the next attempt
    attempts: int = 0

    @property
    def kind(self) -> str | None:
        """``fusion`` or ``agent`` from the server name, ``None`` until known."""
        if not self.server:
            return None
        if "agent" in self.server:
            return "agent"
        if "fusion" in self.server:
            return "fusion"
        return None

    def line(self) -> str:
        """``connected to ws://… (fustor-fusion/0.1.0, admin)`` / ``disconnected, retrying in 4 s``."""
        if self.state == CONNECTED:
            extra = ", ".join(x for x in (self.server, self.access) if x)
            return f"connected to {self.url}" + (f" ({extra})" if extra else "")
        if self.state == CONNECTING:
            return f"connecting to {self.url}…" + (f" (attempt {self.attempts})" if self.attempts > 1 else "")
        wait = f", retrying in {max(0, int(round(self.retry_in)))} s" if self.retry_in is not None else ""
        why = f" — {self.reason}" if self.reason else ""
        return f"disconnected{wait}{why}"


class ControlSource:
    """The interface the app talks to (see the module doc).

    ``status_version`` grows with every new status, so the app's coalescing
    timer redraws only when something changed. Query helpers map to control
    ops one to one and return the reply's fields; they raise
    :class:`fustor.client.RemoteError` (an error reply) or
    :class:`NotConnected`.
    """

    def __init__(self) -> None:
        self.status: dict[str, Any] | None = None
        self.status_version = 0
        self.logs: deque[dict[str, Any]] = deque(maxlen=200)
        self.log_version = 0

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Begin connecting (returns at once; the state says how it goes)."""

    async def close(self) -> None:
        """Stop for good."""

    def reconnect_now(self) -> None:
        """Skip the rest of the backoff wait."""

    def state(self) -> ConnState:
        raise NotImplementedError

    # -- requests ------------------------------------------------------------------------

    async def request(self, op: str, /, **params: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _set_status(self, status: dict[str, Any]) -> None:
        self.status = status
        self.status_version += 1

    def _add_logs(self, lines: list[dict[str, Any]]) -> None:
        if lines:
            self.logs.extend(lines)
            self.log_version += 1

    async def ls(self, view: str, path: str, *, limit: int, cursor: str | None = None, sort: str = "name",
                 reverse: bool = False) -> dict[str, Any]:  # fmt: skip
        return await self.request("query.ls", view=view, path=path, limit=limit, cursor=cursor, sort=sort,
                                  reverse=reverse)

    async def stats(self, view: str, path: str) -> dict[str, Any]:
        return await self.request("query.stats", view=view, path=path)

    async def summary(self, view: str, path: str, *, force_real_time: bool | None = None,
                      timeout: float | None = None) -> dict[str, Any]:  # fmt: skip
        return await self.request("query.summary", view=view, path=path, force_real_time=force_real_time,
                                  timeout=timeout)

    async def search(self, pattern: str, *, view: str | None = None, limit: int = 200) -> dict[str, Any]:
        return await self.request("query.search", pattern=pattern, view=view, limit=limit)

    async def blind_spots(self, view: str, path: str, *, limit: int = 1000) -> dict[str, Any]:
        return await self.request("query.blind_spots", view=view, path=path, limit=limit)

    async def job_status(self, job_id: str) -> dict[str, Any]:
        return await self.request("job.status", job_id=job_id)

    async def config_list(self) -> dict[str, Any]:
        return await self.request("config.list")

    async def config_read(self, name: str) -> dict[str, Any]:
        return await self.request("config.read", name=name)

    async def config_validate(self, name: str, text: str) -> dict[str, Any]:
        return await self.request("config.validate", name=name, text=text)

    async def config_write(self, name: str, text: str) -> dict[str, Any]:
        return await self.request("config.write", name=name, text=text)
