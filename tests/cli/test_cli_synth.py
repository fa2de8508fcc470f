"""`perfecter synth`: fake images, truth sprites and truth.jsonl."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import png_size
from PIL import Image

from pixelperfecter.core.synth import TIERS, make_case


def test_synth_writes_images_truth_sprites_and_jsonl(cli, tmp_path):
    out = tmp_path / "fakes"
    run = cli("synth", "--out", out, "--count", "3", "--tier", "fractional", "--seed", "10", "--size", "256x192")
    assert run.exit_code == 0, run.stderr
    lines = (out / "truth.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["image"] for r in records] == [f"synth_fractional_{s:04d}.png" for s in (10, 11, 12)]
    for r in records:
        assert {"cell_w", "cell_h", "offset_x", "offset_y", "cells"} <= set(r)
        assert png_size(out / r["image"]) == (256, 192)
        assert png_size(out / r["truth"]) == tuple(r["cells"]) == (r["cells_x"], r["cells_y"])
        case = make_case(r["seed"], "fractional", size=(256, 192))
        assert r["cell_w"] == pytest.approx(case.cell_w, abs=1e-3)
        assert r["offset_y"] == pytest.approx(case.offset_y, abs=1e-3)
        truth = np.asarray(Image.open(out / r["truth"]).convert("RGBA"))
        if not r["has_alpha"]:
            assert np.array_equal(truth[..., :3], case.truth[..., :3])
    assert len(run.stdout.splitlines()) == 3


def test_truth_dir_is_separate_and_jsonl_accumulates(cli, tmp_path):
    out, truth = tmp_path / "input", tmp_path / "truth"
    assert cli("synth", "--out", out, "--truth-out", truth, "--tier", "clean", "--seed", "1", "--count", "2").exit_code == 0
    assert cli("synth", "--out", out, "--truth-out", truth, "--tier", "ai", "--seed", "3", "--size", "200x200").exit_code == 0
    # Re-generating an image replaces its line instead of duplicating it.
    assert cli("synth", "--out", out, "--truth-out", truth, "--tier", "clean", "--seed", "2").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["synth_ai_0003.png", "synth_clean_0001.png", "synth_clean_0002.png"]
    images = [json.loads(line)["image"] for line in (truth / "truth.jsonl").read_text().splitlines()]
    assert sorted(images) == ["synth_ai_0003.png", "synth_clean_0001.png", "synth_clean_0002.png"]
    assert not list(out.glob("*_truth.png"))


def test_synth_then_reconstruct_with_the_true_cell_size(cli, tmp_path):
    out = tmp_path / "fakes"
    assert cli("synth", "--out", out, "--tier", "clean", "--seed", "4", "--count", "1").exit_code == 0
    record = json.loads((out / "truth.jsonl").read_text())
    run = cli("reconstruct", out / record["image"], "--out", tmp_path / "res", "--json",
              "--cell-size", record["cell_w"], "--offset", record["offset_x"], record["offset_y"])
    assert run.exit_code == 0, run.stderr
    grid = run.json_lines[0]["grid"]
    assert (grid["cells_x"], grid["cells_y"]) == (record["cells_x"], record["cells_y"])


@pytest.mark.parametrize("args", [("--tier", "blurry"), ("--count", "0"), ("--size", "big"), ("--prefix", "a/b"), ()])
def test_synth_usage_errors(cli, tmp_path, args):
    base = () if args == () else ("--out", tmp_path / "o")  # () = missing the required --out
    run = cli("synth", *base, *args)
    assert run.exit_code == 2, run.stderr


def test_synth_tiers_mirror_the_core():
    from pixelperfecter.cli_reconstruct import SYNTH_TIERS

    assert tuple(SYNTH_TIERS) == tuple(TIERS)


def test_a_case_the_generator_cannot_make_is_one_error_and_the_rest_are_written(cli, tmp_path, monkeypatch):
    import pixelperfecter.synth_files as synth_files

    real = synth_files.make_case

    def flaky(seed, tier, size=None):
        if seed == 2:
            raise ValueError("low >= high")
        return real(seed, tier, size=size)

    monkeypatch.setattr(synth_files, "make_case", flaky)
    run = cli("synth", "--out", tmp_path, "--tier", "clean", "--seed", "1", "--count", "3")
    assert run.exit_code == 1
    assert [line for line in run.stderr.splitlines() if line.startswith("error:")] == [
        "error: synth_clean_0002: cannot generate this case (ValueError: low >= high)"
    ]
    images = [json.loads(line)["image"] for line in (tmp_path / "truth.jsonl").read_text().splitlines()]
    assert images == ["synth_clean_0001.png", "synth_clean_0003.png"]
