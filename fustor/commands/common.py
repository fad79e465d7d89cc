"""What the commands share: exit codes, homes and their keys, pids, output helpers."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NoReturn
from urllib.parse import urlsplit, urlunsplit

import typer

# --- exit codes (docs/cli.md) ------------------------------------------------------

EXIT_OK = 0
#: something failed that is none of the below (a daemon that died, a refused reload, a server error)
EXIT_FAILED = 1
#: a usage error, or no connection: unreachable, key refused, bad argument
EXIT_USAGE = 2
EXIT_WRITING = 3
EXIT_UNVOUCHED = 4
EXIT_ABSENT = 5
#: the view is not ready (its first snapshot has not ended)
EXIT_NOT_READY = 6
#: no such view, path or job
EXIT_NOT_FOUND = 7

VERDICT_EXIT = {"complete": EXIT_OK, "writing": EXIT_WRITING, "unvouched": EXIT_UNVOUCHED, "absent": EXIT_ABSENT}


class CommandError(Exception):
    """Ends a command with ``exit_code`` after printing ``message`` to stderr."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED, *, code: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.code = code
        self.details = details or {}


def fail(message: str, exit_code: int = EXIT_FAILED) -> NoReturn:
    raise CommandError(message, exit_code)


def err(message: str) -> None:
    typer.echo(message, err=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def report(prog: str, exc: CommandError, *, json_errors: bool = False) -> NoReturn:
    """Print ``exc`` (to stderr; with ``json_errors`` also as JSON on stdout) and exit with its code."""
    if json_errors:
        error: dict[str, Any] = {"code": exc.code or "cli_error", "message": exc.message}
        if exc.details:
            error["details"] = exc.details
        print_json({"error": error, "exit_code": exc.exit_code})
    suffix = f" [{exc.code}]" if exc.code and exc.code not in exc.message else ""
    err(f"{prog}: {exc.message}{suffix}")
    raise typer.Exit(exc.exit_code)


def guarded(prog: str, fn: Callable[[], int | None], *, json_errors: bool = False) -> NoReturn:
    """Run ``fn`` and exit with its code; a :class:`CommandError` is reported (see :func:`report`)."""
    try:
        code = fn() or EXIT_OK
    except CommandError as exc:
        report(prog, exc, json_errors=json_errors)
    raise typer.Exit(code)


# --- homes, state files, keys ------------------------------------------------------


def fusion_home(home: Path | None) -> Path:
    from fustor.fusion.config import default_home

    return Path(home or default_home()).expanduser().absolute()


def agent_home(home: Path | None) -> Path:
    from fustor.agent.config import default_home

    return Path(home or default_home()).expanduser().absolute()


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _yaml_file(path: Path) -> Any:
    from fustor.core.config import parse_yaml

    try:
        return parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except Exception:  # unreadable or invalid: no keys from it
        return None


def control_keys(path: Path) -> list[tuple[str, str]]:
    """``(key, access)`` of the ``control.keys`` of a YAML file (fusion's
    ``receivers-config.yaml``, the agent's ``agent.yaml``), in file order.
    Read leniently: a file being edited still yields the keys it has."""
    data = _yaml_file(path)
    control = data.get("control") if isinstance(data, dict) else None
    keys = control.get("keys") if isinstance(control, dict) else None
    out = []
    for k in keys if isinstance(keys, list) else ():
        if isinstance(k, dict) and isinstance(k.get("key"), str) and k.get("access") in ("readonly", "admin"):
            out.append((k["key"], k["access"]))
    return out


def pick_key(keys: Iterable[tuple[str, str]], need: str = "readonly") -> str | None:
    """A key good enough for ``need``: for ``readonly``, the first read-only
    key (else the first admin key); for ``admin``, the first admin key."""
    keys = list(keys)
    if need == "readonly":
        for key, access in keys:
            if access == "readonly":
                return key
    for key, access in keys:
        if access == "admin":
            return key
    return None


def local_url(url: str) -> str:
    """A URL a local client can connect to: a wildcard bind becomes loopback."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host in ("0.0.0.0", "", "::"):
        loop = "127.0.0.1" if host != "::" else "[::1]"
        netloc = f"{loop}:{parts.port}" if parts.port else loop
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


# --- processes ---------------------------------------------------------------------


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
        pid = int(text.split()[0]) if text else 0
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid > 0 else None


def pid_alive(pid: int | None) -> bool:
    """Whether ``pid`` is a live process (not a zombie) that looks like ours.

    On Linux the command line must mention ``fustor``: a pid file left by a
    crash must not make us signal whatever process reused the number.
    """
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, someone else's
    proc = Path("/proc") / str(pid)
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_text()
            if stat[stat.rindex(")") + 2:].startswith(("Z", "X")):
                return False
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, ValueError):
            return False
        if cmdline and b"fustor" not in cmdline:
            return False
    return True


def wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def write_pid(path: Path, pid: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{pid}\n")
    os.replace(tmp, path)


def remove_if_pid(path: Path, pid: int | None, *, json_pid: bool = False) -> bool:
    """Remove ``path`` when it names ``pid`` (or anything, when ``pid`` is None)."""
    if not path.exists():
        return False
    if pid is not None:
        owner = (read_json(path) or {}).get("pid") if json_pid else read_pid(path)
        if owner not in (None, pid):
            return False
    try:
        path.unlink()
        return True
    except OSError:
        return False


def log_tail(path: Path, *, offset: int = 0, lines: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@dataclass
class Tee:
    """A text stream that writes to two (the terminal and the log file)."""

    first: Any
    second: Any

    def write(self, text: str) -> int:
        self.first.write(text)
        try:
            self.second.write(text)
        except (OSError, ValueError):
            pass
        return len(text)

    def flush(self) -> None:
        self.first.flush()
        try:
            self.second.flush()
        except (OSError, ValueError):
            pass

    def isatty(self) -> bool:
        return self.first.isatty()

    def fileno(self) -> int:
        return self.first.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.first, "encoding", "utf-8")


# --- human output ------------------------------------------------------------------


def human_size(n: Any) -> str:
    if n is None or not isinstance(n, (int, float)):
        return "-"
    n = float(n)
    if abs(n) < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        n /= 1024.0
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}"
    return f"{n:.1f} PiB"  # pragma: no cover


def human_duration(seconds: Any) -> str:
    if seconds is None or not isinstance(seconds, (int, float)):
        return "-"
    s = abs(float(seconds))
    if s < 60:
        return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s".replace(".0 s", " s")
    if s < 3600:
        return f"{s / 60:.0f} m"
    if s < 86400:
        return f"{s / 3600:.0f} h"
    return f"{s / 86400:.0f} d"


def human_age(ts: Any, now: float | None = None) -> str:
    """``3 m ago`` for a wall-clock timestamp (``-`` when there is none)."""
    if not ts or not isinstance(ts, (int, float)):
        return "-"
    now = time.time() if now is None else now
    delta = now - float(ts)
    if -1.0 < delta < 1.0:
        return "now"
    if delta < 0:
        return f"in {human_duration(-delta)}"
    if delta >= 30 * 86400:
        return time.strftime("%Y-%m-%d", time.localtime(ts))
    return f"{human_duration(delta).replace('.0 s', ' s')} ago"


def iso_time(ts: Any) -> str:
    if not ts or not isinstance(ts, (int, float)):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def console(stderr: bool = False):
    """A rich console; not on a terminal (a pipe, a file) it is wide, so that tables are not cut at 80 columns."""
    from rich.console import Console

    out = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out = Console(stderr=stderr, highlight=False, soft_wrap=False, width=200)
    return out
