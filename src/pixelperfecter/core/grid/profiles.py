"""Stage 1: edge profiles, the evidence every later stage reads.

``ex[k]`` is the strongest channel step between pixel columns k-1 and k, summed over the rows
(and ``ey`` likewise per row boundary).  JPEG's 8-px block steps are taken back out.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from .config import DEFAULT_CONFIG, DetectorConfig

Profiles = tuple[np.ndarray, np.ndarray]


def edge_profiles(rgba: np.ndarray) -> Profiles:
    """Edge strength at every pixel boundary: arrays of length W+1 and H+1.

    The image borders (0 and W) carry no edge.  Works on uint8 with OpenCV, in bands of rows
    that stay in cache: each band's steps are summed, and the rows and columns the JPEG test
    samples are kept, so the whole-image step maps never exist.
    """
    return _profile_pass(rgba, by_quarter=False)[0]


def edge_profiles_by_quarter(rgba: np.ndarray) -> tuple[Profiles, tuple[Profiles, ...]]:
    """``edge_profiles`` of the image and of its four quarters (top-left, top-right,
    bottom-left, bottom-right; split at H // 2 and W // 2), from one pass over the pixels.

    A quarter's profiles are its own crop's ``edge_profiles`` (the steps across the split do
    not count), except that JPEG's block steps are measured once over the whole image: the
    regional vote read each quarter's crop again, a second pass over every pixel.
    """
    profiles, quarters = _profile_pass(rgba, by_quarter=True)
    return profiles, quarters


def _profile_pass(rgba: np.ndarray, by_quarter: bool) -> tuple[Profiles, tuple[Profiles, ...]]:
    height, width = rgba.shape[:2]
    half_h, half_w = height // 2, width // 2
    ex = np.zeros(width + 1, np.float64)
    ey = np.zeros(height + 1, np.float64)
    # Column sums of the x steps of the rows above and below the split (one array without
    # quarters), and row sums of the y steps left and right of it.
    col_sums = [np.zeros(max(0, width - 1), np.int64) for _ in range(2 if by_quarter else 1)]
    row_sums = [np.zeros(max(0, height - 1), np.int64) for _ in range(2 if by_quarter else 0)]
    x_rows: list[np.ndarray] = []
    y_cols: list[np.ndarray] = []
    row_step, col_step = max(1, height // 256), max(1, width // 256)  # jpeg_block_step's sampling
    for y0, gx, gy in _gradient_bands(rgba):
        if gx.size:
            cut = int(np.clip(half_h - y0, 0, len(gx))) if by_quarter else len(gx)
            for part, rows in ((0, gx[:cut]), (1, gx[cut:])):
                if len(rows):
                    col_sums[part] += cv2.reduce(rows, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
            x_rows.append(gx[-y0 % row_step :: row_step])
        if gy.size:
            if by_quarter:
                for part, cols in ((0, gy[:, :half_w]), (1, gy[:, half_w:])):
                    if cols.size:
                        row_sums[part][y0 : y0 + len(gy)] = cv2.reduce(cols, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
                ey[1 + y0 : 1 + y0 + len(gy)] = row_sums[0][y0 : y0 + len(gy)] + row_sums[1][y0 : y0 + len(gy)]
            else:
                ey[1 + y0 : 1 + y0 + len(gy)] = cv2.reduce(gy, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
            y_cols.append(np.ascontiguousarray(gy[:, ::col_step]))
    ex[1:-1] = sum(col_sums) if by_quarter else col_sums[0]
    step_x = _jpeg_step_of_rows(np.concatenate(x_rows)) if width - 1 >= 32 and x_rows else 0.0
    step_y = _jpeg_step_of_rows(np.ascontiguousarray(np.concatenate(y_cols).T)) if height - 1 >= 32 and y_cols else 0.0
    # JPEG blocks both axes, so one axis showing them is enough: streaky texture along the
    # other can hide the small flat-area steps there.
    blocked = step_x > 0 or step_y > 0

    def finish(px: np.ndarray, py: np.ndarray, rows: int, cols: int) -> Profiles:
        # JPEG's 8x8 blocks add a step on every block boundary, in flat areas and more so at
        # edges (ringing); summed over a whole column it out-shouts a sprite's own grid.  Take
        # out the larger of the flat-area step and the typical excess of block boundaries over
        # their neighbours (a median: the art's own lines fall on few of them).
        return (_without_blocks(px, step_x * rows), _without_blocks(py, step_y * cols)) if blocked else (px, py)

    quarters: list[Profiles] = []
    if by_quarter:
        spans = (((0, half_w), (0, half_h)), ((half_w, width), (0, half_h)), ((0, half_w), (half_h, height)), ((half_w, width), (half_h, height)))
        for (x0, x1), (y0, y1) in spans:
            qx = np.zeros(x1 - x0 + 1, np.float64)
            qy = np.zeros(y1 - y0 + 1, np.float64)
            qx[1:-1] = col_sums[0 if y0 == 0 else 1][x0 : x1 - 1]
            qy[1:-1] = row_sums[0 if x0 == 0 else 1][y0 : y1 - 1]
            quarters.append(finish(qx, qy, y1 - y0, x1 - x0))
    return finish(ex, ey, height, width), tuple(quarters)


def without_block_lines(profile: np.ndarray) -> np.ndarray:
    """The profile with every JPEG block boundary (multiples of 8) lowered to the smaller of its
    two neighbours: what is left of a comb there is the art's own (for refitting an axis that
    JPEG's block grid took; the art's lines that fall on a block boundary are an eighth)."""
    at = np.arange(8, len(profile) - 1, 8)
    out: np.ndarray = profile.copy()
    out[at] = np.minimum(profile[at - 1], profile[at + 1])
    return out


def _without_blocks(profile: np.ndarray, flat_step: float) -> np.ndarray:
    at = np.arange(8, len(profile) - 1, 8)
    if at.size < 4:
        return profile
    excess = profile[at] - 0.5 * (profile[at - 1] + profile[at + 1])
    out: np.ndarray = profile.copy()
    out[at] = np.clip(profile[at] - max(flat_step, float(np.median(excess))), 0, None)
    return out


# Bytes of image turned into gradients at once: a band's channels and steps stay in a core's
# L2 cache (whole-image planes of a 16 MP image do not, and cost twice as much per pixel).
GRADIENT_BAND_BYTES = 1 << 19


def _gradient_bands(rgba: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(y0, gx, gy) per band of rows: the strongest channel step along x of rows y0.. (rows,
    W-1) and along y between rows y0.. and the next (rows, W; the last band one row fewer)."""
    img = np.ascontiguousarray(rgba)
    height, width = img.shape[:2]
    # Any alpha under 255 <=> some pixel's little-endian RGBA word under 0xFF000000: one
    # contiguous min instead of a strided pass over the alpha bytes (3x faster).
    premultiply = img.shape[2] == 4 and img.size > 0 and int(img.view("<u4").min()) < 0xFF000000
    band = max(1, GRADIENT_BAND_BYTES // max(1, width * img.shape[2]))
    for y0 in range(0, height, band):
        y1 = min(height, y0 + band)
        # One row more than the band: the steps between this band and the next.
        channels = _channels(img[y0 : min(height, y1 + 1)], premultiply)
        rows = y1 - y0
        gx = _strongest([cv2.absdiff(ch[:rows, 1:], ch[:rows, :-1]) for ch in channels]) if width > 1 else np.zeros((rows, 0), np.uint8)
        gy = _strongest([cv2.absdiff(ch[1:, :], ch[:-1, :]) for ch in channels]) if len(channels[0]) > 1 else np.zeros((0, width), np.uint8)
        yield y0, gx, gy


def _channels(img: np.ndarray, premultiply: bool) -> list[np.ndarray]:
    if premultiply:
        # Premultiply so that the hidden colour of transparent pixels does not make edges.
        alpha = np.ascontiguousarray(img[..., 3])
        return [cv2.multiply(np.ascontiguousarray(img[..., c]), alpha, scale=1 / 255.0) for c in range(3)] + [alpha]
    return list(cv2.split(img))[:3]


def _strongest(diffs: list[np.ndarray]) -> np.ndarray:
    out = diffs[0]
    for d in diffs[1:]:
        out = cv2.max(out, d)
    return out


def jpeg_block_step(grad: np.ndarray, axis: int = 1) -> float:
    """Mean extra step on JPEG block boundaries in flat areas (0 when there is no blocking).

    ``grad`` holds steps between neighbours along ``axis`` (1: ``grad[:, j]`` is the step between
    columns j and j+1; 0: between rows), so boundaries at multiples of 8 are j = 7 mod 8.  Only
    small steps count: real edges are large, and a clean 8-px grid has no small steps at all,
    so it is left alone.  Sums over views, no boolean gathers (this runs on every image).
    """
    if axis == 0:
        # The sampled columns, copied once into rows (a strided transpose is slow to read).
        if grad.shape[0] < 32:
            return 0.0
        return _jpeg_step_of_rows(np.ascontiguousarray(grad[:, :: max(1, grad.shape[1] // 256)].T))
    if grad.shape[1] < 32:
        return 0.0
    return _jpeg_step_of_rows(grad[:: max(1, grad.shape[0] // 256)])


def _jpeg_step_of_rows(rows: np.ndarray) -> float:
    """``jpeg_block_step`` of the sampled rows of steps (boundaries at j = 7 mod 8)."""
    rows = np.ascontiguousarray(rows)
    # The small steps (< 16) kept, the others zeroed: OpenCV sums and counts on whole rows
    # (``np.sum(where=)`` over a 1 MP image's 262k sampled steps took 1.2 ms, twice per image).
    low_steps = cv2.threshold(rows, 15, 0, cv2.THRESH_TOZERO_INV)[1]
    n_all = rows.size - cv2.countNonZero(cv2.threshold(rows, 15, 1, cv2.THRESH_BINARY)[1])
    on_rows = rows[:, 7::8]
    n_on = int(np.count_nonzero(on_rows < 16))
    n_off = n_all - n_on
    if n_on < 100 or n_off < 100:
        return 0.0
    s_all = int(cv2.sumElems(low_steps)[0])
    s_on = int(low_steps[:, 7::8].sum(dtype=np.int64))
    a, b = s_on / n_on, (s_all - s_on) / n_off
    return a - b if a > 1.3 * b and a - b > 0.5 else 0.0


def noise_floor(profile: np.ndarray, config: DetectorConfig = DEFAULT_CONFIG) -> float:
    """The grain level of a profile: a low percentile, which real edges (sparse) do not reach."""
    inner = profile[1:-1]
    return float(np.percentile(inner, config.noise_percentile)) if inner.size else 0.0


def denoised(profile: np.ndarray, config: DetectorConfig = DEFAULT_CONFIG) -> np.ndarray:
    """The profile with its grain floor taken out (only what rises above it is edges)."""
    return np.clip(profile - noise_floor(profile, config), 0, None)
