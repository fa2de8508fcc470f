"""The feedback log: human (and ML-suggestion) verdicts on reconstructions, one CSV row each.

The TUI appends a row whenever the user marks an attempt ``correct`` or ``incorrect``; the ML
track reads the log to learn from it (rows with verdict ``correct`` are positives).  The schema
is defined here once; ``FEEDBACK_COLUMNS`` is the column order of the CSV file
(``notes/feedback_log.csv`` by default).

=================  =========  ===========================================================
column             type       meaning
=================  =========  ===========================================================
timestamp          str        when the verdict was given, ISO 8601 UTC (``2026-11-25T19:00:00+00:00``)
image              str        path of the input image, as the user opened it
verdict            str        exactly ``correct`` or ``incorrect``
source             str        who proposed the grid: ``tui`` (detection or manual overrides),
                              ``ml-suggestion`` (an ML candidate the user accepted/rejected)
suggestion_rank    int|empty  1-based rank of the ML suggestion (empty unless source is ML)
overrides          JSON       the ``ReconstructParams`` fields that differ from the defaults,
                              e.g. ``{"cell_w": 10.5, "snap_lines": false}`` (``{}`` = auto)
cell_w, cell_h     float      the grid used: cell pitch in pixels
offset_x, offset_y float      the grid used: phase of the first boundary, pixels
cells_x, cells_y   int        the grid used: cells across and down
diff_pct           float      % of cell-core pixels that disagree with the reconstruction
confidence         float      0..1, the pipeline's confidence in the grid
n_colors           int        colours in the reconstructed sprite
seconds            float      reconstruction time
notes              str        free text (commas, quotes, newlines and unicode are fine)
app_version        str        ``pixelperfecter.__version__`` that wrote the row
entry_id           str        a unique id for this row (empty in logs written before it existed)
supersedes         str        the ``entry_id`` of the earlier verdict on the same image that this
                              row replaces (a changed verdict, or the same one with new notes)
=================  =========  ===========================================================

The log is append-only, so a verdict is never edited in place: a later row for the same image
supersedes the earlier ones.  ``current_verdicts`` returns the verdict in effect per image (the
last row for it that no other row supersedes); use it, not ``read_feedback``, to learn from the log.

Grid and metric columns are empty when the attempt found no grid.

Writes are appends of whole rows under an exclusive lock with a single ``write`` call, so two
TUIs logging at once never interleave.  The file is never rewritten or truncated: a corrupt or
hand-edited log only produces warnings when read (``read_feedback``), and appends keep working.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import uuid
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from .locking import locked

VERDICTS = ("correct", "incorrect")
SOURCE_TUI = "tui"
SOURCE_ML = "ml-suggestion"
DEFAULT_FEEDBACK_LOG = Path("notes") / "feedback_log.csv"


@dataclass(frozen=True)
class FeedbackEntry:
    """One row of the feedback log (see the module docstring for the column meanings)."""

    timestamp: str
    image: str
    verdict: str
    source: str = SOURCE_TUI
    suggestion_rank: int | None = None
    overrides: str = "{}"
    cell_w: float | None = None
    cell_h: float | None = None
    offset_x: float | None = None
    offset_y: float | None = None
    cells_x: int | None = None
    cells_y: int | None = None
    diff_pct: float | None = None
    confidence: float | None = None
    n_colors: int | None = None
    seconds: float | None = None
    notes: str = ""
    app_version: str = ""
    # New columns go at the end, so older logs (and their headers) still read.
    entry_id: str = ""
    supersedes: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    @property
    def overrides_dict(self) -> dict[str, object]:
        value = json.loads(self.overrides or "{}")
        return value if isinstance(value, dict) else {}

    def to_row(self) -> dict[str, str]:
        return {name: _format(value) for name, value in asdict(self).items()}


FEEDBACK_COLUMNS: list[str] = [f.name for f in fields(FeedbackEntry)]
_INT_COLUMNS = {"suggestion_rank", "cells_x", "cells_y", "n_colors"}
_FLOAT_COLUMNS = {"cell_w", "cell_h", "offset_x", "offset_y", "diff_pct", "confidence", "seconds"}


def new_entry_id() -> str:
    return uuid.uuid4().hex[:16]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def make_entry(
    image: str | os.PathLike[str],
    verdict: str,
    overrides: dict[str, object] | None = None,
    metrics: object | None = None,
    notes: str = "",
    source: str = SOURCE_TUI,
    suggestion_rank: int | None = None,
    app_version: str | None = None,
    timestamp: str | None = None,
    entry_id: str | None = None,
    supersedes: str | None = None,
) -> FeedbackEntry:
    """Build an entry from a ``Metrics`` (or anything with the same attributes, or None)."""
    if app_version is None:
        from .. import __version__ as app_version
    grid: dict[str, object] = {}
    if metrics is not None:
        for name in ("cell_w", "cell_h", "offset_x", "offset_y", "diff_pct", "confidence", "seconds"):
            grid[name] = round(float(getattr(metrics, name)), 4)
        for name in ("cells_x", "cells_y", "n_colors"):
            grid[name] = int(getattr(metrics, name))
    return FeedbackEntry(
        timestamp=timestamp or now_iso(),
        image=str(image),
        verdict=verdict,
        source=source,
        suggestion_rank=suggestion_rank,
        overrides=json.dumps(overrides or {}, sort_keys=True),
        notes=notes,
        app_version=str(app_version),
        entry_id=entry_id or new_entry_id(),
        supersedes=supersedes or "",
        **grid,  # type: ignore[arg-type]
    )


def _format(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


def _header_line() -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(FEEDBACK_COLUMNS)
    return buf.getvalue()


def _current_header(text: str) -> list[str] | None:
    """The last header row in effect at the end of an existing log (None if there is none)."""
    header: list[str] | None = None
    try:
        for row in csv.reader(io.StringIO(text)):
            if row and row[0] == "timestamp" and "verdict" in row:
                header = row
    except csv.Error:
        return None
    return header


def append_feedback(path: str | os.PathLike[str], entries: list[FeedbackEntry]) -> Path:
    """Append entries to the log under an exclusive lock, with one ``write`` call.

    Writes the header when the file is new, empty, or its last header differs from the
    current schema (a hand-edited or older file): the reader honours the last header it saw.
    Never rewrites existing bytes; if the file does not end with a newline, one is added first
    so a hand-edited last line cannot swallow the new row.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with locked(target):
        existing = target.read_bytes() if target.exists() else b""
        buf = io.StringIO()
        if existing and not existing.endswith(b"\n"):
            buf.write("\n")
        if _current_header(existing.decode("utf-8", errors="replace")) != FEEDBACK_COLUMNS:
            buf.write(_header_line())
        for entry in entries:
            row = entry.to_row()
            # csv quotes "\n" but not a lone "\r", which readers take for a line end: quote it all.
            quoting: Literal[0, 1] = csv.QUOTE_ALL if any("\r" in v for v in row.values()) else csv.QUOTE_MINIMAL
            csv.DictWriter(buf, fieldnames=FEEDBACK_COLUMNS, lineterminator="\n", quoting=quoting).writerow(row)
        with open(target, "a", encoding="utf-8", newline="") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
    return target


@dataclass
class FeedbackLog:
    """What ``read_feedback`` could use, and one warning per row it could not."""

    entries: list[FeedbackEntry]
    warnings: list[str]


def _parse(record: dict[str, str]) -> FeedbackEntry:
    values: dict[str, object] = {}
    for name in FEEDBACK_COLUMNS:
        raw = record.get(name, "")
        raw = "" if raw is None else raw
        if name in _INT_COLUMNS:
            values[name] = int(float(raw)) if raw.strip() else None
        elif name in _FLOAT_COLUMNS:
            values[name] = float(raw) if raw.strip() else None
        else:
            values[name] = raw
    if not values["timestamp"] or not values["image"]:
        raise ValueError("missing timestamp or image")
    json.loads(str(values["overrides"]) or "{}")
    return FeedbackEntry(**values)  # type: ignore[arg-type]


def read_feedback(path: str | os.PathLike[str]) -> FeedbackLog:
    """Every valid row of the log; bad rows become warnings (never an exception).

    A missing file is an empty log.  Rows are matched to the last header seen before them
    (so an older schema still reads); before any header the current column order is assumed.
    """
    target = Path(path)
    if not target.exists():
        return FeedbackLog([], [])
    text = target.read_bytes().decode("utf-8", errors="replace")
    entries: list[FeedbackEntry] = []
    warnings: list[str] = []
    header = FEEDBACK_COLUMNS
    reader = csv.reader(io.StringIO(text.replace("\x00", "")))
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            warnings.append(f"{target}: line {line}: unreadable CSV ({exc})")
            continue
        if not row or all(not cell.strip() for cell in row):
            continue
        if row[0] == "timestamp" and "verdict" in row:
            header = row
            continue
        if len(row) != len(header):
            warnings.append(f"{target}: line {line}: expected {len(header)} fields, found {len(row)}; row skipped")
            continue
        try:
            entries.append(_parse(dict(zip(header, row))))
        except (ValueError, TypeError) as exc:
            warnings.append(f"{target}: line {line}: {exc}; row skipped")
    return FeedbackLog(entries, warnings)


def attempt_key(entry: FeedbackEntry) -> tuple[object, ...]:
    """What a verdict is about: the image and the grid (overrides and the grid actually used)."""
    grid = tuple(None if v is None else round(float(v), 3) for v in (entry.cell_w, entry.cell_h, entry.offset_x, entry.offset_y))
    try:
        overrides = json.dumps(entry.overrides_dict, sort_keys=True)
    except ValueError:
        overrides = entry.overrides
    return (entry.image, overrides, *grid)


def supersedes(later: FeedbackEntry, earlier: FeedbackEntry) -> bool:
    """Whether ``later`` (a row after ``earlier`` in the log) replaces ``earlier``.

    Explicitly (``later.supersedes`` names it), or by the rule the TUI follows when it writes
    that column: a verdict on the same image and grid replaces the earlier one (a changed mind,
    or the same verdict with edited notes), and a ``correct`` replaces every earlier ``correct``
    for the image (an image has one right grid).  The rule also applies to logs written before
    ``supersedes`` existed.
    """
    if earlier.entry_id and later.supersedes and later.supersedes == earlier.entry_id:
        return True
    if later.image != earlier.image:
        return False
    if later.verdict == "correct" and earlier.verdict == "correct":
        return True
    return attempt_key(later) == attempt_key(earlier)


@dataclass
class CurrentVerdicts:
    """The verdicts still in effect (``current_verdicts``), and the reader's warnings."""

    entries: list[FeedbackEntry]  # rows no later row supersedes, in log order
    superseded: list[FeedbackEntry]  # rows some later row replaced
    warnings: list[str]

    @property
    def by_image(self) -> dict[str, FeedbackEntry]:
        """The current verdict per image: its latest row still in effect."""
        out: dict[str, FeedbackEntry] = {}
        for entry in self.entries:
            out.pop(entry.image, None)
            out[entry.image] = entry
        return out

    def verdict(self, image: str | os.PathLike[str]) -> str | None:
        entry = self.by_image.get(str(image))
        return None if entry is None else entry.verdict


def current_verdicts(path: str | os.PathLike[str]) -> CurrentVerdicts:
    """The rows of the log still in effect: each one that no later row supersedes (``supersedes``).

    ``x`` after ``c`` on the same attempt leaves only the ``incorrect``; notes edited after a
    verdict leave only the row with the new notes; rejected ML suggestions on other grids stay.
    A row whose ``entry_id`` another row names in ``supersedes`` never counts, wherever it is.
    """
    log = read_feedback(path)
    named = {e.supersedes for e in log.entries if e.supersedes}
    current: list[FeedbackEntry] = []
    replaced: list[FeedbackEntry] = []
    for entry in log.entries:
        if entry.entry_id and entry.entry_id in named:
            replaced.append(entry)
            continue
        kept: list[FeedbackEntry] = []
        for earlier in current:
            (replaced if supersedes(entry, earlier) else kept).append(earlier)
        current = kept + [entry]
    return CurrentVerdicts(current, replaced, log.warnings)
