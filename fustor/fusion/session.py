"""Sessions and per-view leadership (C12, C13)."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any

LEADER = "leader"
FOLLOWER = "follower"

_counter = itertools.count(1)


def new_session_id(agent_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in agent_id)[:40]
    return f"{safe}-{next(_counter)}-{secrets.token_hex(4)}"


class RateMeter:
    """Events per second over the last few seconds (updated by a 1 s tick)."""

    __slots__ = ("total", "_last_total", "rate", "history")

    def __init__(self) -> None:
        self.total = 0
        self._last_total = 0
        self.rate = 0.0
        self.history: list[float] = []

    def add(self, n: int) -> None:
        self.total += n

    def tick(self, seconds: float) -> None:
        delta = self.total - self._last_total
        self._last_total = self.total
        instant = delta / seconds if seconds > 0 else 0.0
        self.rate = instant if not self.history else 0.5 * self.rate + 0.5 * instant
        self.history.append(round(instant, 1))
        del self.history[:-60]


@dataclass(eq=False)
class Session:
    session_id: str
    pipe_id: str
    agent_id: str
    host: str
    source_uri: str
    timeout: float
    opened_wall: float
    last_seen_mono: float
    peer: Any = None
    can_realtime: bool = True
    counters: dict = field(default_factory=dict)
    last_enqueued_seq: int = 0
    last_applied_seq: int = 0
    inflight: int = 0  # items of this session waiting in fusion's queue
    events: RateMeter = field(default_factory=RateMeter)
    rows_received: int = 0
    audit_id: str | None = None  # the session-level audit id
    audit_views: dict[str, str] = field(default_factory=dict)  # view -> view audit id
    pending_commands: list[dict] = field(default_factory=list)
    closed: bool = False
    snapshot_ended: bool = False

    def push(self, msg: dict) -> None:
        """Send a command now; keep it for the next heartbeat if no connection is attached."""
        if self.peer is not None and not getattr(self.peer, "gone", False):
            self.peer.send(msg)
        else:
            self.pending_commands.append(msg)
            del self.pending_commands[:-100]


class Leadership:
    """Who leads one view: the first session in, then followers in arrival order."""

    def __init__(self) -> None:
        self.leader: Session | None = None
        self.followers: list[Session] = []

    def join(self, session: Session) -> str:
        if self.leader is None:
            self.leader = session
            return LEADER
        self.followers.append(session)
        return FOLLOWER

    def leave(self, session: Session) -> Session | None:
        """Remove ``session``; returns the follower promoted in its place, if any."""
        if self.leader is session:
            self.leader = self.followers.pop(0) if self.followers else None
            return self.leader
        if session in self.followers:
            self.followers.remove(session)
        return None

    def role(self, session: Session) -> str | None:
        if self.leader is session:
            return LEADER
        if session in self.followers:
            return FOLLOWER
        return None
