"""The sample images shipped in input/ and their truth in tests/fixtures/samples_truth/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from pixelperfecter.core.synth import score_restoration

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "input"
TRUTH = REPO / "tests" / "fixtures" / "samples_truth"


def _truth_records() -> dict[str, dict]:
    lines = (TRUTH / "truth.jsonl").read_text().splitlines()
    return {r["image"]: r for r in map(json.loads, lines)}


def test_samples_are_small_varied_and_have_truth():
    pngs = sorted(SAMPLES.glob("*.png"))
    assert 5 <= len(pngs) <= 6
    assert sorted(p.name for p in SAMPLES.iterdir()) == [p.name for p in pngs]  # fakes only, no truth files
    records = _truth_records()
    assert sorted(records) == [p.name for p in pngs]
    for p in pngs:
        assert p.stat().st_size < 300_000, p
        with Image.open(p) as img:
            assert max(img.size) <= 512
            assert img.size == (records[p.name]["width"], records[p.name]["height"])
        with Image.open(TRUTH / records[p.name]["truth"]) as truth:
            assert truth.size == (records[p.name]["cells_x"], records[p.name]["cells_y"])
    assert len({r["tier"] for r in records.values()}) >= 3
    assert any(r["has_alpha"] for r in records.values())


def test_reconstruct_with_no_arguments_works_on_the_shipped_samples(cli, tmp_path, monkeypatch):
    shutil.copytree(SAMPLES, tmp_path / "input")
    monkeypatch.chdir(tmp_path)
    run = cli("reconstruct", "--json")
    assert run.exit_code == 0, run.stderr
    records = _truth_records()
    results = {Path(r["image"]).name: r for r in run.json_lines}
    assert sorted(results) == sorted(records)
    for name, result in results.items():
        assert result["status"] == "ok", result
        if records[name]["tier"] == "clean":
            # Exact integer scale: the sprite must come back cell for cell.
            sprite = np.asarray(Image.open(result["outputs"]["sprite"]).convert("RGBA"))
            truth = np.asarray(Image.open(TRUTH / records[name]["truth"]).convert("RGBA"))
            assert score_restoration(sprite, truth).restored, name
