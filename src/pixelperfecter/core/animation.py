"""Animations: one grid and one palette solved across all frames.

A frame alone can be ambiguous (a mostly flat frame has too few edges to show its pitch, a
blink moves a few cells only), but the frames of one generation share their grid.  So the
edge profiles of all frames are averaged and the grid is detected once from that joint
evidence; every frame is then sampled on that grid and the colours go through the colour steps
together (``pipeline.finish_colors``), so a colour is the same RGB value in every frame.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import atlas, cells
from .grid import GridProposer, detect_grid, edge_profiles, fit_axis
from .grid.profiles import denoised
from .io import LoadedAnimation
from .metrics import confidence_with_fit, diff_pct_from_errors
from .pipeline import FinishedColors, finish_and_measure
from .types import FromDetection, Grid, GridDetection, Metrics, PaletteReport, Reconstruction, ReconstructParams, Thresholds

ANIMATION_FORMATS = ("gif", "webp")


@dataclass
class AnimationReconstruction(FromDetection):
    """The joint result: one grid, one reconstruction per frame (all on that grid).

    ``frames[i]`` is a full ``Reconstruction`` of frame i (its own diff and cell error) whose
    detection is the shared one.  ``metrics`` is the whole animation's: diff_pct over every
    frame's samples, colours counted over all frames.
    """

    detection: GridDetection
    frames: list[Reconstruction]
    durations_ms: list[int]
    loop: int | None
    has_alpha: bool
    metrics: Metrics | None
    source: Path | None = None
    warnings: list[str] = field(default_factory=list)
    # What the palette step did over all frames (``--colors``/``--palette``), if it ran.
    palette: PaletteReport | None = None

    @property
    def ok(self) -> bool:
        return self.detection.grid is not None and bool(self.frames)

    @property
    def sprites(self) -> list[np.ndarray]:
        return [f.sprite for f in self.frames if f.sprite is not None]

    @property
    def frame_diff_pct(self) -> list[float]:
        return [f.metrics.diff_pct if f.metrics is not None else 0.0 for f in self.frames]


def joint_profiles(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The mean of the frames' edge profiles: every frame's edges count, at one frame's scale.

    A mean rather than a sum keeps the profile on the scale the detector's (relative)
    thresholds were tuned on.
    """
    ex: np.ndarray = np.mean([p[0] for p in pairs], axis=0)
    ey: np.ndarray = np.mean([p[1] for p in pairs], axis=0)
    return ex, ey


def key_frame(frames: Sequence[np.ndarray], profiles: Sequence[tuple[np.ndarray, np.ndarray]] | None = None) -> int:
    """The frame with the most edge evidence: the detector's 2-D checks look at its pixels."""
    pairs = profiles if profiles is not None else [edge_profiles(f) for f in frames]
    return int(np.argmax([float(p[0].sum() + p[1].sum()) for p in pairs]))


def reconstruct_animation(
    frames: Sequence[np.ndarray],
    params: ReconstructParams | None = None,
    durations_ms: Sequence[int] | None = None,
    loop: int | None = 0,
    has_alpha: bool | None = None,
    source: Path | None = None,
    thresholds: Thresholds | None = None,
    proposers: Sequence[GridProposer] = (),
) -> AnimationReconstruction:
    """Reconstruct every frame of an animation on one grid with one palette."""
    start = time.perf_counter()
    params = params or ReconstructParams()
    thresholds = thresholds or Thresholds()
    if not frames:
        raise ValueError("an animation needs at least one frame")
    shape = frames[0].shape
    for f in frames:
        if f.ndim != 3 or f.shape[2] != 4 or f.dtype != np.uint8:
            raise ValueError(f"expected RGBA uint8 frames, got {f.dtype} {f.shape}")
        if f.shape != shape:
            raise ValueError(f"frames differ in size: {f.shape[1]}x{f.shape[0]} vs {shape[1]}x{shape[0]}")
    durations = list(durations_ms) if durations_ms is not None else [atlas.DEFAULT_DURATION_MS] * len(frames)
    if len(durations) != len(frames):
        raise ValueError(f"{len(frames)} frames but {len(durations)} durations")
    if has_alpha is None:
        has_alpha = any(bool((f[..., 3] < 255).any()) for f in frames)
    each = [edge_profiles(f) for f in frames]
    profiles = joint_profiles(each)
    key = frames[key_frame(frames, each)]
    detection = detect_grid(key, params, profiles, proposers=proposers)
    detection = _joint_pitch_check(frames, key, params, profiles, detection)
    warnings = list(detection.warnings)
    if detection.grid is None:
        return AnimationReconstruction(detection, [], durations, loop, has_alpha, None, source, warnings)
    grid = detection.grid
    samples = [cells.cell_samples(f, grid) for f in frames]
    sprites = []
    for s in samples:
        sprite = cells.median_colors(s)
        if has_alpha and params.binarize_alpha:
            sprite = cells.binarize_alpha(sprite, params.alpha_threshold)
        elif not has_alpha:
            sprite[..., 3] = 255
        sprites.append(sprite)
    finished = finish_and_measure(samples, sprites, params)
    sprites, errors = finished.sprites, finished.errors
    warnings.extend(dict.fromkeys(r.warning for r in finished.removals if r.warning))
    if finished.removed_any:
        has_alpha = True  # transparent cells now: every output keeps alpha
    extras = _colour_fields(finished)
    seconds = time.perf_counter() - start
    per_frame: list[Reconstruction] = []
    for frame, sprite, err in zip(frames, sprites, errors):
        diff = diff_pct_from_errors(err)
        m = _metrics(grid, diff, confidence_with_fit(detection.confidence, diff), cells.count_colors(sprite), seconds, warnings, extras)
        per_frame.append(Reconstruction(
            image=frame, params=params, detection=detection, sprite=sprite, cell_error=cells.cell_error(err),
            metrics=m, has_alpha=has_alpha, source=source, warnings=list(warnings),
        ))
    all_errors = np.concatenate([e.reshape(-1) for e in errors])
    diff_pct = diff_pct_from_errors(all_errors)
    joined = np.concatenate([s.reshape(1, -1, 4) for s in sprites], axis=1)
    metrics = _metrics(grid, diff_pct, confidence_with_fit(detection.confidence, diff_pct), cells.count_colors(joined), seconds, warnings, extras)
    for flag in metrics.flags(thresholds):
        warnings.append(f"suspicious: {flag}")
    metrics = Metrics(**{**metrics.__dict__, "warnings": tuple(warnings)})
    return AnimationReconstruction(detection, per_frame, durations, loop, has_alpha, metrics, source, warnings, finished.palette)


def reconstruct_loaded(animation: LoadedAnimation, params: ReconstructParams | None = None, thresholds: Thresholds | None = None,
                       proposers: Sequence[GridProposer] = ()) -> AnimationReconstruction:
    """``reconstruct_animation`` of a loaded file or folder, its load warnings first."""
    result = reconstruct_animation(
        animation.frames, params, animation.durations_ms, animation.loop, animation.has_alpha,
        source=animation.path, thresholds=thresholds, proposers=proposers,
    )
    result.warnings[:0] = animation.warnings
    if result.metrics is not None and animation.warnings:
        result.metrics = Metrics(**{**result.metrics.__dict__, "warnings": tuple(result.warnings)})
    return result


# The joint 1-D pitch replaces a coarser grid the key frame's 2-D checks chose when that grid
# fits all frames clearly worse: diff % above twice the joint pitch's plus this (in %).  Chunky
# synthetic animations (seeds 0-7, ai/drift): the wrong coarse grids had 1.4-6.6% against 0.0%.
JOINT_PITCH_MARGIN_PCT = 0.25
# A grid counts as coarser than the joint pitch from this ratio on (a whole multiple, as 2-D votes give).
JOINT_PITCH_COARSER = 1.5


def _joint_pitch_check(frames: Sequence[np.ndarray], key: np.ndarray, params: ReconstructParams,
                       profiles: tuple[np.ndarray, np.ndarray], detection: GridDetection) -> GridDetection:
    """The detector's 2-D checks (regional votes, splits) look at one frame, which alone can
    read as cells twice as large; the joint profiles' own pitch is kept when it fits every frame
    clearly better than the coarser grid they chose."""
    grid = detection.grid
    forced = params.forced_cell_w is not None or params.forced_cell_h is not None or params.target_cells is not None
    if grid is None or forced:
        return detection
    fx, fy = (fit_axis(denoised(p)) for p in profiles)
    if fx is None or fy is None or max(grid.cell_w / fx.cell, grid.cell_h / fy.cell) < JOINT_PITCH_COARSER:
        return detection
    alt = detect_grid(key, params.with_overrides(cell_w=fx.cell, cell_h=fy.cell), profiles)
    if alt.grid is None:
        return detection
    chosen, other = _joint_diff(frames, grid), _joint_diff(frames, alt.grid)
    if chosen <= 2 * other + JOINT_PITCH_MARGIN_PCT:
        return detection
    note = (f"grid from the frames' joint pitch ({fx.cell:.2f} x {fy.cell:.2f}: diff {other:.2f}% over all frames, "
            f"vs {chosen:.2f}% for {grid.cell_w:.2f} x {grid.cell_h:.2f} read on one frame)")
    return replace(alt, warnings=(*alt.warnings, note))


def _joint_diff(frames: Sequence[np.ndarray], grid: Grid) -> float:
    errors = []
    for f in frames:
        samples = cells.cell_samples(f, grid)
        errors.append(cells.sample_errors(samples, cells.median_colors(samples)).reshape(-1))
    return diff_pct_from_errors(np.concatenate(errors))


def _colour_fields(finished: FinishedColors) -> dict[str, object]:
    """The palette and background fields of the metrics, over all frames."""
    out: dict[str, object] = {}
    if finished.palette is not None:
        out.update(palette=finished.palette.source, palette_error=finished.palette.max_error)
    if finished.removals:
        found = [r for r in finished.removals if r.background is not None]
        out.update(background=(found[0] if found else finished.removals[0]).background_text,
                   transparent_cells=int(sum(int(r.removed.sum()) for r in finished.removals)))
    return out


def _metrics(grid: Grid, diff_pct: float, confidence: float, n_colors: int, seconds: float, warnings: Sequence[str],
             extras: dict[str, object] | None = None) -> Metrics:
    return Metrics(
        cell_w=grid.cell_w, cell_h=grid.cell_h, offset_x=grid.offset_x, offset_y=grid.offset_y,
        cells_x=grid.cells_x, cells_y=grid.cells_y, diff_pct=diff_pct, confidence=confidence,
        n_colors=n_colors, seconds=seconds, warnings=tuple(warnings), **(extras or {}),  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- outputs


def default_formats(source_format: str) -> tuple[str, ...]:
    """The animated containers written by default: the input's own (GIF or WebP), WebP for an
    APNG (GIF would lose its partial alpha and colours past 256), both for a folder of frames."""
    fmt = source_format.upper()
    if fmt == "GIF":
        return ("gif",)
    if fmt == "WEBP":
        return ("webp",)
    if fmt == "FRAMES":
        return ANIMATION_FORMATS
    return ("webp",)


def frame_names(n_frames: int) -> list[str]:
    """Frame file names inside ``<stem>/``: ``0.png``, ``1.png``, ... (also the sheet's frame names)."""
    return [f"{i}.png" for i in range(n_frames)]


def sheet(sprites: Sequence[np.ndarray], durations_ms: Sequence[int], image_name: str) -> tuple[np.ndarray, dict[str, object]]:
    """The frames in one row and their Aseprite json-hash (each frame's duration)."""
    positions = atlas.strip_positions(sprites)
    picture = atlas.compose(sprites, positions)
    names = [n.removesuffix(".png") for n in frame_names(len(sprites))]
    frames = atlas.frames_for(sprites, positions, names, durations_ms)
    return picture, atlas.aseprite_json(frames, image_name, (picture.shape[1], picture.shape[0]))
