"""Synthetic accuracy: seeded ``synth.make_case`` images scored against their truth and the oracle."""

from __future__ import annotations

from ..runner import one_line as _one_line
from .results import CaseResult
from .timing import _traced

# The looser colour tolerance the bench also reports (RGB L-inf), beside synth's 24.
LOOSE_TOLERANCE = 40


def evaluate_case(job: tuple[str, int, float]) -> CaseResult:
    """Generate, reconstruct and score one synthetic case (run in pool workers)."""
    from ..core import synth
    from ..core.pipeline import reconstruct

    tier, seed, tolerance = job
    case = synth.make_case(seed, tier)
    height, width = case.image.shape[:2]
    oracle_sprite = synth.oracle_sprite(case)
    oracle = synth.score_restoration(oracle_sprite, case.truth)
    base = dict(
        tier=tier, seed=seed, width=width, height=height, true_cell_w=case.cell_w, true_cell_h=case.cell_h,
        oracle_accuracy=oracle.accuracy, oracle_restored=oracle.restored, cell_tolerance=tolerance,
        oracle_restored_40=synth.score_restoration(oracle_sprite, case.truth, tolerance=LOOSE_TOLERANCE).restored,
    )
    try:
        result, peak_mb = _traced(lambda: reconstruct(case.image, has_alpha=case.has_alpha))
    except Exception as exc:  # a crash is a failed case, not a failed benchmark
        return CaseResult(**base, cell_w=None, cell_h=None, accuracy=0.0, restored=False, error=_one_line(exc))
    score = synth.score_restoration(result.sprite, case.truth)
    grid = result.grid
    return CaseResult(
        **base,
        cell_w=None if grid is None else grid.cell_w,
        cell_h=None if grid is None else grid.cell_h,
        accuracy=score.accuracy,
        restored=score.restored,
        restored_40=synth.score_restoration(result.sprite, case.truth, tolerance=LOOSE_TOLERANCE).restored,
        peak_mb=peak_mb,
        error=None if result.ok else (result.error or "no grid"),
    )


def sheet_restoration(seeds: range, per_sprite_grids: bool = True) -> tuple[int, int, int]:
    """(true sprites, restored with a grid per sprite, restored by the single grid) over the
    synthetic sheets of ``seeds`` (``synth.make_sheet_case``): each true sprite is scored against
    the region that overlaps it most, once as ``--sheet`` makes it and once as the single-grid
    sprite's cells in the same box (``sheet.single_grid_crop``)."""
    from ..core import sheet, synth
    from ..core.pipeline import reconstruct

    total = per_region = single = 0
    for seed in seeds:
        case = synth.make_sheet_case(seed, per_sprite_grids=per_sprite_grids)
        rec = reconstruct(case.image)
        result = sheet.reconstruct_sheet(rec)
        total += len(case.sprites)
        if result is None:
            continue
        boxes = [(r.box.x0, r.box.y0, r.box.x1, r.box.y1) for r in result.regions]
        per_region += sum(s.restored for s in synth.score_sheet(case, [(b, r.sprite) for b, r in zip(boxes, result.regions)]))
        single += sum(s.restored for s in synth.score_sheet(case, [(b, sheet.single_grid_crop(rec, r.box)) for b, r in zip(boxes, result.regions)]))
    return total, per_region, single
