"""Test helpers shipped with the package, like ``trio.testing``."""

from .clock import FakeClock
from .views import ViewDriver, gone, listed, live

__all__ = ["FakeClock", "ViewDriver", "gone", "listed", "live"]
