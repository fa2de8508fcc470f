"""Pilot tests: every feature of `perfecter tui`, driven by keys, headless, half-block renderer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from textual import events
from textual.widgets import Input, TextArea

from pixelperfecter import __version__
from pixelperfecter.core.feedback import FEEDBACK_COLUMNS, read_feedback
from pixelperfecter.core.metrics import METRICS_COLUMNS
from pixelperfecter.core.types import ReconstructParams
from pixelperfecter.tui import session as model
from pixelperfecter.tui.screens.dialogs import HelpScreen, NotesScreen, OpenScreen, ParamsScreen

from .conftest import CELL, TERMINAL, make_app, make_sprite_image, text_of


async def settle(pilot, app) -> None:  # type: ignore[no-untyped-def]
    """Wait until no worker runs and the screen has caught up."""
    for _ in range(200):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not app.main.busy and not any(w.is_running for w in app.workers):
            return
    raise AssertionError("the app never became idle")


def notes_of(app) -> list[str]:  # type: ignore[no-untyped-def]
    return list(app.main.notices)


def shown_params(app):  # type: ignore[no-untyped-def]
    return app.main.shown.params


async def test_open_folder_as_batch_and_navigate(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        main = app.main
        assert main.sub_title == "a_knight.png — 1 / 3"
        assert main.shown.ok and main.shown.result.grid.cell_w == pytest.approx(CELL, abs=0.01)
        await pilot.press("n")
        await settle(pilot, app)
        assert main.sub_title == "b_potion.png — 2 / 3" and main.session.path.name == "b_potion.png"
        await pilot.press("n", "n")
        await settle(pilot, app)
        assert main.sub_title == "c_shield.png — 3 / 3"
        assert "last image" in notes_of(app)
        await pilot.press("p")
        await settle(pilot, app)
        assert main.sub_title == "b_potion.png — 2 / 3"
        assert "2 / 3" in text_of(main.query_one("#status"))


async def test_picker_opens_over_input_and_a_typed_path_opens_an_image(workdir: Path) -> None:
    app = make_app(workdir, None)
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, OpenScreen)
        assert app.screen.root == workdir / "input"
        app.screen.query_one(Input).value = str(workdir / "input" / "c_shield.png")
        app.screen.query_one(Input).focus()
        await pilot.press("enter")
        await settle(pilot, app)
        # one file opens its folder, positioned at it (not a batch of one)
        assert app.main.sub_title == "c_shield.png — 3 / 3" and app.main.shown.ok
        await pilot.press("p")
        await settle(pilot, app)
        assert app.main.sub_title == "b_potion.png — 2 / 3"


async def test_picker_tree_selects_a_file(workdir: Path) -> None:
    app = make_app(workdir, None)
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.pause(0.3)
        assert isinstance(app.screen, OpenScreen)
        await pilot.press("down", "enter")  # first entry below the root: a_knight.png
        await settle(pilot, app)
        assert app.main.session is not None and app.main.session.path.name == "a_knight.png"


@pytest.mark.parametrize("template", ["{}", "'{}'", '"{}"', "file://{}"])
async def test_pasted_or_dropped_path_opens_the_image(workdir: Path, template: str) -> None:
    spaced = workdir / "in put"
    spaced.mkdir()
    make_sprite_image(spaced / "my sprite.png", seed=4)
    text = template.format(str(spaced / "my sprite.png")).replace(" ", "%20" if template.startswith("file") else " ")
    app = make_app(workdir, workdir / "input")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        app.main.post_message(events.Paste(text))
        await settle(pilot, app)
        assert app.main.session.path == spaced / "my sprite.png"
        app.main.post_message(events.Paste(str(workdir / "input")))  # a folder -> a batch
        await settle(pilot, app)
        assert app.main.sub_title == "a_knight.png — 1 / 3"


async def test_every_override_reruns_and_updates_the_result(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        main = app.main

        async def press(*keys: str):  # type: ignore[no-untyped-def]
            await pilot.press(*keys)
            await settle(pilot, app)
            return main.shown

        a = await press("right_square_bracket")
        assert (a.params.cell_w, a.result.grid.cell_w, a.result.grid.cells_x) == (16.0, 16.0, 8)
        a = await press("left_square_bracket")
        assert a.params.cell_w == 8.0 and a.result.grid.cells_x == 16
        a = await press("equals_sign")
        assert a.params.cell_w == 8.1 and a.result.grid.cell_w == pytest.approx(8.1)
        a = await press("minus")
        assert a.params.cell_w == 8.0
        a = await press("right_curly_bracket")
        assert a.params.cell_w == 9.0 and a.result.grid.cell_w == pytest.approx(9.0)
        a = await press("left_curly_bracket")
        assert a.params.cell_w == 8.0
        a = await press("shift+right")
        assert a.params.offset_x == pytest.approx(1.0) and a.params.offset_y is None
        a = await press("shift+down", "shift+down")
        assert a.params.offset_y == pytest.approx(2.0)
        a = await press("shift+left", "shift+up")
        assert (a.params.offset_x, a.params.offset_y) == (0.0, 1.0)
        for key, name in (("1", "snap_lines"), ("2", "cleanup_colors"), ("3", "binarize_alpha")):
            a = await press(key)
            assert getattr(a.params, name) is False and a.result.params == a.params
        a = await press("r")  # auto-detect: cell, offset AND the 1 2 3 switches back to the defaults (README)
        assert a.params.overrides() == {} and a.params == ReconstructParams()
        # typed values
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, ParamsScreen)
        for input_id, value in (("#cell-w", "12.5"), ("#cell-h", ""), ("#offset-x", "3"), ("#offset-y", "auto")):
            app.screen.query_one(input_id, Input).value = value
        await pilot.click("#apply")
        a = await press()
        assert (a.params.cell_w, a.params.cell_h, a.params.offset_x, a.params.offset_y) == (12.5, 12.5, 3.0, None)
        assert a.result.grid.cell_w == pytest.approx(12.5)
        # a bad typed value is refused in the dialog, the app keeps running
        await pilot.press("t")
        await pilot.pause()
        app.screen.query_one("#cell-w", Input).value = "zero"
        await pilot.click("#apply")
        await pilot.pause()
        assert isinstance(app.screen, ParamsScreen)
        assert "not a number" in text_of(app.screen.query_one("#params-error"))
        app.screen.query_one("#cell-w", Input).value = ""
        app.screen.query_one("#size", Input).value = "many"
        app.screen.query_one("#size", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "expected WxH" in text_of(app.screen.query_one("#params-error"))
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running and main.shown.params.cell_w == 12.5
        metrics_text = text_of(main.query_one("#metrics"))
        assert "12.500" in metrics_text


async def test_attempts_flip_without_recomputing(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = model.reconstruct
    monkeypatch.setattr(model, "reconstruct", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press("right_square_bracket")
        await settle(pilot, app)
        await pilot.press("equals_sign")
        await settle(pilot, app)
        assert len(calls) == 3 and len(app.main.session.attempts) == 3
        seen = []
        for key in ("comma", "comma", "comma", "full_stop", "full_stop"):
            await pilot.press(key)
            await pilot.pause()
            seen.append(app.main.shown.params.cell_w)
        assert seen == [16.0, None, 16.1, None, 16.0]
        assert len(calls) == 3  # nothing recomputed
        await pilot.press("left_square_bracket")  # 16 -> 8: a new parameter set (8 forced != auto)
        await settle(pilot, app)
        await pilot.press("right_square_bracket")  # 8 -> 16 again: cached
        await settle(pilot, app)
        assert len(calls) == 4 and app.main.shown.params.cell_w == 16.0
        assert "▶" in text_of(app.main.query_one("#attempts"))


async def test_rapid_keys_never_freeze_and_the_last_request_wins(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press(*["equals_sign"] * 6)
        await settle(pilot, app)
        assert app.main.shown.params.cell_w == pytest.approx(8.6)
        assert app.main.shown.result.grid.cell_w == pytest.approx(8.6)
        assert app.main.latencies  # keypress -> result on screen was measured


async def test_verdicts_and_notes_go_to_the_feedback_log(workdir: Path) -> None:
    log = workdir / "notes" / "feedback_log.csv"
    notes = 'blocks, "halo" at edges\nsecond line ✓ ünïcode'
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, NotesScreen)
        app.screen.query_one(TextArea).text = notes
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.main.session.notes == notes and not log.exists()  # saved with the verdict
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("right_square_bracket")
        await settle(pilot, app)
        await pilot.press("x")
        await pilot.pause()
        assert "✗" in text_of(app.main.query_one("#attempts"))
    frame = pd.read_csv(log, keep_default_na=False)
    assert list(frame.columns) == FEEDBACK_COLUMNS and len(frame) == 2
    good, bad = frame.iloc[0], frame.iloc[1]
    assert (good["verdict"], good["source"], good["notes"]) == ("correct", "tui", notes)
    assert good["image"] == str(workdir / "input" / "a_knight.png")
    assert json.loads(good["overrides"]) == {}
    assert (float(good["cell_w"]), int(good["cells_x"]), int(good["cells_y"])) == (pytest.approx(8.0, abs=0.01), 16, 12)
    assert float(good["diff_pct"]) == pytest.approx(0.0, abs=0.01) and good["app_version"] == __version__
    assert bad["verdict"] == "incorrect" and json.loads(bad["overrides"]) == {"cell_w": 16.0, "cell_h": 16.0}
    assert (int(bad["cells_x"]), int(bad["cells_y"])) == (8, 6)
    assert read_feedback(log).warnings == []


async def test_editing_notes_after_a_verdict_relogs_them(workdir: Path) -> None:
    log = workdir / "notes" / "feedback_log.csv"
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press("c", "e")
        await pilot.pause()
        app.screen.query_one(TextArea).text = "added later"
        await pilot.press("ctrl+s")
        await pilot.pause()
    entries = read_feedback(log).entries
    assert [(e.verdict, e.notes) for e in entries] == [("correct", ""), ("correct", "added later")]


async def test_save_exports_the_marked_correct_attempt(workdir: Path) -> None:
    out = workdir / "output"
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        correct_sprite = app.main.shown.result.sprite.copy()
        await pilot.press("c", "right_square_bracket")
        await settle(pilot, app)
        assert app.main.shown.result.grid.cells_x == 8  # now looking at a wrong attempt
        await pilot.press("s")
        await pilot.pause()
    written = np.asarray(Image.open(out / "a_knight.png").convert("RGBA"))
    assert written.shape[:2] == (12, 16)
    assert np.array_equal(written[..., :3], correct_sprite[..., :3])
    metrics = pd.read_csv(out / "metrics.csv", keep_default_na=False)
    assert list(metrics.columns) == METRICS_COLUMNS and len(metrics) == 1
    row = metrics.iloc[0]
    assert (row["status"], int(row["cells_x"]), row["output"]) == ("ok", 16, str(out / "a_knight.png"))


async def test_save_without_verdict_exports_the_current_attempt(workdir: Path) -> None:
    out = workdir / "output"
    app = make_app(workdir, workdir / "input" / "b_potion.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press("right_square_bracket")
        await settle(pilot, app)
        cells_y, cells_x = app.main.shown.result.grid.shape
        await pilot.press("s")
        await pilot.pause()
    assert cells_x < 16 and Image.open(out / "b_potion.png").size == (cells_x, cells_y)


async def test_bad_inputs_notify_and_the_app_keeps_running(workdir: Path) -> None:
    bad = workdir / "bad"
    bad.mkdir()
    (bad / "a_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    Image.new("RGB", (64, 64), (40, 90, 200)).save(bad / "b_flat.png")
    make_sprite_image(bad / "c_fine.png")
    (workdir / "empty").mkdir()
    app = make_app(workdir, bad)
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        assert any("a_broken.png" in n and "not an image" in n for n in notes_of(app))
        assert app.main.shown is None and app.main.sub_title == "a_broken.png — 1 / 3"
        await pilot.press("c", "s", "equals_sign")  # nothing to act on: hints, no crash
        await pilot.pause()
        await pilot.press("n")
        await settle(pilot, app)
        assert not app.main.shown.ok
        assert any("flat" in n or "grid" in n for n in notes_of(app))
        await pilot.press("s")
        await pilot.pause()
        assert any("nothing to save" in n for n in notes_of(app))
        assert app.main.pictures.middle is None and app.main.pictures.original is not None
        await pilot.press("n")
        await settle(pilot, app)
        assert app.main.shown.ok
        app.main.post_message(events.Paste(str(workdir / "empty")))
        await pilot.pause()
        assert any("no images" in n for n in notes_of(app))
        app.main.post_message(events.Paste(str(workdir / "nope.png")))
        await pilot.pause()
        assert any("no such file" in n for n in notes_of(app))
        assert app.is_running and app.main.session.path.name == "c_fine.png"


async def test_zoom_pan_grid_and_heatmap_stay_synchronized(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        main = app.main
        fit = main.pictures.geometry
        assert fit.scale > 1  # half blocks: the 128x96 image is reduced to fit ("fit 0.39:1")
        assert "fit" in text_of(main.query_one("#status"))
        for level in (1, 2, 3):  # integer zoom levels: 1:1, 2:1, 3:1 display pixels per image pixel
            await pilot.press("z")
            await settle(pilot, app)
            assert main.pictures.geometry.scale == pytest.approx(1 / level)
            assert f"{level}:1" in text_of(main.query_one("#status"))
        zoomed = main.pictures
        assert zoomed.original.shape == zoomed.middle.shape == zoomed.reconstruction.shape
        for pane in main.panes:  # every pane shows the same picture size
            assert pane.picture.shape == zoomed.original.shape
        x0 = zoomed.geometry.x0
        await pilot.press("right")
        await settle(pilot, app)
        assert main.pictures.geometry.x0 > x0
        await pilot.press("down", "left", "up")
        await settle(pilot, app)
        assert main.pictures.geometry.x0 == pytest.approx(x0)
        await pilot.press("Z")
        await settle(pilot, app)
        assert main.pictures.geometry.scale == pytest.approx(1 / 2)
        await pilot.press("g")
        await settle(pilot, app)
        assert main.view_options.show_grid
        cyan = lambda pic: (np.abs(pic.astype(int) - [0, 255, 255]).max(axis=2) < 100).any()  # noqa: E731
        assert cyan(main.pictures.original) and cyan(main.pictures.reconstruction)
        assert cyan(main.pictures.middle)  # the grid is drawn on the diff pane too
        await pilot.press("h")
        await settle(pilot, app)
        assert main.pictures.middle_kind == "heatmap" and "Heatmap" in text_of(main.query_one("#pane-middle .pane-title"))
        assert "per-cell error" in text_of(main.query_one("#pane-middle .pane-message"))  # the legend
        await pilot.press("h", "g")
        await settle(pilot, app)
        assert main.pictures.middle_kind == "diff" and not main.view_options.show_grid
async def test_diff_pane_shows_red_where_the_grid_is_wrong(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        red = lambda pic: ((pic[..., 0] > 240) & (pic[..., 1] < 20) & (pic[..., 2] < 20)).mean()  # noqa: E731
        assert red(app.main.pictures.middle) == 0.0
        await pilot.press("right_square_bracket")
        await settle(pilot, app)
        assert red(app.main.pictures.middle) > 0.02
        # and the half-block widget really draws it
        from textual.geometry import Region

        widget = app.main.panes[1].image_widget
        colours = {seg.style.color.triplet for strip in widget.render_lines(Region(0, 0, *widget.size)) for seg in strip
                   if seg.style and seg.style.color and seg.style.color.triplet}
        assert any(c.red > 240 and c.green < 20 and c.blue < 20 for c in colours)


async def test_help_screen_and_command_palette_list_every_binding(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = [k for k, _ in app.screen.rows]
        for key in ("c", "x", "e", "[", "]", "-", "=", "{", "}", "⇧←", "z", "Z", "←", "g", "h", ",", ".", "p", "n", "s", "o", "q", "?", "t"):
            assert key in keys
        assert "u" not in keys  # no ML provider -> no ML keys
        await pilot.press("escape")
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.main)]
        assert "Correct" in titles and "Zoom in" in titles and "Halve cell" in titles
        command = next(c for c in app.get_system_commands(app.main) if c.title == "Double cell")
        await command.callback()
        await settle(pilot, app)
        assert app.main.shown.params.cell_w == 16.0


async def test_open_key_and_quit(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OpenScreen)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_picker_opens_a_highlighted_folder_as_a_batch(workdir: Path) -> None:
    app = make_app(workdir, None, browse_root=workdir)
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.pause(0.3)
        assert isinstance(app.screen, OpenScreen)
        tree = app.screen.query_one("#open-tree")
        await pilot.press("down")  # the first child of the root: the input/ folder
        await pilot.pause()
        assert tree.cursor_node is not None and Path(tree.cursor_node.data.path).name == "input"
        await pilot.press("ctrl+b")
        await settle(pilot, app)
        assert app.main.sub_title == "a_knight.png — 1 / 3"


async def test_resizing_the_terminal_recrops_all_panes(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        before = app.main.pictures.original.shape
        await pilot.resize_terminal(100, 40)
        await pilot.pause(0.2)
        after = app.main.pictures
        assert after.original.shape != before
        assert after.original.shape == after.middle.shape == after.reconstruction.shape
        assert after.geometry.out_w <= app.main.display_size()[0]


def test_cli_rejects_bad_arguments_without_starting_the_app(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pixelperfecter.cli import app as cli

    runner = CliRunner()
    bad_graphics = runner.invoke(cli, ["tui", "--graphics", "iterm"])
    assert bad_graphics.exit_code == 2 and "--graphics" in bad_graphics.output
    missing = runner.invoke(cli, ["tui", str(tmp_path / "nope.png")])
    assert missing.exit_code == 1 and "nope.png" in missing.output


async def test_a_slow_rerun_shows_the_spinner_and_keeps_the_ui_responsive(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    gate = threading.Event()
    real = model.reconstruct

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        if args[1].cell_w == 16.0:
            gate.wait(5)
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "reconstruct", slow)
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press("right_square_bracket")
        await pilot.pause(0.1)
        assert app.main.busy and app.main.query_one("#busy").display
        await pilot.press("z", "g")  # the UI answers while the worker computes
        await pilot.pause()
        assert app.main.viewport.zoom > 1.0 and app.main.view_options.show_grid
        gate.set()
        await settle(pilot, app)
        assert not app.main.query_one("#busy").display and app.main.shown.params.cell_w == 16.0
