"""Measuring a reconstruction, and the metrics CSV that batch runs and the TUI append to."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from .locking import locked
from .render import DIFF_THRESHOLD
from .types import Metrics, Thresholds

METRICS_COLUMNS = [
    "image",
    "status",
    "cell_w",
    "cell_h",
    "offset_x",
    "offset_y",
    "cells_x",
    "cells_y",
    "diff_pct",
    "confidence",
    "n_colors",
    "seconds",
    "flags",
    "warnings",
    "error",
    "output",
]


def diff_pct_from_errors(errors: np.ndarray, threshold: int = DIFF_THRESHOLD) -> float:
    """% of sampled cell-core pixels farther than ``threshold`` (L-inf) from their cell's colour."""
    if errors.size == 0:
        return 0.0
    return float(np.count_nonzero(errors > threshold) / errors.size * 100.0)


def confidence_with_fit(grid_confidence: float, diff_pct: float) -> float:
    """Grid evidence discounted by how badly the cells fit their colours.

    On right grids (synthetic truth and hand-checked real images) diff_pct stays under ~0.2%;
    a grid 2-4x too coarse or on a painterly image leaves 0.3-2% of the core samples off, so
    the fit term falls fast there: exp(-diff_pct / 1%).
    """
    return float(np.clip(grid_confidence * np.exp(-diff_pct / 1.0), 0.0, 1.0))


def metrics_row(image: str, metrics: Metrics | None, thresholds: Thresholds, error: str | None = None, output: str = "") -> dict[str, object]:
    row: dict[str, object] = {c: "" for c in METRICS_COLUMNS}
    row["image"] = image
    row["status"] = "error" if error else "ok"
    row["error"] = error or ""
    row["output"] = output
    if metrics is not None:
        row.update(metrics.as_row())
        row["flags"] = " ".join(metrics.flags(thresholds))
    return row


def append_metrics(path: str | os.PathLike[str], rows: list[dict[str, object]]) -> Path:
    """Append rows to a metrics CSV, writing the header only when the file is new or empty.

    The whole batch is written with one ``write`` under an exclusive lock, so concurrent
    writers never interleave half rows.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with locked(target):
        new = not target.exists() or target.stat().st_size == 0
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRICS_COLUMNS, extrasaction="ignore", lineterminator="\n")
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow(row)
        with open(target, "a", encoding="utf-8", newline="") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
    return target
