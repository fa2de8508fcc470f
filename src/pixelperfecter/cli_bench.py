"""`perfecter bench`: the quality benchmark (logic in ``pixelperfecter.bench``).

Only Typer and the standard library load with this module; NumPy, the core and Rich are
imported inside the command so ``perfecter --help`` stays light.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

QUICK_PER_TIER = 8
QUICK_SPEED_RUNS = 3


def bench_command(
    per_tier: Optional[int] = typer.Option(None, "--per-tier", min=1, help="Synthetic cases per tier (default 50; 8 with --quick)."),
    seed: int = typer.Option(0, "--seed", help="First seed; case i of every tier uses seed+i."),
    tiers: str = typer.Option("clean,fractional,ai,drift,small,big,sheet,smooth", "--tiers",
                              help="Comma-separated tiers to run (small, big, sheet, smooth: the harsh tiers; smooth is upscaled with smoothing)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Processes for the accuracy part (default: number of cores)."),
    speed_runs: Optional[int] = typer.Option(None, "--speed-runs", min=0, help="1024x1024 ai cases for the speed line, 0 skips it (default 10; 3 with --quick)."),
    realworld: Optional[Path] = typer.Option(None, "--realworld", help="Folder of labelled real images with labels.jsonl (default: ../shared/realworld beside the repo or the cwd, if present)."),
    no_realworld: bool = typer.Option(False, "--no-realworld", help="Skip the real-world part."),
    out: Path = typer.Option(Path("output/bench"), "--out", help="Folder for bench.md, the CSVs and the contact sheet."),
    quick: bool = typer.Option(False, "--quick", help="Smoke run: 8 per tier, 3 speed cases, no real-world speed pass."),
    json_out: bool = typer.Option(False, "--json", help="Print a machine-readable summary instead of the tables."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when any target fails (default: always 0, it's a report)."),
    scaling: bool = typer.Option(True, "--scaling/--no-scaling", help="ms per megapixel and bytes per pixel on one core for a sparse and a busy image at 1, 4, 16 and 41 MP (1 and 4 with --quick)."),
    no_photos: bool = typer.Option(False, "--no-photos", help="Skip the true negatives (scikit-image's photographs must be refused or flagged)."),
    scale: bool = typer.Option(False, "--scale", help="Instead: batch throughput of the local pool (1 and 2 workers) and Dask (LocalCluster, scheduler + 2 workers) on the same images."),
    scale_images: int = typer.Option(200, "--scale-images", min=2, help="Images for --scale."),
    scale_repeats: int = typer.Option(3, "--scale-repeats", min=1, help="Rounds for --scale (round-robin over the configurations; medians reported)."),
) -> None:
    """Benchmark the pipeline on seeded synthetic tiers (beside an oracle) and on labelled real images."""
    if scale:
        _scale(scale_images, seed, out, workers or 2, json_out, scale_repeats)
        return
    # Thread pools read these when NumPy/OpenCV load, so they only matter before the heavy
    # imports: then this whole process stays single-threaded.  When NumPy is already loaded
    # (a test runner) they would change nothing here, so the environment is left alone; the
    # timing runs in a spawned child that gets them either way (bench.single_thread_env).
    if "numpy" not in sys.modules:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, "1")

    from . import bench
    from .core import synth

    tier_list = tuple(t.strip() for t in tiers.split(",") if t.strip())
    unknown = [t for t in tier_list if t not in synth.TIERS]
    if not tier_list or unknown:
        _fail(f"--tiers: unknown tier {', '.join(unknown) or '(none given)'}; choose from {', '.join(synth.TIERS)}")
    realworld_dir = None
    notes: list[str] = []
    if not no_realworld:
        if realworld is not None and not (realworld / "labels.jsonl").is_file():
            _fail(f"{realworld}: no labels.jsonl there (use --no-realworld to skip the real-world part)")
        realworld_dir = bench.find_realworld_dir(realworld)
        if realworld_dir is None:
            notes.append("real world skipped: ../shared/realworld not found (pass --realworld DIR)")

    settings = bench.BenchSettings(
        per_tier=per_tier or (QUICK_PER_TIER if quick else 50),
        seed=seed,
        tiers=tier_list,
        workers=workers or bench.default_workers(),
        speed_runs=speed_runs if speed_runs is not None else (QUICK_SPEED_RUNS if quick else 10),
        speed_size=(1024, 1024),
        realworld_dir=None if realworld_dir is None else str(realworld_dir),
        quick=quick,
        out_dir=str(out),
        scaling_sides=() if not scaling else ((1024, 2048) if quick else (1024, 2048, 4096, 6400)),
        photos=not no_photos,
    )
    try:
        # Targets looked up here (not inside run_bench) so a caller or test can swap bench.Targets.
        report, outcomes = bench.run_bench(settings, targets=bench.Targets(), progress=_progress_printer())
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    report.notes[:0] = notes
    written = bench.write_report(report, out, outcomes)

    if json_out:
        import json

        summary = report.as_json()
        summary["files"] = {k: None if v is None else str(v) for k, v in written.__dict__.items()}
        typer.echo(json.dumps(summary, indent=2))
    else:
        _print_report(report, written)
    if strict and not report.all_passed:
        raise typer.Exit(1)


def _scale(n_images: int, seed: int, out: Path, workers: int, json_out: bool, repeats: int) -> None:
    from dataclasses import asdict

    from .bench import scale
    from .core.io import write_text_atomic

    report = scale.run_scale(n_images, seed, out / "scale", workers, progress=lambda message: typer.echo(f"scale: {message}", err=True), repeats=repeats)
    markdown = scale.scale_markdown(report, workers)
    written = write_text_atomic(out / "scale.md", markdown)
    if json_out:
        import json

        runs = [{**asdict(r), "images_per_s": r.images_per_s, "ms_per_image": r.ms_per_image} for r in report.runs]
        projection = [{"machines": m, "images_per_s": rate, "hours": hours} for m, rate, hours in scale.projection(report, workers)]
        typer.echo(json.dumps({"runs": runs, "identical": report.identical, "projection": projection, "environment": report.environment,
                               "notes": report.notes, "file": str(written)}, indent=2))
    else:
        typer.echo(markdown)
        typer.echo(f"wrote {written}", err=True)


def _fail(message: str) -> None:
    typer.echo(f"perfecter bench: {message}", err=True)
    raise typer.Exit(2)


def _progress_printer():
    """One stderr line per stage, rewritten in place on a terminal."""
    live = sys.stderr.isatty()

    def tick(stage: str, done: int, total: int) -> None:
        if live:
            end = "\n" if done == total else ""
            sys.stderr.write(f"\r{stage}: {done}/{total}{end}")
            sys.stderr.flush()
        elif done == 0:
            sys.stderr.write(f"{stage}: {total} jobs\n")

    return tick


def _print_report(report, written) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from . import bench

    # Not a terminal (a pipe, a test): wide enough that rows don't wrap.
    console = Console(width=None if sys.stdout.isatty() else 200, highlight=False)

    def show(title: str, table: bench.Table) -> None:
        headers, rows = table
        view = Table(title=title, title_justify="left", show_lines=False)
        for h in headers:
            view.add_column(h, overflow="fold")
        for row in rows:
            view.add_row(*(_styled(cell, Text) for cell in row), style="dim" if "ORACLE" in row else None)
        console.print(view)

    targets = report.targets
    show("Synthetic tiers (ours vs ORACLE = true grid, plain sampling)", bench.synth_table(report.tiers, targets))
    console.print(f"timing: {bench.TIMING_METHOD}")
    console.print(f"peak MB: {bench.PEAK_MEMORY_METHOD}")
    if report.speed is not None:
        line = bench.speed_line(report.speed, targets)
        console.print(Text(line, style="green" if bench.speed_check(report.speed, targets).passed else "red"))
    if report.realworld:
        show("Real world: cell size within 1% of the label", bench.realworld_summary_table(report.realworld_summary, targets))
        show("Real world, per image", bench.realworld_table(report.realworld))
    show("Targets", bench.checks_table(report.checks()))
    passed = sum(c.passed is True for c in report.checks())
    total = sum(c.passed is not None for c in report.checks())
    console.print(f"targets met: {passed}/{total}   ({report.seconds:.1f} s)")
    for note in report.notes:
        console.print(Text(f"note: {note}", style="yellow"))
    for path in written.__dict__.values():
        if path is not None:
            console.print(f"wrote {path}")


def _styled(cell: str, text_cls):
    if cell.startswith("PASS") or cell == "yes":
        return text_cls(cell, style="green")
    if cell.startswith("FAIL") or cell == "NO":
        return text_cls(cell, style="red")
    return text_cls(cell)
