"""Stage 6: one scoring of candidate grids, whatever proposed them.

Candidates come from the spectrum (the detector's own fit and its axis harmonics), from user
overrides and from any proposer passed to ``detect_grid`` (the ML model is one).  The score
must tell a right grid from its harmonics and shifted phases, which diff % on cell cores
cannot (every finer harmonic passes it):

* ``support``: every line of the grid has some cell colour change across it; a 1/k harmonic's
  in-between lines cross none (even where JPEG blocks or grain put edges on them);
* ``clean``: no edges half-way between lines; a shifted phase or a 2x-coarse grid has them;
* ``single``: cell cores hold one colour; a grid too coarse in 2-D does not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..types import GridCandidate
from .checks import CellStats, cell_stats
from .config import DEFAULT_CONFIG, DetectorConfig
from .ladder import ProfileCache, mid_ratio, robust_pitch
from .profiles import Profiles, denoised
from .right import RightModel, candidate_features
from .spectrum import comb_phase

# Anything that proposes candidate grids for an RGBA image (the ML model's port).
GridProposer = Callable[[np.ndarray], Sequence[GridCandidate]]


@dataclass(frozen=True)
class GridScore:
    """The parts of a candidate's score (each 0..1, 1 is best) and their product."""

    support_x: float
    support_y: float
    clean_x: float
    clean_y: float
    single: float

    @property
    def total(self) -> float:
        # The 1-D cleanliness counts at half weight (a square root): JPEG's block grid and
        # texture put edges mid-cell on the right grid too, which the 2-D terms do not see.
        return float(self.support_x * self.support_y * np.sqrt(self.clean_x * self.clean_y) * self.single)


class Scorer:
    """Scores candidates of one image; the per-axis running maxima are computed once."""

    def __init__(self, rgba: np.ndarray, profiles: Profiles, config: DetectorConfig = DEFAULT_CONFIG) -> None:
        self.rgba = rgba
        self.profiles = profiles
        self.config = config
        self.clean_profiles = (denoised(profiles[0], config), denoised(profiles[1], config))
        self.maxima = (ProfileCache(self.clean_profiles[0]), ProfileCache(self.clean_profiles[1]))
        # One sampling per grid, whoever reads it (score, right-grid features, a finer grid's
        # line classes): small summaries, not the cells.
        self._stats: dict[tuple[float, float, float, float], CellStats] = {}

    def stats(self, cell_w: float, cell_h: float, offset_x: float, offset_y: float) -> CellStats:
        key = (float(cell_w), float(cell_h), float(offset_x), float(offset_y))
        if key not in self._stats:
            self._stats[key] = cell_stats(self.rgba, self.profiles, cell_w, cell_h, offset_x, offset_y, self.config)
        return self._stats[key]

    def score(self, c: GridCandidate) -> GridScore:
        cfg = self.config
        mx, my = self.maxima
        # Two colours at the live step (32), not the split check's 64: a too-coarse cell of
        # shaded art often holds two shades of one ramp, 20-40 levels apart.
        stats = self.stats(c.cell_w, c.cell_h, c.offset_x, c.offset_y)
        share = stats.share_live
        return GridScore(
            support_x=stats.live_x,
            support_y=stats.live_y,
            clean_x=1.0 - min(1.0, mid_ratio(mx, c.cell_w, c.offset_x, cfg)),
            clean_y=1.0 - min(1.0, mid_ratio(my, c.cell_h, c.offset_y, cfg)),
            # Steep: a few percent of two-colour cells is positive evidence of missing lines,
            # while coarse grids pass "support" (all their lines are real) trivially.
            single=float(np.exp(-share / cfg.two_colour_scale)),
        )

    def scored(self, c: GridCandidate) -> GridCandidate:
        return replace(c, score=self.score(c).total)

    def refine(self, c: GridCandidate, avoid: GridCandidate | None = None) -> GridCandidate:
        """A proposer's candidate sharpened on this image's own evidence, within a few percent.

        Only locally (the spectral peak within ``refine_window``, then the robust line fit):
        refinement must never turn a candidate into a different grid, such as the detector's.
        When refining moves it onto ``avoid`` (the detector's own grid) while it was not that
        grid before, the unrefined candidate is returned: the proposal is a second opinion.
        """
        refined = self._refine(c)
        if avoid is not None and same_grid(refined, avoid, self.config) and not same_grid(c, avoid, self.config):
            return c
        return refined

    def _refine(self, c: GridCandidate) -> GridCandidate:
        cfg = self.config
        out = []
        for profile, maxima, cell in ((self.clean_profiles[0], self.maxima[0], c.cell_w), (self.clean_profiles[1], self.maxima[1], c.cell_h)):
            cell = maxima.refine(cell, cfg.min_cell, cfg.max_cell, cfg)
            offset, _ = comb_phase(profile, cell)
            refined, offset = robust_pitch(profile, cell, offset, cfg)
            if abs(refined / cell - 1) > cfg.refine_window:
                refined = cell
            out.append((refined, comb_phase(profile, refined)[0]))
        (cw, ox), (ch, oy) = out
        return replace(c, cell_w=cw, cell_h=ch, offset_x=ox, offset_y=oy)


def same_grid(a: GridCandidate, b: GridCandidate, config: DetectorConfig = DEFAULT_CONFIG) -> bool:
    """Cells within ``same_grid`` (relative) on both axes."""
    return abs(a.cell_w / b.cell_w - 1) <= config.same_grid and abs(a.cell_h / b.cell_h - 1) <= config.same_grid


def axis_mixes(own: GridCandidate, proposed: Sequence[GridCandidate], config: DetectorConfig = DEFAULT_CONFIG) -> list[GridCandidate]:
    """Each proposal near the detector's grid (within ``mix_window`` on both axes) but not the
    same grid, with one axis taken from the detector (source suffix "+y": the detector's y axis): the detector's usual near miss is a pitch a
    few percent off on one axis, which a proposal may have right while missing the other."""
    out = []
    for c in proposed:
        near = abs(c.cell_w / own.cell_w - 1) <= config.mix_window and abs(c.cell_h / own.cell_h - 1) <= config.mix_window
        if not near or same_grid(c, own, config):
            continue
        # Only an axis on which they differ is swapped (else the mix is the proposal itself).
        if abs(c.cell_h / own.cell_h - 1) > config.same_grid:
            out.append(replace(c, cell_h=own.cell_h, offset_y=own.offset_y, source=f"{c.source}+y"))
        if abs(c.cell_w / own.cell_w - 1) > config.same_grid:
            out.append(replace(c, cell_w=own.cell_w, offset_x=own.offset_x, source=f"{c.source}+x"))
    return [c for c in out if not same_grid(c, own, config)]


def count_neighbours(scorer: Scorer, own: GridCandidate) -> list[GridCandidate]:
    """The detector's grid with one axis holding ``count_steps`` cells more or fewer across the
    image (source "count+1x" and so on), each at its comb's phase: under drift and seams the
    ladder's pitch can settle a whole cell or two off over the image (39 cells for 40), a few
    percent that no harmonic test looks at."""
    cfg = scorer.config
    height, width = scorer.rgba.shape[:2]
    out = []
    for axis, length, cell in ((0, width, own.cell_w), (1, height, own.cell_h)):
        n = length / cell
        for k in cfg.count_steps:
            for sign in (1, -1):
                if n + sign * k < cfg.min_cells_across:
                    continue
                pitch = length / (n + sign * k)
                offset, _ = comb_phase(scorer.clean_profiles[axis], pitch)
                tag = f"count{sign * k:+d}{'xy'[axis]}"
                out.append(replace(own, cell_w=pitch, offset_x=offset, source=tag) if axis == 0 else replace(own, cell_h=pitch, offset_y=offset, source=tag))
    return out


def describe_source(source: str) -> str:
    """A candidate's source for people: count neighbours spelt out ("count-1x" is the detector's
    grid with one cell fewer across x), others as they are."""
    if not source.startswith("count") or len(source) < 8:
        return source
    k, axis = int(source[5:-1]), source[-1]
    return f"{source}: the detector's grid with {abs(k)} cell{'s' if abs(k) > 1 else ''} {'more' if k > 0 else 'fewer'} across {axis}"


def select_grid(scorer: Scorer, own: GridCandidate, others: Sequence[GridCandidate],
                right: RightModel | None = None, ratio: float | None = None) -> tuple[GridCandidate, tuple[GridCandidate, ...]]:
    """The best of the detector's own candidate and the others, with all of them scored.

    The detector's own grid stays unless another scores clearly higher (``ratio``, by default
    ``select_ratio``): near-ties are noise, and the detector's grid also passed its 2-D checks.

    With ``right`` (a calibrated right-grid model: the hybrid's proposals), all candidates are
    ranked by their probability of being right, and the model decides: with its pairwise part,
    a proposal is accepted when the model prefers it to the detector's grid with at least
    ``right_pair_threshold`` and it scores no lower, and the best-scoring accepted proposal
    wins; without, another grid wins only when its probability reaches ``right_floor`` and
    beats the detector's by ``right_margin``.
    """
    if right is not None:
        return _select_by_probability(scorer, own, others, right)
    own = scorer.scored(own)
    ranked = tuple(sorted([own] + [scorer.scored(c) for c in others], key=lambda c: -c.score))
    margin = scorer.config.select_ratio if ratio is None else ratio
    best = ranked[0] if ranked[0].score > own.score * margin else own
    return best, ranked


def _select_by_probability(scorer: Scorer, own: GridCandidate, others: Sequence[GridCandidate],
                           right: RightModel) -> tuple[GridCandidate, tuple[GridCandidate, ...]]:
    cfg = scorer.config
    own_x = candidate_features(scorer, own)
    xs = np.array([candidate_features(scorer, c) for c in others]).reshape(len(others), len(own_x))
    own = replace(scorer.scored(own), right=float(right.probabilities(own_x)[0]))
    ps = right.probabilities(xs) if len(others) else np.zeros(0)
    scored = [replace(scorer.scored(c), right=float(p)) for c, p in zip(others, ps)]
    ranked = tuple(sorted([own] + scored, key=lambda c: -(c.right or 0.0)))
    if not scored:
        return own, ranked
    if right.pairwise:
        # The pairwise model compares each proposal with the detector's grid directly; a winner
        # must also score no lower than the detector's grid (``GridScore``): two judges, since
        # among many proposals one wrong grid far from the model's training cases (142-px cells
        # on 18-px art) can draw a pairwise preference of 0.9.  Of the accepted proposals the
        # best-scoring wins, not the most preferred: the pairwise model, trained on one wrong
        # grid against one right one, ranks two near-right proposals less well than the score
        # (drift seed 10110173: 37.7 x 38.1 preferred 0.84 over the right 37.7 x 36.2 at 0.72).
        beats = np.where([c.score >= own.score for c in scored], right.prefers(xs, own_x), 0.0)
        accepted = [c for c, b in zip(scored, beats) if b >= cfg.right_pair_threshold]
        return (max(accepted, key=lambda c: c.score) if accepted else own), ranked
    top = ranked[0]
    own_p = own.right or 0.0
    wins = top is not own and (top.right or 0.0) >= max(cfg.right_floor, own_p + cfg.right_margin)
    return (top if wins else own), ranked
