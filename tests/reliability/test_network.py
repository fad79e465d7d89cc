"""The network between agents and fusion cut and restored; fusion frozen past the session timeout.

Cuts go through :class:`fustor.testing.netproxy.NetProxy`, a TCP proxy on
loopback each agent connects through: a cut first stalls the link (what the
agent sends meanwhile is in flight, unacknowledged), then resets every
connection (what was in flight is lost) and refuses new ones for a while.
The agent must resume its session and resend what fusion did not apply,
with the batches' own sequence numbers, so that fusion applies each batch
once. The freeze is a real SIGSTOP of fusion's process group.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from fustor.schema import row_from_stat
from fustor.testing.netproxy import NetProxy
from fustor.testing.writeload import DEFAULT_MIX, RandomWriter, append_flood

from .helpers import proc_status_kib, sleep_until, wait_agents_up

pytestmark = pytest.mark.integration

LOAD_S = 10.0


def _sender(c, host: str) -> dict:
    return c.agent_status(host)["pipes"][0]["sender_stats"]


@pytest.mark.timeout(150)
def test_network_cut_and_restored_unacknowledged_batches_are_resent_once_and_nothing_is_lost(
        cluster_factory, seed, figures):  # fmt: skip
    rng = random.Random(seed)
    timeout = 8.0
    c = cluster_factory(agents=(), pipe={"session_timeout": timeout})
    proxies = {h: NetProxy(c.fusion.url).start() for h in ("A", "B")}
    try:
        c.start_agent("A", fusion_url=proxies["A"].url)
        c.wait_until(lambda: c.leader_host() == "A", 20, "A to lead")
        c.wait_ready()
        c.start_agent("B", fusion_url=proxies["B"].url)
        sessions = wait_agents_up(c)

        # Each host writes its own tree: every change under /via-A and /via-B is seen by that
        # host's inotify (a host does not see directories another host made), /via-C by nobody.
        mix = {**DEFAULT_MIX, "rename_dir": 1}
        writers = [RandomWriter({h: c.path(h)}, seed + i, top=f"via-{h}", backing=c.backing, max_files=150, mix=mix)
                   for i, h in enumerate("ABC")]  # fmt: skip
        # Cuts: (seconds into the load, host, seconds stalled first, seconds refusing reconnects).
        plan = sorted((round(rng.uniform(0.3, LOAD_S - 1.5), 2), rng.choice("AB"), round(rng.uniform(0.1, 0.6), 2),
                       round(rng.uniform(0.1, 2.0), 2)) for _ in range(7))  # fmt: skip
        figures["plan"] = plan
        for w in writers:
            w.start(LOAD_S)
        t0 = time.monotonic()
        cuts = []
        for at, host, stall, refuse in plan:
            sleep_until(t0 + at)
            # A link flaps again only once the agent is back (each outage stays well inside the
            # session timeout, reconnect backoff included).
            c.wait_until(lambda h=host: c.agent_status(h)["pipes"][0]["state"] == "running", 10,
                         f"{host} to reconnect", interval=0.05)
            unacked = _sender(c, host)["unacked"]
            proxies[host].stall()
            time.sleep(stall)
            n = proxies[host].cut(refuse_for=refuse)
            cuts.append({"at_s": round(time.monotonic() - t0, 2), "host": host, "connections": n,
                         "unacked_before_stall": unacked})
        stats = [w.join() for w in writers]
        t_stop = time.time()
        after = wait_agents_up(c)
        # Every cut was shorter than the session timeout: each agent resumed its own session.
        assert after == sessions, (sessions, after)

        def drained() -> dict | None:
            s = {h: _sender(c, h) for h in ("A", "B")}
            return s if all(x["unacked"] == 0 for x in s.values()) else None

        c.wait_until(drained, 20, "every batch acknowledged")
        converge_s = c.converge_and_compare(timeout=60)

        # A resent batch keeps its seq, so fusion takes each batch once: a session's last seq is
        # the number of distinct batches the agent sent on it, and the rows it received are their
        # rows, however often they were sent. Audits go on meanwhile, so each count is read
        # between the agent's before (all acknowledged) and after.
        before = c.wait_until(drained, 20, "every batch acknowledged")
        fusion_sessions = {s["agent_id"]: s for s in c.status()["sessions"]}
        senders = {h: _sender(c, h) for h in ("A", "B")}
        received = {h: fusion_sessions[c.agent_id(h)]["rows_received"] for h in ("A", "B")}
        for h, s in senders.items():
            assert s["refused"] == 0, (h, s)
            last_seq = fusion_sessions[c.agent_id(h)]["last_seq"]
            assert before[h]["batches"] <= last_seq <= s["batches"], (h, before[h]["batches"], last_seq, s)
            assert before[h]["rows"] <= received[h] <= s["rows"], (h, before[h]["rows"], received[h], s)
        resent = {h: s["resent"] for h, s in senders.items()}
        assert sum(resent.values()) > 0, f"no batch was resent: {senders}"

        # Nothing an agent saw was lost: every file A and B wrote came by their own realtime
        # rows, none had to be found by an audit (a blind spot), and no delete of theirs was
        # found missing by one, whatever the cuts. (Left out: what the agent could only see in
        # its scan of a directory that appeared, i.e. what lies in a directory the writer moved
        # and files put in a directory right after it was made, before the agent watched it.
        # Those scan rows follow listing rules: when an audit listed the same state first, they
        # do not confirm it, so it may stay a blind spot.)
        tree = c.tree()
        spots = c.blind_spots()
        for h, w in zip("AB", writers):
            moved = tuple("/" + d for d in w.moved_dirs())
            scanned = {"/" + p for p in w.placed_soon_after_mkdir(0.5)}

            def plain(p: str) -> bool:
                return p.startswith(f"/via-{h}/") and not any(p == m or p.startswith(m + "/") for m in moved)

            files = {p: e for p, e in tree.items() if plain(p) and e["kind"] == "file" and p not in scanned}
            assert files, h
            unknown = sorted(p for p, e in files.items() if not e["known_by_agent"] or e["blind_spot"])
            assert not unknown, f"written through {h} but not known by its agent: {unknown[:10]}"
            lost_deletes = sorted(p for p in spots["deletions"] if plain(p))
            assert not lost_deletes, f"deleted through {h} but found missing by an audit: {lost_deletes[:10]}"
            figures.setdefault("files_checked", {})[h] = len(files)
        figures.update(cuts=cuts, resent=resent, sent={h: s["sent"] for h, s in senders.items()},
                       rows=received,
                       duplicates={h: s["duplicates"] for h, s in senders.items()},
                       proxy={h: p.stats.to_dict() for h, p in proxies.items()},
                       writes=[s.to_dict() for s in stats], converge_s=round(time.time() - t_stop, 2),
                       compare_s=round(converge_s, 2))  # fmt: skip
    finally:
        for p in proxies.values():
            p.close()


def _bytes_per_row(sample: Path) -> int:
    """What one realtime row costs in a Python process (a lower bound of what buffering an event costs)."""
    st, pst = os.lstat(sample), os.lstat(sample)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        rows = [row_from_stat(f"/flood/flood-{i:03d}.log", st, pst, is_atomic_write=False) for i in range(5000)]
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(rows) == 5000
    return used // 5000


def _reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


#: The agent's memory may not grow more than this while fusion is frozen. Its buffers are bounded
#: (a bus of ``bus_capacity`` items, ``max_unacked`` batches of ``batch_size`` rows): with the
#: settings below that is under 3 MiB of rows.
RSS_BOUND_MIB = 16


@pytest.mark.timeout(150)
def test_fusion_frozen_past_the_session_timeout_agent_memory_stays_bounded_and_the_view_converges(
        cluster_factory, seed, figures):  # fmt: skip
    c = cluster_factory(agent_pipe={"bus_capacity": 2000, "max_unacked": 8, "batch_size": 200})
    session_timeout = float(c.pipe_settings["session_timeout"])
    min_freeze_s, max_freeze_s = 4 * session_timeout, 40.0
    pid = c.agents["A"].proc.pid
    per_row = _bytes_per_row(c.path("A"))
    # Fusion stays frozen until the agent has seen enough events that buffering them all would
    # break the bound twice over (and at least four session timeouts).
    enough_events = 2 * RSS_BOUND_MIB * 2**20 // per_row

    # Warm up with fusion running: the agent's working memory under this load is the baseline.
    stop = threading.Event()
    flooded: list[int] = []
    flood = threading.Thread(target=lambda: flooded.append(
        append_flood(c.path("A", "flood"), 60.0, files=64, stop=stop)), daemon=True)
    flood.start()
    writer = RandomWriter({h: c.path(h) for h in ("A", "B", "C")}, seed, top="load", backing=c.backing,
                          max_files=200).start(max_freeze_s + 10)
    time.sleep(3.0)
    watch0 = c.agent_status("A")["pipes"][0]["watch"]["events"]
    rss0 = proc_status_kib(pid, "VmRSS")
    peak_reset = _reset_peak(pid)

    c.fusion.signal(signal.SIGSTOP)
    t_freeze = time.monotonic()
    samples = []
    try:
        next_look = 0.0
        while True:
            samples.append(proc_status_kib(pid, "VmRSS"))
            elapsed = time.monotonic() - t_freeze
            if elapsed >= next_look:  # the agent's control plane answers while fusion is frozen
                st = c.agent_status("A")
                watch1 = st["pipes"][0]["watch"]["events"]
                if (elapsed >= min_freeze_s and watch1 - watch0 >= enough_events) or elapsed >= max_freeze_s:
                    break
                next_look = elapsed + 0.5
            time.sleep(0.05)
        hwm = proc_status_kib(pid, "VmHWM") if peak_reset else max(samples)
    finally:
        c.fusion.signal(signal.SIGCONT)
    freeze_s = time.monotonic() - t_freeze
    stop.set()
    flood.join(10)
    writer.stop()
    stats = writer.join()
    t_stop = time.time()

    growth_mib = (max(hwm, *samples) - rss0) / 1024
    events_frozen = watch1 - watch0
    unbounded_mib = events_frozen * per_row / 2**20
    bus = st["sources"]["share"]["bus"]
    figures.update(freeze_s=round(freeze_s, 1), session_timeout_s=session_timeout, rss_before_mib=round(rss0 / 1024, 1),
                   rss_high_water_mib=round(max(hwm, *samples) / 1024, 1), growth_mib=round(growth_mib, 1),
                   events_while_frozen=events_frozen, bytes_per_row=per_row,
                   unbounded_would_hold_mib=round(unbounded_mib, 1), bus=bus,
                   sender_while_frozen=st["pipes"][0]["sender_stats"], flood_writes=flooded[0] if flooded else None)
    assert growth_mib < RSS_BOUND_MIB, f"the agent grew {growth_mib:.1f} MiB while fusion was frozen"
    # Enough happened that buffering it all would have broken the bound twice over.
    assert unbounded_mib > 2 * RSS_BOUND_MIB, (events_frozen, per_row)

    wait_agents_up(c)
    converge_s = c.converge_and_compare(timeout=90)
    figures.update(writes=stats.to_dict(), converge_s=round(time.time() - t_stop, 2), compare_s=round(converge_s, 2),
                   rss_after_mib=round(proc_status_kib(pid, "VmRSS") / 1024, 1))
