"""One or more tests per consistency rule (CONSISTENCY.md C1–C11, C15).

Storage times are ``T + n``; the fusion wall clock starts at ``T + 1000`` so
files with mtime near ``T`` are old (not hot) unless a test says otherwise.
"""

from __future__ import annotations

import asyncio

import pytest

from fustor.core import AuditError, EventBase, EventType, MessageSource, SchemaMismatchError
from fustor.testing import ViewDriver, gone, listed, live
from fustor.views.fs import wait_drained

T = 1_700_000_000.0
HOT = 300.0


def driver(**cfg) -> ViewDriver:
    cfg.setdefault("hot_file_threshold", HOT)
    cfg.setdefault("sentinel_interval", 60)
    d = ViewDriver(wall=T + 1000, **cfg)
    d.start()
    return d


def base(d: ViewDriver) -> None:
    """/data (ino 10) holding /data/a.txt (ino 11): a snapshot listing at T+10."""
    d.snapshot(
        listed("/", "dir", ino=2, ctime=T + 5, pc=T + 5, pino=1),
        listed("/data", "dir", ino=10, ctime=T + 10, pc=T + 5, pino=2),
        listed("/data/a.txt", ino=11, ctime=T + 8, pc=T + 10, pino=10, size=100),
    )


# --- C1 realtime create/update ------------------------------------------------


def test_c1_realtime_create_is_known_confirmed_and_updates_parent():
    d = driver()
    base(d)
    d.realtime(live("/data/b.txt", ino=12, ctime=T + 20, pc=T + 20, size=5))
    b = d.node("/data/b.txt")
    assert b.size == 5 and b.flags & 2  # KNOWN
    assert b.updated_at == d.clock.wall()
    assert d.node("/data").ctime == T + 20
    assert d.view.query.stats("/data")["files"] == 2


def test_c1_late_row_from_lagging_host_is_dropped():
    d = driver()
    base(d)
    d.realtime(live("/data/a.txt", ino=11, ctime=T + 30, pc=T + 10, size=300), session="hostA")
    d.realtime(live("/data/a.txt", ino=11, ctime=T + 25, pc=T + 10, size=250), session="hostB")
    assert d.node("/data/a.txt").size == 300
    assert "older than the node: a lagging host" in d.reasons("/data/a.txt")


def test_c1_partial_write_marks_suspect_and_equal_close_clears_it():
    d = driver()
    base(d)
    d.realtime(live("/data/a.txt", ino=11, ctime=T + 30, pc=T + 10, size=300, atomic=False))
    node = d.node("/data/a.txt")
    entry = d.view.suspects.get(node)
    assert entry is not None and entry.size == 300 and entry.mtime == T + 30
    assert d.view.query.stats("/")["suspects"] == 1
    # The close after the last write: same ctime and attributes, complete.
    d.realtime(live("/data/a.txt", ino=11, ctime=T + 30, pc=T + 10, size=300, atomic=True))
    assert d.view.suspects.get(node) is None
    assert d.view.query.stats("/")["suspects"] == 0
    assert "equal to the node" in d.reasons("/data/a.txt")


def test_c1_late_row_never_moves_a_directory_back():
    d = driver()
    base(d)
    d.realtime(live("/data/b.txt", ino=12, ctime=T + 40, pc=T + 40, pm=T + 40), session="A")
    d.realtime(live("/data/c.txt", ino=13, ctime=T + 30, pc=T + 30, pm=T + 30), session="B")
    assert d.node("/data").ctime == T + 40 and d.node("/data").mtime == T + 40
    assert d.has("/data/c.txt")  # the row itself is new, only the parent stays


def test_c1_realtime_clears_both_blind_spot_marks():
    d = driver()
    base(d)
    d.audit(
        listed("/data/new.txt", ino=20, ctime=T + 50, pc=T + 50, pino=10),
        listed("/data/a.txt", ino=11, ctime=T + 8, pc=T + 50, pino=10, size=100),
        listed("/data", "dir", ino=10, ctime=T + 50, pc=T + 5, pino=2, skipped=False),
    )
    assert d.node("/data/new.txt").flags & 4  # BLIND
    d.view.blind.deletions["/data/old.txt"] = d.clock.wall()
    d.realtime(live("/data/new.txt", ino=20, ctime=T + 60, pc=T + 50, size=1))
    d.realtime(live("/data/old.txt", ino=21, ctime=T + 61, pc=T + 61, size=1))
    assert not d.node("/data/new.txt").flags & 4
    assert "/data/old.txt" not in d.view.blind.deletions
    assert d.view.query.blind_spots()["has_blind_spot"] is False


def test_c1_new_directory_scan_rows_are_realtime_but_not_atomic():
    d = driver()
    base(d)
    d.realtime(live("/data/up", "dir", ino=30, ctime=T + 70, pc=T + 70))
    # The agent's scan of the new directory: listed rows (parent_ino set), realtime source.
    d.realtime(listed("/data/up/f1", ino=31, ctime=T + 69, pc=T + 70, pino=30, size=7))
    f1 = d.node("/data/up/f1")
    assert f1 is not None and f1.flags & 2 and f1.updated_at == d.clock.wall()
    assert d.view.suspects.get(f1) is not None  # nobody saw this write finish


def test_c1_directory_turned_into_file_must_be_newer_than_its_subtree():
    d = driver()
    base(d)
    d.realtime(live("/data/x", "dir", ino=40, ctime=T + 80, pc=T + 80))
    d.realtime(live("/data/x/in.txt", ino=41, ctime=T + 90, pc=T + 90))
    d.realtime(live("/data/x", "file", ino=42, ctime=T + 85, pc=T + 95))
    assert d.node("/data/x").is_dir  # older than a file inside: a stale row
    d.realtime(live("/data/x", "file", ino=43, ctime=T + 100, pc=T + 100))
    x = d.node("/data/x")
    assert not x.is_dir and x.ino == 43
    assert d.view.tombstones.get("/data/x") is not None  # guards the old children


def test_c1_another_inode_needs_a_newer_name_version():
    """Log rotation: mv log log.1; create log. A lagging host's row of the old inode is dropped."""
    d = driver()
    base(d)
    d.realtime(live("/data/log", ino=50, ctime=T + 100, pc=T + 100), session="A")
    d.delete(gone("/data/log", pc=T + 110, ino=50), session="A")
    d.realtime(live("/data/log.1", ino=50, ctime=T + 110, pc=T + 110), session="A")
    d.realtime(live("/data/log", ino=51, ctime=T + 111, pc=T + 111), session="A")
    # Host B's late write to the old inode, seen under its old name.
    d.realtime(live("/data/log", ino=50, ctime=T + 105, pc=T + 105, size=9), session="B")
    assert d.node("/data/log").ino == 51


def test_c1_skew_sampled_only_from_fresh_writes():
    d = driver()
    base(d)
    now = d.clock.wall()
    # cp -p: an old mtime is never a sample.
    d.realtime(live("/data/old", ino=60, ctime=now - 3, mtime=T - 5000, pc=now - 3))
    assert d.view.logical.sample_count == 0
    for i in range(5):
        d.realtime(live(f"/data/w{i}", ino=61 + i, ctime=now - 3, mtime=now - 3, pc=now - 3))
    assert d.view.logical.skew == 3
    assert d.view.logical.watermark() == now - 3


# --- C2 realtime delete ---------------------------------------------------------


def test_c2_delete_removes_subtree_records_tombstone_and_updates_parent():
    d = driver()
    base(d)
    d.realtime(live("/data/sub", "dir", ino=70, ctime=T + 20, pc=T + 20))
    d.realtime(live("/data/sub/f", ino=71, ctime=T + 21, pc=T + 21, atomic=False))
    assert len(d.view.suspects) == 1
    d.delete(gone("/data/sub", pc=T + 30, ino=70))
    assert not d.has("/data/sub") and not d.has("/data/sub/f")
    t = d.view.tombstones.get("/data/sub")
    assert t.stamp == T + 30 and t.ino == 70
    assert len(d.view.suspects) == 0 and d.view.query.stats("/")["suspects"] == 0
    assert d.node("/data").ctime == T + 30
    assert d.view.query.stats("/data")["dirs"] == 0


def test_c2_late_delete_is_ignored_after_a_recreation():
    d = driver()
    base(d)
    d.realtime(live("/data/a.txt", ino=80, ctime=T + 50, pc=T + 50), session="A")  # re-created
    d.delete(gone("/data/a.txt", pc=T + 40, ino=11), session="B")  # B's delete happened before
    assert d.node("/data/a.txt").ino == 80
    assert d.view.tombstones.get("/data/a.txt").stamp >= T + 40  # the delete still guards


def test_c2_delete_without_parent_ctime_is_stamped_by_the_watermark():
    d = driver()
    base(d)
    d.delete(gone("/data/a.txt", pc=None))
    assert d.view.tombstones.get("/data/a.txt").stamp == d.view.logical.watermark()
    assert not d.has("/data/a.txt")


def test_c2_delete_clears_blind_spot_marks_of_everything_removed():
    d = driver()
    base(d)
    d.audit(
        listed("/data/sub", "dir", ino=90, ctime=T + 20, pc=T + 20, pino=10),
        listed("/data/a.txt", ino=11, ctime=T + 8, pc=T + 20, pino=10, size=100),
        listed("/data", "dir", ino=10, ctime=T + 20, pc=T + 5, pino=2, skipped=False),
        listed("/data/sub/z", ino=91, ctime=T + 19, pc=T + 20, pino=90),
        listed("/data/sub", "dir", ino=90, ctime=T + 20, pc=T + 20, pino=10, skipped=False),
    )
    assert len(d.view.blind.additions) == 2
    d.delete(gone("/data/sub", pc=T + 30))
    assert len(d.view.blind.additions) == 0 and d.view.query.stats("/")["blind_spots"] == 0


# --- C3 tombstones --------------------------------------------------------------


def test_c3_realtime_row_passes_a_tombstone_only_when_newer():
    d = driver()
    base(d)
    d.delete(gone("/data/a.txt", pc=T + 50, ino=11))
    d.realtime(live("/data/a.txt", ino=11, ctime=T + 50, pc=T + 49))  # same inode, equal: zombie
    assert not d.has("/data/a.txt")
    d.realtime(live("/data/a.txt", ino=12, ctime=T + 50, pc=T + 50))  # equal but another inode
    assert d.node("/data/a.txt").ino == 12
    d.delete(gone("/data/a.txt", pc=T + 60, ino=12))
    d.realtime(live("/data/a.txt", ino=12, ctime=T + 61, pc=T + 61))  # greater
    assert d.node("/data/a.txt").ctime == T + 61


def test_c3_zombie_from_a_stale_snapshot_is_refused():
    d = driver()
    base(d)
    d.delete(gone("/data/a.txt", pc=T + 50, ino=11))
    # Another agent's snapshot, listed before the delete.
    d.snapshot(listed("/data/a.txt", ino=11, ctime=T + 8, pc=T + 10, pino=10, size=100), session="s2")
    assert not d.has("/data/a.txt")
    assert "tombstone: the listing did not bind the name after the delete" in d.reasons("/data/a.txt")
    # A listing that bound the name after the delete passes.
    d.snapshot(listed("/data/a.txt", ino=11, ctime=T + 8, pc=T + 55, pino=10, size=100), session="s3")
    assert d.has("/data/a.txt")


def test_c3_equal_listing_version_passes_only_with_another_inode():
    d = driver()
    base(d)
    d.delete(gone("/data/a.txt", pc=T + 50, ino=11))
    d.snapshot(listed("/data/a.txt", ino=11, ctime=T + 8, pc=T + 50, pino=10), session="s2")
    assert not d.has("/data/a.txt")
    d.snapshot(listed("/data/a.txt", ino=99, ctime=T + 50, pc=T + 50, pino=10), session="s3")
    assert d.node("/data/a.txt").ino == 99


def test_c3_tree_moved_into_tombstoned_dir_passes_through_the_dirs_own_row():
    d = driver()
    base(d)
    d.realtime(live("/data/p", "dir", ino=100, ctime=T + 20, pc=T + 20))
    d.realtime(live("/data/p/sub", "dir", ino=101, ctime=T + 21, pc=T + 21))
    d.realtime(live("/data/p/sub/x", ino=102, ctime=T + 22, pc=T + 22))
    d.delete(gone("/data/p/sub/x", pc=T + 30, ino=102))
    d.delete(gone("/data/p", pc=T + 40, ino=100))
    # A tree with old ctimes is moved in as /data/p: only the moved directory
    # gets a new ctime; /data/p/sub and its file keep theirs (T+1).
    moved = [
        listed("/data/p", "dir", ino=200, ctime=T + 45, pc=T + 45, pino=10),
        listed("/data/a.txt", ino=11, ctime=T + 8, pc=T + 45, pino=10, size=100),
        listed("/data", "dir", ino=10, ctime=T + 45, pc=T + 5, pino=2, skipped=False),
        listed("/data/p/sub", "dir", ino=203, ctime=T + 1, pc=T + 45, pino=200),
        listed("/data/p", "dir", ino=200, ctime=T + 45, pc=T + 45, pino=10, skipped=False),
        listed("/data/p/sub/x", ino=204, ctime=T + 1, pc=T + 1, pino=203, size=4),
        listed("/data/p/sub", "dir", ino=203, ctime=T + 1, pc=T + 45, pino=200, skipped=False),
    ]
    d.audit(*moved)
    assert d.node("/data/p/sub/x").ino == 204
    # Without /data/p's own row in the same listing, rows below stay zombies.
    d2 = driver()
    base(d2)
    for step in (
        lambda: d2.realtime(live("/data/p", "dir", ino=100, ctime=T + 20, pc=T + 20)),
        lambda: d2.realtime(live("/data/p/sub", "dir", ino=101, ctime=T + 21, pc=T + 21)),
        lambda: d2.realtime(live("/data/p/sub/x", ino=102, ctime=T + 22, pc=T + 22)),
        lambda: d2.delete(gone("/data/p/sub/x", pc=T + 30, ino=102)),
        lambda: d2.delete(gone("/data/p", pc=T + 40, ino=100)),
    ):
        step()
    d2.snapshot(*moved[3:4], *moved[5:6], session="s9")
    assert not d2.has("/data/p/sub/x") and not d2.has("/data/p/sub")


def test_c3_tombstone_outlives_recreation_until_its_ttl():
    d = driver(tombstone_ttl=100)
    base(d)
    d.delete(gone("/data/a.txt", pc=T + 50, ino=11))
    d.realtime(live("/data/a.txt", ino=12, ctime=T + 60, pc=T + 60))
    assert d.view.tombstones.get("/data/a.txt") is not None  # re-creation does not drop it
    d.clock.advance(100)  # exactly the TTL: still alive
    aid = d.audit_start()
    d.audit_end(aid)
    assert d.view.tombstones.get("/data/a.txt") is not None
    d.clock.advance(0.001)
    aid = d.audit_start()
    report = d.audit_end(aid)
    assert d.view.tombstones.get("/data/a.txt") is None and report.tombstones_purged == 1


# --- C4 snapshot and on-demand ----------------------------------------------------


def test_c4_snapshot_keeps_a_node_that_is_as_new_or_newer():
    d = driver()
    base(d)
    d.realtime(live("/data/a.txt", ino=11, ctime=T + 30, pc=T + 10, size=300))
    d.snapshot(listed("/data/a.txt", ino=11, ctime=T + 8, pc=T + 10, pino=10, size=100), session="s2")
    assert d.node("/data/a.txt").size == 300


def test_c4_listing_older_than_the_parent_in_the_view_is_dropped():
    d = driver()
    base(d)
    d.realtime(live("/data/b.txt", ino=12, ctime=T + 40, pc=T + 40))
    d.delete(gone("/data/b.txt", pc=T + 41, ino=12))
    d.snapshot(listed("/data/c.txt", ino=13, ctime=T + 20, pc=T + 30, pino=10), session="s2")
    assert not d.has("/data/c.txt")
    assert "the parent in the view is newer than the listing" in d.reasons("/data/c.txt")


def test_c4_hot_snapshot_file_is_suspect_for_the_rest_of_its_threshold():
    d = driver()
    base(d)
    now = d.clock.wall()
    d.snapshot(listed("/data/hot", ino=14, ctime=now - 100, pc=T + 10, pino=10, size=5), session="s2")
    hot = d.node("/data/hot")
    entry = d.view.suspects.get(hot)
    assert entry is not None
    assert entry.expiry - d.clock.monotonic() == pytest.approx(HOT - 100)
    assert hot.updated_at == 0  # snapshots never set last_updated_at
    # Nearly expired by age: at least 1 s of life.
    d.snapshot(listed("/data/warm", ino=15, ctime=now - HOT + 0.2, pc=T + 10, pino=10, size=5), session="s2")
    entry = d.view.suspects.get(d.node("/data/warm"))
    assert entry.expiry - d.clock.monotonic() == pytest.approx(1.0)


def test_c4_snapshot_keeps_last_updated_at_of_an_existing_node():
    d = driver()
    base(d)
    d.realtime(live("/data/b.txt", ino=12, ctime=T + 40, pc=T + 40, size=1))
    stamp = d.node("/data/b.txt").updated_at
    d.clock.advance(10)
    d.snapshot(listed("/data/b.txt", ino=12, ctime=T + 45, pc=T + 45, pino=10, size=2), session="s2")
    assert d.node("/data/b.txt").size == 2 and d.node("/data/b.txt").updated_at == stamp


def test_c4_on_demand_rows_are_blind_additions_and_never_clear_marks():
    d = driver()
    base(d)
    d.realtime(live("/data/a.txt", ino=11, ctime=T + 30, pc=T + 10, size=300, atomic=False))
    d.view.blind.deletions["/data/x"] = 1.0
    d.on_demand(
        listed("/data/a.txt", ino=11, ctime=T + 30, pc=T + 60, pino=10, size=300),
        listed("/data/x", ino=16, ctime=T + 59, pc=T + 60, pino=10, size=1),
        listed("/data/new", ino=17, ctime=T + 59, pc=T + 60, pino=10, size=1),
    )
    assert d.view.suspects.get(d.node("/data/a.txt")) is not None  # suspect not cleared
    assert "/data/x" in d.view.blind.deletions  # deletion mark not cleared
    assert d.node("/data/new").flags & 4 and not d.node("/data/new").flags & 2


# --- C5 audit rows ------------------------------------------------------------------


def test_c5_rows_of_another_audit_id_are_refused():
    d = driver()
    base(d)
    aid = d.audit_start()
    with pytest.raises(AuditError):
        d.audit_rows("not-" + aid, listed("/data/z", ino=1, ctime=T, pc=T + 10, pino=10))
    with pytest.raises(AuditError):
        d.audit_end("not-" + aid)
    assert not d.has("/data/z")
    d.audit_end(aid)
    with pytest.raises(AuditError):  # a stale id after the end
        d.audit_rows(aid, listed("/data/z", ino=1, ctime=T, pc=T + 10, pino=10))


def test_c5_audit_found_file_is_a_blind_addition_not_known_by_an_agent():
    d = driver()
    base(d)
    d.audit(
        listed("/data/a.txt", ino=11, ctime=T + 8, pc=T + 20, pino=10, size=100),
        listed("/data/c.txt", ino=18, ctime=T + 19, pc=T + 20, pino=10, size=3),
        listed("/data", "dir", ino=10, ctime=T + 20, pc=T + 5, pino=2, skipped=False),
    )
    c = d.node("/data/c.txt")
    assert c.flags & 4 and not c.flags & 2
    s = d.view.query.summary("/data")
    assert s["not_known_by_agent"] == 1 and s["blind_spot_additions"] == 1
    # Listed by an audit that began after its newest change: complete, the marks as notes.
    assert s["verdict"] == "complete" and any("blind spot" in n for n in s["notes"])
    assert not d.node("/data/a.txt").flags & 4  # unchanged: not a blind spot


def test_c5_silent_directory_marker_sets_audit_skipped_and_never_replaces_a_file():
    d = driver()
    base(d)
    d.audit(listed("/data", "dir", ino=10, ctime=T + 10, pc=T + 5, pino=2, skipped=True))
    assert d.view.query.stats("/data")["audit_skipped"] is True
    d.audit(listed("/data/a.txt", "dir", ino=11, ctime=T + 90, pc=T + 90, pino=10, skipped=True))
    assert d.node("/data/a.txt").kind == "file"
    assert d.has("/data/a.txt")  # and the silent audit deleted nothing


def test_c5_audit_seeing_a_file_clears_its_blind_deletion():
    d = driver()
    base(d)
    d.view.blind.deletions["/data/a.txt"] = 1.0
    d.audit(
        listed("/data/a.txt", ino=11, ctime=T + 8, pc=T + 10, pino=10, size=100),
        listed("/data", "dir", ino=10, ctime=T + 10, pc=T + 5, pino=2, skipped=False),
    )
    assert "/data/a.txt" not in d.view.blind.deletions


def test_c5_row_listed_in_another_directory_than_the_view_holds_is_dropped():
    d = driver()
    base(d)
    d.snapshot(listed("/data/q.txt", ino=19, ctime=T + 9, pc=T + 10, pino=999), session="s2")
    assert not d.has("/data/q.txt")
    assert "listed in another directory than the view holds there" in d.reasons("/data/q.txt")


# --- C6 missing detection --------------------------------------------------------------


def _audit_data_without_a(d: ViewDriver, version: float, aborted: bool = False, ino: int = 10):
    aid = d.audit_start()
    d.audit_rows(aid, listed("/data", "dir", ino=ino, ctime=version, pc=T + 5, pino=2, skipped=False))
    return d.audit_end(aid, aborted=aborted)


def test_c6_missing_child_is_deleted_as_a_blind_spot_deletion():
    d = driver()
    base(d)
    report = _audit_data_without_a(d, T + 60)
    assert not d.has("/data/a.txt") and report.deleted == ["/data/a.txt"]
    assert "/data/a.txt" in d.view.blind.deletions
    assert d.view.query.summary("/data")["blind_spot_deletions"] == 1


def test_c6_stale_evidence_protects_cp_p_file_written_during_the_audit():
    d = driver()
    base(d)
    aid = d.audit_start()
    d.audit_rows(
        aid,
        listed("/data/a.txt", ino=11, ctime=T + 8, pc=T + 10, pino=10, size=100),
        listed("/data", "dir", ino=10, ctime=T + 10, pc=T + 5, pino=2, skipped=False),
    )
    d.clock.advance(1)
    # cp -p through a watched host after /data was listed: old mtime, new ctime.
    d.realtime(live("/data/copy", ino=300, ctime=T + 9, mtime=T - 9999, pc=T + 9))
    d.audit_end(aid)
    assert d.has("/data/copy")  # (a): realtime confirmed it after the audit began


def test_c6_protection_b_listing_older_than_the_view_skips_the_directory():
    d = driver()
    base(d)
    d.snapshot(listed("/data/b.txt", ino=12, ctime=T + 20, pc=T + 30, pino=10), session="s2")
    d.view.tree.set_attrs(d.node("/data"), 0, T + 30, T + 30, 10, None)
    report = _audit_data_without_a(d, T + 25)
    assert d.has("/data/a.txt") and d.has("/data/b.txt")
    assert report.spared["listing_older_than_view"] == 1


def test_c6_protection_c_a_realtime_version_at_least_the_listing_spares_the_node():
    d = driver()
    base(d)
    d.realtime(live("/data/b.txt", ino=12, ctime=T + 50, pc=T + 50))
    node = d.node("/data/b.txt")
    node.updated_at = 0  # take (a) out of play: only (c) can spare it
    report = _audit_data_without_a(d, T + 50)  # the listing version equals what realtime saw
    assert d.has("/data/b.txt") and report.spared["realtime_version"] == 1
    assert not d.has("/data/a.txt")  # never confirmed by realtime: no protection


def test_c6_directories_without_a_complete_row_are_not_judged():
    d = driver()
    base(d)
    aid = d.audit_start()
    d.audit_rows(aid, listed("/data", "dir", ino=10, ctime=T + 10, pc=T + 5, pino=2, skipped=True))
    d.audit_end(aid)
    assert d.has("/data/a.txt")


def test_c6_a_directory_listed_with_another_inode_is_not_judged():
    d = driver()
    base(d)
    report = _audit_data_without_a(d, T + 60, ino=77)
    assert d.has("/data/a.txt") and report.dirs_judged == 0


def test_c6_an_aborted_audit_still_judges_completed_directories():
    d = driver()
    base(d)
    report = _audit_data_without_a(d, T + 60, aborted=True)
    assert report.aborted and not d.has("/data/a.txt")


# --- C7 audit lifecycle ---------------------------------------------------------------------


@pytest.mark.parametrize("how", ["session_close", "new_audit", "watchdog", "leader_change"])
def test_c7_an_abandoned_audit_deletes_nothing(how):
    d = driver(audit_interval=10)
    base(d)
    aid = d.audit_start()
    d.audit_rows(aid, listed("/data", "dir", ino=10, ctime=T + 60, pc=T + 5, pino=2, skipped=False))
    if how == "session_close":
        d.view.on_session_close("s1")
    elif how == "new_audit":
        d.audit_start()
    elif how == "watchdog":
        d.clock.advance(19)
        assert d.view.check_audit_watchdog() is None
        d.clock.advance(2)
        assert d.view.check_audit_watchdog() == aid
    else:
        d.view.on_leader_change("s2")
    with pytest.raises(AuditError):
        d.audit_end(aid)
    assert d.has("/data/a.txt")


def test_c7_audit_end_waits_for_the_queue_to_drain_but_bounded():
    pending = [3]

    def count() -> int:
        pending[0] = max(0, pending[0] - 1)
        return pending[0]

    assert asyncio.run(wait_drained(count, timeout=1.0, poll=0.001)) is True
    assert asyncio.run(wait_drained(lambda: 1, timeout=0.05, poll=0.01)) is False


# --- C9 suspects ------------------------------------------------------------------------------


def _suspect(d: ViewDriver):
    base(d)
    d.realtime(live("/data/a.txt", ino=11, ctime=T + 30, pc=T + 10, size=300, atomic=False))
    return d.node("/data/a.txt")


def test_c9_suspect_without_fresh_evidence_is_renewed_and_first_for_the_sentinel():
    d = driver()
    node = _suspect(d)
    d.realtime(live("/data/b.txt", ino=12, ctime=T + 31, pc=T + 31, atomic=False))
    d.clock.advance(HOT + 1)
    out = d.view.sweep()
    assert out["unvouched"] == 2
    entry = d.view.suspects.get(node)
    assert entry.priority and entry.expiry > d.clock.monotonic()
    assert d.view.sentinel_tasks(limit=1) == ["/data/a.txt"]  # the longest suspect first


def test_c9_suspect_clears_only_on_fresh_evidence_of_the_same_mtime_and_size():
    d = driver()
    node = _suspect(d)
    aid = d.audit_start()
    d.audit_rows(aid, listed("/data/a.txt", ino=11, ctime=T + 30, pc=T + 10, pino=10, size=300))
    d.audit_end(aid)
    d.clock.advance(HOT + 1)
    assert d.view.sweep()["cleared"] == 1
    assert not node.flags & 1 and d.view.suspects.get(node) is None


def test_c9_changed_attributes_renew_for_a_full_threshold():
    d = driver()
    node = _suspect(d)
    d.clock.advance(HOT + 1)
    d.view.tree.set_attrs(node, 400, T + 40, T + 40, 11, node.meta)
    assert d.view.sweep()["renewed"] == 1
    entry = d.view.suspects.get(node)
    assert entry.size == 400 and entry.expiry == pytest.approx(d.clock.monotonic() + HOT)


def test_c9_complete_realtime_write_or_delete_removes_the_entry_at_once():
    d = driver()
    node = _suspect(d)
    d.realtime(live("/data/a.txt", ino=11, ctime=T + 31, pc=T + 10, size=301, atomic=True))
    assert d.view.suspects.get(node) is None
    d.realtime(live("/data/a.txt", ino=11, ctime=T + 32, pc=T + 10, size=302, atomic=False))
    d.delete(gone("/data/a.txt", pc=T + 40))
    assert len(d.view.suspects) == 0


# --- C10 sentinel -------------------------------------------------------------------------------


def _answer(path, *, exists=True, mtime=T + 30, ctime=T + 30, size=300, pc=T + 10, kind="file"):
    return {"path": path, "exists": exists, "kind": kind if exists else None, "mtime": mtime, "ctime": ctime,
            "size": size, "parent_ctime": pc}


def test_c10_sentinel_unchanged_clears_changed_renews_gone_deletes():
    d = driver()
    _suspect(d)
    d.realtime(live("/data/b.txt", ino=12, ctime=T + 31, pc=T + 31, atomic=False, size=1))
    d.realtime(live("/data/c.txt", ino=13, ctime=T + 32, pc=T + 32, atomic=False, size=1))
    d.clock.advance(30)  # unchanged for half a sentinel interval before the round
    assert sorted(d.view.sentinel_tasks()) == ["/data/a.txt", "/data/b.txt", "/data/c.txt"]
    out = d.view.sentinel_feedback([
        _answer("/data/a.txt"),
        _answer("/data/b.txt", mtime=T + 50, ctime=T + 50, size=9, pc=T + 32),
        _answer("/data/c.txt", exists=False, pc=T + 60),
    ])
    assert out == {"cleared": 1, "updated": 1, "deleted": 1, "ignored": 0}
    assert not d.node("/data/a.txt").flags & 1
    b = d.node("/data/b.txt")
    assert b.size == 9 and d.view.suspects.get(b).size == 9
    assert not d.has("/data/c.txt") and "/data/c.txt" in d.view.blind.deletions


def test_c10_an_answer_unchanged_only_for_moments_is_evidence_not_a_clearance():
    """An append in progress: the sentinel's stat falls between two writes and
    shows the state of the last realtime row. That proves no write finished;
    only a state unchanged for half a sentinel interval clears at once."""
    d = driver(sentinel_interval=10)
    node = _suspect(d)
    d.clock.advance(1)
    d.realtime(live("/data/a.txt", ino=11, ctime=T + 31, pc=T + 10, size=310, atomic=False))  # the next append
    d.view.sentinel_tasks()
    out = d.view.sentinel_feedback([_answer("/data/a.txt", mtime=T + 31, ctime=T + 31, size=310)])
    assert out["cleared"] == 0 and out["ignored"] == 1
    entry = d.view.suspects.get(node)
    assert entry is not None and entry.evidence and node.flags & 1
    # Unchanged through the next round, five seconds later: cleared at once.
    d.clock.advance(5)
    assert d.view.sentinel_tasks() == ["/data/a.txt"]
    out = d.view.sentinel_feedback([_answer("/data/a.txt", mtime=T + 31, ctime=T + 31, size=310)])
    assert out["cleared"] == 1 and d.view.suspects.get(node) is None and not node.flags & 1


def test_c10_stale_sentinel_gone_is_ignored():
    d = driver()
    _suspect(d)
    d.view.sentinel_tasks()
    out = d.view.sentinel_feedback([_answer("/data/a.txt", exists=False, pc=T + 20)])  # node ctime T+30
    assert out["ignored"] == 1 and d.has("/data/a.txt")


def test_c10_answer_after_a_realtime_confirmation_is_ignored():
    d = driver()
    _suspect(d)
    d.view.sentinel_tasks()
    d.clock.advance(1)
    d.realtime(live("/data/a.txt", ino=11, ctime=T + 35, pc=T + 10, size=350, atomic=False))
    out = d.view.sentinel_feedback([_answer("/data/a.txt", exists=False, pc=T + 90)])
    assert out["ignored"] == 1 and d.node("/data/a.txt").size == 350


def test_c10_tasks_are_bounded_and_only_for_suspects():
    d = driver(sentinel_batch=2)
    base(d)
    for i in range(5):
        d.realtime(live(f"/data/s{i}", ino=400 + i, ctime=T + 40 + i, pc=T + 40 + i, atomic=False))
        d.clock.advance(1)
    assert d.view.sentinel_tasks() == ["/data/s0", "/data/s1"]
    out = d.view.sentinel_feedback([_answer("/data/a.txt")])  # not a suspect
    assert out["ignored"] == 1


# --- C11 blind spots ------------------------------------------------------------------------------


def test_c11_blind_spots_are_cleared_when_the_first_session_opens_after_none():
    d = driver()
    base(d)
    d.audit(
        listed("/data/a.txt", ino=11, ctime=T + 8, pc=T + 20, pino=10, size=100),
        listed("/data/c.txt", ino=18, ctime=T + 19, pc=T + 20, pino=10, size=3),
        listed("/data", "dir", ino=10, ctime=T + 20, pc=T + 5, pino=2, skipped=False),
    )
    d.view.blind.deletions["/data/gone"] = 1.0
    d.view.on_session_start("s2")  # another session while s1 is open: marks stay
    assert d.view.query.blind_spots()["additions_count"] == 1
    d.view.on_session_close("s1")
    d.view.on_session_close("s2")
    d.view.on_session_start("s3")
    bs = d.view.query.blind_spots()
    assert bs == {"has_blind_spot": False, "additions_count": 0, "deletions_count": 0, "additions": [], "deletions": []}
    assert d.view.query.stats("/")["blind_spots"] == 0
    assert d.has("/data/c.txt")  # marks cleared, nodes kept


def test_c11_reset_and_live_mode_drop_state():
    d = driver(live_mode=True)
    base(d)
    d.view.on_session_close("s1")
    assert d.view.query.stats("/")["files"] == 0
    d2 = driver()
    base(d2)
    d2.view.on_session_close("s1")
    assert d2.view.query.stats("/")["files"] == 1  # not live: kept
    d2.view.reset()
    assert d2.view.query.stats("/")["files"] == 0 and len(d2.view.tombstones) == 0


# --- C15 schema check ---------------------------------------------------------------------------------


@pytest.mark.parametrize("schema,version,ok", [("fs", "1.0", True), ("fs", "1.7", True), ("fs", "2.0", False),
                                               ("oss", "1.0", False)])
def test_c15_other_schema_or_major_version_is_refused(schema, version, ok):
    d = driver()
    ev = EventBase(schema, version, EventType.INSERT, MessageSource.SNAPSHOT, 0,
                   [listed("/f", ino=5, ctime=T, pc=T, pino=2)])
    if ok:
        d.view.process_event(ev, "s1")
        assert d.has("/f")
    else:
        with pytest.raises(SchemaMismatchError) as err:
            d.view.process_event(ev, "s1")
        assert "fs" in str(err.value) and version in str(err.value)
        assert not d.has("/f")


# --- the logical clock inside the view ------------------------------------------------------------------


def test_clock_future_mtime_never_moves_the_watermark_and_silence_advances_it():
    d = driver()
    base(d)
    before = d.view.logical.watermark()
    now = d.clock.wall()
    d.realtime(live("/data/future", ino=500, ctime=now, mtime=now + 86400, pc=now))
    assert d.view.logical.watermark() == before
    d.clock.advance(30)
    assert d.view.logical.watermark() == before + 30


def test_c10_an_unchanged_answer_for_a_file_no_agent_watches_is_evidence_until_the_sweep():
    """A host with no agent appends in place: between two appends the sentinel sees it unchanged."""
    d = driver()
    base(d)
    now = d.clock.wall()
    d.audit(
        listed("/data/a.txt", ino=11, ctime=T + 8, pc=T + 10, pino=10, size=100),
        listed("/data/blind", ino=30, ctime=now - 10, pc=now - 10, pino=10, size=4096),
        listed("/data", "dir", ino=10, ctime=now - 10, pc=T + 5, pino=2, skipped=False),
    )
    node = d.node("/data/blind")
    assert d.view.suspects.get(node) is not None and not node.flags & 2  # hot, not known by an agent
    d.clock.advance(40)
    d.view.sentinel_tasks()
    out = d.view.sentinel_feedback([_answer("/data/blind", mtime=now - 10, ctime=now - 10, size=4096, pc=now - 10)])
    assert out["cleared"] == 0 and d.view.suspects.get(node).evidence is True
    assert d.view.query.summary("/data")["verdict"] == "writing"
    d.clock.advance(HOT)
    assert d.view.sweep()["cleared"] == 1 and d.view.suspects.get(node) is None
    # Once its mtime is a whole threshold old, an unchanged answer clears it at once.
    d.realtime(live("/data/other", ino=31, ctime=T + 70, pc=T + 70, size=1))  # unrelated; keeps the view busy
    d.audit(listed("/data/blind2", ino=32, ctime=d.clock.wall() - HOT + 5, pc=d.clock.wall(), pino=10, size=9),
            listed("/data", "dir", ino=10, ctime=d.clock.wall(), pc=T + 5, pino=2, skipped=False))
    n2 = d.node("/data/blind2")
    assert d.view.suspects.get(n2) is not None
    d.clock.advance(40)
    d.view.sentinel_tasks()
    out = d.view.sentinel_feedback([_answer("/data/blind2", mtime=n2.mtime, ctime=n2.ctime, size=9, pc=d.clock.wall())])
    assert out["cleared"] == 1 and d.view.suspects.get(n2) is None
