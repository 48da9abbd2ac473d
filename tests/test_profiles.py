"""Typical-day profiles: generated with pvlib, windpowerlib, demandlib; read from CSV; energies preserved."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from flexopt.errors import FlexoptError
from flexopt.compile.profiles import compile_profiles, read_csv_series, to_typical_days, year_index
from tests.conftest import CASE_STUDY, MINIMAL

GENERATORS = MINIMAL.replace(
    "profile pv generated pv { latitude 39.2 deg  longitude 9.1 deg }",
    "profile pv generated pv { latitude 39.2 deg  longitude 9.1 deg  tilt 30 deg }\n"
    "profile coast generated wind { site coastal }\n"
    "profile hills generated wind { site mountain }\n"
    "profile heat_c generated chp { zone C }\n"
    "profile heat_e generated chp { zone E }\n"
    "profile commercial generated demand { class commercial }\n"
    "profile industrial generated demand { class industrial }\n"
    "profile agricultural generated demand { class agricultural }",
   ) + 'calendar { year 2019  holidays "IT" }\n'


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from tests.conftest import ScenarioFolder

    folder = ScenarioFolder(tmp_path_factory.mktemp("gen"))
    scenario = folder.load(GENERATORS)
    case = scenario.cases[0]
    return scenario, compile_profiles(scenario, case)


def hours(profiles, name):
    """Equivalent full-load hours of a per-unit shape."""
    return float(np.dot(profiles.shapes[name], profiles.days.weight_h))


def by_key(profiles, name):
    days = profiles.days
    return pd.Series(profiles.shapes[name], index=pd.MultiIndex.from_arrays([days.season, days.day_type, days.hour])).sort_index()


def test_the_typical_days_of_2019_are_288_intervals_weighing_8760_hours(generated):
    scenario, profiles = generated
    assert profiles.days.n == 288
    assert profiles.days.weight_h.sum() == 8760
    # 2019 in Italy: Sundays and public holidays are 'holiday' days.
    counts = dict(zip(zip(profiles.days.season[::24], profiles.days.day_type[::24]), profiles.days.weight_h[::24]))  # 1-hour steps: weight = days
    assert counts[("summer", "holiday")] == 13 + 1  # 13 Sundays and 15 August (2 June 2019 was a Sunday)
    assert sum(counts.values()) == 365


def test_a_typical_day_is_the_mean_of_the_days_it_stands_for_so_energy_is_preserved(generated):
    scenario, profiles = generated
    hourly = np.random.default_rng(7).uniform(0, 3, 8760)
    values = to_typical_days(hourly, scenario.calendar)
    assert np.dot(values, profiles.days.weight_h) == pytest.approx(hourly.sum(), rel=1e-12)
    index = year_index(scenario.calendar)
    first_working_monday_jan_hour_5 = index.interval[24 * 6 + 5]  # 7 Jan 2019, a Monday
    assert profiles.days.day_type[first_working_monday_jan_hour_5] == "working"
    assert profiles.days.hour[first_working_monday_jan_hour_5] == 5


def test_pv_is_dark_at_night_peaks_at_noon_and_yields_like_southern_italy(generated):
    _, profiles = generated
    pv = by_key(profiles, "pv")
    assert pv.xs(2, level=2).max() == 0 and pv.xs(22, level=2).max() == 0
    summer = pv.loc[("summer", "working")]
    assert summer.idxmax() in (11, 12, 13)
    assert pv.loc[("summer", "working")].sum() > 1.8 * pv.loc[("winter", "working")].sum()
    assert 1250 < hours(profiles, "pv") < 1650  # kWh/kWp in Sardinia (PVGIS: ~1400-1500)
    assert profiles.shapes["pv"].max() <= 1.0


def test_wind_follows_the_site_climatology_through_a_real_power_curve(generated):
    _, profiles = generated
    for name in ("coast", "hills"):
        wind = by_key(profiles, name)
        assert wind.loc["winter"].mean() > 1.3 * wind.loc["summer"].mean()
        assert 1200 < hours(profiles, name) < 3500
    assert hours(profiles, "hills") > hours(profiles, "coast")
    coast = by_key(profiles, "coast").loc[("summer", "working")]
    assert coast.loc[15] > coast.loc[3]  # afternoon sea breeze


@pytest.mark.parametrize("site", ["coastal", "mountain"])
def test_expected_wind_power_is_each_hours_own_weibull_integral_of_the_power_curve(site):
    """The expected power is integrated once per distinct Weibull scale (a month's hour of the day), which must
    give exactly what integrating every hour of the year on its own gives."""
    from scipy.special import gamma
    from windpowerlib import WindTurbine

    from flexopt.compile import profiles

    index = profiles.YearIndex(pd.date_range("2020-01-01", periods=8784, freq="h"), np.zeros(8784, dtype=int))
    expected = profiles.generate_wind(index, site, 100.0, profiles.WIND_DEFAULT_TURBINE, None)
    machine = WindTurbine(hub_height=100.0, turbine_type=profiles.WIND_DEFAULT_TURBINE)
    curve_speed = machine.power_curve["wind_speed"].to_numpy(dtype=float)
    curve_pu = machine.power_curve["value"].to_numpy(dtype=float) / float(machine.nominal_power)
    hours = index.hours
    daily = 1.0 + profiles.WIND_DAILY_AMPLITUDE[site] * np.cos(2 * np.pi * (hours.hour.to_numpy() + 0.5 - 15.0) / 24.0)
    mean_speed = (np.asarray(profiles.WIND_MONTHLY_SPEED_80M[site])[hours.month.to_numpy() - 1] * daily
                  * (100.0 / 80.0) ** profiles.WIND_SHEAR_EXPONENT)
    k = profiles.WIND_WEIBULL_SHAPE[site]
    scale = mean_speed / gamma(1.0 + 1.0 / k)
    speeds = np.linspace(0.0, 35.0, 701)
    power = np.interp(speeds, curve_speed, curve_pu, left=0.0, right=0.0)
    z = speeds[None, :] / scale[:, None]
    density = (k / scale[:, None]) * z ** (k - 1) * np.exp(-(z**k))
    every_hour = np.clip(np.trapezoid(density * power[None, :], speeds, axis=1), 0.0, 1.0)
    assert expected.shape == (8784,) and np.array_equal(expected, every_hour)


def test_chp_is_heat_led_by_climatic_zone(generated):
    _, profiles = generated
    chp_c, chp_e = by_key(profiles, "heat_c"), by_key(profiles, "heat_e")
    assert hours(profiles, "heat_e") > hours(profiles, "heat_c")
    assert chp_e.loc[("autumn", "working")].mean() > chp_c.loc[("autumn", "working")].mean()  # longer season
    assert chp_c.loc[("winter", "working")].mean() > chp_c.loc[("summer", "working")].mean()
    assert chp_c.loc[("summer", "working", 10)] > chp_c.loc[("summer", "holiday", 10)]


def test_bdew_demand_shapes_differ_by_class_and_day_type(generated):
    _, profiles = generated
    residential, commercial = by_key(profiles, "residential"), by_key(profiles, "commercial")
    assert commercial.loc[("winter", "working", 11)] > 1.5 * commercial.loc[("winter", "holiday", 11)]
    assert residential.loc[("winter", "working")].idxmax() >= 17  # evening peak
    assert residential.loc[("winter", "working", 4)] < residential.loc[("winter", "working", 19)]


def test_feeder_demand_is_the_declared_energy_shaped_by_its_classes(generated):
    scenario, profiles = generated
    energy = profiles.annual_energy_mwh(profiles.feeder_class_demand_mw("R1", "residential"))
    assert energy == pytest.approx(5000.0, rel=1e-12)
    assert not profiles.feeder_class_demand_mw("R1", "commercial").any()


def test_a_der_energy_scales_its_profile_within_its_rating(folder):
    scenario = folder.load(MINIMAL.replace("der PV1 pv 2 MW at R1 end", "der PV1 pv 2 MW at R1 end  energy 3.4 GWh/y"))
    profiles = compile_profiles(scenario, scenario.cases[0])
    p = profiles.der_p_mw["PV1"]
    assert profiles.annual_energy_mwh(p) == pytest.approx(3400.0, rel=1e-9)
    assert p.max() <= 2.0 + 1e-12
    unscaled = folder.load(MINIMAL)
    plain = compile_profiles(unscaled, unscaled.cases[0]).der_p_mw["PV1"]
    assert plain.max() < p.max()  # scaled up, clipped at 2 MW


def test_an_unreachable_energy_names_the_der_and_the_most_it_can_give(folder):
    path = folder.write(MINIMAL.replace("der PV1 pv 2 MW at R1 end", "der PV1 pv 2 MW at R1 end  energy 12 GWh/y"))
    from flexopt.language.validate import load_scenario

    scenario, _ = load_scenario(path)
    with pytest.raises(FlexoptError) as caught:
        compile_profiles(scenario, scenario.cases[0])
    problem = caught.value.errors[0]
    assert (problem.span.line, problem.span.column) == (11, 1)
    assert "PV1 cannot produce 12 GWh/y" in problem.message and "at most" in problem.hint


def write_keyed_csv(folder, rows, name="series.csv"):
    text = "season,day_type,hour,value\n" + "".join(f"{s},{d},{h},{v}\n" for s, d, h, v in rows)
    (folder.root / "data" / name).write_text(text)


def all_keys():
    return [(s, d, h) for s in ("winter", "spring", "summer", "autumn")
            for d in ("working", "saturday", "holiday") for h in range(24)]


def test_a_csv_profile_is_read_by_its_keys_in_any_row_order(folder):
    rows = [(s, d, h, i) for i, (s, d, h) in enumerate(all_keys())][::-1]
    write_keyed_csv(folder, rows)
    scenario = folder.load(MINIMAL + 'profile flat csv "data/series.csv" column "value"\n')
    values = read_csv_series(folder.root / "data" / "series.csv", "value", scenario.calendar, None)
    assert values.tolist() == list(range(288))


def test_a_csv_profile_with_a_missing_interval_or_a_bad_number_says_where(folder):
    rows = [(s, d, h, 1.0) for s, d, h in all_keys()]
    write_keyed_csv(folder, rows[:-1])
    scenario = folder.load(MINIMAL + 'profile flat csv "data/series.csv" column "value"\n')
    with pytest.raises(FlexoptError, match="no 'value' value for autumn holiday hour 23"):
        compile_profiles(scenario, scenario.cases[0])
    rows[5] = ("winter", "working", 5, "n/a")
    write_keyed_csv(folder, rows)
    with pytest.raises(FlexoptError) as caught:
        compile_profiles(scenario, scenario.cases[0])
    problem = caught.value.errors[0]
    assert problem.span.line == 7 and "'n/a'" in problem.message and "decimal point" in problem.hint


def test_an_unknown_wind_turbine_is_reported_at_its_profile(folder):
    scenario = folder.load(MINIMAL + 'profile gust generated wind { site coastal  turbine "E-82/230" }\n')
    with pytest.raises(FlexoptError) as caught:
        compile_profiles(scenario, scenario.cases[0])
    problem = caught.value.errors[0]
    assert problem.span.line == 12 and "did you mean 'E-82/" in problem.hint


def test_flexopt_profiles_writes_the_case_series_to_csv(tmp_path):
    out = tmp_path / "profiles.csv"
    result = subprocess.run([sys.executable, "-m", "flexopt", "profiles", str(CASE_STUDY), "--case", "B",
                             "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(out)
    assert len(frame) == 288 and frame.weight_h.sum() == pytest.approx(8760)
    assert {"profile_pv", "price_buy_eur_per_mwh", "der_PV_R1_p_mw", "demand_R1_residential_p_mw"} <= set(frame.columns)
    assert (frame.der_PV_R1_p_mw * frame.weight_h).sum() / 1000 == pytest.approx(22.096, rel=1e-6)
    assert "demand      81.40 GWh/y" in result.stdout
    assert not list(tmp_path.glob(".*"))


def test_generating_profiles_leaves_the_warning_filters_alone(folder):
    """demandlib 0.2 turns every warning into an error process-wide; flexopt contains it."""
    import warnings

    before = list(warnings.filters)
    from flexopt.compile.profiles import _bdew_year

    _bdew_year.cache_clear()
    scenario = folder.load(MINIMAL)
    compile_profiles(scenario, scenario.cases[0])
    assert warnings.filters == before


def test_the_default_periods_and_weather_are_the_papers_expected_typical_days(folder, generated):
    # `periods typical days` and `weather expected` are the defaults: written out, nothing changes,
    # and every typical day is the mean of the expected hourly series of the days it stands for
    from flexopt.compile.profiles import generated_hourly

    scenario, profiles = generated
    explicit = folder.load(GENERATORS.replace('holidays "IT" }', 'holidays "IT"  periods typical days  weather expected }'))
    again = compile_profiles(explicit, explicit.cases[0])
    for name, values in profiles.shapes.items():
        assert np.array_equal(again.shapes[name], values), name
        source = next(s for s in scenario.profiles if s.name == name)
        hourly = generated_hourly(source.generator, tuple(sorted(source.params)), scenario.calendar, source.span)
        assert np.allclose(to_typical_days(hourly, scenario.calendar), values), name
