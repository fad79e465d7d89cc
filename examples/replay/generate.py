"""Regenerate the bundled replay recordings: ``python examples/replay/generate.py``.

The recordings are written from a small simulation of one NFS share: every
operation (mkdir, create, write, utime, unlink, rename) moves the storage
clock and updates ctimes, parent directories and inodes the way a POSIX
file system does, and the agents' rows are read from that state. So every
row is consistent with every other (a listed row's ``parent_ctime`` is the
ctime its directory had when it was listed; a realtime row's parent times are
those right after the operation), and a stale observation is a listing of an
older copy of the share.

Times: the storage clock runs ``STORAGE_LAG`` seconds behind fusion's wall
clock, and an agent's rows reach fusion ``LATENCY`` seconds after the
operation, so the skew fusion learns from fresh writes is 2 s.

``tests/unit/test_replay.py`` checks that the files in this directory are
exactly what this script writes, and reads ``mixed_disk()`` to compare the
replayed view of ``mixed.jsonl`` with the simulated share.
"""

from __future__ import annotations

import copy
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent

STORAGE_LAG = 1.6  # fusion wall clock minus storage clock
LATENCY = 0.3  # agent -> fusion

FILE_MODE, DIR_MODE, LINK_MODE = 0o100644, 0o40775, 0o120777


@dataclass
class Entry:
    kind: str
    size: int
    mtime: float
    ctime: float
    inode: int
    mode: int
    uid: int
    gid: int


def parent_of(path: str) -> str:
    cut = path.rfind("/")
    return "/" if cut <= 0 else path[:cut]


class Share:
    """The backing directory as the NFS server holds it."""

    def __init__(self, seed: int, t: float) -> None:
        self.rng = random.Random(seed)
        self.used: set[int] = {2}
        self.e: dict[str, Entry] = {"/": Entry("dir", 0, t, t, 2, DIR_MODE, 0, 0)}

    def _ino(self) -> int:
        while True:
            ino = self.rng.randrange(4_200_000, 9_800_000)
            if ino not in self.used:
                self.used.add(ino)
                return ino

    def _t(self, t: float) -> float:
        """A storage timestamp: the server's clock has sub-millisecond digits."""
        return t + self.rng.randrange(1, 900_000) / 1e9

    def _touch_dir(self, path: str, t: float) -> None:
        d = self.e[path]
        d.mtime = d.ctime = t

    def copy(self) -> "Share":
        return copy.deepcopy(self)

    def children(self, path: str) -> list[str]:
        pre = path if path == "/" else path + "/"
        return sorted(p for p in self.e if p != "/" and parent_of(p) == path and p.startswith(pre))

    def subtree(self, path: str) -> list[str]:
        if path == "/":
            return sorted(self.e)
        return sorted(p for p in self.e if p == path or p.startswith(path + "/"))

    # --- operations (t: storage time) ---

    def mkdir(self, path: str, t: float, uid: int, gid: int) -> Entry:
        t = self._t(t)
        assert path not in self.e and self.e[parent_of(path)].kind == "dir", path
        self.e[path] = ent = Entry("dir", 0, t, t, self._ino(), DIR_MODE, uid, gid)
        self._touch_dir(parent_of(path), t)
        return ent

    def create(self, path: str, t: float, uid: int, gid: int, size: int = 0) -> Entry:
        t = self._t(t)
        assert path not in self.e and self.e[parent_of(path)].kind == "dir", path
        self.e[path] = ent = Entry("file", size, t, t, self._ino(), FILE_MODE, uid, gid)
        self._touch_dir(parent_of(path), t)
        return ent

    def symlink(self, path: str, t: float, target: str, uid: int, gid: int) -> Entry:
        t = self._t(t)
        self.e[path] = ent = Entry("symlink", len(target), t, t, self._ino(), LINK_MODE, uid, gid)
        self._touch_dir(parent_of(path), t)
        return ent

    def write(self, path: str, t: float, size: int) -> Entry:
        t = self._t(t)
        ent = self.e[path]
        ent.size, ent.mtime, ent.ctime = size, t, t
        return ent

    def utime(self, path: str, t: float, mtime: float) -> Entry:
        """``touch -d`` / ``cp -p`` / ``tar -x`` setting an old mtime: ctime moves on."""
        t = self._t(t)
        ent = self.e[path]
        ent.mtime, ent.ctime = mtime, t
        return ent

    def unlink(self, path: str, t: float) -> None:
        t = self._t(t)
        for p in self.subtree(path):
            del self.e[p]
        self._touch_dir(parent_of(path), t)

    def rename(self, src: str, dst: str, t: float) -> None:
        t = self._t(t)
        assert dst not in self.e
        for p in self.subtree(src):
            self.e[dst + p[len(src):]] = self.e.pop(p)
        self.e[dst].ctime = t  # Linux file systems stamp the moved inode
        self._touch_dir(parent_of(src), t)
        self._touch_dir(parent_of(dst), t)

    # --- what agents report ---

    def stat(self, path: str) -> dict[str, Any]:
        e = self.e[path]
        return {"path": path, "kind": e.kind, "size": e.size, "mtime": e.mtime, "ctime": e.ctime,
                "inode": e.inode, "mode": e.mode, "uid": e.uid, "gid": e.gid}  # fmt: skip

    def listed(self, path: str, **extra: Any) -> dict[str, Any]:
        """A listed row: the entry and the directory it was listed in (with its inode)."""
        row = self.stat(path)
        if path != "/":
            p = self.e[parent_of(path)]
            row.update(parent_mtime=p.mtime, parent_ctime=p.ctime, parent_ino=p.inode)
        row.update(extra)
        return row

    def realtime(self, path: str, atomic: bool) -> dict[str, Any]:
        """A realtime row: the entry and its parent's times right after the operation."""
        row = self.stat(path)
        p = self.e[parent_of(path)]
        row.update(parent_mtime=p.mtime, parent_ctime=p.ctime, is_atomic_write=atomic)
        return row

    def deleted(self, path: str, kind: str) -> dict[str, Any]:
        """A realtime delete row (after the unlink): the parent's ctime is the delete's time."""
        p = self.e[parent_of(path)]
        return {"path": path, "kind": kind, "parent_mtime": p.mtime, "parent_ctime": p.ctime}

    def listing(self, path: str) -> list[dict[str, Any]]:
        return [self.listed(c) for c in self.children(path)]

    def audit_dir(self, path: str) -> list[dict[str, Any]]:
        """C5: the children of a fully listed directory, then its own complete row."""
        return self.listing(path) + [self.listed(path, audit_skipped=False)]

    def silent_dir(self, path: str) -> dict[str, Any]:
        return self.listed(path, audit_skipped=True)

    def dirs(self, path: str = "/") -> list[str]:
        """Directories under ``path`` (included), in walk order: parents first."""
        return [p for p in self.subtree(path) if self.e[p].kind == "dir"]

    def sentinel(self, path: str) -> dict[str, Any]:
        e = self.e.get(path)
        pc = self.e[parent_of(path)].ctime if parent_of(path) in self.e else None
        if e is None:
            return {"path": path, "exists": False, "parent_ctime": pc}
        return {"path": path, "exists": True, "kind": e.kind, "mtime": e.mtime, "ctime": e.ctime,
                "size": e.size, "parent_ctime": pc}  # fmt: skip


class Recording:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self.last = 0.0

    def add(self, at: float, op: str, note: str | None = None, **fields: Any) -> None:
        at = round(at, 3)
        assert at >= self.last, (at, self.last, op)
        self.last = at
        line: dict[str, Any] = {"at": at, "op": op}
        line.update(fields)
        if note:
            line["note"] = note
        self.lines.append(line)

    def event(self, at: float, session: str, type_: str, source: str, rows: list[dict], *, sent: float,
              audit_id: str | None = None, job_id: str | None = None, note: str | None = None) -> None:  # fmt: skip
        ev: dict[str, Any] = {"schema": "fs", "schema_version": "1.0", "type": type_, "source": source,
                              "index": int(round(sent * 1000)), "rows": rows}  # fmt: skip
        if audit_id is not None:
            ev["audit_id"] = audit_id
        if job_id is not None:
            ev["job_id"] = job_id
        self.add(at, "event", note, session=session, event=ev)

    def dumps(self) -> bytes:
        return b"".join(orjson.dumps(line) + b"\n" for line in self.lines)


def fz(t: float, extra: float = 0.0) -> float:
    """Fusion wall time at which a row about storage time ``t`` arrives."""
    return t + STORAGE_LAG + LATENCY + extra


DAY = 86400.0
ALICE, BOB, CAROL, LAB = (20113, 4100), (20147, 4100), (20201, 4100), (30007, 4100)


def _skeleton(share: Share, t: float) -> None:
    share.e["/"].inode = 2
    share.mkdir("/projects", t - 400 * DAY, 0, 4100)


# --- blind-spot-create.jsonl ------------------------------------------------------


def blind_spot_create() -> Recording:
    T = 1732690800.0  # 2024-11-27 07:00:00 UTC, storage clock
    share = Share(1042, T - 500 * DAY)
    _skeleton(share, T)
    share.mkdir("/projects/sub-1041", T - 9 * DAY, *ALICE)
    share.create("/projects/sub-1041/sample_sheet.csv", T - 9 * DAY + 40, *ALICE, size=2_311)
    share.create("/projects/sub-1041/reads_R1.fastq.gz", T - 9 * DAY + 95, *ALICE, size=3_882_410_331)
    share.create("/projects/sub-1041/reads_R2.fastq.gz", T - 9 * DAY + 1_870, *ALICE, size=3_901_116_874)
    share.mkdir("/projects/sub-1042", T - 2 * DAY, *BOB)
    share.create("/projects/sub-1042/sample_sheet.csv", T - 2 * DAY + 31.25, *BOB, size=1_877)
    share.create("/projects/sub-1042/reads_R1.fastq.gz", T - 2 * DAY + 610.5, *BOB, size=4_120_087_223)

    rec = Recording()
    s = "stor01-a81c"
    rec.add(fz(T) - 5, "config", "hot threshold and intervals as in production",
            config={"hot_file_threshold": 300, "sentinel_interval": 60, "audit_interval": 600, "tombstone_ttl": 3600})
    rec.add(fz(T), "session_start", "the agent on stor-01 connects: first session, so leader", session=s)
    rows = [share.listed("/")] + [r for d in share.dirs() for r in share.listing(d)]
    rec.event(fz(T + 2.1), s, "insert", "snapshot", rows, sent=T + 2.1,
              note="the leader's snapshot: a full stat walk of the share")
    rec.add(fz(T + 2.2), "snapshot_end", session=s)

    # lab-07 runs no agent: it starts uploading reads_R2 at T+240 and is still writing.
    share.create("/projects/sub-1042/reads_R2.fastq.gz", T + 240.0, *BOB, size=0)
    share.write("/projects/sub-1042/reads_R2.fastq.gz", T + 299.412, 1_288_490_188)

    t_a = T + 303.0
    rec.add(fz(t_a), "audit_start", "the periodic audit; the first after election lists everything (C8)",
            session=s, **{"as": "A1"})
    rows = [r for d in share.dirs() for r in share.audit_dir(d)]
    rec.event(fz(t_a + 1.4), s, "update", "audit", rows, sent=t_a + 1.4, audit_id="A1",
              note="reads_R2.fastq.gz was never seen by an agent: a blind-spot addition, hot, so suspect")
    rec.add(fz(t_a + 1.5), "audit_end", session=s, audit_id="A1")

    share.write("/projects/sub-1042/reads_R2.fastq.gz", T + 359.118, 2_576_980_377)
    rec.add(fz(T + 360.0), "sentinel_tasks", "the leader asks which suspects to stat (C10)")
    rec.add(fz(T + 360.4), "sentinel_feedback", "still growing: the node is updated and stays suspect",
            results=[share.sentinel("/projects/sub-1042/reads_R2.fastq.gz")])
    return rec


# --- cp-p-during-audit.jsonl ------------------------------------------------------


def cp_p_during_audit() -> Recording:
    T = 1732777200.0  # 2024-11-28 07:00:00 UTC
    share = Share(2001, T - 500 * DAY)
    _skeleton(share, T)
    share.mkdir("/projects/sub-2001", T - 3 * DAY, *CAROL)
    share.create("/projects/sub-2001/manifest.json", T - 3 * DAY + 12.5, *CAROL, size=644)
    share.mkdir("/projects/sub-2002", T - 6 * DAY, *ALICE)
    share.create("/projects/sub-2002/run.log", T - 6 * DAY + 7.75, *ALICE, size=88_213)
    share.create("/projects/sub-2002/old.log", T - 6 * DAY + 9.0, *ALICE, size=41_002)

    rec = Recording()
    s = "stor01-a81c"
    rec.add(fz(T), "session_start", "the agent on stor-01 connects and leads", session=s)
    rows = [share.listed("/")] + [r for d in share.dirs() for r in share.listing(d)]
    rec.event(fz(T + 1.3), s, "insert", "snapshot", rows, sent=T + 1.3)
    rec.add(fz(T + 1.4), "snapshot_end", session=s)

    # lab-07 (no agent) removes old.log: only an audit can notice.
    share.unlink("/projects/sub-2002/old.log", T + 100.0)

    t_a = T + 600.0
    rec.add(fz(t_a), "audit_start", session=s, **{"as": "A1"})
    rows = share.audit_dir("/") + share.audit_dir("/projects") + share.audit_dir("/projects/sub-2001")
    rec.event(fz(t_a + 0.8), s, "update", "audit", rows, sent=t_a + 0.8, audit_id="A1",
              note="the audit has listed /projects/sub-2001 (one file, manifest.json)")

    # On stor-01: cp -p /archive/2023/raw.tar /projects/sub-2001/ (after that listing).
    src = "/projects/sub-2001/raw.tar"
    share.create(src, t_a + 2.0, *CAROL, size=0)
    rec.event(fz(t_a + 2.0), s, "insert", "realtime", [share.realtime(src, False)], sent=t_a + 2.05,
              note="cp -p creates raw.tar on stor-01 (IN_CREATE): a partial write")
    share.write(src, t_a + 9.5, 734_003_200)
    close_row = share.realtime(src, True)
    old_mtime = 1699963200.713402  # 2023-11-14: cp -p keeps the source's mtime
    share.utime(src, t_a + 9.52, old_mtime)
    rec.event(fz(t_a + 9.52), s, "update", "realtime", [close_row, share.realtime(src, False)], sent=t_a + 9.55,
              note="IN_CLOSE_WRITE, then IN_ATTRIB: cp -p sets the old mtime back; the ctime is new")

    rows = share.audit_dir("/projects/sub-2002")
    rec.event(fz(t_a + 11.0), s, "update", "audit", rows, sent=t_a + 11.0, audit_id="A1",
              note="the listing of sub-2002 no longer shows old.log")
    rec.add(fz(t_a + 11.2), "audit_end", "raw.tar is spared (C6); old.log is deleted (blind-spot deletion)",
            session=s, audit_id="A1")
    return rec


# --- zombie-refused.jsonl ---------------------------------------------------------


def zombie_refused() -> Recording:
    T = 1732863600.0  # 2024-11-29 07:00:00 UTC
    share = Share(3001, T - 500 * DAY)
    _skeleton(share, T)
    share.mkdir("/projects/sub-3001", T - 4 * DAY, *ALICE)
    share.create("/projects/sub-3001/draft.txt", T - 4 * DAY + 60.0, *ALICE, size=12_004)
    share.create("/projects/sub-3001/final.txt", T - 1 * DAY + 3.5, *ALICE, size=12_388)

    rec = Recording()
    leader, follower = "stor02-5d10", "stor01-a81c"
    rec.add(fz(T), "session_start", "stor-02 connects first: leader", session=leader)
    rec.add(fz(T + 0.7), "session_start", "stor-01 connects: follower (realtime only)", session=follower)
    stale = share.copy()  # what stor-02's NFS caches show until they expire

    rows = [share.listed("/")] + share.listing("/") + share.listing("/projects")
    rec.event(fz(T + 1.0), leader, "insert", "snapshot", rows, sent=T + 1.0,
              note="the snapshot has walked / and /projects; /projects/sub-3001 is next")

    share.unlink("/projects/sub-3001/draft.txt", T + 1.8)
    rec.event(fz(T + 1.8), follower, "delete", "realtime",
              [share.deleted("/projects/sub-3001/draft.txt", "file")], sent=T + 1.85,
              note="rm draft.txt on stor-01: a tombstone stamped with the directory's new ctime")

    rows = stale.listing("/projects/sub-3001")
    rec.event(fz(T + 2.4, 0.5), leader, "insert", "snapshot", rows, sent=T + 2.4,
              note="stor-02 read sub-3001 from its stale cache: draft.txt is a zombie")
    rec.add(fz(T + 2.9, 0.5), "snapshot_end", session=leader)

    t_a = T + 40.0  # stor-02's directory cache (acdirmax 60 s) still holds the old listing
    rec.add(fz(t_a), "audit_start", session=leader, **{"as": "A1"})
    rows = [r for d in stale.dirs() for r in stale.audit_dir(d)]
    rec.event(fz(t_a + 0.6), leader, "update", "audit", rows, sent=t_a + 0.6, audit_id="A1",
              note="the audit still lists the stale directory: draft.txt is refused again")
    rec.add(fz(t_a + 0.7), "audit_end", session=leader, audit_id="A1")

    t_b = T + 700.0  # the next audit, caches long expired
    rec.add(fz(t_b), "audit_start", session=leader, **{"as": "A2"})
    rows = [share.silent_dir("/"), share.silent_dir("/projects")] + share.audit_dir("/projects/sub-3001")
    rec.event(fz(t_b + 0.4), leader, "update", "audit", rows, sent=t_b + 0.4, audit_id="A2",
              note="a fresh listing: / and /projects unchanged (silent), sub-3001 listed without draft.txt")
    rec.add(fz(t_b + 0.5), "audit_end", session=leader, audit_id="A2")
    return rec


# --- mixed.jsonl ------------------------------------------------------------------

MIXED_T = 1732953600.0  # 2024-11-30 08:00:00 UTC


def _mixed() -> tuple[Recording, Share]:
    T = MIXED_T
    rng = random.Random(4000)
    share = Share(4000, T - 600 * DAY)
    _skeleton(share, T)
    owners = [ALICE, BOB, CAROL]
    for k in range(1, 7):
        sub = f"/projects/sub-400{k}"
        own = owners[k % 3]
        t0 = T - (20 - 3 * k) * DAY + rng.uniform(0, 3600)
        share.mkdir(sub, t0, *own)
        t = t0 + 5
        share.create(f"{sub}/manifest.json", t, *own, size=rng.randrange(400, 2000))
        lanes = {2: 4, 4: 8, 5: 4}.get(k, 1)
        for lane in range(1, lanes + 1):
            for r in (1, 2):
                t += rng.uniform(200, 900)
                share.create(f"{sub}/reads_L00{lane}_R{r}.fastq.gz", t, *own, size=rng.randrange(10**9, 5 * 10**9))
        t += 30
        share.create(f"{sub}/md5sums.txt", t, *own, size=66 * 2 * lanes)
        share.mkdir(f"{sub}/qc", t + 3600, *own)
        for name in ("fastqc_R1.html", "fastqc_R2.html", "multiqc_report.html"):
            t += rng.uniform(60, 200)
            share.create(f"{sub}/qc/{name}", t + 3600, *own, size=rng.randrange(200_000, 900_000))
    share.create("/projects/sub-4006/notes.txt", T - 1 * DAY, *CAROL, size=1_204)
    share.symlink("/projects/latest", T - 2 * DAY, "sub-4006", *CAROL)

    rec = Recording()
    a, b = "stor01-a81c", "stor02-5d10"
    rec.add(fz(T) - 10, "config", "test-sized intervals: 120 s hot threshold, 30 s sentinel",
            config={"hot_file_threshold": 120, "sentinel_interval": 30, "audit_interval": 300, "tombstone_ttl": 600})
    rec.add(fz(T), "session_start", "stor-01: leader", session=a)
    rec.add(fz(T + 1.5), "session_start", "stor-02: follower", session=b)

    # The snapshot, one batch per directory.
    t = T + 2.0
    rec.event(fz(t), a, "insert", "snapshot", [share.listed("/")] + share.listing("/"), sent=t)
    for d in share.dirs("/projects"):
        t += 0.35
        rec.event(fz(t), a, "insert", "snapshot", share.listing(d), sent=t)
    t += 0.2
    rec.add(fz(t), "snapshot_end", session=a)

    # stor-01: a new submission uploaded with an agent watching.
    t = T + 20.0
    sub = "/projects/sub-4007"
    share.mkdir(sub, t, *ALICE)
    rec.event(fz(t), a, "insert", "realtime", [share.realtime(sub, False)], sent=t + 0.05,
              note="mkdir on stor-01; the agent watches it and scans it (empty)")
    for i, (name, size) in enumerate([("manifest.json", 1_310), ("reads_L001_R1.fastq.gz", 2_147_480_112),
                                      ("reads_L001_R2.fastq.gz", 2_160_331_876), ("md5sums.txt", 132)]):  # fmt: skip
        path = f"{sub}/{name}"
        t += 2.0 + i
        share.create(path, t, *ALICE)
        rec.event(fz(t), a, "insert", "realtime", [share.realtime(path, False)], sent=t + 0.05)
        if size > 10**6:
            for part in (1, 2, 3):
                t += 3.0
                share.write(path, t, size * part // 4)
                rec.event(fz(t), a, "update", "realtime", [share.realtime(path, False)], sent=t + 0.05)
        t += 1.5
        share.write(path, t, size)
        rec.event(fz(t), a, "update", "realtime", [share.realtime(path, True)], sent=t + 0.05)

    # stor-02: tar -xf batch-4008.tar -C /projects
    t = T + 70.0
    sub = "/projects/sub-4008"
    share.mkdir(sub, t, *BOB)
    share.mkdir(f"{sub}/raw", t + 0.01, *BOB)
    old = T - 45 * DAY
    names = [f"sample_{n:02d}.bam" for n in range(1, 7)]
    sizes = [rng.randrange(3 * 10**8, 9 * 10**8) for _ in names]
    for name, size in zip(names[:2], sizes[:2]):
        p = f"{sub}/raw/{name}"
        share.create(p, t + 0.02, *BOB)
        share.write(p, t + 0.9, size)
        share.utime(p, t + 0.91, float(int(old + rng.uniform(0, 3600))))
    rec.event(fz(t, 0.4), b, "insert", "realtime", [share.realtime(sub, False)], sent=t + 0.45,
              note="tar -x on stor-02: the agent sees sub-4008 appear")
    rec.event(fz(t + 1.0), b, "insert", "realtime",
              [share.listed(f"{sub}/raw", is_atomic_write=False)] + [share.listed(f"{sub}/raw/{n}", is_atomic_write=False) for n in names[:2]],
              sent=t + 1.05, note="its scan of the new directories (listed rows: parent_ino set)")  # fmt: skip
    t += 1.2
    for name, size in zip(names[2:], sizes[2:]):
        p = f"{sub}/raw/{name}"
        share.create(p, t, *BOB)
        rec.event(fz(t), b, "insert", "realtime", [share.realtime(p, False)], sent=t + 0.05)
        t += 0.8
        share.write(p, t, size)
        close = share.realtime(p, True)
        share.utime(p, t + 0.01, float(int(old + rng.uniform(0, 3600))))
        rec.event(fz(t + 0.01), b, "update", "realtime", [close, share.realtime(p, False)], sent=t + 0.06,
                  note="close, then tar restores the old mtime (IN_ATTRIB)" if name == names[2] else None)
        t += 0.3
    # tar restores the directories' mtimes last
    for d in (f"{sub}/raw", sub):
        share.utime(d, t, old + 7200)
        rec.event(fz(t), b, "update", "realtime", [share.realtime(d, False)], sent=t + 0.05)
        t += 0.05

    # stor-01: a removal and a rename in sub-4002.
    t = T + 90.0
    p = "/projects/sub-4002/reads_L003_R1.fastq.gz"
    share.unlink(p, t)
    rec.event(fz(t), a, "delete", "realtime", [share.deleted(p, "file")], sent=t + 0.05)
    t += 4.0
    src, dst = "/projects/sub-4002/md5sums.txt", "/projects/sub-4002/md5sums.old"
    share.rename(src, dst, t)
    rec.event(fz(t), a, "delete", "realtime", [share.deleted(src, "file")], sent=t + 0.05,
              note="mv md5sums.txt md5sums.old: a delete of the old name ...")
    rec.event(fz(t, 0.01), a, "insert", "realtime", [share.realtime(dst, True)], sent=t + 0.06,
              note="... and a rename-in of a closed file (complete)")

    # lab-07 (no agent): new file, in-place append, removal.
    share.create("/projects/sub-4003/notes_lab07.txt", T + 100.0, *CAROL, size=0)
    share.write("/projects/sub-4003/notes_lab07.txt", T + 110.0, 48_112)
    share.write("/projects/sub-4001/md5sums.txt", T + 105.0, share.e["/projects/sub-4001/md5sums.txt"].size + 66)
    share.unlink("/projects/sub-4005/qc/fastqc_R2.html", T + 115.0)

    # Two hosts append to one file; stor-02's row arrives late.
    p = "/projects/sub-4006/notes.txt"
    share.write(p, T + 130.0, 1_290)
    late = share.realtime(p, True)
    share.write(p, T + 131.0, 1_377)
    rec.event(fz(T + 131.0), a, "update", "realtime", [share.realtime(p, True)], sent=T + 131.05,
              note="stor-01 appended at 131 s")
    rec.event(fz(T + 130.0, 4.0), b, "update", "realtime", [late], sent=T + 134.2,
              note="stor-02's append at 130 s arrives late: older than the node, dropped")

    # Audit A1: the first after election, so full (C8).
    t_a = T + 150.0
    rec.add(fz(t_a), "audit_start", session=a, **{"as": "A1"})
    t = t_a
    a1_ctimes: dict[str, float] = {}  # the agent's C8 cache after A1
    racing_done = False
    for d in share.dirs():
        t += 0.4
        a1_ctimes[d] = share.e[d].ctime
        rec.event(fz(t), a, "update", "audit", share.audit_dir(d), sent=t, audit_id="A1")
        if d == "/projects/sub-4007" and not racing_done:
            racing_done = True
            # rsync -a from stor-01 into sub-4007 right after the audit listed it.
            p = f"{d}/sample_sheet.csv"
            share.create(p, t + 0.5, *ALICE)
            rec.event(fz(t + 0.5), a, "insert", "realtime", [share.realtime(p, False)], sent=t + 0.55,
                      note="rsync -a into sub-4007 just after the audit listed it")
            share.write(p, t + 0.7, 3_020)
            close = share.realtime(p, True)
            share.utime(p, t + 0.72, T - 12 * DAY)
            rec.event(fz(t + 0.72), a, "update", "realtime", [close, share.realtime(p, False)], sent=t + 0.77)
            t += 0.8
    t += 0.3
    rec.add(fz(t), "audit_end", "deletes sub-4005/qc/fastqc_R2.html (blind spot); spares sample_sheet.csv",
            session=a, audit_id="A1")

    rec.add(fz(T + 197.0), "tick", "suspects past their expiry: those the audit showed unchanged clear (C9)")

    # Sentinel round 1.
    t = T + 200.0
    rec.add(fz(t), "sentinel_tasks", session=a)
    hot = ["/projects/sub-4001/md5sums.txt", "/projects/sub-4003/notes_lab07.txt", "/projects/sub-4007/sample_sheet.csv"]
    rec.add(fz(t + 0.6), "sentinel_feedback", "all three unchanged since they were marked: cleared at once",
            session=a, results=[share.sentinel(p) for p in hot])

    # An on-demand scan of sub-4003 (a query asked for a fresh look); lab-07 added a file.
    share.create("/projects/sub-4003/notes_lab07_2.txt", T + 195.0, *CAROL, size=0)
    share.write("/projects/sub-4003/notes_lab07_2.txt", T + 196.0, 9_310)
    t = T + 205.0
    rec.event(fz(t), a, "update", "on_demand", share.listing("/projects/sub-4003"), sent=t, job_id="job-17",
              note="force-real-time query of /projects/sub-4003 (C14)")
    rec.add(fz(t + 0.1), "job_complete", session=a, job_id="job-17")

    rec.add(fz(T + 215.0), "tick")
    t = T + 220.0
    rec.add(fz(t), "sentinel_tasks", session=a)
    rec.add(fz(t + 0.5), "sentinel_feedback", session=a,
            results=[share.sentinel("/projects/sub-4003/notes_lab07_2.txt")])

    rec.add(fz(T + 300.0), "session_close", "stor-02's agent stops (a follower: nothing else changes)", session=b)

    # Audit A2: incremental. Directories whose ctime is unchanged since A1 stay silent (C8).
    t_b = T + 450.0
    rec.add(fz(t_b), "audit_start", session=a, **{"as": "A2"})
    rows: list[dict] = []
    for d in share.dirs():
        if a1_ctimes.get(d) == share.e[d].ctime:
            rows.append(share.silent_dir(d))
        else:
            rows.extend(share.audit_dir(d))
    rec.event(fz(t_b + 1.0), a, "update", "audit", rows, sent=t_b + 1.0, audit_id="A2",
              note="unchanged directories are silent markers; changed ones are listed")
    rec.add(fz(t_b + 1.2), "audit_end", session=a, audit_id="A2")
    rec.add(fz(T + 480.0), "tick")
    # Files only the audit saw (no agent watches their host) are not cleared by
    # one unchanged sentinel answer; the sweep clears them once a whole hot
    # threshold passed with that evidence and no change.
    rec.add(fz(T + 620.0), "tick")
    t = T + 621.0
    rec.add(fz(t), "sentinel_tasks", "nothing left to vouch for", session=a)
    return rec, share


def mixed() -> Recording:
    return _mixed_cached()[0]


def mixed_disk() -> dict[str, dict[str, Any]]:
    """The simulated share at the end of mixed.jsonl: path -> stat fields."""
    share = _mixed_cached()[1]
    return {p: share.stat(p) for p in sorted(share.e)}


_cache: dict[str, tuple[Recording, Share]] = {}


def _mixed_cached() -> tuple[Recording, Share]:
    if "mixed" not in _cache:
        _cache["mixed"] = _mixed()
    return _cache["mixed"]


EXAMPLES = {
    "blind-spot-create.jsonl": blind_spot_create,
    "cp-p-during-audit.jsonl": cp_p_during_audit,
    "zombie-refused.jsonl": zombie_refused,
    "mixed.jsonl": mixed,
}


def render() -> dict[str, bytes]:
    return {name: make().dumps() for name, make in EXAMPLES.items()}


def main(argv: list[str]) -> int:
    out_dir = Path(argv[1]) if len(argv) > 1 else HERE
    for name, data in render().items():
        (out_dir / name).write_bytes(data)
        lines = data.count(b"\n")
        print(f"wrote {out_dir / name} ({lines} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
