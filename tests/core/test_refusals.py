"""Pixel art is never refused; photographs are refused or flagged."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixelperfecter.bench.negatives import photo_paths
from pixelperfecter.core import synth
from pixelperfecter.core.grid import detect_grid
from pixelperfecter.core.io import load_image
from pixelperfecter.core.pipeline import reconstruct
from pixelperfecter.core.types import Thresholds


@pytest.mark.parametrize("path", photo_paths(), ids=lambda p: p.name)
def test_real_photographs_are_refused_or_flagged(path: Path):
    loaded = load_image(path)
    result = reconstruct(loaded.rgba, has_alpha=loaded.has_alpha)
    if result.ok:
        assert "confidence" in result.metrics.flags(Thresholds()), (result.metrics.confidence, result.metrics.cell_w)
    else:
        assert result.error


def test_most_photographs_stay_refused_outright():
    # Flagging is the floor; a refusal is what a user wants for a photo.  14 of the 24 are
    # refused (bench seeds 210000, 220000); the smooth-upscale merges once made the retina's
    # JPEG blocks a 16-px "ramp" grid (flagged, no longer refused).
    paths = photo_paths()
    if len(paths) < 20:
        pytest.skip("scikit-image's photographs are not installed")
    refused = [p.name for p in paths if not reconstruct(load_image(p).rgba).ok]
    assert len(refused) >= 14 and "retina.jpg" in refused, refused


def test_skimage_ships_photographs():
    pytest.importorskip("skimage")
    assert len(photo_paths()) >= 15


@pytest.mark.parametrize("tier", synth.HARSH_TIERS)
@pytest.mark.parametrize("seed", [500, 501, 502])
def test_harsh_pixel_art_is_never_refused(tier: str, seed: int):
    case = synth.make_case(seed, tier)
    result = reconstruct(case.image, has_alpha=case.has_alpha)
    assert result.ok, result.error


def test_small_cells_under_a_large_periodic_pattern_are_not_refused() -> None:
    # 5.7-px cells whose art repeats every ~52 px: both axes first read 52.6 px, whose cells
    # are smooth, and the image was refused as a photo (small tier seed 40023).
    case = synth.make_case(40023, "small")
    det = detect_grid(case.image)
    assert det.grid is not None, det.reason
    assert abs(det.grid.cell_w / case.cell_w - 1) < 0.01 and abs(det.grid.cell_h / case.cell_h - 1) < 0.01


def test_big_cells_read_too_fine_under_streaks_and_jpeg_get_a_coarser_reading() -> None:
    # 63.6 x 61.1-px cells under vertical streaks and JPEG first read 5.3 x 8.0 px (streaks, the
    # block grid), whose cells are smooth: it was refused as a photo (big, ml evaluate seed
    # 10080046).  The y axis refits at 60.2 px without the block lines; square cells from it
    # are blocky, and the art is restored, with a low-confidence flag.
    case = synth.make_case(10_080_046, "big")
    result = reconstruct(case.image, has_alpha=case.has_alpha)
    assert result.ok, result.error
    assert abs(result.metrics.cell_w / case.cell_w - 1) < 0.06 and abs(result.metrics.cell_h / case.cell_h - 1) < 0.02
    assert synth.score_restoration(result.sprite, case.truth).restored
    assert any("coarser cells" in w for w in result.warnings)
