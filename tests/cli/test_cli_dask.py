"""`perfecter reconstruct --executor dask` (issue 9): a real scheduler + 2 workers on 127.0.0.1,
and a LocalCluster.  Outputs must be byte-identical to the local pool's, and the metrics CSV is
written by the driver alone (same rows, same order).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import no_tmp_leftovers, write_clean_png

import pixelperfecter

distributed = pytest.importorskip("distributed")

SRC = str(Path(pixelperfecter.__file__).resolve().parents[1])
EXTRAS = ("--upscale", "4", "--diff", "--grid", "--heatmap")
START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """``dask scheduler`` and ``dask worker --nworkers 2`` on 127.0.0.1, torn down afterwards
    (the same helper ``perfecter bench --scale`` uses)."""
    from pixelperfecter.bench.scale import local_scheduler

    with local_scheduler(2, timeout=START_TIMEOUT) as address:
        yield address


def _images(folder: Path, n: int) -> Path:
    for i in range(n):
        write_clean_png(folder / f"d{i}.png", 16, 12, cell=8, seed=i, transparent=i % 2 == 1)
    (folder / "broken.png").write_bytes(b"not a png")
    return folder


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.png"))}


def _rows(out: Path) -> pd.DataFrame:
    rows = pd.read_csv(out / "metrics.csv")
    rows["output"] = [Path(p).name if isinstance(p, str) else "" for p in rows["output"]]
    return rows.drop(columns=["seconds"])


def test_scheduler_with_two_workers_matches_the_local_pool(cli, tmp_path, scheduler):
    folder = _images(tmp_path / "in", 5)
    local = cli("reconstruct", folder, "--out", tmp_path / "local", *EXTRAS, "--workers", "2", "--json")
    dask = cli("reconstruct", folder, "--out", tmp_path / "dask", *EXTRAS, "--executor", "dask", "--scheduler", scheduler, "--json")
    assert local.exit_code == dask.exit_code == 1  # broken.png, in both
    assert _outputs(tmp_path / "dask") == _outputs(tmp_path / "local") and len(_outputs(tmp_path / "local")) == 25
    pd.testing.assert_frame_equal(_rows(tmp_path / "dask"), _rows(tmp_path / "local"))
    assert [r["image"] for r in dask.json_lines] == [r["image"] for r in local.json_lines]
    assert no_tmp_leftovers(tmp_path / "dask") == []
    # The manifest is the driver's too: --resume over Dask skips everything that was done.
    again = cli("reconstruct", folder, "--out", tmp_path / "dask", *EXTRAS, "--executor", "dask", "--scheduler", scheduler, "--resume")
    assert "resume: 5 of 6 images already done" in again.stderr


def test_local_cluster_without_a_scheduler(cli, tmp_path):
    folder = _images(tmp_path / "in", 2)
    local = cli("reconstruct", folder, "--out", tmp_path / "local", *EXTRAS, "--workers", "1")
    dask = cli("reconstruct", folder, "--out", tmp_path / "dask", *EXTRAS, "--executor", "dask", "--workers", "1", "--json")
    assert dask.exit_code == local.exit_code == 1
    assert _outputs(tmp_path / "dask") == _outputs(tmp_path / "local")
    assert [r["status"] for r in dask.json_lines] == ["error", "ok", "ok"]
    json.dumps(dask.json_lines)


def test_an_unreachable_scheduler_is_one_clear_error(cli, tmp_path):
    write_clean_png(tmp_path / "a.png")
    address = f"tcp://127.0.0.1:{_free_port()}"
    run = cli("reconstruct", tmp_path / "a.png", "--out", tmp_path / "out", "--executor", "dask", "--scheduler", address)
    assert run.exit_code == 1
    assert len(run.error_lines) == 1 and run.error_lines[0].startswith(f"error: --scheduler {address}: cannot start")


def test_ml_prepare_synthetic_cache_on_the_scheduler(tmp_path, scheduler):
    pytest.importorskip("torch")
    from pixelperfecter_ml.dataset import MANIFEST, prepare_dataset, read_manifest

    prepare_dataset(tmp_path / "one", feedback_log=None, input_dir=None, synthetic=4, seed=9)
    prepare_dataset(tmp_path / "two", feedback_log=None, input_dir=None, synthetic=4, seed=9, executor="dask", scheduler=scheduler)
    assert [(r.key, r.content_hash) for r in read_manifest(tmp_path / "one" / MANIFEST)] == \
        [(r.key, r.content_hash) for r in read_manifest(tmp_path / "two" / MANIFEST)]


def test_sigterm_stops_a_local_cluster_run_cleanly(tmp_path):
    psutil = pytest.importorskip("psutil")
    folder, out = tmp_path / "in", tmp_path / "out"
    for i in range(24):
        write_clean_png(folder / f"img{i:02d}.png", 96, 64, cell=8, seed=i)
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pixelperfecter.cli", "reconstruct", str(folder), "--out", str(out), "--workers", "2",
         "--upscale", "8", "--diff", "--grid", "--executor", "dask"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        metrics = out / "metrics.csv"
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "finished before it could be interrupted"
    children = psutil.Process(proc.pid).children(recursive=True)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=20)
    assert time.monotonic() - sent < 2.0 and proc.returncode == 143, stderr
    assert "interrupted by SIGTERM: " in stderr
    rows = pd.read_csv(out / "metrics.csv")
    assert {p.name for p in out.glob("*.png")} == {f"{Path(i).stem}{s}.png" for i in rows["image"] for s in ("", "_x8", "_diff", "_grid")}
    assert no_tmp_leftovers(out) == []
    time.sleep(0.5)
    assert [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE] == []
