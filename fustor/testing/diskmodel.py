"""An executable model of a shared directory, for property tests of a view.

The model is a small POSIX-like file system with a storage clock and a
history, plus the observations each observer of CONSISTENCY.md would make
of it:

* :class:`Disk` holds inodes (files and directories) and applies operations
  (create, append, truncate, touch to an old mtime, rename, unlink, mkdir,
  rmdir, copies keeping mtimes, close). Every operation that changes the disk
  takes one tick of the storage clock, so ctimes strictly increase from one
  operation to the next, and sets ctimes as POSIX does: the changed inode's,
  and the parent directory's mtime and ctime when an entry is added or
  removed (a rename: both parents and the moved inode).
* Each operation returns a :class:`Change`: the realtime rows the acting
  host's agent would send (empty for a host without an agent is the caller's
  choice), and the name bindings it removed and added, so a test can say
  what a watched host did.
* Every operation also appends a *version* (an immutable copy of the inode
  table), so observers can see the disk as it was: NFS caches attributes per
  inode and directory contents per directory, so one listing may combine a
  fresh view of one directory or file with an old view of another.
  :class:`Lens` decides, per read, which version it sees.
* :meth:`Disk.walk_listing` yields the rows of a snapshot or an audit one
  directory at a time (so operations can interleave with a walk), and
  :meth:`Disk.sentinel_answer` answers a sentinel task.

Rows are made with :func:`fustor.schema.make_row`, with the fields CONSISTENCY.md
asks of each source:

* realtime event rows: ``parent_mtime``/``parent_ctime`` of the parent read
  right after the operation, ``parent_ino`` ``None``, ``is_atomic_write``
  ``True`` for a complete write (close-after-write, rename of a closed
  file), ``False`` for a partial one (a write not yet closed, an attribute
  change, a row of the new-directory scan);
* delete rows (``EventType.DELETE``): the path, its kind, the parent's mtime
  and ctime right after the unlink; no inode (inotify does not give one);
* a rename is a delete row of the old path and an upsert row of the new one;
  a directory that appears (mkdir, move-in, a copied tree) is its own row,
  then the agent's scan of its contents: listed rows with ``parent_ino``;
* listed rows (snapshot, audit, scan): the version, mtime and inode of the
  directory as the same listing saw it; an audit reports each directory it
  visits as its children's rows followed by the directory's own row with
  ``audit_skipped=False`` (or, for a silent directory, only its own row with
  ``audit_skipped=True``), as C5 describes.

Everything is deterministic given the operations and the ``random.Random``
handed to a :class:`Lens`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Iterator

from fustor.core import EventType
from fustor.schema import DIR, FILE, make_row

FILE_MODE = 0o100644
DIR_MODE = 0o040755

#: (event type, row) as an agent would send it
Emitted = tuple[EventType, dict]


class DiskError(OSError):
    """An operation POSIX would refuse (the model changes nothing)."""


@dataclass(frozen=True, slots=True)
class Inode:
    """One inode. ``children`` (directories only) maps names to inode numbers and is never mutated."""

    ino: int
    kind: str
    size: int
    mtime: float
    ctime: float
    uid: int
    children: dict = field(default_factory=dict)

    def but(self, **changes) -> "Inode":
        values = {
            "ino": self.ino, "kind": self.kind, "size": self.size, "mtime": self.mtime,
            "ctime": self.ctime, "uid": self.uid, "children": self.children,
        }  # fmt: skip
        values.update(changes)
        return Inode(**values)


@dataclass(frozen=True, slots=True)
class Version:
    """The disk as it was after one operation."""

    index: int
    time: float
    inodes: dict  # ino -> Inode; never mutated once stored


@dataclass
class Change:
    """What one operation did."""

    op: str
    host: str
    rows: list[Emitted]  # what the acting host's agent sends (if it has one)
    unbound: list[tuple[str, int, str]]  # (path, ino, kind) names that stopped naming that inode
    bound: list[tuple[str, int, str]]  # (path, ino, kind) names that now name that inode
    version: int
    time: float

    def describe(self) -> str:
        return f"{self.host}:{self.op}@{self.time:g}"


def join(parent: str, name: str) -> str:
    return "/" + name if parent == "/" else parent + "/" + name


def split(path: str) -> tuple[str, str]:
    i = path.rfind("/")
    return (path[:i] or "/"), path[i + 1 :]


def components(path: str) -> list[str]:
    return [] if path == "/" else path[1:].split("/")


class Disk:
    """A POSIX-like tree with a storage clock and its history of versions.

    ``clock`` (optional) gives a floor for the storage time of the next
    operation, e.g. ``lambda: fusion_wall + offset``; the storage time still
    advances by at least ``step`` per operation, so ctimes strictly increase.
    """

    ROOT_INO = 2

    def __init__(self, start: float = 1_700_000_000.0, *, step: float = 1.0,
                 clock: Callable[[], float] | None = None, uid: int = 1000) -> None:
        self.time = float(start)
        self.step = step
        self.clock = clock
        self._next_ino = self.ROOT_INO + 1
        self.inodes: dict[int, Inode] = {
            self.ROOT_INO: Inode(self.ROOT_INO, DIR, 0, self.time, self.time, uid, {})
        }
        self.versions: list[Version] = [Version(0, self.time, self.inodes)]
        self.open_files: dict[int, str] = {}  # ino -> host that has it open for writing
        self.uid = uid

    # --- reading the current state ------------------------------------------

    @property
    def version(self) -> int:
        return len(self.versions) - 1

    def resolve(self, path: str, inodes: dict | None = None) -> int | None:
        """The inode ``path`` names (in the current state unless ``inodes`` is given)."""
        inodes = self.inodes if inodes is None else inodes
        ino = self.ROOT_INO
        for name in components(path):
            node = inodes[ino]
            if node.kind != DIR:
                return None
            ino = node.children.get(name)
            if ino is None:
                return None
        return ino

    def get(self, path: str) -> Inode | None:
        ino = self.resolve(path)
        return None if ino is None else self.inodes[ino]

    def walk(self, inodes: dict | None = None) -> Iterator[tuple[str, Inode]]:
        """``(path, inode)`` of every entry, the root first, parents before children, sorted."""
        inodes = self.inodes if inodes is None else inodes
        stack = [("/", self.ROOT_INO)]
        while stack:
            path, ino = stack.pop()
            node = inodes[ino]
            yield path, node
            if node.kind == DIR:
                for name in sorted(node.children, reverse=True):
                    stack.append((join(path, name), node.children[name]))

    def paths(self, kind: str | None = None) -> list[str]:
        """Sorted paths of the current state (without the root), optionally of one kind."""
        return sorted(p for p, n in self.walk() if p != "/" and (kind is None or n.kind == kind))

    def dirs(self) -> list[str]:
        return ["/"] + self.paths(DIR)

    def files(self) -> list[str]:
        return self.paths(FILE)

    def subtree(self, path: str, inodes: dict | None = None) -> list[tuple[str, Inode]]:
        """``(path, inode)`` of ``path`` and everything below it."""
        inodes = self.inodes if inodes is None else inodes
        ino = self.resolve(path, inodes)
        if ino is None:
            return []
        out = []
        stack = [(path, ino)]
        while stack:
            p, i = stack.pop()
            node = inodes[i]
            out.append((p, node))
            if node.kind == DIR:
                for name in sorted(node.children, reverse=True):
                    stack.append((join(p, name), node.children[name]))
        return out

    # --- rows -------------------------------------------------------------------

    @staticmethod
    def row_of(path: str, node: Inode, parent: Inode | None, *, listed: bool,
               atomic: bool | None = None, audit_skipped: bool | None = None) -> dict:
        """A row for ``node`` at ``path``; ``parent`` is its directory as the observer saw it."""
        is_file = node.kind == FILE
        return make_row(
            path, node.kind,
            size=node.size if is_file else 0,
            mtime=node.mtime, ctime=node.ctime, inode=node.ino,
            mode=FILE_MODE if is_file else DIR_MODE, uid=node.uid, gid=node.uid,
            parent_mtime=parent.mtime if parent is not None else None,
            parent_ctime=parent.ctime if parent is not None else None,
            parent_ino=parent.ino if (listed and parent is not None) else None,
            audit_skipped=audit_skipped,
            is_atomic_write=atomic if is_file else None,
        )  # fmt: skip

    def _event_row(self, path: str, atomic: bool | None) -> Emitted:
        """A realtime upsert row of ``path``, read right after the operation."""
        parent = self.inodes[self.resolve(split(path)[0])]
        node = self.inodes[self.resolve(path)]
        return EventType.UPDATE, self.row_of(path, node, parent, listed=False, atomic=atomic)

    def _delete_row(self, path: str, kind: str) -> Emitted:
        parent = self.inodes[self.resolve(split(path)[0])]
        return EventType.DELETE, make_row(
            path, kind, size=None, parent_mtime=parent.mtime, parent_ctime=parent.ctime
        )

    def _scan_rows(self, path: str) -> list[Emitted]:
        """The agent's scan of a directory it just saw appear: its whole subtree, listed."""
        out: list[Emitted] = []
        queue = [(path, self.resolve(path))]
        while queue:
            dpath, dino = queue.pop(0)
            d = self.inodes[dino]
            for name in sorted(d.children):
                child = self.inodes[d.children[name]]
                cpath = join(dpath, name)
                out.append((EventType.UPDATE, self.row_of(cpath, child, d, listed=True, atomic=False)))
                if child.kind == DIR:
                    queue.append((cpath, child.ino))
        return out

    def _appeared_rows(self, path: str) -> list[Emitted]:
        """A new entry at ``path``: a file's row, or a directory's row followed by its scan."""
        node = self.get(path)
        assert node is not None
        if node.kind != DIR:
            return [self._event_row(path, not (node.ino in self.open_files))]
        return [self._event_row(path, None)] + self._scan_rows(path)

    # --- changing the disk --------------------------------------------------------

    def _tick(self) -> float:
        t = round(self.time + self.step, 6)  # microseconds: a float sum would drift
        if self.clock is not None:
            t = max(t, float(self.clock()))
        self.time = t
        return t

    def _commit(self, op: str, host: str, rows, unbound, bound) -> Change:
        self.versions.append(Version(len(self.versions), self.time, self.inodes))
        return Change(op, host, rows, unbound, bound, self.version, self.time)

    def _begin(self) -> dict:
        """A copy of the inode table to change (stored versions are never touched)."""
        return dict(self.inodes)

    def _dir_at(self, inodes: dict, path: str) -> Inode:
        ino = self.resolve(path, inodes)
        if ino is None or inodes[ino].kind != DIR:
            raise DiskError(f"{path}: not a directory")
        return inodes[ino]

    def _link(self, inodes: dict, parent: Inode, name: str, ino: int, now: float) -> None:
        children = dict(parent.children)
        children[name] = ino
        inodes[parent.ino] = inodes[parent.ino].but(children=children, mtime=now, ctime=now)

    def _unlink(self, inodes: dict, parent: Inode, name: str, now: float) -> int:
        children = dict(parent.children)
        ino = children.pop(name)
        inodes[parent.ino] = inodes[parent.ino].but(children=children, mtime=now, ctime=now)
        return ino

    def _free(self, inodes: dict, ino: int) -> None:
        node = inodes.pop(ino)
        self.open_files.pop(ino, None)
        for child in node.children.values():
            self._free(inodes, child)

    def _new_ino(self) -> int:
        ino = self._next_ino
        self._next_ino += 1
        return ino

    def _bindings(self, path: str, inodes: dict) -> list[tuple[str, int, str]]:
        return [(p, n.ino, n.kind) for p, n in self.subtree(path, inodes)]

    def _check_new_name(self, path: str) -> tuple[str, str]:
        if path == "/":
            raise DiskError("the root exists")
        ppath, name = split(path)
        if self.resolve(path) is not None:
            raise DiskError(f"{path}: exists")
        return ppath, name

    def create(self, host: str, path: str, size: int = 0, *, close: bool = True,
               mtime: float | None = None) -> Change:
        """Create a file and write ``size`` bytes; ``close=False`` leaves it open (a partial write)."""
        ppath, name = self._check_new_name(path)
        now = self._tick()
        inodes = self._begin()
        parent = self._dir_at(inodes, ppath)
        ino = self._new_ino()
        inodes[ino] = Inode(ino, FILE, size, now if mtime is None else mtime, now, self.uid)
        self._link(inodes, parent, name, ino, now)
        self.inodes = inodes
        if not close:
            self.open_files[ino] = host
        rows = [self._event_row(path, close)]
        return self._commit("create", host, rows, [], [(path, ino, FILE)])

    def _file(self, path: str) -> Inode:
        node = self.get(path)
        if node is None or node.kind != FILE:
            raise DiskError(f"{path}: not a file")
        return node

    def write(self, host: str, path: str, size: int, *, close: bool = True, op: str = "write") -> Change:
        """Set the file's size (an append when larger, a truncate when smaller); mtime = ctime = now."""
        node = self._file(path)
        now = self._tick()
        inodes = self._begin()
        inodes[node.ino] = node.but(size=size, mtime=now, ctime=now)
        self.inodes = inodes
        if close:
            self.open_files.pop(node.ino, None)
        else:
            self.open_files[node.ino] = host
        return self._commit(op, host, [self._event_row(path, close)], [], [])

    def append(self, host: str, path: str, nbytes: int, *, close: bool = True) -> Change:
        return self.write(host, path, self._file(path).size + nbytes, close=close, op="append")

    def truncate(self, host: str, path: str, size: int, *, close: bool = True) -> Change:
        return self.write(host, path, size, close=close, op="truncate")

    def touch(self, host: str, path: str, mtime: float) -> Change:
        """``touch -d``: set an arbitrary mtime (an attribute change: a partial row)."""
        node = self.get(path)
        if node is None:
            raise DiskError(f"{path}: no such entry")
        now = self._tick()
        inodes = self._begin()
        inodes[node.ino] = node.but(mtime=mtime, ctime=now)
        self.inodes = inodes
        return self._commit("touch", host, [self._event_row(path, False)], [], [])

    def close(self, host: str, path: str) -> Change:
        """Close a file left open by ``host``: no change on disk, a complete-write row."""
        node = self._file(path)
        if self.open_files.get(node.ino) != host:
            raise DiskError(f"{path}: not open by {host}")
        del self.open_files[node.ino]
        # No tick, no version: closing changes no attribute.
        return Change("close", host, [self._event_row(path, True)], [], [], self.version, self.time)

    def unlink(self, host: str, path: str) -> Change:
        node = self._file(path)
        ppath, name = split(path)
        now = self._tick()
        inodes = self._begin()
        parent = self._dir_at(inodes, ppath)
        self._unlink(inodes, parent, name, now)
        self._free(inodes, node.ino)
        self.inodes = inodes
        return self._commit("unlink", host, [self._delete_row(path, FILE)], [(path, node.ino, FILE)], [])

    def mkdir(self, host: str, path: str, *, mtime: float | None = None) -> Change:
        ppath, name = self._check_new_name(path)
        now = self._tick()
        inodes = self._begin()
        parent = self._dir_at(inodes, ppath)
        ino = self._new_ino()
        inodes[ino] = Inode(ino, DIR, 0, now if mtime is None else mtime, now, self.uid, {})
        self._link(inodes, parent, name, ino, now)
        self.inodes = inodes
        return self._commit("mkdir", host, self._appeared_rows(path), [], [(path, ino, DIR)])

    def rmdir(self, host: str, path: str) -> Change:
        node = self.get(path)
        if path == "/" or node is None or node.kind != DIR:
            raise DiskError(f"{path}: not a directory")
        if node.children:
            raise DiskError(f"{path}: not empty")
        ppath, name = split(path)
        now = self._tick()
        inodes = self._begin()
        self._unlink(inodes, self._dir_at(inodes, ppath), name, now)
        self._free(inodes, node.ino)
        self.inodes = inodes
        return self._commit("rmdir", host, [self._delete_row(path, DIR)], [(path, node.ino, DIR)], [])

    def rename(self, host: str, src: str, dst: str) -> Change:
        """``rename(2)``: over an existing file (src a file) or empty directory (src a directory)."""
        node = self.get(src)
        if src == "/" or node is None:
            raise DiskError(f"{src}: no such entry")
        if dst == src or dst == "/" or dst.startswith(src + "/"):
            raise DiskError(f"{src} -> {dst}: invalid")
        sp, sname = split(src)
        dp, dname = split(dst)
        dparent = self.get(dp)
        if dparent is None or dparent.kind != DIR:
            raise DiskError(f"{dp}: not a directory")
        target = self.get(dst)
        if target is not None:
            if (target.kind == DIR) != (node.kind == DIR):
                raise DiskError(f"{dst}: another kind")
            if target.kind == DIR and target.children:
                raise DiskError(f"{dst}: not empty")
        unbound = self._bindings(src, self.inodes)
        if target is not None:
            unbound += self._bindings(dst, self.inodes)
        now = self._tick()
        inodes = self._begin()
        self._unlink(inodes, self._dir_at(inodes, sp), sname, now)
        if target is not None:
            self._unlink(inodes, self._dir_at(inodes, dp), dname, now)
            self._free(inodes, target.ino)
        self._link(inodes, self._dir_at(inodes, dp), dname, node.ino, now)
        inodes[node.ino] = inodes[node.ino].but(ctime=now)
        self.inodes = inodes
        rows = [self._delete_row(src, node.kind)] + self._appeared_rows(dst)
        return self._commit("rename", host, rows, unbound, self._bindings(dst, inodes))

    def copy(self, host: str, src: str, dst: str, *, attrib_row: bool = False) -> Change:
        """``cp -p`` / ``cp -a``: a new copy keeping mtimes (a tree for a directory).

        Onto an existing file, ``cp -p`` rewrites it in place (same inode). The
        agent sees the close of the write (a complete row); the mtime restored
        afterwards is already in the attributes it reads. With ``attrib_row``,
        a file copy is also followed by the attribute change of that restore
        (a partial row of the same state), as inotify reports it.
        """
        node = self.get(src)
        if src == "/" or node is None:
            raise DiskError(f"{src}: no such entry")
        if dst == src or dst == "/" or dst.startswith(src + "/"):
            raise DiskError(f"{src} -> {dst}: invalid")
        target = self.get(dst)
        if target is not None and (node.kind == DIR or target.kind == DIR):
            raise DiskError(f"{dst}: exists")
        dp, dname = split(dst)
        if target is None:
            self._dir_at(self.inodes, dp)
        now = self._tick()
        inodes = self._begin()
        if target is not None:  # a file onto a file: rewritten in place
            inodes[target.ino] = target.but(size=node.size, mtime=node.mtime, ctime=now)
            self.open_files.pop(target.ino, None)
            self.inodes = inodes
            rows = [self._event_row(dst, True)] + ([self._event_row(dst, False)] if attrib_row else [])
            return self._commit("copy", host, rows, [], [])

        def clone(old: Inode) -> int:
            ino = self._new_ino()
            if old.kind == DIR:
                kids = {name: clone(inodes[c]) for name, c in sorted(old.children.items())}
                inodes[ino] = Inode(ino, DIR, 0, old.mtime, now, self.uid, kids)
            else:
                inodes[ino] = Inode(ino, old.kind, old.size, old.mtime, now, self.uid)
            return ino

        new = clone(node)
        parent = self._dir_at(inodes, dp)
        self._link(inodes, parent, dname, new, now)
        self.inodes = inodes
        rows = self._appeared_rows(dst)
        if attrib_row and node.kind == FILE:
            rows.append(self._event_row(dst, False))
        return self._commit("copy", host, rows, [], self._bindings(dst, inodes))

    # --- observers ------------------------------------------------------------------

    def walk_listing(self, lens: "Lens", *, audit: bool,
                     silent: Callable[[str], bool] | None = None) -> Iterator[tuple[str, list[dict]]]:
        """The rows of a snapshot (``audit=False``) or an audit, one visited directory at a time.

        Lazy: each step reads the disk as it is when the step runs, through
        ``lens`` (possibly stale). A directory is visited by the inode its
        parent's listing gave; it is listed (its children and its own attributes)
        as of one version of that inode; each child is stat'ed as of a version of
        its own inode. Snapshot rows are the children rows only; an audit adds
        the directory's own row (``audit_skipped=False``) after its children, or
        reports a directory for which ``silent(path)`` is true by its own row
        alone (``audit_skipped=True``) and goes on into the subdirectories that
        the listing's version of it holds (C8's cache).
        """
        stack: list[tuple[str, int, Inode | None]] = [("/", self.ROOT_INO, None)]
        while stack:
            path, ino, seen_parent = stack.pop()
            d = lens.stat(ino)
            if d is None or d.kind != DIR:
                yield path, []
                continue
            rows: list[dict] = []
            subdirs = []
            if audit and silent is not None and silent(path):
                rows.append(self.row_of(path, d, seen_parent, listed=True, audit_skipped=True))
                for name in sorted(d.children):
                    child = lens.stat(d.children[name])
                    if child is not None and child.kind == DIR:
                        subdirs.append((join(path, name), child.ino, d))
            else:
                for name in sorted(d.children):
                    child = lens.stat(d.children[name])
                    if child is None:
                        continue  # gone by the time it was stat'ed
                    cpath = join(path, name)
                    rows.append(self.row_of(cpath, child, d, listed=True))
                    if child.kind == DIR:
                        subdirs.append((cpath, child.ino, d))
                if audit:
                    rows.append(self.row_of(path, d, seen_parent, listed=True, audit_skipped=False))
            for item in reversed(subdirs):
                stack.append(item)
            yield path, rows

    def sentinel_answer(self, path: str, lens: "Lens", *, inodes: bool = True) -> dict:
        """``{path, exists, kind, mtime, ctime, size, parent_ctime}`` as the leader's stat sees it.

        Each directory on the path is read through ``lens`` (a stale name above
        the parent can lead into another directory than the one at that path
        now). With ``inodes`` the answer also names the inode it found and the
        directory it looked in (``inode``, ``parent_ino``), which lets the view
        tell those answers apart (docs/view-engine.md).
        """
        ino = self.ROOT_INO
        parent: Inode | None = None
        names = components(path)
        for i, name in enumerate(names):
            d = lens.stat(ino)
            if d is None or d.kind != DIR:
                parent = None
                break
            parent = d
            child = d.children.get(name)
            if child is None:
                if i < len(names) - 1:
                    parent = None  # an ancestor is missing: the parent cannot be stat'ed
                break
            ino = child
        else:
            node = lens.stat(ino)
            if node is not None and parent is not None:
                out = {
                    "path": path, "exists": True, "kind": node.kind, "mtime": node.mtime,
                    "ctime": node.ctime, "size": node.size if node.kind == FILE else 0,
                    "parent_ctime": parent.ctime,
                }  # fmt: skip
                if inodes:
                    out["inode"], out["parent_ino"] = node.ino, parent.ino
                return out
        out = {
            "path": path, "exists": False, "kind": None, "mtime": None, "ctime": None, "size": None,
            "parent_ctime": parent.ctime if parent is not None else None,
        }  # fmt: skip
        if inodes:
            out["inode"], out["parent_ino"] = None, parent.ino if parent is not None else None
        return out


class Lens:
    """How one observer sees the disk: for each read, the version it comes from.

    ``window`` bounds how many versions back a read may be (0: always fresh);
    ``p_stale`` is the chance that a read is stale at all. A stale read of an
    inode is taken from a random version within the window in which the inode
    existed (a deleted inode can still be seen from a cache); a fresh read of a
    deleted inode fails, as ``stat`` does.
    """

    def __init__(self, disk: Disk, rng: random.Random | None = None, window: int = 0, p_stale: float = 0.0) -> None:
        self.disk = disk
        self.rng = rng or random.Random(0)
        self.window = window
        self.p_stale = p_stale

    def stat(self, ino: int) -> Inode | None:
        versions = self.disk.versions
        cur = len(versions) - 1
        if self.window > 0 and self.p_stale > 0 and self.rng.random() < self.p_stale:
            lo = max(0, cur - self.window)
            candidates = [v for v in range(lo, cur + 1) if ino in versions[v].inodes]
            if candidates:
                return versions[self.rng.choice(candidates)].inodes[ino]
            return None
        return versions[cur].inodes.get(ino)


def fresh(disk: Disk) -> Lens:
    return Lens(disk)


__all__ = ["Change", "Disk", "DiskError", "Emitted", "Inode", "Lens", "Version", "components", "fresh", "join", "split"]
