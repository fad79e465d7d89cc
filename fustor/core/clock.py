"""Clocks: the injected time sources and the logical watermark.

Three time tracks are kept apart (CONSISTENCY.md, "Time"): the storage time
domain (the watermark, estimated here), fusion's wall clock and its monotonic
clock. Components receive a :class:`Clock` instead of calling ``time`` so
tests and ``fustor replay`` control time exactly.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Protocol


class Clock(Protocol):
    def wall(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clocks of this process."""

    __slots__ = ()

    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


#: A sampled mtime must lie within this many seconds of the agent's corrected
#: clock: older or odd mtimes come from ``cp -p``, ``tar -x``, ``touch -d``.
FRESH_WRITE_WINDOW_S = 60.0


class LogicalClock:
    """The storage-time watermark: ``fusion_now - mode_skew``.

    ``mode_skew`` is the most frequent value of ``round(now - mtime)`` over the
    last ``window`` samples (ties to the smaller skew). Only realtime rows of
    fresh content writes are sampled; :meth:`observe` refuses an mtime further
    than :data:`FRESH_WRITE_WINDOW_S` from the agent's corrected clock, so a
    future or restored mtime never enters the window. With no samples the
    skew is 0 and the watermark advances with fusion's wall clock.
    """

    __slots__ = ("_now", "_window", "_samples", "_counts", "_mode", "_dirty")

    def __init__(self, now, window: int = 10_000) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        self._now = now
        self._window = window
        self._samples: deque[int] = deque()
        self._counts: dict[int, int] = {}
        self._mode = 0
        self._dirty = False

    def observe(self, mtime: float, agent_now: float | None = None) -> bool:
        """Sample one fresh write; returns whether it was taken."""
        if agent_now is not None and abs(mtime - agent_now) > FRESH_WRITE_WINDOW_S:
            return False
        skew = round(self._now() - mtime)
        samples, counts = self._samples, self._counts
        samples.append(skew)
        counts[skew] = counts.get(skew, 0) + 1
        if len(samples) > self._window:
            old = samples.popleft()
            left = counts[old] - 1
            if left:
                counts[old] = left
            else:
                del counts[old]
        self._dirty = True
        return True

    @property
    def skew(self) -> int:
        if self._dirty:
            # Few distinct one-second bins exist in practice, so a scan is cheap
            # and only runs when samples changed since the last read.
            best_skew, best_count = 0, 0
            for skew, count in self._counts.items():
                if count > best_count or (count == best_count and skew < best_skew):
                    best_skew, best_count = skew, count
            self._mode = best_skew
            self._dirty = False
        return self._mode

    @property
    def sample_count(self) -> int:
        return len(self._samples)

    def watermark(self) -> float:
        return self._now() - self.skew

    def reset(self) -> None:
        self._samples.clear()
        self._counts.clear()
        self._mode = 0
        self._dirty = False
