"""The one runner (`pixelperfecter.runner`) that reconstruct, bench and ml prepare share."""

from __future__ import annotations

import os

import pytest

from pixelperfecter import runner


def _square_or_die(x: int) -> int:
    if x == 3:
        os._exit(9)  # a worker killed mid-job (out of memory, kill -9)
    return x * x


def _square(x: int) -> int:
    return x * x


def test_a_dead_worker_fails_its_job_and_the_rest_go_on() -> None:
    jobs = list(range(40))  # more than the pool's window, so jobs are submitted after the death
    got = dict(runner.run_unordered(_square_or_die, jobs, runner.LocalExecutor(2)))
    assert sorted(got) == jobs
    assert isinstance(got[3], runner.WorkerFailure) and "worker failed" in got[3].reason
    # The jobs in flight with it fail too (which one killed the worker cannot be told); the
    # rest run in a fresh pool.
    failed = [k for k, v in got.items() if isinstance(v, runner.WorkerFailure)]
    assert len(failed) <= 8 and all(got[k] == k * k for k in jobs if k not in failed)


def test_run_ordered_keeps_input_order_on_every_executor() -> None:
    done: list[int] = []
    assert runner.run_ordered(_square, list(range(7)), workers=2, on_done=done.append) == [x * x for x in range(7)]
    assert done == [x * x for x in range(7)]
    assert runner.run_ordered(_square, [5], workers=1) == [25]


def test_ordered_releases_values_in_input_order() -> None:
    order: runner.Ordered[str] = runner.Ordered()
    assert order.push(1, "b") == [] and order.push(0, "a") == ["a", "b"] and order.push(3, "d") == []
    assert order.drain() == ["d"]


@pytest.mark.parametrize("value, text", [(ValueError("bad\n  thing"), "ValueError: bad"), (KeyError(), "KeyError"), ("a\n b\tc", "a b c")])
def test_one_line(value: object, text: str) -> None:
    assert runner.one_line(value) == text


def test_make_executor_runs_inline_for_one_worker_or_one_job() -> None:
    assert isinstance(runner.make_executor("local", 1, 10), runner.InlineExecutor)
    assert isinstance(runner.make_executor("local", 4, 1), runner.InlineExecutor)
    assert isinstance(runner.make_executor("local", 2, 10), runner.LocalExecutor)
    with pytest.raises(ValueError, match="unknown executor"):
        runner.make_executor("slurm", 2, 10)


def test_dask_chunks_hand_back_every_job_under_its_own_index() -> None:
    pytest.importorskip("distributed")
    executor = runner.DaskExecutor(workers=2, processes=False, chunk=3)
    got = dict(runner.run_unordered(_square, list(range(10)), executor))
    assert got == {x: x * x for x in range(10)}


def test_dask_chunk_size_keeps_a_few_tasks_per_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner.DaskExecutor, "n_workers", property(lambda self: 4))
    executor = object.__new__(runner.DaskExecutor)
    executor.fixed_chunk = None
    # 4 tasks per worker (16 here): 200 images -> 12 per task, 10 -> 1, a huge batch -> the cap.
    assert executor.chunk_size(200) == 12 and executor.chunk_size(10) == 1 and executor.chunk_size(10**6) == runner.MAX_DASK_CHUNK


def test_the_cli_knows_the_same_executors() -> None:
    from pixelperfecter import cli_reconstruct

    assert cli_reconstruct.EXECUTORS == runner.EXECUTORS
