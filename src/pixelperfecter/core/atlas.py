"""Sheets of sprites and their JSON in Aseprite's sheet layout (``json-hash``).

Game engines and texture packers (Phaser, Godot importers, TexturePacker, LibGDX readers) read
Aseprite's ``--format json-hash`` export: ``frames`` maps a frame name to its ``frame`` rectangle
in the sheet (plus ``duration`` in ms for animations) and ``meta`` names the sheet image and size.
A sprite sheet's regions and an animation's frames are both written through this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Aseprite writes 100 ms when a frame has no duration of its own.
DEFAULT_DURATION_MS = 100


@dataclass(frozen=True)
class AtlasFrame:
    """One sprite's rectangle in a sheet, in output pixels."""

    name: str
    x: int
    y: int
    w: int
    h: int
    duration_ms: int = DEFAULT_DURATION_MS


def strip_positions(sprites: Sequence[np.ndarray], gap: int = 0) -> list[tuple[int, int]]:
    """Left-to-right positions (x, y) for sprites laid out in one row, ``gap`` px apart."""
    positions, x = [], 0
    for sprite in sprites:
        positions.append((x, 0))
        x += sprite.shape[1] + gap
    return positions


def compose(sprites: Sequence[np.ndarray], positions: Sequence[tuple[int, int]], size: tuple[int, int] | None = None) -> np.ndarray:
    """Paste RGBA sprites at their (x, y) on a transparent sheet of ``size`` (w, h), or the bounding size."""
    if len(sprites) != len(positions):
        raise ValueError(f"{len(sprites)} sprites but {len(positions)} positions")
    if size is None:
        w = max((x + s.shape[1] for s, (x, _) in zip(sprites, positions)), default=0)
        h = max((y + s.shape[0] for s, (_, y) in zip(sprites, positions)), default=0)
        size = (w, h)
    sheet = np.zeros((size[1], size[0], 4), np.uint8)
    for sprite, (x, y) in zip(sprites, positions):
        if x < 0 or y < 0 or x + sprite.shape[1] > size[0] or y + sprite.shape[0] > size[1]:
            raise ValueError(f"a {sprite.shape[1]}x{sprite.shape[0]} sprite at ({x}, {y}) does not fit a {size[0]}x{size[1]} sheet")
        sheet[y:y + sprite.shape[0], x:x + sprite.shape[1]] = sprite
    return sheet


def frames_for(sprites: Sequence[np.ndarray], positions: Sequence[tuple[int, int]], names: Sequence[str],
               durations_ms: Sequence[int] | None = None) -> list[AtlasFrame]:
    durations = list(durations_ms) if durations_ms is not None else [DEFAULT_DURATION_MS] * len(sprites)
    return [AtlasFrame(name, x, y, s.shape[1], s.shape[0], int(d))
            for s, (x, y), name, d in zip(sprites, positions, names, durations)]


def aseprite_json(frames: Sequence[AtlasFrame], image_name: str, size: tuple[int, int], app: str = "pixelperfecter") -> dict[str, object]:
    """The ``json-hash`` document for a sheet image ``image_name`` of ``size`` (w, h)."""
    names = [f.name for f in frames]
    if len(set(names)) != len(names):
        raise ValueError("frame names must be unique in a json-hash sheet")
    return {
        "frames": {
            f.name: {
                "frame": {"x": f.x, "y": f.y, "w": f.w, "h": f.h},
                "rotated": False,
                "trimmed": False,
                "spriteSourceSize": {"x": 0, "y": 0, "w": f.w, "h": f.h},
                "sourceSize": {"w": f.w, "h": f.h},
                "duration": f.duration_ms,
            }
            for f in frames
        },
        "meta": {
            "app": app,
            "version": "1",
            "image": image_name,
            "format": "RGBA8888",
            "size": {"w": size[0], "h": size[1]},
            "scale": "1",
            "frameTags": [],
            "layers": [],
            "slices": [],
        },
    }
