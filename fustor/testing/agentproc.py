"""Real agent processes for tests: a home per agent, its own process group."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .processes import AGENT_KEY, ServiceProcess

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


class AgentProcess(ServiceProcess):
    """``python -m fustor.agent --home HOME``; :attr:`control_url` is its control plane."""

    MODULE = "fustor.agent"
    STATE_FILE = "agent.state.json"

    def __init__(self, home: Path, backoff: float = 0.2, prefix: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        super().__init__(home, prefix=prefix, env=env)
        self.backoff = backoff
        self.control_url: str | None = None

    def args(self) -> list[str]:
        return ["--home", str(self.home), "--backoff", str(self.backoff)]

    def on_ready(self, state: dict) -> None:
        self.control_url = state["control"]
