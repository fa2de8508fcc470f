"""Palette unification: one colour per palette entry the artist used, found across the image.

Pixel art uses a small palette, so the recovered cell colours of one entry scatter (grain,
blur, JPEG) around one point while different entries sit apart.  Clustering them across the
whole image, in Oklab (where distance follows what the eye sees), and snapping each cell that
lies close to its cluster's colour (the median of the cells around the cluster's mode) gives flat
areas exactly one colour, while two shades the artist used stay two modes of the colour density
and so two entries.  Measured, it does not recover colours better than the cells' own medians
(see SNAP): it unifies, it does not correct.

Linear in the number of cells: colours go into Oklab bins, each bin climbs to its densest
neighbour (mode seeking on the binned density), and clusters are the basins of the modes.
"""

from __future__ import annotations

import cv2
import numpy as np

# Oklab bin size: about 3-5 RGB levels, under the grain of one cell's median and well under
# the ~20-level steps between an artist's shades.
BIN = 0.008
# A cell snaps to its cluster's colour when within this Oklab distance of it (about 8-12 RGB
# levels: the grain of cell medians, under the ~20-level steps between shades).  Measured on
# the harsh tiers (true grid, seeds 20-35, share of cells off by > 24): none 0.045%, 0.015
# 0.046%, 0.02 0.056%, 0.025 0.125%; 0.02 is the narrowest that still gives flat areas one
# colour (tests/core/test_pipeline.py).
SNAP = 0.02
# The RGB bound of a snap (L-inf levels): SNAP's intent (8-12 levels of median grain) with a
# margin.  Found by `perfecter bench --seed 70000`: an ai case whose artist used two yellows
# 0.014 apart in Oklab but 51 levels apart in blue lost 13 of 1023 cells to the merge.
SNAP_MAX_LEVELS = 16
# Cleanup (SNAP) and ``--colors auto`` merge only as far as the image's own grain explains a
# colour.  Grain: the mean distance (L-inf, RGB levels) of the cells' core samples from their
# cell's median (``cells.grain``).  An exact upscale has 0: each distinct colour is one the artist
# chose (the clean tier, seeds 13000-13019, has artist colours 0.01-0.025 apart in Oklab, which
# both merged), so it "must be exact".  Every generated image measured has 0.8 or more (the 26
# in ../shared/realworld: 0.81-; the synthetic ai-like tiers 1.5-8): from FULL_GRAIN on the
# radii are whole, below it they shrink linearly to MIN_MERGE (about one RGB level) at 0.
FULL_GRAIN = 0.5
MIN_MERGE = 0.004


def scaled_radius(radius: float, grain: float | None) -> float:
    """A merge radius for an image with ``grain`` (None: not measured, the whole radius)."""
    if grain is None or radius <= MIN_MERGE:
        return radius
    return float(MIN_MERGE + (radius - MIN_MERGE) * min(1.0, max(0.0, grain / FULL_GRAIN)))


# A dense bin lookup table is used while the bins' bounding volume is at most this many times
# the occupied bins (int32: 4 bytes each, so at most 128 bytes per occupied bin, and an occupied
# bin is at least one cell of >= 16 pixels); sparser colour sets use a binary search.
DENSE_LOOKUP_RATIO = 32
# The climb runs on the dense bin volume while it holds at most this many bins per cell (busy
# art: the sRGB gamut at BIN is ~540k bins).  Measured on the busy scaling images: at 4 MP
# (104k cells, 5.2 bins a cell) 24 -> 22 ms for +5.5 MB (the pipeline's peak 5.8 -> ~7 B/px);
# at 1 MP (20 bins a cell) no faster and 3x the memory, hence not beyond 6.
DENSE_CLIMB_RATIO = 6


def _linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 to linear light, float32."""
    c = rgb.astype(np.float32) / 255.0
    lin: np.ndarray = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin


# The same element-wise values for all 256 levels: a lookup instead of a power per channel.
_LINEAR = _linear(np.arange(256, dtype=np.uint8))


def srgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 sRGB to float32 Oklab (L in 0..1)."""
    lin = _LINEAR[rgb]
    m1 = np.array([[0.4122214708, 0.5363325363, 0.0514459929], [0.2119034982, 0.6806995451, 0.1073969566], [0.0883024619, 0.2817188376, 0.6299787005]], np.float32)
    m2 = np.array([[0.2104542553, 0.7936177850, -0.0040720468], [1.9779984951, -2.4285922050, 0.4505937099], [0.0259040371, 0.7827717662, -0.8086757660]], np.float32)
    lms = np.cbrt(lin @ m1.T)
    lab: np.ndarray = lms @ m2.T
    return lab


def unify_palette(sprite: np.ndarray, bin_size: float = BIN, snap: float = SNAP) -> np.ndarray:
    """Snap every opaque cell to the median colour of its Oklab cluster (when close enough).

    Transparent cells are left alone.  ``snap <= 0`` returns the sprite unchanged.
    """
    if snap <= 0:
        return sprite
    flat = sprite.reshape(-1, 4)
    opaque = flat[:, 3] > 0
    if not opaque.any():
        return sprite
    all_opaque = bool(opaque.all())
    rgb = flat[:, :3] if all_opaque else flat[opaque, :3]
    lab = srgb_to_oklab(rgb)
    # Each cell's bin, per coordinate (3, cells): bounds and keys run along whole columns (a
    # reduction over the short axis of (cells, 3) is slow).
    lab_columns = np.ascontiguousarray(lab.T)
    del lab
    columns = np.floor(lab_columns / bin_size).astype(np.int32)
    lo = np.array([int(c.min()) for c in columns], np.int64) - 1
    span = np.array([int(c.max()) for c in columns], np.int64) - lo + 2
    # One int per bin (1-D unique is many times faster than unique over rows); int32 when the
    # bins' volume allows (the whole Oklab gamut at BIN is ~1.4 M).
    kind = np.int32 if int(np.prod(span)) < 2**31 else np.int64
    key = ((columns[0] - kind(lo[0])).astype(kind) * kind(span[1]) + (columns[1] - kind(lo[1]))) * kind(span[2]) + (columns[2] - kind(lo[2]))
    del columns
    # Density: the population of each bin and its 26 neighbours (a box kernel of 3 bins); each
    # bin climbs to its densest neighbour.
    if int(np.prod(span)) <= DENSE_CLIMB_RATIO * len(key):
        keys, bin_of_cell, parent = _dense_climb(key, span)
    else:
        # No return_index (a stable sort, 3x the cost): a bin's coordinates follow from its key.
        keys, bin_of_cell, population = np.unique(key, return_inverse=True, return_counts=True)
        bin_of_cell = bin_of_cell.reshape(-1)
        parent = _climb(_neighbour_table(keys, span), population)
    del key
    for _ in range(64):
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    cluster_of_cell = parent[bin_of_cell]
    # Each cluster's colour: the per-channel median of the cells in its mode's neighbourhood
    # (the mode bin and the 26 around it), not of the whole basin, which blurred in-between
    # cells can stretch towards a neighbouring shade.
    # (A property of the bin: all its cells share their bin coordinates.)
    in_mode_block = _near_mode(keys, parent, span)[bin_of_cell]
    members = np.flatnonzero(in_mode_block)
    palette_rgb = _group_lower_median(rgb[members], cluster_of_cell[members], len(keys))
    # Distances per column ((d0^2 + d1^2) + d2^2, the order of ``np.linalg.norm`` over rows),
    # each column's cluster values gathered by ``take`` (row gathers of 3 values are slow).
    palette_lab = np.ascontiguousarray(srgb_to_oklab(palette_rgb).T)
    d0, d1, d2 = (p.take(cluster_of_cell) - c for p, c in zip(palette_lab, lab_columns))
    close = np.sqrt(d0 * d0 + d1 * d1 + d2 * d2) <= snap
    # ... and within SNAP_MAX_LEVELS on every RGB channel: near saturated colours Oklab moves
    # little for a large step of a channel near 0 or 255 (two yellows 51 blue levels apart are
    # 0.014 apart), and a snap that far is a different shade, not grain.
    rgb_columns = np.ascontiguousarray(rgb.T)
    for p, c in zip(np.ascontiguousarray(palette_rgb.T), rgb_columns):
        close &= cv2.absdiff(p.take(cluster_of_cell), c).reshape(-1) <= SNAP_MAX_LEVELS
    # Colours as one uint32 each (R | G << 8 | B << 16 | A << 24): the snapped cells take their
    # cluster's RGB and keep their own alpha.
    packed = np.ascontiguousarray(flat).view("<u4").reshape(-1)
    palette_packed = np.zeros((len(palette_rgb), 4), np.uint8)
    palette_packed[:, :3] = palette_rgb
    snapped = palette_packed.view("<u4").reshape(-1)[cluster_of_cell] | (packed if all_opaque else packed[opaque]) & np.uint32(0xFF000000)
    out = packed.copy()
    if all_opaque:
        out = np.where(close, snapped, packed)
    else:
        rows = np.flatnonzero(opaque)
        out[rows[close]] = snapped[close]
    unified: np.ndarray = out.view(np.uint8).reshape(sprite.shape)
    return unified


def _dense_climb(key: np.ndarray, span: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(key)``'s bins and inverse, and ``_climb``'s parents, on the dense bin volume.

    For colour sets that fill their bins' bounding volume (a busy image: every cell its own
    colour): a bincount instead of a sort, and the 3x3x3 box sum and the densest neighbour as
    separable passes over the volume instead of 27 gathers per bin.  The densest neighbour is
    the maximum of density * volume + key over the occupied neighbours: the highest density,
    ties to the larger key, which is the larger index (keys are sorted), as ``_climb``.
    """
    volume = int(np.prod(span))
    shape = tuple(int(v) for v in span)
    population = np.bincount(key, minlength=volume).astype(np.int32)
    keys = np.flatnonzero(population)
    lookup = np.full(volume, -1, np.int32)
    lookup[keys] = np.arange(len(keys), dtype=np.int32)
    bin_of_cell = lookup[key]
    # int32 volumes but for the ranking (density * volume needs int64), in place where it can.
    density = _separable(population.reshape(shape), np.add).reshape(-1)
    # int32 ranks while density * volume + key fits (a busy image's bins hold a few cells
    # each): half the memory traffic of the max passes; int64 otherwise.
    kind = np.int32 if int(density.max()) < (2**31 - volume) // volume else np.int64
    ranked = density.astype(kind)
    del density
    ranked *= kind(volume)
    ranked += np.arange(volume, dtype=kind)
    np.copyto(ranked, kind(-1), where=population == 0)
    del population
    best = _separable(ranked.reshape(shape), np.maximum).reshape(-1)[keys]
    del ranked
    parent = lookup[best % volume]
    return keys, bin_of_cell, parent


def _separable(values: np.ndarray, op: np.ufunc) -> np.ndarray:
    """``op`` over each element's 3x3x3 neighbourhood, one axis at a time (outside: nothing)."""
    out = values
    for axis in range(3):
        src = out
        out = src.copy()
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(1, None), slice(None, -1)
        op(out[tuple(lo)], src[tuple(hi)], out=out[tuple(lo)])
        op(out[tuple(hi)], src[tuple(lo)], out=out[tuple(hi)])
    return out


def _climb(neighbours: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Each bin's densest neighbour (itself when it is a mode; ties to the larger index).

    ``neighbours``: ``_neighbour_table``'s (27, bins), where index ``bins`` is an empty bin.
    One whole-array step per neighbour offset, int32, into one buffer: a (bins, 27) layout
    reduced over its short rows is several times slower, and (27, bins) temporaries were the
    peak memory of a busy 1 MP image.
    """
    n = neighbours.shape[1]
    counts = np.zeros(n + 1, np.int32)
    counts[:n] = population
    density = np.zeros(n + 1, np.int32)
    gathered = np.empty(n, np.int32)
    # ``take`` into one buffer: about twice as fast as fancy indexing on these 1-D gathers.
    for row in neighbours:
        np.add(density[:n], counts.take(row, out=gathered), out=density[:n])
    # The densest neighbour in one pass: the maximum of density * (bins + 1) + index (the
    # highest density, ties to the larger index; an empty neighbour ranks -1).
    rank = density.astype(np.int64)
    rank *= n + 1
    rank += np.arange(n + 1)
    rank[n] = -1
    best = np.full(n, -1, np.int64)
    ranked = np.empty(n, np.int64)
    for row in neighbours:
        np.maximum(best, rank.take(row, out=ranked), out=best)
    parent: np.ndarray = (best % (n + 1)).astype(np.int32)
    return parent


def _group_lower_median(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-channel lower median of ``values`` (n, 3) uint8 within each group, vectorised.

    One plain sort per channel of the key group * 256 + value (the order of equal values does
    not matter, so no argsort or lexsort: about 30x faster on a busy image's 1e5 cells), then
    the middle key of each group: linear-log in n however many groups there are.
    """
    out = np.zeros((n_groups, values.shape[1]), np.uint8)
    if len(groups) == 0:
        return out
    kind = np.int32 if n_groups < 2**23 else np.int64
    base = groups.astype(kind) << 8
    for c in range(values.shape[1]):
        ordered = np.sort(base | values[:, c])
        sorted_groups = ordered >> 8
        starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
        counts = np.diff(np.r_[starts, len(ordered)])
        out[sorted_groups[starts], c] = (ordered[starts + (counts - 1) // 2] & 255).astype(np.uint8)
    return out


def _near_mode(keys: np.ndarray, parent: np.ndarray, span: np.ndarray) -> np.ndarray:
    """Whether each bin (``unify_palette``'s keys) lies within one bin of its mode ``keys[parent]``
    on every axis, per coordinate column (a reduction over (bins, 3) rows is slow)."""
    k = keys.astype(np.int64)
    plane, row = int(span[1] * span[2]), int(span[2])
    near = np.ones(len(k), bool)
    for coordinate in (k // plane, (k // row) % int(span[1]), k % row):
        near &= np.abs(coordinate - coordinate[parent]) <= 1
    return near


def _neighbour_table(keys: np.ndarray, span: np.ndarray) -> np.ndarray:
    """For each occupied bin (``keys`` sorted), its 27 neighbours' indices (itself too), as
    (27, bins) int32, ``bins`` where the neighbour is empty.  The key is linear in the bin
    coordinates, so a neighbour's key is the bin's plus a fixed step (no (bins, 27, 3)
    coordinate array: a busy image has ~1e5 bins)."""
    volume = int(np.prod(span))
    # int32 keys when they fit (the whole Oklab gamut at BIN spans ~1.4 M bins): half the memory.
    kind = np.int32 if volume < 2**31 else np.int64
    steps = [(i * span[1] + j) * span[2] + k for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)]
    n = len(keys)
    table = np.empty((len(steps), n), np.int32)
    own = keys.astype(kind)
    lookup = None
    if volume <= DENSE_LOOKUP_RATIO * n:
        # A dense key -> index table: one gather per probe instead of a binary search.
        lookup = np.full(volume, n, np.int32)
        lookup[keys] = np.arange(n, dtype=np.int32)
    for row, step in zip(table, steps):
        probe = own + kind(step)
        if lookup is not None:
            lookup.take(probe, out=row)
        else:
            at = np.clip(np.searchsorted(keys, probe), 0, n - 1)
            row[:] = np.where(keys[at] == probe, at, n)
    return table
