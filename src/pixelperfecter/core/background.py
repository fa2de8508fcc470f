"""Background removal on the recovered sprite: flat or gently graded backgrounds become transparent.

Works at cell level (one colour per art pixel, grid-aligned, cheap).  The background is a
smooth surface, not one colour: generated images put vignettes and lighting gradients behind
the subject, so a quadratic in the cell position is fitted per Oklab channel to the border
cells that belong to the background (a radial vignette and a linear ramp are both quadratics:
the first fit takes the border cells near the modal colour *and joined to it by small steps*,
see ``_seed_inliers``) and refitted on everything the fill reached.  A cell is background-like when it lies within
``TOLERANCE`` of that surface *at its own position*; the fill grows from the border cells
through 4-connected background-like cells.  The bound is absolute (to the surface), not
relative to the neighbour already filled, so the fill cannot creep along a gradient into the
sprite, and 4-connectivity cannot slip through the diagonal steps of a 1-cell outline.

``auto`` refuses (nothing removed, a warning) when too few border cells fit one surface: a
full-bleed scene has no background to remove.  Halo cleanup then looks once at the ring of
cells between the removed background and the sprite (see ``_clean_halo``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from .distinct import distinct
from .palette import srgb_to_oklab

# Oklab distance from the fitted surface within which a cell is background (about 10 RGB
# levels: above the grain of cell medians on the synthetic AI tiers, under the contrast of an
# outline or a shade step).  Tuned on synth.background_case seeds 0-39 (see tests).
TOLERANCE = 0.045
# Growth beyond the surface: a cell joins the fill when within STEP of a filled 4-neighbour
# (the grain between neighbouring background cells is ~0.01) and within LOOSE of the surface
# (a gradient the quadratic fits badly, e.g. a ramp whose far end is hidden by the subject).
STEP = 0.02
LOOSE = 0.12
# Radius (Oklab) of the neighbourhood that decides the border's modal colour (the seed of the fit).
MODE_RADIUS = 0.04
# First inliers: border cells within this Oklab distance of the modal colour; loose enough to
# reach the darker corners of a vignette before the surface is fitted.
SEED_RADIUS = 0.12
# ... and joined to a cell of the modal colour by a path of neighbouring cells at most this far
# apart: a vignette or ramp changes a few thousandths a cell (the grain of degraded cells stays
# under 0.03), a subject touching the border is set off by its outline or its own edge.
RING_STEP = 0.03
# ``auto`` needs this share of the (opaque) border cells on one surface, or it refuses: a
# sprite touching the border leaves most of the border to the background, a scene does not.
DOMINANT_SHARE = 0.5
# Fewer inliers than this cannot fit a quadratic: the surface is the inliers' mean.
MIN_FIT_CELLS = 12
# At most about this many cells enter one surface fit (a regular subsample of the inliers).
FIT_SAMPLE = 4096
# Ridge weight on the non-constant terms: a border-only fit stays well posed when the
# inliers do not span both axes (it degrades to a plane or a constant).
RIDGE = 1.0
# Fit -> fill -> refit rounds (the fill grows as the surface learns the interior).
ROUNDS = 3
# ``holes``: enclosed background-like regions of at least this many cells are removed; a lone
# background-coloured cell inside a sprite is more often a highlight or an eye than a gap.
MIN_HOLE_CELLS = 2
# Halo: a boundary cell is a blend ``bg + t (sprite - bg)`` of the background and the sprite
# cell opposite it with t in [HALO_T_MIN, HALO_T_MAX], off that segment by at most HALO_OFF.
# The t range excludes both ends: near 0 it is background (the fill took it), near 1 it is the
# sprite colour itself (an outline running along the rim, which has its own colour next to it).
# HALO_T_MAX 0.85 recoloured an outline cell beside a darker inner cell (background_case seed
# 408); at 0.75 no outline cell changes on seeds 0-99.
HALO_T_MIN = 0.15
HALO_T_MAX = 0.75
HALO_OFF = 0.03
# The two ends must differ by this much (Oklab) for a blend between them to mean anything.
HALO_MIN_CONTRAST = 0.1

_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")
_TRIPLE = re.compile(r"^\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*$")


def parse_color(text: str) -> tuple[int, int, int]:
    """``#rrggbb``, ``rrggbb`` or ``r,g,b`` (0-255) -> (r, g, b); ValueError says what is expected."""
    m = _HEX.match(text.strip())
    if m:
        h = m.group(1)
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    t = _TRIPLE.match(text)
    if t:
        rgb = tuple(int(v) for v in t.groups())
        if all(0 <= v <= 255 for v in rgb):
            return rgb[0], rgb[1], rgb[2]
    raise ValueError(f"expected auto, #rrggbb, rrggbb or r,g,b (0-255), got {text!r}")


def check_spec(spec: str) -> str:
    """Validate a ``--transparent`` value ("auto" or a colour) and return it normalised."""
    if spec.strip().lower() == "auto":
        return "auto"
    return "#{:02x}{:02x}{:02x}".format(*parse_color(spec))


@dataclass(frozen=True)
class Removal:
    """What background removal did to one sprite."""

    sprite: np.ndarray  # (cells_y, cells_x, 4) uint8, removed cells transparent (RGB 0)
    removed: np.ndarray  # (cells_y, cells_x) bool: cells this step made transparent
    background: tuple[int, int, int] | None  # the background's typical colour; None: refused
    halo_removed: int = 0
    halo_snapped: int = 0
    warning: str | None = None

    @property
    def background_text(self) -> str:
        return "none" if self.background is None else "#{:02x}{:02x}{:02x}".format(*self.background)


def _features(h: int, w: int) -> np.ndarray:
    """(h*w, 6) quadratic features of the cell centres, coordinates scaled to [-1, 1]."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    u = (xx + 0.5) / w * 2 - 1
    v = (yy + 0.5) / h * 2 - 1
    return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=-1).reshape(-1, 6)


def _fit_surface(features: np.ndarray, lab: np.ndarray, inliers: np.ndarray) -> np.ndarray:
    """The background surface (h*w, 3) fitted to the ``inliers`` (flat bool) by ridge least squares."""
    rows = np.flatnonzero(inliers)
    # Six coefficients need few cells: a regular subsample keeps big sprites fast.
    rows = rows[:: max(1, len(rows) // FIT_SAMPLE)]
    a = features[rows]
    y = lab[rows].astype(np.float64)
    if len(a) < MIN_FIT_CELLS:
        mean = y.mean(axis=0)
        return np.broadcast_to(mean, lab.shape).astype(np.float64)
    penalty = np.diag([0.0, 1, 1, 1, 1, 1]) * RIDGE
    beta = np.linalg.solve(a.T @ a + penalty, a.T @ y)
    surface: np.ndarray = features @ beta
    return surface


def _border_mask(h: int, w: int) -> np.ndarray:
    border = np.zeros((h, w), bool)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    return border


def _modal_colour(lab: np.ndarray) -> np.ndarray:
    """The border colour with the most border cells within MODE_RADIUS (ties: the first)."""
    if len(lab) > 2000:
        lab_probe = lab[:: len(lab) // 2000 + 1]
    else:
        lab_probe = lab
    dist = np.linalg.norm(lab_probe[:, None, :] - lab[None, :, :], axis=-1)
    mode: np.ndarray = lab_probe[int(np.argmax((dist <= MODE_RADIUS).sum(axis=1)))]
    return mode


def _seed_inliers(lab: np.ndarray, opaque: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """The first inliers of the surface fit (flat bool over all cells): opaque border cells within
    SEED_RADIUS of ``seed`` that are joined to a border cell within MODE_RADIUS of it (else to
    the nearest one) by a 4-connected path of cells at most RING_STEP apart, step by step.

    A gradient's far end is reached that way, around the subject if need be; a region of the
    subject that touches the border is not, however close its colour, because its outline (or
    its own edge) is a jump.  Without this the first fit took the Retro_Pixel_Avatar's shirt
    (0.074 from its cream) as a shade of the background, bent onto it, and the fill took it."""
    h, w = opaque.shape
    flat = lab.reshape(-1, 3)
    border = (_border_mask(h, w) & opaque).reshape(-1)
    dist = np.linalg.norm(flat - seed, axis=1)
    candidate: np.ndarray = border & (dist <= SEED_RADIUS)
    if not candidate.any():
        return candidate
    anchor = candidate & (dist <= MODE_RADIUS)
    if not anchor.any():
        anchor = candidate & (dist == dist[candidate].min())
    # The cells as nodes of a (2h-1, 2w-1) mask, a link between two neighbours at the position
    # between them: 4-connected components of the mask are the components of the graph.
    graph = np.zeros((2 * h - 1, 2 * w - 1), np.uint8)
    graph[::2, ::2] = opaque
    right = opaque[:, :-1] & opaque[:, 1:] & (np.linalg.norm(lab[:, 1:] - lab[:, :-1], axis=-1) <= RING_STEP)
    down = opaque[:-1] & opaque[1:] & (np.linalg.norm(lab[1:] - lab[:-1], axis=-1) <= RING_STEP)
    graph[::2, 1::2] = right
    graph[1::2, ::2] = down
    _n, labels = cv2.connectedComponents(graph, connectivity=4)
    cell_labels = labels[::2, ::2].reshape(-1)
    joined: np.ndarray = candidate & np.isin(cell_labels, distinct(cell_labels[anchor]))
    return joined


def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected components of ``mask``: (labels, count), label 0 outside the mask."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    return labels, int(n) - 1


def remove_background(sprite: np.ndarray, spec: str, holes: bool = False) -> Removal:
    """Make the background of ``sprite`` transparent (``spec``: "auto" or a colour, see ``check_spec``)."""
    h, w = sprite.shape[:2]
    clear = sprite[..., 3] == 0
    nothing = np.zeros((h, w), bool)
    if h < 3 or w < 3 or clear.all():
        return Removal(sprite, nothing, None, warning="transparent: sprite too small or already clear; nothing removed")
    auto = spec == "auto"
    ring = _border_mask(h, w)
    if auto and float(clear[ring].mean()) >= DOMINANT_SHARE:
        # An RGBA input whose background is already transparent: what touches the clear border
        # is the subject's own outline, not a background.
        return Removal(sprite, nothing, None, warning="transparent: the border is already transparent; nothing removed")
    lab = srgb_to_oklab(sprite[..., :3]).reshape(-1, 3)
    border = (ring & ~clear).reshape(-1)
    features = _features(h, w)
    if auto:
        seed = _modal_colour(lab[border]) if border.any() else lab[~clear.reshape(-1)][0]
    else:
        seed = srgb_to_oklab(np.array(parse_color(spec), np.uint8))
    inliers = _seed_inliers(lab.reshape(h, w, 3), ~clear, seed)
    if not inliers.any():
        surface = np.broadcast_to(seed.astype(np.float64), lab.shape)
    else:
        surface = _fit_surface(features, lab, inliers)
        # Re-select the border inliers on the surface (a vignette's corners join here).
        inliers = border & (np.linalg.norm(lab - surface, axis=1) <= TOLERANCE)
        if inliers.any():
            surface = _fit_surface(features, lab, inliers)
    share = float((border & (np.linalg.norm(lab - surface, axis=1) <= TOLERANCE)).sum()) / max(1, int(border.sum()))
    if auto and share < DOMINANT_SHARE:
        return Removal(sprite, nothing, None, warning=f"transparent: no dominant background on the border ({share:.0%} of it fits one); nothing removed")
    fill = nothing
    for _ in range(ROUNDS):
        fill = _grow(lab.reshape(h, w, 3), surface.reshape(h, w, 3), clear)
        opaque_fill = (fill & ~clear).reshape(-1)
        if opaque_fill.sum() >= MIN_FIT_CELLS:
            surface = _fit_surface(features, lab, opaque_fill)
    if holes:
        near = (np.linalg.norm(lab - surface, axis=1) <= TOLERANCE).reshape(h, w) & ~fill
        labels, n = _components(near)
        if n:
            sizes = np.bincount(labels.reshape(-1), minlength=n + 1)
            fill = fill | ((sizes[labels] >= MIN_HOLE_CELLS) & (labels > 0))
    removed = fill & ~clear
    out = sprite.copy()
    out[removed] = 0
    halo_removed, halo_snapped = _clean_halo(out, sprite, removed | clear, surface.reshape(h, w, 3), lab.reshape(h, w, 3))
    removed = (out[..., 3] == 0) & ~clear
    if not auto and not removed.any():
        # Every opaque border cell within TOLERANCE of the surface seeds the fill, so none was.
        return Removal(sprite, nothing, None, warning=f"--transparent {spec}: no border cell is near this colour; nothing removed")
    return Removal(out, removed, _typical_colour(sprite, removed, spec), halo_removed, halo_snapped)


def _grow(lab: np.ndarray, surface: np.ndarray, clear: np.ndarray) -> np.ndarray:
    """The background reached from the border: the 4-connected cells within TOLERANCE of the
    surface, then grown cell by cell into neighbours within STEP of a filled neighbour and
    LOOSE of the surface (where the surface misses a gradient's far end)."""
    h, w = clear.shape
    dist = np.linalg.norm(lab - surface, axis=-1)
    near = (dist <= TOLERANCE) | clear
    labels, _n = _components(near)
    seeds = distinct(labels[_border_mask(h, w) & near])
    fill = np.isin(labels, seeds[seeds > 0])
    loose = (dist <= LOOSE) | clear
    for _ in range(h + w):
        grown = fill.copy()
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            # Cell (y, x) joins when its neighbour (y - dy, x - dx) is filled and close in colour.
            src_fill = np.zeros_like(fill)
            step = np.full((h, w), np.inf)
            ys = slice(max(dy, 0), h + min(dy, 0))
            yn = slice(max(-dy, 0), h + min(-dy, 0))
            xs = slice(max(dx, 0), w + min(dx, 0))
            xn = slice(max(-dx, 0), w + min(-dx, 0))
            src_fill[ys, xs] = fill[yn, xn]
            step[ys, xs] = np.linalg.norm(lab[ys, xs] - lab[yn, xn], axis=-1)
            grown |= src_fill & loose & ((step <= STEP) | clear)
        if np.array_equal(grown, fill):
            break
        fill = grown
    return fill


def _typical_colour(sprite: np.ndarray, removed: np.ndarray, spec: str) -> tuple[int, int, int] | None:
    """The colour to report: the median of the removed border cells (else of all removed cells,
    else the colour asked for)."""
    on_border = removed & _border_mask(*removed.shape)
    pick = on_border if on_border.any() else removed
    if not pick.any():
        return None if spec == "auto" else parse_color(spec)
    r, g, b = (int(v) for v in np.median(sprite[pick][:, :3], axis=0).round())
    return r, g, b


def _clean_halo(out: np.ndarray, sprite: np.ndarray, background: np.ndarray, surface: np.ndarray, lab: np.ndarray) -> tuple[int, int]:
    """Clean the fringe between the removed background and the sprite, in place; (removed, snapped).

    A candidate is an opaque cell with background on one side and an opaque non-background cell
    on the opposite side (a fringe is one cell thick, between the two).  When its colour is a
    blend of the background surface there and that sprite cell (see HALO_*), it was made by the
    generator mixing the two at the sprite's edge: nearer the background (t < 0.5) it becomes
    transparent, nearer the sprite it takes the sprite cell's colour.

    Only where the background is lighter than that sprite cell: pixel-art outlines and rim
    shading are darker than the fill they wrap, so on a dark background a dark rim is exactly
    such a blend and cannot be told from a halo by colour (the black-background boots in
    ../shared/realworld lost their shading to it); a fringe lighter than the sprite can only
    come from the lighter background.  A dark outline on a light background is darker than
    both neighbours (off the segment) or has the outline's own colour beside it (t ~ 1), so it
    is left alone.  One pass, read from the input: a cleaned cell never makes its inner
    neighbour a candidate.
    """
    h, w = background.shape
    opaque = ~background
    best_off = np.full((h, w), np.inf)
    best_t = np.zeros((h, w))
    best_src = np.zeros((h, w, 2), np.int64)
    yy, xx = np.mgrid[0:h, 0:w]
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        # Cell (y, x) with background at (y - dy, x - dx) and sprite at (y + dy, x + dx).
        by, bx, sy, sx = yy - dy, xx - dx, yy + dy, xx + dx
        inside = (by >= 0) & (by < h) & (bx >= 0) & (bx < w) & (sy >= 0) & (sy < h) & (sx >= 0) & (sx < w)
        by, bx, sy, sx = (np.clip(a, 0, n - 1) for a, n in ((by, h), (bx, w), (sy, h), (sx, w)))
        candidate = inside & opaque & background[by, bx] & opaque[sy, sx]
        b = surface
        span = lab[sy, sx].astype(np.float64) - b
        length2 = (span * span).sum(axis=-1)
        t = ((lab.astype(np.float64) - b) * span).sum(axis=-1) / np.maximum(length2, 1e-12)
        off = np.linalg.norm(lab - (b + t[..., None] * span), axis=-1)
        # Only where the background is lighter than the sprite cell (see the docstring).
        lighter = b[..., 0] > lab[sy, sx, 0]
        ok = candidate & lighter & (length2 >= HALO_MIN_CONTRAST**2) & (t >= HALO_T_MIN) & (t <= HALO_T_MAX) & (off <= HALO_OFF) & (off < best_off)
        best_off = np.where(ok, off, best_off)
        best_t = np.where(ok, t, best_t)
        best_src[ok] = np.stack([sy[ok], sx[ok]], axis=-1)
    halo = np.isfinite(best_off)
    to_clear = halo & (best_t < 0.5)
    to_snap = halo & ~to_clear
    src = best_src[to_snap]
    out[to_snap, :3] = sprite[src[:, 0], src[:, 1], :3]
    out[to_clear] = 0
    return int(to_clear.sum()), int(to_snap.sum())
