"""SVG snapshots at fixed terminal sizes with the half-block renderer (deterministic).

The images are fixed hand-drawn sprites (``known.py``) and the core's ``reconstruct`` is
replaced by ``known.fake_reconstruct``, so the snapshots check the TUI, not the detector.
Sync tests on purpose: ``snap_compare`` runs the app with ``asyncio.run``.
Update baselines with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and LOOK at them
(``rsvg-convert -b white x.svg -o x.png``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pixelperfecter.core.io import save_png
from pixelperfecter.tui import session as model

from . import known
from .conftest import TERMINAL, make_app
from .test_app import settle

SMALL = (100, 30)


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
def known_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "input").mkdir()
    for name in known.SPRITES:
        save_png(tmp_path / "input" / f"{name}.png", known.image(name), keep_alpha=False)
    monkeypatch.setattr(model, "reconstruct", known.fake_reconstruct)
    monkeypatch.chdir(tmp_path)  # paths on screen are then the same on every machine
    return tmp_path


def test_snapshot_batch_start(known_workdir: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(Path("."), Path("input"))
    assert snap_compare(app, terminal_size=TERMINAL, run_before=scenario())


def test_snapshot_wrong_grid_zoomed_with_grid_overlay(known_workdir: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(Path("."), Path("input"))
    keys = ("right_curly_bracket", "right_curly_bracket", "z", "z", "g")  # cell 10 on an 8-px sprite
    assert snap_compare(app, terminal_size=TERMINAL, run_before=scenario(*keys))


def test_snapshot_heatmap_and_verdict(known_workdir: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(Path("."), Path("input"))
    assert snap_compare(app, terminal_size=TERMINAL, run_before=scenario("n", "right_curly_bracket", "h", "x"))


def test_snapshot_help(known_workdir: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(Path("."), Path("input"))
    assert snap_compare(app, terminal_size=TERMINAL, run_before=scenario("question_mark"))


def test_snapshot_compact_100x30(known_workdir: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(Path("."), Path("input/c_shield.png"))
    assert snap_compare(app, terminal_size=SMALL, run_before=scenario("right_curly_bracket"))


def test_snapshot_compact_enlarged_diff(known_workdir: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(Path("."), Path("input/a_heart.png"))
    assert snap_compare(app, terminal_size=SMALL, run_before=scenario("right_curly_bracket", "f", "f"))
