"""Real fusion processes for tests and benchmarks.

Each process runs in its own process group (so cleanup kills everything it
started, children included), listens on port 0, and reports the port it got
through its state file, which :meth:`FusionProcess.start` waits for with a
deadline rather than sleeping.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

AGENT_KEY = "test-agent-key-0001"
READONLY_KEY = "test-readonly-key-0001"
ADMIN_KEY = "test-admin-key-0001"


def make_fusion_home(
    home: Path,
    *,
    views: dict[str, dict[str, Any]] | None = None,
    pipes: dict[str, dict[str, Any]] | None = None,
    port: int = 0,
    extra_keys: dict[str, list[str]] | None = None,
    max_frame: int | None = None,
    tls: tuple[Path, Path] | None = None,
) -> Path:
    """Write a fusion home: one receiver ``main`` on loopback, test keys, the given views and pipes.

    Defaults: one view ``v`` with short test intervals, one pipe ``p`` feeding it.
    ``tls``: (certificate, key) files; the receiver then speaks ``wss://``.
    """
    views = views if views is not None else {"v": {}}
    pipes = pipes if pipes is not None else {"p": {"views": list(views)}}
    home.mkdir(parents=True, exist_ok=True)
    (home / "views-config").mkdir(exist_ok=True)
    (home / "fusion-pipes-config").mkdir(exist_ok=True)
    keys = {AGENT_KEY: sorted(pipes)}
    keys.update(extra_keys or {})
    lines = ["# written by fustor.testing.make_fusion_home", "receivers:", "  main:", "    bind: 127.0.0.1",
             f"    port: {port}"]
    if max_frame:
        lines.append(f"    max_frame: {max_frame}")
    if tls:
        lines += ["    tls:", f"      cert: {tls[0]}", f"      key: {tls[1]}"]
    lines.append("    keys:")
    for key, allowed in keys.items():
        lines += [f"      - key: {key}", f"        pipes: [{', '.join(allowed)}]"]
    lines += ["control:", "  keys:", f"    - key: {READONLY_KEY}", "      access: readonly",
              f"    - key: {ADMIN_KEY}", "      access: admin", ""]
    (home / "receivers-config.yaml").write_text("\n".join(lines))
    for name, settings in views.items():
        body = {"hot_file_threshold": 5, "sentinel_interval": 1, "audit_interval": 3, "tombstone_ttl": 60,
                "audit_drain_wait": 2, **settings}
        text = "# test view\ndriver: fs\n" + "".join(f"{k}: {json.dumps(v)}\n" for k, v in body.items())
        (home / "views-config" / f"{name}.yaml").write_text(text)
    for name, settings in pipes.items():
        body = {"receiver": "main", "session_timeout": 3, **settings}
        text = "# test pipe\n" + "".join(f"{k}: {json.dumps(v)}\n" for k, v in body.items())
        (home / "fusion-pipes-config" / f"{name}.yaml").write_text(text)
    return home


def wait_for(predicate, timeout: float, interval: float = 0.02, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; its value, or TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class ServiceProcess:
    """A fustor process (``python -m fustor.X --home HOME``) in its own process group.

    :meth:`start` returns once the process wrote its state file (pid and
    listening addresses) under its home; :meth:`stop` sends SIGTERM to the
    group, then SIGKILL after a bound.
    """

    MODULE = ""
    STATE_FILE = ""

    def __init__(self, home: Path, log_path: Path | None = None, *, prefix: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.home = Path(home)
        self.log_path = log_path or self.home / f"{self.MODULE.rsplit('.', 1)[-1]}.test.log"
        #: a command the process runs under (e.g. ``setpriv`` dropping capabilities)
        self.prefix = list(prefix or [])
        #: environment added to this process's (e.g. ``SSL_CERT_FILE`` naming a private CA)
        self.env = dict(env or {})
        self.proc: subprocess.Popen | None = None

    def args(self) -> list[str]:
        return ["--home", str(self.home)]

    def on_ready(self, state: dict) -> None:
        """Take what the state file says (addresses)."""

    def start(self, timeout: float = 20.0) -> Any:
        state = self.home / self.STATE_FILE
        try:
            state.unlink()
        except FileNotFoundError:
            pass
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", self.MODULE, *self.args()],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
        )
        log.close()
        name = self.MODULE.rsplit(".", 1)[-1]

        def ready() -> dict | None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                data = json.loads(state.read_text())
            except (OSError, ValueError):
                return None
            return data if data.get("pid") == self.proc.pid else None

        self.on_ready(wait_for(ready, timeout, what=f"{name} to start"))
        return self

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole process group."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class FusionProcess(ServiceProcess):
    """``python -m fustor.fusion --home HOME``; :attr:`urls` are its receivers' addresses."""

    MODULE = "fustor.fusion"
    STATE_FILE = "fusion.state.json"

    def __init__(self, home: Path, log_path: Path | None = None, **kwargs: Any) -> None:
        super().__init__(home, log_path, **kwargs)
        self.urls: dict[str, str] = {}

    @property
    def url(self) -> str:
        return self.urls["main"]

    def on_ready(self, state: dict) -> None:
        self.urls = state["receivers"]
