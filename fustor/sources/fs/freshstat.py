"""``lstat`` that asks the storage, not this host's attribute cache.

An NFS client (or a FUSE mount) answers ``stat`` from its attribute cache
for a while after it last asked the server, so a stat right after another
one can repeat it even though another host changed the file since. The
sentinel (C10) must bring *fresh* evidence about a suspect: an answer that
merely repeats the audit row that marked it would clear a file another host
is still writing. Linux's ``statx`` with ``AT_STATX_FORCE_SYNC`` makes the
client revalidate with the server (NFS, FUSE); elsewhere this falls back to
``os.lstat``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from typing import Any

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_STATX_FORCE_SYNC = 0x2000
STATX_BASIC_STATS = 0x7FF


class _Timestamp(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_uint32), ("_reserved", ctypes.c_int32)]


class _Statx(ctypes.Structure):
    _fields_ = [
        ("stx_mask", ctypes.c_uint32), ("stx_blksize", ctypes.c_uint32), ("stx_attributes", ctypes.c_uint64),
        ("stx_nlink", ctypes.c_uint32), ("stx_uid", ctypes.c_uint32), ("stx_gid", ctypes.c_uint32),
        ("stx_mode", ctypes.c_uint16), ("_spare0", ctypes.c_uint16), ("stx_ino", ctypes.c_uint64),
        ("stx_size", ctypes.c_uint64), ("stx_blocks", ctypes.c_uint64), ("stx_attributes_mask", ctypes.c_uint64),
        ("stx_atime", _Timestamp), ("stx_btime", _Timestamp), ("stx_ctime", _Timestamp), ("stx_mtime", _Timestamp),
        ("stx_rdev_major", ctypes.c_uint32), ("stx_rdev_minor", ctypes.c_uint32),
        ("stx_dev_major", ctypes.c_uint32), ("stx_dev_minor", ctypes.c_uint32), ("_spare2", ctypes.c_uint64 * 14),
    ]  # fmt: skip


def _load_statx() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).statx
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_Statx)]
    fn.restype = ctypes.c_int
    return fn


_statx = _load_statx()


def _seconds(ts: _Timestamp) -> float:
    # The same arithmetic as CPython's os.stat, so the floats compare equal to its st_mtime / st_ctime.
    return ts.tv_sec + ts.tv_nsec * 1e-9


def fresh_lstat(path: bytes | str) -> os.stat_result:
    """``os.lstat(path)`` revalidated with the storage (see the module docstring).

    Raises ``OSError`` (``FileNotFoundError`` ...) as ``os.lstat`` does.
    """
    global _statx
    if _statx is None:
        return os.lstat(path)
    buf = _Statx()
    if _statx(AT_FDCWD, os.fsencode(path), AT_SYMLINK_NOFOLLOW | AT_STATX_FORCE_SYNC, STATX_BASIC_STATS,
              ctypes.byref(buf)) != 0:  # fmt: skip
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EPERM):  # no statx here (old kernel, seccomp): stay correct, if cached
            _statx = None
            return os.lstat(path)
        raise OSError(err, os.strerror(err), os.fsdecode(path))
    times = [buf.stx_atime, buf.stx_mtime, buf.stx_ctime]
    secs = [t.tv_sec for t in times]
    floats = [_seconds(t) for t in times]
    nanos = [t.tv_sec * 1_000_000_000 + t.tv_nsec for t in times]
    dev = os.makedev(buf.stx_dev_major, buf.stx_dev_minor)
    return os.stat_result((buf.stx_mode, buf.stx_ino, dev, buf.stx_nlink, buf.stx_uid, buf.stx_gid, buf.stx_size,
                           *secs, *floats, *nanos))  # fmt: skip
