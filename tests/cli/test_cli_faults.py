"""Issue 9: the defects found by fault injection, one test each (each fails on the code before it).

Images are exact 8 px cells at phase 0 with the grid forced, so these tests are about files,
records and messages, not grid detection.
"""

from __future__ import annotations

import errno
import os
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import blow_up, clean_sprite, no_tmp_leftovers, write_clean_png
from PIL import Image

import pixelperfecter
from pixelperfecter.core.metrics import METRICS_COLUMNS

FORCE_8 = ("--cell-size", "8", "--offset", "0", "0")
SRC = str(Path(pixelperfecter.__file__).resolve().parents[1])


def perfecter(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess (for what only a real process shows: fd 2, signals)."""
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-m", "pixelperfecter.cli", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=timeout)


def test_a_file_name_that_is_not_utf8_is_recorded_and_the_batch_goes_on(cli, tmp_path):
    folder = tmp_path / "in"
    write_clean_png(folder / "good.png")
    odd = os.fsdecode(os.fsencode(str(folder)) + b"/caf\xe9.png")  # Latin-1 bytes, not UTF-8
    write_clean_png(Path(odd), seed=3)
    run = cli("reconstruct", folder, "--out", tmp_path / "out", *FORCE_8, "--workers", "1")
    assert run.exit_code == 0, run.stderr
    rows = pd.read_csv(tmp_path / "out" / "metrics.csv")
    assert set(rows["status"]) == {"ok"} and len(rows) == 2
    assert any(name.endswith("caf\\xe9.png") for name in rows["image"])
    assert os.path.exists(os.fsdecode(os.fsencode(str(tmp_path / "out")) + b"/caf\xe9.png"))


def test_a_torn_metrics_row_is_cut_off_before_the_next_append(cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.csv").write_text(",".join(METRICS_COLUMNS) + "\nold.png,ok,8,8,0,0,12,8,0.0,0.9,5,0.1,,,,out/old.png\ntorn.png,ok,8,8,0", encoding="utf-8")
    write_clean_png(tmp_path / "a.png")
    run = cli("reconstruct", tmp_path / "a.png", "--out", out, *FORCE_8)
    assert run.exit_code == 0, run.stderr
    rows = pd.read_csv(out / "metrics.csv")  # raised "Expected 16 fields ... saw 19" before
    assert [Path(p).name for p in rows["image"]] == ["old.png", "a.png"]
    assert any("torn last row" in line for line in run.stderr.splitlines() if line.startswith("warning:"))


def test_a_full_disk_on_the_metrics_file_is_one_error_and_never_a_torn_row(cli, tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_clean_png(tmp_path / "a.png")
    write_clean_png(tmp_path / "b.png", seed=1)
    assert cli("reconstruct", tmp_path / "a.png", "--out", out, *FORCE_8).exit_code == 0
    before = (out / "metrics.csv").read_bytes()
    real_write = os.write

    def disk_full(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("metrics.csv"):
            real_write(fd, data[: len(data) // 2])  # half a row reaches the disk, then ENOSPC
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", disk_full)
    run = cli("reconstruct", tmp_path / "b.png", "--out", out, *FORCE_8, "--workers", "1")
    monkeypatch.setattr(os, "write", real_write)
    assert run.exit_code == 1
    assert len(run.error_lines) == 1 and "metrics.csv" in run.error_lines[0] and "No space left" in run.error_lines[0]
    assert (out / "metrics.csv").read_bytes() == before
    assert not (out / "b.png").exists()  # not recorded, so not left behind
    assert no_tmp_leftovers(out) == []


def test_an_unwritable_metrics_target_is_one_clear_error(cli, tmp_path):
    write_clean_png(tmp_path / "a.png")
    run = cli("reconstruct", tmp_path / "a.png", "--out", tmp_path / "out", *FORCE_8, "--metrics", "/dev/full")
    assert run.exit_code == 1
    assert len(run.error_lines) == 1 and run.error_lines[0].startswith("error: /dev/full:")


def test_a_failed_image_leaves_no_partial_output_set(cli, tmp_path, monkeypatch):
    from pixelperfecter import outputset

    write_clean_png(tmp_path / "a.png")

    def no_space(*_args: object, **_kw: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "a_x8.png"))

    monkeypatch.setattr(outputset.render, "upscale", no_space)
    run = cli("reconstruct", tmp_path / "a.png", "--out", tmp_path / "out", *FORCE_8, "--upscale", "8", "--workers", "1")
    assert run.exit_code == 1
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == []  # a.png was left before
    rows = pd.read_csv(tmp_path / "out" / "metrics.csv")
    assert list(rows["status"]) == ["error"] and pd.isna(rows["output"][0])
    assert no_tmp_leftovers(tmp_path / "out") == []


def test_out_equal_to_the_input_folder_never_reingests_earlier_outputs(cli, tmp_path):
    folder = tmp_path / "art"
    for i in range(3):
        write_clean_png(folder / f"x{i}.png", seed=i)
    counts = []
    for _ in range(3):
        run = cli("reconstruct", folder, "--out", folder, *FORCE_8, "--upscale", "4")
        assert run.exit_code == 0, run.stderr
        counts.append(len(list(folder.glob("*.png"))))
    assert counts == [9, 9, 9]  # 3 inputs + 3 sprites + 3 upscales, every time (was 3 -> 10 -> 26 -> 44)
    assert not list(folder.glob("*-2_x4-2*"))


def test_an_earlier_output_named_on_purpose_is_an_error(cli, tmp_path):
    write_clean_png(tmp_path / "a.png")
    assert cli("reconstruct", tmp_path / "a.png", "--out", tmp_path, *FORCE_8).exit_code == 0
    run = cli("reconstruct", tmp_path / "a-2.png", "--out", tmp_path, *FORCE_8)
    assert run.exit_code == 1 and "an output of an earlier run" in run.error_lines[0]


def test_max_pixels_is_reported_as_given(cli, tmp_path):
    write_clean_png(tmp_path / "big.png", 20, 10, cell=8)  # 160 x 80 = 12,800 px
    run = cli("reconstruct", tmp_path / "big.png", "--out", tmp_path / "out", *FORCE_8, "--max-pixels", "5000")
    assert run.exit_code == 1
    assert "limit 5,000" in run.error_lines[0] and "10,000" not in run.error_lines[0]
    # Beyond twice the limit too (where Pillow's own guard raised with its doubled figure).
    run = cli("reconstruct", tmp_path / "big.png", "--out", tmp_path / "out", *FORCE_8, "--max-pixels", "1000")
    assert "limit 1,000" in run.error_lines[0] and "2,000" not in run.error_lines[0]


def test_an_upscale_over_the_pixel_limit_is_an_error_and_leaves_nothing(cli, tmp_path):
    write_clean_png(tmp_path / "a.png", 8, 8, cell=8)  # 64 x 64 px, sprite 8 x 8
    run = cli("reconstruct", tmp_path / "a.png", "--out", tmp_path / "out", *FORCE_8, "--upscale", "64", "--max-pixels", "100000")
    assert run.exit_code == 1
    assert "--upscale 64" in run.error_lines[0] and "512x512" in run.error_lines[0]
    assert list((tmp_path / "out").glob("*.png")) == []


def _mutated_tiffs(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    sprite = clean_sprite(8, 8, seed=0)[..., :3]
    Image.fromarray(blow_up(sprite, 8)).save(folder / "base.tif", compression="tiff_lzw")
    raw = (folder / "base.tif").read_bytes()
    rng = random.Random(1)
    for i in range(n):
        data = bytearray(raw)
        for _ in range(3):
            data[rng.randrange(8, min(len(data), 400))] = rng.randrange(256)
        (folder / f"m{i:02d}.tif").write_bytes(bytes(data))


def test_decoder_messages_never_leak_to_stderr(tmp_path):
    """libtiff writes to fd 2 itself ("Using code not yet in table."): 59 stray lines before."""
    _mutated_tiffs(tmp_path / "in", 60)
    run = perfecter("reconstruct", tmp_path / "in", "--out", tmp_path / "out", *FORCE_8, "--workers", "1")
    stray = [line for line in run.stderr.splitlines() if not line.startswith(("error: ", "warning: ")) and " images: " not in line]
    assert stray == []
    assert run.stderr.count("error: ") >= 1


def test_json_with_a_glob_that_matches_nothing_prints_an_error_object(cli, tmp_path):
    run = cli("reconstruct", f"{tmp_path}/*.png", "--out", tmp_path / "out", "--json")
    assert run.exit_code == 1
    [record] = run.json_lines
    assert record["status"] == "error" and record["image"] == f"{tmp_path}/*.png" and "no files match" in record["error"]


def test_help_shows_no_bool_placeholders_and_offset_as_x_y(cli):
    for command in (["reconstruct"], ["bench"], ["synth"], []):
        assert "<bool>" not in cli(*command, "--help").stdout, command
    text = cli("reconstruct", "--help").stdout
    assert "<float,float>" not in text and "X Y" in text


def test_a_dangling_link_and_a_folder_named_like_an_image_are_reported(cli, tmp_path):
    folder = tmp_path / "in"
    write_clean_png(folder / "good.png")
    (folder / "gone.png").symlink_to(folder / "deleted.png")
    (folder / "dir.png").mkdir()
    run = cli("reconstruct", folder, "--out", tmp_path / "out", *FORCE_8)
    assert run.exit_code == 1
    assert sorted(run.error_lines) == [
        f"error: {folder / 'dir.png'}: is a directory, not an image",
        f"error: {folder / 'gone.png'}: dangling symbolic link (its target is missing)",
    ]
    assert (tmp_path / "out" / "good.png").exists()


def test_no_lock_file_is_left_in_the_output_folder(cli, tmp_path):
    write_clean_png(tmp_path / "a.png")
    assert cli("reconstruct", tmp_path / "a.png", "--out", tmp_path / "out", *FORCE_8).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "manifest.jsonl", "metrics.csv"]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_pipeline_memory_error_is_one_line(cli, tmp_path, monkeypatch, workers):
    from pixelperfecter import batch

    write_clean_png(tmp_path / "a.png")

    def oom(*_a: object, **_k: object) -> None:
        raise MemoryError

    monkeypatch.setattr(batch, "reconstruct", oom)
    run = cli("reconstruct", tmp_path / "a.png", "--out", tmp_path / "out", *FORCE_8, "--workers", workers)
    assert run.exit_code == 1 and run.error_lines == [f"error: {tmp_path / 'a.png'}: out of memory while reconstructing"]


def test_no_metrics_into_the_input_folder_warns_that_nothing_marks_the_outputs(cli, tmp_path):
    write_clean_png(tmp_path / "a.png")
    run = cli("reconstruct", tmp_path, "--out", tmp_path, *FORCE_8, "--no-metrics")
    assert run.exit_code == 0
    assert any("--no-metrics records nothing" in line for line in run.stderr.splitlines() if line.startswith("warning:"))
