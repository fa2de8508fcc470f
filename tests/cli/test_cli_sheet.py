"""`perfecter reconstruct --sheet`: per-sprite files, the re-assembled sheet and its json-hash."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import no_tmp_leftovers
from PIL import Image

from pixelperfecter import outputset
from pixelperfecter.core import synth
from pixelperfecter.core.io import save_png
from pixelperfecter.core.palette_files import read_palette


def _sheet(path: Path, seed: int, per_sprite: bool = True) -> synth.SheetCase:
    case = synth.make_sheet_case(seed, per_sprite_grids=per_sprite)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_png(path, case.image, keep_alpha=False)
    return case


def test_sheet_writes_one_file_per_sprite_the_sheet_and_its_json(cli, tmp_path):
    case = _sheet(tmp_path / "in" / "icons.png", seed=3)
    out = tmp_path / "out"
    run = cli("reconstruct", tmp_path / "in" / "icons.png", "--out", out, "--sheet", "--json", "--workers", "1")
    assert run.exit_code == 0, run.stderr
    [line] = run.json_lines
    regions = line["regions"]
    assert len(regions) == len(case.sprites) == len(list((out / "icons").glob("*.png")))
    assert [r["index"] for r in regions] == list(range(1, len(regions) + 1))
    assert {"bbox", "cell_w", "cell_h", "offset_x", "offset_y", "cells_x", "cells_y", "diff_pct", "confidence", "grid"} <= set(regions[0])
    assert any(r["grid"] == "own" for r in regions)  # this sheet's sprites sit on their own grids
    doc = json.loads((out / "icons_sheet.json").read_text())
    sheet_png = np.asarray(Image.open(out / "icons_sheet.png").convert("RGBA"))
    assert doc["meta"]["image"] == "icons_sheet.png" and doc["meta"]["size"] == {"w": sheet_png.shape[1], "h": sheet_png.shape[0]}
    for r in regions:
        name = f"icons/{r['index']}.png"
        sprite = np.asarray(Image.open(out / name).convert("RGBA"))
        f = doc["frames"][name]["frame"]
        assert (f["w"], f["h"]) == (sprite.shape[1], sprite.shape[0]) == (r["cells_x"], r["cells_y"])
        assert np.array_equal(sheet_png[f["y"]:f["y"] + f["h"], f["x"]:f["x"] + f["w"]], sprite)
    assert set(line["outputs"]) == {"sprite", "sheet", "sheet_json", *(f"sheet_sprite_{r['index']}" for r in regions)}
    rows = pd.read_csv(out / "metrics.csv")
    assert list(rows["regions"]) == [len(regions)]
    assert any("own" in w for w in line["warnings"])
    assert no_tmp_leftovers(out) == []


def test_the_main_sprite_is_byte_identical_with_and_without_sheet(cli, tmp_path):
    for i, per_sprite in enumerate((False, True)):
        _sheet(tmp_path / "in" / f"s{i}.png", seed=i, per_sprite=per_sprite)
    plain = cli("reconstruct", tmp_path / "in", "--out", tmp_path / "plain", "--workers", "1", "--json")
    with_sheet = cli("reconstruct", tmp_path / "in", "--out", tmp_path / "sheet", "--sheet", "--workers", "1", "--json")
    assert plain.exit_code == with_sheet.exit_code == 0
    for i in range(2):
        assert (tmp_path / "plain" / f"s{i}.png").read_bytes() == (tmp_path / "sheet" / f"s{i}.png").read_bytes()
    # The sheet on one grid: every region kept the global grid, so no warning about it.
    one_grid = with_sheet.json_lines[0]
    assert all(r["grid"] == "global" for r in one_grid["regions"])
    assert not any(w.startswith("sheet:") for w in one_grid["warnings"])
    # Without --sheet nothing of the feature shows: no regions key, no extra files, an empty column.
    assert all("regions" not in line for line in plain.json_lines)
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == ["manifest.jsonl", "metrics.csv", "s0.png", "s1.png"]
    assert pd.read_csv(tmp_path / "plain" / "metrics.csv")["regions"].isna().all()


def test_sheet_outputs_take_part_in_collisions_and_resume(cli, tmp_path):
    _sheet(tmp_path / "in" / "a.png", seed=4)
    _sheet(tmp_path / "in" / "a_sheet.png", seed=0)  # its a_sheet.png would be a.png's sheet
    out = tmp_path / "out"
    run = cli("reconstruct", tmp_path / "in", "--out", out, "--sheet", "--workers", "1", "--json")
    assert run.exit_code == 0, run.stderr
    outputs = [set(Path(p).relative_to(out).as_posix() for p in line["outputs"].values()) for line in run.json_lines]
    assert not (outputs[0] & outputs[1])  # no file written twice
    assert "a_sheet.png" in outputs[0]  # a.png's sheet; the other input was renamed
    again = cli("reconstruct", tmp_path / "in", "--out", out, "--sheet", "--workers", "1", "--resume")
    assert again.exit_code == 0 and "2 of 2 images already done" in again.stderr
    (out / "a" / "1.png").unlink()  # a missing sprite file means the set is incomplete: redo it
    third = cli("reconstruct", tmp_path / "in", "--out", out, "--sheet", "--workers", "1", "--resume")
    assert "1 of 2 images already done" in third.stderr and (out / "a" / "1.png").exists()


def test_a_failed_sheet_set_leaves_nothing_behind(cli, tmp_path, monkeypatch):
    _sheet(tmp_path / "in" / "b.png", seed=2)
    out = tmp_path / "out"

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputset, "write_text_atomic", broken)  # the JSON is staged after the sprites
    run = cli("reconstruct", tmp_path / "in" / "b.png", "--out", out, "--sheet", "--workers", "1")
    assert run.exit_code != 0 and run.error_lines and "b.png" in run.error_lines[0]
    assert not (out / "b.png").exists() and not (out / "b").exists() and not (out / "b_sheet.png").exists()
    assert no_tmp_leftovers(out) == []


def _file_colours(path: Path) -> set[str]:
    with Image.open(path) as img:
        rgba = np.asarray(img.convert("RGBA"))
    return {f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgba[rgba[..., 3] > 0][:, :3]}


@pytest.mark.parametrize("colors", ["8", "auto"])
def test_sheet_with_a_palette_step_has_one_palette_for_every_file(cli, tmp_path, colors):
    # Sprites on their own grid are re-sampled; their colours map onto the one palette the run
    # reports (JSON metrics.palette) and saves (--save-palette), as the main sprite's do.
    _sheet(tmp_path / "in" / "icons.png", seed=104)
    out = tmp_path / "out"
    run = cli("reconstruct", tmp_path / "in" / "icons.png", "--out", out, "--sheet", "--colors", colors,
              "--save-palette", tmp_path / "x.hex", "--json", "--workers", "1")
    assert run.exit_code == 0, run.stderr
    [line] = run.json_lines
    assert any(r["grid"] == "own" for r in line["regions"])
    reported = set(line["metrics"]["palette"]["colors"])
    saved = {f"#{r:02x}{g:02x}{b:02x}" for r, g, b in read_palette(tmp_path / "x.hex").as_tuple()}
    assert reported == saved
    for kind, path in line["outputs"].items():
        if kind != "sheet_json":
            assert _file_colours(Path(path)) <= reported, kind


def test_sheet_with_indexed_writes_every_file_indexed_in_the_palettes_order(cli, tmp_path):
    _sheet(tmp_path / "in" / "icons.png", seed=104)
    out = tmp_path / "out"
    run = cli("reconstruct", tmp_path / "in" / "icons.png", "--out", out, "--sheet", "--colors", "8", "--indexed",
              "--json", "--workers", "1")
    assert run.exit_code == 0, run.stderr
    [line] = run.json_lines
    reported = line["metrics"]["palette"]["colors"]
    art = {k: p for k, p in line["outputs"].items() if k != "sheet_json"}
    assert "sheet" in art and any(k.startswith("sheet_sprite_") for k in art)
    for kind, path in art.items():
        with Image.open(path) as img:
            assert img.mode == "P", kind
            flat = img.getpalette() or []
        assert [f"#{flat[i]:02x}{flat[i + 1]:02x}{flat[i + 2]:02x}" for i in range(0, 3 * len(reported), 3)] == reported, kind
    assert not any("--indexed" in w for w in line["warnings"])


def test_sheet_with_a_forced_size_is_a_usage_error(cli, tmp_path):
    # --size 20x20 on a sheet coarsened the sprite search (two sprites merged into one region).
    src = tmp_path / "sheet.png"
    Image.fromarray(synth.make_sheet_case(104).image).save(src)
    run = cli("reconstruct", src, "--sheet", "--size", "20x20", "--out", tmp_path / "out")
    assert run.exit_code == 2, (run.stdout, run.stderr)
    assert "--sheet fits a grid per sprite" in " ".join(run.stderr.split())
    assert not (tmp_path / "out").exists()
