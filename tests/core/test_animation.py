"""Animations: loading every frame, one grid and palette across frames, writing them back."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from pixelperfecter.core import synth
from pixelperfecter.core.animation import default_formats, frame_names, reconstruct_animation, reconstruct_loaded, sheet
from pixelperfecter.core.io import ImageLoadError, gif_limits, load_animation, load_frame_folder, save_animation
from pixelperfecter.core.pipeline import reconstruct


def _restored(pred: np.ndarray | None, truth: np.ndarray) -> bool:
    return synth.score_restoration(pred, truth).restored


def _save_pillow(path, frames, durations, fmt, loop=0):
    images = [Image.fromarray(f) for f in frames]
    extra = {"lossless": True} if fmt == "WEBP" else {}
    images[0].save(path, format=fmt, save_all=True, append_images=images[1:], duration=durations, loop=loop, **extra)


# --------------------------------------------------------------------------- synthetic truth


@pytest.mark.parametrize("seed", range(3))
def test_synthetic_animation_shares_one_grid_and_noise_differs(seed):
    anim = synth.make_animation(seed, "bob", 6)
    first = anim.frames[0]
    for frame in anim.frames[1:]:
        assert np.array_equal(frame.xs, first.xs) and np.array_equal(frame.ys, first.ys)
        assert frame.truth.shape == first.truth.shape
    # Independent noise: two frames with the same truth cell still differ pixel by pixel.
    assert not np.array_equal(anim.images[0], anim.images[1])
    assert len(anim.durations_ms) == 6 and all(d > 0 for d in anim.durations_ms)


@pytest.mark.parametrize("seed", range(3))
def test_bob_animation_restores_every_frame(seed):
    anim = synth.make_animation(seed, "bob", 6, tier="drift")
    rec = reconstruct_animation(anim.images, durations_ms=anim.durations_ms)
    assert rec.ok and len(rec.frames) == 6
    assert all(_restored(s, t) for s, t in zip(rec.sprites, anim.truths))
    assert rec.durations_ms == anim.durations_ms
    assert len(rec.frame_diff_pct) == 6 and rec.metrics is not None
    # One grid: every frame's reconstruction carries the same detection.
    assert all(f.grid is rec.grid for f in rec.frames)


@pytest.mark.parametrize("seed,tier", [(s, "ai") for s in range(4)] + [(0, "drift"), (4, "drift")])
def test_joint_grid_is_right_where_a_frame_alone_is_ambiguous(seed, tier):
    """Art in 2x2-cell blocks scrolling by one cell: each frame alone reads as cells twice as
    large (and is restored by no single-frame run); the frames together give the true pitch."""
    anim = synth.make_animation(seed, "chunky", 6, tier=tier)
    alone = [reconstruct(img).sprite for img in anim.images]
    assert not any(_restored(s, t) for s, t in zip(alone, anim.truths))
    rec = reconstruct_animation(anim.images)
    assert rec.grid is not None
    assert rec.grid.cell_w == pytest.approx(anim.frames[0].cell_w, rel=0.03)
    assert all(_restored(s, t) for s, t in zip(rec.sprites, anim.truths))


def test_joint_pitch_overrules_a_coarse_grid_read_on_one_frame():
    """ai seed 2: the key frame's regional vote reads x at twice the pitch; all frames disagree."""
    anim = synth.make_animation(2, "chunky", 6)
    rec = reconstruct_animation(anim.images)
    assert rec.grid is not None and rec.grid.cell_w == pytest.approx(anim.frames[0].cell_w, rel=0.03)
    assert any("joint pitch" in w for w in rec.warnings)


def test_one_palette_across_frames():
    anim = synth.make_animation(2, "bob", 6)
    rec = reconstruct_animation(anim.images)
    # A colour the truth uses in every frame comes out as one value: the background cell.
    corners = {tuple(s[0, 0]) for s in rec.sprites}
    assert len(corners) == 1


def test_frames_must_agree():
    a = np.zeros((16, 16, 4), np.uint8)
    with pytest.raises(ValueError, match="differ in size"):
        reconstruct_animation([a, np.zeros((16, 17, 4), np.uint8)])
    with pytest.raises(ValueError, match="durations"):
        reconstruct_animation([a, a], durations_ms=[100])


# --------------------------------------------------------------------------- loading


@pytest.mark.parametrize("fmt,suffix", [("GIF", "gif"), ("WEBP", "webp"), ("PNG", "png")])
def test_load_animation_gives_every_frame_and_duration(tmp_path, fmt, suffix):
    anim = synth.make_animation(0, "bob", 5, tier="clean")
    frames = [f[..., :3].copy() for f in anim.images]
    frames = [np.ascontiguousarray(np.dstack([f, np.full(f.shape[:2], 255, np.uint8)])) for f in frames]
    durations = [60, 80, 100, 120, 150]
    path = tmp_path / f"walk.{suffix}"
    _save_pillow(path, frames, durations, fmt, loop=3)
    loaded = load_animation(path)
    assert len(loaded.frames) == 5 and loaded.durations_ms == durations and loaded.loop == 3
    assert loaded.source_format == fmt
    if fmt != "GIF":  # GIF quantises to 256 colours
        assert all(np.array_equal(a, b) for a, b in zip(loaded.frames, frames))


def test_load_animation_bomb_guard_counts_all_frames(tmp_path):
    frames = [np.full((40, 40, 4), (i * 40, 0, 0, 255), np.uint8) for i in range(5)]
    path = tmp_path / "many.gif"
    _save_pillow(path, frames, [100] * 5, "GIF")
    with pytest.raises(ImageLoadError, match="animation too large"):
        load_animation(path, max_pixels=40 * 40 * 4)
    assert len(load_animation(path, max_pixels=40 * 40 * 5).frames) == 5


def test_frame_folder_natural_order_and_size_check(tmp_path):
    for i in (10, 2, 1):
        Image.fromarray(np.full((8, 8, 3), i * 20, np.uint8)).save(tmp_path / f"f{i}.png")
    (tmp_path / ".hidden.png").write_bytes(b"x")
    loaded = load_frame_folder(tmp_path)
    assert [int(f[0, 0, 0]) for f in loaded.frames] == [20, 40, 200]
    assert loaded.loop == 0 and loaded.source_format == "frames"
    Image.fromarray(np.zeros((9, 8, 3), np.uint8)).save(tmp_path / "f11.png")
    with pytest.raises(ImageLoadError, match="f11.png is 8x9.*same size"):
        load_frame_folder(tmp_path)


def test_empty_frame_folder_is_an_error(tmp_path):
    with pytest.raises(ImageLoadError, match="no image frames"):
        load_frame_folder(tmp_path)


# --------------------------------------------------------------------------- writing


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_written_animation_round_trips_frames_durations_and_loop(tmp_path, fmt):
    anim = synth.make_animation(1, "bob", 6, tier="clean")
    rec = reconstruct_animation(anim.images, durations_ms=anim.durations_ms, loop=0)
    assert rec.metrics is not None and rec.metrics.n_colors < 256  # so the GIF is exact too
    path = save_animation(tmp_path / f"a.{fmt}", rec.sprites, rec.durations_ms, rec.loop, fmt)
    back = load_animation(path)
    assert len(back.frames) == 6
    # GIF stores durations in 10 ms steps; the synthetic durations are multiples of 10.
    assert back.durations_ms == rec.durations_ms and back.loop == 0
    assert all(np.array_equal(a, b) for a, b in zip(back.frames, rec.sprites))


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_written_animation_keeps_held_frames(tmp_path, fmt):
    """A frame identical to the one before it (a held pose) is its own frame in the GIF and
    WebP, as in the PNG folder and the sheet: Pillow and libwebp would merge it away."""
    a = np.zeros((8, 6, 4), np.uint8)
    a[2:5, 1:4] = (200, 30, 40, 255)
    b = a.copy()
    b[6, 5] = (10, 220, 30, 255)
    frames, durations = [a, a.copy(), b, b.copy(), b.copy()], [100, 100, 100, 50, 70]
    back = load_animation(save_animation(tmp_path / f"h.{fmt}", frames, durations, 0, fmt))
    assert len(back.frames) == 5 and back.durations_ms == durations and back.loop == 0
    assert all(np.array_equal(x[..., 3], y[..., 3]) for x, y in zip(back.frames, frames))
    assert all(np.array_equal(x[x[..., 3] > 0], y[y[..., 3] > 0]) for x, y in zip(back.frames, frames))


@pytest.mark.parametrize("loop", [None, 3])
def test_written_webp_and_gif_keep_loop_and_partial_alpha_in_webp(tmp_path, loop):
    frames = [np.full((5, 7, 4), (90, 100, 110, 255), np.uint8) for _ in range(2)]
    frames[1][1:3, 1:3] = (10, 20, 30, 120)
    webp = load_animation(save_animation(tmp_path / "p.webp", frames, [40, 60], loop, "webp"))
    assert webp.loop == (1 if loop is None else loop) and webp.has_alpha
    assert all(np.array_equal(x, y) for x, y in zip(webp.frames, frames))
    gif = load_animation(save_animation(tmp_path / "p.gif", frames, [40, 60], loop, "gif"))
    assert gif.loop == loop and gif.durations_ms == [40, 60]


def test_gif_of_many_colours_is_quantised_close(tmp_path):
    anim = synth.make_animation(1, "bob", 4)
    rec = reconstruct_animation(anim.images)
    assert rec.metrics is not None and rec.metrics.n_colors > 256
    back = load_animation(save_animation(tmp_path / "q.gif", rec.sprites, rec.durations_ms, 0, "gif"))
    for a, b in zip(back.frames, rec.sprites):
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 4


def test_gif_keeps_binary_transparency(tmp_path):
    frames = [np.zeros((6, 6, 4), np.uint8) for _ in range(2)]
    frames[0][1:3, 1:3] = (200, 10, 10, 255)
    frames[1][3:5, 3:5] = (10, 200, 10, 255)
    back = load_animation(save_animation(tmp_path / "t.gif", frames, [100, 200], None, "gif"))
    assert back.loop is None and back.has_alpha
    for a, b in zip(back.frames, frames):
        assert np.array_equal(a[..., 3], b[..., 3]) and np.array_equal(a[a[..., 3] > 0], b[b[..., 3] > 0])


def test_sheet_and_json_carry_each_frame_and_duration():
    sprites = [np.full((4, 3, 4), i, np.uint8) for i in range(3)]
    picture, doc = sheet(sprites, [50, 60, 70], "walk_sheet.png")
    assert picture.shape == (4, 9, 4)
    frames = doc["frames"]
    assert [frames[n.removesuffix(".png")]["duration"] for n in frame_names(3)] == [50, 60, 70]
    assert frames["2"]["frame"] == {"x": 6, "y": 0, "w": 3, "h": 4}
    assert json.loads(json.dumps(doc))["meta"]["image"] == "walk_sheet.png"


def test_default_formats_follow_the_input():
    assert default_formats("GIF") == ("gif",)
    assert default_formats("WEBP") == ("webp",)
    assert default_formats("PNG") == ("webp",)
    assert default_formats("frames") == ("gif", "webp")


def test_reconstruct_loaded_passes_load_warnings(tmp_path):
    anim = synth.make_animation(0, "bob", 4)
    for i, img in enumerate(anim.images):
        Image.fromarray(img).save(tmp_path / f"{i}.png")
    loaded = load_frame_folder(tmp_path, frame_ms=40)
    loaded.warnings.append("note")
    rec = reconstruct_loaded(loaded)
    assert rec.warnings[0] == "note" and rec.durations_ms == [40] * 4
    assert rec.metrics is not None and "note" in rec.metrics.warnings


def test_gif_limits_names_quantised_colours_and_flattened_alpha():
    few = [np.zeros((4, 4, 4), np.uint8) for _ in range(2)]
    few[0][1, 1] = (200, 10, 10, 255)
    assert gif_limits(few) == []  # 2 colours, alpha on/off: the GIF is exact
    soft = [f.copy() for f in few]
    soft[1][2, 2] = (10, 200, 10, 128)
    assert gif_limits(soft) == ["partial alpha of 1 pixels made on/off (GIF transparency is binary)"]
    grid = np.arange(300 * 3).reshape(300, 1, 3) % 256
    many = [np.dstack([grid.astype(np.uint8), np.full((300, 1), 255, np.uint8)])]
    many[0][:, 0, 0] = np.arange(300) % 256
    many[0][:, 0, 1] = np.arange(300) // 256
    assert gif_limits(many) == ["300 colours quantised to 255 (a GIF palette holds 255 and transparency)"]


def test_gif_of_256_opaque_colours_is_quantised_not_wrapped(tmp_path):
    # 256 colours and no transparency: index 0 is kept for transparency, so one colour too
    # many for an exact palette; before, colour 256 wrapped to index 0 and became transparent.
    values = np.arange(256)
    frame = np.dstack([values.reshape(16, 16), (values * 7 % 256).reshape(16, 16), np.zeros((16, 16)), np.full((16, 16), 255)])
    frame = frame.astype(np.uint8)
    assert gif_limits([frame]) == ["256 colours quantised to 255 (a GIF palette holds 255 and transparency)"]
    back = load_animation(save_animation(tmp_path / "w.gif", [frame, frame], [100, 100], 0, "gif"))
    assert all((f[..., 3] == 255).all() for f in back.frames)
