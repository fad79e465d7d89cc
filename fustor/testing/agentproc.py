"""Real agent processes for tests: a home per agent, its own process group."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from .processes import AGENT_KEY, wait_for

AGENT_CONTROL_KEY = "test-agent-control-0001"


def make_agent_home(home: Path, *, root: Path, fusion_url: str, agent_id: str, pipe_id: str = "p",
                    key: str = AGENT_KEY, timeout_hint: float = 3.0, source: dict[str, Any] | None = None,
                    pipe: dict[str, Any] | None = None) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "agent-pipes-config").mkdir(exist_ok=True)
    (home / "agent.yaml").write_text(
        f"# test agent\nagent_id: {agent_id}\ncontrol:\n  bind: 127.0.0.1\n  port: 0\n  keys:\n"
        f"    - key: {AGENT_CONTROL_KEY}\n      access: admin\n")
    src = {"uri": str(root), "prescan": False, **(source or {})}
    (home / "sources-config.yaml").write_text(
        "sources:\n  share:\n" + "".join(f"    {k}: {json.dumps(v)}\n" for k, v in src.items()))
    (home / "senders-config.yaml").write_text(
        f"senders:\n  fusion:\n    url: {fusion_url}\n    key: {key}\n    timeout_hint: {timeout_hint}\n")
    body = {"source": "share", "sender": "fusion", "pipe_id": pipe_id, "batch_size": 500, **(pipe or {})}
    (home / "agent-pipes-config" / "main.yaml").write_text(
        "".join(f"{k}: {json.dumps(v)}\n" for k, v in body.items()))
    return home


class AgentProcess:
    def __init__(self, home: Path, backoff: float = 0.2, prefix: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.home = Path(home)
        self.backoff = backoff
        #: environment added to this process's (e.g. ``SSL_CERT_FILE`` naming a private CA)
        self.env = dict(env or {})
        #: a command the agent runs under (e.g. ``setpriv`` dropping capabilities)
        self.prefix = list(prefix or [])
        self.log_path = self.home / "agent.test.log"
        self.proc: subprocess.Popen | None = None
        self.control_url: str | None = None

    def start(self, timeout: float = 20.0) -> "AgentProcess":
        state = self.home / "agent.state.json"
        try:
            state.unlink()
        except FileNotFoundError:
            pass
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", "fustor.agent", "--home", str(self.home), "--backoff", str(self.backoff)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env})
        log.close()

        def ready() -> dict | None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                data = json.loads(state.read_text())
            except (OSError, ValueError):
                return None
            return data if data.get("pid") == self.proc.pid else None

        self.control_url = wait_for(ready, timeout, what="agent to start")["control"]
        return self

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def kill(self) -> None:
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
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def __enter__(self) -> "AgentProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
