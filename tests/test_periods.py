"""Periods that keep the extremes: typical days, the full year, representative days with extreme days."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import xarray as xr

import flexopt
from flexopt.compile.profiles import compile_profiles
from flexopt.results.schema import GREEN
from flexopt.results.store import write_dataset
from flexopt.results.tables import status_shares, table4
from tests.conftest import MINIMAL

#: A short weak feeder whose PV export meets the voltage limit on sunny middays.
SMALL = (MINIMAL.replace("der PV1 pv 2 MW at R1 end", "der PV1 pv 12 MW at R1 end energy 16 GWh/y")
         .replace("length 10 km  sections 10", "length 8 km  sections 4")
         + "bids { pv down -100 % at 0  up +10 % derated at 2 * sell }\nlimits { voltage 0.95 .. 1.04 pu }\n")


def _load(folder, calendar: str, text: str = SMALL):
    return folder.load(text + calendar)


# ---- the calendar block -----------------------------------------------------


def test_typical_days_are_the_default_and_every_mode_is_spelt_in_the_calendar(folder):
    assert _load(folder, "").calendar.periods == "typical days"
    for line, mode, n in (("periods typical days", "typical days", 0), ("periods full year", "full year", 0),
                          ("periods representative 8 days", "representative days", 8)):
        calendar = _load(folder, f"calendar {{ {line} }}").calendar
        assert (calendar.periods, calendar.representative_days) == (mode, n)


def test_hourly_periods_refuse_day_counts_and_steps_longer_than_an_hour(folder):
    line, _, message, hint = folder.error(SMALL + "calendar {\n  periods full year\n  hours 12\n}\n")
    assert line == SMALL.count("\n") + 2 and "'hours 12' cannot be given" in message and "typical days" in hint
    days = "".join(f"  days {s} working 60 saturday 15 holiday 16\n" for s in ("winter", "spring", "summer"))
    days += "  days autumn working 65 saturday 14 holiday 13\n"
    _, _, message, _ = folder.error(SMALL + "calendar {\n  periods representative 6 days\n" + days + "}\n")
    assert "'days' cannot be given" in message


def test_zero_representative_days_is_refused_at_the_number(folder):
    line, column, message, _ = folder.error(SMALL + "calendar { periods representative 0 days }\n")
    assert (line, column) == (SMALL.count("\n") + 1, 35) and "at least 1" in message


# ---- the full year ----------------------------------------------------------


@pytest.mark.parametrize("year, hours", [(2019, 8760), (2020, 8784)])
def test_the_full_year_is_every_hour_of_the_calendar_year_weighing_one_hour(folder, year, hours):
    scenario = _load(folder, f"calendar {{ year {year}  periods full year }}")
    profiles = compile_profiles(scenario, scenario.cases[0])
    days = profiles.days
    assert days.n == hours and np.all(days.weight_h == 1.0)
    assert days.time[0] == np.datetime64(f"{year}-01-01T00:00") and days.time[-1] == np.datetime64(f"{year}-12-31T23:00")
    assert list(days.hour[:25]) == list(range(24)) + [0]
    assert days.season[0] == "winter" and days.season[24 * 100] == "spring"
    weekday = (days.time[::24].astype("datetime64[D]").astype(int) + 3) % 7  # 1970-01-01 was a Thursday
    expected = np.where(weekday == 6, "holiday", np.where(weekday == 5, "saturday", "working"))
    assert np.array_equal(days.day_type[::24], expected)  # every day's type, from the calendar
    assert profiles.annual_energy_mwh(profiles.der_p_mw["PV1"]) == pytest.approx(16000.0, rel=1e-9)


def test_typical_days_of_the_full_year_are_todays_typical_days(folder):
    typical = compile_profiles(t := _load(folder, ""), t.cases[0])
    full = compile_profiles(f := _load(folder, "calendar { periods full year }"), f.cases[0])
    index = f.calendar.hour_intervals()
    means = np.bincount(index, weights=full.shapes["residential"]) / np.bincount(index)
    assert np.allclose(means, typical.shapes["residential"])
    # prices from the typical-day CSV are spread over the hours they stand for
    assert np.array_equal(full.prices["sell"], typical.prices["sell"][index])


@pytest.fixture(scope="module")
def full_year_run(tmp_path_factory):
    from tests.conftest import ScenarioFolder

    folder = ScenarioFolder(tmp_path_factory.mktemp("full"))
    scenario = folder.load(SMALL + "calendar { periods full year }")
    ds = flexopt.assess_case(scenario)
    path = write_dataset(ds, folder.root / "A.nc")
    return ds, xr.load_dataset(path), folder.load(SMALL, "typical.flex")


def test_a_full_year_dataset_has_a_cf_time_coordinate_on_its_intervals(full_year_run):
    ds, stored, _ = full_year_run
    assert ds.sizes["interval"] == 8760 and ds.attrs["periods"] == "full year"
    assert stored.time.dims == ("interval",) and np.issubdtype(stored.time.dtype, np.datetime64)
    assert stored.time.attrs["standard_name"] == "time"
    assert stored.time.encoding["units"].startswith("hours since 2019-01-01")
    assert str(stored.time.values[-1])[:16] == "2019-12-31T23:00"


def test_the_full_year_finds_the_extreme_hours_and_tables_weigh_hours(full_year_run):
    ds, _, _ = full_year_run
    status = ds.status.sel(feeder="R1")
    assert int((status != GREEN).sum()) > 100  # sunny middays push the feeder beyond its band ...
    typical = flexopt.assess_case(full_year_run[2])
    assert int((typical.status != GREEN).sum()) < 20  # ... which the averaged typical days hardly show
    shares = status_shares(ds).loc["R1"]
    moved = (ds.bid_point != 0) & (np.abs(ds.quantity_mw.sel(feeder="R1")) > 1e-9)
    assert shares["orange_percent"] + shares["red_percent"] == pytest.approx(
        100.0 * float(((status != GREEN) & moved).sum() / moved.sum()))
    # typical days: each point weighs the days its season and day type stand for
    typical_status = typical.status.sel(feeder="R1")
    typical_moved = (typical.bid_point != 0) & (np.abs(typical.quantity_mw.sel(feeder="R1")) > 1e-9)
    hours = typical.weight_h.where(typical_moved)
    assert len(set(typical.weight_h.values)) > 1  # the day types stand for different numbers of days
    assert status_shares(typical).loc["R1", "green_percent"] == pytest.approx(
        100.0 * float((hours * (typical_status == GREEN)).sum() / hours.sum()))
    up = table4({"A": ds})[("A", "up")]
    assert up["market_potential_gwh_per_y"] == pytest.approx(
        float(np.abs(ds.quantity_mw.sel(bid_point=10)).sum()) / 1000.0)


# ---- representative days ----------------------------------------------------


@pytest.fixture(scope="module")
def representative(tmp_path_factory):
    from tests.conftest import ScenarioFolder

    folder = ScenarioFolder(tmp_path_factory.mktemp("rep"))
    scenario = folder.load(SMALL + "calendar { periods representative 6 days  weather variable seed 3 }")
    full = folder.load(SMALL + "calendar { periods full year  weather variable seed 3 }", "full.flex")
    return scenario, compile_profiles(scenario, scenario.cases[0]), compile_profiles(full, full.cases[0])


def test_representative_days_are_clusters_plus_the_extreme_days_and_weigh_the_year(representative):
    scenario, profiles, _ = representative
    days = profiles.days
    kinds = days.period_kind
    assert kinds.count("cluster") == 6
    assert {"highest RES output", "lowest demand", "highest demand"} <= set(kinds)
    assert days.n == 24 * len(kinds) and days.weight_h.sum() == 8760
    members = np.bincount(days.day_period, minlength=len(kinds))
    assert all(members[i] == 1 for i, kind in enumerate(kinds) if kind != "cluster")  # an extreme is its own day
    assert np.array_equal(days.weight_h, np.repeat(members, 24).astype(float))


def test_representative_days_keep_the_extremes_and_the_energies_of_the_year(representative):
    _, profiles, full = representative
    assert profiles.der_p_mw["PV1"].max() == pytest.approx(full.der_p_mw["PV1"].max())
    demand, demand_full = (p.feeder_class_demand_mw("R1", "residential") for p in (profiles, full))
    assert demand.max() == pytest.approx(demand_full.max()) and demand.min() == pytest.approx(demand_full.min())
    for name in ("PV1",):
        assert profiles.annual_energy_mwh(profiles.der_p_mw[name]) == pytest.approx(16000.0, rel=1e-9)
    assert profiles.annual_energy_mwh(demand) == pytest.approx(5000.0, rel=1e-9)


def test_a_representative_dataset_records_the_days_each_period_stands_for(tmp_path, representative):
    scenario, profiles, _ = representative
    ds = flexopt.assess_case(scenario)
    stored = xr.load_dataset(write_dataset(ds, tmp_path / "A.nc"))
    assert stored.sizes["day"] == 365 and stored.sizes["period"] == len(profiles.days.period_kind)
    assert np.array_equal(stored.day_period.values, profiles.days.day_period)
    assert np.array_equal(np.bincount(stored.day_period.values), stored.period_days.values)
    # each period is shown as one of its own days
    shown = stored.period_date.values.astype("datetime64[D]")
    for p, day in enumerate(shown):
        assert stored.day_period.sel(day=day).item() == p
    assert float(stored.weight_h.sum()) == 8760
    # the new coordinates keep the dataset CF-1.8 (as tests/test_outputs_standard.py checks the others)
    from tests.test_outputs_standard import CHECKER_BUGS, cf_failures, not_udunits

    failed, raised = cf_failures(tmp_path / "A.nc")
    assert [message for message in failed if not not_udunits(message)] == [] and raised <= CHECKER_BUGS
    for name in ("time", "interval_period", "period", "period_kind", "period_date", "period_days", "day", "day_period"):
        assert stored[name].attrs.get("long_name"), name
        assert stored[name].dtype != np.int64, name


# ---- measured hourly series --------------------------------------------------


def _hourly_csv(folder, rows: list[str], name: str = "hourly.csv"):
    (folder.root / "data" / name).write_text("time,pv\n" + "".join(rows), encoding="utf-8")
    return SMALL.replace("profile pv generated pv { latitude 39.2 deg  longitude 9.1 deg }",
                         f'profile pv csv "data/{name}" column "pv"')


def _year_rows(year=2019, skip=(), twice=()):
    start, rows = dt.datetime(year, 1, 1), []
    hours = 8784 if year % 4 == 0 else 8760
    for h in range(hours):
        stamp = start + dt.timedelta(hours=h)
        value = max(0.0, np.sin(np.pi * (stamp.hour - 6) / 12))
        if h in skip:
            continue
        rows += [f"{stamp:%Y-%m-%d %H:%M},{value:.4f}\n"] * (2 if h in twice else 1)
    return rows


def test_a_measured_hourly_series_is_read_in_every_mode(folder):
    text = _hourly_csv(folder, _year_rows())
    full = compile_profiles(s := folder.load(text + "calendar { periods full year }"), s.cases[0])
    typical = compile_profiles(t := folder.load(text), t.cases[0])
    assert full.shapes["pv"][12] == pytest.approx(1.0) and full.shapes["pv"][3] == 0.0
    assert typical.days.n == 288 and typical.shapes["pv"][12] == pytest.approx(1.0)
    assert full.annual_energy_mwh(full.der_p_mw["PV1"]) == pytest.approx(16000.0, rel=1e-9)
    rep = compile_profiles(r := folder.load(text + "calendar { periods representative 3 days }", "r.flex"),
                           r.cases[0])
    assert rep.shapes["pv"][12] == pytest.approx(1.0)
    assert rep.annual_energy_mwh(rep.der_p_mw["PV1"]) == pytest.approx(16000.0, rel=1e-9)


def _csv_error(folder, rows, calendar="calendar { periods full year }"):
    text = _hourly_csv(folder, rows)
    with pytest.raises(flexopt.FlexoptError) as caught:
        scenario = folder.load(text + calendar)
        compile_profiles(scenario, scenario.cases[0])
    problem = caught.value.errors[0]
    assert problem.span.file.endswith("hourly.csv")
    return problem


def test_a_gap_in_an_hourly_series_is_located_at_the_row_after_it(folder):
    problem = _csv_error(folder, _year_rows(skip={100, 101}))
    assert "2019-01-05 04:00" in problem.message and "1 more hours" in problem.message
    assert problem.span.line == 2 + 100  # header, then the row of hour 102


def test_a_daylight_saving_shift_is_named_as_such(folder):
    spring = 24 * (31 + 28 + 30) + 2  # 2019-03-31 02:00, the hour the clock skips
    problem = _csv_error(folder, _year_rows(skip={spring}))
    assert "2019-03-31 02:00" in problem.message and "daylight-saving" in problem.hint
    autumn = 24 * (31 + 28 + 31 + 30 + 31 + 30 + 31 + 31 + 30 + 26) + 2  # 2019-10-27 02:00, repeated
    problem = _csv_error(folder, _year_rows(twice={autumn}))
    assert "2019-10-27 02:00 appears twice" in problem.message and "daylight-saving" in problem.hint


def test_the_wrong_year_length_is_refused(folder):
    problem = _csv_error(folder, _year_rows(2020))
    assert "2020-01-01 00:00" in problem.message and "not in the calendar year 2019" in problem.message
    rows = [row.split(",", 1)[1] for row in _year_rows(2020)]
    (folder.root / "data" / "plain.csv").write_text("pv\n" + "".join(rows), encoding="utf-8")
    text = SMALL.replace("profile pv generated pv { latitude 39.2 deg  longitude 9.1 deg }",
                         'profile pv csv "data/plain.csv" column "pv"')
    with pytest.raises(flexopt.FlexoptError) as caught:
        scenario = folder.load(text + "calendar { periods full year }")
        compile_profiles(scenario, scenario.cases[0])
    assert "8784 hourly rows; 2019 has 8760 hours" in caught.value.errors[0].message
    assert "leap" in caught.value.errors[0].hint


def test_times_with_utc_offsets_are_moved_to_standard_time(folder):
    rows = []
    for h in range(8760):  # local time with summer time, each time with its offset
        utc = dt.datetime(2018, 12, 31, 23) + dt.timedelta(hours=h)
        summer = dt.datetime(2019, 3, 31, 1) <= utc < dt.datetime(2019, 10, 27, 1)
        offset = dt.timedelta(hours=2 if summer else 1)
        local = (utc + offset).replace(tzinfo=dt.timezone(offset))
        standard = utc + dt.timedelta(hours=1)
        rows.append(f"{local.isoformat()},{standard.hour}\n")
    text = _hourly_csv(folder, rows)
    profiles = compile_profiles(s := folder.load(text + "calendar { periods full year }"), s.cases[0])
    assert np.array_equal(profiles.shapes["pv"], np.tile(np.arange(24.0), 365))


# ---- figures over the year ---------------------------------------------------


def test_heat_maps_and_duration_curves_read_a_year_of_hours(tmp_path, full_year_run):
    from flexopt.results.year_figures import (day_hour_grid, duration_curve, duration_curves, hourly_lights,
                                              traffic_light_heat_maps)

    ds, _, typical_scenario = full_year_run
    lights = hourly_lights(ds, "up")
    grid = day_hour_grid(ds, lights)
    assert grid.shape == (1, 24, 365)
    hour = int(np.flatnonzero(lights[0] > GREEN)[0])
    assert grid[0, hour % 24, hour // 24] == lights[0, hour]  # hour of the day up, day of the year across
    for draw, name in ((traffic_light_heat_maps, "heat.png"), (duration_curves, "duration.png")):
        path = draw(ds, tmp_path / name)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    hours, mw = duration_curve(np.array([1.0, 3.0, 2.0]), np.array([10.0, 1.0, 5.0]))
    assert list(hours) == [0, 1, 6, 16] and list(mw[:3]) == [3.0, 2.0, 1.0]
    with pytest.raises(ValueError, match="periods full year"):
        day_hour_grid(flexopt.assess_case(typical_scenario), lights)


def test_a_heat_map_spreads_each_representative_day_over_the_days_it_stands_for(representative):
    from flexopt.results.year_figures import day_hour_grid

    scenario, profiles, _ = representative
    values = np.arange(profiles.days.n, dtype=float)[None, :]
    ds = xr.Dataset({"day_period": ("day", profiles.days.day_period)})
    grid = day_hour_grid(ds, values)[0]
    for day in (0, 100, 364):
        period = profiles.days.day_period[day]
        assert list(grid[:, day]) == list(range(24 * period, 24 * period + 24))


def test_flexopt_profiles_writes_the_time_of_every_hourly_interval(folder):
    from flexopt.compile.profiles import profiles_frame

    scenario = _load(folder, "calendar { periods full year }")
    frame = profiles_frame(scenario, scenario.cases[0], compile_profiles(scenario, scenario.cases[0]))
    assert len(frame) == 8760 and list(frame.columns[:5]) == ["time", "season", "day_type", "hour", "weight_h"]
    assert frame.time.iloc[[0, -1]].tolist() == ["2019-01-01 00:00", "2019-12-31 23:00"]


def test_flexopt_check_reports_a_gap_in_an_hourly_csv_profile(folder):
    text = _hourly_csv(folder, _year_rows(skip={5000}))
    problems = folder.problems(text + "calendar { periods full year }")
    assert len(problems) == 1 and "2019-07-28 08:00" in problems[0][2] and problems[0][0] == 2 + 5000


def test_the_report_of_a_full_year_shows_heat_maps_and_duration_curves_instead_of_profiles(tmp_path, full_year_run):
    """8760 intervals cannot be read on a time axis: the report of a year of hours draws the traffic lights as
    heat maps (up and down) and the duration curves, each with its caption."""
    from flexopt.results.html import write_outputs

    _, stored, _ = full_year_run
    written = write_outputs({"A": stored}, tmp_path)
    names = sorted(p.name for p in written.paths if p.suffix == ".png")
    assert names == ["A_curves.png", "A_durations.png", "A_lights_down.png", "A_lights_up.png", "A_pq.png"]
    text = (tmp_path / "report.html").read_text()
    assert text.count("<img ") == 5
    assert "the traffic light of every hour of the year for the upward bids" in text
    assert "duration curves" in text and "PCC power of every bid point" not in text
