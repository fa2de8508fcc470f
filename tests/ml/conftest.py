"""Shared fixtures for the ML track: a tiny prepared dataset and a tiny trained run."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "tiny.yaml"


def write_feedback(path: Path, rows: list[dict[str, str]]) -> None:
    try:
        from pixelperfecter.core.feedback import FEEDBACK_COLUMNS as cols
    except ImportError:
        cols = ["timestamp", "image", "verdict", "source", "overrides", "cell_w", "cell_h", "offset_x", "offset_y", "notes", "app_version"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for n, r in enumerate(rows):
            w.writerow({c: r.get(c, "") for c in cols} | {"timestamp": f"2026-01-01T00:00:{n:02d}+00:00"})


@pytest.fixture(scope="session")
def real_images(tmp_path_factory) -> list[Path]:
    """Three clean integer-scale synthetic images saved as files (stand-ins for real inputs)."""
    from pixelperfecter.core.io import save_png
    from pixelperfecter.core.synth import make_case

    folder = tmp_path_factory.mktemp("images")
    out = []
    for seed in (1, 2, 3):
        case = make_case(seed, "clean", size=(256, 256))
        out.append(save_png(folder / f"img{seed}.png", case.image))
    return out


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory, real_images) -> Path:
    from pixelperfecter_ml.dataset import prepare_dataset

    root = tmp_path_factory.mktemp("ml")
    log = root / "feedback_log.csv"
    write_feedback(log, [
        {"image": str(real_images[0]), "verdict": "correct", "cell_w": "8", "cell_h": "8", "offset_x": "0", "offset_y": "0", "source": "tui"},
        {"image": str(real_images[1]), "verdict": "correct", "overrides": '{"cell_size": 10}', "source": "tui"},
        {"image": str(real_images[2]), "verdict": "incorrect", "cell_w": "5", "cell_h": "5", "offset_x": "1", "offset_y": "1", "source": "ml-suggestion"},
    ])
    inputs = root / "input"
    inputs.mkdir()
    shutil.copy(real_images[0], inputs / "a.png")
    data = root / "data"
    prepare_dataset(data, feedback_log=log, input_dir=inputs, synthetic=24, seed=3)
    return data


def tiny_overrides(data: Path, out: Path, *extra: str) -> list[str]:
    return [f"data_dir={data}", f"out_dir={out}", *extra]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_data):
    """A 2-step tiny training run: (config, result)."""
    from pixelperfecter_ml.config import load_config
    from pixelperfecter_ml.train import train

    out = tmp_path_factory.mktemp("runs")
    cfg = load_config(TINY, tiny_overrides(tiny_data, out))
    return cfg, train(cfg)
