"""The probability that a candidate grid is right: a calibrated logistic model over core features.

``GridScore.total`` ranks candidates of one image but is no probability: its scale moves with
the art (sparse flat art leaves lines dead on the right grid) and it cannot say "the detector's
grid is probably wrong here, the proposal probably right".  ``RightModel`` turns features that
the core computes for any grid (``candidate_features``) into P(right), fitted on right and wrong
candidates of synthetic cases (the true grid; its harmonics, shifted phases and pitch errors;
the detector's own failures) by ``perfecter ml calibrate``, which also reports its reliability.

Only NumPy and the core's own checks: the coefficients are a small JSON file next to this module
(``right_grid.json``), so the selection stage can use them without the ML package or torch.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..types import GridCandidate
from .spectrum import comb_phase

if TYPE_CHECKING:
    from .select import Scorer

DEFAULT_RIGHT_MODEL_PATH = Path(__file__).with_name("right_grid.json")

# Every feature is a property of the candidate on this image alone: nothing compares it with the
# detector's own grid, or the model would learn "agrees with the detector" (the label source,
# the failure of the old confidence head) instead of "is right".
FEATURES = (
    "support_min",  # lines crossing a colour change, the weaker axis (a 1/k harmonic: ~1/k)
    "support_mean",
    "clean_min",  # 1 - mid-cell edge ratio, the weaker axis (a shifted phase, 2x-coarse grid: low)
    "clean_mean",
    "share_live",  # two-colour cores at the live step (32): too coarse or shifted
    "share_split",  # at the split step (64): a second colour, not a shade of the first
    "finer_ratio",  # the 2x-finer grid's in-between lines: their colour-change density over
    # that of the candidate's own lines, the stronger axis (too coarse: ~1, right: low)
    "harmonic_ratio",  # the candidate's lines in classes mod 2 and mod 3: the sparsest class's
    # change density over the densest's, the weaker axis (a 1/k harmonic: low, right: ~1).
    # (Live-line shares saturate on busy art, where some cell changes across any line.)
    "phase_error",  # candidate offset vs the comb's best phase at its pitch, in cells (0..0.5)
    "coherence_min",  # the comb's spectral coherence at the candidate's pitch, weaker axis
    "aspect",  # |log(cell_w / cell_h)|: generated art has near-square cells
    "log_total",  # log of GridScore.total (clipped at 1e-4)
    "snap_offset",  # mean |placed line - uniform line| in cells, the worse axis: a pitch a few
    # percent off makes the snapped lines wander from the comb (then skip a cell), the right
    # pitch keeps them near it (drift and seams move a few lines, not all)
    "spacing_max",  # the largest |spacing / cell - 1| of neighbouring placed lines, the worse
    # axis: where a wrong pitch has drifted half a cell off, snapping skips or splits a cell
    # (right grids stay under ~0.25 even on the drift tier; 4 % pitch errors reach 0.3-0.6)
)


def candidate_features(scorer: Scorer, c: GridCandidate) -> np.ndarray:
    """The ``FEATURES`` of one candidate grid on the scorer's image."""
    score = scorer.score(c)
    stats = scorer.stats(c.cell_w, c.cell_h, c.offset_x, c.offset_y)
    share_split, rx, ry, snap = stats.share_split, stats.ratios_x, stats.ratios_y, (stats.snap_x, stats.snap_y)
    share_live = -math.log(max(score.single, 1e-300)) * scorer.config.two_colour_scale
    # The 2x-finer grid's in-between lines cross colour changes only if the candidate is too
    # coarse; its cores must keep a pixel or two (else the finer grid samples nothing).
    fine_w, fine_h = c.cell_w / 2, c.cell_h / 2
    finer = 0.0
    if min(fine_w, fine_h) >= 1.5:
        fine = scorer.stats(fine_w, fine_h, c.offset_x, c.offset_y)
        finer = max(fine.ratios_x[0], fine.ratios_y[0])
    phase_errors, coherences = [], []
    for profile, cell, offset in ((scorer.clean_profiles[0], c.cell_w, c.offset_x), (scorer.clean_profiles[1], c.cell_h, c.offset_y)):
        best, coherence = comb_phase(profile, cell)
        d = abs(offset - best) % cell
        phase_errors.append(min(d, cell - d) / cell)
        coherences.append(coherence)
    return np.array([
        min(score.support_x, score.support_y),
        (score.support_x + score.support_y) / 2,
        min(score.clean_x, score.clean_y),
        (score.clean_x + score.clean_y) / 2,
        min(share_live, 1.0),
        share_split,
        finer,
        min(rx + ry),
        max(phase_errors),
        min(coherences),
        abs(math.log(c.cell_w / c.cell_h)),
        math.log(max(score.total, 1e-4)),
        max(s[0] for s in snap),
        max(s[1] for s in snap),
    ], dtype=np.float64)


@dataclass(frozen=True)
class RightModel:
    """Logistic regression on standardised ``FEATURES``: P(right) = sigmoid(w . (x - mean) / scale + b)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    note: str = ""
    # A pairwise (Bradley-Terry) model on the same standardised features: P(grid a is right
    # rather than b) = sigmoid(pairwise . (x_a - x_b) / scale), fitted on pairs of one right and
    # one wrong candidate of one image.  Differences cancel what shifts every grid of an image
    # alike (sparse art, grain), which is what two near grids differ by least.  Empty: none.
    pairwise: tuple[float, ...] = ()

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """P(right) for each row of a features matrix (or one vector)."""
        z = (np.atleast_2d(x) - np.asarray(self.mean)) / np.asarray(self.scale)
        logit = z @ np.asarray(self.weights) + self.bias
        out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(logit, -40, 40)))
        return out

    def probability(self, scorer: Scorer, c: GridCandidate) -> float:
        return float(self.probabilities(candidate_features(scorer, c))[0])

    def prefers(self, xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
        """P(the grid of features ``xa`` is right rather than that of ``xb``), row by row
        (``xa`` may be a matrix, ``xb`` one vector); 0.5 without a pairwise model."""
        if not self.pairwise:
            return np.full(np.atleast_2d(xa).shape[0], 0.5)
        z = (np.atleast_2d(xa) - xb) / np.asarray(self.scale) @ np.asarray(self.pairwise)
        out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
        return out

    def as_dict(self) -> dict[str, object]:
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "weights": list(self.weights), "bias": self.bias, "pairwise": list(self.pairwise), "note": self.note}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> RightModel:
        feats = tuple(str(f) for f in d["features"])  # type: ignore[attr-defined]
        if feats != FEATURES:
            raise ValueError(f"right-grid model features {feats} are not this core's {FEATURES}")
        return cls(feats, tuple(map(float, d["mean"])), tuple(map(float, d["scale"])),  # type: ignore[call-overload]
                   tuple(map(float, d["weights"])), float(d["bias"]), str(d.get("note", "")),  # type: ignore[call-overload, arg-type]
                   tuple(map(float, d.get("pairwise", ()))))  # type: ignore[call-overload]

    def save(self, path: str | Path) -> Path:
        from ..io import write_text_atomic

        return write_text_atomic(Path(path), json.dumps(self.as_dict(), indent=1) + "\n")


def load_right_model(path: str | Path) -> RightModel:
    return RightModel.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def default_right_model() -> RightModel | None:
    """The shipped coefficients (``right_grid.json``), or None when absent or from other features."""
    try:
        return load_right_model(DEFAULT_RIGHT_MODEL_PATH)
    except (OSError, ValueError, KeyError, TypeError):
        return None
