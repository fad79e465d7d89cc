"""Shared storage of several hosts, simulated honestly with FUSE.

One backing directory is mounted once per simulated host with ``bindfs``.
inotify on one mount does not see writes made through another, and a
mount's attribute cache lags behind changes made through another for about
a second, as an NFS client's does. A host with no agent is just a mount
nobody watches.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


class FuseUnavailable(RuntimeError):
    pass


def fuse_problem() -> str | None:
    """Why bindfs mounts cannot be made here, or ``None`` when they can."""
    if shutil.which("bindfs") is None:
        return "bindfs is not installed (./dev test installs it when run as root)"
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing (no FUSE in this kernel or container)"
    if shutil.which("fusermount") is None and shutil.which("fusermount3") is None:
        return "fusermount is not installed"
    return None


def require_fuse(problem: str | None = None) -> None:
    """Skip the calling test when FUSE mounts cannot be made, with the reason.

    Outside CI that is a visible skip; with ``CI=true`` a test that needs FUSE
    must run, so the missing FUSE is a failure instead. ``problem``: a reason
    already known (a mount that failed), else :func:`fuse_problem` is asked.
    """
    problem = problem or fuse_problem()
    if problem is not None:
        skip_or_fail(f"needs FUSE: {problem}")


def skip_or_fail(reason: str) -> None:
    """``pytest.skip(reason)``, or a failure when ``CI=true`` (where such tests must run)."""
    import pytest

    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true, and this test cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def _unmount(path: Path) -> None:
    for tool in ("fusermount", "fusermount3"):
        if shutil.which(tool):
            subprocess.run([tool, "-uz", str(path)], capture_output=True)
            return
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


class SharedStorage:
    """``backing`` plus one bindfs mount per host name: ``storage.host("A")`` is A's view."""

    def __init__(self, base: Path, hosts: list[str]) -> None:
        problem = fuse_problem()
        if problem:
            raise FuseUnavailable(problem)
        self.base = Path(base)
        self.backing = self.base / "backing"
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mounts: dict[str, Path] = {}
        try:
            for name in hosts:
                mnt = self.base / f"host-{name}"
                mnt.mkdir(exist_ok=True)
                res = subprocess.run(["bindfs", "--no-allow-other", str(self.backing), str(mnt)],
                                     capture_output=True, text=True)
                if res.returncode != 0:
                    res = subprocess.run(["bindfs", str(self.backing), str(mnt)], capture_output=True, text=True)
                if res.returncode != 0:
                    raise FuseUnavailable(f"bindfs failed: {res.stderr.strip()}")
                self.mounts[name] = mnt
        except BaseException:
            self.close()
            raise

    def host(self, name: str) -> Path:
        return self.mounts[name]

    def close(self) -> None:
        for mnt in self.mounts.values():
            _unmount(mnt)
        self.mounts.clear()

    def __enter__(self) -> "SharedStorage":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def walk_disk(root: Path) -> dict[str, tuple[str, int, float]]:
    """``{key: (kind, size, mtime)}`` of everything under ``root`` (the truth a view must equal)."""
    from fustor.schema import escape_name

    out: dict[str, tuple[str, int, float]] = {}
    base = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(base):
        rel = dirpath[len(base):]
        key_dir = "/" + "/".join(escape_name(c) for c in rel.split(b"/") if c)
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            import stat as _stat

            if _stat.S_ISDIR(st.st_mode):
                kind, size = "dir", 0
            elif _stat.S_ISLNK(st.st_mode):
                kind, size = "symlink", st.st_size
            elif _stat.S_ISREG(st.st_mode):
                kind, size = "file", st.st_size
            else:
                continue
            key = (key_dir.rstrip("/") + "/" + escape_name(name)) if key_dir != "/" else "/" + escape_name(name)
            out[key] = (kind, size, round(st.st_mtime, 3))
    return out
