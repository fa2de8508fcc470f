"""Grid suggestions from the model, and the hybrid reconstruction that uses them.

``suggest_parameters(path)`` loads the shipped default model once per process (cached) and
returns up to ``top_k`` grid candidates, best first.  The model reads several 160 px crops at
native resolution spread over the image; each crop's offsets are moved back into image
coordinates and the crops' answers are clustered by cell size.

``hybrid_reconstruct`` never trusts the model blindly: its top-k grids and their x2 / x1/2
neighbours go into the core's own candidate selection as a proposer, are refined there on the
image's evidence (never onto the detector's own grid), beside the core's count neighbours of its
grid; one replaces the detector's grid only when the core's calibrated pairwise right-grid model
(``pixelperfecter.core.grid.right``) prefers it (``DetectorConfig.right_pair_threshold``) and it
scores no lower; of the proposals so accepted the best-scoring wins (``select.select_grid``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import installed
from .preprocess import PARAM_SCALE, busiest_windows, model_input, premultiplied_rgb

DEFAULT_MODEL = Path(__file__).parent / "assets" / "grid_estimator.pt"
# The same weights exported to ONNX (``perfecter ml export --default``): the default model when
# torch is not installed and onnxruntime is (the ``ml-runtime`` extra).
DEFAULT_ONNX = Path(__file__).parent / "assets" / "grid_estimator.onnx"
CROPS_PER_AXIS = 2  # 2 x 2 crops: enough agreement signal, inference stays under ~30 ms
SAME_CELL = 0.02  # two grids with cells this close (relative) are the same grid
REFINE_WINDOW = 0.20  # the model is a coarse estimator (a few px MAE); the fit does the rest


@dataclass(frozen=True)
class GridSuggestion:
    """One candidate grid in original-image pixels; ``confidence`` in 0..1."""

    cell_w: float
    cell_h: float
    offset_x: float
    offset_y: float
    confidence: float
    # The core's calibrated probability that this grid is right (None: not computed).
    right: float | None = None

    def as_dict(self) -> dict[str, float]:
        return {k: round(float(v), 3) for k, v in self.__dict__.items() if v is not None}


class ModelLoadError(RuntimeError):
    """A model file that cannot be used; one line naming the file and the reason."""


@dataclass
class Predictor:
    """A loaded model (eager from a checkpoint, or TorchScript) and the crop side it expects."""

    module: object
    crop: int
    path: Path
    scripted: bool = False

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import contextlib

        import torch

        # TorchScript's profiling executor re-optimises for every new batch size (1, 2 or 4
        # crops) and costs hundreds of ms each time; plain execution is as fast as eager.
        ctx = torch.jit.optimized_execution(False) if self.scripted else contextlib.nullcontext()
        with torch.inference_mode(), ctx:
            out = self.module(torch.from_numpy(batch))
        return out.float().numpy()


@dataclass
class OnnxPredictor:
    """An ONNX export run by onnxruntime: the same batch in, the same outputs out, no torch."""

    session: object
    crop: int
    path: Path

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.session.get_inputs()[0].name: np.ascontiguousarray(batch, np.float32)})  # type: ignore[attr-defined]
        return np.asarray(out[0], np.float32)


def torch_installed() -> bool:
    return installed("torch")


def onnxruntime_installed() -> bool:
    return installed("onnxruntime")


def default_model_path() -> Path:
    """The shipped checkpoint with torch, else its ONNX export when onnxruntime can run it."""
    if not torch_installed() and onnxruntime_installed() and DEFAULT_ONNX.exists():
        return DEFAULT_ONNX
    return DEFAULT_MODEL


def onnx_session(path: Path, threads: int = 0):
    """An onnxruntime CPU session for ``path`` (``threads`` > 0: that many intra-op threads and
    one inter-op), or a ModelLoadError naming the file."""
    import onnxruntime as ort

    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads > 0:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types for corrupt / foreign files
        text = str(exc).strip()
        raise ModelLoadError(f"{path}: not a loadable ONNX model ({text.splitlines()[0][:160] if text else type(exc).__name__})") from None


def checkpoint_model(path: Path):
    """``train.model_from_checkpoint`` with its CheckpointError as a ModelLoadError."""
    from .train import CheckpointError, model_from_checkpoint

    try:
        return model_from_checkpoint(path)
    except CheckpointError as exc:
        raise ModelLoadError(str(exc)) from None


def cached_load(cache: dict, lock: threading.Lock, key: str, load: Callable[[], object]):
    """``cache[key]``, loaded once per process by ``load()`` under ``lock``."""
    with lock:
        if key not in cache:
            cache[key] = load()
        return cache[key]


def load_onnx(path: Path) -> OnnxPredictor:
    """An ONNX export (``perfecter ml export``) for onnxruntime, one thread-pool per process."""
    session = onnx_session(path)
    shape = session.get_inputs()[0].shape
    if len(shape) != 4 or not isinstance(shape[2], int) or shape[2] != shape[3]:
        raise ModelLoadError(f"{path}: ONNX model input is {shape}, not (batch, 4, crop, crop) (not a grid estimator export)")
    return OnnxPredictor(session=session, crop=int(shape[2]), path=path)


_CACHE: dict[str, Predictor | OnnxPredictor] = {}
_LOCK = threading.Lock()


def load_predictor(path: str | Path | None = None) -> Predictor | OnnxPredictor:
    """Load (once per process) a checkpoint ``.pt``, an exported TorchScript ``.ts`` or an ONNX
    ``.onnx`` model (run by onnxruntime, no torch needed); the default is ``default_model_path``."""
    p = Path(path) if path is not None else default_model_path()
    key = str(p.resolve()) if p.exists() else str(p)

    def load() -> Predictor | OnnxPredictor:
        if not p.exists():
            hint = " (the shipped default model is missing; train one with `perfecter ml train`)" if path is None else ""
            raise ModelLoadError(f"{p}: model not found{hint}")
        if p.suffix == ".onnx":
            return load_onnx(p)
        if p.suffix in (".ts", ".torchscript"):
            from .export import load_torchscript

            module, crop = load_torchscript(p)
            return Predictor(module=module, crop=int(crop), path=p, scripted=True)
        module, cfg = checkpoint_model(p)
        return Predictor(module=module, crop=int(cfg.crop), path=p, scripted=False)

    predictor: Predictor | OnnxPredictor = cached_load(_CACHE, _LOCK, key, load)
    return predictor


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()


@dataclass(frozen=True)
class CropPrediction:
    cell_w: float
    cell_h: float
    offset_x: float  # image coordinates, in [0, cell)
    offset_y: float
    confidence: float


def predict_crops(predictor: "Predictor | OnnxPredictor", rgba: np.ndarray, crops_per_axis: int = CROPS_PER_AXIS) -> list[CropPrediction]:
    """The model's answer for each crop, offsets moved from crop to image coordinates."""
    rgb = premultiplied_rgb(rgba)
    side = predictor.crop
    # The busiest crops of a 4x4 layout: corners of a big canvas are often empty background.
    origins = busiest_windows(rgb, side, crops_per_axis * crops_per_axis, steps=2 * crops_per_axis)
    batch = np.stack([model_input(rgb[y0 : y0 + side, x0 : x0 + side], side) for x0, y0 in origins])
    out = predictor(batch)
    preds = []
    for (x0, y0), row in zip(origins, out):
        cw = max(float(row[0]) * PARAM_SCALE, 1.0)
        ch = max(float(row[1]) * PARAM_SCALE, 1.0)
        ang_x = math.atan2(row[2], row[3]) % (2 * math.pi)
        ang_y = math.atan2(row[4], row[5]) % (2 * math.pi)
        ox = (ang_x / (2 * math.pi) * cw + x0) % cw
        oy = (ang_y / (2 * math.pi) * ch + y0) % ch
        conf = 1.0 / (1.0 + math.exp(-float(row[6])))
        preds.append(CropPrediction(cw, ch, ox, oy, conf))
    return preds


def _circular_mean(offsets: list[float], cell: float) -> float:
    ang = np.array(offsets) / cell * 2 * np.pi
    mean = math.atan2(float(np.sin(ang).mean()), float(np.cos(ang).mean())) % (2 * math.pi)
    return mean / (2 * math.pi) * cell


def aggregate(preds: list[CropPrediction], top_k: int) -> list[GridSuggestion]:
    """Cluster crop answers by cell size; each cluster is a candidate, supported share x confidence.

    When the crops agree on fewer than ``top_k`` grids the list is filled with the top
    candidate's x2 and /2 harmonics at a quarter of its confidence: the usual confusions.
    """
    clusters: list[list[CropPrediction]] = []
    for p in sorted(preds, key=lambda q: -q.confidence):
        for cl in clusters:
            ref = cl[0]
            if abs(p.cell_w - ref.cell_w) / ref.cell_w < 0.06 and abs(p.cell_h - ref.cell_h) / ref.cell_h < 0.06:
                cl.append(p)
                break
        else:
            clusters.append([p])
    out = []
    for cl in clusters:
        cw = float(np.median([p.cell_w for p in cl]))
        ch = float(np.median([p.cell_h for p in cl]))
        conf = float(np.mean([p.confidence for p in cl])) * len(cl) / len(preds)
        out.append(GridSuggestion(cw, ch, _circular_mean([p.offset_x % cw for p in cl], cw), _circular_mean([p.offset_y % ch for p in cl], ch), conf))
    out.sort(key=lambda s: -s.confidence)
    if out:
        top = out[0]
        for factor in (2.0, 0.5):
            if len(out) >= top_k:
                break
            cw, ch = top.cell_w * factor, top.cell_h * factor
            if 2.0 <= min(cw, ch) and max(cw, ch) <= 128.0:
                out.append(GridSuggestion(cw, ch, top.offset_x % cw, top.offset_y % ch, top.confidence * 0.25))
    return out[:top_k]


def suggest_from_array(rgba: np.ndarray, top_k: int = 3, model: str | Path | Predictor | None = None) -> list[GridSuggestion]:
    predictor = model if isinstance(model, (Predictor, OnnxPredictor)) else load_predictor(model)
    return aggregate(predict_crops(predictor, rgba), top_k)


def suggest_parameters(image_path: str | Path, top_k: int = 3, model: str | Path | Predictor | None = None) -> list[GridSuggestion]:
    """Up to ``top_k`` grid candidates for an image, best first (default model, cached), each
    with the core's right-grid probability (``right``)."""
    from pixelperfecter.core.io import load_image

    rgba = load_image(image_path).rgba
    return right_probabilities(rgba, suggest_from_array(rgba, top_k=top_k, model=model))


# --------------------------------------------------------------------------- hybrid


@dataclass
class HybridOption:
    """One grid the hybrid tried: where it came from and what the pipeline made of it."""

    origin: str  # "heuristic" or "model#k"
    suggestion: GridSuggestion | None
    result: object  # pixelperfecter.core.types.Reconstruction

    @property
    def diff_pct(self) -> float:
        m = self.result.metrics
        return float("inf") if m is None else float(m.diff_pct)

    @property
    def confidence(self) -> float:
        m = self.result.metrics
        return 0.0 if m is None else float(m.confidence)


@dataclass
class HybridResult:
    chosen: HybridOption
    options: list[HybridOption] = field(default_factory=list)
    reason: str = ""
    suggestions: list[GridSuggestion] = field(default_factory=list)

    @property
    def result(self):
        return self.chosen.result


def grid_proposer(model: str | Path | Predictor | None = None, top_k: int = 3):
    """A proposer for ``pixelperfecter.core.grid.detect_grid(..., proposers=[...])``: the model's
    top-k grids and their x2 / x1/2 neighbours (``hybrid_candidates``), which the core's
    selection stage judges beside its own by the right-grid probability."""
    def propose(rgba: np.ndarray) -> list:
        return hybrid_candidates(suggest_from_array(rgba, top_k=top_k, model=model))

    return propose


def default_proposer() -> object:
    """The shipped model as a proposer (what ``perfecter reconstruct --ml`` names)."""
    return grid_proposer()


def combined_proposer() -> object:
    """The regression model's and the gridline model's candidates together, for
    ``detect_grid(..., proposers=[...])`` (``pixelperfecter_ml.inference:combined_proposer``)."""
    from .gridline_infer import gridline_proposer

    regression, gridline = grid_proposer(), gridline_proposer()

    def propose(rgba: np.ndarray) -> list:
        return [*regression(rgba), *gridline(rgba)]

    return propose


def _same_cell(a_w: float, a_h: float, b_w: float, b_h: float) -> bool:
    return abs(a_w - b_w) / b_w < SAME_CELL and abs(a_h - b_h) / b_h < SAME_CELL


def hybrid_candidates(suggestions: list[GridSuggestion]) -> list:
    """The hybrid's proposals: the model's top-k and, for each, its x2 and x1/2 neighbours.

    The model's usual error is a harmonic of the right grid (it reads 2 or 3 cells as one, or
    half a cell as one), so the neighbours of its answers are where the right grid often is;
    the core's right-grid probability, not the model's confidence, tells which (if any) is.
    """
    from pixelperfecter.core.types import GridCandidate

    out: list[GridCandidate] = []
    for k, s in enumerate(suggestions, 1):
        for factor, tag in ((1.0, ""), (2.0, "x2"), (0.5, "/2")):
            cw, ch = s.cell_w * factor, s.cell_h * factor
            if min(cw, ch) < 2.0 or any(_same_cell(cw, ch, c.cell_w, c.cell_h) for c in out):
                continue
            out.append(GridCandidate(cw, ch, s.offset_x % cw, s.offset_y % ch, source=f"model#{k}{tag}"))
    return out


def right_probabilities(rgba: np.ndarray, suggestions: list[GridSuggestion]) -> list[GridSuggestion]:
    """The suggestions with ``right`` filled in: the core's calibrated probability that each
    grid, applied as it is, is the right one (None when no right-grid model is shipped)."""
    from dataclasses import replace

    from pixelperfecter.core.grid import Scorer, default_right_model, edge_profiles
    from pixelperfecter.core.types import GridCandidate

    model = default_right_model()
    if model is None or not suggestions:
        return suggestions
    scorer = Scorer(rgba, edge_profiles(rgba))
    return [replace(s, right=model.probability(scorer, GridCandidate(s.cell_w, s.cell_h, s.offset_x % s.cell_w, s.offset_y % s.cell_h, source="model")))
            for s in suggestions]


def hybrid_from_array(
    rgba: np.ndarray,
    params=None,
    model: str | Path | Predictor | None = None,
    has_alpha: bool | None = None,
    source: Path | None = None,
    top_k: int = 3,
    suggestions: list[GridSuggestion] | None = None,
    heuristic_result=None,
    thresholds=None,
) -> HybridResult:
    """The hybrid on an RGBA array; ``suggestions``/``heuristic_result`` may be passed in when
    the caller already has them (evaluation), otherwise they are computed.

    The model's grids (``hybrid_candidates``) go into the core's own candidate selection as a
    proposer: refined locally (never onto the detector's grid), then the calibrated right-grid
    probability decides whether one replaces the detector's grid (``select_grid``).
    """
    from pixelperfecter.core.pipeline import reconstruct
    from pixelperfecter.core.types import ReconstructParams

    params = params or ReconstructParams()
    if heuristic_result is None:
        heuristic_result = reconstruct(rgba, params, has_alpha=has_alpha, source=source, thresholds=thresholds)
    heuristic = HybridOption("heuristic", None, heuristic_result)
    # The user's own grid overrides always win over any suggestion.
    if any(v is not None for v in (params.forced_cell_w, params.forced_cell_h, params.offset_x, params.offset_y, params.target_cells)):
        return HybridResult(heuristic, [heuristic], "user overrides")
    if suggestions is None:
        suggestions = suggest_from_array(rgba, top_k=top_k, model=model)
    proposals = hybrid_candidates(suggestions)
    by_source = {c.source: s for c, s in zip(proposals, _suggestion_per_candidate(suggestions, proposals))}
    if heuristic_result.metrics is None:
        return _hybrid_without_grid(rgba, params, heuristic, proposals, by_source, suggestions, has_alpha, source, thresholds)
    result = reconstruct(rgba, params, has_alpha=has_alpha, source=source, thresholds=thresholds, proposers=[lambda _rgba: proposals])
    # The winner: a model proposal, or one of the core's own count neighbours.
    origin = result.detection.source
    if origin in ("spectrum", "override"):
        return HybridResult(heuristic, [heuristic], "heuristic kept", list(suggestions))
    chosen_note = next((w for w in result.warnings if w.startswith("grid from ")), origin)
    option = HybridOption(origin, by_source.get(origin.split("+")[0]), result)  # "+x": one axis from the detector
    return HybridResult(option, [heuristic, option], f"{origin}: {chosen_note}", list(suggestions))


def _suggestion_per_candidate(suggestions: list[GridSuggestion], proposals: list) -> list[GridSuggestion]:
    return [suggestions[int(c.source.split("#")[1][0]) - 1] for c in proposals]


def _hybrid_without_grid(rgba, params, heuristic: HybridOption, proposals: list, by_source: dict, suggestions: list[GridSuggestion],
                         has_alpha, source, thresholds) -> HybridResult:
    """The detector found no grid: the likeliest proposal, if the right-grid model finds it likely."""
    from pixelperfecter.core.grid import DEFAULT_CONFIG, Scorer, default_right_model, edge_profiles
    from pixelperfecter.core.pipeline import reconstruct

    right = default_right_model()
    if right is None or not proposals:
        return HybridResult(heuristic, [heuristic], "no grid from either", list(suggestions))
    scorer = Scorer(rgba, edge_profiles(rgba))
    refined = [scorer.refine(c) for c in proposals]
    probs = [right.probability(scorer, c) for c in refined]
    best = int(np.argmax(probs))
    if probs[best] < DEFAULT_CONFIG.right_floor:
        return HybridResult(heuristic, [heuristic], "no grid from either", list(suggestions))
    c = refined[best]
    p = params.with_overrides(cell_w=c.cell_w, cell_h=c.cell_h, offset_x=c.offset_x, offset_y=c.offset_y)
    option = HybridOption(c.source, by_source.get(c.source), reconstruct(rgba, p, has_alpha=has_alpha, source=source, thresholds=thresholds))
    return HybridResult(option, [heuristic, option], f"heuristic found no grid; {c.source} right p={probs[best]:.2f}", list(suggestions))


def hybrid_reconstruct(path: str | Path, params=None, model: str | Path | Predictor | None = None, thresholds=None, max_pixels: int | None = None):
    """``reconstruct_file`` with the model's second opinion (for ``perfecter reconstruct --ml``).

    Returns a ``pixelperfecter.core.types.Reconstruction``; raises ``ImageLoadError`` on bad
    input and ``ModelLoadError`` when the model cannot be loaded.
    """
    from pixelperfecter.core.io import load_image

    loaded = load_image(path) if max_pixels is None else load_image(path, max_pixels=max_pixels)
    hybrid = hybrid_from_array(loaded.rgba, params, model=model, has_alpha=loaded.has_alpha, source=Path(path), thresholds=thresholds)
    result = hybrid.result
    result.warnings[:0] = loaded.warnings
    if hybrid.chosen.origin != "heuristic":
        result.warnings.append(f"ml: {hybrid.reason}")
    return result
