from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from pixelperfecter_ml.config import load_config
from pixelperfecter_ml.train import StratifiedSampler, load_checkpoint, lr_at, train

from .conftest import REPO, TINY, tiny_overrides


def test_train_writes_checkpoints_config_and_tensorboard(tiny_run):
    cfg, result = tiny_run
    run = cfg.run_dir
    assert result.step == 2
    for name in ("best.pt", "last.pt", "config.yaml"):
        assert (run / name).exists(), name
    assert list((run / "tb").glob("events.out.tfevents.*"))
    for name in ("best.pt", "last.pt"):
        state = load_checkpoint(run / name)
        assert state["config"]["batch_size"] == 4 and state["config"]["data_dir"] == cfg.data_dir
    saved = load_config(run / "config.yaml")
    assert saved == cfg


def test_tensorboard_has_scalars_and_images(tiny_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg, _ = tiny_run
    acc = EventAccumulator(str(cfg.run_dir / "tb"))
    acc.Reload()
    tags = acc.Tags()
    for tag in ("train/loss", "train/lr", "val/mae_cell_px", "val/within_1px"):
        assert tag in tags["scalars"], tag
    assert "val/predictions" in tags["images"]


def test_resume_continues_step_count(tmp_path, tiny_data):
    cfg = load_config(TINY, tiny_overrides(tiny_data, tmp_path))
    assert train(cfg).step == 2
    resumed = load_config(TINY, tiny_overrides(tiny_data, tmp_path, "resume=true", "max_steps=4"))
    result = train(resumed)
    assert result.step == 4
    assert load_checkpoint(cfg.run_dir / "last.pt")["step"] == 4


def test_cpu_training_is_deterministic(tmp_path, tiny_data):
    weights = []
    for name in ("a", "b"):
        cfg = load_config(TINY, tiny_overrides(tiny_data, tmp_path, f"name={name}"))
        train(cfg)
        weights.append(load_checkpoint(cfg.run_dir / "last.pt")["model"])
    assert weights[0].keys() == weights[1].keys()
    for k in weights[0]:
        assert torch.equal(weights[0][k], weights[1][k]), k
    # ... and a different seed really changes them (the check above could not pass by accident).
    cfg = load_config(TINY, tiny_overrides(tiny_data, tmp_path, "name=c", "seed=99"))
    train(cfg)
    other = load_checkpoint(cfg.run_dir / "last.pt")["model"]
    assert any(not torch.equal(other[k], weights[0][k]) for k in other if other[k].is_floating_point())


def test_lr_schedule_warms_up_then_decays():
    cfg = load_config(TINY, ["max_steps=100", "warmup_steps=10", "lr=1.0", "min_lr_ratio=0.1"])
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(55, cfg) == pytest.approx(0.55, abs=0.01)
    assert lr_at(100, cfg) == pytest.approx(0.1)


def test_stratified_sampler_mix_and_rank_sharding():
    sources = [0] * 10 + [1] * 200 + [2] * 20
    weights = {"human": 0.3, "synthetic": 0.6, "weak": 0.1}
    full = list(StratifiedSampler(sources, weights, 3000, seed=1))
    share = sum(sources[i] == 0 for i, _ in full) / len(full)
    assert 0.27 < share < 0.33  # human rows oversampled to their configured share
    ranks = [list(StratifiedSampler(sources, weights, 1500, seed=1, rank=r, world_size=2)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 1500
    draws = [d for _, d in ranks[0]] + [d for _, d in ranks[1]]
    assert sorted(draws) == [d for _, d in full]  # disjoint shares that cover the global stream


def test_device_cuda_without_cuda_is_a_clear_error(tmp_path, tiny_data):
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    cfg = load_config(TINY, tiny_overrides(tiny_data, tmp_path, "device=cuda"))
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        train(cfg)


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path, tiny_data):
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "pixelperfecter.cli", "ml", "train", "--config", str(TINY),
           "--set", f"data_dir={tiny_data}", "--set", f"out_dir={tmp_path}", "--set", "name=ddp"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = load_checkpoint(tmp_path / "ddp" / "last.pt")
    assert state["step"] == 2
    assert not any(k.startswith("module.") for k in state["model"])
