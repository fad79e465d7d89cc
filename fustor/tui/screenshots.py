"""Pictures of the console's main screens, from the current code.

    python -m fustor.tui.screenshots [--out screenshots] [--only NAME ...]

runs the console headless on the fixed data of :class:`fustor.tui.fake.FakeSource`
(clock fixed, times in UTC) and writes one SVG per screen into ``screenshots/``.
The snapshot tests (``tests/tui/test_snapshots.py``) drive the same
:data:`SHOTS`, so the README's pictures and the tested screens are the same.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from textual.pilot import Pilot

from .app import FustorApp
from .fake import UTC, FakeSource, fake_clock


def make_app(kind: str = "fusion", *, start: str | None = None, readonly: bool = False, **kw) -> FustorApp:
    """The console on fake data: fixed clock and time zone, no blinking cursors, no live refresh timers."""
    src = FakeSource(kind, access="readonly" if readonly else "admin")
    kw.setdefault("blink", False)
    return FustorApp(src, kind=kind, clock=fake_clock, tz=UTC, start=start, browse_refresh=3600, job_poll=0.01,
                     **kw)  # fmt: skip


async def settle(pilot: Pilot, rounds: int = 4, timeout: float = 10.0) -> None:
    """Let workers finish and the screen catch up (fake replies are immediate).

    Polls rather than awaiting the workers: one may be cancelled by a newer one
    of its (exclusive) group, which is normal and not an error here."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for _ in range(rounds):
        await pilot.pause()
        while any(not w.is_finished for w in pilot.app.workers) and loop.time() < deadline:
            await asyncio.sleep(0.005)
    await pilot.pause()


def screen_text(app: FustorApp) -> str:
    """The screen as plain text (what a person would read), for tests."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, record=True,
                      legacy_windows=False, safe_box=False, color_system=None)  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


# --- the shots ----------------------------------------------------------------------------


async def _overview(pilot: Pilot) -> None:
    await settle(pilot)


async def _sessions(pilot: Pilot) -> None:
    await settle(pilot)
    pilot.app.action_goto("sessions")
    await settle(pilot)


async def _pipes(pilot: Pilot) -> None:
    await settle(pilot)
    pilot.app.action_goto("pipes")
    await settle(pilot)


async def _browser(pilot: Pilot) -> None:
    await settle(pilot)
    pilot.app.open_view("archive", "/upload/submit", select="S1234")  # type: ignore[attr-defined]
    await settle(pilot, 6)


async def _search(pilot: Pilot) -> None:
    await settle(pilot)
    pilot.app.action_search("S12*")  # type: ignore[attr-defined]
    await settle(pilot, 6)


async def _agent(pilot: Pilot) -> None:
    await settle(pilot)


async def _config(pilot: Pilot) -> None:
    await settle(pilot)
    app: FustorApp = pilot.app  # type: ignore[assignment]
    app.action_goto("config")
    await settle(pilot)
    scr = app.get_screen("config")
    scr.open_file("views-config/archive.yaml")  # type: ignore[attr-defined]
    await settle(pilot)
    ed = scr.query_one("#cfg-editor")
    ed.text = ed.text.replace("hot_file_threshold: 120", "hot_file_threshold: 300").replace(  # type: ignore
        "audit_interval: 600\n", "audit_interval: 900\nlive_mode: true\n")
    await settle(pilot)
    await pilot.press("ctrl+s")
    await settle(pilot)


async def _help(pilot: Pilot) -> None:
    await settle(pilot)
    pilot.app.open_view("archive", "/upload/submit")  # type: ignore[attr-defined]
    await settle(pilot, 6)
    await pilot.press("question_mark")
    await settle(pilot)


@dataclass(frozen=True)
class Shot:
    name: str
    caption: str
    kind: str
    prepare: Callable[[Pilot], Awaitable[None]]
    size: tuple[int, int] = (100, 30)

    def app(self) -> FustorApp:
        return make_app(self.kind)


SHOTS: tuple[Shot, ...] = (
    Shot("overview", "Overview: views (ready or why not), events/s, audit progress, agent sessions", "fusion",
         _overview),
    Shot("overview-80x24", "The overview at 80×24", "fusion", _overview, (80, 24)),
    Shot("sessions", "Sessions: leader/follower badges, heartbeat age, events/s; sortable", "fusion", _sessions),
    Shot("pipes", "Fusion pipes: queue, rows applied, events/s, errors; sortable", "fusion", _pipes),
    Shot("browser", "View browser: ncdu-style listing, flags, and the completeness panel", "fusion", _browser),
    Shot("search", "Search across views: where did this submission land?", "fusion", _search),
    Shot("agent", "Agent: pipes, watch manager, drift, audit progress, last sentinel run", "agent", _agent),
    Shot("config", "Config editor: validated by the process, the diff before it is written", "fusion", _config),
    Shot("help", "Help: the keys of the current screen", "fusion", _help),
)  # fmt: skip


async def take(shot: Shot) -> str:
    app = shot.app()
    async with app.run_test(size=shot.size) as pilot:
        await shot.prepare(pilot)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        svg = app.export_screenshot(title=f"fustor tui — {shot.name}")
    return svg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fustor.tui.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    parser.add_argument("--only", nargs="*", default=None, help="shot names (default: all)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for shot in SHOTS:
        if args.only and shot.name not in args.only:
            continue
        svg = asyncio.run(take(shot))
        path = args.out / f"{shot.name}.svg"
        path.write_text(svg, encoding="utf-8")
        print(f"{path}: {shot.caption}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
