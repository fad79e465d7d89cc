"""Include/exclude patterns, applied alike by every observer (CONSISTENCY.md "Paths")."""

from __future__ import annotations

import fnmatch
import re
from typing import Iterable


class PathFilter:
    """Globs on path keys (``/a/b.txt``) and on names.

    A pattern with a ``/`` matches the whole key; one without matches the
    name. An excluded directory is not descended. With includes, a file must
    match one of them; directories are always descended (an include may
    match deeper).
    """

    def __init__(self, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> None:
        self.include = list(include)
        self.exclude = list(exclude)
        self._inc = [self._compile(p) for p in self.include]
        self._exc = [self._compile(p) for p in self.exclude]

    @staticmethod
    def _compile(pattern: str):
        rx = re.compile(fnmatch.translate(pattern))
        on_path = "/" in pattern
        return rx, on_path

    @staticmethod
    def _hit(rules, key: str) -> bool:
        name = key[key.rfind("/") + 1 :]
        for rx, on_path in rules:
            if rx.match(key if on_path else name):
                return True
        return False

    def allows(self, key: str, is_dir: bool) -> bool:
        if key == "/":
            return True
        if self._exc and self._hit(self._exc, key):
            return False
        if is_dir or not self._inc:
            return True
        return self._hit(self._inc, key)

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)
