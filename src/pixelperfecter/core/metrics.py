"""Measuring a reconstruction, and the metrics CSV that batch runs and the TUI append to."""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import stat
from pathlib import Path
from typing import Literal

import numpy as np

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: appends are still whole writes
    fcntl = None  # type: ignore[assignment]
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
    "palette",
    "palette_error",
    "background",
    "transparent_cells",
    # Sprite regions found with --sheet (empty without it).
    "regions",
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


def printable_path(path: str | os.PathLike[str]) -> str:
    """A path as valid UTF-8 text: bytes that are not UTF-8 (a Latin-1 name on Linux) as ``\\xff``.

    Python keeps such bytes as lone surrogates in ``str``; any UTF-8 writer (the CSV, the
    terminal, JSON readers) fails on them, so every name shown or recorded goes through here.
    """
    text = os.fspath(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def metrics_row(image: str, metrics: Metrics | None, thresholds: Thresholds, error: str | None = None, output: str = "",
                regions: int | None = None) -> dict[str, object]:
    row: dict[str, object] = {c: "" for c in METRICS_COLUMNS}
    if regions is not None:
        row["regions"] = regions
    row["image"] = printable_path(image)
    row["status"] = "error" if error else "ok"
    row["error"] = error or ""
    row["output"] = printable_path(output)
    if metrics is not None:
        row.update(metrics.as_row())
        row["flags"] = " ".join(metrics.flags(thresholds))
        row["warnings"] = printable_path(str(row.get("warnings", "")))
    return row


def csv_rows_text(rows: list[dict[str, object]], columns: list[str], header: bool = False) -> str:
    """CSV text of ``rows`` (``\\n`` line ends) that any CSV reader splits back into the same rows.

    With ``\\n`` as line terminator, ``csv`` quotes fields holding ``\\n`` but not a lone ``\\r``,
    which readers take as a line end: such a row is written fully quoted instead.
    """
    buf = io.StringIO()
    if header:
        csv.writer(buf, lineterminator="\n").writerow(columns)
    for row in rows:
        quoting: Literal[0, 1] = csv.QUOTE_ALL if any("\r" in str(v) for v in row.values()) else csv.QUOTE_MINIMAL
        csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n", quoting=quoting).writerow(row)
    return buf.getvalue()


class MetricsWriteError(OSError):
    """The metrics CSV cannot be appended to (full disk, read-only, ...); nothing was written."""


def append_metrics(path: str | os.PathLike[str], rows: list[dict[str, object]]) -> list[str]:
    """Append whole rows to a metrics CSV (header when the file is new or empty); return warnings.

    Never leaves a torn row: the rows go out in one ``write`` on an ``O_APPEND`` descriptor held
    under an exclusive ``flock`` of the CSV itself (no lock file left beside it), and a short or
    failed write (a full disk) is cut back to the old length before ``MetricsWriteError`` is
    raised.  A torn last line left by an older version or a crash (no final newline) is cut off
    first, with a warning, so the new row never glues onto it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    warnings: list[str] = []
    try:
        fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as exc:
        raise MetricsWriteError(exc.errno, f"cannot open for appending ({exc.strerror or exc})", str(target)) from None
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        is_regular = stat.S_ISREG(os.fstat(fd).st_mode)
        if is_regular and size > 0:
            size = _cut_torn_tail(fd, size, target, warnings)
        data = csv_rows_text(rows, METRICS_COLUMNS, header=size == 0).encode("utf-8")
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, "short write (disk full?)")
            os.fsync(fd)
        except OSError as exc:
            if is_regular:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
            raise MetricsWriteError(exc.errno, f"cannot append metrics ({exc.strerror or exc})", str(target)) from None
    finally:
        os.close(fd)  # also releases the flock
    return warnings


def _cut_torn_tail(fd: int, size: int, target: Path, warnings: list[str]) -> int:
    """Drop a last line without its newline (a torn row); return the new size."""
    tail_start = max(0, size - 65536)
    tail = os.pread(fd, size - tail_start, tail_start)
    if tail.endswith(b"\n"):
        return size
    cut = tail.rfind(b"\n")
    if cut < 0 and tail_start > 0:
        # A single torn line longer than 64 KiB: find its start the slow way.
        whole = os.pread(fd, size, 0)
        cut, tail_start = whole.rfind(b"\n"), 0
    new_size = tail_start + cut + 1 if cut >= 0 else 0
    os.ftruncate(fd, new_size)
    warnings.append(f"{printable_path(target)}: removed a torn last row ({size - new_size} bytes without a line end)")
    return new_size
