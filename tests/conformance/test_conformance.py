"""The data-plane conformance suite, run against each agent implementation."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest

from fustor.agent import AgentService, load_agent_config
from fustor.testing.agentproc import make_agent_home
from fustor.testing.conformance import CHECKS, run_conformance

pytestmark = pytest.mark.integration


class RealAgent:
    """fustor.agent's AgentService, in this process, watching a real directory."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.service: AgentService | None = None
        self.root: Path | None = None
        self._n = 0

    async def start(self, url: str, key: str, pipe_id: str, agent_id: str, timeout_hint: float) -> None:
        self._n += 1
        run = self.base / f"run{self._n}"
        self.root = run / "share"
        (self.root / "data").mkdir(parents=True)
        (self.root / "data" / "f1").write_text("one")
        home = make_agent_home(run / "home", root=self.root, fusion_url=url, agent_id=agent_id, pipe_id=pipe_id,
                               key=key, timeout_hint=timeout_hint)
        self.service = AgentService(load_agent_config(home), backoff_initial=0.2)
        await self.service.start()

    async def stop(self) -> None:
        if self.service is not None:
            await self.service.stop()
            self.service = None

    async def make_change(self, name: str) -> None:
        (self.root / name).write_text(name)

    def has_path(self, path: str) -> bool:
        return (self.root / path.lstrip("/")).exists()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", [name for name, _ in CHECKS])
def test_real_agent_conforms(name, tmp_path):
    async def main():
        return await run_conformance(RealAgent(tmp_path), tmp_path, only=[name])

    report = asyncio.run(main())
    assert report.failures == [], "\n\n".join(f"{n}:\n{tb}" for n, tb in report.failures)
    assert report.passed == [name]
