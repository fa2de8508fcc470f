"""`perfecter reconstruct` palette flags: --colors, --palette, --save-palette, --shared-palette, --indexed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from cli_helpers import blow_up, no_tmp_leftovers, write_clean_png
from PIL import Image

from pixelperfecter.cli_reconstruct import MAX_COLORS
from pixelperfecter.core import quantize
from pixelperfecter.core.io import save_png
from pixelperfecter.core.palette_files import MAX_PALETTE_COLORS, read_palette
from pixelperfecter.core.synth import close_shades_case

FORCE_8 = ("--cell-size", "8", "--offset", "0", "0")


def _colours(path: Path) -> set[tuple[int, int, int]]:
    with Image.open(path) as img:
        rgba = np.asarray(img.convert("RGBA"))
    return {tuple(int(v) for v in c) for c in quantize.colour_counts([rgba])[0]}


def _close_shades(path: Path, seed: int) -> np.ndarray:
    case = close_shades_case(seed)
    save_png(path, case.image, case.has_alpha)
    return case.truth


def test_max_colors_mirror_is_the_palette_limit() -> None:
    assert MAX_COLORS == MAX_PALETTE_COLORS


def test_colors_auto_and_n_report_the_palette_and_use_only_recovered_colours(cli, tmp_path):
    truth = _close_shades(tmp_path / "in" / "a.png", seed=1)
    plain = cli("reconstruct", tmp_path / "in" / "a.png", "-o", tmp_path / "plain", "--json")
    assert plain.exit_code == 0, plain.stderr
    assert "palette" not in plain.json_lines[0]["metrics"]  # flags off: the JSON is as before
    recovered = _colours(tmp_path / "plain" / "a.png")
    auto = cli("reconstruct", tmp_path / "in" / "a.png", "-o", tmp_path / "auto", "--colors", "auto", "--json")
    assert auto.exit_code == 0, auto.stderr
    pal = auto.json_lines[0]["metrics"]["palette"]
    n_true = len(quantize.colour_counts([truth])[0])
    assert pal["source"] == "auto" and n_true <= pal["size"] <= n_true + 3 and pal["size"] == auto.json_lines[0]["metrics"]["n_colors"]
    assert _colours(tmp_path / "auto" / "a.png") <= recovered
    four = cli("reconstruct", tmp_path / "in" / "a.png", "-o", tmp_path / "four", "--colors", "4")
    assert four.exit_code == 0, four.stderr
    assert "colours 4 (max 4" in four.stdout
    got = _colours(tmp_path / "four" / "a.png")
    assert len(got) == 4 and got <= recovered  # never a colour that occurs nowhere
    row = pd.read_csv(tmp_path / "four" / "metrics.csv").iloc[0]
    assert row["palette"] == "max 4" and row["palette_error"] > 0 and row["n_colors"] == 4


def test_palette_file_maps_every_cell_to_its_colours(cli, tmp_path):
    write_clean_png(tmp_path / "a.png", 12, 8, cell=8, seed=3)
    (tmp_path / "p.txt").write_text("GIMP Palette\n255 0 0\n0 0 255\n20 20 20\n240 240 240\n")  # by content, not name
    run = cli("reconstruct", tmp_path / "a.png", "-o", tmp_path / "out", *FORCE_8, "--palette", tmp_path / "p.txt", "--json")
    assert run.exit_code == 0, run.stderr
    assert _colours(tmp_path / "out" / "a.png") <= {(255, 0, 0), (0, 0, 255), (20, 20, 20), (240, 240, 240)}
    palette = run.json_lines[0]["metrics"]["palette"]
    assert palette["source"] == "file"
    # A fixed palette is reported in its own order, every entry (README: Palettes).
    assert palette["colors"] == ["#ff0000", "#0000ff", "#141414", "#f0f0f0"] and palette["size"] == 4


def test_unreadable_palette_is_one_error_line_and_nothing_written(cli, tmp_path):
    write_clean_png(tmp_path / "a.png")
    (tmp_path / "bad.gpl").write_text("GIMP Palette\n1 2\n")
    run = cli("reconstruct", tmp_path / "a.png", "-o", tmp_path / "out", "--palette", tmp_path / "bad.gpl")
    assert run.exit_code == 2  # a usage error, in the one-line form
    assert run.error_lines == [f"error: {tmp_path / 'bad.gpl'}: line 2: expected 3 numbers 0-255, got '1 2'"]
    assert not (tmp_path / "out").exists()


def test_bad_colour_options_are_usage_errors(cli, tmp_path):
    write_clean_png(tmp_path / "a.png")
    (tmp_path / "p.hex").write_text("ff0000\n")
    for args in (("--colors", "0"), ("--colors", "lots"), ("--colors", "8", "--palette", tmp_path / "p.hex")):
        run = cli("reconstruct", tmp_path / "a.png", "-o", tmp_path / "out", *args)
        assert run.exit_code == 2, args
        assert "--colors" in run.stderr


def test_save_palette_writes_the_one_images_palette(cli, tmp_path):
    write_clean_png(tmp_path / "a.png", seed=4)
    run = cli("reconstruct", tmp_path / "a.png", "-o", tmp_path / "out", *FORCE_8, "--colors", "3", "--save-palette", tmp_path / "pal.hex")
    assert run.exit_code == 0, run.stderr
    saved = read_palette(tmp_path / "pal.hex")
    assert saved.format == "hex" and set(saved.as_tuple()) == _colours(tmp_path / "out" / "a.png") and len(saved.colors) == 3
    # several images have several palettes: one file needs --shared-palette
    write_clean_png(tmp_path / "b.png", seed=5)
    run = cli("reconstruct", tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "out2", "--save-palette", tmp_path / "x.gpl")
    assert run.exit_code == 2 and "--shared-palette" in run.error_lines[0] and not (tmp_path / "x.gpl").exists()  # usage error
    assert run.error_lines == [f"error: {tmp_path / 'x.gpl'}: --save-palette writes one palette, and 2 images have one each; add --shared-palette"]
    assert not (tmp_path / "out2").exists()  # refused before anything is made


def test_shared_palette_is_one_palette_for_the_batch_with_workers_and_resume(cli, tmp_path):
    for i in range(3):
        write_clean_png(tmp_path / "in" / f"f{i}.png", 12, 8, cell=8, seed=10 + i)
    args = ("reconstruct", tmp_path / "in", "-o", tmp_path / "out", *FORCE_8, "--shared-palette", "--colors", "6", "-j", "2")
    run = cli(*args, "--save-palette", tmp_path / "shared.gpl", "--json")
    assert run.exit_code == 0, run.stderr
    shared = set(read_palette(tmp_path / "shared.gpl").as_tuple())
    assert len(shared) == 6
    union: set[tuple[int, int, int]] = set()
    for i in range(3):
        union |= _colours(tmp_path / "out" / f"f{i}.png")
    assert union <= shared  # every frame in the one palette
    assert {r["metrics"]["palette"]["source"] for r in run.json_lines} == {"shared"}
    assert no_tmp_leftovers(tmp_path / "out") == []
    again = cli(*args, "--resume")
    assert again.exit_code == 0 and "3 of 3 images already done" in again.stderr
    # the palette is a shaping option: a different one redoes the images
    other = cli("reconstruct", tmp_path / "in", "-o", tmp_path / "out", *FORCE_8, "--shared-palette", "--colors", "3", "-j", "2", "--resume")
    assert other.exit_code == 0 and "0 of 3 images already done" in other.stderr


def test_indexed_writes_mode_p_sprite_and_upscale(cli, tmp_path):
    write_clean_png(tmp_path / "a.png", seed=6, transparent=True)
    run = cli("reconstruct", tmp_path / "a.png", "-o", tmp_path / "out", *FORCE_8, "--indexed", "--upscale", "3")
    assert run.exit_code == 0, run.stderr
    plain = cli("reconstruct", tmp_path / "a.png", "-o", tmp_path / "plain", *FORCE_8, "--upscale", "3")
    assert plain.exit_code == 0
    for name in ("a.png", "a_x3.png"):
        with Image.open(tmp_path / "out" / name) as img, Image.open(tmp_path / "plain" / name) as ref:
            assert img.mode == "P" and "transparency" in img.info and ref.mode == "RGBA"
            assert np.array_equal(np.asarray(img.convert("RGBA")), np.asarray(ref.convert("RGBA")))


def test_indexed_over_256_colours_warns_and_falls_back(cli, tmp_path):
    rng = np.random.default_rng(0)
    cells = np.zeros((20, 20, 4), np.uint8)
    cells[..., :3] = rng.integers(0, 256, (20, 20, 3))
    cells[..., 3] = 255
    Image.fromarray(blow_up(cells, 8)[..., :3], "RGB").save(tmp_path / "many.png")
    run = cli("reconstruct", tmp_path / "many.png", "-o", tmp_path / "out", *FORCE_8, "--indexed", "--json")
    assert run.exit_code == 0, run.stderr
    assert any("--indexed" in w and "more than the 256" in w for w in run.json_lines[0]["warnings"])
    with Image.open(tmp_path / "out" / "many.png") as img:
        assert img.mode == "RGB"
    fewer = cli("reconstruct", tmp_path / "many.png", "-o", tmp_path / "out2", *FORCE_8, "--indexed", "--colors", "200", "--json")
    assert fewer.exit_code == 0 and not any("--indexed" in w for w in fewer.json_lines[0]["warnings"])
    with Image.open(tmp_path / "out2" / "many.png") as img:
        assert img.mode == "P"
    assert json.loads(fewer.stdout.splitlines()[0])["metrics"]["n_colors"] <= 200


def _index_entries(path: Path, n: int) -> list[tuple[int, int, int]]:
    with Image.open(path) as img:
        assert img.mode == "P", path
        flat = img.getpalette() or []
    return [tuple(flat[i:i + 3]) for i in range(0, 3 * n, 3)]  # type: ignore[misc]


def test_indexed_files_carry_the_fixed_palette_in_its_order(cli, tmp_path):
    # A tileset or palette swap: index i is the same colour in every file of the run.
    for i in range(3):
        write_clean_png(tmp_path / "in" / f"t{i}.png", 12, 8, cell=8, seed=20 + i)
    run = cli("reconstruct", tmp_path / "in", "-o", tmp_path / "out", *FORCE_8, "--shared-palette", "--colors", "16",
              "--indexed", "--upscale", "2", "--save-palette", tmp_path / "shared.hex", "--json", "-j", "1")
    assert run.exit_code == 0, run.stderr
    shared = list(read_palette(tmp_path / "shared.hex").as_tuple())
    assert len(shared) == 16
    for i in range(3):
        for name in (f"t{i}.png", f"t{i}_x2.png"):
            assert _index_entries(tmp_path / "out" / name, 16) == shared
    assert [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in shared] == run.json_lines[0]["metrics"]["palette"]["colors"]
    # A palette file: its own order, unused entries included.
    order = [(250, 250, 250), (1, 1, 1), (255, 0, 0), (0, 0, 255), (20, 20, 20), (0, 255, 0)]
    (tmp_path / "p.gpl").write_text("GIMP Palette\n" + "".join(f"{r} {g} {b}\n" for r, g, b in order))
    run = cli("reconstruct", tmp_path / "in" / "t0.png", tmp_path / "in" / "t1.png", "-o", tmp_path / "file", *FORCE_8,
              "--palette", tmp_path / "p.gpl", "--indexed")
    assert run.exit_code == 0, run.stderr
    for i in range(2):
        assert _index_entries(tmp_path / "file" / f"t{i}.png", len(order)) == order


def test_a_saved_palette_given_back_reproduces_the_image(cli, tmp_path):
    # --colors N then --palette of the palette it saved: every cell the same (cells used to keep
    # the group they were merged into, not their nearest palette colour).
    for seed in (7, 11):
        src = tmp_path / f"a{seed}.png"
        write_clean_png(src, 160, 120, cell=8, seed=seed)
        noisy = np.asarray(Image.open(src).convert("RGB")).astype(np.int16)
        noisy += np.random.default_rng(seed).integers(-12, 13, noisy.shape, dtype=np.int16)
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(src)
        first = cli("reconstruct", src, "--colors", "3", "--save-palette", tmp_path / f"p{seed}.gpl", "--out", tmp_path / f"o1_{seed}", "--json")
        assert first.exit_code == 0, first.stderr
        again = cli("reconstruct", src, "--palette", tmp_path / f"p{seed}.gpl", "--out", tmp_path / f"o2_{seed}", "--json")
        assert again.exit_code == 0, again.stderr
        a = np.asarray(Image.open(tmp_path / f"o1_{seed}" / f"a{seed}.png"))
        b = np.asarray(Image.open(tmp_path / f"o2_{seed}" / f"a{seed}.png"))
        assert np.array_equal(a, b)
