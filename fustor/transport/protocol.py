"""The server side of a connection, sans I/O: frames in, replies and pushes out.

:class:`ServerProtocol` owns what every connection of either plane goes
through: the hello (version negotiation and key), request parsing, error
replies that keep the connection open, and the bound on bad messages. It
talks to the network only through a :class:`Peer`, so tests feed it frames
and read what it sent; ``fustor.transport.server`` adapts it to websockets.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Protocol

from . import wire
from .wire import Code, WireError

log = logging.getLogger("fustor.transport")

#: Returned by a dispatcher that will reply later itself (an ack after apply).
DEFERRED = object()

CLOSE_POLICY = 1008

#: Errors that say the client sent something malformed; only these count
#: towards the bound after which a connection is closed.
_MALFORMED = frozenset((Code.BAD_JSON, Code.BAD_MESSAGE, Code.UNKNOWN_OP, Code.FORBIDDEN))


class Peer(Protocol):
    """One connected client, as the application sees it."""

    plane: str  # "pipe" or "control"
    remote: str
    access: str | None  # "pipe", "readonly", "admin" once authenticated
    grants: frozenset[str]  # pipes a data-plane key may feed
    state: dict[str, Any]  # per-connection application state (sessions, subscriptions)

    def send(self, msg: dict[str, Any]) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


class Request:
    """A well-formed, authorised request, ready for :meth:`ServerProtocol.handle`."""

    __slots__ = ("id", "op", "msg")

    def __init__(self, req_id: Any, op: str, msg: dict) -> None:
        self.id = req_id
        self.op = op
        self.msg = msg


class Grant:
    __slots__ = ("access", "pipes")

    def __init__(self, access: str, pipes: frozenset[str] = frozenset()) -> None:
        self.access = access
        self.pipes = pipes


Authenticate = Callable[[str, str], "Grant | None"]  # (plane, key) -> grant
Dispatch = Callable[[Peer, Any, str, dict], Awaitable[Any]]


class ServerProtocol:
    def __init__(self, peer: Peer, authenticate: Authenticate, dispatch: Dispatch, server_name: str) -> None:
        self.peer = peer
        self._authenticate = authenticate
        self._dispatch = dispatch
        self._server_name = server_name
        self.authenticated = False
        self.bad_messages = 0
        self.closed = False

    def _refuse(self, req_id: Any, err: WireError, close: bool = False) -> None:
        self.peer.send(wire.error_reply(req_id, err))
        if close:
            self.closed = True
            self.peer.close(CLOSE_POLICY, err.code)
            return
        if err.code not in _MALFORMED:
            return  # an answer about state (not_found, not_ready ...) is not a bad message
        self.bad_messages += 1
        if self.bad_messages >= wire.MAX_BAD_MESSAGES:
            self.closed = True
            self.peer.send(wire.push("closing", code=Code.TOO_MANY_ERRORS,
                                     message=f"{self.bad_messages} bad messages on this connection"))
            self.peer.close(CLOSE_POLICY, Code.TOO_MANY_ERRORS)

    async def receive(self, frame: str | bytes) -> None:
        """Handle one frame. Never raises for bad input: it answers it."""
        request = self.parse(frame)
        if request is not None:
            await self.handle(request)

    def parse(self, frame: str | bytes) -> "Request | None":
        """The request a frame carries, or ``None`` when it was answered already.

        Bad frames get their error reply here; so does the hello, which is
        the whole of its own handling. Never raises for bad input.
        """
        if self.closed:
            return None
        req_id = None
        try:
            msg = None
            if len(frame) >= wire.EVENTS_FAST_MIN and self.peer.plane == "pipe" and self.authenticated:
                msg = wire.decode_events(frame)
            if msg is None:
                msg = wire.decode(frame)
            rid = msg.get("id")
            # A bool is an int to Python, but not a valid id: answer it with re null.
            req_id = rid if isinstance(rid, (int, str)) and not isinstance(rid, bool) else None
            req_id, op = wire.check_request(msg)
        except WireError as err:
            self._refuse(req_id, err, close=not self.authenticated)
            return None
        if not self.authenticated:
            self._hello(req_id, op, msg)
            return None
        if op == "hello":
            self._refuse(req_id, WireError(Code.BAD_MESSAGE, "hello was already done on this connection"))
            return None
        allowed = wire.PIPE_OPS if self.peer.plane == "pipe" else wire.CONTROL_OPS
        if op not in allowed:
            other = "control" if self.peer.plane == "pipe" else "pipe"
            self._refuse(req_id, WireError(Code.UNKNOWN_OP, f"{op!r} belongs to the {other} plane, not this one", op=op))
            return None
        if op in wire.ADMIN_OPS and self.peer.access != "admin":
            self._refuse(req_id, WireError(Code.FORBIDDEN, f"{op!r} needs an admin key; this key is read-only", op=op))
            return None
        return Request(req_id, op, msg)

    async def handle(self, request: "Request") -> None:
        """Dispatch a parsed request and send its reply (unless the dispatcher defers it)."""
        req_id, op = request.id, request.op
        try:
            result = await self._dispatch(self.peer, req_id, op, request.msg)
        except WireError as err:
            self._refuse(req_id, err)
            return
        except Exception as exc:  # a bug must not take the connection down with it
            log.exception("internal error handling %s", op)
            self.peer.send(wire.error_reply(req_id, WireError(Code.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")))
            return
        if result is DEFERRED:
            return
        self.peer.send(wire.reply(req_id, **(result or {})))

    def _hello(self, req_id: Any, op: str, msg: dict) -> None:
        if op != "hello":
            self._refuse(req_id, WireError(Code.HELLO_REQUIRED, "the first request must be hello"), close=True)
            return
        try:
            wire.check_version(msg["protocol"])
        except WireError as err:
            self._refuse(req_id, err, close=True)
            return
        grant = self._authenticate(self.peer.plane, msg["key"])
        if grant is None:
            self._refuse(
                req_id,
                WireError(Code.UNAUTHORIZED, f"this key is not valid on the {self.peer.plane} plane"),
                close=True,
            )
            return
        self.authenticated = True
        self.peer.access = grant.access
        self.peer.grants = grant.pipes
        result: dict[str, Any] = {
            "protocol": wire.PROTOCOL_VERSION,
            "server": self._server_name,
            "plane": self.peer.plane,
            "access": grant.access,
        }
        if self.peer.plane == "pipe":
            result["pipes"] = sorted(grant.pipes)
        self.peer.send(wire.reply(req_id, **result))


class MemoryPeer:
    """A peer that records what was sent (tests, and in-process use)."""

    def __init__(self, plane: str = "pipe", remote: str = "memory") -> None:
        self.plane = plane
        self.remote = remote
        self.access: str | None = None
        self.grants: frozenset[str] = frozenset()
        self.state: dict[str, Any] = {}
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None

    def send(self, msg: dict[str, Any]) -> None:
        self.sent.append(msg)

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def replies(self) -> list[dict[str, Any]]:
        return [m for m in self.sent if "re" in m]

    def pushes(self) -> list[dict[str, Any]]:
        return [m for m in self.sent if "push" in m]
