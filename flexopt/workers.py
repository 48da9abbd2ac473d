"""Local worker processes of a sweep (``--jobs N``): a pool of single-threaded workers, forked where that is
safe (they start at once, sharing what the parent imported) and spawned elsewhere, and Ctrl-C that stops
them at once."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import time
from typing import Callable, Hashable, Iterator, Sequence

from flexopt.errors import FlexoptError, Problem


def _worker_start() -> None:
    """Set up a worker process: Ctrl-C is left to the parent, which stops the workers at once (a terminal
    sends it to the whole process group). Locks made here (Pyomo makes one on import) are of the fork
    context, unnamed, so that a worker stopped at once leaves no named semaphore behind."""
    import multiprocessing

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:  # a forked worker inherits the parent's BLAS pool, started before SINGLE_THREADED was set
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scipy's stack
        pass
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

    tracker = resource_tracker._resource_tracker
    if getattr(tracker, "_pid", None) is not None and hasattr(tracker, "_stop"):  # none runs beside forked workers
        gc.collect()
        tracker._stop()


def start_method() -> str:
    """How this process starts its workers: ``fork`` on Linux when this process runs no other thread (a worker
    then starts in milliseconds with every module the parent imported, and nothing of a thread's half-held lock);
    ``spawn`` otherwise (a fresh interpreter that imports what it needs)."""
    import sys
    import threading

    return "fork" if sys.platform.startswith("linux") and threading.active_count() == 1 else "spawn"


class WorkerPool:
    """``jobs`` worker processes for tasks submitted at any time, also while results come in (a member's
    figures once its dataset is written). Forked workers (see :func:`start_method`) share the modules in
    ``preload``, imported here once, and whatever this process loaded already (the validated scenario)."""

    def __init__(self, jobs: int, preload: Sequence[str] = ()) -> None:
        import atexit
        import multiprocessing

        atexit.unregister(_reap_resource_tracker)  # once, however many pools the process starts
        atexit.register(_reap_resource_tracker)
        self.method = start_method()
        if self.method == "fork":
            for module in preload:
                importlib.import_module(module)
        self.context = multiprocessing.get_context(self.method)
        self.jobs = jobs
        self._pool = None
        self._pending: dict = {}  # future -> key

    def submit(self, key: Hashable, function: Callable, *args) -> None:
        """``function(*args)`` in a worker; its result comes out of :meth:`results` with ``key``."""
        import concurrent.futures as cf
        import threading

        if self._pool is None:  # the workers start here, with Ctrl-C ignored (they inherit it: the parent stops them)
            import gc

            main = threading.current_thread() is threading.main_thread()
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
            if self.method == "fork":
                gc.freeze()  # a worker's collector then never walks (and so copies) the pages it shares with this one
            try:
                with _environment(SINGLE_THREADED):
                    self._pool = cf.ProcessPoolExecutor(max_workers=self.jobs, mp_context=self.context,
                                                        initializer=_worker_start)
                    future = self._pool.submit(function, *args)  # forked workers all start at the first task
            finally:
                if main:
                    signal.signal(signal.SIGINT, previous)
                if self.method == "fork":
                    gc.unfreeze()  # the workers have their own copy; this process collects as before
        else:
            future = self._pool.submit(function, *args)
        self._pending[future] = key

    def results(self) -> Iterator[tuple[Hashable, object]]:
        """(key, result) of each task as it finishes, until none is left: tasks submitted meanwhile included."""
        import concurrent.futures as cf
        from concurrent.futures.process import BrokenProcessPool

        try:
            while self._pending:
                finished, _ = cf.wait(list(self._pending), return_when=cf.FIRST_COMPLETED)
                for future in finished:
                    key = self._pending.pop(future)
                    yield key, future.result()
        except BrokenProcessPool:
            self.stop()
            raise FlexoptError([Problem("a worker process died during the assessment (out of memory, or killed?)",
                                        None, "finished datasets are kept; run the same command again, with fewer "
                                        "--jobs if memory is short")]) from None

    def stop(self) -> None:
        """Stop the workers now (see :func:`stop_pool`)."""
        if self._pool is not None:
            stop_pool(self._pool)
            self._pool = None
        self._pending.clear()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            self.stop()
        elif self._pool is not None:
            self._pool.shutdown()
            self._pool = None


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
