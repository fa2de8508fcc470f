"""`perfecter reconstruct`: inputs, outputs, metrics, JSON, overrides, workers, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import blow_up, clean_sprite, no_tmp_leftovers, png_size, write_clean_png
from PIL import Image

from pixelperfecter import batch
from pixelperfecter.core.metrics import METRICS_COLUMNS

# Every test that needs an exact grid forces it: these images are 8 px cells at phase 0.
FORCE_8 = ("--cell-size", "8", "--offset", "0", "0")


def _input_dir(root: Path, names: list[str], cells: tuple[int, int] = (12, 8)) -> dict[str, np.ndarray]:
    truths = {}
    for i, name in enumerate(names):
        truths[name] = write_clean_png(root / name, cells[0], cells[1], cell=8, seed=i)
    return truths


# --------------------------------------------------------------------------- inputs


def test_no_paths_reads_input_dir_of_cwd(cli, tmp_path, monkeypatch):
    _input_dir(tmp_path / "input", ["a.png", "b.png"])
    (tmp_path / "input" / "notes.txt").write_text("not an image, and not picked up from a folder")
    monkeypatch.chdir(tmp_path)
    run = cli("reconstruct", "--workers", "1")
    assert run.exit_code == 0, run.stderr
    assert sorted(p.name for p in (tmp_path / "output").glob("*.png")) == ["a.png", "b.png"]
    rows = pd.read_csv(tmp_path / "output" / "metrics.csv")
    assert list(rows["image"]) == [str(Path("input") / "a.png"), str(Path("input") / "b.png")]
    assert set(rows["status"]) == {"ok"}


def test_missing_default_input_dir_is_one_clear_error(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = cli("reconstruct")
    assert run.exit_code == 1
    assert len(run.error_lines) == 1 and "input/" in run.error_lines[0] and "not found" in run.error_lines[0]
    assert not (tmp_path / "output").exists()


def test_folder_needs_recursive_for_subfolders(cli, tmp_path):
    _input_dir(tmp_path / "in", ["top.png"])
    _input_dir(tmp_path / "in" / "sub", ["deep.png"])
    flat = cli("reconstruct", tmp_path / "in", "--out", tmp_path / "flat", *FORCE_8, "--json")
    assert flat.exit_code == 0, flat.stderr
    assert [Path(r["image"]).name for r in flat.json_lines] == ["top.png"]
    deep = cli("reconstruct", tmp_path / "in", "--recursive", "--out", tmp_path / "deep", *FORCE_8, "--json")
    assert deep.exit_code == 0, deep.stderr
    assert sorted(Path(r["image"]).name for r in deep.json_lines) == ["deep.png", "top.png"]


def test_recursive_walk_skips_the_output_folder(cli, tmp_path, monkeypatch):
    _input_dir(tmp_path, ["a.png"])
    monkeypatch.chdir(tmp_path)
    first = cli("reconstruct", ".", "-r", *FORCE_8, "--json")
    assert first.exit_code == 0 and len(first.json_lines) == 1
    second = cli("reconstruct", ".", "-r", *FORCE_8, "--json")
    # output/a.png from the first run must not be fed back in as an input.
    assert [Path(r["image"]).name for r in second.json_lines] == ["a.png"]
    assert sorted(p.name for p in (tmp_path / "output").glob("*.png")) == ["a.png"]


def test_glob_pattern(cli, tmp_path):
    _input_dir(tmp_path / "in", ["cat_1.png", "cat_2.png", "dog.png"])
    run = cli("reconstruct", f"{tmp_path}/in/cat_*.png", "--out", tmp_path / "out", *FORCE_8, "--json")
    assert run.exit_code == 0, run.stderr
    assert [Path(r["image"]).name for r in run.json_lines] == ["cat_1.png", "cat_2.png"]


def test_glob_matching_nothing_is_an_error_but_others_run(cli, tmp_path):
    _input_dir(tmp_path / "in", ["a.png"])
    pattern = f"{tmp_path}/in/zebra_*.png"
    run = cli("reconstruct", pattern, tmp_path / "in" / "a.png", "--out", tmp_path / "out", *FORCE_8)
    assert run.exit_code == 1
    assert run.error_lines == [f"error: {pattern}: no files match this pattern"]
    assert (tmp_path / "out" / "a.png").exists()


# --------------------------------------------------------------------------- outputs


def test_every_output_flag_writes_a_readable_png_of_the_right_size(cli, tmp_path):
    truth = write_clean_png(tmp_path / "sprite.png", 12, 8, cell=8)
    out = tmp_path / "out"
    run = cli("reconstruct", tmp_path / "sprite.png", "--out", out, *FORCE_8,
              "--upscale", "4", "--diff", "--heatmap", "--grid", "--json")
    assert run.exit_code == 0, run.stderr
    (record,) = run.json_lines
    assert (record["grid"]["cells_x"], record["grid"]["cells_y"]) == (12, 8)
    assert set(record["outputs"]) == {"sprite", "upscale", "diff", "heatmap", "grid"}
    assert png_size(out / "sprite.png") == (12, 8)
    assert png_size(out / "sprite_x4.png") == (48, 32)
    for name in ("sprite_diff.png", "sprite_heatmap.png", "sprite_grid.png"):
        assert png_size(out / name) == (96, 64)  # overlays are drawn on the input
    sprite = np.asarray(Image.open(out / "sprite.png").convert("RGBA"))
    assert np.array_equal(sprite, truth)
    x4 = np.asarray(Image.open(out / "sprite_x4.png").convert("RGBA"))
    assert np.array_equal(x4[::4, ::4], sprite)
    assert no_tmp_leftovers(tmp_path) == []


def test_without_flags_only_the_sprite_is_written(cli, tmp_path):
    write_clean_png(tmp_path / "s.png")
    out = tmp_path / "out"
    run = cli("reconstruct", tmp_path / "s.png", "--out", out, *FORCE_8, "--no-metrics")
    assert run.exit_code == 0, run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["s.png"]


def test_outputs_get_normal_file_permissions_not_tempfile_0600(cli, tmp_path):
    write_clean_png(tmp_path / "s.png")
    run = cli("reconstruct", tmp_path / "s.png", "--out", tmp_path / "out", *FORCE_8)
    assert run.exit_code == 0
    plain = tmp_path / "plain.txt"
    plain.write_text("")  # what any new file gets under this umask
    expected = plain.stat().st_mode & 0o777
    assert (tmp_path / "out" / "s.png").stat().st_mode & 0o777 == expected
    assert (tmp_path / "out" / "metrics.csv").stat().st_mode & 0o777 == expected


def test_same_stem_from_two_folders_does_not_overwrite(cli, tmp_path):
    a = write_clean_png(tmp_path / "one" / "hero.png", seed=1)
    b = write_clean_png(tmp_path / "two" / "hero.png", seed=2)
    out = tmp_path / "out"
    run = cli("reconstruct", tmp_path / "one", tmp_path / "two", "--out", out, *FORCE_8, "--upscale", "2", "--json")
    assert run.exit_code == 0, run.stderr
    first, second = run.json_lines
    assert first["outputs"]["sprite"] != second["outputs"]["sprite"]
    assert Path(second["outputs"]["sprite"]).name == "hero-2.png"
    assert any("renamed" in w for w in second["warnings"])
    assert np.array_equal(np.asarray(Image.open(first["outputs"]["sprite"]).convert("RGBA")), a)
    assert np.array_equal(np.asarray(Image.open(second["outputs"]["sprite"]).convert("RGBA")), b)
    assert "renamed" in run.stderr


def test_output_names_never_collide_with_another_inputs_extras():
    # "a.png" with --upscale 2 writes a_x2.png, which is exactly the sprite name of input "a_x2.png".
    from pixelperfecter.core.pipeline import OutputOptions

    jobs = batch.plan_jobs([Path("x/a.png"), Path("x/a_x2.png"), Path("y/A.jpg")], Path("out"), OutputOptions(upscale=2))
    names = [n.lower() for j in jobs for n in batch._output_names(j.stem, OutputOptions(upscale=2))]
    assert len(names) == len(set(names))
    assert jobs[0].stem == "a" and jobs[0].renamed_because is None


def test_an_input_inside_the_output_folder_is_not_overwritten(cli, tmp_path):
    out = tmp_path / "out"
    write_clean_png(out / "art.png")
    original = (out / "art.png").read_bytes()
    run = cli("reconstruct", out / "art.png", "--out", out, *FORCE_8, "--json")
    assert run.exit_code == 0, run.stderr
    assert (out / "art.png").read_bytes() == original
    assert Path(run.json_lines[0]["outputs"]["sprite"]).name == "art-2.png"


# --------------------------------------------------------------------------- metrics


def test_metrics_header_written_once_across_runs_and_readable_with_pandas(cli, tmp_path):
    _input_dir(tmp_path / "in", ["a.png", "b.png"])
    out = tmp_path / "out"
    for _ in range(2):
        run = cli("reconstruct", tmp_path / "in", "--out", out, *FORCE_8, "--workers", "1")
        assert run.exit_code == 0, run.stderr
    text = (out / "metrics.csv").read_text()
    assert text.count("image,status,") == 1
    rows = pd.read_csv(out / "metrics.csv")
    assert list(rows.columns) == METRICS_COLUMNS
    assert len(rows) == 4
    assert list(rows["cells_x"]) == [12] * 4 and list(rows["cells_y"]) == [8] * 4
    assert list(rows["cell_w"]) == [8.0] * 4


def test_failed_images_get_a_metrics_row_with_the_error(cli, tmp_path):
    write_clean_png(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"")
    run = cli("reconstruct", tmp_path / "good.png", tmp_path / "bad.png", "--out", tmp_path / "out", *FORCE_8)
    assert run.exit_code == 1
    rows = pd.read_csv(tmp_path / "out" / "metrics.csv")
    assert list(rows["status"]) == ["ok", "error"]
    assert "empty file" in rows["error"][1]


def test_metrics_path_option_and_no_metrics(cli, tmp_path):
    write_clean_png(tmp_path / "a.png")
    custom = tmp_path / "logs" / "m.csv"
    run = cli("reconstruct", tmp_path / "a.png", "--out", tmp_path / "out", *FORCE_8, "--metrics", custom)
    assert run.exit_code == 0
    assert len(pd.read_csv(custom)) == 1
    assert not (tmp_path / "out" / "metrics.csv").exists()
    run = cli("reconstruct", tmp_path / "a.png", "--out", tmp_path / "out2", *FORCE_8, "--no-metrics")
    assert run.exit_code == 0
    assert not (tmp_path / "out2" / "metrics.csv").exists()
    assert (tmp_path / "out2" / "a.png").exists()


# --------------------------------------------------------------------------- JSON and human output


def test_json_lines_parse_and_stdout_holds_nothing_else(cli, tmp_path):
    _input_dir(tmp_path / "in", ["a.png", "b.png"])
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG not really")
    run = cli("reconstruct", tmp_path / "in", "--out", tmp_path / "out", *FORCE_8, "--json", "--upscale", "2")
    assert run.exit_code == 1
    lines = run.stdout.splitlines()
    assert len(lines) == 3
    records = [json.loads(line) for line in lines]
    assert [Path(r["image"]).name for r in records] == ["a.png", "b.png", "broken.png"]
    ok = records[0]
    assert ok["status"] == "ok" and ok["error"] is None
    assert set(ok["grid"]) == {"cell_w", "cell_h", "offset_x", "offset_y", "cells_x", "cells_y"}
    assert {"diff_pct", "confidence", "n_colors", "flags"} <= set(ok["metrics"])
    assert Path(ok["outputs"]["upscale"]).exists()
    assert isinstance(ok["warnings"], list)
    bad = records[2]
    assert bad["status"] == "error" and bad["grid"] is None and bad["outputs"] == {}
    assert "not an image" in bad["error"] or "corrupt" in bad["error"]
    assert len(run.error_lines) == 1  # the human message went to stderr


def test_human_output_names_each_image_with_its_grid(cli, tmp_path):
    _input_dir(tmp_path / "in", ["alpha.png", "beta.png"])
    run = cli("reconstruct", tmp_path / "in", "--out", tmp_path / "out", *FORCE_8)
    assert run.exit_code == 0
    lines = run.stdout.splitlines()
    assert len(lines) == 2
    assert "alpha.png" in lines[0] and "beta.png" in lines[1]
    for line in lines:
        assert "12x8" in line and "8.00x8.00" in line and "%" in line and "conf" in line
    assert "2 ok, 0 failed" in run.stderr


# --------------------------------------------------------------------------- overrides


def _grid_of(cli, path: Path, out: Path, *args: str) -> dict:
    run = cli("reconstruct", path, "--out", out, "--no-metrics", "--json", *args)
    assert run.exit_code == 0, run.stderr
    return run.json_lines[0]["grid"]


def test_cell_size_overrides_set_the_grid(cli, tmp_path):
    write_clean_png(tmp_path / "s.png", 12, 8, cell=8)  # 96 x 64 px
    out = tmp_path / "out"
    g = _grid_of(cli, tmp_path / "s.png", out, "--cell-size", "8")
    assert (g["cells_x"], g["cells_y"], g["cell_w"], g["cell_h"]) == (12, 8, 8.0, 8.0)
    g = _grid_of(cli, tmp_path / "s.png", out, "--cell-size", "16", "--offset", "0", "0")
    assert (g["cells_x"], g["cells_y"]) == (6, 4)
    g = _grid_of(cli, tmp_path / "s.png", out, "--cell-w", "8", "--cell-h", "4", "--offset", "0", "0")
    assert (g["cell_w"], g["cell_h"], g["cells_x"], g["cells_y"]) == (8.0, 4.0, 12, 16)
    g = _grid_of(cli, tmp_path / "s.png", out, "--cell-size", "8", "--offset", "3", "5")
    assert (g["offset_x"], g["offset_y"]) == (3.0, 5.0)
    assert png_size(out / "s.png") == (g["cells_x"], g["cells_y"])


def test_size_override_sets_the_output_size_in_cells(cli, tmp_path):
    write_clean_png(tmp_path / "s.png", 12, 8, cell=8)
    g = _grid_of(cli, tmp_path / "s.png", tmp_path / "out", "--size", "24x16")
    assert (g["cells_x"], g["cells_y"]) == (24, 16)
    assert png_size(tmp_path / "out" / "s.png") == (24, 16)


def test_switches_and_thresholds_reach_the_pipeline(cli, tmp_path, monkeypatch):
    write_clean_png(tmp_path / "s.png")
    seen = {}
    real = batch.reconstruct

    def spy(rgba, params=None, has_alpha=None, source=None, thresholds=None):
        seen["params"], seen["thresholds"] = params, thresholds
        return real(rgba, params, has_alpha=has_alpha, source=source, thresholds=thresholds)

    monkeypatch.setattr(batch, "reconstruct", spy)
    # --cell-size and --size together are a usage error (test_size_with_a_forced_cell_is_a_usage_error):
    # each reaches the pipeline in its own run.
    for force, expected in ((("--cell-size", "8"), (8.0, None)), (("--size", "12x8"), (None, (12, 8)))):
        run = cli("reconstruct", tmp_path / "s.png", "--out", tmp_path / "out", "--workers", "1",
                  "--no-snap", "--no-cleanup", "--keep-alpha", *force,
                  "--max-diff", "2.5", "--min-confidence", "0.9", "--max-pixels", "123456")
        assert run.exit_code == 0, run.stderr
        p, t = seen["params"], seen["thresholds"]
        assert (p.snap_lines, p.cleanup_colors, p.binarize_alpha) == (False, False, False)
        assert (p.cell_size, p.target_cells) == expected
        assert (t.max_diff_pct, t.min_confidence, t.max_pixels) == (2.5, 0.9, 123456)


def test_keep_alpha_keeps_partial_transparency(cli, tmp_path):
    sprite = np.zeros((8, 12, 4), np.uint8)
    sprite[..., :3] = 200
    sprite[..., 3] = 255
    sprite[2:5, 3:7, 3] = 100  # half-transparent patch
    sprite[2:5, 3:7, :3] = 40
    Image.fromarray(np.repeat(np.repeat(sprite, 8, 0), 8, 1), "RGBA").save(tmp_path / "ghost.png")
    binarized = cli("reconstruct", tmp_path / "ghost.png", "--out", tmp_path / "a", *FORCE_8)
    kept = cli("reconstruct", tmp_path / "ghost.png", "--out", tmp_path / "b", *FORCE_8, "--keep-alpha")
    assert binarized.exit_code == kept.exit_code == 0
    alpha_bin = np.asarray(Image.open(tmp_path / "a" / "ghost.png").convert("RGBA"))[..., 3]
    alpha_kept = np.asarray(Image.open(tmp_path / "b" / "ghost.png").convert("RGBA"))[..., 3]
    assert set(np.unique(alpha_bin)) <= {0, 255}
    assert alpha_kept[3, 4] == 100


def test_thresholds_change_the_flags(cli, tmp_path):
    # Strong noise: many pixels sit far from their cell's colour whatever the grid, so diff_pct > 0.
    rng = np.random.default_rng(0)
    img = blow_up(clean_sprite(12, 8), 8)[..., :3].astype(int) + rng.normal(0, 40, (64, 96, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB").save(tmp_path / "noisy.png")
    lenient = cli("reconstruct", tmp_path / "noisy.png", "--out", tmp_path / "o", *FORCE_8, "--json",
                  "--max-diff", "100", "--min-confidence", "0")
    strict = cli("reconstruct", tmp_path / "noisy.png", "--out", tmp_path / "o", *FORCE_8, "--json",
                 "--max-diff", "0", "--min-confidence", "0")
    assert lenient.exit_code == strict.exit_code == 0
    assert strict.json_lines[0]["metrics"]["diff_pct"] > 0
    assert lenient.json_lines[0]["metrics"]["flags"] == []
    assert strict.json_lines[0]["metrics"]["flags"] == ["diff_pct"]
    assert "diff_pct" in strict.json_lines[0]["warnings"][-1]


# --------------------------------------------------------------------------- workers


def test_two_workers_give_the_same_results_as_one(cli, tmp_path):
    names = [f"img{i}.png" for i in range(4)]
    _input_dir(tmp_path / "in", names)
    (tmp_path / "in" / "img9.png").write_bytes(b"junk")  # a failure in the middle of the pool too
    runs = {}
    for n in ("1", "2"):
        run = cli("reconstruct", tmp_path / "in", "--out", tmp_path / f"out{n}", "--workers", n, "--json", *FORCE_8)
        assert run.exit_code == 1
        records = run.json_lines
        for r in records:
            if r["metrics"]:
                r["metrics"].pop("seconds")
            r["outputs"] = {k: Path(v).name for k, v in r["outputs"].items()}
        runs[n] = records
    assert runs["1"] == runs["2"]
    assert [Path(r["image"]).name for r in runs["2"]] == names + ["img9.png"]
    for name in names:
        assert (tmp_path / "out1" / name).read_bytes() == (tmp_path / "out2" / name).read_bytes()


def test_run_batch_reports_progress_for_every_image(tmp_path):
    from pixelperfecter.core.types import ReconstructParams

    files = []
    for i in range(3):
        write_clean_png(tmp_path / f"p{i}.png", seed=i)
        files.append(tmp_path / f"p{i}.png")
    settings = batch.BatchSettings(out_dir=tmp_path / "out", params=ReconstructParams(cell_size=8, offset_x=0, offset_y=0))
    done = []
    results = list(batch.run_batch(batch.plan_jobs(files, settings.out_dir), settings, workers=2, on_done=done.append))
    assert [r.index for r in results] == [0, 1, 2]
    assert sorted(r.index for r in done) == [0, 1, 2]
    assert all(r.ok for r in results)


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    "args",
    [
        ("--size", "abc"),
        ("--size", "0x4"),
        ("--upscale", "0"),
        ("--upscale", "1"),
        ("--cell-size", "0"),
        ("--cell-w", "-3"),
        ("--workers", "0"),
        ("--max-pixels", "0"),
        ("--max-diff", "-1"),
        ("--min-confidence", "2"),
        ("--offset", "1"),
        ("--offset", "a", "b"),
        ("--bogus",),
    ],
)
def test_bad_option_values_are_usage_errors(cli, tmp_path, args):
    write_clean_png(tmp_path / "a.png")
    run = cli("reconstruct", tmp_path / "a.png", "--out", tmp_path / "out", *args)
    assert run.exit_code == 2, (args, run.stdout, run.stderr)
    assert not (tmp_path / "out").exists()


def test_empty_folder_is_an_error_with_a_hint(cli, tmp_path):
    _input_dir(tmp_path / "in" / "sub", ["deep.png"])
    run = cli("reconstruct", tmp_path / "in", "--out", tmp_path / "out")
    assert run.exit_code == 1
    assert run.error_lines == [f"error: {tmp_path / 'in'}: no images found in folder (use --recursive for subfolders)"]


def test_naming_the_output_folder_on_purpose_still_processes_it(cli, tmp_path):
    out = tmp_path / "out"
    _input_dir(out, ["x.png"])
    run = cli("reconstruct", out, "--out", out, *FORCE_8, "--json")
    assert run.exit_code == 0, run.stderr
    assert [Path(r["outputs"]["sprite"]).name for r in run.json_lines] == ["x-2.png"]


def test_file_names_with_brackets_are_printed_verbatim(cli, tmp_path):
    write_clean_png(tmp_path / "hero [final].png")
    run = cli("reconstruct", tmp_path / "hero [final].png", "--out", tmp_path / "out", *FORCE_8)
    assert run.exit_code == 0, run.stderr
    assert "hero [final].png" in run.stdout
    assert (tmp_path / "out" / "hero [final].png").exists()


@pytest.mark.parametrize("cell", [("--cell-size", "20"), ("--cell-w", "5"), ("--cell-h", "4")])
def test_size_with_a_forced_cell_is_a_usage_error(cli, tmp_path, cell):
    # --size 30x30 --cell-size 20 on a 1024-px image covered 600 px of it: the two disagree.
    write_clean_png(tmp_path / "a.png")
    run = cli("reconstruct", tmp_path / "a.png", "--out", tmp_path / "out", "--size", "30x30", *cell)
    assert run.exit_code == 2, (run.stdout, run.stderr)
    assert f"give --size or {cell[0]}, not both" in " ".join(run.stderr.split())
    assert not (tmp_path / "out").exists()


def test_size_giving_cells_under_2px_is_an_error_for_that_image(cli, tmp_path):
    write_clean_png(tmp_path / "small.png", cells_x=12, cells_y=8, cell=8)  # 96x64 px
    write_clean_png(tmp_path / "big.png", cells_x=12, cells_y=8, cell=40)  # 480x320 px: 20-px cells
    out = tmp_path / "out"
    run = cli("reconstruct", tmp_path / "small.png", tmp_path / "big.png", "--out", out, "--size", "96x64")
    assert run.exit_code == 1
    assert run.error_lines == [f"error: {tmp_path / 'small.png'}: --size 96x64 gives 1-px cells, under the 2-px minimum (the image is 96x64 px)"]
    assert not (out / "small.png").exists() and png_size(out / "big.png") == (96, 64)
    odd = cli("reconstruct", tmp_path / "big.png", "--out", tmp_path / "o2", "--size", "300x100", "--json").json_lines[0]
    assert odd["status"] == "error" and odd["error"].startswith("--size 300x100 gives 1.6x3.2-px cells, under the 2-px minimum")
