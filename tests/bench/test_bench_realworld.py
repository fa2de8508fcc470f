"""The real-world part of `perfecter bench` on two labelled images (skipped without ../shared)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from pixelperfecter import bench
from pixelperfecter.cli import app

REALWORLD = Path(__file__).resolve().parents[2] / ".." / "shared" / "realworld"
# Two small labelled images: one unambiguous, one with a seam (medium confidence).
PICKED = ("ppa_ash_ash.png", "ppa_bat_bat.png")

pytestmark = [
    pytest.mark.realworld,
    pytest.mark.skipif(not (REALWORLD / "labels.jsonl").is_file(), reason="../shared/realworld is absent"),
]


@pytest.fixture
def two_images(tmp_path: Path) -> Path:
    """A real-world folder with two images, their labels and one labelled-but-missing file."""
    folder = tmp_path / "realworld"
    folder.mkdir()
    lines = [line for line in (REALWORLD / "labels.jsonl").read_text().splitlines() if json.loads(line)["file"] in PICKED]
    assert len(lines) == 2
    for name in PICKED:
        shutil.copy(REALWORLD / name, folder / name)
    missing = json.dumps({"file": "gone.png", "cell_w": 10, "cell_h": 10, "kind": "single-grid", "confidence": "high"})
    (folder / "labels.jsonl").write_text("\n".join(lines + [missing]) + "\n")
    return folder


def test_realworld_report_rows_and_contact_sheet(two_images: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner_invoke(["bench", "--tiers", "clean", "--per-tier", "1", "--speed-runs", "0", "--no-scaling", "--no-photos",
                            "--realworld", str(two_images), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in PICKED:
        assert name in result.stdout
    assert "single-grid/high" in result.stdout and "gone.png" in result.stdout  # the missing file is noted

    with open(out / "bench_realworld.csv", newline="") as fh:
        rows = {r["file"]: r for r in csv.DictReader(fh)}
    assert sorted(rows) == sorted(PICKED)
    assert rows["ppa_ash_ash.png"]["group"] == bench.UNAMBIGUOUS
    assert rows["ppa_bat_bat.png"]["group"] == bench.OTHER
    assert rows["ppa_bat_bat.png"]["label_cell_h"] == "36.1"
    for row in rows.values():
        assert row["ok"] in ("0", "1")
        assert float(row["ms"]) > 0  # timed in the single-thread pass (not --quick)

    markdown = (out / "bench.md").read_text()
    assert "## Real world" in markdown and "| ppa_ash_ash.png |" in markdown

    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.size == (bench.SHEET_WIDTH, bench.sheet_height(2))


def test_quick_skips_the_realworld_speed_pass(two_images: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner_invoke(["bench", "--quick", "--tiers", "clean", "--per-tier", "1", "--speed-runs", "0", "--no-scaling", "--no-photos",
                            "--workers", "1", "--realworld", str(two_images), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    images = summary["realworld"]["images"]
    assert [i["file"] for i in images] == list(PICKED)
    assert all(i["ms"] == "" for i in images)
    groups = {g["group"]: g["n"] for g in summary["realworld"]["summary"]}
    assert groups == {bench.UNAMBIGUOUS: 1, bench.OTHER: 1}


def runner_invoke(args: list[str]):
    return CliRunner().invoke(app, args)
