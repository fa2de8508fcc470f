"""Tables, markdown, CSV and the files ``perfecter bench`` writes (bench.md, CSVs, contact sheet)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .negatives import PhotoResult
from .realworld import RealOutcome, write_contact_sheet
from .results import (
    PEAK_MEMORY_METHOD,
    TIMING_METHOD,
    UNAMBIGUOUS,
    BenchReport,
    CaseResult,
    Check,
    RealResult,
    RealSummary,
    ScalingResult,
    SpeedSummary,
    Targets,
    TierSummary,
    speed_check,
    tier_checks,
)
from .timing import SCALING_RUNS

# --------------------------------------------------------------------------- tables


Table = tuple[list[str], list[list[str]]]


def _fmt(value: float | None, spec: str = ".1f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def synth_table(tiers: Sequence[TierSummary], targets: Targets) -> Table:
    """Two rows per tier: ours (with targets and verdict) and the ORACLE beside it."""
    headers = ["tier", "who", "n", "restored", "target", "vs oracle", "at L∞40", "refused", "cell acc", "cell ±1%",
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
            f"{s.oracle_gap:+.1f}", f"{s.restored_40_pct:.1f}%", str(s.n_errors), f"{s.mean_accuracy_pct:.2f}%", f"{s.cell_ok_pct:.1f}%",
            _fmt(s.median_ms), _fmt(s.median_ms_per_mp), _fmt(s.peak_mb), result,
        ])
        rows.append([
            s.tier, "ORACLE", str(s.n), f"{s.oracle_restored_pct:.1f}%", "", "", f"{s.oracle_restored_40_pct:.1f}%", "", f"{s.oracle_mean_accuracy_pct:.2f}%",
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
    peer = "" if speed.peer_ratio is None else f"; perfect-pixel {speed.peer_median_ms:.1f} ms on the same images (ours {speed.peer_ratio:.2f}x)"
    return (f"speed: median {_fmt(speed.median_ms)} ms for {speed.width}x{speed.height} ai-tier images on one core"
            f"{spread}{peak}{peer}; target {check.target}: {check.verdict}")


def markdown_table(table: Table) -> str:
    headers, rows = table

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def scaling_table(results: Sequence[ScalingResult]) -> Table:
    headers = ["image", "size", "MP", f"ms (median of {SCALING_RUNS})", "ms/MP", "peak MB", "bytes/pixel"]
    rows = [[s.kind, f"{s.width}x{s.height}", f"{s.megapixels:.1f}", _fmt(s.ms), _fmt(s.ms_per_mp), _fmt(s.peak_mb), _fmt(s.bytes_per_pixel)] for s in results]
    return headers, rows


def photos_table(results: Sequence[PhotoResult]) -> Table:
    headers = ["photo", "outcome", "confidence", "why"]
    rows = [[p.name, "refused" if p.refused else ("flagged" if p.flagged else "ACCEPTED"), "-" if p.confidence is None else f"{p.confidence:.2f}", p.reason[:90]] for p in results]
    return headers, rows


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
    if report.scaling:
        parts += ["## Speed per megapixel (one core)", "", markdown_table(scaling_table(report.scaling)), ""]
    if report.photos:
        parts += ["## Photographs (true negatives: refused or flagged)", "", markdown_table(photos_table(report.photos)), ""]
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

# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class WrittenReport:
    markdown: Path
    synth_csv: Path
    realworld_csv: Path | None
    contact_sheet: Path | None


def write_report(report: BenchReport, out_dir: Path, outcomes: Sequence[RealOutcome]) -> WrittenReport:
    """bench.md, bench_synth.csv, and (with real-world results) bench_realworld.csv and the sheet."""
    from ..core.io import write_text_atomic

    markdown = write_text_atomic(out_dir / "bench.md", report_markdown(report))
    synth_csv = write_text_atomic(out_dir / "bench_synth.csv", csv_text([c.as_row() for c in report.cases], CASE_COLUMNS))
    real_csv = sheet = None
    if report.realworld:
        real_csv = write_text_atomic(out_dir / "bench_realworld.csv", csv_text([r.as_row() for r in report.realworld], REAL_COLUMNS))
        sheet = write_contact_sheet(out_dir / "contact_sheet.png", outcomes)
    return WrittenReport(markdown, synth_csv, real_csv, sheet)
