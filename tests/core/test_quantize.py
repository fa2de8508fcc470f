"""core.quantize: the auto rule, --colors N, mapping onto a palette; on cases of known truth."""

from __future__ import annotations

import numpy as np
import pytest

from pixelperfecter.core import pipeline, quantize, synth
from pixelperfecter.core.types import ReconstructParams


def _true_palette(rng: np.random.Generator) -> np.ndarray:
    """Ramps of close shades (20 levels apart, like synth's) as one palette: shades of a ramp are close."""
    sprite = synth.close_shades_sprite(rng, 40, 30, n_ramps=int(rng.integers(2, 5)), shades=int(rng.integers(3, 6)))
    colors, _ = quantize.colour_counts([sprite])
    return colors


def _noisy_cells(rng: np.random.Generator, truth: np.ndarray, spread: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Each true colour with many cells, plus rarer neighbours up to ``spread`` levels off (cell grain)."""
    colours = [truth]
    counts = [rng.integers(30, 200, len(truth))]
    for _ in range(6):
        off = np.clip(truth.astype(np.int16) + rng.integers(-spread, spread + 1, truth.shape), 0, 255).astype(np.uint8)
        colours.append(off)
        counts.append(rng.integers(1, 6, len(truth)))
    return quantize.merge_counts([(c, n) for c, n in zip(colours, counts)])


def _rows(colors: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(int(v) for v in c) for c in colors}


@pytest.mark.parametrize("seed", range(12))
def test_auto_finds_exactly_the_true_palette_through_cell_grain(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = _true_palette(rng)
    colors, counts = _noisy_cells(rng, truth)
    result = quantize.auto_palette(colors, counts)
    assert _rows(result.colors) == _rows(truth)  # the count, and the very colours the artist used
    assert result.max_error() <= quantize.AUTO_ERROR * quantize.ERROR_SCALE + 1e-6


@pytest.mark.parametrize("seed", range(8))
def test_colors_n_keeps_real_cell_colours_and_never_more_than_n(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    colors, counts = _noisy_cells(rng, _true_palette(rng), spread=12)
    inputs = _rows(colors)
    for n in (1, 2, 3, 5, 8, 16, 64):
        result = quantize.reduce_palette(colors, counts, n)
        assert 1 <= result.size <= n
        assert _rows(result.colors) <= inputs  # never an average that occurs nowhere
        assert len(result.assignment) == len(colors) and result.assignment.max() < result.size


def test_colors_n_does_not_merge_shades_when_n_is_not_below_the_true_count() -> None:
    rng = np.random.default_rng(7)
    truth = _true_palette(rng)
    colors, counts = _noisy_cells(rng, truth)
    assert _rows(quantize.reduce_palette(colors, counts, len(truth)).colors) == _rows(truth)
    assert _rows(quantize.reduce_palette(colors, counts, len(truth) + 10).colors) == _rows(truth)
    fewer = quantize.reduce_palette(colors, counts, len(truth) - 2)
    assert fewer.size == len(truth) - 2 and _rows(fewer.colors) <= _rows(truth)


def test_results_do_not_depend_on_the_order_of_the_cells() -> None:
    rng = np.random.default_rng(3)
    colors, counts = _noisy_cells(rng, _true_palette(rng), spread=10)
    perm = rng.permutation(len(colors))
    for fn in (lambda c, n: quantize.auto_palette(c, n), lambda c, n: quantize.reduce_palette(c, n, 5)):
        a, b = fn(colors, counts), fn(colors[perm], counts[perm])
        assert np.array_equal(a.colors, b.colors)


def test_ward_merges_many_colours_quickly_and_bounded() -> None:
    rng = np.random.default_rng(0)
    colors = rng.integers(0, 256, (6000, 3)).astype(np.uint8)
    colors, counts = quantize.merge_counts([(colors, rng.integers(1, 50, len(colors)))])
    result = quantize.reduce_palette(colors, counts, 16)
    assert result.size == 16 and _rows(result.colors) <= _rows(colors)


def test_map_to_palette_is_the_nearest_in_the_perceptual_space() -> None:
    rng = np.random.default_rng(1)
    colors = rng.integers(0, 256, (500, 3)).astype(np.uint8)
    pal = rng.integers(0, 256, (12, 3)).astype(np.uint8)
    result = quantize.map_to_palette(colors, pal)
    d = np.linalg.norm(quantize.perceptual_lab(colors)[:, None, :] - quantize.perceptual_lab(pal)[None, :, :], axis=2)
    assert np.allclose(d[np.arange(len(colors)), result.assignment], d.min(axis=1))
    with pytest.raises(ValueError):
        quantize.map_to_palette(colors, np.zeros((0, 3), np.uint8))


def test_apply_leaves_transparent_cells_and_alpha_alone_and_shares_one_palette() -> None:
    rng = np.random.default_rng(5)
    frames = [synth.shaded_sprite(rng, 24, 20, transparent=True) for _ in range(3)]
    params = ReconstructParams(max_colors=6)
    out = pipeline.finish_colors(frames, params)
    union = quantize.colour_counts(out)[0]
    assert len(union) <= 6  # one palette over all frames jointly, not 6 each
    for before, after in zip(frames, out):
        assert np.array_equal(before[..., 3], after[..., 3])
        clear = before[..., 3] == 0
        assert np.array_equal(before[clear], after[clear])


def test_flags_off_the_colour_steps_are_unchanged() -> None:
    rng = np.random.default_rng(9)
    sprite = synth.shaded_sprite(rng, 30, 30)
    reports: list[object] = []
    out = pipeline.finish_colors([sprite], ReconstructParams(), on_palette=reports.append)[0]
    assert reports == []
    assert np.array_equal(out, pipeline.finish_colors([sprite], ReconstructParams())[0])


# Seed 1005's grid is not recovered (below), so its palette cannot be judged.
CLOSE_SHADES_GRID_MISSED = 1005


@pytest.mark.xfail(strict=True, reason="known limitation: y reads 43.4 px, a 3/2 harmonic of 28.4, on flat close-shades art "
                   "(the coarse reading's line support beats the true grid's in the selection score)")
def test_close_shades_seed_1005_grid_is_recovered() -> None:
    case = synth.close_shades_case(CLOSE_SHADES_GRID_MISSED)
    plain = pipeline.reconstruct(case.image, ReconstructParams(), has_alpha=case.has_alpha)
    assert synth.score_restoration(plain.sprite, case.truth).restored


# Seeds 1000-1039 were held out: AUTO_ERROR was chosen on seeds 0-19 (README: Palettes).
@pytest.mark.parametrize("seed", [s for s in range(1000, 1012) if s != CLOSE_SHADES_GRID_MISSED])
def test_auto_on_reconstructed_close_shades_keeps_every_true_shade(seed: int) -> None:
    case = synth.close_shades_case(seed)
    plain = pipeline.reconstruct(case.image, ReconstructParams(), has_alpha=case.has_alpha)
    assert synth.score_restoration(plain.sprite, case.truth).restored
    rec = pipeline.reconstruct(case.image, ReconstructParams(colors_auto=True), has_alpha=case.has_alpha)
    assert rec.sprite is not None and rec.metrics is not None and rec.palette is not None
    truth, _ = quantize.colour_counts([case.truth])
    out = np.array(rec.palette.colors, np.uint8)
    nearest = quantize.map_to_palette(truth, out).assignment
    assert len(set(nearest.tolist())) == len(truth)  # no two true shades merged
    assert len(truth) <= rec.metrics.n_colors <= len(truth) + 3  # and few extra (blurred boundary cells)
    assert _rows(out) <= _rows(quantize.colour_counts([plain.sprite])[0])  # colours of the recovered cells
    assert rec.metrics.palette == "auto" and rec.metrics.palette_error is not None
    assert rec.metrics.diff_pct == plain.metrics.diff_pct  # the fit judges the grid, before the palette step


@pytest.mark.parametrize("seed", range(6))
def test_close_shades_generator_draws_the_palette_it_promises(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sprite = synth.close_shades_sprite(rng, 48, 40, n_ramps=3, shades=4, gap=20)
    colors, counts = quantize.colour_counts([sprite])
    assert len(colors) <= 3 * 4 + 1 and counts.min() >= 2  # every colour covers whole cells (bands >= 2 wide)
    linf = np.abs(colors[:, None, :].astype(int) - colors[None, :, :].astype(int)).max(axis=2)
    np.fill_diagonal(linf, 999)
    assert linf.min() == 20  # the closest shades are exactly one step apart: close, but distinct


def test_cleanup_and_auto_merge_nothing_on_an_exact_upscale() -> None:
    # An integer upscale has no grain: every distinct colour is one the artist chose, even two
    # bright greens 0.025 apart (which the full auto radius of 0.035 merged: clean tier, seed 13010).
    from pixelperfecter.core.pipeline import reconstruct
    from pixelperfecter.core.types import ReconstructParams

    sprite = np.zeros((12, 12, 4), np.uint8)
    sprite[..., 3] = 255
    sprite[..., :3] = (59, 242, 138)
    sprite[3:6, 3:9, :3] = (1, 237, 132)
    sprite[7:10, 2:5, :3] = (0, 59, 33)
    sprite[7:10, 6:10, :3] = (14, 60, 34)
    image = np.repeat(np.repeat(sprite, 16, axis=0), 16, axis=1)
    for params in (ReconstructParams(), ReconstructParams(colors_auto=True)):
        # Neither the default cleanup (snap 0.02: it merged the two dark greens 0.015 apart)
        # nor auto may merge anything here.
        rec = reconstruct(image, params)
        assert rec.sprite is not None and rec.sprite.shape == sprite.shape
        assert np.array_equal(rec.sprite, sprite)
    assert quantize.auto_radius(0.0) < 0.01 and quantize.auto_radius(None) == quantize.AUTO_ERROR
    assert quantize.auto_radius(5.0) == quantize.AUTO_ERROR
