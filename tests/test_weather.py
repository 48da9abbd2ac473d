"""Profiles with weather: seeded hourly variability around the climatology, energies kept exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flexopt.compile import weather
from flexopt.compile.profiles import PV_MONTHLY_CLEARNESS, compile_profiles, generated_hourly, to_typical_days
from tests.conftest import MINIMAL

HOURS = pd.date_range("2019-01-01", periods=8760, freq="h")
WIND = "profile wind generated wind { site coastal }\nder W1 wind 2 MW at R1 end\n"


def _scenario(folder, calendar: str, extra: str = ""):
    text = MINIMAL.replace("der PV1 pv 2 MW at R1 end", "der PV1 pv 2 MW at R1 end energy 3 GWh/y") + extra
    return folder.load(text + calendar)


def _hourly(scenario, name: str) -> np.ndarray:
    source = next(s for s in scenario.profiles if s.name == name)
    return generated_hourly(source.generator, tuple(sorted(source.params)), scenario.calendar, source.span)


def test_weather_is_expected_by_default_and_variable_only_when_asked(folder):
    default = _scenario(folder, "")
    assert default.calendar.weather == "expected"
    variable = _scenario(folder, "calendar { weather variable seed 7 }")
    assert (variable.calendar.weather, variable.calendar.weather_seed) == ("variable", 7)
    # the expected year has the same clearness every day of a month; the variable one does not
    for scenario, varies in ((default, False), (variable, True)):
        daily = _hourly(scenario, "pv").reshape(365, 24).sum(axis=1)
        june = daily[151:181]
        assert (june.std() / june.mean() > 0.05) == varies


def test_a_seed_gives_the_same_weather_year_and_another_seed_another(folder):
    a = _hourly(_scenario(folder, "calendar { weather variable seed 7 }"), "pv")
    b = _hourly(_scenario(folder, "calendar { weather variable seed 7 }  # same"), "pv")
    c = _hourly(_scenario(folder, "calendar { weather variable seed 8 }"), "pv")
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_the_clearness_markov_chain_keeps_each_months_mean_and_persists_from_day_to_day():
    rng = weather.generator(3, "pv", 39.2, 9.1)
    daily = weather.daily_clearness(HOURS, PV_MONTHLY_CLEARNESS, rng)
    months = HOURS[::24].month.to_numpy()
    by_month = np.array([daily[months == m].mean() for m in range(1, 13)])
    assert by_month[5:8].mean() > by_month[[0, 1, 11]].mean() + 0.1  # summer clearer than winter
    assert np.abs(by_month - np.asarray(PV_MONTHLY_CLEARNESS)).mean() < 0.08
    lag1 = np.corrcoef(daily[:-1], daily[1:])[0, 1]
    assert 0.15 < lag1 < 0.6  # persistence of the chain (0.35 by construction, plus the seasonal cycle)
    assert daily.min() < 0.35 and daily.max() > 0.85  # overcast and clear days both occur


def test_wind_speed_has_the_weibull_marginals_and_is_autocorrelated():
    from scipy.special import gamma as gamma_fn

    mean = np.full(8760 * 4, 6.5)
    speed = weather.wind_speed(mean, 1.9, weather.generator(1, "wind"))
    assert speed.mean() == pytest.approx(6.5, rel=0.05)
    scale = 6.5 / gamma_fn(1 + 1 / 1.9)
    for v in (3.0, 6.0, 10.0):  # the Weibull distribution function at a few speeds
        assert np.mean(speed <= v) == pytest.approx(1 - np.exp(-(v / scale) ** 1.9), abs=0.04)
    lag1 = np.corrcoef(speed[:-1], speed[1:])[0, 1]
    assert lag1 > 0.9


def test_variable_wind_reaches_its_rating_where_the_expectation_never_does(folder):
    expected = compile_profiles(s := _scenario(folder, "calendar { periods full year }", WIND), s.cases[0])
    variable = compile_profiles(v := _scenario(folder, "calendar { periods full year  weather variable seed 2 }", WIND),
                                v.cases[0])
    assert expected.der_p_mw["W1"].max() < 0.9 * 2.0  # the issue: an expectation never stresses the grid
    assert variable.der_p_mw["W1"].max() > 0.97 * 2.0
    assert variable.der_p_mw["PV1"].max() > expected.der_p_mw["PV1"].max()


@pytest.mark.parametrize("periods", ["typical days", "full year", "representative 4 days"])
def test_declared_energies_are_matched_exactly_with_variable_weather(folder, periods):
    scenario = _scenario(folder, f"calendar {{ periods {periods}  weather variable seed 11 }}", WIND)
    profiles = compile_profiles(scenario, scenario.cases[0])
    assert profiles.annual_energy_mwh(profiles.der_p_mw["PV1"]) == pytest.approx(3000.0, rel=1e-9)
    demand = profiles.feeder_class_demand_mw("R1", "residential")
    assert profiles.annual_energy_mwh(demand) == pytest.approx(5000.0, rel=1e-9)
    assert profiles.days.weight_h.sum() == 8760


def test_typical_days_from_a_weather_year_are_its_averaged_days(folder):
    scenario = _scenario(folder, "calendar { weather variable seed 5 }")
    profiles = compile_profiles(scenario, scenario.cases[0])
    assert profiles.days.n == 288
    assert np.allclose(profiles.shapes["pv"], to_typical_days(_hourly(scenario, "pv"), scenario.calendar))
    # averaged days of a variable year differ from the expected days: the default stays `weather expected`
    expected = compile_profiles(e := _scenario(folder, ""), e.cases[0])
    assert not np.allclose(profiles.shapes["pv"], expected.shapes["pv"], atol=1e-3)


def test_a_demand_factor_has_mean_one_and_varies_from_day_to_day():
    factor = weather.demand_factor(8760, weather.generator(0, "demand", "residential"))
    assert factor.mean() == pytest.approx(1.0)
    daily = factor.reshape(365, 24).mean(axis=1)
    assert 0.02 < daily.std() < 0.1


def test_a_bad_weather_line_is_refused_where_it_is_written(folder):
    problems = folder.problems(MINIMAL + "calendar {\n  weather sunny\n}\n")
    assert problems and problems[0][0] == MINIMAL.count("\n") + 2
    assert "sunny" in problems[0][2]
