"""Compile stage, profiles: the typical-day series every later stage works on.

A year is represented by typical days (season x day type x steps per day, 288
intervals by default), each standing for the number of days the calendar counts.
The value of a typical day at a step is the mean of the real days it stands for,
so annual energies are preserved exactly: sum(value * weight_h) = energy.

Shapes are generated offline with the field's libraries from their parameters in
the scenario (PV with pvlib, wind with windpowerlib's turbine power curves, demand
with demandlib's BDEW standard load profiles, CHP heat-led by Italian climatic
zone) or read from CSV. Prices are read from CSV or evaluated from expressions.
"""

from __future__ import annotations

import datetime as dt
import functools
import warnings
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import numpy as np
import pandas as pd

from flexopt.compile import periods, weather
from flexopt.compile.periods import TypicalDays
from flexopt.errors import FlexoptError, Problem, Span, did_you_mean, known_list
from flexopt.language import series
from flexopt.model import Calendar, Case, Der, ProfileSource, Scenario, public_holidays

# ---------------------------------------------------------------------------
# Climate assumptions of the generators (documented in docs/case_study.md)
# ---------------------------------------------------------------------------

#: Monthly clearness: measured irradiation / clear-sky irradiation, a Mediterranean coast (Cagliari-like).
PV_MONTHLY_CLEARNESS = (0.62, 0.66, 0.70, 0.74, 0.80, 0.86, 0.90, 0.88, 0.80, 0.72, 0.64, 0.60)
#: Monthly mean air temperature at a Sardinian coastal site, deg C (climatic zone C).
MONTHLY_TEMPERATURE_C = (10.5, 11.0, 13.0, 15.5, 19.5, 23.5, 26.5, 27.0, 23.5, 19.5, 15.0, 11.5)
#: Half the daily swing of air temperature, deg C, peaking at 15:00.
DAILY_TEMPERATURE_SWING_C = 4.0
PV_TEMPERATURE_COEFFICIENT = -0.004  # per deg C, crystalline silicon
PV_DEFAULT_LOSSES_PERCENT = 14.0

#: Monthly mean wind speed at 80 m by site, m/s, and the Weibull shape parameter.
WIND_MONTHLY_SPEED_80M = {
    "coastal": (7.2, 7.0, 6.8, 6.3, 5.8, 5.5, 5.6, 5.4, 5.6, 6.2, 6.8, 7.2),
    "mountain": (8.0, 7.8, 7.5, 7.0, 6.3, 5.8, 5.9, 5.7, 6.1, 6.8, 7.6, 8.0),
}
WIND_WEIBULL_SHAPE = {"coastal": 1.9, "mountain": 1.7}
#: Relative daily modulation of the mean speed: coastal sea breeze in the afternoon, mountain winds at night.
WIND_DAILY_AMPLITUDE = {"coastal": 0.12, "mountain": -0.08}
WIND_SHEAR_EXPONENT = 0.14
WIND_DEFAULT_TURBINE = "E-82/2300"
WIND_DEFAULT_HUB_HEIGHT_M = 80.0

#: Italian climatic zones (DPR 412/1993): heating season (first day, last day) and daily heating hours.
CLIMATIC_ZONES = {
    "A": ((12, 1), (3, 15), 6),
    "B": ((12, 1), (3, 31), 8),
    "C": ((11, 15), (3, 31), 10),
    "D": ((11, 1), (4, 15), 12),
    "E": ((10, 15), (4, 15), 14),
    "F": ((10, 5), (4, 22), 16),
}
#: Mean temperature of each zone relative to the coastal table above, deg C.
ZONE_TEMPERATURE_OFFSET_C = {"A": 2.0, "B": 1.0, "C": 0.0, "D": -2.0, "E": -5.0, "F": -9.0}
CHP_DEFAULT_MINIMUM_PERCENT = 40.0

#: demandlib BDEW standard load profile for each customer class (industrial: demandlib's step profile).
BDEW_PROFILE = {"residential": "h0_dyn", "commercial": "g0", "agricultural": "l0"}


# ---------------------------------------------------------------------------
# Typical days
# ---------------------------------------------------------------------------


def typical_days(calendar: Calendar) -> TypicalDays:
    season, day_type, hour, weight = calendar.intervals()
    return TypicalDays(season, day_type, hour.astype(int), weight)


@dataclass(frozen=True)
class YearIndex:
    """Every hour of the calendar's year and the typical-day interval it belongs to (-1: none)."""

    hours: pd.DatetimeIndex  # local standard time, naive
    interval: np.ndarray  # (8760|8784,) int


def year_index(calendar: Calendar) -> YearIndex:
    hours = pd.date_range(dt.datetime(calendar.year or 2019, 1, 1), periods=calendar.hours_per_year, freq="h")
    return YearIndex(hours, calendar.hour_intervals())


def to_typical_days(hourly: np.ndarray, calendar: Calendar) -> np.ndarray:
    """Mean of an hourly series of the calendar's year over the hours each interval stands for.

    An interval with no real day behind it (possible only when day counts are given by hand)
    takes the mean of its season's other day types at that step.
    """
    index = year_index(calendar)
    n = calendar.n_intervals
    valid = index.interval >= 0
    total = np.bincount(index.interval[valid], weights=hourly[valid], minlength=n)
    count = np.bincount(index.interval[valid], minlength=n)
    values = np.divide(total, count, out=np.full(n, np.nan), where=count > 0)
    steps = calendar.steps_per_day
    by_day = values.reshape(len(calendar.seasons), 3, steps)
    for s in range(by_day.shape[0]):
        for d in range(3):
            if np.isnan(by_day[s, d]).any():
                by_day[s, d] = np.nanmean(by_day[s], axis=0)
    return np.nan_to_num(by_day.reshape(n), nan=float(np.nanmean(hourly)))


# ---------------------------------------------------------------------------
# Generators: hourly series of a year, per unit of rated power (demand: any scale)
# ---------------------------------------------------------------------------


def _hour_of_day(index: YearIndex) -> np.ndarray:
    return index.hours.hour.to_numpy() + 0.5


def _air_temperature_c(index: YearIndex, offset_c: float = 0.0) -> np.ndarray:
    monthly = np.asarray(MONTHLY_TEMPERATURE_C)[index.hours.month.to_numpy() - 1]
    daily = DAILY_TEMPERATURE_SWING_C * np.cos(2 * np.pi * (_hour_of_day(index) - 15.0) / 24.0)
    return monthly + daily + offset_c


def generate_pv(index: YearIndex, latitude: float, longitude: float, tilt: float, azimuth: float,
                altitude_m: float, losses_percent: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """PV output per unit of rated AC power: pvlib clear sky x monthly clearness, tilted, temperature-corrected;
    with ``rng`` the clearness of one weather year (flexopt/compile/weather.py) instead of the monthly mean."""
    import pvlib

    utc_offset_h = round(longitude / 15.0)
    # The middle of each local standard-time hour, in UTC, so the hour's mean is sampled.
    times = (index.hours + pd.Timedelta(minutes=30) - pd.Timedelta(hours=utc_offset_h)).tz_localize("UTC")
    location = pvlib.location.Location(latitude, longitude, altitude=altitude_m)
    solar = location.get_solarposition(times)
    clear = location.get_clearsky(times, model="simplified_solis", solar_position=solar)
    clearness = np.asarray(PV_MONTHLY_CLEARNESS)[index.hours.month.to_numpy() - 1]
    ghi = clear["ghi"].to_numpy() * clearness
    if rng is not None:  # one weather year: a clearness Markov chain, each month's irradiation kept
        index_h = weather.hourly_clearness(index.hours, PV_MONTHLY_CLEARNESS, rng)
        ghi = weather.rescale_monthly(clear["ghi"].to_numpy() * index_h, ghi, index.hours)
    split = pvlib.irradiance.erbs(ghi, solar["zenith"].to_numpy(), times.dayofyear.to_numpy())
    poa = pvlib.irradiance.get_total_irradiance(
        tilt, azimuth, solar["apparent_zenith"].to_numpy(), solar["azimuth"].to_numpy(),
        dni=np.nan_to_num(np.asarray(split["dni"])), ghi=ghi, dhi=np.nan_to_num(np.asarray(split["dhi"])),
        albedo=0.2, model="isotropic")["poa_global"]
    poa = np.nan_to_num(np.asarray(poa, dtype=float)).clip(min=0.0)
    cell_c = pvlib.temperature.faiman(poa, _air_temperature_c(index), wind_speed=2.0)
    dc = pvlib.pvsystem.pvwatts_dc(poa, cell_c, pdc0=1.0, gamma_pdc=PV_TEMPERATURE_COEFFICIENT)
    return np.clip(np.asarray(dc) * (1.0 - losses_percent / 100.0), 0.0, 1.0)


def generate_wind(index: YearIndex, site: str, hub_height_m: float, turbine: str, span: Span | None,
                  rng: np.random.Generator | None = None) -> np.ndarray:
    """Wind output per unit of rated power: the expected power of a windpowerlib power curve over a
    Weibull wind climatology (monthly mean speed by site, daily modulation, shear to hub height);
    with ``rng`` the power of one autocorrelated wind-speed year with those Weibull marginals."""
    from scipy.special import gamma as gamma_fn
    from windpowerlib import WindTurbine
    from windpowerlib import get_turbine_types

    with warnings.catch_warnings():  # windpowerlib's own pandas deprecation, not ours to fix
        warnings.simplefilter("ignore", FutureWarning)
        known = get_turbine_types(print_out=False)
    names = list(known["turbine_type"])
    if turbine not in names:
        raise FlexoptError([Problem(f"windpowerlib has no turbine '{turbine}'", span,
                                    did_you_mean(turbine, names) or f"for example {known_list(names, 6)}")])
    machine = WindTurbine(hub_height=hub_height_m, turbine_type=turbine)
    curve_speed = machine.power_curve["wind_speed"].to_numpy(dtype=float)
    curve_pu = machine.power_curve["value"].to_numpy(dtype=float) / float(machine.nominal_power)

    monthly = np.asarray(WIND_MONTHLY_SPEED_80M[site])[index.hours.month.to_numpy() - 1]
    daily = 1.0 + WIND_DAILY_AMPLITUDE[site] * np.cos(2 * np.pi * (_hour_of_day(index) - 15.0) / 24.0)
    mean_speed = monthly * daily * (hub_height_m / 80.0) ** WIND_SHEAR_EXPONENT
    k = WIND_WEIBULL_SHAPE[site]
    if rng is not None:
        speed = weather.wind_speed(mean_speed, k, rng)
        return np.clip(np.interp(speed, curve_speed, curve_pu, left=0.0, right=0.0), 0.0, 1.0)
    # Expected power: integrate the power curve against the Weibull density of each hour, once per distinct
    # Weibull scale (a month's hour of the day: 288 in a year, not 8760 integrals of 701 points each).
    scale, hour_of_scale = np.unique(mean_speed / gamma_fn(1.0 + 1.0 / k), return_inverse=True)
    speeds = np.linspace(0.0, 35.0, 701)
    power = np.interp(speeds, curve_speed, curve_pu, left=0.0, right=0.0)
    z = speeds[None, :] / scale[:, None]
    density = (k / scale[:, None]) * z ** (k - 1) * np.exp(-(z**k))
    expected = np.clip(np.trapezoid(density * power[None, :], speeds, axis=1), 0.0, 1.0)
    return expected[hour_of_scale.reshape(-1)]


def generate_chp(index: YearIndex, zone: str, minimum_percent: float) -> np.ndarray:
    """Heat-led CHP per unit of rated power: process heat on working hours plus space heating in the
    zone's legal heating season and hours, scaled by heating degrees; off below its minimum load."""
    (start_month, start_day), (end_month, end_day), heating_hours = CLIMATIC_ZONES[zone]
    months = index.hours.month.to_numpy()
    days = index.hours.day.to_numpy()
    after_start = (months > start_month) | ((months == start_month) & (days >= start_day))
    before_end = (months < end_month) | ((months == end_month) & (days <= end_day))
    in_season = after_start | before_end  # the season spans the new year
    hour = index.hours.hour.to_numpy()
    # Legal heating hours, centred on the day: e.g. zone C 10 h from 07:00 to 17:00.
    first = 12 - heating_hours // 2
    heating_hour = (hour >= first) & (hour < first + heating_hours)
    temperature = _air_temperature_c(index, ZONE_TEMPERATURE_OFFSET_C[zone])
    degrees = np.clip(20.0 - temperature, 0.0, None) / (20.0 - min(MONTHLY_TEMPERATURE_C) + 6.0)
    weekday = index.hours.weekday.to_numpy()
    working = (weekday < 5) & (hour >= 6) & (hour < 22)
    process = np.where(working, 0.7, 0.35)
    heat = process + np.where(in_season & heating_hour, 0.6 * degrees + 0.2, 0.0)
    minimum = minimum_percent / 100.0
    return np.where(heat >= minimum, np.minimum(heat, 1.0), 0.0)


@functools.lru_cache(maxsize=4)
def _bdew_year(year: int, holiday_country: str | None) -> pd.DataFrame:
    """demandlib's BDEW profiles of the year, hourly means, plus its industrial step profile."""
    from demandlib import bdew, particular_profiles

    holidays = sorted(public_holidays(holiday_country, year))  # demandlib takes a list (or dict) of dates
    # demandlib 0.2 calls warnings.simplefilter("error") globally inside ElecSlp: contain it, or every
    # later warning in the process (pandapower, lightsim2grid) would become an exception.
    with warnings.catch_warnings():
        slp = bdew.ElecSlp(year, holidays=holidays)
    frame = slp.get_profiles("h0_dyn", "g0", "l0").copy()
    industry = particular_profiles.IndustrialLoadProfile(slp.date_time_index, holidays=holidays)
    frame["industrial"] = industry.simple_profile(1.0, profile_factors={
        "week": {"day": 1.0, "night": 0.55},
        "weekend": {"day": 0.55, "night": 0.45},
        "holiday": {"day": 0.45, "night": 0.40},
    })
    return frame.resample("h").mean()


def generate_demand(index: YearIndex, customer_class: str, year: int, holiday_country: str | None) -> np.ndarray:
    """Demand shape of a customer class (any scale: it is normalised to the annual energy later)."""
    frame = _bdew_year(year, holiday_country)
    column = BDEW_PROFILE.get(customer_class, "industrial")
    return frame[column].to_numpy(dtype=float)[: len(index.hours)]


def generate_shape(source: ProfileSource, calendar: Calendar) -> np.ndarray:
    """A generated profile's values over the typical days (per unit of rated power; demand: relative)."""
    params = tuple(sorted(source.params))
    return _generated(source.generator, params, calendar, source.span).copy()


@functools.lru_cache(maxsize=64)
def _generated(generator: str, params: tuple, calendar: Calendar, span: Span | None) -> np.ndarray:
    hourly = generated_hourly(generator, params, calendar, span)
    return hourly if calendar.hourly else to_typical_days(hourly, calendar)


@functools.lru_cache(maxsize=64)
def generated_hourly(generator: str, params: tuple, calendar: Calendar, span: Span | None) -> np.ndarray:
    """A generator's hourly series over the calendar year: expected, or one seeded weather year."""
    index = year_index(calendar)
    year, holiday_country = calendar.year or 2019, calendar.holiday_country
    p = dict(params)
    variable = calendar.weather == "variable"

    def rng(*site):  # one weather stream per site, shared by the profiles of that site
        return weather.generator(calendar.weather_seed, generator, *site) if variable else None

    if generator == "pv":
        hourly = generate_pv(index, float(p["latitude"]), float(p["longitude"]), float(p.get("tilt", 30.0)),
                             float(p.get("azimuth", 180.0)), float(p.get("altitude", 0.0)) * 1000.0,
                             float(p.get("losses", PV_DEFAULT_LOSSES_PERCENT)), rng(p["latitude"], p["longitude"]))
    elif generator == "wind":
        hub_m = float(p.get("hub_height", WIND_DEFAULT_HUB_HEIGHT_M / 1000)) * 1000
        hourly = generate_wind(index, str(p["site"]), hub_m, str(p.get("turbine", WIND_DEFAULT_TURBINE)), span,
                               rng(p["site"]))  # one wind at the site, whatever the hub height
    elif generator == "chp":
        hourly = generate_chp(index, str(p["zone"]), float(p.get("minimum", CHP_DEFAULT_MINIMUM_PERCENT)))
    elif generator == "demand":
        hourly = generate_demand(index, str(p["class"]), year, holiday_country)
        if variable:
            hourly = hourly * weather.demand_factor(len(hourly), rng(p["class"]))
    else:  # validation only lets known generators through
        raise ValueError(f"unknown generator {generator}")
    hourly = np.asarray(hourly, dtype=float)
    hourly.setflags(write=False)
    return hourly


# ---------------------------------------------------------------------------
# CSV series: read by the language stage's reader (size-capped, errors at the CSV's line and column)
# ---------------------------------------------------------------------------

KEY_COLUMNS = series.KEY_COLUMNS
read_csv_series = series.read_csv_series


# ---------------------------------------------------------------------------
# Compiling a case
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseProfiles:
    """Everything that varies over the intervals for one case: shapes, prices, DER and demand power."""

    days: TypicalDays
    shapes: Mapping[str, np.ndarray]  # profile name -> values (generation: per unit; demand: relative)
    prices: Mapping[str, np.ndarray]  # price name -> EUR/MWh or EUR/Mvarh
    der_p_mw: Mapping[str, np.ndarray]  # DER name -> expected active power (generation positive)
    class_demand_mw: Mapping[tuple[str, str], np.ndarray]  # (feeder, customer class) -> demand

    def feeder_class_demand_mw(self, feeder: str, customer_class: str) -> np.ndarray:
        return self.class_demand_mw.get((feeder, customer_class), np.zeros(self.days.n))

    def annual_energy_mwh(self, series_mw: np.ndarray) -> float:
        return float(np.dot(np.asarray(series_mw, dtype=float), self.days.weight_h))


def compile_profiles(scenario: Scenario, case: Case) -> CaseProfiles:
    """Profiles, prices, DER working points and feeder demand of one case over the calendar's periods:
    the typical days, every hour of the year, or the representative days (flexopt/compile/periods.py)."""
    calendar = scenario.calendar
    if calendar.periods == "typical days":
        return compile_profiles_over(scenario, case, typical_days(calendar))
    hourly = compile_profiles_over(scenario, case, periods.full_year(calendar))
    if calendar.periods == "full year":
        return hourly
    choice = periods.representative_choice(scenario, lambda: hourly if case is scenario.cases[0] else
                                           compile_profiles_over(scenario, scenario.cases[0], hourly.days))
    return periods.aggregate_profiles(hourly, choice, calendar)


def compile_profiles_over(scenario: Scenario, case: Case, days: TypicalDays) -> CaseProfiles:
    """The profiles of a case over ``days``: the typical days, or every hour of the year."""
    calendar = scenario.calendar
    shapes = {source.name: _shape(source, calendar) for source in scenario.profiles}
    prices = _prices(case, calendar)
    der_p = {der.name: _der_power(der, shapes, days) for der in case.ders}
    demand: dict[tuple[str, str], np.ndarray] = {}
    for feeder in case.feeders:  # the demand and mix as the case sees them
        if not feeder.demand_mwh_per_year and not feeder.demand_peak_mw:
            continue
        if not feeder.demand_mwh_per_year:  # an imported substation's loads: the mix peaks at their sum
            mixed = sum(share.share * shapes[share.customer_class] for share in feeder.mix)
            peak = float(np.max(mixed)) if np.size(mixed) else 0.0
            for share in feeder.mix:
                scale = feeder.demand_peak_mw / peak if peak > 0 else 0.0
                demand[(feeder.name, share.customer_class)] = scale * share.share * shapes[share.customer_class]
            continue
        for share in feeder.mix:
            shape = shapes[share.customer_class]
            energy_of_shape = float(np.dot(shape, days.weight_h))
            if energy_of_shape <= 0:
                source = next(s for s in scenario.profiles if s.name == share.customer_class)
                raise FlexoptError([Problem(f"profile '{source.name}' is zero all year; it cannot shape "
                                            f"the demand of {feeder.name}", source.span)])
            annual = feeder.demand_mwh_per_year * share.share
            demand[(feeder.name, share.customer_class)] = annual * shape / energy_of_shape
    return CaseProfiles(days, MappingProxyType(shapes), MappingProxyType(prices), MappingProxyType(der_p),
                        MappingProxyType(demand))


def _shape(source: ProfileSource, calendar: Calendar) -> np.ndarray:
    if source.kind == "csv":
        values = read_csv_series(source.path, source.column, calendar, source.span)
    else:
        values = generate_shape(source, calendar)
    values.setflags(write=False)
    return values


def _prices(case: Case, calendar: Calendar) -> dict[str, np.ndarray]:
    """Every named price over the intervals (expressions may refer to prices declared before or after),
    refused before assessing when a price, a bid price or the reactive remuneration is not a finite
    number somewhere (``check`` refuses the same; this guards data files changed since)."""
    values, problems, unresolved = series.evaluate_prices(
        case.prices, lambda price: read_csv_series(price.path, price.column, calendar, price.span), calendar)
    if unresolved and not problems:  # validation refuses cycles
        raise FlexoptError([Problem(f"price '{unresolved[0].name}' refers to itself", unresolved[0].span)])
    problems += series.rule_problems(case, values, calendar, f" in case '{case.name}'" if case.span else "")
    if problems:
        raise FlexoptError(problems)
    for value in values.values():
        value.setflags(write=False)
    return values


def _der_power(der: Der, shapes: Mapping[str, np.ndarray], days: TypicalDays) -> np.ndarray:
    """Expected active power of a DER: its profile per unit of rating, scaled to its annual energy if given."""
    if der.profile is None:  # storage without a schedule idles at its working point
        return np.zeros(days.n)
    shape = np.clip(np.asarray(shapes[der.profile], dtype=float), 0.0, None)
    peak = shape.max()
    if peak <= 0:
        raise FlexoptError([Problem(f"profile '{der.profile}' of {der.name} is zero all year", der.span)])
    if peak > 1.0:  # a shape in any unit: read it relative to its peak
        shape = shape / peak
    power = der.rated_mw * shape
    target = der.energy_mwh_per_year
    if target is None:
        return power
    reachable = der.rated_mw * float(days.weight_h[shape > 0].sum())
    if target > reachable * (1 - 1e-9):
        raise FlexoptError([Problem(
            f"{der.name} cannot produce {target / 1000:g} GWh/y with profile '{der.profile}'", der.span,
            f"at most {reachable / 1000:.4g} GWh/y: the profile is non-zero for {reachable / der.rated_mw:.0f} h/y")])
    # Scale the profile up or down, clipped at the rating, until the energy matches (monotone: bisection).
    low, high = 0.0, 1.0
    while np.dot(np.minimum(high * power, der.rated_mw), days.weight_h) < target:
        high *= 2.0
    for _ in range(80):
        mid = 0.5 * (low + high)
        if np.dot(np.minimum(mid * power, der.rated_mw), days.weight_h) < target:
            low = mid
        else:
            high = mid
    return np.minimum(high * power, der.rated_mw)


# ---------------------------------------------------------------------------
# flexopt profiles
# ---------------------------------------------------------------------------


def profiles_frame(scenario: Scenario, case: Case, profiles: CaseProfiles) -> pd.DataFrame:
    """One row per interval: keys, weight, every shape, price, DER power and feeder class demand."""
    days = profiles.days
    frame = pd.DataFrame({"season": days.season, "day_type": days.day_type, "hour": days.hour,
                          "weight_h": days.weight_h})
    if days.time is not None:  # hourly periods: the hour of the year (representative days: the day shown)
        frame.insert(0, "time", pd.DatetimeIndex(days.time).strftime("%Y-%m-%d %H:%M"))
    for name, values in profiles.shapes.items():
        frame[f"profile_{name}"] = values
    for name, values in profiles.prices.items():
        unit = case.price(name).unit.replace("/", "_per_").lower()
        frame[f"price_{name}_{unit}"] = values
    for name, values in profiles.der_p_mw.items():
        frame[f"der_{name}_p_mw"] = values
    for (feeder, customer_class), values in profiles.class_demand_mw.items():
        frame[f"demand_{feeder}_{customer_class}_p_mw"] = values
    return frame


def days_hours(profiles: CaseProfiles) -> float:
    return float(profiles.days.weight_h.sum())
