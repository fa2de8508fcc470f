"""The Sixel path headless: the fixed widget emits Sixel with every colour defined up front,
and labels beside it stay visible."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import Label

from pixelperfecter.tui.graphics import FixedSixelImage

from .conftest import TERMINAL, make_app
from .test_app import settle


def sixel_text(view) -> str:  # type: ignore[no-untyped-def]
    return "".join(seg.text for strip in view.render_lines(Region(0, 0, *view.size)) for seg in strip)


async def test_sixel_panes_define_all_colours_before_pixel_data(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png", graphics="sixel")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        assert app.main.settings.graphics.name == "sixel" and app.main.settings.graphics.px_y == 20
        for pane in app.main.panes:
            data = sixel_text(pane.image_widget)
            start = data.index("\x1bP")
            body = data[start:data.index("\x1b\\", start)]
            head = re.match(r'\x1bP[0-9;]*q"\d+;\d+;\d+;\d+((?:#\d+;2;\d+;\d+;\d+)+)', body)
            assert head is not None, body[:80]
            assert not re.search(r"#\d+;2;", body[head.end():])  # no definition after pixel data starts
            # the picture is whole cells of pixels, so it is never resampled (blurred)
            view = pane.image_widget
            cells_w, cells_h = view.encoded.cells
            assert view.encoded.rgb.shape[:2] == (cells_h * 20, cells_w * 10)
            assert cells_w <= view.size.width and cells_h <= view.size.height
            title = pane.query_one(".pane-title", Label)
            assert not title.visual_style.has_transparent_foreground


class _LabelBesideSixel(App[None]):
    def __init__(self, image_cls: type) -> None:
        super().__init__()
        self.image_cls = image_cls

    def compose(self) -> ComposeResult:
        yield Label("visible?", id="label")
        yield self.image_cls(id="img")


@pytest.mark.parametrize("stock", [
    pytest.param(True, marks=pytest.mark.xfail(strict=True, reason="textual-image bug: stock SixelImage hides sibling labels")),
    False,
])
async def test_labels_beside_a_sixel_image_stay_visible(stock: bool) -> None:
    from textual_image.widget import SixelImage

    app = _LabelBesideSixel(SixelImage if stock else FixedSixelImage)
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.pause()
        label = app.query_one("#label", Label)
        assert not label.visual_style.has_transparent_foreground
