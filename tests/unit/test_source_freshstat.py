"""The sentinel's stats are revalidated with the storage, not taken from the attribute cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fustor.sources.fs import stat_paths
from fustor.sources.fs.freshstat import fresh_lstat


def _same(a: os.stat_result, b: os.stat_result) -> None:
    for f in ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size", "st_mtime", "st_ctime",
              "st_mtime_ns", "st_ctime_ns"):  # fmt: skip
        assert getattr(a, f) == getattr(b, f), f


def test_fresh_lstat_equals_os_lstat_to_the_last_bit(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"12345")
    os.utime(f, ns=(1_700_000_000_123_456_789, 1_700_000_000_987_654_321))
    (tmp_path / "d").mkdir()
    os.symlink("missing-target", tmp_path / "link")
    for p in (f, tmp_path / "d", tmp_path / "link"):
        _same(fresh_lstat(os.fsencode(p)), os.lstat(p))
    assert fresh_lstat(str(tmp_path / "link")).st_size == len("missing-target")  # not followed
    with pytest.raises(FileNotFoundError):
        fresh_lstat(tmp_path / "nope")


def test_stat_paths_answers_match_the_listing_stats(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("hello")
    [res, gone] = stat_paths(os.fsencode(tmp_path), ["/a/x", "/a/none"])
    st, pst = os.lstat(tmp_path / "a" / "x"), os.lstat(tmp_path / "a")
    assert res == {"path": "/a/x", "exists": True, "kind": "file", "mtime": st.st_mtime, "ctime": st.st_ctime,
                   "size": 5, "inode": st.st_ino, "parent_ctime": pst.st_ctime, "parent_ino": pst.st_ino}  # fmt: skip
    assert gone["exists"] is False and gone["parent_ctime"] == pst.st_ctime and gone["parent_ino"] == pst.st_ino


@pytest.mark.integration
def test_a_sentinel_stat_sees_another_mounts_write_that_the_attribute_cache_hides(tmp_path: Path) -> None:
    """Regression: through a mount with an attribute cache (bindfs here, NFS in
    production) a plain lstat right after the audit's repeats the audit's
    answer; the sentinel then cleared a file another host was still writing."""
    from fustor.testing.storage import SharedStorage, require_fuse

    require_fuse()
    with SharedStorage(tmp_path, ["leader", "writer"]) as storage:
        (storage.host("writer") / "up.dat").write_bytes(b"x" * 10)
        leader = storage.host("leader")
        assert os.lstat(leader / "up.dat").st_size == 10  # the audit's stat, now cached
        with open(storage.host("writer") / "up.dat", "ab") as f:
            f.write(b"y" * 90)
        assert os.lstat(leader / "up.dat").st_size == 10, "no attribute cache: this test proves nothing here"
        [res] = stat_paths(os.fsencode(leader), ["/up.dat"])
        assert res["size"] == 100
