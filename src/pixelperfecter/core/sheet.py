"""Sprite sheets: the sprites of one image found apart, each on a grid of its own.

A sheet of icons generated (or upscaled) one by one often puts every icon on its own phase and
a slightly different pitch; one global grid then cuts some icons mid-cell.  This module finds
the sprites on the shared background, solves a grid per sprite with the global grid as the
prior (a region keeps it unless its own evidence is clearly better), samples each sprite and
runs the colour steps over all of them together (``pipeline.finish_and_measure``), so one colour of
the artist's is one RGB value across the sheet.

Steps: ``background`` (the dominant border colour, or transparency) -> ``foreground_mask`` ->
``find_regions`` (connected components of the mask grown by about a cell, specks merged into
a neighbour or dropped, reading order) -> ``region_grid`` per region -> ``reconstruct_sheet``.
``sheet_layout`` places the sprites on one re-assembled sheet for ``core.atlas``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from . import atlas, cells
from .grid import DEFAULT_CONFIG, Scorer, detect_grid, edge_profiles
from .metrics import confidence_with_fit, diff_pct_from_errors
from .palette import srgb_to_oklab
from .pipeline import finish_and_measure
from .types import Grid, GridCandidate, Reconstruction, ReconstructParams

# Oklab distance from the background colour beyond which a pixel is sprite: grain, JPEG and a
# gentle vignette move flat backgrounds by under ~0.04, while sprite colours differ by far more.
BACKGROUND_TOL = 0.08
# Share of border pixels that must be transparent for the background to count as transparency.
TRANSPARENT_BORDER_SHARE = 0.5
# The mask is grown by this many global cells before components are taken: the parts of one
# sprite (an outline gap, a detached sparkle) join, while sheet gutters (2+ cells) stay open.
JOIN_CELLS = 0.75
# A component with fewer mask pixels than this many global cells is a speck (noise, a stray
# pixel), not a sprite: merged into a region it touches within SPECK_REACH_CELLS, else dropped.
MIN_REGION_CELLS = 4.0
SPECK_REACH_CELLS = 3.0
# Two boxes are in one row of the sheet when their vertical spans share this much of the shorter.
ROW_OVERLAP = 0.5
# Context around a region for its grid detection, in global cells: enough lines for a fit,
# little of the neighbouring sprites (gutters are usually 2+ cells).
REGION_MARGIN_CELLS = 1.0
# A region's own grid replaces the global one only when it scores this much higher (the same
# rule as the selection stage's select_ratio: near-ties are noise, the global grid is the prior).
OWN_GRID_RATIO = 1.15
# A region's candidate counts only when each axis's pitch lies within this of the global grid's
# (the prior) or of its own other axis: icons of one sheet differ by a few percent and cells are
# near-square, while a half- or double-pitch reading on one axis is a harmonic.
PRIOR_PITCH_WINDOW = 0.15
# Two grids agree when the pitch differs by under 1% (a cell's worth of drift across 100 cells)
# and the phase by under 0.2 cell (the line placement absorbs that much) on both axes.
AGREE_PITCH = 0.01
AGREE_PHASE = 0.2
# A sheet cell of the output is kept when at least this share of it lies inside the region.
KEEP_CELL_SHARE = 0.5


@dataclass(frozen=True)
class Background:
    """The shared background: a colour (Oklab) or transparency."""

    transparent: bool
    oklab: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Box:
    """A rectangle in input pixels, ``x1``/``y1`` exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    @property
    def h(self) -> int:
        return self.y1 - self.y0

    def union(self, other: "Box") -> "Box":
        return Box(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))

    def gap(self, other: "Box") -> int:
        """Chebyshev distance between the boxes in px (0 when they touch or overlap)."""
        dx = max(0, max(self.x0, other.x0) - min(self.x1, other.x1))
        dy = max(0, max(self.y0, other.y0) - min(self.y1, other.y1))
        return max(dx, dy)

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.w, self.h]


@dataclass(frozen=True)
class SheetRegion:
    """One sprite of a sheet: where it is, its grid and its reconstruction.

    ``grid`` is in the coordinates of ``crop`` (the box plus a margin); ``cols``/``rows`` are the
    grid's cells kept for the sprite (those mostly inside ``box``).
    """

    index: int
    box: Box
    crop: Box
    grid: Grid
    source: str  # "global" (the prior kept) or "own" (the region's evidence won)
    cols: tuple[int, int]
    rows: tuple[int, int]
    sprite: np.ndarray
    diff_pct: float
    confidence: float
    own_score: float
    global_score: float

    @property
    def agrees(self) -> bool:
        return self.source == "global"

    def summary(self) -> dict[str, object]:
        """The region as the ``regions`` list of ``--json`` shows it (input px, offsets in input px)."""
        g = self.grid
        return {
            "index": self.index,
            "bbox": self.box.as_list(),
            "cell_w": round(g.cell_w, 4),
            "cell_h": round(g.cell_h, 4),
            "offset_x": round((g.offset_x + self.crop.x0) % g.cell_w, 4),
            "offset_y": round((g.offset_y + self.crop.y0) % g.cell_h, 4),
            "cells_x": int(self.sprite.shape[1]),
            "cells_y": int(self.sprite.shape[0]),
            "diff_pct": round(self.diff_pct, 4),
            "confidence": round(self.confidence, 4),
            "grid": self.source,
        }


@dataclass(frozen=True)
class SheetResult:
    regions: tuple[SheetRegion, ...]
    background: Background

    @property
    def sprites(self) -> list[np.ndarray]:
        return [r.sprite for r in self.regions]

    @property
    def all_agree(self) -> bool:
        """Every region kept the global grid: the single-grid result stands as it was."""
        return all(r.agrees for r in self.regions)


# --------------------------------------------------------------------------- regions


def background(rgba: np.ndarray) -> Background:
    """The dominant colour of the image border (its median in Oklab), or transparency."""
    border = np.concatenate([rgba[0], rgba[-1], rgba[:, 0], rgba[:, -1]])
    if float((border[:, 3] < 128).mean()) >= TRANSPARENT_BORDER_SHARE:
        return Background(transparent=True)
    lab = srgb_to_oklab(border[border[:, 3] >= 128, :3])
    # The median of the pixels near the first median: sprites touching the border do not pull it.
    centre = np.median(lab, axis=0)
    near = lab[np.linalg.norm(lab - centre, axis=1) < BACKGROUND_TOL]
    centre = np.median(near, axis=0) if len(near) else centre
    return Background(transparent=False, oklab=(float(centre[0]), float(centre[1]), float(centre[2])))


def foreground_mask(rgba: np.ndarray, bg: Background) -> np.ndarray:
    """True where a pixel belongs to a sprite rather than to the background."""
    opaque = rgba[..., 3] >= 128
    if bg.transparent:
        return opaque
    lab = srgb_to_oklab(rgba[..., :3])
    far = np.linalg.norm(lab - np.array(bg.oklab, np.float32), axis=-1) > BACKGROUND_TOL
    mask: np.ndarray = far & opaque
    return mask


def find_regions(mask: np.ndarray, cell: float) -> list[Box]:
    """The sprites' boxes (input px) in reading order: rows top to bottom, then left to right.

    ``cell`` is the global cell size, the unit of every distance here.
    """
    join = max(1, int(round(JOIN_CELLS * cell)))
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((2 * join + 1, 2 * join + 1), np.uint8))
    n, labels = cv2.connectedComponents(grown, connectivity=8)
    boxes: list[tuple[Box, int]] = []
    for label in range(1, n):
        ys, xs = np.nonzero((labels == label) & mask)
        if len(xs):
            boxes.append((Box(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1), len(xs)))
    min_area = MIN_REGION_CELLS * cell * cell
    big = [b for b, area in boxes if area >= min_area]
    reach = SPECK_REACH_CELLS * cell
    for speck, area in boxes:
        if area >= min_area or not big:
            continue
        nearest = min(range(len(big)), key=lambda i: big[i].gap(speck))
        if big[nearest].gap(speck) <= reach:
            big[nearest] = big[nearest].union(speck)
    return reading_order(_merge_overlaps(big))


def _merge_overlaps(boxes: list[Box]) -> list[Box]:
    """Boxes that overlap after a speck merge are one sprite."""
    out = list(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                if a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1:
                    out[i] = a.union(b)
                    del out[j]
                    changed = True
                    break
            if changed:
                break
    return out


def reading_order(boxes: Sequence[Box]) -> list[Box]:
    """Rows top to bottom, then left to right.

    A box joins a row when its vertical span overlaps the row's by at least ``ROW_OVERLAP`` of
    the shorter of the two (icons of one row differ in height and top).
    """
    rows: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: (b.y0, b.x0)):
        for row in rows:
            top, bottom = min(b.y0 for b in row), max(b.y1 for b in row)
            shared = min(bottom, box.y1) - max(top, box.y0)
            if shared >= ROW_OVERLAP * min(bottom - top, box.h):
                row.append(box)
                break
        else:
            rows.append([box])
    return [b for row in rows for b in sorted(row, key=lambda b: b.x0)]


# --------------------------------------------------------------------------- grids


def grids_agree(a: GridCandidate | Grid, b: GridCandidate | Grid) -> bool:
    """Same pitch (within AGREE_PITCH) and phase (within AGREE_PHASE of a cell) on both axes."""
    for ca, cb, oa, ob in ((a.cell_w, b.cell_w, a.offset_x, b.offset_x), (a.cell_h, b.cell_h, a.offset_y, b.offset_y)):
        if abs(ca / cb - 1) > AGREE_PITCH:
            return False
        d = abs(oa - ob) % cb
        if min(d, cb - d) > AGREE_PHASE * cb:
            return False
    return True


def _candidate(grid: Grid, source: str) -> GridCandidate:
    return GridCandidate(grid.cell_w, grid.cell_h, grid.offset_x, grid.offset_y, source=source)


def region_grid(crop_rgba: np.ndarray, prior: GridCandidate, params: ReconstructParams) -> tuple[Grid, str, float, float, float]:
    """The grid of one region's crop: ``prior`` (the global grid in crop coordinates) unless a
    grid from the crop's own evidence scores clearly higher (``OWN_GRID_RATIO``).

    The region's own candidates are the prior sharpened on the crop (``Scorer.refine``: the
    pitch and phase within a few percent), the crop's free detection, and the two mixes taking
    one axis from each; a candidate counts only when no axis is a harmonic (``_plausible``).
    They are scored by the selection stage's ``Scorer``, the rule inverted from a proposer's
    (``detect_grid(proposers=...)`` keeps the detector's grid unless the proposal wins; here
    the prior stays unless the crop's evidence wins).  Returns (grid, source, confidence, best
    own score, prior score).  User overrides of cell size or offsets are honoured as given.
    """
    profiles = edge_profiles(crop_rgba)
    local = params.with_overrides(target_cells=None)

    def placed(c: GridCandidate) -> tuple[Grid, float]:
        held = local.with_overrides(cell_size=None, cell_w=c.cell_w, cell_h=c.cell_h, offset_x=c.offset_x, offset_y=c.offset_y)
        found = detect_grid(crop_rgba, held, profiles)
        assert found.grid is not None  # a forced grid is always placed
        return found.grid, found.confidence

    scorer = Scorer(crop_rgba, profiles, DEFAULT_CONFIG)
    prior_score = scorer.score(prior).total
    forced = params.forced_cell_w is not None or params.forced_cell_h is not None or params.offset_x is not None or params.offset_y is not None
    if forced:
        grid, confidence = placed(prior)
        return grid, "global", confidence, 0.0, prior_score
    refined = scorer.refine(prior)
    options: list[tuple[GridCandidate, Grid | None, float]] = [(scorer.scored(refined), None, 0.0)]
    own = detect_grid(crop_rgba, local, profiles)
    if own.grid is not None:
        free = _candidate(own.grid, "own")
        options.append((scorer.scored(free), own.grid, own.confidence))
        # Each axis from either reading: the global grid or the crop's detection may sit on a
        # harmonic along one axis only.
        for x_from, y_from in ((refined, free), (free, refined)):
            mixed = GridCandidate(x_from.cell_w, y_from.cell_h, x_from.offset_x, y_from.offset_y, source="own")
            options.append((scorer.scored(mixed), None, 0.0))
    options = [o for o in options if _plausible(o[0], prior)]
    if not options:
        grid, confidence = placed(prior)
        return grid, "global", confidence, 0.0, prior_score
    best, best_grid, best_confidence = max(options, key=lambda o: o[0].score)
    if best.score > prior_score * OWN_GRID_RATIO and not grids_agree(best, prior):
        if best_grid is None:
            best_grid, best_confidence = placed(best)
        return best_grid, "own", best_confidence, best.score, prior_score
    grid, confidence = placed(prior)
    return grid, "global", confidence, best.score, prior_score


def _plausible(c: GridCandidate, prior: GridCandidate) -> bool:
    """Each axis's pitch near the prior's on that axis or near the candidate's other axis (cells
    of generated art are near-square), so no candidate is a half- or double-pitch harmonic."""
    w = PRIOR_PITCH_WINDOW
    ok_x = abs(c.cell_w / prior.cell_w - 1) <= w or abs(c.cell_w / c.cell_h - 1) <= w
    ok_y = abs(c.cell_h / prior.cell_h - 1) <= w or abs(c.cell_h / c.cell_w - 1) <= w
    return ok_x and ok_y


def _kept_cells(lines: np.ndarray, lo: int, hi: int) -> tuple[int, int]:
    """The first and one-past-last cell whose span lies mostly inside [lo, hi)."""
    widths = np.diff(lines).astype(np.float64)
    inside = np.clip(np.minimum(lines[1:], hi) - np.maximum(lines[:-1], lo), 0, None) / np.maximum(widths, 1e-9)
    keep = np.nonzero(inside >= KEEP_CELL_SHARE)[0]
    if not len(keep):  # a region thinner than half a cell: its most covered cell
        best = int(np.argmax(inside))
        return best, best + 1
    return int(keep[0]), int(keep[-1]) + 1


# --------------------------------------------------------------------------- the sheet


def reconstruct_sheet(rec: Reconstruction, params: ReconstructParams | None = None) -> SheetResult | None:
    """Find the sprites of ``rec.image`` and reconstruct each on its own grid.

    ``rec`` is the single-grid reconstruction of the whole image (its grid is every region's
    prior); it is not changed.  None when that reconstruction failed.
    """
    if rec.grid is None:
        return None
    params = params or rec.params
    rgba, g = rec.image, rec.grid
    bg = background(rgba)
    boxes = find_regions(foreground_mask(rgba, bg), max(g.cell_w, g.cell_h))
    if not boxes:
        boxes = [Box(0, 0, rgba.shape[1], rgba.shape[0])]
    height, width = rgba.shape[:2]
    raw: list[tuple[Box, Box, Grid, str, float, float, float, tuple[int, int], tuple[int, int], np.ndarray]] = []
    region_samples: list[np.ndarray] = []
    for box in boxes:
        mx, my = int(math.ceil(REGION_MARGIN_CELLS * g.cell_w)), int(math.ceil(REGION_MARGIN_CELLS * g.cell_h))
        crop = Box(max(0, box.x0 - mx), max(0, box.y0 - my), min(width, box.x1 + mx), min(height, box.y1 + my))
        crop_rgba = np.ascontiguousarray(rgba[crop.y0:crop.y1, crop.x0:crop.x1])
        prior = GridCandidate(g.cell_w, g.cell_h, (g.offset_x - crop.x0) % g.cell_w, (g.offset_y - crop.y0) % g.cell_h, source="global")
        grid, source, confidence, own_score, prior_score = region_grid(crop_rgba, prior, params)
        cols = _kept_cells(grid.xs, box.x0 - crop.x0, box.x1 - crop.x0)
        rows = _kept_cells(grid.ys, box.y0 - crop.y0, box.y1 - crop.y0)
        samples = cells.cell_samples(crop_rgba, grid)[rows[0]:rows[1], cols[0]:cols[1]]
        sprite = cells.median_colors(samples)
        if rec.has_alpha and params.binarize_alpha:
            sprite = cells.binarize_alpha(sprite, params.alpha_threshold)
        elif not rec.has_alpha:
            sprite[..., 3] = 255
        raw.append((box, crop, grid, source, confidence, own_score, prior_score, cols, rows, sprite))
        region_samples.append(samples)
    if all(r[3] == "global" for r in raw):
        return _single_grid_sheet(rec, [r[0] for r in raw], [r[4] for r in raw], [(r[5], r[6]) for r in raw], bg)
    # The colour steps over every region at once: one palette for the whole sheet.
    finished = finish_and_measure(region_samples, [r[-1] for r in raw], sheet_palette_params(rec, params))
    regions = []
    for i, ((box, crop, grid, source, confidence, own_score, prior_score, cols, rows, _), sprite, errors) in enumerate(
            zip(raw, finished.sprites, finished.errors)):
        diff = diff_pct_from_errors(errors)
        regions.append(SheetRegion(
            index=i + 1, box=box, crop=crop, grid=grid, source=source, cols=cols, rows=rows, sprite=sprite,
            diff_pct=diff, confidence=confidence_with_fit(confidence, diff), own_score=own_score, global_score=prior_score,
        ))
    return SheetResult(regions=tuple(regions), background=bg)


def sheet_palette_params(rec: Reconstruction, params: ReconstructParams) -> ReconstructParams:
    """The params the re-sampled regions' colour steps run with: with a palette step
    (``--colors``), the single-grid result's palette (``rec.palette``, the one reported and saved)
    as a fixed palette, so that the main sprite, every region sprite and the atlas share one
    palette; a fixed palette (file, shared) and no palette step are used as given."""
    if not params.reduces_colors or params.palette is not None or rec.palette is None or not rec.palette.colors:
        return params
    return replace(params, max_colors=None, colors_auto=False, palette=rec.palette.colors, palette_source=rec.palette.source)


def _single_grid_sheet(rec: Reconstruction, boxes: Sequence[Box], confidences: Sequence[float],
                       scores: Sequence[tuple[float, float]], bg: Background) -> SheetResult:
    """Every sprite kept the global grid: each sprite is the single-grid sprite's cells inside
    its box, so the per-sprite files are exactly crops of ``<stem>.png`` (nothing re-sampled)."""
    assert rec.sprite is not None and rec.grid is not None
    grid = rec.grid
    errors = cells.sample_errors(cells.cell_samples(rec.image, grid), rec.sprite)
    whole = Box(0, 0, grid.width, grid.height)
    regions = []
    for i, (box, confidence, (own_score, prior_score)) in enumerate(zip(boxes, confidences, scores)):
        cols, rows = _kept_cells(grid.xs, box.x0, box.x1), _kept_cells(grid.ys, box.y0, box.y1)
        diff = diff_pct_from_errors(errors[rows[0]:rows[1], cols[0]:cols[1]])
        regions.append(SheetRegion(
            index=i + 1, box=box, crop=whole, grid=grid, source="global", cols=cols, rows=rows,
            sprite=single_grid_crop(rec, box).copy(), diff_pct=diff, confidence=confidence_with_fit(confidence, diff),
            own_score=own_score, global_score=prior_score,
        ))
    return SheetResult(regions=tuple(regions), background=bg)


def sheet_warnings(sheet: SheetResult) -> list[str]:
    """One line when some regions left the global grid (the single-grid sprite misfits them)."""
    own = [r.index for r in sheet.regions if not r.agrees]
    if not own:
        return []
    return [f"sheet: {len(own)} of {len(sheet.regions)} sprites on a grid of their own (sprite {', '.join(map(str, own))})"]


def region_lines(region: SheetRegion) -> tuple[np.ndarray, np.ndarray]:
    """The region's kept cell boundaries in input pixels (x lines, y lines), for drawing."""
    xs = region.grid.xs[region.cols[0]:region.cols[1] + 1] + region.crop.x0
    ys = region.grid.ys[region.rows[0]:region.rows[1] + 1] + region.crop.y0
    return xs, ys


def sheet_layout(sheet: SheetResult) -> list[tuple[int, int]]:
    """Where each sprite goes on the re-assembled sheet, in output pixels.

    Each sprite sits at its region's input position divided by its own cell size, so the sheet
    keeps the input's layout.  Where two sprites would overlap that way (neighbours on very
    different pitches) the sheet is packed instead: the reading-order rows, 1 px apart.
    """
    positions = []
    for r in sheet.regions:
        xs, ys = region_lines(r)
        positions.append((int(round(xs[0] / r.grid.cell_w)), int(round(ys[0] / r.grid.cell_h))))
    boxes = [Box(x, y, x + r.sprite.shape[1], y + r.sprite.shape[0]) for (x, y), r in zip(positions, sheet.regions)]
    overlap = any(a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1 for i, a in enumerate(boxes) for b in boxes[i + 1:])
    return _packed(sheet) if overlap else positions


def _packed(sheet: SheetResult) -> list[tuple[int, int]]:
    """Reading-order rows, 1 px apart (in reading order a row ends where x goes back left)."""
    positions: list[tuple[int, int]] = []
    x = y = row_h = 0
    previous: Box | None = None
    for r in sheet.regions:
        if previous is not None and r.box.x0 < previous.x0:
            x, y, row_h = 0, y + row_h + 1, 0
        positions.append((x, y))
        x += r.sprite.shape[1] + 1
        row_h = max(row_h, r.sprite.shape[0])
        previous = r.box
    return positions


def frame_name(stem: str, n: int) -> str:
    """A sprite's file (and atlas frame) name; sprites are numbered from 1 in reading order."""
    return f"{stem}/{n}.png"


def sheet_outputs(sheet: SheetResult, stem: str) -> tuple[np.ndarray, dict[str, object]]:
    """The re-assembled sheet image and its Aseprite ``json-hash`` document."""
    positions = sheet_layout(sheet)
    image = atlas.compose(sheet.sprites, positions)
    frames = atlas.frames_for(sheet.sprites, positions, [frame_name(stem, r.index) for r in sheet.regions])
    doc = atlas.aseprite_json(frames, f"{stem}_sheet.png", (image.shape[1], image.shape[0]))
    return image, doc


def regions_overlay(rgba: np.ndarray, sheet: SheetResult, grid_colour: tuple[int, int, int] = (0, 255, 255),
                    box_colour: tuple[int, int, int] = (255, 0, 255), selected: int | None = None) -> np.ndarray:
    """The input (RGB) with each region's box and its own grid lines drawn over it.

    ``selected`` (a region index) is drawn in yellow; regions on their own grid have a thick box.
    """
    out: np.ndarray = np.ascontiguousarray(rgba[..., :3]).copy()
    height, width = out.shape[:2]
    for r in sheet.regions:
        xs, ys = region_lines(r)
        x0, x1 = int(np.clip(xs[0], 0, width - 1)), int(np.clip(xs[-1], 0, width - 1))
        y0, y1 = int(np.clip(ys[0], 0, height - 1)), int(np.clip(ys[-1], 0, height - 1))
        for x in xs:
            out[y0:y1 + 1, int(np.clip(x, 0, width - 1))] = grid_colour
        for y in ys:
            out[int(np.clip(y, 0, height - 1)), x0:x1 + 1] = grid_colour
        colour = (255, 255, 0) if r.index == selected else box_colour
        thick = 3 if not r.agrees else 1
        b = r.box
        cv2.rectangle(out, (b.x0, b.y0), (b.x1 - 1, b.y1 - 1), colour, thick)
    return out


def single_grid_crop(rec: Reconstruction, box: Box) -> np.ndarray:
    """The single-grid sprite's cells mostly inside ``box``: what one global grid gives a sprite
    (the "before" of a sheet, and the baseline its per-sprite grids are measured against)."""
    assert rec.sprite is not None and rec.grid is not None
    c0, c1 = _kept_cells(rec.grid.xs, box.x0, box.x1)
    r0, r1 = _kept_cells(rec.grid.ys, box.y0, box.y1)
    crop: np.ndarray = rec.sprite[r0:r1, c0:c1]
    return crop
