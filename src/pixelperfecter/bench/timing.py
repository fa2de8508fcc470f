"""Single-core timing: every millisecond figure of ``perfecter bench`` comes from ONE spawned
process pinned to one CPU with one thread (BLAS/OpenMP env vars set before that process imports
NumPy, ``cv2.setNumThreads(1)``), timing ``reconstruct`` only, never generation or loading, and
never while the accuracy pool runs.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import tracemalloc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence, TypeVar

if TYPE_CHECKING:
    import numpy as np

from ..runner import one_line as _one_line
from ..runner import single_thread_env

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


# --------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class TimingJob:
    """One thing to time: a synthetic case ("synth"), a speed case ("speed"), a real file
    ("real") or a size-scaling image ("scaling": ``tier`` is "sparse" or "busy")."""

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
    peer_ms: float | None = None  # perfect-pixel on the same image, when it is installed


def _init_timing_process() -> None:
    """Pin this process to one CPU and one thread, then warm the pipeline up (imports, caches)."""
    import cv2

    cv2.setNumThreads(1)
    try:
        allowed = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {allowed[-1]})
    except (AttributeError, OSError):  # not on Linux: one thread is the best we can do
        pass
    from ..core import synth
    from ..core.pipeline import reconstruct

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
    from ..core import synth
    from ..core.io import load_image
    from ..core.pipeline import reconstruct

    try:
        if job.kind == "real":
            loaded = load_image(job.path)
            rgba, has_alpha = loaded.rgba, loaded.has_alpha
        elif job.kind == "scaling":
            assert job.size is not None
            rgba, has_alpha = scaling_image(job.tier, job.size, job.seed), False
        else:
            case = synth.make_case(job.seed, job.tier, size=job.size)
            rgba, has_alpha = case.image, case.has_alpha
        runs = []
        # A scaling figure is the median of SCALING_RUNS: one run of a 1 MP image lasts ~15 ms,
        # where a scheduler hiccup or a first use (a selection network built for a new sample
        # count) moved it by a third between bench runs.
        for _ in range(SCALING_RUNS if job.kind == "scaling" else 1):
            start = time.perf_counter()
            reconstruct(rgba, has_alpha=has_alpha)
            runs.append((time.perf_counter() - start) * 1000.0)
        ms = sorted(runs)[len(runs) // 2]
        peak_mb = None
        if job.kind in ("speed", "scaling"):
            # A second, untimed call for memory: tracing slows allocation down.
            _, peak_mb = _traced(lambda: reconstruct(rgba, has_alpha=has_alpha))
        peer_ms = time_peer(rgba) if job.kind == "speed" else None
        return TimingSample(job, ms, peak_mb, peer_ms=peer_ms)
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


SCALING_RUNS = 3

# Cells (w, h) of the scaling images: "busy" the small-cell worst case; "sparse" a typical
# generated sprite's (real generations: 10-35 px, ../shared/realworld).
SCALING_CELLS = {"sparse": (16.2, 16.5), "busy": (6.3, 6.4)}


def scaling_image(kind: str, size: tuple[int, int], seed: int = 0) -> "np.ndarray":
    """A ``size`` image for the per-megapixel figures, made of seamless 1024-px tiles.

    A tile's cells divide 1024 exactly, so the tiles continue one grid (a seam would make
    the image a drift case and time other work).  "sparse": one AI-like sprite tile (flat
    areas, a few dozen colours) on 16-px cells, repeated; "busy": every cell its own colour, as
    painterly generations nearly are, on 6.3-px cells, each tile drawn anew.
    """
    from dataclasses import replace

    import numpy as np

    from ..core import synth

    rng = np.random.default_rng([seed, 7])
    deg = synth.tier_degradation("ai", rng)
    if kind not in SCALING_CELLS:
        raise ValueError(f"unknown scaling image {kind!r}")
    # A fixed cell per kind: the cost per pixel follows the number of cells, so a seed-drawn
    # cell (5-40 px) made the figure move 3x between runs.
    deg = replace(deg, cell_w=SCALING_CELLS[kind][0], cell_h=SCALING_CELLS[kind][1])
    cell_w, cell_h = 1024 / round(1024 / deg.cell_w), 1024 / round(1024 / deg.cell_h)
    deg = replace(deg, cell_w=cell_w, cell_h=cell_h, offset_x=deg.offset_x % cell_w, offset_y=deg.offset_y % cell_h, jpeg_quality=None)

    def colours(cx: int, cy: int) -> np.ndarray:
        out = np.empty((cy, cx, 4), np.uint8)
        out[..., :3] = rng.integers(0, 256, (cy, cx, 3))
        out[..., 3] = 255
        return out

    width, height = size
    rows, cols = -(-height // 1024), -(-width // 1024)
    if kind == "busy":
        # Every tile its own colours (one tile repeated would give a 41 MP image the 26k
        # colours of 1 MP, and the palette step's cost per pixel would fall with size).
        tiles = [[synth.degrade(colours, deg, 1024, 1024, rng).image for _ in range(cols)] for _ in range(rows)]
        whole = np.concatenate([np.concatenate(row, axis=1) for row in tiles], axis=0)
    else:
        tile = synth.degrade(lambda cx, cy: synth.random_sprite(rng, cx, cy), deg, 1024, 1024, rng).image
        whole = np.tile(tile, (rows, cols, 1))
    image: np.ndarray = np.ascontiguousarray(whole[:height, :width])
    return image


def time_peer(rgba: "np.ndarray") -> float | None:
    """ms of perfect-pixel (a peer tool on PyPI, in the dev extra) on the same image, or None.

    Its automatic mode (grid detection + centre sampling), timed in the same single-thread
    process right after ours, so the ratio holds under the same machine load.
    """
    import contextlib
    import importlib.util
    import io

    if importlib.util.find_spec("perfect_pixel") is None:
        return None
    import numpy as np
    from perfect_pixel import get_perfect_pixel

    rgb = np.ascontiguousarray(rgba[..., :3])
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints when it finds no grid
        get_perfect_pixel(rgb)
    return (time.perf_counter() - start) * 1000.0
