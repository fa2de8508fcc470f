"""`perfecter ml ...`: prepare, train, suggest, export, evaluate, calibrate, bench.

Imports only Typer and the standard library at load time: torch, NumPy and the core are
imported inside each command, after checking that torch is installed at all.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from . import installed

ml_app = typer.Typer(help="ML-assisted grid estimation (needs the 'ml' extra: torch).", no_args_is_help=True)

INSTALL_HINT = (
    "perfecter ml needs PyTorch, which is not installed: "
    "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu (CPU build), "
    "then pip install -e '.[ml]'"
)


def torch_available() -> bool:
    return installed("torch")


def require_torch() -> None:
    """Exit 3 with a one-line install hint when torch is missing."""
    if not torch_available():
        typer.echo(INSTALL_HINT, err=True)
        raise typer.Exit(3)


RUNTIME_HINT = (
    "the ML suggestions need PyTorch (pip install -e '.[ml]') or onnxruntime (pip install -e '.[ml-runtime]'), "
    "neither is installed"
)


def require_runtime() -> None:
    """Exit 3 with a one-line hint unless torch, or onnxruntime with the shipped ONNX model, can run the model."""
    if torch_available():
        return
    from .inference import DEFAULT_ONNX, onnxruntime_installed

    if onnxruntime_installed() and DEFAULT_ONNX.exists():
        return
    typer.echo(RUNTIME_HINT, err=True)
    raise typer.Exit(3)


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@ml_app.command("prepare")
def prepare_command(
    out: Path = typer.Option(Path("data/ml"), "--out", help="Dataset folder (manifest.jsonl, synthetic/, crops/)."),
    feedback: Path = typer.Option(Path("notes/feedback_log.csv"), "--feedback", help="Feedback log with human verdicts."),
    input_dir: Path = typer.Option(Path("input"), "--input", help="Folder of real images for weak (heuristic) labels."),
    synthetic: int = typer.Option(2000, "--synthetic", min=0, help="Number of seeded synthetic cases."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic cache."),
    val_fraction: float = typer.Option(0.1, "--val-fraction", min=0.0, max=0.9, help="Validation share per label source."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Workers for the synthetic cache (local pool, or the LocalCluster's size)."),
    executor: str = typer.Option("local", "--executor", metavar="local|dask", help="Where the synthetic cache is made: local or dask (the 'cluster' extra)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", metavar="ADDRESS", help="With --executor dask: a running scheduler; without it a LocalCluster."),
) -> None:
    """Build or update the dataset (only new or changed items are processed)."""
    require_torch()
    if executor not in ("local", "dask"):
        raise typer.BadParameter(f"expected local or dask, got {executor!r}", param_hint="--executor")
    from .dataset import prepare_dataset

    try:
        report = prepare_dataset(out, feedback_log=feedback, input_dir=input_dir, synthetic=synthetic, seed=seed, val_fraction=val_fraction,
                                 progress=sys.stderr.isatty(), workers=workers, executor=executor, scheduler=scheduler)
    except RuntimeError as exc:
        _fail(str(exc).splitlines()[0])
    for note in report.skipped:
        typer.echo(f"skipped: {note}", err=True)
    typer.echo(report.summary())


@ml_app.command("train")
def train_command(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config (e.g. configs/grid_estimator.yaml)."),
    overrides: List[str] = typer.Option([], "--set", help="key=value, beats the YAML (repeatable)."),
    resume: bool = typer.Option(False, "--resume", help="Continue runs/<name>/last.pt."),
) -> None:
    """Train the grid estimator or the gridline model (`model:` in the config; also under torchrun --nproc_per_node N)."""
    require_torch()
    from .config import ConfigError, load_config

    try:
        cfg = load_config(config, list(overrides) + (["resume=true"] if resume else []))
    except ConfigError as exc:
        _fail(str(exc), 2)
    from .train import CheckpointError, train

    try:
        result = train(cfg)
    except (CheckpointError, FileNotFoundError, RuntimeError) as exc:
        _fail(str(exc).splitlines()[0])
    val = result.last_val
    if val is None:
        extra = ""
    elif hasattr(val, "cell_ok"):  # the gridline model
        extra = f"; val loss {val.loss:.4f}, 1-D cell within 2 % {val.cell_ok:.1%} (edge profile: {getattr(val, 'edge_cell_ok', float('nan')):.1%})"
    else:
        extra = f"; val cell MAE {val.mae_cell_px:.2f} px, offset MAE {val.mae_offset_px:.2f} px, within 1 px {val.within_1px:.1%}"
    typer.echo(f"{result.run_dir}: {result.step} steps in {result.seconds:.0f} s{extra}")


@ml_app.command("suggest")
def suggest_command(
    images: List[Path] = typer.Argument(..., help="Images to estimate the grid of."),
    top_k: int = typer.Option(3, "--top-k", min=1, help="Candidates per image."),
    model: Optional[Path] = typer.Option(None, "--model", help="Checkpoint .pt, TorchScript .ts or ONNX .onnx (default: the shipped model; its ONNX export without torch)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per image."),
) -> None:
    """Suggest grid parameters (cell size and offsets), best first."""
    require_runtime()
    from pixelperfecter.core.io import ImageLoadError

    from .inference import ModelLoadError, suggest_parameters

    failed = 0
    for image in images:
        try:
            cands = suggest_parameters(image, top_k=top_k, model=model)
        except ImageLoadError as exc:
            typer.echo(f"{image}: {exc}", err=True)
            failed += 1
            continue
        except ModelLoadError as exc:
            _fail(str(exc))
        if as_json:
            typer.echo(json.dumps({"image": str(image), "candidates": [c.as_dict() for c in cands]}))
        else:
            typer.echo(f"{image}:")
            for rank, c in enumerate(cands, 1):
                right = "" if c.right is None else f", right p={c.right:.2f}"
                typer.echo(f"  {rank}. cell {c.cell_w:.2f} x {c.cell_h:.2f} px, offset ({c.offset_x:.2f}, {c.offset_y:.2f}), confidence {c.confidence:.2f}{right}")
    if failed:
        raise typer.Exit(1)


@ml_app.command("export")
def export_command(
    checkpoint: Path = typer.Option(Path("runs/grid_estimator/best.pt"), "--checkpoint", help="Checkpoint to export."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: <run>/export)."),
    default: bool = typer.Option(False, "--default", help="Also install it as the shipped default model."),
) -> None:
    """Export TorchScript (and ONNX when onnx is installed)."""
    require_torch()
    from .export import export_model
    from .inference import ModelLoadError
    from .train import CheckpointError

    try:
        result = export_model(checkpoint, out or checkpoint.parent / "export", make_default=default)
    except (CheckpointError, ModelLoadError) as exc:
        _fail(str(exc))
    typer.echo(f"TorchScript: {result.torchscript}")
    if result.onnx:
        typer.echo(f"ONNX: {result.onnx}")
    if result.default_model:
        typer.echo(f"default model: {result.default_model}")
    for msg in result.messages:
        typer.echo(msg, err=True)


@ml_app.command("evaluate")
def evaluate_command(
    model: Optional[Path] = typer.Option(None, "--model", help="Checkpoint or TorchScript (default: shipped model)."),
    out: Path = typer.Option(Path("runs/evaluate"), "--out", help="Folder for report.md and report.csv."),
    per_tier: int = typer.Option(25, "--per-tier", min=1, help="Held-out synthetic cases per tier."),
    tiers: str = typer.Option("clean,fractional,ai,drift,small,big,sheet", "--tiers", help="Comma-separated synthetic tiers."),
    seed: int = typer.Option(20_000, "--seed", help="Seed of the held-out set (disjoint from training seeds)."),
    realworld: Path = typer.Option(Path("../shared/realworld"), "--realworld", help="Labelled real images (skipped when absent)."),
    gridline: Optional[Path] = typer.Option(None, "--gridline", help="Gridline model (.pt or .onnx, or 'default'): adds the gridline and hybrid-gl methods."),
) -> None:
    """Heuristic vs model vs hybrid on held-out synthetic and labelled real images."""
    require_torch()
    from .evaluate import run_evaluation
    from .inference import ModelLoadError

    try:
        report = run_evaluation(model=model, out_dir=out, per_tier=per_tier, tiers=[t.strip() for t in tiers.split(",") if t.strip()], seed=seed, realworld=realworld, gridline=gridline)
    except ModelLoadError as exc:
        _fail(str(exc))
    typer.echo(report.markdown)
    typer.echo(f"written: {report.md_path}, {report.csv_path}")


@ml_app.command("calibrate")
def calibrate_command(
    out: Path = typer.Option(Path("runs/calibrate"), "--out", help="Folder for right_grid.json, reliability.md and reliability.json."),
    per_tier: int = typer.Option(20, "--per-tier", min=1, help="Synthetic training cases per tier."),
    held_out: int = typer.Option(10, "--held-out", min=1, help="Held-out synthetic cases per tier (reliability only)."),
    tiers: str = typer.Option("clean,fractional,ai,drift,small,big,sheet", "--tiers", help="Comma-separated synthetic tiers."),
    realworld: Path = typer.Option(Path("../shared/realworld"), "--realworld", help="Labelled real images: reliability only, never fitted (skipped when absent)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model whose candidates join the training set (default: shipped model)."),
    use_model: bool = typer.Option(True, "--with-model/--no-model", help="Add the model's candidates (needs torch or onnxruntime)."),
    mine: int = typer.Option(1500, "--mine", min=0, help="Cases scanned per hard tier for heuristic failures (added to training)."),
    mine_tiers: str = typer.Option("drift", "--mine-tiers", help="Comma-separated tiers scanned for heuristic failures."),
    default: bool = typer.Option(False, "--default", help="Also install the coefficients as the core's shipped right-grid model."),
) -> None:
    """Fit the right-grid probability (logistic, NumPy) on synthetic candidates; print its reliability."""
    if use_model:
        require_runtime()
    from .calibrate import run_calibration
    from .inference import ModelLoadError

    try:
        report = run_calibration(out_dir=out, per_tier=per_tier, held_out=held_out, tiers=[t.strip() for t in tiers.split(",") if t.strip()],
                                 realworld=realworld, model=model, use_model=use_model, install=default, mine=mine,
                                 mine_tiers=[t.strip() for t in mine_tiers.split(",") if t.strip()])
    except (ModelLoadError, RuntimeError, ValueError) as exc:
        _fail(str(exc).splitlines()[0])
    typer.echo(report.markdown)
    typer.echo(f"written: {report.model_path} ({report.seconds:.0f} s)")
    if report.installed:
        typer.echo(f"installed: {report.installed}")


@ml_app.command("bench")
def bench_command(
    model: Optional[Path] = typer.Option(None, "--model", help="Checkpoint, TorchScript or ONNX (.onnx: onnxruntime, no torch; default: shipped model)."),
    images: int = typer.Option(20, "--images", min=1, help="Synthetic images to time."),
    threads: int = typer.Option(0, "--threads", min=0, help="torch threads (0: leave torch's default)."),
    side: Optional[int] = typer.Option(None, "--side", min=64, help="Time square images of this side (default: the ai tier's sizes)."),
    gridline: bool = typer.Option(False, "--gridline", help="Time a gridline model (--model: its .pt or .onnx; default: the shipped one)."),
) -> None:
    """CPU inference time per image (model only, and suggest incl. loading/pre-processing)."""
    require_runtime()
    from .evaluate import bench_gridline, bench_inference

    if gridline:
        typer.echo(bench_gridline(model=model, n_images=images, threads=threads, side=side or 1024).summary())
        return
    typer.echo(bench_inference(model=model, n_images=images, threads=threads, size=(side, side) if side else None).summary())
