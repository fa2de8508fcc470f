"""The quality benchmark behind ``perfecter bench`` (no Typer here; the CLI is a thin shell).

Three parts:

* **synthetic accuracy** (``synthetic``) - seeded ``synth.make_case`` images per tier,
  reconstructed and scored against the truth, next to the ORACLE (the truth grid sampled
  plainly), which shows what the degradation leaves recoverable.  Runs in the shared runner's
  process pool (``pixelperfecter.runner``); peak memory is the ``tracemalloc`` peak of one
  ``reconstruct`` call (Python and NumPy allocations; OpenCV's own buffers are not seen by
  tracemalloc).
* **timing** (``timing``) - every millisecond figure comes from ONE spawned process pinned to
  one CPU with one thread, timing ``reconstruct`` only, never while the pool runs.
* **real world** (``realworld``) - labelled images from ``../shared/realworld``: is our cell size
  within 1% of the label on both axes, counted separately for the unambiguous (single-grid,
  high confidence) images; plus a contact sheet of zoomed crops for a visual check.

``results`` holds the per-case dataclasses and the pure summary math, ``report`` the tables,
markdown, CSVs and written files, ``run`` the orchestration.  Every public name is importable
from ``pixelperfecter.bench`` as before the split.
"""

from __future__ import annotations

from ..runner import THREAD_ENV_VARS, default_workers, single_thread_env
from ..runner import run_ordered as run_jobs  # the pre-split name: same arguments (fn, jobs, workers, on_done)
from .realworld import (
    SHEET_BG,
    SHEET_CROP,
    SHEET_GAP,
    SHEET_HEADER_H,
    SHEET_LABEL_H,
    SHEET_PANEL,
    SHEET_ROW_H,
    SHEET_TITLES,
    SHEET_WIDTH,
    SHEET_ZOOM,
    RealOutcome,
    build_contact_sheet,
    busiest_crop_origin,
    evaluate_real,
    find_realworld_dir,
    load_labels,
    sheet_height,
    sheet_label,
    sheet_panels,
    write_contact_sheet,
)
from .report import (
    CASE_COLUMNS,
    REAL_COLUMNS,
    Table,
    WrittenReport,
    checks_table,
    csv_text,
    markdown_table,
    realworld_summary_table,
    realworld_table,
    report_markdown,
    speed_line,
    synth_table,
    write_report,
)
from .results import (
    OTHER,
    PEAK_MEMORY_METHOD,
    TIMING_METHOD,
    UNAMBIGUOUS,
    BenchReport,
    BenchSettings,
    CaseResult,
    Check,
    RealLabel,
    RealResult,
    RealSummary,
    SpeedSummary,
    Targets,
    TierSummary,
    cell_error,
    parse_labels,
    realworld_check,
    speed_check,
    summarize_realworld,
    summarize_speed,
    summarize_tier,
    summarize_tiers,
    tier_checks,
    tier_passed,
    within_tolerance,
)
from .run import Progress, attach_timings, run_bench, synth_jobs
from .synthetic import evaluate_case
from .timing import TimingJob, TimingSample, run_timing, time_job, timing_environment

__all__ = [
    "CASE_COLUMNS", "OTHER", "PEAK_MEMORY_METHOD", "REAL_COLUMNS", "SHEET_BG", "SHEET_CROP", "SHEET_GAP",
    "SHEET_HEADER_H", "SHEET_LABEL_H", "SHEET_PANEL", "SHEET_ROW_H", "SHEET_TITLES", "SHEET_WIDTH", "SHEET_ZOOM",
    "THREAD_ENV_VARS", "TIMING_METHOD", "UNAMBIGUOUS", "BenchReport", "BenchSettings", "CaseResult", "Check",
    "Progress", "RealLabel", "RealOutcome", "RealResult", "RealSummary", "SpeedSummary", "Table", "Targets",
    "TierSummary", "TimingJob", "TimingSample", "WrittenReport", "attach_timings", "build_contact_sheet",
    "busiest_crop_origin", "cell_error", "checks_table", "csv_text", "default_workers", "evaluate_case",
    "evaluate_real", "find_realworld_dir", "load_labels", "markdown_table", "parse_labels", "realworld_check",
    "realworld_summary_table", "realworld_table", "report_markdown", "run_bench", "run_jobs", "run_timing", "sheet_height",
    "sheet_label", "sheet_panels", "single_thread_env", "speed_check", "speed_line", "summarize_realworld",
    "summarize_speed", "summarize_tier", "summarize_tiers", "synth_jobs", "synth_table", "tier_checks",
    "tier_passed", "time_job", "timing_environment", "within_tolerance", "write_contact_sheet", "write_report",
]
