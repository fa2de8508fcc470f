"""An image's output set (sprite, upscale, diff, heatmap, grid, sheet) written complete or not at all.

A worker renders every file of the set to a temp name beside its final name
(``.<name>.<run tag>.tmp``) and hands the list back; the driver renames them all into place and
only then records the image (metrics row, manifest).  A failure while staging removes what was
staged, so a failed image leaves no ``a.png`` behind; an interrupted run leaves only temp files
carrying its tag, which the driver sweeps (``sweep_temps``).

File names and bytes are exactly those of ``core.pipeline.write_outputs`` (same renderers, same
``save_png``), so a batch's outputs are byte-identical to the TUI's or any earlier version's.
With ``--sheet`` the set also holds ``<stem>/<n>.png`` per sprite (staged inside that folder,
which is the one output that is not a file: ``output_names`` names it ``<stem>/``), the
re-assembled ``<stem>_sheet.png`` and its ``<stem>_sheet.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core import render
from .core.animation import AnimationReconstruction, frame_names, sheet
from .core.io import save_animation, save_png, write_text_atomic
from .core.pipeline import OutputOptions, index_palette, save_sprite_png
from .core.sheet import SheetResult, sheet_outputs
from .core.types import Reconstruction

# The kind of the entry of ``output_names`` that names the per-sprite folder ``<stem>/``.
SHEET_SPRITES = "sheet_sprites"


class OutputTooLarge(ValueError):
    """A requested output would exceed the pixel limit (``--max-pixels`` bounds outputs too)."""


@dataclass(frozen=True)
class StagedFile:
    # "sprite", "upscale", "diff", "heatmap", "grid"; sheets: "sheet", "sheet_json", "sheet_sprite_<n>";
    # animations: "gif", "webp", "frames" (a folder), "sheet", "sheet_json"
    kind: str
    tmp: str
    final: str


def new_run_tag() -> str:
    """A short random tag that names this run's temp files (so the sweep never touches others')."""
    return f"pp{secrets.token_hex(4)}"


def output_names(stem: str, outputs: OutputOptions) -> dict[str, str]:
    """Every file name the set for ``stem`` has (mirrors ``core.pipeline.write_outputs``)."""
    names = {"sprite": f"{stem}.png"}
    if outputs.upscale and outputs.upscale > 1:
        names["upscale"] = f"{stem}_x{outputs.upscale}.png"
    if outputs.diff:
        names["diff"] = f"{stem}_diff.png"
    if outputs.heatmap:
        names["heatmap"] = f"{stem}_heatmap.png"
    if outputs.grid:
        names["grid"] = f"{stem}_grid.png"
    if outputs.sheet:
        # The folder of the per-sprite files (how many is known only after reconstruction).
        names[SHEET_SPRITES] = f"{stem}/"
        names["sheet"] = f"{stem}_sheet.png"
        names["sheet_json"] = f"{stem}_sheet.json"
    return names


def animation_output_names(stem: str, formats: tuple[str, ...]) -> dict[str, str]:
    """Every name an animation's set has: ``<stem>.gif``/``.webp``, the folder ``<stem>/`` of
    frames ``0.png, 1.png, ...``, and the sheet ``<stem>_sheet.png`` with ``<stem>_sheet.json``."""
    names = {fmt: f"{stem}.{fmt}" for fmt in formats}
    names.update({"frames": stem, "sheet": f"{stem}_sheet.png", "sheet_json": f"{stem}_sheet.json"})
    return names


def stage_animation(rec: AnimationReconstruction, out_dir: Path, stem: str, formats: tuple[str, ...], tag: str) -> list[StagedFile]:
    """Write an animation's set to temp names (the frames into a temp folder); all or nothing."""
    if not rec.ok:
        raise ValueError("nothing to write: the reconstruction failed")
    names = animation_output_names(stem, formats)
    sprites = rec.sprites
    staged: list[StagedFile] = []
    # Partial alpha survives only when it was kept (--keep-alpha); PNG frames keep what the sprite has.
    keep_alpha = rec.has_alpha

    def tmp_for(kind: str) -> Path:
        return _temp_for(out_dir / names[kind], tag)

    try:
        for fmt in formats:
            save_animation(tmp_for(fmt), sprites, rec.durations_ms, rec.loop, fmt)
            staged.append(StagedFile(fmt, os.fspath(tmp_for(fmt)), os.fspath(out_dir / names[fmt])))
        folder = tmp_for("frames")
        folder.mkdir()
        staged.append(StagedFile("frames", os.fspath(folder), os.fspath(out_dir / names["frames"])))
        for sprite, name in zip(sprites, frame_names(len(sprites))):
            save_png(folder / name, sprite, keep_alpha)
        picture, doc = sheet(sprites, rec.durations_ms, names["sheet"])
        save_png(tmp_for("sheet"), picture, keep_alpha)
        staged.append(StagedFile("sheet", os.fspath(tmp_for("sheet")), os.fspath(out_dir / names["sheet"])))
        write_text_atomic(tmp_for("sheet_json"), json.dumps(doc, indent=1) + "\n")
        staged.append(StagedFile("sheet_json", os.fspath(tmp_for("sheet_json")), os.fspath(out_dir / names["sheet_json"])))
    except BaseException:
        discard(staged)
        raise
    return staged


def check_output_size(rec: Reconstruction, outputs: OutputOptions, max_pixels: int) -> None:
    """Refuse an upscale whose size would exceed ``max_pixels`` before any memory is spent on it."""
    if rec.sprite is None or not outputs.upscale or outputs.upscale <= 1:
        return
    h, w = rec.sprite.shape[:2]
    k = outputs.upscale
    if w * k * h * k > max_pixels:
        raise OutputTooLarge(
            f"--upscale {k} output would be {w * k}x{h * k} = {w * k * h * k:,} pixels, over the limit of "
            f"{max_pixels:,} (--max-pixels); use a smaller --upscale"
        )


def _temp_for(final: Path, tag: str) -> Path:
    """The name a file of the set is staged under beside its final name (``sweep_temps`` knows it)."""
    return final.parent / f".{final.name}.{tag}.tmp"


def stage_outputs(rec: Reconstruction, out_dir: Path, stem: str, outputs: OutputOptions, tag: str,
                  sheet: SheetResult | None = None) -> list[StagedFile]:
    """Render and write every file of the set to temp names; all or nothing on failure.

    ``sheet`` (``core.sheet.reconstruct_sheet``) is needed when ``outputs.sheet`` is set.
    """
    if rec.sprite is None or rec.grid is None:
        raise ValueError("nothing to write: the reconstruction failed")
    if outputs.sheet and sheet is None:
        raise ValueError("--sheet outputs need the sheet reconstruction")
    names = output_names(stem, outputs)
    staged: list[StagedFile] = []
    # --indexed: every art file of the set in one index order (the run's palette, when it has one).
    order = index_palette(rec)
    try:
        # One file rendered at a time: an upscale can be large, and it is freed before the next.
        for kind in names:
            if kind in (SHEET_SPRITES, "sheet", "sheet_json"):
                assert sheet is not None
                # A region's own background removal can clear cells the whole image kept.
                sheet_alpha = rec.has_alpha or any(bool((r.sprite[..., 3] < 255).any()) for r in sheet.regions)
                staged.extend(_stage_sheet(kind, sheet, out_dir, stem, names[kind], sheet_alpha, tag, outputs.indexed, order))
                continue
            arrays = _render(rec, outputs, kind)
            if arrays is None:
                continue
            final = out_dir / names[kind]
            tmp = _temp_for(final, tag)
            if outputs.indexed and kind in ("sprite", "upscale"):
                save_sprite_png(tmp, arrays[0], arrays[1], order)
            else:
                save_png(tmp, arrays[0], arrays[1])
            staged.append(StagedFile(kind, os.fspath(tmp), os.fspath(final)))
    except BaseException:
        discard(staged)
        raise
    return staged


def _stage_sheet(kind: str, sheet: SheetResult, out_dir: Path, stem: str, name: str, keep_alpha: bool, tag: str,
                 indexed: bool = False, order: tuple[tuple[int, int, int], ...] | None = None) -> list[StagedFile]:
    """The sheet's files of one kind under temp names (the per-sprite ones inside ``<stem>/``);
    ``indexed``: the sprites and the sheet image as indexed PNGs in ``order`` (``save_sprite_png``)."""

    def save_art(path: Path, rgba: np.ndarray, alpha: bool) -> None:
        if indexed:
            save_sprite_png(path, rgba, alpha, order)
        else:
            save_png(path, rgba, alpha)

    if kind == SHEET_SPRITES:
        folder = out_dir / stem
        folder.mkdir(exist_ok=True)
        out = []
        for region in sheet.regions:
            final = folder / f"{region.index}.png"
            save_art(_temp_for(final, tag), region.sprite, keep_alpha)
            out.append(StagedFile(f"sheet_sprite_{region.index}", os.fspath(_temp_for(final, tag)), os.fspath(final)))
        return out
    image, doc = sheet_outputs(sheet, stem)
    final = out_dir / name
    if kind == "sheet":
        save_art(_temp_for(final, tag), image, True)
    else:
        write_text_atomic(_temp_for(final, tag), json.dumps(doc, indent=1) + "\n")
    return [StagedFile(kind, os.fspath(_temp_for(final, tag)), os.fspath(final))]


def _render(rec: Reconstruction, outputs: OutputOptions, kind: str) -> tuple[np.ndarray, bool] | None:
    assert rec.sprite is not None and rec.grid is not None
    if kind == "sprite":
        return rec.sprite, rec.has_alpha
    if kind == "upscale":
        assert outputs.upscale is not None
        return render.upscale(rec.sprite, outputs.upscale), rec.has_alpha
    if kind == "diff":
        return render.diff_overlay(rec.image, rec.grid, rec.sprite), True
    if kind == "heatmap":
        return None if rec.cell_error is None else (render.heatmap(rec.image, rec.grid, rec.cell_error), True)
    if kind == "grid":
        return render.grid_overlay(rec.image, rec.grid), True
    raise ValueError(f"unknown output kind {kind!r}")


def commit(staged: list[StagedFile]) -> dict[str, str]:
    """Rename the staged files into place; on failure undo what this call renamed, drop the rest."""
    done: list[StagedFile] = []
    try:
        for item in staged:
            _replace(item.tmp, item.final)
            done.append(item)
    except BaseException:
        for item in done:
            remove_output(item.final)
        discard([s for s in staged if s not in done])
        raise
    return {item.kind: item.final for item in staged}


def _replace(tmp: str, final: str) -> None:
    """``os.replace``, also for a staged folder over an earlier run's folder of the same name
    (which ``os.replace`` refuses when not empty): the old one is moved aside, then removed."""
    if os.path.isdir(tmp) and os.path.isdir(final) and not os.path.islink(final):
        aside = f"{tmp}.old.tmp"  # swept like any temp of this run if the process dies here
        os.replace(final, aside)
        try:
            os.replace(tmp, final)
        except BaseException:
            os.replace(aside, final)
            raise
        shutil.rmtree(aside, ignore_errors=True)
        return
    os.replace(tmp, final)


def remove_output(path: str) -> None:
    """Remove a committed or staged output, a file or an animation's folder of frames."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)


def discard(staged: list[StagedFile]) -> None:
    for item in staged:
        remove_output(item.tmp)  # a file, or an animation's staged folder of frames
    # A sheet's per-sprite folder made for this set goes too, when nothing else is in it.
    for folder in {os.path.dirname(item.tmp) for item in staged if item.kind.startswith("sheet_sprite_")}:
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def sweep_temps(out_dir: Path, tag: str) -> list[Path]:
    """Remove every temp file of this run left in ``out_dir`` (killed workers leave them)."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(out_dir))
    except OSError:
        return removed
    suffix = f".{tag}.tmp"
    # A sheet's per-sprite files are staged one folder down (``<stem>/``).
    with contextlib.suppress(OSError):
        entries += [sub for e in entries if e.is_dir(follow_symlinks=False) for sub in os.scandir(e.path)
                    if sub.name.startswith(".") and sub.name.endswith(".tmp")]
    for entry in entries:
        # save_png's own temp (".<name>.<random>.tmp") sits beside ours, named after ours.
        if entry.name.startswith(".") and entry.name.endswith(".tmp") and (entry.name.endswith(suffix) or f".{tag}.tmp." in entry.name):
            if entry.is_dir(follow_symlinks=False):  # an animation's staged folder of frames
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(Path(entry.path))
                continue
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed
