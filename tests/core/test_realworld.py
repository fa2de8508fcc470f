"""Real AI-generated pixel art with hand-checked labels (../shared/realworld)."""

from __future__ import annotations

import pytest

from pixelperfecter.core.pipeline import reconstruct_file

pytestmark = pytest.mark.realworld


def _within(found: float, label: float) -> bool:
    return abs(found - label) / label <= 0.01


def test_high_confidence_labels_are_found_within_one_percent(realworld_dir, realworld_labels):
    high = [r for r in realworld_labels if r["kind"] == "single-grid" and r["confidence"] == "high"]
    assert high, "labels.jsonl has no high-confidence single-grid images"
    wrong = []
    for label in high:
        result = reconstruct_file(realworld_dir / label["file"])
        g = result.grid
        if g is None or not (_within(g.cell_w, label["cell_w"]) and _within(g.cell_h, label["cell_h"])):
            wrong.append((label["file"], None if g is None else (round(g.cell_w, 2), round(g.cell_h, 2))))
    share = 1 - len(wrong) / len(high)
    assert share >= 0.95, wrong


def test_reconstructions_of_real_images_fit_their_input(realworld_dir, realworld_labels):
    for label in realworld_labels:
        if label["confidence"] != "high":
            continue
        result = reconstruct_file(realworld_dir / label["file"])
        assert result.ok
        assert result.metrics.diff_pct < 2.0, label["file"]
        assert abs(result.metrics.cells_x - label["cells_x"]) <= 1
        assert abs(result.metrics.cells_y - label["cells_y"]) <= 1
