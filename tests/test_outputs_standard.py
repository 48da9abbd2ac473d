"""Outputs people read (issue 15): tidy CSVs, CF-1.8 datasets, hints that name the right unit,
one clear message for a file that is not a dataset, and docs that agree with the shipped files."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from flexopt.language.validate import load_scenario
from flexopt.results.tables import COUNTS, TABLE4_ROWS, metric_unit, table3, table4
from flexopt.run import compare_scenario, compare_table
from tests.conftest import CASE_STUDY, MINIMAL, REPO, ScenarioFolder
from tests.test_engine import SMALL

#: The small weak feeder, one bid point per direction: the cheapest run that writes every output.
TINY = SMALL.replace("bid points 4 per direction", "bid points 1 per direction").replace("sections 10", "sections 4")

#: The only units UDUNITS cannot express: currencies and the var of reactive power.
NOT_UDUNITS = {"EUR/h", "EUR/MWh", "EUR/Mvarh", "Mvar"}
#: A checker failure on string coordinates (it subtracts texts), not a finding about the file.
CHECKER_BUGS = {"check_coordinate_variables_strict_monotonicity"}


def flexopt(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "flexopt", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    folder = ScenarioFolder(tmp_path_factory.mktemp("standard"))
    path = folder.write(TINY, "tiny.flex")
    compare_scenario(str(path), ["A", "NOQ"], str(folder.root / "out"), quiet=True)
    out = folder.root / "out" / "small"
    datasets = {case: xr.load_dataset(out / f"{case}.nc") for case in ("A", "NOQ")}
    return out, datasets


# ---------------------------------------------------------------------------
# Tidy tables
# ---------------------------------------------------------------------------


def test_table3_csv_is_tidy_and_holds_the_pivoted_table(compared):
    out, datasets = compared
    text = (out / "table3.csv").read_text()
    assert text.splitlines()[0] == "case,feeder,metric,value,unit"
    tidy = pd.read_csv(out / "table3.csv")
    pivoted = table3(datasets)
    assert len(tidy) == pivoted.size
    for (case, key), column in pivoted.items():
        metric, unit = metric_unit(key)
        for feeder, expected in column.items():
            row = tidy[(tidy.case == case) & (tidy.feeder == feeder) & (tidy.metric == metric)]
            assert len(row) == 1 and row.unit.item() == unit
            assert row.value.item() == pytest.approx(expected, rel=1e-5, abs=1e-9)
    assert set(tidy.unit) == {"points", "%", "intervals"}
    counts = [line.split(",")[3] for line in text.splitlines()[1:] if line.split(",")[2] in COUNTS]
    assert counts and all(re.fullmatch(r"[0-9]+", value) for value in counts)  # 1296, not 1296.0


def test_table4_csv_is_tidy_and_holds_the_pivoted_table(compared):
    out, datasets = compared
    assert (out / "table4.csv").read_text().splitlines()[0] == "case,direction,metric,value,unit"
    tidy = pd.read_csv(out / "table4.csv").set_index(["case", "direction", "metric"])
    pivoted = table4(datasets)
    assert len(tidy) == pivoted.size
    for (case, direction), column in pivoted.items():
        for key, expected in column.items():
            metric, unit = metric_unit(key)
            assert tidy.loc[(case, direction, metric), "unit"] == unit
            value = tidy.loc[(case, direction, metric), "value"]
            assert (np.isnan(value) and np.isnan(expected)) or value == pytest.approx(expected, rel=1e-5, abs=1e-9)
    assert tidy.loc[("A", "up", "market_potential"), "unit"] == "GWh/y"
    assert tidy.loc[("A", "up", "unit_cost"), "unit"] == "EUR/MWh"


def test_every_metric_of_the_tables_has_a_unit():
    for key, _ in TABLE4_ROWS:
        metric, unit = metric_unit(key)
        assert unit and metric and not metric.endswith("_")
    assert metric_unit("green_percent") == ("green", "%") and metric_unit("points") == ("points", "points")
    with pytest.raises(ValueError, match="no unit known"):
        metric_unit("energy_in_furlongs")


def test_counts_print_as_whole_numbers_in_the_markdown(compared):
    out, datasets = compared
    points = int(table3(datasets)[("A", "points")]["F1"])
    row = next(line for line in (out / "table3.md").read_text().splitlines() if line.startswith("| F1 |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    header = next(line for line in (out / "table3.md").read_text().splitlines() if line.startswith("| feeder"))
    names = [cell.strip() for cell in header.strip("|").split("|")]
    assert cells[names.index("A / points")] == str(points)
    assert re.fullmatch(r"[0-9]+", cells[names.index("A / working_point_violations")])
    assert re.fullmatch(r"[0-9]+\.[0-9]", cells[names.index("A / green_percent")])  # shares keep their decimal


def test_compare_csv_is_tidy_and_holds_the_comparison(compared):
    out, datasets = compared
    assert (out / "compare.csv").read_text().splitlines()[0] == "case,statistic,direction,metric,value,unit"
    tidy = pd.read_csv(out / "compare.csv").set_index(["case", "statistic", "direction", "metric"])
    wide = compare_table(datasets, {})
    assert len(tidy) == wide.size and set(tidy.index.get_level_values("statistic")) == {"assessed"}
    for case in ("A", "NOQ"):
        value = tidy.loc[(case, "assessed", "up", "feasible_flexibility"), "value"]
        assert value == pytest.approx(wide.loc[("up", "feasible_flexibility_gwh_per_y"), case], rel=1e-5)


# ---------------------------------------------------------------------------
# CF-1.8
# ---------------------------------------------------------------------------


def cf_failures(path) -> tuple[list[str], set[str]]:
    """The messages of every failed cf:1.8 check of the file, and the checks that raised."""
    from compliance_checker.runner import CheckSuite

    suite = CheckSuite()
    suite.load_all_available_checkers()
    groups, raised = suite.run_all(suite.load_dataset(str(path)), ["cf:1.8"], skip_checks=[])["cf:1.8"]
    failed = [message for result in groups if result.value[0] < result.value[1] for message in result.msgs]
    return failed, set(raised)


def not_udunits(message: str) -> bool:
    match = re.fullmatch(r'units for \w+, "([^"]+)" are not recognized by UDUNITS', message)
    return match is not None and match.group(1) in NOT_UDUNITS


@pytest.mark.parametrize("name", ["A.nc", "compare.nc"])
def test_the_datasets_pass_the_cf_checker_but_for_currency_and_var(compared, name):
    out, _ = compared
    failed, raised = cf_failures(out / name)
    assert [message for message in failed if not not_udunits(message)] == []
    assert any(not_udunits(message) for message in failed)  # the exceptions are real: the check did run
    assert raised <= CHECKER_BUGS


def test_every_variable_and_coordinate_has_a_long_name_and_udunits_or_flexopt_units(compared):
    _, datasets = compared
    ds = datasets["A"]
    for name, variable in ds.variables.items():
        assert variable.attrs.get("long_name"), name
        if variable.dtype.kind in "iuf":
            assert "units" in variable.attrs, name
        assert variable.attrs.get("units") != "pu", name
        assert variable.dtype != np.int64, name
    assert ds.v_min_pu.attrs["units"] == "1" and ds.v_min_pu.attrs["flexopt_units"] == "pu"
    assert "per unit" in ds.v_min_pu.attrs["long_name"]
    assert ds.der_rated_mw.attrs["units"] == "MW" and ds.weight_h.attrs["units"] == "h"
    assert ds.attrs["history"] and ds.attrs["Conventions"] == "CF-1.8"


def test_compare_nc_is_titled_by_every_case_it_holds(compared):
    out, _ = compared
    stacked = xr.load_dataset(out / "compare.nc")
    assert "A" in stacked.attrs["title"] and "NOQ" in stacked.attrs["title"]
    assert "case A" not in stacked.attrs["title"] and stacked["case"].attrs["long_name"]


# ---------------------------------------------------------------------------
# Hints that say what is meant
# ---------------------------------------------------------------------------


def test_an_energy_where_a_power_belongs_says_energy_is_not_power(folder):
    _, _, message, hint = folder.error(MINIMAL.replace("der PV1 pv 2 MW", "der PV1 pv 18.0 GWh"))
    assert message == "'GWh' is not a unit flexopt knows"
    assert "'GWh' is an energy, not a power" in hint and "MW" in hint and "GWh/y" in hint
    assert "did you mean 'GW'" not in hint


def test_an_energy_where_an_energy_per_year_belongs_suggests_the_per_year_unit(folder):
    _, _, _, hint = folder.error(MINIMAL.replace("demand 5 GWh/y", "demand 18.0 GWh"))
    assert hint.startswith("did you mean 'GWh/y'?")
    _, _, message, hint = folder.error(MINIMAL.replace("demand 5 GWh/y", "demand 18000 MWh"))
    assert "energy per year" in message and hint.startswith("did you mean 'MWh/y'?")


def test_per_year_written_out_suggests_the_unit_not_a_keyword(folder):
    line, column, message, hint = folder.error(MINIMAL.replace("demand 5 GWh/y", "demand 18000 MWh per year"))
    assert (line, column, message) == (9, 16, "'MWh per year' is not a unit flexopt knows")
    assert hint.startswith("did you mean 'MWh/y'?") and "power" not in hint
    _, _, message, hint = folder.error(MINIMAL.replace("length 10 km", "length 10 km per feeder"))
    assert message == "unexpected 'per' after the unit km" and "did you mean" not in hint


def test_a_euro_sign_suggests_eur(folder):
    line, column, message, hint = folder.error(MINIMAL.replace("price buy 50 EUR/MWh", "price buy 50 €/MWh"))
    assert (line, column, message) == (3, 14, "'€/MWh' is not a unit flexopt knows")
    assert "did you mean 'EUR/MWh'?" in hint and "expected" not in hint


def test_flexopt_check_on_the_shipped_scenario_with_a_euro_sign(tmp_path):
    folder = ScenarioFolder(tmp_path)
    text = CASE_STUDY.read_text(encoding="utf-8")
    assert "price fuel 85 EUR/MWh" in text
    path = folder.write(text.replace("price fuel 85 EUR/MWh", "price fuel 85 €/MWh"), "sardinia_ps.flex")
    result = flexopt("check", path)
    assert result.returncode == 2 and "did you mean 'EUR/MWh'?" in result.stderr + result.stdout


# ---------------------------------------------------------------------------
# A file that is not a dataset
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["x.flex", "x.nc", "notes.txt"])
def test_report_on_a_file_that_is_not_netcdf_is_one_clear_message(tmp_path, name):
    path = tmp_path / name
    path.write_text(MINIMAL if name.endswith(".flex") else "not a dataset\n", encoding="utf-8")
    result = flexopt("report", path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "not a netCDF dataset" in errors[0] and "hint:" in result.stderr
    assert "http" not in result.stderr and "engine" not in result.stderr and "xarray" not in result.stderr


# ---------------------------------------------------------------------------
# Docs consistent with the shipped files
# ---------------------------------------------------------------------------


def readme_scenario() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The scenario language in one look", 1)[1]
    return re.search(r"```text\n(.*?)```", section, flags=re.S).group(1)


def test_the_readme_scenario_passes_check_and_matches_the_shipped_file(tmp_path):
    folder = ScenarioFolder(tmp_path)
    path = folder.write(readme_scenario(), "readme.flex")
    result = flexopt("check", path)
    assert result.returncode == 0, result.stderr
    excerpt, _ = load_scenario(path)
    shipped, _ = load_scenario(CASE_STUDY)
    assert excerpt.substation.transformer == shipped.substation.transformer
    assert excerpt.substation.busbar_pu == shipped.substation.busbar_pu
    mine, theirs = excerpt.feeder("R1"), shipped.feeder("R1")
    for field in ("ambit", "length_km", "sections", "laterals", "conductor", "demand_mwh_per_year", "mix"):
        assert getattr(mine, field) == getattr(theirs, field), field
    shipped_ders = {d.name: d for d in shipped.cases[0].ders}
    for der in excerpt.cases[0].ders:
        other = shipped_ders[der.name]
        assert (der.kind, der.rated_mw, der.capability.kind) == (other.kind, other.rated_mw, other.capability.kind)


def test_the_language_reference_states_the_shipped_feeder_lengths():
    text = (REPO / "docs" / "language.md").read_text(encoding="utf-8")
    sentence = re.search(r"its feeders \((.*?)\)", text, flags=re.S).group(1)
    shipped, _ = load_scenario(CASE_STUDY)
    stated = dict(re.findall(r"`(\w+)` (\d+(?:\.\d+)?) km", sentence.replace("\n", " ")))
    stated.update({name: km for names, km in re.findall(r"((?:`\w+` and )+`\w+`) (\d+) km", sentence)
                   for name in re.findall(r"`(\w+)`", names)})
    assert len(stated) >= 4
    for name, km in stated.items():
        assert shipped.feeder(name).length_km == float(km), name
