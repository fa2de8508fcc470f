"""The one pipeline: load -> detect grid -> recover cells -> measure -> (render/write)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import cells, palette, render
from .grid import GridProposer, detect_grid
from .io import DEFAULT_MAX_PIXELS, LoadedImage, load_image, save_png
from .metrics import confidence_with_fit, diff_pct_from_errors
from .types import Metrics, Reconstruction, ReconstructParams, Thresholds


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
    sprite = finish_colors([sprite], params)[0]
    errors = cells.sample_errors(samples, sprite)
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
    )
    for flag in metrics.flags(thresholds):
        warnings.append(f"suspicious: {flag}")
    metrics = Metrics(**{**metrics.__dict__, "warnings": tuple(warnings)})
    return Reconstruction(
        image=rgba, params=params, detection=detection, sprite=sprite, cell_error=error,
        metrics=metrics, has_alpha=has_alpha, source=source, warnings=warnings,
    )


def finish_colors(sprites: Sequence[np.ndarray], params: ReconstructParams) -> list[np.ndarray]:
    """The colour steps after cell sampling, over sprites that share one palette.

    One image passes one sprite; an animation passes its frames and a sheet its regions, so that
    a colour the artist used comes out as the same RGB value everywhere it occurs.
    """
    out = list(sprites)
    if params.cleanup_colors and out:
        sizes = [s.shape[0] * s.shape[1] for s in out]
        # The steps work on the multiset of cell colours, not on positions, so the sprites
        # can be joined into one row of cells and split back.
        joined = np.concatenate([s.reshape(1, -1, 4) for s in out], axis=1)
        unified = palette.unify_palette(joined, snap=params.palette_snap).reshape(-1, 4)
        bounds = np.cumsum([0, *sizes])
        out = [unified[a:b].reshape(s.shape) for a, b, s in zip(bounds[:-1], bounds[1:], out)]
    return out


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


def write_outputs(result: Reconstruction, out_dir: str | Path, stem: str, options: OutputOptions = OutputOptions()) -> WrittenFiles:
    """Write ``<stem>.png`` and the requested extras, each atomically."""
    if result.sprite is None or result.grid is None:
        raise ValueError("nothing to write: the reconstruction failed")
    out = Path(out_dir)
    keep_alpha = result.has_alpha
    files: dict[str, Path] = {"sprite": save_png(out / f"{stem}.png", result.sprite, keep_alpha)}
    if options.upscale and options.upscale > 1:
        files["upscale"] = save_png(out / f"{stem}_x{options.upscale}.png", render.upscale(result.sprite, options.upscale), keep_alpha)
    if options.diff:
        files["diff"] = save_png(out / f"{stem}_diff.png", render.diff_overlay(result.image, result.grid, result.sprite))
    if options.heatmap and result.cell_error is not None:
        files["heatmap"] = save_png(out / f"{stem}_heatmap.png", render.heatmap(result.image, result.grid, result.cell_error))
    if options.grid:
        files["grid"] = save_png(out / f"{stem}_grid.png", render.grid_overlay(result.image, result.grid))
    return WrittenFiles(**files)
