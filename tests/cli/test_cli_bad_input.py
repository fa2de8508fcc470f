"""Bad and unusual inputs: one clear error line per bad file, the batch goes on, exit 1.

Odd-but-valid formats (16-bit, palette, LA, CMYK, animated, EXIF-rotated) must reconstruct.
All images here are exact 8 px cells at phase 0, and the grid is forced, so these tests check
loading and error handling, not grid detection.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import blow_up, clean_sprite, no_tmp_leftovers, write_clean_png
from PIL import Image

FORCE_8 = ("--cell-size", "8", "--offset", "0", "0")


def _good(tmp_path: Path) -> Path:
    path = tmp_path / "good.png"
    write_clean_png(path, 8, 8, cell=8, seed=5)  # 64 x 64 px
    return path


def _valid_png_bytes(cells: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(blow_up(clean_sprite(cells, cells, seed=3), 8)).save(buf, format="PNG")
    return buf.getvalue()


# Each maker writes one bad input under tmp_path and returns (path, expected reason fragment).
def _not_an_image(d: Path) -> tuple[Path, str]:
    p = d / "notes.png"
    p.write_text("these are my notes, not a picture\n")
    return p, "not an image"


def _truncated(d: Path) -> tuple[Path, str]:
    data = _valid_png_bytes()
    p = d / "half.png"
    p.write_bytes(data[: len(data) // 2])
    return p, "corrupt or truncated"


def _corrupt_middle(d: Path) -> tuple[Path, str]:
    data = bytearray(_valid_png_bytes())
    data[60:400] = b"\x00" * 340  # stomp on the compressed stream, keep the header
    p = d / "stomped.png"
    p.write_bytes(bytes(data))
    return p, "corrupt or truncated"


def _zero_bytes(d: Path) -> tuple[Path, str]:
    p = d / "empty.png"
    p.write_bytes(b"")
    return p, "empty file"


def _one_pixel(d: Path) -> tuple[Path, str]:
    p = d / "dot.png"
    Image.new("RGB", (1, 1), (255, 0, 0)).save(p)
    return p, "too small"


def _missing(d: Path) -> tuple[Path, str]:
    return d / "does_not_exist.png", "file not found"


def _under_a_file(d: Path) -> tuple[Path, str]:
    (d / "plain.txt").write_text("x")
    return d / "plain.txt" / "img.png", "cannot read"


def _flat(d: Path) -> tuple[Path, str]:
    p = d / "flat.png"
    Image.new("RGB", (64, 64), (30, 90, 150)).save(p)
    return p, "no grid"


BAD_INPUTS: dict[str, Callable[[Path], tuple[Path, str]]] = {
    "not_an_image": _not_an_image,
    "truncated": _truncated,
    "corrupt_middle": _corrupt_middle,
    "zero_bytes": _zero_bytes,
    "one_pixel": _one_pixel,
    "missing": _missing,
    "under_a_file": _under_a_file,
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_input_gives_one_line_and_the_batch_goes_on(cli, tmp_path, kind):
    bad, reason = BAD_INPUTS[kind](tmp_path)
    good = _good(tmp_path)
    out = tmp_path / "out"
    run = cli("reconstruct", bad, good, "--out", out, *FORCE_8)
    assert run.exit_code == 1, run.stderr
    assert len(run.error_lines) == 1, run.stderr
    line = run.error_lines[0]
    assert line.startswith(f"error: {bad}: "), line
    assert reason in line, line
    assert (out / "good.png").exists()
    assert not (out / f"{bad.stem}.png").exists()
    assert no_tmp_leftovers(tmp_path) == []


def test_image_with_no_grid_is_a_failed_image_with_the_reason(cli, tmp_path):
    # Detection (not forced) on a flat image: nothing periodic to find.
    bad, _ = _flat(tmp_path)
    run = cli("reconstruct", bad, "--out", tmp_path / "out", "--json")
    assert run.exit_code == 1
    (record,) = run.json_lines
    assert record["status"] == "error" and "no grid" in record["error"]
    assert len(run.error_lines) == 1 and run.error_lines[0].startswith(f"error: {bad}: no grid")
    assert not (tmp_path / "out" / "flat.png").exists()


def test_decompression_bomb_over_the_pixel_limit(cli, tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("RGB", (400, 400), (0, 0, 0)).save(bomb)  # 160,000 px
    good = _good(tmp_path)  # 4,096 px
    run = cli("reconstruct", bomb, good, "--out", tmp_path / "out", *FORCE_8, "--max-pixels", "10000")
    assert run.exit_code == 1
    assert len(run.error_lines) == 1
    assert run.error_lines[0].startswith(f"error: {bomb}: image too large")
    assert (tmp_path / "out" / "good.png").exists()


def test_permission_denied_is_reported(cli, tmp_path):
    locked = tmp_path / "locked.png"
    write_clean_png(locked)
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: chmod 000 does not stop reads")
        run = cli("reconstruct", locked, _good(tmp_path), "--out", tmp_path / "out", *FORCE_8)
    finally:
        locked.chmod(0o644)
    assert run.exit_code == 1
    assert run.error_lines == [f"error: {locked}: permission denied"]


def test_permission_denied_message_even_as_root(cli, tmp_path, monkeypatch):
    # Root reads anything, so simulate the OS refusing to open this one file.
    import PIL.Image

    locked = tmp_path / "locked.png"
    write_clean_png(locked)
    real_open = PIL.Image.open

    def refusing_open(fp, *args, **kwargs):
        if Path(str(fp)) == locked:
            raise PermissionError(13, "Permission denied", str(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(PIL.Image, "open", refusing_open)
    run = cli("reconstruct", locked, _good(tmp_path), "--out", tmp_path / "out", *FORCE_8, "--workers", "1")
    assert run.exit_code == 1
    assert run.error_lines == [f"error: {locked}: permission denied"]
    assert (tmp_path / "out" / "good.png").exists()


def test_all_bad_kinds_in_one_batch_with_two_workers(cli, tmp_path):
    bads = [make(tmp_path)[0] for make in BAD_INPUTS.values()]
    good = _good(tmp_path)
    run = cli("reconstruct", *bads, good, "--out", tmp_path / "out", *FORCE_8, "--workers", "2", "--json")
    assert run.exit_code == 1
    records = run.json_lines
    assert [r["image"] for r in records] == [str(p) for p in bads] + [str(good)]
    assert [r["status"] for r in records] == ["error"] * len(bads) + ["ok"]
    assert len(run.error_lines) == len(bads)
    assert no_tmp_leftovers(tmp_path) == []


# --------------------------------------------------------------------------- odd but valid formats


def _assert_reconstructs(cli, tmp_path: Path, path: Path, truth: np.ndarray, tolerance: int = 0) -> dict:
    out = tmp_path / "out"
    run = cli("reconstruct", path, "--out", out, *FORCE_8, "--json", "--no-cleanup")
    assert run.exit_code == 0, run.stderr
    (record,) = run.json_lines
    got = np.asarray(Image.open(record["outputs"]["sprite"]).convert("RGBA")).astype(int)
    assert got.shape == truth.shape
    assert np.abs(got - truth.astype(int)).max() <= tolerance
    return record


def test_16_bit_png(cli, tmp_path):
    grey = clean_sprite(10, 8, seed=1)[..., 0].astype(np.uint16) * 257  # full 16-bit range
    path = tmp_path / "deep.png"
    Image.fromarray(np.ascontiguousarray(blow_up(grey[..., None], 8)[..., 0])).save(path)
    with Image.open(path) as img:
        assert img.mode.startswith("I")  # really stored as 16-bit
    truth = np.dstack([grey // 257] * 3 + [np.full_like(grey, 255)]).astype(np.uint8)
    _assert_reconstructs(cli, tmp_path, path, truth, tolerance=1)


def test_palette_png_with_transparency(cli, tmp_path):
    sprite = clean_sprite(8, 8, seed=2, transparent=True)
    rgba = Image.fromarray(blow_up(sprite, 8), "RGBA")
    path = tmp_path / "pal.png"
    # An explicit palette: index 0 is the transparent entry, then every opaque colour.
    pixels = np.asarray(rgba)
    opaque_colours = sorted({tuple(c) for c in pixels[pixels[..., 3] == 255][:, :3].tolist()})
    lookup = {c: i + 1 for i, c in enumerate(opaque_colours)}
    index = np.zeros(pixels.shape[:2], np.uint8)
    for y, x in zip(*np.nonzero(pixels[..., 3] == 255)):
        index[y, x] = lookup[tuple(pixels[y, x, :3].tolist())]
    pal_img = Image.fromarray(index, "P")
    pal_img.putpalette([0, 0, 0] + [v for c in opaque_colours for v in c])
    pal_img.save(path, transparency=0)
    with Image.open(path) as img:
        assert img.mode == "P" and "transparency" in img.info
    record = _assert_reconstructs_alpha(cli, tmp_path, path, sprite)
    assert record["status"] == "ok"


def _assert_reconstructs_alpha(cli, tmp_path: Path, path: Path, truth: np.ndarray) -> dict:
    out = tmp_path / "out"
    run = cli("reconstruct", path, "--out", out, *FORCE_8, "--json", "--no-cleanup")
    assert run.exit_code == 0, run.stderr
    (record,) = run.json_lines
    got = np.asarray(Image.open(record["outputs"]["sprite"]).convert("RGBA"))
    assert got.shape == truth.shape
    assert np.array_equal(got[..., 3] == 0, truth[..., 3] == 0)  # same transparent cells
    opaque = truth[..., 3] == 255
    assert np.abs(got[opaque][:, :3].astype(int) - truth[opaque][:, :3].astype(int)).max() <= 8
    return record


def test_la_png(cli, tmp_path):
    sprite = clean_sprite(8, 8, seed=3, transparent=True)
    grey = sprite[..., 0]
    la = np.dstack([grey, sprite[..., 3]])
    path = tmp_path / "la.png"
    Image.fromarray(blow_up(la, 8), "LA").save(path)
    truth = np.dstack([grey, grey, grey, sprite[..., 3]])
    _assert_reconstructs_alpha(cli, tmp_path, path, truth)


def test_cmyk_jpeg(cli, tmp_path):
    sprite = clean_sprite(8, 8, seed=4)
    path = tmp_path / "print.jpg"
    Image.fromarray(blow_up(sprite, 8)[..., :3], "RGB").convert("CMYK").save(path, quality=95)
    with Image.open(path) as img:
        assert img.mode == "CMYK"
    # JPEG is lossy; the cell medians still land close to the truth.
    _assert_reconstructs(cli, tmp_path, path, sprite, tolerance=24)


def test_animated_gif_uses_the_first_frame_with_a_warning(cli, tmp_path):
    first = clean_sprite(8, 8, seed=6)
    second = clean_sprite(8, 8, seed=7)
    frames = [Image.fromarray(blow_up(s, 8)[..., :3], "RGB") for s in (first, second)]
    path = tmp_path / "walk.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    run = cli("reconstruct", path, "--out", tmp_path / "out", *FORCE_8, "--json", "--no-cleanup")
    assert run.exit_code == 0, run.stderr
    (record,) = run.json_lines
    assert any("animated" in w and "first frame" in w for w in record["warnings"])
    assert f"warning: {path}: animated" in run.stderr
    got = np.asarray(Image.open(record["outputs"]["sprite"]).convert("RGBA")).astype(int)
    # GIF quantises to 256 colours; the sprite has < 12, so it is (nearly) exact.
    assert np.abs(got - first.astype(int)).max() <= 8
    assert np.abs(got - second.astype(int)).max() > 8


def test_exif_rotated_jpeg_is_turned_upright(cli, tmp_path):
    upright = clean_sprite(12, 8, seed=8)  # 12 wide, 8 tall once displayed
    stored = np.rot90(blow_up(upright, 8)[..., :3], k=1)  # stored turned 90 degrees counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "phone.jpg"
    Image.fromarray(np.ascontiguousarray(stored), "RGB").save(path, quality=95, exif=exif)
    record = _assert_reconstructs(cli, tmp_path, path, upright, tolerance=24)
    assert (record["grid"]["cells_x"], record["grid"]["cells_y"]) == (12, 8)


# --------------------------------------------------------------------------- output problems


def test_out_pointing_at_a_file_is_one_error_and_exit_1(cli, tmp_path):
    good = _good(tmp_path)
    blocker = tmp_path / "results.txt"
    blocker.write_text("I am a file")
    run = cli("reconstruct", good, "--out", blocker, *FORCE_8)
    assert run.exit_code == 1
    assert len(run.error_lines) == 1
    assert run.error_lines[0].startswith(f"error: {blocker}: ") and "not a folder" in run.error_lines[0]
    assert blocker.read_text() == "I am a file"
    assert no_tmp_leftovers(tmp_path) == []


def test_out_pointing_at_a_file_in_json_mode_reports_every_image(cli, tmp_path):
    blocker = tmp_path / "results.txt"
    blocker.write_text("x")
    run = cli("reconstruct", _good(tmp_path), "--out", blocker, *FORCE_8, "--json")
    assert run.exit_code == 1
    (record,) = run.json_lines
    assert record["status"] == "error" and "not a folder" in record["error"]


def test_an_output_that_cannot_be_replaced_fails_only_that_image(cli, tmp_path):
    write_clean_png(tmp_path / "in" / "a.png", seed=1)
    write_clean_png(tmp_path / "in" / "b.png", seed=2)
    out = tmp_path / "out"
    (out / "a.png").mkdir(parents=True)  # a folder where a.png's result must go
    run = cli("reconstruct", tmp_path / "in", "--out", out, *FORCE_8, "--workers", "1")
    assert run.exit_code == 1
    assert len(run.error_lines) == 1
    assert run.error_lines[0].startswith(f"error: {tmp_path / 'in' / 'a.png'}: cannot write output")
    assert (out / "b.png").is_file()
    assert no_tmp_leftovers(tmp_path) == []


def test_unwritable_metrics_file_stops_with_one_error(cli, tmp_path):
    blocker = tmp_path / "m"
    blocker.mkdir()  # a folder where the CSV should be
    run = cli("reconstruct", _good(tmp_path), "--out", tmp_path / "out", *FORCE_8, "--metrics", blocker)
    assert run.exit_code == 1
    assert len(run.error_lines) == 1 and str(blocker) in run.error_lines[0] and "metrics" in run.error_lines[0]


# --------------------------------------------------------------------------- a real process


def test_subprocess_exit_codes_and_stdout_purity(tmp_path):
    good = _good(tmp_path)
    (tmp_path / "bad.png").write_bytes(b"")
    cmd = [sys.executable, "-m", "pixelperfecter.cli", "reconstruct", "--out", str(tmp_path / "out"), *FORCE_8]
    ok = subprocess.run([*cmd, str(good), "--json"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("\n") == 1 and ok.stdout.startswith("{")
    mixed = subprocess.run([*cmd, str(good), str(tmp_path / "bad.png"), "--json", "--workers", "2"],
                           capture_output=True, text=True, timeout=120)
    assert mixed.returncode == 1
    assert [line[:1] for line in mixed.stdout.splitlines()] == ["{", "{"]
    assert f"error: {tmp_path / 'bad.png'}: empty file" in mixed.stderr
    usage = subprocess.run([*cmd, str(good), "--size", "abc"], capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2
    assert usage.stdout == ""
