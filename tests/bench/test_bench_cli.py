"""`perfecter bench` end to end on a tiny synthetic set (detector accuracy is not asserted)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pixelperfecter.bench import CASE_COLUMNS
from pixelperfecter.cli import app
from pixelperfecter.core import synth

runner = CliRunner()


def test_tiny_run_prints_every_tier_with_its_oracle_and_writes_the_tables(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = runner.invoke(app, ["bench", "--per-tier", "2", "--no-realworld", "--no-scaling", "--no-photos", "--speed-runs", "1", "--workers", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for tier in synth.TIERS:
        assert any(f" {tier} " in line and " ours " in line for line in lines), tier
        assert any(f" {tier} " in line and " ORACLE " in line for line in lines), tier
    assert "speed: median" in result.stdout and "1024x1024" in result.stdout
    assert "tracemalloc" in result.stdout  # says how peak memory was measured

    markdown = (out / "bench.md").read_text()
    assert "| clean | ORACLE |" in markdown and "| drift | ours |" in markdown
    with open(out / "bench_synth.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == CASE_COLUMNS
    assert sorted((r["tier"], r["seed"]) for r in rows) == sorted((t, str(s)) for t in synth.TIERS for s in (0, 1))
    # Every case got a single-thread time, and the oracle was scored.
    assert all(float(r["ms"]) > 0 for r in rows)
    assert all(0.0 <= float(r["oracle_accuracy"]) <= 1.0 for r in rows)
    assert not (out / "bench_realworld.csv").exists()


def test_json_summary_is_machine_readable(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "--per-tier", "1", "--tiers", "clean,ai", "--no-realworld", "--no-scaling", "--no-photos", "--speed-runs", "0",
                                 "--workers", "1", "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [t["tier"] for t in summary["tiers"]] == ["clean", "ai"]
    assert summary["speed"] is None
    per_tier = ("restored", "gap to oracle", "restored at L-inf 40", "refusals")
    assert {c["name"] for c in summary["checks"]} == {f"{t}: {c}" for t in ("clean", "ai") for c in per_tier}
    assert summary["settings"]["per_tier"] == 1
    assert summary["files"]["markdown"].endswith("bench.md")
    assert isinstance(summary["all_passed"], bool)


def test_unknown_tier_is_one_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "--tiers", "clean,bogus", "--no-realworld", "--no-scaling", "--no-photos", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown tier bogus" in result.stderr
    assert not (tmp_path / "bench.md").exists()


def test_missing_realworld_folder_is_one_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "--realworld", str(tmp_path / "nowhere"), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "nowhere" in result.stderr and "labels.jsonl" in result.stderr


def test_oracle_restores_the_clean_tier() -> None:
    """The oracle reads the true grid, so clean cases must come back (it should be ~100%)."""
    restored = [synth.score_restoration(synth.oracle_sprite(c), c.truth).restored
                for c in (synth.make_case(seed, "clean") for seed in range(12))]
    assert sum(restored) / len(restored) >= 0.9


def test_strict_turns_a_failed_target_into_exit_1(tmp_path: Path, monkeypatch) -> None:
    from pixelperfecter import bench

    # An unreachable target, so the verdict does not depend on the detector's accuracy.
    real_targets = bench.Targets
    monkeypatch.setattr(bench, "Targets", lambda: real_targets(restored_pct={"clean": 100.1}))
    args = ["bench", "--per-tier", "1", "--tiers", "clean", "--no-realworld", "--no-scaling", "--no-photos", "--speed-runs", "0", "--workers", "1", "--out", str(tmp_path)]
    report_only = runner.invoke(app, args)
    assert report_only.exit_code == 0, report_only.output
    assert "FAIL" in report_only.stdout
    strict = runner.invoke(app, args + ["--strict"])
    assert strict.exit_code == 1, strict.output


def test_quick_run_reports_photos_and_per_megapixel_figures(tmp_path: Path) -> None:
    pytest.importorskip("skimage")
    result = runner.invoke(app, ["bench", "--quick", "--tiers", "clean", "--per-tier", "1", "--no-realworld", "--speed-runs", "0",
                                 "--workers", "1", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    sizes = {(s["kind"], s["width"]) for s in summary["scaling"]}
    assert sizes == {("sparse", 1024), ("busy", 1024), ("sparse", 2048), ("busy", 2048)}
    assert all(s["ms_per_mp"] > 0 and s["bytes_per_pixel"] > 0 for s in summary["scaling"])
    assert len(summary["photos"]) >= 15
    markdown = (tmp_path / "bench.md").read_text()
    assert "## Photographs" in markdown and "## Speed per megapixel" in markdown


def test_smooth_tier_has_no_flat_cell_edges_yet_the_oracle_restores_it() -> None:
    """The 'smooth' tier (sprites upscaled with smoothing) must be recoverable from the true grid
    (else it measures the generator, not the tool), and really smooth: edges are ramps."""
    cases = [synth.make_case(seed, "smooth") for seed in range(12)]
    restored_40 = [synth.score_restoration(synth.oracle_sprite(c), c.truth, tolerance=40).restored for c in cases]
    assert sum(restored_40) / len(restored_40) >= 0.9
    for case in cases[:4]:
        row = case.image[case.image.shape[0] // 2, :, :3].astype(np.int16)
        steps = np.abs(np.diff(row, axis=0)).max(axis=-1)
        # A sharp 5-40 px upscale puts its whole colour change in one step; here it is spread.
        big = steps > 4 * max(1.0, float(np.median(steps)))
        assert big.sum() == 0 or steps.max() < 0.5 * float(np.ptp(row, axis=0).max())
