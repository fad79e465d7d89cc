"""Property test: an FSView fed by a model of the disk stays sound and converges.

A scenario is a random program run against :class:`fustor.testing.diskmodel.Disk`:

* file operations (create, append, truncate, touch -d, rename, unlink, mkdir,
  rmdir, cp -p / cp -a, close) by two watched hosts ``A`` (the leader) and
  ``B``, whose agents queue the realtime rows of their own operations, and by
  a blind host ``C``, which emits nothing;
* a snapshot and audits walked by the leader one directory at a time while
  operations go on, and sentinel answers, all read through a
  :class:`~fustor.testing.diskmodel.Lens` that may be stale per directory and
  per inode (NFS caches);
* deliveries: each host's queue is a FIFO (the leader's listings share it
  with its realtime rows), and the hosts' queues interleave arbitrarily;
* the fusion clock moving, and suspect sweeps.

After every step: every directory's roll-ups equal a recount, the suspect
entries are exactly the nodes flagged suspect (each with its heap item), a
file a watched host deleted (once that host's rows are delivered) is never
brought back while the disk does not bind it again, and a file a watched
host created (once delivered) that the disk still holds is never missing.

After the program: everything is delivered, files are closed, the clock
passes the hot threshold, and the convergence of CONSISTENCY.md runs (a full
fresh audit, the sentinel answering for the suspects, a sweep). The view
must then equal the disk (paths, kinds, sizes, mtimes) with no suspect left.

Reproducible: the examples come from ``FUSTOR_PROPERTY_SEED`` (default
below); a failure prints the program and, with ``FUSTOR_PROPERTY_TRACE=<file>``,
writes the whole trace of its last (shrunk) failing run, operations, rows
and the view's decisions, to that file.
``FUSTOR_PROPERTY_EXAMPLES`` sets how many examples to run.
"""

from __future__ import annotations

import os
import random
from collections import deque

from hypothesis import HealthCheck, given, note, seed, settings
from hypothesis import strategies as st

from fustor.core import EventBase, EventType, MessageSource
from fustor.schema import DIR, FILE, SCHEMA_NAME, SCHEMA_VERSION
from fustor.testing import FakeClock
from fustor.testing.diskmodel import Disk, DiskError, Lens, components, join
from fustor.views.fs import FSView, FSViewConfig
from fustor.views.fs.tree import SUSPECT

SEED = int(os.environ.get("FUSTOR_PROPERTY_SEED", "20250611"))
EXAMPLES = int(os.environ.get("FUSTOR_PROPERTY_EXAMPLES", "200"))
TRACE = os.environ.get("FUSTOR_PROPERTY_TRACE")  # a file to write the trace of the last failing run to

WALL0 = 1_700_000_000.0
HOT = 30.0
SENTINEL_INTERVAL = 10.0
WATCHED = ("A", "B")
HOSTS = ("A", "B", "C")  # A leads; C has no agent
LEADER = "A"
NAMES = ("a", "b", "c")
MAX_DEPTH = 4
OPS = ("create", "create", "append", "truncate", "touch", "rename", "rename", "unlink",
       "mkdir", "mkdir", "rmdir", "copy", "close")  # fmt: skip


# --- the program --------------------------------------------------------------

ints = st.integers(0, 63)
lens_params = st.tuples(st.integers(0, 2**16), st.sampled_from([0, 0, 2, 5, 50]), st.sampled_from([0.3, 0.7, 1.0]))

op_step = st.tuples(st.just("op"), st.sampled_from(HOSTS), st.sampled_from(OPS), ints, ints, st.integers(0, 15), st.booleans())
_steps = {
    "op": op_step,
    "deliver": st.tuples(st.just("deliver"), st.sampled_from(WATCHED), st.integers(1, 6)),
    "advance": st.tuples(st.just("advance"), st.integers(1, 25)),
    "walk": st.tuples(st.just("walk"), st.integers(1, 4)),
    "audit": st.tuples(st.just("audit"), lens_params, st.sampled_from([0.0, 0.0, 0.5])),
    "snapshot": st.tuples(st.just("snapshot"), lens_params),
    "sentinel": st.tuples(st.just("sentinel"), lens_params),
    "sweep": st.tuples(st.just("sweep")),
}
_weights = {"op": 10, "deliver": 5, "advance": 2, "walk": 3, "audit": 2, "snapshot": 1, "sentinel": 1, "sweep": 1}
step = st.sampled_from([k for k, w in _weights.items() for _ in range(w)]).flatmap(_steps.__getitem__)
initial_op = st.tuples(st.sampled_from(("create", "create", "mkdir", "mkdir", "copy", "touch")), ints, ints, st.integers(0, 15))


# --- the scenario ---------------------------------------------------------------


class Obligation:
    """A file binding a watched host changed: (path, inode), due once its rows are delivered."""

    __slots__ = ("path", "ino", "host", "seq", "active", "absent_seen", "what")

    def __init__(self, path, ino, host, seq, what):
        self.path, self.ino, self.host, self.seq, self.what = path, ino, host, seq, what
        self.active = True
        self.absent_seen = False


class Scenario:
    def __init__(self, offset: int, snapshot_lens, final_seed: int, tick: float = 1.0) -> None:
        self.clock = FakeClock(wall=WALL0)
        self.offset = offset
        cfg = FSViewConfig(hot_file_threshold=HOT, sentinel_interval=SENTINEL_INTERVAL, tombstone_ttl=3600)
        self.view = FSView("prop", cfg, self.clock)
        self.log: list[str] = []
        self.view.arbitrator.trace = lambda p, s, d, r: self.log.append(f"      {s:9} {d:9} {p}: {r}")
        # The disk existed long before the agents: its clock starts in the past.
        self.disk = Disk(start=WALL0 + offset - 100_000, step=tick)
        self.queues: dict[str, deque] = {h: deque() for h in WATCHED}
        self.sent = {h: 0 for h in WATCHED}  # operations queued per host
        self.done = {h: 0 for h in WATCHED}  # operations whose rows are all delivered
        self.deleted: list[Obligation] = []
        self.created: list[Obligation] = []
        self.walk = None  # (kind, iterator, audit_id)
        self.audit_open = False  # an audit end is queued but not yet delivered
        self.snapshot_lens = snapshot_lens
        self.final_rng = random.Random(final_seed)
        self.n_step = 0

    # --- building blocks ---------------------------------------------------

    def lens(self, params) -> Lens:
        rng_seed, window, p = params
        return Lens(self.disk, random.Random(rng_seed), window, p)

    def start_sessions(self) -> None:
        self.disk.clock = lambda: self.clock.wall() + self.offset
        for h in WATCHED:
            self.view.on_session_start(h)
        self.start_snapshot(self.snapshot_lens)

    def start_snapshot(self, params) -> None:
        """The leader walks a snapshot (at its election; again when its session is recreated)."""
        if self.walk is not None or self.audit_open:
            return
        self.walk = ("snapshot", self.disk.walk_listing(self.lens(params), audit=False), None)
        self.log.append(f"[{self.n_step}] snapshot start lens={params}")

    def event(self, source, etype, rows, audit_id=None, index=0) -> EventBase:
        return EventBase(SCHEMA_NAME, SCHEMA_VERSION, etype, source, index, rows, audit_id)

    # --- file operations -----------------------------------------------------

    def pick_new(self, a: int, b: int) -> str | None:
        dirs = self.disk.dirs()
        parent = dirs[a % len(dirs)]
        path = join(parent, NAMES[b % len(NAMES)])
        if len(components(path)) > MAX_DEPTH or self.disk.resolve(path) is not None:
            return None
        return path

    def do_op(self, host: str, op: str, a: int, b: int, n: int, flag: bool):
        disk = self.disk
        files, entries = disk.files(), disk.paths()
        try:
            if op == "create":
                path = self.pick_new(a, b)
                if path is None:
                    return None
                return disk.create(host, path, n * 10, close=flag)
            if op in ("append", "truncate"):
                if not files:
                    return None
                path = files[a % len(files)]
                if op == "append":
                    return disk.append(host, path, n + 1, close=flag)
                return disk.truncate(host, path, (n * 7) % (disk.get(path).size + 1), close=flag)
            if op == "touch":
                if not entries:
                    return None
                return disk.touch(host, entries[a % len(entries)], disk.time - 1000 * (n + 1))
            if op == "unlink":
                if not files:
                    return None
                return disk.unlink(host, files[a % len(files)])
            if op == "mkdir":
                path = self.pick_new(a, b)
                return None if path is None else disk.mkdir(host, path)
            if op == "rmdir":
                empty = [p for p in disk.paths(DIR) if not disk.get(p).children]
                return disk.rmdir(host, empty[a % len(empty)]) if empty else None
            if op in ("rename", "copy"):
                if not entries:
                    return None
                src = entries[a % len(entries)]
                dirs = disk.dirs()
                dst = join(dirs[b % len(dirs)], NAMES[n % len(NAMES)])
                height = max(len(components(p)) for p, _ in disk.subtree(src)) - len(components(src))
                if len(components(dst)) + height > MAX_DEPTH:
                    return None
                return disk.rename(host, src, dst) if op == "rename" else disk.copy(host, src, dst, attrib_row=flag)
            if op == "close":
                mine = sorted(p for p in files if disk.open_files.get(disk.resolve(p)) == host)
                return disk.close(host, mine[a % len(mine)]) if mine else None
        except DiskError:
            return None
        raise AssertionError(op)

    def run_op(self, host, op, a, b, n, flag) -> None:
        change = self.do_op(host, op, a, b, n, flag)
        if change is not None:
            self.queue_change(host, change)

    def queue_change(self, host, change) -> None:
        self.log.append(f"[{self.n_step}] {change.describe()} unbound={change.unbound} bound={change.bound}")
        if host not in WATCHED:
            return
        self.sent[host] += 1
        seq = self.sent[host]
        for path, ino, kind in change.unbound:
            if kind == FILE:
                self.deleted.append(Obligation(path, ino, host, seq, change.describe()))
        for path, ino, kind in change.bound:
            if kind == FILE:
                self.created.append(Obligation(path, ino, host, seq, change.describe()))
        # Consecutive rows of one type travel as one event batch.
        groups: list[tuple[EventType, list]] = []
        for etype, row in change.rows:
            self.log.append(f"      {etype.value:6} {row['path']} ino={row['inode']} ctime={row['ctime']} "
                            f"size={row['size']} pc={row['parent_ctime']} pino={row['parent_ino']} atomic={row['is_atomic_write']}")
            if groups and groups[-1][0] is etype:
                groups[-1][1].append(row)
            else:
                groups.append((etype, [row]))
        index = int(change.time * 1000)
        for i, (etype, rows) in enumerate(groups):
            ev = self.event(MessageSource.REALTIME, etype, rows, index=index)
            self.queues[host].append(("rt", ev, seq if i == len(groups) - 1 else None))

    # --- listings ------------------------------------------------------------

    def walk_steps(self, k: int) -> None:
        if self.walk is None:
            return
        kind, it, audit_id = self.walk
        q = self.queues[LEADER]
        for _ in range(k):
            try:
                path, rows = next(it)
            except StopIteration:
                q.append(("snapshot_end",) if kind == "snapshot" else ("audit_end", audit_id))
                self.log.append(f"[{self.n_step}] {kind} walk done")
                self.walk = None
                return
            self.log.append(f"[{self.n_step}] {kind} lists {path}: " + "; ".join(
                f"{r['path']} ino={r['inode']} ctime={r['ctime']} size={r['size']} pc={r['parent_ctime']} "
                f"pino={r['parent_ino']}{' skipped=' + str(r['audit_skipped']) if r['audit_skipped'] is not None else ''}"
                for r in rows))
            if rows:
                source = MessageSource.SNAPSHOT if kind == "snapshot" else MessageSource.AUDIT
                q.append(("listed", self.event(source, EventType.UPDATE, rows, audit_id)))

    def start_audit(self, params, silent_p: float, fresh: bool = False) -> bool:
        if self.walk is not None or self.audit_open:
            return False
        audit_id = self.view.audit_start(LEADER)
        lens = Lens(self.disk) if fresh else self.lens(params)
        silent = None
        if silent_p and not fresh:
            rng = random.Random(params[0] + 1)
            silent = lambda path: rng.random() < silent_p  # noqa: E731
        self.walk = ("audit", self.disk.walk_listing(lens, audit=True, silent=silent), audit_id)
        self.audit_open = True
        self.log.append(f"[{self.n_step}] audit start {audit_id} lens={'fresh' if fresh else params} silent={silent_p}")
        return True

    def sentinel(self, params, fresh: bool = False) -> None:
        tasks = self.view.sentinel_tasks()
        if not tasks:
            return
        lens = Lens(self.disk) if fresh else self.lens(params)
        answers = [self.disk.sentinel_answer(p, lens) for p in tasks]
        self.log.append(f"[{self.n_step}] sentinel answers {answers}")
        self.queues[LEADER].append(("sentinel", answers))

    # --- delivery ------------------------------------------------------------

    def deliver(self, host: str, k: int) -> None:
        q = self.queues[host]
        for _ in range(k):
            if not q:
                return
            item = q.popleft()
            kind = item[0]
            self.log.append(f"[{self.n_step}] deliver {host} {kind} " + (
                ", ".join(r["path"] for r in item[1].rows) if kind in ("rt", "listed") else ""))
            if kind == "rt":
                self.view.process_event(item[1], host)
                if item[2] is not None:
                    self.done[host] = item[2]
            elif kind == "listed":
                self.view.process_event(item[1], host)
            elif kind == "snapshot_end":
                self.view.snapshot_end(host)
            elif kind == "audit_end":
                report = self.view.audit_end(host, item[1])
                self.log.append(f"      audit end: deleted={report.deleted} spared={report.spared}")
                self.audit_open = False
            elif kind == "sentinel":
                out = self.view.sentinel_feedback(item[1])
                self.log.append(f"      sentinel: {out}")
            else:
                raise AssertionError(kind)
            self.check_safety()  # after every batch, not only every step

    def deliver_all(self) -> None:
        while any(self.queues.values()):
            hosts = [h for h in WATCHED if self.queues[h]]
            self.deliver(self.final_rng.choice(hosts), self.final_rng.randint(1, 4))

    # --- invariants ------------------------------------------------------------

    def view_nodes(self) -> dict:
        tree = self.view.tree
        return {tree.path_of(n): n for n in tree.walk(tree.root)}

    def check_invariants(self) -> None:
        view, tree = self.view, self.view.tree
        flagged = set()
        for node in tree.walk(tree.root):
            if node.flags & SUSPECT:
                flagged.add(node)
            if node.is_dir:
                files, dirs, size, susp, blind, unknown, newest = tree.recount(node)
                got = (node.n_files, node.n_dirs, node.total_size, node.n_suspect, node.n_blind, node.n_unknown)
                assert got == (files, dirs, size, susp, blind, unknown), (
                    f"roll-ups of {tree.path_of(node)}: {got} != recount {(files, dirs, size, susp, blind, unknown)}")
                assert tree.newest(node) == newest, f"newest of {tree.path_of(node)}: {tree.newest(node)} != {newest}"
        entries = dict(view.suspects.items())
        assert set(entries) == flagged, (
            f"suspect entries {sorted(tree.path_of(n) for n in entries)} != flagged {sorted(tree.path_of(n) for n in flagged)}")
        heap = {(e, n) for e, _, n in view.suspects._heap}
        for node, entry in entries.items():
            assert (entry.expiry, node) in heap, f"suspect {tree.path_of(node)} has no heap item for its expiry"
        self.check_safety()

    def check_safety(self) -> None:
        tree, disk = self.view.tree, self.disk
        for ob in self.deleted:
            if not ob.active:
                continue
            if disk.resolve(ob.path) == ob.ino:
                ob.active = False  # the disk binds it again (renamed back)
                continue
            if self.done[ob.host] < ob.seq:
                continue
            node = tree.lookup(ob.path)
            holds = node is not None and node.ino == ob.ino
            if not holds:
                ob.absent_seen = True
            else:
                assert not ob.absent_seen, (
                    f"{ob.path} (ino {ob.ino}), deleted by {ob.what}, was brought back by a stale observation")
        for ob in self.created:
            if not ob.active:
                continue
            if disk.resolve(ob.path) != ob.ino:
                ob.active = False  # no longer there on disk
                continue
            if self.done[ob.host] < ob.seq:
                continue
            node = tree.lookup(ob.path)
            assert node is not None and node.kind == FILE and node.ino == ob.ino, (
                f"{ob.path} (ino {ob.ino}), created by {ob.what} and still on disk, is "
                + ("missing" if node is None else f"shown as {node.kind} ino {node.ino}") + " in the view")

    # --- convergence -----------------------------------------------------------

    def diff(self) -> list[str]:
        nodes = self.view_nodes()
        disk = dict(self.disk.walk())
        out = []
        for path in sorted(set(nodes) | set(disk)):
            n, d = nodes.get(path), disk.get(path)
            if n is None:
                out.append(f"missing {path} ({d.kind} ino {d.ino})")
            elif d is None:
                out.append(f"extra {path} ({n.kind} ino {n.ino})")
            elif n.kind != d.kind:
                out.append(f"{path}: kind {n.kind} != {d.kind}")
            elif (d.kind == FILE and n.size != d.size) or n.mtime != d.mtime:
                out.append(f"{path}: size/mtime {n.size}/{n.mtime} != {d.size}/{d.mtime} (ino {n.ino} vs {d.ino})")
        return out

    def converge(self, rounds: int = 1) -> None:
        view, disk, clock = self.view, self.disk, self.clock
        self.n_step = "end"
        self.log.append("--- convergence")
        while self.walk is not None:
            self.walk_steps(100)
        for ino, host in sorted(disk.open_files.items()):
            path = next(p for p, n in disk.walk() if n.ino == ino)
            self.queue_change(host, disk.close(host, path))
        self.deliver_all()
        self.check_invariants()
        newest = max(n.mtime for _, n in disk.walk())
        clock.advance(max(HOT + 1, newest - view.logical.watermark() + HOT + 1))
        for r in range(rounds):
            assert self.start_audit(None, 0.0, fresh=True)
            self.walk_steps(10_000)
            self.deliver_all()
            self.check_invariants()
            for _ in range(3):  # the sentinel runs every interval
                clock.advance(SENTINEL_INTERVAL)
                self.sentinel(None, fresh=True)
                self.deliver_all()
            clock.advance(1)
            view.sweep()
            self.check_invariants()
        diff = self.diff()
        assert not diff, "the view differs from the disk after convergence:\n  " + "\n  ".join(diff)
        left = [self.view.tree.path_of(n) for n, _ in self.view.suspects.items()]
        assert not left, f"suspects left after convergence: {left}"

    # --- the program -----------------------------------------------------------

    def run(self, initial, steps) -> None:
        for op, a, b, n in initial:
            self.run_op("C", op, a, b, n, True)
        self.start_sessions()
        for i, st_ in enumerate(steps):
            self.n_step = i
            kind = st_[0]
            if kind == "op":
                self.run_op(*st_[1:])
            elif kind == "deliver":
                self.deliver(st_[1], st_[2])
            elif kind == "advance":
                self.clock.advance(st_[1])
            elif kind == "walk":
                self.walk_steps(st_[1])
            elif kind == "audit":
                self.start_audit(st_[1], st_[2])
            elif kind == "snapshot":
                self.start_snapshot(st_[1])
            elif kind == "sentinel":
                self.sentinel(st_[1])
            elif kind == "sweep":
                self.view.sweep()
            self.check_invariants()
        self.converge()


def run_scenario(initial, steps, offset=0, snapshot_lens=(0, 0, 0.3), final_seed=0, tick=1.0) -> Scenario:
    sc = Scenario(offset, snapshot_lens, final_seed, tick)
    try:
        sc.run(initial, steps)
    except AssertionError as exc:
        if TRACE:
            with open(TRACE, "w") as f:
                f.write("\n".join(sc.log) + f"\nFAILED: {exc}\n")
        raise
    return sc


@seed(SEED)
@settings(deadline=None, max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    initial=st.lists(initial_op, min_size=3, max_size=15),
    steps=st.lists(step, min_size=30, max_size=100),
    offset=st.sampled_from([0, -4, 45]),
    snapshot_lens=lens_params,
    final_seed=st.integers(0, 2**16),
    tick=st.sampled_from([1.0, 0.25, 0.001]),  # the storage clock's resolution
)
def test_view_equals_disk_after_convergence(initial, steps, offset, snapshot_lens, final_seed, tick):
    note(f"seed={SEED}")
    run_scenario(initial, steps, offset, snapshot_lens, final_seed, tick)


# --- the model itself ------------------------------------------------------------


def test_disk_model_sets_times_as_posix_does_and_emits_the_agent_rows():
    disk = Disk(start=100.0)
    disk.mkdir("A", "/d")
    disk.mkdir("A", "/e")
    c = disk.create("A", "/d/f", 5, close=False)
    assert [r["is_atomic_write"] for _, r in c.rows] == [False] and c.rows[0][1]["parent_ino"] is None
    assert disk.get("/d").mtime == disk.get("/d").ctime == c.time  # entry added: the parent changes
    before = disk.versions[-1]
    w = disk.append("A", "/d/f", 3)
    assert disk.get("/d/f").size == 8 and disk.get("/d").ctime == c.time  # in place: the parent does not
    assert w.rows[0][1]["is_atomic_write"] is True and w.time > c.time
    r = disk.rename("B", "/d/f", "/e/g")
    (t1, gone_row), (t2, new_row) = r.rows
    assert t1 is EventType.DELETE and gone_row["path"] == "/d/f" and gone_row["parent_ctime"] == r.time
    assert t2 is EventType.UPDATE and new_row["path"] == "/e/g" and new_row["ctime"] == r.time  # moved inode's ctime
    assert disk.get("/d").ctime == disk.get("/e").ctime == r.time  # both parents
    assert before.inodes[disk.resolve("/e/g")].size == 5  # stored versions never change
    m = disk.rename("A", "/e", "/d/e")  # a directory moves in: its row, then the scan of its contents
    assert [row["path"] for _, row in m.rows] == ["/e", "/d/e", "/d/e/g"]
    scan = m.rows[2][1]
    assert scan["parent_ino"] == disk.resolve("/d/e") and scan["is_atomic_write"] is False
    cp = disk.copy("C", "/d/e/g", "/d/h")
    assert disk.get("/d/h").mtime == disk.get("/d/e/g").mtime and disk.get("/d/h").ctime == cp.time


def test_disk_model_listings_report_each_directory_then_its_complete_row_and_can_be_stale():
    disk = Disk(start=100.0)
    disk.mkdir("A", "/d")
    disk.create("A", "/d/f", 1)
    old = disk.version
    disk.unlink("A", "/d/f")
    fresh = [(p, [(r["path"], r["audit_skipped"]) for r in rows]) for p, rows in disk.walk_listing(Lens(disk), audit=True)]
    assert fresh == [("/", [("/d", None), ("/", False)]), ("/d", [("/d", False)])]
    stale = Lens(disk, random.Random(1), window=disk.version - old, p_stale=1.0)
    seen = set()
    for _ in range(30):
        for _, rows in disk.walk_listing(stale, audit=False):
            seen.update(r["path"] for r in rows)
    assert "/d/f" in seen  # an old version of /d still shows the deleted file
    answer = disk.sentinel_answer("/d/f", Lens(disk))
    assert answer["exists"] is False and answer["parent_ctime"] == disk.get("/d").ctime
