"""Writing synthetic cases to disk: ``<name>.png``, ``<name>_truth.png`` and ``truth.jsonl``.

Used by ``perfecter synth`` and to build the shipped samples in ``input/``.
"""

from __future__ import annotations

import json
from pathlib import Path

from .core.io import save_png, write_text_atomic
from .core.synth import SynthCase, make_case

TRUTH_JSONL = "truth.jsonl"


def truth_record(case: SynthCase, image_name: str, truth_name: str) -> dict[str, object]:
    """The JSON line describing one case's true grid."""
    cells_y, cells_x = case.truth.shape[:2]
    return {
        "image": image_name,
        "truth": truth_name,
        "tier": case.tier,
        "seed": case.seed,
        "width": int(case.image.shape[1]),
        "height": int(case.image.shape[0]),
        "cell_w": round(float(case.cell_w), 4),
        "cell_h": round(float(case.cell_h), 4),
        "offset_x": round(float(case.offset_x), 4),
        "offset_y": round(float(case.offset_y), 4),
        "cells": [int(cells_x), int(cells_y)],
        "cells_x": int(cells_x),
        "cells_y": int(cells_y),
        "has_alpha": bool(case.has_alpha),
        "drift_frac": round(float(case.degradation.drift_frac), 4),
        # The exact boundaries, for tiers whose lines drift off the uniform model.
        "xs": [round(float(v), 3) for v in case.xs],
        "ys": [round(float(v), 3) for v in case.ys],
    }


def read_truth(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def case_name(prefix: str, tier: str, seed: int) -> str:
    return f"{prefix}_{tier}_{seed:04d}"


def write_synth_case(out_dir: Path, truth_dir: Path, tier: str, seed: int, size: tuple[int, int] | None = None, prefix: str = "synth") -> dict[str, object]:
    """Write one case's fake image and truth sprite; return its truth record (not yet in the JSONL)."""
    case = make_case(seed, tier, size=size)
    name = case_name(prefix, tier, seed)
    image_name, truth_name = f"{name}.png", f"{name}_truth.png"
    save_png(out_dir / image_name, case.image, keep_alpha=case.has_alpha)
    save_png(truth_dir / truth_name, case.truth, keep_alpha=case.has_alpha)
    return truth_record(case, image_name, truth_name)


def merge_truth(truth_dir: Path, records: list[dict[str, object]]) -> Path:
    """Add ``records`` to ``truth.jsonl``, replacing older lines for the same images.

    Existing lines for other images are kept, so several runs into one folder accumulate.
    """
    jsonl = truth_dir / TRUTH_JSONL
    fresh = {str(r["image"]) for r in records}
    kept = [r for r in read_truth(jsonl) if str(r.get("image")) not in fresh]
    return write_text_atomic(jsonl, "".join(json.dumps(r) + "\n" for r in kept + records))


def animation_figure(path: Path, seed: int = 0, n_frames: int = 4, tile: int = 192) -> Path:
    """``docs/animation_before_after.png``: a synthetic "chunky" animation (art in 2x2-cell
    blocks scrolling one cell per frame, so a frame alone reads as cells twice as large).
    Rows: the fake frames in (scaled to ``tile`` px); each frame reconstructed alone; the joint
    reconstruction (one grid across frames); the truth.  Sprites are drawn at one scale (px per
    true cell, nearest-neighbour), so a sprite of the wrong size looks it; each row is labelled.
    """
    import numpy as np
    from PIL import Image, ImageDraw

    from .core.animation import reconstruct_animation
    from .core.pipeline import reconstruct
    from .core.synth import make_animation

    anim = make_animation(seed, "chunky", n_frames)
    joint = reconstruct_animation(anim.images, durations_ms=anim.durations_ms)
    alone = [reconstruct(img).sprite for img in anim.images]
    k = max(1, tile // max(anim.truths[0].shape[:2]))

    def size_of(sprites: list[np.ndarray | None]) -> str:
        return "/".join(dict.fromkeys(f"{s.shape[1]}x{s.shape[0]}" for s in sprites if s is not None))

    rows: list[tuple[str, list[np.ndarray | None], bool]] = [
        (f"fake frames in ({anim.images[0].shape[1]}x{anim.images[0].shape[0]} px)", list(anim.images), True),
        (f"each frame alone: {size_of(alone)} cells", alone, False),
        (f"joint grid: {size_of(list(joint.sprites))} cells", list(joint.sprites), False),
        (f"truth: {size_of(list(anim.truths))} cells", list(anim.truths), False),
    ]
    gap, label_h = 8, 18
    height = len(rows) * (tile + gap + label_h)
    canvas = Image.new("RGB", (n_frames * (tile + gap) - gap, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for r, (label, pictures, fit) in enumerate(rows):
        y0 = r * (tile + gap + label_h)
        draw.text((2, y0 + 2), label, fill=(0, 0, 0))
        for c, picture in enumerate(pictures):
            if picture is None:
                continue
            img = Image.fromarray(np.ascontiguousarray(picture)).convert("RGB")
            size = (tile, tile) if fit else (picture.shape[1] * k, picture.shape[0] * k)
            canvas.paste(img.resize(size, Image.Resampling.NEAREST), (c * (tile + gap), y0 + label_h))
    return save_png(path, np.asarray(canvas.convert("RGBA")), keep_alpha=False)


def forced_size_figure(path: Path, seed: int = 0, cells: int = 120, margin: int = 4, crop: int = 24, k: int = 12) -> Path:
    """``docs/forced_size_before_after.png``: ``synth.sized_case`` (1024 px, ``cells`` x ``cells``
    art inside a flat margin of ``margin`` cells, random phase, drift 0.2) with ``--size``.
    Left to right, the top-left ``crop`` x ``crop`` cells of: the input (scaled to the same
    size); the canvas split evenly into ``cells`` (what ``--size`` gave whenever its placed lines
    missed the count); ``--size`` now; the truth.  Nearest-neighbour, ``k`` px per cell."""
    import numpy as np
    from PIL import Image

    from .core import cells as cell_ops
    from .core.pipeline import reconstruct
    from .core.synth import sized_case
    from .core.types import Grid, ReconstructParams

    case, art = sized_case(seed, cells=cells, side=1024, margin=margin)
    side = case.image.shape[1]
    even_lines = np.round(np.linspace(0, side, cells + 1)).astype(np.int64)
    even = Grid(side / cells, side / cells, 0.0, 0.0, even_lines, even_lines, side, side)
    before = cell_ops.median_colors(cell_ops.cell_samples(case.image, even))
    after = reconstruct(case.image, ReconstructParams(target_cells=(cells, cells))).sprite
    assert after is not None
    source = case.image[: int(round(crop * side / cells)), : int(round(crop * side / cells))]
    tiles = [source, before[:crop, :crop], after[:crop, :crop], art[:crop, :crop]]
    size = crop * k
    gap = 8
    canvas = Image.new("RGB", (len(tiles) * (size + gap) - gap, size), (255, 255, 255))
    for i, tile in enumerate(tiles):
        img = Image.fromarray(np.ascontiguousarray(tile)).convert("RGB").resize((size, size), Image.Resampling.NEAREST)
        canvas.paste(img, (i * (size + gap), 0))
    return save_png(path, np.asarray(canvas.convert("RGBA")), keep_alpha=False)
