"""The public Python API: load a scenario, assess a case into the contract's dataset, read results.

Thin wrappers over the stages (language -> compile -> engine -> results) that the CLI also
uses; each name is re-exported from :mod:`flexopt` and documented in docs/api.md.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Mapping

import pandas as pd
import xarray as xr

from flexopt.model import Scenario


class FlexoptWarning(UserWarning):
    """A validation warning about a scenario (the same text ``flexopt check`` prints)."""


def load_scenario(path: str | Path) -> Scenario:
    """Parse and validate a scenario file; raises :class:`flexopt.errors.FlexoptError` listing every problem."""
    from flexopt.language.validate import load_scenario as _load

    scenario, problems = _load(path)
    for problem in problems:
        warnings.warn(problem.format(), FlexoptWarning, stacklevel=2)
    return scenario


def assess_case(scenario: Scenario, case: str | None = None) -> xr.Dataset:
    """Assess one case (default: the scenario's first) and return its dataset, as `flexopt run` stores it."""
    from flexopt.compile.profiles import compile_profiles
    from flexopt.engine.assess import assess_case as _assess
    from flexopt.results.store import to_dataset
    from flexopt.run import pick_case

    chosen = pick_case(scenario, case)
    return to_dataset(_assess(scenario, chosen, compile_profiles(scenario, chosen)))


def open_dataset(path: str | Path) -> xr.Dataset:
    """Read a dataset written by `flexopt run` into memory (the file is closed again); a file that is not
    one raises a one-line :class:`flexopt.FlexoptError` naming it."""
    from flexopt.results.store import REPORTED, read_dataset

    return read_dataset(Path(path), REPORTED)


def tables(datasets: Mapping[str, xr.Dataset]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's Table 3 (traffic-light shares per feeder) and Table 4 (substation totals), by case name."""
    from flexopt.results.tables import table3, table4

    return table3(datasets), table4(datasets)
