"""One image pane: a title, the pre-encoded picture (``PictureView``), and a message line.

The pane knows nothing about the screen: the mouse wheel, drags and double-clicks become
messages (``Zoom``, ``Drag``, ``Enlarge``) that whoever owns the pane handles.
"""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.message import Message
from textual.widgets import Label

from ..graphics import Graphics, pad_to_cells
from .picture import PictureView

BACKGROUND = (24, 24, 28)

__all__ = ["BACKGROUND", "ImagePane", "pad_to_cells"]


class ImagePane(Vertical):
    """A titled picture; the picture is replaced, never scaled, by ``show``."""

    class Zoom(Message):
        """The mouse wheel turned over a pane (+1 in, -1 out) at ``anchor`` (fractions of the picture)."""

        def __init__(self, pane: "ImagePane", direction: int, anchor: tuple[float, float] | None = None) -> None:
            super().__init__()
            self.pane = pane
            self.direction = direction
            self.anchor = anchor

    class Drag(Message):
        """The picture was dragged by (dx, dy) cells."""

        def __init__(self, pane: "ImagePane", dx: int, dy: int) -> None:
            super().__init__()
            self.pane = pane
            self.dx = dx
            self.dy = dy

    class Enlarge(Message):
        """Double-click on a pane: show it alone (or back to all three)."""

        def __init__(self, pane: "ImagePane") -> None:
            super().__init__()
            self.pane = pane

    def __init__(self, title: str, graphics: Graphics, *, id: str) -> None:
        super().__init__(id=id, classes="pane")
        self.title_text = title
        self.graphics = graphics
        self.picture: np.ndarray | None = None
        self._drag_from: tuple[int, int] | None = None

    def compose(self) -> ComposeResult:
        yield Label(self.title_text, classes="pane-title", markup=False)
        with Container(classes="pane-body"):
            yield PictureView(self.graphics.name, id=f"{self.id}-image", classes="pane-image")
        yield Label("", classes="pane-message", markup=False)

    @property
    def image_widget(self) -> PictureView:
        return self.query_one(PictureView)

    def set_title(self, text: str) -> None:
        if text != self.title_text:
            self.title_text = text
            self.query_one(".pane-title", Label).update(text)

    def display_pixels(self) -> tuple[int, int]:
        """The picture size (in display pixels) that fills the pane body."""
        body = self.query_one(".pane-body")
        cols, rows = body.content_size.width, body.content_size.height
        return max(1, cols) * self.graphics.px_x, max(1, rows) * self.graphics.px_y

    def show(self, encoded: object | None, picture: np.ndarray | None, message: str | Text = "") -> bool:
        """Show an encoded picture (``graphics.Encoded``); False when it was already on screen."""
        self.picture = picture
        self.query_one(".pane-message", Label).update(message)
        return self.image_widget.show(encoded)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ mouse

    def _anchor(self, event: events.MouseEvent) -> tuple[float, float] | None:
        view = self.image_widget
        offset = event.get_content_offset(view) if view.size.area else None
        if offset is None or view.encoded is None or self.picture is None:
            return None
        where = view.picture_region()
        px_x, px_y = self.graphics.px_x, self.graphics.px_y
        h, w = self.picture.shape[:2]
        fx = (offset.x - where.x + 0.5) * px_x / max(1, w)
        fy = (offset.y - where.y + 0.5) * px_y / max(1, h)
        return (min(1.0, max(0.0, fx)), min(1.0, max(0.0, fy)))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.post_message(self.Zoom(self, +1, self._anchor(event)))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.post_message(self.Zoom(self, -1, self._anchor(event)))

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if event.button == 1:
            self._drag_from = (event.screen_x, event.screen_y)
            self.capture_mouse()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._drag_from is None or not event.button:
            return
        dx, dy = event.screen_x - self._drag_from[0], event.screen_y - self._drag_from[1]
        if dx or dy:
            self._drag_from = (event.screen_x, event.screen_y)
            self.post_message(self.Drag(self, int(dx), int(dy)))

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._drag_from is not None:
            self._drag_from = None
            self.release_mouse()

    def on_click(self, event: events.Click) -> None:
        if event.chain == 2:
            self.post_message(self.Enlarge(self))
