"""Batch reconstruction: expand inputs, give every image a clash-free output name, run the
pipeline on each (inline, a local process pool or Dask: ``pixelperfecter.runner``) and hand back
one result per image, in input order.

Workers only *stage* an image's output set (temp names beside the final ones, ``outputset``);
the driver - this process - renames each set into place and records it (metrics row, then the
run manifest) as soon as it arrives, with SIGINT/SIGTERM held off for those few syscalls.  So
every output set is complete or absent, has its metrics row, and the metrics CSV and the
manifest have a single writer, whichever executor ran the work.

No Typer and no printing here: ``cli_reconstruct`` turns the results into human lines or JSON.
Every per-image failure (bad file, no grid, unwritable output) becomes an ``ImageResult`` with
``status == "error"`` and a one-line reason; nothing here raises for a single bad image.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import signal
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .core import quantize
from .core.animation import frame_names
from .core.grid import forced_size_error
from .core.io import IMAGE_SUFFIXES, ImageLoadError, gif_limits, is_animated, iter_images, load_animation, load_image
from .core.metrics import append_metrics, metrics_row, printable_path
from .core.pipeline import OutputOptions, index_palette, indexed_warning, reconstruct
from .core.sheet import reconstruct_sheet, sheet_warnings
from .core.types import Metrics, PaletteReport, ReconstructParams, Thresholds
from .manifest import MANIFEST_NAME, InputStamp, Manifest, Record, now_iso, params_key, stamp
from .outputset import (
    OutputTooLarge,
    StagedFile,
    animation_output_names,
    check_output_size,
    commit,
    discard,
    new_run_tag,
    output_names,
    remove_output,
    stage_animation,
    stage_outputs,
    sweep_temps,
)
from .runner import Executor, Ordered, WorkerFailure, make_executor, run_unordered
from .runner import default_workers as default_workers  # re-exported: the CLI imports it from here
from .runner import one_line as _one_line

DEFAULT_INPUT_DIR = Path("input")
DEFAULT_OUTPUT_DIR = Path("output")
METRICS_NAME = "metrics.csv"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class BatchSettings:
    """Everything a worker needs to process one image (picklable)."""

    out_dir: Path
    params: ReconstructParams = ReconstructParams()
    thresholds: Thresholds = Thresholds()
    outputs: OutputOptions = OutputOptions()
    max_pixels: int = Thresholds().max_pixels
    # Check the ML model's grid suggestions with the pipeline (the `ml` extra's hybrid).
    use_ml: bool = False
    # The proposer behind --ml, named "module:factory" so workers resolve it themselves (it
    # holds a model) and this module imports no optional package.
    proposer: str = "pixelperfecter_ml.inference:default_proposer"
    # Names this run's temp files, so the driver can sweep exactly those after a kill.
    run_tag: str = field(default_factory=new_run_tag)
    # --animate: animated inputs (and, with --frames, folder arguments) are animations: one
    # grid across their frames, written as animations, frames and a sheet.
    animate: bool = False
    # The animated containers to write ("gif", "webp"); empty: the input's own (``animation.default_formats``).
    anim_formats: tuple[str, ...] = ()
    # Send each image's cell colours back (``ImageResult.colors``): only ``--save-palette`` of one
    # image reads them, and a busy image has a million (not an output option: not in shaping_key).
    collect_colors: bool = False

    def shaping_key(self) -> str:
        """Hash of every option that shapes the output files (the manifest's ``params``)."""
        animation = {"animate": True, "anim_formats": list(self.anim_formats)} if self.animate else {}
        return params_key({
            "params": asdict(self.params), "outputs": asdict(self.outputs), "max_pixels": self.max_pixels,
            "use_ml": self.use_ml, "proposer": self.proposer if self.use_ml else None, "version": __version__,
            **animation,
        })


@dataclass(frozen=True)
class ImageJob:
    """One input image and the stem its outputs are written under."""

    index: int
    path: Path
    stem: str
    # Why the stem differs from the file's own stem (a clash), for the user.
    renamed_because: str | None = None


@dataclass(frozen=True)
class GridSummary:
    cell_w: float
    cell_h: float
    offset_x: float
    offset_y: float
    cells_x: int
    cells_y: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "cell_w": round(self.cell_w, 4),
            "cell_h": round(self.cell_h, 4),
            "offset_x": round(self.offset_x, 4),
            "offset_y": round(self.offset_y, 4),
            "cells_x": self.cells_x,
            "cells_y": self.cells_y,
        }


@dataclass
class ImageResult:
    """What happened to one image of a batch."""

    index: int
    image: str
    status: str  # "ok" or "error"
    grid: GridSummary | None = None
    metrics: Metrics | None = None
    flags: tuple[str, ...] = ()
    outputs: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    # What the colour reduction did (None when no --colors/--palette was asked for).
    palette: PaletteReport | None = None
    # The sprite's colours, most used first (kept for --save-palette).
    colors: tuple[tuple[int, int, int], ...] = ()
    # Worker -> driver only: the output set under temp names, and what the input file was.
    staged: list[StagedFile] = field(default_factory=list)
    input_stamp: InputStamp | None = None
    stem: str = ""
    # With --sheet: each sprite region's grid and fit (``core.sheet.SheetRegion.summary``).
    regions: list[dict[str, object]] | None = None
    # An animation's frames count, durations, loop and per-frame diff (None for a still image).
    animation: dict[str, object] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_json(self) -> dict[str, object]:
        metrics: dict[str, object] | None = None
        if self.metrics is not None:
            metrics = {
                "diff_pct": round(self.metrics.diff_pct, 4),
                "confidence": round(self.metrics.confidence, 4),
                "n_colors": self.metrics.n_colors,
                "seconds": round(self.metrics.seconds, 4),
                "flags": list(self.flags),
            }
            if self.palette is not None:
                metrics["palette"] = {
                    "source": self.palette.source,
                    "size": len(self.palette.colors),
                    "max_error": round(self.palette.max_error, 2),
                    "colors": [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in self.palette.colors],
                }
            if self.metrics.background:
                metrics["background"] = self.metrics.background
                metrics["transparent_cells"] = self.metrics.transparent_cells
        out: dict[str, object] = {
            "image": printable_path(self.image),
            "status": self.status,
            "grid": self.grid.as_dict() if self.grid is not None else None,
            "metrics": metrics,
            "outputs": {k: printable_path(v) for k, v in self.outputs.items()},
            "warnings": list(self.warnings),
            "error": self.error,
            # Only with --sheet, so that every other run's JSON stays as it was.
            **({"regions": self.regions} if self.regions is not None else {}),
        }
        if self.animation is not None:
            out["animation"] = self.animation
        return out

    def metrics_row(self, thresholds: Thresholds) -> dict[str, object]:
        output = self.outputs.get("sprite") or self.outputs.get("sheet", "")
        row = metrics_row(self.image, self.metrics, thresholds, error=self.error, output=output,
                          regions=None if self.regions is None else len(self.regions))
        if self.animation is not None and self.metrics is not None:
            # The CSV's columns are fixed (appends to older files): the animation is noted first
            # in its warnings column, the per-frame figures with it.
            note = animation_note(self.animation)
            row["warnings"] = f"{note}; {row['warnings']}" if row.get("warnings") else note
        return row


def animation_note(animation: dict[str, object]) -> str:
    """``animation: 6 frames, 100/120/... ms, frame diff % 0.01/0.02/...`` for the metrics CSV."""
    durations = animation.get("durations_ms") or []
    diffs = animation.get("frame_diff_pct") or []
    assert isinstance(durations, list) and isinstance(diffs, list)
    return (f"animation: {animation.get('frames')} frames, {'/'.join(str(d) for d in durations)} ms, "
            f"frame diff % {'/'.join(f'{d:.3f}' for d in diffs)}")


# --------------------------------------------------------------------------- inputs


@dataclass
class InputSelection:
    """The files a command line names, plus the arguments that named nothing usable."""

    files: list[Path]
    problems: list[tuple[str, str]]  # (argument, reason)


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except (ValueError, OSError):
        return False


def _nothing_found(p: Path, is_dir: bool, recursive: bool) -> str:
    if not is_dir:
        return "no files match this pattern"
    try:
        has_subfolders = any(child.is_dir() for child in p.iterdir())
    except OSError:
        has_subfolders = False
    hint = " (use --recursive for subfolders)" if has_subfolders and not recursive else ""
    return f"no images found in folder{hint}"


def collect_inputs(
    paths: Sequence[str | Path],
    recursive: bool = False,
    exclude_dir: Path | None = None,
    earlier_outputs: Manifest | None = None,
    frame_folders: bool = False,
) -> InputSelection:
    """Expand files, folders and globs, in argument order, without duplicates.

    ``frame_folders`` (``--frames``): a folder argument is one input, an animation of its frames,
    kept in its place among the other arguments; with ``recursive`` it is every folder at or
    below it that holds frames itself (``frame_folders_under``), each one animation.

    Folder expansion skips ``exclude_dir`` (the output folder) so that ``perfecter reconstruct .
    --recursive`` does not feed last run's results back in, and every file the run manifest
    ``earlier_outputs`` lists as an output (``--out`` equal to the input folder).  A named file
    is always kept, even with an odd suffix or when missing, so that it gets its own clear
    error later - unless it is an earlier output, which is an error of its own.
    """
    files: list[Path] = []
    seen: set[Path] = set()
    problems: list[tuple[str, str]] = []
    for raw in paths:
        text = str(raw)
        p = Path(text)
        is_dir = p.is_dir()
        is_glob = not p.exists() and any(ch in text for ch in "*?[")
        if is_dir and not os.access(p, os.R_OK | os.X_OK):
            problems.append((text, "permission denied (cannot list folder)"))
            continue
        if frame_folders and is_dir:
            found = frame_folders_under(p, exclude_dir, earlier_outputs) if recursive else [p]
            if not found:
                problems.append((text, "no image frames in this folder or its subfolders"))
        else:
            found = iter_images([p], recursive=recursive)
        if frame_folders and is_dir:
            pass  # filtered by ``frame_folders_under``; a folder named without -r is used as named
        elif is_dir or is_glob:
            # Skip the output folder when it sits inside what is being walked, but not when
            # the user names it (or something inside it) on purpose.
            anchor = p if is_dir else Path(text.split("*")[0].split("?")[0].split("[")[0] or ".")
            if exclude_dir is not None and not _is_within(anchor, exclude_dir):
                found = [f for f in found if not _is_within(f, exclude_dir)]
            if is_glob:
                # A glob names the images in a place; notes and other files there are not inputs.
                found = [f for f in found if f.suffix.lower() in IMAGE_SUFFIXES]
            if earlier_outputs is not None:
                found = [f for f in found if not earlier_outputs.is_output(f)]
            if not found:
                problems.append((text, _nothing_found(p, is_dir, recursive)))
        elif earlier_outputs is not None and earlier_outputs.is_output(p):
            problems.append((text, f"an output of an earlier run (listed in {earlier_outputs.path}), not used as an input"))
            continue
        for f in found:
            key = f.resolve() if f.exists() else f.absolute()
            if key not in seen:
                seen.add(key)
                files.append(f)
    return InputSelection(files=files, problems=problems)


def frame_folders_under(root: Path, exclude_dir: Path | None = None, earlier_outputs: Manifest | None = None) -> list[Path]:
    """``--frames --recursive``: ``root`` and every folder below it that holds image frames
    itself (``core.io.frame_files``), sorted; not the output folder (unless ``root`` is in it),
    nor an earlier run's frames folders, nor hidden folders."""
    from .core.io import frame_files

    skip_out = exclude_dir is not None and not _is_within(root, exclude_dir)
    found: list[Path] = []
    for folder, subdirs, _ in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        here = Path(folder)
        if (skip_out and exclude_dir is not None and _is_within(here, exclude_dir)) or (
                earlier_outputs is not None and earlier_outputs.is_output(here)):
            subdirs[:] = []
            continue
        try:
            if frame_files(here):
                found.append(here)
        except ImageLoadError:
            continue
    return found


def _output_names(stem: str, outputs: OutputOptions, anim_formats: tuple[str, ...] | None = None) -> list[str]:
    """Every file name the output set of ``stem`` has (with ``anim_formats``, an animation's too:
    any input may turn out to be animated)."""
    names = list(output_names(stem, outputs).values())
    if anim_formats is not None:
        names += [n for n in animation_output_names(stem, anim_formats or ANY_ANIMATION_FORMATS).values() if n not in names]
    return names


# Before the files are opened, an animation's container is not known: both names are kept free.
ANY_ANIMATION_FORMATS = ("gif", "webp")


def plan_jobs(files: Sequence[Path], out_dir: Path, outputs: OutputOptions = OutputOptions(),
              anim_formats: tuple[str, ...] | None = None) -> list[ImageJob]:
    """Give every input a stem whose output files clash with no other input's outputs.

    Two ``a.png`` from different folders (or ``a.png`` and ``a.jpg``) would write the same
    ``out/a.png``; the later one becomes ``a-2``.  Names are compared case-insensitively (macOS
    and Windows file systems) and an input file that lives in the output folder is never
    overwritten by a result.
    """
    taken: set[str] = set()
    for f in files:
        if _is_within(f, out_dir) and f.resolve().parent == out_dir.resolve():
            taken.add(f.name.lower())
    jobs: list[ImageJob] = []
    first_owner: dict[str, Path] = {}
    for index, f in enumerate(files):
        base = (f.name if f.is_dir() else f.stem) or "image"  # a folder of frames (--frames) keeps its whole name
        stem = base
        n = 1
        while any(name.lower() in taken for name in _output_names(stem, outputs, anim_formats)):
            n += 1
            stem = f"{base}-{n}"
        why = None
        if stem != base:
            owner = first_owner.get(base.lower())
            why = f"output renamed to {stem}.png: {base}.png is taken" + (f" by {owner}" if owner else "")
        first_owner.setdefault(base.lower(), f)
        taken.update(name.lower() for name in _output_names(stem, outputs, anim_formats))
        jobs.append(ImageJob(index=index, path=f, stem=stem, renamed_because=why))
    return jobs


def check_output_dir(out_dir: Path) -> str | None:
    """None if results can be written into ``out_dir`` (creating it), else a one-line reason."""
    if out_dir.exists() and not out_dir.is_dir():
        return "exists and is not a folder"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return "exists and is not a folder"
    except NotADirectoryError:
        return "a parent path is not a folder"
    except PermissionError:
        return "permission denied"
    except OSError as exc:
        return f"cannot create folder ({exc.strerror or exc})"
    try:
        fd, probe = tempfile.mkstemp(prefix=".perfecter-probe.", suffix=".tmp", dir=out_dir)
    except PermissionError:
        return "permission denied (folder is not writable)"
    except OSError as exc:
        return f"folder is not writable ({exc.strerror or exc})"
    os.close(fd)
    os.unlink(probe)
    return None


# --------------------------------------------------------------------------- one image (in a worker)


def _reconstruct(job: ImageJob, settings: BatchSettings, result: ImageResult) -> Any:
    loaded = load_image(job.path, max_pixels=settings.max_pixels)
    result.warnings.extend(loaded.warnings)
    if (too_fine := forced_size_error(loaded.width, loaded.height, settings.params.target_cells)) is not None:
        raise ImageLoadError(too_fine)  # this image cannot be used at that size; the batch goes on
    extra: dict[str, Any] = {"proposers": [_proposer(settings.proposer)]} if settings.use_ml else {}
    return reconstruct(loaded.rgba, settings.params, has_alpha=loaded.has_alpha, source=job.path, thresholds=settings.thresholds, **extra)


@functools.lru_cache(maxsize=4)
def _proposer(spec: str) -> Any:
    """Resolve "module:factory" once per worker process (the factory loads the model)."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)()


def process_image(job: ImageJob, settings: BatchSettings) -> ImageResult:
    """Load, reconstruct and stage the outputs of one image; never raises for a bad image.

    The outputs are left under temp names (``result.staged``) for the driver to commit.
    """
    start = time.perf_counter()
    result = ImageResult(index=job.index, image=str(job.path), status="error", stem=job.stem)
    if job.renamed_because:
        result.warnings.append(job.renamed_because)

    def failed(reason: str) -> ImageResult:
        result.error = _one_line(reason)
        result.seconds = time.perf_counter() - start
        return result

    if settings.animate and (job.path.is_dir() or is_animated(job.path)):
        return _process_animation(job, settings, result, failed, start)
    try:
        rec = _reconstruct(job, settings, result)
    except ImageLoadError as exc:
        return failed(str(exc))
    except MemoryError:
        return failed("out of memory while reconstructing")
    except Exception as exc:  # a crash in the pipeline must not kill the batch
        return failed(f"internal error while reconstructing ({type(exc).__name__}: {exc})")
    with contextlib.suppress(OSError):
        result.input_stamp = stamp(job.path)
    if settings.anim_formats:
        result.warnings.append(f"--anim-format {'/'.join(settings.anim_formats)} applies to animations only; "
                               "this image is written as a still PNG")
    if (no_grid := _take_grid(result, rec, failed)) is not None:
        return no_grid
    assert rec.metrics is not None  # _take_grid fails a result without them
    if settings.outputs.indexed and rec.sprite is not None:
        fallback = indexed_warning(rec.sprite, rec.has_alpha, index_palette(rec))
        if fallback is not None:
            result.warnings.append(fallback)
    result.palette = rec.palette
    if settings.collect_colors and rec.sprite is not None:
        result.colors = _ranked_colours([rec.sprite])
    sheet = None
    if settings.outputs.sheet:
        try:
            sheet = reconstruct_sheet(rec, settings.params)
        except MemoryError:
            return failed("out of memory while finding the sheet's sprites")
        except Exception as exc:  # a crash in the sheet step must not kill the batch
            return failed(f"internal error while finding the sheet's sprites ({type(exc).__name__}: {exc})")
        assert sheet is not None  # rec.ok
        result.regions = [r.summary() for r in sheet.regions]
        result.warnings.extend(sheet_warnings(sheet))
        if settings.outputs.indexed:
            # The sheet's files are indexed too; their colours together decide (the sheet image holds them all).
            joined = np.concatenate([r.sprite.reshape(1, -1, 4) for r in sheet.regions], axis=1)
            fallback = indexed_warning(joined, True, index_palette(rec))
            if fallback is not None:
                result.warnings.append(f"sheet: {fallback}")
    result.metrics = Metrics(**{**rec.metrics.__dict__, "warnings": tuple(result.warnings)})
    result.flags = rec.metrics.flags(settings.thresholds)

    def stage() -> list[StagedFile]:
        check_output_size(rec, settings.outputs, settings.max_pixels)
        return stage_outputs(rec, settings.out_dir, job.stem, settings.outputs, settings.run_tag, sheet)

    return _staged(result, stage, failed, settings, start)


def _ranked_colours(sprites: Sequence[np.ndarray]) -> tuple[tuple[int, int, int], ...]:
    """The sprites' distinct cell colours, most used first (ties by colour value)."""
    colors, counts = quantize.colour_counts(sprites)
    return tuple((int(r), int(g), int(b)) for r, g, b in colors[np.lexsort((np.arange(len(counts)), -counts))])


def _take_grid(result: ImageResult, rec: Any, failed: Callable[[str], ImageResult]) -> ImageResult | None:
    """The reconstruction's warnings and grid into ``result``; the failure when it found none.

    ``rec``: a still's ``Reconstruction`` or an ``AnimationReconstruction`` (same fields)."""
    result.warnings.extend(w for w in rec.warnings if w not in result.warnings)
    if rec.grid is not None:
        g = rec.grid
        result.grid = GridSummary(g.cell_w, g.cell_h, g.offset_x, g.offset_y, g.cells_x, g.cells_y)
    if not rec.ok or rec.metrics is None:
        return failed(f"no grid found ({rec.error})" if rec.error and "grid" not in rec.error else rec.error or "no grid found")
    return None


def _process_animation(job: ImageJob, settings: BatchSettings, result: ImageResult,
                       failed: Callable[[str], ImageResult], start: float) -> ImageResult:
    """``process_image`` for an animated file or a folder of frames: one grid, many frames."""
    from .core.animation import default_formats, reconstruct_loaded

    try:
        loaded = load_animation(job.path, max_pixels=settings.max_pixels)
        result.warnings.extend(loaded.warnings)
        height, width = loaded.frames[0].shape[:2]
        if (too_fine := forced_size_error(width, height, settings.params.target_cells)) is not None:
            return failed(too_fine)
        extra: dict[str, Any] = {"proposers": [_proposer(settings.proposer)]} if settings.use_ml else {}
        rec = reconstruct_loaded(loaded, settings.params, settings.thresholds, **extra)
    except ImageLoadError as exc:
        return failed(str(exc) + _subfolder_hint(job.path))
    except MemoryError:
        return failed("out of memory while reconstructing")
    except Exception as exc:  # a crash in the pipeline must not kill the batch
        return failed(f"internal error while reconstructing ({type(exc).__name__}: {exc})")
    with contextlib.suppress(OSError):
        result.input_stamp = stamp(job.path)  # a folder of frames: its frame files (``manifest.folder_stamp``)
    if (no_grid := _take_grid(result, rec, failed)) is not None:
        return no_grid
    assert rec.metrics is not None  # _take_grid fails a result without them
    o = settings.outputs
    if (o.upscale and o.upscale > 1) or o.diff or o.heatmap or o.grid:
        result.warnings.append("--upscale/--diff/--heatmap/--grid are not written for animations")
    if o.sheet:
        result.warnings.append("--sheet is not applied to animations (their frames are written as a sheet)")
    if o.indexed:
        result.warnings.append("--indexed is not applied to animations (their PNG frames and sheet stay RGBA; a GIF is indexed by nature)")
    formats = settings.anim_formats or default_formats(loaded.source_format)
    if "gif" in formats and (lost := gif_limits(rec.sprites)):
        result.warnings.append(f"the GIF is not exact: {'; '.join(lost)}; the PNG frames and the sheet are exact")
    result.palette = rec.palette
    if settings.collect_colors:
        result.colors = _ranked_colours(rec.sprites)
    result.metrics = Metrics(**{**rec.metrics.__dict__, "warnings": tuple(result.warnings)})
    result.flags = rec.metrics.flags(settings.thresholds)
    result.animation = {
        "frames": len(rec.frames), "durations_ms": list(rec.durations_ms), "loop": rec.loop,
        "source_format": loaded.source_format, "frame_diff_pct": [round(d, 4) for d in rec.frame_diff_pct],
    }
    return _staged(result, lambda: stage_animation(rec, settings.out_dir, job.stem, formats, settings.run_tag), failed, settings, start)


def _staged(result: ImageResult, stage: Callable[[], list[StagedFile]], failed: Callable[[str], ImageResult],
            settings: BatchSettings, start: float) -> ImageResult:
    """The last step of every image: its output set staged (complete or absent), or one error."""
    try:
        result.staged = stage()
    except OutputTooLarge as exc:
        return failed(str(exc))
    except MemoryError:
        return failed("out of memory while writing the outputs (try a smaller --upscale)")
    except OSError as exc:
        where = exc.filename or settings.out_dir
        return failed(f"cannot write output {printable_path(where)} ({exc.strerror or exc})")
    result.outputs = {item.kind: item.final for item in result.staged}
    result.status = "ok"
    result.seconds = time.perf_counter() - start
    return result


def _subfolder_hint(path: Path) -> str:
    """For a ``--frames`` folder without frames of its own but with subfolders: how to use them."""
    from .core.io import frame_files

    try:
        if path.is_dir() and not frame_files(path) and any(c.is_dir() and not c.name.startswith(".") for c in path.iterdir()):
            return " (it has subfolders: with --recursive each subfolder of frames is one animation)"
    except (OSError, ImageLoadError):
        pass
    return ""


def _safe_process(job: ImageJob, settings: BatchSettings) -> ImageResult:
    try:
        return process_image(job, settings)
    except Exception as exc:  # belt and braces: one image, one error line, batch goes on
        return _failed(job, f"internal error ({type(exc).__name__}: {exc})")


@dataclass(frozen=True)
class _BoundProcess:
    """``_safe_process`` with the settings bound (picklable, unlike a lambda)."""

    settings: BatchSettings

    def __call__(self, job: ImageJob) -> ImageResult:
        return _safe_process(job, self.settings)


def _failed(job: ImageJob, reason: str) -> ImageResult:
    return ImageResult(index=job.index, image=str(job.path), status="error", error=_one_line(reason), stem=job.stem)


# --------------------------------------------------------------------------- shared palette (first pass)


@dataclass(frozen=True)
class _BoundColours:
    """One image's cell colours after unify, for ``--shared-palette``'s first pass (picklable)."""

    settings: BatchSettings

    def __call__(self, job: ImageJob) -> tuple[np.ndarray, np.ndarray] | None:
        plain = replace(self.settings, params=replace(self.settings.params, max_colors=None, colors_auto=False, palette=None))
        try:
            if plain.animate and (job.path.is_dir() or is_animated(job.path)):
                # An animation (a --frames folder, an animated file) gives every frame's colours,
                # as the normal run reconstructs it (``_process_animation``).
                from .core.animation import reconstruct_loaded

                extra: dict[str, Any] = {"proposers": [_proposer(plain.proposer)]} if plain.use_ml else {}
                anim = reconstruct_loaded(load_animation(job.path, max_pixels=plain.max_pixels), plain.params, plain.thresholds, **extra)
                return quantize.colour_counts(anim.sprites) if anim.ok and anim.sprites else None
            rec = _reconstruct(job, plain, ImageResult(index=job.index, image=str(job.path), status="error"))
        except Exception:  # the normal run reports this image's error; it adds no colours here
            return None
        return None if rec.sprite is None else quantize.colour_counts([rec.sprite])


def shared_palette(jobs: Sequence[ImageJob], settings: BatchSettings, executor: Executor) -> PaletteReport | None:
    """One palette from the cells of every image (``--shared-palette``); None if no image had cells.

    Each image is reconstructed without the palette step in a worker; the colour counts of all
    are merged and reduced as ``--colors`` asks (auto when it does not), in the driver.
    """
    parts = [value for _, value in run_unordered(_BoundColours(settings), list(jobs), executor) if isinstance(value, tuple)]
    colors, counts = quantize.merge_counts(parts)
    if len(colors) == 0:
        return None
    p = settings.params
    result = quantize.palette_for_counts(colors, counts, p.max_colors, p.colors_auto or p.max_colors is None)
    source = "shared " + (f"max {p.max_colors}" if p.max_colors is not None else "auto")
    return PaletteReport(source, tuple((int(r), int(g), int(b)) for r, g, b in result.colors), result.max_error())


def with_shared_palette(settings: BatchSettings, palette: PaletteReport) -> BatchSettings:
    """``settings`` with the batch's palette fixed, so every image maps onto it (and --resume sees it)."""
    return replace(settings, params=replace(settings.params, max_colors=None, colors_auto=False, palette=palette.colors, palette_source="shared"))


# --------------------------------------------------------------------------- the driver


class Interrupted(Exception):
    """SIGINT or SIGTERM reached the driver."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _SignalGate:
    """Defers SIGINT/SIGTERM while the driver commits and records an image.

    Masking the signal (``pthread_sigmask``) is not enough: the OS hands it to any thread
    that does not block it (the pool's manager thread), and Python then runs the handler in
    the main thread at once.  So the handler asks this gate, which holds the signal until the
    critical section ends.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.pending: int | None = None

    def deliver(self, signum: int, _frame: object = None) -> None:
        if self.depth:
            self.pending = signum
            return
        raise Interrupted(signum)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if self.depth == 0 and self.pending is not None:
                signum, self.pending = self.pending, None
                raise Interrupted(signum)


_GATE = _SignalGate()
signals_held = _GATE.held


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``Interrupted`` in the driver, never inside a commit."""
    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _GATE.deliver)
    except ValueError:  # not the main thread (an embedding app): leave signals alone
        pass
    try:
        yield
    finally:
        for restored, handler in previous.items():
            signal.signal(restored, handler)


@dataclass
class Recorder:
    """Where the driver records finished images: the metrics CSV and the run manifest."""

    thresholds: Thresholds
    metrics_path: Path | None
    manifest: Manifest | None
    params: str = ""
    warnings: list[str] = field(default_factory=list)
    recorded: int = 0
    failed: int = 0

    def record(self, result: ImageResult) -> None:
        """Metrics row first, manifest last: an image the manifest lists is complete."""
        if self.metrics_path is not None:
            self.warnings.extend(append_metrics(self.metrics_path, [result.metrics_row(self.thresholds)]))
        if self.manifest is not None and result.input_stamp is not None:
            s = result.input_stamp
            files: list[str] = []
            if result.animation is not None and "frames" in result.outputs:
                # The frames folder's files, so that --resume sees a frame gone missing.
                count = result.animation["frames"]
                assert isinstance(count, int)
                files = [os.path.abspath(os.path.join(result.outputs["frames"], n)) for n in frame_names(count)]
            self.manifest.append([Record(
                input=os.path.abspath(result.image), size=s.size, mtime_ns=s.mtime_ns, sha256=s.sha256,
                params=self.params, stem=result.stem, status=result.status,
                outputs={k: os.path.abspath(v) for k, v in result.outputs.items()}, error=result.error, finished=now_iso(),
                files=files,
            )])
        self.recorded += 1
        self.failed += not result.ok


def finish(result: ImageResult, recorder: Recorder | None) -> ImageResult:
    """Commit a worker's staged outputs and record the image (in the driver)."""
    with signals_held():
        if result.staged:
            try:
                result.outputs = commit(result.staged)
            except OSError as exc:
                result.status, result.outputs = "error", {}
                result.error = _one_line(f"cannot write output {printable_path(exc.filename or '')} ({exc.strerror or exc})")
            result.staged = []
        if recorder is not None:
            try:
                recorder.record(result)
            except BaseException:
                # Not recorded means not done: take the set back out so it is never orphaned.
                for path in result.outputs.values():
                    remove_output(path)
                raise
    return result


def run_batch(
    jobs: Sequence[ImageJob],
    settings: BatchSettings,
    workers: int = 1,
    on_done: Callable[[ImageResult], None] | None = None,
    executor: Executor | None = None,
    recorder: Recorder | None = None,
    on_progress: Callable[[ImageResult], None] | None = None,
) -> Iterator[ImageResult]:
    """Process ``jobs``; commit, record and yield their results in input order.

    ``on_progress`` is called as each worker hands an image back (completion order: progress
    bars); the image is committed and recorded once every image before it has been, then
    ``on_done`` is called and it is yielded.  In input order, the metrics CSV and the manifest
    come out the same whatever the executor and the worker count, and an interrupted run
    stops at a clean prefix: what was not committed is swept.  With one worker or one image
    everything runs in this process.  However the run ends (done, Ctrl-C, SIGTERM, a metrics
    error), the workers are stopped and this run's temp files removed before it returns.
    """
    chosen = executor or make_executor("local", workers, len(jobs))
    order: Ordered[ImageResult] = Ordered()
    try:
        for index, value in run_unordered(_BoundProcess(settings), jobs, chosen):
            result = value if not isinstance(value, WorkerFailure) else _failed(jobs[index], value.reason)
            if on_progress:
                on_progress(result)
            for ready in order.push(index, result):
                finish(ready, recorder)
                if on_done:
                    on_done(ready)
                yield ready
    finally:
        chosen.close()
        sweep_temps(settings.out_dir, settings.run_tag)


def manifest_path(out_dir: Path) -> Path:
    return out_dir / MANIFEST_NAME


__all__ = [
    "BatchSettings", "GridSummary", "ImageJob", "ImageResult", "InputSelection", "Interrupted", "Recorder", "check_output_dir",
    "collect_inputs", "default_workers", "discard", "finish", "manifest_path", "plan_jobs", "process_image", "run_batch",
    "signals_held", "stop_on_signals",
]
