"""Fixed, hand-drawn sprites and a stand-in for the core's ``reconstruct``, for snapshots.

Snapshots must not freeze the core's detection (other work changes it): the images are these
known sprites at a known cell size, and ``fake_reconstruct`` returns the known grid (or the
forced one) with the sprite sampled at cell centres.  What the snapshots check is the TUI.
"""

from __future__ import annotations

import numpy as np

from pixelperfecter.core.types import Grid, GridDetection, Metrics, Reconstruction, ReconstructParams

KNOWN_CELL = 8
PALETTE = {
    ".": (34, 32, 52), "k": (20, 12, 28), "r": (215, 40, 60), "R": (250, 120, 130), "w": (240, 240, 232),
    "g": (60, 170, 90), "G": (140, 220, 120), "b": (50, 90, 200), "B": (120, 170, 240), "y": (240, 200, 60),
    "s": (150, 150, 165), "S": (205, 205, 215), "o": (120, 70, 40),
}
SPRITES = {
    "a_heart": [
        "............",
        "..kk....kk..",
        ".krRk..kRrk.",
        "krRRrkkrrrrk",
        "krRrrrrrrrrk",
        ".krrrrrrrrk.",
        "..krrrrrrk..",
        "...krrrrk...",
        "....krrk....",
        ".....kk.....",
    ],
    "b_potion": [
        ".....kk.....",
        "....kook....",
        "....kwwk....",
        "...kwBBwk...",
        "..kbBBBBbk..",
        ".kbbBBBbbbk.",
        ".kbbbbbbbbk.",
        ".kbbbbbbbbk.",
        "..kbbbbbbk..",
        "...kkkkkk...",
    ],
    "c_shield": [
        ".kkkkkkkkkk.",
        "kSSSSyySSSSk",
        "ksSSSyySSSsk",
        "ksSggyyggSsk",
        "ksSgGyyGgSsk",
        ".ksSgyygSsk.",
        ".ksSSyySSsk.",
        "..ksSyySsk..",
        "...kssssk...",
        "....kkkk....",
    ],
}


def sprite(name: str) -> np.ndarray:
    rows = SPRITES[name]
    out = np.zeros((len(rows), len(rows[0]), 4), np.uint8)
    for y, row in enumerate(rows):
        for x, ch in enumerate(row):
            out[y, x, :3] = PALETTE[ch]
    out[..., 3] = 255
    return out


def image(name: str, cell: int = KNOWN_CELL) -> np.ndarray:
    return np.repeat(np.repeat(sprite(name), cell, axis=0), cell, axis=1)


def _lines(length: int, cell: float, offset: float) -> np.ndarray:
    first = offset % cell
    inner = np.arange(first, length, cell)
    lines = np.unique(np.concatenate([[0], np.round(inner[inner > 0.5]).astype(np.int64), [length]]))
    return lines[lines <= length]


def fake_reconstruct(rgba: np.ndarray, params: ReconstructParams | None = None, has_alpha: bool | None = None,
                     source=None, thresholds=None, profiles=None) -> Reconstruction:  # type: ignore[no-untyped-def]
    params = params or ReconstructParams()
    h, w = rgba.shape[:2]
    cell_w = params.forced_cell_w or float(KNOWN_CELL)
    cell_h = params.forced_cell_h or float(KNOWN_CELL)
    offset_x = params.offset_x or 0.0
    offset_y = params.offset_y or 0.0
    xs, ys = _lines(w, cell_w, offset_x), _lines(h, cell_h, offset_y)
    grid = Grid(cell_w, cell_h, offset_x, offset_y, xs, ys, w, h)
    cy = ((ys[:-1] + ys[1:]) // 2).clip(0, h - 1)
    cx = ((xs[:-1] + xs[1:]) // 2).clip(0, w - 1)
    sprite_out = rgba[cy[:, None], cx[None, :]].copy()
    rows = np.searchsorted(ys, np.arange(h), side="right") - 1
    cols = np.searchsorted(xs, np.arange(w), side="right") - 1
    back = sprite_out[rows[:, None], cols[None, :]]
    err = np.abs(rgba[..., :3].astype(np.int16) - back[..., :3]).max(axis=2).astype(np.float64)
    cell_error = np.zeros((len(ys) - 1, len(xs) - 1))
    np.add.at(cell_error, (rows[:, None].repeat(w, 1), cols[None, :].repeat(h, 0)), err)
    counts = np.zeros_like(cell_error)
    np.add.at(counts, (rows[:, None].repeat(w, 1), cols[None, :].repeat(h, 0)), 1)
    cell_error = cell_error / np.maximum(counts, 1)
    exact = cell_w == KNOWN_CELL and cell_h == KNOWN_CELL and offset_x == 0 and offset_y == 0
    metrics = Metrics(cell_w=cell_w, cell_h=cell_h, offset_x=offset_x, offset_y=offset_y, cells_x=len(xs) - 1,
                      cells_y=len(ys) - 1, diff_pct=round(float((err > 48).mean() * 100), 2),
                      confidence=0.95 if exact else 0.4,
                      n_colors=int(len(np.unique(sprite_out.reshape(-1, 4), axis=0))), seconds=0.0)
    return Reconstruction(image=rgba, params=params, detection=GridDetection(grid, metrics.confidence), sprite=sprite_out,
                          cell_error=cell_error, metrics=metrics, has_alpha=bool(has_alpha), source=source)
