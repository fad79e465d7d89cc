"""fustor.core.events: EventBase wire form and its validation."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fustor.core import EventBase, EventType, FustorError, MessageSource, ValidationError

ROW = {"path": "/a/b.txt", "kind": "file", "size": 3, "ctime": 10.5}


def wire(**over):
    data = {
        "schema": "fs",
        "schema_version": "1.0",
        "type": "insert",
        "source": "realtime",
        "index": 1_700_000_000_123,
        "rows": [dict(ROW)],
    }
    data.update(over)
    return data


def test_from_dict_reads_every_field():
    ev = EventBase.from_dict(wire(type="delete", source="audit", audit_id="a1", job_id="j9"))
    assert ev.schema == "fs"
    assert ev.schema_version == "1.0"
    assert ev.type is EventType.DELETE
    assert ev.source is MessageSource.AUDIT
    assert ev.index == 1_700_000_000_123
    assert ev.rows == [ROW]
    assert ev.audit_id == "a1"
    assert ev.job_id == "j9"


def test_to_dict_uses_plain_values_and_omits_absent_ids():
    ev = EventBase("fs", "1.0", EventType.UPDATE, MessageSource.SNAPSHOT, 42, [dict(ROW)])
    out = ev.to_dict()
    assert out == {
        "schema": "fs",
        "schema_version": "1.0",
        "type": "update",
        "source": "snapshot",
        "index": 42,
        "rows": [ROW],
    }
    # Plain strings, not enum members: the wire form must survive any JSON encoder.
    assert type(out["type"]) is str and type(out["source"]) is str
    assert "audit_id" not in out and "job_id" not in out


def test_round_trip_through_json():
    original = EventBase.from_dict(wire(source="on_demand", job_id="job-7"))
    again = EventBase.from_dict(json.loads(json.dumps(original.to_dict())))
    assert again == original
    assert again.to_dict() == original.to_dict()


@given(
    etype=st.sampled_from(EventType),
    source=st.sampled_from(MessageSource),
    index=st.integers(min_value=-(2**63), max_value=2**63),
    audit_id=st.none() | st.text(max_size=8),
    job_id=st.none() | st.text(max_size=8),
    version=st.text(min_size=1, max_size=5),
)
def test_round_trip_property(etype, source, index, audit_id, job_id, version):
    ev = EventBase("fs", version, etype, source, index, [dict(ROW)], audit_id, job_id)
    assert EventBase.from_dict(ev.to_dict()) == ev


def test_index_defaults_to_zero_and_ids_to_none():
    data = wire()
    del data["index"]
    ev = EventBase.from_dict(data)
    assert ev.index == 0
    assert ev.audit_id is None and ev.job_id is None


def test_rows_default_is_not_shared():
    a = EventBase("fs", "1.0", EventType.INSERT, MessageSource.REALTIME, 0)
    b = EventBase("fs", "1.0", EventType.INSERT, MessageSource.REALTIME, 0)
    a.rows.append(ROW)
    assert b.rows == []


def test_is_listing_only_for_non_realtime():
    assert MessageSource.REALTIME.is_listing is False
    for src in (MessageSource.SNAPSHOT, MessageSource.AUDIT, MessageSource.ON_DEMAND):
        assert src.is_listing is True


@pytest.mark.parametrize("data", [None, [], "insert", 3, (("schema", "fs"),)])
def test_non_object_refused(data):
    with pytest.raises(ValidationError, match="must be an object"):
        EventBase.from_dict(data)


@pytest.mark.parametrize("field", ["schema", "schema_version", "type", "source", "rows"])
def test_each_missing_field_refused(field):
    data = wire()
    del data[field]
    with pytest.raises(ValidationError) as info:
        EventBase.from_dict(data)
    assert field in info.value.message
    assert info.value.details["missing"] == [field]


def test_all_missing_fields_named():
    with pytest.raises(ValidationError) as info:
        EventBase.from_dict({"rows": []})
    assert info.value.details["missing"] == ["schema", "schema_version", "type", "source"]
    assert info.value.to_dict()["code"] == "invalid"


@pytest.mark.parametrize("value", ["INSERT", "create", "", None, 1, ["insert"]])
def test_unknown_type_refused(value):
    with pytest.raises(ValidationError, match="unknown event type"):
        EventBase.from_dict(wire(type=value))


@pytest.mark.parametrize("value", ["Realtime", "sentinel", "", None, 0, {"a": 1}])
def test_unknown_source_refused(value):
    with pytest.raises(ValidationError, match="unknown message source"):
        EventBase.from_dict(wire(source=value))


@pytest.mark.parametrize("rows", [None, {}, ROW, "rows", (ROW,), 0])
def test_non_list_rows_refused(rows):
    with pytest.raises(ValidationError, match="rows must be a list"):
        EventBase.from_dict(wire(rows=rows))


@pytest.mark.parametrize("index", ["12", 1.5, 12.0, None, True, False, [1]])
def test_bad_index_type_refused(index):
    # bool is an int subclass; True must not pass as index 1.
    with pytest.raises(ValidationError, match="index must be an integer"):
        EventBase.from_dict(wire(index=index))


@pytest.mark.parametrize("over", [{"schema": 1}, {"schema_version": 1.0}, {"schema": None}])
def test_non_string_schema_refused(over):
    with pytest.raises(ValidationError, match="must be strings"):
        EventBase.from_dict(wire(**over))


@pytest.mark.parametrize("name", ["audit_id", "job_id"])
@pytest.mark.parametrize("value", [1, ["a"], b"a"])
def test_non_string_ids_refused(name, value):
    with pytest.raises(ValidationError, match=name):
        EventBase.from_dict(wire(**{name: value}))


def test_validation_error_is_a_fustor_error():
    with pytest.raises(FustorError):
        EventBase.from_dict(wire(type="nope"))
