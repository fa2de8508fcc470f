"""Stage 5: every grid line placed, following drift, mirror seams and half-cell jumps."""

from __future__ import annotations

import numpy as np

from .config import DEFAULT_CONFIG, DetectorConfig
from .profiles import noise_floor


def place_lines(profile: np.ndarray, cell: float, offset: float, snap: bool = True, config: DetectorConfig = DEFAULT_CONFIG) -> np.ndarray:
    """Cell boundaries along one axis, including partial border cells of at least half a cell.

    With ``snap`` each interior line follows the local edge evidence within ``max_snap`` of a
    cell (dynamic programming keeps neighbouring lines consistent); without it the lines are
    the rounded uniform grid.
    """
    length = len(profile) - 1
    first = int(np.ceil((0.5 - offset) / cell))
    last = int(np.floor((length - 0.5 - offset) / cell))
    uniform = offset + np.arange(first, last + 1) * cell
    if uniform.size and snap:
        lines = dp_snap(profile, uniform, cell, config)
    else:
        lines = np.round(uniform).astype(np.int64)
    lines = np.unique(lines[(lines > 0) & (lines < length)])
    if lines.size == 0:
        return np.array([0, length], dtype=np.int64)
    # Keep a border cell at least half visible (half a pixel of slack for exact half phases,
    # and a hair more: a fitted 5-px pitch is 5 +- 1e-15, which must not decide the sliver).
    min_width = 0.5 * cell - 0.5 - 1e-6
    edges = list(lines)
    if edges[0] >= min_width:
        edges.insert(0, 0)
    if length - edges[-1] >= min_width:
        edges.append(length)
    out = np.asarray(edges, dtype=np.int64)
    return out if len(out) >= 2 else np.array([0, length], dtype=np.int64)


def plateau_centred(profile: np.ndarray, cell: float, offset: float) -> np.ndarray:
    """The profile correlated with its own mean line shape (made symmetric): where lines are
    plateaus (a smooth upscale's ramps), the DP's local peaks inside them are noise, while the
    correlation peaks at each plateau's centre, the cell boundary."""
    length = len(profile) - 1
    half = int(cell // 2)
    if half < 1:
        return profile
    n = np.arange(int(np.ceil((half - offset) / cell)), int(np.floor((length - half - offset) / cell)) + 1)
    if n.size < 2:
        return profile
    pos = np.round(offset + n * cell).astype(np.int64)
    shape = profile[pos[:, None] + np.arange(-half, half + 1)[None, :]].mean(axis=0)
    shape = np.clip(shape - shape.min(), 0, None)
    shape = 0.5 * (shape + shape[::-1])
    if shape.sum() <= 0:
        return profile
    out: np.ndarray = np.convolve(profile, shape / shape.sum(), mode="same")
    return out


# Lines already placed for one image, keyed by (axis, cell, offset, snap): the 2-D checks and
# the final grid place the same lines, and the DP is a tenth of a 1024-px image's time.
PlacedMemo = dict[tuple[int, float, float, bool], np.ndarray]


def placed_lines(memo: PlacedMemo | None, axis: int, profile: np.ndarray, cell: float, offset: float, snap: bool = True,
                 config: DetectorConfig = DEFAULT_CONFIG) -> np.ndarray:
    """``place_lines`` through ``memo`` (None: no memo); callers must not modify the result."""
    if memo is None:
        return place_lines(profile, cell, offset, snap=snap, config=config)
    key = (axis, float(cell), float(offset), snap)
    if key not in memo:
        memo[key] = place_lines(profile, cell, offset, snap=snap, config=config)
    return memo[key]


def dp_snap(profile: np.ndarray, uniform: np.ndarray, cell: float, config: DetectorConfig = DEFAULT_CONFIG) -> np.ndarray:
    """Line positions maximising edge evidence minus a pull to ``uniform`` and a jitter cost."""
    length = len(profile) - 1
    radius = max(1, int(round(config.max_snap * cell)))
    offsets = np.arange(-radius, radius + 1)
    centres = np.round(uniform).astype(np.int64)
    pos = np.clip(centres[:, None] + offsets[None, :], 0, length)
    # Light smoothing so a blurred edge votes as one peak.
    smooth = np.convolve(profile, np.array([0.25, 0.5, 0.25]), mode="same")
    # Only a local peak is an edge: the flank of one edge would otherwise draw a second line
    # (a border line with no edge of its own slides onto its neighbour's flank).
    peak = np.ones_like(smooth, dtype=bool)
    peak[1:] &= smooth[1:] >= smooth[:-1]
    peak[:-1] &= smooth[:-1] >= smooth[1:]
    weighted = np.where(peak, smooth, smooth * config.snap_flank_weight)
    evidence = np.clip(weighted[pos] - noise_floor(smooth, config), 0, None)
    scale = np.percentile(evidence.max(axis=1), 75)
    if scale <= 0:
        return centres
    evidence = np.minimum(evidence / scale, 1.5)
    rel = offsets / cell
    unary = evidence - (config.snap_prior * rel**2)[None, :]
    jump = config.snap_jump * (rel[:, None] - rel[None, :]) ** 2
    score = unary[0].copy()
    back = np.zeros((len(uniform), len(offsets)), dtype=np.int64)
    cols = np.arange(len(offsets))
    for i in range(1, len(uniform)):
        total = score[:, None] - jump
        back[i] = np.argmax(total, axis=0)
        score = total[back[i], cols] + unary[i]
    path = np.empty(len(uniform), dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for i in range(len(uniform) - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    snapped: np.ndarray = pos[np.arange(len(uniform)), path]
    return snapped
