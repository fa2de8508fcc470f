"""`perfecter reconstruct` (batch) and `perfecter synth`.

Only Typer and the standard library are imported at load time; the core (NumPy, OpenCV,
Pillow), rich and the batch runner are imported inside the command bodies so that
``perfecter --help`` stays fast.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Tuple

import typer

if TYPE_CHECKING:  # pragma: no cover
    from .batch import ImageResult

# Mirrors pixelperfecter.core.synth.TIERS (a test keeps them equal); not imported to keep load light.
SYNTH_TIERS = ("clean", "fractional", "ai", "drift", "small", "big", "sheet")
# Mirrors pixelperfecter.core.io.DEFAULT_MAX_PIXELS (a test keeps them equal).
DEFAULT_MAX_PIXELS = 64_000_000

_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX×,]\s*(\d+)\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """``"32x24"`` -> (32, 24); raises ValueError with a readable message."""
    m = _SIZE_RE.match(text)
    if not m:
        raise ValueError(f"expected WxH such as 32x32, got {text!r}")
    w, h = int(m.group(1)), int(m.group(2))
    if w < 1 or h < 1:
        raise ValueError(f"width and height must be at least 1, got {text!r}")
    return w, h


def _size_callback(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    try:
        parse_size(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def _err(message: str) -> None:
    """Human messages always go to stderr so that --json keeps stdout clean."""
    typer.echo(message, err=True)


def _format_result(result: "ImageResult", name_width: int) -> str:
    """One rich-markup line for a reconstructed image (failures go to stderr as plain errors)."""
    from rich.markup import escape

    # File names may hold "[...]", which rich would read as markup.
    name = escape(Path(result.image).name.ljust(name_width))
    g, m = result.grid, result.metrics
    assert g is not None and m is not None
    cells = f"{g.cells_x}x{g.cells_y}"
    cell = f"{g.cell_w:.2f}x{g.cell_h:.2f}"
    flags = ",".join(result.flags) if result.flags else "-"
    colour = "yellow" if result.flags else "green"
    return (
        f"[{colour}]ok  [/{colour}] {name}  cells {cells:>9}  cell {cell:>11}  "
        f"diff {m.diff_pct:6.2f}%  conf {m.confidence:4.2f}  flags {flags}"
    )


def reconstruct_command(
    paths: Optional[List[str]] = typer.Argument(None, help="Image files, folders or globs (default: input/).", show_default=False),
    out: Path = typer.Option(Path("output"), "--out", "-o", help="Folder for the results."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Descend into subfolders of folder arguments."),
    upscale: Optional[int] = typer.Option(None, "--upscale", min=2, max=64, help="Also write <stem>_xK.png, the sprite scaled up K times."),
    diff: bool = typer.Option(False, "--diff", help="Also write <stem>_diff.png (where the sprite disagrees with the input)."),
    heatmap: bool = typer.Option(False, "--heatmap", help="Also write <stem>_heatmap.png (per-cell error)."),
    grid: bool = typer.Option(False, "--grid", help="Also write <stem>_grid.png (the detected grid over the input)."),
    metrics: Optional[Path] = typer.Option(None, "--metrics", help="Metrics CSV to append to (default: OUT/metrics.csv)."),
    no_metrics: bool = typer.Option(False, "--no-metrics", help="Do not append to a metrics CSV."),
    cell_size: Optional[float] = typer.Option(None, "--cell-size", min=1.0, help="Force the cell size in pixels (both axes)."),
    cell_w: Optional[float] = typer.Option(None, "--cell-w", min=1.0, help="Force the cell width in pixels."),
    cell_h: Optional[float] = typer.Option(None, "--cell-h", min=1.0, help="Force the cell height in pixels."),
    offset: Optional[Tuple[float, float]] = typer.Option(None, "--offset", help="Force the grid phase: X Y in pixels."),
    size: Optional[str] = typer.Option(None, "--size", callback=_size_callback, help="Force the output size in cells, WxH (e.g. 32x32)."),
    no_snap: bool = typer.Option(False, "--no-snap", help="Keep grid lines uniform (no snapping to local edges)."),
    no_cleanup: bool = typer.Option(False, "--no-cleanup", help="Do not merge near-identical colours."),
    keep_alpha: bool = typer.Option(False, "--keep-alpha", help="Keep partial transparency (do not binarize alpha)."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1, help="Refuse images with more pixels (decompression-bomb guard)."),
    max_diff: Optional[float] = typer.Option(None, "--max-diff", min=0.0, max=100.0, help="Flag results whose diff % is above this (default: 1)."),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence", min=0.0, max=1.0, help="Flag results whose confidence is below this (default: 0.5)."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per image on stdout, nothing else."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1, help="Parallel worker processes (default: number of cores)."),
    ml: bool = typer.Option(False, "--ml", help="Also try the ML model's grid suggestions and keep the best fit (needs the 'ml' extra)."),
) -> None:
    """Reconstruct true pixel art from fake pixel art (files, folders, globs; default input/)."""
    from dataclasses import replace

    from .batch import (
        DEFAULT_INPUT_DIR,
        METRICS_NAME,
        BatchSettings,
        check_output_dir,
        collect_inputs,
        default_workers,
        plan_jobs,
        run_batch,
    )
    from .core.metrics import append_metrics
    from .core.pipeline import OutputOptions
    from .core.types import ReconstructParams, Thresholds

    params = ReconstructParams(
        cell_size=cell_size,
        cell_w=cell_w,
        cell_h=cell_h,
        offset_x=offset[0] if offset else None,
        offset_y=offset[1] if offset else None,
        target_cells=parse_size(size) if size else None,
        snap_lines=not no_snap,
        cleanup_colors=not no_cleanup,
        binarize_alpha=not keep_alpha,
    )
    thresholds = Thresholds(max_pixels=max_pixels)
    if max_diff is not None:
        thresholds = replace(thresholds, max_diff_pct=max_diff)
    if min_confidence is not None:
        thresholds = replace(thresholds, min_confidence=min_confidence)
    output_options = OutputOptions(upscale=upscale, diff=diff, heatmap=heatmap, grid=grid)
    if ml:
        from pixelperfecter_ml.cli import require_torch

        require_torch()
    settings = BatchSettings(out_dir=out, params=params, thresholds=thresholds, outputs=output_options, max_pixels=max_pixels, use_ml=ml)

    if paths:
        selection = collect_inputs(paths, recursive=recursive, exclude_dir=out)
    else:
        if not DEFAULT_INPUT_DIR.is_dir():
            _err(f"error: {DEFAULT_INPUT_DIR}/: folder not found (give image paths, or run from a folder with an input/ folder)")
            raise typer.Exit(1)
        selection = collect_inputs([DEFAULT_INPUT_DIR], recursive=recursive, exclude_dir=out)
    for arg, reason in selection.problems:
        _err(f"error: {arg}: {reason}")
    if not selection.files:
        if not selection.problems:
            _err("error: no images to process")
        raise typer.Exit(1)

    jobs = plan_jobs(selection.files, out, output_options)
    out_problem = check_output_dir(out)
    if out_problem is not None:
        _err(f"error: {out}: cannot write results ({out_problem})")
        if json_out:
            for job in jobs:
                typer.echo(json.dumps({
                    "image": str(job.path), "status": "error", "grid": None, "metrics": None, "outputs": {},
                    "warnings": [], "error": f"cannot write results to {out} ({out_problem})",
                }))
        raise typer.Exit(1)

    metrics_path = None if no_metrics else (metrics if metrics is not None else out / METRICS_NAME)
    n_workers = workers if workers is not None else default_workers()

    failed = 0
    results: list[ImageResult] = []
    console = None
    if not json_out:
        from rich.console import Console

        console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    name_width = min(40, max(len(job.path.name) for job in jobs))
    show_progress = console is not None and len(jobs) > 1 and sys.stdout.isatty()

    live_bar: list = []  # the rich Progress while it is on screen

    def say_err(message: str) -> None:
        # While the bar is live every line must go through its console, or it lands on the bar.
        if live_bar:
            from rich.text import Text

            live_bar[0].console.print(Text(message))
        else:
            _err(message)

    def emit(result: "ImageResult") -> None:
        nonlocal failed
        results.append(result)
        if not result.ok:
            failed += 1
            say_err(f"error: {result.image}: {result.error}")
        for warning in result.warnings:
            if not warning.startswith("suspicious:"):
                say_err(f"warning: {result.image}: {warning}")
        if json_out:
            typer.echo(json.dumps(result.as_json()))
            sys.stdout.flush()
        elif console is not None and result.ok:
            console.print(_format_result(result, name_width))
        if metrics_path is not None:
            try:
                append_metrics(metrics_path, [result.metrics_row(thresholds)])
            except OSError as exc:
                raise _MetricsWriteError(f"{metrics_path}: cannot append metrics ({exc.strerror or exc})") from None

    try:
        if show_progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            assert console is not None
            with Progress(
                TextColumn("reconstructing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                console=console, transient=True,
            ) as progress:
                task = progress.add_task("images", total=len(jobs))
                live_bar.append(progress)
                # Advanced as results are shown (input order) and from this thread, so the bar and
                # the lines printed above it always agree.
                for result in run_batch(jobs, settings, n_workers):
                    progress.advance(task)
                    emit(result)
        else:
            for result in run_batch(jobs, settings, n_workers):
                emit(result)
    except _MetricsWriteError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        _err(f"interrupted after {len(results)} of {len(jobs)} images")
        raise typer.Exit(130) from None

    if not json_out:
        ok = len(results) - failed
        where = f"; results in {out}/" if ok else ""
        _err(f"{len(results)} image{'s' if len(results) != 1 else ''}: {ok} ok, {failed} failed{where}")
    if failed or selection.problems:
        raise typer.Exit(1)


class _MetricsWriteError(Exception):
    """The metrics CSV cannot be written: the batch stops (every row after it would fail too)."""


def _tier_callback(value: str) -> str:
    if value not in SYNTH_TIERS:
        raise typer.BadParameter(f"expected one of {', '.join(SYNTH_TIERS)}, got {value!r}")
    return value


def synth_command(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the fake images."),
    count: int = typer.Option(1, "--count", "-n", min=1, max=100_000, help="How many images."),
    tier: str = typer.Option("ai", "--tier", callback=_tier_callback, help=f"Degradation tier: {'|'.join(SYNTH_TIERS)}."),
    seed: int = typer.Option(0, "--seed", min=0, help="First seed; image i uses seed + i."),
    size: Optional[str] = typer.Option(None, "--size", callback=_size_callback, help="Image size in pixels, WxH (default: random per tier)."),
    truth_out: Optional[Path] = typer.Option(None, "--truth-out", help="Folder for <name>_truth.png and truth.jsonl (default: OUT)."),
    prefix: str = typer.Option("synth", "--prefix", help="File name prefix: <prefix>_<tier>_<seed>.png."),
) -> None:
    """Generate synthetic fake pixel art with known grids (plus truth sprites and truth.jsonl)."""
    from .batch import check_output_dir
    from .synth_files import case_name, merge_truth, write_synth_case

    truth_dir = truth_out if truth_out is not None else out
    for folder in dict.fromkeys([out, truth_dir]):
        problem = check_output_dir(folder)
        if problem is not None:
            _err(f"error: {folder}: cannot write ({problem})")
            raise typer.Exit(1)
    if not re.fullmatch(r"[A-Za-z0-9._-]+", prefix):
        raise typer.BadParameter("use letters, digits, '.', '_' or '-'", param_hint="--prefix")
    sizes = parse_size(size) if size else None
    records: list[dict[str, object]] = []
    failed = 0
    for case_seed in range(seed, seed + count):
        try:
            rec = write_synth_case(out, truth_dir, tier, case_seed, size=sizes, prefix=prefix)
        except OSError as exc:
            _err(f"error: {exc.filename or out}: cannot write ({exc.strerror or exc})")
            failed += 1
            continue
        except Exception as exc:  # a generator corner case (tiny grids): report it, keep going
            _err(f"error: {case_name(prefix, tier, case_seed)}: cannot generate this case ({type(exc).__name__}: {exc})")
            failed += 1
            continue
        records.append(rec)
        typer.echo(
            f"{rec['image']}  {rec['width']}x{rec['height']} px  cell {rec['cell_w']:.2f}x{rec['cell_h']:.2f}  "
            f"cells {rec['cells_x']}x{rec['cells_y']}" + ("  alpha" if rec["has_alpha"] else "")
        )
    if records:
        merge_truth(truth_dir, records)
    _err(f"wrote {len(records)} image{'s' if len(records) != 1 else ''} to {out}/, truth in {truth_dir}/truth.jsonl")
    if failed:
        raise typer.Exit(1)
