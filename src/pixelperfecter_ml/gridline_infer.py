"""Running the gridline model and turning its boundary maps into candidate grids (torch-free).

The net (``gridline.GridlineNet``) is fully convolutional, so it runs on strips of the image
at native resolution: for the per-column profile, the ``strips`` busiest full-width
horizontal strips of ``strip`` rows (Canny edge count decides "busiest": a sprite on an empty
canvas); for the per-row profile the same with vertical strips.  Two strips of 128 px per
axis read 0.5 MP of a 1024^2 image.  The maps are averaged across each strip (its outer
``STRIP_MARGIN`` px, which lack context, left out) into 1-D boundary probabilities of the
core's profile layout: index k is the boundary between pixels k-1 and k, length W+1.

Candidates: the core's public ``fit_axis`` on the probability profile (its floor taken out)
and on the product of the probability with the edge profile (both normalised); their x/y
pairs, as ``GridCandidate(source="gridline...")``.  ``gridline_proposer()`` plugs them into
``detect_grid(..., proposers=[...])`` where the core's selection stage scores them.

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
STRIPS = 2
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
    from .inference import ModelLoadError

    p = Path(path) if path is not None else default_gridline_path()
    key = f"{p.resolve() if p.exists() else p}#{threads}"
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        if not p.exists():
            hint = " (no shipped gridline model; train one with `perfecter ml train --config configs/gridline.yaml`)" if path is None else ""
            raise ModelLoadError(f"{p}: gridline model not found{hint}")
        if p.suffix == ".onnx":
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.log_severity_level = 3
            if threads > 0:
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
            try:
                session = ort.InferenceSession(str(p), sess_options=options, providers=["CPUExecutionProvider"])
            except Exception as exc:
                text = str(exc).strip()
                raise ModelLoadError(f"{p}: not a loadable ONNX model ({text.splitlines()[0][:160] if text else type(exc).__name__})") from None
            predictor = GridlinePredictor(session, p, onnx=True)
        else:
            from .train import CheckpointError, model_from_checkpoint

            try:
                module, cfg = model_from_checkpoint(p)
            except CheckpointError as exc:
                raise ModelLoadError(str(exc)) from None
            if cfg.model != "gridline":
                raise ModelLoadError(f"{p}: a {cfg.model} checkpoint, not a gridline model")
            predictor = GridlinePredictor(module, p)
        _CACHE[key] = predictor
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
    """Per-column (W+1) and per-row (H+1) boundary probabilities, 0 at the image borders."""
    import cv2

    rgb = premultiplied_rgb(rgba)
    h, w = rgb.shape[:2]
    edges = cv2.Canny(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY), CANNY_LOW, CANNY_HIGH)
    out = []
    for axis in (0, 1):
        length, across = (w, h) if axis == 0 else (h, w)
        acc = np.zeros(length, np.float64)
        per_strip = edges.sum(axis=1 if axis == 0 else 0).astype(np.float64)
        for s in _busiest(per_strip, across, strips):
            tile = rgb[s : s + STRIP] if axis == 0 else rgb[:, s : s + STRIP]
            x = _input(tile)
            p = 1.0 / (1.0 + np.exp(-predictor(x)[0, axis]))
            m = STRIP_MARGIN if min(p.shape) > 4 * STRIP_MARGIN else 0
            if axis == 0:
                lo, hi = (m if s > 0 else 0), p.shape[0] - (m if s + p.shape[0] < h else 0)
                acc += p[lo:hi].mean(axis=0)
            else:
                lo, hi = (m if s > 0 else 0), p.shape[1] - (m if s + p.shape[1] < w else 0)
                acc += p[:, lo:hi].mean(axis=1)
        prof = np.zeros(length + 1, np.float64)
        prof[1:length] = acc[1:] / max(1, len(_busiest(per_strip, across, strips)))
        out.append(prof)
    return out[0], out[1]


def _input(rgb_tile: np.ndarray) -> np.ndarray:
    """(1, 4, h, w) float32 of any tile size (the net is fully convolutional)."""
    import cv2

    th, tw = rgb_tile.shape[:2]

    tile = np.ascontiguousarray(rgb_tile)
    gray = cv2.cvtColor(tile, cv2.COLOR_RGB2GRAY)
    out = np.empty((1, 4, th, tw), np.float32)
    out[0, :3] = tile.transpose(2, 0, 1) / np.float32(255.0)
    out[0, 3] = cv2.Canny(gray, CANNY_LOW, CANNY_HIGH) / np.float32(255.0)
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


def axis_fits(prob: np.ndarray, edge: np.ndarray) -> list[AxisFit]:
    """Fits of one axis: on the probability profile, and on its product with the edge profile."""
    fits: list[AxisFit] = []
    e = edge / (float(np.percentile(edge[1:-1], 99)) + 1e-9) if edge.size > 2 else edge
    for prof in (prob, np.sqrt(np.clip(prob, 0, None) * np.clip(e, 0, None))):
        fit = profile_candidates_1d(prof)
        if fit is not None and all(abs(fit.cell / f.cell - 1) > 0.005 or abs(fit.offset - f.offset) > 0.5 for f in fits):
            fits.append(fit)
    return fits


def gridline_candidates(rgba: np.ndarray, predictor: GridlinePredictor, profiles: tuple[np.ndarray, np.ndarray] | None = None) -> list[GridCandidate]:
    """The gridline model's candidate grids for an image (GridCandidate, source gridline#k)."""
    from pixelperfecter.core.grid import edge_profiles

    px, py = boundary_profiles(rgba, predictor)
    ex, ey = profiles if profiles is not None else edge_profiles(rgba)
    fx, fy = axis_fits(px, ex), axis_fits(py, ey)
    out: list[GridCandidate] = []
    for ax in fx:
        for ay in fy:
            out.append(GridCandidate(float(ax.cell), float(ay.cell), float(ax.offset % ax.cell), float(ay.offset % ay.cell),
                                     source=f"gridline#{len(out) + 1}", score=float(min(ax.coherence, ay.coherence))))
    if not out and (fx or fy):
        # One axis without periodic evidence: near-square cells, as the detector assumes.
        a = (fx or fy)[0]
        out.append(GridCandidate(float(a.cell), float(a.cell), float(a.offset % a.cell), float(a.offset % a.cell), source="gridline#1", score=0.0))
    return out


def gridline_proposer(model: str | Path | GridlinePredictor | None = None):
    """A proposer for ``detect_grid(..., proposers=[...])`` and ``perfecter reconstruct --ml``
    (``pixelperfecter_ml.gridline_infer:gridline_proposer``)."""
    predictor = model if isinstance(model, GridlinePredictor) else load_gridline(model)

    def propose(rgba: np.ndarray):
        return gridline_candidates(rgba, predictor)

    return propose
