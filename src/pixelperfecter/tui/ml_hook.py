"""Optional ML suggestions: ``pixelperfecter_ml.inference.suggest_parameters(image_path, top_k=3)``.

Everything is guarded: without torch, without the ML package, without a trained model, or if
the ML code raises, the TUI simply shows no ML panel.  Nothing here imports torch itself.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.types import ReconstructParams

FIELDS = ("cell_w", "cell_h", "offset_x", "offset_y", "confidence")


@dataclass(frozen=True)
class Suggestion:
    """One ML candidate grid, ranked from 1."""

    rank: int
    cell_w: float
    cell_h: float
    offset_x: float
    offset_y: float
    confidence: float
    # The core's calibrated probability that this grid is right (``grid.right``); None when the
    # provider did not compute one.  The model's own ``confidence`` says how sure the model is,
    # which is not whether the grid is right.
    right: float | None = None

    def params(self, base: ReconstructParams) -> ReconstructParams:
        return base.with_overrides(
            cell_size=None,
            cell_w=round(self.cell_w, 4),
            cell_h=round(self.cell_h, 4),
            offset_x=round(self.offset_x, 4),
            offset_y=round(self.offset_y, 4),
        )

    def describe(self) -> str:
        judged = f"right p={self.right:.2f}" if self.right is not None else f"conf {self.confidence:.2f}"
        return (f"#{self.rank} {self.cell_w:.2f}×{self.cell_h:.2f} px  "
                f"offset {self.offset_x:.1f},{self.offset_y:.1f}  {judged}")


SuggestFn = Callable[[Path, int], list[Suggestion]]


def to_suggestion(raw: object, rank: int) -> Suggestion:
    """Accept a dataclass/object with the five attributes, a mapping, or a 5-tuple; an optional
    sixth, ``right`` (the right-grid probability), is kept when present."""
    if isinstance(raw, Mapping):
        values = [raw[name] for name in FIELDS]
        right = raw.get("right")
    elif isinstance(raw, Sequence) and not isinstance(raw, str):
        items = list(raw)
        values, right = items[:5], (items[5] if len(items) > 5 else None)
    else:
        values = [getattr(raw, name) for name in FIELDS]
        right = getattr(raw, "right", None)
    cell_w, cell_h, offset_x, offset_y, confidence = (float(v) for v in values)
    if not (cell_w > 0 and cell_h > 0):
        raise ValueError(f"ML suggestion #{rank} has a non-positive cell size")
    return Suggestion(rank, cell_w, cell_h, offset_x, offset_y, confidence, None if right is None else float(right))


def wrap(fn: Callable[..., object]) -> SuggestFn:
    def suggest(path: Path, top_k: int = 3) -> list[Suggestion]:
        raw = fn(path, top_k=top_k)
        found = [to_suggestion(item, rank) for rank, item in enumerate(list(raw or [])[:top_k], start=1)]  # type: ignore[call-overload]
        return by_right(found)

    return suggest


def by_right(suggestions: list[Suggestion]) -> list[Suggestion]:
    """Most probably right first, ranked anew, when every suggestion has the core's right-grid
    probability (the model's own order follows its confidence, which is not that); else as is."""
    if not suggestions or any(s.right is None for s in suggestions):
        return suggestions
    ordered = sorted(suggestions, key=lambda s: -(s.right or 0.0))
    return [replace(s, rank=rank) for rank, s in enumerate(ordered, start=1)]


def load_provider() -> SuggestFn | None:
    """The ML suggestion function, or None when no runtime (torch, or onnxruntime with the
    shipped ONNX model), the module or a model is missing.

    Slow (imports the ML package, which may import torch): call it from a worker thread.
    """
    try:
        if importlib.util.find_spec("torch") is None and importlib.util.find_spec("onnxruntime") is None:
            return None  # neither the 'ml' extra (torch) nor the torch-free 'ml-runtime' one
        inference = importlib.import_module("pixelperfecter_ml.inference")
    except ImportError:
        return None
    except Exception:  # a broken ML install must never take the TUI down
        return None
    fn = getattr(inference, "suggest_parameters", None)
    if not callable(fn):
        return None
    default_path = getattr(inference, "default_model_path", None)
    default_model = default_path() if callable(default_path) else getattr(inference, "DEFAULT_MODEL", None)
    if isinstance(default_model, Path) and not default_model.exists():
        return None  # no trained model shipped or trained yet
    for probe in ("model_available", "is_available", "has_model"):
        check = getattr(inference, probe, None)
        if callable(check):
            try:
                if not check():
                    return None
            except Exception:
                return None
            break
    return wrap(fn)
