"""Keys 4 (transparent background) and 5 (holes) in `perfecter tui`: state, result, panel, save."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pixelperfecter.core import synth
from pixelperfecter.core.io import save_png
from pixelperfecter.core.types import ReconstructParams
from pixelperfecter.tui import session as model
from pixelperfecter.tui.widgets.panels import MetricsPanel, ParamsPanel

from .conftest import CELL, TERMINAL, make_app, text_of
from .test_app import settle

BG = (230, 215, 190)


def subject_on_background(path: Path) -> np.ndarray:
    """A shaded subject with an enclosed 2x2 background-coloured gap, exact 8 px cells; returns its mask."""
    rng = np.random.default_rng(5)
    subject = synth.shaded_sprite(rng, 20, 16, transparent=True)
    fg = subject[..., 3] > 0
    sprite = np.zeros((16, 20, 4), np.uint8)
    sprite[..., :3] = BG
    sprite[..., 3] = 255
    sprite[fg] = subject[fg]
    y, x = next((y, x) for y in range(13) for x in range(17) if fg[y : y + 4, x : x + 4].all())
    sprite[y + 1 : y + 3, x + 1 : x + 3, :3] = BG
    save_png(path, np.repeat(np.repeat(sprite, CELL, 0), CELL, 1), keep_alpha=False)
    return fg


def test_toggle_semantics() -> None:
    p = ReconstructParams()
    on = model.toggle(p, "transparent")
    assert (on.transparent, on.holes) == ("auto", False)
    holes = model.toggle(p, "holes")  # holes is part of transparency: it turns it on
    assert (holes.transparent, holes.holes) == ("auto", True)
    off = model.toggle(holes, "transparent")  # and goes with it
    assert off == p
    assert model.toggle(model.toggle(on, "holes"), "holes") == on


async def test_keys_4_and_5_rerun_and_show_and_save(tmp_path: Path) -> None:
    (tmp_path / "input").mkdir()
    fg = subject_on_background(tmp_path / "input" / "item.png")
    app = make_app(tmp_path, tmp_path / "input" / "item.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        main = app.main
        before = main.shown
        assert before.params.transparent is None and (before.result.sprite[..., 3] == 255).all()
        off_row = next(line for line in text_of(main.query_one(ParamsPanel)).splitlines() if "4 transparent" in line)
        assert "off" in off_row and "auto" not in off_row and "background" not in text_of(main.query_one(MetricsPanel))
        await pilot.press("4")
        await settle(pilot, app)
        on = main.shown
        assert on.params.transparent == "auto" and on.result.params == on.params
        clear = on.result.sprite[..., 3] == 0
        assert clear.any() and not clear[fg].any()
        assert on.result.has_alpha
        def switch_row() -> str:
            return next(line for line in text_of(main.query_one(ParamsPanel)).splitlines() if "4 transparent" in line)

        assert "auto" in switch_row() and "holes off" in switch_row()
        assert "#e6d7be" in text_of(main.query_one(MetricsPanel))
        await pilot.press("5")
        await settle(pilot, app)
        holes = main.shown
        assert holes.params.holes and int((holes.result.sprite[..., 3] == 0).sum()) == int(clear.sum()) + 4
        assert "holes on" in switch_row()
        await pilot.press("s")
        await pilot.pause()
    with Image.open(tmp_path / "output" / "item.png") as im:
        assert im.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(im)[..., 3], holes.result.sprite[..., 3])
    row = pd.read_csv(tmp_path / "output" / "metrics.csv", keep_default_na=False).iloc[0]
    assert row["background"] == "#e6d7be" and int(row["transparent_cells"]) == int(clear.sum()) + 4


async def test_reset_turns_transparency_off(tmp_path: Path) -> None:
    (tmp_path / "input").mkdir()
    subject_on_background(tmp_path / "input" / "item.png")
    app = make_app(tmp_path, tmp_path / "input" / "item.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press("5")
        await settle(pilot, app)
        assert app.main.shown.params.holes
        await pilot.press("r")
        await settle(pilot, app)
        assert app.main.shown.params == ReconstructParams()
        assert (app.main.shown.result.sprite[..., 3] == 255).all()
