"""`perfecter reconstruct` (batch) and `perfecter synth`.

Only Typer and the standard library are imported at load time; the core (NumPy, OpenCV,
Pillow), rich and the batch runner are imported inside the command bodies so that
``perfecter --help`` stays fast.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import List, Optional, Tuple

import typer

# Mirrors pixelperfecter.runner.EXECUTORS (not imported to keep load light).
EXECUTORS = ("local", "dask")

# Mirrors pixelperfecter.core.synth.TIERS (a test keeps them equal); not imported to keep load light.
SYNTH_TIERS = ("clean", "fractional", "ai", "drift", "small", "big", "sheet", "smooth")
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


def _checked(parse: Callable[[str], object]) -> Callable[[Optional[str]], Optional[str]]:
    """A Typer callback: ``parse`` the option's text, turning its ValueError into a usage error."""

    def callback(value: Optional[str]) -> Optional[str]:
        if value is None:
            return None
        try:
            parse(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        return value

    return callback


_size_callback = _checked(parse_size)


def _err(message: str) -> None:
    """Human messages always go to stderr so that --json keeps stdout clean."""
    typer.echo(message, err=True)


# Mirrors pixelperfecter.core.palette_files.MAX_PALETTE_COLORS (a test keeps them equal).
MAX_COLORS = 4096


def parse_colors(text: str) -> int | None:
    """``--colors``: ``"auto"`` -> None (auto's rule), ``"16"`` -> 16; ValueError otherwise."""
    if text.strip().lower() == "auto":
        return None
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"expected a number of colours (1-{MAX_COLORS}) or 'auto', got {text!r}") from None
    if not 1 <= n <= MAX_COLORS:
        raise ValueError(f"expected a number of colours (1-{MAX_COLORS}) or 'auto', got {text!r}")
    return n


_colors_callback = _checked(parse_colors)


def _transparent_callback(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    from .core.background import check_spec

    try:
        return check_spec(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _executor_callback(value: str) -> str:
    if value not in EXECUTORS:
        raise typer.BadParameter(f"expected one of {', '.join(EXECUTORS)}, got {value!r}")
    return value


# Mirrors pixelperfecter.core.animation.ANIMATION_FORMATS (not imported to keep load light).
ANIM_FORMATS = {"gif": ("gif",), "webp": ("webp",), "both": ("gif", "webp")}


def _anim_format_callback(value: Optional[str]) -> Optional[str]:
    if value is not None and value not in ANIM_FORMATS:
        raise typer.BadParameter(f"expected one of {', '.join(ANIM_FORMATS)}, got {value!r}")
    return value


def reconstruct_command(
    paths: Optional[List[str]] = typer.Argument(None, help="Image files, folders or globs (default: input/).", show_default=False),
    out: Path = typer.Option(Path("output"), "--out", "-o", help="Folder for the results."),
    recursive: bool = typer.Option(False, "--recursive", "-r", metavar="", help="Descend into subfolders of folder arguments."),
    upscale: Optional[int] = typer.Option(None, "--upscale", min=2, max=64, help="Also write <stem>_xK.png, the sprite scaled up K times."),
    diff: bool = typer.Option(False, "--diff", metavar="", help="Also write <stem>_diff.png (where the sprite disagrees with the input)."),
    heatmap: bool = typer.Option(False, "--heatmap", metavar="", help="Also write <stem>_heatmap.png (per-cell error)."),
    grid: bool = typer.Option(False, "--grid", metavar="", help="Also write <stem>_grid.png (the detected grid over the input)."),
    sheet: bool = typer.Option(False, "--sheet", metavar="", help="Sprite sheet: find the sprites, fit a grid per sprite and write <stem>/<n>.png, <stem>_sheet.png and <stem>_sheet.json."),
    metrics: Optional[Path] = typer.Option(None, "--metrics", help="Metrics CSV to append to (default: OUT/metrics.csv)."),
    no_metrics: bool = typer.Option(False, "--no-metrics", metavar="", help="Record nothing: no metrics CSV row and no run manifest (so no --resume)."),
    cell_size: Optional[float] = typer.Option(None, "--cell-size", min=1.0, help="Force the cell size in pixels (both axes)."),
    cell_w: Optional[float] = typer.Option(None, "--cell-w", min=1.0, help="Force the cell width in pixels."),
    cell_h: Optional[float] = typer.Option(None, "--cell-h", min=1.0, help="Force the cell height in pixels."),
    offset: Optional[Tuple[float, float]] = typer.Option(None, "--offset", metavar="X Y", help="Force the grid phase: X Y in pixels (--offset 3 0.5)."),
    size: Optional[str] = typer.Option(None, "--size", callback=_size_callback, help="Force the output size in cells, WxH (e.g. 32x32)."),
    no_snap: bool = typer.Option(False, "--no-snap", metavar="", help="Keep grid lines uniform (no snapping to local edges)."),
    no_cleanup: bool = typer.Option(False, "--no-cleanup", metavar="", help="Do not merge near-identical colours."),
    keep_alpha: bool = typer.Option(False, "--keep-alpha", metavar="", help="Keep partial transparency (do not binarize alpha)."),
    transparent: Optional[str] = typer.Option(
        None, "--transparent", callback=_transparent_callback, metavar="auto|COLOR",
        help="Make the background transparent: auto (flat or graded, found on the border) or a colour (#rrggbb, rrggbb, r,g,b).",
    ),
    holes: bool = typer.Option(False, "--holes", metavar="", help="With --transparent: also remove enclosed background-coloured regions."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1, help="Refuse inputs (decompression-bomb guard) and --upscale outputs with more pixels."),
    max_diff: Optional[float] = typer.Option(None, "--max-diff", min=0.0, max=100.0, help="Flag results whose diff % is above this (default: 1)."),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence", min=0.0, max=1.0, help="Flag results whose confidence is below this (default: 0.5)."),
    json_out: bool = typer.Option(False, "--json", metavar="", help="One JSON object per image on stdout, nothing else."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1, help="Parallel workers (default: number of cores; with --executor dask and no --scheduler, the LocalCluster's size)."),
    executor: str = typer.Option("local", "--executor", callback=_executor_callback, metavar="local|dask", help="Where images run: a local process pool, or Dask (the 'cluster' extra)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", metavar="ADDRESS", help="With --executor dask: a running scheduler (tcp://host:8786); without it a LocalCluster is started."),
    resume: bool = typer.Option(False, "--resume", metavar="", help="Skip images the run manifest (OUT/manifest.jsonl) lists as done with the same input and options."),
    ml: bool = typer.Option(False, "--ml", metavar="", help="Also try the ML model's grid suggestions and keep the best fit (needs the 'ml' or the torch-free 'ml-runtime' extra)."),
    colors: Optional[str] = typer.Option(None, "--colors", callback=_colors_callback, metavar="N|auto", help="Reduce to at most N colours, or to the count the auto rule picks (README: Palettes)."),
    palette_file: Optional[Path] = typer.Option(None, "--palette", metavar="FILE", help="Map every cell to the nearest colour of this palette (.gpl, .hex, JASC .pal, Paint.NET .txt, PNG swatch)."),
    save_palette: Optional[Path] = typer.Option(None, "--save-palette", metavar="FILE", help="Write the palette used to FILE (.hex by name, else GIMP .gpl); several images need --shared-palette."),
    shared: bool = typer.Option(False, "--shared-palette", metavar="", help="One palette for the whole batch (a tileset, a character's frames): a first pass collects every image's colours."),
    indexed: bool = typer.Option(False, "--indexed", metavar="", help="Write the sprite (and --upscale, --sheet files) as indexed PNGs when they have at most 256 colours, in the palette's order."),
    animate: bool = typer.Option(False, "--animate", metavar="", help="Animated GIF/WebP/APNG inputs: one grid across all frames; writes animation, frames and sheet."),
    frames: bool = typer.Option(False, "--frames", metavar="", help="Each folder argument is one animation, its images the frames in natural order (implies --animate)."),
    anim_format: Optional[str] = typer.Option(None, "--anim-format", callback=_anim_format_callback, metavar="gif|webp|both", help="Animation file(s) to write (default: as the input, WebP for APNG)"),
) -> None:
    """Reconstruct true pixel art from fake pixel art (files, folders, globs; default input/)."""
    from dataclasses import replace

    from .batch import BatchSettings
    from .core.pipeline import OutputOptions
    from .core.types import ReconstructParams, Thresholds
    from .reconstruct_run import ReconstructRequest, run_reconstruct

    if size is not None and (cell_size is not None or cell_w is not None or cell_h is not None):
        given = next(n for n, v in (("--cell-size", cell_size), ("--cell-w", cell_w), ("--cell-h", cell_h)) if v is not None)
        raise typer.BadParameter(f"--size sets the cell size from the image size; give --size or {given}, not both", param_hint="--size")
    if size and sheet:
        # --sheet finds the sprites and fits a grid per sprite; one count for the whole sheet
        # would coarsen the sprite search (two sprites merged at --size 20x20).
        raise typer.BadParameter("--sheet fits a grid per sprite; --size fixes one cell count for the whole image: give one of them", param_hint="--size")
    if scheduler and executor != "dask":
        raise typer.BadParameter("needs --executor dask", param_hint="--scheduler")
    if holes and transparent is None:
        raise typer.BadParameter("needs --transparent", param_hint="--holes")
    if resume and no_metrics:
        raise typer.BadParameter("--no-metrics records nothing, so there is nothing to resume from", param_hint="--resume")
    if palette_file is not None and colors is not None:
        raise typer.BadParameter("a palette file fixes the colours; give --colors or --palette, not both", param_hint="--colors")
    fixed_palette = None
    if palette_file is not None:
        from .core.palette_files import PaletteFileError, read_palette

        try:
            fixed_palette = read_palette(palette_file).as_tuple()
        except PaletteFileError as exc:
            # A usage error (exit 2, like the option checks above), kept to the one-line form.
            _err(f"error: {palette_file}: {exc}")
            raise typer.Exit(2) from None
    max_colors = parse_colors(colors) if colors is not None else None
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
        max_colors=max_colors,
        colors_auto=colors is not None and max_colors is None,
        palette=fixed_palette,
        transparent=transparent,
        holes=holes,
    )
    thresholds = Thresholds(max_pixels=max_pixels)
    if max_diff is not None:
        thresholds = replace(thresholds, max_diff_pct=max_diff)
    if min_confidence is not None:
        thresholds = replace(thresholds, min_confidence=min_confidence)
    if ml:
        from pixelperfecter_ml.cli import require_runtime

        require_runtime()
    settings = BatchSettings(
        out_dir=out, params=params, thresholds=thresholds, max_pixels=max_pixels, use_ml=ml,
        outputs=OutputOptions(upscale=upscale, diff=diff, heatmap=heatmap, grid=grid, indexed=indexed, sheet=sheet),
        animate=animate or frames, anim_formats=ANIM_FORMATS[anim_format] if anim_format else (),
    )
    request = ReconstructRequest(
        paths=list(paths or []), settings=settings, recursive=recursive, metrics=metrics, no_metrics=no_metrics,
        json_out=json_out, workers=workers, executor=executor, scheduler=scheduler, resume=resume, frames=frames, err=_err,
        shared_palette=shared and fixed_palette is None, save_palette=save_palette,
    )
    code = run_reconstruct(request)
    if code:
        raise typer.Exit(code)


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
