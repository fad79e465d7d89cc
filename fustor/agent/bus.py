"""The event bus: one bounded buffer per source, shared by the pipes reading it.

Items have absolute positions; each subscriber keeps its own. When the buffer
is full the oldest item is dropped; a subscriber still behind it has lost
its position and must ask for an audit rather than silently miss events
(:attr:`Subscription.lost`). Before it comes to that, when the fastest
subscriber leads the slowest by 95% of the capacity, the slow one is split
off onto a bus of its own (with a copy of what it has not read yet), so one
slow fusion does not cost the others their events.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

SPLIT_AT = 0.95


class Subscription:
    def __init__(self, bus: "EventBus", name: str, position: int) -> None:
        self.bus = bus
        self.name = name
        self.position = position
        self.lost = 0  # how many items it missed (ask for an audit, then reset)
        self._wakeup = asyncio.Event()

    @property
    def lag(self) -> int:
        return self.bus.end - self.position

    def take(self, limit: int) -> list[Any]:
        """Up to ``limit`` unread items (advances the position)."""
        bus = self.bus
        if self.position < bus.start:
            self.lost += bus.start - self.position
            self.position = bus.start
        offset = self.position - bus.start
        n = min(limit, bus.end - self.position)
        if n <= 0:
            return []
        items = [bus.items[offset + i] for i in range(n)]
        self.position += n
        bus.group._maybe_split(bus)
        return items

    def rewind(self, n: int) -> None:
        """Give back the last ``n`` items taken (not sent after all): the next take reads them again.

        An item the bus dropped meanwhile is not read again but counted in :attr:`lost`.
        """
        self.position -= n

    async def wait(self, timeout: float | None = None) -> None:
        """Until there is something to take (or ``timeout``)."""
        while self.position >= self.bus.end:
            self._wakeup.clear()
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a
                # cancellation that lands as the wait completes (bpo-37658, gh-86296).
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()
            except TimeoutError:
                return

    def close(self) -> None:
        self.bus.group.unsubscribe(self)


class EventBus:
    def __init__(self, group: "BusGroup", capacity: int, start: int = 0) -> None:
        self.group = group
        self.capacity = capacity
        self.items: deque[Any] = deque()
        self.start = start  # absolute position of items[0]
        self.subs: list[Subscription] = []

    @property
    def end(self) -> int:
        return self.start + len(self.items)

    def publish(self, item: Any) -> None:
        self.items.append(item)
        if len(self.items) > self.capacity:
            self.items.popleft()
            self.start += 1
        for s in self.subs:
            s._wakeup.set()


class BusGroup:
    """The buses of one source: one normally, more once slow subscribers split off."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self.buses: list[EventBus] = [EventBus(self, capacity)]
        self.splits = 0
        self.published = 0

    def subscribe(self, name: str) -> Subscription:
        bus = self.buses[0]
        sub = Subscription(bus, name, bus.end)
        bus.subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        bus = sub.bus
        if sub in bus.subs:
            bus.subs.remove(sub)
        if not bus.subs and len(self.buses) > 1:
            self.buses.remove(bus)

    def publish(self, item: Any) -> None:
        self.published += 1
        for bus in self.buses:
            bus.publish(item)
            self._maybe_split(bus)

    def _maybe_split(self, bus: EventBus) -> None:
        if len(bus.subs) < 2:
            return
        fastest = max(s.position for s in bus.subs)
        slow = min(bus.subs, key=lambda s: s.position)
        if fastest - slow.position < SPLIT_AT * self.capacity:
            return
        new = EventBus(self, self.capacity, start=slow.position)
        offset = slow.position - bus.start
        if offset >= 0:
            new.items.extend(list(bus.items)[offset:])
        else:
            new.start = bus.start
            new.items.extend(bus.items)
        bus.subs.remove(slow)
        new.subs.append(slow)
        slow.bus = new
        self.buses.append(new)
        self.splits += 1

    def stats(self) -> dict:
        return {"buses": len(self.buses), "splits": self.splits, "published": self.published,
                "subscribers": [{"name": s.name, "lag": s.lag, "lost": s.lost} for b in self.buses for s in b.subs]}
