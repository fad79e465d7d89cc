"""validate_rows (the receiver's fast path) accepts and refuses exactly what validate_row does."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fustor.schema import RowError, make_row, validate_row, validate_rows

GOOD = make_row("/a/b.txt", "file", size=5, mtime=1.5, ctime=2.5, inode=7, mode=0o100644, uid=1, gid=2,
                parent_mtime=1.0, parent_ctime=2.0, parent_ino=3, is_atomic_write=True)

values = st.one_of(st.none(), st.booleans(), st.integers(-5, 2**40), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=8), st.sampled_from(["file", "dir", "symlink", "/a", "/a/b.txt", "/", "/a//b",
                                                         "/a/../x", "/a\\x41", "/a/.h"]))


def _outcome(fn, row, deleting):
    try:
        fn(row, deleting=deleting)
        return "ok"
    except RowError:
        return "refused"


@given(st.dictionaries(st.sampled_from(list(GOOD)), values, max_size=4), st.booleans())
def test_fast_path_agrees_with_the_reference(changes, deleting):
    row = {**copy.deepcopy(GOOD), **changes}
    ref = _outcome(validate_row, copy.deepcopy(row), deleting)
    fast = _outcome(lambda r, deleting: validate_rows([r], deleting=deleting), copy.deepcopy(row), deleting)
    assert fast == ref, row


@pytest.mark.parametrize("bad", [{"size": True}, {"mtime": float("nan")}, {"ctime": float("inf")}, {"inode": -1},
                                 {"path": "/a/../b"}, {"parent_path": "/elsewhere"}, {"kind": "socket"},
                                 {"is_atomic_write": 1}, {"path": "/a\\x2fb"}])
def test_fast_path_refuses_each_bad_field(bad):
    with pytest.raises(RowError):
        validate_rows([{**GOOD, **bad, "parent_path": bad.get("parent_path", "/a")}])


# --- the typed decode of events frames (fustor.transport.wire.decode_events) ---------------

wire_values = st.one_of(values, st.integers(-(2**70), 2**70), st.floats(min_value=-1e300, max_value=1e300),
                        st.sampled_from([1e15, 1e16, -1e16, 0, 0.0, -(2**63) - 1, 2**63, 2**64 - 1]))


def _events_frame(rows, etype="update", event_extra=None, **extra):
    import json  # not orjson: it refuses integers beyond 64 bits, which a peer may still send

    event = {"schema": "fs", "schema_version": "1.0", "type": etype, "source": "realtime", "index": 5, "rows": rows,
             **(event_extra or {})}
    return json.dumps({"id": 9, "op": "events", "session_id": "s", "seq": 1, "event": event, **extra}).encode()


def _general(frame, deleting):
    from fustor.transport import wire

    try:
        return validate_rows(wire.decode(frame)["event"]["rows"], deleting=deleting)
    except (RowError, wire.WireError):
        return None


@given(st.lists(st.dictionaries(st.sampled_from(list(GOOD) + ["extra"]), wire_values, max_size=3), min_size=1,
                max_size=3), st.booleans())
def test_typed_decode_accepts_only_what_the_general_path_accepts_and_gives_the_same_rows(changes, deleting):
    from fustor.transport import wire

    rows = [{**GOOD, **c} for c in changes]
    frame = _events_frame(rows, "delete" if deleting else "update")
    fast = wire.decode_events(frame)
    general = _general(frame, deleting)
    if fast is None:
        return  # the general path decides (and says why, if it refuses)
    assert general is not None, rows
    assert list(fast["event"]["rows"]) == general
    # The rows are marked checked: validate_rows does not look at them again.
    assert validate_rows(fast["event"]["rows"], deleting=deleting) is fast["event"]["rows"]


def test_typed_decode_gives_the_general_message_for_a_good_batch():
    from fustor.transport import wire

    rows = [GOOD, {**GOOD, "path": "/a/c", "kind": "dir", "size": 0, "mtime": 3, "ctime": 4, "parent_path": None}]
    frame = _events_frame(rows, event_extra={"audit_id": "a1"})
    fast, general = wire.decode_events(frame), wire.decode(frame)
    validate_rows(general["event"]["rows"])
    assert fast == general  # int times come back as floats: equal values
    assert fast["event"]["rows"][1]["parent_path"] == "/a"


@pytest.mark.parametrize("frame", [
    _events_frame([{**GOOD, "extra": 1}]),  # an unknown field: the general path names it
    _events_frame([{k: v for k, v in GOOD.items() if k != "uid"}]),  # a missing field: the general path fills it
    _events_frame([{**GOOD, "size": "5"}]),
    _events_frame([{**GOOD, "path": "/a/./b", "parent_path": "/a/."}]),
    _events_frame([{**GOOD, "mtime": None}]),
    _events_frame([{**GOOD, "path": "/", "kind": "dir", "parent_path": "/"}]),
    _events_frame([GOOD], id=True),
    b'{"id": 1, "op": "heartbeat", "session_id": "s"}',
    b"not json",
])  # fmt: skip
def test_typed_decode_leaves_anything_unusual_to_the_general_path(frame):
    from fustor.transport import wire

    assert wire.decode_events(frame) is None


def test_checked_rows_of_a_delete_batch_are_checked_again_for_an_update():
    from fustor.transport import wire

    frame = _events_frame([{**GOOD, "kind": None, "ctime": None, "mtime": None}], "delete")
    rows = wire.decode_events(frame)["event"]["rows"]
    assert validate_rows(rows, deleting=True) is rows
    with pytest.raises(RowError, match="kind is required"):
        validate_rows(rows, deleting=False)


GOOD_ENTRY = ["f.txt", "file", 5, 1.5, 2.5, 7, 0o100644, 1, 2, None]
entry_values = st.one_of(wire_values, st.sampled_from(["x", "a/b", ".", "..", "", "sub\\x41", "dir", "symlink"]))


@given(st.lists(st.dictionaries(st.integers(0, 9), entry_values, max_size=3), min_size=1, max_size=3),
       st.sampled_from(["/a", "/", "/a/", "a", "/a/./b"]), st.sampled_from(["snapshot", "audit", "realtime"]))
def test_typed_decode_of_groups_agrees_with_the_general_path(changes, dir_key, source):
    import json

    from fustor.core import EventBase, ValidationError
    from fustor.transport import wire

    entries = []
    for c in changes:
        e = list(GOOD_ENTRY)
        for i, v in c.items():
            e[i] = v
        entries.append(e)
    event = {"schema": "fs", "schema_version": "1.0", "type": "update", "source": source, "index": 5,
             "groups": [{"dir": dir_key, "mtime": 1.0, "ctime": 2.0, "ino": 3, "entries": entries}]}
    frame = json.dumps({"id": 9, "op": "events", "session_id": "s", "seq": 1, "event": event}).encode()
    fast = wire.decode_events(frame)
    try:
        general = validate_rows(EventBase.from_dict(wire.decode(frame)["event"]).rows)
    except (RowError, ValidationError, wire.WireError):
        general = None
    if fast is not None:
        assert general is not None, entries
        assert list(fast["event"]["rows"]) == general
