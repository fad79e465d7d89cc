"""The console (Pilot, headless) against a real fusion and a real agent on a tmp tree.

Each test starts its own fusion (port 0, then pinned for restarts) and agent,
each in its own process group, killed at the end. Waits are conditions with
deadlines (``until``), never bare sleeps.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fustor.testing.agentproc import AGENT_CONTROL_KEY, AgentProcess, make_agent_home
from fustor.testing.processes import ADMIN_KEY, READONLY_KEY, FusionProcess, make_fusion_home
from fustor.tui.app import FustorApp
from fustor.tui.attach import resolve
from fustor.tui.connection import ConnectionManager
from fustor.tui.screens import BrowserScreen, ConfigScreen
from fustor.tui.screenshots import screen_text

from .conftest import run

pytestmark = pytest.mark.integration

SIZE = (100, 30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "share"
        for d in ("a/b", "a/c", "z"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "a/b/one.dat").write_bytes(b"x" * 1000)
        (self.root / "a/c/two.dat").write_bytes(b"y" * 20)
        (self.root / "a/readme.txt").write_text("hello")
        (self.root / "z/zz.bin").write_bytes(b"z" * 5)
        # A fixed port (not 0), so that a restarted fusion listens where the console reconnects.
        self.fusion = FusionProcess(make_fusion_home(tmp / "fusion", port=free_port()))
        self.agent: AgentProcess | None = None

    def start(self) -> "Cluster":
        self.fusion.start()
        home = make_agent_home(self.tmp / "agent", root=self.root, fusion_url=self.fusion.url, agent_id="agent-1")
        self.agent = AgentProcess(home).start()
        return self

    def stop(self) -> None:
        if self.agent is not None:
            self.agent.kill()
        self.fusion.kill()


@pytest.fixture
def cluster(tmp_path: Path):
    c = Cluster(tmp_path)
    try:
        yield c.start()
    finally:
        c.stop()


def console(url: str, key: str, kind: str = "fusion", **kw: Any) -> FustorApp:
    src = ConnectionManager(url, key, backoff_initial=0.2, backoff_max=1.0)
    return FustorApp(src, kind=kind, browse_refresh=0.3, job_poll=0.1, blink=False, **kw)


async def until(pilot: Any, predicate: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; the screen:\n"
                                 f"{screen_text(pilot.app)}")
        await pilot.pause(0.05)


def on_screen(pilot: Any, text: str) -> bool:
    return text in screen_text(pilot.app)


async def see(pilot: Any, text: str, timeout: float = 20.0) -> None:
    await until(pilot, lambda: on_screen(pilot, text), f"{text!r} on screen", timeout)


def browser(app: FustorApp) -> BrowserScreen:
    return app.get_screen("browser")  # type: ignore[return-value]


async def command(pilot: Any, text: str) -> None:
    await pilot.press("colon")
    await pilot.pause()
    await pilot.press(*list(text))
    await pilot.press("enter")
    await pilot.pause()


async def select_row(pilot: Any, scr: BrowserScreen, name: str) -> None:
    await until(pilot, lambda: name in scr._shown, f"{name} in the listing")
    table = scr.query_one("#listing")
    table.move_cursor(row=scr._shown.index(name), animate=False)  # type: ignore[attr-defined]
    await pilot.pause()


def ready_view(app: FustorApp, view: str = "v") -> bool:
    return any(v.get("view") == view and v.get("ready") for v in (app.source.status or {}).get("views", []))


@pytest.mark.timeout(120)
def test_navigate_descend_see_new_file_and_filter(cluster: Cluster) -> None:
    async def main() -> None:
        app = console(cluster.fusion.url, ADMIN_KEY)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: ready_view(app), "view v ready")
            await until(pilot, lambda: on_screen(pilot, "agent-1") and on_screen(pilot, "LEADER"),
                        "the agent's session on the overview")
            # Navigate to the view from the overview: the views table has the focus; Enter opens it.
            await pilot.press("enter")
            scr = browser(app)
            await until(pilot, lambda: app.screen is scr and scr.view == "v", "the browser on view v")
            await until(pilot, lambda: {"a", "z"} <= set(scr._shown), "the root listing")
            # Sorted by size (biggest first): a/ (1,025 bytes) before z/ (5 bytes).
            assert scr._shown.index("a") < scr._shown.index("z")
            await select_row(pilot, scr, "a")
            await pilot.press("enter")
            await until(pilot, lambda: scr.pager.path == "/a" and {"b", "c", "readme.txt"} <= set(scr._shown),
                        "the listing of /a")
            await see(pilot, "v:/a")  # breadcrumbs
            await until(pilot, lambda: scr.summary_path is not None, "the completeness panel")
            await see(pilot, "Completeness")
            # A file written now shows up by itself (live refresh, no key pressed).
            (cluster.root / "a" / "fresh-upload.dat").write_bytes(b"n" * 50_000)
            await until(pilot, lambda: "fresh-upload.dat" in scr._shown, "the new file in the listing")
            await until(pilot, lambda: on_screen(pilot, "fresh-upload.dat"), "the new file on screen")
            # Filter: a regex keeps the matches, ! inverts, esc clears.
            await pilot.press("slash", *list("fresh"), "enter")
            await until(pilot, lambda: scr._shown == ["fresh-upload.dat"], "only the matching row")
            await see(pilot, "filter /fresh/")
            await pilot.press("slash", "ctrl+u", *list("!fresh|read"), "enter")
            await until(pilot, lambda: set(scr._shown) == {"b", "c"}, "the inverted filter")
            await pilot.press("escape")
            await until(pilot, lambda: {"b", "c", "readme.txt", "fresh-upload.dat"} <= set(scr._shown),
                        "every row again")
            # Backspace goes up, with the cursor on the directory we came from.
            await pilot.press("backspace")
            await until(pilot, lambda: scr.pager.path == "/" and "a" in scr._shown, "the root again")
            assert scr._highlighted_path() == "/a"
            # c copies the highlighted path.
            await pilot.press("c")
            assert app.last_copied == "/a"
            # The : command line and search across views.
            await command(pilot, "sessions")
            await until(pilot, lambda: app.screen.NAME == "sessions" and on_screen(pilot, "agent-1"), "sessions")
            await command(pilot, "search fresh-upload.dat")
            await until(pilot, lambda: on_screen(pilot, "/a/fresh-upload.dat"), "the search result")
            await pilot.press("enter")
            await until(pilot, lambda: app.screen is scr and scr.pager.path == "/a"
                        and scr._highlighted_path() == "/a/fresh-upload.dat", "the result opened in the browser")

    run(main(), timeout=100)


@pytest.mark.timeout(120)
def test_rescan_shows_the_job_until_it_completes(cluster: Cluster) -> None:
    async def main() -> None:
        app = console(cluster.fusion.url, ADMIN_KEY)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: ready_view(app), "view v ready")
            await command(pilot, "view v /a")
            scr = browser(app)
            await until(pilot, lambda: scr.pager.path == "/a" and "b" in scr._shown, "the listing of /a")
            await select_row(pilot, scr, "b")
            await pilot.press("r")
            await until(pilot, lambda: scr.job is not None and scr.job.done, "the rescan job to finish")
            states = [state for state, _ in scr.job_log]
            # What the info line showed: the job pending (with its id), then complete.
            assert states[-2:] == ["pending", "complete"], scr.job_log
            assert scr.job_log[-2][1].startswith("rescan of /a/b: job ") and "pending" in scr.job_log[-2][1]
            assert scr.job is not None and scr.job.state == "complete", scr.job
            assert scr.job.path == "/a/b" and scr.job.job_id
            await see(pilot, "complete")
            await see(pilot, scr.job.job_id)

    run(main(), timeout=100)


@pytest.mark.timeout(120)
def test_config_edit_valid_is_written_and_reloaded_invalid_is_refused(cluster: Cluster) -> None:
    view_file = cluster.fusion.home / "views-config" / "v.yaml"
    before = view_file.read_text()
    assert before.startswith("# test view") and "sentinel_interval: 1\n" in before

    async def main() -> None:
        app = console(cluster.fusion.url, ADMIN_KEY)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: ready_view(app), "view v ready")
            await command(pilot, "config views-config/v.yaml")
            scr: ConfigScreen = app.get_screen("config")  # type: ignore[assignment]
            await until(pilot, lambda: scr.name_open == "views-config/v.yaml", "the file in the editor")
            ed = scr.query_one("#cfg-editor")
            assert ed.text == before  # type: ignore[attr-defined]
            # A valid edit: the diff first, nothing written yet; then written with the comment kept.
            ed.text = before.replace("sentinel_interval: 1\n", "sentinel_interval: 2\n")  # type: ignore[attr-defined]
            await pilot.pause()
            await pilot.press("ctrl+s")
            await until(pilot, lambda: scr.state == "reviewed", "the diff")
            assert any(line == "+sentinel_interval: 2" for line, _ in scr.result_lines), scr.result_lines
            await until(pilot, lambda: on_screen(pilot, "+sentinel_interval: 2"), "the diff on screen")
            assert view_file.read_text() == before
            await pilot.press("ctrl+s")
            await until(pilot, lambda: scr.state == "applied", "the write")
            after = view_file.read_text()
            assert after == before.replace("sentinel_interval: 1\n", "sentinel_interval: 2\n")
            assert after.startswith("# test view")
            assert scr.last_write and "v" in scr.last_write["reload"]["views_changed"]
            await see(pilot, "views changed: v")
            # Invalid YAML: the error is shown, the file stays as it is.
            ed.text = after + "oops: [unclosed\n"  # type: ignore[attr-defined]
            await pilot.pause()
            await pilot.press("ctrl+s")
            await until(pilot, lambda: scr.state == "invalid", "the YAML error")
            await see(pilot, "not valid")
            # A schema error (an unknown key) is refused too, even on a second ^s.
            ed.text = after + "no_such_setting: 3\n"  # type: ignore[attr-defined]
            await pilot.pause()
            await pilot.press("ctrl+s")
            await until(pilot, lambda: scr.state == "invalid" and any("no_such_setting" in line
                                                                      for line, _ in scr.result_lines),
                        "the schema error")
            await pilot.press("ctrl+s")
            await pilot.pause(0.3)
            assert scr.state == "invalid"
            assert view_file.read_text() == after
            # esc reverts the editor to the file.
            await pilot.press("escape")
            assert ed.text == after  # type: ignore[attr-defined]

    run(main(), timeout=100)


@pytest.mark.timeout(120)
def test_readonly_key_disables_writes_and_rescans(cluster: Cluster) -> None:
    view_file = cluster.fusion.home / "views-config" / "v.yaml"
    before = view_file.read_text()

    async def main() -> None:
        app = console(cluster.fusion.url, READONLY_KEY)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: ready_view(app) and app.readonly, "a read-only console")
            await see(pilot, "READ-ONLY")
            await command(pilot, "view v")
            scr = browser(app)
            await until(pilot, lambda: "a" in scr._shown, "the listing")
            await pilot.press("r")
            await pilot.pause(0.2)
            assert scr.job is None
            await command(pilot, "config views-config/v.yaml")
            cfg: ConfigScreen = app.get_screen("config")  # type: ignore[assignment]
            await until(pilot, lambda: cfg.name_open == "views-config/v.yaml", "the file")
            ed = cfg.query_one("#cfg-editor")
            assert ed.read_only  # type: ignore[attr-defined]
            ed.text = before.replace("sentinel_interval: 1", "sentinel_interval: 2")  # type: ignore[attr-defined]
            await pilot.press("ctrl+s")
            await until(pilot, lambda: cfg.state == "reviewed", "validation with a read-only key")
            await pilot.press("ctrl+s")
            await pilot.pause(0.3)
            assert cfg.state == "reviewed" and view_file.read_text() == before
            await see(pilot, "read-only")

    run(main(), timeout=100)


@pytest.mark.timeout(120)
def test_survives_fusion_killed_and_restarted(cluster: Cluster) -> None:
    async def main() -> None:
        app = console(cluster.fusion.url, ADMIN_KEY)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: ready_view(app), "view v ready")
            await command(pilot, "view v /a")
            scr = browser(app)
            await until(pilot, lambda: "b" in scr._shown, "the listing")
            cluster.fusion.kill()
            await until(pilot, lambda: re.search(r"disconnected, retrying in \d+ s", screen_text(app)),
                        "the status line to say disconnected")
            # Still responsive: keys work, screens switch, nothing crashes.
            await pilot.press("down")
            await command(pilot, "sessions")
            await until(pilot, lambda: app.screen.NAME == "sessions", "the sessions screen while disconnected")
            await until(pilot, lambda: on_screen(pilot, "disconnected"), "the status line on every screen")
            await pilot.press("4")
            await until(pilot, lambda: app.screen is scr, "the browser while disconnected")
            await pilot.press("g")  # a refresh while disconnected fails quietly
            await pilot.pause(0.3)
            cluster.fusion.start()
            await until(pilot, lambda: app.source.state().state == "connected" and on_screen(pilot, "● connected"),
                        "the reconnect", timeout=30)
            await until(pilot, lambda: ready_view(app), "view v ready again (the agent re-sent its snapshot)",
                        timeout=30)
            await pilot.press("g")
            await until(pilot, lambda: "b" in scr._shown and not scr.error, "the listing again", timeout=30)
            assert app.source.connects >= 2  # type: ignore[attr-defined]

    run(main(), timeout=110)


@pytest.mark.timeout(120)
def test_agent_screen_and_attach_from_homes(cluster: Cluster) -> None:
    assert cluster.agent is not None
    # The homes name the URL and the keys (what plain `fustor tui` and `fustor tui --agent` use).
    t = resolve(home=cluster.fusion.home)
    assert (t.url, t.key, t.kind, t.access) == (cluster.fusion.url, ADMIN_KEY, "fusion", "admin")
    t = resolve(home=cluster.fusion.home, readonly=True)
    assert (t.key, t.access) == (READONLY_KEY, "readonly")
    ta = resolve(agent=True, home=cluster.agent.home)
    assert (ta.url, ta.key, ta.kind) == (cluster.agent.control_url, AGENT_CONTROL_KEY, "agent")

    async def main() -> None:
        app = console(ta.url, ta.key, kind="agent")
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.screen.NAME == "agent" and on_screen(pilot, "share → fusion"),
                        "the agent's pipe")
            await until(pilot, lambda: on_screen(pilot, "LEADER") and on_screen(pilot, "Watches"), "role and watches")
            text = screen_text(app)
            assert "main" in text and "Drift" in text and "Sentinel" in text
            await command(pilot, "config")
            await until(pilot, lambda: on_screen(pilot, "agent.yaml"), "the agent's config files")

    run(main(), timeout=100)


def test_unknown_kind_from_connect_switches_to_the_agent_screen(cluster: Cluster) -> None:
    """``--connect`` does not say what is there: the hello does."""
    assert cluster.agent is not None and cluster.agent.control_url

    async def main() -> None:
        app = console(cluster.agent.control_url, AGENT_CONTROL_KEY, kind="fusion")  # type: ignore[union-attr]
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.kind == "agent" and app.screen.NAME == "agent", "the agent screen")

    run(main(), timeout=60)




@pytest.mark.timeout(120)
def test_benchmark_small_run_ends_with_its_figures() -> None:
    """benchmarks/tui.py end to end on a small directory and a light load (no timing asserted)."""
    import json
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "tui.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--entries", "1500", "--rate", "3000", "--batch", "500", "--keys", "15",
         "--opens", "1", "--load-seconds", "6"], capture_output=True, text=True, timeout=110, cwd=script.parents[1],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("open_dir_10k_ms", "keypress_to_paint_ms_p99", "keypress_to_paint_ms_p50", "load_events_per_s"):
        assert isinstance(figures[key], (int, float)) and figures[key] > 0, (key, figures)
    assert figures["keys"] == 15 and figures["rows_in_widget_max"] <= 400
