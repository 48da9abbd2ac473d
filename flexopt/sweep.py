"""Sweeps: the independent assessments of a study (cases, frameworks, DER placement draws).

Each member is one case — or one random placement of that case's DERs — assessed and
written atomically to its own netCDF file. Members run in this process (``jobs`` 1),
in local worker processes (``jobs`` > 1), or on a ``dask.distributed`` cluster
(``scheduler`` "tcp://HOST:PORT"); the results are the same, member by member. A
member whose file already holds a complete result of the same scenario text is
skipped, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
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


def is_complete(path: Path, scenario_sha256: str, case: str, draw: int | None) -> bool:
    """True when ``path`` already holds this member's result for this very scenario text."""
    if not path.is_file():
        return False
    import xarray as xr

    try:
        with xr.open_dataset(path) as ds:
            attrs = ds.attrs
            from flexopt import __version__

            return (attrs.get("scenario_sha256") == scenario_sha256 and attrs.get("case") == case
                    and attrs.get("flexopt_version") == __version__
                    and int(attrs.get("placement_draw", -1)) == (-1 if draw is None else draw))
    except Exception:  # noqa: BLE001 - an unreadable file is simply not a result
        return False


def run_member(file: str, case_name: str, draw: int | None, path: str,
               on_feeder: Callable | None = None) -> tuple[str, float]:
    """Assess one member and write its dataset atomically; returns (path, seconds). Runs in any worker."""
    from flexopt.engine.assess import assess_case
    from flexopt.compile.profiles import compile_profiles
    from flexopt.results.store import to_dataset, write_dataset
    from flexopt.language.validate import load_scenario

    started = time.perf_counter()
    scenario, _ = load_scenario(file)
    case = scenario.case(case_name)
    if draw is not None:
        case = placement_draw(scenario, case, draw)
    assessment = assess_case(scenario, case, compile_profiles(scenario, case), on_feeder)
    ds = to_dataset(assessment)
    ds.attrs["placement_draw"] = -1 if draw is None else draw
    write_dataset(ds, Path(path))
    return path, time.perf_counter() - started


def run_sweep(file: str, scenario: Scenario, members: list[Member], jobs: int = 1, scheduler: str | None = None,
              progress: "Progress | None" = None) -> dict[Member, Path]:
    """Run every member not already complete, telling ``progress`` as each one (and, here, each feeder) finishes."""
    from flexopt.progress import Progress

    progress = progress or Progress()
    todo = [m for m in members if not is_complete(m.path, scenario.text_sha256, m.case, m.draw)]
    total = len(members)
    done = total - len(todo)
    for member in members:
        if member not in todo:
            progress.step(f"[skip] {member.label}: already written ({member.path})")
    absolute = str(Path(file).resolve())
    if not todo:
        return {m: m.path for m in members}
    progress.start(len(todo), "assessment")
    try:
        if scheduler:
            _on_dask(absolute, todo, scheduler, progress, done, total)
        elif jobs > 1 and len(todo) > 1:
            _in_processes(absolute, todo, jobs, progress, done, total)
        else:
            for member in todo:
                def feeder_done(feeder, seconds, label=member.label):
                    progress.detail(f"  {label}: feeder {feeder.feeder} {seconds:.1f} s, {feeder.power_flows} power "
                                    f"flows, {feeder.lopf_solves} LOPF solves, {feeder.exact_checks} exact checks, "
                                    f"{int((feeder.status == 1).sum())} orange, {int((feeder.status == 2).sum())} red")

                _, seconds = run_member(absolute, member.case, member.draw, str(member.path), feeder_done)
                done += 1
                progress.step(f"[{done}/{total}] {member.label}: {seconds:.1f} s -> {member.path}")
    finally:
        progress.finish()
    return {m: m.path for m in members}


def _in_processes(file: str, todo: list[Member], jobs: int, progress, done: int, total: int) -> None:
    import concurrent.futures as cf
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no forked solver state
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {pool.submit(run_member, file, m.case, m.draw, str(m.path)): m for m in todo}
        for future in cf.as_completed(futures):
            member = futures[future]
            _, seconds = future.result()
            done += 1
            progress.step(f"[{done}/{total}] {member.label}: {seconds:.1f} s -> {member.path}")


def _on_dask(file: str, todo: list[Member], scheduler: str, progress, done: int, total: int) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise FlexoptError([Problem("--scheduler needs the 'distributed' package", None,
                                    "pip install distributed")]) from None
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as err:
        raise FlexoptError([Problem(f"cannot reach the dask scheduler at {scheduler}: {err}", None,
                                    "start one with `dask scheduler` and workers with `dask worker ADDRESS`, "
                                    "on machines that have flexopt and the scenario's files at the same path")]) from None
    with client:
        futures = {client.submit(run_member, file, m.case, m.draw, str(m.path), pure=False,
                                 key=f"flexopt-{m.label}-{time.time_ns()}"): m for m in todo}
        for future in as_completed(list(futures)):
            member = futures[future]
            _, seconds = future.result()
            done += 1
            progress.step(f"[{done}/{total}] {member.label}: {seconds:.1f} s on {scheduler} -> {member.path}")
