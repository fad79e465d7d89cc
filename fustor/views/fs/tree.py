"""The in-memory tree of a view, with subtree roll-ups kept current.

Nodes hold a name and a parent link, never a full path string: a million
entries would otherwise carry a million copies of their directories' names.
Directory nodes keep roll-ups of their subtree (non-directory entries, their
total size, directories, suspects, blind-spot additions, newest file mtime)
updated on every change by walking up the parents, so the stats of any path
cost O(1) and a change costs O(depth).

The newest mtime cannot be lowered incrementally (removing the newest file
does not say which is next), so a removal only marks the ancestors stale;
:meth:`Tree.newest` recomputes a stale directory from its children on read,
descending only into stale subdirectories.

Removal of a subtree clears its nodes' child dicts, which breaks the
parent/child reference cycles: memory returns by reference counting alone,
so the view can keep its nodes out of the cyclic collector (``gc.freeze``).
"""

from __future__ import annotations

import sys
from typing import Iterator

from fustor.schema import DIR, FILE, SYMLINK

# flag bits of Node.flags
SUSPECT = 1
KNOWN = 2  # known_by_agent: seen by an agent's watch or its snapshot
BLIND = 4  # a blind-spot addition
SKIPPED = 8  # directories: audit_skipped (silent at the last audit)
IMPLICIT = 16  # directories: created because a row needed a parent
PENDING = 32  # attached, its share of the ancestors' roll-ups not yet added (Tree.flush)

_intern = sys.intern


class Node:
    """A file. ``updated_at``, ``rt_ver`` and ``name_ver`` are 0 until set.

    The kind is the class's (``Node``: file, ``SymlinkNode``, ``DirNode``),
    not a slot: a million nodes need not each point at the same string.
    """

    __slots__ = (
        "name", "parent", "size", "mtime", "ctime", "ino", "meta", "flags",
        "updated_at", "rt_ver", "name_ver",
    )  # fmt: skip

    is_dir = False
    kind = FILE

    def __init__(self, name, parent, size, mtime, ctime, ino, meta, flags):
        self.name = name
        self.parent = parent
        self.size = size
        self.mtime = mtime
        # The same float object when equal (the usual case for a file written
        # once): 24 bytes saved per node.
        self.ctime = mtime if ctime == mtime and type(ctime) is type(mtime) else ctime
        self.ino = ino
        self.meta = meta
        self.flags = flags
        self.updated_at = 0  # fusion wall time of the last realtime confirmation
        self.rt_ver = 0  # newest version realtime saw at this path (C6 c)
        self.name_ver = 0  # newest parent version under which the name was seen bound

    @property
    def mode(self):
        return self.meta[0] if self.meta else None

    @property
    def uid(self):
        return self.meta[1] if self.meta else None

    @property
    def gid(self):
        return self.meta[2] if self.meta else None

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name!r} size={self.size} ctime={self.ctime}>"


class SymlinkNode(Node):
    __slots__ = ()
    kind = SYMLINK


class DirNode(Node):
    __slots__ = ("children", "n_files", "n_dirs", "total_size", "newest_mtime", "n_suspect", "n_blind",
                 "n_unknown", "stale")

    is_dir = True
    kind = DIR

    def __init__(self, name, parent, mtime=0, ctime=0, ino=None, meta=None, flags=0):
        Node.__init__(self, name, parent, 0, mtime, ctime, ino, meta, flags)
        self.children: dict[str, Node] = {}
        self.n_files = 0
        self.n_dirs = 0
        self.total_size = 0
        self.newest_mtime = 0
        self.n_suspect = 0
        self.n_blind = 0
        self.n_unknown = 0  # non-directory entries not known by an agent
        self.stale = False


def subtree_max(node: Node, attr: str) -> float:
    """The largest value of ``attr`` over ``node`` and everything below it."""
    best = getattr(node, attr)
    if node.is_dir:
        stack = list(node.children.values())  # type: ignore[attr-defined]
        while stack:
            n = stack.pop()
            value = getattr(n, attr)
            if value > best:
                best = value
            if n.is_dir:
                stack.extend(n.children.values())  # type: ignore[attr-defined]
    return best


class Tree:
    """The nodes of one view and the operations that keep roll-ups true."""

    __slots__ = ("root", "_metas", "dirs_by_name", "_pending", "_last_path", "_last_dir")

    def __init__(self) -> None:
        self.root = DirNode("", None, flags=IMPLICIT)
        self._metas: dict[tuple, tuple] = {}
        # Directory names -> nodes: "where is submission U?" is a directory
        # name lookup. Directories are a small fraction of entries, so the
        # index is cheap; file names are not indexed (see docs/view-engine.md).
        self.dirs_by_name: dict[str, set[DirNode]] = {}
        # Files attached by attach_deferred, by parent: their roll-up shares
        # are added once per parent per batch (flush), not once per file.
        self._pending: dict[DirNode, list[Node]] = {}
        # The last directory looked up (rows come grouped by directory);
        # forgotten on every removal, the only way a found directory goes away.
        self._last_path: str | None = None
        self._last_dir: DirNode | None = None

    def index_dir(self, node: DirNode) -> None:
        bucket = self.dirs_by_name.get(node.name)
        if bucket is None:
            self.dirs_by_name[node.name] = {node}
        else:
            bucket.add(node)

    def _unindex_dir(self, node: DirNode) -> None:
        bucket = self.dirs_by_name.get(node.name)
        if bucket is not None:
            bucket.discard(node)
            if not bucket:
                del self.dirs_by_name[node.name]

    # --- lookup ---------------------------------------------------------

    def lookup(self, path: str) -> Node | None:
        node: Node | None = self.root
        if path == "/":
            return node
        for name in path[1:].split("/"):
            if node is None or not node.is_dir:
                return None
            node = node.children.get(name)  # type: ignore[union-attr]
        return node

    def find_dir(self, path: str) -> DirNode | None | bool:
        """The directory at ``path``; ``None`` if absent; ``False`` if a file blocks it."""
        if path == self._last_path:
            return self._last_dir
        found = self._find_dir(path)
        if found:
            self._last_path, self._last_dir = path, found
        return found

    def _find_dir(self, path: str) -> DirNode | None | bool:
        node: Node = self.root
        if path == "/":
            return node  # type: ignore[return-value]
        for name in path[1:].split("/"):
            child = node.children.get(name)  # type: ignore[attr-defined]
            if child is None:
                return None
            if not child.is_dir:
                return False
            node = child
        return node  # type: ignore[return-value]

    def ensure_dir(self, path: str) -> DirNode | None:
        """The directory at ``path``, creating implicit ones; ``None`` if a file blocks it."""
        if path == self._last_path:
            return self._last_dir
        found = self._ensure_dir(path)
        if found is not None:
            self._last_path, self._last_dir = path, found
        return found

    def _ensure_dir(self, path: str) -> DirNode | None:
        node: Node = self.root
        if path == "/":
            return node  # type: ignore[return-value]
        for name in path[1:].split("/"):
            child = node.children.get(name)  # type: ignore[attr-defined]
            if child is None:
                child = DirNode(_intern(name), node, flags=IMPLICIT)
                self.attach(node, child)  # type: ignore[arg-type]
            elif not child.is_dir:
                return None
            node = child
        return node  # type: ignore[return-value]

    @staticmethod
    def path_of(node: Node) -> str:
        names = []
        while node.parent is not None:
            names.append(node.name)
            node = node.parent
        if not names:
            return "/"
        names.reverse()
        return "/" + "/".join(names)

    @staticmethod
    def is_attached(node: Node, root: DirNode) -> bool:
        while node.parent is not None:
            parent = node.parent
            if parent.children.get(node.name) is not node:  # type: ignore[attr-defined]
                return False
            node = parent
        return node is root

    def meta(self, mode, uid, gid):
        """An interned (mode, uid, gid): a share holds few distinct owners and modes."""
        key = (mode, uid, gid)
        got = self._metas.get(key)
        if got is None:
            if len(self._metas) > 65_536:
                self._metas.clear()
            self._metas[key] = got = key
        return got

    # --- structure ------------------------------------------------------

    def new_node(self, parent: DirNode, name: str, kind: str, size, mtime, ctime, ino, meta, flags) -> Node:
        """Create and attach a node (``kind`` decides its class)."""
        if kind == DIR:
            node: Node = DirNode(_intern(name), parent, mtime, ctime, ino, meta, flags)
        else:
            cls = SymlinkNode if kind == SYMLINK else Node
            node = cls(_intern(name), parent, size or 0, mtime, ctime, ino, meta, flags)
        self.attach(parent, node)
        return node

    def attach_deferred(self, parent: DirNode, node: Node) -> None:
        """Attach a new file or symlink now; add it to the roll-ups at the next :meth:`flush`.

        Roll-up additions commute, so deferring them is safe as long as every
        reader and every removal flushes first (they do).
        """
        parent.children[node.name] = node
        node.parent = parent
        node.flags |= PENDING
        pending = self._pending.get(parent)
        if pending is None:
            self._pending[parent] = [node]
        else:
            pending.append(node)

    def flush(self) -> None:
        """Add the deferred files to their ancestors' roll-ups."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        for parent, nodes in pending.items():
            files = size = susp = blind = unknown = 0
            newest = 0
            for n in nodes:
                f = n.flags
                n.flags = f & ~PENDING
                files += 1
                size += n.size
                if f & SUSPECT:
                    susp += 1
                if f & BLIND:
                    blind += 1
                if not f & KNOWN:
                    unknown += 1
                if n.mtime > newest:
                    newest = n.mtime
            p: DirNode | None = parent
            while p is not None:
                p.n_files += files
                p.total_size += size
                if susp:
                    p.n_suspect += susp
                if blind:
                    p.n_blind += blind
                if unknown:
                    p.n_unknown += unknown
                if newest > p.newest_mtime:
                    p.newest_mtime = newest
                p = p.parent

    def attach(self, parent: DirNode, node: Node) -> None:
        parent.children[node.name] = node
        node.parent = parent
        flags = node.flags
        if node.is_dir:
            files, dirs, size = node.n_files, node.n_dirs + 1, node.total_size  # type: ignore[attr-defined]
            susp = node.n_suspect  # type: ignore[attr-defined]
            blind = node.n_blind + (flags & BLIND and 1)  # type: ignore[attr-defined]
            unknown = node.n_unknown  # type: ignore[attr-defined]
            newest, stale = node.newest_mtime, node.stale  # type: ignore[attr-defined]
            self.index_dir(node)  # type: ignore[arg-type]
        else:
            files, dirs, size = 1, 0, node.size
            susp, blind = flags & SUSPECT and 1, flags & BLIND and 1
            unknown = 0 if flags & KNOWN else 1
            newest, stale = node.mtime, False
        p: DirNode | None = parent
        while p is not None:
            p.n_files += files
            p.n_dirs += dirs
            p.total_size += size
            if susp:
                p.n_suspect += susp
            if blind:
                p.n_blind += blind
            if unknown:
                p.n_unknown += unknown
            if newest > p.newest_mtime:
                p.newest_mtime = newest
            if stale:
                p.stale = True
            p = p.parent

    def detach(self, node: Node) -> None:
        """Unlink ``node`` (with its subtree) from its parent, updating roll-ups."""
        if self._pending:
            self.flush()
        self._last_path = self._last_dir = None
        parent = node.parent
        if parent is None:
            raise ValueError("the root cannot be removed")
        del parent.children[node.name]  # type: ignore[attr-defined]
        if node.is_dir:
            files, dirs, size = node.n_files, node.n_dirs + 1, node.total_size  # type: ignore[attr-defined]
            susp = node.n_suspect  # type: ignore[attr-defined]
            newest = node.newest_mtime  # type: ignore[attr-defined]
            blind = node.n_blind + (node.flags & BLIND and 1)  # type: ignore[attr-defined]
            unknown = node.n_unknown  # type: ignore[attr-defined]
        else:
            files, dirs, size = 1, 0, node.size
            susp = node.flags & SUSPECT and 1
            blind = node.flags & BLIND and 1
            unknown = 0 if node.flags & KNOWN else 1
            newest = node.mtime
        p = parent
        while p is not None:
            p.n_files -= files
            p.n_dirs -= dirs
            p.total_size -= size
            p.n_suspect -= susp
            p.n_blind -= blind
            p.n_unknown -= unknown
            if newest and newest >= p.newest_mtime:
                p.stale = True
            p = p.parent

    def discard_subtree(self, node: Node) -> list[Node]:
        """Every node of a detached subtree (``node`` first), with their child dicts cleared."""
        out = [node]
        i = 0
        while i < len(out):
            n = out[i]
            i += 1
            if n.is_dir:
                out.extend(n.children.values())  # type: ignore[attr-defined]
        for n in out:
            if n.is_dir:
                n.children = {}  # type: ignore[attr-defined]
                self._unindex_dir(n)  # type: ignore[arg-type]
        return out

    def set_attrs(self, node: Node, size, mtime, ctime, ino, meta) -> None:
        """Replace the attributes of a node, keeping roll-ups true."""
        if node.is_dir:
            node.mtime, node.ino, node.meta = mtime, ino, meta
            node.ctime = mtime if ctime == mtime and type(ctime) is type(mtime) else ctime
            node.flags &= ~IMPLICIT
            return
        size = size or 0
        dsize = size - node.size
        old_mtime = node.mtime
        node.size, node.mtime, node.ino, node.meta = size, mtime, ino, meta
        node.ctime = mtime if ctime == mtime and type(ctime) is type(mtime) else ctime
        if (not dsize and mtime == old_mtime) or node.flags & PENDING:
            return
        p = node.parent
        lowered = mtime < old_mtime
        while p is not None:
            if dsize:
                p.total_size += dsize
            if mtime > p.newest_mtime:
                p.newest_mtime = mtime
            elif lowered and old_mtime >= p.newest_mtime:
                p.stale = True
            p = p.parent

    def set_flag(self, node: Node, bit: int, on: bool) -> bool:
        """Set or clear a flag bit, keeping the rolled-up ones (SUSPECT, BLIND, KNOWN) true."""
        flags = node.flags
        if bool(flags & bit) == on:
            return False
        node.flags = flags | bit if on else flags & ~bit
        if flags & PENDING:
            return True  # counted when flushed
        if bit == SUSPECT:
            delta = 1 if on else -1
            p = node.parent
            while p is not None:
                p.n_suspect += delta
                p = p.parent
        elif bit == BLIND:
            delta = 1 if on else -1
            p = node.parent
            while p is not None:
                p.n_blind += delta
                p = p.parent
        elif bit == KNOWN and not node.is_dir:
            delta = -1 if on else 1
            p = node.parent
            while p is not None:
                p.n_unknown += delta
                p = p.parent
        return True

    # --- reads ----------------------------------------------------------

    def newest(self, d: DirNode) -> float:
        """Newest file mtime in the subtree (recomputed here if a removal made it stale)."""
        if self._pending:
            self.flush()
        if d.stale:
            best = 0
            for child in d.children.values():
                m = self.newest(child) if child.is_dir else child.mtime  # type: ignore[arg-type]
                if m > best:
                    best = m
            d.newest_mtime = best
            d.stale = False
        return d.newest_mtime

    def walk(self, node: Node) -> Iterator[Node]:
        """``node`` and its subtree, depth first, parents before children."""
        stack = [node]
        while stack:
            n = stack.pop()
            yield n
            if n.is_dir:
                stack.extend(n.children.values())  # type: ignore[attr-defined]

    def recount(self, d: DirNode) -> tuple:
        """Roll-ups recomputed from scratch (for tests): files, dirs, size, suspects, blind, unknown, newest."""
        self.flush()
        files = dirs = size = susp = blind = unknown = 0
        newest = 0
        for child in d.children.values():
            if child.flags & SUSPECT:
                susp += 1
            if child.flags & BLIND:
                blind += 1
            if child.is_dir:
                f, dd, s, su, b, un, nw = self.recount(child)  # type: ignore[arg-type]
                unknown += un
                files += f
                dirs += dd + 1
                size += s
                susp += su
                blind += b
                newest = max(newest, nw)
            else:
                files += 1
                size += child.size
                newest = max(newest, child.mtime)
                if not child.flags & KNOWN:
                    unknown += 1
        return files, dirs, size, susp, blind, unknown, newest
