"""The arbitrator: rows in, tree changes out (CONSISTENCY.md C1–C6, C9–C11).

Pure: no I/O, time only through the injected clock. Every decision about a
row is one of *apply*, *confirm* (a row equal to the node) or *drop* with a
reason; an optional trace callback receives each one, which is how
``fustor replay --explain`` says why the view shows what it shows.

Versions (see CONSISTENCY.md "Versions"):

* the version of an entry is its ctime, compared only within one inode;
* a listed row showing another inode or kind at a name wins only if its
  ``parent_ctime`` is at least the name version (for a directory: of its
  whole subtree); a realtime row likewise;
* a missing ``parent_ctime`` is an unknown version and never wins a
  comparison it is needed for.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

from fustor.core import LogicalClock
from fustor.schema import DIR, FILE, SYMLINK

from .state import BlindSpots, Suspects, Tombstones
from .tree import BLIND, IMPLICIT, KNOWN, SKIPPED, SUSPECT, DirNode, Node, SymlinkNode, Tree, subtree_max

_intern = sys.intern

NO_VERSION = float("-inf")

Trace = Callable[[str, str, str, str], None]  # (path, source, decision, reason)


class ListingContext:
    """What one listing (a snapshot, an audit, a scan job) has bound so far.

    C3: a row under a tombstoned directory passes only if the *same* listing
    bound that directory's name after the delete. ``passed`` maps each
    tombstoned path this listing re-bound to the version it bound it at, and
    ``inos`` to the inode it bound there (a binding at a tombstone's own
    version passes it when it shows another inode).
    """

    __slots__ = ("passed", "inos", "limit")

    def __init__(self, limit: int = 0) -> None:
        self.passed: dict[str, float] = {}
        self.inos: dict[str, int | None] = {}
        self.limit = limit  # 0: unbounded; else keep only the most recent entries

    def bind(self, path: str, version: float, ino: int | None = None) -> None:
        passed = self.passed
        if self.limit and len(passed) >= self.limit and path not in passed:
            self.inos.pop(next(iter(passed)), None)
            del passed[next(iter(passed))]
        if version > passed.get(path, NO_VERSION):
            passed[path] = version
            self.inos[path] = ino


class Arbitrator:
    def __init__(
        self,
        tree: Tree,
        tombstones: Tombstones,
        suspects: Suspects,
        blind: BlindSpots,
        logical: LogicalClock,
        clock: Any,
        hot_threshold: float,
    ) -> None:
        self.tree = tree
        self.tombstones = tombstones
        self.suspects = suspects
        self.blind = blind
        self.logical = logical
        self.clock = clock
        self.hot = hot_threshold
        self.trace: Trace | None = None
        self.counters: dict[str, int] = {}

    # --- small shared pieces -------------------------------------------

    def _drop(self, path: str, source: str, reason: str) -> None:
        counters = self.counters
        counters[reason] = counters.get(reason, 0) + 1
        if self.trace is not None:
            self.trace(path, source, "drop", reason)

    def _note(self, path: str, source: str, decision: str, reason: str) -> None:
        if self.trace is not None:
            self.trace(path, source, decision, reason)

    def remove_subtree(self, node: Node) -> list[Node]:
        """Detach ``node`` and clear every mark of what was removed (C2: every removal)."""
        tree = self.tree
        tree.detach(node)
        removed = tree.discard_subtree(node)
        suspects, additions = self.suspects, self.blind.additions
        for n in removed:
            if n.flags & SUSPECT:
                suspects.remove(n)
            if n.flags & BLIND:
                additions.discard(n)
        return removed

    def mark_suspect(self, node: Node, life: float) -> None:
        now = self.clock.monotonic()
        self.suspects.mark(node, now + life, node.mtime, node.size, now)
        self.tree.set_flag(node, SUSPECT, True)

    def clear_suspect(self, node: Node) -> None:
        if node.flags & SUSPECT:
            self.suspects.remove(node)
            self.tree.set_flag(node, SUSPECT, False)

    def set_blind_addition(self, node: Node, on: bool) -> None:
        if self.tree.set_flag(node, BLIND, on):
            if on:
                self.blind.additions.add(node)
            else:
                self.blind.additions.discard(node)

    def _hot_life(self, mtime: float, watermark: float) -> float | None:
        """Remaining suspect life of a listed file (C4), or ``None`` when it is not hot."""
        hot = self.hot
        age = watermark - mtime
        if age >= hot:
            return None
        return min(max(hot - age, 1.0), hot)

    def _evidence(self, node: Node, mtime: Any, size: Any) -> None:
        """Fresh evidence about a suspect (C9): the same mtime and size as recorded."""
        entry = self.suspects.get(node)
        if entry is not None and entry.mtime == mtime and entry.size == (size or 0):
            entry.evidence = True

    @staticmethod
    def _max_name_ver(node: Node) -> float:
        """The version a row showing another inode or kind at ``node``'s name must reach.

        The name's own version, and for a directory the versions at which
        realtime saw paths below it (they prove the name was a directory then).
        The name versions of the nodes below are versions of other directories
        as some listing reached them, possibly through a stale name: they date
        those inodes, not this path, so they do not count (docs/view-engine.md).
        """
        best = node.name_ver
        if node.is_dir:
            for child in node.children.values():  # type: ignore[attr-defined]
                below = subtree_max(child, "rt_ver")
                if below > best:
                    best = below
        return best

    @staticmethod
    def _max_ctime(node: Node) -> float:
        return subtree_max(node, "ctime")

    @staticmethod
    def _is_newer(node: Node, row: dict) -> bool:
        """Same inode: is the row a newer state than the node (by version)?"""
        if node.flags & IMPLICIT:
            return True
        ctime = row["ctime"]
        if ctime > node.ctime:
            return True
        if ctime < node.ctime:
            return False
        if row["mtime"] != node.mtime:
            return True
        return not node.is_dir and (row["size"] or 0) != node.size

    @staticmethod
    def _same_identity(node: Node, row: dict) -> bool:
        if node.flags & IMPLICIT:
            return row["kind"] == DIR
        if row["kind"] != node.kind:
            return False
        ino = row["inode"]
        return ino is None or node.ino is None or ino == node.ino

    def _tomb_passes_realtime(self, row: dict, covering: list) -> bool:
        ctime = row["ctime"]
        if ctime is None:
            return False
        ino = row["inode"]
        for _, t in covering:
            if ctime > t.stamp or (ctime == t.stamp and ino is not None and ino != t.ino):
                continue
            return False
        return True

    @staticmethod
    def _tomb_passes_listed(path: str, row: dict, covering: list, ctx: ListingContext | None) -> bool:
        """C3 for a listed row: each tombstone at ``path`` or above must be passed.

        The row's own tombstone passes by the listing's ``parent_ctime``. A
        tombstone at P passes if this listing bound P after the delete (a
        greater version, or an equal one with another inode), whether it
        bound P before or after the tombstone was recorded. A tombstone below
        such a P passes too if it is not newer than P's own (it dates from P's
        previous life; a newer one is a delete inside the new P and must be
        passed on its own). See docs/view-engine.md.
        """
        pc = row["parent_ctime"]
        if pc is None:
            pc = NO_VERSION
        passed = ctx.passed if ctx is not None else {}
        inos = ctx.inos if ctx is not None else {}
        by_path = dict(covering) if len(covering) > 1 else None
        for tpath, t in covering:
            if tpath == path and (pc > t.stamp or (pc == t.stamp and row["inode"] is not None and row["inode"] != t.ino)):
                continue
            ok = False
            bpath = tpath
            while passed:
                bver = passed.get(bpath)
                if bver is not None:
                    b = t if bpath == tpath else (by_path.get(bpath) if by_path else None)
                    if b is not None and b.stamp >= t.stamp and (
                        bver > b.stamp or (bver == b.stamp and inos.get(bpath) is not None and inos[bpath] != b.ino)
                    ):
                        ok = True
                        break
                if bpath == "/":
                    break
                bpath = bpath[: bpath.rfind("/")] or "/"
            if not ok:
                return False
        return True

    @staticmethod
    def _bind_scan(ctx: ListingContext, path: str, row: dict, covering) -> None:
        """A realtime directory row anchors the agent's scan of it (C1, C3).

        The scan bound the path, and every tombstoned path above it that the
        row passed, at the version the row proves (its ctime or its parent's).
        """
        pc, ctime = row["parent_ctime"], row["ctime"]
        ver = ctime if pc is None or ctime >= pc else pc
        ctx.bind(path, ver, row["inode"])
        for tpath, _ in covering:
            if tpath != path:
                ctx.bind(tpath, ver)

    # --- realtime (C1, C2) ------------------------------------------------

    def apply_realtime(self, rows: list[dict], deleting: bool, agent_now: float | None, scan_ctx: ListingContext) -> int:
        if deleting:
            applied = 0
            for row in rows:
                applied += self._realtime_delete(row)
            return applied
        return self._realtime_fast(rows, agent_now, scan_ctx)

    def _realtime_fast(self, rows: list[dict], agent_now: float | None, scan_ctx: ListingContext) -> int:
        """Realtime upserts, with the common case inlined: a new file in a known directory.

        That case (no tombstone at the path or above it, the parent a
        directory of the view, no node at the name) is what C1 reduces to for
        a file that just appeared: write the node, known by an agent, with the
        versions the row proves, suspect unless the write was atomic. It is
        :meth:`_realtime_upsert` for that case, written out once per batch
        instead of per row (the file's share of its ancestors' roll-ups is
        added by ``Tree.flush``). Everything else goes through the general
        path, as do rows of a new directory's scan (a listing, C1 and C3).
        """
        tree = self.tree
        ensure_dir = tree.ensure_dir
        attach = tree.attach_deferred
        meta = tree.meta
        tombs = self.tombstones
        by_path = tombs._by_path
        deletions = self.blind.deletions
        trace = self.trace
        observe = self.logical.observe
        hot = self.hot
        now_wall = self.clock.wall()
        last_ppath = None
        parent: Any = None
        covered = False
        applied = 0
        for row in rows:
            if row["parent_ino"] is not None:
                # The scan of a directory the agent just saw appear: a listing (C1, C3).
                applied += self._realtime_scan_row(row, scan_ctx)
                last_ppath = None
                continue
            kind = row["kind"]
            path = row["path"]
            if kind == DIR or (by_path and path in by_path):
                applied += self._realtime_upsert(row, agent_now, scan_ctx)
                last_ppath = None  # the general path may have changed the tree
                continue
            ppath = row["parent_path"]
            if ppath != last_ppath:
                # Tombstones first: a row they drop must not make implicit directories.
                covered = bool(by_path) and bool(tombs.covering(ppath))
                parent = None if covered else ensure_dir(ppath)
                last_ppath = ppath
            if parent is None:
                applied += self._realtime_upsert(row, agent_now, scan_ctx)
                last_ppath = None
                continue
            name = path[len(ppath) + 1:] if ppath != "/" else path[1:]
            if name in parent.children:
                applied += self._realtime_upsert(row, agent_now, scan_ctx)
                last_ppath = None
                continue
            ctime, pc, mtime = row["ctime"], row["parent_ctime"], row["mtime"]
            cls = SymlinkNode if kind == SYMLINK else Node
            node = cls(_intern(name), parent, row["size"] or 0, mtime, ctime, row["inode"],
                       meta(row["mode"], row["uid"], row["gid"]), KNOWN)
            node.updated_at = now_wall
            ver = ctime if pc is None or ctime >= pc else pc
            if ver > 0:
                node.rt_ver = ver
            if pc is not None and pc > 0:
                node.name_ver = pc
            attach(parent, node)
            if deletions:
                deletions.pop(path, None)
            if kind == FILE:
                if not row["is_atomic_write"]:
                    self.mark_suspect(node, hot)
                if agent_now is not None and mtime is not None:
                    observe(mtime, agent_now)
            if pc is not None and pc > parent.ctime:
                self._update_parent(parent, row)
            if trace is not None:
                trace(path, "realtime", "apply", "realtime")
            applied += 1
        return applied

    def _realtime_touch(self, node: Node, row: dict, now_wall: float) -> None:
        """What every applied or confirming realtime row does to its node (C1, C11)."""
        node.updated_at = now_wall
        self.tree.set_flag(node, KNOWN, True)
        ctime, pc = row["ctime"], row["parent_ctime"]
        ver = ctime if pc is None or ctime >= pc else pc
        if ver > node.rt_ver:
            node.rt_ver = ver
        if pc is not None and pc > node.name_ver:
            node.name_ver = pc
        if node.flags & BLIND:
            self.set_blind_addition(node, False)

    def _update_parent(self, parent: DirNode, row: dict) -> None:
        pc = row["parent_ctime"]
        if pc is not None and pc > parent.ctime:
            pm = row["parent_mtime"]
            self.tree.set_attrs(parent, 0, pm if pm is not None else parent.mtime, pc, parent.ino, parent.meta)

    def _realtime_upsert(self, row: dict, agent_now: float | None, scan_ctx: ListingContext) -> int:
        path = row["path"]
        tree = self.tree
        src = "realtime"
        deletions = self.blind.deletions
        if self.tombstones:
            covering = self.tombstones.covering(path)
            if covering and not self._tomb_passes_realtime(row, covering):
                self._drop(path, src, "tombstone: not newer than the delete")
                return 0
        else:
            covering = ()
        if row["kind"] == DIR:
            # A scan of the directory follows (C1): whatever this row does to the
            # node (even dropped as older than it), the name was bound then.
            self._bind_scan(scan_ctx, path, row, covering)
        parent = tree.ensure_dir(row["parent_path"])
        if parent is None:
            parent = self._realtime_unblock(row)
            if parent is None:
                self._drop(path, src, "parent is a file in the view")
                return 0
        name = path[path.rfind("/") + 1 :]
        node = parent.children.get(name)
        now_wall = self.clock.wall()
        kind = row["kind"]
        if node is not None:
            if self._same_identity(node, row):
                if not self._is_newer(node, row):
                    if row["ctime"] < node.ctime:
                        self._drop(path, src, "older than the node: a lagging host")
                        return 0
                    # Equal: confirms the node and counts as complete or partial (C1).
                    self._realtime_touch(node, row, now_wall)
                    deletions.pop(path, None)
                    self._realtime_suspect(node, row)
                    self._update_parent(parent, row)
                    self._note(path, src, "confirm", "equal to the node")
                    return 1
                tree.set_attrs(node, row["size"], row["mtime"], row["ctime"], row["inode"], tree.meta(row["mode"], row["uid"], row["gid"]))
            else:
                if not self._realtime_may_replace(node, row):
                    self._drop(path, src, "another inode at the name with a newer name version")
                    return 0
                if node.is_dir and kind == DIR:
                    self._reidentify(node, row)
                else:
                    self._replace(parent, node, row)
                    node = None
        if node is None:
            node = tree.new_node(parent, name, kind, row["size"], row["mtime"], row["ctime"], row["inode"],
                                 tree.meta(row["mode"], row["uid"], row["gid"]), KNOWN)
        self._realtime_touch(node, row, now_wall)
        deletions.pop(path, None)
        self._realtime_suspect(node, row)
        self._update_parent(parent, row)
        if kind == FILE and agent_now is not None and row["mtime"] is not None:
            self.logical.observe(row["mtime"], agent_now)
        self._note(path, src, "apply", "realtime")
        return 1

    def _realtime_unblock(self, row: dict) -> DirNode | None:
        """A realtime row under a path the view holds as a file or link.

        The row proves every ancestor was a directory when it was read (at a
        storage time of at least its ctime and its parent's ctime). If the
        blocking node's name was last seen bound before that, it was unbound
        since: remove it and make the directories (docs/view-engine.md, "Deviations and clarifications").
        """
        node: Node = self.tree.root
        for name in row["parent_path"][1:].split("/"):
            node = node.children[name]  # type: ignore[attr-defined]
            if not node.is_dir:
                break
        pc = row["parent_ctime"]
        proof = row["ctime"] if pc is None or row["ctime"] >= pc else pc
        if not proof > node.name_ver:
            return None
        path = self.tree.path_of(node)
        self.remove_subtree(node)
        # No tombstone: while the directories made here hold the row, their
        # name versions refuse stale rows of the file; their own removal records one.
        self._note(path, "realtime", "delete", "a realtime row below it proves a directory there since")
        return self.tree.ensure_dir(row["parent_path"])

    def _realtime_may_replace(self, node: Node, row: dict) -> bool:
        pc = row["parent_ctime"]
        if pc is None:
            return False
        if node.is_dir and row["kind"] == DIR:
            # Another directory inode: judged by the name's own version. The
            # subtree's name versions are versions of other directories (those
            # of realtime rows do not even say which inode held the name).
            return pc >= node.name_ver
        if pc < self._max_name_ver(node):
            return False
        if node.is_dir and row["kind"] != DIR:
            # Turning a directory into a file: newer than all of its subtree (C1).
            return row["ctime"] > self._max_ctime(node)
        return True

    def _replace(self, parent: DirNode, node: Node, row: dict) -> None:
        """Another inode took the name: the old one (and its subtree) is gone.

        The old inode's tombstone is stamped by the name's last version bound
        to it: the replacing row's parent version may be later than the
        replacement (a listing), and must not refuse the new inode's own rows.
        Until the new node goes, its name version refuses the old inode's.
        """
        path = self.tree.path_of(node)
        self.remove_subtree(node)
        self.tombstones.record(path, node.name_ver, node.ino, self.clock.wall())

    def _reidentify(self, node: DirNode, row: dict) -> None:
        """Another directory inode took a directory's name (docs/view-engine.md).

        The node takes the new inode and attributes. Children that realtime
        saw at their path after the name's last version bound to the old inode
        are kept (they may be the new inode's); the rest were the old inode's
        and go, under the old inode's tombstone (stamped as in :meth:`_replace`).
        A complete listing judges what stays (C6).
        """
        tree = self.tree
        path = tree.path_of(node)
        stamp = node.name_ver
        for child in list(node.children.values()):
            if not self._max_rt_ver(child) > stamp:
                self.remove_subtree(child)
        self.tombstones.record(path, stamp, node.ino, self.clock.wall())
        tree.set_attrs(node, 0, row["mtime"], row["ctime"], row["inode"], tree.meta(row["mode"], row["uid"], row["gid"]))

    @staticmethod
    def _max_rt_ver(node: Node) -> float:
        """Newest version realtime saw anywhere in ``node``'s subtree (C6 c)."""
        return subtree_max(node, "rt_ver")

    def _realtime_suspect(self, node: Node, row: dict) -> None:
        if node.kind != FILE:
            return
        atomic = row["is_atomic_write"]
        if atomic:
            self.clear_suspect(node)
        else:
            self.mark_suspect(node, self.hot)

    def _realtime_delete(self, row: dict) -> int:
        path = row["path"]
        src = "realtime"
        tree = self.tree
        now_wall = self.clock.wall()
        stamp = row["parent_ctime"]
        if stamp is None:
            stamp = self.logical.watermark()
        node = tree.lookup(path) if path != "/" else None
        self.blind.deletions.pop(path, None)
        ino = row["inode"]
        if ino is None and node is not None:
            ino = node.ino
        self.tombstones.record(path, stamp, ino, now_wall)
        if node is None:
            self._note(path, src, "tombstone", "delete of a path the view does not hold")
            return 1
        if self._max_ctime(node) > stamp:
            self._note(path, src, "keep", "re-created after this delete (newer version in the subtree)")
            return 1
        if node.name_ver > stamp or self._max_rt_ver(node) > stamp:
            # A tree moved in keeps its old ctimes: its name was bound (or realtime
            # saw a path in it) after this delete (docs/view-engine.md).
            self._note(path, src, "keep", "re-created after this delete (its name bound since)")
            return 1
        parent = node.parent
        self.remove_subtree(node)
        if parent is not None:
            self._update_parent(parent, row)
        self._note(path, src, "delete", "realtime delete")
        return 1

    def _realtime_scan_row(self, row: dict, ctx: ListingContext) -> int:
        """A row of the agent's scan of a new directory: realtime authority, listing rules."""
        return self._listed(row, "realtime", ctx, None, None, self.logical.watermark())

    # --- listings: snapshot, audit, on-demand (C3, C4, C5) ---------------

    def apply_listed(self, rows: list[dict], source: str, ctx: ListingContext, audit: Any = None) -> int:
        watermark = self.logical.watermark()
        if source != "snapshot":
            applied = 0
            for row in rows:
                applied += self._listed(row, source, ctx, audit, None, watermark)
            return applied
        return self._snapshot_fast(rows, ctx, watermark)

    def _snapshot_fast(self, rows: list[dict], ctx: ListingContext, watermark: float) -> int:
        """Snapshot rows, with the common case inlined: a new file in a known directory.

        That case (no tombstone at the path or above it, the parent directory
        in the view, no node at the name, the listing not older than the
        parent) is what C3 and C4 reduce to for a first snapshot: write the
        node, known by an agent, suspect if hot. Everything else goes through
        :meth:`_listed`. Tombstones are looked up per row (a row earlier in the
        batch may have recorded one), those above the parent once per parent.
        """
        tree = self.tree
        find_dir = tree.find_dir
        attach = tree.attach_deferred
        meta = tree.meta
        hot = self.hot
        trace = self.trace
        tombs = self.tombstones
        by_path = tombs._by_path
        last_ppath = None
        parent: Any = None
        covered = False
        applied = 0
        for row in rows:
            ppath = row["parent_path"]
            if ppath != last_ppath:
                parent = find_dir(ppath)
                covered = bool(by_path) and bool(tombs.covering(ppath))
                last_ppath = ppath
            kind = row["kind"]
            if parent and kind != DIR and not covered and not (by_path and row["path"] in by_path):
                pc = row["parent_ctime"]
                pino = row["parent_ino"]
                path = row["path"]
                name = path[len(ppath) + 1:] if ppath != "/" else path[1:]
                if (
                    pc is not None
                    and name not in parent.children
                    and (parent.flags & IMPLICIT or (parent.ctime <= pc and (pino is None or parent.ino is None
                                                                             or pino == parent.ino)))
                ):
                    if pc == parent.ctime and type(pc) is type(parent.ctime):
                        pc = parent.ctime  # share the float object (memory)
                    mtime = row["mtime"]
                    cls = SymlinkNode if kind == SYMLINK else Node
                    node = cls(_intern(name), parent, row["size"] or 0, mtime, row["ctime"], row["inode"],
                               meta(row["mode"], row["uid"], row["gid"]), KNOWN)
                    if pc > 0:
                        node.name_ver = pc
                    attach(parent, node)
                    if kind == FILE and watermark - mtime < hot:
                        self.mark_suspect(node, min(max(hot - (watermark - mtime), 1.0), hot))
                    if trace is not None:
                        trace(path, "snapshot", "apply", "new entry")
                    applied += 1
                    continue
            applied += self._listed(row, "snapshot", ctx, None, None, watermark)
            last_ppath = None  # the general path may have changed the tree
        return applied

    def _listed(self, row: dict, source: str, ctx: ListingContext, audit: Any, _unused: Any, watermark: float) -> int:
        path = row["path"]
        tree = self.tree
        skipped = row["audit_skipped"] if audit is not None else None
        ppath = row["parent_path"]
        name = path[path.rfind("/") + 1 :]
        if path == "/":
            parent = None
            node: Node | None = tree.root
        else:
            found = tree.find_dir(ppath)
            if found is False:
                self._drop(path, source, "listed under a path the view holds as a file")
                return 0
            parent = found  # type: ignore[assignment]
            node = parent.children.get(name) if parent is not None else None  # type: ignore[union-attr]
            if parent is not None and row["parent_ino"] is not None and parent.ino is not None and not parent.flags & IMPLICIT and parent.ino != row["parent_ino"]:
                if node is not None and audit is not None:
                    audit.seen.add(node)
                self._drop(path, source, "listed in another directory than the view holds there")
                return 0
        if audit is not None and node is not None:
            audit.seen.add(node)
        pc = row["parent_ctime"]
        if pc is None:
            pc = NO_VERSION
        tombs = self.tombstones
        if tombs:
            covering = tombs.covering(path)
            if covering:
                if not self._tomb_passes_listed(path, row, covering, ctx):
                    self._drop(path, source, "tombstone: the listing did not bind the name after the delete")
                    return 0
        if row["kind"] == DIR:
            # Every directory name this listing binds counts for C3, even for a
            # tombstone recorded after this row (a delete arriving late).
            ctx.bind(path, pc, row["inode"])
        if audit is not None:
            self.blind.deletions.pop(path, None)
            if skipped is False and row["kind"] == DIR:
                audit.complete(path, row)
        if node is not None:
            if node is tree.root or self._same_identity(node, row):
                if skipped:
                    node.flags |= SKIPPED
                elif skipped is False and node.is_dir:
                    node.flags &= ~SKIPPED
                if not self._is_newer(node, row):
                    if node.flags & SUSPECT:
                        self._evidence(node, row["mtime"], row["size"])
                    if pc > node.name_ver:
                        node.name_ver = pc
                    self._note(path, source, "keep", "the node is as new or newer")
                    return 0
                tree.set_attrs(node, row["size"], row["mtime"], row["ctime"], row["inode"], tree.meta(row["mode"], row["uid"], row["gid"]))
                self._after_listed_write(node, row, source, pc, watermark, new=False)
                self._note(path, source, "apply", "newer version of the same inode")
                return 1
            if skipped:
                self._drop(path, source, "a silent-directory marker never replaces another kind")
                return 0
            if node.is_dir and row["kind"] == DIR:
                # Judged by the name's own version (equal spares the node held).
                if pc <= node.name_ver:
                    self._drop(path, source, "another inode at the name; the listing predates its binding")
                    return 0
                self._reidentify(node, row)
                self._after_listed_write(node, row, source, pc, watermark, new=False)
                self._note(path, source, "apply", "another directory inode took the name")
                return 1
            if pc < self._max_name_ver(node):
                self._drop(path, source, "another inode at the name; the listing predates its binding")
                return 0
            self._replace(parent, node, row)  # type: ignore[arg-type]
        else:
            if parent is not None and not parent.flags & IMPLICIT and parent.ctime > pc and source != "realtime":
                # (Not for the new-directory scan: realtime and causal, C1, while
                # the parent's version may come from another host's later row.)
                self._drop(path, source, "the parent in the view is newer than the listing")
                return 0
            if parent is None:
                parent = tree.ensure_dir(ppath)
                if parent is None:
                    self._drop(path, source, "listed under a path the view holds as a file")
                    return 0
        known = KNOWN if source in ("snapshot", "realtime") else 0
        node = tree.new_node(parent, name, row["kind"], row["size"], row["mtime"], row["ctime"], row["inode"],  # type: ignore[arg-type]
                             tree.meta(row["mode"], row["uid"], row["gid"]), known | (SKIPPED if skipped else 0))
        if audit is not None:
            audit.seen.add(node)
        self._after_listed_write(node, row, source, pc, watermark, new=True)
        self._note(path, source, "apply", "new entry")
        return 1

    def _after_listed_write(self, node: Node, row: dict, source: str, pc: float, watermark: float, new: bool) -> None:
        changed = True
        if pc > node.name_ver:
            node.name_ver = pc
        if source == "realtime":
            # The new-directory scan: realtime authority (C1), rows not atomic.
            node.updated_at = self.clock.wall()
            self.tree.set_flag(node, KNOWN, True)
            ver = row["ctime"] if row["ctime"] >= pc else pc
            if ver > node.rt_ver:
                node.rt_ver = ver
            if node.flags & BLIND:
                self.set_blind_addition(node, False)
            self.blind.deletions.pop(self.tree.path_of(node), None)
            if node.kind == FILE:
                self.mark_suspect(node, self.hot)
            return
        if source == "snapshot":
            self.tree.set_flag(node, KNOWN, True)
        elif changed and (not node.is_dir or new):
            # audit, on_demand: seen by a scan, not a watch (C5, C4). A directory
            # that merely changed is explained by its children's rows; marking
            # it too would count one unseen file twice (docs/view-engine.md).
            self.tree.set_flag(node, KNOWN, False)
            self.set_blind_addition(node, True)
        if node.kind == FILE:
            life = self._hot_life(node.mtime, watermark)
            if life is not None:
                entry = self.suspects.get(node)
                if entry is None or entry.mtime != node.mtime or entry.size != node.size:
                    self.mark_suspect(node, life)
                else:
                    entry.evidence = True
