"""Orchestration of ``perfecter bench``: accuracy in the shared runner's pool, then the timing pass."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

from ..runner import run_ordered
from .negatives import PhotoResult, evaluate_photo, photo_paths
from .realworld import RealOutcome, evaluate_real, load_labels
from .results import (
    BenchReport,
    BenchSettings,
    CaseResult,
    RealLabel,
    ScalingResult,
    Targets,
    summarize_realworld,
    summarize_speed,
    summarize_tiers,
)
from .synthetic import evaluate_case
from .timing import TimingJob, TimingSample, run_timing

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
    cases = run_ordered(evaluate_case, jobs, settings.workers, counter)

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
        outcomes = run_ordered(evaluate_real, labels, settings.workers, counter)

    photos: list[PhotoResult] = []
    if settings.photos:
        paths = photo_paths()
        if not paths:
            notes.append("photos skipped: scikit-image (the dev extra) is not installed")
        counter = _Counter("photos (true negatives)", len(paths), tick)
        photos = run_ordered(evaluate_photo, [str(p) for p in paths], settings.workers, counter)

    timing_jobs = [TimingJob("synth", tier=c.tier, seed=c.seed) for c in cases]
    scaling_jobs = [TimingJob("scaling", tier=kind, seed=settings.seed, size=(side, side)) for side in settings.scaling_sides for kind in ("sparse", "busy")]
    timing_jobs += scaling_jobs
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
            peer_ms=[s.peer_ms for s in speed_samples if s.peer_ms is not None],
        )
    scaling = [ScalingResult(s.job.tier, s.job.size[0], s.job.size[1], s.ms, s.peak_mb) for s in samples if s.job.kind == "scaling" and s.job.size]
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
        scaling=scaling,
        photos=photos,
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
