"""Which textual-image widget draws the panes, and two workarounds for its Sixel widget.

Import this module only inside the ``tui`` command (it imports textual-image, whose terminal
detection must run before ``App.run()`` takes over stdin).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage
from rich.color import Color
from rich.color_triplet import ColorTriplet
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from textual.widget import Widget
from textual_image._terminal import get_cell_size
from textual_image._geometry import ImageSize
from textual_image.renderable import Image as DetectedRenderable
from textual_image.renderable.halfcell import Image as HalfcellRenderable
from textual_image.renderable.sixel import Image as SixelRenderable
from textual_image.renderable.tgp import Image as TGPRenderable
from textual_image.widget import HalfcellImage, SixelImage, TGPImage, UnicodeImage
from textual_image.widget._base import Image as BaseImage
from textual_image.widget.sixel import _ImageSixelImpl, _NoopRenderable

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

    image = property(BaseImage.image.fget, _set_image)  # type: ignore[assignment]

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


@dataclass(frozen=True)
class Graphics:
    """The image widget class and how many image pixels one terminal cell shows."""

    name: str
    widget: type[Widget]
    px_x: int
    px_y: int


def choose_graphics(choice: str = "auto") -> Graphics:
    """``auto`` uses textual-image's terminal detection (Sixel, then Kitty, then half blocks)."""
    if choice not in GRAPHICS_CHOICES:
        raise ValueError(f"--graphics must be one of {', '.join(GRAPHICS_CHOICES)}, got {choice!r}")
    cell = get_cell_size()
    if choice == "auto":
        if DetectedRenderable is SixelRenderable:
            choice = "sixel"
        elif DetectedRenderable is TGPRenderable:
            choice = "kitty"
        else:
            # Not a graphics terminal (or not a tty): half blocks keep the colours exact.
            choice = "halfblock"
    if choice == "sixel":
        return Graphics("sixel", FixedSixelImage, cell.width, cell.height)
    if choice == "kitty":
        return Graphics("kitty", TGPImage, cell.width, cell.height)
    return Graphics("halfblock", FastHalfcellImage, 1, 2)


__all__ = ["GRAPHICS_CHOICES", "FastHalfcellImage", "FixedSixelImage", "HalfcellImage", "Graphics", "UnicodeImage", "choose_graphics", "hoist_color_registers"]
