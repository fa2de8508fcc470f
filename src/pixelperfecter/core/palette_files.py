"""Palette files: read GIMP .gpl (and Aseprite's RGBA variant), .hex, JASC .pal, Paint.NET .txt
and PNG swatches; write .gpl and .hex.

The format is told by the content, not the file name (palettes travel under any name): PNG
bytes are a swatch, a first line ``GIMP Palette`` a .gpl, ``JASC-PAL`` a JASC palette, lines of
``AARRGGBB`` (``;`` comments) Paint.NET's, lines of ``RRGGBB`` a .hex.  Colours come back in
file order without repeats; fully transparent entries (Aseprite's and Paint.NET's index 0) are
dropped and partial alpha is ignored, since a palette maps the RGB of opaque cells.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .io import write_text_atomic

# More colours than this is not a palette but an image (a photo given by mistake).
MAX_PALETTE_COLORS = 4096
# Palette files are small; anything larger is not one (and is not read whole into memory).
MAX_TEXT_BYTES = 4 * 1024 * 1024
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM")

_HEX6 = re.compile(r"^#?([0-9a-fA-F]{6})$")
_HEX8 = re.compile(r"^([0-9a-fA-F]{8})$")


class PaletteFileError(Exception):
    """A palette file that cannot be used; the message is one line naming the reason."""


@dataclass(frozen=True)
class PaletteFile:
    colors: np.ndarray  # (n, 3) uint8, file order, no repeats
    format: str  # "gpl", "hex", "jasc-pal", "paint.net", "png"
    name: str = ""

    def as_tuple(self) -> tuple[tuple[int, int, int], ...]:
        return tuple((int(r), int(g), int(b)) for r, g, b in self.colors)


def read_palette(path: str | os.PathLike[str]) -> PaletteFile:
    """Read any supported palette file, or raise PaletteFileError with a one-line reason."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if p.is_dir():
            raise PaletteFileError("is a directory, not a palette file")
        with open(p, "rb") as fh:
            data = fh.read(MAX_TEXT_BYTES + 1)
    except FileNotFoundError:
        raise PaletteFileError("file not found") from None
    except PermissionError:
        raise PaletteFileError("permission denied") from None
    except OSError as exc:
        raise PaletteFileError(f"cannot read file ({exc.strerror or exc})") from None
    if size == 0:
        raise PaletteFileError("empty file (0 bytes)")
    if data.startswith(IMAGE_MAGIC):
        return _finish(_read_swatch(data), "png", p.stem)
    if len(data) > MAX_TEXT_BYTES:
        raise PaletteFileError(f"too large for a palette file (over {MAX_TEXT_BYTES // (1024 * 1024)} MiB)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any bytes
            raise PaletteFileError("not a palette (neither text nor an image)") from None
    return parse_palette_text(text, p.stem)


def parse_palette_text(text: str, name: str = "") -> PaletteFile:
    """A palette from the text of a .gpl, JASC .pal, Paint.NET .txt or .hex file."""
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    content = [line for line in lines if line]
    if not content:
        raise PaletteFileError("no colours (the file holds only blank lines)")
    first = content[0]
    if first.lower().startswith("gimp palette"):
        return _finish(_read_gpl(content[1:]), "gpl", name)
    if first.upper().startswith("JASC-PAL"):
        return _finish(_read_jasc(content[1:]), "jasc-pal", name)
    entries = [line for line in content if not line.startswith(";")]
    if entries and all(_HEX8.match(line) for line in entries):
        colours = [(int(line[2:4], 16), int(line[4:6], 16), int(line[6:8], 16), int(line[0:2], 16)) for line in entries]
        return _finish(colours, "paint.net", name)
    if entries and all(_HEX6.match(line) for line in entries):
        colours = [(int(m[0:2], 16), int(m[2:4], 16), int(m[4:6], 16), 255) for m in (_HEX6.match(line).group(1) for line in entries)]  # type: ignore[union-attr]
        return _finish(colours, "hex", name)
    raise PaletteFileError(
        f"not a palette file I can read (first line {first[:40]!r}; expected GIMP .gpl, JASC .pal, Paint.NET .txt, .hex or a PNG swatch)"
    )


def _read_gpl(lines: list[str]) -> list[tuple[int, int, int, int]]:
    channels = 3
    out: list[tuple[int, int, int, int]] = []
    for n, line in enumerate(lines, start=2):
        if line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if key.strip().lower() in ("name", "columns") and sep:
            continue
        if key.strip().lower() == "channels" and sep:
            if value.strip().upper() == "RGBA":
                channels = 4
            elif value.strip().upper() != "RGB":
                raise PaletteFileError(f"line {n}: unsupported channels {value.strip()!r} (RGB or RGBA)")
            continue
        out.append(_numbers(line.split(), channels, n))
    return out


def _read_jasc(lines: list[str]) -> list[tuple[int, int, int, int]]:
    if len(lines) < 2 or not lines[1].isdigit():
        raise PaletteFileError("JASC-PAL header incomplete (expected a version line and a colour count)")
    count = int(lines[1])
    body = [line for line in lines[2:] if not line.startswith("#")]
    if len(body) < count:
        raise PaletteFileError(f"JASC-PAL says {count} colours but holds {len(body)}")
    return [_numbers(line.split(), 3, n + 4) for n, line in enumerate(body[:count])]


def _numbers(fields: list[str], channels: int, line_no: int) -> tuple[int, int, int, int]:
    try:
        values = [int(v) for v in fields[:channels]]
    except ValueError:
        raise PaletteFileError(f"line {line_no}: expected {channels} numbers 0-255, got {' '.join(fields)[:40]!r}") from None
    if len(values) < channels or any(v < 0 or v > 255 for v in values):
        raise PaletteFileError(f"line {line_no}: expected {channels} numbers 0-255, got {' '.join(fields)[:40]!r}")
    alpha = values[3] if channels == 4 else 255
    return values[0], values[1], values[2], alpha


def _read_swatch(data: bytes) -> list[tuple[int, int, int, int]]:
    """The distinct colours of a small image, in reading order (rows top to bottom)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > 16_000_000:
                raise PaletteFileError(f"swatch image too large ({img.width}x{img.height})")
            rgba = np.asarray(img.convert("RGBA"), np.uint8).reshape(-1, 4)
    except PaletteFileError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise PaletteFileError(f"corrupt swatch image ({' '.join(str(exc).split())[:80]})") from None
    key = rgba.astype(np.uint32) @ np.array([1 << 24, 1 << 16, 1 << 8, 1], np.uint32)
    _, first = np.unique(key, return_index=True)
    picked = rgba[np.sort(first)]
    return [(int(r), int(g), int(b), int(a)) for r, g, b, a in picked]


def _finish(colours: list[tuple[int, int, int, int]], fmt: str, name: str) -> PaletteFile:
    rgb = [c[:3] for c in colours if c[3] > 0]
    unique = list(dict.fromkeys(rgb))
    if not unique:
        raise PaletteFileError("no colours (no opaque entry)")
    if len(unique) > MAX_PALETTE_COLORS:
        raise PaletteFileError(f"{len(unique)} colours, more than a palette holds (at most {MAX_PALETTE_COLORS})")
    return PaletteFile(np.array(unique, np.uint8).reshape(-1, 3), fmt, name)


def palette_text(colors: np.ndarray, fmt: str, name: str = "pixelperfecter") -> str:
    """The text of a .gpl (``fmt == "gpl"``) or .hex (``"hex"``) palette file."""
    rows = np.asarray(colors, np.uint8).reshape(-1, 3)
    if fmt == "hex":
        return "".join(f"{r:02x}{g:02x}{b:02x}\n" for r, g, b in rows)
    if fmt == "gpl":
        body = "".join(f"{r:3d} {g:3d} {b:3d}\t#{r:02x}{g:02x}{b:02x}\n" for r, g, b in rows)
        return f"GIMP Palette\nName: {name}\nColumns: {min(16, max(1, len(rows)))}\n#\n{body}"
    raise ValueError(f"unknown palette format {fmt!r} (gpl or hex)")


def format_for(path: str | os.PathLike[str]) -> str:
    """The format ``--save-palette`` writes to ``path``: .hex for a .hex name, else GIMP .gpl."""
    return "hex" if Path(path).suffix.lower() == ".hex" else "gpl"


def write_palette(path: str | os.PathLike[str], colors: np.ndarray, name: str = "pixelperfecter") -> Path:
    """Write ``colors`` atomically as .hex or .gpl (by the file name, see ``format_for``)."""
    return write_text_atomic(path, palette_text(colors, format_for(path), name))
