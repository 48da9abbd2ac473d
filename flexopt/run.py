"""`flexopt run`: assess the cases of a scenario, store the datasets, write and print Tables 3 and 4."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import xarray as xr

from flexopt.errors import FlexoptError, Problem, did_you_mean, known_list
from flexopt.model import Case, Scenario


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


def run_scenario(file: str, case_names: list[str] | None, out: str, quiet: bool = False) -> dict[str, Path]:
    """Assess each case and write OUT/<scenario>/<case>.nc and the tables; returns the dataset paths."""
    from flexopt.assess import assess_case
    from flexopt.profiles import compile_profiles
    from flexopt.report import write_tables
    from flexopt.store import to_dataset, write_dataset
    from flexopt.validate import load_scenario

    scenario, warnings = load_scenario(file)
    for warning in warnings:
        print(warning.format(), file=sys.stderr)
    cases = pick_cases(scenario, case_names)
    folder = Path(out) / scenario.name
    paths: dict[str, Path] = {}
    datasets: dict[str, xr.Dataset] = {}
    for case in cases:
        started = time.perf_counter()
        assessment = assess_case(scenario, case, compile_profiles(scenario, case))
        ds = to_dataset(assessment)
        paths[case.name] = write_dataset(ds, folder / f"{case.name}.nc")
        datasets[case.name] = ds
        if not quiet:
            flows = sum(f.power_flows for f in assessment.feeders)
            lps = sum(f.lopf_solves for f in assessment.feeders)
            print(f"case {case.name}: {len(assessment.feeders)} feeders, {flows} AC power flows, {lps} LOPF solves, "
                  f"{time.perf_counter() - started:.1f} s -> {paths[case.name]}", file=sys.stderr)
    t3, t4 = write_tables(datasets, folder)
    if not quiet:
        import pandas as pd

        with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
            print("Table 3 — operating points per feeder (% of the bid points that move the PCC)")
            print(t3.round(1).to_string())
            print()
            print("Table 4 — flexibility of the whole substation")
            print(t4.round(3).to_string())
            print()
            print(f"written to {folder}/: " + ", ".join(sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))))
    return paths


def run_command(file: str, case_names: list[str] | None, out: str, quiet: bool) -> int:
    run_scenario(file, case_names, out, quiet)
    return 0
