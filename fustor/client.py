"""The async client SDK of both planes (see ``docs/protocol.md``).

:class:`Connection` is one websocket to a fusion (or an agent's control
endpoint): it says ``hello``, numbers requests, matches replies to them by
``re`` so that many requests can be in flight at once, and delivers pushes.
:class:`ControlClient` and :class:`PipeClient` are thin typed wrappers whose
methods map one to one to the ops of ``fustor.transport.wire.REQUESTS``.

Scripts, ``fustor query``, the console and the simulated agent
(``fustor.testing.simagent``) all talk through this module::

    async with await ControlClient.connect("ws://127.0.0.1:8102", key) as c:
        print(await c.summary("archive", "/submissions/S123"))

Errors: :class:`RemoteError` (an error reply: ``code``, ``message``,
``details``), :class:`Refused` (the ``hello`` or the websocket handshake was
refused), :class:`ConnectionLost` (the connection went away; every pending
request fails with it), :class:`RequestTimeout` (a per-request timeout).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from fustor import __version__ as _FUSTOR_VERSION
from fustor.core.errors import FustorError
from fustor.transport import wire

log = logging.getLogger("fustor.client")

__all__ = [
    "ClientError", "Connection", "ConnectionLost", "ControlClient", "PipeClient", "Refused", "RemoteError",
    "RequestTimeout", "Unreachable", "plane_url",
]  # fmt: skip

PushCallback = Callable[[dict[str, Any]], Awaitable[None] | None]

_UNSET: Any = object()
_PLANE_PATHS = {"pipe": wire.PIPE_PATH, "control": wire.CONTROL_PATH}
#: websocket close code of a policy violation (bad key, bad version, no hello, too many bad messages).
CLOSE_POLICY = 1008
#: websocket close code of a frame over :data:`fustor.transport.wire.MAX_FRAME`.
CLOSE_TOO_BIG = 1009


# --- errors -----------------------------------------------------------------------


class ClientError(FustorError):
    """Base of the errors this module raises; ``code`` is a stable string."""

    code = "client_error"


class RemoteError(ClientError):
    """The peer answered a request with ``ok: false``.

    ``code`` is one of :class:`fustor.transport.wire.Code`; ``op`` and
    ``request_id`` name the request that failed.
    """

    def __init__(
        self, code: str, message: str, details: dict[str, Any] | None = None, *, op: str | None = None,
        request_id: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(message, **(details or {}))
        self.code = code
        self.op = op
        self.request_id = request_id

    def __str__(self) -> str:
        where = f"{self.op}: " if self.op else ""
        return f"{where}{self.message} [{self.code}]"


class Refused(RemoteError):
    """The peer refused the connection: ``hello`` answered with an error
    (``unauthorized``, ``protocol_version`` ...), the connection was closed
    with a policy code during ``hello``, or the websocket handshake got an
    HTTP error (``code`` ``http_<status>``)."""


class ConnectionLost(ClientError):
    """The connection is gone; requests still waiting for a reply fail with it.

    ``close_code`` / ``close_reason`` are the websocket close frame's, when
    there was one (1008: policy, 1009: frame too big, see docs/protocol.md).
    """

    code = "connection_lost"

    def __init__(self, message: str, close_code: int | None = None, close_reason: str | None = None) -> None:
        super().__init__(message, close_code=close_code, close_reason=close_reason)
        self.close_code = close_code
        self.close_reason = close_reason


class Unreachable(ConnectionLost):
    """No connection could be made (refused TCP connection, DNS, timeout)."""

    code = "unreachable"


class RequestTimeout(ClientError, TimeoutError):
    """No reply within the per-request timeout. The request may still run on the peer."""

    code = "timeout"


# --- urls -------------------------------------------------------------------------


def plane_url(url: str, plane: str = "pipe") -> str:
    """The websocket URL of ``plane`` at ``url``.

    ``url`` may be a full endpoint (``ws://h:8102/api/v1/pipe``, used as is)
    or a base (``ws://h:8102``, ``h:8102``, ``http://h:8102``), to which the
    plane's path is added. ``http``/``https`` become ``ws``/``wss``.
    """
    if plane not in _PLANE_PATHS:
        raise ValueError(f"plane must be 'pipe' or 'control', not {plane!r}")
    if "://" not in url:
        url = "ws://" + url
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"{url!r}: the scheme must be ws:// or wss://")
    path = parts.path if parts.path not in ("", "/") else _PLANE_PATHS[plane]
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


# --- the connection ---------------------------------------------------------------


class Connection:
    """One websocket that has said ``hello``. Make it with :meth:`open`.

    A reader task reads every frame: a reply completes the future of the
    request it names (``re``), a push goes to ``on_push`` when one was given,
    else to :attr:`pushes` (an ``asyncio.Queue`` bounded by
    ``push_queue_size``; when full, the oldest push is dropped and
    :attr:`pushes_dropped` counts it). When the connection goes away every
    pending request fails with :class:`ConnectionLost`.
    """

    def __init__(
        self, ws: ClientConnection, *, url: str, plane: str, on_push: PushCallback | None = None,
        push_queue_size: int = 10_000, request_timeout: float | None = None,
    ) -> None:  # fmt: skip
        self.url = url
        self.plane = plane
        self.request_timeout = request_timeout
        #: the ``hello`` reply: protocol, server, plane, access, pipes
        self.hello: dict[str, Any] = {}
        self.pushes: asyncio.Queue[dict[str, Any]] = asyncio.Queue(push_queue_size)
        self.pushes_dropped = 0
        self.frames_sent = 0
        self.frames_received = 0
        self._ws = ws
        self._on_push = on_push
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[asyncio.Future[dict[str, Any]], str]] = {}
        self._push_tasks: set[asyncio.Task[Any]] = set()
        self._lost: ConnectionLost | None = None
        self._closing = False
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read_loop(), name=f"fustor-client-reader {url}")

    # -- opening -------------------------------------------------------------------

    @classmethod
    async def open(
        cls, url: str, key: str, *, plane: str = "pipe", client: str | None = None, open_timeout: float | None = 10.0,
        request_timeout: float | None = None, on_push: PushCallback | None = None, push_queue_size: int = 10_000,
        ssl: Any = None, proxy: str | bool | None = None, ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
    ) -> "Connection":  # fmt: skip
        """Connect to ``plane`` at ``url`` and say ``hello`` with ``key``.

        ``open_timeout`` bounds the TCP/websocket handshake and the ``hello``
        together. ``request_timeout`` is the default of :meth:`request`
        (``None``: wait as long as it takes, which is what event batches need,
        since fusion withholds acks as backpressure). ``proxy`` is ``None``
        (connect directly) by default: fusion is on loopback or the LAN, and
        an ``HTTP_PROXY`` set for the web must not capture it; pass ``True``
        to honour the environment. Raises :class:`Refused` or
        :class:`Unreachable`.
        """
        full = plane_url(url, plane)
        kwargs: dict[str, Any] = {}
        if ssl is not None:
            kwargs["ssl"] = ssl
        conn: Connection | None = None
        try:
            async with asyncio.timeout(open_timeout):
                try:
                    ws = await connect(
                        full, compression=None, max_size=wire.MAX_FRAME, open_timeout=None, proxy=proxy,
                        ping_interval=ping_interval, ping_timeout=ping_timeout,
                        user_agent_header=f"fustor-client/{_FUSTOR_VERSION}", **kwargs,
                    )  # fmt: skip
                except InvalidStatus as exc:
                    status = exc.response.status_code
                    raise Refused(
                        f"http_{status}", f"{full}: the websocket handshake was refused with HTTP {status}",
                        {"status": status}, op="hello",
                    ) from None  # fmt: skip
                except (OSError, InvalidHandshake, InvalidURI) as exc:
                    raise Unreachable(f"cannot connect to {full}: {exc}") from exc
                conn = cls(
                    ws, url=full, plane=plane, on_push=on_push, push_queue_size=push_queue_size,
                    request_timeout=request_timeout,
                )  # fmt: skip
                params: dict[str, Any] = {"protocol": wire.PROTOCOL_VERSION, "key": key}
                if client:
                    params["client"] = client
                try:
                    conn.hello = await conn.request("hello", **params)
                except RemoteError as exc:
                    raise Refused(exc.code, exc.message, exc.details, op="hello", request_id=exc.request_id) from None
                except ConnectionLost as exc:
                    if exc.close_code == CLOSE_POLICY:
                        code = exc.close_reason if exc.close_reason in _KNOWN_CODES else "refused"
                        raise Refused(
                            code, f"{full}: connection closed by policy during hello: {exc.close_reason or '-'}",
                            {"close_code": exc.close_code}, op="hello",
                        ) from None  # fmt: skip
                    raise
        except TimeoutError:
            if conn is not None:
                await conn.close()
            raise Unreachable(f"{full}: no connection and hello within {open_timeout} s") from None
        except BaseException:
            if conn is not None:
                await conn.close()
            raise
        return conn

    # -- state ---------------------------------------------------------------------

    @property
    def access(self) -> str | None:
        """``pipe``, ``readonly`` or ``admin`` (from the ``hello`` reply)."""
        return self.hello.get("access")

    @property
    def server(self) -> str | None:
        return self.hello.get("server")

    @property
    def closed(self) -> bool:
        return self._closed.done()

    @property
    def lost(self) -> ConnectionLost | None:
        """Why the connection ended (``None`` while it is open)."""
        return self._lost

    @property
    def pending(self) -> int:
        """Requests sent and not answered yet."""
        return len(self._pending)

    async def wait_closed(self) -> ConnectionLost:
        """Wait until the connection ends; the :class:`ConnectionLost` that ended it."""
        await asyncio.shield(self._closed)
        assert self._lost is not None
        return self._lost

    # -- requests ------------------------------------------------------------------

    async def submit(self, op: str, /, **params: Any) -> asyncio.Future[dict[str, Any]]:
        """Write one request frame; return the future of its reply.

        The frame is on the wire (in the order of calls) when this returns,
        which lets a caller pipeline ordered requests (event batches) and
        collect the replies later. ``None`` params are left out (absent and
        ``null`` mean the same on the wire). The future fails with
        :class:`RemoteError` or :class:`ConnectionLost`.
        """
        return (await self._submit(op, params))[1]

    async def request(self, op: str, /, *, request_timeout: float | None = _UNSET, **params: Any) -> dict[str, Any]:
        """Send ``op`` with ``params`` and return the reply's result fields.

        ``request_timeout`` (seconds; default the connection's) raises
        :class:`RequestTimeout` when no reply came in time; a late reply is
        then ignored. Named so as not to clash with the ``timeout`` field of
        ``query.summary`` and ``scan``.
        """
        req_id, fut = await self._submit(op, params)
        timeout = self.request_timeout if request_timeout is _UNSET else request_timeout
        try:
            if timeout is None:
                return await fut
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation
            # of the caller that lands as the reply arrives (gh-86296).
            async with asyncio.timeout(timeout):
                return await fut
        except TimeoutError:
            if fut.cancelled():
                raise RequestTimeout(f"{op}: no reply within {timeout} s", op=op) from None
            raise
        finally:
            if fut.cancelled():  # timed out, or the caller was cancelled: forget the request
                self._pending.pop(req_id, None)

    async def _submit(self, op: str, params: dict[str, Any]) -> tuple[int, asyncio.Future[dict[str, Any]]]:
        if self._lost is not None:
            raise self._lost
        req_id = next(self._ids)
        msg: dict[str, Any] = {"id": req_id, "op": op}
        for name, value in params.items():
            if value is not None:
                msg[name] = value
        frame = wire.encode_bytes(msg)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = (fut, op)
        try:
            await self._ws.send(frame, text=True)
        except ConnectionClosed:
            self._pending.pop(req_id, None)
            self._mark_lost()
            assert self._lost is not None
            raise self._lost from None
        except BaseException:
            self._pending.pop(req_id, None)
            raise
        self.frames_sent += 1
        return req_id, fut

    # -- pushes --------------------------------------------------------------------

    async def next_push(self, timeout: float | None = None) -> dict[str, Any]:
        """The next push from :attr:`pushes`; :class:`ConnectionLost` once the
        connection ended and the queue is empty; ``TimeoutError`` after ``timeout``."""
        if not self.pushes.empty():
            return self.pushes.get_nowait()
        if self._lost is not None:
            raise self._lost
        getter = asyncio.ensure_future(self.pushes.get())
        try:
            done, _ = await asyncio.wait({getter, self._closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
        if getter in done:
            return getter.result()
        if not done:
            raise TimeoutError(f"no push within {timeout} s")
        assert self._lost is not None
        raise self._lost

    async def iter_pushes(self) -> AsyncIterator[dict[str, Any]]:
        """Pushes as they come; ends when :meth:`close` was called, raises
        :class:`ConnectionLost` when the peer went away."""
        while True:
            try:
                yield await self.next_push()
            except ConnectionLost:
                if self._closing:
                    return
                raise

    # -- closing -------------------------------------------------------------------

    async def close(self) -> None:
        """Close the websocket (normal closure); pending requests fail with :class:`ConnectionLost`."""
        self._closing = True
        try:
            await self._ws.close()
        except Exception:  # pragma: no cover - closing a broken socket
            log.debug("error while closing %s", self.url, exc_info=True)
        self._mark_lost("closed by the client")
        if not self._reader.done():
            self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)

    async def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (tests, stuck peers)."""
        self._closing = True
        transport = getattr(self._ws, "transport", None)
        if transport is not None:
            transport.abort()
        await self.close()

    async def __aenter__(self) -> "Connection":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- internals -----------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            async for frame in self._ws:
                self.frames_received += 1
                try:
                    msg = wire.decode(frame)
                except wire.WireError as exc:
                    log.warning("%s: unreadable frame from the server: %s", self.url, exc.message)
                    continue
                if "re" in msg:
                    self._dispatch_reply(msg)
                elif "push" in msg:
                    self._dispatch_push(msg)
                else:
                    log.warning("%s: a frame that is neither a reply nor a push: %.200r", self.url, msg)
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: the reader failed", self.url)
        finally:
            self._mark_lost()

    def _dispatch_reply(self, msg: dict[str, Any]) -> None:
        req_id = msg.get("re")
        entry = self._pending.pop(req_id, None) if isinstance(req_id, int) else None
        if entry is None:
            if req_id is None and not msg.get("ok"):
                # The server could not read one of our frames well enough to name it.
                log.warning("%s: the server refused a frame: %s", self.url, msg.get("error"))
            else:
                log.debug("%s: a reply to no pending request (re=%r), ignored", self.url, req_id)
            return
        fut, op = entry
        if fut.done():
            return
        if msg.get("ok") is True:
            fut.set_result({k: v for k, v in msg.items() if k not in ("re", "ok")})
            return
        err = msg.get("error")
        if not isinstance(err, dict):
            err = {"code": wire.Code.BAD_MESSAGE, "message": f"malformed error reply: {msg!r:.200}"}
        details = err.get("details")
        fut.set_exception(
            RemoteError(
                str(err.get("code") or wire.Code.INTERNAL), str(err.get("message") or ""),
                details if isinstance(details, dict) else ({"details": details} if details is not None else None),
                op=op, request_id=req_id,
            )
        )  # fmt: skip

    def _dispatch_push(self, msg: dict[str, Any]) -> None:
        if self._on_push is not None:
            try:
                result = self._on_push(msg)
            except Exception:
                log.exception("%s: the push handler failed on %s", self.url, msg.get("push"))
                return
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._push_tasks.add(task)
                task.add_done_callback(self._push_task_done)
            return
        if self.pushes.full():
            self.pushes.get_nowait()
            self.pushes_dropped += 1
        self.pushes.put_nowait(msg)

    def _push_task_done(self, task: asyncio.Task[Any]) -> None:
        self._push_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: the push handler failed", self.url, exc_info=task.exception())

    def _mark_lost(self, why: str | None = None) -> None:
        if self._lost is None:
            code, reason = self._ws.close_code, self._ws.close_reason
            if why is None:
                why = f"connection to {self.url} lost"
                if code is not None:
                    why += f" (close code {code}{': ' + reason if reason else ''})"
            self._lost = ConnectionLost(why, code, reason)
        pending, self._pending = self._pending, {}
        for fut, _op in pending.values():
            if not fut.done():
                fut.set_exception(self._lost)
                # Mark it retrieved: a pipelined caller may never look at it.
                fut.add_done_callback(_consume)
        if not self._closed.done():
            self._closed.set_result(None)


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


_KNOWN_CODES = frozenset(v for k, v in vars(wire.Code).items() if k.isupper())


# --- typed clients ----------------------------------------------------------------


class _Client:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def request(self, op: str, /, **params: Any) -> dict[str, Any]:
        return await self.conn.request(op, **params)

    async def close(self) -> None:
        await self.conn.close()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.conn.close()


class ControlClient(_Client):
    """The control plane: one method per op, returning the reply's fields.

    Optional arguments left ``None`` are not sent (the server's default
    applies). Admin ops (``scan``, ``audit_now``, ``view_reset``,
    ``config_write``, ``reload``) raise :class:`RemoteError` ``forbidden``
    with a read-only key.
    """

    @classmethod
    async def connect(cls, url: str, key: str, *, client: str = "fustor-client", **kwargs: Any) -> "ControlClient":
        """Open a control-plane :class:`Connection` (``kwargs`` as :meth:`Connection.open`)."""
        return cls(await Connection.open(url, key, plane="control", client=client, **kwargs))

    @property
    def access(self) -> str | None:
        return self.conn.access

    # -- status and the live stream ------------------------------------------------

    async def status(self) -> dict[str, Any]:
        return await self.request("status")

    async def subscribe(self, topics: Iterable[str] | None = None) -> dict[str, Any]:
        """Start the live stream: ``status`` pushes (at most every 0.5 s) and ``log`` pushes."""
        return await self.request("subscribe", topics=list(topics) if topics is not None else None)

    async def unsubscribe(self) -> dict[str, Any]:
        return await self.request("unsubscribe")

    async def pushes(self, kinds: Iterable[str] | None = None) -> AsyncIterator[dict[str, Any]]:
        """The pushes of this connection (only ``kinds`` when given), as they come."""
        wanted = frozenset(kinds) if kinds is not None else None
        async for msg in self.conn.iter_pushes():
            if wanted is None or msg.get("push") in wanted:
                yield msg

    # -- queries -------------------------------------------------------------------

    async def ls(
        self, view: str, path: str | None = None, *, limit: int | None = None, cursor: str | None = None,
        sort: str | None = None, reverse: bool | None = None, partial: bool | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        return await self.request(
            "query.ls", view=view, path=path, limit=limit, cursor=cursor, sort=sort, reverse=reverse, partial=partial
        )

    async def iter_ls(
        self, view: str, path: str | None = None, *, page_size: int = 1000, sort: str | None = None,
        reverse: bool | None = None, partial: bool | None = None,
    ) -> AsyncIterator[dict[str, Any]]:  # fmt: skip
        """Every entry of a directory, following ``next_cursor`` page by page."""
        cursor = None
        while True:
            page = await self.ls(
                view, path, limit=page_size, cursor=cursor, sort=sort, reverse=reverse, partial=partial
            )
            for entry in page.get("entries", ()):
                yield entry
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def tree(
        self, view: str, path: str | None = None, *, depth: int | None = None, full: bool | None = None,
        max_nodes: int | None = None, partial: bool | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        return await self.request(
            "query.tree", view=view, path=path, depth=depth, full=full, max_nodes=max_nodes, partial=partial
        )

    async def stats(self, view: str, path: str | None = None, *, partial: bool | None = None) -> dict[str, Any]:
        return await self.request("query.stats", view=view, path=path, partial=partial)

    async def summary(
        self, view: str, path: str, *, force_real_time: bool | None = None, timeout: float | None = None,
        partial: bool | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Is the upload at ``path`` complete? With ``force_real_time`` fusion
        first has the view's leader scan ``path`` and answers when the job
        completed or after ``timeout`` (server default 5 s) with
        ``job_pending: true`` and the ``job_id``."""
        return await self.request(
            "query.summary", view=view, path=path, force_real_time=force_real_time, timeout=timeout, partial=partial
        )

    async def search(
        self, pattern: str, *, view: str | None = None, mode: str | None = None, field: str | None = None,
        kind: str | None = None, path: str | None = None, limit: int | None = None, partial: bool | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Entries matching ``pattern`` (glob by default); every view when ``view`` is ``None``."""
        return await self.request(
            "query.search", view=view, pattern=pattern, mode=mode, field=field, kind=kind, path=path, limit=limit,
            partial=partial,
        )  # fmt: skip

    async def suspects(
        self, view: str, path: str | None = None, *, limit: int | None = None, partial: bool | None = None
    ) -> dict[str, Any]:
        return await self.request("query.suspects", view=view, path=path, limit=limit, partial=partial)

    async def blind_spots(
        self, view: str, path: str | None = None, *, limit: int | None = None, partial: bool | None = None
    ) -> dict[str, Any]:
        return await self.request("query.blind_spots", view=view, path=path, limit=limit, partial=partial)

    async def dump(self, view: str) -> dict[str, Any]:
        return await self.request("query.dump", view=view)

    async def job_status(self, job_id: str) -> dict[str, Any]:
        return await self.request("job.status", job_id=job_id)

    # -- admin ---------------------------------------------------------------------

    async def scan(self, view: str, path: str, *, timeout: float | None = None) -> dict[str, Any]:
        return await self.request("scan", view=view, path=path, timeout=timeout)

    async def audit_now(self, view: str, path: str | None = None) -> dict[str, Any]:
        return await self.request("audit.now", view=view, path=path)

    async def view_reset(self, view: str) -> dict[str, Any]:
        return await self.request("view.reset", view=view)

    async def reload(self) -> dict[str, Any]:
        return await self.request("reload")

    # -- configuration -------------------------------------------------------------

    async def config_list(self) -> dict[str, Any]:
        return await self.request("config.list")

    async def config_read(self, name: str) -> dict[str, Any]:
        return await self.request("config.read", name=name)

    async def config_validate(self, name: str, text: str) -> dict[str, Any]:
        return await self.request("config.validate", name=name, text=text)

    async def config_write(self, name: str, text: str) -> dict[str, Any]:
        return await self.request("config.write", name=name, text=text)


class PipeClient(_Client):
    """The data plane, one method per op. Stateless: the caller keeps the
    session id, sequence numbers and unacknowledged batches (see
    ``fustor.testing.simagent.SimAgent`` for an agent that does)."""

    @classmethod
    async def connect(
        cls, url: str, key: str, *, client: str = "fustor-agent", on_push: PushCallback | None = None, **kwargs: Any
    ) -> "PipeClient":
        return cls(await Connection.open(url, key, plane="pipe", client=client, on_push=on_push, **kwargs))

    async def session_open(
        self, pipe_id: str, agent_id: str, *, schema: str, schema_version: str, host: str | None = None,
        source_uri: str | None = None, timeout_hint: float | None = None, can_realtime: bool | None = None,
        resume: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        return await self.request(
            "session.open", pipe_id=pipe_id, agent_id=agent_id, host=host, source_uri=source_uri, schema=schema,
            schema_version=schema_version, timeout_hint=timeout_hint, can_realtime=can_realtime, resume=resume,
        )  # fmt: skip

    async def events(self, session_id: str, seq: int, event: dict[str, Any]) -> dict[str, Any]:
        return await self.request("events", session_id=session_id, seq=seq, event=event)

    async def heartbeat(
        self, session_id: str, *, can_realtime: bool | None = None, counters: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return await self.request("heartbeat", session_id=session_id, can_realtime=can_realtime, counters=counters)

    async def snapshot_end(self, session_id: str) -> dict[str, Any]:
        return await self.request("snapshot.end", session_id=session_id)

    async def audit_start(self, session_id: str) -> dict[str, Any]:
        return await self.request("audit.start", session_id=session_id)

    async def audit_end(self, session_id: str, audit_id: str, *, aborted: bool | None = None) -> dict[str, Any]:
        return await self.request("audit.end", session_id=session_id, audit_id=audit_id, aborted=aborted)

    async def sentinel_tasks(self, session_id: str) -> dict[str, Any]:
        return await self.request("sentinel.tasks", session_id=session_id)

    async def sentinel_feedback(self, session_id: str, results: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.request("sentinel.feedback", session_id=session_id, results=results)

    async def audit_request(
        self, session_id: str, *, path: str | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        return await self.request("audit.request", session_id=session_id, path=path, reason=reason)

    async def job_complete(self, session_id: str, job_id: str, *, error: str | None = None) -> dict[str, Any]:
        return await self.request("job.complete", session_id=session_id, job_id=job_id, error=error)

    async def session_close(self, session_id: str) -> dict[str, Any]:
        return await self.request("session.close", session_id=session_id)
