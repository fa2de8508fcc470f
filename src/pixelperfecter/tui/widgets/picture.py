"""The widget that puts one pre-encoded pane picture on screen (Sixel, half blocks or Kitty).

textual-image encodes Sixel inside ``render_lines``, on the main thread, every time an image
changes.  Here the worker encodes (``graphics.encode_picture``) and this widget only copies the
finished bytes into the frame; given the picture it already shows (same ``key``) it does nothing,
so an update re-sends only the panes that changed.
"""

from __future__ import annotations

import numpy as np
from rich.control import Control
from rich.segment import ControlType, Segment
from rich.style import Style
from textual import events
from textual.app import ComposeResult
from textual.dom import NoScreen
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from ..graphics import Encoded, encode_sixel
from ..terminal import tmux_pane_origin, wrap_passthrough

_NULL_STYLE = Style()


class PictureView(Widget, can_focus=False):
    """Shows an ``Encoded`` picture centred in the space it is given (the pane body).

    The widget's size never depends on the picture, so a new picture (zoom, another image)
    never changes the layout: only this widget is repainted, once.
    """

    DEFAULT_CSS = """
    PictureView { width: 100%; height: 100%; }
    """

    class Shown(Message):
        """A picture was written into the frame (for latency/bytes measurements)."""

        def __init__(self, view: "PictureView", key: object, nbytes: int) -> None:
            super().__init__()
            self.view = view
            self.key = key
            self.nbytes = nbytes

    class Resized(Message):
        """The space for the picture changed (layout switch, terminal resize, a pane enlarged)."""

        def __init__(self, view: "PictureView") -> None:
            super().__init__()
            self.view = view

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.Resized(self))

    def __init__(self, kind: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.kind = kind
        self.encoded: Encoded | None = None
        self.sends = 0  # how many times the picture's bytes went into a frame
        self.bytes_sent = 0
        self._cropped: tuple[Region, str] | None = None
        self._announce = False
        self.tmux_origin = tmux_pane_origin() if kind == "sixel-tmux" else (0, 0)

    def compose(self) -> ComposeResult:
        if self.kind == "kitty":
            from textual_image.widget import TGPImage

            image = TGPImage(id=f"{self.id}-tgp")
            image.styles.width = 0
            image.styles.height = 0
            yield image

    def show(self, encoded: Encoded | None) -> bool:
        """Show ``encoded``; False (and nothing re-drawn) when it is the picture already shown."""
        if encoded is None and self.encoded is None:
            return False
        if encoded is not None and self.encoded is not None and self.encoded.key == encoded.key:
            return False
        self.encoded = encoded
        self._cropped = None
        self._announce = encoded is not None
        self._set_kitty(encoded)
        self.refresh()
        return True

    def picture_region(self) -> Region:
        """Where the picture is inside this widget (in cells): centred."""
        if self.encoded is None:
            return Region(0, 0, 0, 0)
        w, h = self.encoded.cells
        return Region(max(0, (self.size.width - w) // 2), max(0, (self.size.height - h) // 2), w, h)

    def _set_kitty(self, encoded: Encoded | None) -> None:
        if self.kind != "kitty" or not self.is_mounted:
            return
        from PIL import Image as PILImage

        image = self.query_one(f"#{self.id}-tgp")
        image.image = None if encoded is None else PILImage.fromarray(encoded.rgb, "RGB")  # type: ignore[attr-defined]
        image.styles.width = 0 if encoded is None else encoded.cells[0]
        image.styles.height = 0 if encoded is None else encoded.cells[1]
        image.styles.offset = (0, 0) if encoded is None else (self.picture_region().x, self.picture_region().y)

    # ------------------------------------------------------------------ drawing

    def render_lines(self, crop: Region) -> list[Strip]:
        if self.kind == "kitty":
            return super().render_lines(crop)
        encoded = self.encoded
        blank = [Strip.blank(crop.width, self.rich_style)] * crop.height
        if encoded is None or crop.width <= 0 or crop.height <= 0:
            return blank
        picture = self.picture_region()
        visible = crop.intersection(picture)
        if not visible.area:
            return blank
        if self.kind == "halfblock" and encoded.lines is not None:
            lines = list(blank)
            pad_style = self.rich_style
            for y in range(visible.y, visible.bottom):
                row = encoded.lines[y - picture.y].crop(visible.x - picture.x, visible.right - picture.x)
                left = Strip.blank(visible.x - crop.x, pad_style)
                right = Strip.blank(crop.right - visible.right, pad_style)
                lines[y - crop.y] = Strip.join([left, row, right])
            self._sent(encoded, sum(len(seg.text) for line in lines for seg in line))
            return lines
        return self._sixel_lines(encoded, crop, picture, visible, blank)

    def _sixel_lines(self, encoded: Encoded, crop: Region, picture: Region, visible: Region, blank: list[Strip]) -> list[Strip]:
        try:
            # Nothing under a modal: Sixel cannot be dimmed, and it would paint over the dialog.
            if not self.screen.is_active:
                return blank
            region = self.screen.find_widget(self).region
        except (NoScreen, Exception):  # not on screen (yet)
            return blank
        if visible == picture:
            data = encoded.sixel or ""
        else:
            # Part of the picture is covered (a toast) or cut: encode just the visible part.
            if self._cropped is None or self._cropped[0] != visible:
                px_x = encoded.rgb.shape[1] // max(1, encoded.cells[0])
                px_y = encoded.rgb.shape[0] // max(1, encoded.cells[1])
                x0, y0 = visible.x - picture.x, visible.y - picture.y
                part = encoded.rgb[y0 * px_y:(y0 + visible.height) * px_y, x0 * px_x:(x0 + visible.width) * px_x]
                self._cropped = (visible, encode_sixel(np.ascontiguousarray(part))[0] if part.size else "")
            data = self._cropped[1]
        # The Sixel goes on the picture's last row: the rows above are drawn (blank) first.
        last = visible.bottom - 1
        style = self.rich_style
        move = Control.move_to(region.x + visible.x, region.y + visible.y).segment.text
        if self.kind == "sixel-tmux":
            # Through tmux passthrough: the cursor move must reach the outer terminal too, in its
            # coordinates (the pane's origin added), inside the same wrapped sequence.
            top, left = self.tmux_origin
            outer = Control.move_to(left + region.x + visible.x, top + region.y + visible.y).segment.text
            data, move = wrap_passthrough(outer + data), ""
        segments = [
            *Strip.blank(visible.x - crop.x, style),
            Segment(move, style=_NULL_STYLE),
            Segment(data, style=_NULL_STYLE, control=((ControlType.CURSOR_FORWARD, 0),)),
            Segment(Control.move_to(region.x + visible.right, region.y + last).segment.text, style=_NULL_STYLE),
            *Strip.blank(crop.right - visible.right, style),
        ]
        lines = list(blank)
        lines[last - crop.y] = Strip(segments, cell_length=crop.width)
        self._sent(encoded, len(data))
        return lines

    def _sent(self, encoded: Encoded, nbytes: int) -> None:
        self.sends += 1
        self.bytes_sent += nbytes
        if self._announce:
            self._announce = False
            self.post_message(self.Shown(self, encoded.key, nbytes))
