"""The right-grid probability (``grid.right``) and the selection that uses it."""

from __future__ import annotations

import numpy as np
import pytest

from pixelperfecter.core import synth
from pixelperfecter.core.grid import DEFAULT_CONFIG, Scorer, default_right_model, detect_grid, edge_profiles
from pixelperfecter.core.grid.right import FEATURES, RightModel, candidate_features
from pixelperfecter.core.grid.select import same_grid, select_grid
from pixelperfecter.core.types import GridCandidate


def _cand(case: synth.SynthCase, fx: float = 1.0, fy: float = 1.0, shift: float = 0.0, source: str = "x") -> GridCandidate:
    cw, ch = case.cell_w * fx, case.cell_h * fy
    return GridCandidate(cw, ch, (case.offset_x + shift * case.cell_w) % cw, (case.offset_y + shift * case.cell_h) % ch, source)


def _hand_model(weights: dict[str, float], bias: float = 0.0, pairwise: dict[str, float] | None = None) -> RightModel:
    """A right-grid model on unstandardised features (mean 0, scale 1)."""
    n = len(FEATURES)
    pair = () if pairwise is None else tuple(pairwise.get(f, 0.0) for f in FEATURES)
    return RightModel(FEATURES, (0.0,) * n, (1.0,) * n, tuple(weights.get(f, 0.0) for f in FEATURES), bias, pairwise=pair)


# Seeds far from any training range of ``perfecter ml calibrate`` (50_000_000+ / 60_000_000+).
@pytest.mark.parametrize(("seed", "tier"), [(3, "fractional"), (4, "ai"), (5, "small"), (6, "sheet"), (7, "drift")])
def test_shipped_model_ranks_the_true_grid_above_harmonics_and_shifted_phases(seed: int, tier: str) -> None:
    model = default_right_model()
    assert model is not None, "right_grid.json is shipped with the core"
    case = synth.make_case(seed, tier)
    scorer = Scorer(case.image, edge_profiles(case.image))
    right = model.probability(scorer, _cand(case))
    assert right > 0.4
    for wrong in (_cand(case, 2, 2), _cand(case, 0.5, 0.5), _cand(case, 2, 1), _cand(case, shift=0.5)):
        assert model.probability(scorer, wrong) < right - 0.2, wrong


def test_features_are_finite_and_named() -> None:
    case = synth.make_case(3, "fractional")
    scorer = Scorer(case.image, edge_profiles(case.image))
    x = candidate_features(scorer, _cand(case, 1 / 3, 1 / 3))
    assert x.shape == (len(FEATURES),) and np.isfinite(x).all()


def test_model_round_trips_and_refuses_other_features(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = _hand_model({"support_min": 2.0}, -1.0, {"harmonic_ratio": 3.0})
    path = model.save(tmp_path / "m.json")
    from pixelperfecter.core.grid.right import load_right_model

    assert load_right_model(path) == model
    d = model.as_dict() | {"features": ["a"]}
    with pytest.raises(ValueError):
        RightModel.from_dict(d)


def test_probability_decides_when_a_proposal_holds_the_true_grid() -> None:
    case = synth.make_case(3, "fractional")
    scorer = Scorer(case.image, edge_profiles(case.image))
    # Hand-built: lines that cross colour changes make a grid likely right (the x1/2 harmonic's
    # in-between lines cross none), two-colour cells make it unlikely (the x2 grid's).
    model = _hand_model({"support_min": 12.0, "share_live": -40.0}, -8.0)
    wrong_own = _cand(case, 0.5, 0.5, source="spectrum")
    best, ranked = select_grid(scorer, wrong_own, [_cand(case, source="model#1")], model)
    assert best.source == "model#1" and ranked[0].source == "model#1"
    assert best.right is not None and ranked[-1].right is not None and best.right > ranked[-1].right + 0.3
    # The detector's right grid stays against a 2x-coarse proposal...
    best, _ = select_grid(scorer, _cand(case, source="spectrum"), [_cand(case, 2, 2, source="model#1")], model)
    assert best.source == "spectrum"
    # ... and against anything when the probabilities do not differ by the margin.
    flat = _hand_model({}, 0.0)
    best, _ = select_grid(scorer, wrong_own, [_cand(case, source="model#1")], flat)
    assert best.source == "spectrum"


def test_pairwise_preference_decides_when_the_model_has_one() -> None:
    case = synth.make_case(3, "fractional")
    scorer = Scorer(case.image, edge_profiles(case.image))
    # Prefers grids whose line classes are all busy (a x1/2 harmonic's are not) and whose
    # cells hold one colour (a x2 grid's do not); the absolute part says nothing (p = 0.5).
    model = _hand_model({}, 0.0, {"harmonic_ratio": 10.0, "share_live": -40.0})
    wrong_own = _cand(case, 0.5, 0.5, source="spectrum")
    truth, coarse = _cand(case, source="model#1"), _cand(case, 2, 2, source="model#2")
    best, ranked = select_grid(scorer, wrong_own, [coarse, truth], model)
    assert best.source == "model#1" and {c.right for c in ranked} == {0.5}
    best, _ = select_grid(scorer, _cand(case, source="spectrum"), [coarse, wrong_own], model)
    assert best.source == "spectrum"
    xa, xb = candidate_features(scorer, truth), candidate_features(scorer, wrong_own)
    assert model.prefers(xa, xb)[0] > DEFAULT_CONFIG.right_pair_threshold > model.prefers(xb, xa)[0]
    # No preference (all-zero weights give 0.5, under the threshold): the detector's grid stays.
    best, _ = select_grid(scorer, wrong_own, [truth], _hand_model({}, 0.0, {"support_min": 0.0}))
    assert best.source == "spectrum"


def test_refinement_never_moves_a_proposal_onto_the_detectors_grid() -> None:
    case = synth.make_case(3, "fractional")
    scorer = Scorer(case.image, edge_profiles(case.image))
    own = scorer.refine(_cand(case, source="spectrum"))
    near = _cand(case, 1.025, 1.025, source="model#1")
    assert same_grid(scorer.refine(near), own)  # unconstrained, refinement lands on it
    kept = scorer.refine(near, avoid=own)
    assert kept == near


def test_hybrid_switches_to_a_proposal_with_the_true_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end through ``detect_grid``: a detector answer forced wrong, a proposer with the truth."""
    from pixelperfecter.core import grid as grid_pkg

    case = synth.make_case(3, "fractional")
    truth = _cand(case, source="oracle")
    det = detect_grid(case.image, proposers=[lambda rgba: [truth]])
    assert det.grid is not None and abs(det.grid.cell_w / case.cell_w - 1) < 0.01  # right grid either way
    model = _hand_model({"support_min": 12.0, "share_live": -40.0}, -8.0)
    monkeypatch.setattr(grid_pkg, "default_right_model", lambda: model)
    half = _cand(case, 0.5, 0.5, source="oracle-half")
    det = detect_grid(case.image, proposers=[lambda rgba: [half]])
    assert abs(det.grid.cell_w / case.cell_w - 1) < 0.01  # the detector's right grid is kept
    assert det.source == "spectrum"
    assert {c.source for c in det.candidates} >= {"spectrum", "oracle-half"}
    assert all(c.right is not None for c in det.candidates)


def test_axis_mixes_swap_one_axis_of_near_proposals() -> None:
    from pixelperfecter.core.grid.select import axis_mixes

    own = GridCandidate(10.0, 10.0, 1.0, 2.0, "spectrum")
    both = GridCandidate(10.5, 10.6, 3.0, 4.0, "model#1")
    mixes = {c.source: (c.cell_w, c.cell_h, c.offset_x, c.offset_y) for c in axis_mixes(own, [both])}
    assert mixes == {"model#1+y": (10.5, 10.0, 3.0, 2.0), "model#1+x": (10.0, 10.6, 1.0, 4.0)}
    # One axis apart: the only mix would be the detector's grid itself; far apart: no mixes.
    assert axis_mixes(own, [GridCandidate(10.5, 10.0, 3.0, 2.0, "model#1")]) == []
    assert axis_mixes(own, [GridCandidate(20.0, 20.5, 3.0, 2.0, "model#1")]) == []


def test_count_neighbours_hold_one_or_two_cells_more_or_fewer_on_one_axis() -> None:
    from pixelperfecter.core.grid.select import count_neighbours
    from pixelperfecter.core.grid.spectrum import comb_phase

    case = synth.make_case(3, "fractional")
    scorer = Scorer(case.image, edge_profiles(case.image))
    own = _cand(case, source="spectrum")
    height, width = case.image.shape[:2]
    found = {c.source: c for c in count_neighbours(scorer, own)}
    assert set(found) == {f"count{k:+d}{axis}" for k in (1, -1, 2, -2) for axis in "xy"}
    for source, c in found.items():
        k = int(source[5:-1])
        if source.endswith("x"):
            assert width / c.cell_w == pytest.approx(width / own.cell_w + k) and (c.cell_h, c.offset_y) == (own.cell_h, own.offset_y)
            assert c.offset_x == comb_phase(scorer.clean_profiles[0], c.cell_w)[0]
        else:
            assert height / c.cell_h == pytest.approx(height / own.cell_h + k) and (c.cell_w, c.offset_x) == (own.cell_w, own.offset_x)


def test_a_pairwise_preference_alone_does_not_switch_to_a_lower_scoring_grid() -> None:
    # A pairwise model that prefers coarse grids: the 2x-coarse proposal draws a preference near
    # 1, but it scores below the detector's right grid, so the detector's grid stays; a proposal
    # that both judges prefer (the truth against a forced x1/2 answer) still wins.
    case = synth.make_case(3, "fractional")
    scorer = Scorer(case.image, edge_profiles(case.image))
    model = _hand_model({}, 0.0, {"share_live": 40.0, "harmonic_ratio": 10.0})
    right, coarse = _cand(case, source="spectrum"), _cand(case, 2, 2, source="model#1")
    xa, xb = candidate_features(scorer, coarse), candidate_features(scorer, right)
    assert model.prefers(xa, xb)[0] > DEFAULT_CONFIG.right_pair_threshold
    assert scorer.score(coarse).total < scorer.score(right).total
    best, _ = select_grid(scorer, right, [coarse], model)
    assert best.source == "spectrum"
    best, _ = select_grid(scorer, _cand(case, 0.5, 0.5, source="spectrum"), [_cand(case, source="model#1")],
                          _hand_model({}, 0.0, {"harmonic_ratio": 10.0}))
    assert best.source == "model#1"


def test_of_the_proposals_both_judges_accept_the_best_scoring_wins() -> None:
    # Two proposals both preferred to the detector's 2x-fine harmonic and scoring above it: the
    # right grid, and the right grid shifted by a fifth of a cell (lower score) that the
    # pairwise model prefers more.  The score ranks them; with the shifted one alone accepted,
    # it wins.
    class TwoPreferences:
        pairwise = (1.0,)

        def __init__(self, beats: list[float]) -> None:
            self.beats = np.array(beats)

        def probabilities(self, xs: np.ndarray) -> np.ndarray:
            return np.zeros(len(np.atleast_2d(xs)))

        def prefers(self, xs: np.ndarray, own_x: np.ndarray) -> np.ndarray:
            return self.beats

    case = synth.make_case(3, "fractional")
    scorer = Scorer(case.image, edge_profiles(case.image))
    own = _cand(case, 0.5, 0.5, source="spectrum")
    right, shifted = _cand(case, source="model#1"), _cand(case, shift=0.2, source="model#2")
    assert scorer.score(right).total > scorer.score(shifted).total >= scorer.score(own).total
    best, _ = select_grid(scorer, own, [right, shifted], TwoPreferences([0.75, 0.95]))  # type: ignore[arg-type]
    assert best.source == "model#1"
    best, _ = select_grid(scorer, own, [right, shifted], TwoPreferences([0.5, 0.95]))  # type: ignore[arg-type]
    assert best.source == "model#2"


def test_with_proposers_a_drift_case_a_cell_short_gets_its_count_neighbour() -> None:
    # drift-10020002 (the held-out evaluation set): the ladder settles x at 22.88 px for 23.47
    # (a cell too many across the image).  With any proposer (here one that proposes nothing),
    # the shipped right-grid model and the score both prefer the detector's grid with one cell
    # fewer across x.
    case = synth.make_case(10_020_002, "drift")
    alone = detect_grid(case.image)
    assert alone.grid is not None and abs(alone.grid.cell_w / case.cell_w - 1) > 0.02
    det = detect_grid(case.image, proposers=[lambda rgba: []])
    assert det.grid is not None and abs(det.grid.cell_w / case.cell_w - 1) < 0.01 and abs(det.grid.cell_h / case.cell_h - 1) < 0.01
    assert any(w.startswith("grid from count-1x: the detector's grid with 1 cell fewer across x") for w in det.warnings)
    assert alone.source == "spectrum" and det.source == "count-1x"  # the winner, typed


def test_count_sources_are_spelt_out_for_people() -> None:
    from pixelperfecter.core.grid.select import describe_source

    assert describe_source("count+2y") == "count+2y: the detector's grid with 2 cells more across y"
    assert describe_source("count-1x") == "count-1x: the detector's grid with 1 cell fewer across x"
    assert describe_source("model#1+y") == "model#1+y"


def test_each_grid_is_sampled_once_whoever_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from pixelperfecter.core.grid import checks

    case = synth.make_case(3, "fractional")
    scorer = Scorer(case.image, edge_profiles(case.image))
    calls = []
    real = checks.cell_readings
    monkeypatch.setattr(checks, "cell_readings", lambda *a, **k: calls.append(a[2:6]) or real(*a, **k))
    c = _cand(case, source="model#1")
    first = candidate_features(scorer, c)
    assert len(calls) == 2  # the grid and its 2x-finer grid
    assert np.array_equal(candidate_features(scorer, c), first) and scorer.score(c) == scorer.score(c)
    assert len(calls) == 2
