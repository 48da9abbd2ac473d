"""Sweeps on a ``dask.distributed`` cluster: connecting to a scheduler within bounded waits, and running
the members there (``flexopt run/compare --scheduler tcp://HOST:PORT``); see ``flexopt.sweep``."""

from __future__ import annotations

import time

from flexopt.errors import FlexoptError, Problem


#: Bounds of every wait on a dask scheduler (seconds): TCP connect, dask handshake, Client start, first worker.
CONNECT_S, HANDSHAKE_S, CLIENT_S, WORKERS_S = 5.0, 6.0, 15.0, 60.0


def _scheduler_problem(scheduler: str, why: str) -> FlexoptError:
    return FlexoptError([Problem(f"cannot reach the dask scheduler at {scheduler}: {why}", None,
                                 "start one with `dask scheduler` and workers with `dask worker ADDRESS`, on machines "
                                 "that have flexopt and the scenario's files at the same path")])


def connect_scheduler(scheduler: str):
    """A ``distributed.Client`` of ``scheduler``, or a clear error within about 20 s: nothing there, something
    that accepts connections but does not speak dask (the handshake is bounded too), no workers."""
    import asyncio
    import socket
    import threading
    from urllib.parse import urlsplit

    try:
        from distributed import Client
        from distributed.comm import connect
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise FlexoptError([Problem("--scheduler needs the 'distributed' package", None,
                                    "pip install distributed")]) from None
    address = urlsplit(scheduler)
    try:
        socket.create_connection((address.hostname, address.port), timeout=CONNECT_S).close()
    except OSError as err:
        raise _scheduler_problem(scheduler, err.strerror or str(err) or "no answer") from None

    async def handshake() -> None:
        comm = await asyncio.wait_for(connect(scheduler, timeout=HANDSHAKE_S), HANDSHAKE_S)
        await comm.close()

    try:
        asyncio.run(handshake())
    except (OSError, TimeoutError, asyncio.TimeoutError) as err:
        silent = isinstance(err, (TimeoutError, asyncio.TimeoutError))
        raise _scheduler_problem(scheduler, f"something accepts connections there but did not answer like a dask "
                                            f"scheduler within {HANDSHAKE_S:g} s" if silent else str(err)) from None
    made: list = []

    def start() -> None:
        try:
            made.append(Client(scheduler, timeout=CLIENT_S))
        except BaseException as err:  # noqa: BLE001 - handed to the waiting thread
            made.append(err)

    thread = threading.Thread(target=start, name="flexopt-dask-connect", daemon=True)
    thread.start()
    thread.join(CLIENT_S + 5)
    if not made or isinstance(made[0], BaseException):
        why = f"no client connection within {CLIENT_S + 5:g} s" if not made else str(made[0]) or type(made[0]).__name__
        raise _scheduler_problem(scheduler, why)
    client = made[0]
    try:
        client.wait_for_workers(1, timeout=WORKERS_S)
    except (TimeoutError, OSError):
        client.close(timeout=5)
        raise FlexoptError([Problem(f"the dask scheduler at {scheduler} has no workers (none joined within "
                                    f"{WORKERS_S:g} s)", None, "start workers with `dask worker "
                                    f"{scheduler}`")]) from None
    return client


def on_dask(function, jobs_of: dict, scheduler: str, on_result) -> None:
    """Run ``function(*jobs_of[key])`` for every key (a member, or a region's substation of one) on the cluster,
    the scenario text (every task's first argument) scattered once per worker; ``on_result(key, result)`` here
    as each finishes. The sweep passes its functions in, so this module does not import the sweep back."""
    from concurrent.futures import CancelledError

    from distributed import as_completed

    client = connect_scheduler(scheduler)
    futures: dict = {}
    try:
        with client.as_current():  # as_completed looks for the current client
            source = next(iter(jobs_of.values()))[0]
            shared = client.scatter(source, broadcast=True, hash=False)  # the text travels once per worker
            futures = {client.submit(function, shared, *jobs_of[m][1:], pure=False,
                                     key=f"flexopt-{m.label.replace(' ', '-')}-{time.time_ns()}"): m for m in jobs_of}
            for future in as_completed(list(futures)):
                member = futures[future]
                try:
                    result = future.result()
                except CancelledError:
                    raise FlexoptError([Problem(f"the dask scheduler at {scheduler} dropped {member.label} (lost "
                                                "connection or worker)", None, "finished datasets are kept; run "
                                                "the same command again to resume")]) from None
                on_result(member, result)
    except BaseException:
        if futures:
            client.cancel(list(futures), force=True)
        raise
    finally:
        client.close(timeout=5)
