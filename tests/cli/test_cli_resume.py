"""`--resume` and the run manifest (issue 9): skip what is done, redo what changed or is partial."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
from cli_helpers import write_clean_png

from pixelperfecter.manifest import MANIFEST_NAME, Manifest

FORCE_8 = ("--cell-size", "8", "--offset", "0", "0")


def _folder(root: Path) -> Path:
    for i, name in enumerate(["a.png", "b.png", "c.png", "d.png"]):
        write_clean_png(root / name, seed=i)
    return root


def test_resume_skips_done_images_and_redoes_changed_missing_and_failed_ones(cli, tmp_path):
    folder, out = _folder(tmp_path / "in"), tmp_path / "out"
    (folder / "e.png").write_bytes(b"broken")
    first = cli("reconstruct", folder, "--out", out, *FORCE_8, "--upscale", "2")
    assert first.exit_code == 1  # e.png
    write_clean_png(folder / "b.png", seed=42)  # new content
    (out / "c_x2.png").unlink()  # a partial set
    os.utime(folder / "d.png", ns=(1, 1))  # touched, same content: still done
    run = cli("reconstruct", folder, "--out", out, *FORCE_8, "--upscale", "2", "--resume", "--json")
    assert "resume: 2 of 5 images already done" in run.stderr
    statuses = {Path(r["image"]).name: r["status"] for r in run.json_lines}
    assert statuses == {"a.png": "skipped", "d.png": "skipped", "b.png": "ok", "c.png": "ok", "e.png": "error"}
    assert (out / "c_x2.png").is_file()
    rows = pd.read_csv(out / "metrics.csv")
    assert sorted(Path(p).name for p in rows["image"]) == ["a.png", "b.png", "b.png", "c.png", "c.png", "d.png", "e.png", "e.png"]


def test_resume_with_other_options_redoes_everything(cli, tmp_path):
    folder, out = _folder(tmp_path / "in"), tmp_path / "out"
    assert cli("reconstruct", folder, "--out", out, *FORCE_8).exit_code == 0
    run = cli("reconstruct", folder, "--out", out, *FORCE_8, "--upscale", "3", "--resume")
    assert run.exit_code == 0 and "resume: 0 of 4 images already done" in run.stderr
    assert len(list(out.glob("*_x3.png"))) == 4
    again = cli("reconstruct", folder, "--out", out, *FORCE_8, "--upscale", "3", "--resume")
    assert again.exit_code == 0 and "resume: 4 of 4 images already done" in again.stderr


def test_the_manifest_survives_a_torn_last_line(cli, tmp_path):
    folder, out = _folder(tmp_path / "in"), tmp_path / "out"
    assert cli("reconstruct", folder / "a.png", folder / "b.png", "--out", out, *FORCE_8).exit_code == 0
    with open(out / MANIFEST_NAME, "a") as fh:
        fh.write('{"input": "/half')  # a crash mid-append
    assert len(Manifest.load(out / MANIFEST_NAME).records) == 2
    run = cli("reconstruct", folder, "--out", out, *FORCE_8, "--resume")
    assert run.exit_code == 0 and "resume: 2 of 4 images already done" in run.stderr
    lines = (out / MANIFEST_NAME).read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["status"] == "ok" for line in lines)


def test_resume_and_no_metrics_is_a_usage_error(cli, tmp_path):
    write_clean_png(tmp_path / "a.png")
    assert cli("reconstruct", tmp_path / "a.png", "--out", tmp_path / "out", "--resume", "--no-metrics").exit_code == 2
