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


class SimulatedAgent:
    """fustor.testing.simagent.SimAgent over an in-memory tree, with a leader's routine on top."""

    T = 1_700_000_000.0

    def __init__(self) -> None:
        self.agent = None
        self.tree: dict = {}
        self._task = None

    def _row(self, path: str, kind: str, ino: int, listed: bool = False) -> dict:
        from fustor.schema import make_row

        return make_row(path, kind, size=3 if kind == "file" else 0, mtime=self.T, ctime=self.T + ino, inode=ino,
                        mode=0o100644 if kind == "file" else 0o40755, uid=0, gid=0, parent_mtime=self.T,
                        parent_ctime=self.T, parent_ino=2 if listed else None,
                        is_atomic_write=True if (kind == "file" and not listed) else None)

    async def start(self, url: str, key: str, pipe_id: str, agent_id: str, timeout_hint: float) -> None:
        from fustor.testing.simagent import SimAgent

        self.tree = {"/data": self._row("/data", "dir", 10, True), "/f1": self._row("/f1", "file", 11, True)}
        self.agent = SimAgent(url, key, pipe_id, agent_id, tree=self.tree, timeout_hint=timeout_hint,
                              backoff_initial=0.2)
        await self.agent.start()
        self._task = asyncio.create_task(self._leader_routine())

    async def _leader_routine(self) -> None:
        snapshotted = None
        while True:
            a = self.agent
            if a.leads() and a.session_id != snapshotted:
                session = a.session_id
                await a.send_snapshot([dict(r, parent_ino=2, is_atomic_write=None) for r in self.tree.values()])
                await a.snapshot_end()
                snapshotted = session
            if a.leads():
                rows = [dict(r, parent_ino=2, is_atomic_write=None) for r in self.tree.values()]
                rows.append(dict(self._row("/", "dir", 2, True), audit_skipped=False))
                await a.run_audit(rows)
            await asyncio.sleep(float(a.intervals.get("audit_interval") or 1.0))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        if self.agent is not None:
            await self.agent.close()

    async def make_change(self, name: str) -> None:
        row = self._row(f"/{name}", "file", 100 + len(self.tree))
        self.tree[row["path"]] = row
        await self.agent.send_realtime([row])

    def has_path(self, path: str) -> bool:
        return path in self.tree


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", [name for name, _ in CHECKS])
def test_simulated_agent_conforms(name, tmp_path):
    async def main():
        return await run_conformance(SimulatedAgent(), tmp_path, only=[name])

    report = asyncio.run(main())
    assert report.failures == [], "\n\n".join(f"{n}:\n{tb}" for n, tb in report.failures)
    assert report.passed == [name]
