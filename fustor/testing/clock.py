"""A clock tests and replays move by hand."""

from __future__ import annotations


class FakeClock:
    """Wall and monotonic time that only move when told to.

    Both start where asked and advance together, as they do in a real
    process that is not suspended.
    """

    __slots__ = ("_wall", "_mono")

    def __init__(self, wall: float = 1_700_000_000.0, monotonic: float = 1000.0) -> None:
        self._wall = float(wall)
        self._mono = float(monotonic)

    def wall(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go back")
        self._wall += seconds
        self._mono += seconds

    def set(self, wall: float) -> None:
        """Move to wall time ``wall`` (monotonic moves by the same amount)."""
        self.advance(wall - self._wall)
