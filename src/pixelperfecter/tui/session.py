"""The TUI's model, free of Textual: one image, its cached attempts, the viewport, the pane pictures.

Everything here is plain NumPy so it can be tested and benchmarked without a terminal, and
called from worker threads.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..core import render
from ..core.animation import AnimationReconstruction, reconstruct_loaded
from ..core.grid import edge_profiles
from ..core.io import LoadedAnimation, LoadedImage, is_animated, load_animation, load_image
from ..core.pipeline import reconstruct
from ..core.types import Grid, Reconstruction, ReconstructParams

MIN_CELL = 2.0
MAX_ZOOM_PX = 64.0  # at most this many display pixels per source pixel
CHECKER_PX = 6
NUDGE_PX = 1.0


# --------------------------------------------------------------------------- attempts


@dataclass
class Attempt:
    """One parameter set tried on an image, and what it produced."""

    params: ReconstructParams
    result: Reconstruction
    seconds: float
    verdict: str | None = None  # "correct" / "incorrect" once the user said so
    source: str = "tui"
    suggestion_rank: int | None = None

    @property
    def ok(self) -> bool:
        return self.result.ok

    def label(self) -> str:
        over = self.params.overrides()
        if self.suggestion_rank is not None:
            return f"ML #{self.suggestion_rank}"
        if not over:
            return "auto"
        short = {"cell_w": "w", "cell_h": "h", "cell_size": "cell", "offset_x": "ox", "offset_y": "oy",
                 "snap_lines": "snap", "cleanup_colors": "clean", "binarize_alpha": "alpha",
                 "max_colors": "colours", "colors_auto": "colours-auto", "transparent": "bg"}
        parts = []
        for key, value in over.items():
            name = short.get(key, key)
            parts.append(f"{name}={'on' if value else 'off'}" if isinstance(value, bool) else f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}")
        return " ".join(parts)


class ImageSession:
    """An image and every attempt made on it (keyed by the frozen ``ReconstructParams``)."""

    def __init__(self, path: Path, loaded: LoadedImage, animation: LoadedAnimation | None = None) -> None:
        self.path = path
        self.loaded = loaded
        # Read-only: the cached edge profiles rely on it, and nothing should draw on the input.
        self.loaded.rgba.flags.writeable = False
        self._profiles: tuple[np.ndarray, np.ndarray] | None = None
        self.attempts: dict[ReconstructParams, Attempt] = {}
        self.current: ReconstructParams | None = None
        self.notes = ""
        self._lock = threading.Lock()
        # An animated image: every attempt is the joint reconstruction of all frames (one grid),
        # and the panes show frame ``frame_index`` of it (``loaded`` is that frame).
        self.animation = animation
        self.frame_index = 0
        self._joint: dict[ReconstructParams, AnimationReconstruction] = {}

    @classmethod
    def open(cls, path: str | Path) -> "ImageSession":
        """Load ``path`` (every frame of an animated one); raises ``ImageLoadError`` with a one-line reason."""
        if is_animated(path):
            animation = load_animation(path)
            return cls(Path(path), _frame_image(animation, 0), animation)
        return cls(Path(path), load_image(path))

    @property
    def n_frames(self) -> int:
        return len(self.animation.frames) if self.animation is not None else 1

    def frame_label(self) -> str | None:
        """``frame i/n`` (1-based) for an animation, None for a still image."""
        return None if self.animation is None else f"{self.frame_index + 1}/{self.n_frames}"

    def show_frame(self, index: int) -> int:
        """Show frame ``index`` (wrapping) of every attempt; returns the frame shown."""
        if self.animation is None:
            return 0
        with self._lock:
            self.frame_index = index % self.n_frames
            self.loaded = _frame_image(self.animation, self.frame_index)
            self.loaded.rgba.flags.writeable = False
            self._profiles = None
            for params, attempt in self.attempts.items():
                joint = self._joint.get(params)
                if joint is not None and joint.ok:
                    attempt.result = joint.frames[self.frame_index]
            return self.frame_index

    def joint(self, params: ReconstructParams) -> AnimationReconstruction | None:
        """The whole animation's reconstruction behind an attempt (None for a still image)."""
        with self._lock:
            return self._joint.get(params)

    @property
    def width(self) -> int:
        return self.loaded.width

    @property
    def height(self) -> int:
        return self.loaded.height

    def profiles(self) -> tuple[np.ndarray, np.ndarray]:
        """The image's edge profiles, computed once: every re-run with new overrides reuses them."""
        with self._lock:
            if self._profiles is None:
                self._profiles = edge_profiles(self.loaded.rgba)
            return self._profiles

    def cached(self, params: ReconstructParams) -> Attempt | None:
        with self._lock:
            return self.attempts.get(params)

    def run(self, params: ReconstructParams) -> Attempt:
        """The attempt for ``params``, computed once (safe to call from a worker thread)."""
        found = self.cached(params)
        if found is not None:
            return found
        start = time.perf_counter()
        if self.animation is not None:
            return self._run_joint(params, start)
        result = reconstruct(self.loaded.rgba, params, has_alpha=self.loaded.has_alpha, source=self.path, profiles=self.profiles())
        result.warnings[:0] = self.loaded.warnings
        attempt = Attempt(params=params, result=result, seconds=time.perf_counter() - start)
        with self._lock:
            return self.attempts.setdefault(params, attempt)

    def _run_joint(self, params: ReconstructParams, start: float) -> Attempt:
        assert self.animation is not None
        joint = reconstruct_loaded(self.animation, params)
        with self._lock:
            if params in self.attempts:
                return self.attempts[params]
            self._joint[params] = joint
            if joint.ok:
                result = joint.frames[self.frame_index]
            else:
                result = Reconstruction(image=self.loaded.rgba, params=params, detection=joint.detection, sprite=None, cell_error=None,
                                        metrics=None, has_alpha=joint.has_alpha, source=self.path, warnings=list(joint.warnings))
            attempt = Attempt(params=params, result=result, seconds=time.perf_counter() - start)
            return self.attempts.setdefault(params, attempt)

    def ordered(self) -> list[Attempt]:
        with self._lock:
            return list(self.attempts.values())

    def current_attempt(self) -> Attempt | None:
        return None if self.current is None else self.cached(self.current)

    def neighbour(self, step: int) -> Attempt | None:
        """The attempt ``step`` places before/after the current one (wrapping)."""
        order = self.ordered()
        if not order:
            return None
        keys = [a.params for a in order]
        index = keys.index(self.current) if self.current in keys else 0
        return order[(index + step) % len(order)]

    def export_choice(self) -> Attempt | None:
        """What export writes: the attempt marked correct (the latest one), else the current one."""
        marked = [a for a in self.ordered() if a.verdict == "correct" and a.ok]
        if marked:
            return marked[-1]
        current = self.current_attempt()
        return current if current is not None and current.ok else None


def _frame_image(animation: LoadedAnimation, index: int) -> LoadedImage:
    return LoadedImage(rgba=animation.frames[index], has_alpha=animation.has_alpha, path=animation.path,
                       warnings=list(animation.warnings))


# --------------------------------------------------------------------------- overrides


def _round(value: float) -> float:
    # Keeps cache keys stable: 10.5 + 0.1 - 0.1 must be the same attempt as 10.5.
    return round(float(value), 4)


def current_cell(params: ReconstructParams, result: Reconstruction | None) -> tuple[float, float] | None:
    """The cell size in effect: the forced one, else the detected one, else None.

    ``params`` may be newer than ``result`` (keys pressed while a re-run is in flight), so
    forced values win over the grid that was last shown.
    """
    grid = result.grid if result is not None else None
    cell_w = params.forced_cell_w if params.forced_cell_w is not None else (grid.cell_w if grid is not None else None)
    cell_h = params.forced_cell_h if params.forced_cell_h is not None else (grid.cell_h if grid is not None else None)
    if cell_w is None or cell_h is None:
        return None
    return cell_w, cell_h


def with_cell(params: ReconstructParams, cell_w: float, cell_h: float, limit: float) -> ReconstructParams:
    cell_w = _round(min(max(cell_w, MIN_CELL), limit))
    cell_h = _round(min(max(cell_h, MIN_CELL), limit))
    return params.with_overrides(cell_size=None, cell_w=cell_w, cell_h=cell_h)


def scale_cell(params: ReconstructParams, result: Reconstruction | None, factor: float, limit: float) -> ReconstructParams | None:
    cell = current_cell(params, result)
    if cell is None:
        return None
    return with_cell(params, cell[0] * factor, cell[1] * factor, limit)


def step_cell(params: ReconstructParams, result: Reconstruction | None, delta: float, limit: float) -> ReconstructParams | None:
    cell = current_cell(params, result)
    if cell is None:
        return None
    return with_cell(params, cell[0] + delta, cell[1] + delta, limit)


def nudge_offset(params: ReconstructParams, result: Reconstruction | None, dx: float, dy: float) -> ReconstructParams | None:
    """Move the grid phase by (dx, dy) pixels, wrapped into [0, cell)."""
    grid = result.grid if result is not None else None
    cell = current_cell(params, result)
    if grid is None or cell is None:
        return None
    changes: dict[str, object] = {}
    if dx:
        base = params.offset_x if params.offset_x is not None else grid.offset_x
        changes["offset_x"] = _round((base + dx) % cell[0])
    if dy:
        base = params.offset_y if params.offset_y is not None else grid.offset_y
        changes["offset_y"] = _round((base + dy) % cell[1])
    return params.with_overrides(**changes)


SWITCHES = ("snap_lines", "cleanup_colors", "binarize_alpha", "transparent", "holes")


def toggle(params: ReconstructParams, name: str) -> ReconstructParams:
    """Flip one switch.  ``transparent`` flips between off and ``auto`` (turning it off turns
    ``holes`` off too); ``holes`` turned on also turns ``transparent`` on: it is part of it."""
    if name not in SWITCHES:
        raise ValueError(f"unknown switch {name!r}")
    if name == "transparent":
        return params.with_overrides(transparent="auto", holes=params.holes) if params.transparent is None else params.with_overrides(transparent=None, holes=False)
    if name == "holes":
        return params.with_overrides(holes=not params.holes, transparent=params.transparent or "auto")
    return params.with_overrides(**{name: not getattr(params, name)})


# What key k steps through: no colour reduction, the auto rule, then at most 16, 8, 4 colours.
COLOR_STEPS: tuple[str | int | None, ...] = (None, "auto", 16, 8, 4)


def colors_setting(params: ReconstructParams) -> str | int | None:
    """The ``COLOR_STEPS`` entry ``params`` is at (a palette file or another N counts as its own)."""
    if params.max_colors is not None:
        return params.max_colors
    return "auto" if params.colors_auto else None


def colors_label(params: ReconstructParams) -> str:
    setting = colors_setting(params)
    if params.palette is not None:
        return f"{params.palette_source} ({len(params.palette)})"
    return "off" if setting is None else "auto" if setting == "auto" else f"max {setting}"


def cycle_colors(params: ReconstructParams) -> ReconstructParams:
    """The next ``COLOR_STEPS`` setting after the one ``params`` is at (off after 4; a fixed palette -> off)."""
    setting = colors_setting(params)
    if params.palette is not None:
        nxt: str | int | None = None
    elif setting in COLOR_STEPS:
        nxt = COLOR_STEPS[(COLOR_STEPS.index(setting) + 1) % len(COLOR_STEPS)]
    else:
        nxt = None
    return params.with_overrides(max_colors=nxt if isinstance(nxt, int) else None, colors_auto=nxt == "auto", palette=None)


def typed(params: ReconstructParams, cell_w: float | None, cell_h: float | None, offset_x: float | None, offset_y: float | None,
          size: tuple[int, int] | None = None) -> ReconstructParams:
    """Values typed in the dialog; None means "detect".  ``size`` is the output size in cells
    (``--size WxH``: the pitch, phase and drift are still solved for exactly that many cells)."""
    return params.with_overrides(
        cell_size=None,
        cell_w=None if cell_w is None else _round(cell_w),
        cell_h=None if cell_h is None else _round(cell_h),
        offset_x=None if offset_x is None else _round(offset_x),
        offset_y=None if offset_y is None else _round(offset_y),
        target_cells=size,
    )


# The ``t`` dialog's fields: cell width, cell height, offset x, offset y (px), output size (cells).
TypedValues = tuple[float | None, float | None, float | None, float | None, tuple[int, int] | None]

_SIZE = re.compile(r"^\s*(\d+)\s*[xX×,]\s*(\d+)\s*$")


def parse_optional_size(text: str) -> tuple[int, int] | None:
    """'' or 'auto' -> None; 'WxH' -> (W, H) cells, each at least 1 (ValueError says what is expected)."""
    if text.strip().lower() in ("", "auto"):
        return None
    m = _SIZE.match(text)
    if not m or min(int(m.group(1)), int(m.group(2))) < 1:
        raise ValueError(f"output size: expected WxH in cells such as 128x128, got {text.strip()!r}")
    return int(m.group(1)), int(m.group(2))


def parse_optional_float(text: str, name: str, minimum: float | None = None) -> float | None:
    """'' or 'auto' -> None; otherwise a finite float (ValueError names the field)."""
    text = text.strip().lower()
    if text in ("", "auto"):
        return None
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be finite")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: must be at least {minimum:g}")
    return value


# --------------------------------------------------------------------------- viewport


@dataclass(frozen=True)
class Viewport:
    """Zoom (1 = the whole image fits) and the centre of the view, in source pixels."""

    zoom: float = 1.0
    center_x: float | None = None
    center_y: float | None = None

    def zoomed(self, factor: float) -> "Viewport":
        return Viewport(max(1.0, self.zoom * factor), self.center_x, self.center_y)


ZOOM_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)  # display pixels per image pixel


def fit_scale(width: int, height: int, max_w: int, max_h: int) -> float:
    """Image pixels per display pixel when the whole image fits (``Viewport.zoom`` 1).

    Enlarged by 2x or more, it snaps to an integer magnification (2:1, 3:1, ...) so every image
    pixel gets the same number of display pixels (no uneven columns: pixel art stays crisp, in
    half blocks and Sixel alike).  Reduced, or enlarged less than 2x, it fills the pane."""
    exact = max(width / max(1, max_w), height / max(1, max_h))
    magnification = 1.0 / exact
    if magnification >= 2.0:
        return 1.0 / math.floor(magnification + 1e-9)
    return exact


def zoom_levels(fit: float, top: float) -> list[float]:
    """The zoom levels: "fit", then every integer magnification (1:1, 2:1, 3:1, ...) above it.

    ``Viewport.zoom`` is relative to fit, so magnification m is zoom ``fit * m``.  At an integer
    level every image pixel is the same whole number of display pixels (no uneven columns).
    """
    return [1.0] + [fit * m for m in ZOOM_STEPS if fit * m > 1.0 + 1e-6 and fit * m <= top + 1e-6]


def next_zoom(current: float, fit: float, direction: int, top: float) -> float:
    levels = zoom_levels(fit, top)
    if direction > 0:
        return next((z for z in levels if z > current + 1e-6), levels[-1])
    return next((z for z in reversed(levels) if z < current - 1e-6), levels[0])


def zoom_label(scale: float, zoom: float = 0.0) -> str:
    """``2:1`` (two display pixels per image pixel), ``1:1``, or ``fit 0.42:1``."""
    mag = 1.0 / scale
    if abs(zoom - 1.0) < 1e-6 or abs(mag - round(mag)) > 1e-3 or round(mag) < 1:
        return f"fit {mag:.2g}:1"
    return f"{round(mag)}:1"


@dataclass(frozen=True)
class ViewGeometry:
    """Which source pixel each display pixel shows (nearest neighbour, never blurred)."""

    scale: float  # source pixels per display pixel
    x0: float
    y0: float
    cols: np.ndarray  # source column of each display column
    rows: np.ndarray

    @property
    def out_w(self) -> int:
        return len(self.cols)

    @property
    def out_h(self) -> int:
        return len(self.rows)

    @property
    def span(self) -> tuple[float, float]:
        return self.out_w * self.scale, self.out_h * self.scale


def max_zoom(width: int, height: int, max_w: int, max_h: int) -> float:
    return max(1.0, fit_scale(width, height, max_w, max_h) * MAX_ZOOM_PX)


def view_geometry(width: int, height: int, viewport: Viewport, max_w: int, max_h: int) -> ViewGeometry:
    """Crop + nearest-neighbour scale of a ``width`` x ``height`` image into ``max_w`` x ``max_h`` display pixels."""
    max_w, max_h = max(1, max_w), max(1, max_h)
    zoom = min(viewport.zoom, max_zoom(width, height, max_w, max_h))
    scale = fit_scale(width, height, max_w, max_h) / zoom
    span_w = min(float(width), max_w * scale)
    span_h = min(float(height), max_h * scale)
    cx = width / 2 if viewport.center_x is None else viewport.center_x
    cy = height / 2 if viewport.center_y is None else viewport.center_y
    cx = min(max(cx, span_w / 2), width - span_w / 2)
    cy = min(max(cy, span_h / 2), height - span_h / 2)
    x0, y0 = cx - span_w / 2, cy - span_h / 2
    out_w = max(1, min(max_w, int(round(span_w / scale))))
    out_h = max(1, min(max_h, int(round(span_h / scale))))
    cols = np.clip(np.floor(x0 + (np.arange(out_w) + 0.5) * scale), 0, width - 1).astype(np.int64)
    rows = np.clip(np.floor(y0 + (np.arange(out_h) + 0.5) * scale), 0, height - 1).astype(np.int64)
    return ViewGeometry(scale, x0, y0, cols, rows)


def clamp_viewport(viewport: Viewport, geometry: ViewGeometry) -> Viewport:
    """The viewport with its centre where the geometry actually put it (after edge clamping)."""
    span_w, span_h = geometry.span
    return Viewport(viewport.zoom, geometry.x0 + span_w / 2, geometry.y0 + span_h / 2)


def panned(viewport: Viewport, geometry: ViewGeometry, fx: float, fy: float) -> Viewport:
    """Move the view by a fraction of the visible span."""
    base = clamp_viewport(viewport, geometry)
    span_w, span_h = geometry.span
    return Viewport(viewport.zoom, (base.center_x or 0) + fx * span_w, (base.center_y or 0) + fy * span_h)


def view_grid(grid: Grid, geometry: ViewGeometry) -> Grid:
    """The grid in display coordinates: display pixel i is in the cell its source pixel is in.

    A boundary at source edge x moves to the first display column whose source column is >= x,
    so ``render.render_back(sprite, view_grid(...))`` equals ``render_back(sprite, grid)``
    sampled at ``geometry.rows`` x ``geometry.cols`` (tested), and the core's diff, heatmap
    and grid overlays can be drawn at display resolution.
    """
    xs = np.searchsorted(geometry.cols, np.asarray(grid.xs, dtype=np.float64), side="left").astype(np.int64)
    ys = np.searchsorted(geometry.rows, np.asarray(grid.ys, dtype=np.float64), side="left").astype(np.int64)
    return Grid(
        cell_w=grid.cell_w / geometry.scale,
        cell_h=grid.cell_h / geometry.scale,
        offset_x=(grid.offset_x - geometry.x0) / geometry.scale,
        offset_y=(grid.offset_y - geometry.y0) / geometry.scale,
        xs=xs,
        ys=ys,
        width=geometry.out_w,
        height=geometry.out_h,
    )


# --------------------------------------------------------------------------- pane pictures


@dataclass(frozen=True)
class ViewOptions:
    show_grid: bool = False
    show_heatmap: bool = False
    # Sprite-sheet regions (``j``/``J``): their boxes (x0, y0, x1, y1 in source px), drawn over
    # the original, and the selected one (1-based; 0: none).
    regions: tuple[tuple[int, int, int, int], ...] = ()
    region: int = 0


REGION_BOX = (255, 0, 255)  # magenta: rare in pixel art, distinct from the grid's cyan
REGION_SELECTED = (255, 255, 0)


def draw_regions(picture: np.ndarray, geometry: ViewGeometry, boxes: tuple[tuple[int, int, int, int], ...], selected: int = 0) -> np.ndarray:
    """The sprite regions' boxes over a pane picture (display px), the selected one in yellow, on top."""
    out = np.ascontiguousarray(picture[..., :3]).copy()
    h, w = out.shape[:2]
    order = [i for i in range(len(boxes)) if i + 1 != selected] + ([selected - 1] if 0 < selected <= len(boxes) else [])
    for i in order:
        x0, y0, x1, y1 = boxes[i]
        # Source px -> display px (the geometry's nearest-neighbour mapping).
        dx0, dx1 = (int(np.floor((v - geometry.x0) / geometry.scale)) for v in (x0, x1))
        dy0, dy1 = (int(np.floor((v - geometry.y0) / geometry.scale)) for v in (y0, y1))
        dx1, dy1 = max(dx0, dx1 - 1), max(dy0, dy1 - 1)
        if dx1 < 0 or dy1 < 0 or dx0 >= w or dy0 >= h:
            continue  # outside the view
        colour = REGION_SELECTED if i + 1 == selected else REGION_BOX
        cx0, cx1, cy0, cy1 = max(dx0, 0), min(dx1, w - 1), max(dy0, 0), min(dy1, h - 1)
        for x in (dx0, dx1):
            if 0 <= x < w:
                out[cy0:cy1 + 1, x] = colour
        for y in (dy0, dy1):
            if 0 <= y < h:
                out[y, cx0:cx1 + 1] = colour
    return out


@dataclass
class PanePictures:
    """The three panes' RGB pictures at display resolution (``None`` where there is nothing)."""

    original: np.ndarray
    middle: np.ndarray | None
    reconstruction: np.ndarray | None
    geometry: ViewGeometry
    middle_kind: str = "diff"  # "diff" or "heatmap"
    message: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


def on_checker(rgba: np.ndarray, square: int = CHECKER_PX) -> np.ndarray:
    """RGB for display: transparent pixels over a light checkerboard."""
    if rgba.shape[2] == 3:
        return rgba
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    if bool((alpha == 1.0).all()):
        return np.ascontiguousarray(rgba[..., :3])
    h, w = rgba.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    checker = np.where(((yy // square + xx // square) % 2) == 0, 200, 235).astype(np.float32)
    rgb = rgba[..., :3].astype(np.float32) * alpha + checker[..., None] * (1 - alpha)
    return np.clip(rgb, 0, 255).round().astype(np.uint8)


PANE_ROLES = ("original", "middle", "reconstruction")
SMALL_CELL_PX = 6  # cells smaller than this on screen get a per-cell diff (pixel marks would be noise)


def cell_diff(source: np.ndarray, vgrid: Grid, cell_error: np.ndarray, threshold: int = render.DIFF_THRESHOLD) -> np.ndarray:
    """The diff when cells are only a few display pixels: whole cells in red where the cell's
    error (measured at full resolution) is above ``threshold``, the greyed input elsewhere.

    Pixel-level marks at that size fall on cell edges and blend to pink (or vanish when the
    view is reduced); a red block per bad cell stays readable, in half blocks too.
    """
    grey = on_checker(source).astype(np.float32).mean(axis=2, keepdims=True) * 0.6 + 60
    out = np.repeat(grey, 3, axis=2)
    rows = render.cell_index(vgrid.ys, vgrid.height)
    cols = render.cell_index(vgrid.xs, vgrid.width)
    bad = cell_error[np.clip(rows, 0, cell_error.shape[0] - 1)[:, None], np.clip(cols, 0, cell_error.shape[1] - 1)[None, :]] > threshold
    out[bad] = render.DIFF_RED
    return np.clip(out, 0, 255).astype(np.uint8)
POSTERIZE_BITS = 4


def posterize(rgb: np.ndarray, bits: int = POSTERIZE_BITS) -> np.ndarray:
    """``bits`` per channel (the middle pane: greyed context + red/pink marks, or the heatmap).

    The diff's grey context needs no 176 grey levels: 16 look the same and make the Sixel
    about 2.5x smaller and faster to encode.  Pure red stays >240 in red, <20 in green/blue.
    """
    step = 1 << (8 - bits)
    return np.ascontiguousarray((rgb[..., :3] // step) * step + step // 2, dtype=np.uint8)


def attempt_drawable(attempt: Attempt | None) -> bool:
    result = attempt.result if attempt is not None else None
    return result is not None and result.ok and result.grid is not None and result.sprite is not None


def pane_picture(role: str, session: ImageSession, attempt: Attempt | None, geometry: ViewGeometry,
                 options: ViewOptions = ViewOptions()) -> tuple[np.ndarray | None, str]:
    """One pane's RGB picture at display resolution, and its kind (``original``, ``diff``, ``heatmap``,
    ``reconstruction``); ``None`` where there is nothing to draw (no grid)."""
    source = session.loaded.rgba[geometry.rows[:, None], geometry.cols[None, :]]
    if role == "original" and options.regions:
        plain, kind = pane_picture(role, session, attempt, geometry, replace(options, regions=(), region=0))
        assert plain is not None
        return draw_regions(plain, geometry, options.regions, options.region), kind
    if not attempt_drawable(attempt):
        return (on_checker(source), "original") if role == "original" else (None, "diff" if role == "middle" else role)
    assert attempt is not None
    result = attempt.result
    grid, sprite = result.grid, result.sprite
    assert grid is not None and sprite is not None
    vgrid = view_grid(grid, geometry)
    if role == "original":
        picture = render.grid_overlay(source, vgrid) if options.show_grid else on_checker(source)
        return np.ascontiguousarray(picture[..., :3]), "original"
    if role == "middle":
        if options.show_heatmap and result.cell_error is not None:
            middle, kind = render.heatmap(source, vgrid, result.cell_error), "heatmap"
        elif min(vgrid.cell_w, vgrid.cell_h) < SMALL_CELL_PX and result.cell_error is not None:
            middle, kind = cell_diff(source, vgrid, result.cell_error), "diff-cells"
        else:
            middle, kind = render.diff_overlay(source, vgrid, sprite), "diff"
        if options.show_grid:  # the grid on every pane, the diff and heatmap included
            if middle.shape[2] == 3:
                middle = np.concatenate([middle, np.full(middle.shape[:2] + (1,), 255, np.uint8)], axis=2)
            middle = render.grid_overlay(middle, vgrid)
        return posterize(middle[..., :3]), kind
    back = render.render_back(sprite, vgrid)
    picture = render.grid_overlay(back, vgrid) if options.show_grid else on_checker(back)
    return np.ascontiguousarray(picture[..., :3]), "reconstruction"


def pane_pictures(session: ImageSession, attempt: Attempt | None, viewport: Viewport, max_w: int, max_h: int,
                  options: ViewOptions = ViewOptions()) -> PanePictures:
    """Crop the same input region for all three panes and scale it with nearest neighbour."""
    start = time.perf_counter()
    geometry = view_geometry(session.width, session.height, viewport, max_w, max_h)
    original, _ = pane_picture("original", session, attempt, geometry, options)
    assert original is not None
    if not attempt_drawable(attempt):
        result = attempt.result if attempt is not None else None
        message = None if result is None else (result.error or "no grid found")
        return PanePictures(original, None, None, geometry, message=message)
    middle, kind = pane_picture("middle", session, attempt, geometry, options)
    reconstruction, _ = pane_picture("reconstruction", session, attempt, geometry, options)
    return PanePictures(original, middle, reconstruction, geometry, middle_kind=kind,
                        timings={"views": time.perf_counter() - start})
