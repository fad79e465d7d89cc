"""The FS row: one observation of one entry of a shared tree.

Rows are plain dicts (see ``fustor.core.events`` for why). This module names
their fields, builds them, and validates rows that come from outside.

Fields (``None`` where the observer does not know):

=================  ===========================================================
``path``           key of the entry (``fustor.schema.paths``)
``kind``           ``file``, ``dir`` or ``symlink``
``size``           bytes
``mtime``          seconds, float; set freely by tools, never decides order
``ctime``          seconds, float; the entry's version (set by the storage)
``inode``          inode number
``mode``           ``st_mode``
``uid``, ``gid``   owner (tells who uploaded)
``parent_path``    key of the directory the row was observed in
``parent_mtime``   that directory's mtime as the observation saw it
``parent_ctime``   that directory's ctime as the observation saw it; for a
                   realtime delete, the storage time of the delete
``parent_ino``     that directory's inode, **set on listed rows only**
                   (snapshot, audit, on-demand, sentinel, and the scan of a
                   directory the agent just saw appear); realtime event rows
                   leave it ``None``
``audit_skipped``  audit rows of directories: ``True`` for a silent directory
                   (not listed), ``False`` for the row that closes a complete
                   listing of that directory; ``None`` elsewhere
``is_atomic_write`` realtime rows: ``True`` for a complete write
                   (close-after-write, rename-in of a closed file), ``False``
                   for a partial one (create not yet closed, modify,
                   attribute change, a row of the new-directory scan)
=================  ===========================================================
"""

from __future__ import annotations

import math
import stat as _stat
from typing import Annotated, Any, Literal

import msgspec

from .paths import PathError, check_key, join, parent_of

SCHEMA_NAME = "fs"
#: ``major.minor``: a view refuses another major (C15); minors only add fields.
SCHEMA_VERSION = "1.0"

FILE = "file"
DIR = "dir"
SYMLINK = "symlink"
KINDS = (FILE, DIR, SYMLINK)

ROW_FIELDS = (
    "path", "kind", "size", "mtime", "ctime", "inode", "mode", "uid", "gid",
    "parent_path", "parent_mtime", "parent_ctime", "parent_ino",
    "audit_skipped", "is_atomic_write",
)  # fmt: skip

_NUMBER_FIELDS = ("size", "mtime", "ctime", "inode", "mode", "uid", "gid",
                  "parent_mtime", "parent_ctime", "parent_ino")  # fmt: skip
_INT_FIELDS = frozenset(("size", "inode", "mode", "uid", "gid", "parent_ino"))


class RowError(ValueError):
    """A row that does not have the shape of an FS row."""

    code = "bad_row"


def major_of(version: str) -> str:
    return version.split(".", 1)[0]


def is_compatible(schema: str, version: str) -> bool:
    """Whether a view of this schema accepts events of ``schema``/``version`` (C15)."""
    return schema == SCHEMA_NAME and isinstance(version, str) and major_of(version) == major_of(SCHEMA_VERSION)


def kind_of_mode(mode: int) -> str | None:
    """``file``, ``dir`` or ``symlink``; ``None`` for kinds Fustor skips."""
    if _stat.S_ISREG(mode):
        return FILE
    if _stat.S_ISDIR(mode):
        return DIR
    if _stat.S_ISLNK(mode):
        return SYMLINK
    return None


def make_row(
    path: str,
    kind: str | None = FILE,
    *,
    size: int | None = 0,
    mtime: float | None = None,
    ctime: float | None = None,
    inode: int | None = None,
    mode: int | None = None,
    uid: int | None = None,
    gid: int | None = None,
    parent_mtime: float | None = None,
    parent_ctime: float | None = None,
    parent_ino: int | None = None,
    audit_skipped: bool | None = None,
    is_atomic_write: bool | None = None,
) -> dict[str, Any]:
    """A row with every field present (``parent_path`` derived from ``path``)."""
    return {
        "path": path,
        "kind": kind,
        "size": size,
        "mtime": mtime,
        "ctime": ctime,
        "inode": inode,
        "mode": mode,
        "uid": uid,
        "gid": gid,
        "parent_path": parent_of(path),
        "parent_mtime": parent_mtime,
        "parent_ctime": parent_ctime,
        "parent_ino": parent_ino,
        "audit_skipped": audit_skipped,
        "is_atomic_write": is_atomic_write,
    }


def row_from_stat(key: str, st: Any, parent_st: Any = None, *, listed: bool = False, **extra: Any) -> dict[str, Any] | None:
    """A row from ``os.stat_result`` values; ``None`` for skipped kinds (sockets, devices)."""
    kind = kind_of_mode(st.st_mode)
    if kind is None:
        return None
    row = make_row(
        key,
        kind,
        size=st.st_size if kind != DIR else 0,
        mtime=st.st_mtime,
        ctime=st.st_ctime,
        inode=st.st_ino,
        mode=st.st_mode,
        uid=st.st_uid,
        gid=st.st_gid,
    )
    if parent_st is not None:
        row["parent_mtime"] = parent_st.st_mtime
        row["parent_ctime"] = parent_st.st_ctime
        if listed:
            row["parent_ino"] = parent_st.st_ino
    row.update(extra)
    return row


def validate_row(row: Any, *, deleting: bool = False) -> dict[str, Any]:
    """``row`` with missing optional fields filled in, or a :class:`RowError`.

    Checks shape only (types, kinds, finite numbers, a normalised path); the
    view engine decides what a row means. Unknown keys are refused so that a
    typo in a producer is caught at once instead of being ignored forever.
    """
    if not isinstance(row, dict):
        raise RowError(f"a row must be an object, got {type(row).__name__}")
    unknown = [k for k in row if k not in _KNOWN]
    if unknown:
        raise RowError(f"unknown row field(s): {', '.join(sorted(map(str, unknown)))}")
    try:
        path = check_key(row.get("path"))
    except PathError as exc:
        raise RowError(str(exc)) from None
    kind = row.get("kind")
    if kind is None and not deleting:
        raise RowError(f"row {path}: kind is required")
    if kind is not None and kind not in KINDS:
        raise RowError(f"row {path}: kind must be one of file, dir, symlink; got {kind!r}")
    for name in _NUMBER_FIELDS:
        value = row.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RowError(f"row {path}: {name} must be a number, got {type(value).__name__}")
        if name in _INT_FIELDS and not isinstance(value, int):
            raise RowError(f"row {path}: {name} must be an integer")
        if isinstance(value, float) and not math.isfinite(value):
            raise RowError(f"row {path}: {name} must be finite")
        if name in ("size", "inode", "parent_ino") and value < 0:
            raise RowError(f"row {path}: {name} may not be negative")
    if not deleting and row.get("ctime") is None:
        raise RowError(f"row {path}: ctime is required (it is the entry's version)")
    if not deleting and row.get("mtime") is None:
        raise RowError(f"row {path}: mtime is required (every stat has one; the view orders files by it)")
    for name in ("audit_skipped", "is_atomic_write"):
        value = row.get(name)
        if value is not None and not isinstance(value, bool):
            raise RowError(f"row {path}: {name} must be true, false or null")
    parent_path = row.get("parent_path")
    expected_parent = parent_of(path)
    if parent_path is not None and parent_path != expected_parent:
        raise RowError(f"row {path}: parent_path {parent_path!r} is not the parent of the path")
    if path == "/" and kind not in (None, DIR):
        raise RowError("the root can only be a directory")
    if len(row) != len(ROW_FIELDS):
        for name in ROW_FIELDS:
            row.setdefault(name, None)
        row["parent_path"] = expected_parent
    elif parent_path is None:
        row["parent_path"] = expected_parent
    return row


_KNOWN = frozenset(ROW_FIELDS)
_KIND_SET = frozenset(KINDS)
_FLOAT_FIELDS = ("mtime", "ctime", "parent_mtime", "parent_ctime")
_INT_ONLY = ("size", "inode", "mode", "uid", "gid", "parent_ino")


def _plain_key(path: str) -> bool:
    """Whether ``path`` is certainly a normalised key (cheap; :func:`check_key` decides the rest)."""
    return path == "/" or not (
        path[:1] != "/" or path[-1:] == "/" or "//" in path or "\\" in path or not path.isprintable()
        or ("/." in path and ("/./" in path or "/../" in path or path.endswith(("/.", "/.."))))
    )


class CheckedRows(list):
    """Rows :func:`rows_from_wire` already checked: :func:`validate_rows` passes them through."""

    __slots__ = ("deleting",)


def validate_rows(rows: Any, *, deleting: bool = False) -> list[dict[str, Any]]:
    """Validate a batch of rows (the receiver's hot path); :func:`validate_row` semantics.

    Rows that carry exactly the known fields with plain values take a fast
    path; anything unusual falls back to :func:`validate_row`, which says
    precisely what is wrong.
    """
    if type(rows) is CheckedRows and (deleting or not rows.deleting):
        return rows  # checked as strictly as this call asks (a delete batch asks less)
    if not isinstance(rows, list):
        raise RowError("rows must be a list")
    nfields = len(ROW_FIELDS)
    kinds = _KIND_SET
    _int, _float, _none, _true, _false = int, float, None, True, False
    for row in rows:
        # Unrolled on purpose: this runs for every row fusion receives.
        # Fifteen entries that all are known fields means exactly the known fields.
        if type(row) is not dict or len(row) != nfields:
            validate_row(row, deleting=deleting)
            continue
        try:
            path = row["path"]
            kind = row["kind"]
            size = row["size"]
            inode = row["inode"]
            pino = row["parent_ino"]
            mode, uid, gid = row["mode"], row["uid"], row["gid"]
            mtime, ctime = row["mtime"], row["ctime"]
            pm, pc = row["parent_mtime"], row["parent_ctime"]
            a, w = row["audit_skipped"], row["is_atomic_write"]
            parent_path = row["parent_path"]
        except KeyError:
            validate_row(row, deleting=deleting)
            continue
        if (
            type(path) is not str
            or not _plain_key(path)
            or (kind not in kinds and not (deleting and kind is _none))
            or (size is not _none and (type(size) is not _int or size < 0))
            or (inode is not _none and (type(inode) is not _int or inode < 0))
            or (pino is not _none and (type(pino) is not _int or pino < 0))
            or (mode is not _none and type(mode) is not _int)
            or (uid is not _none and type(uid) is not _int)
            or (gid is not _none and type(gid) is not _int)
            or (mtime is _none and not deleting)
            or (mtime is not _none and ((type(mtime) is not _float and type(mtime) is not _int) or mtime - mtime != 0))
            or (ctime is _none and not deleting)
            or (ctime is not _none and ((type(ctime) is not _float and type(ctime) is not _int) or ctime - ctime != 0))
            or (pm is not _none and ((type(pm) is not _float and type(pm) is not _int) or pm - pm != 0))
            or (pc is not _none and ((type(pc) is not _float and type(pc) is not _int) or pc - pc != 0))
            or (a is not _none and a is not _true and a is not _false)
            or (w is not _none and w is not _true and w is not _false)
        ):
            validate_row(row, deleting=deleting)
            continue
        cut = path.rfind("/")
        if parent_path != (path[:cut] if cut > 0 else "/") or (path == "/" and kind not in (None, DIR)):
            validate_row(row, deleting=deleting)
    return rows

# --- listings grouped by directory ----------------------------------------------------------
#
# A listing's rows share their parent: its key, its mtime, ctime and inode.
# On the wire (protocol 1.1) listing events may carry them grouped by
# directory instead of as rows: one group per directory listed, each entry a
# 10-element array. About 85 bytes an entry instead of about 400 for a row,
# so an agent encodes and masks, and fusion unmasks and decodes, a fifth of
# the bytes. Fusion expands groups into rows at its edge; the view engine
# sees rows either way.

#: The fields of a group entry, in order.
GROUP_ENTRY_FIELDS = ("name", "kind", "size", "mtime", "ctime", "inode", "mode", "uid", "gid", "audit_skipped")


def make_group(dir_key: str, dir_stat: Any, entries: list) -> dict[str, Any]:
    """A group: the directory's key and the version its listing showed, and the entries."""
    return {"dir": dir_key, "mtime": dir_stat.st_mtime, "ctime": dir_stat.st_ctime, "ino": dir_stat.st_ino,
            "entries": entries}


def rows_from_groups(groups: Any) -> list[dict[str, Any]]:
    """The listed rows of ``groups``, in order, or a :class:`RowError` naming the malformed part.

    Checks the groups' shape (a directory key, entries of ten values, names
    of one component); :func:`validate_rows` then checks the rows as usual.
    """
    if not isinstance(groups, list):
        raise RowError("groups must be a list")
    out: list[dict[str, Any]] = []
    append = out.append
    for gi, group in enumerate(groups):
        if not isinstance(group, dict):
            raise RowError(f"group {gi}: must be an object, got {type(group).__name__}")
        unknown = [k for k in group if k not in _GROUP_KEYS]
        if unknown:
            raise RowError(f"group {gi}: unknown field(s): {', '.join(sorted(map(str, unknown)))}")
        try:
            dir_key = check_key(group.get("dir"))
        except PathError as exc:
            raise RowError(f"group {gi}: dir: {exc}") from None
        entries = group.get("entries")
        if not isinstance(entries, list):
            raise RowError(f"group {gi} ({dir_key}): entries must be a list")
        for ei, e in enumerate(entries):
            if not isinstance(e, list) or len(e) != 10:
                raise RowError(f"group {gi} ({dir_key}): entry {ei} must be an array of 10 values "
                               f"({', '.join(GROUP_ENTRY_FIELDS)})")
            name = e[0]
            if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
                raise RowError(f"group {gi} ({dir_key}): entry {ei}: the name must be one path component, "
                               f"got {name!r}")
        _expand_group(append, dir_key, group.get("mtime"), group.get("ctime"), group.get("ino"), entries)
    return out


def _expand_group(append: Any, dir_key: str, pm: Any, pc: Any, pino: Any, entries: Any) -> None:
    """Append the row each entry of a checked group stands for (the one place that says what an entry means)."""
    prefix = "/" if dir_key == "/" else dir_key + "/"
    for name, kind, size, mtime, ctime, inode, mode, uid, gid, skipped in entries:
        append({
            "path": prefix + name, "kind": kind, "size": size, "mtime": mtime, "ctime": ctime, "inode": inode,
            "mode": mode, "uid": uid, "gid": gid, "parent_path": dir_key, "parent_mtime": pm,
            "parent_ctime": pc, "parent_ino": pino, "audit_skipped": skipped, "is_atomic_write": None,
        })  # fmt: skip


_GROUP_KEYS = frozenset(("dir", "mtime", "ctime", "ino", "entries"))
_NOT_NAMES = frozenset(("", ".", ".."))


# --- rows decoded from the wire by type (msgspec) -------------------------------------------

# Integers within 64 bits: orjson (the general path) reads a bigger one as a float, or refuses it.
_Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
WIRE_INT = _Int
_Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
#: Seconds; the bounds also keep out inf and NaN (a finite value beyond them
#: takes the general path, which accepts it).
_Seconds = Annotated[float, msgspec.Meta(ge=-1e15, le=1e15)]


class WireRow(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """An FS row as the agents send it: every field present, each of its type.

    A decoder given this type checks types, kinds, signs and finiteness in C
    while it parses; :func:`rows_from_wire` adds the path checks. A row that
    does not fit (a missing or unknown field, a wrong type) fails the decode,
    and the receiver falls back to :func:`validate_rows`, which says what is
    wrong in its own words.
    """

    path: str
    kind: Literal["file", "dir", "symlink"] | None
    size: _Count | None
    mtime: _Seconds | None
    ctime: _Seconds | None
    inode: _Count | None
    mode: _Int | None
    uid: _Int | None
    gid: _Int | None
    parent_path: str | None
    parent_mtime: _Seconds | None
    parent_ctime: _Seconds | None
    parent_ino: _Count | None
    audit_skipped: bool | None
    is_atomic_write: bool | None


_Kind = Literal["file", "dir", "symlink"]
#: name, kind, size, mtime, ctime, inode, mode, uid, gid, audit_skipped (GROUP_ENTRY_FIELDS)
_WireEntry = tuple[str, _Kind, _Count | None, _Seconds, _Seconds, _Count | None, _Int | None, _Int | None, _Int | None,
                   bool | None]


class WireGroup(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A listing group as the agents send it (see :func:`rows_from_groups`), typed for decoding."""

    dir: str
    mtime: _Seconds | None
    ctime: _Seconds | None
    ino: _Count | None
    entries: list[_WireEntry]


def rows_from_wire_groups(groups: list[WireGroup]) -> CheckedRows | None:
    """Decoded groups as checked row dicts, or ``None`` if any needs :func:`rows_from_groups` to judge it."""
    out = CheckedRows()
    out.deleting = False
    append = out.append
    for g in groups:
        if not _plain_key(g.dir):
            return None
        for e in g.entries:
            name = e[0]
            # One plain component under a plain key makes a plain key.
            if "/" in name or "\\" in name or name in _NOT_NAMES or not name.isprintable():
                return None
        _expand_group(append, g.dir, g.mtime, g.ctime, g.ino, g.entries)
    return out


def rows_from_wire(rows: list[WireRow], *, deleting: bool) -> CheckedRows | None:
    """Decoded rows as checked row dicts, or ``None`` if any needs :func:`validate_rows` to judge it."""
    asdict = msgspec.structs.asdict
    out = CheckedRows()
    out.deleting = deleting
    append = out.append
    for r in rows:
        path = r.path
        if not _plain_key(path) or path == "/":
            return None
        if not deleting and (r.kind is None or r.ctime is None or r.mtime is None):
            return None
        cut = path.rfind("/")
        parent = path[:cut] if cut > 0 else "/"
        pp = r.parent_path
        if pp is None:
            r.parent_path = parent
        elif pp != parent:
            return None
        append(asdict(r))
    return out


__all__ = [
    "DIR", "FILE", "KINDS", "ROW_FIELDS", "SCHEMA_NAME", "SCHEMA_VERSION", "SYMLINK",
    "GROUP_ENTRY_FIELDS", "WIRE_INT", "CheckedRows", "RowError", "WireGroup", "WireRow", "is_compatible", "join", "kind_of_mode",
    "major_of", "make_group", "make_row", "row_from_stat", "rows_from_groups", "rows_from_wire",
    "rows_from_wire_groups", "validate_row", "validate_rows",
]  # fmt: skip
