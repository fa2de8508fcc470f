"""Running the gridline model and turning its boundary maps into candidate grids (torch-free).

The net (``gridline.GridlineNet``) is fully convolutional, so it runs on strips of the image
at native resolution: for the per-column profile, the ``strips`` (default 2) busiest full-width
horizontal strips of ``STRIP`` rows (Canny edge count decides "busiest": a sprite on an empty
canvas); for the per-row profile the same with vertical strips.  Two strips of 128 px per
axis read 0.5 MP of a 1024^2 image.  The maps are averaged across each strip (its outer
``STRIP_MARGIN`` px, which lack context, left out) into 1-D boundary probabilities of the
core's profile layout: index k is the boundary between pixels k-1 and k, length W+1.

Candidates: the core's public ``fit_axis`` on the probability profile (its floor taken out)
and on the product of the probability with the edge profile (both normalised), and the local
pitch of the profile's peaks (``peak_pitch``: seams and half-cell jumps do not move it); their
x/y pairs, as ``GridCandidate(source="gridline#k")``.  ``gridline_proposer()`` plugs them into
``detect_grid(..., proposers=[...])`` where the core's selection stage scores them;
``gridline_hybrid`` instead checks each candidate's placed lines against the model's peaks.
Measured outcomes: notes/gridline_results.md (rarely changes one; no weights ship).

A ``.pt`` checkpoint runs in torch; an ``.onnx`` export in onnxruntime (no torch).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelperfecter.core.grid import AxisFit
from pixelperfecter.core.types import GridCandidate

from .preprocess import CANNY_HIGH, CANNY_LOW, premultiplied_rgb

DEFAULT_GRIDLINE = Path(__file__).parent / "assets" / "gridline.pt"
DEFAULT_GRIDLINE_ONNX = Path(__file__).parent / "assets" / "gridline.onnx"
STRIP = 128
STRIPS = 2  # per axis; 1 halves the net (about 30 ms per 1024^2) but made v1 hybrid-gl break a real image
STRIP_MARGIN = 8


def parse_tier_weights(spec: str) -> dict[str, float]:
    """"drift:2,small:2,ai" -> {tier: weight} (weight 1 when left out); a bad spec is a ConfigError."""
    from pixelperfecter.core.synth import TIERS

    from .config import ConfigError

    out: dict[str, float] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        name, _, w = part.partition(":")
        name = name.strip()
        if name not in TIERS:
            raise ConfigError(f"gl_tiers: unknown tier {name!r} (known: {', '.join(TIERS)})")
        try:
            out[name] = float(w) if w.strip() else 1.0
        except ValueError:
            raise ConfigError(f"gl_tiers: bad weight {w!r} for {name}") from None
    if not out or min(out.values()) < 0 or sum(out.values()) <= 0:
        raise ConfigError(f"gl_tiers: {spec!r} gives no tier a positive weight")
    return out


@dataclass
class GridlinePredictor:
    """(1, 4, H, W) float32 -> (1, 2, H, W) logits, by torch (checkpoint) or onnxruntime."""

    module: object
    path: Path
    onnx: bool = False

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        if self.onnx:
            sess = self.module
            out = sess.run(None, {sess.get_inputs()[0].name: x})  # type: ignore[attr-defined]
            return np.asarray(out[0], np.float32)
        import torch

        with torch.inference_mode():
            return self.module(torch.from_numpy(x)).float().numpy()  # type: ignore[operator]


_CACHE: dict[str, GridlinePredictor] = {}
_LOCK = threading.Lock()


def default_gridline_path() -> Path:
    from .inference import onnxruntime_installed, torch_installed

    if (not torch_installed() or not DEFAULT_GRIDLINE.exists()) and onnxruntime_installed() and DEFAULT_GRIDLINE_ONNX.exists():
        return DEFAULT_GRIDLINE_ONNX
    return DEFAULT_GRIDLINE


def load_gridline(path: str | Path | None = None, threads: int = 0) -> GridlinePredictor:
    """Load (once per process) a gridline checkpoint ``.pt`` or its ONNX export."""
    from .inference import ModelLoadError, cached_load, checkpoint_model, onnx_session

    p = Path(path) if path is not None else default_gridline_path()
    key = f"{p.resolve() if p.exists() else p}#{threads}"

    def load() -> GridlinePredictor:
        if not p.exists():
            hint = " (no shipped gridline model; train one with `perfecter ml train --config configs/gridline.yaml`)" if path is None else ""
            raise ModelLoadError(f"{p}: gridline model not found{hint}")
        if p.suffix == ".onnx":
            return GridlinePredictor(onnx_session(p, threads), p, onnx=True)
        module, cfg = checkpoint_model(p)
        if cfg.model != "gridline":
            raise ModelLoadError(f"{p}: a {cfg.model} checkpoint, not a gridline model")
        return GridlinePredictor(module, p)

    predictor: GridlinePredictor = cached_load(_CACHE, _LOCK, key, load)
    return predictor


def _busiest(edges_sum: np.ndarray, length: int, count: int) -> list[int]:
    """Starts of the ``count`` busiest (non-overlapping where possible) windows of STRIP."""
    if length <= STRIP:
        return [0]
    starts = np.linspace(0, length - STRIP, max(2, int(np.ceil(length / STRIP)))).round().astype(int)
    c = np.concatenate([[0.0], np.cumsum(edges_sum)])
    scores = [(-(c[s + STRIP] - c[s]), int(s)) for s in starts]
    scores.sort()
    return sorted(s for _, s in scores[:count])


def boundary_profiles(rgba: np.ndarray, predictor: GridlinePredictor, strips: int = STRIPS) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (W+1) and per-row (H+1) boundary probabilities, 0 at the image borders.

    One Canny of the whole image picks the strips and is their edge channel (the training
    crops' Canny ran on the crop: only the strips' outer pixels differ)."""
    import cv2

    rgb = np.ascontiguousarray(premultiplied_rgb(rgba))
    h, w = rgb.shape[:2]
    edges = cv2.Canny(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), CANNY_LOW, CANNY_HIGH)
    out = []
    for axis in (0, 1):
        length, across = (w, h) if axis == 0 else (h, w)
        acc = np.zeros(length, np.float64)
        starts = _busiest(edges.sum(axis=1 if axis == 0 else 0).astype(np.float64), across, strips)
        for s in starts:
            cut = (slice(s, s + STRIP), slice(None)) if axis == 0 else (slice(None), slice(s, s + STRIP))
            logits = predictor(_input(rgb[cut], edges[cut]))[0, axis]
            m = STRIP_MARGIN if min(logits.shape) > 4 * STRIP_MARGIN else 0
            if axis == 0:
                lo, hi = (m if s > 0 else 0), logits.shape[0] - (m if s + logits.shape[0] < h else 0)
                band = logits[lo:hi]
            else:
                lo, hi = (m if s > 0 else 0), logits.shape[1] - (m if s + logits.shape[1] < w else 0)
                band = logits[:, lo:hi].T
            acc += (1.0 / (1.0 + np.exp(-band))).mean(axis=0, dtype=np.float64)
        prof = np.zeros(length + 1, np.float64)
        prof[1:length] = acc[1:] / len(starts)
        out.append(prof)
    return out[0], out[1]


def _input(rgb: np.ndarray, edges: np.ndarray | None = None) -> np.ndarray:
    """(1, 4, h, w) float32 of any size: RGB and its Canny map, 0..1 (as ``model_input``)."""
    import cv2

    img = np.ascontiguousarray(rgb)
    if edges is None:
        edges = cv2.Canny(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), CANNY_LOW, CANNY_HIGH)
    out = np.empty((1, 4) + img.shape[:2], np.float32)
    out[0, :3] = img.transpose(2, 0, 1)
    out[0, 3] = edges
    out *= np.float32(1.0 / 255.0)
    return out


def profile_candidates_1d(prob: np.ndarray, min_cell: float | None = None, max_cell: float | None = None) -> AxisFit | None:
    """``fit_axis`` on a probability profile in the core's layout (length W+1, index k: the
    boundary between pixels k-1 and k)."""
    from pixelperfecter.core.grid import fit_axis
    from pixelperfecter.core.grid.profiles import denoised

    p = np.asarray(prob, np.float64)
    if p.ndim != 1 or len(p) < 8:
        return None
    p = p.copy()
    p[0] = p[-1] = 0.0
    return fit_axis(denoised(p), min_cell, max_cell)


def axis_fits(prob: np.ndarray, edge: np.ndarray) -> list[tuple[float, float, float]]:
    """(cell, offset, strength) readings of one axis: ``fit_axis`` on the probability profile
    and on its product with the edge profile, and the local peak pitch near the first."""
    fits: list[tuple[float, float, float]] = []

    def add(cell: float, offset: float, strength: float) -> None:
        if all(abs(cell / f[0] - 1) > 0.003 for f in fits):
            fits.append((float(cell), float(offset % cell), float(strength)))

    e = edge / (float(np.percentile(edge[1:-1], 99)) + 1e-9) if edge.size > 2 else edge
    for prof in (prob, np.sqrt(np.clip(prob, 0, None) * np.clip(e, 0, None))):
        fit = profile_candidates_1d(prof)
        if fit is not None:
            add(fit.cell, fit.offset, fit.coherence)
    if fits:
        local = peak_pitch(prob, fits[0][0])
        if local is not None:
            add(local[0], local[1], fits[0][2])
    return fits


def gridline_candidates(rgba: np.ndarray, predictor: GridlinePredictor, profiles: tuple[np.ndarray, np.ndarray] | None = None,
                        boundaries: tuple[np.ndarray, np.ndarray] | None = None) -> list[GridCandidate]:
    """The gridline model's candidate grids for an image (GridCandidate, source gridline#k):
    every pair of an x and a y reading, the strongest first."""
    from pixelperfecter.core.grid import edge_profiles

    px, py = boundaries if boundaries is not None else boundary_profiles(rgba, predictor)
    ex, ey = profiles if profiles is not None else edge_profiles(rgba)
    fx, fy = axis_fits(px, ex), axis_fits(py, ey)
    if not fx and not fy:
        return []
    # One axis without periodic evidence: near-square cells, as the detector assumes.
    fx, fy = fx or fy[:1], fy or fx[:1]
    pairs = sorted(((ax, ay) for ax in fx for ay in fy), key=lambda q: -min(q[0][2], q[1][2]))
    return [GridCandidate(ax[0], ay[0], ax[1] % ax[0], ay[1] % ay[0], source=f"gridline#{k}", score=min(ax[2], ay[2]))
            for k, (ax, ay) in enumerate(pairs, 1)]


def gridline_proposer(model: str | Path | GridlinePredictor | None = None):
    """A proposer for ``detect_grid(..., proposers=[...])`` and ``perfecter reconstruct --ml``
    (``pixelperfecter_ml.gridline_infer:gridline_proposer``)."""
    predictor = model if isinstance(model, GridlinePredictor) else load_gridline(model)

    def propose(rgba: np.ndarray):
        return gridline_candidates(rgba, predictor)

    return propose


# --------------------------------------------------------------------------- peaks and agreement


def boundary_peaks(prob: np.ndarray, rel: float = 0.4) -> np.ndarray:
    """Pixel-edge indices of the profile's boundary peaks: local maxima above ``rel`` x its 99th
    percentile (a plateau of two counts once)."""
    p = np.asarray(prob, np.float64)
    if p.size < 3:
        return np.zeros(0, np.int64)
    thr = rel * float(np.percentile(p[1:-1], 99))
    if thr <= 0:
        return np.zeros(0, np.int64)
    inner = p[1:-1]
    is_peak = (inner >= p[:-2]) & (inner > p[2:]) & (inner >= thr)
    return np.flatnonzero(is_peak) + 1


def peak_pitch(prob: np.ndarray, rough: float) -> tuple[float, float] | None:
    """(cell, offset) from the spacing of neighbouring peaks (each gap divided by its whole
    number of cells near ``rough``): the local pitch, which seams and half-cell jumps
    (a few odd gaps) do not move, unlike a straight fit over the whole axis."""
    peaks = boundary_peaks(prob)
    if len(peaks) < 4 or rough <= 0:
        return None
    gaps = np.diff(peaks).astype(np.float64)
    k = np.round(gaps / rough)
    ok = (k >= 1) & (k <= 3) & (np.abs(gaps / np.maximum(k, 1) - rough) <= 0.15 * rough)
    if ok.sum() < 3:
        return None
    cell = float(np.sum(gaps[ok]) / np.sum(k[ok]))  # gaps of 2 cells count twice
    ang = 2 * np.pi * peaks / cell
    offset = (np.arctan2(np.sin(ang).mean(), np.cos(ang).mean()) % (2 * np.pi)) / (2 * np.pi) * cell
    return cell, float(offset)


def line_agreement(lines: np.ndarray, peaks: np.ndarray, tol: int = 1) -> float:
    """F1 of a grid's placed inner lines against the model's boundary peaks (within ``tol`` px)."""
    inner = np.asarray(lines[1:-1], np.int64)
    if len(inner) == 0 or len(peaks) == 0:
        return 0.0
    d_line = np.min(np.abs(inner[:, None] - peaks[None, :]), axis=1)
    d_peak = np.min(np.abs(peaks[:, None] - inner[None, :]), axis=1)
    precision = float(np.mean(d_line <= tol))
    recall = float(np.mean(d_peak <= tol))
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


# --------------------------------------------------------------------------- the gridline hybrid

# A candidate replaces the heuristic's grid when the lines the pipeline places for it agree with
# the model's boundary peaks clearly better (mean F1 of the two axes) and its cells fit about
# as well.  Set on synthetic seeds 800,000-800,090 and 810,000-810,209 (301 cases of which the
# heuristic fails 2), never on the evaluation seeds: any margin in 0.02-0.1 gave the same flips.
AGREE_MARGIN = 0.05
DIFF_SLACK = 1.0  # diff % points a candidate may lose against the heuristic
# Only candidates at least this share of the heuristic's cell per axis: the model marks some
# edges inside big cells, so a finer harmonic always agrees with more of its peaks.
MIN_CELL_RATIO = 0.8


@dataclass
class GridlineChoice:
    result: object  # pixelperfecter.core.types.Reconstruction
    origin: str  # "heuristic" or "gridline#k"
    reason: str
    agreement: dict[str, float]


def grid_agreement(result: object, peaks: tuple[np.ndarray, np.ndarray]) -> float:
    """Mean over the axes of ``line_agreement`` of a reconstruction's placed lines; -1 without a grid."""
    det = getattr(result, "detection", None)
    grid = getattr(det, "grid", None)
    if grid is None:
        return -1.0
    return 0.5 * (line_agreement(grid.xs, peaks[0]) + line_agreement(grid.ys, peaks[1]))


def gridline_hybrid(rgba: np.ndarray, predictor: GridlinePredictor, params=None, has_alpha: bool | None = None, heuristic_result=None,
                    source: Path | None = None, thresholds=None, margin: float = AGREE_MARGIN, diff_slack: float = DIFF_SLACK) -> GridlineChoice:
    """The heuristic's reconstruction unless a gridline candidate's placed lines agree clearly
    better with the model's boundaries (see ``AGREE_MARGIN``).  Candidates are used as the
    model read them (cell size forced, the phase found by the pipeline), not refined on the
    edge profile: refinement pulls a drifted axis back to the edge profile's own period."""
    from pixelperfecter.core.pipeline import reconstruct
    from pixelperfecter.core.types import ReconstructParams

    from .inference import SAME_CELL

    params = params or ReconstructParams()
    heur = heuristic_result if heuristic_result is not None else reconstruct(rgba, params, has_alpha=has_alpha, source=source, thresholds=thresholds)
    if any(v is not None for v in (params.forced_cell_w, params.forced_cell_h, params.offset_x, params.offset_y, params.target_cells)):
        return GridlineChoice(heur, "heuristic", "user overrides", {})
    px, py = boundary_profiles(rgba, predictor)
    peaks = (boundary_peaks(px), boundary_peaks(py))
    best, best_agree, origin = heur, grid_agreement(heur, peaks), "heuristic"
    agreement = {"heuristic": best_agree}
    hm = heur.metrics
    reason = "heuristic kept"
    for c in gridline_candidates(rgba, predictor, boundaries=(px, py)):
        if hm is not None and abs(c.cell_w - hm.cell_w) / hm.cell_w < SAME_CELL and abs(c.cell_h - hm.cell_h) / hm.cell_h < SAME_CELL:
            continue
        if hm is not None and (c.cell_w < MIN_CELL_RATIO * hm.cell_w or c.cell_h < MIN_CELL_RATIO * hm.cell_h):
            continue
        r = reconstruct(rgba, params.with_overrides(cell_w=c.cell_w, cell_h=c.cell_h), has_alpha=has_alpha, source=source, thresholds=thresholds)
        if r.metrics is None:
            continue
        a = grid_agreement(r, peaks)
        agreement[c.source] = a
        fits = hm is None or r.metrics.diff_pct <= hm.diff_pct + diff_slack
        if fits and a > best_agree + (margin if best is heur else 0.0):
            best, best_agree, origin = r, a, c.source
            reason = f"{c.source}: lines agree with the gridline model {a:.3f} vs {agreement['heuristic']:.3f}"
    return GridlineChoice(best, origin, reason, agreement)
