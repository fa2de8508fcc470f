"""Colour reduction: fewer colours, every one of them a colour the recovered cells really have.

Works on the multiset of opaque cell colours (after ``palette.unify_palette``), in Oklab, so that
distances follow what the eye sees.  Two steps, both deterministic:

* ``auto_palette`` - leader clustering by frequency: colours are visited from the most to the
  least frequent; one within ``AUTO_ERROR`` of a colour already kept joins the nearest kept one,
  any other becomes a new entry.  So every cell ends within ``AUTO_ERROR`` of its colour (the
  rule ``--colors auto`` names), the colours kept are each group's most frequent member, and two
  shades farther apart than ``AUTO_ERROR`` both stay.
* ``reduce_palette`` - when a maximum is asked for and auto keeps more: Ward merges (the pair
  whose merge adds the least squared error, weighted by cell counts) until the maximum; each
  merged group keeps the colour of its most frequent member, never an average.

``map_to_palette`` sends each cell to the nearest colour of a given palette (a palette file, or
one shared by a batch), also in Oklab.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .palette import scaled_radius, srgb_to_oklab

# Distance (perceptual_lab) within which auto joins a colour to a more frequent one: above the grain that
# unify leaves (its snap radius is 0.02), below the closest step between an artist's shades
# (20 RGB levels: 0.037+ in synth.close_shades_case, 0.067+ in the harsh tiers' ramps).  Chosen
# among 0.03/0.035/0.04/0.05 on close_shades_case seeds 0-19, checked on 1000-1039 (README: Palettes).
AUTO_ERROR = 0.035
# Oklab's a and b (hue and chroma) count this many times against L in every distance here (the
# "deltaEOK2" weighting: Ottosson found a scale of about 2 fits perceived-difference data best,
# w3c/csswg-drafts#6642).  With plain Oklab (1) auto turned the dark moss and blue puddles of the
# real Grim Dungeon tiles grey (each cell within the bound, whole regions moved the same way); 2
# keeps them.  Cost, close_shades_case seeds 1000-1039: 18 of 35 exact instead of 21 (README).
CHROMA_WEIGHT = 2.0
# Ward merging keeps an (n, n) cost matrix; above this many auto colours the auto step is first
# repeated with a wider radius (x RADIUS_GROWTH) so that memory and time stay bounded.
MAX_MERGE_COLORS = 1024
RADIUS_GROWTH = 1.5
# Reported errors are perceptual_lab distances x 100 (about 1 = a just noticeable difference).
ERROR_SCALE = 100.0


@dataclass(frozen=True)
class PaletteResult:
    """Colours chosen for a set of cells and how each distinct input colour maps onto them."""

    colors: np.ndarray  # (k, 3) uint8, most used first
    # For the distinct input colours (``sources``), the index of the palette colour each maps to.
    sources: np.ndarray  # (u, 3) uint8
    assignment: np.ndarray  # (u,) int64 into colors

    @property
    def size(self) -> int:
        return int(len(self.colors))

    def max_error(self) -> float:
        """The largest distance (``perceptual_lab``, x ERROR_SCALE) between an input colour and its palette colour."""
        if len(self.sources) == 0:
            return 0.0
        d = np.linalg.norm(perceptual_lab(self.sources) - perceptual_lab(self.colors[self.assignment]), axis=1)
        return float(d.max() * ERROR_SCALE)


def perceptual_lab(rgb: np.ndarray) -> np.ndarray:
    """(n, 3) uint8 sRGB to the space every distance here is taken in: Oklab, a and b x CHROMA_WEIGHT."""
    lab = srgb_to_oklab(rgb)
    lab[..., 1:] *= CHROMA_WEIGHT
    return lab


def colour_counts(sprites: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct RGB colours of the opaque (alpha > 0) cells of ``sprites`` and how many cells have each."""
    parts = [s.reshape(-1, 4) for s in sprites]
    flat = np.concatenate(parts) if parts else np.zeros((0, 4), np.uint8)
    rgb = flat[flat[:, 3] > 0, :3]
    if len(rgb) == 0:
        return np.zeros((0, 3), np.uint8), np.zeros(0, np.int64)
    key = (rgb[:, 0].astype(np.int64) << 16) | (rgb[:, 1].astype(np.int64) << 8) | rgb[:, 2].astype(np.int64)
    keys, counts = np.unique(key, return_counts=True)
    colors = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=1).astype(np.uint8)
    return colors, counts.astype(np.int64)


def _by_frequency(colors: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Indices most frequent first; ties by colour value, so the order never depends on input order."""
    key = (colors[:, 0].astype(np.int64) << 16) | (colors[:, 1].astype(np.int64) << 8) | colors[:, 2].astype(np.int64)
    order: np.ndarray = np.lexsort((key, -counts))
    return order


def _leaders(lab: np.ndarray, order: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Leader clustering in ``order``: (leader indices, each colour's leader position)."""
    leaders: list[int] = []
    leader_lab = np.zeros((0, 3), np.float32)
    for i in order:
        if len(leaders):
            if float(np.min(np.sum((leader_lab - lab[i]) ** 2, axis=1))) <= radius * radius:
                continue
        leaders.append(int(i))
        leader_lab = np.vstack([leader_lab, lab[i][None, :]])
    chosen = np.array(leaders, np.int64)
    return chosen, _nearest(lab, lab[chosen])


def _nearest(lab: np.ndarray, palette_lab: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Index of the nearest ``palette_lab`` row for each ``lab`` row (chunked: bounded memory)."""
    out = np.zeros(len(lab), np.int64)
    for a in range(0, len(lab), chunk):
        d = np.sum((lab[a : a + chunk, None, :] - palette_lab[None, :, :]) ** 2, axis=2)
        out[a : a + chunk] = np.argmin(d, axis=1)
    return out


def auto_radius(grain: float | None) -> float:
    """Auto's merge radius for cells with ``grain`` (``palette.scaled_radius``: none merged on an exact upscale)."""
    return scaled_radius(AUTO_ERROR, grain)


def auto_palette(colors: np.ndarray, counts: np.ndarray, radius: float = AUTO_ERROR) -> PaletteResult:
    """The fewest colours (by leader clustering, most frequent first) that keep every cell within ``radius``."""
    if len(colors) == 0:
        return PaletteResult(np.zeros((0, 3), np.uint8), colors, np.zeros(0, np.int64))
    lab = perceptual_lab(colors)
    leaders, _ = _leaders(lab, _by_frequency(colors, counts), radius)
    return _ranked(colors, counts, colors[leaders])


def reduce_palette(colors: np.ndarray, counts: np.ndarray, max_colors: int, radius: float = AUTO_ERROR) -> PaletteResult:
    """At most ``max_colors`` colours: auto's, then Ward merges down to the maximum if needed."""
    if max_colors < 1:
        raise ValueError(f"max_colors must be at least 1, got {max_colors}")
    result = auto_palette(colors, counts, radius)
    if result.size <= max_colors:
        return result
    lab = perceptual_lab(colors)
    while result.size > MAX_MERGE_COLORS:
        radius *= RADIUS_GROWTH
        result = auto_palette(colors, counts, radius)
    # Each auto colour is a group: its weight, its centroid (for the costs) and its heaviest member.
    k = result.size
    weight = np.bincount(result.assignment, weights=counts, minlength=k).astype(np.float64)
    centroid = np.zeros((k, 3), np.float64)
    np.add.at(centroid, result.assignment, lab.astype(np.float64) * counts[:, None])
    centroid /= weight[:, None]
    head = np.arange(k)  # merged group -> the auto colour it keeps (the heaviest member's)
    head_weight = np.zeros(k, np.float64)  # the cell count of the colour each group keeps
    np.maximum.at(head_weight, result.assignment, counts.astype(np.float64))
    alive = np.ones(k, bool)
    cost = _ward(weight, centroid)
    for _ in range(k - max_colors):
        flat = int(np.argmin(cost))
        a, b = divmod(flat, k)
        a, b = min(a, b), max(a, b)
        w = weight[a] + weight[b]
        centroid[a] = (centroid[a] * weight[a] + centroid[b] * weight[b]) / w
        weight[a] = w
        if head_weight[b] > head_weight[a]:
            head[a], head_weight[a] = head[b], head_weight[b]
        alive[b] = False
        cost[b, :] = np.inf
        cost[:, b] = np.inf
        row = weight[a] * weight / (weight[a] + weight) * np.sum((centroid - centroid[a]) ** 2, axis=1)
        row[~alive] = np.inf
        row[a] = np.inf
        cost[a, :] = row
        cost[:, a] = row
    # The colour each merged group keeps: the most frequent input colour of its head auto group.
    return _ranked(colors, counts, result.colors[head][alive])


def _ward(weight: np.ndarray, centroid: np.ndarray) -> np.ndarray:
    d2 = np.sum((centroid[:, None, :] - centroid[None, :, :]) ** 2, axis=2)
    cost: np.ndarray = (weight[:, None] * weight[None, :]) / (weight[:, None] + weight[None, :]) * d2
    np.fill_diagonal(cost, np.inf)
    return cost


def _ranked(colors: np.ndarray, counts: np.ndarray, palette_colors: np.ndarray) -> PaletteResult:
    """``palette_colors`` ordered by how many cells use each (most first; ties by colour value).

    Every colour goes to its *nearest* palette colour, not to the group it was merged in: so
    the palette saved with ``--save-palette`` and given back with ``--palette`` maps the cells
    exactly as the run that made it (each palette colour is its own nearest; no cell moves
    farther than its group's colour).
    """
    assignment = _nearest(perceptual_lab(colors), perceptual_lab(palette_colors))
    use = np.bincount(assignment, weights=counts, minlength=len(palette_colors)).astype(np.int64)
    order = _by_frequency(palette_colors, use)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return PaletteResult(palette_colors[order].astype(np.uint8), colors, rank[assignment])


def map_to_palette(colors: np.ndarray, palette_colors: np.ndarray) -> PaletteResult:
    """Each of ``colors`` to the nearest (Oklab) of ``palette_colors`` (kept in the given order)."""
    palette_colors = np.asarray(palette_colors, np.uint8).reshape(-1, 3)
    if len(palette_colors) == 0:
        raise ValueError("the palette has no colours")
    if len(colors) == 0:
        return PaletteResult(palette_colors, colors, np.zeros(0, np.int64))
    assignment = _nearest(perceptual_lab(colors), perceptual_lab(palette_colors))
    return PaletteResult(palette_colors, colors, assignment)


def apply_palette(sprites: Sequence[np.ndarray], result: PaletteResult) -> list[np.ndarray]:
    """``sprites`` with every opaque cell's RGB replaced by its palette colour (alpha untouched)."""
    if len(result.sources) == 0:
        return [s.copy() for s in sprites]
    src = result.sources
    src_key = (src[:, 0].astype(np.int64) << 16) | (src[:, 1].astype(np.int64) << 8) | src[:, 2].astype(np.int64)
    order = np.argsort(src_key)
    sorted_key = src_key[order]
    out: list[np.ndarray] = []
    for s in sprites:
        flat = s.reshape(-1, 4).copy()
        opaque = flat[:, 3] > 0
        rgb = flat[opaque, :3]
        key = (rgb[:, 0].astype(np.int64) << 16) | (rgb[:, 1].astype(np.int64) << 8) | rgb[:, 2].astype(np.int64)
        at = np.clip(np.searchsorted(sorted_key, key), 0, len(sorted_key) - 1)
        if not np.array_equal(sorted_key[at], key):
            raise ValueError("a cell colour the palette result was not built from")
        flat[np.flatnonzero(opaque), :3] = result.colors[result.assignment[order[at]]]
        out.append(flat.reshape(s.shape))
    return out


def choose_palette(
    sprites: Sequence[np.ndarray],
    max_colors: int | None = None,
    colors_auto: bool = False,
    fixed: np.ndarray | None = None,
    radius: float = AUTO_ERROR,
) -> PaletteResult | None:
    """The palette the options ask for, over all ``sprites`` jointly; None when none is asked for.

    ``fixed`` (a palette file or a batch's shared palette) wins; else ``max_colors`` (auto's
    colours, merged down to the maximum when more); else ``colors_auto``.
    """
    if fixed is None and max_colors is None and not colors_auto:
        return None
    colors, counts = colour_counts(sprites)
    return palette_for_counts(colors, counts, max_colors, colors_auto, fixed, radius)


def palette_for_counts(
    colors: np.ndarray, counts: np.ndarray, max_colors: int | None = None, colors_auto: bool = False, fixed: np.ndarray | None = None,
    radius: float = AUTO_ERROR,
) -> PaletteResult:
    """``choose_palette`` on a colour multiset already counted (a batch's, merged by ``merge_counts``)."""
    if fixed is not None:
        return map_to_palette(colors, fixed)
    if max_colors is not None:
        return reduce_palette(colors, counts, max_colors, radius)
    return auto_palette(colors, counts, radius)


def merge_counts(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Several ``colour_counts`` results as one (the colours of a whole batch)."""
    if not parts:
        return np.zeros((0, 3), np.uint8), np.zeros(0, np.int64)
    colors = np.concatenate([c for c, _ in parts]).reshape(-1, 3)
    counts = np.concatenate([n for _, n in parts]).astype(np.int64)
    if len(colors) == 0:
        return colors.astype(np.uint8), counts
    key = (colors[:, 0].astype(np.int64) << 16) | (colors[:, 1].astype(np.int64) << 8) | colors[:, 2].astype(np.int64)
    keys, inverse = np.unique(key, return_inverse=True)
    total = np.bincount(inverse.reshape(-1), weights=counts, minlength=len(keys)).astype(np.int64)
    merged = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=1).astype(np.uint8)
    return merged, total
