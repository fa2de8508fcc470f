"""`perfecter reconstruct --transparent auto|COLOR [--holes]`: outputs, JSON, metrics, usage errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from cli_helpers import blow_up
from PIL import Image

from pixelperfecter.core import synth

FORCE_8 = ("--cell-size", "8", "--offset", "0", "0")
BG = (40, 120, 200)


def write_subject(path: Path, seed: int = 0, hole: bool = False) -> tuple[np.ndarray, tuple[slice, slice]]:
    """A shaded subject (1-cell outline) on a flat background, exact 8 px cells; returns its
    mask and where the gap is: with ``hole``, a 2x2 gap of the background's colour at the
    first place where the 4x4 block around it is subject (so the gap is enclosed)."""
    rng = np.random.default_rng(seed)
    subject = synth.shaded_sprite(rng, 24, 20, transparent=True)
    fg = subject[..., 3] > 0
    sprite = np.zeros((20, 24, 4), np.uint8)
    sprite[..., :3] = BG
    sprite[..., 3] = 255
    sprite[fg] = subject[fg]
    y, x = next((y, x) for y in range(17) for x in range(21) if fg[y : y + 4, x : x + 4].all())
    gap = (slice(y + 1, y + 3), slice(x + 1, x + 3))
    if hole:
        sprite[gap[0], gap[1], :3] = BG
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(blow_up(sprite, 8)[..., :3], "RGB").save(path)
    return fg, gap


def test_transparent_auto_writes_rgba_and_reports_it(cli, tmp_path):
    fg, _ = write_subject(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    run = cli("reconstruct", tmp_path / "in", "--out", out, *FORCE_8, "--transparent", "auto", "--upscale", "2", "--json", "--workers", "1")
    assert run.exit_code == 0, run.stderr
    record = run.json_lines[0]
    assert record["metrics"]["background"] == "#2878c8"
    with Image.open(out / "a.png") as im:
        assert im.mode == "RGBA"
        alpha = np.asarray(im)[..., 3]
    # Every cell outside the subject that the border reaches is clear, the subject is opaque.
    assert (alpha[fg] == 255).all()
    assert record["metrics"]["transparent_cells"] == int((alpha == 0).sum()) > 0
    with Image.open(out / "a_x2.png") as im:
        assert im.mode == "RGBA" and (np.asarray(im)[..., 3] == 0).any()
    rows = pd.read_csv(out / "metrics.csv")
    assert rows["background"][0] == "#2878c8" and rows["transparent_cells"][0] == record["metrics"]["transparent_cells"]


def test_without_the_flag_nothing_changes(cli, tmp_path):
    write_subject(tmp_path / "in" / "a.png")
    run = cli("reconstruct", tmp_path / "in", "--out", tmp_path / "out", *FORCE_8, "--json", "--workers", "1")
    assert run.exit_code == 0, run.stderr
    assert "background" not in run.json_lines[0]["metrics"]
    with Image.open(tmp_path / "out" / "a.png") as im:
        assert im.mode == "RGB"
    rows = pd.read_csv(tmp_path / "out" / "metrics.csv", keep_default_na=False)
    assert rows["background"][0] == "" and rows["transparent_cells"][0] == ""


def test_colour_spec_and_holes(cli, tmp_path):
    _, gap = write_subject(tmp_path / "in" / "a.png", hole=True)
    plain = cli("reconstruct", tmp_path / "in", "--out", tmp_path / "plain", *FORCE_8, "--transparent", "40,120,200", "--json")
    holes = cli("reconstruct", tmp_path / "in", "--out", tmp_path / "holes", *FORCE_8, "--transparent", "#2878C8", "--holes", "--json")
    assert plain.exit_code == holes.exit_code == 0, plain.stderr + holes.stderr
    with Image.open(tmp_path / "plain" / "a.png") as a, Image.open(tmp_path / "holes" / "a.png") as b:
        assert (np.asarray(a)[gap][..., 3] == 255).all()
        assert (np.asarray(b)[gap][..., 3] == 0).all()
    assert holes.json_lines[0]["metrics"]["transparent_cells"] == plain.json_lines[0]["metrics"]["transparent_cells"] + 4


def test_full_bleed_image_is_refused_with_a_warning(cli, tmp_path):
    rng = np.random.default_rng(2)
    scene = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    (tmp_path / "in").mkdir()
    Image.fromarray(blow_up(scene, 8), "RGB").save(tmp_path / "in" / "scene.png")
    run = cli("reconstruct", tmp_path / "in", "--out", tmp_path / "out", *FORCE_8, "--transparent", "auto", "--json")
    assert run.exit_code == 0, run.stderr
    record = run.json_lines[0]
    assert record["metrics"]["background"] == "none" and record["metrics"]["transparent_cells"] == 0
    assert any(w.startswith("transparent: no dominant background") for w in record["warnings"])
    with Image.open(tmp_path / "out" / "scene.png") as im:
        assert im.mode == "RGB"



def test_a_colour_that_matches_no_border_cell_is_a_warning(cli, tmp_path):
    write_subject(tmp_path / "in" / "a.png")  # background (40, 120, 200)
    out = tmp_path / "out"
    run = cli("reconstruct", tmp_path / "in" / "a.png", "--out", out, *FORCE_8, "--transparent", "255,0,255", "--json")
    assert run.exit_code == 0, run.stderr
    record = run.json_lines[0]
    assert record["metrics"]["transparent_cells"] == 0 and record["metrics"]["background"] == "none"
    assert "--transparent #ff00ff: no border cell is near this colour; nothing removed" in record["warnings"]
    with Image.open(out / "a.png") as im:
        assert im.mode == "RGB"  # nothing was removed: the output stays as the input
    human = cli("reconstruct", tmp_path / "in" / "a.png", "--out", tmp_path / "o2", *FORCE_8, "--transparent", "255,0,255")
    assert f"warning: {tmp_path / 'in' / 'a.png'}: --transparent #ff00ff: no border cell is near this colour; nothing removed" in human.stderr.splitlines()

def test_bad_colour_and_holes_alone_are_usage_errors(cli, tmp_path):
    write_subject(tmp_path / "a.png")
    bad = cli("reconstruct", tmp_path / "a.png", "--out", tmp_path / "out", "--transparent", "blue")
    assert bad.exit_code == 2 and "expected auto, #rrggbb" in bad.stderr
    alone = cli("reconstruct", tmp_path / "a.png", "--out", tmp_path / "out", "--holes")
    assert alone.exit_code == 2 and "needs --transparent" in alone.stderr
    assert not (tmp_path / "out").exists()
