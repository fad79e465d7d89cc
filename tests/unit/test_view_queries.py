"""Queries of the FS view: paging, sorting, trees, stats, completeness, search."""

from __future__ import annotations

import pytest

from fustor.core import NotFoundError, ValidationError
from fustor.testing import ViewDriver, gone, listed, live

T = 1_700_000_000.0


@pytest.fixture
def d() -> ViewDriver:
    d = ViewDriver(wall=T + 10_000, hot_file_threshold=300, sentinel_interval=60)
    d.start()
    rows = [listed("/up", "dir", ino=2, ctime=T, pc=T, pino=1)]
    for i in range(25):
        rows.append(listed(f"/up/f{i:02d}", ino=100 + i, ctime=T + i, pc=T, pino=2, size=(i * 7) % 25 * 10))
    rows.append(listed("/up/sub", "dir", ino=3, ctime=T, pc=T, pino=2))
    rows += [listed(f"/up/sub/g{i}", ino=200 + i, ctime=T + 50, pc=T, pino=3, size=1000) for i in range(3)]
    d.snapshot(*rows)
    return d


def test_listing_pages_with_a_cursor_cover_every_entry_once(d):
    q = d.view.query
    seen, cursor = [], None
    while True:
        page = q.list_dir("/up", limit=7, cursor=cursor, sort="size")
        seen += [e["name"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted([f"f{i:02d}" for i in range(25)] + ["sub"])
    assert len(seen) == len(set(seen)) == page["total"] == 26
    sizes = [q.stats("/up/" + n)["size"] for n in seen]
    assert sizes == sorted(sizes)  # a directory sorts by its rolled-up size
    assert seen[-1] == "sub"


def test_listing_cursor_survives_changes_between_pages(d):
    q = d.view.query
    first = q.list_dir("/up", limit=5)
    assert [e["name"] for e in first["entries"]] == ["f00", "f01", "f02", "f03", "f04"]
    d.delete(gone("/up/f01", pc=T + 100))
    d.realtime(live("/up/a-new", ino=999, ctime=T + 101, pc=T + 101))
    second = q.list_dir("/up", limit=5, cursor=first["next_cursor"])
    assert [e["name"] for e in second["entries"]] == ["f05", "f06", "f07", "f08", "f09"]


@pytest.mark.parametrize("sort", ["name", "size", "mtime", "count"])
def test_listing_sorts_server_side_both_ways(d, sort):
    q = d.view.query
    up = q.list_dir("/up", limit=100, sort=sort)["entries"]
    down = q.list_dir("/up", limit=100, sort=sort, reverse=True)["entries"]
    assert [e["name"] for e in up] == [e["name"] for e in reversed(down)]
    if sort == "count":
        assert up[-1]["name"] == "sub"  # 3 files beat 1
    if sort == "mtime":
        assert up[-1]["name"] == "sub"  # its newest file is T+50


def test_listing_refuses_bad_arguments(d):
    q = d.view.query
    with pytest.raises(ValidationError):
        q.list_dir("/up", sort="colour")
    with pytest.raises(ValidationError):
        q.list_dir("/up", limit=0)
    with pytest.raises(ValidationError):
        q.list_dir("/up", cursor="%%%not-base64")
    with pytest.raises(ValidationError):
        q.list_dir("/up/f00")
    with pytest.raises(NotFoundError):
        q.list_dir("/nowhere")
    with pytest.raises(ValidationError):
        q.list_dir("up/../etc")


def test_tree_respects_depth_and_metadata_choice(d):
    q = d.view.query
    t = q.tree("/up", depth=1)["tree"]
    assert t["path"] == "/up" and "/up/sub" in t["children"] and len(t["children"]) == 26
    t2 = q.tree("/up", depth=2)["tree"]
    sub = [c for c in t2["children"] if isinstance(c, dict)][0]
    assert sub["children"] == ["/up/sub/g0", "/up/sub/g1", "/up/sub/g2"]
    full = q.tree("/up/sub", depth=1, full=True)["tree"]
    assert full["files"] == 3 and full["children"][0]["inode"] == 200
    small = q.tree("/up", depth=2, max_nodes=5)
    assert small["truncated"] is True


def test_stats_come_from_rollups(d):
    s = d.view.query.stats("/")
    assert s["files"] == 28 and s["dirs"] == 2
    assert s["size"] == sum((i * 7) % 25 * 10 for i in range(25)) + 3000
    assert s["newest_mtime"] == T + 50
    d.delete(gone("/up/sub", pc=T + 200))
    s = d.view.query.stats("/")
    assert s["files"] == 25 and s["dirs"] == 1 and s["newest_mtime"] == T + 24


def test_summary_verdicts(d):
    q = d.view.query
    assert q.summary("/up/sub")["verdict"] == "complete"
    assert q.summary("/missing")["verdict"] == "absent"
    now = d.clock.wall()
    d.realtime(live("/up/sub/g9", ino=300, ctime=now - 1, mtime=now - 1, pc=now - 1, atomic=False, size=5))
    s = q.summary("/up/sub")
    assert s["verdict"] == "writing" and s["suspects"] == 1
    # That fresh write also taught the clock a 1 s skew: the age is by the watermark.
    assert s["watermark"] == now - 1 and s["newest_age_s"] == 0
    d.realtime(live("/up/sub/g9", ino=300, ctime=now - 1, mtime=now - 1, pc=now - 1, atomic=True, size=5))
    d.clock.advance(400)
    assert q.summary("/up/sub")["verdict"] == "complete"
    aid = d.audit_start()
    d.audit_rows(aid, listed("/up/sub/blind", ino=301, ctime=T + 60, pc=now, pino=3, size=1))
    d.audit_end(aid)
    s = q.summary("/up/sub")
    # The audit listed it after its newest change: complete, the blind spot a note.
    assert s["verdict"] == "complete" and s["not_known_by_agent"] == 1
    assert any("blind spot" in r for r in s["notes"])
    assert s["last_audit_completed_at"] == d.clock.wall()
    # Seen only by an on-demand scan after the last audit: not vouched for yet.
    d.clock.advance(400)
    d.on_demand(listed("/up/sub/late", ino=302, ctime=d.clock.wall() - 350, pc=d.clock.wall() - 350, pino=3, size=1))
    s = q.summary("/up/sub")
    assert s["verdict"] == "unvouched" and "no audit has listed it since its newest change" in s["reasons"]


def test_search_by_glob_regex_name_and_path(d):
    q = d.view.query
    assert [r["path"] for r in q.search("sub", kind="dir")["results"]] == ["/up/sub"]
    assert [r["path"] for r in q.search("s*", kind="dir")["results"]] == ["/up/sub"]
    assert len(q.search("f1?")["results"]) == 10
    assert [r["path"] for r in q.search(r"g[12]", mode="regex")["results"]] == ["/up/sub/g1", "/up/sub/g2"]
    assert [r["path"] for r in q.search("/sub/g0$", mode="regex", field="path")["results"]] == ["/up/sub/g0"]
    assert q.search("f*", limit=3)["truncated"] is True
    with pytest.raises(ValidationError):
        q.search("(", mode="regex")
    d.delete(gone("/up/sub", pc=T + 300))
    assert q.search("sub", kind="dir")["results"] == []  # the name index follows removals


def test_suspects_and_blind_spot_lists(d):
    q = d.view.query
    d.realtime(live("/up/w", ino=400, ctime=T + 500, pc=T + 500, atomic=False))
    s = q.suspects()
    assert s["count"] == 1 and s["suspects"][0]["path"] == "/up/w"
    aid = d.audit_start()
    d.audit_rows(aid, listed("/up", "dir", ino=2, ctime=T + 600, pc=T, pino=1, skipped=False))
    report = d.audit_end(aid)
    assert "/up/f00" in report.deleted
    b = q.blind_spots("/up")
    # 25 files, /up/sub and /up/w (confirmed by realtime before the audit began, not after)
    assert b["deletions_count"] == 27 and b["additions_count"] == 0 and b["has_blind_spot"]
    assert "/up/w" in b["deletions"] and q.suspects()["count"] == 0
    assert len(q.blind_spots(limit=3)["deletions"]) == 3


def test_debug_dump_reports_clock_and_counts(d):
    dump = d.view.debug_dump()
    assert dump["files"] == 28 and dump["watermark"] == d.clock.wall() and dump["skew"] == 0
    assert dump["snapshot_ended"] is True and dump["rows_applied"] == 30
