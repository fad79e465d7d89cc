"""The audit walk with true silence (C5, C8), agent side.

The leader keeps, per directory, its ctime and its subdirectories from the
last audit. A directory whose ctime is unchanged is not listed: it is
reported as one ``audit_skipped = true`` row and its known subdirectories
are visited from the cache, so an unchanged tree costs one ``lstat`` per
directory. Every ``full_audit_every``-th audit ignores the cache (in-place
appends do not change a directory's ctime). The cache is cleared when the
session is re-created or the pipe becomes leader.
"""

from __future__ import annotations

import os
import stat as _stat
from dataclasses import dataclass
from typing import Iterator

from fustor.schema import row_from_stat, to_local

from .filters import PathFilter
from .scanner import ScanErrors, Throttle, list_directory, listing_rows


@dataclass
class AuditProgress:
    rows: int = 0
    dirs_listed: int = 0
    dirs_skipped: int = 0
    stats: int = 0
    full: bool = False


class AuditWalker:
    def __init__(self, root: bytes, flt: PathFilter, errors: ScanErrors, full_audit_every: int = 6) -> None:
        self.root = root
        self.flt = flt
        self.errors = errors
        self.full_audit_every = full_audit_every
        self.cache: dict[str, tuple[int, list[str]]] = {}  # key -> (ctime_ns, subdirectory keys)
        self.audits_done = 0
        self.progress = AuditProgress()

    def clear_cache(self) -> None:
        self.cache.clear()
        self.audits_done = 0

    def next_is_full(self) -> bool:
        return not self.cache or self.audits_done % self.full_audit_every == 0

    def walk(self, batch: int = 1000, throttle: Throttle | None = None, start_key: str = "/") -> Iterator[list[dict]]:
        """Batches of audit rows in C5 order: a listed directory's children, then its complete row."""
        full = self.next_is_full()
        prog = self.progress = AuditProgress(full=full)

        def count(n: int) -> None:
            prog.stats += n
            if throttle is not None:
                throttle(n)

        out: list[dict] = []
        root = self.root
        parent_key = start_key.rsplit("/", 1)[0] or "/"
        try:
            parent_st = os.lstat(to_local(parent_key, root))
        except OSError as exc:
            self.errors.add(parent_key, exc)
            return
        stack: list[tuple[str, bytes, os.stat_result]] = [(start_key, to_local(start_key, root), parent_st)]
        seen_now: dict[str, tuple[int, list[str]]] = {}
        while stack:
            key, local, pst = stack.pop()
            try:
                st = os.lstat(local)
                count(1)
            except OSError as exc:
                self.errors.add(key, exc)
                continue
            if not _stat.S_ISDIR(st.st_mode):
                continue
            cached = self.cache.get(key)
            if not full and cached is not None and cached[0] == st.st_ctime_ns:
                out.append(row_from_stat(key, st, pst, listed=True, audit_skipped=True))
                prog.dirs_skipped += 1
                seen_now[key] = cached
                for sub in reversed(cached[1]):
                    stack.append((sub, to_local(sub, root), st))
            else:
                listing = list_directory(local, key, self.flt, self.errors, count)
                if listing is None:
                    continue
                out.extend(listing_rows(listing))
                out.append(row_from_stat(key, listing.stat, pst, listed=True, audit_skipped=False))
                prog.dirs_listed += 1
                subs = [k for k, _, _ in listing.subdirs()]
                seen_now[key] = (listing.stat.st_ctime_ns, subs)
                for sub_key, sub_local, _ in reversed(listing.subdirs()):
                    stack.append((sub_key, sub_local, listing.stat))
            while len(out) >= batch:
                prog.rows += batch
                yield out[:batch]
                out = out[batch:]
        if out:
            prog.rows += len(out)
            yield out
        # Keep only directories that still exist; a full audit replaces the cache.
        if start_key == "/":
            self.cache = seen_now
        else:
            self.cache.update(seen_now)
        self.audits_done += 1
