"""`perfecter bench --scale`: the figures' math on hand-made runs, and one tiny real run."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pixelperfecter.bench import scale
from pixelperfecter.cli import app


def _run(name: str, seconds: float, steady: float, digest: str = "d") -> scale.ScaleRun:
    return scale.ScaleRun(name, "x", 2, 101, seconds, 101, 0, digest, steady_seconds=steady)


def test_overhead_and_projection_come_from_the_steady_rates() -> None:
    local, dask = _run("local x2", 12.0, 10.0), _run("dask scheduler + 2", 13.0, 10.4)
    assert local.steady_ms_per_image == pytest.approx(100.0) and dask.steady_ms_per_image == pytest.approx(104.0)
    assert scale.overhead_pct(dask, local) == pytest.approx(4.0)
    report = scale.ScaleReport(101, 0, [local, dask], "test", driver_ms_per_image=1.0)
    rows = scale.projection(report)
    assert [m for m, _, _ in rows] == list(scale.PROJECT_MACHINES)
    machines, rate, hours = rows[1]
    assert rate == pytest.approx(machines * 1000 / 104.0) and hours == pytest.approx(1e6 / rate / 3600)
    assert rows[-1][1] == pytest.approx(1000.0)  # 200 machines: capped by the driver (1 ms per image)
    from pixelperfecter.runner import MAX_DASK_CHUNK

    assert scale.ceilings(report)["scheduler"] == pytest.approx(1000.0 / scale.SCHEDULER_MS_PER_TASK * MAX_DASK_CHUNK)
    text = scale.scale_markdown(report)
    assert "+4.0%; target <= 5%: PASS" in text and "Outputs identical across configurations: yes" in text
    assert not scale.ScaleReport(101, 0, [local, _run("other", 1, 1, digest="e")], "t").identical


def test_bench_scale_runs_every_configuration_on_the_same_images(tmp_path) -> None:
    pytest.importorskip("distributed")
    result = CliRunner().invoke(app, ["bench", "--scale", "--scale-images", "3", "--scale-repeats", "1", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [r["name"] for r in summary["runs"]] == ["local x1", "local x2", "dask LocalCluster x2", "dask scheduler + 2"]
    assert all(r["ok"] == 3 for r in summary["runs"]) and summary["identical"] is True
    assert (tmp_path / "scale.md").is_file() and len(summary["projection"]) == len(scale.PROJECT_MACHINES)


def test_steady_rate_does_not_count_a_first_batch_as_free() -> None:
    # A Dask task hands back several images at once: those came with the first delivery, so
    # the steady window (first hand-back to last) covers only the images after them.
    run = scale.ScaleRun("dask scheduler + 2", "dask", 2, 100, 2.0, 100, 0, "d", "", 1.5, steady_images=75)
    assert run.steady_ms_per_image == pytest.approx(20.0)
    unbatched = scale.ScaleRun("local x2", "local", 2, 100, 2.0, 100, 0, "d", "", 1.5)
    assert unbatched.steady_ms_per_image == pytest.approx(1500.0 / 99)
