"""The console's behaviour on fixed data (no process): paging, keys, mouse, palette, themes."""

from __future__ import annotations

import asyncio

from textual.command import CommandPalette
from textual.widgets import DataTable

from fustor.tui.app import FustorApp, FustorCommands
from fustor.tui.fake import UTC, FakeSource, fake_clock
from fustor.tui.screens import BrowserScreen, HelpScreen
from fustor.tui.screenshots import screen_text, settle


def app_on(src: FakeSource, **kw) -> FustorApp:
    return FustorApp(src, kind=src.kind, clock=fake_clock, tz=UTC, blink=False, browse_refresh=3600, job_poll=0.01,
                     **kw)  # fmt: skip


def test_a_directory_of_100k_entries_opens_a_page_at_a_time() -> None:
    src = FakeSource(big_entries=100_000)

    async def main() -> None:
        app = app_on(src)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            app.open_view("archive", "/big")
            await settle(pilot, 6)
            scr: BrowserScreen = app.get_screen("browser")  # type: ignore[assignment]
            table = scr.query_one("#listing", DataTable)
            assert scr.pager.total == 100_000
            assert table.row_count == scr.pager.page_size == 200
            ls_calls = [p for op, p in src.calls if op == "query.ls" and p.get("path") == "/big"]
            assert ls_calls and all(p["limit"] == 200 for p in ls_calls) and ls_calls[0]["sort"] == "size"
            # Scrolling down pages through the directory; the widget never holds more than two pages.
            seen_max = 0
            for _ in range(12):
                await pilot.press("pagedown", "end")
                await settle(pilot)
                seen_max = max(seen_max, table.row_count)
            assert seen_max <= 400
            assert scr.pager.offset() >= 1000  # it moved on through the directory
            assert "of 100.0k" in screen_text(app)
            # Home goes back up, page by page, with the remembered cursors.
            for _ in range(20):
                await pilot.press("home")
                await settle(pilot)
            assert scr.pager.offset() == 0 and table.row_count <= 400

    asyncio.run(main())


def test_sorting_keys_ask_the_server_and_toggle_the_order() -> None:
    src = FakeSource(big_entries=500)

    async def main() -> None:
        app = app_on(src)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            app.open_view("archive", "/")
            await settle(pilot, 6)
            scr: BrowserScreen = app.get_screen("browser")  # type: ignore[assignment]
            assert scr._shown[0] == "tmp"  # 2 GB core file: biggest first
            await pilot.press("n")
            await settle(pilot)
            assert scr._shown == ["big", "projects", "tmp", "upload"]
            await pilot.press("n")
            await settle(pilot)
            assert scr._shown == ["upload", "tmp", "projects", "big"]
            await pilot.press("C")
            await settle(pilot)
            assert scr._shown[0] == "big"
            last = src.calls[-1]
            assert last[0] in ("query.ls", "query.summary", "query.stats", "query.blind_spots")
            assert any(op == "query.ls" and p.get("sort") == "count" and p.get("reverse") for op, p in src.calls)

    asyncio.run(main())


def test_mouse_tabs_and_headers_and_command_line_and_help() -> None:
    src = FakeSource()

    async def main() -> None:
        app = app_on(src)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            # A click on the "Sessions" tab of the top bar.
            await pilot.click("#topbar", offset=(20, 0))
            await settle(pilot)
            assert app.screen.NAME == "sessions"  # type: ignore[attr-defined]
            # A click on a column header sorts by it; again reverses.
            table = app.screen.query_one("#sessions-table")
            table.sort_by("heartbeat")  # type: ignore[attr-defined]
            await settle(pilot)
            assert table.current_key() is not None  # type: ignore[attr-defined]
            assert [r.cells["agent"] for r in table._rows] and "Heartbeat ↓" in screen_text(app)  # type: ignore
            # The : command line.
            await pilot.press("colon", *list("view archive /upload/submit"), "enter")
            await settle(pilot, 6)
            scr: BrowserScreen = app.get_screen("browser")  # type: ignore[assignment]
            assert app.screen is scr and scr.pager.path == "/upload/submit"
            await pilot.press("colon", *list("bogus"), "enter")
            await settle(pilot)
            assert app.screen is scr  # an unknown command is a notice, nothing else
            # ? shows the keys of this screen.
            await pilot.press("question_mark")
            await settle(pilot)
            assert isinstance(app.screen, HelpScreen) and "force a real-time rescan" in screen_text(app)
            await pilot.press("escape")
            await settle(pilot)
            assert app.screen is scr
            # Themes switch (Textual's themes).
            await pilot.press("colon", *list("theme textual-light"), "enter")
            await settle(pilot)
            assert app.theme == "textual-light"
            # c copies the highlighted path; r starts a rescan whose job completes.
            await pilot.press("c")
            assert app.last_copied and app.last_copied.startswith("/upload/submit/")
            await pilot.press("r")
            for _ in range(50):
                await settle(pilot)
                if scr.job is not None and scr.job.done:
                    break
            assert scr.job is not None and scr.job.state == "complete"
            assert [s for s, _ in scr.job_log][-2:] == ["pending", "complete"]

    asyncio.run(main())


def test_command_palette_offers_fustor_commands() -> None:
    src = FakeSource()

    async def main() -> None:
        app = app_on(src)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            assert FustorCommands in app.COMMANDS
            await pilot.press("ctrl+p")
            await settle(pilot)
            assert CommandPalette.is_open(app)
            await pilot.press(*list("browse view arch"))
            await pilot.pause(0.5)
            await settle(pilot)
            assert "Browse view archive" in screen_text(app)
            await pilot.press("enter")
            await settle(pilot, 8)
            scr: BrowserScreen = app.get_screen("browser")  # type: ignore[assignment]
            assert app.screen is scr and scr.view == "archive"

    asyncio.run(main())


def test_readonly_console_refuses_rescans_and_writes() -> None:
    src = FakeSource(access="readonly")

    async def main() -> None:
        app = app_on(src)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            assert app.readonly and "READ-ONLY" in screen_text(app)
            app.open_view("archive", "/upload/submit")
            await settle(pilot, 6)
            await pilot.press("r")
            await settle(pilot)
            assert not any(op == "query.summary" and p.get("force_real_time") for op, p in src.calls)
            app.run_command(":config views-config/archive.yaml")
            await settle(pilot, 6)
            cfg = app.get_screen("config")
            ed = cfg.query_one("#cfg-editor")
            assert ed.read_only  # type: ignore[attr-defined]
            ed.text = ed.text.replace("600", "900")  # type: ignore[attr-defined]
            await pilot.press("ctrl+s")
            await settle(pilot)
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert not any(op == "config.write" for op, _ in src.calls)
            assert cfg.state == "reviewed"  # type: ignore[attr-defined]

    asyncio.run(main())


def test_agent_console_has_agent_screens_only() -> None:
    src = FakeSource("agent")

    async def main() -> None:
        app = app_on(src)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert app.screen.NAME == "agent"  # type: ignore[attr-defined]
            app.run_command(":pipes")
            await settle(pilot)
            assert app.screen.NAME == "agent"  # type: ignore[attr-defined]
            app.run_command(":view archive")
            await settle(pilot)
            assert app.screen.NAME == "agent"  # type: ignore[attr-defined]
            await pilot.press("2")
            await settle(pilot, 6)
            assert app.screen.NAME == "config" and "agent.yaml" in screen_text(app)  # type: ignore[attr-defined]

    asyncio.run(main())
