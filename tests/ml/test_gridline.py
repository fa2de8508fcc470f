"""The gridline model: shapes at native sizes, targets, the real training loop, the proposer, ONNX."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from .conftest import REPO

TINY_GL = REPO / "configs" / "tiny-gridline.yaml"


@pytest.fixture(scope="module")
def tiny_gl(tmp_path_factory):
    """A 2-step run of the tiny gridline config through ``perfecter ml train`` (CliRunner)."""
    from typer.testing import CliRunner

    from pixelperfecter_ml.cli import ml_app

    out = tmp_path_factory.mktemp("gl-runs")
    result = CliRunner().invoke(ml_app, ["train", "--config", str(TINY_GL), "--set", f"out_dir={out}"])
    assert result.exit_code == 0, result.output
    assert "2 steps" in result.output and "1-D cell" in result.output
    return out / "tiny-gridline"


@pytest.mark.parametrize("h, w", [(37, 53), (64, 64), (1, 9), (129, 31)])
def test_fcn_keeps_native_odd_sizes(h, w):
    import torch

    from pixelperfecter_ml.gridline import GridlineNet

    net = GridlineNet(width=4).eval()
    with torch.no_grad():
        out = net(torch.zeros(2, 4, h, w))
    assert tuple(out.shape) == (2, 2, h, w)


def test_boundary_targets_mark_the_pixel_edge_where_the_colour_changes():
    from pixelperfecter_ml.gridline import boundary_targets

    t = boundary_targets(np.array([0.0, 5.4, 10.8, 16.2, 20.0]), 20, 0.25)
    assert list(np.flatnonzero(t == 1.0)) == [5, 11, 16]
    assert t[4] == t[6] == 0.25 and t[0] == 0.0 and t.shape == (20,)


def test_augmented_targets_sit_on_the_edges_of_the_augmented_crop():
    """Flips and transposes move the targets with the pixels: on a clean case every target
    boundary is an edge of the crop (the core's edge profile is nonzero there)."""
    from pixelperfecter.core.grid import edge_profiles
    from pixelperfecter_ml.gridline import batch_tensors, make_gridline_data

    data = make_gridline_data(6, 80, {"clean": 1.0}, seed_base=5, label_side=0.25)
    rng = np.random.default_rng(0)
    batch = batch_tensors(data, np.arange(6), rng, 64)
    x, t = batch["x"].numpy(), batch["t"].numpy()
    assert x.shape == (6, 4, 64, 64) and t.shape == (6, 2, 64)
    for i in range(6):
        rgb = (x[i, :3].transpose(1, 2, 0) * 255).round().astype(np.uint8)
        rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
        ex, ey = edge_profiles(rgba)
        for prof, target in ((ex, t[i, 0]), (ey, t[i, 1])):
            at = np.flatnonzero(target == 1.0)
            assert len(at) > 0
            # A boundary between two cells of the same colour shows no edge: most, not all.
            assert np.mean(prof[at] > 0) >= 0.6


def test_tiny_training_run_writes_the_usual_run_folder(tiny_gl):
    from pixelperfecter_ml.train import load_checkpoint

    assert (tiny_gl / "best.pt").exists() and (tiny_gl / "last.pt").exists()
    assert (tiny_gl / "config.yaml").read_text().count("model: gridline") == 1
    assert any((tiny_gl / "tb").iterdir())
    state = load_checkpoint(tiny_gl / "best.pt")
    assert state["config"]["model"] == "gridline" and state["step"] == 2


def test_gridline_config_errors_are_config_errors(tmp_path):
    from pixelperfecter_ml.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="model must be"):
        load_config(TINY_GL, ["model=unet"])
    with pytest.raises(ConfigError, match="unknown tier"):
        load_config(TINY_GL, ["gl_tiers=drift:2,nope:1"])


def test_proposer_returns_grid_candidates_and_plugs_into_detect_grid(tiny_gl):
    from pixelperfecter.core.grid import detect_grid
    from pixelperfecter.core.synth import make_case
    from pixelperfecter.core.types import GridCandidate
    from pixelperfecter_ml.gridline_infer import boundary_profiles, gridline_proposer, load_gridline

    case = make_case(10_000_123, "ai", size=(300, 257))
    predictor = load_gridline(tiny_gl / "best.pt")
    px, py = boundary_profiles(case.image, predictor)
    assert px.shape == (301,) and py.shape == (258,)
    assert px[0] == px[-1] == py[0] == py[-1] == 0.0 and 0.0 <= px.min() and px.max() <= 1.0
    propose = gridline_proposer(tiny_gl / "best.pt")
    cands = propose(case.image)
    assert isinstance(cands, list)
    for c in cands:
        assert isinstance(c, GridCandidate) and c.source.startswith("gridline")
        assert 2.0 <= c.cell_w <= 128 and 2.0 <= c.cell_h <= 128
        assert 0.0 <= c.offset_x < c.cell_w and 0.0 <= c.offset_y < c.cell_h
    det = detect_grid(case.image, proposers=[propose])
    assert det.grid is not None


def test_a_grid_estimator_checkpoint_is_not_a_gridline_model(tiny_run):
    from pixelperfecter_ml.gridline_infer import load_gridline
    from pixelperfecter_ml.inference import ModelLoadError

    cfg, _ = tiny_run
    with pytest.raises(ModelLoadError, match="not a gridline model"):
        load_gridline(cfg.run_dir / "best.pt")


@pytest.mark.skipif(importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None,
                    reason="onnx / onnxruntime not installed")
def test_onnx_export_has_dynamic_size_and_matches_eager(tiny_gl, tmp_path):
    from pixelperfecter_ml.export import export_model
    from pixelperfecter_ml.gridline_infer import load_gridline

    result = export_model(tiny_gl / "best.pt", tmp_path)
    assert result.onnx is not None and result.onnx.name == "gridline.onnx"
    eager, onnx = load_gridline(tiny_gl / "best.pt"), load_gridline(result.onnx)
    x = np.random.default_rng(1).random((1, 4, 45, 211), dtype=np.float32)
    a, b = eager(x), onnx(x)
    assert a.shape == b.shape == (1, 2, 45, 211)
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_peak_pitch_reads_the_local_pitch_across_a_half_cell_jump():
    from pixelperfecter_ml.gridline_infer import boundary_peaks, line_agreement, peak_pitch

    lines = np.concatenate([np.arange(5, 200, 10.0), np.arange(205 + 5, 400, 10.0)])  # a 5-px jump at 200
    prob = np.zeros(401)
    prob[np.round(lines).astype(int)] = 0.9
    peaks = boundary_peaks(prob)
    assert len(peaks) == len(lines)
    cell, offset = peak_pitch(prob, rough=9.6)
    assert abs(cell - 10.0) < 0.05 and 0.0 <= offset < cell
    assert line_agreement(np.concatenate([[0], peaks, [400]]), peaks) == 1.0
    assert line_agreement(np.array([0, 3, 400]), peaks) == 0.0


def test_gridline_hybrid_keeps_user_overrides_and_returns_a_reconstruction(tiny_gl):
    from pixelperfecter.core.synth import make_case
    from pixelperfecter.core.types import ReconstructParams
    from pixelperfecter_ml.gridline_infer import gridline_hybrid, load_gridline

    case = make_case(10_000_321, "drift", size=(200, 180))
    predictor = load_gridline(tiny_gl / "best.pt")
    choice = gridline_hybrid(case.image, predictor, has_alpha=case.has_alpha)
    assert choice.result.metrics is not None and "heuristic" in choice.agreement
    assert choice.origin == "heuristic" or choice.origin.startswith("gridline#")
    forced = gridline_hybrid(case.image, predictor, params=ReconstructParams(cell_w=9.0, cell_h=9.0))
    assert forced.origin == "heuristic" and forced.reason == "user overrides"


def test_evaluate_with_a_gridline_model_reports_its_methods_and_flips(tiny_run, tiny_gl, tmp_path):
    from pixelperfecter_ml.evaluate import run_evaluation

    cfg, _ = tiny_run
    report = run_evaluation(model=cfg.run_dir / "best.pt", out_dir=tmp_path, per_tier=1, tiers=["drift"], realworld=None, gridline=tiny_gl / "best.pt")
    assert [r["method"] for r in report.rows] == ["heuristic", "model", "hybrid", "gridline", "hybrid-gl"]
    assert set(report.changes_by_method) == {"hybrid", "gridline", "hybrid-gl"}
    (row,) = report.changes_by_method["hybrid-gl"]
    assert row["n"] == 1 and row["heuristic_failures"] + row["heuristic_successes"] == 1
    assert "## What hybrid-gl changed" in report.markdown


def test_visible_targets_are_exactly_the_colour_changes_of_a_clean_case_after_augmentation():
    from pixelperfecter_ml.gridline import POS, batch_tensors, make_gridline_data

    data = make_gridline_data(6, 80, {"clean": 1.0}, seed_base=5, label_side=0.25, visible=True)
    batch = batch_tensors(data, np.arange(6), np.random.default_rng(0), 64)
    x, m = batch["x"].numpy(), batch["m"].numpy()
    assert m.shape == (6, 2, 64, 64)
    for i in range(6):
        rgb = (x[i, :3] * 255).round().astype(int)
        gx = np.zeros((64, 64), bool)
        gy = np.zeros((64, 64), bool)
        gx[:, 1:] = np.abs(rgb[:, :, 1:] - rgb[:, :, :-1]).max(axis=0) > 0
        gy[1:, :] = np.abs(rgb[:, 1:, :] - rgb[:, :-1, :]).max(axis=0) > 0
        # Opaque or not, a clean case's colour changes are its visible cell boundaries.
        assert gx[m[i, 0] == POS].all() and (m[i, 0][gx] == POS).all()
        assert gy[m[i, 1] == POS].all() and (m[i, 1][gy] == POS).all()


@pytest.mark.skipif(importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None,
                    reason="onnx / onnxruntime not installed")
def test_the_onnx_gridline_proposer_runs_without_torch(tiny_gl, tmp_path):
    import subprocess
    import sys

    from pixelperfecter_ml.export import export_model

    onnx = export_model(tiny_gl / "best.pt", tmp_path).onnx
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from pixelperfecter.core.synth import make_case\n"
        "from pixelperfecter_ml.gridline_infer import gridline_proposer\n"
        f"cands = gridline_proposer({str(onnx)!r})(make_case(10_000_009, 'ai', size=(160, 144)).image)\n"
        "print(len(cands), all(c.source.startswith('gridline') for c in cands))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("True")


def test_gridline_training_resumes_through_the_one_loop(tmp_path):
    # The gridline model trains in ``train.train``'s loop, so it resumes like the estimator:
    # the step count, optimizer state and best score carry on from last.pt.
    from pixelperfecter_ml.config import load_config
    from pixelperfecter_ml.train import load_checkpoint, train

    first = train(load_config(TINY_GL, [f"out_dir={tmp_path}", "max_steps=2", "eval_every=2"]))
    assert first.step == 2 and load_checkpoint(first.run_dir / "last.pt")["step"] == 2
    again = train(load_config(TINY_GL, [f"out_dir={tmp_path}", "max_steps=4", "eval_every=2", "resume=true"]))
    state = load_checkpoint(again.run_dir / "last.pt")
    assert again.step == 4 and state["step"] == 4 and "optimizer" in state
    assert set(state["val"]) == {"loss", "cell_ok", "edge_cell_ok"}
