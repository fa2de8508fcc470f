"""The widget that puts one pre-encoded pane picture on screen (Sixel, half blocks or Kitty).

textual-image encodes Sixel inside ``render_lines``, on the main thread, every time an image
changes.  Here the worker encodes (``graphics.encode_picture``) and this widget only copies the
finished bytes into the frame; given the picture it already shows (same ``key``) it does nothing,
so an update re-sends only the panes that changed.
"""

from __future__ import annotations

from rich.control import Control
from rich.segment import ControlType, Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.dom import NoScreen
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from ..graphics import Encoded, encode_sixel

_NULL_STYLE = Style()


class PictureView(Widget, can_focus=False):
    """Shows an ``Encoded`` picture, sized to its cells."""

    DEFAULT_CSS = """
    PictureView { width: 0; height: 0; }
    """

    class Shown(Message):
        """A picture was written into the frame (for latency/bytes measurements)."""

        def __init__(self, view: "PictureView", key: object, nbytes: int) -> None:
            super().__init__()
            self.view = view
            self.key = key
            self.nbytes = nbytes

    def __init__(self, kind: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.kind = kind
        self.encoded: Encoded | None = None
        self.sends = 0  # how many times the picture's bytes went into a frame
        self.bytes_sent = 0
        self._cropped: tuple[Region, str] | None = None
        self._announce = False

    def compose(self) -> ComposeResult:
        if self.kind == "kitty":
            from textual_image.widget import TGPImage

            image = TGPImage(id=f"{self.id}-tgp")
            image.styles.width = "100%"
            image.styles.height = "100%"
            yield image

    def show(self, encoded: Encoded | None) -> bool:
        """Show ``encoded``; False (and nothing re-drawn) when it is the picture already shown."""
        if encoded is None:
            if self.encoded is None:
                return False
            self.encoded = None
            self.styles.width = 0
            self.styles.height = 0
            self._set_kitty(None)
            self.refresh(layout=True)
            return True
        if self.encoded is not None and self.encoded.key == encoded.key:
            return False
        resized = self.encoded is None or self.encoded.cells != encoded.cells
        self.encoded = encoded
        self._cropped = None
        self._announce = True
        self.styles.width, self.styles.height = encoded.cells
        self._set_kitty(encoded)
        self.refresh(layout=resized)
        return True

    def _set_kitty(self, encoded: Encoded | None) -> None:
        if self.kind != "kitty" or not self.is_mounted:
            return
        from PIL import Image as PILImage

        self.query_one(f"#{self.id}-tgp").image = None if encoded is None else PILImage.fromarray(encoded.rgb, "RGB")  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ drawing

    def render_lines(self, crop: Region) -> list[Strip]:
        if self.kind == "kitty":
            return super().render_lines(crop)
        encoded = self.encoded
        if encoded is None or crop.width <= 0 or crop.height <= 0:
            return [Strip.blank(crop.width)] * crop.height
        if self.kind == "halfblock" and encoded.lines is not None:
            lines = [line.crop(crop.x, crop.right) for line in encoded.lines[crop.y:crop.bottom]]
            lines += [Strip.blank(crop.width)] * (crop.height - len(lines))
            self._sent(encoded, sum(len(seg.text) for line in lines for seg in line))
            return lines
        return self._sixel_lines(encoded, crop)

    def _sixel_lines(self, encoded: Encoded, crop: Region) -> list[Strip]:
        try:
            # Nothing under a modal: Sixel cannot be dimmed, and it would paint over the dialog.
            if not self.screen.is_active:
                return [Strip.blank(crop.width)] * crop.height
            region = self.screen.find_widget(self).region
        except (NoScreen, Exception):  # not on screen (yet)
            return [Strip.blank(crop.width)] * crop.height
        if crop == Region(0, 0, *encoded.cells):
            data = encoded.sixel or ""
        else:
            # Part of the pane is covered (a toast, a resize in progress): encode just that part.
            if self._cropped is None or self._cropped[0] != crop:
                px_x = encoded.rgb.shape[1] // max(1, encoded.cells[0])
                px_y = encoded.rgb.shape[0] // max(1, encoded.cells[1])
                part = encoded.rgb[crop.y * px_y:crop.bottom * px_y, crop.x * px_x:crop.right * px_x]
                self._cropped = (crop, encode_sixel(part)[0] if part.size else "")
            data = self._cropped[1]
        segments = [
            Segment(Control.move_to(region.x + crop.x, region.y + crop.y).segment.text, style=_NULL_STYLE),
            Segment(data, style=_NULL_STYLE, control=((ControlType.CURSOR_FORWARD, 0),)),
            Segment(Control.move_to(region.x + crop.right, region.y + crop.bottom - 1).segment.text, style=_NULL_STYLE),
        ]
        self._sent(encoded, len(data))
        return [Strip.blank(crop.width)] * (crop.height - 1) + [Strip(segments, cell_length=crop.width)]

    def _sent(self, encoded: Encoded, nbytes: int) -> None:
        self.sends += 1
        self.bytes_sent += nbytes
        if self._announce:
            self._announce = False
            self.post_message(self.Shown(self, encoded.key, nbytes))
