"""The view's bookkeeping beside the tree: tombstones, suspects, blind spots.

* Tombstones (C2, C3) guard deleted paths against stale observations until
  their TTL (wall time) passes, even after the path exists again.
* Suspects (C9) are files the view cannot vouch for yet. Entries live in a
  dict keyed by node and in a heap ordered by monotonic expiry, so a sweep
  costs O(log n) per expired entry; renewing pushes a new heap item and the
  old one is skipped when popped (its expiry no longer matches).
* Blind spots (C11): additions are flagged nodes (rolled up by the tree);
  deletions are paths the view removed because only a scan, not a watch,
  showed them gone.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Iterator

from fustor.schema import is_within

from .tree import Node


class Tombstone:
    __slots__ = ("stamp", "ino", "wall")

    def __init__(self, stamp: float, ino: int | None, wall: float) -> None:
        self.stamp = stamp  # storage-time version of the delete (parent ctime after it)
        self.ino = ino  # inode that was deleted, if known
        self.wall = wall  # fusion wall time recorded, for the TTL

    def to_dict(self) -> dict:
        return {"stamp": self.stamp, "inode": self.ino, "recorded_at": self.wall}


class Tombstones:
    __slots__ = ("_by_path",)

    def __init__(self) -> None:
        self._by_path: dict[str, Tombstone] = {}

    def __len__(self) -> int:
        return len(self._by_path)

    def __bool__(self) -> bool:
        return bool(self._by_path)

    def get(self, path: str) -> Tombstone | None:
        return self._by_path.get(path)

    def record(self, path: str, stamp: float, ino: int | None, wall: float) -> Tombstone:
        """Keep the newest delete seen for a path (a later stamp replaces an older one)."""
        old = self._by_path.get(path)
        if old is not None and old.stamp > stamp:
            old.wall = max(old.wall, wall)
            return old
        tomb = Tombstone(stamp, ino if ino is not None else (old.ino if old else None), wall)
        self._by_path[path] = tomb
        return tomb

    def covering(self, path: str) -> list[tuple[str, Tombstone]]:
        """Tombstones at ``path`` and at each of its ancestors, nearest to the root first."""
        by_path = self._by_path
        out = []
        if path == "/":
            t = by_path.get("/")
            return [("/", t)] if t else []
        pos = 0
        while True:
            pos = path.find("/", pos + 1)
            prefix = path if pos < 0 else path[:pos]
            t = by_path.get(prefix)
            if t is not None:
                out.append((prefix, t))
            if pos < 0:
                return out

    def purge(self, older_than_wall: float) -> int:
        """Drop tombstones recorded before ``older_than_wall``; returns how many."""
        dead = [p for p, t in self._by_path.items() if t.wall < older_than_wall]
        for p in dead:
            del self._by_path[p]
        return len(dead)

    def items(self) -> Iterator[tuple[str, Tombstone]]:
        return iter(self._by_path.items())

    def clear(self) -> None:
        self._by_path.clear()


@dataclass(slots=True)
class Suspect:
    expiry: float  # monotonic
    mtime: float  # recorded when marked or renewed
    size: int
    since: float  # monotonic time first marked (longest-suspect first)
    evidence: bool = False  # fresh evidence showing the recorded mtime and size
    priority: bool = False  # renewed without evidence: first for the sentinel
    issued_at: float = 0.0  # wall time it was last handed to a sentinel
    issued_mono: float = 0.0  # the same, monotonic
    recorded_at: float = 0.0  # monotonic time the recorded mtime and size were first recorded


class Suspects:
    __slots__ = ("_entries", "_heap", "_seq")

    def __init__(self) -> None:
        self._entries: dict[Node, Suspect] = {}
        self._heap: list[tuple[float, int, Node]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, node: Node) -> bool:
        return node in self._entries

    def get(self, node: Node) -> Suspect | None:
        return self._entries.get(node)

    def mark(self, node: Node, expiry: float, mtime: float, size: int, now: float) -> Suspect:
        """Mark or renew with new recorded values (evidence starts afresh)."""
        entry = self._entries.get(node)
        if entry is None:
            entry = Suspect(expiry, mtime, size, now, recorded_at=now)
            self._entries[node] = entry
        else:
            if entry.mtime != mtime or entry.size != size:
                entry.recorded_at = now
            entry.expiry, entry.mtime, entry.size = expiry, mtime, size
            entry.evidence = False
        heapq.heappush(self._heap, (expiry, next(self._seq), node))
        return entry

    def remove(self, node: Node) -> bool:
        return self._entries.pop(node, None) is not None

    def pop_expired(self, now: float) -> list[tuple[Node, Suspect]]:
        heap, entries = self._heap, self._entries
        out = []
        while heap and heap[0][0] <= now:
            expiry, _, node = heapq.heappop(heap)
            entry = entries.get(node)
            if entry is not None and entry.expiry == expiry:
                out.append((node, entry))
        # The heap only grows by renewals; rebuild when stale items dominate.
        if len(heap) > 4 * len(entries) + 1024:
            self._heap = [(e.expiry, next(self._seq), n) for n, e in entries.items()]
            heapq.heapify(self._heap)
        return out

    def longest_first(self, limit: int) -> list[tuple[Node, Suspect]]:
        """Sentinel order: entries renewed without evidence first, then longest-suspect."""
        return heapq.nsmallest(limit, self._entries.items(), key=lambda kv: (not kv[1].priority, kv[1].since))

    def items(self) -> Iterator[tuple[Node, Suspect]]:
        return iter(self._entries.items())

    def clear(self) -> None:
        self._entries.clear()
        self._heap.clear()


class BlindSpots:
    """Additions (nodes, also flagged in the tree) and deletions (paths)."""

    __slots__ = ("additions", "deletions")

    def __init__(self) -> None:
        self.additions: set[Node] = set()
        self.deletions: dict[str, float] = {}  # path -> wall time recorded

    def deletions_under(self, path: str) -> int:
        if path == "/":
            return len(self.deletions)
        return sum(1 for p in self.deletions if is_within(p, path))

    def clear(self) -> None:
        self.additions.clear()
        self.deletions.clear()
