"""`flexopt run` and `flexopt compare`: assess cases (and placement draws), store them, write the tables."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from flexopt.errors import FlexoptError, Problem, did_you_mean, known_list
from flexopt.model import Case, Scenario

if TYPE_CHECKING:
    from flexopt.progress import Progress
    from flexopt.sweep import Member, ScenarioText


def pick_cases(scenario: Scenario, names: list[str] | None) -> list[Case]:
    """The cases named on the command line (all when none), or one error listing the unknown ones."""
    if not names:
        return list(scenario.cases)
    wanted = [n.strip() for name in names for n in name.split(",") if n.strip()]
    known = [c.name for c in scenario.cases]
    problems = [Problem(f"scenario '{scenario.name}' has no case '{name}'", None,
                        did_you_mean(name, known) or f"cases: {known_list(known)}") for name in wanted if name not in known]
    if problems:
        raise FlexoptError(problems)
    return [scenario.case(name) for name in dict.fromkeys(wanted)]


def _load(file: str, text: str | None = None) -> tuple[Scenario, "ScenarioText"]:
    """The scenario, read and hashed once for the whole run, and the text every member parses (``text``: an
    unsaved text, e.g. the workbench's editor, whose data files are resolved beside ``file``)."""
    from flexopt.sweep import read_scenario, scenario_from_text

    scenario, warnings, source = read_scenario(file) if text is None else scenario_from_text(text, file)
    for warning in warnings:
        print(warning.format(), file=sys.stderr)
    return scenario, source


@contextlib.contextmanager
def output_folder(folder: Path, members: "list[Member]", progress):
    """The run's output folder, ready before any assessing: created, written to and cleared by a probe, no
    member's file name too long, locked against a second run, temporary files of a killed run removed."""
    from flexopt.results.store import probe_output
    from flexopt.sweep import remove_temporaries

    probe_output(folder, [m.path for m in members])
    with _locked(folder):
        removed = remove_temporaries({folder, *(m.path.parent for m in members)})
        if removed:
            progress.note(f"[clean] removed {len(removed)} temporary file{'s' if len(removed) > 1 else ''} "
                          f"an interrupted run left in {folder}")
        yield


@contextlib.contextmanager
def _locked(folder: Path):
    """Hold ``folder/.flexopt.lock`` (an advisory lock the system drops when the process dies, however)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Windows
        yield
        return
    from flexopt.results.store import writing

    path = folder / ".flexopt.lock"
    with writing(path):
        handle = open(path, "a+", encoding="utf-8")
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            other = handle.read().strip()[:20] or "?"
            raise FlexoptError([Problem(f"another flexopt run (process {other}) is writing to {folder}", None,
                                        "wait until it has finished, or give another --out")]) from None
        with writing(path):
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
        yield


def _load_results(done: dict) -> dict:
    from flexopt.results.store import read_dataset

    return {m: read_dataset(path) for m, path in done.items()}


#: The run's record of what it verified and wrote (digests), so that a rerun need not read it all again.
MANIFEST = ".flexopt-manifest.json"


def _read_manifest(folder: Path) -> dict:
    """The folder's manifest, or {} when there is none, it cannot be read, or another flexopt wrote it."""
    import json

    from flexopt import __version__

    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("flexopt_version") == __version__ else {}


def _intact(folder: Path, files: dict) -> bool:
    """Every file of ``files`` (name: SHA-256) is in ``folder`` with that very content."""
    from flexopt.sweep import file_sha256

    try:
        return bool(files) and all(file_sha256(folder / name) == digest for name, digest in files.items())
    except OSError:
        return False


def _write_manifest(folder: Path, manifest: dict) -> None:
    import json

    from flexopt import __version__
    from flexopt.files import write_text_atomic

    write_text_atomic(folder / MANIFEST, json.dumps({**manifest, "flexopt_version": __version__}, indent=1,
                                                    ensure_ascii=False))


def _records(members, sha256: str) -> dict:
    """Manifest records of the complete members (their files hashed now, or as just verified)."""
    from flexopt.sweep import file_sha256, member_record

    return {str(m.path): member_record(m, sha256, file_sha256(m.path)) for m in members}


def _case_files(folder: Path, case: str, paths) -> dict:
    from flexopt.results.drawing import CASE_FIGURE_KINDS, file_part
    from flexopt.sweep import file_sha256

    names = {f"{file_part(case)}_{kind}.png" for kind in CASE_FIGURE_KINDS}
    return {Path(p).name: file_sha256(Path(p)) for p in paths if Path(p).name in names}


def run_scenario(file: str, case_names: list[str] | None, out: str, quiet: bool = False, jobs: int = 1,
                 scheduler: str | None = None, verbose: bool = False, figures: bool = True, text: str | None = None,
                 progress: "Progress | None" = None) -> dict[str, Path]:
    """Assess each case and write OUT/<scenario>/<case>.nc, the tables, figures (unless ``figures`` is False)
    and report.html; returns the dataset paths. A rerun whose datasets and outputs are all intact (by the
    digests of the folder's manifest) writes nothing and prints what the first run printed. ``text``: run this
    text instead of the file's (see :func:`_load`); ``progress``: where progress goes (default: the console)."""
    import contextlib
    import hashlib
    import io
    import json

    from flexopt.results.html import write_outputs
    from flexopt.results.store import writing
    from flexopt.sweep import plan, run_sweep

    scenario, source = _load(file, text)
    cases = pick_cases(scenario, case_names)
    members = [m for m in plan(scenario, cases, Path(out)) if m.draw is None]
    folder = Path(out) / scenario.name
    progress = progress or _progress(quiet, verbose)
    with output_folder(folder, members, progress):
        manifest = _read_manifest(folder)
        verified = manifest.get("members") or {}
        drawn: dict[str, list[Path]] = {}
        written_early: dict[str, object] = {}

        def all_written() -> None:  # the tables, while the workers of a parallel run may still draw figures
            from flexopt.results.tables import write_tables

            datasets = {m.case: ds for m, ds in _load_results({m: m.path for m in members}).items()}
            with writing(folder):
                written_early["tables"] = write_tables(datasets, folder)
            written_early["datasets"] = datasets

        done = run_sweep(source, scenario, members, jobs, scheduler, progress, folder if figures else None,
                         verified, drawn, all_written)
        paths = {m.case: path for m, path in done.items()}
        records = _records(members, source.sha256)
        key = hashlib.sha256(json.dumps([[m.case, records[str(m.path)]["sha256"]] for m in members] + [figures])
                             .encode()).hexdigest()
        outputs = manifest.get("outputs") or {}
        if outputs.get("key") == key and _intact(folder, outputs.get("files") or {}):
            console = str(outputs.get("console", ""))
        else:
            old = manifest.get("figures") or {}
            for m in members:  # figures a former run drew from this very dataset are kept
                entry = old.get(m.case) or {}
                if figures and m.case not in drawn and entry.get("member") == records[str(m.path)]["sha256"] \
                        and _intact(folder, entry.get("files") or {}):
                    drawn[m.case] = [folder / name for name in entry["files"]]
            datasets = written_early.get("datasets") or {m.case: ds for m, ds in _load_results(done).items()}
            with writing(folder):
                written = write_outputs(datasets, folder, figures, drawn, tables=written_early.get("tables"))
            text = io.StringIO()
            with contextlib.redirect_stdout(text):
                _print_tables(written.table3, written.table4, datasets)
                _print_working_point_notes(datasets)
                pictures = sum(1 for path in written.paths if path.suffix == ".png")
                print(f"written to {folder}/: {len(paths)} datasets (.nc), table3 and table4 (.csv, .md), "
                      + (f"{pictures} figures (.png), report.html" if figures else "report.html without figures"))
            console = text.getvalue()
            from flexopt.sweep import file_sha256

            kept = {c: e for c, e in (manifest.get("figures") or {}).items() if c not in paths}
            kept.update({m.case: {"member": records[str(m.path)]["sha256"],
                                  "files": _case_files(folder, m.case, written.paths)} for m in members if figures})
            with writing(folder):
                _write_manifest(folder, {"members": {**verified, **records}, "figures": kept, "outputs": {
                    "key": key, "files": {p.name: file_sha256(p) for p in written.paths}, "console": console}})
    if not quiet:
        print(console, end="")
    return paths


def compare_scenario(file: str, case_names: list[str] | None, out: str, quiet: bool = False, jobs: int = 1,
                     scheduler: str | None = None, verbose: bool = False, figures: bool = True) -> Path:
    """Assess the cases and their placement draws; write compare.nc and compare.csv beside the tables."""
    from flexopt.files import write_text_atomic
    from flexopt.results.html import write_outputs
    from flexopt.results.store import write_dataset, writing
    from flexopt.results.tables import tidy_compare, tidy_csv
    from flexopt.sweep import plan, run_sweep

    scenario, source = _load(file)
    cases = pick_cases(scenario, case_names)
    members = plan(scenario, cases, Path(out))
    folder = Path(out) / scenario.name
    progress = _progress(quiet, verbose)
    with output_folder(folder, members, progress):
        manifest = _read_manifest(folder)
        verified = manifest.get("members") or {}
        drawn: dict[str, list[Path]] = {}
        done = run_sweep(source, scenario, members, jobs, scheduler, progress, folder if figures else None,
                         verified, drawn)
        loaded = _load_results(done)
        datasets = {m.case: ds for m, ds in loaded.items() if m.draw is None}
        frame = compare_table(datasets, {case.name: [ds for m, ds in loaded.items()
                                                     if m.case == case.name and m.draw is not None]
                                         for case in cases})
        with writing(folder):
            write_outputs(datasets, folder, figures, drawn)
            write_text_atomic(folder / "compare.csv", tidy_csv(tidy_compare(frame)))
            _write_manifest(folder, {"members": {**verified, **_records(members, source.sha256)}})
        write_dataset(stack_cases(datasets), folder / "compare.nc")
    if not quiet:
        with pd.option_context("display.width", 220, "display.max_columns", 40):
            print("Table 4 metrics per case (compare.csv)")
            print(frame.round(3).to_string())
        print(f"written to {folder}/compare.csv and compare.nc")
    return folder / "compare.csv"


def compare_table(datasets: dict[str, xr.Dataset], draws: dict[str, list[xr.Dataset]]) -> pd.DataFrame:
    """Rows (direction, metric); one column per case, plus min/median/max over each case's placement draws
    of the feasible flexibility and its cost."""
    from flexopt.results.tables import DIRECTIONS, TABLE4_ROWS, substation_metrics

    rows = [(direction, key) for direction in DIRECTIONS for key, _ in TABLE4_ROWS]
    columns: dict[str, list[float]] = {}
    for case, ds in datasets.items():
        metrics = {d: substation_metrics(ds, d) for d in DIRECTIONS}
        columns[case] = [metrics[d][k] for d, k in rows]
        if draws.get(case):
            per_draw = [{d: substation_metrics(x, d) for d in DIRECTIONS} for x in draws[case]]
            for name, reduce in (("min", np.min), ("median", np.median), ("max", np.max)):
                columns[f"{case} placements {name}"] = [
                    float(reduce([m[d][k] for m in per_draw])) for d, k in rows]
    frame = pd.DataFrame(columns, index=pd.MultiIndex.from_tuples(rows, names=["direction", "metric"]))
    return frame


def stack_cases(datasets: dict[str, xr.Dataset]) -> xr.Dataset:
    """The case datasets along a new ``case`` dimension (DERs of all cases, NaN where a case has none)."""
    parts = []
    for case, ds in datasets.items():
        ds = ds.copy()
        ds.attrs = {}
        parts.append(ds.expand_dims(case=[case]))
    stacked = xr.concat(parts, dim="case", join="outer", coords="different", compat="equals",
                        combine_attrs="override")
    first = next(iter(datasets.values()))
    stacked.attrs = {k: v for k, v in first.attrs.items() if k not in ("case", "case_title", "placement_draw",
                                                                    "case_settings")}
    stacked.attrs["cases"] = " ".join(datasets)
    stacked["case"].attrs.update(long_name="case name as in the scenario")
    stacked.attrs["title"] = f"flexopt comparison of {first.attrs.get('scenario', '?')}, cases {', '.join(datasets)}"
    return stacked


def _progress(quiet: bool, verbose: bool):
    from flexopt.progress import Progress

    return Progress(0 if quiet else 2 if verbose else 1)


def _print_tables(t3: pd.DataFrame, t4: pd.DataFrame, datasets=None) -> None:
    from flexopt.results.tables import is_region, table3_substations, table4_substations

    region = bool(datasets) and is_region(datasets)
    with pd.option_context("display.width", 200, "display.max_columns", 40, "display.precision", 3):
        if region:  # the region first, then its substations, then the feeders
            print("Table 3 — operating points per substation (% of the bid points that move the PCC, pooled)")
            print(table3_substations(datasets).round(1).to_string())
            print()
            print("Table 4 — flexibility of the region and of each substation")
            print(table4_substations(datasets).round(3).to_string())
            print()
        print("Table 3 — operating points per feeder (% of the bid points that move the PCC)")
        print(t3.round(1).to_string())
        print()
        if not region:
            print("Table 4 — flexibility of the whole substation")
            print(t4.round(3).to_string())
            print()


def _print_working_point_notes(datasets) -> None:
    from flexopt.results.tables import working_point_notes

    for note in working_point_notes(datasets):
        print(f"warning: {note}")
    print()


def report_command(files: list[str], out: str | None) -> int:
    """`flexopt report RUN.nc ...`: tables, figures and report.html from stored datasets alone."""
    from flexopt.results.html import write_outputs
    from flexopt.results.store import REPORTED, probe_output, read_dataset, writing
    from flexopt.results.tables import refuse_mixed_texts

    datasets: dict[str, xr.Dataset] = {}
    sources: dict[str, str] = {}
    for file in files:
        path = Path(file)
        if not path.is_file():
            why = "not a regular file" if path.exists() else "no such file"
            raise FlexoptError([Problem(f"{file}: {why}", None, "give the .nc files `flexopt run` wrote, "
                                        "e.g. outputs/<scenario>/A.nc")])
        ds = read_dataset(path, REPORTED)
        case = str(ds.attrs["case"])
        if case in datasets:
            raise FlexoptError([Problem(f"{file} and {sources[case]} both hold case {case}", None,
                                        "give each case's dataset once (one run's <case>.nc files)")])
        datasets[case], sources[case] = ds, file
    refuse_mixed_texts(datasets, sources)
    folder = Path(out) if out else Path(files[0]).resolve().parent
    probe_output(folder)
    with writing(folder):
        written = write_outputs(datasets, folder)
    print(f"written to {folder}/: " + ", ".join(p.name for p in written.paths))
    return 0


def run_command(file: str, case_names: list[str] | None, out: str, quiet: bool, jobs: int = 1,
                scheduler: str | None = None, verbose: bool = False, figures: bool = True) -> int:
    run_scenario(file, case_names, out, quiet, jobs, scheduler, verbose, figures)
    return 0


def compare_command(file: str, case_names: list[str] | None, out: str, quiet: bool, jobs: int = 1,
                    scheduler: str | None = None, verbose: bool = False, figures: bool = True) -> int:
    compare_scenario(file, case_names, out, quiet, jobs, scheduler, verbose, figures)
    return 0


def pick_case(scenario: Scenario, name: str | None) -> Case:
    """The case named on the command line, or the scenario's first case when none is named."""
    return scenario.cases[0] if name is None else pick_cases(scenario, [name])[0]


def _load_case(file: str, case_name: str | None) -> tuple[Scenario, Case]:
    """The scenario and the named case (default: the first), its warnings printed on standard output."""
    from flexopt.language.validate import load_scenario

    scenario, warnings = load_scenario(file)
    for warning in warnings:
        print(warning.format())
    return scenario, pick_case(scenario, case_name)


def export_nets_command(file: str, case_name: str | None, out: str) -> int:
    """`flexopt export-nets`: one pandapower JSON per feeder, loads at their annual peak."""
    from flexopt.compile.networks import export_nets
    from flexopt.language.feeder_nets import read_net

    scenario, case = _load_case(file, case_name)
    paths = export_nets(scenario, case, Path(out))
    for path in paths:
        net = read_net(path)  # the safe reader, as for any network file
        print(f"{path}: {len(net.bus)} buses, {len(net.line)} lines, {len(net.load)} loads, {len(net.sgen)} sgens")
    return 0


def profiles_command(file: str, case_name: str | None, out: str | None) -> int:
    """`flexopt profiles`: write a case's typical-day series to CSV (atomically) and print the annual energies."""
    from flexopt.compile.profiles import compile_profiles, days_hours, profiles_frame
    from flexopt.files import atomic_path

    scenario, case = _load_case(file, case_name)
    profiles = compile_profiles(scenario, case)
    frame = profiles_frame(scenario, case, profiles)
    path = Path(out) if out else Path("outputs") / scenario.name / "profiles.csv"
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    print(f"{path}: {len(frame)} intervals, {days_hours(profiles):g} h/y, case {case.name}")
    by_kind: dict[str, float] = {}
    for der in case.ders:
        by_kind[der.kind] = by_kind.get(der.kind, 0.0) + profiles.annual_energy_mwh(profiles.der_p_mw[der.name])
    demand = sum(profiles.annual_energy_mwh(v) for v in profiles.class_demand_mw.values())
    print(f"  demand {demand / 1000:10.2f} GWh/y")
    for kind, energy in by_kind.items():
        print(f"  {kind:<6} {energy / 1000:10.2f} GWh/y")
    return 0
