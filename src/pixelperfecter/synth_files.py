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
