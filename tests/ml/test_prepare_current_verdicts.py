"""``prepare`` learns from the verdict in effect, not from rows a later verdict replaced."""

from __future__ import annotations

from pixelperfecter_ml.dataset import read_feedback_labels

from .conftest import write_feedback


def test_prepare_uses_only_the_current_verdicts(tmp_path, real_images):  # type: ignore[no-untyped-def]
    log = tmp_path / "feedback_log.csv"
    a, b = str(real_images[0]), str(real_images[1])
    write_feedback(log, [
        {"image": a, "verdict": "correct", "cell_w": "8", "cell_h": "8", "source": "tui", "entry_id": "r1"},
        # `x` after `c` on the same grid: the positive is withdrawn (a tui "incorrect" teaches nothing)
        {"image": a, "verdict": "incorrect", "cell_w": "8", "cell_h": "8", "source": "tui", "entry_id": "r2", "supersedes": "r1"},
        {"image": b, "verdict": "correct", "cell_w": "10", "cell_h": "10", "source": "tui", "entry_id": "r3"},
        # notes edited after the verdict: one positive, not two
        {"image": b, "verdict": "correct", "cell_w": "10", "cell_h": "10", "source": "tui", "entry_id": "r4", "supersedes": "r3", "notes": "ok"},
        {"image": b, "verdict": "incorrect", "cell_w": "5", "cell_h": "5", "source": "ml-suggestion", "entry_id": "r5"},
    ])
    labels, _ = read_feedback_labels(log)
    assert sorted((str(lab.image), lab.label, lab.grid[0]) for lab in labels) == sorted([(b, "positive", 10.0), (b, "negative", 5.0)])
