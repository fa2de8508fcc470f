"""The driver behind ``perfecter reconstruct``: inputs, resume, the run, and what the user sees.

``cli_reconstruct.reconstruct_command`` only parses options into a :class:`ReconstructRequest`;
:func:`run_reconstruct` does the rest and returns the exit code: 0 all done, 1 any image or
argument failed, 2 options that do not fit the inputs (``--save-palette`` over several images
without ``--shared-palette``), 130/143 interrupted by SIGINT/SIGTERM.  Human lines go to stdout, errors and
warnings to stderr as ``error: PATH: reason``; ``--json`` prints one JSON object per image (and
per argument that named nothing) on stdout and nothing else there.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .batch import (
    DEFAULT_INPUT_DIR,
    METRICS_NAME,
    BatchSettings,
    ImageJob,
    ImageResult,
    Interrupted,
    Recorder,
    check_output_dir,
    collect_inputs,
    manifest_path,
    plan_jobs,
    run_batch,
    shared_palette,
    stop_on_signals,
    with_shared_palette,
)
from .core.metrics import MetricsWriteError, printable_path
from .core.types import PaletteReport
from .manifest import Manifest
from .runner import default_workers, make_executor, one_line

EXIT_SIGNAL: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}
# Options that do not fit together, found once the inputs are known (Typer's own exit code for usage errors).
EXIT_USAGE = 2


@dataclass
class ReconstructRequest:
    paths: list[str]
    settings: BatchSettings
    recursive: bool = False
    metrics: Path | None = None
    no_metrics: bool = False
    json_out: bool = False
    workers: int | None = None
    executor: str = "local"
    scheduler: str | None = None
    resume: bool = False
    # --frames: each folder argument is one animation (needs settings.animate).
    frames: bool = False
    err: Callable[[str], None] = field(default=lambda message: print(message, file=sys.stderr))
    # --shared-palette: one palette from every image's colours, fixed before the run.
    shared_palette: bool = False
    # --save-palette FILE: the palette used (the shared one, or the one image's).
    save_palette: Path | None = None


def _error_json(image: str, reason: str) -> str:
    return json.dumps({"image": printable_path(image), "status": "error", "grid": None, "metrics": None,
                       "outputs": {}, "warnings": [], "error": reason})


def _format_result(result: ImageResult, name_width: int) -> str:
    """One rich-markup line for a reconstructed image (failures go to stderr as plain errors)."""
    from rich.markup import escape

    # File names may hold "[...]", which rich would read as markup.
    name = escape(printable_path(Path(result.image).name).ljust(name_width))
    g, m = result.grid, result.metrics
    assert g is not None and m is not None
    cells = f"{g.cells_x}x{g.cells_y}"
    cell = f"{g.cell_w:.2f}x{g.cell_h:.2f}"
    flags = ",".join(result.flags) if result.flags else "-"
    colour = "yellow" if result.flags else "green"
    palette = f"  colours {m.n_colors} ({result.palette.source}, max error {result.palette.max_error:.1f})" if result.palette else ""
    regions = ""
    if result.regions is not None:
        own = sum(r["grid"] == "own" for r in result.regions)
        regions = f"  sprites {len(result.regions)} ({own} on own grid)"
    return (
        f"[{colour}]ok  [/{colour}] {name}  cells {cells:>9}  cell {cell:>11}  "
        f"diff {m.diff_pct:6.2f}%  conf {m.confidence:4.2f}  flags {flags}{palette}{regions}"
    )


class _Screen:
    """Everything the run prints, in input order, with the progress bar kept out of the way."""

    def __init__(self, request: ReconstructRequest, jobs: list[ImageJob]) -> None:
        self.request = request
        self.json_out = request.json_out
        self.console: Any = None
        if not self.json_out:
            from rich.console import Console

            self.console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
        self.name_width = min(40, max((len(printable_path(j.path.name)) for j in jobs), default=1))
        self.bar: Any = None
        self.finished = self.failed = 0
        # The last image that came out (for --save-palette of a one-image run).
        self.last_ok: ImageResult | None = None

    def err(self, message: str) -> None:
        # While the bar is live every line must go through its console, or it lands on the bar.
        if self.bar is not None:
            from rich.text import Text

            self.bar.console.print(Text(message))
        else:
            self.request.err(message)

    def done(self, result: ImageResult) -> None:
        """A committed and recorded image (input order)."""
        self.finished += 1
        self.failed += not result.ok
        if result.ok:
            self.last_ok = result
        self.show(result)

    def show(self, result: ImageResult) -> None:
        name = printable_path(result.image)
        if not result.ok:
            self.err(f"error: {name}: {result.error}")
        for warning in result.warnings:
            if not warning.startswith("suspicious:"):
                self.err(f"warning: {name}: {printable_path(warning)}")
        if self.json_out:
            print(json.dumps(result.as_json()), flush=True)
        elif self.console is not None and result.ok:
            self.console.print(_format_result(result, self.name_width))


def _selection(request: ReconstructRequest, out: Path, earlier: Manifest) -> tuple[list[Path], list[tuple[str, str]]] | None:
    if request.paths:
        # --frames: a folder argument is one animation (its images are the frames), in its place.
        selection = collect_inputs(request.paths, recursive=request.recursive, exclude_dir=out, earlier_outputs=earlier,
                                   frame_folders=request.frames)
    else:
        if not DEFAULT_INPUT_DIR.is_dir():
            request.err(f"error: {DEFAULT_INPUT_DIR}/: folder not found (give image paths, or run from a folder with an input/ folder)")
            return None
        selection = collect_inputs([DEFAULT_INPUT_DIR], recursive=request.recursive, exclude_dir=out, earlier_outputs=earlier)
    return selection.files, selection.problems


def run_reconstruct(request: ReconstructRequest) -> int:
    """The whole command under one signal regime: SIGINT/SIGTERM end it cleanly at any point."""
    with stop_on_signals():
        try:
            return _run_reconstruct(request)
        except Interrupted as stop:  # while reading inputs or the manifest, or starting the executor
            request.err(f"interrupted by {signal.Signals(stop.signum).name} before any image was processed")
            return EXIT_SIGNAL[stop.signum]


def _run_reconstruct(request: ReconstructRequest) -> int:
    settings = request.settings
    out = settings.out_dir
    earlier = Manifest.load(manifest_path(out))
    chosen = _selection(request, out, earlier)
    if chosen is None:
        return 1
    files, problems = chosen
    for arg, reason in problems:
        request.err(f"error: {printable_path(arg)}: {reason}")
        if request.json_out:
            print(_error_json(arg, reason), flush=True)
    if not files:
        if not problems:
            request.err("error: no images to process")
        return 1

    jobs = plan_jobs(files, out, settings.outputs, settings.anim_formats if settings.animate else None)
    if request.save_palette is not None and len(jobs) > 1 and not request.shared_palette and settings.params.palette is None:
        request.err(f"error: {request.save_palette}: --save-palette writes one palette, and {len(jobs)} images have one each; add --shared-palette")
        return EXIT_USAGE
    out_problem = check_output_dir(out)
    if out_problem is not None:
        request.err(f"error: {out}: cannot write results ({out_problem})")
        if request.json_out:
            for job in jobs:
                print(_error_json(str(job.path), f"cannot write results to {out} ({out_problem})"))
        return 1
    for warning in earlier.warnings:
        request.err(f"warning: {warning}")
    if request.no_metrics and any(_same_dir(f.parent, out) for f in files):
        request.err(f"warning: {out}: --no-metrics records nothing, so a later run over this folder will take these outputs for inputs")

    n_workers = request.workers if request.workers is not None else default_workers()
    if request.save_palette is not None and settings.params.palette is None and not request.shared_palette:
        settings = replace(settings, collect_colors=True)  # the one image's colours are the palette to save
        request.settings = settings
    if request.shared_palette:
        shared = _shared_palette(request, jobs, n_workers)
        if shared is None:
            return 1
        settings = with_shared_palette(settings, shared)
        request.settings = settings
    params = settings.shaping_key()
    todo = jobs
    if request.resume:
        todo = _resume(request, jobs, earlier, params)
        if not todo:
            return 1 if problems else 0

    metrics_path = None if request.no_metrics else (request.metrics if request.metrics is not None else out / METRICS_NAME)
    # --no-metrics records nothing at all: no metrics row and no manifest line.
    recorder = Recorder(settings.thresholds, metrics_path, None if request.no_metrics else earlier, params=params)
    screen = _Screen(request, todo)
    try:
        executor = make_executor(request.executor, n_workers, len(todo), scheduler=request.scheduler)
    except (RuntimeError, OSError, TimeoutError, ValueError) as exc:
        where = f"--scheduler {request.scheduler}" if request.scheduler else f"--executor {request.executor}"
        request.err(f"error: {where}: cannot start ({one_line(exc)})")
        return 1
    try:
        _run(todo, settings, n_workers, screen, executor, recorder)
    except MetricsWriteError as exc:
        request.err(f"error: {printable_path(exc.filename or '')}: {exc.strerror}; stopped after {recorder.recorded} of {len(todo)} images")
        return 1
    except (Interrupted, KeyboardInterrupt) as stop:
        signum = stop.signum if isinstance(stop, Interrupted) else signal.SIGINT
        request.err(_interrupted_line(signal.Signals(signum).name, recorder, len(todo), out))
        return EXIT_SIGNAL[signum]
    for warning in dict.fromkeys(recorder.warnings):
        request.err(f"warning: {warning}")
    if request.save_palette is not None and not _save_palette(request, screen.last_ok):
        return 1
    if not request.json_out:
        ok = screen.finished - screen.failed
        where = f"; results in {out}/" if ok else ""
        request.err(f"{screen.finished} image{'s' if screen.finished != 1 else ''}: {ok} ok, {screen.failed} failed{where}")
    return 1 if (screen.failed or problems) else 0


def _shared_palette(request: ReconstructRequest, jobs: list[ImageJob], n_workers: int) -> PaletteReport | None:
    """``--shared-palette``'s first pass (every image's colours, in workers); None after an error line."""
    try:
        executor = make_executor(request.executor, n_workers, len(jobs), scheduler=request.scheduler)
    except (RuntimeError, OSError, TimeoutError, ValueError) as exc:
        where = f"--scheduler {request.scheduler}" if request.scheduler else f"--executor {request.executor}"
        request.err(f"error: {where}: cannot start ({one_line(exc)})")
        return None
    shared = shared_palette(jobs, request.settings, executor)
    if shared is None:
        request.err("error: --shared-palette: no image gave any colour (every image failed); nothing to build a palette from")
        return None
    request.err(f"shared palette: {len(shared.colors)} colours from {len(jobs)} image{'s' if len(jobs) != 1 else ''} (max error {shared.max_error:.1f})")
    return shared


def _save_palette(request: ReconstructRequest, last_ok: ImageResult | None) -> bool:
    """Write ``--save-palette``: the fixed (shared or file) palette, else the one image's colours."""
    from .core.palette_files import write_palette

    assert request.save_palette is not None
    fixed = request.settings.params.palette
    colors = fixed if fixed is not None else (last_ok.colors if last_ok is not None else None)
    if not colors:
        request.err(f"error: {request.save_palette}: no palette to save (no image was reconstructed)")
        return False
    try:
        write_palette(request.save_palette, np.array(colors, np.uint8))
    except OSError as exc:
        request.err(f"error: {request.save_palette}: cannot write ({exc.strerror or exc})")
        return False
    if not request.json_out:
        request.err(f"palette: {len(colors)} colours written to {request.save_palette}")
    return True


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _resume(request: ReconstructRequest, jobs: list[ImageJob], earlier: Manifest, params: str) -> list[ImageJob]:
    """The jobs the manifest does not list as done (renumbered 0..n-1 for in-order printing)."""
    todo: list[ImageJob] = []
    for job in jobs:
        record = earlier.done(job.path, params, job.stem)
        if record is None:
            todo.append(ImageJob(len(todo), job.path, job.stem, job.renamed_because))
        elif request.json_out:
            print(json.dumps({"image": printable_path(str(job.path)), "status": "skipped", "grid": None, "metrics": None,
                              "outputs": {k: printable_path(v) for k, v in record.outputs.items()}, "warnings": [], "error": None}))
    skipped = len(jobs) - len(todo)
    request.err(f"resume: {skipped} of {len(jobs)} image{'s' if len(jobs) != 1 else ''} already done (per {earlier.path}), skipped")
    return todo


def _interrupted_line(name: str, recorder: Recorder, total: int, out: Path) -> str:
    # Counted where images are recorded: one may be recorded just before the signal is acted on.
    done, failed = recorder.recorded, recorder.failed
    return (
        f"interrupted by {name}: {done} of {total} images finished ({done - failed} ok, {failed} failed; "
        f"each has its outputs in {out}/ and its metrics row), {total - done} not started or unfinished "
        f"and left out; run the same command with --resume to finish"
    )


def _run(jobs: list[ImageJob], settings: BatchSettings, workers: int, screen: _Screen, executor: Any, recorder: Recorder) -> None:
    show_progress = screen.console is not None and len(jobs) > 1 and sys.stdout.isatty()
    if not show_progress:
        for _ in run_batch(jobs, settings, workers, on_done=screen.done, executor=executor, recorder=recorder):
            pass
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("reconstructing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=screen.console, transient=True,
    ) as progress:
        task = progress.add_task("images", total=len(jobs))
        screen.bar = progress

        try:
            advance = lambda _result: progress.advance(task)  # noqa: E731 - completion order
            for _ in run_batch(jobs, settings, workers, on_done=screen.done, executor=executor, recorder=recorder, on_progress=advance):
                pass
        finally:
            screen.bar = None
