"""SVG snapshots at a fixed terminal size with the half-block renderer (deterministic).

Sync tests on purpose: ``snap_compare`` runs the app with ``asyncio.run``.
Update baselines with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import TERMINAL, make_app
from .test_app import settle


def scenario(*keys: str):  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        app = pilot.app
        await settle(pilot, app)
        for key in keys:
            await pilot.press(key)
            await settle(pilot, app)
        # Wall-clock times are the only non-deterministic text on screen.
        for session in app.main.sessions.values():
            for attempt in session.ordered():
                attempt.seconds = 0.0
        app.main.update_panels()
        app.clear_notifications()
        await pilot.pause()

    return run_before


@pytest.fixture
def relative_workdir(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(workdir)  # paths on screen are then the same on every machine
    return workdir


def test_snapshot_batch_start(relative_workdir: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(Path("."), Path("input"))
    assert snap_compare(app, terminal_size=TERMINAL, run_before=scenario())


def test_snapshot_wrong_grid_zoomed_with_grid_overlay(relative_workdir: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(Path("."), Path("input"))
    keys = ("right_square_bracket", "z", "z", "g")
    assert snap_compare(app, terminal_size=TERMINAL, run_before=scenario(*keys))


def test_snapshot_heatmap_and_verdict(relative_workdir: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(Path("."), Path("input"))
    assert snap_compare(app, terminal_size=TERMINAL, run_before=scenario("n", "equals_sign", "h", "x"))


def test_snapshot_help(relative_workdir: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(Path("."), Path("input"))
    assert snap_compare(app, terminal_size=TERMINAL, run_before=scenario("question_mark"))
