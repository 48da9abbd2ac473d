"""Sweeps: the independent assessments of a study (cases, frameworks, DER placement draws).

Each member is one case — or one random placement of that case's DERs — assessed and
written atomically to its own netCDF file. Members run in this process (``jobs`` 1),
in local worker processes (``jobs`` > 1), or on a ``dask.distributed`` cluster
(``scheduler`` "tcp://HOST:PORT"); the results are the same, member by member.

The scenario is read and hashed once (:func:`read_scenario`); every member, wherever it
runs, parses that one text (:class:`ScenarioText`), never the file again. A member whose
file already holds a complete result of the same text and flexopt version (read in full:
every variable, checksums verified) is skipped, so an interrupted sweep resumes where it
stopped; a damaged one is done again. Ctrl-C stops the worker processes at once and leaves
only complete files (temporary ones are removed, also those of a killed run).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from flexopt.errors import FlexoptError, Problem
from flexopt.model import Case, PointOnFeeder, Position, Scenario

if TYPE_CHECKING:
    from flexopt.progress import Progress


@dataclass(frozen=True)
class Member:
    """One assessment of a sweep and the file it writes."""

    case: str
    draw: int | None  # None: the DERs where the scenario puts them
    path: Path

    @property
    def label(self) -> str:
        return self.case if self.draw is None else f"{self.case} placement draw {self.draw}"


def placement_draw(scenario: Scenario, case: Case, draw: int) -> Case:
    """The case with its DERs at random points of their feeders' main lines (seeded, reproducible).

    Each DER placed at a point moves to a fraction of the main line drawn uniformly in (0, 1];
    one spread over a stretch keeps the stretch's length and gets a random start. DERs at a
    named bus, and DERs on imported feeders, keep their place.
    """
    rng = np.random.default_rng([case.study.placement_seed, draw])
    moved = []
    for der in case.ders:
        position = der.position
        synthetic = case.feeder(position.feeder).source == "synthetic"
        fraction = float(1.0 - rng.random())  # drawn for every DER, so one DER's draw does not shift another's
        if not synthetic or position.kind == "bus":
            moved.append(der)
            continue
        if position.kind == "point":
            new = dataclasses.replace(position, start=PointOnFeeder(fraction, None))
        else:
            length = _stretch_fraction(case, position)
            start = fraction * (1.0 - length)
            new = dataclasses.replace(position, start=PointOnFeeder(start, None),
                                      end=PointOnFeeder(min(1.0, start + length), None))
        moved.append(dataclasses.replace(der, position=new))
    return dataclasses.replace(case, ders=tuple(moved))


def _stretch_fraction(case: Case, position: Position) -> float:
    feeder = case.feeder(position.feeder)  # its length as the case sees it

    def fraction(point: PointOnFeeder) -> float:
        if point.fraction is not None:
            return point.fraction
        return min(1.0, point.km / feeder.length_km) if feeder.length_km else 1.0

    return max(0.0, fraction(position.end) - fraction(position.start))


def plan(scenario: Scenario, cases: list[Case], out: Path) -> list[Member]:
    """The members of a sweep over ``cases``: each case, then its placement draws if it asks for any."""
    folder = out / scenario.name
    members = []
    for case in cases:
        members.append(Member(case.name, None, folder / f"{case.name}.nc"))
        for draw in range(case.study.placement_draws):
            members.append(Member(case.name, draw, folder / "placements" / case.name / f"draw_{draw:04d}.nc"))
    return members


@dataclass(frozen=True)
class ScenarioText:
    """The one text of a run. Members parse it (in any process or on any machine), never the file."""

    text: str
    file: str  # as the user named it, for messages
    folder: str  # absolute: the scenario's data files are resolved against it
    sha256: str

    def load(self) -> Scenario:
        from flexopt.language.validate import load_scenario_text

        scenario, _ = load_scenario_text(self.text, self.file, Path(self.folder))
        if scenario.text_sha256 != self.sha256:  # pragma: no cover - parsing is deterministic
            raise RuntimeError("the scenario text changed on its way to a worker")
        return scenario


#: Largest scenario text read again for the members (the language's own cap, when it has one).
_MAX_TEXT_BYTES = 64 * 1024 * 1024


def read_scenario(file: str) -> tuple[Scenario, list[Problem], ScenarioText]:
    """Load the scenario once for a whole run: the model, its warnings and the very text it came from."""
    from flexopt.language import syntax as sx
    from flexopt.language.validate import load_scenario, load_scenario_text

    scenario, warnings = load_scenario(file)  # every check and message of `flexopt check`
    path = Path(file)
    folder = path.resolve().parent
    text = sx.decode(_read_regular(path, getattr(sx, "MAX_SCENARIO_BYTES", _MAX_TEXT_BYTES)), file)
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != scenario.text_sha256:
        scenario, warnings = load_scenario_text(text, file, folder)  # edited in between: this text it is
    return scenario, warnings, ScenarioText(text, file, str(folder), scenario.text_sha256)


def _read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file (never blocking on a FIFO swapped in), at most ``limit``."""
    def refuse(why: str) -> FlexoptError:
        return FlexoptError([Problem(f"{path}: {why}", None, "run again once the file stays put")])

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise refuse(f"cannot read the file again: {err.strerror or err}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise refuse("was replaced by something that is not a regular file")
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, 1 << 20)):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise refuse("grew beyond a scenario's largest size while being read")
    return b"".join(chunks)


def member_state(member: Member, scenario_sha256: str) -> tuple[bool, str | None]:
    """(complete, why not): complete when the file holds this member's whole result for this very text
    and flexopt version; otherwise why it must be assessed again (None: there is no file yet)."""
    from flexopt import __version__
    from flexopt.results.store import NotADataset, load_checked

    path = member.path
    if not path.exists() and not path.is_symlink():
        return False, None
    try:
        ds = load_checked(path)
    except NotADataset as err:
        return False, f"{path.name} is {err.why}"
    attrs = ds.attrs
    if attrs.get("scenario_sha256") != scenario_sha256:
        return False, f"{path.name} holds the results of another scenario text"
    if attrs.get("flexopt_version") != __version__:
        return False, f"{path.name} was written by flexopt {attrs.get('flexopt_version')}, this is {__version__}"
    if attrs.get("case") != member.case or int(attrs.get("placement_draw", -1)) != (
            -1 if member.draw is None else member.draw):
        return False, f"{path.name} holds another member ({attrs.get('case')})"
    return True, None


def is_complete(path: Path, scenario_sha256: str, case: str, draw: int | None) -> bool:
    """True when ``path`` already holds this member's complete result for this very scenario text."""
    return member_state(Member(case, draw, path), scenario_sha256)[0]


def run_member(source: ScenarioText, case_name: str, draw: int | None, path: str,
               on_feeder: Callable | None = None) -> tuple[str, float]:
    """Assess one member of ``source`` and write its dataset atomically; returns (path, seconds). Runs in
    any worker."""
    from flexopt.engine.assess import assess_case
    from flexopt.compile.profiles import compile_profiles
    from flexopt.results.store import to_dataset, write_dataset

    started = time.perf_counter()
    scenario = source.load()
    case = scenario.case(case_name)
    if draw is not None:
        case = placement_draw(scenario, case, draw)
    assessment = assess_case(scenario, case, compile_profiles(scenario, case), on_feeder)
    ds = to_dataset(assessment)
    ds.attrs["placement_draw"] = -1 if draw is None else draw
    write_dataset(ds, Path(path))
    return path, time.perf_counter() - started


def run_sweep(source: ScenarioText, scenario: Scenario, members: list[Member], jobs: int = 1,
              scheduler: str | None = None, progress: "Progress | None" = None) -> dict[Member, Path]:
    """Run every member not already complete, telling ``progress`` as each one (and, here, each feeder)
    finishes. Every member uses ``source``, the text ``scenario`` was loaded from."""
    from flexopt.progress import Progress

    progress = progress or Progress()
    todo = []
    for member in members:
        complete, why = member_state(member, source.sha256)
        if complete:
            progress.step(f"[skip] {member.label}: already written ({member.path})")
        else:
            todo.append(member)
            if why:
                progress.note(f"[redo] {member.label}: {why}; assessing it again")
    total = len(members)
    done = total - len(todo)
    if not todo:
        return {m: m.path for m in members}
    progress.start(len(todo), "assessment")
    try:
        if scheduler:
            _on_dask(source, todo, scheduler, progress, done, total)
        elif jobs > 1 and len(todo) > 1:
            _in_processes(source, todo, jobs, progress, done, total)
        else:
            for member in todo:
                def feeder_done(feeder, seconds, label=member.label):
                    progress.detail(f"  {label}: feeder {feeder.feeder} {seconds:.1f} s, {feeder.power_flows} power "
                                    f"flows, {feeder.lopf_solves} LOPF solves, {feeder.exact_checks} exact checks, "
                                    f"{int((feeder.status == 1).sum())} orange, {int((feeder.status == 2).sum())} red")

                _, seconds = run_member(source, member.case, member.draw, str(member.path), feeder_done)
                done += 1
                progress.step(f"[{done}/{total}] {member.label}: {seconds:.1f} s -> {member.path}")
    except KeyboardInterrupt:
        remove_temporaries({m.path.parent for m in todo})
        progress.finish()
        kept = sum(1 for m in members if m.path.is_file())
        progress.note(f"interrupted: {kept} of {total} datasets are complete and kept; "
                      "run the same command again to resume")
        raise
    except BaseException:
        remove_temporaries({m.path.parent for m in todo})
        raise
    finally:
        progress.finish()
    return {m: m.path for m in members}


def _worker_start() -> None:
    """Set up a worker process: Ctrl-C is left to the parent, which stops the workers at once (a terminal
    sends it to the whole process group). Locks made here (Pyomo makes one on import) are of the fork
    context, unnamed, so that a worker stopped at once leaves no named semaphore behind."""
    import multiprocessing

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if "fork" in multiprocessing.get_all_start_methods():
        multiprocessing.set_start_method("fork", force=True)  # workers start no processes of their own


def _in_processes(source: ScenarioText, todo: list[Member], jobs: int, progress, done: int, total: int) -> None:
    import concurrent.futures as cf
    import multiprocessing
    import threading
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")  # no forked solver state
    workers = min(jobs, len(todo))
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None  # inherited by the workers
    try:  # the pool starts one worker per submit until it has them all
        pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_start)
        futures = {pool.submit(run_member, source, m.case, m.draw, str(m.path)): m for m in todo[:workers]}
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    try:
        futures.update({pool.submit(run_member, source, m.case, m.draw, str(m.path)): m for m in todo[workers:]})
        for future in cf.as_completed(futures):
            member = futures[future]
            _, seconds = future.result()
            done += 1
            progress.step(f"[{done}/{total}] {member.label}: {seconds:.1f} s -> {member.path}")
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


#: Temporary files beside a target: ``.NAME.XXXXXXXX.tmp`` (flexopt.files.atomic_path) or a write probe.
def remove_temporaries(folders) -> list[Path]:
    """Remove the temporary files an interrupted or killed run left in ``folders``; returns them."""
    removed = []
    for folder in folders:
        for path in Path(folder).glob(".*.tmp"):
            try:
                if path.is_file() and not path.is_symlink():
                    path.unlink()
                    removed.append(path)
            except OSError:
                pass
    return removed


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


def _on_dask(source: ScenarioText, todo: list[Member], scheduler: str, progress, done: int, total: int) -> None:
    from concurrent.futures import CancelledError

    from distributed import as_completed

    client = connect_scheduler(scheduler)
    futures: dict = {}
    try:
        with client.as_current():  # as_completed looks for the current client
            shared = client.scatter(source, broadcast=True, hash=False)  # the text travels once per worker
            futures = {client.submit(run_member, shared, m.case, m.draw, str(m.path), pure=False,
                                     key=f"flexopt-{m.label}-{time.time_ns()}"): m for m in todo}
            for future in as_completed(list(futures)):
                member = futures[future]
                try:
                    _, seconds = future.result()
                except CancelledError:
                    raise FlexoptError([Problem(f"the dask scheduler at {scheduler} dropped {member.label} (lost "
                                                "connection or worker)", None, "finished datasets are kept; run "
                                                "the same command again to resume")]) from None
                done += 1
                progress.step(f"[{done}/{total}] {member.label}: {seconds:.1f} s on {scheduler} -> {member.path}")
    except BaseException:
        if futures:
            client.cancel(list(futures), force=True)
        raise
    finally:
        client.close(timeout=5)
