"""Path keys: how every source names an entry, whatever host it runs on.

A key is relative to the source's root, starts with ``/`` and never contains
``.`` or ``..`` components. Names are bytes on Linux and may not be UTF-8 or
may contain newlines; a key must still be valid text (it travels in JSON) and
must map back to the exact bytes. So each component is escaped reversibly:
``\\`` becomes ``\\\\``, control characters become ``\\n``, ``\\t``, ``\\r`` or
``\\xNN`` (C1 controls ``\\u00NN``), and bytes that are not UTF-8 become ``\\xNN``. Ordinary names are
unchanged, so the common case costs nothing.
"""

from __future__ import annotations

import os
import re

ROOT = "/"

_NEEDS_ESCAPE = re.compile(r"[\\\x00-\x1f\x7f-\x9f\udc80-\udcff]")
_SIMPLE = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_UNESCAPE = re.compile(r"\\(\\|n|t|r|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})")


class PathError(ValueError):
    """A path that cannot be a key: it escapes the root, is empty, or is not text."""

    code = "bad_path"


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group(0)
    simple = _SIMPLE.get(ch)
    if simple is not None:
        return simple
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if code >= 0x80:  # a C1 control character (valid UTF-8, two bytes)
        return f"\\u{code:04x}"
    return f"\\x{code:02x}"


def escape_name(name: str | bytes) -> str:
    """One path component as key text (reversible, see module doc)."""
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if _NEEDS_ESCAPE.search(name) is None:
        return name
    return _NEEDS_ESCAPE.sub(_escape_char, name)


def unescape_name(name: str) -> bytes:
    """The exact bytes of a component named by :func:`escape_name`."""
    out = bytearray()
    pos = 0
    for match in _UNESCAPE.finditer(name):
        out += name[pos : match.start()].encode("utf-8", "surrogateescape")
        token = match.group(1)
        if token == "\\":
            out += b"\\"
        elif token == "n":
            out += b"\n"
        elif token == "t":
            out += b"\t"
        elif token == "r":
            out += b"\r"
        elif token[0] == "u":
            out += chr(int(token[1:], 16)).encode("utf-8", "surrogateescape")
        else:
            out.append(int(token[1:], 16))
        pos = match.end()
    out += name[pos:].encode("utf-8", "surrogateescape")
    return bytes(out)


def normalize_path(path: str | bytes, root: str | bytes | None = None) -> str:
    """The key of ``path``.

    With ``root``, ``path`` is a local path that must lie under it; without,
    ``path`` is taken as already relative to the root. ``..`` components are
    resolved lexically and may not climb above the root.
    """
    if not isinstance(path, (str, bytes)):
        raise PathError(f"a path must be text or bytes, got {type(path).__name__}")
    raw = os.fsencode(path)
    if b"\x00" in raw:
        raise PathError("a path may not contain a NUL byte")
    if root is not None:
        base = os.fsencode(root).rstrip(b"/")
        if raw != base and not raw.startswith(base + b"/"):
            raise PathError(
                f"{display_path(os.fsdecode(raw))} is not under the source root "
                f"{display_path(os.fsdecode(base) or '/')}"
            )
        raw = raw[len(base) :]
    parts: list[str] = []
    for comp in raw.split(b"/"):
        if comp in (b"", b"."):
            continue
        if comp == b"..":
            if not parts:
                raise PathError(f"path {escape_name(raw)!r} escapes the source root")
            parts.pop()
            continue
        parts.append(escape_name(comp))
    return "/" + "/".join(parts)


def is_normalized(path: object) -> bool:
    """Whether ``path`` already is a key (cheap check for rows off the wire)."""
    if not isinstance(path, str) or not path.startswith("/"):
        return False
    if path == ROOT:
        return True
    if path.endswith("/") or "//" in path or "\x00" in path:
        return False
    check_escapes = "\\" in path or _NEEDS_ESCAPE.search(path) is not None
    for comp in path[1:].split("/"):
        if comp in (".", ".."):
            return False
        if check_escapes and not _is_canonical(comp):
            return False
    return True


def _is_canonical(comp: str) -> bool:
    """Whether ``comp`` is exactly what :func:`escape_name` makes of some name.

    Refuses escapes ``escape_name`` never produces (``\\x2f``, ``\\x2e\\x2e``,
    ``\\x41``, a lone backslash, a raw control character): they would name
    ``/``, ``..`` or a second key for one entry.
    """
    raw = unescape_name(comp)
    if raw in (b"", b".", b"..") or b"/" in raw or b"\x00" in raw:
        return False
    return escape_name(raw) == comp


def check_key(path: object) -> str:
    """``path`` if it is a key, else a :class:`PathError` saying why."""
    if is_normalized(path):
        return path  # type: ignore[return-value]
    if not isinstance(path, str):
        raise PathError(f"a path must be a string, got {type(path).__name__}")
    raise PathError(
        f"{display_path(path)!s} is not a normalised path (it must start with '/', "
        "have no empty, '.' or '..' components and no trailing '/')"
    )


def to_local(key: str, root: str | bytes) -> bytes:
    """The local bytes path of ``key`` under ``root``."""
    base = os.fsencode(root).rstrip(b"/")
    if key == ROOT:
        return base or b"/"
    return base + b"/" + b"/".join(unescape_name(c) for c in key[1:].split("/"))


def parent_of(key: str) -> str:
    if key == ROOT:
        return ROOT
    cut = key.rfind("/")
    return key[:cut] if cut > 0 else ROOT


def name_of(key: str) -> str:
    return key[key.rfind("/") + 1 :]


def join(parent: str, name: str) -> str:
    return parent + name if parent == ROOT else parent + "/" + name


def components(key: str) -> list[str]:
    return [] if key == ROOT else key[1:].split("/")


def is_within(key: str, ancestor: str) -> bool:
    """Whether ``key`` is ``ancestor`` or lies below it."""
    if ancestor == ROOT or key == ancestor:
        return True
    return key.startswith(ancestor + "/")


def display_path(key: str) -> str:
    """Text safe to print on one terminal line (keys already are; local paths may not be)."""
    return "/".join(escape_name(c) if c else "" for c in key.split("/"))
