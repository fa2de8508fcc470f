"""Synthetic fake pixel art with a known truth, for tests, the benchmark and the ML track.

``random_sprite`` draws a true sprite (blocky shapes, 1-cell outlines and details, dithering,
optional transparency).  ``degrade`` renders any true sprite as fake pixel art on a known grid
with the artefacts generators produce, at seeded random strengths, and returns the exact truth.
``make_case(seed, tier)`` does both for one of the benchmark tiers.  ``background_case`` puts a
subject on a flat, linear or vignetted background (with a true subject mask, for
``core.background``), scored by ``score_mask``.  ``make_sheet_case(seed)`` makes a sprite sheet whose sprites each sit on their own phase and pitch, with per-sprite truth
(``score_sheet`` scores predicted sprites against it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

TIERS = ("clean", "fractional", "ai", "drift", "small", "big", "sheet", "smooth")
# The harsh tiers draw art the way artists do (shade ramps, selective outlines, anti-aliasing,
# dithering, speckled texture) instead of the flat, well-separated blocks of the first four.
HARSH_TIERS = ("small", "big", "sheet", "smooth")
RESTORE_TOLERANCE = 24
RESTORE_SHARE = 0.99


@dataclass(frozen=True)
class Degradation:
    """How a true sprite is rendered into fake pixel art (all strengths in 0..255 units or px)."""

    cell_w: float
    cell_h: float
    offset_x: float
    offset_y: float
    blur_sigma: float = 0.0
    noise_sigma: float = 0.0
    halo_amount: float = 0.0
    texture_amp: float = 0.0
    gradient_amp: float = 0.0
    jpeg_quality: int | None = None
    drift_frac: float = 0.0  # largest line deviation, as a fraction of a cell
    # Width of a box filter, as a fraction of a cell: what a smooth (bilinear, bicubic, Lanczos)
    # upscale does to blocks.  1.0 is exactly bilinear: colour ramps from centre to centre.
    box_blur: float = 0.0


@dataclass
class SynthCase:
    """A fake image and everything true about it."""

    image: np.ndarray  # (H, W, 4) uint8
    truth: np.ndarray  # (cells_y, cells_x, 4) uint8, one entry per cell visible in the image
    xs: np.ndarray  # true cell boundaries along x (pixel-edge coordinates), len cells_x + 1
    ys: np.ndarray
    degradation: Degradation
    has_alpha: bool
    tier: str = "custom"
    seed: int = 0
    # True where a cell belongs to the subject, not the background (background cases only).
    foreground: np.ndarray | None = None

    @property
    def cell_w(self) -> float:
        return self.degradation.cell_w

    @property
    def cell_h(self) -> float:
        return self.degradation.cell_h

    @property
    def offset_x(self) -> float:
        return self.degradation.offset_x

    @property
    def offset_y(self) -> float:
        return self.degradation.offset_y


# --------------------------------------------------------------------------- true sprites


def _palette(rng: np.random.Generator, n: int, min_dist: int = 48) -> np.ndarray:
    colours: list[np.ndarray] = []
    tries = 0
    while len(colours) < n and tries < 2000:
        tries += 1
        c = rng.integers(0, 256, 3)
        if all(np.abs(c - o).max() >= min_dist for o in colours):
            colours.append(c)
    return np.array(colours, dtype=np.uint8)


def random_sprite(rng: np.random.Generator, cells_x: int, cells_y: int, transparent: bool = False) -> np.ndarray:
    """A random true sprite: (cells_y, cells_x, 4) uint8 with a small, well-separated palette."""
    pal = _palette(rng, int(rng.integers(5, 12)))
    sprite = np.zeros((cells_y, cells_x, 4), np.uint8)
    sprite[..., 3] = 0 if transparent else 255
    if not transparent:
        sprite[..., :3] = pal[0]
    yy, xx = np.mgrid[0:cells_y, 0:cells_x]
    n_shapes = int(rng.integers(3, 3 + max(3, cells_x * cells_y // 120)))
    for _ in range(n_shapes):
        colour = pal[rng.integers(1, len(pal))]
        cx, cy = rng.uniform(0, cells_x), rng.uniform(0, cells_y)
        rx, ry = rng.uniform(1.5, max(2.0, cells_x / 4)), rng.uniform(1.5, max(2.0, cells_y / 4))
        kind = rng.integers(0, 3)
        if kind == 0:
            mask = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
        elif kind == 1:
            mask = (np.abs(xx - cx) <= rx) & (np.abs(yy - cy) <= ry)
        else:
            mask = (np.abs(xx - cx) / rx + np.abs(yy - cy) / ry) <= 1
        if not mask.any():
            continue
        if rng.random() < 0.3:
            # Dithered fill: a 1-cell checkerboard of two palette colours.
            other = pal[rng.integers(1, len(pal))]
            checker = ((xx + yy) % 2 == 0)
            sprite[mask & checker, :3] = colour
            sprite[mask & ~checker, :3] = other
        else:
            sprite[mask, :3] = colour
        sprite[mask, 3] = 255
        if rng.random() < 0.7:
            # 1-cell outline in a dark colour.
            grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            ring = grown & ~mask
            dark = (pal[rng.integers(0, len(pal))].astype(np.int32) // 4).astype(np.uint8)
            sprite[ring, :3] = dark
            sprite[ring, 3] = 255
    # Single-cell details: eyes, highlights.
    for _ in range(int(rng.integers(2, max(3, 2 + cells_x * cells_y // 60)))):
        y, x = rng.integers(0, cells_y), rng.integers(0, cells_x)
        sprite[y, x, :3] = pal[rng.integers(0, len(pal))]
        sprite[y, x, 3] = 255
    if transparent:
        sprite[sprite[..., 3] == 0, :3] = 0
    return sprite


def _shade_ramp(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` shades of one hue, dark to light, neighbours 20-40 levels apart (as artists ramp)."""
    hue = rng.uniform(0, 1, 3)
    hue = hue / max(float(hue.max()), 1e-6)
    # Darker shades lean cool and lighter ones warm (hue shifting), the usual pixel-art ramp.
    lo, hi = rng.uniform(40, 80), rng.uniform(190, 250)
    levels = np.linspace(lo, hi, n)
    shift = np.array([1.0, 0.0, -1.0]) * rng.uniform(0, 12)
    ramp = levels[:, None] * (0.35 + 0.65 * hue[None, :]) + np.linspace(-1, 1, n)[:, None] * shift[None, :]
    ramp = np.clip(ramp, 0, 255)
    # Keep neighbouring shades at least 20 apart in L-inf (closer is one colour to the eye).
    for i in range(1, n):
        gap = float(np.abs(ramp[i] - ramp[i - 1]).max())
        if gap < 20:
            ramp[i:] = np.clip(ramp[i:] + (20 - gap), 0, 255)
    shades: np.ndarray = ramp.round().astype(np.uint8)
    return shades


def shaded_sprite(rng: np.random.Generator, cells_x: int, cells_y: int, transparent: bool = False) -> np.ndarray:
    """A sprite drawn like real pixel art: (cells_y, cells_x, 4) uint8.

    Overlapping parts each shaded with a ramp of 3-5 close shades towards a light direction, a
    selective 1-cell outline (a darker shade of the part it wraps), anti-aliased steps (an
    in-between colour where the outline turns a corner), dithered shade boundaries, speckled
    texture and 1-cell highlights and eyes.
    """
    sprite = np.zeros((cells_y, cells_x, 4), np.uint8)
    background = rng.integers(20, 236, 3).astype(np.uint8)
    if not transparent:
        sprite[..., :3] = background
        sprite[..., 3] = 255
    yy, xx = np.mgrid[0:cells_y, 0:cells_x].astype(np.float64)
    light = rng.normal(0, 1, 2)
    light /= max(float(np.hypot(*light)), 1e-6)
    body = np.zeros((cells_y, cells_x), bool)
    owner = np.full((cells_y, cells_x), -1, np.int64)
    ramps: list[np.ndarray] = []
    margin = 2.0
    n_parts = int(rng.integers(2, 2 + max(2, cells_x * cells_y // 400)))
    for part in range(n_parts):
        ramp = _shade_ramp(rng, int(rng.integers(3, 6)))
        ramps.append(ramp)
        cx = rng.uniform(margin + 2, max(margin + 3, cells_x - margin - 2))
        cy = rng.uniform(margin + 2, max(margin + 3, cells_y - margin - 2))
        rx = rng.uniform(2.5, max(3.0, cells_x / 3.5))
        ry = rng.uniform(2.5, max(3.0, cells_y / 3.5))
        u, v = (xx - cx) / rx, (yy - cy) / ry
        if rng.random() < 0.6:
            r = np.sqrt(u**2 + v**2)
        else:
            r = np.maximum(np.abs(u), np.abs(v))
        mask = (r <= 1) & (xx >= margin) & (yy >= margin) & (xx < cells_x - margin) & (yy < cells_y - margin)
        if not mask.any():
            continue
        # Shade by a light direction plus the distance from the rim (rounded forms).
        level = 0.5 + 0.45 * (light[0] * u + light[1] * v) * (r <= 1) + 0.35 * (1 - r)
        index = np.clip(np.floor(level * len(ramp)), 0, len(ramp) - 1).astype(np.int64)
        if rng.random() < 0.5:
            # Dither the boundary between two shades: a checkerboard of both over a band.
            band = (np.abs(level * len(ramp) - np.round(level * len(ramp))) < 0.25) & (((xx + yy) % 2) == 0)
            index = np.where(band, np.clip(index + 1, 0, len(ramp) - 1), index)
        # Speckled texture: a few cells one shade off.
        speckle = rng.random(mask.shape) < rng.uniform(0.02, 0.08)
        index = np.where(speckle, np.clip(index + rng.choice([-1, 1], mask.shape), 0, len(ramp) - 1), index)
        sprite[mask, :3] = ramp[index[mask]]
        sprite[mask, 3] = 255
        owner[mask] = part
        body |= mask
    if not body.any():
        return random_sprite(rng, cells_x, cells_y, transparent)
    kernel = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)
    grown = cv2.dilate(body.astype(np.uint8), kernel).astype(bool)
    ring = grown & ~body
    # Selective outline: the darkest shade of the neighbouring part, darkened further.
    near_owner = cv2.dilate((owner + 1).astype(np.uint8), kernel).astype(np.int64) - 1
    outline = np.zeros((cells_y, cells_x, 3), np.uint8)
    for part, ramp in enumerate(ramps):
        outline[near_owner == part] = (ramp[0].astype(np.int32) * 2 // 5).astype(np.uint8)
    sprite[ring, :3] = outline[ring]
    sprite[ring, 3] = 255
    # Anti-aliasing: outside corners of the outline get a colour half-way to the background.
    full = ring | body
    diag = cv2.dilate(full.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~full
    aa = diag & (rng.random(diag.shape) < 0.5)
    near_outline = cv2.dilate(outline, np.ones((3, 3), np.uint8)).astype(np.int32)
    base = background.astype(np.int32) if not transparent else near_outline
    mid = ((near_outline + base) // 2).astype(np.uint8)
    sprite[aa, :3] = mid[aa]
    sprite[aa, 3] = 255
    # 1-cell highlights (lighter than the lightest shade) and dark eyes.
    inside = np.argwhere(body)
    for _ in range(int(rng.integers(2, 4 + len(inside) // 150))):
        y, x = inside[int(rng.integers(0, len(inside)))]
        ramp = ramps[max(0, int(owner[y, x]))]
        sprite[y, x, :3] = np.clip(ramp[-1].astype(np.int32) + 40, 0, 255) if rng.random() < 0.6 else ramp[0] // 3
    if transparent:
        sprite[sprite[..., 3] == 0, :3] = 0
    return sprite


def sheet_sprite(rng: np.random.Generator, cells_x: int, cells_y: int, transparent: bool = False) -> np.ndarray:
    """Several shaded sprites on one background with gutters between them (one grid)."""
    sprite = np.zeros((cells_y, cells_x, 4), np.uint8)
    if not transparent:
        sprite[..., :3] = rng.integers(20, 236, 3).astype(np.uint8)
        sprite[..., 3] = 255
    cols, rows = int(rng.integers(2, 4)), int(rng.integers(1, 4))
    gutter = int(rng.integers(2, 6))
    w = (cells_x - gutter * (cols + 1)) // cols
    h = (cells_y - gutter * (rows + 1)) // rows
    if w < 8 or h < 8:
        return shaded_sprite(rng, cells_x, cells_y, transparent)
    for r in range(rows):
        for c in range(cols):
            one = shaded_sprite(rng, w, h, transparent=True)
            y0, x0 = gutter + r * (h + gutter), gutter + c * (w + gutter)
            tile = sprite[y0 : y0 + h, x0 : x0 + w]
            opaque = one[..., 3] > 0
            tile[opaque] = one[opaque]
    return sprite


def close_shades_sprite(
    rng: np.random.Generator, cells_x: int, cells_y: int, n_ramps: int = 3, shades: int = 4, gap: int = 20, transparent: bool = False
) -> np.ndarray:
    """Flat shapes in ramps of close shades: a palette of known size that must not be merged.

    ``n_ramps`` ramps of ``shades`` shades each, neighbours exactly ``gap`` RGB levels apart
    (L-inf; 20 is the closest _shade_ramp lets an artist's shades come), shades of different
    ramps (and the background) at least ``2 * gap`` apart.  Each shape is a rectangle banded
    in its ramp's shades, every band at least 2 cells wide, so every true colour covers whole
    cells a reconstruction can recover.  The truth palette is ``unique_colors(sprite)``.
    """
    span = (shades - 1) * gap
    colours: list[np.ndarray] = []
    ramps: list[np.ndarray] = []
    background = rng.integers(0, 256, 3)
    for _ in range(400):
        if len(ramps) == n_ramps:
            break
        base = rng.integers(0, 256 - span, 3)
        ramp = base[None, :] + np.arange(shades)[:, None] * gap
        taken = np.array([*colours, background])
        if int(np.abs(ramp[:, None, :] - taken[None, :, :]).max(axis=2).min()) >= 2 * gap:
            ramps.append(ramp)
            colours.extend(ramp)
    sprite = np.zeros((cells_y, cells_x, 4), np.uint8)
    if not transparent:
        sprite[..., :3] = background
        sprite[..., 3] = 255
    band = 2
    n_shapes = max(len(ramps), cells_x * cells_y // 150)
    for k in range(n_shapes):
        ramp = ramps[k % len(ramps)]
        w = int(rng.integers(band * shades, max(band * shades + 1, cells_x // 2)))
        h = int(rng.integers(band * 2, max(band * 2 + 1, cells_y // 2)))
        x0 = int(rng.integers(0, max(1, cells_x - w)))
        y0 = int(rng.integers(0, max(1, cells_y - h)))
        block = sprite[y0 : y0 + h, x0 : x0 + w]
        bw = block.shape[1]
        shade = np.minimum(np.arange(bw) * shades // max(bw, 1), shades - 1)
        block[..., :3] = ramp[shade][None, :, :].astype(np.uint8)
        block[..., 3] = 255
    if transparent:
        sprite[sprite[..., 3] == 0, :3] = 0
    return sprite


def close_shades_case(seed: int, gap: int = 20, n_ramps: int = 3, shades: int = 4) -> SynthCase:
    """A ``close_shades_sprite`` under the "ai" tier's degradation (seeded; the truth palette known)."""
    rng = np.random.default_rng([seed, 7, gap])
    deg = tier_degradation("ai", rng)
    cells = int(rng.integers(24, 56))
    side = int(np.clip(round(cells * deg.cell_w), 96, 1024))
    height = int(np.clip(round(side * rng.uniform(0.75, 1.33)), 96, 1024))
    transparent = bool(rng.random() < 0.25)
    case = degrade(lambda cx, cy: close_shades_sprite(rng, cx, cy, n_ramps, shades, gap, transparent), deg, side, height, rng)
    case.tier = "close_shades"
    case.seed = seed
    return case


# --------------------------------------------------------------------------- degradation


def _drifted_lines(rng: np.random.Generator, cell: float, offset: float, length: int, drift_frac: float) -> np.ndarray:
    """Boundaries u_n = offset + n*cell (n covering the image) with discrete and slow drift."""
    n0 = int(np.floor((0 - offset) / cell)) - 1
    n1 = int(np.ceil((length - offset) / cell)) + 1
    n = np.arange(n0, n1 + 1)
    lines = offset + n * cell
    if drift_frac > 0:
        limit = drift_frac * cell
        dev = np.zeros(len(n))
        # Discrete jumps: a seam or half-cell column jump shifts everything after it.
        for _ in range(int(rng.integers(1, 3))):
            at = int(rng.integers(len(n) // 4, 3 * len(n) // 4))
            dev[at:] += rng.choice([-1, 1]) * rng.uniform(0.5, 1.0) * limit
        # Slow wander on top.
        dev += 0.4 * limit * np.sin(2 * np.pi * (n - n0) / rng.uniform(8, 30) + rng.uniform(0, 6.3))
        dev = np.clip(dev - np.median(dev), -limit, limit)
        lines = lines + dev
    return lines


def _visible(lines: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Boundaries of the cells at least half visible, clipped to the image, and each pixel's cell.

    Slivers under half a cell at the borders are not recoverable (nor counted by the
    pipeline); their pixels take the colour of the neighbouring kept cell, as rendering back does.
    """
    inner = lines[(lines > 0) & (lines < length)]
    keep = list(inner)
    min_width = 0.5 * float(np.median(np.diff(lines))) - 0.5
    if keep and keep[0] < min_width:
        keep = keep[1:]
    if keep and length - keep[-1] < min_width:
        keep = keep[:-1]
    bounds = np.concatenate([[0.0], keep, [float(length)]])
    centres = np.arange(length) + 0.5
    idx = np.searchsorted(bounds, centres, side="right") - 1
    return bounds, np.clip(idx, 0, len(bounds) - 2)


def _render(sprite: np.ndarray, col_idx: np.ndarray, row_idx: np.ndarray) -> np.ndarray:
    image: np.ndarray = sprite[row_idx[:, None], col_idx[None, :]]
    return image


def degrade(sprite_fn_or_sprite: "np.ndarray | Callable[[int, int], np.ndarray]", deg: Degradation, width: int, height: int, rng: np.random.Generator) -> SynthCase:
    """Render a sprite as fake pixel art of ``width`` x ``height`` on the grid ``deg`` describes.

    ``sprite_fn_or_sprite`` is either a sprite large enough for the grid, or a callable
    ``(cells_x, cells_y) -> sprite`` so the sprite can be made at exactly the visible size.
    """
    xl = _drifted_lines(rng, deg.cell_w, deg.offset_x, width, deg.drift_frac)
    yl = _drifted_lines(rng, deg.cell_h, deg.offset_y, height, deg.drift_frac)
    xs, col_idx = _visible(xl, width)
    ys, row_idx = _visible(yl, height)
    cells_x, cells_y = len(xs) - 1, len(ys) - 1
    sprite = sprite_fn_or_sprite(cells_x, cells_y) if callable(sprite_fn_or_sprite) else sprite_fn_or_sprite[:cells_y, :cells_x]
    return _degrade_on(sprite, deg, xs, ys, col_idx, row_idx, rng)


def _degrade_on(sprite: np.ndarray, deg: Degradation, xs: np.ndarray, ys: np.ndarray, col_idx: np.ndarray, row_idx: np.ndarray,
                rng: np.random.Generator) -> SynthCase:
    """``degrade``'s rendering and artefacts for a sprite on given (visible) boundaries."""
    has_alpha = bool((sprite[..., 3] < 255).any())
    img = _render(sprite, col_idx, row_idx).astype(np.float32)
    rgb: np.ndarray = img[..., :3]
    alpha: np.ndarray = img[..., 3]
    if has_alpha:
        # Hidden colour under transparency is noise in real files.
        hidden = alpha < 128
        rgb[hidden] = rng.uniform(0, 255, (int(hidden.sum()), 3))
    h, w = rgb.shape[:2]
    if deg.gradient_amp > 0:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)
        vignette = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2)
        rgb += (deg.gradient_amp * (ramp - ramp.mean()) - deg.gradient_amp * 0.8 * (vignette - vignette.mean()))[..., None]
    if deg.box_blur > 0:
        box = (max(1, int(round(deg.box_blur * deg.cell_w))), max(1, int(round(deg.box_blur * deg.cell_h))))
        rgb = cv2.blur(rgb, box, borderType=cv2.BORDER_REFLECT)
        if has_alpha:
            alpha = cv2.blur(alpha, box, borderType=cv2.BORDER_REFLECT)
    if deg.blur_sigma > 0:
        rgb = cv2.GaussianBlur(rgb, (0, 0), deg.blur_sigma)
        if has_alpha:
            alpha = cv2.GaussianBlur(alpha, (0, 0), deg.blur_sigma * 0.7)
    if deg.halo_amount > 0:
        soft = cv2.GaussianBlur(rgb, (0, 0), max(1.0, 0.12 * min(deg.cell_w, deg.cell_h)))
        rgb = rgb + deg.halo_amount * (rgb - soft)
    if deg.texture_amp > 0:
        streak = rng.normal(0, 1, (h, w)).astype(np.float32)
        k = max(3, int(min(deg.cell_w, deg.cell_h)))
        kernel = (k | 1, 1) if rng.random() < 0.5 else (1, k | 1)
        streak = cv2.blur(streak, kernel) * np.sqrt(k)
        rgb += deg.texture_amp * streak[..., None]
    if deg.noise_sigma > 0:
        rgb += rng.normal(0, deg.noise_sigma, rgb.shape).astype(np.float32)
    out = np.empty((h, w, 4), np.uint8)
    out[..., :3] = np.clip(rgb, 0, 255).round().astype(np.uint8)
    out[..., 3] = np.clip(alpha, 0, 255).round().astype(np.uint8)
    if deg.jpeg_quality is not None:
        params = [cv2.IMWRITE_JPEG_QUALITY, int(deg.jpeg_quality)]
        if min(deg.cell_w, deg.cell_h) < 10:
            # 4:2:0 chroma subsampling smears the colour of cells under ~10 px beyond what any
            # method (the oracle included) can recover: keep full chroma for those.
            params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
        ok, buf = cv2.imencode(".jpg", out[..., 2::-1].copy(), params)
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            out[..., :3] = decoded[..., ::-1]
    return SynthCase(
        image=out,
        truth=sprite.copy(),
        xs=xs,
        ys=ys,
        degradation=deg,
        has_alpha=has_alpha,
    )


def _ai_stack(rng: np.random.Generator, cell: float, drift: float = 0.0) -> Degradation:
    """The full generated-image stack on a cell of ``cell`` px, at the strengths seen in real
    generations (harsher than the "ai" tier): blur, grain, halos, streaks, lighting, JPEG and
    a 1-4% aspect difference between the axes."""
    aspect = 1.0 + rng.choice([-1, 1]) * rng.uniform(0.01, 0.04)
    cell_h = cell * aspect
    return Degradation(
        cell_w=cell,
        cell_h=cell_h,
        offset_x=rng.uniform(0, cell),
        offset_y=rng.uniform(0, cell_h),
        blur_sigma=rng.uniform(0.4, 0.15 * cell + 0.5),
        noise_sigma=rng.uniform(2.0, 8.0),
        halo_amount=rng.uniform(0.3, 1.2),
        texture_amp=rng.uniform(2.0, 7.0),
        gradient_amp=rng.uniform(8.0, 24.0),
        jpeg_quality=int(rng.integers(65, 92)) if cell >= 10 else int(rng.integers(80, 95)),
        drift_frac=drift,
    )


def tier_degradation(tier: str, rng: np.random.Generator) -> Degradation:
    """Seeded random strengths for one benchmark tier."""
    if tier == "clean":
        cell = float(rng.choice([4, 5, 6, 8, 10, 12, 16, 16, 20, 24, 32, 32]))
        offset = float(rng.choice([0.0, cell / 2]))
        return Degradation(cell_w=cell, cell_h=cell, offset_x=offset, offset_y=offset)
    if tier == "small":
        return _ai_stack(rng, float(rng.uniform(5.0, 8.0)))
    if tier == "big":
        return _ai_stack(rng, float(rng.uniform(32.0, 64.0)), drift=float(rng.uniform(0.1, 0.25)))
    if tier == "sheet":
        return _ai_stack(rng, float(np.exp(rng.uniform(np.log(6.0), np.log(20.0)))))
    if tier == "smooth":
        # A sprite upscaled with smoothing (an editor's or a browser's bicubic / Lanczos):
        # colour ramps over 50-85% of each cell, an overshoot (halo) for the sharper kernels,
        # grain, and JPEG half the time.  (Bilinear's 100% leaves no core that even the
        # oracle's centre median reads within L-inf 24: it failed half such cases.)
        cell = float(np.exp(rng.uniform(np.log(5.0), np.log(40.0))))
        return Degradation(
            cell_w=cell, cell_h=cell, offset_x=rng.uniform(0, cell), offset_y=rng.uniform(0, cell),
            box_blur=rng.uniform(0.5, 0.85), halo_amount=float(rng.choice([0.0, rng.uniform(0.2, 0.8)])),
            noise_sigma=rng.uniform(1.0, 4.0), jpeg_quality=int(rng.integers(80, 96)) if rng.random() < 0.5 else None,
        )
    cell = float(np.exp(rng.uniform(np.log(5.0), np.log(40.0))))
    common: dict[str, float] = dict(
        cell_w=cell,
        cell_h=cell,
        offset_x=rng.uniform(0, cell),
        offset_y=rng.uniform(0, cell),
        blur_sigma=rng.uniform(0.3, 0.12 * cell + 0.3),
        noise_sigma=rng.uniform(1.0, 5.0),
    )
    if tier == "fractional":
        return Degradation(**common)  # type: ignore[arg-type]
    aspect = 1.0 + rng.choice([-1, 1]) * rng.uniform(0.01, 0.04)
    ai = dict(
        common,
        cell_h=cell * aspect,
        halo_amount=rng.uniform(0.2, 0.8),
        texture_amp=rng.uniform(1.0, 4.0),
        gradient_amp=rng.uniform(4.0, 16.0),
        jpeg_quality=int(rng.integers(70, 95)) if cell >= 10 else int(rng.integers(85, 96)),
    )
    ai["offset_y"] = rng.uniform(0, ai["cell_h"])
    if tier == "ai":
        return Degradation(**ai)
    if tier == "drift":
        return Degradation(**ai, drift_frac=rng.uniform(0.1, 0.25))
    raise ValueError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}")


# Cells across the image per tier: (low, high) for rng.integers, and the largest side in px.
_TIER_CELLS = {"small": (60, 200), "big": (16, 41), "sheet": (40, 100)}
_TIER_MAX_SIDE = {"big": 1536}


def make_case(seed: int, tier: str, size: tuple[int, int] | None = None) -> SynthCase:
    """One seeded benchmark case: a random sprite degraded with the tier's artefacts."""
    rng = np.random.default_rng([seed, TIERS.index(tier) if tier in TIERS else 99])
    deg = tier_degradation(tier, rng)
    if size is None:
        cells = int(rng.integers(*_TIER_CELLS.get(tier, (16, 64))))
        side = int(np.clip(round(cells * deg.cell_w), 96, _TIER_MAX_SIDE.get(tier, 1024)))
        width = side
        height = int(np.clip(round(side * rng.uniform(0.75, 1.33)), 96, _TIER_MAX_SIDE.get(tier, 1024)))
    else:
        width, height = size
    transparent = bool(rng.random() < 0.25)
    draw = {"sheet": sheet_sprite}.get(tier, shaded_sprite if tier in HARSH_TIERS else random_sprite)
    case = degrade(lambda cx, cy: draw(rng, cx, cy, transparent), deg, width, height, rng)
    case.tier = tier
    case.seed = seed
    return case


# --------------------------------------------------------------------------- backgrounds

BACKGROUNDS = ("flat", "linear", "vignette")


def background_field(rng: np.random.Generator, kind: str, cells_x: int, cells_y: int) -> np.ndarray:
    """A background at cell level, (cells_y, cells_x, 3) uint8: flat, a linear ramp across the
    image (30-60 levels end to end) or a radial vignette (corners 30-70 levels darker), plus
    a little per-cell grain, as generators paint behind a subject."""
    base = rng.uniform(60, 220, 3)
    yy, xx = np.mgrid[0:cells_y, 0:cells_x].astype(np.float64)
    u, v = (xx + 0.5) / cells_x * 2 - 1, (yy + 0.5) / cells_y * 2 - 1
    if kind == "flat":
        shade = np.zeros_like(u)
    elif kind == "linear":
        angle = rng.uniform(0, 2 * np.pi)
        shade = rng.uniform(15, 30) * (np.cos(angle) * u + np.sin(angle) * v)
    elif kind == "vignette":
        shade = -rng.uniform(15, 35) * (u**2 + v**2)
    else:
        raise ValueError(f"unknown background {kind!r}; expected one of {', '.join(BACKGROUNDS)}")
    tint = 1.0 + rng.uniform(-0.15, 0.15, 3)
    field = base[None, None, :] + shade[..., None] * tint[None, None, :] + rng.normal(0, 1.5, (cells_y, cells_x, 3))
    out: np.ndarray = np.clip(field, 0, 255).round().astype(np.uint8)
    return out


def add_halo(sprite: np.ndarray, foreground: np.ndarray, rng: np.random.Generator, share: float = 0.5) -> int:
    """Tint ``share`` of the background cells touching the subject (4-neighbours) towards it, in
    place: the old background mixed 20-45% with the sprite cell next to it, the fringe generators
    leave around a subject.  The cells stay background in the truth.  Returns how many."""
    h, w = foreground.shape
    count = 0
    for y, x in np.argwhere(~foreground):
        if rng.random() >= share:
            continue
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            sy, sx = y + dy, x + dx
            if 0 <= sy < h and 0 <= sx < w and foreground[sy, sx]:
                t = rng.uniform(0.2, 0.45)
                mixed = (1 - t) * sprite[y, x, :3].astype(np.float64) + t * sprite[sy, sx, :3]
                sprite[y, x, :3] = np.clip(mixed, 0, 255).round().astype(np.uint8)
                count += 1
                break
    return count


def background_case(seed: int, kind: str | None = None, halo: bool | None = None) -> SynthCase:
    """A shaded subject (1-cell outline) on a flat, linear or vignetted background, degraded
    like the "ai" tier; ``case.foreground`` is the true subject mask.  ``kind``/``halo`` default
    to seeded choices."""
    rng = np.random.default_rng([seed, 4242])
    kind = kind or BACKGROUNDS[int(rng.integers(0, len(BACKGROUNDS)))]
    halo = bool(rng.random() < 0.5) if halo is None else halo
    deg = tier_degradation("ai", rng)
    cells = int(rng.integers(24, 56))
    side = int(np.clip(round(cells * deg.cell_w), 96, 1024))
    mask_box: list[np.ndarray] = []

    def draw(cx: int, cy: int) -> np.ndarray:
        subject = shaded_sprite(rng, cx, cy, transparent=True)
        fg = subject[..., 3] > 0
        out = np.zeros((cy, cx, 4), np.uint8)
        out[..., :3] = background_field(rng, kind, cx, cy)
        out[..., 3] = 255
        out[fg] = subject[fg]
        if halo:
            add_halo(out, fg, rng)
        mask_box.append(fg)
        return out

    case = degrade(draw, deg, side, int(np.clip(round(side * rng.uniform(0.8, 1.25)), 96, 1024)), rng)
    case.tier = f"background-{kind}{'-halo' if halo else ''}"
    case.seed = seed
    case.foreground = mask_box[0]
    return case


@dataclass(frozen=True)
class MaskScore:
    iou: float  # intersection over union of the predicted and true subject masks
    wrong: float  # share of the truth cells whose opaque/transparent state is wrong
    shift: tuple[int, int]


def score_mask(pred: np.ndarray | None, foreground: np.ndarray, max_shift: int = 2) -> MaskScore:
    """Compare a sprite's opaque cells with the true subject mask at the best shift (as
    ``score_restoration`` aligns cells)."""
    if pred is None or pred.size == 0:
        return MaskScore(0.0, 1.0, (0, 0))
    opaque = pred[..., 3] >= 128
    th, tw = foreground.shape
    ph, pw = opaque.shape
    best = MaskScore(0.0, 1.0, (0, 0))
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            y0, y1 = max(0, -dy), min(th, ph - dy)
            x0, x1 = max(0, -dx), min(tw, pw - dx)
            if y1 <= y0 or x1 <= x0 or y1 - y0 < th - 2 * max_shift or x1 - x0 < tw - 2 * max_shift:
                continue
            t = foreground[y0:y1, x0:x1]
            p = opaque[y0 + dy : y1 + dy, x0 + dx : x1 + dx]
            union = int((t | p).sum())
            iou = float((t & p).sum()) / union if union else 1.0
            wrong = float((t != p).mean())
            if wrong < best.wrong:
                best = MaskScore(iou, wrong, (dy, dx))
    return best
def sized_case(seed: int, cells: int = 128, side: int = 1024, margin: int = 0, drift: float = 0.2) -> tuple[SynthCase, np.ndarray]:
    """A ``side``-px generation of art meant to be ``cells`` x ``cells`` (for ``--size``): random
    phase and drift, and with ``margin`` > 0 a flat margin of that many cells around the art
    (a dark 1-cell frame marks the art's edge).  Returns the case and the art's true sprite
    (the case's truth without the margin)."""
    rng = np.random.default_rng([seed, 2000 + margin])
    cell = side / (cells + 2 * margin)
    deg = Degradation(cell_w=cell, cell_h=cell, offset_x=rng.uniform(0, cell), offset_y=rng.uniform(0, cell),
                      blur_sigma=rng.uniform(0.4, 1.2), noise_sigma=rng.uniform(1.0, 4.0), halo_amount=0.3, drift_frac=drift)
    if margin == 0:
        case = degrade(lambda cx, cy: shaded_sprite(rng, cx, cy), deg, side, side, rng)
        return case, case.truth
    art = shaded_sprite(rng, cells, cells)
    art[[0, -1], :, :3] = 20
    art[:, [0, -1], :3] = 20
    # Two spare cells past the canvas: the drifted grid may show part of one more.
    canvas = np.full((cells + 2 * margin + 2, cells + 2 * margin + 2, 4), 255, np.uint8)
    canvas[..., :3] = rng.integers(60, 236, 3).astype(np.uint8)
    canvas[margin : margin + cells, margin : margin + cells] = art
    return degrade(canvas, deg, side, side, rng), art


# --------------------------------------------------------------------------- animations


@dataclass
class SynthAnimation:
    """Fake animation frames on ONE grid (same pitch, phase and drift) and their true sprites."""

    frames: list[SynthCase]  # each frame's image, truth and the shared boundaries
    durations_ms: list[int]
    kind: str
    seed: int = 0

    @property
    def images(self) -> list[np.ndarray]:
        return [f.image for f in self.frames]

    @property
    def truths(self) -> list[np.ndarray]:
        return [f.truth for f in self.frames]


ANIMATION_KINDS = ("bob", "chunky")


def _bob_frames(rng: np.random.Generator, cells_x: int, cells_y: int, n: int, transparent: bool) -> list[np.ndarray]:
    """A shaded sprite bobbing up and down by a cell and blinking (two dark cells go light)."""
    body = shaded_sprite(rng, cells_x, cells_y - 2, transparent=True)
    background = rng.integers(20, 236, 3).astype(np.uint8)
    opaque = np.argwhere(body[..., 3] > 0)
    eye = opaque[int(rng.integers(0, len(opaque)))] if len(opaque) else np.array([cells_y // 3, cells_x // 3])
    out = []
    for i in range(n):
        frame = np.zeros((cells_y, cells_x, 4), np.uint8)
        if not transparent:
            frame[..., :3] = background
            frame[..., 3] = 255
        dy = int(round(1 + np.sin(2 * np.pi * i / n)))  # 0..2 cells down
        one = body.copy()
        if i % max(2, n // 2) == n // 4:  # a blink: the eye and its neighbour turn light
            y, x = int(eye[0]), int(eye[1])
            one[y, x : x + 2, :3] = 235
            one[y, x : x + 2, 3] = 255
        tile = frame[dy : dy + one.shape[0]]
        mask = one[: tile.shape[0], ..., 3] > 0
        tile[mask] = one[: tile.shape[0]][mask]
        out.append(frame)
    return out


def _chunky_frames(rng: np.random.Generator, cells_x: int, cells_y: int, n: int, transparent: bool) -> list[np.ndarray]:
    """Art drawn in 2x2-cell blocks scrolling one cell per frame: every frame alone is
    consistent with cells twice as large (its edges all fall on every other line), only
    the frames together show the true pitch."""
    half = random_sprite(rng, (cells_x + 3) // 2 + 1, (cells_y + 3) // 2 + 1, transparent)
    big = np.repeat(np.repeat(half, 2, axis=0), 2, axis=1)
    out = []
    for i in range(n):
        shift = i % 2  # alternate the block phase: odd frames sit one cell off the even ones
        out.append(np.ascontiguousarray(big[shift : shift + cells_y, shift : shift + cells_x]))
    return out


def make_animation(seed: int, kind: str = "bob", n_frames: int = 6, tier: str = "ai", size: tuple[int, int] | None = None) -> SynthAnimation:
    """Seeded fake animation: ``n_frames`` true sprites rendered on one grid drawn for ``tier``,
    each frame with its own noise (grain, JPEG), as a generator would give them."""
    if kind not in ANIMATION_KINDS:
        raise ValueError(f"unknown animation kind {kind!r}; expected one of {', '.join(ANIMATION_KINDS)}")
    rng = np.random.default_rng([seed, 1000 + ANIMATION_KINDS.index(kind)])
    deg = tier_degradation(tier, rng)
    if size is None:
        cells = int(rng.integers(20, 40))
        width = height = int(np.clip(round(cells * deg.cell_w), 96, 768))
    else:
        width, height = size
    xl = _drifted_lines(rng, deg.cell_w, deg.offset_x, width, deg.drift_frac)
    yl = _drifted_lines(rng, deg.cell_h, deg.offset_y, height, deg.drift_frac)
    xs, col_idx = _visible(xl, width)
    ys, row_idx = _visible(yl, height)
    draw = _bob_frames if kind == "bob" else _chunky_frames
    sprites = draw(rng, len(xs) - 1, len(ys) - 1, n_frames, False)
    frames = [_degrade_on(s, deg, xs, ys, col_idx, row_idx, rng) for s in sprites]
    for f in frames:
        f.tier, f.seed = tier, seed
    durations = [int(rng.choice([60, 80, 100, 120, 150])) for _ in range(n_frames)]
    return SynthAnimation(frames=frames, durations_ms=durations, kind=kind, seed=seed)


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class RestorationScore:
    accuracy: float  # share of truth cells matched, 0..1
    restored: bool  # accuracy >= RESTORE_SHARE with dimensions within the alignment window
    shift: tuple[int, int]  # (dy, dx) of the best alignment


def cells_match(pred: np.ndarray, truth: np.ndarray, tolerance: int = RESTORE_TOLERANCE) -> np.ndarray:
    pred_clear = pred[..., 3] < 128
    truth_clear = truth[..., 3] < 128
    close = np.abs(pred[..., :3].astype(np.int16) - truth[..., :3].astype(np.int16)).max(axis=-1) <= tolerance
    return np.where(truth_clear | pred_clear, truth_clear & pred_clear, close)


def score_restoration(pred: np.ndarray | None, truth: np.ndarray, tolerance: int = RESTORE_TOLERANCE, max_shift: int = 2) -> RestorationScore:
    """Compare a reconstructed sprite with the truth after the best shift within ±max_shift cells.

    Border cells may be partial, so up to ``max_shift`` rows/columns of the truth may be missing;
    accuracy is the matched share of the truth cells the prediction overlaps, and a result only
    counts as restored when its size is within the window too.
    """
    if pred is None or pred.size == 0:
        return RestorationScore(0.0, False, (0, 0))
    th, tw = truth.shape[:2]
    ph, pw = pred.shape[:2]
    best = RestorationScore(0.0, False, (0, 0))
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            # truth[y, x] <-> pred[y + dy, x + dx]
            y0, y1 = max(0, -dy), min(th, ph - dy)
            x0, x1 = max(0, -dx), min(tw, pw - dx)
            if y1 - y0 < th - 2 * max_shift or x1 - x0 < tw - 2 * max_shift or y1 <= y0 or x1 <= x0:
                continue
            t = truth[y0:y1, x0:x1]
            p = pred[y0 + dy : y1 + dy, x0 + dx : x1 + dx]
            acc = float(cells_match(p, t, tolerance).mean())
            if acc > best.accuracy:
                best = RestorationScore(acc, False, (dy, dx))
    size_ok = abs(ph - th) <= max_shift and abs(pw - tw) <= max_shift
    return RestorationScore(best.accuracy, bool(size_ok and best.accuracy >= RESTORE_SHARE), best.shift)


def oracle_sprite(case: SynthCase) -> np.ndarray:
    """The truth grid's cells sampled with a plain median of each cell's centre (middle half)."""
    img = case.image
    out = np.zeros(case.truth.shape, np.uint8)
    for j in range(len(case.ys) - 1):
        y0, y1 = case.ys[j], case.ys[j + 1]
        ya, yb = int(np.floor(y0 + 0.25 * (y1 - y0))), int(np.ceil(y1 - 0.25 * (y1 - y0)))
        for i in range(len(case.xs) - 1):
            x0, x1 = case.xs[i], case.xs[i + 1]
            xa, xb = int(np.floor(x0 + 0.25 * (x1 - x0))), int(np.ceil(x1 - 0.25 * (x1 - x0)))
            block = img[ya : max(yb, ya + 1), xa : max(xb, xa + 1)].reshape(-1, 4)
            out[j, i] = np.median(block, axis=0).round().astype(np.uint8)
    if case.has_alpha:
        opaque = out[..., 3] >= 128
        out[..., 3] = np.where(opaque, 255, 0)
    else:
        out[..., 3] = 255
    return out


# --------------------------------------------------------------------------- sprite sheets on per-sprite grids

# How far each sprite's pitch strays from the sheet's base pitch (fraction, either sign): the
# 2-4% by which icons generated or upscaled one by one differ.
SHEET_PITCH_SPREAD = (0.02, 0.04)


@dataclass(frozen=True)
class SheetSpriteTruth:
    """One sprite of a synthetic sheet: its box in image px, its grid and its true cells.

    ``truth`` holds the cells of the sprite itself (the tile's background cells around it cut
    off), ``box`` the pixels those cells cover.
    """

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
    degradation: Degradation
    truth: np.ndarray
    origin: tuple[int, int]  # the tile's top-left corner in the image


@dataclass
class SheetCase:
    """A synthetic sheet: several sprites on one background, each on a grid of its own."""

    image: np.ndarray
    sprites: list[SheetSpriteTruth]
    background: tuple[int, int, int]
    per_sprite_grids: bool
    seed: int = 0


def make_sheet_case(seed: int, per_sprite_grids: bool = True) -> SheetCase:
    """A seeded sheet of 2-9 shaded sprites on a flat background with gutters of 3-6 cells.

    With ``per_sprite_grids`` every sprite gets its own phase and a pitch 2-4% off the base
    (``SHEET_PITCH_SPREAD``); without it every sprite lies on one shared grid.  Blur, grain and
    halos are the "ai" tier's; there is no lighting gradient or JPEG (they would leave seams at
    the tile edges that no real sheet has).
    """
    rng = np.random.default_rng([seed, 7_007])
    base = float(np.exp(rng.uniform(np.log(7.0), np.log(16.0))))
    cols, rows = int(rng.integers(2, 4)), int(rng.integers(1, 4))
    background = rng.integers(20, 236, 3).astype(np.uint8)
    blur = float(rng.uniform(0.3, 0.1 * base + 0.3))
    noise = float(rng.uniform(1.0, 5.0))
    halo = float(rng.uniform(0.2, 0.8))
    gutter = int(round(rng.uniform(3, 6) * base))
    tile_cells = [(int(rng.integers(12, 22)), int(rng.integers(12, 22))) for _ in range(cols * rows)]
    tile_w = int(np.ceil(max(c[0] for c in tile_cells) * base * 1.05))
    tile_h = int(np.ceil(max(c[1] for c in tile_cells) * base * 1.05))
    width, height = gutter + cols * (tile_w + gutter), gutter + rows * (tile_h + gutter)
    shared_ox, shared_oy = rng.uniform(0, base), rng.uniform(0, base)
    canvas = np.empty((height, width, 4), np.float32)
    canvas[..., :3] = background
    canvas[..., 3] = 255
    canvas[..., :3] += rng.normal(0, noise, (height, width, 3)).astype(np.float32)
    image = np.clip(canvas, 0, 255).round().astype(np.uint8)
    sprites: list[SheetSpriteTruth] = []
    for k, (cx, cy) in enumerate(tile_cells):
        x0 = gutter + (k % cols) * (tile_w + gutter)
        y0 = gutter + (k // cols) * (tile_h + gutter)
        if per_sprite_grids:
            pitch = base * (1 + rng.choice([-1, 1]) * rng.uniform(*SHEET_PITCH_SPREAD))
            cell_h = pitch * (1 + rng.uniform(-0.005, 0.005))
            ox, oy = rng.uniform(0, pitch), rng.uniform(0, cell_h)
        else:
            pitch = cell_h = base
            ox, oy = (shared_ox - x0) % base, (shared_oy - y0) % base
        deg = Degradation(cell_w=pitch, cell_h=cell_h, offset_x=ox, offset_y=oy, blur_sigma=blur, noise_sigma=noise, halo_amount=halo)
        tw, th = min(tile_w, int(round(cx * pitch))), min(tile_h, int(round(cy * cell_h)))

        def draw(nx: int, ny: int) -> np.ndarray:
            one = shaded_sprite(rng, nx, ny, transparent=True)
            clear = one[..., 3] == 0
            one[clear, :3] = background
            one[..., 3] = 255
            return one

        case = degrade(draw, deg, tw, th, rng)
        image[y0:y0 + th, x0:x0 + tw] = case.image
        fg = (case.truth[..., :3] != background).any(axis=-1)
        ys, xs = np.nonzero(fg)
        if not len(xs):
            continue
        c0, c1, r0, r1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
        box = (x0 + int(round(case.xs[c0])), y0 + int(round(case.ys[r0])), x0 + int(round(case.xs[c1])), y0 + int(round(case.ys[r1])))
        sprites.append(SheetSpriteTruth(box=box, degradation=deg, truth=case.truth[r0:r1, c0:c1].copy(), origin=(x0, y0)))
    return SheetCase(image=image, sprites=sprites, background=(int(background[0]), int(background[1]), int(background[2])),
                     per_sprite_grids=per_sprite_grids, seed=seed)


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def score_sheet(case: SheetCase, predicted: list[tuple[tuple[int, int, int, int], np.ndarray]]) -> list[RestorationScore]:
    """Each true sprite's score against the predicted (box, sprite) that overlaps it most.

    A true sprite no predicted box overlaps scores 0 (not found).
    """
    scores = []
    for truth in case.sprites:
        overlaps = [_iou(truth.box, box) for box, _ in predicted]
        if not overlaps or max(overlaps) <= 0:
            scores.append(RestorationScore(0.0, False, (0, 0)))
            continue
        scores.append(score_restoration(predicted[int(np.argmax(overlaps))][1], truth.truth))
    return scores
