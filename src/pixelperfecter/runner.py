"""One runner for every batch job in the project: inline, a local process pool, or Dask.

``perfecter reconstruct``, ``perfecter bench`` and ``perfecter ml prepare`` all hand a picklable
function and a list of picklable jobs to :func:`run_unordered` (results in completion order) or
:func:`run_ordered` (a list in input order).  The executors differ only in where ``fn`` runs:

* :class:`InlineExecutor` - in this process (one worker or one job: no start-up, easy debugging);
* :class:`LocalExecutor` - a ``ProcessPoolExecutor`` whose workers ignore Ctrl-C (the driver
  decides), die with the driver (Linux ``PR_SET_PDEATHSIG``), and are terminated, not awaited,
  when the driver stops early, so SIGINT/SIGTERM exits in well under a second;
* :class:`DaskExecutor` - ``dask.distributed``: a running scheduler at an address, or a
  ``LocalCluster`` started for the run.  Workers get the same function and jobs by pickle.

A job whose worker dies (killed, out of memory) comes back as a :class:`WorkerFailure`, never
as an exception, so one bad image never stops a batch.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Thread-pool sizes of the numeric libraries: only read when the library loads, so they must
# be in the environment of a process before it imports NumPy (hence spawned processes).
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")

EXECUTORS = ("local", "dask")
MAX_DASK_CHUNK = 32  # images per Dask task at most (see DaskExecutor.chunk_size)
TASKS_PER_WORKER = 4  # tasks per worker and batch: enough to spread the load, few enough that per-task cost stays small
CONNECT_TIMEOUT = "5s"  # for --scheduler ADDRESS: a wrong address fails fast with one line


def default_workers() -> int:
    """The CPUs this process may run on (its affinity mask), else the machine's core count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def one_line(value: object) -> str:
    """A message on one line: exceptions as ``Type: first line``, text with whitespace collapsed."""
    if isinstance(value, BaseException):
        lines = str(value).splitlines()
        text = " ".join(lines[0].split()) if lines else ""
        return f"{type(value).__name__}: {text}" if text else type(value).__name__
    return " ".join(str(value).split())


@dataclass(frozen=True)
class WorkerFailure:
    """A job whose worker failed outside ``fn`` (killed, out of memory, unpicklable result)."""

    reason: str


@contextlib.contextmanager
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


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (a SIGKILLed driver leaves no orphans)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux / no libc: best effort
        pass


def init_worker(single_thread: bool = False) -> None:
    """Set up a pool worker: the driver owns Ctrl-C and SIGTERM, workers just do the work.

    Forked workers inherit the driver's Python signal handlers; SIGTERM goes back to the
    default (die at once: the driver sweeps the temp files), SIGINT is ignored (a Ctrl-C in
    the terminal reaches the whole process group; the driver then stops the workers itself).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()
    if single_thread:
        import cv2

        cv2.setNumThreads(1)


class Executor(Protocol):
    """Runs ``fn`` over jobs; yields ``(index, value)`` in completion order."""

    def map_unordered(self, fn: Callable[[T], R], jobs: Sequence[T]) -> Iterator[tuple[int, R | WorkerFailure]]: ...

    def close(self) -> None: ...


class InlineExecutor:
    def map_unordered(self, fn: Callable[[T], R], jobs: Sequence[T]) -> Iterator[tuple[int, R | WorkerFailure]]:
        for index, job in enumerate(jobs):
            yield index, fn(job)

    def close(self) -> None:
        pass


class LocalExecutor:
    """A local process pool that is stopped, not drained, when the driver gives up early."""

    def __init__(self, workers: int, start_method: str | None = None, single_thread: bool = False) -> None:
        self.workers = max(1, workers)
        self.start_method = start_method
        self.single_thread = single_thread
        self._pool: ProcessPoolExecutor | None = None
        self._env = contextlib.ExitStack()

    def _start(self, n_jobs: int) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context(self.start_method) if self.start_method else None
        if self.single_thread:
            # Held until close(): spawned pools start their processes on demand, and each
            # must see the env vars when it starts.
            self._env.enter_context(single_thread_env())
        return ProcessPoolExecutor(
            max_workers=min(self.workers, max(1, n_jobs)), mp_context=ctx,
            initializer=init_worker, initargs=(self.single_thread,),
        )

    def map_unordered(self, fn: Callable[[T], R], jobs: Sequence[T]) -> Iterator[tuple[int, R | WorkerFailure]]:
        if not jobs:
            return
        self._pool = self._start(len(jobs))
        # Keep a bounded window in flight: a 10^6-image batch must not hold 10^6 futures.
        window = 4 * self.workers
        pending: dict[Future[R], int] = {}
        next_index = 0
        while next_index < len(jobs) or pending:
            while next_index < len(jobs) and len(pending) < window:
                try:
                    pending[self._pool.submit(fn, jobs[next_index])] = next_index
                except BrokenProcessPool:
                    break  # the jobs in flight report it below; a fresh pool takes the rest
                next_index += 1
            if not pending:
                self._restart(len(jobs) - next_index)
                continue
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            broken = False
            for fut in sorted(done, key=lambda f: pending[f]):
                index = pending.pop(fut)
                try:
                    yield index, fut.result()
                except BrokenProcessPool:
                    # A worker died (killed, out of memory): every job in flight fails with it
                    # (which one killed it cannot be told); the batch goes on in a fresh pool.
                    broken = True
                    yield index, WorkerFailure("worker failed (a worker process died: killed or out of memory)")
                except Exception as exc:  # the job's result could not come back (unpicklable)
                    yield index, WorkerFailure(f"worker failed ({one_line(exc)})")
            if broken and not pending:
                self._restart(len(jobs) - next_index)

    def _restart(self, n_jobs: int) -> None:
        old, self._pool = self._pool, None
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)
        self._pool = self._start(max(1, n_jobs))

    def close(self) -> None:
        pool, self._pool = self._pool, None
        self._env.close()
        if pool is None:
            return
        # Terminate rather than wait: a running reconstruction can take seconds, and whoever
        # stops us (Ctrl-C, SIGTERM, a metrics error) wants out now.  Temp files the killed
        # workers leave are swept by the caller (it knows their names).
        processes = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            with contextlib.suppress(Exception):
                proc.terminate()
        for proc in processes:
            with contextlib.suppress(Exception):
                proc.join(timeout=1.0)
                if proc.is_alive():
                    proc.kill()
                    proc.join(timeout=1.0)


@dataclass(frozen=True)
class _Chunk(Generic[T, R]):
    """``fn`` over a list of jobs in one Dask task (picklable)."""

    fn: Callable[[T], R]

    def __call__(self, jobs: list[T]) -> list[R]:
        return [self.fn(job) for job in jobs]


class DaskExecutor:
    """``dask.distributed``: submit to ``scheduler`` (an address), or to a LocalCluster of ``workers``."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None, processes: bool = True, chunk: int | None = None) -> None:
        self.fixed_chunk = chunk
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise RuntimeError("--executor dask needs the 'cluster' extra: pip install -e '.[cluster]'") from None
        self._cluster: Any = None
        if scheduler:
            self.client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        else:
            n = workers or default_workers()
            with single_thread_env():
                # Loopback only, dashboard on a free port (a fixed :8787 clashes with any other
                # run); threads (processes=False) talk in-process and need no address at all.
                where = {"host": "127.0.0.1"} if processes else {}
                self._cluster = LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=processes,
                    dashboard_address="127.0.0.1:0", silence_logs=50, **where,
                )
            self.client = Client(self._cluster)
        self._futures: list[Any] = []

    @property
    def n_workers(self) -> int:
        return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))

    def chunk_size(self, n_jobs: int) -> int:
        """Jobs per Dask task: the scheduler spends ~1 ms per task, so a big batch on many
        workers sends a few images per task - still ~20 tasks per worker, so the load spreads
        and results keep streaming."""
        if self.fixed_chunk is not None:
            return self.fixed_chunk
        workers = max(1, self.n_workers)
        return max(1, min(MAX_DASK_CHUNK, n_jobs // (TASKS_PER_WORKER * workers)))

    def map_unordered(self, fn: Callable[[T], R], jobs: Sequence[T]) -> Iterator[tuple[int, R | WorkerFailure]]:
        from distributed import as_completed

        if not jobs:
            return
        size = self.chunk_size(len(jobs))
        starts = list(range(0, len(jobs), size))
        futures = self.client.map(_Chunk(fn), [list(jobs[i : i + size]) for i in starts], pure=False)
        self._futures = futures
        start_of = {fut.key: i for fut, i in zip(futures, starts)}
        # with_results: results are gathered in the background as tasks finish, instead of one
        # blocking round trip to a worker per task in this loop.
        for fut, value in as_completed(futures, with_results=True, raise_errors=False):
            first = start_of[fut.key]
            if fut.status == "error" or isinstance(value, BaseException):
                # A worker died or the task could not run there: its jobs failed, the batch goes on.
                for index in range(first, min(first + size, len(jobs))):
                    yield index, WorkerFailure(f"worker failed ({one_line(value)})")
            else:
                for offset, item in enumerate(value):
                    yield first + offset, item
            fut.release()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._futures:
                self.client.cancel(self._futures)
        with contextlib.suppress(Exception):
            self.client.close(timeout=2)
        if self._cluster is not None:
            # Our own cluster's worker processes are killed first, as the local pool's are: a
            # graceful close waits for their running images and, on a busy machine, ran past
            # its timeout and left the interpreter's exit waiting on the cluster (15 s after
            # a SIGTERM).  A remote cluster's workers are not ours to kill.
            for nanny in list(getattr(self._cluster, "workers", {}).values()):
                with contextlib.suppress(Exception):
                    if nanny.pid and nanny.pid != os.getpid():
                        os.kill(nanny.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                self._cluster.close(timeout=2)


def make_executor(
    kind: str = "local",
    workers: int = 1,
    n_jobs: int | None = None,
    scheduler: str | None = None,
    start_method: str | None = None,
    single_thread: bool = False,
) -> Executor:
    """The executor for ``kind``; a local run with one worker or one job runs inline."""
    if kind == "dask":
        return DaskExecutor(scheduler=scheduler, workers=workers)
    if kind != "local":
        raise ValueError(f"unknown executor {kind!r}; choose from {', '.join(EXECUTORS)}")
    if workers <= 1 or (n_jobs is not None and n_jobs <= 1):
        return InlineExecutor()
    return LocalExecutor(workers, start_method=start_method, single_thread=single_thread)


class Ordered(Generic[R]):
    """Hands back values in input order from completion-ordered ``(index, value)`` pairs."""

    def __init__(self) -> None:
        self._held: dict[int, R] = {}
        self._next = 0

    def push(self, index: int, value: R) -> list[R]:
        self._held[index] = value
        ready = []
        while self._next in self._held:
            ready.append(self._held.pop(self._next))
            self._next += 1
        return ready

    def drain(self) -> list[R]:
        """What is held back (values whose predecessors never finished), in input order."""
        ready = [self._held[i] for i in sorted(self._held)]
        self._held.clear()
        return ready


def run_unordered(fn: Callable[[T], R], jobs: Sequence[T], executor: Executor) -> Iterator[tuple[int, R | WorkerFailure]]:
    """``fn`` over ``jobs`` on ``executor``, in completion order; the executor is closed at the end."""
    try:
        yield from executor.map_unordered(fn, jobs)
    finally:
        executor.close()


def run_ordered(
    fn: Callable[[T], R],
    jobs: Sequence[T],
    workers: int,
    on_done: Callable[[R], None] | None = None,
    on_failure: Callable[[T, WorkerFailure], R] | None = None,
    executor: Executor | None = None,
) -> list[R]:
    """``fn`` over ``jobs`` as a list in input order (``on_done`` in input order too).

    Local pools here are spawned single-thread workers: every worker starts a fresh
    interpreter with the thread env vars already set, whatever the parent imported before.
    """
    chosen = executor or make_executor("local", workers, len(jobs), start_method="spawn", single_thread=True)
    order: Ordered[R] = Ordered()
    results: list[R] = []
    for index, value in run_unordered(fn, jobs, chosen):
        if isinstance(value, WorkerFailure):
            if on_failure is None:
                raise RuntimeError(value.reason)
            value = on_failure(jobs[index], value)
        for ready in order.push(index, value):
            results.append(ready)
            if on_done:
                on_done(ready)
    return results
