"""Loading YAML config files into pydantic models with errors that name the file and key."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from .errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _yaml() -> YAML:
    y = YAML(typ="safe", pure=True)
    return y


def parse_yaml(text: str, source: str) -> Any:
    try:
        return _yaml().load(io.StringIO(text))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}{where}: not valid YAML: {problem}", file=source) from None


def describe_errors(exc: PydanticValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"{source}: {key}: {err['msg']}")
    return "\n".join(lines)


def validate_model(model: type[M], data: Any, source: str) -> M:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}", file=source)
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        errors = [
            {"key": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        raise ConfigError(describe_errors(exc, source), file=source, errors=errors) from None


def load_model(model: type[M], path: Path) -> M:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}", file=str(path)) from None
    return validate_model(model, parse_yaml(text, str(path)), str(path))


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (a reader sees the old or the new file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def resolve_in_home(home: Path, name: str) -> Path:
    """``home / name`` if it stays inside ``home`` and names a YAML file, else ConfigError."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ConfigError("a config file name must be a non-empty string")
    candidate = Path(name)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise ConfigError(f"{name!r} is outside the config home")
    if candidate.suffix not in (".yaml", ".yml"):
        raise ConfigError(f"{name!r} is not a YAML config file (.yaml)")
    full = (home / candidate).resolve()
    root = home.resolve()
    if root not in full.parents:
        raise ConfigError(f"{name!r} is outside the config home")
    return full
