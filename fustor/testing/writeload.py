"""A seeded random write load through several hosts' mounts of one share.

:class:`RandomWriter` creates, appends to, renames and deletes files and
makes (and now and then renames) directories under one top directory, each
operation through a host drawn at random (``{"A": mount_a, "C": mount_c}``).
Everything it draws comes from one ``random.Random(seed)``, so a run is
reproducible from its seed (the mounts' caches can still make an operation
fail: a name another host just removed may look present for a second; such
an operation is counted in :attr:`WriteStats.failed` and the writer's model
re-read from the backing directory).

:func:`append_flood` appends one byte at a time to many open files in turn:
the most inotify events per second a host can make (one ``IN_MODIFY`` per
write; alternating files keeps the kernel from merging them).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

#: operation -> weight
DEFAULT_MIX: dict[str, int] = {"create": 30, "append": 25, "rename": 12, "delete": 12, "mkdir": 8, "rename_dir": 2,
                               "truncate": 4}  # fmt: skip


@dataclass
class WriteStats:
    ops: Counter = field(default_factory=Counter)  # successful operations by kind
    failed: Counter = field(default_factory=Counter)  # operations the mounts refused, by kind
    by_host: Counter = field(default_factory=Counter)
    bytes_written: int = 0
    started: float = 0.0
    ended: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.ops.values())

    def to_dict(self) -> dict:
        return {"ops": dict(self.ops), "failed": dict(self.failed), "by_host": dict(self.by_host),
                "total": self.total, "bytes": self.bytes_written,
                "seconds": round(self.ended - self.started, 2)}  # fmt: skip


class RandomWriter:
    """Random file operations under ``top`` through the given mounts (``{host: mount}``)."""

    def __init__(self, mounts: dict[str, Path], seed: int, *, top: str = "load", backing: Path | None = None,
                 mix: dict[str, int] | None = None, max_depth: int = 3, max_size: int = 4096,
                 max_files: int = 400, max_dirs: int = 80) -> None:  # fmt: skip
        self.mounts = {h: Path(p) for h, p in mounts.items()}
        self.hosts = sorted(self.mounts)
        self.seed = seed
        self.rng = random.Random(seed)
        self.top = top.strip("/")
        self.backing = Path(backing) if backing is not None else None
        mix = dict(mix or DEFAULT_MIX)
        self._ops = list(mix)
        self._weights = [mix[o] for o in self._ops]
        self.max_depth = max_depth
        self.max_size = max_size
        self.max_files = max_files
        self.max_dirs = max_dirs
        self.stats = WriteStats()
        #: every operation that succeeded: (time.monotonic() when it ended, op, host, paths involved)
        self.log: list[tuple[float, str, str, tuple[str, ...]]] = []
        self.files: set[str] = set()
        self.dirs: set[str] = {self.top}
        self._names = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        first = self.mounts[self.hosts[0]] / self.top
        first.mkdir(parents=True, exist_ok=True)

    # --- running --------------------------------------------------------------------

    def run(self, duration: float, pause: float = 0.002) -> WriteStats:
        """Operations for ``duration`` seconds (or until :meth:`stop`), ``pause`` s apart."""
        self.stats.started = time.time()
        deadline = time.monotonic() + duration
        try:
            while time.monotonic() < deadline and not self._stop.is_set():
                self.step()
                if pause:
                    time.sleep(pause)
        finally:
            self.stats.ended = time.time()
        return self.stats

    def start(self, duration: float, pause: float = 0.002) -> "RandomWriter":
        """:meth:`run` in a thread; :meth:`join` waits for it (and raises what it raised)."""

        def target() -> None:
            try:
                self.run(duration, pause)
            except BaseException as exc:  # carried to join()
                self.error = exc

        self._thread = threading.Thread(target=target, name=f"writer-{self.top}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float = 60.0) -> WriteStats:
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"writer {self.top} did not stop")
        if self.error is not None:
            raise self.error
        return self.stats

    def moved_dirs(self) -> set[str]:
        """Both names of every directory this writer renamed (``top``-relative, no leading slash)."""
        return {p for _, op, _, paths in self.log if op == "rename_dir" for p in paths}

    def placed_soon_after_mkdir(self, within: float) -> set[str]:
        """Files created or renamed into a directory less than ``within`` s after it was made.

        An agent watching the host sees such a file only in its scan of the new directory
        (the watch may not exist yet when the file arrives), not by an event of its own.
        """
        made: dict[str, float] = {}
        out: set[str] = set()
        for t, op, _, paths in self.log:
            if op == "mkdir":
                made[paths[0]] = t
            elif op in ("create", "rename"):
                dst = paths[-1]
                parent = dst.rsplit("/", 1)[0]
                if parent in made and t - made[parent] < within:
                    out.add(dst)
        return out

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- one operation -------------------------------------------------------------------

    def step(self) -> str:
        op = self.rng.choices(self._ops, self._weights)[0]
        if op != "create" and op != "mkdir" and not self.files and op != "rename_dir":
            op = "create"
        if op == "create" and len(self.files) >= self.max_files:
            op = "delete"
        if op == "mkdir" and len(self.dirs) >= self.max_dirs:
            op = "create"
        host = self.rng.choice(self.hosts)
        root = self.mounts[host]
        self._last_involved = ()
        try:
            getattr(self, "_op_" + op)(root)
        except OSError:
            self.stats.failed[op] += 1
            self._resync(self._last_involved)
            return op
        self.stats.ops[op] += 1
        self.stats.by_host[host] += 1
        self.log.append((time.monotonic(), op, host, self._last_involved))
        return op

    #: the paths the operation in progress touches (re-read after a failure)
    _last_involved: tuple[str, ...] = ()

    def _name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names:05d}-{self.rng.randrange(1 << 16):04x}"

    def _pick(self, pool: Iterable[str]) -> str:
        return self.rng.choice(sorted(pool))

    def _data(self) -> bytes:
        n = self.rng.randrange(self.max_size + 1)
        self.stats.bytes_written += n
        return self.rng.randbytes(n)

    def _op_create(self, root: Path) -> tuple[str, ...]:
        rel = f"{self._pick(self.dirs)}/{self._name('f')}.dat"
        data = self._data()
        self._last_involved = (rel,)
        with open(root / rel, "wb") as f:
            f.write(data)
        self.files.add(rel)
        return self._last_involved

    def _op_append(self, root: Path) -> tuple[str, ...]:
        rel = self._pick(self.files)
        data = self._data()[:1024]
        self._last_involved = (rel,)
        with open(root / rel, "r+b") as f:  # r+: never re-creates a file another host removed
            f.seek(0, os.SEEK_END)
            f.write(data)
        return self._last_involved

    def _op_truncate(self, root: Path) -> tuple[str, ...]:
        rel = self._pick(self.files)
        self._last_involved = (rel,)
        with open(root / rel, "r+b") as f:
            f.truncate(self.rng.randrange(64))
        return self._last_involved

    def _op_rename(self, root: Path) -> tuple[str, ...]:
        src = self._pick(self.files)
        dst = f"{self._pick(self.dirs)}/{self._name('r')}.dat"
        self._last_involved = (src, dst)
        os.rename(root / src, root / dst)
        self.files.discard(src)
        self.files.add(dst)
        return self._last_involved

    def _op_delete(self, root: Path) -> tuple[str, ...]:
        rel = self._pick(self.files)
        self._last_involved = (rel,)
        os.unlink(root / rel)
        self.files.discard(rel)
        return self._last_involved

    def _op_mkdir(self, root: Path) -> tuple[str, ...]:
        parents = [d for d in self.dirs if d.count("/") < self.max_depth]
        rel = f"{self._pick(parents or [self.top])}/{self._name('d')}"
        self._last_involved = (rel,)
        os.mkdir(root / rel)
        self.dirs.add(rel)
        return self._last_involved

    def _op_rename_dir(self, root: Path) -> tuple[str, ...]:
        movable = [d for d in self.dirs if d != self.top]
        if not movable:
            return self._op_mkdir(root)
        src = self._pick(movable)
        targets = [d for d in self.dirs if d != src and not d.startswith(src + "/") and d.count("/") < self.max_depth]
        dst = f"{self._pick(targets or [self.top])}/{self._name('m')}"
        self._last_involved = (src, dst)
        os.rename(root / src, root / dst)
        self._move_prefix(src, dst)
        return self._last_involved

    def _move_prefix(self, src: str, dst: str) -> None:
        def moved(p: str) -> str:
            return dst + p[len(src):] if p == src or p.startswith(src + "/") else p

        self.dirs = {moved(d) for d in self.dirs}
        self.files = {moved(f) for f in self.files}

    # --- after a failure: believe the backing directory -------------------------------------

    def _resync(self, paths: Iterable[str]) -> None:
        base = self.backing or self.mounts[self.hosts[0]]
        for rel in paths:
            p = base / rel
            if p.is_dir() and not p.is_symlink():
                self.dirs.add(rel)
                self.files.discard(rel)
                # Its content is whatever is there now.
                for dirpath, dirnames, filenames in os.walk(p):
                    r = os.path.relpath(dirpath, base)
                    self.dirs.add(r)
                    self.files.update(f"{r}/{n}" for n in filenames)
            elif p.exists():
                self.files.add(rel)
            else:
                self.files.discard(rel)
                if rel in self.dirs:
                    self.dirs = {d for d in self.dirs if d != rel and not d.startswith(rel + "/")}
                    self.files = {f for f in self.files if not f.startswith(rel + "/")}


def append_flood(directory: Path, duration: float, files: int = 64, stop: threading.Event | None = None) -> int:
    """Append one byte at a time to ``files`` open files in turn for ``duration`` s; the number of writes."""
    directory.mkdir(parents=True, exist_ok=True)
    fds = [os.open(directory / f"flood-{i:03d}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
           for i in range(files)]  # fmt: skip
    writes = 0
    deadline = time.monotonic() + duration
    try:
        while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
            for fd in fds:
                os.write(fd, b".")
            writes += len(fds)
    finally:
        for fd in fds:
            os.close(fd)
    return writes
