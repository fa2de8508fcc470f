"""core.palette_files: every format read by content, clear one-line errors, .gpl/.hex written back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelperfecter.core.io import count_index_entries, indexed_image, save_png_indexed
from pixelperfecter.core.palette_files import MAX_PALETTE_COLORS, PaletteFileError, read_palette, write_palette

COLOURS = [(255, 0, 64), (12, 34, 56), (0, 0, 0), (250, 250, 250)]

GPL = "GIMP Palette\nName: test\nColumns: 4\n#\n" + "".join(f"{r} {g} {b}\tname {i}\n" for i, (r, g, b) in enumerate(COLOURS))
ASEPRITE = "GIMP Palette\nChannels: RGBA\n#\n  0   0   0   0\tTransparent\n" + "".join(f"{r} {g} {b} 255\n" for r, g, b in COLOURS)
HEX = "".join(f"{r:02x}{g:02X}{b:02x}\n" for r, g, b in COLOURS)
JASC = f"JASC-PAL\r\n0100\r\n{len(COLOURS)}\r\n" + "".join(f"{r} {g} {b}\r\n" for r, g, b in COLOURS)
PAINT_NET = ";paint.net Palette File\n;Colors: 4\n" + "".join(f"FF{r:02X}{g:02X}{b:02X}\n" for r, g, b in COLOURS)


@pytest.mark.parametrize(("text", "fmt"), [(GPL, "gpl"), (ASEPRITE, "gpl"), (HEX, "hex"), (JASC, "jasc-pal"), (PAINT_NET, "paint.net")])
def test_each_text_format_is_read_by_content_whatever_the_name(tmp_path: Path, text: str, fmt: str) -> None:
    for name in ("pal.gpl", "pal.hex", "pal.txt", "pal"):  # the extension never decides
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        pal = read_palette(path)
        assert pal.format == fmt and pal.as_tuple() == tuple(COLOURS)


def test_png_swatch_is_its_distinct_colours_in_reading_order(tmp_path: Path) -> None:
    # 2 rows of 3 swatches, each 4x4 px, one repeated and one transparent.
    cells = np.array([[[*COLOURS[1], 255], [*COLOURS[0], 255], [0, 0, 0, 0]], [[*COLOURS[0], 255], [*COLOURS[3], 255], [*COLOURS[2], 255]]], np.uint8)
    img = np.repeat(np.repeat(cells, 4, axis=0), 4, axis=1)
    Image.fromarray(img, "RGBA").save(tmp_path / "swatch.dat", format="PNG")
    pal = read_palette(tmp_path / "swatch.dat")
    assert pal.format == "png" and pal.as_tuple() == (COLOURS[1], COLOURS[0], COLOURS[3], COLOURS[2])


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "empty file"),
    (b"hello world\n", "not a palette file"),
    (b"GIMP Palette\n1 2\n", "line 2: expected 3 numbers"),
    (b"GIMP Palette\n1 2 300\n", "0-255"),
    (b"GIMP Palette\n#only a comment\n", "no colours"),
    (b"JASC-PAL\n0100\n3\n1 2 3\n", "says 3 colours but holds 1"),
    (b"\x89PNG\r\n\x1a\nbroken", "corrupt swatch image"),
    (b"ff0000\nnot-hex\n", "not a palette file"),
])
def test_unreadable_palettes_fail_with_one_clear_line(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.gpl"
    path.write_bytes(content)
    with pytest.raises(PaletteFileError) as err:
        read_palette(path)
    assert reason in str(err.value) and "\n" not in str(err.value)


def test_missing_folder_and_oversized_palettes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PaletteFileError, match="file not found"):
        read_palette(tmp_path / "nope.gpl")
    with pytest.raises(PaletteFileError, match="directory"):
        read_palette(tmp_path)
    many = "".join(f"{i:06x}\n" for i in range(MAX_PALETTE_COLORS + 1))
    (tmp_path / "many.hex").write_text(many)
    with pytest.raises(PaletteFileError, match="more than a palette holds"):
        read_palette(tmp_path / "many.hex")


@pytest.mark.parametrize("name", ["out.gpl", "out.hex", "out.anything"])
def test_written_palettes_read_back_identical(tmp_path: Path, name: str) -> None:
    colours = np.random.default_rng(0).integers(0, 256, (37, 3)).astype(np.uint8)
    colours = np.unique(colours, axis=0)
    path = write_palette(tmp_path / name, colours)
    pal = read_palette(path)
    assert pal.format == ("hex" if name.endswith(".hex") else "gpl")
    assert np.array_equal(pal.colors, colours)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # atomic: no temp left


def test_indexed_png_round_trips_with_transparency(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    sprite = np.zeros((10, 12, 4), np.uint8)
    sprite[..., :3] = np.array(COLOURS, np.uint8)[rng.integers(0, 4, (10, 12))]
    sprite[..., 3] = 255
    sprite[:3, :3] = (77, 88, 99, 0)  # hidden RGB under transparency: one entry for all clear cells
    path = save_png_indexed(tmp_path / "s.png", sprite, keep_alpha=True)
    assert path is not None
    with Image.open(path) as img:
        assert img.mode == "P" and "transparency" in img.info
        back = np.asarray(img.convert("RGBA"))
    expect = sprite.copy()
    expect[expect[..., 3] == 0] = 0
    assert np.array_equal(back, expect)
    assert count_index_entries(sprite) == 5


def test_indexed_refuses_more_than_256_colours(tmp_path: Path) -> None:
    sprite = np.zeros((17, 17, 4), np.uint8)
    sprite[..., 0] = np.arange(17 * 17).reshape(17, 17) % 256
    sprite[..., 1] = np.arange(17 * 17).reshape(17, 17) // 256
    sprite[..., 3] = 255
    assert indexed_image(sprite) is None
    assert save_png_indexed(tmp_path / "s.png", sprite) is None and not (tmp_path / "s.png").exists()


def test_indexed_png_with_a_palette_keeps_its_order_and_unused_entries(tmp_path: Path) -> None:
    palette = [(9, 9, 9), *COLOURS, (1, 2, 3)]  # (9, 9, 9) and (1, 2, 3) unused
    rng = np.random.default_rng(5)
    sprite = np.zeros((6, 7, 4), np.uint8)
    sprite[..., :3] = np.array(COLOURS, np.uint8)[rng.integers(0, 4, (6, 7))]
    sprite[..., 3] = 255
    sprite[0, :2] = (5, 5, 5, 0)  # transparency: an entry after the palette's
    path = save_png_indexed(tmp_path / "s.png", sprite, keep_alpha=True, palette=palette)
    assert path is not None
    with Image.open(path) as img:
        entries = np.array(img.getpalette()[: 3 * len(palette)]).reshape(-1, 3)
        assert [tuple(int(v) for v in e) for e in entries] == palette
        index = np.asarray(img)
        clear = img.info["transparency"]  # Pillow reads one clear entry back as its index
        assert index[0, 0] == len(palette) and (clear == len(palette) if isinstance(clear, int) else clear[len(palette)] == 0)
        back = np.asarray(img.convert("RGBA"))
    expect = sprite.copy()
    expect[expect[..., 3] == 0] = 0
    assert np.array_equal(back, expect)
    assert count_index_entries(sprite, True, palette) == len(palette) + 1
    # A palette that leaves no room: the image's own colours, in order of first appearance.
    big = [(i % 256, i // 256, 7) for i in range(256)]
    img = indexed_image(sprite, True, big)
    assert img is not None and np.array_equal(np.asarray(img.convert("RGBA")), expect)
    assert tuple(img.getpalette()[:3]) == (0, 0, 0)  # the transparent cell comes first
