"""Snapshots of the console's main screens on fixed data (pytest-textual-snapshot).

The app runs on :class:`fustor.tui.fake.FakeSource` with the clock fixed and
times in UTC; :data:`fustor.tui.screenshots.SHOTS` says what each snapshot
shows (the same shots make ``screenshots/*.svg``). After a deliberate change
of the screens: ``pytest tests/tui --snapshot-update``, look at the SVGs, commit.
"""

from __future__ import annotations

import pytest

from fustor.tui.screenshots import SHOTS

SHOT = {s.name: s for s in SHOTS}


@pytest.mark.parametrize("name", [s.name for s in SHOTS])
def test_screen(snap_compare, name: str) -> None:
    shot = SHOT[name]
    assert snap_compare(shot.app(), run_before=shot.prepare, terminal_size=shot.size)


def test_disconnected_status_line(snap_compare) -> None:
    """The status line while the process is away (80×24)."""
    from fustor.tui.screenshots import make_app, settle

    app = make_app()
    app.source.connected = False  # type: ignore[attr-defined]

    async def prepare(pilot) -> None:
        await settle(pilot)

    assert snap_compare(app, run_before=prepare, terminal_size=(80, 24))
