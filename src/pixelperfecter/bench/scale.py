"""``perfecter bench --scale``: batch throughput of the runner's executors on the same images.

Four configurations over the same N images (3 rounds, round-robin, medians reported) (default 200, seeded ``ai``-tier cases, 512x512),
each through the real batch path (``batch.run_batch``: staged outputs, driver commits, metrics
CSV and manifest), wall-clock from the first submit to the last record, pool start included:

* ``local x1`` / ``local x2`` - the local process pool with 1 and 2 workers;
* ``dask LocalCluster x2``    - ``--executor dask`` without a scheduler (cluster start included);
* ``dask scheduler + 2``      - a ``dask scheduler`` and a ``dask worker --nworkers 2`` started as
  separate processes on this machine (their start-up is *not* in the time: a real cluster is
  already running when a batch is submitted).

It checks that every configuration wrote byte-identical outputs, reports Dask's overhead per
image against the local pool with the same number of workers, and projects a 10^6-image run
on N machines from the measured figures (a paper estimate: the assumptions are printed).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

SCALE_SIZE = (512, 512)
SCALE_UPSCALE = 4
# Published order of magnitude for the distributed scheduler's own cost per task (Dask docs:
# "about 1ms of overhead per task"); used only for the projection's ceiling, stated as such.
SCHEDULER_MS_PER_TASK = 1.0
PROJECT_IMAGES = 1_000_000
PROJECT_MACHINES = (1, 10, 50, 200)
DASK_OVERHEAD_TARGET_PCT = 5.0


@dataclass(frozen=True)
class ScaleRun:
    name: str
    executor: str
    workers: int
    images: int
    seconds: float
    ok: int
    failed: int
    digest: str  # sha256 over every output file's name and bytes
    note: str = ""
    # From the first image handed back to the last: start-up (pool fork, cluster start, the
    # workers' first imports) left out, so this is the cost per image of a long run.
    steady_seconds: float = 0.0
    # Images handed back in that window: all but those that came with the first delivery (a
    # Dask task returns several images at once, which the window must not count as free).
    steady_images: int = 0

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    @property
    def ms_per_image(self) -> float:
        return 1000.0 * self.seconds / self.images if self.images else 0.0

    @property
    def steady_ms_per_image(self) -> float:
        counted = self.steady_images or self.images - 1
        return 1000.0 * self.steady_seconds / counted if counted > 0 and self.steady_seconds > 0 else self.ms_per_image

    @property
    def steady_images_per_s(self) -> float:
        return 1000.0 / self.steady_ms_per_image if self.steady_ms_per_image > 0 else 0.0


@dataclass
class ScaleReport:
    images: int
    seed: int
    runs: list[ScaleRun]
    environment: str
    notes: list[str] = field(default_factory=list)
    # What the driver spends recording one image (fsynced metrics append + manifest append).
    driver_ms_per_image: float | None = None

    def run(self, name: str) -> ScaleRun | None:
        return next((r for r in self.runs if r.name == name), None)

    @property
    def identical(self) -> bool:
        return len({r.digest for r in self.runs}) == 1


def make_inputs(folder: Path, n: int, seed: int) -> list[Path]:
    """``n`` seeded ai-tier cases as PNGs (made once, reused by every configuration)."""
    from ..core import synth
    from ..core.io import save_png

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"scale_{seed + i:06d}.png"
        if not path.exists():
            case = synth.make_case(seed + i, "ai", size=SCALE_SIZE)
            save_png(path, case.image, keep_alpha=case.has_alpha)
        paths.append(path)
    return paths


def _digest(out: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(out.glob("*.png")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def time_batch(name: str, files: list[Path], out: Path, executor_kind: str, workers: int, scheduler: str | None = None, note: str = "") -> ScaleRun:
    """One configuration through the real batch path; the clock includes pool/cluster start."""
    from ..batch import BatchSettings, Recorder, plan_jobs, run_batch
    from ..core.pipeline import OutputOptions
    from ..manifest import Manifest
    from ..runner import make_executor

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    settings = BatchSettings(out_dir=out, outputs=OutputOptions(upscale=SCALE_UPSCALE))
    jobs = plan_jobs(files, out, settings.outputs)
    recorder = Recorder(settings.thresholds, out / "metrics.csv", Manifest(out / "manifest.jsonl"), params=settings.shaping_key())
    handed_back: list[float] = []
    start = time.perf_counter()
    executor = make_executor(executor_kind, workers, len(jobs), scheduler=scheduler)
    results = list(run_batch(jobs, settings, workers, executor=executor, recorder=recorder,
                             on_progress=lambda _r: handed_back.append(time.perf_counter())))
    seconds = time.perf_counter() - start
    ok = sum(r.ok for r in results)
    steady = handed_back[-1] - handed_back[0] if len(handed_back) > 1 else 0.0
    # The first delivery: every image recorded within a few ms of the first hand-back.
    first_delivery = sum(1 for t in handed_back if t - handed_back[0] < FIRST_DELIVERY_S)
    return ScaleRun(name, executor_kind, workers, len(results), seconds, ok, len(results) - ok, _digest(out), note, steady,
                    steady_images=max(0, len(handed_back) - first_delivery))


# Images recorded this soon after the first hand-back came with it (one Dask task's batch).
FIRST_DELIVERY_S = 0.005


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_scheduler(workers: int, timeout: float = 60.0) -> Iterator[str]:
    """A ``dask scheduler`` and a ``dask worker --nworkers N`` on 127.0.0.1, stopped afterwards."""
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    src = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])), "OMP_NUM_THREADS": "1"}
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet)]  # type: ignore[call-overload]
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", str(workers), "--nthreads", "1",
                                       "--no-dashboard", "--host", "127.0.0.1", "--memory-limit", "0"], **quiet))  # type: ignore[call-overload]
        with Client(address, timeout=timeout) as client:
            client.wait_for_workers(workers, timeout=timeout)
        yield address
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def measure_driver_record(folder: Path, n: int = 300) -> float:
    """ms per image the driver spends recording (metrics row with fsync, manifest line)."""
    from ..core.metrics import append_metrics, metrics_row
    from ..core.types import Thresholds
    from ..manifest import Manifest, Record

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    row = metrics_row(str(folder / "image.png"), None, Thresholds(), error="benchmark row")
    manifest = Manifest(folder / "manifest.jsonl")
    record = Record(str(folder / "image.png"), 1, 1, "0" * 64, "p", "image", "ok", {"sprite": str(folder / "out.png")})
    start = time.perf_counter()
    for _ in range(n):
        append_metrics(folder / "metrics.csv", [row])
        manifest.append([record])
    return 1000.0 * (time.perf_counter() - start) / n


def _environment() -> str:
    try:
        load = os.getloadavg()
        load_text = f", load average {load[0]:.1f}/{load[1]:.1f} (1/5 min)"
    except OSError:
        load_text = ""
    return f"{os.cpu_count()} CPUs{load_text}, Python {sys.version.split()[0]}"


def run_scale(n_images: int = 200, seed: int = 0, work_dir: Path = Path("output/bench/scale"), workers: int = 2,
              progress: Callable[[str], None] | None = None, repeats: int = 3) -> ScaleReport:
    """Every configuration over the same images, ``repeats`` rounds, round-robin.

    Round-robin and medians because a shared machine's load drifts within a minute: running
    each configuration's repeats back to back would compare them under different loads.
    """
    say = progress or (lambda _message: None)
    say(f"making {n_images} input images")
    files = make_inputs(work_dir / "inputs", n_images, seed)
    environment = _environment()
    try:
        import distributed  # noqa: F401

        have_dask = True
    except ImportError:
        have_dask = False
    rounds: dict[str, list[ScaleRun]] = {}

    def one_round(address: str | None) -> None:
        configs: list[tuple[str, str, int, str | None, str]] = [(f"local x{w}", "local", w, None, "") for w in sorted({1, workers})]
        if have_dask:
            configs.append((f"dask LocalCluster x{workers}", "dask", workers, None, "cluster start-up included"))
            configs.append((f"dask scheduler + {workers}", "dask", workers, address, "scheduler and workers already running"))
        for name, kind, w, scheduler, note in configs:
            say(f"{name} (round {len(rounds.get(name, [])) + 1}/{repeats})")
            slug = name.replace(" ", "_").replace("+", "")
            rounds.setdefault(name, []).append(time_batch(name, files, work_dir / f"out_{slug}", kind, w, scheduler=scheduler, note=note))

    if have_dask:
        with local_scheduler(workers) as address:
            for _ in range(repeats):
                one_round(address)
    else:
        for _ in range(repeats):
            one_round(None)
    runs = [_median_run(r) for r in rounds.values()]
    notes = [] if have_dask else ["dask not installed (the 'cluster' extra): Dask rows skipped"]
    environment = f"before: {environment}; after: {_environment()}"
    driver_ms = measure_driver_record(work_dir / "driver")
    return ScaleReport(n_images, seed, runs, environment, notes, driver_ms)


def _median_run(runs: list[ScaleRun]) -> ScaleRun:
    """The run with the median steady time, its note saying the spread over the rounds."""
    ordered = sorted(runs, key=lambda r: r.steady_ms_per_image)
    middle = ordered[len(ordered) // 2]
    digests = {r.digest for r in runs}
    spread = f"median of {len(runs)}, steady ms/image {ordered[0].steady_ms_per_image:.1f}-{ordered[-1].steady_ms_per_image:.1f}"
    note = "; ".join(filter(None, [middle.note, spread]))
    return ScaleRun(middle.name, middle.executor, middle.workers, middle.images, middle.seconds, middle.ok, middle.failed,
                    middle.digest if len(digests) == 1 else "differs between rounds", note, middle.steady_seconds,
                    steady_images=middle.steady_images)


def overhead_pct(dask: ScaleRun, local: ScaleRun) -> float:
    """Dask's extra time per image at steady state, as a share of the local pool's."""
    return 100.0 * (dask.steady_ms_per_image - local.steady_ms_per_image) / local.steady_ms_per_image


def ceilings(report: ScaleReport) -> dict[str, float]:
    """images/s that one scheduler and one driver can handle, whatever the number of machines."""
    from ..runner import MAX_DASK_CHUNK

    out = {"scheduler": 1000.0 / SCHEDULER_MS_PER_TASK * MAX_DASK_CHUNK}
    if report.driver_ms_per_image:
        out["driver"] = 1000.0 / report.driver_ms_per_image
    return out


def projection(report: ScaleReport, workers: int = 2) -> list[tuple[int, float, float]]:
    """(machines, images/s, hours) for 10^6 images, each machine like this one with ``workers`` workers.

    Throughput per machine: the measured ``dask scheduler + workers`` run at steady state (a
    10^6-image run is all steady state: start-up is seconds); the total is capped by the
    scheduler's cost per task (``SCHEDULER_MS_PER_TASK``, an assumption, with the largest
    chunk of images per task a 10^6-image run uses) and by the driver's measured cost of
    recording an image.
    """
    base = report.run(f"dask scheduler + {workers}") or report.run(f"local x{workers}")
    if base is None:
        return []
    ceiling = min(ceilings(report).values())
    rows = []
    for machines in PROJECT_MACHINES:
        rate = min(machines * base.steady_images_per_s, ceiling)
        rows.append((machines, rate, PROJECT_IMAGES / rate / 3600.0))
    return rows


def scale_markdown(report: ScaleReport, workers: int = 2) -> str:
    lines = [
        "# perfecter bench --scale",
        "",
        f"{report.images} images ({SCALE_SIZE[0]}x{SCALE_SIZE[1]} ai-tier, seed {report.seed}), outputs sprite + x{SCALE_UPSCALE}, "
        f"metrics CSV and manifest written by the driver; {report.environment}.",
        "",
        "Wall: first submit to last record, start-up included. Steady: from the first image handed back to the last.",
        "",
        "| configuration | wall images/s | steady images/s | steady ms / image | wall s | ok | failed | outputs digest | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report.runs:
        lines.append(f"| {r.name} | {r.images_per_s:.1f} | {r.steady_images_per_s:.1f} | {r.steady_ms_per_image:.1f} | {r.seconds:.1f} | "
                     f"{r.ok} | {r.failed} | `{r.digest}` | {r.note} |")
    lines.append("")
    lines.append(f"Outputs identical across configurations: {'yes' if report.identical else 'NO'}.")
    local = report.run(f"local x{workers}")
    for name in (f"dask LocalCluster x{workers}", f"dask scheduler + {workers}"):
        dask = report.run(name)
        if dask is not None and local is not None:
            pct = overhead_pct(dask, local)
            verdict = "PASS" if pct <= DASK_OVERHEAD_TARGET_PCT else "FAIL"
            lines.append(f"- {name} vs local x{workers}, steady state: {dask.steady_ms_per_image - local.steady_ms_per_image:+.2f} ms per image "
                         f"({pct:+.1f}%; target <= {DASK_OVERHEAD_TARGET_PCT:g}%: {verdict}); wall incl. start-up: "
                         f"{dask.seconds - local.seconds:+.1f} s over the run")
    rows = projection(report, workers)
    if rows:
        lines += [
            "",
            f"## Projection: {PROJECT_IMAGES:,} images (paper estimate)",
            "",
            f"Each machine like this one ({workers} workers) at the measured steady `dask scheduler + {workers}` rate; the total is capped by "
            + "; ".join(f"the {k} at {v:,.0f} images/s" for k, v in ceilings(report).items())
            + f" (scheduler: ~{SCHEDULER_MS_PER_TASK:g} ms per task, Dask's documented order of magnitude, not measured here, with "
            "the most images per task a 10^6 run uses; driver: measured here, "
            f"{report.driver_ms_per_image or 0:.2f} ms to record an image). Assumes inputs and outputs on a shared filesystem that "
            "keeps up, and images like these.",
            "",
            "| machines | images/s | hours |",
            "|---|---|---|",
        ]
        lines += [f"| {m} | {rate:,.0f} | {hours:.1f} |" for m, rate, hours in rows]
    lines += [""] + [f"- note: {n}" for n in report.notes]
    return "\n".join(lines) + "\n"
