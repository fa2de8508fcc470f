"""SIGTERM and SIGINT on a real `perfecter reconstruct` with two workers (issue 9).

The driver must stop the workers, remove every temp file and exit within 2 s with a line saying
what was finished; every output set is complete or absent and has its metrics row; and
``--resume`` then finishes the rest without redoing what was done.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from cli_helpers import no_tmp_leftovers, write_clean_png

import pixelperfecter

SRC = str(Path(pixelperfecter.__file__).resolve().parents[1])
N_IMAGES = 36
EXTRAS = ("--upscale", "8", "--diff", "--grid")
SUFFIXES = ("", "_x8", "_diff", "_grid")


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("signals") / "in"
    for i in range(N_IMAGES):
        # 768 x 512 px with grid detection on: long enough per image to be caught mid-run.
        write_clean_png(folder / f"img{i:02d}.png", 96, 64, cell=8, seed=i)
    return folder


def _start(folder: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    # Its own session, so a signal can go to the whole process group as a terminal's Ctrl-C does.
    return subprocess.Popen(
        [sys.executable, "-m", "pixelperfecter.cli", "reconstruct", str(folder), "--out", str(out), "--workers", "2", *EXTRAS, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )


def _rows(out: Path) -> int:
    try:
        return max(0, len((out / "metrics.csv").read_text().splitlines()) - 1)
    except FileNotFoundError:
        return 0


def _check_complete_or_absent(out: Path) -> pd.DataFrame:
    rows = pd.read_csv(out / "metrics.csv")
    recorded = {Path(p).stem for p in rows["image"]}
    assert len(recorded) == len(rows), "an image was recorded twice"
    for stem in recorded:
        assert all((out / f"{stem}{s}.png").is_file() for s in SUFFIXES), f"{stem}: incomplete output set"
    stray = {p.name for p in out.glob("*.png")} - {f"{stem}{s}.png" for stem in recorded for s in SUFFIXES}
    assert stray == set(), "outputs without a metrics row"
    assert no_tmp_leftovers(out) == []
    return rows


@pytest.mark.parametrize(
    "sig, code, name, to_group",
    [
        (signal.SIGTERM, 143, "SIGTERM", False),  # kill PID, a scheduler, timeout(1)
        (signal.SIGINT, 130, "SIGINT", True),  # Ctrl-C in a terminal: the driver and its workers get it
    ],
)
def test_a_signal_stops_the_batch_cleanly_within_two_seconds(image_folder: Path, tmp_path: Path, sig: int, code: int, name: str, to_group: bool) -> None:
    out = tmp_path / "out"
    proc = _start(image_folder, out)
    deadline = time.monotonic() + 60
    while _rows(out) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the batch finished before it could be interrupted"
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert len(workers) >= 2
    sent = time.monotonic()
    if to_group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=10)
    took = time.monotonic() - sent
    assert took < 2.0, f"took {took:.2f} s to exit"
    assert proc.returncode == code, stderr
    finished = [line for line in stderr.splitlines() if line.startswith(f"interrupted by {name}: ")]
    assert len(finished) == 1, stderr
    rows = _check_complete_or_absent(out)
    assert f"{len(rows)} of {N_IMAGES} images finished" in finished[0]
    assert len(rows) < N_IMAGES
    time.sleep(0.2)
    alive = [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], "orphaned workers"

    # Resume finishes the rest and redoes nothing that was done.
    done_before = {Path(p).stem for p in rows["image"]}
    mtimes = {stem: (out / f"{stem}.png").stat().st_mtime_ns for stem in done_before}
    resumed = _start(image_folder, out, "--resume")
    _, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    assert f"resume: {len(rows)} of {N_IMAGES} images already done" in stderr
    final = _check_complete_or_absent(out)
    assert len(final) == N_IMAGES
    assert all((out / f"{stem}.png").stat().st_mtime_ns == mtimes[stem] for stem in done_before)
