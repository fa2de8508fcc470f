"""Which textual-image widget draws the panes, and two workarounds for its Sixel widget.

Import this module only inside the ``tui`` command (it imports textual-image, whose terminal
detection must run before ``App.run()`` takes over stdin).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage
from rich.color import Color
from rich.color_triplet import ColorTriplet
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from .terminal import import_quietly, probe

import_quietly()  # textual-image without its own terminal queries (the Kitty one leaks into tmux)

from textual_image._geometry import ImageSize  # noqa: E402
from textual_image._sixel import SixelOptions, image_to_sixels  # noqa: E402
from textual_image._terminal import get_cell_size  # noqa: E402
from textual_image.renderable.halfcell import Image as HalfcellRenderable  # noqa: E402
from textual_image.widget import HalfcellImage, SixelImage, TGPImage, UnicodeImage  # noqa: E402
from textual_image.widget._base import Image as BaseImage  # noqa: E402
from textual_image.widget.sixel import _ImageSixelImpl, _NoopRenderable  # noqa: E402

GRAPHICS_CHOICES = ("auto", "sixel", "kitty", "halfblock")

_COLOR_DEFINITION = re.compile(r"#(\d+);2;(\d+);(\d+);(\d+)")
_SIXEL_HEAD = re.compile(r'\x1bP[0-9;]*q("\d+;\d+;\d+;\d+)?')


def hoist_color_registers(sixel: str) -> str:
    """Move every ``#n;2;r;g;b`` colour definition into the header, before any pixel data.

    textual-image defines each colour register at its first use, mid-stream; xterm (379)
    then paints the first bands and the first use of each colour wrongly.  With all
    definitions up front, xterm draws the same bytes correctly.  Streams that redefine a
    register with another colour are returned unchanged.
    """
    head = _SIXEL_HEAD.match(sixel)
    if head is None:
        return sixel
    definitions: dict[str, str] = {}
    conflict = False

    def select_only(match: re.Match[str]) -> str:
        nonlocal conflict
        register, text = match.group(1), match.group(0)
        if definitions.setdefault(register, text) != text:
            conflict = True
        return f"#{register}"

    body = _COLOR_DEFINITION.sub(select_only, sixel[head.end():])
    if conflict:
        return sixel
    return head.group(0) + "".join(definitions.values()) + body


class _FixedSixelImpl(_ImageSixelImpl):
    def _image_to_sixels(self, image: PILImage.Image, sixel_options=None, background=None) -> str:  # type: ignore[override]
        return hoist_color_registers(super()._image_to_sixels(image, sixel_options, background))


def _set_image(self: "FixedSixelImage", value) -> None:  # type: ignore[no-untyped-def]
    BaseImage.image.fset(self, value)  # type: ignore[attr-defined]
    # The stock widget recomposes from __init__, before the App CSS applies, which leaves
    # sibling Labels with a cached transparent colour (invisible text).  Recompose only once mounted.
    if self.is_mounted:
        self.refresh(recompose=True)


class FixedSixelImage(SixelImage, Renderable=_NoopRenderable):
    """``SixelImage`` with the colour-register fix for xterm and the invisible-label fix."""

    image = property(BaseImage.image.fget, _set_image)  # type: ignore[assignment,attr-defined]

    def compose(self):  # type: ignore[no-untyped-def]
        yield _FixedSixelImpl(self.image, self._sixel_options)


_STYLE_CACHE: dict[tuple[int, int], Style] = {}
_STYLE_CACHE_LIMIT = 1 << 16


def _rgb_key(pixels: np.ndarray) -> np.ndarray:
    return (pixels[..., 0].astype(np.int64) << 16) | (pixels[..., 1].astype(np.int64) << 8) | pixels[..., 2]


def _colour(key: int) -> Color:
    return Color.from_triplet(ColorTriplet(key >> 16, (key >> 8) & 255, key & 255))


class FastHalfcellRenderable(HalfcellRenderable):
    """textual-image's half-block renderable, drawing the same segments several times faster.

    The stock one builds two ``Color`` objects and a ``Style`` for every cell; pixel art has few
    colours, so styles are cached per (upper, lower) colour pair.  Same output, cell for cell.
    """

    def __init__(self, image, width=None, height=None) -> None:  # type: ignore[no-untyped-def]
        self._pil = image if isinstance(image, PILImage.Image) else PILImage.open(image)
        self._render_size = ImageSize(self._pil.width, self._pil.height, width, height)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width, height = self._render_size.get_cell_size(options.max_width, options.max_height, get_cell_size())
        if width <= 0 or height <= 0:
            return
        picture = self._pil.convert("RGB")
        if picture.size != (width, height * 2):
            picture = picture.resize((width, height * 2))
        keys = _rgb_key(np.asarray(picture))
        if len(_STYLE_CACHE) > _STYLE_CACHE_LIMIT:
            _STYLE_CACHE.clear()
        newline = Segment("\n")
        for row in range(height):
            upper, lower = keys[2 * row].tolist(), keys[2 * row + 1].tolist()
            for pair in zip(upper, lower):
                style = _STYLE_CACHE.get(pair)
                if style is None:
                    style = _STYLE_CACHE[pair] = Style(color=_colour(pair[0]), bgcolor=_colour(pair[1]))
                yield Segment("▀", style)
            yield newline


class FastHalfcellImage(BaseImage, Renderable=FastHalfcellRenderable):
    """``HalfcellImage`` with the cached-style renderable."""


# --------------------------------------------------------------------------- encoding off the main thread

SIXEL_MAX_COLORS = 256
ORIGINAL_COLORS = 128  # a photo-like original: 128 colours look the same as 256 in a pane, encode faster


@dataclass(frozen=True)
class Encoded:
    """One pane's picture, ready for the terminal: encoded once (in a worker), drawn many times.

    ``key`` says what it shows (attempt, viewport, pane size, view options); a pane given an
    ``Encoded`` with the key it already shows does nothing, so unchanged panes are never re-sent.
    """

    key: object
    cells: tuple[int, int]  # width, height in terminal cells
    rgb: np.ndarray  # the picture, padded to whole cells (what the sixel/half blocks show)
    sixel: str | None = None  # the DCS string (Sixel)
    lines: tuple[Strip, ...] | None = None  # one Strip per cell row (half blocks)
    colors: int = 0
    seconds: float = 0.0

    @property
    def nbytes(self) -> int:
        """Bytes this picture costs on the wire (escape data included)."""
        if self.sixel is not None:
            return len(self.sixel)
        if self.lines is not None:
            return sum(len(seg.text) + 20 for strip in self.lines for seg in strip)  # ~20 bytes of SGR per cell
        return int(self.rgb.nbytes)


def to_paletted(rgb: np.ndarray, max_colors: int = SIXEL_MAX_COLORS) -> tuple[PILImage.Image, int]:
    """A ``P`` image with the picture's exact colours when it has at most ``max_colors``
    (pixel art, diffs: no quantization, no dithering), else a fast-octree quantization."""
    image = PILImage.fromarray(np.ascontiguousarray(rgb[..., :3]), "RGB")
    found = image.getcolors(max_colors)  # C code; None as soon as there are more colours
    if found is None:
        return image.quantize(colors=max_colors, method=PILImage.Quantize.FASTOCTREE), max_colors
    palette = np.array(sorted(colour for _, colour in found), np.int64)
    palette_keys = (palette[:, 0] << 16) | (palette[:, 1] << 8) | palette[:, 2]
    index = np.searchsorted(palette_keys, _rgb_key(rgb)).astype(np.uint8)
    picture = PILImage.fromarray(index, "P")
    picture.putpalette(palette.astype(np.uint8).ravel().tolist())
    return picture, int(len(palette))


def encode_sixel(rgb: np.ndarray, max_colors: int = SIXEL_MAX_COLORS) -> tuple[str, int]:
    """Sixel for an RGB picture (already at display resolution, whole cells), registers hoisted."""
    picture, colors = to_paletted(rgb, max_colors)
    data = image_to_sixels(picture, SixelOptions(colors=max(1, min(colors, SIXEL_MAX_COLORS))), (0, 0, 0, 1.0))
    return hoist_color_registers(data), colors


def halfblock_lines(rgb: np.ndarray) -> tuple[Strip, ...]:
    """One Strip of ``▀`` per cell row (upper pixel = fg, lower = bg), styles cached per colour pair."""
    keys = _rgb_key(rgb)
    if keys.shape[0] % 2:
        keys = np.concatenate([keys, keys[-1:]], axis=0)
    if len(_STYLE_CACHE) > _STYLE_CACHE_LIMIT:
        _STYLE_CACHE.clear()
    lines = []
    for row in range(keys.shape[0] // 2):
        segments = []
        upper, lower = keys[2 * row].tolist(), keys[2 * row + 1].tolist()
        run_style, run = None, 0
        for pair in zip(upper, lower):
            style = _STYLE_CACHE.get(pair)
            if style is None:
                style = _STYLE_CACHE[pair] = Style(color=_colour(pair[0]), bgcolor=_colour(pair[1]))
            if style is run_style:
                run += 1
                continue
            if run:
                segments.append(Segment("▀" * run, run_style))
            run_style, run = style, 1
        if run:
            segments.append(Segment("▀" * run, run_style))
        lines.append(Strip(segments, keys.shape[1]))
    return tuple(lines)


def encode_picture(kind: str, rgb: np.ndarray, px_x: int, px_y: int, key: object,
                   background: tuple[int, int, int] = (24, 24, 28), max_colors: int = SIXEL_MAX_COLORS) -> Encoded:
    """Pad ``rgb`` to whole cells and encode it for ``kind`` (``sixel``, ``halfblock`` or ``kitty``).

    Pure computation: safe (and meant) to run in a worker thread.
    """
    start = time.perf_counter()
    padded = pad_to_cells(rgb, px_x, px_y, background)
    cells = (padded.shape[1] // px_x, padded.shape[0] // px_y)
    if kind in ("sixel", "sixel-tmux"):
        data, colors = encode_sixel(padded, max_colors)
        return Encoded(key, cells, padded, sixel=data, colors=colors, seconds=time.perf_counter() - start)
    if kind == "halfblock":
        return Encoded(key, cells, padded, lines=halfblock_lines(padded), seconds=time.perf_counter() - start)
    return Encoded(key, cells, padded, seconds=time.perf_counter() - start)


def pad_to_cells(rgb: np.ndarray, px_x: int, px_y: int, fill: tuple[int, int, int] = (24, 24, 28)) -> np.ndarray:
    """Pad to whole cells so nothing is ever resampled (textual-image's resize is bicubic: blurry)."""
    h, w = rgb.shape[:2]
    out_w, out_h = math.ceil(w / px_x) * px_x, math.ceil(h / px_y) * px_y
    if (out_w, out_h) == (w, h):
        return np.ascontiguousarray(rgb[..., :3])
    out = np.empty((out_h, out_w, 3), np.uint8)
    out[...] = fill
    out[:h, :w] = rgb[..., :3]
    return out


@dataclass(frozen=True)
class Graphics:
    """The protocol the panes use and how many display pixels one terminal cell holds."""

    name: str
    widget: type[Widget]
    px_x: int
    px_y: int
    note: str = ""  # which protocol was chosen and why, for the user


def choose_graphics(choice: str = "auto") -> Graphics:
    """``auto`` asks the terminal (``terminal.probe``: Sixel, then Kitty outside tmux, else half blocks)."""
    if choice not in GRAPHICS_CHOICES:
        raise ValueError(f"--graphics must be one of {', '.join(GRAPHICS_CHOICES)}, got {choice!r}")
    detection = probe(choice)
    cell = get_cell_size()
    if detection.kind == "sixel":
        return Graphics("sixel", FixedSixelImage, cell.width, cell.height, detection.reason)
    if detection.kind == "sixel-tmux":
        return Graphics("sixel-tmux", FixedSixelImage, cell.width, cell.height, detection.reason)
    if detection.kind == "kitty":
        return Graphics("kitty", TGPImage, cell.width, cell.height, detection.reason)
    return Graphics("halfblock", FastHalfcellImage, 1, 2, detection.reason)


__all__ = ["GRAPHICS_CHOICES", "Encoded", "FastHalfcellImage", "FixedSixelImage", "HalfcellImage", "Graphics", "UnicodeImage",
           "choose_graphics", "encode_picture", "encode_sixel", "halfblock_lines", "hoist_color_registers", "to_paletted"]
