"""A protocol fuzzer on both planes of fusion and on an agent's control plane, beside honest agents.

``fustor.testing.fuzz`` sends malformed, truncated, oversized and
out-of-order messages (see its docstring for the whole list) and checks
that each gets the error reply ``docs/protocol.md`` promises, or the close
it documents (1008 after a refused hello or too many bad messages, 1009
for a frame over ``max_frame``), reconnecting after every close. Meanwhile
the real agents of hosts A and B keep streaming a write load made through
A, B and C. At the end fusion and the agent are alive and answer, the
honest sessions are the ones they had before (none was ended, none lost a
batch), no config file changed, and the view equals the disk: none of the
fuzzer's rows (all under ``/fuzz-leak-*``) was applied.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from fustor.testing.agentproc import AGENT_CONTROL_KEY
from fustor.testing.fuzz import LEAK_PREFIX, PlaneFuzzer, fuzz_all
from fustor.testing.processes import ADMIN_KEY, AGENT_KEY, READONLY_KEY
from fustor.testing.writeload import RandomWriter
from fustor.transport import wire

from .conftest import run
from .helpers import alive, live_sessions

pytestmark = pytest.mark.integration

MAX_FRAME = 64 * 1024
#: bad messages per endpoint: fusion's data plane, fusion's control plane, agent A's control plane
PLAN = {"fusion pipe": 12_000, "fusion control": 8_000, "agent control": 5_000}


def _config_digest(home: Path) -> dict[str, str]:
    return {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(home.rglob("*.yaml"))}  # fmt: skip


@pytest.mark.timeout(240)
def test_ten_thousand_bad_messages_on_both_planes_fusion_and_agent_stay_up_honest_sessions_lose_nothing(
        cluster_factory, seed, figures):  # fmt: skip
    # Frames up to 64 KiB: the honest agents send batches of 50 rows (~17 KB).
    c = cluster_factory(max_frame=MAX_FRAME, agent_pipe={"batch_size": 50}, view={"sentinel_batch": 100},
                        pipe={"session_timeout": 5})  # fmt: skip
    sessions = live_sessions(c)
    assert sessions
    homes = {"fusion": c.fusion.home, "agent": c.agents["A"].home}
    configs = {k: _config_digest(h) for k, h in homes.items()}
    fusion_pid, agent_pid = c.fusion.proc.pid, c.agents["A"].proc.pid

    writer = RandomWriter({h: c.path(h) for h in ("A", "B", "C")}, seed, top="load", backing=c.backing,
                          max_files=300).start(600)  # fmt: skip
    time.sleep(1.0)  # the honest agents are busy before the first bad message
    fuzzers = [
        (PlaneFuzzer(c.fusion.url, "pipe", AGENT_KEY, seed=seed, max_frame=MAX_FRAME,
                     other_keys=(READONLY_KEY, ADMIN_KEY, AGENT_CONTROL_KEY),
                     foreign_sessions=tuple(sessions.values())), PLAN["fusion pipe"]),
        (PlaneFuzzer(c.fusion.url, "control", READONLY_KEY, seed=seed + 1, admin_key=ADMIN_KEY, max_frame=MAX_FRAME,
                     other_keys=(AGENT_KEY, AGENT_CONTROL_KEY)), PLAN["fusion control"]),
        (PlaneFuzzer(c.agents["A"].control_url, "control", AGENT_CONTROL_KEY, seed=seed + 2, target="agent",
                     max_frame=wire.MAX_FRAME, oversized_every=30, other_keys=(AGENT_KEY, READONLY_KEY, ADMIN_KEY)),
         PLAN["agent control"]),
    ]  # fmt: skip
    t0 = time.monotonic()
    try:
        reports = run(fuzz_all(fuzzers), timeout=200)
    finally:
        writer.stop()
    fuzz_s = time.monotonic() - t0
    stats = writer.join()
    t_stop = time.time()

    total = sum(r.bad for r in reports)
    figures.update(bad_messages=total, fuzz_s=round(fuzz_s, 1), reports=[r.summary() for r in reports])
    for r in reports:
        assert not r.violations, f"{r.target}: {len(r.violations)} violations:\n  " + "\n  ".join(r.violations[:20])
    assert total >= 10_000
    pipe, control, agent = reports
    assert pipe.closes[1009] and control.closes[1009] and agent.closes[1009], "no oversized frame was refused"
    assert all(r.too_many_errors for r in reports), "the bad-message bound was never reached"
    assert pipe.duplicates > 0 and pipe.errors["bad_row"] > 0

    # Both processes are alive and answer.
    assert alive(fusion_pid) and c.fusion.proc.poll() is None
    assert alive(agent_pid) and c.agents["A"].proc.poll() is None
    assert c.status()["server"].startswith("fustor-fusion")
    assert c.agent_status("A")["agent_id"] == c.agent_id("A")
    # The honest sessions ran on untouched: the same sessions, no batch refused.
    assert live_sessions(c) == sessions
    for h in ("A", "B"):
        sender = c.agent_status(h)["pipes"][0]["sender_stats"]
        assert sender["refused"] == 0, (h, sender)
    # No config file was written.
    assert {k: _config_digest(h) for k, h in homes.items()} == configs

    converge_s = c.converge_and_compare(timeout=60)
    assert not [p for p in c.tree() if p.startswith(LEAK_PREFIX)]
    figures.update(writes=stats.to_dict(), converge_s=round(time.time() - t_stop, 2), compare_s=round(converge_s, 2))
