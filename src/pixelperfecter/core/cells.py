"""Cell colour recovery: one RGBA colour per grid cell.

Generated images blur across cell edges and put light/dark halos on the rims, so only the
core of each cell is sampled, on a small lattice of points, and reduced with a median
(robust to grain, streaks and JPEG blocks).  An optional cleanup merges near-identical
colours into one palette entry so flat areas come out as exactly one colour.
"""

from __future__ import annotations

import numpy as np

from .types import Grid

# Fraction of the cell trimmed on each side before sampling.
CORE_MARGIN = 0.22
MAX_SAMPLES = 7


def sample_points(lines: np.ndarray) -> np.ndarray:
    """Pixel indices (cells, k) sampling the core of each interval [lines[i], lines[i+1])."""
    a = lines[:-1].astype(np.float64)
    b = lines[1:].astype(np.float64)
    width = b - a
    k = int(np.clip(np.median(width) * (1 - 2 * CORE_MARGIN), 1, MAX_SAMPLES))
    t = (np.arange(k) + 0.5) / k
    lo = a + CORE_MARGIN * width
    hi = b - CORE_MARGIN * width
    pts = lo[:, None] + (hi - lo)[:, None] * t[None, :]
    idx = np.floor(pts).astype(np.int64)
    return np.clip(idx, a[:, None].astype(np.int64), (b - 1)[:, None].astype(np.int64))


def cell_samples(rgba: np.ndarray, grid: Grid) -> np.ndarray:
    """Core samples of every cell: (cells_y, cells_x, ky*kx, 4) uint8."""
    py = sample_points(grid.ys)
    px = sample_points(grid.xs)
    # (ny, ky, nx, kx, C) -> (ny, nx, ky*kx, C)
    block = rgba[py[:, :, None, None], px[None, None, :, :]]
    ny, ky, nx, kx, c = block.shape
    return block.transpose(0, 2, 1, 3, 4).reshape(ny, nx, ky * kx, c)


def cell_colors(rgba: np.ndarray, grid: Grid) -> np.ndarray:
    """Median colour of each cell's core: (cells_y, cells_x, 4) uint8."""
    samples = cell_samples(rgba, grid)
    return np.median(samples, axis=2).round().astype(np.uint8)


def binarize_alpha(sprite: np.ndarray, threshold: int = 128) -> np.ndarray:
    out = sprite.copy()
    opaque = out[..., 3] >= threshold
    out[..., 3] = np.where(opaque, 255, 0)
    out[~opaque, :3] = 0
    return out


def merge_colors(sprite: np.ndarray, distance: float = 10.0) -> np.ndarray:
    """Merge colours closer than ``distance`` (L-inf, RGB) into one palette entry.

    Greedy, most frequent first, with fixed cluster seeds so a slow gradient cannot chain
    distinct colours together.  Each cluster takes the per-channel median of its members.
    Transparent cells are left alone.
    """
    if distance <= 0:
        return sprite
    flat = sprite.reshape(-1, 4)
    opaque = flat[:, 3] > 0
    if not opaque.any():
        return sprite
    colors, inverse, counts = np.unique(flat[opaque, :3], axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(-counts, kind="stable")
    seeds: list[np.ndarray] = []
    assign = np.full(len(colors), -1, dtype=np.int64)
    col = colors.astype(np.int32)
    for i in order:
        if assign[i] >= 0:
            continue
        seed = col[i]
        seeds.append(seed)
        near = (np.abs(col - seed).max(axis=1) <= distance) & (assign < 0)
        assign[near] = len(seeds) - 1
    cluster_of_cell = assign[inverse]
    opaque_rgb = flat[opaque, :3]
    merged = np.empty_like(opaque_rgb)
    by_cluster = np.argsort(cluster_of_cell, kind="stable")
    bounds = np.searchsorted(cluster_of_cell[by_cluster], np.arange(len(seeds) + 1))
    for cid in range(len(seeds)):
        members = by_cluster[bounds[cid] : bounds[cid + 1]]
        merged[members] = np.median(opaque_rgb[members], axis=0).round().astype(np.uint8)
    out = flat.copy()
    out[opaque, :3] = merged
    return out.reshape(sprite.shape)


def count_colors(sprite: np.ndarray) -> int:
    flat = sprite.reshape(-1, 4)
    flat = flat[flat[:, 3] > 0]
    if flat.size == 0:
        return 0
    return int(len(np.unique(flat[:, :3], axis=0)))


def cell_error(rgba: np.ndarray, grid: Grid, sprite: np.ndarray) -> np.ndarray:
    """Per-cell disagreement: mean L-inf distance (0..255) between core pixels and the colour."""
    samples = cell_samples(rgba, grid).astype(np.int16)
    colour = sprite.astype(np.int16)[:, :, None, :]
    diff = np.abs(samples - colour)
    if rgba.shape[2] == 4:
        # Colour is irrelevant where both are transparent.
        both_clear = (samples[..., 3] < 128) & (colour[..., 3] < 128)
        diff[..., :3][both_clear] = 0
    return diff.max(axis=3).mean(axis=2).astype(np.float32)
