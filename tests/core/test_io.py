"""core.io: loading anything as RGBA uint8 (or one clear reason), atomic writes, input expansion."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelperfecter.core.io import (
    MIN_SIDE,
    ImageLoadError,
    iter_images,
    load_image,
    save_png,
    write_text_atomic,
)


def _blocks(h: int = 4, w: int = 6, cell: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return np.repeat(np.repeat(small, cell, 0), cell, 1)


def _load_error(path: Path, **kwargs) -> str:
    with pytest.raises(ImageLoadError) as info:
        load_image(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- good inputs


def test_rgb_png_loads_as_opaque_rgba(tmp_path):
    rgb = _blocks()
    Image.fromarray(rgb).save(tmp_path / "a.png")
    loaded = load_image(tmp_path / "a.png")
    assert loaded.rgba.dtype == np.uint8 and loaded.rgba.shape == (16, 24, 4)
    assert np.array_equal(loaded.rgba[..., :3], rgb)
    assert (loaded.rgba[..., 3] == 255).all() and not loaded.has_alpha
    assert loaded.warnings == []


def test_16_bit_grey_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 128, 65535, 257 * 10]], np.uint16).repeat(4, 0).repeat(4, 1)
    Image.fromarray(values).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as img:
        assert img.mode.startswith("I")
    rgba = load_image(tmp_path / "deep.png").rgba
    assert list(rgba[0, ::4, 0]) == [0, 128, 255, 10]
    assert (rgba[..., 0] == rgba[..., 2]).all()


def test_palette_with_transparency_and_la_keep_alpha(tmp_path):
    index = np.zeros((8, 8), np.uint8)
    index[2:6, 2:6] = 1
    pal = Image.fromarray(index, "P")
    pal.putpalette([0, 0, 0, 250, 10, 10])
    pal.save(tmp_path / "p.png", transparency=0)
    loaded = load_image(tmp_path / "p.png")
    assert loaded.has_alpha
    assert loaded.rgba[0, 0, 3] == 0 and tuple(loaded.rgba[3, 3]) == (250, 10, 10, 255)

    la = np.dstack([np.full((8, 8), 77, np.uint8), np.where(index == 1, 255, 0).astype(np.uint8)])
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    loaded = load_image(tmp_path / "la.png")
    assert loaded.has_alpha and tuple(loaded.rgba[3, 3]) == (77, 77, 77, 255) and loaded.rgba[0, 0, 3] == 0


def test_fully_opaque_rgba_is_not_reported_as_alpha(tmp_path):
    Image.fromarray(np.dstack([_blocks(), np.full((16, 24), 255, np.uint8)]), "RGBA").save(tmp_path / "o.png")
    assert not load_image(tmp_path / "o.png").has_alpha


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:, :8] = (220, 30, 30)
    rgb[:, 8:] = (20, 20, 200)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    rgba = load_image(tmp_path / "c.jpg").rgba
    assert np.abs(rgba[8, 2, :3].astype(int) - (220, 30, 30)).max() < 30
    assert np.abs(rgba[8, 13, :3].astype(int) - (20, 20, 200)).max() < 30


def test_exif_orientation_is_applied(tmp_path):
    upright = np.zeros((8, 12, 3), np.uint8)
    upright[0:4, 0:4] = 255  # white block top-left once displayed
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1))).save(tmp_path / "r.png", exif=exif)
    rgba = load_image(tmp_path / "r.png").rgba
    assert rgba.shape[:2] == (8, 12)
    assert np.array_equal(rgba[..., :3], upright)


def test_animated_gif_first_frame_with_warning(tmp_path):
    a = Image.new("RGB", (8, 8), (255, 0, 0))
    b = Image.new("RGB", (8, 8), (0, 0, 255))
    a.save(tmp_path / "anim.gif", save_all=True, append_images=[b], duration=50)
    loaded = load_image(tmp_path / "anim.gif")
    assert tuple(loaded.rgba[0, 0, :3]) == (255, 0, 0)
    assert len(loaded.warnings) == 1 and "first frame" in loaded.warnings[0] and "2 frames" in loaded.warnings[0]


# --------------------------------------------------------------------------- bad inputs


def test_bad_inputs_raise_one_line_reasons(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    assert "empty file" in _load_error(tmp_path / "empty.png")

    (tmp_path / "text.png").write_text("hello")
    assert "not an image" in _load_error(tmp_path / "text.png")

    buf = io.BytesIO()
    Image.fromarray(_blocks(8, 8, 8)).save(buf, format="PNG")
    (tmp_path / "half.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    assert "corrupt or truncated" in _load_error(tmp_path / "half.png")

    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    assert "too small" in _load_error(tmp_path / "dot.png")
    Image.new("RGB", (MIN_SIDE, MIN_SIDE - 1)).save(tmp_path / "thin.png")
    assert "too small" in _load_error(tmp_path / "thin.png")

    assert _load_error(tmp_path / "nope.png") == "file not found"
    assert "directory" in _load_error(tmp_path)


def test_pixel_limit_guards_against_decompression_bombs(tmp_path):
    Image.new("RGB", (100, 100)).save(tmp_path / "big.png")
    assert "too large" in _load_error(tmp_path / "big.png", max_pixels=9_999)
    assert load_image(tmp_path / "big.png", max_pixels=10_000).width == 100
    # Far over the limit, Pillow itself refuses while reading the header.
    assert "too large" in _load_error(tmp_path / "big.png", max_pixels=100)
    assert Image.MAX_IMAGE_PIXELS != 100  # the global guard is restored


def test_permission_denied(tmp_path):
    path = tmp_path / "locked.png"
    Image.new("RGB", (8, 8)).save(path)
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as root: chmod 000 does not stop reads")
        assert _load_error(path) == "permission denied"
    finally:
        path.chmod(0o644)


# --------------------------------------------------------------------------- writing


def test_save_png_is_atomic_and_leaves_no_temp_files(tmp_path):
    rgba = np.dstack([_blocks(), np.full((16, 24), 255, np.uint8)])
    target = save_png(tmp_path / "sub" / "x.png", rgba, keep_alpha=False)
    with Image.open(target) as img:
        assert img.mode == "RGB" and img.size == (24, 16)
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["x.png"]


def test_save_png_failure_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "x.png"
    target.write_bytes(b"old")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(OSError):
        save_png(target, np.zeros((4, 4, 4), np.uint8))
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


def test_written_files_follow_the_umask_not_mkstemp_0600(tmp_path):
    save_png(tmp_path / "a.png", np.zeros((4, 4, 4), np.uint8))
    write_text_atomic(tmp_path / "a.txt", "hi")
    for name in ("a.png", "a.txt"):
        mode = (tmp_path / name).stat().st_mode & 0o777
        probe = tmp_path / f"probe-{name}"
        probe.write_text("")  # what a plain open() gives under the current umask
        assert mode == probe.stat().st_mode & 0o777


def test_write_text_atomic_replaces_content(tmp_path):
    write_text_atomic(tmp_path / "t.jsonl", "a\n")
    write_text_atomic(tmp_path / "t.jsonl", "b\n")
    assert (tmp_path / "t.jsonl").read_text() == "b\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.jsonl"]


# --------------------------------------------------------------------------- input expansion


def test_iter_images_files_folders_globs(tmp_path):
    for rel in ("a.png", "b.JPG", "notes.txt", ".hidden.png", "sub/c.png"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    names = lambda paths: [p.relative_to(tmp_path).as_posix() for p in paths]  # noqa: E731
    assert names(iter_images([tmp_path])) == ["a.png", "b.JPG"]
    assert names(iter_images([tmp_path], recursive=True)) == ["a.png", "b.JPG", "sub/c.png"]
    assert names(iter_images([Path(f"{tmp_path}/*.png")])) == ["a.png"]
    # An explicitly named file is kept whatever its suffix (it gets its own error later).
    assert names(iter_images([tmp_path / "notes.txt", tmp_path / "a.png", tmp_path / "a.png"])) == ["notes.txt", "a.png"]
    assert iter_images([tmp_path / "missing.png"]) == [tmp_path / "missing.png"]



def test_atomic_write_leaves_nothing_when_the_writer_fails(tmp_path):
    from pixelperfecter.core.io import atomic_write

    target = tmp_path / "out" / "result.bin"

    def broken(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert not target.exists() and list((tmp_path / "out").iterdir()) == []
    atomic_write(target, lambda tmp: tmp.write_bytes(b"whole"))
    assert target.read_bytes() == b"whole" and len(list((tmp_path / "out").iterdir())) == 1
