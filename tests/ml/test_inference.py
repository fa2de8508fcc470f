from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pixelperfecter_ml import inference
from pixelperfecter_ml.export import export_model, load_torchscript
from pixelperfecter_ml.inference import GridSuggestion, ModelLoadError, hybrid_candidates, load_predictor, suggest_parameters
from pixelperfecter_ml.train import CheckpointError, model_from_checkpoint


class Payload:
    """Stands for any arbitrary object a malicious checkpoint could carry."""


@pytest.fixture(scope="module")
def tiny_ckpt(tiny_run):
    cfg, _ = tiny_run
    return cfg.run_dir / "best.pt"


def test_export_torchscript_matches_eager(tiny_ckpt, tmp_path):
    result = export_model(tiny_ckpt, tmp_path / "export")
    assert result.torchscript.exists()
    # ONNX is exported when its packages are installed, and otherwise says why it was skipped.
    if result.onnx is not None:
        assert result.onnx.stat().st_size > 0
    else:
        assert any("ONNX skipped" in m for m in result.messages)
    eager, cfg = model_from_checkpoint(tiny_ckpt)
    scripted, crop = load_torchscript(result.torchscript)
    assert crop == cfg.crop
    x = torch.rand(3, 4, crop, crop, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(eager(x), scripted(x), atol=1e-5)
    # The exported file serves suggestions too, with the same answers as the checkpoint.
    img = np.random.default_rng(0).integers(0, 255, (150, 170, 4), dtype=np.uint8)
    img[..., 3] = 255
    a = inference.suggest_from_array(img, model=tiny_ckpt)
    b = inference.suggest_from_array(img, model=result.torchscript)
    assert [round(s.cell_w, 3) for s in a] == [round(s.cell_w, 3) for s in b]


def test_corrupt_and_mismatched_checkpoints_give_clear_errors(tiny_ckpt, tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(tiny_ckpt.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=r"corrupt.pt: not a readable checkpoint"):
        model_from_checkpoint(corrupt)
    with pytest.raises(ModelLoadError, match=r"corrupt.pt: not a readable checkpoint"):
        load_predictor(corrupt)
    # A pickle with an arbitrary object is refused, never executed.
    evil = tmp_path / "evil.pt"
    torch.save({"kind": "pixelperfecter-grid-estimator", "model": {}, "config": {}, "format": 1, "x": Payload()}, evil)
    with pytest.raises(CheckpointError, match="refused by the safe loader"):
        model_from_checkpoint(evil)
    # Weights from a different architecture than the config describes.
    state = torch.load(tiny_ckpt, weights_only=True)
    state["config"]["width"] = state["config"]["width"] * 2
    mismatched = tmp_path / "mismatched.pt"
    torch.save(state, mismatched)
    with pytest.raises(CheckpointError, match="weights do not match"):
        model_from_checkpoint(mismatched)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="not a pixelperfecter grid-estimator checkpoint"):
        model_from_checkpoint(other)
    bad_ts = tmp_path / "bad.ts"
    bad_ts.write_bytes(b"nope")
    with pytest.raises(ModelLoadError, match="not a loadable TorchScript model"):
        load_predictor(bad_ts)


def test_suggest_returns_sorted_candidates_and_caches_model(tiny_ckpt, real_images):
    inference.clear_cache()
    cands = suggest_parameters(real_images[0], top_k=3, model=tiny_ckpt)
    assert 1 <= len(cands) <= 3
    assert all(isinstance(c, GridSuggestion) for c in cands)
    confs = [c.confidence for c in cands]
    assert confs == sorted(confs, reverse=True)
    for c in cands:
        assert c.cell_w > 0 and c.cell_h > 0 and 0 <= c.offset_x < c.cell_w and 0 <= c.offset_y < c.cell_h
        assert 0.0 <= c.confidence <= 1.0
    assert load_predictor(tiny_ckpt) is load_predictor(tiny_ckpt)
    assert len(suggest_parameters(real_images[0], top_k=1, model=tiny_ckpt)) == 1


def test_default_model_is_shipped_and_small():
    if not inference.DEFAULT_MODEL.exists():
        pytest.fail(f"{inference.DEFAULT_MODEL} missing: the package must ship a default model")
    assert inference.DEFAULT_MODEL.stat().st_size <= 5 * 1024 * 1024
    img = np.zeros((200, 200, 4), np.uint8)
    img[..., 3] = 255
    img[::2, ::2, :3] = 200
    assert inference.suggest_from_array(img)  # loads without arguments


def test_shipped_model_hybrid_never_worse_on_ai_tier():
    from pixelperfecter.core.pipeline import reconstruct
    from pixelperfecter.core.synth import make_case, score_restoration

    for seed in (31, 32, 33):
        case = make_case(seed, "ai")
        heur = score_restoration(reconstruct(case.image).sprite, case.truth)
        hyb = inference.hybrid_from_array(case.image)
        assert score_restoration(hyb.result.sprite, case.truth).accuracy >= heur.accuracy - 1e-9, (seed, hyb.reason)
        top = hyb.suggestions[0]
        assert abs(top.cell_w - case.cell_w) / case.cell_w < 0.5  # a trained model, not noise


def test_hybrid_candidates_are_the_top_k_and_their_harmonic_neighbours():
    sugg = [GridSuggestion(8.0, 8.0, 3.0, 5.0, 0.6), GridSuggestion(16.2, 16.0, 1.0, 2.0, 0.3), GridSuggestion(3.0, 3.0, 1.0, 1.0, 0.1)]
    cands = hybrid_candidates(sugg)
    sources = [c.source for c in cands]
    # 16.2 x 16.0 is model#1's x2 already (within 2 %): not repeated; 1.5-px cells are left out.
    assert sources == ["model#1", "model#1x2", "model#1/2", "model#2x2", "model#3", "model#3x2"]
    assert cands[2].cell_w == 4.0 and cands[2].offset_x == pytest.approx(3.0 % 4.0)
    assert all(0 <= c.offset_x < c.cell_w and 0 <= c.offset_y < c.cell_h for c in cands)


def test_hybrid_never_worse_than_heuristic_on_synthetic(tiny_ckpt):
    from pixelperfecter.core.pipeline import reconstruct
    from pixelperfecter.core.synth import make_case, score_restoration

    for seed in (11, 12, 13):
        case = make_case(seed, "clean", size=(256, 256))
        heur = score_restoration(reconstruct(case.image).sprite, case.truth)
        hyb = inference.hybrid_from_array(case.image, model=tiny_ckpt)
        score = score_restoration(hyb.result.sprite, case.truth)
        assert score.accuracy >= heur.accuracy - 1e-9, (seed, hyb.reason)
        assert hyb.options[0].origin == "heuristic"


def test_hybrid_reconstruct_returns_a_reconstruction(tiny_ckpt, real_images):
    from pixelperfecter.core.types import Reconstruction, ReconstructParams

    result = inference.hybrid_reconstruct(real_images[0], model=tiny_ckpt)
    assert isinstance(result, Reconstruction) and result.ok and result.source == real_images[0]
    forced = inference.hybrid_reconstruct(real_images[0], ReconstructParams(cell_size=8.0), model=tiny_ckpt)
    assert forced.metrics.cell_w == pytest.approx(8.0)


def test_cli_suggest_json(tiny_ckpt, real_images):
    from typer.testing import CliRunner

    from pixelperfecter_ml.cli import ml_app

    result = CliRunner().invoke(ml_app, ["suggest", str(real_images[0]), str(real_images[1]), "--top-k", "2", "--json", "--model", str(tiny_ckpt)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [d["image"] for d in lines] == [str(real_images[0]), str(real_images[1])]
    assert all(1 <= len(d["candidates"]) <= 2 for d in lines)
    bad = CliRunner().invoke(ml_app, ["suggest", "/nonexistent.png", "--model", str(tiny_ckpt)])
    assert bad.exit_code == 1 and "file not found" in bad.output


def test_crops_are_taken_where_the_sprite_is_not_the_empty_canvas():
    from pixelperfecter.core.synth import random_sprite
    from pixelperfecter_ml.preprocess import busiest_windows

    rng = np.random.default_rng(0)
    canvas = np.full((800, 800, 3), 30, np.uint8)
    sprite = random_sprite(rng, 20, 20)[..., :3]
    canvas[500:740, 520:760] = np.repeat(np.repeat(sprite, 12, axis=0), 12, axis=1)
    windows = busiest_windows(canvas, 160, 4, steps=4)
    assert len(windows) == 4
    for x0, y0 in windows:  # every crop overlaps the sprite, none is plain background
        assert x0 + 160 > 520 and y0 + 160 > 500


def test_onnx_export_matches_eager_and_serves_suggestions_without_torch(tiny_ckpt, tmp_path, monkeypatch):
    # Parity eager vs onnxruntime on random batches of every size the suggestions use, and the
    # same suggestions through the torch-free path.
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    result = export_model(tiny_ckpt, tmp_path / "export")
    assert result.onnx is not None and not any("ONNX skipped" in m for m in result.messages)
    eager = load_predictor(tiny_ckpt)
    onnx = load_predictor(result.onnx)
    assert isinstance(onnx, inference.OnnxPredictor) and onnx.crop == eager.crop
    rng = np.random.default_rng(1)
    for batch in (1, 2, 4):
        x = rng.random((batch, 4, eager.crop, eager.crop), dtype=np.float32)
        assert np.abs(eager(x) - onnx(x)).max() < 1e-3
    img = rng.integers(0, 255, (200, 230, 4), dtype=np.uint8)
    a = inference.suggest_from_array(img, top_k=3, model=eager)
    b = inference.suggest_from_array(img, top_k=3, model=onnx)
    assert [round(s.cell_w, 2) for s in a] == [round(s.cell_w, 2) for s in b]
    # Without torch the default model is the shipped ONNX export.
    monkeypatch.setattr(inference, "torch_installed", lambda: False)
    assert inference.default_model_path() == inference.DEFAULT_ONNX and inference.DEFAULT_ONNX.exists()


def test_shipped_onnx_model_matches_the_shipped_checkpoint():
    pytest.importorskip("onnxruntime")
    eager = load_predictor(inference.DEFAULT_MODEL)
    onnx = load_predictor(inference.DEFAULT_ONNX)
    x = np.random.default_rng(2).random((4, 4, eager.crop, eager.crop), dtype=np.float32)
    assert np.abs(eager(x) - onnx(x)).max() < 1e-3


def test_a_corrupt_onnx_file_is_a_one_line_model_error(tmp_path):
    pytest.importorskip("onnxruntime")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(ModelLoadError, match="not a loadable ONNX model"):
        load_predictor(bad)


def test_ml_runs_without_torch_when_onnxruntime_and_the_onnx_model_are_there(monkeypatch):
    import typer

    from pixelperfecter_ml import cli as ml_cli

    pytest.importorskip("onnxruntime")
    monkeypatch.setattr(ml_cli, "torch_available", lambda: False)
    ml_cli.require_runtime()  # onnxruntime + the shipped ONNX model: no exit
    monkeypatch.setattr(inference, "onnxruntime_installed", lambda: False)
    with pytest.raises(typer.Exit) as stop:
        ml_cli.require_runtime()
    assert stop.value.exit_code == 3


def test_hybrid_names_a_winning_count_neighbour_from_the_detections_typed_source():
    # drift-10020002: the detector's x is a cell off; with no model proposals at all, the core's
    # count neighbour wins, and the hybrid reports it by the detection's source, not by its text.
    from pixelperfecter.core import synth
    from pixelperfecter_ml.inference import hybrid_from_array

    case = synth.make_case(10_020_002, "drift")
    hybrid = hybrid_from_array(case.image, suggestions=[])
    assert hybrid.chosen.origin == "count-1x" and hybrid.result.detection.source == "count-1x"
    assert hybrid.reason.startswith("count-1x: grid from count-1x") and len(hybrid.options) == 2
    clean = synth.make_case(1, "clean")
    kept = hybrid_from_array(clean.image, suggestions=[])
    assert kept.chosen.origin == "heuristic" and kept.reason == "heuristic kept"


def test_a_proposal_at_a_ramp_harmonic_is_merged_like_the_detectors_own_reading():
    # ml evaluate smooth-10040006 (tuning): 27.8-px cells upscaled with smoothing, read at 33 x
    # 36 px; the hybrid's winner was the model's 28.2-px proposal halved (13.9 px: finer cores
    # hold fewer ramps, so the score prefers them).  The ramp stage merges it back.
    from pixelperfecter.core import synth
    from pixelperfecter_ml.inference import hybrid_from_array

    case = synth.make_case(10_040_006, "smooth")
    result = hybrid_from_array(case.image).result
    grid = result.grid
    assert grid is not None
    assert abs(grid.cell_w / case.cell_w - 1) < 0.01 and abs(grid.cell_h / case.cell_h - 1) < 0.01
    assert synth.score_restoration(result.sprite, case.truth).restored


def test_proposals_do_not_pre_empt_the_detectors_own_smooth_cell_readings():
    # ml evaluate smooth-10230029: the detector's first reading (83 px) has smooth cells, and its
    # finer reading is the right 10.9 px; a 5.7-px proposal that passes the smoothness test won
    # when proposals were scored before those readings.
    from pixelperfecter.core import synth
    from pixelperfecter_ml.inference import hybrid_from_array

    case = synth.make_case(10_230_029, "smooth")
    grid = hybrid_from_array(case.image).result.grid
    assert grid is not None
    assert abs(grid.cell_w / case.cell_w - 1) < 0.01 and abs(grid.cell_h / case.cell_h - 1) < 0.01


def test_a_proposal_at_a_whole_multiple_of_the_detectors_cells_does_not_win():
    # ml evaluate drift-10250030: the detector's 13.5-px cells are right; the model's 4x
    # proposal (53.6 px) won both judges on drift-blurred cells.  The ladder had tested that
    # merge in image space: the dropped lines carry edges.
    from pixelperfecter.core import synth
    from pixelperfecter_ml.inference import hybrid_from_array

    case = synth.make_case(10_250_030, "drift")
    hybrid = hybrid_from_array(case.image)
    grid = hybrid.result.grid
    assert grid is not None and hybrid.chosen.origin == "heuristic"
    assert abs(grid.cell_w / case.cell_w - 1) < 0.01 and abs(grid.cell_h / case.cell_h - 1) < 0.03
