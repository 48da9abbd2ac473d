"""Local worker processes of a sweep (``--jobs N``): a spawned pool of single-threaded workers, and Ctrl-C
that stops them at once."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Callable

from flexopt.errors import FlexoptError, Problem


def _worker_start() -> None:
    """Set up a worker process: Ctrl-C is left to the parent, which stops the workers at once (a terminal
    sends it to the whole process group). Locks made here (Pyomo makes one on import) are of the fork
    context, unnamed, so that a worker stopped at once leaves no named semaphore behind."""
    import multiprocessing

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if "fork" in multiprocessing.get_all_start_methods():
        multiprocessing.set_start_method("fork", force=True)  # workers start no processes of their own


#: Thread pools of the numerical libraries, one thread per worker: N workers on N cores, not N x N threads.
SINGLE_THREADED = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                           "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """``values`` set in os.environ while the workers start (they inherit it), the old values restored after."""
    old = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _reap_resource_tracker() -> None:
    """At exit, stop the resource tracker the spawned pool started and wait for it, after the pool's own
    semaphores are released (collected first, so none is reported leaked). Left to itself it outlives this
    process as an orphan that the machine's init (a container's pid 1) may reap only seconds later."""
    import gc
    from multiprocessing import resource_tracker

    gc.collect()
    tracker = resource_tracker._resource_tracker
    if getattr(tracker, "_pid", None) is not None and hasattr(tracker, "_stop"):
        tracker._stop()


def in_processes(function: Callable, jobs_of: dict, jobs: int, on_result: Callable) -> None:
    """``function(*jobs_of[key])`` for every key in ``jobs`` worker processes; ``on_result(key, result)``
    here as each one finishes."""
    import atexit
    import concurrent.futures as cf
    import multiprocessing
    import threading
    from concurrent.futures.process import BrokenProcessPool

    atexit.unregister(_reap_resource_tracker)  # once, however many pools the process starts
    atexit.register(_reap_resource_tracker)
    todo = list(jobs_of)
    context = multiprocessing.get_context("spawn")  # no forked solver state
    workers = min(jobs, len(todo))
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None  # inherited by the workers
    try:  # the pool starts one worker per submit until it has them all
        with _environment(SINGLE_THREADED):
            pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_start)
            futures = {pool.submit(function, *jobs_of[m]): m for m in todo[:workers]}
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    try:
        futures.update({pool.submit(function, *jobs_of[m]): m for m in todo[workers:]})
        for future in cf.as_completed(futures):
            on_result(futures[future], future.result())
    except BrokenProcessPool:
        stop_pool(pool)
        raise FlexoptError([Problem("a worker process died during the assessment (out of memory, or killed?)",
                                    None, "finished datasets are kept; run the same command again, with fewer "
                                    "--jobs if memory is short")]) from None
    except BaseException:
        stop_pool(pool)
        raise
    pool.shutdown()


def stop_pool(pool, grace: float = 1.0) -> None:
    """Stop a process pool now: queued members are dropped, running ones killed (their temporary files
    are removed by the caller); returns within about ``grace`` seconds plus the pool's own clean-up."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(1.0)
    pool.shutdown(wait=True, cancel_futures=True)  # the workers are gone: this only joins the pool's thread
