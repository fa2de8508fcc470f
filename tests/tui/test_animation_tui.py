"""Pilot: an animated image opens as one joint reconstruction; m / M step through its frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pixelperfecter.core import synth

from .conftest import TERMINAL, make_app, text_of
from .test_app import notes_of, settle


def _write_gif(path: Path) -> synth.SynthAnimation:
    anim = synth.make_animation(0, "bob", 4, tier="clean", size=(160, 160))
    images = [Image.fromarray(f[..., :3]) for f in anim.images]
    images[0].save(path, save_all=True, append_images=images[1:], duration=anim.durations_ms, loop=0)
    return anim


async def test_m_and_shift_m_step_frames_of_the_joint_reconstruction(workdir: Path) -> None:
    path = workdir / "input" / "bob.gif"
    anim = _write_gif(path)
    app = make_app(workdir, path)
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        main = app.main
        session = main.controller.session
        assert session.n_frames == 4 and "frame 1/4" in text_of(main.query_one("#metrics"))
        joint = session.joint(main.shown.params)
        assert joint is not None and joint.ok
        first_original = main.controller.frame.panes[0].picture.copy()
        grid = main.shown.result.grid
        await pilot.press("m")
        await settle(pilot, app)
        assert session.frame_index == 1 and "frame 2/4" in text_of(main.query_one("#metrics"))
        # Same joint grid, the chosen frame's sprite and picture.
        assert main.shown.result.grid is grid
        assert np.array_equal(main.shown.result.sprite, joint.frames[1].sprite)
        assert synth.score_restoration(main.shown.result.sprite, anim.truths[1]).restored
        assert not np.array_equal(main.controller.frame.panes[0].picture, first_original)
        await pilot.press("M", "M")
        await settle(pilot, app)
        assert session.frame_index == 3 and "frame 4/4" in text_of(main.query_one("#metrics"))
        assert np.array_equal(main.shown.result.sprite, joint.frames[3].sprite)


async def test_m_on_a_still_image_says_so(workdir: Path) -> None:
    app = make_app(workdir, workdir / "input" / "a_knight.png")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press("m")
        await settle(pilot, app)
        assert any("not an animation" in n for n in notes_of(app))
        assert "frame" not in text_of(app.main.query_one("#metrics"))


async def test_save_writes_the_animation_set(workdir: Path) -> None:
    path = workdir / "input" / "bob.gif"
    anim = _write_gif(path)
    app = make_app(workdir, path)
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await pilot.press("m", "s")
        await settle(pilot, app)
        out = workdir / "output"
        assert (out / "bob.gif").is_file() and (out / "bob_sheet.png").is_file() and (out / "bob_sheet.json").is_file()
        frames = sorted(p.name for p in (out / "bob").iterdir())
        assert frames == [f"{i}.png" for i in range(4)]
        back = np.asarray(Image.open(out / "bob" / "1.png").convert("RGBA"))
        assert synth.score_restoration(back, anim.truths[1]).restored
        assert "animation: 4 frames" in (out / "metrics.csv").read_text()
