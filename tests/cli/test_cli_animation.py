"""`perfecter reconstruct --animate / --frames`: animations in, animations + frames + sheet out."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from cli_helpers import no_tmp_leftovers, write_clean_png
from PIL import Image

from pixelperfecter.core import synth
from pixelperfecter.core.io import load_animation


def _write(path, anim, fmt):
    images = [Image.fromarray(f[..., :3]) for f in anim.images]
    extra = {"lossless": True} if fmt == "WEBP" else {}
    images[0].save(path, format=fmt, save_all=True, append_images=images[1:], duration=anim.durations_ms, loop=0, **extra)


@pytest.fixture(scope="module")
def bob():
    return synth.make_animation(1, "bob", 6, tier="clean")


@pytest.mark.parametrize("fmt,suffix,container", [("GIF", "gif", "gif"), ("WEBP", "webp", "webp"), ("PNG", "png", "webp")])
def test_animate_writes_animation_frames_and_sheet(cli, tmp_path, bob, fmt, suffix, container):
    src = tmp_path / f"bob.{suffix}"
    _write(src, bob, fmt)
    out = tmp_path / "out"
    run = cli("reconstruct", src, "--animate", "--out", out, "--json")
    assert run.exit_code == 0, run.stderr
    (record,) = run.json_lines
    anim = record["animation"]
    assert anim["frames"] == 6 and anim["durations_ms"] == bob.durations_ms and anim["loop"] == 0
    assert len(anim["frame_diff_pct"]) == 6
    outputs = record["outputs"]
    assert set(outputs) == {container, "frames", "sheet", "sheet_json"}
    assert outputs[container] == str(out / f"bob.{container}") and outputs["sheet"] == str(out / "bob_sheet.png")
    back = load_animation(outputs[container])
    assert back.durations_ms == bob.durations_ms and len(back.frames) == 6
    frames = [np.asarray(Image.open(out / "bob" / f"{i}.png").convert("RGBA")) for i in range(6)]
    assert all(synth.score_restoration(f, t).restored for f, t in zip(frames, bob.truths))
    assert all(np.array_equal(a, b) for a, b in zip(back.frames, frames))
    doc = json.loads((out / "bob_sheet.json").read_text())
    assert [doc["frames"][str(i)]["duration"] for i in range(6)] == bob.durations_ms
    sheet = np.asarray(Image.open(out / "bob_sheet.png").convert("RGBA"))
    h, w = frames[0].shape[:2]
    assert sheet.shape[:2] == (h, 6 * w) and np.array_equal(sheet[:, 2 * w : 3 * w], frames[2])
    assert not no_tmp_leftovers(out)
    row = next(csv.DictReader((out / "metrics.csv").open()))
    assert row["warnings"].startswith("animation: 6 frames") and row["output"].endswith("bob_sheet.png")


def test_frames_folder_is_one_animation_with_both_containers(cli, tmp_path, bob):
    folder = tmp_path / "walk"
    folder.mkdir()
    for i, img in enumerate(bob.images):
        Image.fromarray(img).save(folder / f"frame{i + 1}.png")  # frame10 would sort after frame9
    out = tmp_path / "out"
    run = cli("reconstruct", folder, "--frames", "--out", out, "--json")
    assert run.exit_code == 0, run.stderr
    (record,) = run.json_lines
    assert record["animation"]["frames"] == 6 and record["animation"]["source_format"] == "frames"
    assert {"gif", "webp"} <= set(record["outputs"])
    assert (out / "walk.gif").is_file() and (out / "walk.webp").is_file() and (out / "walk" / "5.png").is_file()


def test_frames_of_different_sizes_is_a_clear_error(cli, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(folder / "a1.png")
    Image.fromarray(np.zeros((16, 20, 3), np.uint8)).save(folder / "a2.png")
    run = cli("reconstruct", folder, "--frames", "--out", tmp_path / "out")
    assert run.exit_code == 1
    assert run.error_lines == [f"error: {folder}: frame a2.png is 20x16, the first frame (a1.png) is 16x16; all frames must be the same size"]
    assert not (tmp_path / "out" / "bad").exists()


def test_anim_format_both_and_rerun_replaces_the_frames_folder(cli, tmp_path, bob):
    src = tmp_path / "bob.gif"
    _write(src, bob, "GIF")
    out = tmp_path / "out"
    (out / "bob").mkdir(parents=True)
    (out / "bob" / "stale.png").write_bytes(b"old")
    run = cli("reconstruct", src, "--animate", "--anim-format", "both", "--out", out, "--json")
    assert run.exit_code == 0, run.stderr
    assert {"gif", "webp"} <= set(run.json_lines[0]["outputs"])
    assert sorted(p.name for p in (out / "bob").iterdir()) == [f"{i}.png" for i in range(6)]


def test_without_animate_an_animated_gif_is_still_its_first_frame(cli, tmp_path, bob):
    src = tmp_path / "bob.gif"
    _write(src, bob, "GIF")
    run = cli("reconstruct", src, "--out", tmp_path / "out", "--json")
    (record,) = run.json_lines
    assert "animation" not in record and set(record["outputs"]) == {"sprite"}
    assert any("first frame" in w and "--animate" in w for w in record["warnings"])


def test_still_image_with_animate_is_unchanged(cli, tmp_path, bob):
    src = tmp_path / "still.png"
    Image.fromarray(bob.images[0]).save(src)
    plain = cli("reconstruct", src, "--out", tmp_path / "a", "--json").json_lines[0]
    animated = cli("reconstruct", src, "--animate", "--out", tmp_path / "b", "--json").json_lines[0]
    assert "animation" not in animated and set(animated["outputs"]) == {"sprite"}
    assert (tmp_path / "a" / "still.png").read_bytes() == (tmp_path / "b" / "still.png").read_bytes()
    assert plain["grid"] == animated["grid"]


def test_bad_anim_format_is_refused(cli, tmp_path):
    run = cli("reconstruct", tmp_path, "--animate", "--anim-format", "mp4")
    assert run.exit_code == 2 and "expected one of gif, webp, both" in run.stderr


def test_resume_skips_a_finished_animation_and_redoes_one_missing_its_frames(cli, tmp_path, bob):
    src = tmp_path / "bob.gif"
    _write(src, bob, "GIF")
    out = tmp_path / "out"
    assert cli("reconstruct", src, "--animate", "--out", out).exit_code == 0
    again = cli("reconstruct", src, "--animate", "--out", out, "--resume", "--json")
    assert [r["status"] for r in again.json_lines] == ["skipped"]
    for f in (out / "bob").iterdir():
        f.unlink()
    (out / "bob").rmdir()
    redo = cli("reconstruct", src, "--animate", "--out", out, "--resume", "--json")
    assert [r["status"] for r in redo.json_lines] == ["ok"] and (out / "bob" / "0.png").is_file()


def test_staged_animation_set_is_all_or_nothing(tmp_path, bob):
    from pixelperfecter.core.animation import reconstruct_animation
    from pixelperfecter.outputset import commit, discard, stage_animation, sweep_temps

    rec = reconstruct_animation(bob.images, durations_ms=bob.durations_ms)
    staged = stage_animation(rec, tmp_path, "walk", ("gif", "webp"), "pptest")
    assert {s.kind for s in staged} == {"gif", "webp", "frames", "sheet", "sheet_json"}
    assert not (tmp_path / "walk").exists() and not (tmp_path / "walk.gif").exists()  # nothing final yet
    discard(staged)
    assert list(tmp_path.iterdir()) == []
    # A killed run leaves its staged folder: the sweep removes it with the files.
    stage_animation(rec, tmp_path, "walk", ("gif",), "pptest")
    assert sweep_temps(tmp_path, "pptest") and list(tmp_path.iterdir()) == []
    done = commit(stage_animation(rec, tmp_path, "walk", ("gif",), "pptest"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk", "walk.gif", "walk_sheet.json", "walk_sheet.png"]
    assert done["frames"] == str(tmp_path / "walk")


def test_animation_with_palette_and_transparency_shares_them_across_frames(cli, tmp_path, bob):
    # The colour steps of the other features run over all frames together: one background
    # removed in every frame (outputs keep alpha), one palette of at most 6 colours for all.
    src = tmp_path / "bob.gif"
    _write(src, bob, "GIF")
    out = tmp_path / "out"
    run = cli("reconstruct", src, "--animate", "--transparent", "auto", "--colors", "6", "--sheet", "--out", out, "--json")
    assert run.exit_code == 0, run.stderr
    (record,) = run.json_lines
    metrics = record["metrics"]
    assert metrics["palette"]["source"] == "max 6" and metrics["palette"]["size"] <= 6
    assert metrics["background"].startswith("#") and metrics["transparent_cells"] > 0
    assert any("--sheet is not applied to animations" in w for w in record["warnings"])
    frames = [np.asarray(Image.open(out / "bob" / f"{i}.png").convert("RGBA")) for i in range(6)]
    colours = {tuple(c) for f in frames for c in f[f[..., 3] > 0][:, :3]}
    assert len(colours) <= 6
    assert all((f[..., 3] == 0).any() and (f[..., 3] == 255).any() for f in frames)
    # The truth background is one flat colour: removed exactly where the truth has it.
    for f, t in zip(frames, bob.truths):
        truth_bg = np.all(t[..., :3] == t[0, 0, :3], axis=-1)
        assert np.mean((f[..., 3] == 0) == truth_bg) > 0.97
    back = load_animation(out / "bob.gif")
    assert back.has_alpha


def test_shared_palette_takes_the_colours_of_a_frames_folder(cli, tmp_path, bob):
    # A folder of frames (--frames) is an image of the batch like any other: its frames give the
    # shared palette their colours, so they are not forced onto the other images' colours.
    folder = tmp_path / "walk"
    folder.mkdir()
    for i, img in enumerate(bob.images):
        Image.fromarray(img).save(folder / f"{i}.png")
    alone = cli("reconstruct", folder, "--frames", "--shared-palette", "--out", tmp_path / "alone", "--json")
    assert alone.exit_code == 0, alone.stderr
    (record,) = alone.json_lines
    assert record["metrics"]["palette"]["source"] == "shared"
    write_clean_png(tmp_path / "still.png", seed=7)
    out = tmp_path / "out"
    run = cli("reconstruct", folder, tmp_path / "still.png", "--frames", "--shared-palette", "--save-palette",
              tmp_path / "mix.hex", "--out", out, "--json")
    assert run.exit_code == 0, run.stderr
    from pixelperfecter.core.palette_files import read_palette

    saved = set(read_palette(tmp_path / "mix.hex").as_tuple())
    frames = [np.asarray(Image.open(out / "walk" / f"{i}.png").convert("RGBA")) for i in range(6)]
    written = {tuple(int(v) for v in c) for f in frames for c in f[f[..., 3] > 0][:, :3]}
    assert written <= saved
    assert all(synth.score_restoration(f, t).restored for f, t in zip(frames, bob.truths))


def test_held_frames_survive_in_gif_and_webp(cli, tmp_path, bob):
    # f2 is a copy of f1 (a held pose): every output has 3 frames of 100 ms, not 2 of 200/100.
    folder = tmp_path / "dup"
    folder.mkdir()
    for name, img in (("f1", bob.images[0]), ("f2", bob.images[0]), ("f3", bob.images[1])):
        Image.fromarray(img).save(folder / f"{name}.png")
    out = tmp_path / "out"
    run = cli("reconstruct", folder, "--frames", "--out", out, "--json")
    assert run.exit_code == 0, run.stderr
    (record,) = run.json_lines
    assert record["animation"]["frames"] == 3 and record["animation"]["durations_ms"] == [100, 100, 100]
    for fmt in ("gif", "webp"):
        back = load_animation(out / f"dup.{fmt}")
        assert len(back.frames) == 3 and back.durations_ms == [100, 100, 100], fmt
    assert len(json.loads((out / "dup_sheet.json").read_text())["frames"]) == 3


def test_gif_that_is_not_exact_is_warned_about(cli, tmp_path, bob):
    many = synth.make_animation(1, "bob", 4)  # generated tier: over 256 colours after reconstruction
    src = tmp_path / "many.webp"
    _write(src, many, "WEBP")
    run = cli("reconstruct", src, "--animate", "--anim-format", "both", "--out", tmp_path / "out", "--json")
    assert run.exit_code == 0, run.stderr
    (record,) = run.json_lines
    assert record["metrics"]["n_colors"] > 256
    (warning,) = [w for w in record["warnings"] if "GIF is not exact" in w]
    assert f"{record['metrics']['n_colors']} colours quantised to 255" in warning
    human = cli("reconstruct", src, "--animate", "--anim-format", "both", "--out", tmp_path / "out2")
    assert [line for line in human.stderr.splitlines() if "GIF is not exact" in line] == [f"warning: {src}: {warning}"]
    # WebP only, or a GIF of few colours and binary alpha: nothing to warn about.
    webp = cli("reconstruct", src, "--animate", "--out", tmp_path / "out3", "--json").json_lines[0]
    assert not any("GIF is not exact" in w for w in webp["warnings"])
    clean = tmp_path / "clean.gif"
    _write(clean, bob, "GIF")
    exact = cli("reconstruct", clean, "--animate", "--out", tmp_path / "out4", "--json").json_lines[0]
    assert not any("GIF is not exact" in w for w in exact["warnings"])


def _frames_folder(folder, anim):
    folder.mkdir(parents=True)
    for i, img in enumerate(anim.images):
        Image.fromarray(img).save(folder / f"f{i}.png")
    return folder


def test_resume_redoes_an_animation_missing_one_frame(cli, tmp_path, bob):
    # The manifest lists every frame file, not only the folder: one frame gone means redo.
    src = tmp_path / "bob.gif"
    _write(src, bob, "GIF")
    out = tmp_path / "out"
    args = ("reconstruct", src, "--animate", "--anim-format", "both", "--out", out)
    assert cli(*args).exit_code == 0
    (out / "bob" / "3.png").unlink()
    redo = cli(*args, "--resume", "--json")
    assert [r["status"] for r in redo.json_lines] == ["ok"], redo.stderr
    assert sorted(p.name for p in (out / "bob").iterdir()) == [f"{i}.png" for i in range(6)]
    again = cli(*args, "--resume", "--json")
    assert [r["status"] for r in again.json_lines] == ["skipped"]


def test_frames_folders_keep_argument_order(cli, tmp_path, bob):
    # Results, JSON lines and metrics rows come in input order, folders of frames included.
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_clean_png(a, seed=1)
    write_clean_png(b, seed=2)
    folder = _frames_folder(tmp_path / "walk", bob)
    out = tmp_path / "out"
    run = cli("reconstruct", a, folder, b, "--frames", "-j", "1", "--out", out, "--json")
    assert run.exit_code == 0, run.stderr
    names = [str(tmp_path / n) for n in ("a.png", "walk", "b.png")]
    assert [r["image"] for r in run.json_lines] == names
    with open(out / "metrics.csv", newline="") as fh:
        assert [row["image"] for row in csv.DictReader(fh)] == names


def test_resume_skips_an_unchanged_frames_folder_and_redoes_a_changed_one(cli, tmp_path, bob):
    # A folder of frames has an input stamp (its frames' names, sizes and contents): --resume
    # skips it like a file, with no second metrics row, and redoes it once a frame changes.
    folder = _frames_folder(tmp_path / "walk", bob)
    out = tmp_path / "out"
    args = ("reconstruct", folder, "--frames", "--out", out)
    assert cli(*args).exit_code == 0
    again = cli(*args, "--resume", "--json")
    assert [r["status"] for r in again.json_lines] == ["skipped"], again.stderr
    with open(out / "metrics.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 1
    Image.fromarray(bob.images[0]).save(folder / "f5.png")  # same name, other content
    redo = cli(*args, "--resume", "--json")
    assert [r["status"] for r in redo.json_lines] == ["ok"]
    (folder / "f5.png").rename(folder / "f9.png")  # same content, other name (and order)
    redo = cli(*args, "--resume", "--json")
    assert [r["status"] for r in redo.json_lines] == ["ok"]
    assert [r["status"] for r in cli(*args, "--resume", "--json").json_lines] == ["skipped"]


def test_frames_recursive_takes_each_subfolder_of_frames_as_one_animation(cli, tmp_path, bob):
    root = tmp_path / "anims"
    _frames_folder(root / "walk", bob)
    _frames_folder(root / "more" / "run", bob)
    (root / "more" / "notes.txt").write_text("not a frame")
    out = root / "out"  # inside the walked folder: never taken as input
    run = cli("reconstruct", root, "--frames", "-r", "--out", out, "--json")
    assert run.exit_code == 0, run.stderr
    assert [r["image"] for r in run.json_lines] == [str(root / "more" / "run"), str(root / "walk")]
    assert all(r["animation"]["frames"] == 6 for r in run.json_lines)
    # Again (the output folder now holds frames folders of its own): the same two, no more.
    again = cli("reconstruct", root, "--frames", "-r", "--out", out, "--json")
    assert [r["image"] for r in again.json_lines] == [str(root / "more" / "run"), str(root / "walk")]
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    none = cli("reconstruct", empty, "--frames", "-r", "--out", tmp_path / "o2")
    assert none.exit_code == 1 and none.error_lines == [f"error: {empty}: no image frames in this folder or its subfolders"]


def test_frames_without_recursive_on_a_folder_of_subfolders_says_how(cli, tmp_path, bob):
    root = tmp_path / "anims"
    _frames_folder(root / "walk", bob)
    run = cli("reconstruct", root, "--frames", "--out", tmp_path / "out")
    assert run.exit_code == 1
    assert run.error_lines == [f"error: {root}: no image frames in folder (it has subfolders: with --recursive each subfolder of frames is one animation)"]


def test_frames_with_files_reads_animated_ones_as_animations_and_warns_on_anim_format_for_stills(cli, tmp_path, bob):
    # --frames implies --animate: an animated file argument is an animation, a still one a still.
    gif, still = tmp_path / "bob.gif", tmp_path / "still.png"
    _write(gif, bob, "GIF")
    Image.fromarray(bob.images[0]).save(still)
    run = cli("reconstruct", gif, still, "--frames", "--anim-format", "webp", "--out", tmp_path / "out", "--json")
    assert run.exit_code == 0, run.stderr
    anim, plain = run.json_lines
    assert anim["animation"]["frames"] == 6 and set(anim["outputs"]) == {"webp", "frames", "sheet", "sheet_json"}
    assert "animation" not in plain and set(plain["outputs"]) == {"sprite"}
    assert plain["warnings"] == ["--anim-format webp applies to animations only; this image is written as a still PNG"]
    assert not any("--anim-format" in w for w in anim["warnings"])
    assert f"warning: {still}: --anim-format webp applies to animations only; this image is written as a still PNG" in run.stderr


def test_resume_redoes_an_animation_recorded_without_its_frame_files(cli, tmp_path, bob):
    # A manifest line from before frame files were listed cannot vouch for its folder: redone.
    src = tmp_path / "bob.gif"
    _write(src, bob, "GIF")
    out = tmp_path / "out"
    assert cli("reconstruct", src, "--animate", "--out", out).exit_code == 0
    lines = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert lines[0]["files"] == [str(out / "bob" / f"{i}.png") for i in range(6)]
    del lines[0]["files"]
    (out / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    redo = cli("reconstruct", src, "--animate", "--out", out, "--resume", "--json")
    assert [r["status"] for r in redo.json_lines] == ["ok"]
