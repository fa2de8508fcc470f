"""`perfecter ml calibrate`: the logistic fit, the reliability curve and the command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pixelperfecter_ml.calibrate import fit_logistic, reliability


def test_reliability_curve_on_hand_built_inputs() -> None:
    p = np.array([0.05, 0.05, 0.15, 0.95, 0.95, 0.95, 0.95, 1.0])
    y = np.array([0, 0, 1, 1, 1, 1, 0, 1])
    rel = reliability(p, y, n_bins=10)
    assert [b["n"] for b in rel.bins] == [2, 1, 5]  # p = 1.0 falls in the last bin
    first, second, last = rel.bins
    assert first["lo"] == 0.0 and first["right_rate"] == 0.0 and first["mean_p"] == pytest.approx(0.05)
    assert second["right_rate"] == 1.0
    assert last["mean_p"] == pytest.approx(0.96) and last["right_rate"] == pytest.approx(0.8)
    # ECE: 2/8 * 0.05 + 1/8 * 0.85 + 5/8 * 0.16
    assert rel.ece == pytest.approx(2 / 8 * 0.05 + 1 / 8 * 0.85 + 5 / 8 * 0.16)
    assert rel.brier == pytest.approx(np.mean((p - y) ** 2))
    assert reliability(np.array([0.3, 0.7]), np.array([0, 1]), n_bins=2).ece == pytest.approx(0.3)
    assert "ECE" in rel.table("t")


def test_logistic_fit_is_calibrated_on_its_own_distribution() -> None:
    from pixelperfecter.core.grid.right import FEATURES

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, len(FEATURES)))
    logit = 2.0 * x[:, 0] - 1.0 * x[:, 3] - 0.5
    y = (rng.random(4000) < 1 / (1 + np.exp(-logit))).astype(float)
    model = fit_logistic(x, y)
    # The L2 penalty shrinks the weights a little, but keeps their signs and ratio.
    assert model.weights[0] > 1.4 and -1.3 < model.weights[3] < -0.6
    assert model.weights[0] / -model.weights[3] == pytest.approx(2.0, abs=0.4)
    assert max(abs(w) for i, w in enumerate(model.weights) if i not in (0, 3)) < 0.2
    assert reliability(model.probabilities(x), y).ece < 0.03


def test_pairwise_fit_prefers_the_right_candidate_of_each_case() -> None:
    from pixelperfecter.core.grid.right import FEATURES, RightModel
    from pixelperfecter_ml.calibrate import fit_pairwise

    rng = np.random.default_rng(1)
    n = len(FEATURES)
    # Per case an offset common to all its candidates (the art), and the right one higher on
    # feature 2 than its wrong ones: only the differences tell them apart.
    x, y, cases = [], [], []
    for c in range(60):
        base = rng.normal(size=n) * 5
        for k in range(4):
            row = base + rng.normal(size=n) * 0.3
            row[2] += 1.0 if k == 0 else 0.0
            x.append(row)
            y.append(1.0 if k == 0 else 0.0)
            cases.append(f"c{c}")
    w = fit_pairwise(np.array(x), np.array(y), cases, (1.0,) * n)
    assert len(w) == n and w[2] > 1.0 and max(abs(v) for i, v in enumerate(w) if i != 2) < 0.5 * w[2]
    model = RightModel(FEATURES, (0.0,) * n, (1.0,) * n, (0.0,) * n, 0.0, pairwise=w)
    assert model.prefers(np.array(x[0]), np.array(x[1]))[0] > 0.8


def test_cli_calibrate_on_a_tiny_case_count(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from pixelperfecter.core.grid import right
    from pixelperfecter_ml.cli import ml_app

    shipped = right.DEFAULT_RIGHT_MODEL_PATH.read_bytes()
    out = tmp_path / "cal"
    result = CliRunner().invoke(ml_app, ["calibrate", "--per-tier", "2", "--held-out", "1", "--tiers", "clean,fractional", "--no-model", "--mine", "5",
                                         "--out", str(out), "--realworld", str(tmp_path / "absent")])
    assert result.exit_code == 0, result.output
    assert "ECE" in result.output and "support_min" in result.output
    model = right.load_right_model(out / "right_grid.json")
    assert model.features == right.FEATURES and len(model.pairwise) == len(right.FEATURES)
    assert "pairwise >= 0.7 (shipped)" in result.output
    rel = json.loads((out / "reliability.json").read_text())
    assert rel["realworld"] is None and rel["synthetic"]["n"] > 0 and 0.0 <= rel["synthetic"]["ece"] <= 1.0
    assert right.DEFAULT_RIGHT_MODEL_PATH.read_bytes() == shipped  # only --default installs


def test_replayed_rule_needs_both_judges_as_the_selection_stage() -> None:
    # Per case the detector's grid and one proposal; the pairwise model (a weight on support_min
    # only) prefers both proposals, but the second scores lower (log_total) than its detector's
    # grid, so only the first case switches, as ``select._select_by_probability`` would.
    from pixelperfecter.core.grid.right import FEATURES, RightModel
    from pixelperfecter_ml.calibrate import LabelledSet, selection_outcomes

    n = len(FEATURES)
    support, total = FEATURES.index("support_min"), FEATURES.index("log_total")
    rows = np.zeros((4, n))
    rows[1, support] = rows[3, support] = 1.0  # the proposals: preferred by the pairwise part
    rows[2, total] = 0.0
    rows[3, total] = -1.0  # the second proposal scores lower than its detector's grid
    pairwise = tuple(5.0 if i == support else 0.0 for i in range(n))
    model = RightModel(FEATURES, (0.0,) * n, (1.0,) * n, (0.0,) * n, 0.0, pairwise=pairwise)
    data = LabelledSet(rows, np.array([0, 1, 0, 1]), ["heuristic-failure", "model", "heuristic-failure", "model"], ["a", "a", "b", "b"])
    out = selection_outcomes(model, data, 0.3, 0.3, pair_threshold=0.7)
    assert out == {"failures": 2, "fixed": 1, "successes": 0, "broken": 0}


def test_replayed_rule_takes_the_best_scoring_of_the_accepted_proposals() -> None:
    # One case, two proposals both judges accept: the more preferred one (support_min 2) is
    # wrong, the better-scoring one (log_total 0.5) is right, and the replay picks the latter.
    from pixelperfecter.core.grid.right import FEATURES, RightModel
    from pixelperfecter_ml.calibrate import LabelledSet, selection_outcomes

    n = len(FEATURES)
    support, total = FEATURES.index("support_min"), FEATURES.index("log_total")
    rows = np.zeros((3, n))
    rows[1, support], rows[1, total] = 2.0, 0.1
    rows[2, support], rows[2, total] = 1.0, 0.5
    pairwise = tuple(5.0 if i == support else 0.0 for i in range(n))
    model = RightModel(FEATURES, (0.0,) * n, (1.0,) * n, (0.0,) * n, 0.0, pairwise=pairwise)
    data = LabelledSet(rows, np.array([0, 0, 1]), ["heuristic-failure", "model", "model"], ["a", "a", "a"])
    assert selection_outcomes(model, data, 0.3, 0.3, pair_threshold=0.7) == {"failures": 1, "fixed": 1, "successes": 0, "broken": 0}
