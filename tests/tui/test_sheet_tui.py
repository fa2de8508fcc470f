"""Pilot: j / J box a sprite sheet's sprites over the original and step through them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pixelperfecter.core import synth
from pixelperfecter.core.io import save_png

from .conftest import TERMINAL, make_app, text_of
from .test_app import settle


def _colour_share(picture: np.ndarray, rgb: tuple[int, int, int]) -> float:
    return float((np.abs(picture.astype(int) - rgb).max(axis=2) < 30).mean())


async def test_j_and_shift_j_step_through_the_sprites_of_a_sheet(workdir: Path) -> None:
    case = synth.make_sheet_case(3)
    path = workdir / "input" / "sheet.png"
    save_png(path, case.image, keep_alpha=False)
    app = make_app(workdir, path)
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        main = app.main
        assert main.view_options.regions == ()
        before = main.pictures.original.copy()
        assert _colour_share(before, (255, 255, 0)) == 0.0
        zoom_before = main.pictures.geometry.scale
        await pilot.press("j")
        await settle(pilot, app)
        n = len(case.sprites)
        assert len(main.view_options.regions) == n and main.view_options.region == 1
        # The selected sprite's box is drawn (yellow) and the view zoomed onto it.
        assert _colour_share(main.pictures.original, (255, 255, 0)) > 0
        assert main.pictures.geometry.scale < zoom_before
        x0, y0, x1, y1 = main.view_options.regions[0]
        g = main.pictures.geometry
        assert g.x0 <= x0 and x1 <= g.x0 + g.span[0] + 1 and g.y0 <= y0 and y1 <= g.y0 + g.span[1] + 1
        params = text_of(main.query_one("#params"))
        assert f"1/{n}" in params and "cell" in params
        assert any(f"1/{n}" in note for note in main.notices)
        await pilot.press("j")
        await settle(pilot, app)
        assert main.view_options.region == 2 and f"2/{n}" in text_of(main.query_one("#params"))
        await pilot.press("J", "J")
        await settle(pilot, app)
        assert main.view_options.region == n  # J from the first wraps to the last
        # s after j saves the sheet's whole set, as `perfecter reconstruct --sheet` writes it.
        await pilot.press("s")
        await settle(pilot, app)
        out = main.controller.settings.output_dir
        assert (out / "sheet.png").exists() and (out / "sheet_sheet.png").exists() and (out / "sheet_sheet.json").exists()
        assert sorted(p.name for p in (out / "sheet").glob("*.png")) == sorted(f"{i}.png" for i in range(1, n + 1))
        # Another image: the boxes go (they belonged to that sheet).
        await pilot.press("p")
        await settle(pilot, app)
        assert main.view_options.regions == () and "sprite" not in text_of(main.query_one("#params"))


# --------------------------------------------------------------------------- without Textual


def test_draw_regions_puts_each_box_where_its_source_pixels_are_shown() -> None:
    from pixelperfecter.tui import session as model

    rng = np.random.default_rng(0)
    for _ in range(20):
        w, h = int(rng.integers(50, 400)), int(rng.integers(50, 400))
        viewport = model.Viewport(float(rng.choice([1.0, 2.0, 4.0])), float(rng.uniform(0, w)), float(rng.uniform(0, h)))
        g = model.view_geometry(w, h, viewport, 120, 90)
        x0, y0 = int(rng.integers(0, w - 10)), int(rng.integers(0, h - 10))
        box = (x0, y0, x0 + int(rng.integers(5, 10)), y0 + int(rng.integers(5, 10)))
        picture = np.zeros((g.out_h, g.out_w, 3), np.uint8)
        drawn = model.draw_regions(picture, g, (box,), selected=1)
        marked = (drawn == model.REGION_SELECTED).all(axis=2)
        ys, xs = np.nonzero(marked)
        # Every marked display pixel shows a source pixel on the box's border band; nothing is
        # drawn when the box is out of view.
        for y, x in zip(ys, xs):
            sx, sy = g.cols[x], g.rows[y]
            assert box[0] - g.scale - 1 <= sx <= box[2] + g.scale and box[1] - g.scale - 1 <= sy <= box[3] + g.scale
        visible = g.cols[0] <= box[2] - 1 and box[0] <= g.cols[-1] and g.rows[0] <= box[3] - 1 and box[1] <= g.rows[-1]
        assert marked.any() == bool(visible)


def test_step_region_without_an_image_or_a_grid_says_so(workdir: Path) -> None:
    from pixelperfecter.tui.controller import Controller, Settings

    ctl = Controller(Settings(graphics=None, output_dir=workdir / "output"), lambda picture, key: None)
    notice = ctl.step_region(1)
    assert notice.severity == "warning" and "open" in notice.message
    assert ctl.view_options.regions == () and ctl.region_text() is None


async def test_j_finds_the_sprites_in_a_worker_thread_not_on_the_ui_thread(workdir: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import threading

    from pixelperfecter.core import sheet as core_sheet

    case = synth.make_sheet_case(3)
    path = workdir / "input" / "sheet.png"
    save_png(path, case.image, keep_alpha=False)
    threads = []
    real = core_sheet.reconstruct_sheet
    monkeypatch.setattr(core_sheet, "reconstruct_sheet", lambda *a, **k: threads.append(threading.current_thread()) or real(*a, **k))
    app = make_app(workdir, path)
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press("j")
        await settle(pilot, app)
        assert len(threads) == 1 and threads[0] is not threading.main_thread()
        assert app.main.view_options.region == 1
        await pilot.press("j")  # found once per attempt on screen
        await settle(pilot, app)
        assert len(threads) == 1 and app.main.view_options.region == 2


def test_sprites_found_for_an_attempt_no_longer_on_screen_are_dropped(workdir: Path) -> None:
    from pixelperfecter.core.sheet import reconstruct_sheet
    from pixelperfecter.tui.controller import Controller, Settings

    case = synth.make_sheet_case(3)
    path = workdir / "input" / "sheet.png"
    save_png(path, case.image, keep_alpha=False)
    from pixelperfecter.core.io import load_image
    from pixelperfecter.core.types import ReconstructParams
    from pixelperfecter.tui.session import ImageSession

    ctl = Controller(Settings(graphics=None, output_dir=workdir / "output"), lambda picture, key: None)
    session = ImageSession(path, load_image(path))
    ctl.session = session
    first = session.run(ReconstructParams())
    ctl.shown = first
    assert ctl.sheet_pending() is first
    sheet = reconstruct_sheet(first.result)
    m = first.result.metrics
    ctl.shown = session.run(ReconstructParams().with_overrides(cell_w=m.cell_w * 2, cell_h=m.cell_h * 2))
    assert not ctl.sheet_found(first, sheet) and ctl.sheet is None  # another attempt took the screen
    ctl.shown = first
    assert ctl.sheet_found(first, sheet) and ctl.sheet_pending() is None
    assert ctl.step_region(1).title == "Sprite sheet" and ctl.view_options.region == 1
