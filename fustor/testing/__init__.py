"""Test helpers shipped with the package, like ``trio.testing``."""

from .clock import FakeClock

__all__ = ["FakeClock"]
