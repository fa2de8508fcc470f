"""Pure parts of the TUI: geometry, overrides, attempts cache, paths, the Sixel fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixelperfecter.core import render
from pixelperfecter.core.types import ReconstructParams
from pixelperfecter.tui import session as model
from pixelperfecter.tui.graphics import hoist_color_registers
from pixelperfecter.tui.paths import batch_for, parse_dropped_path
from pixelperfecter.tui.widgets.panes import pad_to_cells

from .conftest import make_sprite_image


@pytest.fixture
def session(tmp_path: Path) -> model.ImageSession:
    make_sprite_image(tmp_path / "s.png", seed=3, cells=(20, 15), cell=7)
    return model.ImageSession.open(tmp_path / "s.png")


@pytest.mark.parametrize("zoom", [1.0, 2.0, 5.0, 40.0])
def test_view_grid_render_back_equals_sampled_full_render_back(session: model.ImageSession, zoom: float) -> None:
    attempt = session.run(ReconstructParams())
    grid, sprite = attempt.result.grid, attempt.result.sprite
    geometry = model.view_geometry(session.width, session.height, model.Viewport(zoom, 50.3, 40.7), 90, 64)
    full = render.render_back(sprite, grid)[geometry.rows[:, None], geometry.cols[None, :]]
    view = render.render_back(sprite, model.view_grid(grid, geometry))
    assert view.shape == full.shape
    assert np.array_equal(view, full)


def test_viewport_zoom_crops_and_clamps(session: model.ImageSession) -> None:
    fit = model.view_geometry(session.width, session.height, model.Viewport(), 280, 210)
    assert (fit.cols[0], fit.cols[-1], fit.rows[-1]) == (0, session.width - 1, session.height - 1)
    zoomed = model.view_geometry(session.width, session.height, model.Viewport(8.0, 0.0, 0.0), 280, 210)
    assert zoomed.cols[0] == 0 and zoomed.rows[0] == 0  # clamped into the image
    assert zoomed.cols[-1] < session.width // 4
    # nearest neighbour: each source pixel repeated, never interpolated
    counts = np.bincount(zoomed.cols)[zoomed.cols[0] + 1 : -1]
    assert np.all(np.diff(zoomed.cols) >= 0)
    assert counts.min() >= np.floor(1 / zoomed.scale) and counts.max() <= np.ceil(1 / zoomed.scale)
    vp = model.panned(model.Viewport(8.0, 0.0, 0.0), zoomed, 0.25, 0.0)
    moved = model.view_geometry(session.width, session.height, vp, 280, 210)
    assert moved.x0 > zoomed.x0


def test_pane_pictures_share_one_geometry(session: model.ImageSession) -> None:
    attempt = session.run(ReconstructParams())
    pics = model.pane_pictures(session, attempt, model.Viewport(4.0), 120, 80, model.ViewOptions(show_grid=True))
    assert pics.original.shape == pics.middle.shape == pics.reconstruction.shape
    heat = model.pane_pictures(session, attempt, model.Viewport(), 120, 80, model.ViewOptions(show_heatmap=True))
    assert heat.middle_kind == "heatmap"


def test_attempts_are_cached_by_frozen_params(session: model.ImageSession, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = model.reconstruct
    monkeypatch.setattr(model, "reconstruct", lambda *a, **k: calls.append(1) or real(*a, **k))
    a = session.run(ReconstructParams())
    b = session.run(ReconstructParams(cell_w=14.0, cell_h=14.0))
    assert session.run(ReconstructParams()) is a and session.run(ReconstructParams(cell_w=14.0, cell_h=14.0)) is b
    assert len(calls) == 2
    session.current = a.params
    assert session.neighbour(1) is b and session.neighbour(-1) is b


def test_override_steps_are_stable_keys(session: model.ImageSession) -> None:
    a = session.run(ReconstructParams())
    p = model.step_cell(a.params, a.result, 0.1, 100)
    assert (p.cell_w, p.cell_h) == (7.1, 7.1)
    back = model.step_cell(p, None, -0.1, 100)
    assert (back.cell_w, back.cell_h) == (7.0, 7.0)
    assert model.scale_cell(a.params, a.result, 0.5, 100).cell_w == 3.5
    assert model.scale_cell(a.params, a.result, 0.125, 100).cell_w == model.MIN_CELL
    nudged = model.nudge_offset(a.params, a.result, 1, 0)
    assert nudged.offset_x == pytest.approx((a.result.grid.offset_x + 1) % 7, abs=1e-3) and nudged.offset_y is None
    assert model.toggle(a.params, "snap_lines").snap_lines is False
    assert model.scale_cell(ReconstructParams(), None, 2.0, 100) is None


def test_parse_optional_float() -> None:
    assert model.parse_optional_float(" auto ", "x") is None
    assert model.parse_optional_float("10,5", "x") == 10.5
    with pytest.raises(ValueError, match="cell"):
        model.parse_optional_float("abc", "cell")
    with pytest.raises(ValueError):
        model.parse_optional_float("1", "cell", minimum=2)


@pytest.mark.parametrize("pasted, expected", [
    ("/tmp/a b.png", "/tmp/a b.png"),
    ("'/tmp/a b.png'\n", "/tmp/a b.png"),
    ('"/tmp/a b.png"', "/tmp/a b.png"),
    ("file:///tmp/a%20b.png", "/tmp/a b.png"),
    ("/tmp/a\\ b.png", "/tmp/a b.png"),
    ("  /tmp/x.png\n/tmp/y.png", "/tmp/x.png"),
])
def test_parse_dropped_path(pasted: str, expected: str) -> None:
    assert parse_dropped_path(pasted) == Path(expected)


def test_parse_dropped_path_empty() -> None:
    assert parse_dropped_path("  \n ") is None


def test_batch_of_a_folder(tmp_path: Path) -> None:
    for name in ("b.png", "a.png"):
        make_sprite_image(tmp_path / name)
    (tmp_path / "notes.txt").write_text("x")
    batch = batch_for(tmp_path)
    assert [p.name for p in batch.paths] == ["a.png", "b.png"] and batch.position() == "1 / 2"
    assert batch.step(1) and batch.position() == "2 / 2" and not batch.step(1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        batch_for(tmp_path / "empty")


def test_hoist_color_registers_moves_definitions_to_the_header() -> None:
    data = '\x1bP0;0;0q"1;1;8;12#0;2;100;0;0!8~-#2;2;0;100;0!4~#1;2;0;0;0!4~#0!2~-\x1b\\'
    out = hoist_color_registers(data)
    assert out == '\x1bP0;0;0q"1;1;8;12#0;2;100;0;0#2;2;0;100;0#1;2;0;0;0#0!8~-#2!4~#1!4~#0!2~-\x1b\\'
    conflicting = '\x1bP0;0;0q"1;1;1;1#0;2;1;1;1~#0;2;9;9;9~\x1b\\'
    assert hoist_color_registers(conflicting) == conflicting


def test_pad_to_cells() -> None:
    rgb = np.full((5, 7, 3), 200, np.uint8)
    out = pad_to_cells(rgb, 4, 2)
    assert out.shape == (6, 8, 3) and np.array_equal(out[:5, :7], rgb)


def test_edge_profiles_are_computed_once_per_image(session: model.ImageSession, monkeypatch) -> None:
    from pixelperfecter.core import grid as core_grid

    calls = []
    original = core_grid.edge_profiles

    def counting(rgba):
        calls.append(1)
        return original(rgba)

    monkeypatch.setattr(model, "edge_profiles", counting)
    monkeypatch.setattr(core_grid, "edge_profiles", counting)
    session.run(ReconstructParams(cell_size=8.0))
    session.run(ReconstructParams(cell_size=9.0))
    session.run(ReconstructParams(cell_size=10.0, snap_lines=False))
    assert len(calls) == 1
    expected = original(session.loaded.rgba)
    assert all(np.array_equal(a, b) for a, b in zip(session.profiles(), expected))
