"""The pipeline end to end on synthetic truth: colours, transparency, metrics, outputs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixelperfecter.core import cells, palette, render, synth
from pixelperfecter.core.pipeline import OutputOptions, reconstruct, write_outputs
from pixelperfecter.core.types import Metrics, ReconstructParams, Thresholds


@pytest.mark.parametrize("tier", synth.TIERS)
def test_each_tier_restores_a_typical_case(tier):
    restored = 0
    for seed in range(6):
        case = synth.make_case(seed, tier)
        result = reconstruct(case.image, has_alpha=case.has_alpha)
        restored += synth.score_restoration(result.sprite, case.truth).restored
    # Not a benchmark (that is `perfecter bench`): a floor that catches a broken stage.
    assert restored >= 5


def test_integer_scale_is_pixel_exact_including_alpha():
    rng = np.random.default_rng(4)
    sprite = synth.random_sprite(rng, 24, 20, transparent=True)
    deg = synth.Degradation(cell_w=16, cell_h=16, offset_x=0, offset_y=0)
    case = synth.degrade(sprite, deg, 24 * 16, 20 * 16, rng)
    result = reconstruct(case.image)
    assert result.has_alpha
    np.testing.assert_array_equal(result.sprite, case.truth)


def test_single_cell_details_survive_halos_and_noise():
    rng = np.random.default_rng(9)
    sprite = synth.random_sprite(rng, 26, 26)
    details = [(3, 5), (10, 17), (20, 2), (12, 12), (7, 22)]
    for y, x in details:
        sprite[y, x, :3] = (250, 240, 30)
        sprite[y, x, 3] = 255
    deg = synth.Degradation(cell_w=13.7, cell_h=13.4, offset_x=5.0, offset_y=2.0, blur_sigma=1.2, noise_sigma=3.0, halo_amount=0.6, jpeg_quality=85)
    case = synth.degrade(sprite, deg, 330, 320, rng)
    result = reconstruct(case.image)
    score = synth.score_restoration(result.sprite, case.truth)
    assert score.restored
    dy, dx = score.shift
    for y, x in details:
        if y < case.truth.shape[0] and x < case.truth.shape[1]:
            got = result.sprite[y + dy, x + dx, :3].astype(int)
            assert np.abs(got - (250, 240, 30)).max() <= 24


def test_colour_cleanup_gives_one_colour_per_flat_area():
    case = synth.make_case(3, "ai")
    cleaned = reconstruct(case.image, has_alpha=case.has_alpha)
    raw = reconstruct(case.image, ReconstructParams(cleanup_colors=False), has_alpha=case.has_alpha)
    assert cleaned.metrics.n_colors < raw.metrics.n_colors
    truth_colours = cells.count_colors(case.truth)
    assert cleaned.metrics.n_colors <= 2 * truth_colours


def test_palette_keeps_distinct_shades_and_snaps_noise():
    rng = np.random.default_rng(0)
    sprite = np.zeros((40, 40, 4), np.uint8)
    sprite[..., 3] = 255
    # Three shades of one ramp, 20 levels apart (as artists ramp), each cell with grain.
    shades = np.array([(100, 60, 60), (120, 80, 72), (140, 100, 84)])
    which = rng.integers(0, 3, (40, 40))
    noisy = shades[which] + rng.integers(-3, 4, (40, 40, 3))
    sprite[..., :3] = np.clip(noisy, 0, 255)
    unified = palette.unify_palette(sprite)
    assert cells.count_colors(unified) == 3
    err = np.abs(unified[..., :3].astype(int) - shades[which]).max()
    assert err <= 2  # every cell within 2 levels of its true shade (the grain was up to 3)


def test_palette_never_moves_a_colour_far():
    sprite = np.zeros((10, 10, 4), np.uint8)
    sprite[..., 3] = 255
    sprite[..., :3] = (50, 50, 50)
    sprite[5, 5, :3] = (90, 50, 50)  # a lone distinct detail
    unified = palette.unify_palette(sprite)
    assert tuple(unified[5, 5, :3]) == (90, 50, 50)


def test_palette_on_a_busy_image_moves_no_colour_beyond_the_snap_distance():
    # Painterly: every cell its own colour (the old greedy merge was quadratic here).
    rng = np.random.default_rng(1)
    sprite = np.dstack([rng.integers(0, 256, (200, 200, 3)), np.full((200, 200), 255)]).astype(np.uint8)
    unified = palette.unify_palette(sprite)
    moved = np.linalg.norm(palette.srgb_to_oklab(unified[..., :3]) - palette.srgb_to_oklab(sprite[..., :3]), axis=-1)
    assert moved.max() <= palette.SNAP + 1e-6
    assert cells.count_colors(unified) < cells.count_colors(sprite)


def test_metrics_flag_suspicious_values():
    m = Metrics(cell_w=2.0, cell_h=2.0, offset_x=0, offset_y=0, cells_x=10, cells_y=10, diff_pct=20.0, confidence=0.1, n_colors=3, seconds=0.01)
    assert set(m.flags(Thresholds())) == {"diff_pct", "confidence", "cell_small"}
    relaxed = Thresholds(max_diff_pct=50, min_confidence=0.0, min_cell=1.0)
    assert m.flags(relaxed) == ()


def test_a_wrong_grid_has_a_higher_diff_than_the_right_one():
    case = synth.make_case(1, "fractional")
    right = reconstruct(case.image)
    wrong = reconstruct(case.image, ReconstructParams(cell_size=case.cell_w * 2))
    assert right.metrics.diff_pct < 1.0
    assert wrong.metrics.diff_pct > 5 * max(right.metrics.diff_pct, 0.5)
    assert wrong.metrics.confidence < right.metrics.confidence
    # The default thresholds flag the wrong grid and leave the right one alone.
    assert right.metrics.flags(Thresholds()) == ()
    assert {"diff_pct", "confidence"} <= set(wrong.metrics.flags(Thresholds()))


def test_no_grid_result_has_a_reason_and_no_sprite():
    rng = np.random.default_rng(0)
    noise = np.dstack([rng.integers(0, 256, (200, 200, 3)).astype(np.uint8), np.full((200, 200), 255, np.uint8)])
    result = reconstruct(noise)
    assert not result.ok and result.sprite is None and result.error


def test_diff_overlay_marks_exactly_the_wrong_cell():
    case = synth.make_case(0, "clean")
    result = reconstruct(case.image)
    clean_overlay = render.diff_overlay(result.image, result.grid, result.sprite)
    assert not np.all(clean_overlay[..., :3] == (255, 0, 0), axis=2).any()
    broken = result.sprite.copy()
    broken[3, 4, :3] = 255 - broken[3, 4, :3]
    overlay = render.diff_overlay(result.image, result.grid, broken)
    red = np.all(overlay[..., :3] == (255, 0, 0), axis=2)
    g = result.grid
    core = render.core_mask(g)
    in_cell = np.zeros_like(red)
    in_cell[g.ys[3] : g.ys[4], g.xs[4] : g.xs[5]] = True
    # Red exactly on the wrong cell's core; its rim is marked too, but faintly.
    np.testing.assert_array_equal(red, in_cell & core)
    rim = in_cell & ~core
    assert rim.any() and not red[rim].any()
    assert not np.array_equal(overlay[rim], clean_overlay[rim])


def test_blurred_edges_are_not_red():
    case = synth.make_case(1, "ai")
    result = reconstruct(case.image, has_alpha=case.has_alpha)
    overlay = render.diff_overlay(result.image, result.grid, result.sprite)
    red_share = np.all(overlay[..., :3] == (255, 0, 0), axis=2).mean()
    edge_mismatch = render.mismatch_mask(result.image, result.grid, result.sprite).mean()
    assert edge_mismatch > 0.005  # the blur does make edge pixels disagree ...
    assert red_share < 0.1 * edge_mismatch  # ... but that is not a wrong cell


def test_outputs_are_written_with_the_right_sizes(tmp_path):
    case = synth.make_case(2, "clean")
    result = reconstruct(case.image)
    files = write_outputs(result, tmp_path, "case", OutputOptions(upscale=3, diff=True, heatmap=True, grid=True))
    h, w = result.sprite.shape[:2]
    assert Image.open(files.sprite).size == (w, h)
    assert Image.open(files.upscale).size == (3 * w, 3 * h)
    for extra in (files.diff, files.heatmap, files.grid):
        assert Image.open(extra).size == (case.image.shape[1], case.image.shape[0])
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_grid_overlay_draws_every_line():
    case = synth.make_case(4, "clean")
    result = reconstruct(case.image)
    overlay = render.grid_overlay(result.image, result.grid)
    cols = result.grid.xs[(result.grid.xs > 0) & (result.grid.xs < result.grid.width)]
    untouched = render.grid_overlay(result.image, result.grid, colour=(0, 0, 0))
    assert not np.array_equal(overlay[:, cols], untouched[:, cols])


def test_heatmap_is_brighter_where_cells_disagree():
    case = synth.make_case(5, "clean")
    result = reconstruct(case.image)
    err = np.zeros_like(result.cell_error)
    err[2, 2] = 64
    heat = render.heatmap(result.image, result.grid, err).astype(int)
    g = result.grid
    hot = heat[g.ys[2] + 1, g.xs[2] + 1, :3].sum()
    cold = heat[g.ys[5] + 1, g.xs[5] + 1, :3].sum()
    assert hot > cold + 200


def test_median_colors_is_exactly_the_lower_median_for_every_sample_count() -> None:
    # The selection network must agree with np.partition bit for bit, for odd and even counts,
    # opaque and translucent samples.
    rng = np.random.default_rng(5)
    for k in range(1, 33):
        samples = rng.integers(0, 256, (3, 4, k, 4), dtype=np.uint8)
        mid = k // 2 if k % 2 else k // 2 - 1
        assert np.array_equal(cells.median_colors(samples), np.partition(samples, mid, axis=2)[:, :, mid]), k
        samples[..., 3] = 255
        assert np.array_equal(cells.median_colors(samples), np.partition(samples, mid, axis=2)[:, :, mid]), k
    stack = rng.integers(0, 256, (7, 50), dtype=np.uint8)
    for rank in range(7):
        assert np.array_equal(cells.select_rank(stack, rank), np.sort(stack, axis=0)[rank])


def test_sample_errors_match_the_plain_linf_definition() -> None:
    rng = np.random.default_rng(6)
    samples = rng.integers(0, 256, (5, 6, 9, 4), dtype=np.uint8)
    sprite = rng.integers(0, 256, (5, 6, 4), dtype=np.uint8)
    s, c = samples.astype(int), sprite[:, :, None, :].astype(int)
    rgb = np.abs(s[..., :3] - c[..., :3]).max(axis=-1)
    rgb[(s[..., 3] < 128) & (c[..., 3] < 128)] = 0
    expected = np.maximum(rgb, np.abs(s[..., 3] - c[..., 3]))
    assert np.array_equal(cells.sample_errors(samples, sprite), expected)
    samples[..., 3] = 255
    sprite[..., 3] = 255
    expected = np.abs(samples.astype(int)[..., :3] - sprite[:, :, None, :3].astype(int)).max(axis=-1)
    assert np.array_equal(cells.sample_errors(samples, sprite), expected)


@pytest.mark.parametrize("alpha", ["opaque", "holes"])
def test_banded_sample_major_cells_match_the_plain_definitions(monkeypatch, alpha) -> None:
    # cell_samples gathers into sample-major planes and every step works in bands of cell
    # rows; with tiny bands (many of them, ragged last band) each must still equal the plain
    # per-cell definitions: fancy-indexed lattice, np.partition's lower median, L-inf errors.
    from pixelperfecter.core.types import Grid

    monkeypatch.setattr(cells, "BAND_BYTES", 300)
    rng = np.random.default_rng(8)
    image = rng.integers(0, 256, (97, 131, 4), dtype=np.uint8)
    image[..., 3] = 255 if alpha == "opaque" else np.where(rng.random((97, 131)) < 0.3, 0, 255)
    xs = np.unique(np.r_[np.round(np.arange(0, 131, 7.3)).astype(int), 131])
    ys = np.unique(np.r_[np.round(np.arange(0, 97, 6.1)).astype(int), 97])
    grid = Grid(7.3, 6.1, 0.0, 0.0, xs, ys, 131, 97)
    samples = cells.cell_samples(image, grid)
    py, px = cells.sample_points(ys), cells.sample_points(xs)
    plain = image[py[:, None, :, None], px[None, :, None, :]].reshape(len(ys) - 1, len(xs) - 1, -1, 4)
    assert np.array_equal(samples, plain)
    k = plain.shape[2]
    mid = k // 2 if k % 2 else k // 2 - 1
    colours = cells.median_colors(samples)
    assert np.array_equal(colours, np.partition(plain, mid, axis=2)[:, :, mid])
    s, c = plain.astype(int), colours[:, :, None, :].astype(int)
    rgb = np.abs(s[..., :3] - c[..., :3]).max(axis=-1)
    rgb[(s[..., 3] < 128) & (c[..., 3] < 128)] = 0
    assert np.array_equal(cells.sample_errors(samples, colours), np.maximum(rgb, np.abs(s[..., 3] - c[..., 3])))


def test_unify_keeps_each_cells_alpha_and_leaves_transparent_cells() -> None:
    # The snapped colours are written as packed RGBA words: RGB from the cluster, alpha the
    # cell's own; fully transparent cells are not touched at all.
    rng = np.random.default_rng(9)
    base = np.array([[200, 40, 40], [40, 200, 40]], np.uint8)
    sprite = np.zeros((20, 30, 4), np.uint8)
    sprite[..., :3] = np.clip(base[rng.integers(0, 2, (20, 30))].astype(int) + rng.integers(-2, 3, (20, 30, 3)), 0, 255)
    sprite[..., 3] = rng.choice([0, 128, 255], (20, 30))
    unified = palette.unify_palette(sprite)
    assert np.array_equal(unified[..., 3], sprite[..., 3])
    clear = sprite[..., 3] == 0
    assert np.array_equal(unified[clear], sprite[clear])
    visible = unified[~clear][:, :3]
    # Each visible cell lands on one of two exact colours (one per cluster).
    assert len(np.unique(visible.reshape(-1, 3), axis=0)) == 2


def test_distinct_equals_np_unique() -> None:
    from pixelperfecter.core.distinct import distinct

    rng = np.random.default_rng(12)
    for values in (np.array([], np.uint32), np.array([7], np.int64), rng.integers(0, 5, 1000).astype(np.uint32),
                   rng.integers(0, 1 << 24, (300, 7)).astype(np.uint32), rng.integers(-50, 50, 999)):
        got = distinct(values)
        assert np.array_equal(got, np.unique(values)) and got.dtype == values.dtype


def test_dense_and_sparse_climbs_unify_alike(monkeypatch) -> None:
    # The dense-volume climb (busy images) must reproduce the per-bin climb exactly: same
    # modes, same ties (to the larger bin), so the same colours for every cell.
    rng = np.random.default_rng(13)
    for trial in range(12):
        h, w = rng.integers(5, 50, 2)
        shades = rng.integers(0, 256, (int(rng.integers(2, 30)), 4)).astype(np.uint8)
        sprite = np.clip(shades[rng.integers(0, len(shades), (h, w))].astype(int) + rng.integers(-8, 9, (h, w, 4)), 0, 255).astype(np.uint8)
        sprite[..., 3] = 255 if trial % 2 else np.where(rng.random((h, w)) < 0.2, 0, 255)
        monkeypatch.setattr(palette, "DENSE_CLIMB_RATIO", 0)
        per_bin = palette.unify_palette(sprite)
        monkeypatch.setattr(palette, "DENSE_CLIMB_RATIO", 10**9)
        dense = palette.unify_palette(sprite)
        assert np.array_equal(per_bin, dense), trial
        assert not np.array_equal(per_bin, sprite)  # the noise was snapped away somewhere


def test_dense_climb_ranks_in_int64_when_a_bin_is_too_dense_for_int32(monkeypatch) -> None:
    # 36k of 40k cells in one bin: density * volume overflows int32, so the ranks must widen
    # (an overflow would send every bin's climb somewhere arbitrary).
    rng = np.random.default_rng(15)
    sprite = np.full((200, 200, 4), 255, np.uint8)
    sprite[..., :3] = (120, 90, 60)
    spread = rng.random((200, 200)) < 0.1
    sprite[spread, :3] = rng.integers(60, 180, (int(spread.sum()), 3))
    monkeypatch.setattr(palette, "DENSE_CLIMB_RATIO", 0)
    per_bin = palette.unify_palette(sprite)
    monkeypatch.setattr(palette, "DENSE_CLIMB_RATIO", 10**9)
    dense = palette.unify_palette(sprite)
    assert np.array_equal(per_bin, dense)
    flat = sprite.reshape(-1, 4)[:, :3]
    lab = palette.srgb_to_oklab(flat)
    span = np.floor(lab / palette.BIN).max(axis=0) - np.floor(lab / palette.BIN).min(axis=0) + 3
    assert 36_000 * int(np.prod(span)) >= 2**31  # the case really needs int64 ranks


def test_unify_keeps_two_yellows_close_in_oklab_but_far_in_rgb() -> None:
    # (240, 232, 51) and (243, 227, 0) are 0.014 apart in Oklab (under SNAP) but 51 levels
    # apart in blue: two shades the artist chose, which a snap must not merge (bench seed 70011).
    rng = np.random.default_rng(14)
    sprite = np.zeros((20, 20, 4), np.uint8)
    sprite[..., 3] = 255
    sprite[:, :10, :3] = (240, 232, 51)
    sprite[:, 10:, :3] = (243, 227, 0)
    sprite[..., :3] = np.clip(sprite[..., :3].astype(int) + rng.integers(-2, 3, (20, 20, 3)), 0, 255)
    unified = palette.unify_palette(sprite)
    left, right = unified[:, :10, :3].reshape(-1, 3), unified[:, 10:, :3].reshape(-1, 3)
    assert np.abs(left.astype(int) - (240, 232, 51)).max() <= 4
    assert np.abs(right.astype(int) - (243, 227, 0)).max() <= 4
    assert len(np.unique(left, axis=0)) == 1  # each area still unified to one colour
