"""The ``fustor`` command against real processes: fusion/agent start, status,
reload and stop, ``fustor query`` against a fusion fed by a real agent, the
demo, and ``fustor config migrate``.

Every command runs as a subprocess (``python -m fustor ...``), as a user or a
script would run it. Servers listen on port 0; everything started here runs in
its own process group and is killed in cleanup; waits poll conditions with
deadlines.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fustor.testing.agentproc import AGENT_CONTROL_KEY, AgentProcess, make_agent_home
from fustor.testing.processes import ADMIN_KEY, READONLY_KEY, FusionProcess, make_fusion_home, wait_for

pytestmark = pytest.mark.integration

HOUR = 3600.0


def fustor(*args: str, timeout: float = 60.0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fustor", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1", **(env or {})},
    )  # fmt: skip


def killpg(pid: int | None) -> None:
    if not pid:
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        stat = Path(f"/proc/{pid}/stat").read_text()
        return not stat[stat.rindex(")") + 2:].startswith("Z")
    except OSError:
        return True


def pid_in(path: Path) -> int | None:
    try:
        if path.suffix == ".json":
            return json.loads(path.read_text()).get("pid")
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def backdate(root: Path, age: float) -> None:
    """Set every mtime under ``root`` (and its own) ``age`` seconds back."""
    t = time.time() - age
    for p in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
        os.utime(p, (t, t))
    os.utime(root, (t, t))


# --- fusion and agent: start / status / reload / stop ----------------------------------------------------


def test_fusion_and_agent_lifecycle(tmp_path: Path) -> None:
    home = make_fusion_home(tmp_path / "fusion")
    pids: list[int | None] = []
    try:
        r = fustor("fusion", "start", "--background", "--home", str(home))
        assert r.returncode == 0, r.stderr + r.stdout
        pid = pid_in(home / "fusion.pid")
        pids.append(pid)
        state = json.loads((home / "fusion.state.json").read_text())
        assert state["pid"] == pid and alive(pid)
        assert state["receivers"]["main"] in r.stdout
        url = state["receivers"]["main"]

        r = fustor("fusion", "start", "--background", "--home", str(home))
        assert r.returncode == 1 and "already running" in r.stderr

        r = fustor("fusion", "status", "--home", str(home))
        assert r.returncode == 0, r.stderr
        assert f"running (pid {pid})" in r.stdout and url in r.stdout and "views" in r.stdout
        st = json.loads(fustor("fusion", "status", "--home", str(home), "--json").stdout)
        assert st["running"] and st["pid"] == pid and [v["view"] for v in st["status"]["views"]] == ["v"]

        # reload through the control plane (an admin key is in the home): shows what changed
        (home / "views-config" / "w.yaml").write_text((home / "views-config" / "v.yaml").read_text())
        r = fustor("fusion", "reload", "--home", str(home))
        assert r.returncode == 0, r.stderr
        assert "views added: w" in r.stdout
        # reload by SIGHUP: the outcome is read back from the log
        (home / "views-config" / "w.yaml").unlink()
        r = fustor("fusion", "reload", "--home", str(home), "--signal")
        assert r.returncode == 0, r.stderr
        assert f"sent SIGHUP to fusion (pid {pid})" in r.stdout and "views_removed" in r.stdout
        # a broken config is refused, the process keeps running
        (home / "views-config" / "bad.yaml").write_text("hot_file_threshold: [\n")
        r = fustor("fusion", "reload", "--home", str(home), "--key", ADMIN_KEY)
        assert r.returncode == 1 and "refused" in r.stderr and alive(pid)
        (home / "views-config" / "bad.yaml").unlink()

        # an agent against it, with --backoff passed through
        tree = tmp_path / "tree"
        (tree / "a").mkdir(parents=True)
        ahome = make_agent_home(tmp_path / "agent", root=tree, fusion_url=url, agent_id="cli-agent")
        r = fustor("agent", "start", "--background", "--home", str(ahome), "--backoff", "0.2")
        assert r.returncode == 0, r.stderr + r.stdout
        apid = pid_in(ahome / "agent.pid")
        pids.append(apid)
        assert "--backoff" in Path(f"/proc/{apid}/cmdline").read_text().replace("\0", " ")
        r = fustor("agent", "status", "--home", str(ahome))
        assert r.returncode == 0 and "running" in r.stdout and "main" in r.stdout, r.stdout + r.stderr
        ast = json.loads(fustor("agent", "status", "--home", str(ahome), "--json").stdout)
        assert [p["pipe"] for p in ast["status"]["pipes"]] == ["main"]
        r = fustor("agent", "reload", "--home", str(ahome), "--key", AGENT_CONTROL_KEY)
        assert r.returncode == 0 and "agent reloaded" in r.stdout, r.stdout + r.stderr
        r = fustor("agent", "stop", "--home", str(ahome))
        assert r.returncode == 0 and not alive(apid)

        r = fustor("fusion", "stop", "--home", str(home))
        assert r.returncode == 0, r.stderr
        assert f"stopped (pid {pid})" in r.stdout
        assert not alive(pid)
        assert not (home / "fusion.pid").exists() and not (home / "fusion.state.json").exists()
        assert "listening on" in (home / "fusion.log").read_text()

        r = fustor("fusion", "stop", "--home", str(home))
        assert r.returncode == 1 and "not running" in r.stdout
        r = fustor("fusion", "status", "--home", str(home))
        assert r.returncode == 1 and "not running" in r.stdout
    finally:
        for p in pids:
            killpg(p)


def test_stop_cleans_a_stale_pid_file(tmp_path: Path) -> None:
    home = make_fusion_home(tmp_path / "fusion")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (home / "fusion.pid").write_text(f"{dead.pid}\n")
    r = fustor("fusion", "stop", "--home", str(home))
    assert r.returncode == 1 and "stale" in r.stdout
    assert not (home / "fusion.pid").exists()


def test_fusion_start_in_the_foreground(tmp_path: Path) -> None:
    home = make_fusion_home(tmp_path / "fusion")
    err = open(tmp_path / "stderr.txt", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "fustor", "fusion", "start", "--home", str(home)],
                            stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    err.close()
    try:
        wait_for(lambda: pid_in(home / "fusion.state.json") == proc.pid or proc.poll() is not None, 20,
                 what="foreground fusion to listen")
        assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
        assert pid_in(home / "fusion.pid") == proc.pid  # the command itself is fusion
        r = fustor("fusion", "status", "--home", str(home))
        assert r.returncode == 0 and f"pid {proc.pid}" in r.stdout
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert not (home / "fusion.pid").exists()
        log = (home / "fusion.log").read_text()
        assert "listening on" in log and "starting in the foreground" in log
        assert "starting in the foreground" in (tmp_path / "stderr.txt").read_text()  # logs go to stderr too
    finally:
        killpg(proc.pid)
        proc.wait(10)


# --- fustor query ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory):
    """Fusion with views ``v`` (fed by a real agent) and ``idle`` (fed by nobody: never ready)."""
    base = tmp_path_factory.mktemp("query")
    tree = base / "tree"
    (tree / "old" / "upload1" / "sub_1").mkdir(parents=True)
    (tree / "old" / "upload1" / "sub_1" / "data_0001.dat").write_bytes(b"x" * 3000)
    (tree / "old" / "upload1" / "sub_1" / "data_0002.dat").write_bytes(b"y" * 1500)
    backdate(tree / "old", 2 * HOUR)
    backdate(tree, 2 * HOUR)
    home = make_fusion_home(
        base / "fusion",
        views={"v": {"hot_file_threshold": 120}, "idle": {}},
        pipes={"p": {"views": ["v"]}, "q": {"views": ["idle"]}},
    )
    fusion = FusionProcess(home)
    agent = None
    try:
        fusion.start()
        agent = AgentProcess(make_agent_home(base / "agent", root=tree, fusion_url=fusion.url, agent_id="qa"))
        agent.start()

        async def ready() -> bool:
            from fustor.client import ControlClient

            async with await ControlClient.connect(fusion.url, READONLY_KEY) as c:
                st = await c.status()
            return any(v["view"] == "v" and v["ready"] for v in st["views"])

        wait_for(lambda: asyncio.run(ready()), 20, interval=0.1, what="view v to be ready")
        yield {"url": fusion.url, "home": home, "tree": tree}
    finally:
        if agent is not None:
            agent.kill()
        fusion.kill()


def q(fed: dict, *args: str, view: str | None = "v") -> subprocess.CompletedProcess:
    extra = ["--connect", fed["url"], "--key", READONLY_KEY] + (["--view", view] if view else [])
    return fustor("query", *args, *extra)


def test_query_ls_table_and_json(fed: dict) -> None:
    r = q(fed, "ls", "/old/upload1/sub_1")
    assert r.returncode == 0, r.stderr
    assert "data_0001.dat" in r.stdout and "2.9 KiB" in r.stdout and "2 h ago" in r.stdout
    assert "2 of 2 entries" in r.stdout

    r = q(fed, "ls", "old/upload1/sub_1/", "--json", "--sort", "size", "--reverse")
    assert r.returncode == 0, r.stderr
    reply = json.loads(r.stdout)
    assert [e["name"] for e in reply["entries"]] == ["data_0001.dat", "data_0002.dat"]

    # --limit pages; --all follows the cursor
    page = json.loads(q(fed, "ls", "/old/upload1/sub_1", "--limit", "1", "--json").stdout)
    assert len(page["entries"]) == 1 and page["next_cursor"]
    both = json.loads(q(fed, "ls", "/old/upload1/sub_1", "--limit", "1", "--all", "--json").stdout)
    assert len(both["entries"]) == 2 and both["next_cursor"] is None

    # the URL and the key found through the home (no --connect, no --key)
    r = fustor("query", "ls", "/old", "--home", str(fed["home"]), "--view", "v")
    assert r.returncode == 0 and "upload1/" in r.stdout, r.stderr


def test_query_tree_stats(fed: dict) -> None:
    r = q(fed, "tree", "/old", "--depth", "3")
    assert r.returncode == 0 and "data_0002.dat" in r.stdout, r.stderr
    st = json.loads(q(fed, "stats", "/old/upload1", "--json").stdout)
    assert st["kind"] == "dir" and st["files"] == 2 and st["size"] == 4500


def test_query_summary_exit_codes(fed: dict) -> None:
    r = q(fed, "summary", "/old/upload1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "COMPLETE" in r.stdout

    live = fed["tree"] / "live" / "upload2"
    live.mkdir(parents=True)
    with open(live / "data_0001.dat", "wb") as f:  # still open: being written
        f.write(b"z" * 100)
        f.flush()
        wait_for(lambda: q(fed, "stats", "/live/upload2/data_0001.dat").returncode == 0, 15, interval=0.1,
                 what="the new file in the view")
        r = q(fed, "summary", "/live/upload2")
        assert r.returncode == 3, r.stdout + r.stderr
        assert "WRITING" in r.stdout
        assert json.loads(q(fed, "summary", "/live/upload2", "--json").stdout)["verdict"] == "writing"

    r = q(fed, "summary", "/no/such/upload")
    assert r.returncode == 5 and "ABSENT" in r.stdout


def test_query_search_across_views(fed: dict) -> None:
    r = q(fed, "search", "upload1", "--kind", "dir", view=None)
    assert r.returncode == 0, r.stderr
    assert "/old/upload1" in r.stdout
    reply = json.loads(q(fed, "search", "upload*", "--kind", "dir", "--json", view=None).stdout)
    assert reply["views"] == ["v"]  # idle is not ready: left out
    assert {(x["view"], x["path"]) for x in reply["results"]} >= {("v", "/old/upload1")}
    assert q(fed, "suspects").returncode == 0
    r = q(fed, "blind-spots")
    assert r.returncode == 0 and "no blind spots" in r.stdout


def test_query_error_exit_codes(fed: dict) -> None:
    r = q(fed, "ls", "/", view="idle")
    assert r.returncode == 6 and "not ready" in r.stderr
    assert q(fed, "ls", "/", "--partial", view="idle").returncode == 0
    r = q(fed, "ls", "/no/such/dir")
    assert r.returncode == 7 and "not in view" in r.stderr
    r = q(fed, "stats", "/", "--json", view="nosuch")
    assert r.returncode == 7 and json.loads(r.stdout)["error"]["code"] == "not_found"
    r = q(fed, "ls", "/", view=None)  # two views and no --view
    assert r.returncode == 2 and "--view" in r.stderr

    r = fustor("query", "ls", "--connect", f"ws://127.0.0.1:{closed_port()}", "--key", READONLY_KEY)
    assert r.returncode == 2 and "cannot connect" in r.stderr
    r = fustor("query", "ls", "--connect", fed["url"], "--key", "not-a-key-0000", "--view", "v")
    assert r.returncode == 2 and "refused" in r.stderr
    r = fustor("query", "ls", "--home", str(fed["home"].parent / "nowhere"))
    assert r.returncode == 2 and "no running fusion" in r.stderr


# --- fustor demo -----------------------------------------------------------------------------------------------


def test_demo_runs_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    out_path = tmp_path / "demo.out"
    out = open(out_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "fustor", "demo", "--dir", str(work), "--interval", "0.05"],
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out.close()
    children: list[int] = []
    try:
        def running() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"demo exited with {proc.returncode}:\n{out_path.read_text()}")
            return "fustor demo is running" in out_path.read_text()

        wait_for(running, 40, interval=0.1, what="the demo to be ready")
        children = [pid_in(work / "fusion" / "fusion.state.json"), pid_in(work / "agent" / "agent.state.json")]
        assert all(children) and all(alive(p) for p in children)
        url = json.loads((work / "fusion" / "fusion.state.json").read_text())["receivers"]["main"]
        text = out_path.read_text()
        assert f"query ls /upload/submit --connect {url} --key demo-readonly-key-change-me" in text
        assert "tui --connect" in text

        r = fustor("query", "ls", "/upload/submit", "--connect", url, "--key", "demo-readonly-key-change-me")
        assert r.returncode == 0 and "entries in /upload/submit" in r.stdout, r.stderr
        assert (work / "data" / "upload" / "submit").is_dir()

        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, out_path.read_text()
        assert time.monotonic() - t0 < 8
        wait_for(lambda: not any(alive(p) for p in children), 5, what="fusion and agent to be gone")
        assert "fustor demo: stopped" in out_path.read_text()
        assert not work.exists()  # no --keep
    finally:
        killpg(proc.pid)
        for p in children:
            killpg(p)
        proc.wait(10)


# --- fustor config migrate -------------------------------------------------------------------------------------


def test_config_migrate_old_home(tmp_path: Path) -> None:
    home = tmp_path / "agent"
    (home / "syncs-config").mkdir(parents=True)
    (home / "sources-config.yaml").write_text(f"sources:\n  share:\n    uri: {tmp_path}\n")
    (home / "pushers-config.yaml").write_text(
        "# where events go\npushers:\n  fusion:\n    url: ws://127.0.0.1:7700\n    key: some-agent-key-0001\n")
    (home / "syncs-config" / "main.yaml").write_text("source: share\npusher: fusion  # the sender\n")

    r = fustor("config", "migrate", "--home", str(home))
    assert r.returncode == 0, r.stderr
    assert "pushers-config.yaml -> senders-config.yaml" in r.stdout
    assert "syncs-config/main.yaml -> agent-pipes-config/main.yaml" in r.stdout
    assert (home / "senders-config.yaml").read_text().startswith("# where events go\nsenders:")
    assert "sender: fusion  # the sender" in (home / "agent-pipes-config" / "main.yaml").read_text()
    assert not (home / "pushers-config.yaml").exists()

    r = fustor("config", "migrate", "--home", str(home))
    assert r.returncode == 0 and "nothing to migrate" in r.stdout
    r = fustor("config", "migrate", "--home", str(tmp_path / "nowhere"))
    assert r.returncode == 2
