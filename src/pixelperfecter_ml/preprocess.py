"""Turning an RGBA image into the model's input: a 4-channel 160x160 crop at NATIVE resolution.

Why a crop and not a resize: the estimator must read the cell size in original-image pixels.
Squashing a 1024 px image into 160 px would make a 6 px cell smaller than one input pixel
and tie the apparent cell size to the image size.  A crop at native resolution keeps every
cell exactly as large as it is in the file, so the targets (cell and offset in original
pixels / 256) are directly visible: a 160 px crop shows at least 2.5 cells up to 64 px.
Inference averages several crops spread over the image.

Channels: RGB premultiplied by alpha (hidden colour under transparency is noise) and a Canny
edge map of the same crop, all scaled to 0..1.  Torch-free (NumPy + OpenCV).
"""

from __future__ import annotations

import cv2
import numpy as np

PARAM_SCALE = 256.0  # grid parameters are stored as original pixels / 256, clamped to [0, 1]
CACHE_SIDE = 320  # side of the native-resolution region cached per labelled image
# (320 rather than 256: the synth sprite generator needs >= 60 cells, i.e. 8x8 cells of 40 px)
CANNY_LOW, CANNY_HIGH = 50, 150


def premultiplied_rgb(rgba: np.ndarray) -> np.ndarray:
    """RGB uint8 with transparent pixels blacked out (their hidden colour carries no signal)."""
    if rgba.shape[2] == 3:
        return np.ascontiguousarray(rgba)
    alpha = rgba[..., 3:4].astype(np.uint16)
    return ((rgba[..., :3].astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)


def model_input(rgb_crop: np.ndarray, side: int) -> np.ndarray:
    """(4, side, side) float32: RGB and a Canny edge map, zero-padded when the crop is smaller."""
    h, w = rgb_crop.shape[:2]
    if h < side or w < side:
        padded = np.zeros((max(h, side), max(w, side), 3), np.uint8)
        padded[:h, :w] = rgb_crop
        rgb_crop = padded
    rgb_crop = np.ascontiguousarray(rgb_crop[:side, :side])
    gray = cv2.cvtColor(rgb_crop, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, CANNY_LOW, CANNY_HIGH)
    out = np.empty((4, side, side), np.float32)
    out[:3] = rgb_crop.transpose(2, 0, 1) / np.float32(255.0)
    out[3] = edges / np.float32(255.0)
    return out


def normalise(value_px: float) -> float:
    return float(np.clip(value_px / PARAM_SCALE, 0.0, 1.0))


def crop_origins(length: int, side: int, count: int) -> list[int]:
    """``count`` crop starts spread evenly over an axis (one centred crop when it is short)."""
    if length <= side or count <= 1:
        return [max(0, (length - side) // 2)]
    return sorted({int(round(v)) for v in np.linspace(0, length - side, count)})


def busiest_windows(rgb: np.ndarray, side: int, count: int, steps: int = 3) -> list[tuple[int, int]]:
    """(x0, y0) of the ``count`` ``side`` windows with the most edges among a steps x steps layout.

    A window of flat background teaches the estimator nothing about the grid, and tells it
    nothing at inference either: real sprites often sit in a large empty canvas.
    """
    h, w = rgb.shape[:2]
    if h <= side and w <= side:
        return [(0, 0)]
    edges = cv2.Canny(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY), CANNY_LOW, CANNY_HIGH)
    integral = cv2.integral(edges.astype(np.float32) / 255.0)
    scored = []
    for y0 in crop_origins(h, side, steps):
        for x0 in crop_origins(w, side, steps):
            y1, x1 = min(h, y0 + side), min(w, x0 + side)
            total = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
            scored.append((-float(total), y0, x0))
    scored.sort()
    return [(x0, y0) for _, y0, x0 in scored[:count]]


def busiest_window(rgb: np.ndarray, side: int, steps: int = 3) -> tuple[int, int]:
    """(x0, y0) of the ``side`` window with the most edges among a steps x steps layout."""
    return busiest_windows(rgb, side, 1, steps)[0]


def local_offset(offset: float, cell: float, shift: float) -> float:
    """Phase of a grid with boundaries at offset + n*cell, seen from a crop starting at ``shift``."""
    return float((offset - shift) % cell) if cell > 0 else 0.0


def flipped_offset(offset: float, cell: float, side: int) -> float:
    """Phase after mirroring an axis of length ``side`` (a boundary at b moves to side - b)."""
    return float((side - offset) % cell) if cell > 0 else 0.0
