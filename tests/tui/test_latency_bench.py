"""Keypress-to-result latency on a 1024x1024 image (target: <= 150 ms).  Figures, not assertions.

    .venv/bin/python -m pytest tests/tui/test_latency_bench.py -s -q

prints the end-to-end figures measured inside the app (from the key's action to the first screen
refresh showing the new result, re-run in a worker thread) for the half-block and Sixel
renderers, and pytest-benchmark's table for the worker's part (re-run + the three pane pictures).
"""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path

import numpy as np
import pytest

from pixelperfecter.core import synth
from pixelperfecter.core.io import save_png
from pixelperfecter.core.types import ReconstructParams
from pixelperfecter.tui import session as model

from .conftest import make_app
from .test_app import settle

SIZE = 1024
BIG_TERMINAL = (200, 60)


@pytest.fixture(scope="module")
def big_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1024x1024 AI-tier fake (soft, noisy, fractional cells) with a known grid."""
    rng = np.random.default_rng(7)
    deg = synth.Degradation(cell_w=10.6, cell_h=10.6, offset_x=3.2, offset_y=7.1, blur_sigma=1.0, noise_sigma=3.0,
                            halo_amount=0.4, texture_amp=2.0, jpeg_quality=85)
    case = synth.degrade(lambda cx, cy: synth.random_sprite(rng, cx, cy), deg, SIZE, SIZE, rng)
    path = tmp_path_factory.mktemp("bench") / "big.png"
    save_png(path, case.image, keep_alpha=False)
    return path


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return f"{name}: n={len(ms)} median {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, max {ms[-1]:.0f} ms"


@pytest.mark.parametrize("graphics", ["halfblock", "sixel"])
async def test_keypress_to_result_on_screen_1024(big_image: Path, graphics: str, record_property) -> None:  # type: ignore[no-untyped-def]
    app = make_app(big_image.parent, big_image, graphics=graphics)
    async with app.run_test(size=BIG_TERMINAL) as pilot:
        await settle(pilot, app)
        app.main.latencies.clear()
        for key in ["equals_sign"] * 3 + ["minus", "1", "shift+right"]:
            await pilot.press(key)
            await settle(pilot, app)
        fresh = list(app.main.latencies)
        app.main.latencies.clear()
        for key in ["comma", "full_stop"] * 2:  # flips between cached attempts
            await pilot.press(key)
            await settle(pilot, app)
        cached = list(app.main.latencies)
    assert len(fresh) == 6 and len(cached) == 4
    line = f"[{graphics} {BIG_TERMINAL[0]}x{BIG_TERMINAL[1]}] " + summary("re-run", fresh) + " | " + summary("cached flip", cached)
    record_property("latency", line)
    print("\n" + line)


def test_worker_rerun_and_pictures_1024(big_image: Path, benchmark) -> None:  # type: ignore[no-untyped-def]
    """The worker's share of a keypress: a re-run with new overrides + the three pane pictures."""
    session = model.ImageSession.open(big_image)
    session.run(ReconstructParams())
    steps = itertools.count(1)

    def rerun() -> model.PanePictures:
        params = ReconstructParams(cell_w=10.0 + next(steps) * 0.01, cell_h=10.6)
        attempt = session.run(params)
        return model.pane_pictures(session, attempt, model.Viewport(), 640, 780)  # ~ a Sixel pane at 200x60

    pictures = benchmark.pedantic(rerun, rounds=8, iterations=1, warmup_rounds=1)
    assert pictures.reconstruction is not None
