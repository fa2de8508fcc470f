"""Cell colour recovery: one RGBA colour per grid cell.

Generated images blur across cell edges and put light/dark halos on the rims, so only the
core of each cell is sampled, on a small lattice of points, and reduced with a median
(robust to grain, streaks and JPEG blocks).  ``core.palette`` then unifies the colours
across the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

from .distinct import distinct
from .types import Grid

# Fraction of the cell trimmed on each side before sampling.
CORE_MARGIN = 0.22
MAX_SAMPLES = 5


def sample_points(lines: np.ndarray, max_samples: int = MAX_SAMPLES) -> np.ndarray:
    """Pixel indices (cells, k) sampling the core of each interval [lines[i], lines[i+1])."""
    a = lines[:-1].astype(np.float64)
    b = lines[1:].astype(np.float64)
    width = b - a
    # Every core pixel of a small cell (the core of a 5-8 px cell spans one pixel more than its
    # rounded width: harsh tiers, true grid, seeds 20-39: cells off by > 24 fell 0.047% -> 0.021%
    # on sheets, 0.039% -> 0.037% at 5-8 px), a lattice of MAX_SAMPLES for large ones.
    k = int(np.clip(np.ceil(np.median(width) * (1 - 2 * CORE_MARGIN)) + 1, 1, max_samples))
    t = (np.arange(k) + 0.5) / k
    lo = a + CORE_MARGIN * width
    hi = b - CORE_MARGIN * width
    pts = lo[:, None] + (hi - lo)[:, None] * t[None, :]
    idx = np.floor(pts).astype(np.int64)
    return np.clip(idx, a[:, None].astype(np.int64), (b - 1)[:, None].astype(np.int64))


def cell_samples(rgba: np.ndarray, grid: Grid, max_samples: int = MAX_SAMPLES) -> np.ndarray:
    """Core samples of every cell: (cells_y, cells_x, ky*kx, 4) uint8.

    A view over sample-major memory: each of the ky*kx samples is one contiguous (cells_y,
    cells_x, 4) plane, so that the median and the errors run as whole-plane SIMD operations
    (on a busy 4 MP image 4x faster than over each cell's samples side by side).
    """
    py = sample_points(grid.ys, max_samples)
    px = sample_points(grid.xs, max_samples)
    ny, ky = py.shape
    nx, kx = px.shape
    # Gathered as one uint32 per pixel, a row of the lattice at a time: `take` into each plane
    # costs about half of one fancy-indexed gather of all samples.
    packed = np.ascontiguousarray(rgba).view(np.uint32).reshape(rgba.shape[:2])
    planes = np.empty((ky, kx, ny, nx), np.uint32)
    for y0, y1 in _bands(ny, max(1, rgba.shape[1] + kx * nx) * 4):
        for a in range(ky):
            rows = packed.take(py[y0:y1, a], axis=0)
            for b in range(kx):
                np.take(rows, px[:, b], axis=1, out=planes[a, b, y0:y1])
    return np.moveaxis(planes.view(np.uint8).reshape(ky * kx, ny, nx, 4), 0, 2)


# Bytes of sample planes worked on at once: the per-plane steps of a band stay in a core's L2
# cache (whole planes of a 16 MP image do not: its median ran 2x slower per cell than at 4 MP).
BAND_BYTES = 1 << 21


def _bands(rows: int, bytes_per_row: int) -> list[tuple[int, int]]:
    """[y0, y1) bands of ``rows`` holding about BAND_BYTES each."""
    step = max(1, BAND_BYTES // max(1, bytes_per_row))
    return [(y, min(rows, y + step)) for y in range(0, rows, step)]


def sample_planes(samples: np.ndarray) -> np.ndarray:
    """``samples`` (cells_y, cells_x, k, 4) as k planes (k, cells_y, cells_x, 4): a view."""
    return np.moveaxis(samples, 2, 0)


def median_colors(samples: np.ndarray, keep: Sequence[int] | None = None) -> np.ndarray:
    """Per-channel lower median of each cell's samples: (cells_y, cells_x, 4) uint8.

    Exactly ``np.partition``'s lower median, by a selection network run across all cells at
    once: a few hundred element-wise min/max over whole sample planes instead of one small
    partition per cell and channel.  All four channels, alpha included: on the contiguous
    planes of ``cell_samples`` skipping alpha would cost more than computing it.  ``keep``: the
    median of those samples only (indices into axis 2), read from their planes in place (a
    sliced copy of part of each cell's samples cost twice the whole median).
    """
    planes = sample_planes(samples)
    indices = range(planes.shape[0]) if keep is None else keep
    k = len(indices)
    mid = k // 2 if k % 2 else k // 2 - 1
    picked = np.empty(planes.shape[1:], np.uint8)
    for y0, y1 in _bands(planes.shape[1], k * planes.shape[2] * planes.shape[3]):
        picked[y0:y1] = select_rank([planes[i, y0:y1] for i in indices], mid)
    return picked


def select_rank(stack: np.ndarray | Sequence[np.ndarray], rank: int) -> np.ndarray:
    """The ``rank``-th smallest of ``stack`` along axis 0 (or of a list of equal arrays),
    element-wise (ties as in a sort)."""
    ops, out = _selection_program(len(stack), rank)
    last_use: dict[int, int] = {}
    for step, (_, _, a, b) in enumerate(ops):
        last_use[a] = last_use[b] = step
    regs: dict[int, np.ndarray] = {i: stack[i] for i in range(len(stack))}
    for step, (is_max, dst, a, b) in enumerate(ops):
        regs[dst] = np.maximum(regs[a], regs[b]) if is_max else np.minimum(regs[a], regs[b])
        for r in (a, b):
            if last_use[r] == step:
                regs.pop(r, None)  # free what no later step reads
    return regs[out]


@lru_cache(maxsize=None)
def _selection_program(n: int, rank: int) -> tuple[tuple[tuple[bool, int, int, int], ...], int]:
    """Batcher's odd-even merge sort on n wires (padded to a power of two with +inf), pruned to
    the steps that output ``rank`` depends on: ((is_max, dst, a, b), ...) and the output register."""
    size = 1 << max(0, (n - 1).bit_length())
    wires: list[int | None] = [*range(n), *([None] * (size - n))]  # None: padding, larger than all
    ops: list[tuple[bool, int, int, int]] = []
    reg = n
    for i, j in _batcher_pairs(size):
        a, b = wires[i], wires[j]
        if b is None:
            continue  # min(x, +inf) = x stays put
        if a is None:
            wires[i], wires[j] = b, None
            continue
        ops += [(False, reg, a, b), (True, reg + 1, a, b)]
        wires[i], wires[j] = reg, reg + 1
        reg += 2
    out = wires[rank]
    assert out is not None
    needed, kept = {out}, []
    for op in reversed(ops):
        if op[1] in needed:
            kept.append(op)
            needed.update(op[2:])
    return tuple(reversed(kept)), out


def _batcher_pairs(size: int) -> list[tuple[int, int]]:
    """Comparators (low, high) of Batcher's odd-even merge sort for a power-of-two ``size``."""
    pairs = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


def binarize_alpha(sprite: np.ndarray, threshold: int = 128) -> np.ndarray:
    out: np.ndarray = sprite.copy()
    opaque = out[..., 3] >= threshold
    out[..., 3] = np.where(opaque, 255, 0)
    out[~opaque, :3] = 0
    return out


def count_colors(sprite: np.ndarray) -> int:
    """Distinct RGB values of the visible cells."""
    flat = np.ascontiguousarray(sprite).reshape(-1, 4)
    # RGB as the low 24 bits of each cell's little-endian uint32.
    keys = flat.view("<u4").reshape(-1)[flat[:, 3] > 0] & np.uint32(0xFFFFFF)
    return int(len(distinct(keys)))


def sample_errors(samples: np.ndarray, sprite: np.ndarray) -> np.ndarray:
    """L-inf distance of every core sample from its cell's colour: (cells_y, cells_x, k) uint8.

    Where sample and cell are both transparent the colour does not matter and the error is 0.
    One sample plane at a time (a view over (k, cells_y, cells_x) memory), so the temporaries
    are a few planes on any image.
    """
    planes = sample_planes(samples)
    colours = np.ascontiguousarray(sprite)
    opaque = bool((colours[..., 3] == 255).all())
    errors = np.empty(planes.shape[:3], np.uint8)
    # (A band of 1-byte errors per sample: its uint8 temporaries are a few times that.)
    for y0, y1 in _bands(planes.shape[1], planes.shape[0] * planes.shape[2]):
        for i, plane in enumerate(planes[:, y0:y1]):
            _plane_errors(plane, colours[y0:y1], opaque, errors[i, y0:y1])
    return np.moveaxis(errors, 0, 2)


def _plane_errors(plane: np.ndarray, colours: np.ndarray, opaque: bool, out: np.ndarray) -> None:
    ny, nx = colours.shape[:2]
    # |a - b| on uint8 by OpenCV (one SIMD pass, no overflow); channel max by pairwise maximum
    # (a reduction over a length-4 axis is slow in NumPy).
    plane = np.ascontiguousarray(plane)
    if ny and nx:
        diff = cv2.absdiff(plane.reshape(ny, nx * 4), colours.reshape(ny, nx * 4)).reshape(ny, nx, 4)
    else:
        diff = np.maximum(plane, colours) - np.minimum(plane, colours)
    np.maximum(diff[..., 0], diff[..., 1], out=out)
    np.maximum(out, diff[..., 2], out=out)
    if not opaque:
        # (Under an opaque cell no sample is "both transparent": no test needed.)
        out[(plane[..., 3] < 128) & (colours[..., 3] < 128)] = 0
    np.maximum(out, diff[..., 3], out=out)


# Cells sampled for ``grain``: a strided subset this large measures the mean to well under a level.
GRAIN_CELLS = 4096


def grain(samples: list[np.ndarray], sprites: list[np.ndarray]) -> float | None:
    """Mean L-inf distance (RGB levels) of core samples from their cell's colour, over opaque
    cells of all ``sprites`` (their raw medians): 0 on an exact upscale, 0.8+ on generated art."""
    total, count = 0.0, 0
    for sample, sprite in zip(samples, sprites):
        ny, nx = sprite.shape[:2]
        step = max(1, int(np.sqrt(ny * nx / GRAIN_CELLS)))
        sub, colours = sample[::step, ::step], sprite[::step, ::step]
        opaque = colours[..., 3] > 0
        if opaque.any():
            errors = sample_errors(sub, colours)[opaque]
            total += float(errors.sum())
            count += errors.size
    return total / count if count else None


def cell_error(errors: np.ndarray) -> np.ndarray:
    """Per-cell disagreement (0..255): the mean sample error over the cell core."""
    mean: np.ndarray = errors.mean(axis=2, dtype=np.float32)
    return mean
