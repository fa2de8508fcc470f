"""Stage 4: checks in 2-D that a 1-D profile cannot make.

* two-colour cells: a grid 2x or 3x too coarse, whose single-cell details (eyes, highlights)
  vanish in a 1-D profile next to the outlines of larger blocks;
* a regional vote: icons of a sheet on their own phases sum to a comb of half the pitch;
* axis harmonics: one axis locked onto a harmonic while the other is right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..types import Grid
from .config import DEFAULT_CONFIG, DetectorConfig
from .ladder import AxisFit, at_cell, fit_axis
from .lines import PlacedMemo, placed_lines
from .profiles import Profiles, denoised, edge_profiles_by_quarter


def cell_evidence(
    rgba: np.ndarray, profiles: Profiles, cell_w: float, cell_h: float, offset_x: float, offset_y: float,
    config: DetectorConfig = DEFAULT_CONFIG, step: int | None = None, placed: PlacedMemo | None = None,
) -> tuple[float, float, float]:
    """2-D evidence for one grid: (two-colour share, live-line share along x, along y).

    * two-colour share: cells whose core holds two colours, a sign the grid is too coarse or
      shifted;
    * live-line share: of the lines between the first and last that any colour crosses, those
      that some cell colour changes across.  A 1/k harmonic's in-between lines cross no colour
      change at all, however strong JPEG's block grid or grain makes them in a 1-D profile.
    """
    _, colours, errors = cell_readings(rgba, profiles, cell_w, cell_h, offset_x, offset_y, config, placed)
    share = _two_colour_cells(errors, config.two_colour_step if step is None else step, config)
    return share, _live_lines(colours, 1, config), _live_lines(colours, 0, config)


def _two_colour_cells(errors: np.ndarray, step: int, config: DetectorConfig) -> float:
    """Share of cells whose core samples (``errors``) hold a second colour ``step`` away."""
    return float(np.mean((errors > step).mean(axis=2) > config.two_colour_share))


def cell_readings(
    rgba: np.ndarray, profiles: Profiles, cell_w: float, cell_h: float, offset_x: float, offset_y: float,
    config: DetectorConfig = DEFAULT_CONFIG, placed: PlacedMemo | None = None,
) -> tuple[Grid, np.ndarray, np.ndarray]:
    """One grid read for the 2-D checks: the grid on its snapped lines, each cell's median colour
    and its core samples' errors (``cells.sample_errors``) on a 4x4 lattice."""
    from ..cells import cell_samples, median_colors, sample_errors  # cells imports nothing from here

    height, width = rgba.shape[:2]
    ex, ey = profiles
    # Snapped lines, so that a seam (which a uniform grid cuts through) is not mistaken for detail.
    xs = placed_lines(placed, 0, ex, cell_w, offset_x, config=config)
    ys = placed_lines(placed, 1, ey, cell_h, offset_y, config=config)
    grid = Grid(cell_w, cell_h, offset_x, offset_y, xs, ys, width, height)
    # A 4x4 lattice per cell is enough to see a second colour, at a third of the full cost.
    samples = cell_samples(rgba, grid, max_samples=4)
    colours = median_colors(samples)
    return grid, colours, sample_errors(samples, colours)


@dataclass(frozen=True)
class CellStats:
    """What the selection stage's score and the right-grid features read from one grid's cells,
    from one sampling (``cell_readings``): the hybrid judges 10-20 grids an image, and sampling
    each for every reader doubled its cost."""

    share_live: float  # cells whose core holds two colours at ``live_step``
    share_split: float  # ... at ``two_colour_step``
    live_x: float  # ``_live_lines`` across x (lines between columns) and across y
    live_y: float
    ratios_x: tuple[float, float]  # ``class_ratio`` of the line densities mod 2 and mod 3
    ratios_y: tuple[float, float]
    snap_x: tuple[float, float]  # ``snap_offset`` of the placed lines
    snap_y: tuple[float, float]


def cell_stats(
    rgba: np.ndarray, profiles: Profiles, cell_w: float, cell_h: float, offset_x: float, offset_y: float,
    config: DetectorConfig = DEFAULT_CONFIG,
) -> CellStats:
    """``CellStats`` of one grid."""
    grid, colours, errors = cell_readings(rgba, profiles, cell_w, cell_h, offset_x, offset_y, config)
    shares = [_two_colour_cells(errors, s, config) for s in (config.live_step, config.two_colour_step)]
    changes_x, changes_y = colour_changes(colours, 1, config), colour_changes(colours, 0, config)
    dx, dy = changes_x.mean(axis=0), changes_y.mean(axis=1)
    return CellStats(
        share_live=shares[0], share_split=shares[1],
        live_x=_live_share(np.count_nonzero(changes_x, axis=0)), live_y=_live_share(np.count_nonzero(changes_y, axis=1)),
        ratios_x=(class_ratio(dx, 2), class_ratio(dx, 3)), ratios_y=(class_ratio(dy, 2), class_ratio(dy, 3)),
        snap_x=snap_offset(grid.xs, cell_w, offset_x, grid.width), snap_y=snap_offset(grid.ys, cell_h, offset_y, grid.height),
    )


def snap_offset(lines: np.ndarray, cell: float, offset: float, length: int) -> tuple[float, float]:
    """Mean distance, in cells, of the inner placed lines from the nearest uniform line, and the
    largest relative deviation of their spacing from the cell."""
    inner = lines[(lines > 0) & (lines < length)].astype(np.float64)
    if inner.size == 0:
        return 0.5, 1.0
    d = (inner - offset) / cell
    spacing = np.diff(inner) / cell
    return float(np.mean(np.abs(d - np.round(d)))), float(np.max(np.abs(spacing - 1))) if spacing.size else 0.0


def class_ratio(density: np.ndarray, k: int) -> float:
    """Sparsest over densest mean density of the line classes mod ``k`` (1.0 when undecidable)."""
    if density.size < 2 * k:
        return 1.0
    means = np.array([density[j::k].mean() for j in range(k)])
    top = float(means.max())
    return float(means.min() / top) if top > 0 else 1.0


def colour_changes(colours: np.ndarray, axis: int, config: DetectorConfig = DEFAULT_CONFIG) -> np.ndarray:
    """Where neighbouring cell colours (RGBA) step by more than ``live_step`` across ``axis``:
    (cells_y - 1, cells_x) for axis 0, (cells_y, cells_x - 1) for axis 1."""
    a, b = (colours[1:], colours[:-1]) if axis == 0 else (colours[:, 1:], colours[:, :-1])
    if not a.size:
        return np.zeros(a.shape[:2], bool)
    changed: np.ndarray = _channel_step(a, b) > config.live_step
    return changed


def _live_lines(colours: np.ndarray, axis: int, config: DetectorConfig) -> float:
    """Share of the inner lines across ``axis`` that some cell's colour changes across."""
    return _live_share(np.count_nonzero(colour_changes(colours, axis, config), axis=1 - axis))


def _live_share(changes: np.ndarray) -> float:
    """``_live_lines`` from the count of changed cells per line."""
    live = np.nonzero(changes > 0)[0]
    if live.size < 2:
        return 0.0
    inner = changes[live[0] : live[-1] + 1]
    return float(np.mean(inner > 0))


def two_colour_share(rgba: np.ndarray, profiles: Profiles, cell_w: float, cell_h: float, offset_x: float, offset_y: float, config: DetectorConfig = DEFAULT_CONFIG) -> float:
    """Share of cells whose core holds two colours: a sign the grid is too coarse."""
    return cell_evidence(rgba, profiles, cell_w, cell_h, offset_x, offset_y, config)[0]


def divided(fit: AxisFit, by: int) -> AxisFit:
    return replace(fit, cell=fit.cell / by, offset=fit.offset % (fit.cell / by)) if by > 1 else fit


def split_if_details(
    rgba: np.ndarray,
    profiles: Profiles,
    fx: AxisFit,
    fy: AxisFit,
    split_x: bool,
    split_y: bool,
    coarse: float | None = None,
    config: DetectorConfig = DEFAULT_CONFIG,
) -> tuple[AxisFit, AxisFit]:
    """Divide the cells by 2 or 3 when single-cell details show each chosen cell is several.

    A sprite whose big shapes line up every 2 or 3 cells fakes a coarse grid; in 2-D those
    cells' cores hold two colours, which the right division fixes, while sub-cell strokes
    only get thinner in share.
    """
    divisors = [(dx, dy) for dx in ((1, 2, 3) if split_x else (1,)) for dy in ((1, 2, 3) if split_y else (1,))]
    # Fewest extra cells first: a coarser fix that works is preferred over a finer one.
    options = sorted((d for d in divisors if d != (1, 1)), key=lambda d: (d[0] * d[1], d))
    options = [(dx, dy) for dx, dy in options if fx.cell / dx >= config.min_split_cell and fy.cell / dy >= config.min_split_cell]
    if not options:
        return fx, fy
    if coarse is None:
        coarse = two_colour_share(rgba, profiles, fx.cell, fy.cell, fx.offset, fy.offset, config)
    if coarse < config.min_bad_share:
        return fx, fy
    for dx, dy in options:
        fine = two_colour_share(rgba, profiles, fx.cell / dx, fy.cell / dy, fx.offset, fy.offset, config)
        if fine <= config.split_residual * coarse:
            return divided(fx, dx), divided(fy, dy)
    return fx, fy


def regional_consensus(rgba: np.ndarray, profiles: Profiles, fx: AxisFit, fy: AxisFit, free_x: bool, free_y: bool,
                       config: DetectorConfig = DEFAULT_CONFIG, quarters: Sequence[Profiles] = ()) -> tuple[AxisFit, AxisFit]:
    """Take a whole multiple of the global cell when the image's quarters agree on it.

    Icon sheets often put each icon on its own phase; summed over the whole image, two combs
    half a cell apart look like one comb of half the pitch.  Each quarter of the image mostly
    holds one icon on one phase, so it sees the real cell.  ``quarters``: the quarters'
    profiles (``edge_profiles_by_quarter``), when the caller has them; else they are read the
    same way (a caller that passed its own whole-image profiles gets the same vote).
    """
    height, width = rgba.shape[:2]
    if min(height, width) < config.region_min_side:
        return fx, fy
    if not quarters:
        quarters = edge_profiles_by_quarter(rgba)[1]
    votes: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
    for tile_profiles in quarters:
        for axis, free in ((0, free_x), (1, free_y)):
            if not free:
                continue
            profile = tile_profiles[axis]
            fit = fit_axis(denoised(profile, config), config=config)
            if fit is not None and fit.mid_ratio < config.suspect_mid:
                votes[axis].append((fit.cell, float(profile.sum())))
    out = []
    for axis, fit, free, profile in ((0, fx, free_x, profiles[0]), (1, fy, free_y, profiles[1])):
        chosen = fit
        total = sum(w for _, w in votes[axis])
        if free and len(votes[axis]) >= 2 and total > 0:
            cells = np.array([c for c, _ in votes[axis]])
            weights = np.array([w for _, w in votes[axis]])
            consensus = float(np.median(cells))
            agree = np.abs(cells / consensus - 1) < config.region_agree
            ratio = consensus / fit.cell
            k = round(ratio)
            # Regions that agree (by most of the edge energy) on a cell the global fit missed,
            # by a harmonic (k = 2, 3) or by a pull of a few percent (k = 1).
            missed = k in (2, 3) or (k == 1 and abs(ratio - 1) > config.region_agree)
            # Quarters of 7.6-px cells under JPEG agree on its 8.00-px blocks (small tier seed
            # 20107): a pull onto the block comb is the blocks', not the art's.  (The votes
            # carry no phase to test; 8-px art reads 8.00 globally too, which is no pull.)
            if k == 1 and abs(consensus - config.jpeg_block) < config.jpeg_cell_tol:
                missed = False
            if agree.sum() >= 2 and weights[agree].sum() > 0.5 * total and missed and abs(ratio - k) < config.region_multiple_tol * k:
                # The chosen cell's own comb phase: the global fit's, at another pitch, drifts
                # (2% over 39 cells moves the last line by most of a cell: drift tier seed
                # 100019 had its lines half a cell off).
                chosen = at_cell(denoised(profile, config), float(np.median(cells[agree])), fit, config)
        out.append(chosen)
    return out[0], out[1]


def smoothness(rgba: np.ndarray, profiles: Profiles, cell_w: float, cell_h: float, offset_x: float, offset_y: float,
               config: DetectorConfig = DEFAULT_CONFIG, placed: PlacedMemo | None = None) -> float:
    """How much colour changes *inside* cells relative to *between* them (0 = blocky).

    Pixel art is piecewise constant on its grid: the two halves of a cell's core have the same
    median colour, under any grain, texture or JPEG noise, while neighbouring cells step.  In a
    photo or a painting colour varies smoothly, so half a cell apart it has changed about as
    much as a whole cell apart.  Only the pairs of cells with the largest steps between them count.
    """
    from ..cells import sample_points

    height, width = rgba.shape[:2]
    xs = placed_lines(placed, 0, profiles[0], cell_w, offset_x, config=config)
    ys = placed_lines(placed, 1, profiles[1], cell_h, offset_y, config=config)
    nx, ny = len(xs) - 1, len(ys) - 1
    if min(sample_points(xs, 4).shape[1], sample_points(ys, 4).shape[1]) < 2 or min(nx, ny) < 3:
        return 0.0  # cores too small to split: no evidence either way
    # Per axis, (inside_pair, between) of each band.
    pairs: tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple[np.ndarray, np.ndarray]]] = ([], [])
    for r0, r1 in _row_bands(ny, nx, config):
        band = Grid(cell_w, cell_h, offset_x, offset_y, xs, ys[r0 : r1 + 1], width, height)
        for axis, found in enumerate(_inside_between(rgba, band)):
            pairs[axis].append(found)
    ratios = []
    for per_band in pairs:
        inside_pair = np.concatenate([f[0].ravel() for f in per_band])
        between = np.concatenate([f[1].ravel() for f in per_band])
        # The strongest quarter of the neighbour differences (at least a small step): low-contrast
        # photos have few steps over ``live_step``, and flat pixel-art areas have none at all.
        steps = between > max(config.smooth_min_step, float(np.percentile(between, 75)))
        if steps.sum() < 8:
            continue
        ratios.append(float(np.mean(inside_pair[steps]) / np.mean(between[steps])))
    return float(np.mean(ratios)) if ratios else 0.0


def _row_bands(rows: int, cols: int, config: DetectorConfig) -> list[tuple[int, int]]:
    """[r0, r1) bands of cell rows that ``smoothness`` reads: all rows up to ``smooth_cells``
    cells, else bands of ``smooth_band_rows`` rows spread evenly over the image."""
    band = config.smooth_band_rows
    if rows * cols <= config.smooth_cells or rows <= band:
        return [(0, rows)]
    count = max(1, min(rows // band, config.smooth_cells // (band * cols)))
    starts = np.round(np.linspace(0, rows - band, count)).astype(np.int64)
    return [(int(r), int(r) + band) for r in starts]


def _inside_between(rgba: np.ndarray, grid: Grid) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Per axis (0: across x, 1: across y): the larger colour step inside either of two
    neighbouring cells (between the halves of each core) and the step between them."""
    from ..cells import cell_samples, median_colors, sample_points

    samples = cell_samples(rgba, grid, max_samples=4)
    ky, kx = sample_points(grid.ys, 4).shape[1], sample_points(grid.xs, 4).shape[1]
    # Premultiplied, with alpha as a fourth channel: colour hidden under transparency is noise.
    if not bool((samples[..., 3] == 255).all()):
        alpha = samples[..., 3:].astype(np.uint16)
        samples = np.concatenate([(samples[..., :3] * alpha // 255).astype(np.uint8), samples[..., 3:]], axis=-1)
    # Sample i of a cell sits at lattice row i // kx, column i % kx: the halves are index sets,
    # whose medians read the sample planes in place.
    lattice = np.arange(ky * kx).reshape(ky, kx)
    whole = median_colors(samples)
    out = []
    for axis in (0, 1):
        # Halves across x (axis 0: split lattice columns) or across y (axis 1: lattice rows).
        k = kx if axis == 0 else ky
        a = lattice[:, : k // 2] if axis == 0 else lattice[: k // 2, :]
        b = lattice[:, k - k // 2 :] if axis == 0 else lattice[k - k // 2 :, :]
        inside = _channel_step(median_colors(samples, a.ravel().tolist()), median_colors(samples, b.ravel().tolist()))
        if axis == 0:
            out.append((np.maximum(inside[:, 1:], inside[:, :-1]), _channel_step(whole[:, 1:], whole[:, :-1])))
        else:
            out.append((np.maximum(inside[1:], inside[:-1]), _channel_step(whole[1:], whole[:-1])))
    return out[0], out[1]


def _channel_step(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Largest channel |a - b| of two (..., 4) uint8 colour arrays, as uint8 (OpenCV's absdiff
    and pairwise maxima: an int16 difference and a max over the channel axis cost 3x more)."""
    diff = cv2.absdiff(np.ascontiguousarray(a), np.ascontiguousarray(b))
    out: np.ndarray = np.maximum(np.maximum(diff[..., 0], diff[..., 1]), np.maximum(diff[..., 2], diff[..., 3]))
    return out
