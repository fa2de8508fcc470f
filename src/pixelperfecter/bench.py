"""The quality benchmark behind ``perfecter bench`` (no Typer here; the CLI is a thin shell).

Three parts:

* **synthetic accuracy** - seeded ``synth.make_case`` images per tier, reconstructed and scored
  against the truth, next to the ORACLE (the truth grid sampled plainly), which shows what the
  degradation leaves recoverable.  Runs in a process pool; peak memory is the ``tracemalloc``
  peak of one ``reconstruct`` call (Python and NumPy allocations; OpenCV's own buffers are not
  seen by tracemalloc).
* **timing** - every millisecond figure comes from ONE spawned process pinned to one CPU with
  one thread (BLAS/OpenMP env vars set before that process imports NumPy, ``cv2.setNumThreads(1)``),
  timing ``reconstruct`` only, never generation or loading, and never while the pool runs.
* **real world** - labelled images from ``../shared/realworld``: is our cell size within 1% of the
  label on both axes, counted separately for the unambiguous (single-grid, high confidence)
  images; plus a contact sheet of zoomed crops for a visual check.

Per-case results and summaries are plain dataclasses; the summary math is pure functions so it
can be tested on hand-made results without running the pipeline.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import statistics
import time
import tracemalloc
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence, TypeVar

import numpy as np

if TYPE_CHECKING:
    from .core.types import Reconstruction

# Thread-pool sizes of the numeric libraries: only read when the library loads, so they must
# be in the environment of a process before it imports NumPy (hence the spawned processes).
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")

PEAK_MEMORY_METHOD = "tracemalloc peak of one reconstruct call (Python+NumPy allocations, not OpenCV's)"
TIMING_METHOD = "reconstruct() only, one spawned process pinned to one CPU, 1 thread (BLAS/OpenMP env=1, cv2.setNumThreads(1))"

UNAMBIGUOUS = "single-grid/high"
OTHER = "other"


# --------------------------------------------------------------------------- targets


def _default_restore_targets() -> dict[str, float]:
    return {"clean": 99.0, "fractional": 99.0, "ai": 98.0, "drift": 95.0}


@dataclass(frozen=True)
class Targets:
    """What the benchmark asks of the pipeline (percentages in 0..100)."""

    restored_pct: dict[str, float] = field(default_factory=_default_restore_targets)
    max_oracle_gap: float = 2.0  # points we may trail the oracle by, per tier
    realworld_unambiguous_pct: float = 95.0
    speed_ms: float = 60.0  # median for a 1024x1024 image on one core
    cell_tolerance: float = 0.01  # relative, both axes


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


def summarize_speed(width: int, height: int, ms: Sequence[float], peak_mb: float | None, note: str = "") -> SpeedSummary:
    return SpeedSummary(
        width=width,
        height=height,
        n=len(ms),
        median_ms=_median(list(ms)),
        min_ms=min(ms) if ms else None,
        max_ms=max(ms) if ms else None,
        peak_mb=peak_mb,
        note=note,
    )


def speed_check(speed: SpeedSummary, targets: Targets) -> Check:
    return Check(
        name=f"speed: median {speed.width}x{speed.height}, one core",
        value="-" if speed.median_ms is None else f"{speed.median_ms:.1f} ms",
        target=f"<= {targets.speed_ms:g} ms",
        passed=None if speed.median_ms is None else speed.median_ms <= targets.speed_ms,
    )


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
    unambiguous = next((s for s in summaries if s.group == UNAMBIGUOUS), None)
    measured = unambiguous is not None and unambiguous.n > 0
    return Check(
        name=f"real world: {UNAMBIGUOUS} cell within {targets.cell_tolerance * 100:g}%",
        value=f"{unambiguous.ok_pct:.1f}% ({unambiguous.n_ok}/{unambiguous.n})" if measured else "-",
        target=f">= {targets.realworld_unambiguous_pct:g}%",
        passed=(unambiguous.ok_pct >= targets.realworld_unambiguous_pct) if measured else None,
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

    def checks(self) -> list[Check]:
        out: list[Check] = []
        for summary in self.tiers:
            out.extend(tier_checks(summary, self.targets))
        if self.realworld:
            out.append(realworld_check(self.realworld_summary, self.targets))
        if self.speed is not None:
            out.append(speed_check(self.speed, self.targets))
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


# --------------------------------------------------------------------------- tables


Table = tuple[list[str], list[list[str]]]


def _fmt(value: float | None, spec: str = ".1f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def synth_table(tiers: Sequence[TierSummary], targets: Targets) -> Table:
    """Two rows per tier: ours (with targets and verdict) and the ORACLE beside it."""
    headers = ["tier", "who", "n", "restored", "target", "vs oracle", "cell acc", "cell ±1%",
               "med ms", "med ms/MP", "max peak MB", "result"]
    rows = []
    for s in tiers:
        target = targets.restored_pct.get(s.tier)
        failed = [c for c in tier_checks(s, targets) if c.passed is False]
        result = "PASS" if not failed else "FAIL: " + "; ".join(f"{c.name.split(': ')[1]} {c.value}" for c in failed)
        if s.n_errors:
            result += f" ({s.n_errors} without a result: no grid or error)"
        rows.append([
            s.tier, "ours", str(s.n), f"{s.restored_pct:.1f}%", "-" if target is None else f">= {target:g}%",
            f"{s.oracle_gap:+.1f}", f"{s.mean_accuracy_pct:.1f}%", f"{s.cell_ok_pct:.1f}%",
            _fmt(s.median_ms), _fmt(s.median_ms_per_mp), _fmt(s.peak_mb), result,
        ])
        rows.append([
            s.tier, "ORACLE", str(s.n), f"{s.oracle_restored_pct:.1f}%", "", "", f"{s.oracle_mean_accuracy_pct:.1f}%",
            "(truth)", "", "", "", "",
        ])
    return headers, rows


def realworld_summary_table(summaries: Sequence[RealSummary], targets: Targets) -> Table:
    headers = ["group", "images", f"cell within {targets.cell_tolerance * 100:g}%", "share", "target", "result"]
    rows = []
    for s in summaries:
        if s.group == UNAMBIGUOUS:
            target = f">= {targets.realworld_unambiguous_pct:g}%"
            result = "n/a" if s.n == 0 else ("PASS" if s.ok_pct >= targets.realworld_unambiguous_pct else "FAIL")
        else:
            target, result = "(report only)", ""
        rows.append([s.group, str(s.n), str(s.n_ok), f"{s.ok_pct:.1f}%" if s.n else "-", target, result])
    return headers, rows


def realworld_table(results: Sequence[RealResult]) -> Table:
    headers = ["file", "label cell", "our cell", "ok?", "cell err %", "diff %", "kind", "confidence", "ms"]
    rows = []
    for r in results:
        ours = "-" if r.cell_w is None or r.cell_h is None else f"{r.cell_w:.3f} x {r.cell_h:.3f}"
        if r.error:
            ours = f"error: {r.error}"
        err = r.cell_error
        rows.append([
            r.file, f"{r.label_cell_w:.3f} x {r.label_cell_h:.3f}", ours, "yes" if r.ok else "NO",
            _fmt(None if err is None else err * 100, ".2f"), _fmt(r.diff_pct, ".2f"), r.kind, r.confidence, _fmt(r.ms),
        ])
    return headers, rows


def checks_table(checks: Sequence[Check]) -> Table:
    return ["check", "value", "target", "result"], [[c.name, c.value, c.target, c.verdict] for c in checks]


def speed_line(speed: SpeedSummary, targets: Targets) -> str:
    check = speed_check(speed, targets)
    peak = "" if speed.peak_mb is None else f", peak {speed.peak_mb:.1f} MB (tracemalloc)"
    spread = "" if speed.min_ms is None else f" (min {speed.min_ms:.1f}, max {speed.max_ms:.1f}, n={speed.n})"
    return (f"speed: median {_fmt(speed.median_ms)} ms for {speed.width}x{speed.height} ai-tier images on one core"
            f"{spread}{peak}; target {check.target}: {check.verdict}")


def markdown_table(table: Table) -> str:
    headers, rows = table

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def report_markdown(report: BenchReport) -> str:
    s = report.settings
    parts = [
        "# perfecter bench",
        "",
        f"Settings: {s.per_tier} cases per tier, seed {s.seed}, tiers {', '.join(s.tiers)}, "
        f"{s.workers} worker(s) for accuracy{', quick' if s.quick else ''}; took {report.seconds:.1f} s.",
        "",
        f"- Timing: {TIMING_METHOD}.",
        f"- Peak memory: {PEAK_MEMORY_METHOD}.",
        "- Restored: >= 99% of cells within RGB L-inf 24 after the best alignment within ±2 cells "
        "(`synth.score_restoration`). ORACLE: the true grid sampled plainly (`synth.oracle_sprite`).",
        "",
        "## Synthetic tiers",
        "",
        markdown_table(synth_table(report.tiers, report.targets)),
        "",
    ]
    if report.speed is not None:
        parts += ["## Speed", "", speed_line(report.speed, report.targets), ""]
    if report.realworld:
        parts += [
            "## Real world",
            "",
            f"Labels: `{s.realworld_dir}/labels.jsonl`.",
            "",
            markdown_table(realworld_summary_table(report.realworld_summary, report.targets)),
            "",
            markdown_table(realworld_table(report.realworld)),
            "",
        ]
    parts += ["## Targets", "", markdown_table(checks_table(report.checks())), ""]
    if report.notes:
        parts += ["## Notes", ""] + [f"- {n}" for n in report.notes] + [""]
    return "\n".join(parts)


def csv_text(rows: Sequence[dict[str, object]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buf.getvalue()


CASE_COLUMNS = list(CaseResult("", 0, 1, 1, 1.0, 1.0, None, None, 0.0, False, 0.0, False).as_row())
REAL_COLUMNS = list(RealResult("", "", "", 1.0, 1.0, None, None, None).as_row())


# --------------------------------------------------------------------------- running cases


def evaluate_case(job: tuple[str, int, float]) -> CaseResult:
    """Generate, reconstruct and score one synthetic case (run in pool workers)."""
    from .core import synth
    from .core.pipeline import reconstruct

    tier, seed, tolerance = job
    case = synth.make_case(seed, tier)
    height, width = case.image.shape[:2]
    oracle = synth.score_restoration(synth.oracle_sprite(case), case.truth)
    base = dict(
        tier=tier, seed=seed, width=width, height=height, true_cell_w=case.cell_w, true_cell_h=case.cell_h,
        oracle_accuracy=oracle.accuracy, oracle_restored=oracle.restored, cell_tolerance=tolerance,
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
        peak_mb=peak_mb,
        error=None if result.ok else (result.error or "no grid"),
    )


T = TypeVar("T")
R = TypeVar("R")


def _traced(fn: Callable[[], R]) -> tuple[R, float]:
    """``fn()`` and its tracemalloc peak in MB (tracing only for this call)."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        value = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return value, max(0, peak - base) / 1e6


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextmanager
def single_thread_env() -> Iterator[None]:
    """Thread-count env vars set to 1 while processes are spawned (children inherit them)."""
    saved = {name: os.environ.get(name) for name in THREAD_ENV_VARS}
    os.environ.update({name: "1" for name in THREAD_ENV_VARS})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_jobs(
    fn: Callable[[T], R],
    jobs: Sequence[T],
    workers: int,
    on_done: Callable[[R], None] | None = None,
) -> list[R]:
    """``fn`` over ``jobs`` in order, in a spawned pool of single-threaded workers when workers > 1.

    Spawned (not forked) so every worker starts a fresh interpreter with the thread env vars
    already set, whatever the parent imported before.
    """
    results: list[R] = []
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            results.append(fn(job))
            if on_done:
                on_done(results[-1])
        return results
    ctx = multiprocessing.get_context("spawn")
    with single_thread_env():
        pool = ctx.Pool(min(workers, len(jobs)), initializer=_init_worker)
    with pool:
        for value in pool.imap(fn, jobs, chunksize=1):
            results.append(value)
            if on_done:
                on_done(value)
    return results


# --------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class TimingJob:
    """One thing to time: a synthetic case ("synth"), a speed case ("speed") or a real file ("real")."""

    kind: str
    tier: str = ""
    seed: int = 0
    size: tuple[int, int] | None = None
    path: str = ""


@dataclass(frozen=True)
class TimingSample:
    job: TimingJob
    ms: float | None
    peak_mb: float | None = None
    error: str | None = None


def _init_timing_process() -> None:
    """Pin this process to one CPU and one thread, then warm the pipeline up (imports, caches)."""
    import cv2

    cv2.setNumThreads(1)
    try:
        allowed = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {allowed[-1]})
    except (AttributeError, OSError):  # not on Linux: one thread is the best we can do
        pass
    from .core import synth
    from .core.pipeline import reconstruct

    warm = synth.make_case(12345, "fractional", size=(256, 256))
    reconstruct(warm.image, has_alpha=warm.has_alpha)


def timing_environment() -> str:
    """How the timing process is set up (called inside it)."""
    import cv2

    try:
        cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    except AttributeError:
        cpus = "?"
    env = " ".join(f"{n}={os.environ.get(n, '-')}" for n in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"))
    try:
        # Other processes on the machine slow a single core down too: worth seeing beside ms.
        load = f", load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus"
    except (AttributeError, OSError):
        load = ""
    return f"cpu affinity {{{cpus}}}, cv2 threads {cv2.getNumThreads()}, {env}{load}"


def time_job(job: TimingJob) -> TimingSample:
    """Time ``reconstruct`` (only) on one input; generation and loading are outside the clock."""
    from .core import synth
    from .core.io import load_image
    from .core.pipeline import reconstruct

    try:
        if job.kind == "real":
            loaded = load_image(job.path)
            rgba, has_alpha = loaded.rgba, loaded.has_alpha
        else:
            case = synth.make_case(job.seed, job.tier, size=job.size)
            rgba, has_alpha = case.image, case.has_alpha
        start = time.perf_counter()
        reconstruct(rgba, has_alpha=has_alpha)
        ms = (time.perf_counter() - start) * 1000.0
        peak_mb = None
        if job.kind == "speed":
            # A second, untimed call for memory: tracing slows allocation down.
            _, peak_mb = _traced(lambda: reconstruct(rgba, has_alpha=has_alpha))
        return TimingSample(job, ms, peak_mb)
    except Exception as exc:
        return TimingSample(job, None, None, _one_line(exc))


def run_timing(jobs: Sequence[TimingJob], on_done: Callable[[TimingSample], None] | None = None) -> tuple[list[TimingSample], str]:
    """All timing jobs, one after another, in one spawned single-thread process."""
    if not jobs:
        return [], ""
    ctx = multiprocessing.get_context("spawn")
    with single_thread_env():
        pool = ctx.Pool(1, initializer=_init_timing_process)
    samples = []
    with pool:
        environment = pool.apply(timing_environment)
        for sample in pool.imap(time_job, jobs, chunksize=1):
            samples.append(sample)
            if on_done:
                on_done(sample)
    return samples, environment


# --------------------------------------------------------------------------- real world


SHEET_CROP = 160
SHEET_ZOOM = 2
SHEET_PANEL = SHEET_CROP * SHEET_ZOOM
SHEET_GAP = 8
SHEET_LABEL_H = 26
SHEET_HEADER_H = 34
SHEET_ROW_H = SHEET_LABEL_H + SHEET_PANEL + SHEET_GAP
SHEET_TITLES = ("original (busiest 160px crop x2)", "grid overlay", "diff overlay (red = mismatch)", "reconstruction (whole)")
SHEET_WIDTH = SHEET_GAP + len(SHEET_TITLES) * (SHEET_PANEL + SHEET_GAP)
SHEET_BG = (24, 24, 28)


def sheet_height(n_rows: int) -> int:
    """Pixel height of a contact sheet with ``n_rows`` image rows."""
    return SHEET_HEADER_H + n_rows * SHEET_ROW_H


@dataclass
class RealOutcome:
    result: RealResult
    panels: list[np.ndarray]  # SHEET_TITLES order, each (SHEET_PANEL, SHEET_PANEL, 3) uint8 RGB


def find_realworld_dir(explicit: Path | None = None) -> Path | None:
    """``explicit``, else ``../shared/realworld`` beside the repo root or the cwd, if it exists."""
    if explicit is not None:
        return explicit
    repo_root = Path(__file__).resolve().parents[2]
    for base in (repo_root, Path.cwd()):
        candidate = (base / ".." / "shared" / "realworld").resolve()
        if (candidate / "labels.jsonl").is_file():
            return candidate
    return None


def load_labels(directory: Path) -> list[RealLabel]:
    path = directory / "labels.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no labels.jsonl in the real-world folder")
    return parse_labels(path.read_text(encoding="utf-8"), str(path))


def evaluate_real(job: tuple[str, RealLabel, float]) -> RealOutcome:
    """Reconstruct one labelled image and draw its contact-sheet panels (run in pool workers)."""
    from .core.pipeline import reconstruct_file

    path, label, tolerance = job
    base = dict(file=label.file, kind=label.kind, confidence=label.confidence,
                label_cell_w=label.cell_w, label_cell_h=label.cell_h, cell_tolerance=tolerance)
    try:
        result = reconstruct_file(path)
    except Exception as exc:
        failed = RealResult(**base, cell_w=None, cell_h=None, diff_pct=None, error=_one_line(exc))
        return RealOutcome(failed, [_placeholder("cannot load")] * len(SHEET_TITLES))
    grid = result.grid
    real = RealResult(
        **base,
        cell_w=None if grid is None else grid.cell_w,
        cell_h=None if grid is None else grid.cell_h,
        diff_pct=None if result.metrics is None else result.metrics.diff_pct,
        error=None if result.ok else (result.error or "no grid"),
    )
    return RealOutcome(real, sheet_panels(result))


def sheet_panels(result: Reconstruction) -> list[np.ndarray]:
    """Original crop, grid overlay crop, diff overlay crop (all zoomed) and the whole reconstruction."""
    from .core import render

    image = result.image
    shown = _on_checker(image)
    x0, y0 = busiest_crop_origin(shown)
    panels = [_crop_panel(shown, x0, y0)]
    if result.grid is None or result.sprite is None:
        return panels + [_placeholder("no grid")] * 3
    panels.append(_crop_panel(render.grid_overlay(image, result.grid)[..., :3], x0, y0))
    panels.append(_crop_panel(render.diff_overlay(image, result.grid, result.sprite)[..., :3], x0, y0))
    panels.append(_fit_panel(_on_checker(result.sprite)))
    return panels


def busiest_crop_origin(rgb: np.ndarray, size: int = SHEET_CROP, step: int = 16) -> tuple[int, int]:
    """Top-left of the ``size`` square with the most colour edges, preferring the centre on ties.

    A plain centre crop often lands on empty background (icon sheets, small sprites), where
    a grid overlay shows nothing; the busiest square shows the cells best.
    """
    h, w = rgb.shape[:2]
    if h <= size and w <= size:
        return 0, 0
    grey = rgb.astype(np.float32).mean(axis=2)
    edges = np.zeros((h + 1, w + 1), np.float64)
    edges[1:, 1:] = np.abs(np.diff(grey, axis=1, prepend=grey[:, :1])) + np.abs(np.diff(grey, axis=0, prepend=grey[:1]))
    integral = edges.cumsum(axis=0).cumsum(axis=1)
    ys = np.unique(np.r_[np.arange(0, max(1, h - size + 1), step), max(0, h - size)])
    xs = np.unique(np.r_[np.arange(0, max(1, w - size + 1), step), max(0, w - size)])
    y1 = np.minimum(ys + size, h)[:, None]
    x1 = np.minimum(xs + size, w)[None, :]
    sums = integral[y1, x1] - integral[ys[:, None], x1] - integral[y1, xs[None, :]] + integral[ys[:, None], xs[None, :]]
    # A mild pull to the centre so that equally busy squares resolve to the middle.
    cy, cx = (h - size) / 2, (w - size) / 2
    dist = np.hypot((ys[:, None] - cy) / max(h, 1), (xs[None, :] - cx) / max(w, 1))
    iy, ix = np.unravel_index(np.argmax((sums + 1.0) * (1.0 - 0.25 * dist)), sums.shape)
    return int(xs[ix]), int(ys[iy])


def _on_checker(rgba: np.ndarray, square: int = 8) -> np.ndarray:
    """RGB with transparency shown as a light checkerboard."""
    h, w = rgba.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    checker = np.where(((yy // square + xx // square) % 2) == 0, 200.0, 235.0)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32) * alpha + checker[..., None] * (1 - alpha)
    return np.clip(rgb, 0, 255).round().astype(np.uint8)


def _blank_panel() -> np.ndarray:
    return np.full((SHEET_PANEL, SHEET_PANEL, 3), 60, np.uint8)


def _crop_panel(rgb: np.ndarray, x0: int, y0: int) -> np.ndarray:
    crop = rgb[y0 : y0 + SHEET_CROP, x0 : x0 + SHEET_CROP]
    zoomed = np.repeat(np.repeat(crop, SHEET_ZOOM, axis=0), SHEET_ZOOM, axis=1)
    panel = _blank_panel()
    panel[: zoomed.shape[0], : zoomed.shape[1]] = zoomed
    return panel


def _fit_panel(rgb: np.ndarray) -> np.ndarray:
    """Nearest-neighbour scale to fit the panel (integer factor when it fits), centred."""
    import cv2

    h, w = rgb.shape[:2]
    factor = SHEET_PANEL / max(h, w)
    if factor >= 1:
        factor = int(factor)
    new_w, new_h = max(1, int(w * factor)), max(1, int(h * factor))
    scaled = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
    panel = _blank_panel()
    top, left = (SHEET_PANEL - new_h) // 2, (SHEET_PANEL - new_w) // 2
    panel[top : top + new_h, left : left + new_w] = scaled
    return panel


def _placeholder(text: str) -> np.ndarray:
    panel = _blank_panel()
    _put_text(panel, text, (SHEET_PANEL // 2 - 40, SHEET_PANEL // 2), (230, 230, 230))
    return panel


def _put_text(canvas: np.ndarray, text: str, origin: tuple[int, int], colour: tuple[int, int, int], scale: float = 0.5) -> None:
    import cv2

    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def sheet_label(result: RealResult) -> str:
    ours = "no grid" if result.cell_w is None or result.cell_h is None else f"{result.cell_w:.2f}x{result.cell_h:.2f}"
    err = result.cell_error
    verdict = "OK" if result.ok else "WRONG"
    err_text = "" if err is None else f" ({err * 100:.2f}%)"
    name = result.file if len(result.file) <= 70 else result.file[:67] + "..."
    return f"{name} | label {result.label_cell_w:.2f}x{result.label_cell_h:.2f} | ours {ours} | {verdict}{err_text} | {result.group}"


def build_contact_sheet(outcomes: Sequence[RealOutcome]) -> np.ndarray:
    """One row per image: a label strip, then the panels side by side (RGB uint8)."""
    sheet = np.zeros((sheet_height(len(outcomes)), SHEET_WIDTH, 3), np.uint8)
    sheet[:] = SHEET_BG
    for i, title in enumerate(SHEET_TITLES):
        _put_text(sheet, title, (SHEET_GAP + i * (SHEET_PANEL + SHEET_GAP), SHEET_HEADER_H - 12), (255, 255, 255))
    for row, outcome in enumerate(outcomes):
        top = SHEET_HEADER_H + row * SHEET_ROW_H
        colour = (120, 230, 120) if outcome.result.ok else (255, 110, 110)
        _put_text(sheet, sheet_label(outcome.result), (SHEET_GAP, top + SHEET_LABEL_H - 8), colour, 0.45)
        for i, panel in enumerate(outcome.panels):
            left = SHEET_GAP + i * (SHEET_PANEL + SHEET_GAP)
            sheet[top + SHEET_LABEL_H : top + SHEET_LABEL_H + SHEET_PANEL, left : left + SHEET_PANEL] = panel
    return sheet


def write_contact_sheet(path: Path, outcomes: Sequence[RealOutcome]) -> Path:
    from .core.io import save_png

    rgb = build_contact_sheet(outcomes)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return save_png(path, rgba, keep_alpha=False)


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class WrittenReport:
    markdown: Path
    synth_csv: Path
    realworld_csv: Path | None
    contact_sheet: Path | None


def write_report(report: BenchReport, out_dir: Path, outcomes: Sequence[RealOutcome]) -> WrittenReport:
    """bench.md, bench_synth.csv, and (with real-world results) bench_realworld.csv and the sheet."""
    from .core.io import write_text_atomic

    markdown = write_text_atomic(out_dir / "bench.md", report_markdown(report))
    synth_csv = write_text_atomic(out_dir / "bench_synth.csv", csv_text([c.as_row() for c in report.cases], CASE_COLUMNS))
    real_csv = sheet = None
    if report.realworld:
        real_csv = write_text_atomic(out_dir / "bench_realworld.csv", csv_text([r.as_row() for r in report.realworld], REAL_COLUMNS))
        sheet = write_contact_sheet(out_dir / "contact_sheet.png", outcomes)
    return WrittenReport(markdown, synth_csv, real_csv, sheet)


# --------------------------------------------------------------------------- orchestration


Progress = Callable[[str, int, int], None]  # (stage, done, total)


def synth_jobs(tiers: Sequence[str], per_tier: int, seed: int, tolerance: float) -> list[tuple[str, int, float]]:
    return [(tier, seed + i, tolerance) for tier in tiers for i in range(per_tier)]


def attach_timings(cases: Sequence[CaseResult], samples: Sequence[TimingSample]) -> list[CaseResult]:
    """Copy the single-thread ms of each synthetic case into its result."""
    ms = {(s.job.tier, s.job.seed): s.ms for s in samples if s.job.kind == "synth"}
    return [replace(c, ms=ms.get((c.tier, c.seed))) for c in cases]


def run_bench(settings: BenchSettings, targets: Targets | None = None, progress: Progress | None = None) -> tuple[BenchReport, list[RealOutcome]]:
    """Run every part of the benchmark; nothing is written here (see ``write_report``)."""
    targets = targets or Targets()
    started = time.perf_counter()
    notes: list[str] = []
    tick = progress or (lambda stage, done, total: None)

    jobs = synth_jobs(settings.tiers, settings.per_tier, settings.seed, targets.cell_tolerance)
    counter = _Counter("synthetic accuracy", len(jobs), tick)
    cases = run_jobs(evaluate_case, jobs, settings.workers, counter)

    labels: list[tuple[str, RealLabel, float]] = []
    outcomes: list[RealOutcome] = []
    if settings.realworld_dir is not None:
        directory = Path(settings.realworld_dir)
        for label in load_labels(directory):
            path = directory / label.file
            if path.is_file():
                labels.append((str(path), label, targets.cell_tolerance))
            else:
                notes.append(f"{path}: labelled but missing, skipped")
        counter = _Counter("real world", len(labels), tick)
        outcomes = run_jobs(evaluate_real, labels, settings.workers, counter)

    timing_jobs = [TimingJob("synth", tier=c.tier, seed=c.seed) for c in cases]
    timing_jobs += [TimingJob("speed", tier="ai", seed=settings.seed + i, size=settings.speed_size) for i in range(settings.speed_runs)]
    if not settings.quick:
        timing_jobs += [TimingJob("real", path=path) for path, _, _ in labels]
    elif labels:
        notes.append("--quick: no real-world speed pass (ms column empty)")
    counter = _Counter("timing (1 process, 1 thread)", len(timing_jobs), tick)
    samples, environment = run_timing(timing_jobs, counter)
    if environment:
        notes.append(f"timing process: {environment}")
    for sample in samples:
        if sample.error:
            where = sample.job.path or f"{sample.job.tier} seed {sample.job.seed}"
            notes.append(f"timing failed for {where}: {sample.error}")

    cases = attach_timings(cases, samples)
    real_ms = {s.job.path: s.ms for s in samples if s.job.kind == "real"}
    outcomes = [RealOutcome(replace(o.result, ms=real_ms.get(job[0])), o.panels) for o, job in zip(outcomes, labels)]
    speed = None
    if settings.speed_runs:
        speed_samples = [s for s in samples if s.job.kind == "speed"]
        peaks = [s.peak_mb for s in speed_samples if s.peak_mb is not None]
        speed = summarize_speed(
            settings.speed_size[0], settings.speed_size[1],
            [s.ms for s in speed_samples if s.ms is not None], max(peaks) if peaks else None,
        )
    realworld = [o.result for o in outcomes]
    report = BenchReport(
        settings=settings,
        cases=cases,
        tiers=summarize_tiers(cases, settings.tiers),
        speed=speed,
        realworld=realworld,
        realworld_summary=summarize_realworld(realworld),
        notes=notes,
        targets=targets,
    )
    report.seconds = time.perf_counter() - started
    return report, outcomes


class _Counter:
    """Calls ``tick(stage, done, total)`` once per finished job."""

    def __init__(self, stage: str, total: int, tick: Progress) -> None:
        self.stage, self.total, self.tick, self.done = stage, total, tick, 0
        tick(stage, 0, total)

    def __call__(self, _value: object) -> None:
        self.done += 1
        self.tick(self.stage, self.done, self.total)
