"""One image pane: a title, a textual-image widget sized in whole cells, and a message line."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image as PILImage
from textual import events
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.message import Message
from textual.widgets import Label

from ..graphics import Graphics

BACKGROUND = (24, 24, 28)


def pad_to_cells(rgb: np.ndarray, px_x: int, px_y: int, fill: tuple[int, int, int] = BACKGROUND) -> np.ndarray:
    """Pad to whole cells so textual-image never resamples (its resize is bicubic: blurry)."""
    h, w = rgb.shape[:2]
    out_w, out_h = math.ceil(w / px_x) * px_x, math.ceil(h / px_y) * px_y
    if (out_w, out_h) == (w, h):
        return rgb
    out = np.empty((out_h, out_w, 3), np.uint8)
    out[...] = fill
    out[:h, :w] = rgb
    return out


class ImagePane(Vertical):
    """A titled picture; the picture is replaced, never scaled, by ``show``."""

    class Zoom(Message):
        """The mouse wheel turned over a pane (+1 in, -1 out)."""

        def __init__(self, direction: int) -> None:
            super().__init__()
            self.direction = direction

    def __init__(self, title: str, graphics: Graphics, *, id: str) -> None:
        super().__init__(id=id, classes="pane")
        self.title_text = title
        self.graphics = graphics
        self.picture: np.ndarray | None = None

    def compose(self) -> ComposeResult:
        yield Label(self.title_text, classes="pane-title", markup=False)
        with Container(classes="pane-body"):
            yield self.graphics.widget(id=f"{self.id}-image", classes="pane-image")
        yield Label("", classes="pane-message", markup=False)

    @property
    def image_widget(self):  # type: ignore[no-untyped-def]
        return self.query_one(".pane-image")

    def set_title(self, text: str) -> None:
        self.title_text = text
        self.query_one(".pane-title", Label).update(text)

    def display_pixels(self) -> tuple[int, int]:
        """The picture size (in image pixels) that fills the pane body."""
        body = self.query_one(".pane-body")
        cols, rows = body.content_size.width, body.content_size.height
        return max(1, cols) * self.graphics.px_x, max(1, rows) * self.graphics.px_y

    def show(self, rgb: np.ndarray | None, message: str = "") -> None:
        self.picture = rgb
        self.query_one(".pane-message", Label).update(message)
        widget = self.image_widget
        if rgb is None:
            widget.styles.width = 0
            widget.styles.height = 0
            widget.image = None
            return
        # Pad with the pane's own background so the padding is invisible.
        background = self.query_one(".pane-body").background_colors[1]
        padded = pad_to_cells(rgb, self.graphics.px_x, self.graphics.px_y, (background.r, background.g, background.b))
        widget.styles.width = padded.shape[1] // self.graphics.px_x
        widget.styles.height = padded.shape[0] // self.graphics.px_y
        widget.image = PILImage.fromarray(np.ascontiguousarray(padded), "RGB")

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.post_message(self.Zoom(+1))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.post_message(self.Zoom(-1))
