"""Per-case results, summaries, targets and checks of ``perfecter bench`` (pure: no pipeline).

The summary math is pure functions so it can be tested on hand-made results without running
the pipeline.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from typing import Sequence

from .negatives import PhotoResult

PEAK_MEMORY_METHOD = "tracemalloc peak of one reconstruct call (Python+NumPy allocations, not OpenCV's)"
TIMING_METHOD = "reconstruct() only, one spawned process pinned to one CPU, 1 thread (BLAS/OpenMP env=1, cv2.setNumThreads(1))"

UNAMBIGUOUS = "single-grid/high"
OTHER = "other"


# --------------------------------------------------------------------------- targets


def _default_restore_targets() -> dict[str, float]:
    return {"clean": 99.0, "fractional": 99.0, "ai": 98.0, "drift": 95.0, "small": 95.0, "big": 95.0, "sheet": 95.0, "smooth": 95.0}


@dataclass(frozen=True)
class Targets:
    """What the benchmark asks of the pipeline (percentages in 0..100)."""

    restored_pct: dict[str, float] = field(default_factory=_default_restore_targets)
    max_oracle_gap: float = 0.0  # points we may trail the oracle by, per tier (none: >= ORACLE)
    restored_40_pct: float = 99.0  # restored at RGB L-inf 40, every tier
    max_refusals: int = 0  # "no grid" on pixel art, per tier
    realworld_unambiguous_pct: float = 95.0
    speed_ms: float = 60.0  # median for a 1024x1024 image on one core
    cell_tolerance: float = 0.01  # relative, both axes
    ms_per_mp: float = 15.0  # one core, flat across 1-40 MP, sparse and busy images
    bytes_per_pixel: float = 10.0  # peak traced memory of one reconstruct per input pixel


# --------------------------------------------------------------------------- per-case results


def cell_error(ours_w: float | None, ours_h: float | None, true_w: float, true_h: float) -> float | None:
    """Largest relative cell-size error over both axes (0.01 = 1%), or None without a grid."""
    if ours_w is None or ours_h is None:
        return None
    return max(abs(ours_w - true_w) / true_w, abs(ours_h - true_h) / true_h)


def within_tolerance(error: float | None, tolerance: float) -> bool:
    # The epsilon keeps an exact 1.000% (from rounded labels) on the right side.
    return error is not None and error <= tolerance + 1e-9


@dataclass(frozen=True)
class CaseResult:
    """One synthetic case: our reconstruction and the oracle's, scored against the truth."""

    tier: str
    seed: int
    width: int
    height: int
    true_cell_w: float
    true_cell_h: float
    cell_w: float | None  # None: no grid found
    cell_h: float | None
    accuracy: float  # share of truth cells matched, 0..1
    restored: bool
    oracle_accuracy: float
    oracle_restored: bool
    peak_mb: float | None = None
    ms: float | None = None  # filled in by the single-thread timing pass
    restored_40: bool = False  # restored at RGB L-inf 40 (colour slack, grid still exact)
    oracle_restored_40: bool = False
    error: str | None = None
    cell_tolerance: float = 0.01

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    @property
    def cell_error(self) -> float | None:
        return cell_error(self.cell_w, self.cell_h, self.true_cell_w, self.true_cell_h)

    @property
    def cell_ok(self) -> bool:
        return within_tolerance(self.cell_error, self.cell_tolerance)

    @property
    def ms_per_mp(self) -> float | None:
        return None if self.ms is None else self.ms / self.megapixels

    def as_row(self) -> dict[str, object]:
        err = self.cell_error
        return {
            "tier": self.tier,
            "seed": self.seed,
            "width": self.width,
            "height": self.height,
            "true_cell_w": round(self.true_cell_w, 4),
            "true_cell_h": round(self.true_cell_h, 4),
            "cell_w": _round_or_blank(self.cell_w, 4),
            "cell_h": _round_or_blank(self.cell_h, 4),
            "cell_err_pct": _round_or_blank(None if err is None else err * 100, 3),
            "cell_ok": int(self.cell_ok),
            "accuracy": round(self.accuracy, 5),
            "restored": int(self.restored),
            "oracle_accuracy": round(self.oracle_accuracy, 5),
            "oracle_restored": int(self.oracle_restored),
            "restored_40": int(self.restored_40),
            "oracle_restored_40": int(self.oracle_restored_40),
            "ms": _round_or_blank(self.ms, 2),
            "ms_per_mp": _round_or_blank(self.ms_per_mp, 2),
            "peak_mb": _round_or_blank(self.peak_mb, 2),
            "error": self.error or "",
        }


def _round_or_blank(value: float | None, digits: int) -> object:
    return "" if value is None else round(value, digits)


# --------------------------------------------------------------------------- summaries


@dataclass(frozen=True)
class TierSummary:
    """One tier's figures, ours and the oracle's (percentages 0..100)."""

    tier: str
    n: int
    restored_pct: float
    mean_accuracy_pct: float
    cell_ok_pct: float
    oracle_restored_pct: float
    oracle_mean_accuracy_pct: float
    median_ms: float | None
    median_ms_per_mp: float | None
    peak_mb: float | None  # the largest peak over the tier's cases
    n_errors: int = 0
    restored_40_pct: float = 0.0
    oracle_restored_40_pct: float = 0.0

    @property
    def oracle_gap(self) -> float:
        """Restored-% points by which we beat (+) or trail (-) the oracle."""
        return self.restored_pct - self.oracle_restored_pct


def _pct(flags: Sequence[bool]) -> float:
    return 100.0 * sum(bool(f) for f in flags) / len(flags) if flags else 0.0


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(statistics.median(present)) if present else None


def summarize_tier(tier: str, results: Sequence[CaseResult]) -> TierSummary:
    """Aggregate one tier's case results (raises on an empty tier: nothing to summarise)."""
    if not results:
        raise ValueError(f"no results for tier {tier!r}")
    peaks = [r.peak_mb for r in results if r.peak_mb is not None]
    return TierSummary(
        tier=tier,
        n=len(results),
        restored_pct=_pct([r.restored for r in results]),
        mean_accuracy_pct=100.0 * statistics.fmean(r.accuracy for r in results),
        cell_ok_pct=_pct([r.cell_ok for r in results]),
        oracle_restored_pct=_pct([r.oracle_restored for r in results]),
        oracle_mean_accuracy_pct=100.0 * statistics.fmean(r.oracle_accuracy for r in results),
        median_ms=_median([r.ms for r in results]),
        median_ms_per_mp=_median([r.ms_per_mp for r in results]),
        peak_mb=max(peaks) if peaks else None,
        n_errors=sum(r.error is not None for r in results),
        restored_40_pct=_pct([r.restored_40 for r in results]),
        oracle_restored_40_pct=_pct([r.oracle_restored_40 for r in results]),
    )


def summarize_tiers(results: Sequence[CaseResult], tiers: Sequence[str]) -> list[TierSummary]:
    """One summary per tier that has results, in ``tiers`` order."""
    out = []
    for tier in tiers:
        mine = [r for r in results if r.tier == tier]
        if mine:
            out.append(summarize_tier(tier, mine))
    return out


@dataclass(frozen=True)
class Check:
    """One target, its measured value and whether it was met (None: not measured)."""

    name: str
    value: str
    target: str
    passed: bool | None

    @property
    def verdict(self) -> str:
        return "n/a" if self.passed is None else ("PASS" if self.passed else "FAIL")


def tier_checks(summary: TierSummary, targets: Targets) -> list[Check]:
    """Restored share against the tier's target, and the gap to the oracle."""
    checks = []
    target = targets.restored_pct.get(summary.tier)
    if target is not None:
        checks.append(Check(
            name=f"{summary.tier}: restored",
            value=f"{summary.restored_pct:.1f}%",
            target=f">= {target:g}%",
            passed=summary.restored_pct >= target,
        ))
    checks.append(Check(
        name=f"{summary.tier}: gap to oracle",
        value=f"{summary.oracle_gap:+.1f} pts",
        target=f">= -{targets.max_oracle_gap:g} pts",
        passed=summary.oracle_gap >= -targets.max_oracle_gap,
    ))
    checks.append(Check(
        name=f"{summary.tier}: restored at L-inf 40",
        value=f"{summary.restored_40_pct:.1f}%",
        target=f">= {targets.restored_40_pct:g}%",
        passed=summary.restored_40_pct >= targets.restored_40_pct,
    ))
    checks.append(Check(
        name=f"{summary.tier}: refusals",
        value=str(summary.n_errors),
        target=f"<= {targets.max_refusals}",
        passed=summary.n_errors <= targets.max_refusals,
    ))
    return checks


def tier_passed(summary: TierSummary, targets: Targets) -> bool:
    return all(c.passed is not False for c in tier_checks(summary, targets))


@dataclass(frozen=True)
class SpeedSummary:
    """Median time of ``reconstruct`` on one core for a fixed image size."""

    width: int
    height: int
    n: int
    median_ms: float | None
    min_ms: float | None
    max_ms: float | None
    peak_mb: float | None
    note: str = ""
    peer_median_ms: float | None = None  # perfect-pixel on the same images, same process

    @property
    def peer_ratio(self) -> float | None:
        """Our median over perfect-pixel's (< 1: faster)."""
        if self.median_ms is None or not self.peer_median_ms:
            return None
        return self.median_ms / self.peer_median_ms


def summarize_speed(width: int, height: int, ms: Sequence[float], peak_mb: float | None, note: str = "", peer_ms: Sequence[float] = ()) -> SpeedSummary:
    return SpeedSummary(
        width=width,
        height=height,
        n=len(ms),
        median_ms=_median(list(ms)),
        min_ms=min(ms) if ms else None,
        max_ms=max(ms) if ms else None,
        peak_mb=peak_mb,
        note=note,
        peer_median_ms=_median(list(peer_ms)),
    )


def speed_check(speed: SpeedSummary, targets: Targets) -> Check:
    return Check(
        name=f"speed: median {speed.width}x{speed.height}, one core",
        value="-" if speed.median_ms is None else f"{speed.median_ms:.1f} ms",
        target=f"<= {targets.speed_ms:g} ms",
        passed=None if speed.median_ms is None else speed.median_ms <= targets.speed_ms,
    )


@dataclass(frozen=True)
class ScalingResult:
    """ms per megapixel and peak memory per pixel of one image size (one core)."""

    kind: str  # "sparse" or "busy"
    width: int
    height: int
    ms: float | None
    peak_mb: float | None

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    @property
    def ms_per_mp(self) -> float | None:
        return None if self.ms is None else self.ms / self.megapixels

    @property
    def bytes_per_pixel(self) -> float | None:
        return None if self.peak_mb is None else self.peak_mb * 1e6 / (self.width * self.height)


# --------------------------------------------------------------------------- real world


@dataclass(frozen=True)
class RealLabel:
    """One line of ``labels.jsonl`` (the fields the benchmark uses)."""

    file: str
    cell_w: float
    cell_h: float
    kind: str
    confidence: str

    @property
    def group(self) -> str:
        return UNAMBIGUOUS if (self.kind == "single-grid" and self.confidence == "high") else OTHER


def parse_labels(text: str, source: str = "labels.jsonl") -> list[RealLabel]:
    """Labels from JSON lines; a bad line raises ValueError naming the file and line."""
    labels = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            labels.append(RealLabel(
                file=str(obj["file"]),
                cell_w=float(obj["cell_w"]),
                cell_h=float(obj["cell_h"]),
                kind=str(obj.get("kind", "")),
                confidence=str(obj.get("confidence", "")),
            ))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{source}:{number}: bad label line ({type(exc).__name__}: {exc})") from None
    return labels


@dataclass(frozen=True)
class RealResult:
    """Our reconstruction of one labelled real image."""

    file: str
    kind: str
    confidence: str
    label_cell_w: float
    label_cell_h: float
    cell_w: float | None
    cell_h: float | None
    diff_pct: float | None  # the pipeline's pixel mismatch % (not the cell-size error)
    ms: float | None = None  # single-thread timing; None in --quick or when it failed
    error: str | None = None
    cell_tolerance: float = 0.01

    @property
    def group(self) -> str:
        return RealLabel(self.file, self.label_cell_w, self.label_cell_h, self.kind, self.confidence).group

    @property
    def cell_error(self) -> float | None:
        return cell_error(self.cell_w, self.cell_h, self.label_cell_w, self.label_cell_h)

    @property
    def ok(self) -> bool:
        return within_tolerance(self.cell_error, self.cell_tolerance)

    def as_row(self) -> dict[str, object]:
        err = self.cell_error
        return {
            "file": self.file,
            "group": self.group,
            "kind": self.kind,
            "confidence": self.confidence,
            "label_cell_w": self.label_cell_w,
            "label_cell_h": self.label_cell_h,
            "cell_w": _round_or_blank(self.cell_w, 4),
            "cell_h": _round_or_blank(self.cell_h, 4),
            "ok": int(self.ok),
            "cell_err_pct": _round_or_blank(None if err is None else err * 100, 3),
            "diff_pct": _round_or_blank(self.diff_pct, 3),
            "ms": _round_or_blank(self.ms, 2),
            "error": self.error or "",
        }


@dataclass(frozen=True)
class RealSummary:
    group: str
    n: int
    n_ok: int

    @property
    def ok_pct(self) -> float:
        return 100.0 * self.n_ok / self.n if self.n else 0.0


def summarize_realworld(results: Sequence[RealResult]) -> list[RealSummary]:
    """Share within tolerance for the unambiguous images and for all the rest."""
    out = []
    for group in (UNAMBIGUOUS, OTHER):
        mine = [r for r in results if r.group == group]
        out.append(RealSummary(group=group, n=len(mine), n_ok=sum(r.ok for r in mine)))
    return out


def realworld_check(summaries: Sequence[RealSummary], targets: Targets) -> Check:
    unambiguous = next((s for s in summaries if s.group == UNAMBIGUOUS and s.n > 0), None)
    return Check(
        name=f"real world: {UNAMBIGUOUS} cell within {targets.cell_tolerance * 100:g}%",
        value=f"{unambiguous.ok_pct:.1f}% ({unambiguous.n_ok}/{unambiguous.n})" if unambiguous is not None else "-",
        target=f">= {targets.realworld_unambiguous_pct:g}%",
        passed=(unambiguous.ok_pct >= targets.realworld_unambiguous_pct) if unambiguous is not None else None,
    )


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class BenchSettings:
    per_tier: int
    seed: int
    tiers: tuple[str, ...]
    workers: int
    speed_runs: int
    speed_size: tuple[int, int]
    realworld_dir: str | None
    quick: bool
    out_dir: str
    # Sides (px) of the square per-megapixel images: 1024, 2048, 4096, 6400 = 1, 4, 16, 41 MP.
    scaling_sides: tuple[int, ...] = ()
    photos: bool = True


@dataclass
class BenchReport:
    settings: BenchSettings
    cases: list[CaseResult]
    tiers: list[TierSummary]
    speed: SpeedSummary | None
    realworld: list[RealResult]
    realworld_summary: list[RealSummary]
    notes: list[str]
    targets: Targets = field(default_factory=Targets)
    seconds: float = 0.0
    scaling: list[ScalingResult] = field(default_factory=list)
    photos: list[PhotoResult] = field(default_factory=list)

    def checks(self) -> list[Check]:
        out: list[Check] = []
        for summary in self.tiers:
            out.extend(tier_checks(summary, self.targets))
        if self.realworld:
            out.append(realworld_check(self.realworld_summary, self.targets))
        if self.speed is not None:
            out.append(speed_check(self.speed, self.targets))
        if self.photos:
            ok = sum(p.ok for p in self.photos)
            out.append(Check("photos: refused or flagged", f"{ok}/{len(self.photos)} ({sum(p.refused for p in self.photos)} refused)", "all", ok == len(self.photos)))
        for s in self.scaling:
            if s.ms_per_mp is not None:
                out.append(Check(f"ms/MP at {s.megapixels:.0f} MP ({s.kind})", f"{s.ms_per_mp:.1f}", f"<= {self.targets.ms_per_mp:g}", s.ms_per_mp <= self.targets.ms_per_mp))
            if s.bytes_per_pixel is not None:
                limit = self.targets.bytes_per_pixel
                out.append(Check(f"peak memory at {s.megapixels:.0f} MP ({s.kind})", f"{s.bytes_per_pixel:.1f} B/px", f"<= {limit:g} B/px", s.bytes_per_pixel <= limit))
        return out

    @property
    def all_passed(self) -> bool:
        return all(c.passed is not False for c in self.checks())

    def as_json(self) -> dict[str, object]:
        """The machine-readable summary (per-case rows live in bench_synth.csv)."""
        return {
            "settings": asdict(self.settings),
            "tiers": [
                {**asdict(s), "oracle_gap": s.oracle_gap, "passed": tier_passed(s, self.targets)} for s in self.tiers
            ],
            "speed": None if self.speed is None else asdict(self.speed),
            "scaling": [{**asdict(s), "ms_per_mp": s.ms_per_mp, "bytes_per_pixel": s.bytes_per_pixel} for s in self.scaling],
            "photos": [p.as_row() for p in self.photos],
            "realworld": {
                "summary": [{**asdict(s), "ok_pct": s.ok_pct} for s in self.realworld_summary] if self.realworld else [],
                "images": [r.as_row() for r in self.realworld],
            },
            "checks": [{**asdict(c), "verdict": c.verdict} for c in self.checks()],
            "all_passed": self.all_passed,
            "notes": list(self.notes),
            "methods": {"timing": TIMING_METHOD, "peak_memory": PEAK_MEMORY_METHOD},
            "seconds": round(self.seconds, 2),
        }
