"""Processes killed with SIGKILL during a write load: agents, fusion, the leader mid-audit.

A seeded random writer (creates, appends, truncates, renames, deletes, mkdir,
directory renames) works through hosts A and B (agents) and C (no agent) of
one bindfs share while the test kills processes at points drawn from the
same seed. Each test ends as CONSISTENCY.md's "Convergence" says: writes
stopped, an audit that started after the mounts' caches caught up has
completed, the sentinel has answered; then the view must equal a walk of
the backing directory (presence, kind, size, mtime), with no file suspect.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from fustor.testing.cluster import STALE_S
from fustor.testing.writeload import RandomWriter

from .helpers import sleep_until, wait_agents_up

pytestmark = pytest.mark.integration

#: seconds of write load
LOAD_S = 9.0


def _writer(c, seed: int, hosts=("A", "B", "C"), top: str = "load") -> RandomWriter:
    return RandomWriter({h: c.path(h) for h in hosts}, seed, top=top, backing=c.backing)


@pytest.mark.timeout(150)
def test_agents_killed_at_random_points_of_a_write_load_restart_and_the_view_converges(cluster_factory, seed, figures):
    rng = random.Random(seed)
    c = cluster_factory()
    # Kill points: (seconds into the load, host, seconds it stays dead).
    plan = sorted((round(rng.uniform(0.3, LOAD_S - 1.5), 2), rng.choice("AB"), round(rng.uniform(0.0, 1.5), 2))
                  for _ in range(6))  # fmt: skip
    figures["plan"] = plan
    writer = _writer(c, seed).start(LOAD_S)
    t0 = time.monotonic()
    kills = []
    for at, host, down in plan:
        sleep_until(t0 + at)
        was = c.session_roles().get(host)
        c.kill_agent(host)
        killed_at = time.monotonic() - t0
        time.sleep(down)
        c.start_agent(host)
        kills.append({"at_s": round(killed_at, 2), "host": host, "role": was, "down_s": down})
    stats = writer.join()
    t_stop = time.time()
    wait_agents_up(c)
    converge_s = c.converge_and_compare(timeout=60)
    figures.update(kills=kills, writes=stats.to_dict(), converge_s=round(time.time() - t_stop, 2),
                   compare_s=round(converge_s, 2), entries=len(c.tree()))
    assert stats.total > 200, stats.to_dict()


@pytest.mark.timeout(150)
def test_fusion_killed_during_a_write_load_restarts_the_agents_reconnect_and_the_view_is_rebuilt(
        cluster_factory, seed, figures):  # fmt: skip
    rng = random.Random(seed)
    c = cluster_factory()
    plan = sorted((round(rng.uniform(0.5, LOAD_S - 2.5), 2), round(rng.uniform(0.2, 2.0), 2)) for _ in range(2))
    figures["plan"] = plan
    writer = _writer(c, seed).start(LOAD_S)
    t0 = time.monotonic()
    restarts = []
    for at, down in plan:
        sleep_until(t0 + at)
        c.stop_fusion(kill=True)  # SIGKILL: nothing is flushed, every session and the view are gone
        killed_at = time.monotonic() - t0
        time.sleep(down)
        c.start_fusion()
        restarts.append({"at_s": round(killed_at, 2), "down_s": down, "restarted_at": time.time()})
    stats = writer.join()
    t_stop = time.time()
    sessions = wait_agents_up(c)
    # The view was rebuilt from nothing after the last restart: ready (its new leader's snapshot
    # ended and the queue drained) this long after fusion came back.
    ready_at = c.view_status()["ready_at"]
    rebuilt_s = ready_at - restarts[-1]["restarted_at"]
    assert rebuilt_s > 0
    converge_s = c.converge_and_compare(timeout=60)
    for r in restarts:
        r.pop("restarted_at")
    figures.update(restarts=restarts, writes=stats.to_dict(), rebuilt_s=round(rebuilt_s, 2),
                   converge_s=round(time.time() - t_stop, 2), compare_s=round(converge_s, 2),
                   leader=c.leader_host(), sessions=sessions, entries=len(c.tree()))  # fmt: skip
    assert stats.total > 200, stats.to_dict()


def _static_tree(backing: Path) -> None:
    for d in range(5):
        for f in range(20):
            p = backing / "static" / f"d{d}" / f"f{f:02d}.dat"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"s" * (d * 20 + f))


@pytest.mark.timeout(150)
def test_the_leader_killed_mid_audit_the_follower_is_promoted_audits_resume_nothing_is_lost(
        cluster_factory, seed, figures):  # fmt: skip
    rng = random.Random(seed)
    # Audits throttled to about 1.2 s each (~240 entries at 200 stats/s), one every 2 s (the
    # watchdog abandons an audit running past twice that), sent in batches of 50 rows.
    c = cluster_factory(source={"audit_max_stats_per_s": 200}, agent_pipe={"batch_size": 50}, setup=_static_tree)
    static = {p for p in c.tree() if p.startswith("/static/")}
    assert len(static) == 5 * 20 + 5
    timeout = float(c.pipe_settings["session_timeout"])
    writer = RandomWriter({h: c.path(h) for h in ("A", "B", "C")}, seed, top="load", backing=c.backing,
                          max_files=100, max_dirs=20).start(LOAD_S + 6)
    time.sleep(1.0)

    # A random point inside a running audit of A's.
    point = round(rng.uniform(0.1, 0.5), 2)

    def audit_at_point() -> dict | None:
        v = c.view_status()
        a = v["audit"]
        return a if a and a["elapsed_s"] >= point and a["rows_seen"] and c.leader_host() == "A" else None

    audit = c.wait_until(audit_at_point, 20, f"an audit by A running for {point} s", interval=0.02)
    a_session = c.view_status()["leader"]
    c.kill_agent("A")
    t_kill = time.monotonic()
    killed_wall = time.time()

    def b_leads() -> bool:
        v = c.view_status()
        return v["leader"] is not None and v["leader"] != a_session

    # While A's session lingers and B takes over, nothing A's unfinished audit did not list disappears.
    missing_seen: set[str] = set()
    while not b_leads():
        missing_seen |= static - set(c.tree())
        assert time.monotonic() - t_kill < timeout + 3, "B was not promoted"
        time.sleep(0.1)
    promoted_s = time.monotonic() - t_kill
    promoted_wall = time.time()
    assert c.leader_host() == "B"
    # A's unfinished audit was abandoned with the leader change, never completed (so it judged nothing).
    v = c.view_status()
    assert v["audit"] is None or v["audit"]["audit_id"] != audit["audit_id"], v["audit"]
    assert (v["last_audit_completed_at"] or 0) < audit["started_at"]
    assert promoted_s <= timeout + 1.0, f"B was promoted {promoted_s:.2f} s after A died"

    # B's audits resume: one that started after the promotion completes, not aborted.
    def b_audited() -> dict | None:
        last = c.agent_status("B")["pipes"][0]["last_audit"]
        missing_seen.update(static - set(c.tree()))
        return last if last and last["started_at"] > promoted_wall and not last["aborted"] else None

    b_audit = c.wait_until(b_audited, 20, "an audit by B after its promotion", interval=0.1)
    v = c.view_status()
    assert v["last_audit_completed_at"] is not None and v["last_audit_completed_at"] > promoted_wall
    assert not missing_seen, f"files the killed leader's audit had not listed left the view: {sorted(missing_seen)[:5]}"

    c.start_agent("A")
    c.wait_until(lambda: c.session_roles().get("A") == "follower", 15, "A back as a follower")
    stats = writer.join()
    t_stop = time.time()
    wait_agents_up(c)
    assert c.leader_host() == "B"
    converge_s = c.converge_and_compare(timeout=60)
    figures.update(kill_point_s=point, audit_at_kill={k: audit.get(k) for k in ("rows_seen", "elapsed_s")},
                   promoted_after_s=round(promoted_s, 2), b_first_audit_s=round(b_audit["ended_at"] - killed_wall, 2),
                   b_audit_rows=b_audit["rows"], writes=stats.to_dict(), converge_s=round(time.time() - t_stop, 2),
                   compare_s=round(converge_s, 2), stale_s=STALE_S)  # fmt: skip
