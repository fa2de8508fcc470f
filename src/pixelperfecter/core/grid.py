"""Grid detection: cell size, phase and the position of every grid line, per axis.

The evidence is an edge profile per axis (the strongest colour step at each pixel boundary,
summed across the other axis; JPEG's 8-px block steps and the grain floor taken out).

1. Candidate periods are the peaks of a local (Welch-style) spectrum of the profile.
2. Harmonics are the classic failure, so from each candidate the *harmonic ladder* is walked
   in image space: finer while the finer comb's extra lines all carry edges (a 2x grid or an
   icon-sheet layout), coarser while the dropped lines are all empty (a 1/k harmonic, all
   equally strong on a sharp integer upscale).  The strongest start wins unless another gives
   clearly cleaner cells (fewer edges mid-cell).
3. In 2-D, a grid whose cells hold two colours where dividing them by 2 or 3 fixes it is too
   coarse: single-cell details vanish in a 1-D profile but not here.
4. The pitch is refined by a robust straight-line fit through the snapped edges, and every
   line is placed by dynamic programming: it follows local edge evidence within a bound
   (drift, seams, half-cell jumps) and stays on the uniform grid where there is none.

If edges fall mid-cell about as often as on lines, the answer is "no grid" with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from .types import Grid, GridCandidate, GridDetection, ReconstructParams

MIN_CELL = 2.5
MAX_CELL = 80.0
# Line snapping may move a line this far (fraction of a cell) from the uniform grid.
MAX_SNAP = 0.55
# Harmonic ladder: a finer comb's extra lines are "filled" at this share of the old lines'
# strength; a coarser comb's dropped lines are "empty" below this share.
FILLED = 0.5
EMPTY = 0.3
# A grid whose mid-cell edges reach this share of its line edges is suspect: try other starts.
SUSPECT_MID = 0.15
# Averaged over both axes, above this the edges ignore any grid: noise, photos, paintings.
NO_GRID_MID = 0.5
# Share of two-colour cells below which a grid is not checked for being 2x/3x too coarse.
MIN_BAD_SHARE = 0.01
# Below this spectral coherence an axis has no usable periodic structure.
MIN_COHERENCE = 0.05


@dataclass(frozen=True)
class AxisFit:
    cell: float
    offset: float
    coherence: float
    mid_ratio: float
    candidates: tuple[GridCandidate, ...]


def edge_profiles(rgba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge strength at every pixel boundary: ``ex[k]`` is between columns k-1 and k.

    Per pixel the strongest channel step (L-inf), summed along the other axis.  Arrays have
    length W+1 and H+1; the image borders (0 and W) carry no edge.  Works on uint8 with
    OpenCV, which is several times faster than float NumPy on a 1024-px image.
    """
    img = np.ascontiguousarray(rgba)
    if img.shape[2] == 4 and int(img[..., 3].min()) < 255:
        # Premultiply so that the hidden colour of transparent pixels does not make edges.
        alpha = img[..., 3]
        channels = [cv2.multiply(img[..., c], alpha, scale=1 / 255.0) for c in range(3)] + [alpha]
    else:
        channels = list(cv2.split(img))[:3]

    def strongest(diffs: list[np.ndarray]) -> np.ndarray:
        out = diffs[0]
        for d in diffs[1:]:
            out = cv2.max(out, d)
        return out

    gx = strongest([cv2.absdiff(ch[:, 1:], ch[:, :-1]) for ch in channels])
    gy = strongest([cv2.absdiff(ch[1:, :], ch[:-1, :]) for ch in channels])
    ex = np.zeros(rgba.shape[1] + 1, np.float64)
    ey = np.zeros(rgba.shape[0] + 1, np.float64)
    ex[1:-1] = cv2.reduce(gx, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    ey[1:-1] = cv2.reduce(gy, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    step_x = _jpeg_block_step(gx, axis=1)
    step_y = _jpeg_block_step(gy.T, axis=1)
    if step_x > 0 and step_y > 0:
        # JPEG's 8x8 blocks add a small step on every block boundary, in flat areas too; summed
        # over a whole column it can out-shout a sparse sprite's grid.  Take it back out.
        ex[8::8] = np.clip(ex[8::8] - step_x * rgba.shape[0], 0, None)
        ey[8::8] = np.clip(ey[8::8] - step_y * rgba.shape[1], 0, None)
    return ex, ey


def _jpeg_block_step(grad: np.ndarray, axis: int = 1) -> float:
    """Mean extra step on JPEG block boundaries in flat areas (0 when there is no blocking).

    ``grad[:, j]`` is the step between columns j and j+1, so boundaries at multiples of 8 are
    the columns j = 7 mod 8.  Only small steps count: real edges are large, and a clean
    8-px grid has no small steps at all, so it is left alone.
    """
    if grad.shape[1] < 32:
        return 0.0
    rows = grad[:: max(1, grad.shape[0] // 256)]
    low = rows < 16
    j = np.arange(rows.shape[1])
    on = (j % 8) == 7
    at_boundary = rows[:, on][low[:, on]]
    elsewhere = rows[:, ~on][low[:, ~on]]
    if at_boundary.size < 100 or elsewhere.size < 100:
        return 0.0
    a, b = float(at_boundary.mean()), float(elsewhere.mean())
    return a - b if a > 1.3 * b and a - b > 0.5 else 0.0


def _noise_floor(profile: np.ndarray) -> float:
    inner = profile[1:-1]
    return float(np.percentile(inner, 25)) if inner.size else 0.0


def _phase(profile: np.ndarray, cell: float) -> tuple[float, float]:
    """Phase of the comb with period ``cell`` that best fits the profile, and its coherence."""
    k = np.arange(len(profile))
    total = profile.sum()
    if total <= 0:
        return 0.0, 0.0
    f = np.sum(profile * np.exp(-2j * np.pi * k / cell))
    offset = (-np.angle(f) / (2 * np.pi) * cell) % cell
    return float(offset), float(np.abs(f) / total)


def _coherence_spectrum(profile: np.ndarray, pad: int = 16, max_cell: float = MAX_CELL) -> tuple[np.ndarray, np.ndarray]:
    """Local spectral coherence of the profile: |spectrum| / energy, averaged over segments.

    Segments (Welch-style, Hann-windowed, half overlapping) a few cells long are each coherent
    even when lines drift or jump between them, which would smear one global spectrum.  The
    window also keeps side lobes of a strong peak from posing as nearby periods.
    """
    seg_len = int(min(len(profile), max(256, 6 * max_cell)))
    step = max(1, seg_len // 2)
    starts = list(range(0, max(1, len(profile) - seg_len + 1), step))
    if starts[-1] + seg_len < len(profile):
        starts.append(len(profile) - seg_len)
    window = np.hanning(seg_len)
    n = seg_len * pad
    total_mag = np.zeros(n // 2 + 1)
    total_energy = 0.0
    for a in starts:
        seg = profile[a : a + seg_len]
        weighted = seg * window
        energy = float(weighted.sum())
        if energy <= 0:
            continue
        total_mag += np.abs(np.fft.rfft(weighted - weighted.mean() * window / window.mean(), n=n))
        total_energy += energy
    freqs = np.arange(n // 2 + 1) / n
    if total_energy <= 0:
        return total_mag, freqs
    return total_mag / total_energy, freqs


def _peak_period(mag: np.ndarray, freqs: np.ndarray, min_cell: float, max_cell: float) -> tuple[float, float] | None:
    """The strongest spectral peak with a period in [min_cell, max_cell]: (period, coherence)."""
    lo = max(int(np.searchsorted(freqs, 1.0 / max_cell)), 1)
    hi = min(int(np.searchsorted(freqs, 1.0 / min_cell, side="right")), len(mag) - 1)
    if hi - lo < 1:
        return None
    seg = mag[lo:hi]
    j = lo + int(np.argmax(seg))
    if j <= 0 or j >= len(mag) - 1:
        return None
    a, b, c = mag[j - 1], mag[j], mag[j + 1]
    denom = a - 2 * b + c
    shift = 0.5 * (a - c) / denom if denom != 0 else 0.0
    f = freqs[j] + float(np.clip(shift, -0.5, 0.5)) * (freqs[1] - freqs[0])
    if f <= 0:
        return None
    return 1.0 / f, float(b)


def _peak_periods(mag: np.ndarray, freqs: np.ndarray, min_cell: float, max_cell: float, limit: int = 4) -> list[tuple[float, float]]:
    """The strongest local spectral peaks in the period range, strongest first, at least 3% apart."""
    lo = max(int(np.searchsorted(freqs, 1.0 / max_cell)), 1)
    hi = min(int(np.searchsorted(freqs, 1.0 / min_cell, side="right")), len(mag) - 1)
    if hi - lo < 3:
        return []
    seg = mag[lo - 1 : hi + 1]
    local = np.nonzero((seg[1:-1] >= seg[:-2]) & (seg[1:-1] > seg[2:]))[0] + lo
    out: list[tuple[float, float]] = []
    for j in local[np.argsort(mag[local])[::-1]]:
        a, b, c = mag[j - 1], mag[j], mag[j + 1]
        denom = a - 2 * b + c
        shift = float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5)) if denom != 0 else 0.0
        period = 1.0 / (freqs[j] + shift * (freqs[1] - freqs[0]))
        if all(abs(period - p) > 0.03 * p for p, _ in out):
            out.append((float(period), float(b)))
        if len(out) >= limit:
            break
    return out


def _window_max(profile: np.ndarray, radius: int) -> np.ndarray:
    padded = np.pad(profile, radius, mode="constant")
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1).max(axis=1)


def _comb_levels(profile: np.ndarray, base: float, offset: float, multiple: int) -> tuple[np.ndarray, float]:
    """Mean edge strength at each comb phase j of period base*multiple, and the mid-cell level.

    Entry j averages, over the image, the strongest edge within a quarter cell of the lines
    offset + (n*multiple + j)*base.  The second value is the same average half-way between
    lines, where a correct comb of period ``base`` has no edges: it measures texture and noise.
    """
    length = len(profile) - 1
    # Windows must not reach the neighbouring line of a fine comb, or every line looks busy.
    line_max = _window_max(profile, int(0.25 * base))
    mid_max = _window_max(profile, int(round(0.12 * base)))
    n = np.arange(int(np.ceil((1 - offset) / base)), int(np.floor((length - 1 - offset) / base)) + 1)
    if n.size < 2 * multiple:
        return np.zeros(multiple), 0.0
    pos = np.round(offset + n * base).astype(np.int64)
    phase = np.mod(n, multiple)
    levels = np.bincount(phase, weights=line_max[pos], minlength=multiple) / np.maximum(np.bincount(phase, minlength=multiple), 1)
    mids = np.round(offset + (n[:-1] + 0.5) * base).astype(np.int64)
    return levels, float(mid_max[mids].mean())


def _refine_period(profile: np.ndarray, approx: float, min_cell: float, max_cell: float) -> tuple[float, float]:
    mag, freqs = _coherence_spectrum(profile, max_cell=max_cell)
    peak = _peak_period(mag, freqs, max(min_cell, approx * 0.96), min(max_cell, approx * 1.04))
    if peak is None:
        return approx, 0.0
    return peak


def _snap_lines(profile: np.ndarray, cell: float, offset: float, window: float) -> tuple[np.ndarray, np.ndarray]:
    """For each uniform line inside the profile, the local edge centroid and its energy."""
    length = len(profile) - 1
    first = np.ceil((0 - offset) / cell)
    last = np.floor((length - offset) / cell)
    idx = np.arange(first, last + 1)
    uniform = offset + idx * cell
    positions = np.empty_like(uniform)
    energy = np.empty_like(uniform)
    half = max(1, int(round(window * cell)))
    for i, u in enumerate(uniform):
        c = int(round(u))
        a, b = max(0, c - half), min(length, c + half)
        seg = profile[a : b + 1]
        peak = int(np.argmax(seg))
        pa, pb = max(0, peak - 1), min(len(seg), peak + 2)
        w = seg[pa:pb]
        s = w.sum()
        positions[i] = a + (np.dot(np.arange(pa, pb), w) / s if s > 0 else peak)
        energy[i] = seg[peak]
    return idx, np.stack([positions, energy, uniform], axis=1)


def _robust_pitch(profile: np.ndarray, cell: float, offset: float) -> tuple[float, float]:
    """Refine (cell, offset) by a robust straight-line fit through the snapped edge centroids."""
    idx, snapped = _snap_lines(profile, cell, offset, 0.25)
    pos, energy = snapped[:, 0], snapped[:, 1]
    weight = np.clip(energy, 0, None)
    keep = weight > 0.1 * (weight.max() if weight.size else 0)
    if keep.sum() < 3:
        return cell, offset
    n, x, w = idx[keep], pos[keep], weight[keep]
    w = np.sqrt(w)
    for _ in range(4):
        A = np.stack([np.ones_like(n), n], axis=1)
        sw = np.sqrt(w)
        coef, *_ = np.linalg.lstsq(A * sw[:, None], x * sw, rcond=None)
        resid = x - A @ coef
        # Tukey-style reweighting: seams and jumps must not bias the pitch.
        scale = max(0.08 * cell, 0.75)
        w = w * np.clip(1 - (resid / (3 * scale)) ** 2, 0, None) ** 2
        if (w > 0).sum() < 3:
            break
    b0, b1 = float(coef[0]), float(coef[1])
    if not (0.9 * cell < b1 < 1.1 * cell):
        return cell, offset
    return b1, b0 % b1


def choose_axis(profile: np.ndarray, min_cell: float = MIN_CELL, max_cell: float = MAX_CELL) -> AxisFit | None:
    """Detect the cell size and phase for one axis, or None without periodic evidence.

    Walks the harmonic ladder (see the module docstring) from each strong spectral period
    and keeps the strongest start's grid unless another start's cells are clearly cleaner.
    The returned candidates (best first, then the other starts and the 1/2 and 2x harmonics)
    are what the TUI and the ML track show as alternatives.
    """
    length = len(profile) - 1
    # Fewer than ~8 cells across is not pixel art we can tell from its own layout.
    max_cell = min(max_cell, length / 8.0)
    if max_cell <= min_cell:
        return None
    # Grain adds a flat floor of small gradients everywhere; only what rises above it is edges.
    profile = np.clip(profile - _noise_floor(profile), 0, None)
    mag, freqs = _coherence_spectrum(profile, max_cell=max_cell)
    peaks = _peak_periods(mag, freqs, min_cell, max_cell)
    if not peaks or peaks[0][1] < MIN_COHERENCE:
        return None
    fits: list[AxisFit] = []
    for start, strength in peaks:
        if strength < 0.5 * peaks[0][1]:
            break
        fit = _climb_ladder(profile, start, min_cell, max_cell)
        if all(abs(fit.cell - f.cell) > 0.02 * f.cell for f in fits):
            fits.append(fit)
    # The strongest peak's ladder wins unless another start finds a grid with clearly cleaner
    # cells (a sprite layout can out-shout the real grid).  Only towards coarser cells: a finer
    # non-harmonic comb always finds some edges to sit on.  A whole multiple of the winner with
    # much cleaner cells is the grid the ladder missed (drift hides a 1/2 harmonic's empty lines).
    best = fits[0]
    for fit in fits[1:]:
        ratio = fit.cell / best.cell
        harmonic = round(ratio) >= 2 and abs(ratio - round(ratio)) < 0.03 * round(ratio)
        suspect = best.mid_ratio > SUSPECT_MID or (harmonic and fit.mid_ratio < 0.3 * best.mid_ratio)
        if fit.cell > best.cell and suspect and fit.mid_ratio < 0.6 * best.mid_ratio and fit.coherence >= 0.5 * best.coherence:
            best = fit
    others = tuple(GridCandidate(cell=f.cell, offset=f.offset, score=f.coherence * (1 - min(1.0, f.mid_ratio))) for f in fits if f is not best)
    harmonics = tuple(
        GridCandidate(cell=c, offset=_phase(profile, c)[0], score=float(_phase(profile, c)[1]))
        for c in (best.cell / 2, best.cell * 2)
        if min_cell <= c <= max_cell
    )
    primary = GridCandidate(cell=best.cell, offset=best.offset, score=best.coherence * (1 - min(1.0, best.mid_ratio)))
    return AxisFit(best.cell, best.offset, best.coherence, best.mid_ratio, (primary,) + others + harmonics)


def _climb_ladder(profile: np.ndarray, base: float, min_cell: float, max_cell: float) -> AxisFit:
    """From a spectral period, walk the harmonic ladder to the grid it belongs to."""

    def levels(b: float, m: int) -> tuple[np.ndarray, float]:
        offset, _ = _phase(profile, b)
        return _comb_levels(profile, b, offset, m)

    # Finer: the largest split whose new lines are all about as busy as the old ones.
    best_split = 1
    for m in range(2, 7):
        b = base / m
        if b < min_cell:
            break
        lv, noise = levels(b, m)
        lv = np.roll(lv, -int(np.argmax(lv)))
        signal = lv - noise
        if signal[0] > 0 and signal[1:].min() >= FILLED * signal[0]:
            best_split = m
    if best_split > 1:
        base, _ = _refine_period(profile, base / best_split, min_cell, max_cell)
    # Coarser: repeatedly take the largest merge whose dropped lines are all empty.
    for _ in range(4):
        best_merge = 1
        for m in range(2, 13):
            if base * m > max_cell:
                break
            lv, noise = levels(base, m)
            lv = np.roll(lv, -int(np.argmax(lv)))
            signal = np.clip(lv - noise, 0, None)
            # Every dropped phase near empty, and together not much either: in a sparse sprite
            # a wrong merge spreads the real edges thinly over several phases.
            if signal[0] > 0 and signal[1:].max() <= EMPTY * signal[0] and signal[1:].sum() <= 2 * EMPTY * signal[0]:
                best_merge = m
        if best_merge == 1:
            break
        base, _ = _refine_period(profile, base * best_merge, min_cell, max_cell)
    cell, _ = _refine_period(profile, base, min_cell, max_cell)
    offset, _ = _phase(profile, cell)
    cell, offset = _robust_pitch(profile, cell, offset)
    offset, coh = _phase(profile, cell)
    lv, noise = _comb_levels(profile, cell, offset, 1)
    mid = float(noise / lv[0]) if lv[0] > 0 else 1.0
    return AxisFit(cell=cell, offset=offset, coherence=coh, mid_ratio=mid, candidates=())


def place_lines(profile: np.ndarray, cell: float, offset: float, snap: bool = True) -> np.ndarray:
    """Cell boundaries along one axis, including partial border cells of at least half a cell.

    With ``snap`` each interior line follows the local edge evidence within ``MAX_SNAP`` of a
    cell (dynamic programming keeps neighbouring lines consistent); without it the lines are
    the rounded uniform grid.
    """
    length = len(profile) - 1
    first = int(np.ceil((0.5 - offset) / cell))
    last = int(np.floor((length - 0.5 - offset) / cell))
    uniform = offset + np.arange(first, last + 1) * cell
    if uniform.size and snap:
        lines = _dp_snap(profile, uniform, cell)
    else:
        lines = np.round(uniform).astype(np.int64)
    lines = lines[(lines > 0) & (lines < length)]
    lines = np.unique(lines)
    if lines.size == 0:
        return np.array([0, length], dtype=np.int64)
    # Keep a border cell at least half visible (half a pixel of slack for exact half phases).
    min_width = 0.5 * cell - 0.5
    edges = list(lines)
    if edges[0] >= min_width:
        edges.insert(0, 0)
    if length - edges[-1] >= min_width:
        edges.append(length)
    out = np.asarray(edges, dtype=np.int64)
    if len(out) < 2:
        out = np.array([0, length], dtype=np.int64)
    return out


def _dp_snap(profile: np.ndarray, uniform: np.ndarray, cell: float) -> np.ndarray:
    length = len(profile) - 1
    radius = max(1, int(round(MAX_SNAP * cell)))
    offsets = np.arange(-radius, radius + 1)
    centres = np.round(uniform).astype(np.int64)
    pos = np.clip(centres[:, None] + offsets[None, :], 0, length)
    # Light smoothing so a blurred edge votes as one peak.
    smooth = np.convolve(profile, np.array([0.25, 0.5, 0.25]), mode="same")
    floor = _noise_floor(smooth)
    evidence = np.clip(smooth[pos] - floor, 0, None)
    scale = np.percentile(evidence.max(axis=1), 75)
    if scale <= 0:
        return centres
    evidence = np.minimum(evidence / scale, 1.5)
    rel = offsets / cell
    # A weak pull toward the uniform grid where there is no evidence, and a cost for changing
    # the deviation between neighbouring lines (seams are rare, jitter is noise).
    prior = 0.15 * rel**2
    unary = evidence - prior[None, :]
    jump = 3.0 * (rel[:, None] - rel[None, :]) ** 2
    score = unary[0].copy()
    back = np.zeros((len(uniform), len(offsets)), dtype=np.int64)
    for i in range(1, len(uniform)):
        total = score[:, None] - jump
        back[i] = np.argmax(total, axis=0)
        score = total[back[i], np.arange(len(offsets))] + unary[i]
    path = np.empty(len(uniform), dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for i in range(len(uniform) - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return pos[np.arange(len(uniform)), path]


def _axis_from_override(profile: np.ndarray, cell: float, offset: float | None) -> AxisFit:
    found_offset, coh = _phase(profile, cell)
    return AxisFit(
        cell=cell,
        offset=found_offset if offset is None else offset % cell,
        coherence=coh,
        mid_ratio=0.0,
        candidates=(),
    )


def detect_grid(
    rgba: np.ndarray,
    params: ReconstructParams | None = None,
    profiles: tuple[np.ndarray, np.ndarray] | None = None,
) -> GridDetection:
    """Find the pixel-art grid of an RGBA image, honouring any overrides in ``params``.

    ``profiles`` are the image's ``edge_profiles``: they depend only on the pixels, so callers
    that re-run one image with many overrides (the TUI) compute them once and pass them in.
    """
    params = params or ReconstructParams()
    height, width = rgba.shape[:2]
    if min(width, height) < 2:
        return GridDetection(grid=None, confidence=0.0, reason=f"image too small ({width}x{height})")
    ex, ey = profiles if profiles is not None else edge_profiles(rgba)
    if ex.sum() <= 0 and ey.sum() <= 0 and params.target_cells is None and params.forced_cell_w is None:
        return GridDetection(grid=None, confidence=0.0, reason="image is flat (no edges)")

    fits: list[AxisFit | None] = []
    for profile, forced, off, target_n, length in (
        (ex, params.forced_cell_w, params.offset_x, params.target_cells[0] if params.target_cells else None, width),
        (ey, params.forced_cell_h, params.offset_y, params.target_cells[1] if params.target_cells else None, height),
    ):
        if forced is None and target_n:
            forced = length / float(target_n)
        if forced is not None:
            fits.append(_axis_from_override(profile, float(forced), off))
            continue
        fit = choose_axis(profile)
        if fit is not None and off is not None:
            fit = replace(fit, offset=off % fit.cell)
        fits.append(fit)

    fx, fy = fits
    warnings: list[str] = []
    if fx is None and fy is None:
        return GridDetection(grid=None, confidence=0.0, reason="no periodic grid found (not pixel art?)")
    # One axis without evidence (a sprite made of vertical stripes, say): cells are near-square.
    if fx is None:
        fx = _axis_from_override(ex, fy.cell, params.offset_x)
        warnings.append("no grid evidence along x; assumed square cells")
    if fy is None:
        fy = _axis_from_override(ey, fx.cell, params.offset_y)
        warnings.append("no grid evidence along y; assumed square cells")

    if params.forced_cell_w is None and params.forced_cell_h is None and not params.target_cells:
        if 0.5 * (fx.mid_ratio + fy.mid_ratio) > NO_GRID_MID:
            return GridDetection(
                grid=None,
                confidence=0.0,
                reason=f"no consistent grid: edges fall inside cells as often as on lines (score {fx.mid_ratio:.2f}/{fy.mid_ratio:.2f})",
            )
    if params.target_cells is None:
        free_x, free_y = params.forced_cell_w is None, params.forced_cell_h is None
        coarse = _bad_cell_share(rgba, ex, ey, fx.cell, fy.cell, fx.offset, fy.offset) if free_x or free_y else 0.0
        # Two-colour cells (the grid is too coarse, or icons of a sheet sit on other phases or
        # pitches) or many edges mid-cell (two phases summed look like half the pitch): only
        # then are the costlier checks worth running.
        if coarse >= MIN_BAD_SHARE or max(fx.mid_ratio, fy.mid_ratio) > SUSPECT_MID:
            # Two-colour cells concern both axes; mid-cell edges only the axis that has them.
            vote_x = free_x and (coarse >= MIN_BAD_SHARE or fx.mid_ratio > SUSPECT_MID)
            vote_y = free_y and (coarse >= MIN_BAD_SHARE or fy.mid_ratio > SUSPECT_MID)
            rx, ry = _regional_consensus(rgba, fx, fy, vote_x, vote_y)
            # An axis the regions corrected is mixed-phase: its global cells look two-coloured
            # for that reason, which the 2-D detail check must not take for details.
            same = rx is fx and ry is fy
            fx, fy = _split_if_details(rgba, ex, ey, rx, ry, free_x and rx is fx, free_y and ry is fy, coarse if same else None)

    ratio = fx.cell / fy.cell
    if ratio > 1.5 or ratio < 1 / 1.5:
        warnings.append(f"cell width and height differ a lot ({fx.cell:.2f} x {fy.cell:.2f})")

    xs = place_lines(ex, fx.cell, fx.offset, snap=params.snap_lines)
    ys = place_lines(ey, fy.cell, fy.offset, snap=params.snap_lines)
    if target_n := (params.target_cells[0] if params.target_cells else None):
        xs = np.round(np.linspace(0, width, target_n + 1)).astype(np.int64) if len(xs) - 1 != target_n else xs
    if target_n := (params.target_cells[1] if params.target_cells else None):
        ys = np.round(np.linspace(0, height, target_n + 1)).astype(np.int64) if len(ys) - 1 != target_n else ys

    grid = Grid(
        cell_w=float(fx.cell),
        cell_h=float(fy.cell),
        offset_x=float(fx.offset),
        offset_y=float(fy.offset),
        xs=xs,
        ys=ys,
        width=width,
        height=height,
    )
    confidence = _confidence(fx, fy)
    return GridDetection(
        grid=grid,
        confidence=confidence,
        candidates_x=fx.candidates,
        candidates_y=fy.candidates,
        warnings=tuple(warnings),
    )


def _bad_cell_share(rgba: np.ndarray, ex: np.ndarray, ey: np.ndarray, cell_w: float, cell_h: float, offset_x: float, offset_y: float) -> float:
    """Share of cells (by area) whose core holds two colours: a sign the grid is too coarse."""
    from .cells import cell_samples, median_colors, sample_errors  # local: cells imports nothing from here

    height, width = rgba.shape[:2]
    # Snapped lines, so that a seam (which a uniform grid cuts through) is not mistaken for detail.
    xs = place_lines(ex, cell_w, offset_x)
    ys = place_lines(ey, cell_h, offset_y)
    grid = Grid(cell_w, cell_h, offset_x, offset_y, xs, ys, width, height)
    # A 4x4 lattice per cell is enough to see a second colour, at a third of the full cost.
    samples = cell_samples(rgba, grid, max_samples=4)
    errors = sample_errors(samples, median_colors(samples))
    # A 1-cell detail fills a quarter of a 2x2-cell core: 15% of the samples is enough to see it.
    return float(np.mean((errors > 64).mean(axis=2) > 0.15))


def _regional_consensus(rgba: np.ndarray, fx: AxisFit, fy: AxisFit, free_x: bool, free_y: bool) -> tuple[AxisFit, AxisFit]:
    """Take a whole multiple of the global cell when the image's quarters agree on it.

    Icon sheets often put each icon on its own phase; summed over the whole image, two combs
    half a cell apart look like one comb of half the pitch.  Each quarter of the image mostly
    holds one icon on one phase, so it sees the real cell.
    """
    height, width = rgba.shape[:2]
    if min(height, width) < 320:
        return fx, fy
    votes: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
    for y0, y1 in ((0, height // 2), (height // 2, height)):
        for x0, x1 in ((0, width // 2), (width // 2, width)):
            tile = rgba[y0:y1, x0:x1]
            tx, ty = edge_profiles(tile)
            for axis, profile, free in ((0, tx, free_x), (1, ty, free_y)):
                if not free:
                    continue
                fit = choose_axis(profile)
                if fit is not None and fit.mid_ratio < SUSPECT_MID:
                    votes[axis].append((fit.cell, float(profile.sum())))
    out = []
    for axis, fit, free in ((0, fx, free_x), (1, fy, free_y)):
        chosen = fit
        total = sum(w for _, w in votes[axis])
        if free and len(votes[axis]) >= 2 and total > 0:
            cells = np.array([c for c, _ in votes[axis]])
            weights = np.array([w for _, w in votes[axis]])
            consensus = float(np.median(cells))
            agree = np.abs(cells / consensus - 1) < 0.02
            ratio = consensus / fit.cell
            k = round(ratio)
            # Regions that agree (by most of the edge energy) on a cell the global fit missed,
            # by a harmonic (k = 2, 3) or by a pull of a few percent (k = 1; under 2% is the
            # local drift of a single-grid image, not a mix of phases).
            missed = k in (2, 3) or (k == 1 and abs(ratio - 1) > 0.02)
            if agree.sum() >= 2 and weights[agree].sum() > 0.5 * total and missed and abs(ratio - k) < 0.06 * k:
                cell = float(np.median(cells[agree]))
                chosen = replace(fit, cell=cell, offset=fit.offset % cell)
        out.append(chosen)
    return out[0], out[1]


def _divided(fit: AxisFit, by: int) -> AxisFit:
    return replace(fit, cell=fit.cell / by, offset=fit.offset % (fit.cell / by)) if by > 1 else fit


def _split_if_details(
    rgba: np.ndarray, ex: np.ndarray, ey: np.ndarray, fx: AxisFit, fy: AxisFit, split_x: bool, split_y: bool, coarse: float | None = None
) -> tuple[AxisFit, AxisFit]:
    """Divide the cells by 2 or 3 when single-cell details show each chosen cell is several.

    Along a 1-D profile a few 1-cell details (eyes, highlights) vanish next to the outlines of
    larger blocks, and a sprite whose big shapes line up every 2 or 3 cells fakes a coarse
    grid; in 2-D those cells' cores hold two colours, which the right division fixes.
    """
    divisors = [(dx, dy) for dx in ((1, 2, 3) if split_x else (1,)) for dy in ((1, 2, 3) if split_y else (1,))]
    # Fewest extra cells first: a coarser fix that works is preferred over a finer one.
    options = sorted((d for d in divisors if d != (1, 1)), key=lambda d: (d[0] * d[1], d))
    # Divided cells need a core of a few pixels, or they look clean only for lack of samples.
    options = [(dx, dy) for dx, dy in options if fx.cell / dx >= 4 and fy.cell / dy >= 4]
    if not options:
        return fx, fy
    if coarse is None:
        coarse = _bad_cell_share(rgba, ex, ey, fx.cell, fy.cell, fx.offset, fy.offset)
    if coarse < MIN_BAD_SHARE:
        return fx, fy
    for dx, dy in options:
        fine = _bad_cell_share(rgba, ex, ey, fx.cell / dx, fy.cell / dy, fx.offset, fy.offset)
        # Real details vanish almost completely at the right size; sub-cell strokes (which
        # must not invent cells) only get thinner in share.
        if fine <= 0.15 * coarse:
            return _divided(fx, dx), _divided(fy, dy)
    return fx, fy


def _confidence(fx: AxisFit, fy: AxisFit) -> float:
    """0..1 from the spectral coherence and the cleanliness of the cells on both axes."""
    coh = min(fx.coherence, fy.coherence)
    clean = 1.0 - min(1.0, max(fx.mid_ratio, fy.mid_ratio))
    return float(np.clip(coh / 0.3, 0, 1) * clean)
