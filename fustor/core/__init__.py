"""Layer 1: the event model, clocks and errors that every other layer shares."""

from .clock import FRESH_WRITE_WINDOW_S, Clock, LogicalClock, SystemClock
from .errors import (
    AuditError,
    ConfigError,
    FustorError,
    NotFoundError,
    SchemaMismatchError,
    ValidationError,
)
from .events import EventBase, EventType, MessageSource, event_rows, expand_groups

__all__ = [
    "FRESH_WRITE_WINDOW_S",
    "AuditError",
    "Clock",
    "ConfigError",
    "EventBase",
    "EventType",
    "FustorError",
    "LogicalClock",
    "MessageSource",
    "NotFoundError",
    "SchemaMismatchError",
    "SystemClock",
    "ValidationError",
    "event_rows",
    "expand_groups",
]
