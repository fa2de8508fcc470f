"""Key k: the colour reduction cycles off -> auto -> 16 -> 8 -> 4 -> off, re-running the reconstruction."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pixelperfecter.core import quantize
from pixelperfecter.core.types import ReconstructParams
from pixelperfecter.tui import session as model

from .conftest import TERMINAL, make_app, text_of
from .test_app import settle


def _row(main, panel: str, label: str) -> str:  # type: ignore[no-untyped-def]
    """The panel line whose label is ``label`` (border characters stripped)."""
    lines = [line.strip("│ ") for line in text_of(main.query_one(panel)).splitlines()]
    return next(line for line in lines if line.startswith(label))


def test_cycle_colors_steps_through_the_settings_and_drops_a_fixed_palette() -> None:
    p = ReconstructParams(cell_w=8.0)
    seen = []
    for _ in range(len(model.COLOR_STEPS)):
        p = model.cycle_colors(p)
        seen.append(model.colors_label(p))
    assert seen == ["auto", "max 16", "max 8", "max 4", "off"]
    assert p == ReconstructParams(cell_w=8.0)  # back to off: the attempt is the plain one again (cached)
    fixed = ReconstructParams(palette=((1, 2, 3),))
    assert model.colors_label(fixed) == "file (1)" and model.cycle_colors(fixed).reduces_colors is False


async def test_key_k_reruns_with_fewer_colours_and_the_panels_show_it(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        main = app.main
        plain = main.shown
        assert plain.result.palette is None and "k colours" not in text_of(main.query_one("#params"))
        plain_colours = {tuple(c) for c in quantize.colour_counts([plain.result.sprite])[0].tolist()}
        counts = []
        for expect in ("auto", "max 16", "max 8", "max 4"):
            await pilot.press("k")
            await settle(pilot, app)
            shown = main.shown
            assert model.colors_label(shown.params) == expect and shown.result.params == shown.params
            assert shown.result.palette is not None and shown.result.palette.source == expect
            got = {tuple(c) for c in quantize.colour_counts([shown.result.sprite])[0].tolist()}
            assert got <= plain_colours  # colours of the recovered cells only
            counts.append(shown.result.metrics.n_colors)
            assert _row(main, "#params", "k colours").split("k colours")[1].split() == expect.split()
            assert f"{shown.result.metrics.n_colors}  {expect}, max error" in _row(main, "#metrics", "colours")
        assert counts[-1] == 4 and counts[-2] <= 8 and counts == sorted(counts, reverse=True)
        await pilot.press("k")
        await settle(pilot, app)
        assert main.shown.params == plain.params and main.shown.result.palette is None
        assert np.array_equal(main.shown.result.sprite, plain.result.sprite)
