"""End to end: real agents on hosts of one shared storage, a real fusion, a host without an agent.

One backing directory is mounted with bindfs as host A (agent, leader),
host B (agent, follower) and host C (no agent); see
``fustor.testing.storage`` and ``fustor.testing.cluster``. inotify on one
mount does not see writes made through another, and a mount shows
attributes changed through another stale for about a second, as NFS does:
so a test that needs an audit to witness its writes waits for an audit that
*started* after the writes plus that second (``Cluster.wait_audit_after``),
never for "the next audit".

Each scenario ends by letting the view converge (CONSISTENCY.md,
"Convergence") and comparing it with a walk of the backing directory:
paths, kinds, sizes and mtimes, and no file left suspect.

Outside CI these tests skip, with the reason, when FUSE is unavailable;
with ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from fustor.sources.fs import PathFilter, ScanErrors, walk_rows
from fustor.testing.cluster import DROP_DAC, PIPE, STALE_S, VIEW, set_old_mtime, write_slowly
from fustor.testing.processes import AGENT_KEY
from fustor.testing.simagent import SimAgent
from fustor.testing.storage import skip_or_fail

from .conftest import run

pytestmark = pytest.mark.integration


def _write(path: Path, data: str | bytes = "data\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


# --- leadership, realtime, blind spots ---------------------------------------------------


@pytest.mark.timeout(90)
def test_first_agent_leads_and_a_file_b_writes_arrives_by_realtime_not_as_a_blind_spot(cluster_factory):
    c = cluster_factory()
    assert c.session_roles() == {"A": "leader", "B": "follower"}

    t = time.time()
    _write(c.path("B", "up/sub-1/reads.fq"), "ACGT" * 100)
    # Realtime (B's own inotify) puts it there at once, known by an agent; the close clears the suspect mark.
    entry = c.wait_until(
        lambda: (e := c.entry("/up/sub-1/reads.fq")) and e["known_by_agent"] and not e["suspect"] and e, 5,
        "B's realtime rows")
    assert entry["size"] == 400 and not entry["blind_spot"] and entry["last_updated_at"] >= t

    # A's audits list it too, and never turn it into a blind spot.
    c.wait_audit_after(time.time())
    entry = c.entry("/up/sub-1/reads.fq")
    assert entry["known_by_agent"] and not entry["blind_spot"]
    assert not any(p.startswith("/up") for p in c.blind_spots()["additions"])
    c.converge_and_compare()


@pytest.mark.timeout(90)
def test_files_c_creates_are_blind_spot_additions_and_the_sentinel_clears_a_hot_one_before_its_ttl(cluster_factory):
    hot = 8.0
    c = cluster_factory(view={"hot_file_threshold": hot})
    _write(c.path("C", "blind/cold.dat"), "old data\n")
    set_old_mtime(c.path("C", "blind/cold.dat"))

    # C uploads hot.dat slowly: nobody watches C, so only audits and the sentinel can see it.
    done: dict[str, float] = {}
    writer = threading.Thread(target=lambda: done.setdefault(
        "last", write_slowly(c.path("C", "blind/hot.dat"), chunks=25, every=0.2)))
    writer.start()
    seen_hot_suspect = seen_cold_suspect = False
    unmarked_while_written: list[dict] = []
    while writer.is_alive():
        sus = c.suspects()
        seen_hot_suspect |= "/blind/hot.dat" in sus
        seen_cold_suspect |= "/blind/cold.dat" in sus
        if seen_hot_suspect and "/blind/hot.dat" not in sus and writer.is_alive():
            unmarked_while_written.append(c.entry("/blind/hot.dat"))
        time.sleep(0.05)
    writer.join()
    t_last = done["last"]

    # Once an audit found it, the file C was still writing stayed suspect (the sentinel saw it
    # change: its stats are not answered from the leader's attribute cache); the cold one never was.
    assert seen_hot_suspect, "the file C was uploading never showed as suspect"
    assert not unmarked_while_written, f"cleared while C was still writing it: {unmarked_while_written[:3]}"

    # Writes stopped: the sentinel finds hot.dat unchanged and clears it long before its suspect life ends.
    last_seen: dict = {}

    def cleared() -> bool:
        sus = c.suspects()
        if "/blind/hot.dat" in sus:
            last_seen.update(sus["/blind/hot.dat"], at=time.monotonic())
            return False
        return True

    c.wait_until(cleared, hot + 5, "the sentinel to clear /blind/hot.dat", interval=0.05)
    assert last_seen, "not suspect right after C's last write"
    remaining = last_seen["expires_in_s"] - (time.monotonic() - last_seen["at"])
    assert remaining > 1.0, f"cleared by expiry, not by the sentinel: {last_seen}"
    # No agent watches C: an unchanged answer clears once the state has held for half the hot
    # threshold (an in-place appender pausing between chunks is not mistaken for finished).
    assert time.time() - t_last < hot, "the sentinel took too long"

    # An audit that started after C's last write has listed both as blind-spot additions.
    c.wait_audit_after(t_last)
    for p in ("/blind/cold.dat", "/blind/hot.dat"):
        e = c.wait_until(lambda p=p: (e := c.entry(p)) and e["blind_spot"] and e, 5, f"{p} as a blind spot")
        assert not e["known_by_agent"] and not e["suspect"], e
    assert {"/blind/cold.dat", "/blind/hot.dat"} <= set(c.blind_spots()["additions"])
    assert c.entry("/blind/hot.dat")["size"] == 2500
    assert not seen_cold_suspect
    c.converge_and_compare()


@pytest.mark.timeout(90)
def test_a_file_a_created_and_c_deleted_is_a_blind_spot_deletion_after_an_audit(cluster_factory):
    # Every other audit is full (C8): convergence below must wait for one, since C's in-place
    # append to /quiet/log.txt does not change its directory's ctime and silent audits skip it.
    c = cluster_factory(view={"full_audit_every": 2})
    _write(c.path("A", "del/victim.txt"))
    _write(c.path("A", "del/keeper.txt"))
    _write(c.path("A", "quiet/log.txt"))
    c.wait_until(lambda: (e := c.entry("/del/victim.txt")) and e["known_by_agent"], 5, "A's realtime row")
    t = time.time()
    os.unlink(c.path("C", "del/victim.txt"))
    with open(c.path("C", "quiet/log.txt"), "ab") as f:
        f.write(b"appended through C\n")
    c.wait_audit_after(t)
    c.wait_for_path("/del/victim.txt", gone=True, timeout=5)
    spots = c.blind_spots()
    assert "/del/victim.txt" in spots["deletions"] and spots["has_blind_spot"]
    assert c.entry("/del/keeper.txt") is not None
    c.converge_and_compare()


# --- races of audits and snapshots with realtime -------------------------------------------


@pytest.mark.timeout(90)
def test_a_cp_p_file_written_through_a_during_an_audit_survives_the_audits_end(cluster_factory, tmp_path):
    """The audit is throttled so that it runs for a second or two: the root is
    listed first, then ``cp -p`` (an old mtime) writes into the root through A
    while the rest of the tree is still being walked. The listing of the root
    lacks the file; the audit's end must not delete it (C6 a, b)."""

    def setup(backing: Path) -> None:
        for i in range(40):
            _write(backing / "bulk" / f"f{i:02}.dat", f"{i}\n")

    c = cluster_factory(source={"audit_max_stats_per_s": 40}, view={"audit_interval": 2.5}, setup=setup)
    src = _write(tmp_path / "archive.tar", b"\0" * 5000)
    set_old_mtime(src, 86400 * 30)
    dst = c.path("A", "archive.tar")

    def running_audit() -> dict | None:
        v = c.view_status()
        return v["audit"] if v["audit"] and v["audit"]["elapsed_s"] >= 0.3 else None

    for _ in range(3):  # an audit may end between the check and the copy; then try the next one
        audit = c.wait_until(running_audit, 15, "an audit to be running", interval=0.02)
        subprocess.run(["cp", "-p", str(src), str(dst)], check=True)
        t_cp = time.time()
        v = c.view_status()
        if v["last_audit_started_at"] == audit["started_at"] and v["audit"] is not None:
            break
        os.unlink(dst)
        c.wait_for_path("/archive.tar", gone=True)
    else:
        pytest.fail("could not copy during an audit")
    c.wait_until(lambda: (v := c.view_status())["last_audit_completed_at"] and v["last_audit_completed_at"] > t_cp,
                 15, "the audit to end")
    e = c.entry("/archive.tar")
    assert e is not None, "the cp -p file was deleted by the audit's end"
    assert e["size"] == 5000 and abs(e["mtime"] - os.stat(src).st_mtime) < 0.001
    c.converge_and_compare(timeout=40)


@pytest.mark.timeout(90)
def test_a_realtime_delete_followed_by_a_stale_snapshot_never_resurrects_the_file(cluster_factory):
    """A stale snapshot is a listing read before a delete and applied after it.
    bindfs always lists directories afresh, so the test makes one honestly: the
    real scanner walks B's mount while the file exists, A deletes the file
    (A's realtime delete reaches the view), then those rows arrive as the
    snapshot of a new leader (a late host's session, speaking the real
    protocol)."""
    c = cluster_factory()
    _write(c.path("A", "s/gone.txt"), "soon gone\n")
    _write(c.path("A", "s/stays.txt"), "stays\n")
    c.wait_until(lambda: (e := c.entry("/s/gone.txt")) and e["known_by_agent"], 5, "A's realtime row")
    stale = [r for batch in walk_rows(os.fsencode(c.path("B")), "/", PathFilter(), ScanErrors()) for r in batch]
    assert any(r["path"] == "/s/gone.txt" for r in stale)

    os.unlink(c.path("A", "s/gone.txt"))
    c.wait_for_path("/s/gone.txt", gone=True, timeout=5)  # A's realtime delete

    # Both agents go away; once their sessions time out the late host leads and sends its snapshot.
    c.kill_agent("A")
    c.kill_agent("B")
    c.wait_until(lambda: not c.status()["sessions"], 10, "the agents' sessions to time out")

    async def late_snapshot() -> None:
        async with SimAgent(c.fusion.url, AGENT_KEY, PIPE, agent_id="late-host", timeout_hint=5) as late:
            assert late.leads(VIEW)
            await late.send_snapshot(stale)
            await late.snapshot_end()

    run(late_snapshot(), timeout=20)
    assert c.entry("/s/gone.txt") is None, "a stale snapshot resurrected a deleted file"
    assert c.entry("/s/stays.txt") is not None

    c.start_agent("A")
    c.wait_until(lambda: c.leader_host() == "A", 10, "A to lead again")
    c.start_agent("B")
    assert c.entry("/s/gone.txt") is None
    c.converge_and_compare()


@pytest.mark.timeout(90)
def test_an_append_in_progress_through_a_stays_suspect_and_clears_after_close(cluster_factory):
    c = cluster_factory()
    path = c.path("A", "app/growing.log")
    path.parent.mkdir(parents=True)
    with open(path, "ab", buffering=0) as f:
        f.write(b"start\n")
        c.wait_until(lambda: "/app/growing.log" in c.suspects(), 5, "the open file to be suspect")
        # Keep appending for longer than the hot threshold, sentinel rounds and audits included.
        deadline = time.monotonic() + 2 * float(c.view_settings["hot_file_threshold"])
        checks = 0
        while time.monotonic() < deadline:
            f.write(b"more data\n")
            time.sleep(0.2)
            sus = c.suspects()
            assert "/app/growing.log" in sus, f"an open file being appended to lost its suspect mark ({checks} checks)"
            checks += 1
    t_close = time.time()
    c.wait_until(lambda: "/app/growing.log" not in c.suspects(), 2, "the close to clear the suspect mark")
    assert time.time() - t_close < 2
    e = c.entry("/app/growing.log")
    assert e["known_by_agent"] and e["size"] == os.stat(path).st_size
    c.converge_and_compare()


# --- leader failover ---------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_killing_a_promotes_b_within_the_session_timeout_b_audits_and_a_returns_as_a_follower(cluster_factory):
    c = cluster_factory()
    c.wait_audit_after(time.time() - STALE_S)  # A leads and audits
    timeout = float(c.pipe_settings["session_timeout"])

    t_kill = time.monotonic()
    c.kill_agent("A")
    c.wait_until(lambda: c.leader_host() == "B", timeout + 3, "B to be promoted", interval=0.05)
    promoted_after = time.monotonic() - t_kill
    # Fusion closes a session after `timeout` without a heartbeat, and checks four times a second.
    assert promoted_after <= timeout + 0.75, f"B was promoted {promoted_after:.2f} s after A died"
    promoted_wall = time.time()

    # B's audits go on: a file C writes is found by one of them.
    _write(c.path("C", "after-failover/c.txt"), "from C\n")
    t = time.time()
    c.wait_audit_after(t)
    e = c.wait_for_path("/after-failover/c.txt", timeout=5)
    assert e["blind_spot"]
    last = c.agent_status("B")["pipes"][0]["last_audit"]
    assert last is not None and last["started_at"] > promoted_wall and not last["aborted"]

    # A comes back: a follower, whose realtime still feeds the view.
    c.start_agent("A")
    c.wait_until(lambda: c.session_roles().get("A") == "follower", 10, "A's new session")
    assert c.leader_host() == "B"
    _write(c.path("A", "after-failover/a.txt"), "from A\n")
    c.wait_until(lambda: (e := c.entry("/after-failover/a.txt")) and e["known_by_agent"], 5, "A's realtime row")
    c.converge_and_compare()


# --- errors and outages ---------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_an_unreadable_directory_beside_a_readable_one_the_readable_files_arrive_and_the_agent_lives(cluster_factory):
    """The tests run as root, and root reads a ``chmod 000`` directory anyway.
    So the agents run as root *without* the capabilities that bypass file
    permissions (``setpriv`` drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH):
    the kernel then refuses them a mode-000 directory with EACCES through the
    FUSE mount, as it would an unprivileged agent. Nothing is simulated: the
    directory is really unreadable to the agents."""

    if shutil.which("setpriv") is None:
        skip_or_fail("setpriv (util-linux) is needed to run the agents without CAP_DAC_OVERRIDE")

    def setup(backing: Path) -> None:
        _write(backing / "locked/secret.txt", "secret\n")
        _write(backing / "locked/deeper/more.txt", "more\n")
        _write(backing / "open/a.txt", "a\n")
        _write(backing / "open/sub/b.txt", "b\n")
        os.chmod(backing / "locked", 0)

    c = cluster_factory(agent_prefix=DROP_DAC, setup=setup)
    probe = subprocess.run([*DROP_DAC, "ls", str(c.path("A", "locked"))], capture_output=True, text=True)
    assert probe.returncode != 0 and "Permission denied" in probe.stderr, probe

    for p in ("/open/a.txt", "/open/sub/b.txt", "/locked"):
        assert c.entry(p) is not None, p
    assert c.entry("/locked/secret.txt") is None
    _write(c.path("A", "open/c.txt"), "c\n")
    c.wait_for_path("/open/c.txt")
    c.wait_audit_after(time.time())
    for host in ("A", "B"):
        assert c.agents[host].proc.poll() is None, c.agents[host].log_tail()
    st = c.agent_status("A")
    assert st["pipes"][0]["state"] == "running" and st["pipes"][0]["errors"] > 0
    assert any("/locked" in key for key, _ in st["sources"]["share"]["recent_errors"])
    c.converge_and_compare(exclude=["/locked/"])


@pytest.mark.timeout(120)
def test_fusion_stopped_for_a_while_and_restarted_the_agents_reconnect_and_the_view_converges(cluster_factory):
    c = cluster_factory()
    _write(c.path("A", "keep/one.txt"), "1\n")
    _write(c.path("B", "keep/two.txt"), "2\n")
    _write(c.path("A", "doomed.txt"), "x\n")
    c.wait_for_path("/keep/two.txt")
    c.wait_for_path("/doomed.txt")

    reconnects = {h: c.agent_status(h)["pipes"][0]["reconnects"] for h in ("A", "B")}
    c.stop_fusion()

    def agents_retried() -> bool:
        # Down for a while: each agent has failed to reconnect a few times, backing off longer each time.
        pipes = {h: c.agent_status(h)["pipes"][0] for h in ("A", "B")}
        return all(p["state"] != "running" and p["reconnects"] >= reconnects[h] + 3 for h, p in pipes.items())

    c.wait_until(agents_retried, 15, "the agents to retry a few times", interval=0.1)
    # Changes while fusion is down, through every host.
    _write(c.path("A", "while-down/a.txt"), "a\n")
    _write(c.path("B", "while-down/b.txt"), "b\n")
    _write(c.path("C", "while-down/c.txt"), "c\n")
    os.unlink(c.path("B", "doomed.txt"))
    os.rename(c.path("A", "keep/one.txt"), c.path("A", "keep/uno.txt"))

    c.start_fusion()
    c.wait_until(lambda: set(c.session_roles().values()) == {"leader", "follower"}, 20,
                 "both agents to reconnect (one leads)")
    c.wait_ready()
    c.converge_and_compare()


# --- queries, moves, links --------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_force_real_time_on_a_directory_c_just_filled_returns_its_files(cluster_factory):
    c = cluster_factory()
    sizes = 0
    for i in range(5):
        sizes += _write(c.path("C", f"fresh/sub-7/part{i}.bin"), b"z" * (100 + i)).stat().st_size
    res = c.summary("/fresh/sub-7", force_real_time=True, timeout=10)
    assert not res["job_pending"] and res["job"]["state"] == "complete", res
    assert res["exists"] and res["files"] == 5 and res["size"] == sizes, res
    assert res["verdict"] != "complete"  # seen only by a scan, just written
    c.converge_and_compare()


@pytest.mark.timeout(90)
def test_a_directory_moved_through_a_moves_in_the_view_and_a_symlink_loop_is_listed_not_followed(cluster_factory):
    c = cluster_factory()
    _write(c.path("A", "src/inner/f1.txt"), "1\n")
    _write(c.path("A", "src/f2.txt"), "22\n")
    (c.path("A", "moved")).mkdir()
    c.wait_for_path("/src/inner/f1.txt")
    c.wait_for_path("/moved")

    os.rename(c.path("A", "src"), c.path("A", "moved/dst"))
    c.wait_for_path("/moved/dst/inner/f1.txt", timeout=5)
    c.wait_for_path("/src", gone=True, timeout=5)
    assert c.entry("/moved/dst/f2.txt")["size"] == 3

    links = c.path("A", "links")
    links.mkdir()
    os.symlink("self", links / "self")  # points at itself
    os.symlink("..", links / "up")  # a directory loop when followed
    os.symlink("b", links / "a")
    os.symlink("a", links / "b")
    for name in ("self", "up", "a", "b"):
        e = c.wait_for_path(f"/links/{name}", timeout=5)
        assert e["kind"] == "symlink", e
    tree = c.tree()
    assert not any(p.startswith("/links/up/") for p in tree), "a symlink was followed"
    c.converge_and_compare()
    tree = c.tree()
    assert not any(p.startswith(("/links/up/", "/links/self/")) for p in tree)
