"""Pilot tests for the review flow in real-terminal sizes: verdicts bound to the attempt on
screen, confirmations, the picker, the dialog, the footer, the layout, the mouse."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from textual import events
from textual.widgets import Footer, Input

from pixelperfecter.core.feedback import current_verdicts, read_feedback
from pixelperfecter.tui import ml_hook
from pixelperfecter.tui import session as model
from pixelperfecter.tui.screens.dialogs import ConfirmScreen, OpenScreen, ParamsScreen

from .conftest import CELL, TERMINAL, make_app, make_sprite_image, text_of
from .test_app import settle

SMALL = (100, 30)


async def test_equals_then_c_logs_the_attempt_on_screen_and_the_panel_says_so(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    real = model.reconstruct

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        if args[1].cell_w is not None:
            gate.wait(5)
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "reconstruct", slow)
    log = workdir / "notes" / "feedback_log.csv"
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press("equals_sign", "c")  # c while the new attempt is still computing
        await pilot.pause()
        params_text = text_of(app.main.query_one("#params"))
        assert "computing" in params_text and "auto" in params_text  # the panel shows what c logged
        gate.set()
        await settle(pilot, app)
        assert app.main.shown.params.cell_w == pytest.approx(CELL + 0.1)
        assert app.main.shown.verdict is None  # the new attempt was not judged
    (entry,) = read_feedback(log).entries
    assert entry.overrides_dict == {} and entry.cell_w == pytest.approx(CELL, abs=0.01)


async def test_editing_notes_after_a_verdict_supersedes_it(workdir: Path) -> None:
    log = workdir / "notes" / "feedback_log.csv"
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press("c", "x")
        await pilot.pause()
        assert any("replaces the earlier verdict" in n for n in app.main.notices)
    rows = read_feedback(log).entries
    assert rows[1].supersedes == rows[0].entry_id
    assert [e.verdict for e in current_verdicts(log).entries] == ["incorrect"]


async def test_save_asks_before_writing_an_attempt_marked_incorrect(workdir: Path) -> None:
    sprite = workdir / "output" / "a_knight.png"
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press("x", "s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and "incorrect" in app.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert not sprite.exists()
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert sprite.exists()


def wrong_suggestion(image_path, top_k=3):  # type: ignore[no-untyped-def]
    return [(CELL * 1.5, CELL * 1.5, 0.0, 0.0, 0.8)]


async def test_accepting_an_ml_suggestion_with_a_large_diff_asks(workdir: Path) -> None:
    log = workdir / "notes" / "feedback_log.csv"
    app = make_app(workdir, workdir / "input" / "a_knight.png", ml=ml_hook.wrap(wrong_suggestion))
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press("a")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmScreen) and "%" in app.screen.question
        assert not log.exists()
        await pilot.press("y")
        await pilot.pause()
    (entry,) = read_feedback(log).entries
    assert entry.verdict == "correct" and entry.source == "ml-suggestion"


async def test_an_empty_folder_at_start_shows_the_picker(workdir: Path) -> None:
    (workdir / "empty").mkdir()
    app = make_app(workdir, workdir / "empty")
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.pause(0.3)
        assert isinstance(app.screen, OpenScreen)
        assert any("no images" in n for n in app.main.notices)


async def test_typed_dialog_enter_keeps_auto_and_ctrl_a_selects_all(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, ParamsScreen)
        field = app.screen.query_one("#cell-w", Input)
        assert field.value == "" and "detected 8" in field.placeholder
        await pilot.press("enter")  # untouched: nothing forced
        await settle(pilot, app)
        assert app.main.shown.params.overrides() == {} and len(app.main.session.attempts) == 1
        await pilot.press("t")
        await pilot.pause()
        app.screen.query_one("#cell-w", Input).value = "9.5"
        app.screen.query_one("#cell-w", Input).focus()
        await pilot.press("ctrl+a", "1", "2", "enter")  # ctrl+a selects all: typing replaces it
        await settle(pilot, app)
        assert app.main.shown.params.cell_w == 12.0


@pytest.mark.parametrize("size", [(80, 24), SMALL, TERMINAL, (200, 60)])
async def test_the_footer_fits_at_every_width(workdir: Path, size: tuple[int, int]) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=size) as pilot:
        await settle(pilot, app)
        footer = app.main.query_one(Footer)
        keys = [k for k in footer.query("FooterKey") if k.display]  # the key widgets, by type name
        assert keys
        for key in keys:  # nothing cut off or drawn over the palette hint
            assert key.region.right <= footer.region.right, (key.description, key.region, footer.region)
        ordered = sorted(keys, key=lambda k: k.region.x)
        for left, right in zip(ordered, ordered[1:]):
            assert left.region.right <= right.region.x


async def test_small_terminal_gets_a_compact_info_strip_and_wide_panes_can_be_enlarged(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot, app)
        main = app.main
        info = main.query_one("#info")
        assert info.region.height <= 6 and main.query_one("#panes").region.height >= 0.6 * SMALL[1]
        for panel in ("#metrics", "#params"):
            lines = [line for line in text_of(main.query_one(panel)).splitlines() if line.strip()]
            assert len(lines) == len(set(lines))  # no word-by-word wrapping into repeated fragments
        before = main.display_size()
        await pilot.press("f")  # the original alone
        await settle(pilot, app)
        assert [p.display for p in main.panes] == [True, False, False]
        assert main.display_size()[0] > 2 * before[0]
        await pilot.press("f", "f", "f")  # diff, reconstruction, all three
        await settle(pilot, app)
        assert all(p.display for p in main.panes)
        await pilot.press("v")  # stacked: wide images get wide panes
        await settle(pilot, app)
        tops = [p.region.y for p in main.panes]
        assert tops[0] < tops[1] < tops[2]
        assert main.pictures.original.shape == main.pictures.middle.shape


async def test_the_attempts_panel_follows_the_current_attempt_and_rows_are_clickable(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        for _ in range(12):
            await pilot.press("equals_sign")
            await settle(pilot, app)
        panel = app.main.query_one("#attempts")
        assert "▶ 13/13" in text_of(panel)
        first_row = panel.first_row
        await pilot.click("#attempts", offset=(3, 1 + 0))  # border + first visible row
        await settle(pilot, app)
        assert app.main.shown is app.main.session.ordered()[first_row]
        assert "▶" in text_of(panel)


async def test_only_the_panes_that_change_are_sent_again(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press("equals_sign")
        await settle(pilot, app)
        assert app.main.updates[-1]["panes"] == 2  # the original did not change
        await pilot.press("comma")
        await settle(pilot, app)
        assert app.main.updates[-1]["panes"] == 2 and app.main.updates[-1]["encoded"] == 0  # cached flip
        await pilot.press("z")
        await settle(pilot, app)
        assert app.main.updates[-1]["panes"] == 3


async def test_wheel_zooms_at_the_pointer_and_dragging_pans(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        main = app.main
        view = main.panes[0].image_widget
        where = view.picture_region()
        # wheel over the picture's top-left quarter: that corner stays under the pointer
        x, y = where.x + where.width // 8, where.y + where.height // 8
        sx, sy = view.content_region.x + x, view.content_region.y + y
        main.panes[0].post_message(events.MouseScrollUp(view, x, y, 0, -1, 0, False, False, False, screen_x=sx, screen_y=sy))
        await settle(pilot, app)
        await settle(pilot, app)
        g = main.pictures.geometry
        assert g.scale < 1.5 and g.x0 < main.session.width / 4 and g.y0 < main.session.height / 4
        x0 = g.x0
        await pilot.mouse_down("#pane-original", offset=(30, 10))
        await pilot.hover("#pane-original", offset=(20, 10))
        await pilot.mouse_up("#pane-original", offset=(20, 10))
        await settle(pilot, app)
        assert main.pictures.geometry.x0 > x0  # dragged left: the view moved right


async def test_a_failing_view_is_reported_and_the_app_keeps_running(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        real = model.pane_picture

        def broken(role, *args, **kwargs):  # type: ignore[no-untyped-def]
            if role == "middle":
                raise ValueError("operands could not be broadcast")
            return real(role, *args, **kwargs)

        monkeypatch.setattr(model, "pane_picture", broken)
        await pilot.press("g")
        await settle(pilot, app)
        assert any("cannot draw this view" in n and "broadcast" in n for n in app.main.notices)
        assert not app.main.busy and app.is_running
        monkeypatch.setattr(model, "pane_picture", real)
        await pilot.press("g", "g")
        await settle(pilot, app)
        assert app.main.view_options.show_grid and app.main.pictures.middle is not None


async def test_double_click_shows_one_pane_alone_and_back(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.click("#pane-middle", offset=(10, 5), times=2)
        await settle(pilot, app)
        assert [p.display for p in app.main.panes] == [False, True, False]
        await pilot.click("#pane-middle", offset=(10, 5), times=2)
        await settle(pilot, app)
        assert all(p.display for p in app.main.panes)


def two_suggestions(image_path, top_k=3):  # type: ignore[no-untyped-def]
    return [(CELL, CELL, 0.0, 0.0, 0.9), (CELL * 2, CELL * 2, 0.0, 0.0, 0.3)]


async def test_clicking_a_suggestion_applies_it(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png", ml=ml_hook.wrap(two_suggestions))
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        assert len(app.main.suggestions) == 2
        await pilot.click("#ml", offset=(4, 1 + 1 + 1))  # border, header line, then suggestion #2
        await settle(pilot, app)
        assert app.main.shown.suggestion_rank == 2 and app.main.shown.params.cell_w == 2 * CELL
        assert app.main.selected_suggestion == 1


async def test_very_wide_images_get_stacked_panes_automatically(workdir: Path) -> None:
    from PIL import Image

    wide = workdir / "wide"
    wide.mkdir()
    make_sprite_image(wide / "a_banner.png", seed=3, cells=(48, 8))  # 384x64: 6:1
    Image.open(workdir / "input" / "a_knight.png").save(wide / "b_square.png")
    app = make_app(workdir, wide / "a_banner.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await settle(pilot, app)
        tops = [p.region.y for p in app.main.panes]
        assert app.main.layout_mode == "stacked" and tops[0] < tops[1] < tops[2]
        assert app.main.controller.frame.size == app.main.display_size()  # redrawn for the stacked panes
        await pilot.press("n")  # 128x96: side by side shows it larger
        await settle(pilot, app)
        await settle(pilot, app)
        assert app.main.layout_mode == "side"
        await pilot.press("v")  # the user's choice sticks
        await settle(pilot, app)
        await pilot.press("p")
        await settle(pilot, app)
        assert app.main.layout_mode == "stacked"
        await pilot.press("n")
        await settle(pilot, app)
        assert app.main.layout_mode == "stacked"


async def test_picture_padding_is_the_panes_own_background(workdir: Path) -> None:
    # The dark cell-sized square on pane borders came from padding drawn in a fixed dark colour
    # that differed from the pane's themed background.
    from pixelperfecter.tui.graphics import pad_to_cells

    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        screen = app.main
        for pane in screen.panes:
            colour = pane.image_widget.background_colors[1]
            assert screen.pane_background == (colour.r, colour.g, colour.b)
    padded = pad_to_cells(np.zeros((5, 5, 3), np.uint8), 8, 17, screen.pane_background)
    assert tuple(padded[-1, -1]) == screen.pane_background and tuple(padded[0, 0]) == (0, 0, 0)
