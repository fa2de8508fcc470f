"""The one pipeline: load -> detect grid -> recover cells -> measure -> (render/write)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import background, cells, palette, quantize, render
from .grid import GridProposer, detect_grid
from .io import DEFAULT_MAX_PIXELS, MAX_INDEXED_COLORS, LoadedImage, count_index_entries, load_image, save_png, save_png_indexed
from .metrics import confidence_with_fit, diff_pct_from_errors
from .types import Metrics, PaletteReport, Reconstruction, ReconstructParams, Thresholds


def reconstruct(
    rgba: np.ndarray,
    params: ReconstructParams | None = None,
    has_alpha: bool | None = None,
    source: Path | None = None,
    thresholds: Thresholds | None = None,
    profiles: tuple[np.ndarray, np.ndarray] | None = None,
    proposers: Sequence[GridProposer] = (),
) -> Reconstruction:
    """Reconstruct the true-resolution sprite of an RGBA uint8 image.

    ``profiles``: the image's precomputed ``grid.edge_profiles`` (see ``detect_grid``).
    ``proposers``: extra candidate grids (the ML model's) for the selection stage.
    """
    start = time.perf_counter()
    params = params or ReconstructParams()
    thresholds = thresholds or Thresholds()
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"expected an RGBA uint8 array, got {rgba.dtype} {rgba.shape}")
    if has_alpha is None:
        has_alpha = bool((rgba[..., 3] < 255).any())
    detection = detect_grid(rgba, params, profiles, proposers=proposers)
    warnings = list(detection.warnings)
    if detection.grid is None:
        return Reconstruction(
            image=rgba, params=params, detection=detection, sprite=None, cell_error=None,
            metrics=None, has_alpha=has_alpha, source=source, warnings=warnings,
        )
    grid = detection.grid
    samples = cells.cell_samples(rgba, grid)
    sprite = cells.median_colors(samples)
    if has_alpha and params.binarize_alpha:
        sprite = cells.binarize_alpha(sprite, params.alpha_threshold)
    elif not has_alpha:
        sprite[..., 3] = 255
    finished = finish_and_measure([samples], [sprite], params)
    sprite, errors, report = finished.sprites[0], finished.errors[0], finished.palette
    removals = finished.removals
    removed = removals[0].removed if removals else np.zeros(sprite.shape[:2], bool)
    if removals and removals[0].warning:
        warnings.append(removals[0].warning)
    if finished.removed_any:
        # The result now has transparent cells: its files keep alpha.
        has_alpha = True
    diff_pct = diff_pct_from_errors(errors)
    error = cells.cell_error(errors)
    confidence = confidence_with_fit(detection.confidence, diff_pct)
    seconds = time.perf_counter() - start
    metrics = Metrics(
        cell_w=grid.cell_w,
        cell_h=grid.cell_h,
        offset_x=grid.offset_x,
        offset_y=grid.offset_y,
        cells_x=grid.cells_x,
        cells_y=grid.cells_y,
        diff_pct=diff_pct,
        confidence=confidence,
        n_colors=cells.count_colors(sprite),
        seconds=seconds,
        warnings=tuple(warnings),
        palette=report.source if report else "",
        palette_error=report.max_error if report else None,
        background=removals[0].background_text if removals else "",
        transparent_cells=int(removed.sum()),
    )
    for flag in metrics.flags(thresholds):
        warnings.append(f"suspicious: {flag}")
    metrics = Metrics(**{**metrics.__dict__, "warnings": tuple(warnings)})
    return Reconstruction(
        image=rgba, params=params, detection=detection, sprite=sprite, cell_error=error,
        metrics=metrics, has_alpha=has_alpha, source=source, warnings=warnings, palette=report,
    )


@dataclass
class FinishedColors:
    """The colour steps' results for sprites sharing one palette, and each sample's fit."""

    sprites: list[np.ndarray]
    # Each sprite's core-sample errors (``cells.sample_errors``) against its colours before the
    # palette step: the fit judges the grid; the palette step's own cost is ``palette.max_error``.
    # A cell made transparent is measured against its sampled colour (a removed background fits).
    errors: list[np.ndarray]
    removals: list[background.Removal]
    palette: PaletteReport | None

    @property
    def removed_any(self) -> bool:
        return any(bool(r.removed.any()) for r in self.removals)


def finish_and_measure(samples: Sequence[np.ndarray], sprites: Sequence[np.ndarray], params: ReconstructParams) -> FinishedColors:
    """``finish_colors`` for sprites sampled as ``samples`` (one image, an animation's frames, a
    sheet's regions), with the fit measured between its steps: after background removal and
    cleanup, before the palette step."""
    removals: list[background.Removal] = []
    without_palette = replace(params, max_colors=None, colors_auto=False, palette=None)
    # Only the merges read the grain (``palette.scaled_radius``).
    grain = cells.grain(list(samples), list(sprites)) if params.cleanup_colors or params.reduces_colors else None
    finished = finish_colors(sprites, without_palette, removals=removals, grain=grain)
    errors = []
    for i, (sample, raw, sprite) in enumerate(zip(samples, sprites, finished)):
        removed = removals[i].removed if removals else None
        reference = np.where(removed[..., None], raw, sprite) if removed is not None and removed.any() else sprite
        errors.append(cells.sample_errors(sample, reference))
    reports: list[PaletteReport] = []
    if params.reduces_colors:
        finished = reduce_colors(finished, params, on_palette=reports.append, grain=grain)
    return FinishedColors(finished, errors, removals, reports[0] if reports else None)


def finish_colors(
    sprites: Sequence[np.ndarray],
    params: ReconstructParams,
    removals: list[background.Removal] | None = None,
    on_palette: Callable[[PaletteReport], None] | None = None,
    grain: float | None = None,
) -> list[np.ndarray]:
    """The colour steps after cell sampling, over sprites that share one palette.

    One image passes one sprite; an animation passes its frames and a sheet its regions, so that
    a colour the artist used comes out as the same RGB value everywhere it occurs.
    With ``params.transparent`` each sprite's background is removed first (before the palette
    is unified, so the background's shades do not take palette entries); ``removals``, when
    given, receives what that did to each sprite.  ``on_palette`` receives what the colour
    reduction (the last step) did, when the params ask for one.  ``grain`` (``cells.grain``)
    narrows the merges on near-exact images (``palette.scaled_radius``).
    """
    out = list(sprites)
    if params.transparent is not None:
        done = [background.remove_background(s, params.transparent, params.holes) for s in out]
        out = [r.sprite for r in done]
        if removals is not None:
            removals.extend(done)
    if params.cleanup_colors and out:
        sizes = [s.shape[0] * s.shape[1] for s in out]
        # The steps work on the multiset of cell colours, not on positions, so the sprites
        # can be joined into one row of cells and split back.
        joined = np.concatenate([s.reshape(1, -1, 4) for s in out], axis=1)
        unified = palette.unify_palette(joined, snap=palette.scaled_radius(params.palette_snap, grain)).reshape(-1, 4)
        bounds = np.cumsum([0, *sizes])
        out = [unified[a:b].reshape(s.shape) for a, b, s in zip(bounds[:-1], bounds[1:], out)]
    if params.reduces_colors and out:
        out = reduce_colors(out, params, on_palette, grain)
    return out


def reduce_colors(
    sprites: list[np.ndarray], params: ReconstructParams, on_palette: Callable[[PaletteReport], None] | None = None,
    grain: float | None = None,
) -> list[np.ndarray]:
    """The palette step (core.quantize) over all ``sprites`` jointly; transparent cells untouched.

    ``grain``: the cells' mean sample error (``quantize.auto_radius``); None when not measured.
    """
    fixed = np.array(params.palette, np.uint8).reshape(-1, 3) if params.palette is not None else None
    result = quantize.choose_palette(sprites, params.max_colors, params.colors_auto, fixed, quantize.auto_radius(grain))
    if result is None:
        return sprites
    if on_palette is not None:
        if fixed is not None:
            source, used = params.palette_source, result.colors
        else:
            source = f"max {params.max_colors}" if params.max_colors is not None else "auto"
            used = result.colors
        on_palette(PaletteReport(source, tuple((int(r), int(g), int(b)) for r, g, b in used), result.max_error()))
    return quantize.apply_palette(sprites, result)


def reconstruct_file(
    path: str | Path,
    params: ReconstructParams | None = None,
    thresholds: Thresholds | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Reconstruction:
    """Load ``path`` (raises ImageLoadError on bad input) and reconstruct it."""
    loaded: LoadedImage = load_image(path, max_pixels=max_pixels)
    result = reconstruct(loaded.rgba, params, has_alpha=loaded.has_alpha, source=Path(path), thresholds=thresholds)
    result.warnings[:0] = loaded.warnings
    if result.metrics is not None and loaded.warnings:
        result.metrics = Metrics(**{**result.metrics.__dict__, "warnings": tuple(result.warnings)})
    return result


@dataclass(frozen=True)
class OutputOptions:
    """Which files to write beside the true-resolution sprite."""

    upscale: int | None = None
    diff: bool = False
    heatmap: bool = False
    grid: bool = False
    # Write the sprite and its upscale as indexed (mode P) PNGs when they have <= 256 colours.
    indexed: bool = False
    # Sprite sheets (``core.sheet``): ``<stem>/<n>.png`` per sprite, ``<stem>_sheet.png`` and
    # ``<stem>_sheet.json``; written by the batch (``outputset``), not by ``write_outputs``.
    sheet: bool = False


@dataclass(frozen=True)
class WrittenFiles:
    sprite: Path
    upscale: Path | None = None
    diff: Path | None = None
    heatmap: Path | None = None
    grid: Path | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.__dict__.items() if v is not None}


def indexed_warning(sprite: np.ndarray, keep_alpha: bool, palette: Sequence[Sequence[int]] | None = None) -> str | None:
    """Why ``--indexed`` falls back to RGBA for this sprite (over 256 colours), or cannot keep
    ``palette``'s order (``index_palette``: it and the sprite's other entries need over 256), else None."""
    n = count_index_entries(sprite, keep_alpha)
    if n > MAX_INDEXED_COLORS:
        return f"--indexed: {n} colours, more than the {MAX_INDEXED_COLORS} entries an indexed PNG holds; written as RGB(A) (use --colors 256 or fewer)"
    if palette is not None and (k := count_index_entries(sprite, keep_alpha, palette)) > MAX_INDEXED_COLORS:
        return (f"--indexed: the palette ({len(palette)} colours) and this sprite's other entries make {k}, more than the "
                f"{MAX_INDEXED_COLORS} an indexed PNG holds; indexed in the sprite's own order, not the palette's")
    return None


def index_palette(result: Reconstruction) -> tuple[tuple[int, int, int], ...] | None:
    """The order ``--indexed`` files are written in: the palette step's colours as reported
    (a fixed palette in its own order, unused entries included; else most used first), so that
    index i is one colour in every file of the run; None without a palette step."""
    return result.palette.colors if result.palette is not None and result.palette.colors else None


def save_sprite_png(path: Path, rgba: np.ndarray, keep_alpha: bool, palette: Sequence[Sequence[int]] | None = None) -> Path:
    """An indexed PNG (in ``palette``'s order when given) when the colours fit (<= 256), else
    the usual one (see ``indexed_warning``)."""
    return save_png_indexed(path, rgba, keep_alpha, palette) or save_png(path, rgba, keep_alpha)


def write_outputs(result: Reconstruction, out_dir: str | Path, stem: str, options: OutputOptions = OutputOptions()) -> WrittenFiles:
    """Write ``<stem>.png`` and the requested extras, each atomically."""
    if result.sprite is None or result.grid is None:
        raise ValueError("nothing to write: the reconstruction failed")
    out = Path(out_dir)
    keep_alpha = result.has_alpha
    order = index_palette(result)

    def save_art(path: Path, rgba: np.ndarray, alpha: bool) -> Path:
        return save_sprite_png(path, rgba, alpha, order) if options.indexed else save_png(path, rgba, alpha)

    files: dict[str, Path] = {"sprite": save_art(out / f"{stem}.png", result.sprite, keep_alpha)}
    if options.upscale and options.upscale > 1:
        files["upscale"] = save_art(out / f"{stem}_x{options.upscale}.png", render.upscale(result.sprite, options.upscale), keep_alpha)
    if options.diff:
        files["diff"] = save_png(out / f"{stem}_diff.png", render.diff_overlay(result.image, result.grid, result.sprite))
    if options.heatmap and result.cell_error is not None:
        files["heatmap"] = save_png(out / f"{stem}_heatmap.png", render.heatmap(result.image, result.grid, result.cell_error))
    if options.grid:
        files["grid"] = save_png(out / f"{stem}_grid.png", render.grid_overlay(result.image, result.grid))
    return WrittenFiles(**files)
