"""Grid detection on synthetic grids with a known truth: sizes, phases, harmonics, no-grid."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixelperfecter.core import synth
from pixelperfecter.core.grid import detect_grid, edge_profiles, place_lines
from pixelperfecter.core.pipeline import reconstruct
from pixelperfecter.core.types import ReconstructParams, Thresholds


def _case(cell_w: float, cell_h: float, offset_x: float, offset_y: float, seed: int, size=(384, 320), **deg) -> synth.SynthCase:
    rng = np.random.default_rng(seed)
    degradation = synth.Degradation(cell_w=cell_w, cell_h=cell_h, offset_x=offset_x, offset_y=offset_y, **deg)
    return synth.degrade(lambda cx, cy: synth.random_sprite(rng, cx, cy), degradation, size[0], size[1], rng)


def _within(found: float, truth: float, tol: float = 0.01) -> bool:
    return abs(found - truth) / truth <= tol


# Derandomized: CI runs the same 30 examples every time, so a red run is a regression, not a
# new draw.  The inputs random search has found failing (before and after the grid rewrite)
# are kept below as a strict xfail, so they are neither lost nor hidden.
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(
    cell=st.floats(min_value=5.0, max_value=40.0),
    aspect=st.floats(min_value=0.97, max_value=1.03),
    phase_x=st.floats(min_value=0.0, max_value=0.999),
    phase_y=st.floats(min_value=0.0, max_value=0.999),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_fractional_cell_size_and_phase_are_found(cell, aspect, phase_x, phase_y, seed):
    _check_fractional(cell, aspect, phase_x, phase_y, seed)


@pytest.mark.xfail(strict=True, reason="known limitation: sparse sprites whose few strong lines span ~3 cells on one axis pin the pitch only to ~1.5% (same output at e889364)")
@pytest.mark.parametrize("cell", [18.25, 15.28125])
def test_known_failing_sparse_examples(cell):
    _check_fractional(cell, 1.0, 0.0, 0.0, 111)


def _check_fractional(cell: float, aspect: float, phase_x: float, phase_y: float, seed: int) -> None:
    cell_h = cell * aspect
    size = (int(max(320, 14 * cell)), int(max(320, 14 * cell_h)))
    case = _case(cell, cell_h, phase_x * cell, phase_y * cell_h, seed, size=size, blur_sigma=0.6, noise_sigma=2.0)
    det = detect_grid(case.image)
    assert det.grid is not None, det.reason
    g = det.grid
    # Within 1% on both axes: a harmonic (2x, 1/2 .. 1/6) is off by 50% or more.
    assert _within(g.cell_w, cell), (g.cell_w, cell)
    assert _within(g.cell_h, cell_h), (g.cell_h, cell_h)
    # The phase is a boundary position modulo the cell.
    dx = (g.offset_x - case.offset_x + cell / 2) % cell - cell / 2
    dy = (g.offset_y - case.offset_y + cell_h / 2) % cell_h - cell_h / 2
    assert abs(dx) <= 1.0 and abs(dy) <= 1.0


@pytest.mark.parametrize("cell", [16, 32])
@pytest.mark.parametrize("half_phase", [False, True])
def test_integer_upscale_is_exact(cell, half_phase):
    offset = cell / 2 if half_phase else 0.0
    case = _case(cell, cell, offset, offset, seed=cell + int(half_phase), size=(512, 448))
    det = detect_grid(case.image)
    assert det.grid is not None
    assert det.grid.cell_w == pytest.approx(cell, abs=0.01)
    assert det.grid.cell_h == pytest.approx(cell, abs=0.01)
    np.testing.assert_array_equal(det.grid.xs, np.round(case.xs).astype(int))
    np.testing.assert_array_equal(det.grid.ys, np.round(case.ys).astype(int))


@pytest.mark.parametrize("block", [2, 3])
def test_coarse_looking_art_keeps_its_single_cell_details(block):
    """Art drawn mostly in 2x2 (or 3x3) blocks still has 1-cell details: the grid must not grow."""
    rng = np.random.default_rng(7)
    n = 44 // block + 1
    coarse = synth.random_sprite(rng, n, n)
    sprite = np.repeat(np.repeat(coarse, block, axis=0), block, axis=1)
    for _ in range(25):
        y, x = rng.integers(0, 44, 2)
        sprite[y, x, :3] = 255 - sprite[y, x, :3]
    deg = synth.Degradation(cell_w=9.3, cell_h=9.3, offset_x=2.0, offset_y=5.0, blur_sigma=0.7, noise_sigma=2.0)
    case = synth.degrade(sprite, deg, 372, 372, rng)
    det = detect_grid(case.image)
    assert det.grid is not None
    assert _within(det.grid.cell_w, 9.3) and _within(det.grid.cell_h, 9.3), (det.grid.cell_w, det.grid.cell_h)


def test_sharp_integer_grid_is_not_reported_as_a_fine_harmonic():
    """A sharp 32-px grid has harmonics at 16, 10.67, 8 ... 3.2 px that fit flat areas equally well."""
    for seed in range(4):
        case = _case(32.0, 32.0, 0.0, 0.0, seed=100 + seed, size=(768, 640))
        det = detect_grid(case.image)
        assert det.grid is not None
        assert det.grid.cell_w == pytest.approx(32.0, abs=0.05)
        assert det.grid.cell_h == pytest.approx(32.0, abs=0.05)


def test_icon_sheet_layout_period_is_not_taken_for_the_grid():
    """Icons repeated every 6 cells fake a long period; the grid is the cell, not the layout."""
    rng = np.random.default_rng(3)
    icon = synth.random_sprite(rng, 6, 6)
    sheet = np.tile(icon, (7, 8, 1))
    deg = synth.Degradation(cell_w=11.6, cell_h=11.6, offset_x=4.0, offset_y=7.0, blur_sigma=0.8, noise_sigma=2.0)
    case = synth.degrade(sheet, deg, 540, 470, rng)
    det = detect_grid(case.image)
    assert det.grid is not None
    assert _within(det.grid.cell_w, 11.6) and _within(det.grid.cell_h, 11.6)


def test_lines_follow_a_half_cell_seam():
    """A mirror seam shifts the right half by half a cell; snapped lines follow it, uniform ones can't."""
    rng = np.random.default_rng(11)
    cell = 24.0
    width = 720
    edges = np.arange(0, width + 1, cell)
    edges[edges > 360] += cell / 2
    profile = np.zeros(width + 1)
    for e in edges:
        k = int(round(e))
        if 0 < k < width:
            profile[k] = 100.0 + rng.uniform(0, 20)
    profile += rng.uniform(0, 3, profile.shape)
    snapped = place_lines(profile, cell, 0.0, snap=True)
    uniform = place_lines(profile, cell, 0.0, snap=False)
    right = snapped[snapped > 380]
    assert np.all(np.isin(right[:-1], np.round(edges).astype(int)))
    assert not np.all(np.isin(uniform[uniform > 380][:-1], np.round(edges).astype(int)))


def test_lines_follow_drift_within_bound():
    case = synth.make_case(5, "drift")
    det = detect_grid(case.image)
    assert det.grid is not None
    truth = np.round(case.xs).astype(int)
    found = det.grid.xs
    # Each true boundary has a detected line within 2 px (most exactly on it).
    nearest = np.abs(truth[1:-1, None] - found[None, :]).min(axis=1)
    assert np.mean(nearest <= 1) >= 0.9
    assert nearest.max() <= 3


@pytest.mark.parametrize(
    "kind",
    ["noise", "gradient", "flat", "photo_like"],
)
def test_non_pixel_art_is_refused_or_flagged(kind):
    rng = np.random.default_rng(1)
    h, w = 256, 256
    if kind == "noise":
        rgb = rng.integers(0, 256, (h, w, 3))
    elif kind == "gradient":
        yy, xx = np.mgrid[0:h, 0:w]
        rgb = np.stack([xx, yy, (xx + yy) // 2], axis=2)
    elif kind == "flat":
        rgb = np.full((h, w, 3), 120)
    else:
        import cv2

        blobs = rng.normal(0, 1, (h, w, 3)).astype(np.float32)
        rgb = cv2.GaussianBlur(blobs, (0, 0), 9) * 900 + 128 + rng.normal(0, 3, (h, w, 3))
    img = np.dstack([np.clip(rgb, 0, 255).astype(np.uint8), np.full((h, w), 255, np.uint8)])
    det = detect_grid(img)
    if kind == "photo_like":
        # Smooth blobs: "no grid" or a grid whose low confidence flags it (pixel art is never
        # refused, so weak evidence gives a flagged result rather than a refusal).
        assert det.grid is None or det.confidence < Thresholds().min_confidence
    else:
        assert det.grid is None
    if det.grid is None:
        assert det.reason


def test_overrides_are_honoured():
    case = synth.make_case(2, "fractional")
    w = case.image.shape[1]
    forced = detect_grid(case.image, ReconstructParams(cell_w=10.0, cell_h=12.0, offset_x=3.0, offset_y=4.0, snap_lines=False))
    g = forced.grid
    assert (g.cell_w, g.cell_h, g.offset_x, g.offset_y) == (10.0, 12.0, 3.0, 4.0)
    assert np.all(np.isin(g.xs[1:-1], np.round(3.0 + np.arange(-1, w // 10 + 2) * 10.0).astype(int)))
    sized = detect_grid(case.image, ReconstructParams(target_cells=(20, 15)))
    assert sized.grid.shape == (15, 20)
    assert sized.grid.cell_w == pytest.approx(w / 20)


def test_edge_profile_ignores_colour_hidden_under_transparency():
    rng = np.random.default_rng(0)
    img = np.zeros((64, 64, 4), np.uint8)
    img[..., :3] = rng.integers(0, 256, (64, 64, 3))  # garbage under alpha 0
    ex, ey = edge_profiles(img)
    assert ex.sum() == 0 and ey.sum() == 0


@pytest.mark.parametrize("cell", [3.0, 3.4, 4.6, 56.0, 64.0])
def test_extreme_cell_sizes_are_restored(cell):
    from pixelperfecter.core.pipeline import reconstruct

    for seed in range(3):
        rng = np.random.default_rng(seed)
        n = 40 if cell < 10 else 16
        case = _case(cell, cell * 1.01, rng.uniform(0, cell), rng.uniform(0, cell), seed, size=(int(n * cell), int(n * cell * 0.9)), blur_sigma=0.3 + 0.05 * cell, noise_sigma=2.0)
        result = reconstruct(case.image)
        assert result.grid is not None
        assert _within(result.grid.cell_w, cell), (result.grid.cell_w, cell)
        assert synth.score_restoration(result.sprite, case.truth).accuracy >= 0.98


def test_precomputed_profiles_give_the_same_grid():
    case = synth.make_case(8, "ai")
    direct = detect_grid(case.image)
    reused = detect_grid(case.image, profiles=edge_profiles(case.image))
    assert direct.grid.cell_w == reused.grid.cell_w and direct.grid.cell_h == reused.grid.cell_h
    np.testing.assert_array_equal(direct.grid.xs, reused.grid.xs)
    np.testing.assert_array_equal(direct.grid.ys, reused.grid.ys)


def test_strokes_thinner_than_a_cell_do_not_invent_cells():
    import cv2

    for seed in range(4):
        rng = np.random.default_rng(seed)
        cell = float(rng.uniform(9, 20))
        case = _case(cell, cell, rng.uniform(0, cell), rng.uniform(0, cell), seed, size=(480, 420), blur_sigma=0.6, noise_sigma=2.0)
        img = case.image.copy()
        for _ in range(6):  # a third of a cell wide, at any angle and position
            p1 = tuple(int(v) for v in rng.integers(0, 420, 2))
            p2 = tuple(int(v) for v in rng.integers(0, 420, 2))
            cv2.line(img, p1, p2, (20, 20, 20, 255), max(1, int(cell / 3)))
        det = detect_grid(img)
        assert det.grid is not None
        assert _within(det.grid.cell_w, cell) and _within(det.grid.cell_h, cell), (seed, det.grid.cell_w, cell)
        assert abs(det.grid.cells_x - case.truth.shape[1]) <= 1


def test_jpeg_block_grid_is_not_taken_for_the_cell_grid():
    """JPEG's 8x8 blocks put a small step every 8 px everywhere; a sparse sprite must still win."""
    case = synth.make_case(10_020_044, "ai")  # 34-px cells, quality 71: once read as an 8-px grid
    assert case.degradation.jpeg_quality is not None and case.cell_w > 16
    det = detect_grid(case.image)
    assert det.grid is not None
    assert _within(det.grid.cell_w, case.cell_w) and _within(det.grid.cell_h, case.cell_h), (det.grid.cell_w, det.grid.cell_h)


def test_clean_8px_grid_at_phase_0_survives_the_jpeg_correction():
    case = _case(8.0, 8.0, 0.0, 0.0, seed=21, size=(400, 360))
    det = detect_grid(case.image)
    assert det.grid.cell_w == pytest.approx(8.0, abs=0.01) and det.grid.cell_h == pytest.approx(8.0, abs=0.01)


def _icon_sheet(seed: int, cell: float = 14.3, cells: int = 16, gap: int = 40):
    """A 2x2 sheet of icons on a flat background, each icon on its own phase (up to half a cell)."""
    rng = np.random.default_rng(seed)
    background = np.array([40, 44, 52], np.uint8)
    side = int(cells * cell)
    size = 2 * side + 3 * gap
    sheet = np.zeros((size, size, 4), np.uint8)
    sheet[..., :3] = background
    sheet[..., 3] = 255
    for iy in range(2):
        for ix in range(2):
            sprite = synth.random_sprite(rng, cells + 2, cells + 2, transparent=True)
            deg = synth.Degradation(cell_w=cell, cell_h=cell, offset_x=rng.uniform(0, 0.5) * cell, offset_y=rng.uniform(0, 0.5) * cell, blur_sigma=0.7, noise_sigma=2.0)
            icon = synth.degrade(sprite, deg, side, side, rng).image
            alpha = icon[..., 3:4].astype(np.float32) / 255
            x0, y0 = gap + ix * (side + gap), gap + iy * (side + gap)
            sheet[y0 : y0 + side, x0 : x0 + side, :3] = (icon[..., :3] * alpha + background * (1 - alpha)).astype(np.uint8)
    return sheet


@pytest.mark.parametrize("seed", range(6))
def test_icon_sheet_with_a_phase_per_icon_keeps_the_real_cell_size(seed):
    """Two combs half a cell apart sum to one comb of half the pitch; the quarters see the truth."""
    det = detect_grid(_icon_sheet(seed))
    assert det.grid is not None
    assert abs(det.grid.cell_w / 14.3 - 1) < 0.02 and abs(det.grid.cell_h / 14.3 - 1) < 0.02, (det.grid.cell_w, det.grid.cell_h)


@pytest.mark.parametrize(("tier", "seed"), [("big", 60017), ("small", 60025)])
def test_jpeg_block_comb_gives_way_to_the_arts_grid(tier, seed):
    # Found by `perfecter bench --seed 60000`: JPEG's 8-px block grid took both axes of 56-px
    # blurred cells (its 16/24-px multiples hid the art's own comb), and one axis of 7-px
    # cells (the right reading scored higher, but not by the incumbent's margin).
    case = synth.make_case(seed, tier)
    result = reconstruct(case.image, has_alpha=case.has_alpha)
    assert abs(result.metrics.cell_w / case.cell_w - 1) < 0.03 and abs(result.metrics.cell_h / case.cell_h - 1) < 0.03
    assert synth.score_restoration(result.sprite, case.truth).restored
