"""Realtime: inotify watches, one per directory, as a bounded LRU (C1, C2).

inotify tells a close-after-write (``IN_CLOSE_WRITE``: a complete write)
from a modify of an open file (``IN_MODIFY``: partial), which watchfiles
cannot; so on Linux we read inotify directly (``inotify_simple``) from the
event loop (``add_reader`` on its descriptor, no thread).

* A rename is a delete of the old path plus a create of the new one (a
  directory: a subtree move; the watches below it follow the new path).
* A new directory is watched first, then scanned, so files created before
  the watch existed are not lost; the scan rows are listed rows
  (``parent_ino`` set) with ``is_atomic_write = false``.
* Every row carries ctime and inode; every row, deletes too, carries the
  parent directory's mtime and ctime read right after the event.
* At most ``limit`` watches: the most recently active directories are kept,
  the least recently active are evicted (counted). ``ENOSPC`` from the
  kernel lowers the limit. A queue overflow marks the watcher degraded and
  asks for an audit.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat as _stat
from collections import OrderedDict, deque
from typing import Callable

from inotify_simple import INotify
from inotify_simple import flags as F

from fustor.schema import make_row, parent_of, row_from_stat, to_local
from fustor.schema.paths import escape_name, join

from .filters import PathFilter
from .scanner import ScanErrors, walk_rows

log = logging.getLogger("fustor.sources.fs.watch")

MASK = (F.CREATE | F.CLOSE_WRITE | F.MODIFY | F.ATTRIB | F.DELETE | F.MOVED_FROM | F.MOVED_TO
        | F.DELETE_SELF | F.DONT_FOLLOW | F.ONLYDIR | F.EXCL_UNLINK)  # fmt: skip

Emit = Callable[[list[dict], bool], None]  # (rows, deleting)

#: inotify events handled per turn of the event loop. One read returns everything queued (up
#: to the kernel's max_queued_events, 16384): handled in one go, a flood of events would hold
#: heartbeats, acks and the control plane for seconds. The rest waits in the kernel's queue.
EVENTS_PER_TURN = 256


class WatchManager:
    def __init__(self, root: bytes, flt: PathFilter, errors: ScanErrors, emit: Emit, limit: int = 100_000,
                 on_overflow: Callable[[], None] | None = None) -> None:
        self.root = root
        self.flt = flt
        self.errors = errors
        self.emit = emit
        self.limit = limit
        self.on_overflow = on_overflow
        self._ino: INotify | None = None
        self._by_wd: dict[int, str] = {}
        self._lru: OrderedDict[str, int] = OrderedDict()
        self.evictions = 0
        self.overflows = 0
        self.enospc = 0
        self.events_seen = 0
        self.degraded = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._backlog: deque = deque()  # events read and not handled yet

    # --- lifecycle ----------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._ino = INotify(nonblocking=True)
        self._loop = loop or asyncio.get_running_loop()
        self._loop.add_reader(self._ino.fileno(), self._readable)
        self._watch_tree()

    def close(self) -> None:
        if self._ino is None:
            return
        if self._loop is not None:
            try:
                self._loop.remove_reader(self._ino.fileno())
            except Exception:
                pass
        self._ino.close()  # releases every watch
        self._ino = None
        self._by_wd.clear()
        self._lru.clear()
        self._backlog.clear()

    @property
    def used(self) -> int:
        return len(self._lru)

    def stats(self) -> dict:
        return {"watches": self.used, "limit": self.limit, "evictions": self.evictions, "overflows": self.overflows,
                "enospc": self.enospc, "events": self.events_seen, "degraded": self.degraded}

    # --- watches ------------------------------------------------------------

    def _watch_tree(self) -> None:
        """Watch every directory, the most recently changed first, up to the limit."""
        dirs: list[tuple[float, str]] = []
        stack = ["/"]
        while stack:
            key = stack.pop()
            local = to_local(key, self.root)
            try:
                st = os.lstat(local)
                dirs.append((st.st_mtime, key))
                with os.scandir(local) as it:
                    for e in it:
                        if e.is_dir(follow_symlinks=False):
                            child = join(key, escape_name(e.name))
                            if not self.flt or self.flt.allows(child, True):
                                stack.append(child)
            except OSError as exc:
                self.errors.add(key, exc)
        dirs.sort()  # oldest first, so the newest end up most recently used
        for _, key in dirs[-self.limit:] if self.limit else []:
            self._add(key)

    def _add(self, key: str) -> bool:
        if self._ino is None:
            return False
        if key in self._lru:
            self._lru.move_to_end(key)
            return True
        while len(self._lru) >= self.limit > 0:
            self._evict_oldest()
        try:
            wd = self._ino.add_watch(to_local(key, self.root), MASK)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                # The kernel's max_user_watches is lower than our limit.
                self.enospc += 1
                self.limit = max(1, len(self._lru))
                log.warning("inotify watch limit reached: lowering the watch limit to %d", self.limit)
                if self._lru:
                    self._evict_oldest()
                    return self._add(key)
            elif exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                self.errors.add(key, exc)
            return False
        self._by_wd[wd] = key
        self._lru[key] = wd
        return True

    def _evict_oldest(self) -> None:
        key, wd = self._lru.popitem(last=False)
        self._by_wd.pop(wd, None)
        try:
            self._ino.rm_watch(wd)  # type: ignore[union-attr]
        except OSError:
            pass
        self.evictions += 1

    def _forget(self, key: str, subtree: bool) -> None:
        for k in [k for k in self._lru if k == key or (subtree and k.startswith(key + "/"))]:
            wd = self._lru.pop(k)
            self._by_wd.pop(wd, None)

    def _rename_watches(self, old: str, new: str) -> None:
        for k in [k for k in self._lru if k == old or k.startswith(old + "/")]:
            wd = self._lru.pop(k)
            nk = new + k[len(old):]
            self._lru[nk] = wd
            self._by_wd[wd] = nk

    # --- events ---------------------------------------------------------------

    def _readable(self) -> None:
        try:
            events = self._ino.read(timeout=0)  # type: ignore[union-attr]
        except BlockingIOError:
            return
        except OSError as exc:
            self.errors.add("/", exc)
            return
        self._backlog.extend(events)
        if self._backlog:
            # Read no more until these are handled, a slice per loop turn.
            self._loop.remove_reader(self._ino.fileno())  # type: ignore[union-attr]
            self._drain()

    def _drain(self) -> None:
        """Handle up to EVENTS_PER_TURN events of the backlog; the rest on the next turn."""
        if self._ino is None or self._loop is None:
            return
        backlog = self._backlog
        chunk = [backlog.popleft() for _ in range(min(EVENTS_PER_TURN, len(backlog)))]
        while backlog and chunk and chunk[-1].mask & F.MOVED_FROM:
            chunk.append(backlog.popleft())  # keep a rename's halves together
        try:
            self.handle(chunk)
        except Exception:  # one bad event must not stop the watcher
            log.exception("handling inotify events failed")
        if self._ino is None:
            return
        if backlog:
            self._loop.call_soon(self._drain)
        else:
            self._loop.add_reader(self._ino.fileno(), self._readable)

    def handle(self, events) -> None:
        self.events_seen += len(events)
        moved_from: dict[int, tuple[str, bool]] = {}
        for ev in events:
            mask = ev.mask
            if mask & F.Q_OVERFLOW:
                self.overflows += 1
                self.degraded = True
                if self.on_overflow:
                    self.on_overflow()
                continue
            dkey = self._by_wd.get(ev.wd)
            if dkey is None:
                continue
            if mask & F.IGNORED:
                self._by_wd.pop(ev.wd, None)
                if self._lru.get(dkey) == ev.wd:
                    del self._lru[dkey]
                continue
            if mask & F.DELETE_SELF:
                continue
            self._lru.move_to_end(dkey) if dkey in self._lru else None
            if not ev.name:
                continue
            key = join(dkey, escape_name(os.fsencode(ev.name) if isinstance(ev.name, str) else ev.name))
            is_dir = bool(mask & F.ISDIR)
            if self.flt and not self.flt.allows(key, is_dir):
                continue
            if mask & F.MOVED_FROM:
                moved_from[ev.cookie] = (key, is_dir)
            elif mask & F.MOVED_TO:
                src = moved_from.pop(ev.cookie, None)
                if src is not None:
                    self._deleted(src[0], src[1], moved_to=key)
                self._created(key, is_dir, atomic=True, moved=True)
            elif mask & F.CREATE:
                self._created(key, is_dir, atomic=False)
            elif mask & F.CLOSE_WRITE:
                self._changed(key, atomic=True)
            elif mask & (F.MODIFY | F.ATTRIB):
                self._changed(key, atomic=False)
            elif mask & F.DELETE:
                self._deleted(key, is_dir)
        for key, is_dir in moved_from.values():  # moved out of the watched tree
            self._deleted(key, is_dir)

    def _stat_pair(self, key: str):
        try:
            st = os.lstat(to_local(key, self.root))
        except FileNotFoundError:
            return None, None
        try:
            pst = os.lstat(to_local(parent_of(key), self.root))
        except OSError:
            pst = None
        return st, pst

    def _changed(self, key: str, atomic: bool) -> None:
        st, pst = self._stat_pair(key)
        if st is None:
            return  # gone already: its delete event follows
        if _stat.S_ISDIR(st.st_mode):
            atomic_flag = None
        else:
            atomic_flag = atomic
        row = row_from_stat(key, st, pst, is_atomic_write=atomic_flag)
        if row is not None:
            self.emit([row], False)

    def _created(self, key: str, is_dir: bool, atomic: bool, moved: bool = False) -> None:
        if not is_dir:
            self._changed(key, atomic=atomic if moved else False)
            return
        # Watch first, then scan: nothing created in between is lost.
        self._add(key)
        st, pst = self._stat_pair(key)
        if st is None:
            return
        rows = [row_from_stat(key, st, pst)]
        for batch in walk_rows(self.root, key, self.flt, self.errors, include_start=False):
            for r in batch:
                if r["kind"] == "file":
                    r["is_atomic_write"] = False
                elif r["kind"] == "dir":
                    self._add(r["path"])
            rows.extend(batch)
        self.emit([r for r in rows if r is not None], False)

    def _deleted(self, key: str, is_dir: bool, moved_to: str | None = None) -> None:
        try:
            pst = os.lstat(to_local(parent_of(key), self.root))
            pm, pc = pst.st_mtime, pst.st_ctime
        except OSError:
            pm = pc = None
        if is_dir:
            if moved_to is not None:
                self._rename_watches(key, moved_to)
            else:
                self._forget(key, subtree=True)
        self.emit([make_row(key, "dir" if is_dir else None, size=None, parent_mtime=pm, parent_ctime=pc)], True)
