"""The TUI's controller without Textual: verdicts, supersedes, save, overrides, frames, zoom levels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixelperfecter.core.feedback import current_verdicts, read_feedback
from pixelperfecter.core.types import ReconstructParams
from pixelperfecter.tui import session as model
from pixelperfecter.tui.controller import Confirm, Controller, Notice, Settings
from pixelperfecter.tui.paths import batch_for

from .conftest import CELL, make_sprite_image


def stub_encoder(picture, key):  # type: ignore[no-untyped-def]
    return ("encoded", key, picture.shape)


@pytest.fixture
def ctl(workdir: Path) -> Controller:
    settings = Settings(graphics=None, output_dir=workdir / "output", log_path=workdir / "notes" / "feedback_log.csv")
    return Controller(settings, stub_encoder)


SIZE = (200, 150)


def show(ctl: Controller, params: ReconstructParams | None = None) -> model.Attempt:
    """What the screen does: compute, build the frame, present it."""
    assert ctl.session is not None
    attempt = ctl.session.run(params or ReconstructParams())
    ctl.target = attempt.params
    frame = ctl.build_frame(ctl.session, attempt, ctl.viewport, SIZE, ctl.view_options)
    assert ctl.accepts(frame)
    ctl.present(frame)
    return attempt


def open_first(ctl: Controller, workdir: Path) -> model.Attempt:
    ctl.open(workdir / "input" / "a_knight.png")
    assert ctl.begin_image() is None
    session = model.ImageSession.open(ctl.batch.current)
    attempt = session.run(ReconstructParams())
    assert ctl.loaded(session, attempt)
    return show(ctl)


def test_a_verdict_goes_to_the_attempt_on_screen_not_the_one_computing(ctl: Controller, workdir: Path) -> None:
    shown = open_first(ctl, workdir)
    pending = ctl.params_for("step_cell", 0.1)
    assert isinstance(pending, ReconstructParams) and pending.cell_w == pytest.approx(CELL + 0.1)
    ctl.target = pending  # "=" pressed: the re-run is still computing
    notice = ctl.log_verdict("correct")
    assert isinstance(notice, Notice) and notice.severity == "information"
    (entry,) = read_feedback(ctl.settings.log_path).entries
    assert entry.overrides_dict == {} and entry.cell_w == pytest.approx(CELL, abs=0.01)
    assert shown.verdict == "correct"


def test_x_after_c_supersedes_and_notes_replace_instead_of_duplicating(ctl: Controller, workdir: Path) -> None:
    open_first(ctl, workdir)
    ctl.log_verdict("correct")
    ctl.log_verdict("incorrect")
    ctl.set_notes(ctl.session, "blurry edges")  # type: ignore[arg-type]
    rows = read_feedback(ctl.settings.log_path).entries
    assert [(r.verdict, r.notes) for r in rows] == [("correct", ""), ("incorrect", ""), ("incorrect", "blurry edges")]
    assert rows[1].supersedes == rows[0].entry_id and rows[2].supersedes == rows[1].entry_id
    assert len({r.entry_id for r in rows}) == 3
    current = current_verdicts(ctl.settings.log_path)
    assert [(e.verdict, e.notes) for e in current.entries] == [("incorrect", "blurry edges")]
    assert current.verdict(ctl.session.path) == "incorrect"  # type: ignore[union-attr]


def test_a_new_correct_grid_replaces_the_old_correct_one(ctl: Controller, workdir: Path) -> None:
    first = open_first(ctl, workdir)
    ctl.log_verdict("correct")
    other = show(ctl, ctl.params_for("scale_cell", 2.0))  # type: ignore[arg-type]
    ctl.log_verdict("correct")
    assert first.verdict is None and other.verdict == "correct"
    current = current_verdicts(ctl.settings.log_path).entries
    assert len(current) == 1 and current[0].cell_w == pytest.approx(2 * CELL)


def test_save_asks_before_writing_an_attempt_marked_incorrect(ctl: Controller, workdir: Path) -> None:
    open_first(ctl, workdir)
    ctl.log_verdict("incorrect")
    asked = ctl.save()
    assert isinstance(asked, Confirm) and "incorrect" in asked.question
    assert not (workdir / "output" / "a_knight.png").exists()
    done = asked.proceed()
    assert isinstance(done, Notice) and (workdir / "output" / "a_knight.png").exists()


def test_accepting_a_suggestion_with_a_large_diff_asks_first(ctl: Controller, workdir: Path) -> None:
    good = open_first(ctl, workdir)
    assert ctl.accept_question(good) is None
    wrong = ctl.session.run(ReconstructParams(cell_w=CELL * 1.5, cell_h=CELL * 1.5))  # type: ignore[union-attr]
    assert wrong.result.metrics.diff_pct > ctl.settings.thresholds.max_diff_pct
    question = ctl.accept_question(wrong)
    assert question is not None and f"{wrong.result.metrics.diff_pct:.0f}%" in question


def test_reset_restores_cell_offset_and_the_switches(ctl: Controller, workdir: Path) -> None:
    open_first(ctl, workdir)
    show(ctl, ReconstructParams(cell_w=9.0, cell_h=9.0, snap_lines=False, cleanup_colors=False, binarize_alpha=False))
    assert ctl.params_for("reset") == ReconstructParams()


def test_typed_dialog_starts_from_auto_for_detected_values(ctl: Controller, workdir: Path) -> None:
    open_first(ctl, workdir)
    assert ctl.typed_values() == (None, None, None, None, None)  # Enter on it changes nothing
    assert ctl.detected_values()[0] == pytest.approx(CELL, abs=0.01)
    assert ctl.typed((None, None, None, None, None)) == ReconstructParams()
    show(ctl, ReconstructParams(cell_w=12.5, cell_h=12.5))
    assert ctl.typed_values() == (12.5, 12.5, None, None, None)
    # The output size in cells is the dialog's fifth field (--size WxH).
    grid = ctl.shown.result.grid  # type: ignore[union-attr]
    assert ctl.detected_values()[4] == (grid.cells_x, grid.cells_y)
    sized = ctl.typed((None, None, None, None, (20, 15)))
    assert sized.target_cells == (20, 15)
    show(ctl, sized)
    assert ctl.typed_values()[4] == (20, 15)
    assert ctl.shown.result.sprite.shape[:2] == (15, 20)  # type: ignore[union-attr]


def test_frames_reuse_panes_that_did_not_change(ctl: Controller, workdir: Path) -> None:
    first = open_first(ctl, workdir)
    other = ctl.session.run(ReconstructParams(cell_w=16.0, cell_h=16.0))  # type: ignore[union-attr]
    frame = ctl.build_frame(ctl.session, other, ctl.viewport, SIZE, ctl.view_options)  # type: ignore[arg-type]
    assert frame.encoded_now == 2  # diff + reconstruction; the original came from the cache
    again = ctl.build_frame(ctl.session, first, ctl.viewport, SIZE, ctl.view_options)  # type: ignore[arg-type]
    assert again.encoded_now == 0  # a cached flip encodes nothing
    assert again.panes[0].encoded == frame.panes[0].encoded
    ctl.toggled_view("show_grid")
    gridded = ctl.build_frame(ctl.session, first, ctl.viewport, SIZE, ctl.view_options)  # type: ignore[arg-type]
    assert gridded.encoded_now == 3


def test_a_frame_for_an_older_request_is_not_presented(ctl: Controller, workdir: Path) -> None:
    first = open_first(ctl, workdir)
    ctl.target = ReconstructParams(cell_w=16.0, cell_h=16.0)
    stale = ctl.build_frame(ctl.session, first, ctl.viewport, SIZE, ctl.view_options)  # type: ignore[arg-type]
    assert not ctl.accepts(stale)


def test_flip_and_select_attempts(ctl: Controller, workdir: Path) -> None:
    first = open_first(ctl, workdir)
    second = show(ctl, ReconstructParams(cell_w=16.0, cell_h=16.0))
    assert ctl.flip(-1) is first and ctl.target == first.params
    assert ctl.flip(-1) is second
    assert ctl.select_attempt(0) is first and ctl.select_attempt(5) is None


def test_zoom_steps_through_integer_levels_and_keeps_the_pointer_still(ctl: Controller, workdir: Path) -> None:
    open_first(ctl, workdir)
    levels = []
    for _ in range(3):
        ctl.zoomed(+1, anchor=(0.25, 0.25))
        show(ctl)
        levels.append(1 / ctl.frame.geometry.scale)  # type: ignore[union-attr]
    assert all(abs(m - round(m)) < 1e-6 for m in levels) and levels == sorted(levels)
    assert ctl.position().startswith(f"{round(levels[-1])}:1")
    ctl.zoomed(-1)
    show(ctl)
    assert 1 / ctl.frame.geometry.scale == pytest.approx(levels[-2])  # type: ignore[union-attr]


def test_zoom_levels() -> None:
    fit = 1024 / 512  # a 1024-px image in a 512-px pane: fit is 0.5:1
    levels = model.zoom_levels(fit, model.max_zoom(1024, 1024, 512, 512))
    assert levels[0] == 1.0 and levels[1] == pytest.approx(2.0)  # the next level is 1:1
    assert [round(fit / z, 6) for z in levels[1:4]] == [1.0, 0.5, round(1 / 3, 6)]
    assert model.zoom_label(1.0, 2.0) == "1:1" and model.zoom_label(2.0, 1.0).startswith("fit")


def test_opening_a_file_opens_its_folder_positioned_at_it(tmp_path: Path) -> None:
    for name in ("a.png", "b.png", "c.png"):
        make_sprite_image(tmp_path / name)
    batch = batch_for(tmp_path / "b.png")
    assert batch.position() == "2 / 3" and batch.current == tmp_path / "b.png" and batch.folder == tmp_path


def test_an_enlarged_fit_is_an_integer_magnification() -> None:
    assert model.fit_scale(256, 256, 517, 765) == 0.5  # 2:1, not 2.02:1
    assert model.fit_scale(40, 30, 130, 130) == pytest.approx(1 / 3)  # 3:1, not 3.25:1
    assert model.fit_scale(256, 256, 400, 400) == pytest.approx(256 / 400)  # under 2x: fill the pane
    assert model.fit_scale(1024, 1024, 517, 765) == pytest.approx(1024 / 517)  # reduced: fill the pane
    g = model.view_geometry(40, 30, model.Viewport(), 130, 130)
    assert set(np.bincount(g.cols)) == {3} and g.cols[-1] == 39  # every image column 3 display px, all shown


def test_small_cells_get_a_per_cell_diff_that_keeps_one_bad_cell_readable(tmp_path: Path) -> None:
    case = make_sprite_image(tmp_path / "s.png", seed=5, cells=(16, 12), cell=CELL)
    session = model.ImageSession.open(tmp_path / "s.png")
    image = session.loaded.rgba.copy()
    image.flags.writeable = True
    image[3 * CELL:4 * CELL, 5 * CELL:5 * CELL + CELL // 2, :3] = 255 - image[3 * CELL + 4, 5 * CELL + 6, :3]  # one cell: half repainted
    from pixelperfecter.core.io import save_png

    save_png(tmp_path / "t.png", image, keep_alpha=False)
    session = model.ImageSession.open(tmp_path / "t.png")
    attempt = session.run(ReconstructParams(cell_w=CELL, cell_h=CELL, offset_x=0.0, offset_y=0.0))
    geometry = model.view_geometry(session.width, session.height, model.Viewport(), 48, 36)  # 3 display px per cell
    middle, kind = model.pane_picture("middle", session, attempt, geometry)
    assert kind == "diff-cells"
    red = (middle[..., 0] > 240) & (middle[..., 1] < 20) & (middle[..., 2] < 20)
    ys, xs = np.nonzero(red)
    assert red.sum() >= 4 and (ys.max() - ys.min() + 1) >= 2 and (xs.max() - xs.min() + 1) >= 2  # a block, not a dot
    assert case.truth.shape[:2] == (12, 16)
    gridded, _ = model.pane_picture("middle", session, attempt, geometry, model.ViewOptions(show_grid=True))
    assert gridded.shape == middle.shape and (np.abs(gridded.astype(int) - [0, 255, 255]).max(axis=2) < 100).any()
