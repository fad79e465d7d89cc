"""Listings grouped by directory (protocol 1.1): the scanner, the schema, the sender, the event model."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from fustor.core import EventBase, ValidationError, event_rows, expand_groups
from fustor.schema import RowError, escape_name, rows_from_groups, validate_rows
from fustor.sources.fs import PathFilter, ScanErrors, list_directory, start_row, walk_groups, walk_rows
from fustor.sources.fs.scanner import listing_rows


def _odd_tree(root):
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "f.txt").write_text("hello")
    (root / "a" / "b" / "g").write_bytes(b"")
    (root / "back\\slash").write_text("x")
    (root / "skip.tmp").write_text("x")
    os.symlink("a", root / "link")
    os.symlink("loop", root / "loop")
    os.mkfifo(root / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock"))
    sock.close()
    with open(os.path.join(os.fsencode(root), b"caf\xe9-latin1"), "wb") as f:  # not UTF-8
        f.write(b"1")
    (root / "locked").mkdir()
    (root / "locked" / "inside").write_text("x")


def _reference(root: bytes, flt: PathFilter) -> list[dict]:
    """The rows a breadth-first walk of list_directory gives (the audit's listing code)."""
    out, queue = [], [("/", root)]
    errors = ScanErrors()
    while queue:
        key, local = queue.pop(0)
        listing = list_directory(local, key, flt, errors)
        if listing is None:
            continue
        out.extend(listing_rows(listing))
        queue.extend((k, loc) for k, loc, _ in listing.subdirs())
    return out


@pytest.mark.parametrize("workers", [1, 3])
def test_walk_groups_lists_what_list_directory_lists(tmp_path, workers):
    _odd_tree(tmp_path)
    root = bytes(tmp_path)
    flt = PathFilter(exclude=["*.tmp"])
    errors = ScanErrors()
    batches = list(walk_groups(root, "/", flt, errors, batch=3, workers=workers))
    assert all(sum(len(g["entries"]) for g in b) <= 3 for b in batches)
    got = [r for b in batches for r in rows_from_groups(b)]
    assert got == _reference(root, flt)
    paths = {r["path"] for r in got}
    assert {"/a/f.txt", "/a/b/g", "/" + escape_name("back\\slash"), "/link", "/loop", "/caf\\xe9-latin1"} <= paths
    assert not paths & {"/skip.tmp", "/fifo", "/sock"}  # excluded; FIFOs and sockets are skipped
    assert {r["kind"] for r in got if r["path"] in ("/link", "/loop")} == {"symlink"}
    validate_rows(got)


def test_an_unreadable_directory_is_counted_and_the_walk_goes_on(tmp_path, monkeypatch):
    import fustor.sources.fs.scanner as scanner

    _odd_tree(tmp_path)
    real_open = os.open

    def refusing_open(path, flags, *args, **kwargs):  # root reads every directory: refuse one by hand
        if str(path).endswith("/locked"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(scanner.os, "open", refusing_open)
    errors = ScanErrors()
    rows = [r for b in walk_groups(bytes(tmp_path), "/", PathFilter(), errors) for r in rows_from_groups(b)]
    assert errors.count == 1 and errors.recent[0][0] == "/locked" and "Permission denied" in errors.recent[0][1]
    paths = {r["path"] for r in rows}
    assert "/locked" in paths and "/locked/inside" not in paths and "/a/b/g" in paths


def test_walk_rows_puts_the_start_row_first(tmp_path):
    _odd_tree(tmp_path)
    rows = [r for b in walk_rows(bytes(tmp_path), "/a", PathFilter(), ScanErrors(), batch=2) for r in b]
    assert rows[0]["path"] == "/a" and rows[0]["parent_ino"] == os.lstat(tmp_path).st_ino
    rest = [r["path"] for r in rows[1:]]
    assert sorted(rest) == ["/a/b", "/a/b/g", "/a/f.txt"] and rest.index("/a/b") < rest.index("/a/b/g")
    assert start_row(bytes(tmp_path), "/", PathFilter(), ScanErrors())["path"] == "/"
    assert start_row(bytes(tmp_path), "/gone", PathFilter(), ScanErrors()) is None


GROUP = {"dir": "/d", "mtime": 5.0, "ctime": 6.0, "ino": 7,
         "entries": [["f", "file", 3, 1.0, 2.0, 8, 0o100644, 1000, 1000, None]]}


def test_rows_from_groups_gives_the_rows_they_stand_for():
    (row,) = rows_from_groups([GROUP])
    assert row == {"path": "/d/f", "kind": "file", "size": 3, "mtime": 1.0, "ctime": 2.0, "inode": 8,
                   "mode": 0o100644, "uid": 1000, "gid": 1000, "parent_path": "/d", "parent_mtime": 5.0,
                   "parent_ctime": 6.0, "parent_ino": 7, "audit_skipped": None, "is_atomic_write": None}


@pytest.mark.parametrize("groups, message", [
    ({"dir": "/d"}, "groups must be a list"),
    (["x"], "group 0: must be an object"),
    ([{**GROUP, "extra": 1}], "unknown field"),
    ([{**GROUP, "dir": "d/"}], "group 0: dir"),
    ([{**GROUP, "entries": {}}], "entries must be a list"),
    ([{**GROUP, "entries": [["f", "file"]]}], "entry 0 must be an array of 10"),
    ([{**GROUP, "entries": [["a/b", "file", 3, 1.0, 2.0, 8, 1, 1, 1, None]]}], "one path component"),
    ([{**GROUP, "entries": [["..", "file", 3, 1.0, 2.0, 8, 1, 1, 1, None]]}], "one path component"),
])  # fmt: skip
def test_rows_from_groups_names_what_is_malformed(groups, message):
    with pytest.raises(RowError, match=message):
        rows_from_groups(groups)


def test_events_with_groups_become_events_with_rows():
    ev = {"schema": "fs", "schema_version": "1.0", "type": "insert", "source": "snapshot", "index": 1,
          "groups": [GROUP]}
    assert event_rows(ev) == 1
    assert EventBase.from_dict(ev).rows == rows_from_groups([GROUP])
    assert expand_groups(ev)["rows"] == rows_from_groups([GROUP]) and "groups" not in expand_groups(ev)
    for bad, message in (({"source": "realtime"}, "not realtime"), ({"type": "delete"}, "not realtime rows or deletes"),
                         ({"rows": []}, "not both"), ({"groups": [{**GROUP, "dir": 5}]}, "groups: group 0")):
        with pytest.raises(ValidationError, match=message):
            EventBase.from_dict({**ev, **bad})


class _Conn:
    def __init__(self, protocol: str) -> None:
        self.hello = {"protocol": protocol}
        self.closed = False
        self.sent: list[dict] = []

    async def submit(self, op, **params):
        self.sent.append(params["event"])
        fut = asyncio.get_running_loop().create_future()
        fut.set_result({"seq": params["seq"]})
        return fut


@pytest.mark.parametrize("protocol, grouped", [("1.1", True), ("1.0", False), ("1.12", True), ("x", False)])
def test_the_sender_sends_groups_only_to_a_server_that_takes_them(protocol, grouped):
    from fustor.agent.sender import WebSocketSender

    async def main():
        sender = WebSocketSender("ws://unused", "k", on_push=lambda msg: None)
        sender.conn = _Conn(protocol)
        sender.session_id = "s"
        ev = {"schema": "fs", "schema_version": "1.0", "type": "insert", "source": "snapshot", "index": 1,
              "groups": [GROUP]}
        await sender.send(ev)
        (sent,) = sender.conn.sent
        assert ("groups" in sent) is grouped and ("rows" in sent) is not grouped
        assert sender.rows == 1
        if not grouped:
            assert sent["rows"] == rows_from_groups([GROUP])

    asyncio.run(main())
