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
import json
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from flexopt.errors import FlexoptError, Problem
from flexopt.results.figure_tasks import draw_compare, draw_member
from flexopt.workers import WorkerPool
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
        """The scenario of this text, parsed and validated once per process (a worker's later members reuse it)."""
        from flexopt.language.validate import load_scenario_text

        key = (self.sha256, self.folder)
        if key not in _LOADED:
            scenario, _ = load_scenario_text(self.text, self.file, Path(self.folder))
            if scenario.text_sha256 != self.sha256:  # pragma: no cover - parsing is deterministic
                raise RuntimeError("the scenario text changed on its way to a worker")
            _LOADED.clear()
            _LOADED[key] = scenario
        return _LOADED[key]


#: The one scenario a process has loaded from a run's text, by (SHA-256, folder): frozen, so safely shared.
_LOADED: dict[tuple[str, str], Scenario] = {}


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
    source = ScenarioText(text, file, str(folder), scenario.text_sha256)
    _LOADED.clear()
    _LOADED[(source.sha256, source.folder)] = scenario  # members run here need not validate it again
    return scenario, warnings, source


def scenario_from_text(text: str, file: str) -> tuple[Scenario, list[Problem], ScenarioText]:
    """:func:`read_scenario` for a text not (yet) saved: its data files are resolved beside ``file``."""
    from flexopt.language.validate import load_scenario_text

    folder = Path(file).resolve().parent
    scenario, warnings = load_scenario_text(text, file, folder)
    source = ScenarioText(text, file, str(folder), scenario.text_sha256)
    _LOADED.clear()
    _LOADED[(source.sha256, source.folder)] = scenario
    return scenario, warnings, source


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


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (reads it whole: cheap next to decoding the netCDF)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def member_record(member: Member, scenario_sha256: str, sha256: str) -> dict:
    """What a manifest records of a complete member: its file's digest and whose result it holds."""
    from flexopt import __version__

    return {"sha256": sha256, "scenario_sha256": scenario_sha256, "flexopt_version": __version__,
            "case": member.case, "draw": member.draw}


def member_state(member: Member, scenario_sha256: str, verified: dict | None = None) -> tuple[bool, str | None]:
    """(complete, why not): complete when the file holds this member's whole result for this very text
    and flexopt version; otherwise why it must be assessed again (None: there is no file yet).

    ``verified`` (a run manifest's records by path) spares the full read: a file whose SHA-256 equals the
    digest recorded when it was last verified complete, for this text and version, is that same file."""
    from flexopt.results.store import NotADataset, load_checked

    path = member.path
    if not path.exists() and not path.is_symlink():
        return False, None
    record = (verified or {}).get(str(path))
    if record and path.is_file() and not path.is_symlink() and record == member_record(
            member, scenario_sha256, record.get("sha256", "")):
        try:
            if file_sha256(path) == record["sha256"]:
                return True, None
        except OSError:
            pass
    try:
        ds = load_checked(path)
    except NotADataset as err:
        return False, f"{path.name} is {err.why}"
    from flexopt import __version__

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


def _member_case(source: ScenarioText, case_name: str, draw: int | None) -> tuple[Scenario, Case]:
    scenario = source.load()
    case = scenario.case(case_name)
    return scenario, case if draw is None else placement_draw(scenario, case, draw)


def assess_part(source: ScenarioText, case_name: str, draw: int | None, substation: str) -> tuple[tuple, float]:
    """One substation of a member (a region's task in a worker or on the cluster): its feeders assessed and
    its transformer checked; returns (the feeders' assessments, seconds)."""
    from flexopt.compile.profiles import compile_profiles
    from flexopt.engine.assess import assess_substation

    started = time.perf_counter()
    scenario, case = _member_case(source, case_name, draw)
    key = (source.sha256, case_name, draw)
    if key not in _PROFILES:  # a worker's later substations of the same member reuse them
        _PROFILES.clear()
        _PROFILES[key] = compile_profiles(scenario, case)
    feeders = assess_substation(scenario, case, _PROFILES[key], substation)
    return feeders, time.perf_counter() - started


#: The profiles of the member a worker process last assessed a substation of.
_PROFILES: dict[tuple, object] = {}


@dataclass(frozen=True)
class Part:
    """A region's member split by substation: each substation one task of a parallel run."""

    member: Member
    substation: str

    @property
    def label(self) -> str:
        return f"{self.member.label} {self.substation}"


def run_member(source: ScenarioText, case_name: str, draw: int | None, path: str,
               on_feeder: Callable | None = None, parts: dict | None = None) -> tuple[str, float]:
    """Assess one member of ``source`` (its substations in ``parts`` assessed already) and write its dataset
    atomically; returns (path, seconds). Runs in any worker."""
    from flexopt.engine.assess import assess_case
    from flexopt.compile.profiles import compile_profiles
    from flexopt.results.store import to_dataset, write_dataset

    started = time.perf_counter()
    scenario, case = _member_case(source, case_name, draw)
    assessment = assess_case(scenario, case, compile_profiles(scenario, case), on_feeder, parts)
    from flexopt.results.tables import case_settings

    ds = to_dataset(assessment)
    ds.attrs["placement_draw"] = -1 if draw is None else draw
    ds.attrs["case_settings"] = json.dumps(case_settings(scenario, case), ensure_ascii=False)
    write_dataset(ds, Path(path))
    return path, time.perf_counter() - started


def assess_member(source: ScenarioText, case_name: str, draw: int | None, path: str, figures: str | None = None,
                  on_feeder: Callable | None = None, parts: dict | None = None) -> tuple[str, float, list[str]]:
    """:func:`run_member`, then, with a ``figures`` folder, the case's figures drawn from the stored dataset
    (in the same worker, so drawing overlaps the other members' assessments); returns (path, seconds,
    figure paths)."""
    path, seconds = run_member(source, case_name, draw, path, on_feeder, parts)
    if figures is None:
        return path, seconds, []
    return path, seconds, draw_member(case_name, path, figures)


#: What the workers of a local parallel run need, imported once before they fork (see
#: ``workers.WorkerPool``) rather than by each worker at its first task: the assessment and what it imports
#: only when it first runs (lightsim2grid's pandapower converter, HiGHS), the profile generators and storage
#: (xarray asks dask for its scheduler when it writes netCDF); then, when figures are drawn, the figures.
#: Only a matter of speed: whatever is missing here a worker imports itself.
WORKER_MODULES = ("flexopt.engine.assess", "lightsim2grid.network", "highspy", "flexopt.compile.profiles",
                  "pvlib", "windpowerlib", "demandlib", "demandlib.particular_profiles", "scipy.fftpack",
                  "flexopt.language.summary", "flexopt.results.store", "netCDF4", "dask.array", "distributed")
FIGURE_MODULES = ("flexopt.results.figures", "flexopt.results.pq_chart", "flexopt.results.year_figures")


def run_sweep(source: ScenarioText, scenario: Scenario, members: list[Member], jobs: int = 1,
              scheduler: str | None = None, progress: "Progress | None" = None, figures: Path | None = None,
              verified: dict | None = None, drawn: dict | None = None,
              on_written: Callable[[], None] | None = None) -> dict[Member, Path]:
    """Run every member not already complete, telling ``progress`` as each one (and, here, each feeder)
    finishes. Every member uses ``source``, the text ``scenario`` was loaded from. With a ``figures``
    folder each assessed case (not a placement draw) also draws its figures, listed in ``drawn`` by case;
    ``verified``: see :func:`member_state`. ``on_written()`` is called here once, when every member's dataset
    is written and at least one was assessed: in a local parallel run while the workers still draw figures,
    so that the caller's own work (tables) overlaps theirs."""
    from flexopt.progress import Progress

    progress = progress or Progress()
    drawn = {} if drawn is None else drawn
    todo = []
    for member in members:
        complete, why = member_state(member, source.sha256, verified)
        if complete:
            progress.step(f"[skip] {member.label}: already written ({member.path})", member.label)
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
        jobs_of = {m: (source, m.case, m.draw, str(m.path), None if figures is None or m.draw is not None
                       else str(figures)) for m in todo}
        finished = [done]

        def member_done(member: Member, result: tuple, where: str = "") -> None:
            _, seconds, pictures = result
            if pictures:
                drawn[member.case] = [Path(p) for p in pictures]
            finished[0] += 1
            progress.step(f"[{finished[0]}/{total}] {member.label}: {seconds:.1f} s{where} -> {member.path}",
                          member.label)

        substations = tuple(sub.name for sub in scenario.all_substations)
        if scheduler and len(substations) > 1:  # a region: one task per substation and member
            _by_substation(jobs_of, substations, scheduler, progress, member_done)
        elif jobs > 1 and (len(todo) > 1 or len(substations) > 1):
            _in_worker_pool(source, members, todo, jobs, figures, drawn, member_done, on_written,
                            substations if len(substations) > 1 else (), progress)
            on_written = None
        elif scheduler:
            from flexopt.cluster import on_dask

            on_dask(assess_member, jobs_of, scheduler,
                    lambda member, result: member_done(member, result, f" on {scheduler}"))
        else:
            for member in todo:
                def feeder_done(feeder, seconds, label=member.label):
                    progress.feeder(label, feeder.feeder,
                                    f"  {label}: feeder {feeder.feeder} {seconds:.1f} s, {feeder.power_flows} power "
                                    f"flows, {feeder.lopf_solves} LOPF solves, {feeder.exact_checks} exact checks, "
                                    f"{int((feeder.status == 1).sum())} orange, {int((feeder.status == 2).sum())} red")

                _, seconds, pictures = assess_member(*jobs_of[member], feeder_done)
                if pictures:
                    drawn[member.case] = [Path(p) for p in pictures]
                done += 1
                progress.step(f"[{done}/{total}] {member.label}: {seconds:.1f} s -> {member.path}", member.label)
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
    if on_written is not None:
        on_written()
    return {m: m.path for m in members}


#: A case's figure parts, the longest to draw first (P-Q per season, then the profiles or the year's heat maps),
#: so that the tasks that end a parallel run are short ones and no worker waits long for the other.
LONGEST_FIRST = ("pq", "time", "curves", "chart")


def _in_worker_pool(source: ScenarioText, members: list[Member], todo: list[Member], jobs: int,
                    figures: Path | None, drawn: dict, member_done: Callable,
                    on_written: Callable[[], None] | None, substations: tuple[str, ...] = (),
                    progress: "Progress | None" = None) -> None:
    """Members in local worker processes — a region's split into one task per substation, combined and written
    here once its substations are all in —, each figure part of an assessed case a task of its own once its
    dataset is written (queued behind the assessments, so no worker idles while another draws), and, once
    every case is written, the figure of all cases together; ``drawn`` gets the figures in report order.
    ``on_written()`` runs here as soon as the last member is written."""
    from flexopt.results.figures import ALL_CASES, FIGURE_PARTS

    cases = {m.case: str(m.path) for m in members if m.draw is None}
    waiting = {m for m in todo if m.draw is None}
    assessing = set(todo)
    parts: dict[str, dict[str, list[str]]] = {}
    regional: dict[Member, dict[str, tuple]] = {member: {} for member in todo}
    tasks = len(todo) * max(1, len(substations)) + (0 if figures is None else len(waiting) * len(LONGEST_FIRST) + 1)
    with WorkerPool(min(jobs, tasks), WORKER_MODULES + (() if figures is None else FIGURE_MODULES)) as pool:
        for member in todo:
            if substations:
                for substation in substations:
                    pool.submit(Part(member, substation), assess_part, source, member.case, member.draw, substation)
            else:
                pool.submit(member, run_member, source, member.case, member.draw, str(member.path))
        for key, result in pool.results():
            if isinstance(key, Part):
                complete = _substation_done(regional, key, result, len(substations), progress)
                if complete is None:
                    continue
                key, result = key.member, run_member(source, key.member.case, key.member.draw, str(key.member.path),
                                                     None, complete)
            if not isinstance(key, Member):
                case, part = key
                parts.setdefault(case, {})[part] = result
                continue
            member_done(key, (*result, []))
            assessing.discard(key)
            if figures is not None and key.draw is None:
                waiting.discard(key)
                if not waiting and len(cases) >= 2:  # the longest task left goes first: the last ones are short
                    pool.submit((ALL_CASES, "compare"), draw_compare, cases, str(figures / "compare.png"))
                for part in LONGEST_FIRST:
                    pool.submit((key.case, part), draw_member, key.case, str(key.path), str(figures), (part,))
            if not assessing and on_written is not None:
                on_written()  # while the workers draw the figures queued above
    for case, by_part in parts.items():
        drawn[case] = [Path(p) for part in FIGURE_PARTS + ("compare",) for p in by_part.get(part, [])]


def _by_substation(jobs_of: dict, substations: tuple[str, ...], scheduler: str, progress,
                   member_done: Callable) -> None:
    """A region's members on the cluster, each split into one task per substation; a member whose substations
    are all in is combined and written here, its figures drawn here."""
    from flexopt.cluster import on_dask

    tasks = {Part(member, sub): (args[0], args[1], args[2], sub) for member, args in jobs_of.items() for sub in substations}
    parts: dict[Member, dict[str, tuple]] = {member: {} for member in jobs_of}

    def part_done(part: Part, result: tuple) -> None:
        complete = _substation_done(parts, part, result, len(substations), progress)
        if complete is not None:
            member_done(part.member, assess_member(*jobs_of[part.member], None, complete))

    on_dask(assess_part, tasks, scheduler, part_done)


def _substation_done(parts: dict, part: Part, result: tuple, substations: int, progress) -> dict | None:
    """Keep one substation's assessed feeders (``assess_part``'s result) among its member's ``parts`` and tell
    ``progress``; returns the member's feeders by substation once all ``substations`` are in (None before)."""
    feeders, seconds = result
    parts[part.member][part.substation] = feeders
    if progress is not None:
        progress.feeder(part.member.label, part.substation, f"  {part.label}: {len(feeders)} feeders {seconds:.1f} s")
    return parts.pop(part.member) if len(parts[part.member]) == substations else None


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
