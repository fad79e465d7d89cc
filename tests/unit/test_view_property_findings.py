"""Regression tests for what the property test (test_view_property.py) found.

Each test is the shrunk example rewritten by hand, named after the rule it
is about. Storage times are ``T + n``; the fusion wall clock starts at
``T + 1000`` so files with mtime near ``T`` are old (not hot).
"""

from __future__ import annotations

from fustor.testing import ViewDriver, gone, listed, live

T = 1_700_000_000.0


def driver(**cfg) -> ViewDriver:
    cfg.setdefault("hot_file_threshold", 300.0)
    cfg.setdefault("sentinel_interval", 60)
    d = ViewDriver(wall=T + 1000, **cfg)
    d.start("A")
    d.start("B")
    return d


def test_c1_realtime_row_under_a_path_the_view_holds_as_an_older_file_is_applied():
    """Host A: create /a, mv /a /b, mkdir /a; host B: create /a/a. B's row arrives
    after A's first row only: the file /a the view holds was bound before the
    directory B's row proves, so B's live file must not be dropped."""
    d = driver()
    d.realtime(live("/a", ino=4, ctime=T, pc=T, atomic=False), session="A")
    d.realtime(live("/a/a", ino=6, ctime=T + 3, pc=T + 3, atomic=False), session="B")
    assert d.node("/a").is_dir and d.has("/a/a")
    # A's remaining rows: the rename and the mkdir.
    d.delete(gone("/a", pc=T + 1, kind="file"), session="A")
    d.realtime(live("/b", ino=4, ctime=T + 1, pc=T + 1, atomic=False), session="A")
    d.realtime(live("/a", "dir", ino=5, ctime=T + 2, pc=T + 2), session="A")
    assert d.node("/a").is_dir and d.node("/a").ino in (None, 5)  # B's row already gave /a its newer version
    assert d.node("/a/a").ino == 6 and d.node("/b").ino == 4


def test_c1_realtime_row_under_a_file_bound_later_is_still_dropped():
    """The other order: the file's binding is newer than the row's parent version."""
    d = driver()
    d.realtime(live("/a", ino=4, ctime=T + 5, pc=T + 5), session="A")
    d.realtime(live("/a/a", ino=6, ctime=T + 3, pc=T + 3), session="B")
    assert not d.node("/a").is_dir and not d.has("/a/a")


def test_c3_scan_of_a_directory_that_replaced_a_file_passes_the_replacement_tombstone():
    """B: mv /c /a; A: mv /b /c (a directory holding a). A's move-in replaces the file
    /c the view holds: the tombstone of that file (stamp = the row's parent version)
    must not stop A's scan of the new directory, which bound /c with another inode."""
    d = driver()
    d.snapshot(listed("/c", ino=4, ctime=T + 2, pc=T + 2, pino=2), session="A")
    d.realtime(live("/c", "dir", ino=5, ctime=T + 4, pc=T + 4), session="A")
    d.realtime(listed("/c/a", ino=6, ctime=T + 3, pc=T + 4, pino=5), session="A")
    assert d.node("/c").ino == 5 and d.node("/c/a").ino == 6


def test_c3_listing_below_a_directory_that_replaced_a_file_passes_at_an_equal_version():
    """A listing that replaces a file by a directory binds the name at the version
    of the replacement tombstone, with another inode: its rows below pass, and so
    do a later listing's at the same parent version (C3: "or equal with another inode")."""
    d = driver()
    d.snapshot(listed("/c", ino=4, ctime=T + 2, pc=T + 2, pino=2), session="A")
    d.snapshot(
        listed("/c", "dir", ino=5, ctime=T + 4, pc=T + 4, pino=2),
        listed("/c/a", ino=6, ctime=T + 3, pc=T + 4, pino=5),
        session="A",
    )
    assert d.node("/c").ino == 5 and d.has("/c/a")
    d.realtime(gone("/c/a", pc=T + 5), session="B")
    d.audit(
        listed("/c", "dir", ino=5, ctime=T + 5, pc=T + 4, pino=2),
        listed("/c/b", ino=7, ctime=T + 3, pc=T + 5, pino=5),
        session="A",
    )
    assert d.has("/c/b")


def test_c3_a_listing_that_bound_a_directory_before_its_tombstone_arrived_passes_it():
    """B: mv /c /a (delete of /c at T); B: mkdir /b; mv /b /c (T+3). The snapshot
    lists / after that (binding /c at T+3) before B's delete of /c arrives; the
    snapshot's rows under /c must still pass the tombstone of /c: the same listing
    bound /c after the delete, whenever the tombstone was recorded."""
    d = driver()
    d.snapshot(listed("/c", "dir", ino=5, ctime=T + 3, pc=T + 3, pino=2), session="A", end=False)
    d.delete(gone("/c", pc=T, kind="file"), session="B")
    assert d.node("/c").ino == 5  # kept: the view holds a newer binding
    d.snapshot(listed("/c/a", ino=6, ctime=T + 2, pc=T + 3, pino=5), session="A")
    assert d.has("/c/a")


def test_c3_scan_after_a_confirming_directory_row_passes_the_tombstone():
    """The new-directory scan of a directory whose own row only confirms the view
    (the view already had it from a snapshot) still binds it for the scan rows."""
    d = driver()
    d.snapshot(listed("/c", "dir", ino=5, ctime=T + 3, pc=T + 3, pino=2), session="A")
    d.delete(gone("/c", pc=T, kind="file"), session="B")
    d.realtime(
        live("/c", "dir", ino=5, ctime=T + 3, pc=T + 3),
        listed("/c/a", ino=6, ctime=T + 2, pc=T + 3, pino=5),
        session="B",
    )
    assert d.has("/c/a")


def test_c3_binding_a_recreated_directory_does_not_pass_newer_tombstones_below_it():
    """/p deleted (T+1, realtime) and re-created (T+2); a blind host creates /p/y (T+3),
    which a listing shows, and deletes it (T+5), which the sentinel finds (a tombstone at
    T+5; the view's /p stays at T+3). A later snapshot lists / freshly (binding /p at
    T+9, after the delete of /p) but /p from a stale cache (T+4, still holding y): y's
    own tombstone is newer than /p's, so the binding of /p does not pass it (C3's
    "older tombstones below it": older than P's own), and C4 does not stop it either."""
    d = driver(hot_file_threshold=2000)
    d.realtime(live("/p", "dir", ino=10, ctime=T, pc=T), session="A")
    d.delete(gone("/p", pc=T + 1, kind="dir"), session="A")
    d.realtime(live("/p", "dir", ino=11, ctime=T + 2, pc=T + 2), session="A")
    d.snapshot(
        listed("/p", "dir", ino=11, ctime=T + 3, pc=T + 2, pino=2),
        listed("/p/y", ino=12, ctime=T + 3, pc=T + 3, pino=11),
        session="A",
    )
    assert d.view.sentinel_tasks() == ["/p/y"]
    out = d.view.sentinel_feedback([{"path": "/p/y", "exists": False, "kind": None, "mtime": None, "ctime": None,
                                     "size": None, "parent_ctime": T + 5}])
    assert out["deleted"] == 1 and d.node("/p").ctime == T + 3
    d.snapshot(
        listed("/p", "dir", ino=11, ctime=T + 3, pc=T + 9, pino=2),  # /p's attributes from a cache too
        listed("/p/y", ino=12, ctime=T + 3, pc=T + 4, pino=11),
        session="A",
    )
    assert not d.has("/p/y")
    assert d.reasons("/p/y")[-1] == "tombstone: the listing did not bind the name after the delete"


def test_c1_scan_rows_are_not_dropped_for_a_parent_version_another_host_gave():
    """A: mv /b /a (a tree); A: rm /a/a; B: create /a/a. B's row arrives first and
    gives /a the version T+6. A's scan of the moved-in /a lists /a/b at /a's
    version T: a realtime scan row is causal (C1), not a stale snapshot (C4), so
    the newer parent version in the view does not drop it."""
    d = driver()
    d.realtime(live("/a/a", ino=6, ctime=T + 6, pc=T + 6, atomic=False), session="B")
    d.delete(gone("/b", pc=T, kind="dir"), session="A")
    d.realtime(
        live("/a", "dir", ino=3, ctime=T, pc=T),
        listed("/a/a", ino=4, ctime=T - 98, pc=T, pino=3),
        listed("/a/b", ino=5, ctime=T - 97, pc=T, pino=3),
        session="A",
    )
    assert d.node("/a/a").ino == 6  # the older inode at the name stays refused
    assert d.node("/a/b").ino == 5


def test_c2_late_delete_spares_a_tree_moved_in_after_it():
    """A: rm /b/a/b (T+2); B: mv /a /b/a (T+3, over the then empty /b/a). B's rows
    arrive first; A's delete must not remove the /b/a/b that the move brought in:
    it keeps its old ctime, but its name was bound at T+3, after the delete."""
    d = driver()
    d.snapshot(
        listed("/b", "dir", ino=4, ctime=T - 96, pc=T - 98, pino=2),
        listed("/b/a", "dir", ino=6, ctime=T - 96, pc=T - 96, pino=4),
        listed("/b/a/b", ino=7, ctime=T - 96, pc=T - 96, pino=6),
        listed("/a", "dir", ino=3, ctime=T - 97, pc=T - 98, pino=2),
        listed("/a/b", ino=5, ctime=T - 97, pc=T - 97, pino=3),
        session="A",
    )
    d.delete(gone("/a", pc=T + 3, kind="dir"), session="B")
    d.realtime(
        live("/b/a", "dir", ino=3, ctime=T + 3, pc=T + 3),
        listed("/b/a/b", ino=5, ctime=T - 97, pc=T + 3, pino=3),
        session="B",
    )
    assert d.node("/b/a").ino == 3 and d.node("/b/a/b").ino == 5
    d.delete(gone("/b/a/b", pc=T + 2, kind="file"), session="A")
    assert d.node("/b/a/b").ino == 5


def test_c1_directory_replaced_by_another_directory_despite_newer_children_versions():
    """A: mkdir /c (ino 5), mkdir /c/b; C (blind): mv /c /a, rmdir /a/b; B: mkdir /c
    (ino 7); A: create /c/a (in ino 7). A's rows arrive, B's mkdir lags. The view's
    /c holds ino 5 with /c/a at the name version T+6 (ino 7's ctime): that version
    dates /c/a in ino 7, not the old /c, so it must not stop ino 7 from taking the
    name (from B's realtime row, or from an audit of / at T+5); /c/a, which
    realtime saw after the old binding, stays."""
    for how in ("realtime", "audit"):
        d = driver()
        d.realtime(live("/c", "dir", ino=5, ctime=T, pc=T), session="A")
        d.realtime(live("/c/b", "dir", ino=6, ctime=T + 2, pc=T + 2), session="A")
        d.realtime(live("/c/a", ino=8, ctime=T + 6, pc=T + 6, atomic=False), session="A")
        if how == "realtime":
            d.realtime(live("/c", "dir", ino=7, ctime=T + 5, pc=T + 5), session="B")
        else:
            d.audit(
                listed("/a", "dir", ino=5, ctime=T + 4, pc=T + 5, pino=2),
                listed("/c", "dir", ino=7, ctime=T + 6, pc=T + 5, pino=2),
                listed("/", "dir", ino=2, ctime=T + 5, pc=None, pino=None, skipped=False),
                listed("/c/a", ino=8, ctime=T + 6, pc=T + 6, pino=7),
                listed("/c", "dir", ino=7, ctime=T + 6, pc=T + 5, pino=2, skipped=False),
                session="A",
            )
        assert d.node("/c").ino == 7, how
        assert d.node("/c/a").ino == 8, how
        if how == "audit":
            # Kept by the replacement (realtime saw it after the old binding: it may
            # be the new inode's), then judged by the complete listing of /c (C6).
            assert not d.has("/c/b"), how


def test_c3_scan_after_a_directory_row_dropped_as_older_still_passes_the_tombstone():
    """A: rmdir /a (T+1); B: mv /b /a (T+2, a tree holding a); A: create /a/b (T+3).
    A's rows arrive first: /a exists at version T+3 in the view, so B's row of /a
    (T+2) is older and changes nothing, but it still proves /a was bound after the
    delete: B's scan rows below it pass the tombstone of /a."""
    d = driver()
    d.delete(gone("/a", pc=T + 1, kind="dir"), session="A")
    d.realtime(live("/a/b", ino=6, ctime=T + 3, pc=T + 3, atomic=False), session="A")
    d.delete(gone("/b", pc=T + 2, kind="dir"), session="B")
    d.realtime(
        live("/a", "dir", ino=4, ctime=T + 2, pc=T + 2),
        listed("/a/a", ino=5, ctime=T, pc=T + 2, pino=4),
        session="B",
    )
    assert d.has("/a/a") and d.has("/a/b")


def _sentinel_setup():
    d = driver(sentinel_interval=10)
    d.realtime(live("/a", "dir", ino=5, ctime=T + 4, pc=T + 4), session="B")
    d.realtime(live("/a/b", ino=8, ctime=T + 3, pc=T + 4, atomic=False), session="B")
    d.clock.advance(20)
    assert d.view.sentinel_tasks() == ["/a/b"]
    return d


def test_c10_sentinel_answer_through_a_stale_name_above_is_ignored():
    """B: mv /c /a, where /c held the file b (ino 8); the leader's stale dentry for /a
    still leads to the old /a (ino 3, since moved to /a/a, fresh ctime T+5), where b
    is a directory. The answer names the directory it looked in: another inode than
    the view's /a, so it says nothing about /a/b and must not delete it."""
    for answer in (
        {"exists": True, "kind": "dir", "mtime": T - 90, "ctime": T - 90, "size": 0, "inode": 7},
        {"exists": False, "kind": None, "mtime": None, "ctime": None, "size": None},
        {"exists": True, "kind": "file", "mtime": T - 80, "ctime": T - 80, "size": 9, "inode": 9},
    ):
        d = _sentinel_setup()
        out = d.view.sentinel_feedback([{"path": "/a/b", "parent_ctime": T + 5, "parent_ino": 3, **answer}])
        assert out["ignored"] == 1, answer
        node = d.node("/a/b")
        assert node is not None and node.ino == 8 and node.size == 0, answer


def test_c10_sentinel_answer_showing_another_inode_does_not_lend_it_its_attributes():
    """The answer is the right directory, but another inode holds the name now:
    its attributes are not a newer version of the node (versions compare within one
    inode); the audit replaces the node, the sentinel leaves it."""
    d = _sentinel_setup()
    out = d.view.sentinel_feedback([{"path": "/a/b", "exists": True, "kind": "file", "mtime": T + 9, "ctime": T + 9,
                                     "size": 3, "parent_ctime": T + 9, "parent_ino": 5, "inode": 9}])
    assert out["updated"] == 0
    node = d.node("/a/b")
    assert node.ino == 8 and node.size == 0 and node.mtime == T + 3


def test_c4_a_file_replaces_a_directory_whose_children_were_listed_through_a_stale_name():
    """C (blind): mv /b/c /c/a; create the file /b/c. A snapshot lists "/b/c" through
    a stale name: the directory it reads is the old /b/c (ino 4, fresh at /c/a, ctime
    T+6), so /b/c/a gets the name version T+6 from ino 4. A fresh audit then shows
    /b/c as a file at /b's version T+5: the T+6 dates ino 4, not the path /b/c (only
    realtime dates paths), so it must not keep the stale directory forever."""
    d = driver()
    d.snapshot(
        listed("/b", "dir", ino=3, ctime=T - 98, pc=T, pino=2),
        listed("/b/c", "dir", ino=4, ctime=T - 98, pc=T - 98, pino=3),
        session="A", end=False,
    )
    d.realtime(live("/b/c/a", ino=6, ctime=T + 1, pc=T + 1), session="A")
    d.snapshot(listed("/b/c/a", ino=6, ctime=T + 1, pc=T + 6, pino=4), session="A")
    d.audit(
        listed("/b/a", "dir", ino=8, ctime=T + 3, pc=T + 5, pino=3),
        listed("/b/c", ino=9, ctime=T + 5, pc=T + 5, pino=3),
        listed("/b", "dir", ino=3, ctime=T + 5, pc=T + 2, pino=2, skipped=False),
        session="A",
    )
    assert not d.node("/b/c").is_dir and d.node("/b/c").ino == 9
    assert not d.has("/b/c/a")


def test_c3_a_replacement_seen_by_a_listing_does_not_stamp_the_name_with_the_listing_version():
    """B: mv /c /a (T+26, over the empty /a, ino 5). A snapshot of / at T+27 shows ino 3
    at /a before B's rows arrive. The old inode's tombstone must not be stamped T+27 (the
    listing's version, later than the replacement): B's own rows of ino 3 at /a (T+26),
    and its scan of it, must still come in."""
    d = driver()
    d.realtime(live("/a", "dir", ino=5, ctime=T, pc=T), session="A")
    d.snapshot(listed("/a", "dir", ino=3, ctime=T - 87, pc=T + 27, pino=2), session="A")
    assert d.node("/a").ino == 3
    d.delete(gone("/c", pc=T + 26, kind="dir"), session="B")
    d.realtime(
        live("/a", "dir", ino=3, ctime=T + 26, pc=T + 26),
        listed("/a/b", ino=7, ctime=T + 13, pc=T + 26, pino=3),
        session="B",
    )
    assert d.node("/a").ctime == T + 26 and d.has("/a/b")


def test_c3_a_file_replaced_in_a_listing_still_refuses_the_old_inode():
    """The replacement's tombstone is stamped by the old name's version: a lagging
    realtime row of the old inode is still refused, by the name version of the new one."""
    d = driver()
    d.realtime(live("/x", ino=5, ctime=T, pc=T), session="A")
    d.snapshot(listed("/x", ino=9, ctime=T + 20, pc=T + 20, pino=2), session="A")
    d.realtime(live("/x", ino=5, ctime=T + 10, pc=T + 10, size=99), session="B")  # an append before the rotation
    assert d.node("/x").ino == 9 and d.node("/x").size == 0
