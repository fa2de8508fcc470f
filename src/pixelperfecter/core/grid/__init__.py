"""Grid detection: cell size, phase and the position of every grid line, per axis.

The stages, in order (one module each; every tuned constant is in ``DetectorConfig``):

1. ``profiles``: edge profiles per axis (JPEG block steps and the grain floor taken out);
2. ``spectrum``: candidate periods from a local (Welch-style) spectrum;
3. ``ladder``: the harmonic ladder from each period, and a robust pitch and phase fit;
4. ``checks``: 2-D checks (two-colour cells, a regional vote, axis harmonics);
5. ``select``: one scoring of candidate grids from the spectrum, overrides and proposers;
6. ``lines``: every line placed by dynamic programming (drift, seams, half-cell jumps).

Pixel art is never refused: weak evidence gives the best grid with a low confidence.  "No grid"
is for images without any periodic structure (flat images, noise without a comb).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ..types import Grid, GridCandidate, GridDetection, ReconstructParams
from .checks import cell_evidence, regional_consensus, smoothness, split_if_details, two_colour_share
from .config import DEFAULT_CONFIG, DetectorConfig
from .ladder import AxisFit, ProfileCache, at_cell, fit_at, fit_axis, fold_pitch, ramp_evidence, ramp_harmonic, ramp_merged, settle, whole_multiple
from .lines import PlacedMemo, place_lines, placed_lines, plateau_centred
from .profiles import Profiles, denoised, edge_profiles, edge_profiles_by_quarter, noise_floor, without_block_lines
from .right import RightModel, candidate_features, default_right_model
from .select import GridProposer, GridScore, Scorer, axis_mixes, count_neighbours, describe_source, select_grid
from .spectrum import comb_peaks, comb_phase, peak_periods

__all__ = [
    "AxisFit", "DetectorConfig", "DEFAULT_CONFIG", "GridProposer", "GridScore", "Profiles", "RightModel", "Scorer",
    "candidate_features", "default_right_model", "detect_grid", "edge_profiles", "fit_axis", "forced_size_error", "place_lines",
]


def detect_grid(
    rgba: np.ndarray,
    params: ReconstructParams | None = None,
    profiles: Profiles | None = None,
    proposers: Sequence[GridProposer] = (),
    config: DetectorConfig = DEFAULT_CONFIG,
) -> GridDetection:
    """Find the pixel-art grid of an RGBA image, honouring any overrides in ``params``.

    ``profiles`` are the image's ``edge_profiles``: they depend only on the pixels, so callers
    that re-run one image with many overrides (the TUI) compute them once and pass them in.
    ``proposers`` add candidate grids (the ML model); the selection stage scores them beside
    the detector's own.
    """
    params = params or ReconstructParams()
    height, width = rgba.shape[:2]
    if min(width, height) < 2:
        return GridDetection(grid=None, confidence=0.0, reason=f"image too small ({width}x{height})")
    if (too_fine := forced_size_error(width, height, params.target_cells, config)) is not None:
        return GridDetection(grid=None, confidence=0.0, reason=too_fine)
    # The quarters' profiles come from the same pass, for the regional vote (when it runs).
    quarters: tuple[Profiles, ...] = ()
    if profiles is None:
        profiles, quarters = edge_profiles_by_quarter(rgba)
    ex, ey = profiles
    forced = params.forced_cell_w is not None or params.forced_cell_h is not None or params.target_cells is not None
    if ex.sum() <= 0 and ey.sum() <= 0 and not forced:
        return GridDetection(grid=None, confidence=0.0, reason="image is flat (no edges)")

    placed: PlacedMemo = {}
    fx, fy, warnings = _fit_axes(profiles, params, width, height, config)
    if fx is None or fy is None:
        return GridDetection(grid=None, confidence=0.0, reason="no periodic grid found (not pixel art?)")
    if params.target_cells is None:
        fx, fy = _two_d_checks(rgba, profiles, fx, fy, params, config, placed, quarters)
        fx, fy = _ramp_harmonics(profiles, fx, fy, params, config)
    fx, fy, smooth = _smooth_readings(rgba, profiles, fx, fy, params, config, placed, forced, warnings)
    candidates: tuple[GridCandidate, ...] = ()
    own = GridCandidate(fx.cell, fy.cell, fx.offset, fy.offset, source="override" if forced else "spectrum")
    source = own.source
    user_offsets = params.offset_x is not None or params.offset_y is not None
    # The selection's score cannot judge a smooth upscale's grids: cores on plateau lines hold
    # ramps, so finer grids look cleaner (the hybrid broke 2 of 20 smooth-tier successes with
    # half-cell proposals, `ml evaluate --tiers smooth --seed 180000`).  Such a grid stays.
    # Proposals come after the detector's smooth-cell readings: one that passes the smoothness
    # test must not pre-empt them (ml evaluate smooth-10230029: the detector's 83-px reading,
    # whose finer reading is the right 10.9 px, replaced by a 5.7-px proposal).
    if proposers and not forced and not user_offsets and not (fx.plateau or fy.plateau):
        scorer = Scorer(rgba, profiles, config)
        proposed = [scorer.refine(c, avoid=own) for p in proposers for c in p(rgba)]
        proposed += axis_mixes(own, proposed, config)
        proposed += [scorer.refine(c, avoid=own) for c in count_neighbours(scorer, own)]
        # The calibrated right-grid probability decides when it is shipped; else the score.
        best, candidates = select_grid(scorer, own, proposed, default_right_model())
        if best.source != own.source and _coarser_multiple(own, best):
            # The ladder tested that very merge in image space (the dropped lines were not
            # empty); the judges, on cells blurred by drift, cannot overrule it (ml evaluate
            # drift-10250030: a 4x proposal at right p 0.31 won over the right 13.5 px at 0.32).
            best = next(c for c in candidates if c.source == own.source)
        if best.source != own.source:
            source = best.source
            fx = _as_fit(best.cell_w, best.offset_x, fx)
            fy = _as_fit(best.cell_h, best.offset_y, fy)
            # A proposal is a reading like the detector's own: on a smooth upscale the score
            # prefers a ramp harmonic's finer cores (ml evaluate smooth 10040006: the model's
            # 28.2-px proposal halved to 13.9 for 27.8-px cells), which the ramp stage merges.
            fx, fy = _ramp_harmonics(profiles, fx, fy, params, config)
            smooth = _smoothness_of(rgba, profiles, fx, fy, config, placed, forced)
            mine = next(c for c in candidates if c.source == own.source)
            if best.right is not None and mine.right is not None:
                warnings.append(f"grid from {describe_source(best.source)} (right p={best.right:.2f} vs {mine.right:.2f})")
            else:
                warnings.append(f"grid from {describe_source(best.source)} (score {best.score:.2f} vs {mine.score:.2f})")
    if smooth > _smooth_limit(fx, fy, config):
        return GridDetection(
            grid=None,
            confidence=0.0,
            reason=f"colours change inside cells about as much as between them (smoothness {smooth:.2f}): a photo or painting, not pixel art",
        )
    ratio = fx.cell / fy.cell
    if ratio > 1.5 or ratio < 1 / 1.5:
        warnings.append(f"cell width and height differ a lot ({fx.cell:.2f} x {fy.cell:.2f})")
    xs = _lines(ex, fx, params.snap_lines, params.target_cells[0] if params.target_cells else None, width, config, placed, 0)
    ys = _lines(ey, fy, params.snap_lines, params.target_cells[1] if params.target_cells else None, height, config, placed, 1)
    grid = Grid(cell_w=float(fx.cell), cell_h=float(fy.cell), offset_x=float(fx.offset), offset_y=float(fy.offset), xs=xs, ys=ys, width=width, height=height)
    return GridDetection(grid=grid, confidence=_confidence(fx, fy, smooth, config), candidates=candidates, warnings=tuple(warnings), source=source)


def _ramp_harmonics(profiles: Profiles, fx: AxisFit, fy: AxisFit, params: ReconstructParams, config: DetectorConfig) -> tuple[AxisFit, AxisFit]:
    """Free axes merged while they read a 1/k harmonic of colour ramps (``ramp_harmonic``): a
    sprite upscaled with smoothing whose ramps over half a cell the ladder cannot merge."""
    free = (params.forced_cell_w is None, params.forced_cell_h is None)
    clean = (denoised(profiles[0], config), denoised(profiles[1], config))
    fits = [fx, fy]
    # A 1/4 or 1/6 reading merges in steps (2 then 2 or 3).
    if all(free) and abs(fx.cell / fy.cell - 1) <= config.axis_harmonic_tol:
        # Near-square readings merge together or not at all: one axis's evidence alone merged
        # right plateau cells (smooth tier 40041, 22.65 x 22.98 px to 45.3 x 22.98), and a
        # symmetric sprite's parity can be weak on one axis (30032, 20029): the weaker axis
        # needs ``ramp_partner`` of the evidence.
        for _ in range(3):
            for multiple in config.ramp_merges:
                (px, ex), (py, ey) = (ramp_evidence(clean[axis], fits[axis].cell, multiple, config) for axis in (0, 1))
                # The leading axis as a lone axis would need; the other only its product.
                leads = [p >= config.ramp_min_parity and e >= config.ramp_evidence for p, e in ((px, ex), (py, ey))]
                if any(leads) and min(ex, ey) >= config.ramp_partner:
                    # Both axes a clear ramp harmonic: their merged comb may be faint (ramps
                    # over 80% of a cell flatten it: smooth 30007, coherence 0.06-0.07).
                    floor = config.ramp_pair_coherence if all(leads) else None
                    pair = [ramp_merged(clean[axis], fits[axis], multiple, config, floor) for axis in (0, 1)]
                    if pair[0] is not None and pair[1] is not None:
                        fits = [pair[0], pair[1]]
                        break
            else:
                break
        return _plateau_pitches(clean, fits[0], fits[1], free, config)
    for axis in (0, 1):
        for _ in range(3):
            merged = ramp_harmonic(clean[axis], fits[axis], config) if free[axis] else None
            if merged is None:
                break
            fits[axis] = merged
    # Axes that disagree: one merged onto ramps, the other at a harmonic of it or at unrelated
    # structure.  Cells are near-square: the other is refitted at (or near) the merged cell.
    for axis in (0, 1):
        merged, other = fits[1 - axis], fits[axis]
        if not free[axis] or merged is (fx, fy)[1 - axis] or other is not (fx, fy)[axis]:
            continue
        multiple = round(merged.cell / other.cell)
        if multiple >= 2 and abs(merged.cell / (other.cell * multiple) - 1) <= config.ramp_partner_tol:
            # A whole harmonic starts from k x its own pitch, measured over k times more lines
            # (``fold_pitch`` below settles it).
            fits[axis] = replace(at_cell(clean[axis], other.cell * multiple, other, config), plateau=True)
        elif max(merged.cell, other.cell) / min(merged.cell, other.cell) > 1 + config.axis_harmonic_tol:
            fits[axis] = replace(_near_cell(clean[axis], merged.cell, config), plateau=True)
    return _plateau_pitches(clean, fits[0], fits[1], free, config)


def _plateau_pitches(clean: tuple[np.ndarray, np.ndarray], fx: AxisFit, fy: AxisFit, free: tuple[bool, bool],
                     config: DetectorConfig) -> tuple[AxisFit, AxisFit]:
    """Each free plateau axis at its sharpest fold's pitch (``fold_pitch``)."""
    fits = [fold_pitch(clean[axis], fit, config) if free[axis] and fit.plateau else fit for axis, fit in ((0, fx), (1, fy))]
    return fits[0], fits[1]


def _smoothness_of(rgba: np.ndarray, profiles: Profiles, fx: AxisFit, fy: AxisFit, config: DetectorConfig,
                   placed: PlacedMemo | None, forced: bool) -> float:
    """The smoothness the refusal reads: measured only under weak evidence (strong periodic
    evidence on clean cells is pixel art; photos and paintings never reached 0.6), and capped
    on plateau lines (a clear comb of ramps: a sprite upscaled with smoothing, whose cores are
    smooth by construction; a photo has no such comb)."""
    weak = _confidence(fx, fy, 0.0, config) < config.smooth_check_below
    smooth = smoothness(rgba, profiles, fx.cell, fy.cell, fx.offset, fy.offset, config, placed) if weak and not forced else 0.0
    return min(smooth, config.smooth_refuse) if fx.plateau or fy.plateau else smooth


def _smooth_readings(rgba: np.ndarray, profiles: Profiles, fx: AxisFit, fy: AxisFit, params: ReconstructParams, config: DetectorConfig,
                     placed: PlacedMemo, forced: bool, warnings: list[str]) -> tuple[AxisFit, AxisFit, float]:
    """The reading and its smoothness; where its cells are too smooth, the finer, coarser or
    plateau reading that is blocky, if any (a refusal is left to the caller)."""
    smooth = _smoothness_of(rgba, profiles, fx, fy, config, placed, forced)
    # A refusal needs reliable evidence: the two halves of a core under 8 px share blurred
    # pixels, so small cells are refused only when colour ignores them entirely (noise), and
    # otherwise flagged (their confidence falls to 0).
    if smooth <= _smooth_limit(fx, fy, config) or params.target_cells is not None:
        return fx, fy, smooth
    # Smooth colour on a coarse reading can be pixel art read at a large periodic structure
    # (a 52-px pattern over 5.7-px cells: small tier seed 40023): the finest readings under
    # it are tried before the image is called a photo.
    finer = _finer_reading(rgba, profiles, fx, fy, params, config)
    if finer is not None:
        warnings.append(f"the first reading's cells were smooth; finer cells {finer[0].cell:.2f} x {finer[1].cell:.2f} px fit")
        return finer
    coarser = _coarser_reading(rgba, profiles, fx, fy, params, config)
    if coarser is not None:
        warnings.append(f"the first reading's cells were smooth; coarser cells {coarser[0].cell:.2f} x {coarser[1].cell:.2f} px fit")
        return coarser
    ramps = _plateau_reading(profiles, params, config)
    if ramps is not None:
        rx, ry = ramps
        warnings.append(f"the first reading's cells were smooth; cells {rx.cell:.2f} x {ry.cell:.2f} px on colour ramps fit (upscaled with smoothing?)")
        return rx, ry, min(smoothness(rgba, profiles, rx.cell, ry.cell, rx.offset, ry.offset, config), config.smooth_refuse)
    return fx, fy, smooth


def _smooth_limit(fx: AxisFit, fy: AxisFit, config: DetectorConfig) -> float:
    """Smoothness above which the image is refused as a photo (lenient under 8-px cells)."""
    small = min(fx.cell, fy.cell) < config.smooth_refuse_min_cell
    return config.smooth_refuse_small if small else config.smooth_refuse


def _finer_reading(rgba: np.ndarray, profiles: Profiles, fx: AxisFit, fy: AxisFit, params: ReconstructParams,
                   config: DetectorConfig) -> tuple[AxisFit, AxisFit, float] | None:
    """Each free axis refitted under its cell / ``coarser_step``; the pair and its smoothness
    when that is clearly blocky, else None."""
    fits = []
    for profile, fit, forced in ((profiles[0], fx, params.forced_cell_w), (profiles[1], fy, params.forced_cell_h)):
        finer = None if forced is not None else fit_axis(denoised(profile, config), max_cell=fit.cell / config.coarser_step, config=config)
        fits.append(finer if finer is not None else fit)
    nx, ny = fits
    if nx is fx and ny is fy:
        return None
    smooth = smoothness(rgba, profiles, nx.cell, ny.cell, nx.offset, ny.offset, config)
    # The finer reading must be clearly blocky (the strict limit even under 8-px cells): a
    # photo's finest periodic structure is noise, which the lenient small-cell limit lets pass.
    return (nx, ny, smooth) if smooth <= config.smooth_refuse else None


def _coarser_reading(rgba: np.ndarray, profiles: Profiles, fx: AxisFit, fy: AxisFit, params: ReconstructParams,
                     config: DetectorConfig) -> tuple[AxisFit, AxisFit, float] | None:
    """The least smooth of: each free axis refitted over ``coarser_step`` x its cell (JPEG's
    block lines taken out), and square cells from either refit.  For big cells under texture
    and JPEG, whose finest periodic structures (streaks along one axis, 8-px blocks) read as
    smooth cells: bench ``ml evaluate`` big-10080046, 63.6 x 61.1 px cells read as 5.3 x 8.0,
    whose y axis refits at 60.2 and whose streaked x axis at nothing near.  Clearly blocky
    (``smooth_refuse``) or None, as ``_finer_reading``."""
    if params.forced_cell_w is not None or params.forced_cell_h is not None:
        return None
    rx, ry = (fit_axis(denoised(without_block_lines(profile), config), min_cell=fit.cell * config.coarser_step, config=config)
              for profile, fit in ((profiles[0], fx), (profiles[1], fy)))
    options = []
    if rx is not None and ry is not None:
        options.append((rx, ry))
    if ry is not None:
        options.append((_axis_from_override(denoised(profiles[0], config), ry.cell, None), ry))
    if rx is not None:
        options.append((rx, _axis_from_override(denoised(profiles[1], config), rx.cell, None)))
    best = None
    for ox, oy in options:
        smooth = smoothness(rgba, profiles, ox.cell, oy.cell, ox.offset, oy.offset, config)
        if best is None or smooth < best[2]:
            best = (ox, oy, smooth)
    return best if best is not None and best[2] <= config.smooth_refuse else None


def _plateau_reading(profiles: Profiles, params: ReconstructParams, config: DetectorConfig) -> tuple[AxisFit, AxisFit] | None:
    """Before refusing smooth cells: the strongest spectral period of either free axis whose
    lines are plateaus (a sprite upscaled with smoothing, whose ramps flatten the comb so much
    that the ladder settles on unrelated structure), with the other axis fitted near it."""
    if params.forced_cell_w is not None or params.forced_cell_h is not None:
        return None
    clean = (denoised(profiles[0], config), denoised(profiles[1], config))
    tol = config.axis_harmonic_tol
    for axis in (0, 1):
        maxima = ProfileCache(clean[axis])
        max_cell = min(config.max_cell, (len(clean[axis]) - 1) / config.min_cells_across)
        if max_cell <= config.plateau_min_cell:
            continue
        mag, freqs = maxima.spectrum(max_cell, config)
        for period, _ in peak_periods(mag, freqs, config.plateau_min_cell, max_cell, config):
            fit = fit_at(clean[axis], period, config, maxima)
            if not fit.plateau:
                continue
            other = clean[1 - axis]
            near = fit_axis(other, fit.cell * (1 - tol), fit.cell * (1 + tol), config)
            if near is None or not (1 - tol) * fit.cell <= near.cell <= (1 + tol) * fit.cell:
                near = _axis_from_override(other, fit.cell, None)
            return (fit, near) if axis == 0 else (near, fit)
    return None


def forced_size_error(width: int, height: int, target_cells: tuple[int, int] | None,
                      config: DetectorConfig = DEFAULT_CONFIG) -> str | None:
    """Why ``--size`` cannot be used on a ``width`` x ``height`` image (cells under
    ``config.min_forced_cell``), or None when it can."""
    if target_cells is None:
        return None
    cells_x, cells_y = target_cells
    cell_w, cell_h = width / cells_x, height / cells_y
    if min(cell_w, cell_h) >= config.min_forced_cell:
        return None
    cell = f"{cell_w:.3g}" if f"{cell_w:.3g}" == f"{cell_h:.3g}" else f"{cell_w:.3g}x{cell_h:.3g}"
    return (f"--size {cells_x}x{cells_y} gives {cell}-px cells, under the {config.min_forced_cell:g}-px minimum"
            f" (the image is {width}x{height} px)")


def _fit_axes(profiles: Profiles, params: ReconstructParams, width: int, height: int, config: DetectorConfig) -> tuple[AxisFit | None, AxisFit | None, list[str]]:
    """Stages 1-3 per axis: the override if given, else the ladder's fit of the profile."""
    fits: list[AxisFit | None] = []
    for profile, forced, off, target_n, length in (
        (profiles[0], params.forced_cell_w, params.offset_x, params.target_cells[0] if params.target_cells else None, width),
        (profiles[1], params.forced_cell_h, params.offset_y, params.target_cells[1] if params.target_cells else None, height),
    ):
        if forced is None and target_n:
            fits.append(_axis_for_count(profile, length, target_n, off, config))
            continue
        if forced is not None:
            fits.append(_axis_from_override(profile, float(forced), off))
            continue
        fit = fit_axis(denoised(profile, config), config=config)
        if fit is not None and off is not None:
            fit = replace(fit, offset=off % fit.cell)
        fits.append(fit)
    fx, fy = fits
    warnings: list[str] = []
    if fx is None and fy is None:
        return None, None, warnings
    # One axis without evidence (a sprite made of vertical stripes, say): cells are near-square.
    if fx is None:
        assert fy is not None
        fx = _axis_from_override(profiles[0], fy.cell, params.offset_x)
        warnings.append("no grid evidence along x; assumed square cells")
    if fy is None:
        fy = _axis_from_override(profiles[1], fx.cell, params.offset_y)
        warnings.append("no grid evidence along y; assumed square cells")
    return fx, fy, warnings


def _two_d_checks(rgba: np.ndarray, profiles: Profiles, fx: AxisFit, fy: AxisFit, params: ReconstructParams, config: DetectorConfig,
                  placed: PlacedMemo | None = None, quarters: Sequence[Profiles] = ()) -> tuple[AxisFit, AxisFit]:
    """Stage 4: axis harmonics, then (only when cells look mixed) regional votes and splits."""
    free_x, free_y = params.forced_cell_w is None, params.forced_cell_h is None
    if not (free_x or free_y):
        return fx, fy
    fx, fy = _resolve_axis_harmonic(rgba, profiles, fx, fy, free_x, free_y, config)
    coarse, live_x, live_y = cell_evidence(rgba, profiles, fx.cell, fy.cell, fx.offset, fy.offset, config, placed=placed)
    if (free_x and _jpeg_comb(fx, fy, live_x, config)) or (free_y and _jpeg_comb(fy, fx, live_y, config)):
        # Both free axes are retried: the block grid's edges pollute the other axis's fit too.
        fx, fy = _resolve_too_fine(rgba, profiles, fx, fy, free_x, free_y, config)
        coarse = two_colour_share(rgba, profiles, fx.cell, fy.cell, fx.offset, fy.offset, config)
    # Two-colour cells (the grid is too coarse, or icons of a sheet sit on other phases or
    # pitches) or many edges mid-cell (two phases summed look like half the pitch): only
    # then are the costlier checks worth running.
    if coarse < config.min_bad_share and max(fx.mid_ratio, fy.mid_ratio) <= config.suspect_mid:
        return fx, fy
    # Two-colour cells concern both axes; mid-cell edges only the axis that has them.
    vote_x = free_x and (coarse >= config.min_bad_share or fx.mid_ratio > config.suspect_mid)
    vote_y = free_y and (coarse >= config.min_bad_share or fy.mid_ratio > config.suspect_mid)
    rx, ry = regional_consensus(rgba, profiles, fx, fy, vote_x, vote_y, config, quarters)
    # An axis the regions corrected is mixed-phase: its global cells look two-coloured for that
    # reason, which the 2-D detail check must not take for details.
    same = rx is fx and ry is fy
    # Cells on plateau lines hold ramps in their cores (a smooth upscale), not details: they are
    # neither divided nor read finer.
    split_x, split_y = free_x and rx is fx and not rx.plateau, free_y and ry is fy and not ry.plateau
    sx, sy = split_if_details(rgba, profiles, rx, ry, split_x, split_y, coarse if same else None, config)
    if sx is not rx or sy is not ry:
        return sx, sy
    # Likewise only axes the regions left alone are read finer.
    return _finer_if_two_coloured(rgba, profiles, sx, sy, split_x, split_y, coarse if same else None, config)


def _finer_if_two_coloured(rgba: np.ndarray, profiles: Profiles, fx: AxisFit, fy: AxisFit, free_x: bool, free_y: bool,
                           coarse: float | None, config: DetectorConfig) -> tuple[AxisFit, AxisFit]:
    """Cells that stay two-coloured after the splits (``coarse``: their share, if known): each
    free axis refitted under its cell / ``coarser_step``, and the other axis fitted near it
    (near-square cells), scored against them."""
    if not (free_x or free_y):
        return fx, fy
    # Busy art (every cell its own colour) often reaches this stage on a right grid whose
    # blurred cells keep the score's "single" term low: the split's share test comes first.
    if coarse is None:
        coarse = two_colour_share(rgba, profiles, fx.cell, fy.cell, fx.offset, fy.offset, config)
    if coarse < config.min_bad_share:
        return fx, fy
    scorer = Scorer(rgba, profiles, config)
    own = GridCandidate(fx.cell, fy.cell, fx.offset, fy.offset, source="spectrum")
    if scorer.score(own).single >= config.finer_single_below:
        return fx, fy
    tol = config.axis_harmonic_tol
    finer = [fit_axis(scorer.clean_profiles[axis], max_cell=fit.cell / config.coarser_step, config=config) if free else None
             for axis, fit, free in ((0, fx, free_x), (1, fy, free_y))]
    nx, ny = finer
    if nx is None and ny is None:
        return fx, fy
    options: list[tuple[AxisFit, AxisFit]] = []
    if nx is not None:
        options.append((nx, fy))
    if ny is not None:
        options.append((fx, ny))
    if nx is not None and ny is not None:
        options.append((nx, ny))
    for axis, fit in ((0, nx), (1, ny)):
        other = 1 - axis
        if fit is None or not (free_x, free_y)[other]:
            continue
        near = fit_axis(scorer.clean_profiles[other], fit.cell * (1 - tol), fit.cell * (1 + tol), config)
        if near is not None:
            options.append((fit, near) if axis == 0 else (near, fit))
    bx, by = _select_axes(scorer, fx, fy, options)
    if bx is fx and by is fy:
        return fx, fy
    # As for a split, the finer cells must remove all but ``split_residual`` of the two-colour
    # cells (strokes thinner than a cell only get thinner in share and must not invent cells),
    # and be clearly blocky as ``_finer_reading`` demands: a photo's cells are two-coloured at
    # any size, and its finest periodic structure (noise) passes the lenient small-cell limit.
    fine = two_colour_share(rgba, profiles, bx.cell, by.cell, bx.offset, by.offset, config)
    if fine > config.split_residual * coarse:
        return fx, fy
    smooth = smoothness(rgba, profiles, bx.cell, by.cell, bx.offset, by.offset, config)
    return (bx, by) if smooth <= config.smooth_refuse else (fx, fy)


def _resolve_axis_harmonic(rgba: np.ndarray, profiles: Profiles, fx: AxisFit, fy: AxisFit, free_x: bool, free_y: bool, config: DetectorConfig) -> tuple[AxisFit, AxisFit]:
    """When the axes disagree (by 1.5x, or one axis with many mid-cell edges beside a clean
    one), test the readings near square cells in 2-D.

    Generated art has near-square cells (1-4% apart), so cells of 11.2 x 22.3 px mean one axis
    sits on a harmonic: either the coarse axis is 2x too coarse or the fine one 2x too fine.
    Each suspect axis is refitted near the other's cell (the ladder's fit there and the
    whole-profile comb's peaks) and the selection stage's score decides.
    """
    ratio = max(fx.cell, fy.cell) / min(fx.cell, fy.cell)
    if not (free_x and free_y):
        return fx, fy
    # Any disagreement over 1.5x is tested, not only whole multiples: one axis often locks onto
    # texture or block structure at no clean harmonic of the other.  A smaller one is tested
    # when only one axis has many mid-cell edges: that axis is the suspect (big tier seed
    # 21266: x 51.6 px with mid-cell share 0.68 beside a clean 61.2-px y, for 63.9 x 61.6).
    if ratio >= config.axis_disagreement and fx.plateau != fy.plateau:
        # One axis on plateau lines: the image is a smooth upscale, which the 2-D score cannot
        # judge (finer cores hold fewer ramps, coarser ones fit its "single" term: smooth tier
        # 20032, a 14.4-px plateau x taken to 66 px for a 68.9-px y).  A coarser other axis is
        # refitted near the plateau axis; a finer one is left to ``_ramp_harmonics``.
        axis = 1 if fx.plateau else 0
        ramps, other = (fx, fy) if fx.plateau else (fy, fx)
        if other.cell > ramps.cell:
            near = _near_cell(denoised(profiles[axis], config), ramps.cell, config)
            near = replace(near, plateau=True)
            return (near, fy) if axis == 0 else (fx, near)
    if ratio >= config.axis_disagreement:
        axes: tuple[int, ...] = (0, 1)
    elif ratio > 1 + config.axis_harmonic_tol and fx.mid_ratio > config.suspect_mid >= fy.mid_ratio:
        axes = (0,)
    elif ratio > 1 + config.axis_harmonic_tol and fy.mid_ratio > config.suspect_mid >= fx.mid_ratio:
        axes = (1,)
    else:
        return fx, fy
    scorer = Scorer(rgba, profiles, config)
    options = []
    for axis in axes:
        clean = scorer.clean_profiles[axis]
        other = fy if axis == 0 else fx
        lo, hi = other.cell * (1 - config.axis_harmonic_tol), other.cell * (1 + config.axis_harmonic_tol)
        near = _near_cell(clean, other.cell, config, scorer.maxima[axis])
        # Under streaky texture the local spectrum's peak can sit a few % off the pitch (58.9
        # for 55.2 px: big tier seed 20296); the whole-profile comb's own peaks resolve it.
        peaks = comb_peaks(clean, lo, hi, config.comb_peak_count, config.comb_peak_steps)
        at_peaks = [fit_at(clean, peak, config, scorer.maxima[axis]) for peak in peaks]
        for fit in [near] + [f for f in at_peaks if lo <= f.cell <= hi and f.cell != near.cell]:
            options.append((fit, fy) if axis == 0 else (fx, fit))
    return _select_axes(scorer, fx, fy, options)


def _near_cell(clean: np.ndarray, cell: float, config: DetectorConfig, maxima: ProfileCache | None = None) -> AxisFit:
    """The fit of a (denoised) profile within ``axis_harmonic_tol`` of ``cell``."""
    lo, hi = cell * (1 - config.axis_harmonic_tol), cell * (1 + config.axis_harmonic_tol)
    near = fit_axis(clean, lo, hi, config)
    if near is None or not lo <= near.cell <= hi:
        # The ladder may climb out of the window (back to the reading under test): the
        # strongest period inside it, refined like any fit, stands for "near the other axis".
        near = settle(clean, cell, lo, hi, config, maxima)
    return near


def _jpeg_comb(fit: AxisFit, other: AxisFit, live: float, config: DetectorConfig) -> bool:
    """An 8-px comb at phase 0 that looks like JPEG's block grid rather than the art's.

    Under big cells (30-64 px) JPEG's 8x8 blocks out-shout the art's own lines in 1-D, and
    under 5-8 px cells they pull one axis onto 8.00.  Suspect when its lines mostly cross no
    colour change, or when the other axis disagrees (cells are near-square in generated art).
    Real 8-px art at phase 0 has live lines and 8-px cells on both axes, so it is left alone.
    """
    block = config.jpeg_block
    phase = fit.offset % block
    on_blocks = abs(fit.cell - block) < config.jpeg_cell_tol and min(phase, block - phase) < config.jpeg_phase_tol
    return on_blocks and (live < config.min_live or abs(other.cell / fit.cell - 1) > config.axis_harmonic_tol)


def _resolve_too_fine(rgba: np.ndarray, profiles: Profiles, fx: AxisFit, fy: AxisFit, test_x: bool, test_y: bool, config: DetectorConfig) -> tuple[AxisFit, AxisFit]:
    """JPEG's 8-px block grid took an axis: the next coarser periodic structure of each axis,
    and the other axis's cell, are scored against it in 2-D."""
    scorer = Scorer(rgba, profiles, config)
    tol = config.axis_harmonic_tol
    options: list[tuple[AxisFit, AxisFit]] = []
    for axis, fit, other, test in ((0, fx, fy, test_x), (1, fy, fx, test_y)):
        if not test:
            continue
        clean = scorer.clean_profiles[axis]
        # The next coarser structure, the cell of the other axis (near-square cells), and the
        # axis refitted without the block lines (the next coarser structure of a block comb is
        # its own 16 or 24 px multiple when the art's cells are 30-64 px).
        for alt in (fit_axis(clean, fit.cell * config.coarser_step, config=config),
                    fit_axis(clean, other.cell * (1 - tol), other.cell * (1 + tol), config),
                    fit_axis(without_block_lines(clean), config=config)):
            # Only the block reading itself (within ``same_grid``) is no alternative: art cells
            # 6% off 8 px are (unseen bench seed sheet 170048: 7.50 px, dropped within 8%).
            if alt is not None and abs(alt.cell / fit.cell - 1) > config.same_grid:
                options.append((alt, fy) if axis == 0 else (fx, alt))
    if test_x and test_y:
        xs = [o[0] for o in options if o[0] is not fx]
        ys = [o[1] for o in options if o[1] is not fy]
        # When both axes sat on the blocks, "the other axis's cell" was 8 px too: each axis is
        # also fitted near the other's new readings (near-square cells).
        near_y = [fit_axis(scorer.clean_profiles[1], ax.cell * (1 - tol), ax.cell * (1 + tol), config) for ax in xs]
        near_x = [fit_axis(scorer.clean_profiles[0], ay.cell * (1 - tol), ay.cell * (1 + tol), config) for ay in ys]
        xs += [f for f in near_x if f is not None and abs(f.cell / fx.cell - 1) > config.same_grid]
        ys += [f for f in near_y if f is not None and abs(f.cell / fy.cell - 1) > config.same_grid]
        options += [(ax, ay) for ax in xs for ay in ys]
    # The reading under test already looks like the block grid: it keeps no incumbent's margin.
    return _select_axes(scorer, fx, fy, options, ratio=1.0)


def _select_axes(scorer: Scorer, fx: AxisFit, fy: AxisFit, options: Sequence[tuple[AxisFit, AxisFit]],
                 ratio: float | None = None) -> tuple[AxisFit, AxisFit]:
    """The selection stage's choice between the current axes and alternative (x, y) readings
    (``ratio``: the margin an alternative needs, ``select_ratio`` by default)."""
    if not options:
        return fx, fy
    own = GridCandidate(fx.cell, fy.cell, fx.offset, fy.offset, source="spectrum")
    alternatives = [GridCandidate(ax.cell, ay.cell, ax.offset, ay.offset, source=f"alternative-{i}") for i, (ax, ay) in enumerate(options)]
    best, _ = select_grid(scorer, own, alternatives, ratio=ratio)
    if best.source == own.source:
        return fx, fy
    return options[[c.source for c in alternatives].index(best.source)]


def _coarser_multiple(own: GridCandidate, proposal: GridCandidate) -> bool:
    """Whether ``proposal``'s cells are a whole multiple (2 and up) of ``own``'s on both axes."""
    return all(whole_multiple(theirs / mine) for theirs, mine in ((proposal.cell_w, own.cell_w), (proposal.cell_h, own.cell_h)))


def _as_fit(cell: float, offset: float, like: AxisFit) -> AxisFit:
    return replace(like, cell=cell, offset=offset % cell)


def _axis_from_override(profile: np.ndarray, cell: float, offset: float | None) -> AxisFit:
    found_offset, coherence = comb_phase(profile, cell)
    return AxisFit(cell=cell, offset=found_offset if offset is None else offset % cell, coherence=coherence, mid_ratio=0.0)


def _axis_for_count(profile: np.ndarray, length: int, target_n: int, offset: float | None, config: DetectorConfig) -> AxisFit:
    """The pitch and phase for a forced cell count: the profile's own pitch near length / n
    (art that does not quite fill the canvas, or overflows it a little), else length / n;
    the phase from the edges unless the user gave it."""
    even = length / float(target_n)
    fit = fit_axis(denoised(profile, config), even * FORCED_PITCH_RANGE[0], even * FORCED_PITCH_RANGE[1], config)
    # A pitch many of whose lines fall mid-cell is no grid (the count is off the art's own).
    if fit is None or fit.mid_ratio > config.suspect_mid or not _margins_flat(profile, fit, target_n, config):
        return _axis_from_override(profile, even, offset)
    return fit if offset is None else replace(fit, offset=offset % fit.cell)


# A forced count's pitch is searched from 10% under length/n (the art leaves margins) to 5% over
# (it is cropped a little): wider windows reach the 2x / 0.5x harmonics of small counts.
FORCED_PITCH_RANGE = (0.90, 1.05)
# The art's own pitch is kept for a forced count only if the lines left outside the n cells carry
# under this share of the kept lines' mean evidence (a flat margin); otherwise the count is the
# user's reading of the whole canvas and the cells are stretched to fill it.
FLAT_MARGIN_SHARE = 0.25


def _margins_flat(profile: np.ndarray, fit: AxisFit, target_n: int, config: DetectorConfig) -> bool:
    """Whether ``target_n`` cells at the fitted pitch leave out only flat canvas (or nothing)."""
    lines = place_lines(profile, fit.cell, fit.offset, snap=True, config=config)
    if len(lines) - 1 <= target_n + 1:
        return True  # the count and the canvas agree within a border cell
    evidence = _line_evidence(profile, lines, config)
    start = _best_run(evidence, target_n)
    kept = evidence[start : start + target_n + 1]
    left_out = np.concatenate([evidence[1:start], evidence[start + target_n + 1 : -1]])
    return left_out.size == 0 or float(left_out.mean()) < FLAT_MARGIN_SHARE * float(kept.mean())


def _line_evidence(profile: np.ndarray, lines: np.ndarray, config: DetectorConfig) -> np.ndarray:
    smooth = np.convolve(profile, np.array([0.25, 0.5, 0.25]), mode="same")
    out: np.ndarray = np.clip(smooth - noise_floor(smooth, config), 0, None)[lines]
    return out


def _best_run(evidence: np.ndarray, target_n: int) -> int:
    """First line of the run of ``target_n`` cells whose lines carry the most evidence (the most
    central of equals)."""
    sums = np.convolve(evidence, np.ones(target_n + 1), mode="valid")  # run i: lines i..i+n
    centre = np.abs(np.arange(len(sums)) - (len(sums) - 1) / 2)
    return int(np.lexsort((centre, -sums))[0])


def _lines(profile: np.ndarray, fit: AxisFit, snap: bool, target_n: int | None, length: int, config: DetectorConfig,
           placed: PlacedMemo | None = None, axis: int = 0) -> np.ndarray:
    if fit.plateau:
        # Lines on plateaus follow their centres (not the memo's lines, placed on the raw peaks).
        profile, placed = plateau_centred(profile, fit.cell, fit.offset), None
    lines: np.ndarray = placed_lines(placed, axis, profile, fit.cell, fit.offset, snap=snap, config=config).copy()
    if target_n and len(lines) - 1 != target_n:
        lines = _to_count(profile, lines, target_n, length, snap, config)
    return lines


def _to_count(profile: np.ndarray, lines: np.ndarray, target_n: int, length: int, snap: bool, config: DetectorConfig) -> np.ndarray:
    """Exactly ``target_n`` cells from placed lines that give a few more or fewer.

    Too few: the border slivers ``place_lines`` leaves out come back, then the lines are placed
    again at the even pitch length / n.  Too many: the run of ``target_n`` cells whose lines
    carry the most edge evidence is kept (flat margins and slivers fall outside it).  Only if
    neither works are the cells spread evenly: a forced size is a promise.
    """
    if len(lines) - 1 < target_n:
        full = np.unique(np.concatenate([[0], lines, [length]])).astype(np.int64)
        if len(full) - 1 >= target_n:
            lines = full
        else:
            even = length / float(target_n)
            offset, _ = comb_phase(profile, even)
            lines = np.unique(np.concatenate([[0], place_lines(profile, even, offset, snap=snap, config=config), [length]])).astype(np.int64)
    if len(lines) - 1 > target_n:
        start = _best_run(_line_evidence(profile, lines, config), target_n)
        lines = lines[start : start + target_n + 1]
    if len(lines) - 1 != target_n:
        lines = np.round(np.linspace(0, length, target_n + 1)).astype(np.int64)
    return lines


def _confidence(fx: AxisFit, fy: AxisFit, smooth: float, config: DetectorConfig) -> float:
    """0..1 from the spectral coherence, the cleanliness of the cells on both axes and how
    blocky the colours are on the grid (smooth colour is a photo's, not pixel art's)."""
    coherence = min(fx.coherence, fy.coherence)
    clean = 1.0 - min(1.0, max(fx.mid_ratio, fy.mid_ratio))
    blocky = 1.0 - np.clip((smooth - config.smooth_ok) / (config.smooth_refuse - config.smooth_ok), 0, 1)
    return float(np.clip(coherence / config.coherence_full, 0, 1) * clean * blocky)
