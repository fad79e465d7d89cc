"""The portable realtime fallback: watchfiles (every change is non-atomic).

watchfiles cannot tell a close-after-write from a modify, nor pair a
rename's two halves, so every row it produces is a partial write
(``is_atomic_write = false``: the file stays suspect until the sentinel or
an audit vouches for it) and a rename is a delete plus a create.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Callable

from fustor.schema import make_row, parent_of, row_from_stat, to_local
from fustor.schema.paths import normalize_path

from .filters import PathFilter
from .scanner import ScanErrors, walk_rows


class WatchfilesWatcher:
    def __init__(self, root: bytes, flt: PathFilter, errors: ScanErrors, emit: Callable[[list[dict], bool], None]) -> None:
        self.root = root
        self.flt = flt
        self.errors = errors
        self.emit = emit
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.events_seen = 0

    def start(self) -> None:
        import watchfiles  # noqa: F401  (fail here, not in the thread)

        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="fustor-watchfiles", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import watchfiles

        for changes in watchfiles.watch(os.fsdecode(self.root), stop_event=self._stop, debounce=50, step=20,
                                        raise_interrupt=False):
            self._loop.call_soon_threadsafe(self._handle, changes)  # type: ignore[union-attr]

    def _handle(self, changes) -> None:
        for change, path in sorted(changes, key=lambda c: c[1]):
            self.events_seen += 1
            try:
                key = normalize_path(os.fsencode(path), self.root)
            except ValueError:
                continue
            local = to_local(key, self.root)
            try:
                st = os.lstat(local)
            except OSError:
                st = None
            try:
                pst = os.lstat(to_local(parent_of(key), self.root))
            except OSError:
                pst = None
            if st is None:
                self.emit([make_row(key, None, size=None, parent_mtime=pst.st_mtime if pst else None,
                                    parent_ctime=pst.st_ctime if pst else None)], True)
                continue
            row = row_from_stat(key, st, pst)
            if row is None or (self.flt and not self.flt.allows(key, row["kind"] == "dir")):
                continue
            if row["kind"] == "file":
                row["is_atomic_write"] = False
            rows = [row]
            if row["kind"] == "dir":
                for batch in walk_rows(self.root, key, self.flt, self.errors, include_start=False):
                    for r in batch:
                        if r["kind"] == "file":
                            r["is_atomic_write"] = False
                    rows.extend(batch)
            self.emit(rows, False)

    def close(self) -> None:
        self._stop.set()

    def stats(self) -> dict:
        return {"backend": "watchfiles", "events": self.events_seen, "watches": None, "limit": None,
                "evictions": 0, "overflows": 0, "degraded": False}
