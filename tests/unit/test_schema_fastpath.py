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
