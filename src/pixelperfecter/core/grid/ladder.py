"""Stage 3: the harmonic ladder, walked in image space, and the robust pitch fit.

From a spectral period, go *finer* while the finer comb's extra lines all carry edges (a 2x
grid, an icon-sheet layout), then *coarser* while the dropped lines are all empty (a 1/k
harmonic, which on a sharp integer upscale is as strong as the real grid).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from .config import DEFAULT_CONFIG, DetectorConfig
from .spectrum import Spectrum, coherence_spectrum, comb_phase, peak_periods, refine_period


@dataclass(frozen=True)
class AxisFit:
    """One axis of a grid: pitch, phase, spectral coherence and the share of edges mid-cell."""

    cell: float
    offset: float
    coherence: float
    mid_ratio: float
    # The comb's lines are plateaus, not edges (``plateau_lines``): a sprite upscaled with
    # smoothing, whose cells must not be divided for the ramps their cores hold.
    plateau: bool = False


class ProfileCache:
    """What the ladder computes of one profile, each once: running maxima per radius (called as
    ``cache(radius)``), spectra per longest cell, and the combs and settled fits of its periods."""

    def __init__(self, profile: np.ndarray) -> None:
        self.profile = profile
        self._cache: dict[int, np.ndarray] = {}
        # Keyed by the config's id, not the config: hashing its ~60 fields cost more than the
        # lookups save (a cache lives for one detection, while its config does).
        self._spectra: dict[tuple[float, int], Spectrum] = {}
        # The ladder's starts often meet on one period: its comb and its settled fit are reused.
        self.combs: dict[tuple[float, int], CombSamples] = {}
        self.settled: dict[tuple[float, float, float, int], AxisFit] = {}
        self._eroded: dict[int, ProfileCache] = {}
        # ``plateau_lines`` per period: the ladder's split and merge steps and the settled fit
        # ask it of the same periods.
        self.plateaus: dict[tuple[float, int], bool] = {}

    def eroded(self, radius: int) -> "ProfileCache":
        """The cache of this profile's running minimum over +-``radius`` (what of each edge is
        wider than 2 * radius + 1 px)."""
        if radius not in self._eroded:
            row = np.ascontiguousarray(self.profile, dtype=np.float64).reshape(1, -1)
            self._eroded[radius] = ProfileCache(cv2.erode(row, np.ones((1, 2 * radius + 1), np.uint8)).ravel())
        return self._eroded[radius]

    def spectrum(self, max_cell: float, config: DetectorConfig = DEFAULT_CONFIG) -> Spectrum:
        key = (max_cell, id(config))
        if key not in self._spectra:
            self._spectra[key] = coherence_spectrum(self.profile, max_cell, config)
        return self._spectra[key]

    def refine(self, approx: float, min_cell: float, max_cell: float, config: DetectorConfig = DEFAULT_CONFIG) -> float:
        """``refine_period`` on this profile."""
        return refine_period(self.profile, approx, min_cell, max_cell, config, self.spectrum(max_cell, config))

    def __call__(self, radius: int) -> np.ndarray:
        out = self._cache.get(radius)
        if out is None:
            # Running max by OpenCV's dilation (linear in the length, not in the radius); its
            # border is ignored as np.pad's zeros would be under a profile of non-negative edges.
            row = np.ascontiguousarray(self.profile, dtype=np.float64).reshape(1, -1)
            out = cv2.dilate(row, np.ones((1, 2 * radius + 1), np.uint8)).ravel() if radius > 0 else row.ravel().copy()
            if radius > 0 and float(self.profile.min(initial=0.0)) < 0:
                # Windows within ``radius`` of an end reach np.pad's zeros.
                out[:radius] = np.maximum(out[:radius], 0.0)
                out[-radius:] = np.maximum(out[-radius:], 0.0)
            self._cache[radius] = out
        return out


def comb_levels(maxima: ProfileCache, base: float, offset: float, multiple: int, config: DetectorConfig = DEFAULT_CONFIG) -> tuple[np.ndarray, float]:
    """Mean edge strength at each comb phase j of period base*multiple, and the mid-cell level.

    Entry j averages, over the image, the strongest edge within a quarter cell of the lines
    offset + (n*multiple + j)*base.  The second value is the same average half-way between
    lines, where a correct comb of period ``base`` has no edges: it measures texture and noise.
    """
    return folded(comb_samples(maxima, base, offset, config), multiple)


CombSamples = tuple[np.ndarray, np.ndarray, float]


def comb_samples(maxima: ProfileCache, base: float, offset: float, config: DetectorConfig = DEFAULT_CONFIG) -> CombSamples:
    """The lines of the comb of period ``base``: their indices n, the strongest edge near each,
    and the mean strongest edge half-way between lines (what ``comb_levels`` folds)."""
    length = len(maxima.profile) - 1
    # Windows must not reach the neighbouring line of a fine comb, or every line looks busy.
    line_max = maxima(int(config.line_window * base))
    mid_max = maxima(int(round(config.mid_window * base)))
    n = np.arange(int(np.ceil((1 - offset) / base)), int(np.floor((length - 1 - offset) / base)) + 1)
    if n.size < 2:
        return n, np.zeros(n.size), 0.0
    pos = np.round(offset + n * base).astype(np.int64)
    mids = np.round(offset + (n[:-1] + 0.5) * base).astype(np.int64)
    return n, line_max[pos], float(mid_max[mids].mean())


def folded(samples: CombSamples, multiple: int) -> tuple[np.ndarray, float]:
    """``comb_levels`` from the comb's samples: the line strengths folded by phase mod ``multiple``."""
    n, strength, noise = samples
    if n.size < 2 * multiple:
        return np.zeros(multiple), 0.0
    phase = np.mod(n, multiple)
    levels = np.bincount(phase, weights=strength, minlength=multiple) / np.maximum(np.bincount(phase, minlength=multiple), 1)
    return levels, noise


def mid_ratio(maxima: ProfileCache, cell: float, offset: float, config: DetectorConfig = DEFAULT_CONFIG) -> float:
    """Edge strength half-way between lines over that on lines: ~0 on the right comb."""
    lv, noise = comb_levels(maxima, cell, offset, 1, config)
    return float(noise / lv[0]) if lv[0] > 0 else 1.0


def snap_lines(profile: np.ndarray, cell: float, offset: float, window: float) -> tuple[np.ndarray, np.ndarray]:
    """For each uniform line inside the profile: its index, and (edge centroid, energy, uniform)."""
    length = len(profile) - 1
    idx = np.arange(np.ceil((0 - offset) / cell), np.floor((length - offset) / cell) + 1)
    uniform = offset + idx * cell
    half = max(1, int(round(window * cell)))
    centres = np.round(uniform).astype(np.int64)
    # One window per line, vectorised: positions outside the profile count as no edge.
    span = np.arange(-half, half + 1)
    pos = centres[:, None] + span[None, :]
    inside = (pos >= 0) & (pos <= length)
    seg = np.where(inside, profile[np.clip(pos, 0, length)], -1.0)
    peak = np.argmax(seg, axis=1)
    rows = np.arange(len(uniform))
    energy = seg[rows, peak]
    # Centroid of the peak and its two neighbours (sub-pixel edge position of a blurred step).
    step = np.array([-1, 0, 1])
    nb = peak[:, None] + step[None, :]
    valid = (nb >= 0) & (nb < len(span))
    nb = np.clip(nb, 0, len(span) - 1)
    w = np.where(valid, np.clip(seg[rows[:, None], nb], 0, None), 0.0)
    s = w.sum(axis=1)
    at = pos[rows[:, None], nb]
    centroid = np.where(s > 0, (w * at).sum(axis=1) / np.where(s > 0, s, 1), pos[rows, peak])
    return idx, np.stack([centroid.astype(np.float64), energy, uniform], axis=1)


def robust_pitch(profile: np.ndarray, cell: float, offset: float, config: DetectorConfig = DEFAULT_CONFIG) -> tuple[float, float]:
    """Refine (cell, offset) by a robust straight-line fit through the snapped edge centroids."""
    idx, snapped = snap_lines(profile, cell, offset, config.line_window)
    pos, energy = snapped[:, 0], snapped[:, 1]
    weight = np.clip(energy, 0, None)
    keep = weight > 0.1 * (weight.max() if weight.size else 0)
    if keep.sum() < 3:
        return cell, offset
    n, x, w = idx[keep], pos[keep], np.sqrt(weight[keep])
    b0, b1 = offset, cell
    for _ in range(config.tukey_rounds):
        b0, b1 = _weighted_line(n, x, w)
        resid = x - (b0 + b1 * n)
        # Tukey-style reweighting: seams and jumps must not bias the pitch.
        scale = max(config.tukey_scale * cell, 0.75)
        w = w * np.clip(1 - (resid / (3 * scale)) ** 2, 0, None) ** 2
        if (w > 0).sum() < 3:
            break
    if not ((1 - config.pitch_tolerance) * cell < b1 < (1 + config.pitch_tolerance) * cell):
        return cell, offset
    return b1, b0 % b1


def _weighted_line(n: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(intercept, slope) of the weighted least-squares line x ~ n, in closed form (a 2-column
    ``lstsq`` is an SVD: ~80 us, four times per fit, dozens of fits per image).  Needs two
    distinct n of positive weight, which the caller's three keeps."""
    total = w.sum()
    n_mean, x_mean = (w * n).sum() / total, (w * x).sum() / total
    dn = n - n_mean
    slope = float((w * dn * (x - x_mean)).sum() / (w * dn * dn).sum())
    return float(x_mean - slope * n_mean), slope


def climb_ladder(profile: np.ndarray, base: float, min_cell: float, max_cell: float, config: DetectorConfig = DEFAULT_CONFIG, maxima: ProfileCache | None = None) -> AxisFit:
    """From a spectral period, walk the harmonic ladder to the grid it belongs to."""
    maxima = maxima or ProfileCache(profile)

    def levels(b: float, m: int, source: ProfileCache = maxima) -> tuple[np.ndarray, float]:
        # The merges try every multiple of one period: its phase and lines are found once.
        key = (b, id(config))
        if key not in source.combs:
            source.combs[key] = comb_samples(source, b, comb_phase(profile, b)[0], config)
        lv, noise = folded(source.combs[key], m)
        top = int(np.argmax(lv))
        return np.concatenate((lv[top:], lv[:top])), noise  # the strongest phase first

    # Finer: the largest split whose new lines are all about as busy as the old ones; none
    # where the lines are plateaus (a smooth upscale's ramps fill any finer comb's lines).
    best_split = 1
    for m in range(2, 2 if plateau_lines(maxima, base, config) else config.max_split + 1):
        if base / m < min_cell:
            break
        lv, noise = levels(base / m, m)
        signal = lv - noise
        if signal[0] > 0 and signal[1:].min() >= config.filled * signal[0]:
            best_split = m
    if best_split > 1:
        base = maxima.refine(base / best_split, min_cell, max_cell, config)
    # Coarser: repeatedly take the largest merge whose dropped lines are all empty.
    for _ in range(4):
        best_merge = 1
        # On plateau lines the lines a merge drops sit beside the ramps of the kept ones: what
        # is "empty" is read where the plateaus have been narrowed (``plateau_lines``' minimum).
        # (A 16-px smooth upscale read at 4 px merges to 16 so: smooth tier seed 30000.)
        source = maxima.eroded(plateau_radius(base, config)) if plateau_lines(maxima, base, config) else maxima
        for m in range(2, config.max_merge + 1):
            if base * m > max_cell:
                break
            lv, noise = levels(base, m, source)
            signal = np.clip(lv - noise, 0, None)
            # Every dropped phase near empty, and together not much either: in a sparse sprite
            # a wrong merge spreads the real edges thinly over several phases.
            if signal[0] > 0 and signal[1:].max() <= config.empty * signal[0] and signal[1:].sum() <= 2 * config.empty * signal[0]:
                best_merge = m
        if best_merge == 1:
            break
        base = maxima.refine(base * best_merge, min_cell, max_cell, config)
    return settle(profile, base, min_cell, max_cell, config, maxima)


def plateau_radius(base: float, config: DetectorConfig = DEFAULT_CONFIG) -> int:
    """Half the width of the running minimum ``plateau_lines`` applies at period ``base``."""
    return int(round(config.plateau_width * base / 2))


def plateau_lines(maxima: ProfileCache, base: float, config: DetectorConfig = DEFAULT_CONFIG) -> bool:
    """Whether the lines of the comb of period ``base`` are plateaus ``plateau_width`` of a cell
    wide or more: the ramps of a sprite upscaled with smoothing (bicubic, Lanczos), whose edge
    profile is the sharp comb convolved with a box.  Such lines keep ``plateau_keep`` of their
    strength under a running minimum that wide; the blurred edges of generated art do not."""
    key = (base, id(config))
    if key not in maxima.plateaus:
        maxima.plateaus[key] = _plateau_lines(maxima, base, config)
    return maxima.plateaus[key]


def _plateau_lines(maxima: ProfileCache, base: float, config: DetectorConfig) -> bool:
    radius = plateau_radius(base, config)
    if base < config.plateau_min_cell or radius < 1:
        return False
    offset, _ = comb_phase(maxima.profile, base)
    before = comb_samples(maxima, base, offset, config)[1]
    if not before.size or before.mean() <= 0:
        return False
    after = comb_samples(maxima.eroded(radius), base, offset, config)[1]
    return bool(after.mean() >= config.plateau_keep * before.mean())


def folds(profile: np.ndarray, period: float, groups: np.ndarray | None = None, count: int = 1) -> np.ndarray:
    """The profile folded at ``period``: its mean per ~1-px phase bin, one row per group of
    lines (``groups``: each pixel's group in 0..count-1, all one group if None)."""
    pos = np.arange(len(profile)) / period
    bins = max(6, int(round(period)))
    phase = np.minimum(((pos - np.floor(pos)) * bins).astype(np.int64), bins - 1)
    key = phase if groups is None else groups * bins + phase
    total = np.bincount(key, weights=profile, minlength=count * bins).reshape(count, bins)
    seen = np.bincount(key, minlength=count * bins).reshape(count, bins)
    return total / np.maximum(seen, 1)


def ramp_keep(profile: np.ndarray, period: float, config: DetectorConfig = DEFAULT_CONFIG) -> float:
    """What the profile folded at ``period`` keeps of its peak under a running minimum
    ``plateau_width`` of a period wide: ~1 when its lines are ramps that wide (the fold
    averages the noise that makes ``plateau_lines``' per-line reading unsure), ~0 on edges."""
    fold = folds(profile, period)[0]
    radius = max(1, int(round(config.plateau_width * fold.size / 2)))
    ring = np.concatenate((fold[-radius:], fold, fold[:radius])).reshape(1, -1)
    eroded = cv2.erode(ring, np.ones((1, 2 * radius + 1), np.uint8)).ravel()[radius:-radius]
    return float(eroded.max() / fold.max()) if fold.max() > 0 else 0.0


def ramp_parity(profile: np.ndarray, period: float, multiple: int, config: DetectorConfig = DEFAULT_CONFIG) -> float:
    """How much the lines n mod ``multiple`` of the comb of ``period`` differ in shape, over how
    much lines grouped by n // multiple mod ``multiple`` do (the same sampling, but each group
    holds every phase of a ``multiple``-times coarser grid): ~1 on the right pitch, large on a
    1/``multiple`` harmonic."""
    line = np.floor(np.arange(len(profile)) / period).astype(np.int64)

    def spread(groups: np.ndarray) -> float:
        shapes = folds(profile, period, groups, multiple)
        shapes = shapes / np.maximum(shapes.sum(axis=1, keepdims=True), 1e-12)
        return float(np.abs(shapes - shapes.mean(axis=0)).sum() / multiple)

    return spread(line % multiple) / (spread((line // multiple) % multiple) + config.ramp_parity_floor)


def ramp_evidence(profile: np.ndarray, cell: float, multiple: int, config: DetectorConfig = DEFAULT_CONFIG) -> tuple[float, float]:
    """How clearly the comb of ``cell`` is a 1/``multiple`` harmonic of colour ramps: its
    ``ramp_parity``, and that times the ``ramp_keep`` of the fold at ``multiple`` x ``cell``
    (both 0 where the coarser cell does not fit the profile)."""
    coarse = cell * multiple
    if len(profile) - 1 < config.min_cells_across * coarse or coarse > config.max_cell:
        return 0.0, 0.0
    parity = ramp_parity(profile, cell, multiple, config)
    return parity, parity * ramp_keep(profile, coarse, config)


def ramp_merged(profile: np.ndarray, fit: AxisFit, multiple: int, config: DetectorConfig = DEFAULT_CONFIG,
                min_coherence: float | None = None) -> AxisFit | None:
    """``fit`` merged ``multiple`` times as a plateau fit, or None without a clear comb there
    (coherence under ``min_coherence``, by default ``plateau_min_coherence``)."""
    # The merged pitch starts from k x the harmonic's, measured over k times more lines than a
    # fit at the coarse pitch, whose lines snap anywhere on their plateaus (2% off: smooth tier
    # 30052); the ramp stage then takes its sharpest fold near it (``fold_pitch``).
    merged = at_cell(profile, fit.cell * multiple, fit, config)
    # Like any plateau fit, only on a clear comb (a JPEG photo's 16-px fold of its 8-px blocks
    # can keep its plateau: scikit-image's retina).
    floor = config.plateau_min_coherence if min_coherence is None else min_coherence
    return replace(merged, plateau=True) if merged.coherence >= floor else None


def ramp_harmonic(profile: np.ndarray, fit: AxisFit, config: DetectorConfig = DEFAULT_CONFIG) -> AxisFit | None:
    """The fit at k x ``fit.cell`` when ``fit`` is a 1/k harmonic of ramps (``ramp_evidence``;
    see the config), else None."""
    for multiple in config.ramp_merges:
        parity, evidence = ramp_evidence(profile, fit.cell, multiple, config)
        if parity >= config.ramp_min_parity and evidence >= config.ramp_evidence:
            return ramp_merged(profile, fit, multiple, config)
    return None


def fold_pitch(profile: np.ndarray, fit: AxisFit, config: DetectorConfig = DEFAULT_CONFIG) -> AxisFit:
    """A plateau fit at the pitch within ``fold_pitch_span`` whose fold of the profile is the
    sharpest (the largest variance over phase): a wrong pitch smears the plateaus and gaps over
    the image.  The robust line fit cannot be that precise on plateaus, where each line's
    strongest pixel is anywhere on its ramp (1-5% off on the smooth tier)."""
    cell = fit.cell
    for span in (config.fold_pitch_span, config.fold_pitch_span / 10):
        trials = cell * np.linspace(1 - span, 1 + span, config.fold_pitch_steps)
        sharpness = [float(folds(profile, trial)[0].var()) for trial in trials]
        cell = float(trials[int(np.argmax(sharpness))])
    return at_cell(profile, cell, fit, config)


def settle(profile: np.ndarray, approx: float, min_cell: float, max_cell: float, config: DetectorConfig = DEFAULT_CONFIG,
           maxima: ProfileCache | None = None) -> AxisFit:
    """The fit at the spectral peak nearest ``approx`` (within [min_cell, max_cell]): its phase,
    the robust pitch through the line positions, and the comb's coherence and mid-cell share."""
    maxima = maxima or ProfileCache(profile)
    peak = maxima.refine(approx, min_cell, max_cell, config)
    key = (peak, min_cell, max_cell, id(config))
    if key not in maxima.settled:
        maxima.settled[key] = fit_at(profile, peak, config, maxima)
    return maxima.settled[key]


def fit_at(profile: np.ndarray, period: float, config: DetectorConfig = DEFAULT_CONFIG, maxima: ProfileCache | None = None) -> AxisFit:
    """The fit from a given period: its phase, the robust pitch through the line positions,
    and the comb's coherence and mid-cell share."""
    maxima = maxima or ProfileCache(profile)
    offset, _ = comb_phase(profile, period)
    cell, offset = robust_pitch(profile, period, offset, config)
    offset, coherence = comb_phase(profile, cell)
    # A plateau comb is a clear one: a photo's weak comb (coherence 0.03-0.06) can sit on
    # smooth ramps too.
    plateau = coherence >= config.plateau_min_coherence and plateau_lines(maxima, cell, config)
    return AxisFit(cell=cell, offset=offset, coherence=coherence, mid_ratio=mid_ratio(maxima, cell, offset, config), plateau=plateau)


def at_cell(profile: np.ndarray, cell: float, like: AxisFit, config: DetectorConfig = DEFAULT_CONFIG) -> AxisFit:
    """``like`` moved to ``cell``, with the phase, coherence and mid-cell share of that comb on
    the (denoised) profile: a phase fitted at another pitch drifts over the image."""
    offset, coherence = comb_phase(profile, cell)
    return replace(like, cell=cell, offset=offset, coherence=coherence, mid_ratio=mid_ratio(ProfileCache(profile), cell, offset, config))


def whole_multiple(ratio: float) -> bool:
    """Whether ``ratio`` is within 3% of a whole number of 2 or more."""
    k = round(ratio)
    return k >= 2 and abs(ratio - k) < 0.03 * k


def fit_axis(profile: np.ndarray, min_cell: float | None = None, max_cell: float | None = None, config: DetectorConfig = DEFAULT_CONFIG) -> AxisFit | None:
    """The cell size and phase of one axis, or None without periodic evidence.

    ``profile`` is an edge profile with its grain floor already taken out (``denoised``).
    Walks the ladder from each strong spectral period and keeps the strongest start's grid
    unless another start's cells are clearly cleaner: only towards coarser cells (a finer
    non-harmonic comb always finds some edges to sit on), and a whole multiple of the winner
    with much cleaner cells is the grid the ladder missed (drift hides a 1/2 harmonic's empty
    lines).
    """
    min_cell = config.min_cell if min_cell is None else min_cell
    length = len(profile) - 1
    max_cell = min(config.max_cell if max_cell is None else max_cell, length / config.min_cells_across)
    if max_cell <= min_cell:
        return None
    maxima = ProfileCache(profile)
    mag, freqs = maxima.spectrum(max_cell, config)
    peaks = peak_periods(mag, freqs, min_cell, max_cell, config)
    if not peaks or peaks[0][1] < config.min_coherence:
        return None
    fits: list[AxisFit] = []
    for start, strength in peaks:
        if strength < config.start_strength * peaks[0][1]:
            break
        fit = climb_ladder(profile, start, min_cell, max_cell, config, maxima)
        if all(abs(fit.cell - f.cell) > 0.02 * f.cell for f in fits):
            fits.append(fit)
    best = fits[0]
    for fit in fits[1:]:
        harmonic = whole_multiple(fit.cell / best.cell)
        suspect = best.mid_ratio > config.suspect_mid or (harmonic and fit.mid_ratio < config.cleaner_multiple * best.mid_ratio)
        if fit.cell > best.cell and suspect and fit.mid_ratio < config.cleaner_start * best.mid_ratio and fit.coherence >= config.start_coherence * best.coherence:
            best = fit
        elif fit.cell < best.cell and not whole_multiple(best.cell / fit.cell) and fit.coherence >= config.finer_coherence * best.coherence and fit.mid_ratio <= best.mid_ratio:
            best = fit
    return best
