"""Later verdicts supersede earlier ones: the ``entry_id``/``supersedes`` columns and ``current_verdicts``."""

from __future__ import annotations

import csv
from pathlib import Path

from pixelperfecter.core.feedback import (
    FEEDBACK_COLUMNS,
    append_feedback,
    current_verdicts,
    make_entry,
    read_feedback,
)


class M:
    def __init__(self, cell: float) -> None:
        self.cell_w = self.cell_h = cell
        self.offset_x = self.offset_y = 0.0
        self.diff_pct, self.confidence, self.seconds = 0.5, 0.9, 0.01
        self.cells_x = self.cells_y = 16
        self.n_colors = 8


def test_new_columns_are_at_the_end_and_every_entry_gets_an_id() -> None:
    assert FEEDBACK_COLUMNS[-2:] == ["entry_id", "supersedes"]
    a, b = make_entry("x.png", "correct"), make_entry("x.png", "correct")
    assert a.entry_id and b.entry_id and a.entry_id != b.entry_id and a.supersedes == ""


def test_a_contradicting_verdict_on_the_same_grid_replaces_the_first(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    first = make_entry("x.png", "correct", metrics=M(8))
    append_feedback(log, [first])
    append_feedback(log, [make_entry("x.png", "incorrect", metrics=M(8), supersedes=first.entry_id)])
    current = current_verdicts(log)
    assert [e.verdict for e in current.entries] == ["incorrect"] and [e.verdict for e in current.superseded] == ["correct"]
    assert current.verdict("x.png") == "incorrect" and current.verdict("y.png") is None


def test_verdicts_on_other_grids_stay_but_only_one_correct_per_image(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    append_feedback(log, [
        make_entry("x.png", "incorrect", metrics=M(5), source="ml-suggestion", suggestion_rank=2),
        make_entry("x.png", "correct", metrics=M(8)),
        make_entry("x.png", "correct", metrics=M(16)),
        make_entry("y.png", "correct", metrics=M(4)),
    ])
    current = current_verdicts(log)
    assert [(e.image, e.verdict, e.cell_w) for e in current.entries] == [
        ("x.png", "incorrect", 5.0), ("x.png", "correct", 16.0), ("y.png", "correct", 4.0)]
    assert {k: v.cell_w for k, v in current.by_image.items()} == {"x.png": 16.0, "y.png": 4.0}


def test_an_explicitly_superseded_row_never_counts_even_if_it_comes_later(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    old = make_entry("x.png", "correct", metrics=M(8))
    new = make_entry("x.png", "incorrect", metrics=M(9), supersedes=old.entry_id)
    append_feedback(log, [new, old])  # concatenated out of order
    assert [e.entry_id for e in current_verdicts(log).entries] == [new.entry_id]


def test_a_log_written_before_the_new_columns_reads_with_the_same_rule(tmp_path: Path) -> None:
    log = tmp_path / "old.csv"
    columns = FEEDBACK_COLUMNS[:-2]
    with open(log, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for n, verdict in enumerate(("correct", "incorrect")):
            writer.writerow({c: "" for c in columns} | {"timestamp": f"2026-01-01T00:00:0{n}+00:00", "image": "x.png",
                                                         "verdict": verdict, "overrides": "{}", "cell_w": "8", "cell_h": "8",
                                                         "offset_x": "0", "offset_y": "0"})
    assert len(read_feedback(log).entries) == 2 and read_feedback(log).warnings == []
    assert [e.verdict for e in current_verdicts(log).entries] == ["incorrect"]
    append_feedback(log, [make_entry("x.png", "correct", metrics=M(8))])  # new header, rows keep reading
    assert [e.verdict for e in current_verdicts(log).entries] == ["correct"]


def test_appending_leaves_no_lock_file_beside_the_log(tmp_path: Path) -> None:
    log = tmp_path / "notes" / "feedback_log.csv"
    append_feedback(log, [make_entry("x.png", "correct")])
    assert sorted(p.name for p in log.parent.iterdir()) == ["feedback_log.csv"]
