"""The local worker pool of `--jobs N`: forked where that is safe, tasks added while results come in,
single-threaded numerical libraries, failures that stop every worker."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from flexopt import workers
from flexopt.workers import WorkerPool, start_method

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")


def _square(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info()]


def _fail(x: int) -> None:
    raise ValueError(f"task {x} failed")


def _module_loaded(name: str) -> bool:
    return name in sys.modules


@linux_only
def test_workers_are_forked_only_while_this_process_runs_no_other_thread(monkeypatch):
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert start_method() == "fork"
    monkeypatch.setattr(threading, "active_count", lambda: 2)  # e.g. a progress bar's monitor, a web server
    assert start_method() == "spawn"


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_tasks_submitted_while_results_come_in_run_too(monkeypatch, method):
    monkeypatch.setattr(workers, "start_method", lambda: method)
    seen: dict = {}
    with WorkerPool(2) as pool:
        for x in (1, 2, 3):
            pool.submit(("first", x), _square, x)
        for key, (value, pid) in pool.results():
            seen[key] = value
            if key[0] == "first":  # a follow-up task of each finished one, as a case's figures follow its dataset
                pool.submit(("then", key[1]), _square, value + 1)
    assert seen == {("first", 1): 1, ("first", 2): 4, ("first", 3): 9,
                    ("then", 1): 4, ("then", 2): 25, ("then", 3): 100}


@linux_only
def test_forked_workers_share_the_preloaded_modules_and_run_one_blas_thread_each(monkeypatch):
    monkeypatch.setattr(workers, "start_method", lambda: "fork")
    sys.modules.pop("json.tool", None)
    with WorkerPool(2, preload=("json.tool",)) as pool:
        assert "json.tool" in sys.modules  # imported here, once, before the workers fork
        pool.submit("loaded", _module_loaded, "json.tool")
        pool.submit("blas", _blas_threads)
        results = dict(pool.results())
    assert results["loaded"] is True
    assert results["blas"] and set(results["blas"]) == {1}


def test_a_failing_task_stops_the_pool_and_reaches_the_caller(monkeypatch):
    monkeypatch.setattr(workers, "start_method", lambda: "fork" if sys.platform.startswith("linux") else "spawn")
    with pytest.raises(ValueError, match="task 2 failed"):
        with WorkerPool(2) as pool:
            pool.submit(1, _square, 1)
            pool.submit(2, _fail, 2)
            processes = list(pool._pool._processes.values())
            for _ in pool.results():
                pass
    for process in processes:
        process.join(5)
        assert not process.is_alive()


def test_the_progress_bar_on_a_terminal_starts_no_thread_so_workers_can_still_be_forked():
    import io

    from flexopt.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    before = threading.active_count()
    progress = Progress(1, Terminal())
    progress.start(5, "assessment")
    try:
        assert progress._bar is not None and threading.active_count() == before
    finally:
        progress.finish()
