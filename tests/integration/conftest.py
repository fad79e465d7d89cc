"""Fixtures that start real processes; each cleans up its process group."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from fustor.testing.processes import FusionProcess, make_fusion_home

pytestmark = pytest.mark.integration


@pytest.fixture
def fusion_factory(tmp_path: Path):
    started: list[FusionProcess] = []
    counter = itertools.count()

    def make(**home_kwargs: Any) -> FusionProcess:
        home = make_fusion_home(tmp_path / f"fusion{next(counter)}", **home_kwargs)
        proc = FusionProcess(home).start()
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.kill()


@pytest.fixture
def fusion(fusion_factory) -> FusionProcess:
    return fusion_factory()


def run(coro, timeout: float = 60.0):
    """Run a coroutine to completion with a deadline (no pytest-asyncio here)."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


@pytest.fixture
def cluster_factory(tmp_path: Path):
    """Start a :class:`fustor.testing.cluster.Cluster` (hosts A, B, C; agents on A and B).

    Skips with the reason when FUSE is unavailable, except under ``CI=true``,
    where it fails. Every process and mount is cleaned up, even after a crash.
    """
    from fustor.testing.cluster import Cluster
    from fustor.testing.storage import FuseUnavailable, require_fuse

    require_fuse()
    made: list[Cluster] = []
    counter = itertools.count()

    def make(**kwargs: Any) -> Cluster:
        cluster = Cluster(tmp_path / f"cluster{next(counter)}", **kwargs)
        made.append(cluster)
        try:
            return cluster.start()
        except FuseUnavailable as exc:
            require_fuse(str(exc))
            raise

    yield make
    for cluster in made:
        cluster.close()
