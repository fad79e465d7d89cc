"""The event model every source emits and every view consumes.

An event is a batch of rows of one schema, of one type and from one source.
Rows stay plain dicts: they arrive as decoded JSON and the view engine reads
them in its hot loop, where building an object per row would cost more than
the arbitration itself. ``fustor.schema`` validates their shape at the edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from fustor.schema import RowError, rows_from_groups

from .errors import ValidationError


class EventType(str, Enum):
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


class MessageSource(str, Enum):
    """Where an observation came from; decides its authority (CONSISTENCY.md)."""

    REALTIME = "realtime"
    SNAPSHOT = "snapshot"
    AUDIT = "audit"
    ON_DEMAND = "on_demand"

    @property
    def is_listing(self) -> bool:
        return self is not MessageSource.REALTIME


@dataclass(slots=True)
class EventBase:
    """A batch of rows.

    ``index`` is the agent's corrected clock in milliseconds when the batch
    was made. Fusion orders nothing by it; it feeds lag metrics and bounds
    which mtimes may be sampled by the logical clock.
    """

    schema: str
    schema_version: str
    type: EventType
    source: MessageSource
    index: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    audit_id: str | None = None
    job_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": self.schema,
            "schema_version": self.schema_version,
            "type": self.type.value,
            "source": self.source.value,
            "index": self.index,
            "rows": self.rows,
        }
        if self.audit_id is not None:
            out["audit_id"] = self.audit_id
        if self.job_id is not None:
            out["job_id"] = self.job_id
        return out

    @classmethod
    def from_dict(cls, data: Any) -> "EventBase":
        if not isinstance(data, dict):
            raise ValidationError(f"an event must be an object, got {type(data).__name__}")
        if "groups" in data:
            data = expand_groups(data)
        missing = [k for k in ("schema", "schema_version", "type", "source", "rows") if k not in data]
        if missing:
            raise ValidationError(f"event is missing {', '.join(missing)}", missing=missing)
        try:
            etype = EventType(data["type"])
        except ValueError:
            raise ValidationError(
                f"unknown event type {data['type']!r}; expected one of "
                + ", ".join(t.value for t in EventType)
            ) from None
        try:
            source = MessageSource(data["source"])
        except ValueError:
            raise ValidationError(
                f"unknown message source {data['source']!r}; expected one of "
                + ", ".join(s.value for s in MessageSource)
            ) from None
        rows = data["rows"]
        if not isinstance(rows, list):
            raise ValidationError("event rows must be a list")
        index = data.get("index", 0)
        if not isinstance(index, int) or isinstance(index, bool):
            raise ValidationError("event index must be an integer (milliseconds)")
        schema, version = data["schema"], data["schema_version"]
        if not isinstance(schema, str) or not isinstance(version, str):
            raise ValidationError("schema and schema_version must be strings")
        audit_id = data.get("audit_id")
        job_id = data.get("job_id")
        for name, value in (("audit_id", audit_id), ("job_id", job_id)):
            if value is not None and not isinstance(value, str):
                raise ValidationError(f"{name} must be a string")
        return cls(schema, version, etype, source, index, rows, audit_id, job_id)


def expand_groups(event: dict) -> dict:
    """An event dict whose listing rows come grouped by directory (protocol 1.1), with them as rows.

    An event without groups is returned as it is.
    """
    if "groups" not in event:
        return event
    if "rows" in event:
        raise ValidationError("an event carries rows or groups, not both")
    if event.get("source") == MessageSource.REALTIME.value or event.get("type") == EventType.DELETE.value:
        raise ValidationError("groups carry listings (snapshot, audit, on_demand), not realtime rows or deletes")
    try:
        rows = rows_from_groups(event["groups"])
    except RowError as exc:
        raise ValidationError(f"groups: {exc}") from None
    out = {k: v for k, v in event.items() if k != "groups"}
    out["rows"] = rows
    return out


def event_rows(event: dict) -> int:
    """How many rows an event dict carries (rows, or the entries of its groups)."""
    groups = event.get("groups")
    if groups is not None:
        return sum(len(g.get("entries") or ()) for g in groups)
    return len(event.get("rows") or ())
