"""The feedback log: schema, atomic locked appends, tolerant reads."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pandas as pd
import pytest

from pixelperfecter import __version__
from pixelperfecter.core.feedback import (
    FEEDBACK_COLUMNS,
    SOURCE_ML,
    FeedbackEntry,
    append_feedback,
    make_entry,
    read_feedback,
)
from pixelperfecter.core.types import Metrics

METRICS = Metrics(cell_w=10.5, cell_h=10.25, offset_x=1.5, offset_y=0.0, cells_x=97, cells_y=98,
                  diff_pct=0.75, confidence=0.91, n_colors=12, seconds=0.1234)


def test_columns_cover_the_documented_schema() -> None:
    for name in ("timestamp", "image", "verdict", "source", "suggestion_rank", "overrides", "cell_w", "cell_h",
                 "offset_x", "offset_y", "cells_x", "cells_y", "diff_pct", "confidence", "notes", "app_version"):
        assert name in FEEDBACK_COLUMNS
        assert f"\n{name}" in __import__("pixelperfecter.core.feedback", fromlist=["x"]).__doc__.replace(" ", "\n")


def test_verdict_must_be_exact() -> None:
    with pytest.raises(ValueError):
        make_entry("a.png", "Correct")
    assert make_entry("a.png", "incorrect").verdict == "incorrect"


def test_round_trip_through_pandas_with_awkward_notes(tmp_path: Path) -> None:
    log = tmp_path / "notes" / "feedback_log.csv"
    notes = 'cells, "quoted" here\nsecond line, naïve ✓ 日本語\r\nthird'
    entry = make_entry("in put/a,b.png", "correct", {"cell_w": 10.5, "snap_lines": False}, METRICS, notes)
    append_feedback(log, [entry])
    append_feedback(log, [make_entry("b.png", "incorrect", None, None, "", source=SOURCE_ML, suggestion_rank=2)])
    frame = pd.read_csv(log, keep_default_na=False)
    assert list(frame.columns) == FEEDBACK_COLUMNS
    assert len(frame) == 2
    first = frame.iloc[0]
    assert first["notes"] == notes
    assert first["image"] == "in put/a,b.png"
    assert first["verdict"] == "correct"
    assert json.loads(first["overrides"]) == {"cell_w": 10.5, "snap_lines": False}
    assert (float(first["cell_w"]), int(first["cells_x"]), int(first["cells_y"])) == (10.5, 97, 98)
    assert first["app_version"] == __version__
    second = frame.iloc[1]
    assert (second["source"], int(second["suggestion_rank"]), second["cell_w"]) == (SOURCE_ML, 2, "")
    back = read_feedback(log)
    assert back.warnings == []
    assert back.entries[0] == entry


def _append_many(path: str, tag: str, count: int) -> None:
    for i in range(count):
        append_feedback(Path(path), [make_entry(f"{tag}-{i}.png", "correct", {"i": i}, METRICS, f"{tag} row {i}, with comma\nand newline")])


def test_two_processes_appending_at_once_keep_every_row_intact(tmp_path: Path) -> None:
    log = tmp_path / "feedback_log.csv"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(log), tag, 50)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    frame = pd.read_csv(log, keep_default_na=False)
    assert len(frame) == 100
    assert sorted(frame["image"]) == sorted([f"{t}-{i}.png" for t in "ab" for i in range(50)])
    assert all(n.endswith("with comma\nand newline") for n in frame["notes"])
    result = read_feedback(log)
    assert len(result.entries) == 100 and result.warnings == []
    assert log.read_text().count("timestamp,image,verdict") == 1


def test_corrupt_log_warns_and_is_never_truncated(tmp_path: Path) -> None:
    log = tmp_path / "feedback_log.csv"
    append_feedback(log, [make_entry("good1.png", "correct", None, METRICS)])
    with open(log, "ab") as fh:
        fh.write(b"this is not, a valid row\n\xff\xfe garbage bytes \x00\n")
        fh.write(b"2026-01-01,x.png,maybe" + b"," * (len(FEEDBACK_COLUMNS) - 3) + b"\n")
        fh.write(b"hand edited last line without newline")
    before = log.read_bytes()
    append_feedback(log, [make_entry("good2.png", "incorrect", None, METRICS, "after the garbage")])
    after = log.read_bytes()
    assert after.startswith(before)
    result = read_feedback(log)
    assert [e.image for e in result.entries] == ["good1.png", "good2.png"]
    assert result.entries[1].notes == "after the garbage"
    assert len(result.warnings) >= 3
    assert all(str(log) in w for w in result.warnings)


def test_missing_log_reads_empty(tmp_path: Path) -> None:
    result = read_feedback(tmp_path / "nope.csv")
    assert result.entries == [] and result.warnings == []


def test_older_schema_header_still_reads(tmp_path: Path) -> None:
    log = tmp_path / "old.csv"
    log.write_text("timestamp,image,verdict,notes\n2026-01-01T00:00:00+00:00,old.png,correct,hi\n")
    append_feedback(log, [make_entry("new.png", "correct")])
    result = read_feedback(log)
    assert [(e.image, e.notes) for e in result.entries] == [("old.png", "hi"), ("new.png", "")]
    assert result.warnings == []


def test_entry_dataclass_defaults() -> None:
    e = FeedbackEntry(timestamp="t", image="i", verdict="correct")
    assert e.to_row()["cell_w"] == "" and e.to_row()["source"] == "tui" and e.overrides_dict == {}


def test_a_lone_carriage_return_in_notes_keeps_the_log_whole(tmp_path):
    """Issue 9: a note with a lone "\\r" was written unquoted; every later append then added a
    header line (the reader saw a broken last header) and rows were lost."""
    import pandas as pd

    from pixelperfecter.core.feedback import FEEDBACK_COLUMNS, append_feedback, make_entry, read_feedback

    log = tmp_path / "feedback_log.csv"
    notes = ["cr\ronly", "crlf\r\nmix", "plain", "trailing\r"]
    for i in range(40):
        append_feedback(log, [make_entry(f"img{i}.png", "correct", notes=notes[i % len(notes)], app_version="t")])
    text = log.read_text(encoding="utf-8")
    header = ",".join(FEEDBACK_COLUMNS)
    assert text.count(header) == 1
    read = read_feedback(log)
    assert read.warnings == []
    assert [e.notes for e in read.entries] == [notes[i % len(notes)] for i in range(40)]
    frame = pd.read_csv(log, keep_default_na=False)
    assert len(frame) == 40 and list(frame["notes"][:4]) == notes
