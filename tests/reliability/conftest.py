"""Fixtures of the reliability suite: clusters of real processes, a printed seed, figures.

Every random choice of a test (write load, kill points, cut times, fuzz
messages) comes from one seed, printed at the start of the test and in its
figures; ``FUSTOR_SEED=<seed>`` runs the same choices again. Each test
records what it measured in ``figures``; the figures are printed and, with
``FUSTOR_RELIABILITY_REPORT=<file>``, appended to that file as JSON lines
(``docs/reliability.md`` quotes them).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    env = os.environ.get("FUSTOR_SEED")
    value = int(env) if env else random.SystemRandom().randrange(1 << 32)
    print(f"\nseed {value} (FUSTOR_SEED={value} repeats this run's choices)")
    request.node.user_properties.append(("seed", value))
    return value


@pytest.fixture
def figures(request: pytest.FixtureRequest, seed: int):
    data: dict[str, Any] = {"seed": seed}
    yield data
    line = {"test": request.node.name, **data}
    text = json.dumps(line, default=str, sort_keys=False)
    print(f"\nFIGURES {text}")
    out = os.environ.get("FUSTOR_RELIABILITY_REPORT")
    if out:
        with open(out, "a", encoding="utf-8") as f:
            f.write(text + "\n")


@pytest.fixture
def cluster_factory(tmp_path: Path):
    """Start a :class:`fustor.testing.cluster.Cluster`; FUSE missing: skip (fail under ``CI=true``)."""
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


def run(coro: Any, timeout: float = 120.0) -> Any:
    """Run a coroutine to completion with a deadline."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())
