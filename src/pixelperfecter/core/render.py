"""Pictures of a result: upscales, the diff overlay, the per-cell heatmap and the grid overlay.

All functions take and return RGBA uint8 arrays and never modify their inputs.
"""

from __future__ import annotations

import cv2
import numpy as np

from .types import Grid

# A pixel whose colour differs from the reconstruction by more than this (L-inf) is a mismatch.
DIFF_THRESHOLD = 48
DIFF_RED = np.array([255, 0, 0], np.float32)
DIFF_PINK = np.array([255, 150, 170], np.float32)


def upscale(sprite: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscale by an integer factor."""
    if factor < 1:
        raise ValueError(f"upscale factor must be >= 1, got {factor}")
    return np.repeat(np.repeat(sprite, factor, axis=0), factor, axis=1)


def cell_index(lines: np.ndarray, length: int) -> np.ndarray:
    """For each pixel along an axis, the index of the cell it belongs to (margins join the border cell)."""
    idx = np.searchsorted(lines, np.arange(length), side="right") - 1
    return np.clip(idx, 0, len(lines) - 2)


def render_back(sprite: np.ndarray, grid: Grid) -> np.ndarray:
    """The reconstruction drawn on the input's geometry (each cell filled with its colour)."""
    rows = cell_index(grid.ys, grid.height)
    cols = cell_index(grid.xs, grid.width)
    back: np.ndarray = sprite[rows[:, None], cols[None, :]]
    return back


def _composite_on_checker(rgba: np.ndarray, square: int = 8) -> np.ndarray:
    h, w = rgba.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    checker = np.where(((yy // square + xx // square) % 2) == 0, 200, 235).astype(np.float32)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32) * alpha + checker[..., None] * (1 - alpha)
    return rgb


def mismatch_mask(image: np.ndarray, grid: Grid, sprite: np.ndarray, threshold: int = DIFF_THRESHOLD) -> np.ndarray:
    """Pixels where the input and the reconstruction disagree by more than ``threshold``."""
    back = render_back(sprite, grid).astype(np.int16)
    src = image.astype(np.int16)
    diff = np.abs(src - back)
    if image.shape[2] == 4:
        clear = (src[..., 3] < 128) & (back[..., 3] < 128)
        diff[..., :3][clear] = 0
    mask: np.ndarray = diff.max(axis=2) > threshold
    return mask


def core_mask(grid: Grid, margin: float = 0.15) -> np.ndarray:
    """Pixels inside a cell's core: away from every cell boundary by ``margin`` of the cell.

    Blur and halos make the pixels next to a boundary disagree with any flat colour; only a
    mismatch in the core means the colour (or the grid) is wrong.
    """

    def axis_core(lines: np.ndarray, length: int) -> np.ndarray:
        idx = cell_index(lines, length)
        pos = np.arange(length) + 0.5
        a, b = lines[idx], lines[idx + 1]
        pad = np.maximum(1.0, margin * (b - a))
        inside: np.ndarray = (pos - a >= pad) & (b - pos >= pad)
        return inside

    core: np.ndarray = axis_core(grid.ys, grid.height)[:, None] & axis_core(grid.xs, grid.width)[None, :]
    return core


def diff_overlay(image: np.ndarray, grid: Grid, sprite: np.ndarray, threshold: int = DIFF_THRESHOLD) -> np.ndarray:
    """The input, dimmed to grey: mismatches inside cells in red, at cell edges in faint pink."""
    rgb = _composite_on_checker(image)
    grey = rgb.mean(axis=2, keepdims=True) * 0.6 + 60
    out = np.repeat(grey, 3, axis=2)
    mask = mismatch_mask(image, grid, sprite, threshold)
    core = core_mask(grid)
    edge = mask & ~core
    out[edge] = 0.6 * out[edge] + 0.4 * DIFF_PINK
    out[mask & core] = DIFF_RED
    return _to_rgba(out)


def heatmap(image: np.ndarray, grid: Grid, cell_error: np.ndarray) -> np.ndarray:
    """Per-cell disagreement (inferno colours, bright = bad) blended over the greyed input."""
    scaled = np.clip(cell_error / 64.0 * 255.0, 0, 255).astype(np.uint8)
    colours = cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO)[..., ::-1]
    rows = cell_index(grid.ys, grid.height)
    cols = cell_index(grid.xs, grid.width)
    per_pixel = colours[rows[:, None], cols[None, :]].astype(np.float32)
    grey = _composite_on_checker(image).mean(axis=2, keepdims=True)
    return _to_rgba(0.7 * per_pixel + 0.3 * grey)


def grid_overlay(image: np.ndarray, grid: Grid, colour: tuple[int, int, int] = (0, 255, 255)) -> np.ndarray:
    """The input with every cell boundary drawn as a 1-px line on the first pixel of each cell."""
    out = _composite_on_checker(image)
    line = np.array(colour, np.float32)
    xs = grid.xs[(grid.xs >= 0) & (grid.xs < grid.width)]
    ys = grid.ys[(grid.ys >= 0) & (grid.ys < grid.height)]
    out[:, xs] = 0.35 * out[:, xs] + 0.65 * line
    out[ys, :] = 0.35 * out[ys, :] + 0.65 * line
    return _to_rgba(out)


def _to_rgba(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    out = np.empty((h, w, 4), np.uint8)
    out[..., :3] = np.clip(rgb, 0, 255).round().astype(np.uint8)
    out[..., 3] = 255
    return out
