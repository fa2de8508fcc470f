"""--size WxH: the cell count is fixed, the pitch, phase and drift are still solved."""

from __future__ import annotations

import numpy as np
import pytest

from pixelperfecter.core import synth
from pixelperfecter.core.pipeline import reconstruct
from pixelperfecter.core.types import ReconstructParams


@pytest.mark.parametrize("seed", range(4))
def test_1024px_generation_meant_to_be_128_comes_out_128_and_right(seed):
    case, art = synth.sized_case(seed, cells=128, side=1024)
    rec = reconstruct(case.image, ReconstructParams(target_cells=(128, 128)))
    assert rec.sprite is not None and rec.sprite.shape[:2] == (128, 128)
    score = synth.score_restoration(rec.sprite, art)
    assert score.accuracy >= 0.99, score


@pytest.mark.parametrize("seed", range(4))
def test_art_inside_a_flat_margin_is_found_with_the_count_fixed(seed):
    """The art fills 120 of 128 cells' worth of canvas: the kept run of cells is the art's,
    not an even split of the whole canvas."""
    case, art = synth.sized_case(seed, cells=120, side=1024, margin=4)
    rec = reconstruct(case.image, ReconstructParams(target_cells=(120, 120)))
    assert rec.sprite is not None and rec.sprite.shape[:2] == (120, 120)
    score = synth.score_restoration(rec.sprite, art)
    assert score.accuracy >= 0.99 and score.shift == (0, 0), score


@pytest.mark.parametrize("seed", range(3))
def test_forced_size_follows_drift(seed):
    """Lines of a drifting grid are snapped, not spread evenly: the lines match the truth's."""
    case, art = synth.sized_case(seed, cells=64, side=512, drift=0.25)
    ny, nx = art.shape[:2]
    rec = reconstruct(case.image, ReconstructParams(target_cells=(nx, ny)))
    assert rec.grid is not None and rec.grid.shape == (ny, nx)
    inner = rec.grid.xs[1:-1].astype(float)
    truth = np.asarray(case.xs[1:-1], float)
    even = np.linspace(0, case.image.shape[1], nx + 1)[1:-1]
    assert np.abs(inner - truth).mean() < 0.5 * np.abs(even - truth).mean()
    assert np.abs(inner - truth).max() <= 2.5
    assert synth.score_restoration(rec.sprite, art).accuracy >= 0.99


@pytest.mark.parametrize("cells", [(20, 30), (7, 5), (200, 150)])
def test_forced_size_is_exact_whatever_the_image(cells):
    """A promise even without a matching grid: noise, any count."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (300, 400, 4), dtype=np.uint8)
    image[..., 3] = 255
    rec = reconstruct(image, ReconstructParams(target_cells=cells))
    assert rec.sprite is not None and rec.sprite.shape[:2] == (cells[1], cells[0])


def test_a_count_off_the_art_stretches_over_the_whole_canvas():
    """Busy 128x128 art (every cell one of 8 colours) filling the canvas, --size 120x120: the
    lines left out would carry edges, so the count is read over the whole canvas (cells of
    1024/120), not as a crop of the art."""
    rng = np.random.default_rng(3)
    palette = rng.integers(0, 256, (8, 3))
    art = np.full((130, 130, 4), 255, np.uint8)
    art[..., :3] = palette[rng.integers(0, 8, (130, 130))]
    deg = synth.Degradation(cell_w=8.0, cell_h=8.0, offset_x=3.0, offset_y=5.0, blur_sigma=0.6, noise_sigma=2.0)
    case = synth.degrade(art, deg, 1024, 1024, rng)
    rec = reconstruct(case.image, ReconstructParams(target_cells=(120, 120)))
    assert rec.grid is not None and rec.grid.shape == (120, 120)
    assert rec.grid.cell_w == pytest.approx(1024 / 120)
    assert rec.grid.xs[0] <= 8 and rec.grid.xs[-1] >= 1024 - 8


def test_forced_size_under_2px_cells_is_refused_not_upsampled():
    # --size 2048x2048 on a 1024-px image wrote a 2048x2048 "sprite" of 0.5-px cells.
    image = np.full((1024, 1024, 4), 255, np.uint8)
    rec = reconstruct(image, ReconstructParams(target_cells=(2048, 2048)))
    assert rec.sprite is None and rec.detection.reason == (
        "--size 2048x2048 gives 0.5-px cells, under the 2-px minimum (the image is 1024x1024 px)")
    assert reconstruct(image, ReconstructParams(target_cells=(512, 512))).sprite.shape[:2] == (512, 512)
