"""Compile stage, periods: the intervals a case is assessed on besides the typical days.

``periods full year`` assesses every hour of the calendar year (weight 1 h each).
``periods representative N days`` clusters the days of the year with tsam (hierarchical
clustering of the daily profiles of every feeder's generation and demand and of the prices) into
N typical days, after setting apart the days that stress grids as periods of their own: the day
of the highest RES output, of the lowest and of the highest substation demand, of the highest net
export, and of each feeder's highest net export and highest net demand. A cluster's value at an
hour is the mean of its member days at that hour, and its weight the number of members (hours
per year), so annual energies are kept exactly: sum(value * weight_h) = sum over the year.

The periods are chosen once per scenario, from the working points of its first case (every case
of a scenario is then assessed on the same intervals, so that cases can be compared).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Callable

import numpy as np
import pandas as pd

from flexopt.model import Calendar, Scenario

RES_KINDS = ("pv", "wind")
GENERATING_KINDS = ("pv", "wind", "chp")


@dataclass(frozen=True)
class TypicalDays:
    """The intervals of the study in dataset order, and the hours per year each stands for."""

    season: np.ndarray  # (interval,) str
    day_type: np.ndarray  # (interval,) str
    hour: np.ndarray  # (interval,) int, first hour of the step
    weight_h: np.ndarray  # (interval,) float, sums to the hours of the year
    time: np.ndarray | None = None  # (interval,) datetime64: the hour (full year) or the day shown (representative)
    day_period: np.ndarray | None = None  # representative days: (days of the year,) the period standing for each
    period_kind: tuple[str, ...] | None = None  # representative days: per period, "cluster" or the extreme kept

    @property
    def n(self) -> int:
        return len(self.weight_h)


@dataclass(frozen=True)
class Choice:
    """Representative days: which period stands for each calendar day, and what each period is."""

    day_period: np.ndarray  # (days of the year,) int: the period of each calendar day
    representative_day: np.ndarray  # (periods,) int: the day of year (0-based) a period is shown as
    kind: tuple[str, ...]  # per period: "cluster" or the extreme it keeps ("highest RES output" ...)

    @property
    def n(self) -> int:
        return len(self.representative_day)

    @property
    def members(self) -> np.ndarray:
        return np.bincount(self.day_period, minlength=self.n)


def year_hours(calendar: Calendar) -> pd.DatetimeIndex:
    return pd.date_range(pd.Timestamp(calendar.year or 2019, 1, 1), periods=calendar.hours_per_year, freq="h")


def full_year(calendar: Calendar):
    """Every hour of the calendar year as an interval of 1 h, with its season, day type and time."""
    season, day_type, hour, weight = calendar.intervals()
    return TypicalDays(season, day_type, hour.astype(int), weight, time=year_hours(calendar).to_numpy())


def representative_intervals(calendar: Calendar, choice: Choice):
    """The intervals of the representative days: period x hour, each weighing its members' hours."""
    season, day_type, _, _ = calendar.intervals()
    first_hour = choice.representative_day * 24
    hours = (first_hour[:, None] + np.arange(24)[None, :]).ravel()
    weight = np.repeat(choice.members.astype(float), 24)
    return TypicalDays(season[hours], day_type[hours], np.tile(np.arange(24), choice.n), weight,
                       time=year_hours(calendar).to_numpy()[hours], day_period=choice.day_period,
                       period_kind=choice.kind)


def aggregate(hourly: np.ndarray, choice: Choice) -> np.ndarray:
    """Each period's mean over its member days, hour by hour (period-major, 24 values each)."""
    values = np.asarray(hourly, dtype=float)
    n_days = len(choice.day_period)
    by_day = values[: n_days * 24].reshape(n_days, 24)
    total = np.zeros((choice.n, 24))
    np.add.at(total, choice.day_period, by_day)
    return (total / np.maximum(choice.members, 1)[:, None]).ravel()


def aggregate_profiles(hourly, choice: Choice, calendar: Calendar):
    """A case's hourly profiles (``CaseProfiles`` over the full year) over the representative days."""
    days = representative_intervals(calendar, choice)

    def over(mapping):
        out = {}
        for key, values in mapping.items():
            out[key] = aggregate(values, choice)
            out[key].setflags(write=False)
        return MappingProxyType(out)

    return replace(hourly, days=days, shapes=over(hourly.shapes), prices=over(hourly.prices),
                   der_p_mw=over(hourly.der_p_mw), class_demand_mw=over(hourly.class_demand_mw))


def features(scenario: Scenario, hourly) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, str]]]:
    """The hourly series the days are clustered on, and the extremes kept as days of their own:
    name -> (hourly series, "max" or "min")."""
    case = scenario.cases[0]
    n = hourly.days.n
    columns: dict[str, np.ndarray] = {}
    res_total, gen_total, demand_total = np.zeros(n), np.zeros(n), np.zeros(n)
    extremes: dict[str, tuple[np.ndarray, str]] = {}
    for feeder in case.feeders:
        generation = np.zeros(n)
        for der in case.ders:
            if der.feeder == feeder.name and der.kind in GENERATING_KINDS:
                generation = generation + hourly.der_p_mw[der.name]
                if der.kind in RES_KINDS:
                    res_total += hourly.der_p_mw[der.name]
        demand = sum((hourly.feeder_class_demand_mw(feeder.name, share.customer_class) for share in feeder.mix),
                     np.zeros(n))
        gen_total += generation
        demand_total += demand
        if generation.any():
            columns[f"generation {feeder.name}"] = generation
        if demand.any():
            columns[f"demand {feeder.name}"] = demand
        if generation.any():
            extremes[f"highest net export of feeder {feeder.name}"] = (generation - demand, "max")
        extremes[f"highest net demand of feeder {feeder.name}"] = (demand - generation, "max")
    for name, values in hourly.prices.items():
        if np.ptp(values) > 0:
            columns[f"price {name}"] = values
    extremes = {"highest RES output": (res_total, "max"), "lowest demand": (demand_total, "min"),
                "highest demand": (demand_total, "max"), "highest net export": (gen_total - demand_total, "max"),
                **extremes}
    return pd.DataFrame(columns, index=pd.date_range("2001-01-01", periods=n, freq="h")), extremes


def choose(frame: pd.DataFrame, extremes: dict[str, tuple[np.ndarray, str]], n_clusters: int,
           n_days: int) -> Choice:
    """The extreme days first (each its own period), then tsam's clusters of the remaining days."""
    import tsam

    chosen: list[int] = []
    kinds: list[str] = []
    for name, (values, sense) in extremes.items():
        daily = np.asarray(values, dtype=float)[: n_days * 24].reshape(n_days, 24)
        if not np.ptp(daily):
            continue
        day = int(np.argmax(daily.max(axis=1)) if sense == "max" else np.argmin(daily.min(axis=1)))
        if day not in chosen:
            chosen.append(day)
            kinds.append(name)
    rest = np.array([d for d in range(n_days) if d not in chosen])
    day_period = np.zeros(n_days, dtype=int)
    day_period[chosen] = np.arange(len(chosen))
    representative = list(chosen)
    clusters = min(n_clusters, len(rest))
    if clusters:
        rows = (rest[:, None] * 24 + np.arange(24)[None, :]).ravel()
        data = frame.iloc[rows].set_axis(pd.date_range("2001-01-01", periods=len(rows), freq="h"))
        data = data.loc[:, data.std() > 0]
        if data.shape[1] == 0 or clusters == 1:
            labels = np.zeros(len(rest), dtype=int)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = tsam.aggregate(data, clusters, period_duration=24,
                                        cluster=tsam.ClusterConfig(method="hierarchical"),
                                        preserve_column_means=False)
            labels = np.asarray(result.cluster_assignments, dtype=int)
        normalised = ((frame - frame.mean()) / frame.std().replace(0, 1)).to_numpy()
        for c in np.unique(labels):
            members = rest[labels == c]
            day_period[members] = len(representative)
            # shown as the member day closest to the cluster's mean day (its medoid)
            shapes = normalised[(members[:, None] * 24 + np.arange(24)[None, :])]
            distance = ((shapes - shapes.mean(axis=0)) ** 2).sum(axis=(1, 2))
            representative.append(int(members[int(np.argmin(distance))]))
            kinds.append("cluster")
    return Choice(day_period, np.array(representative, dtype=int), tuple(kinds))


_CHOICES: dict[tuple, Choice] = {}


def representative_choice(scenario: Scenario, first_case_hourly: Callable[[], object]) -> Choice:
    """The representative days of a scenario, chosen once from its first case's hourly profiles
    (``first_case_hourly()`` compiles them) and kept for its other cases."""
    key = (scenario.text_sha256, str(scenario.file), scenario.calendar)
    if key not in _CHOICES:
        calendar = scenario.calendar
        frame, extremes = features(scenario, first_case_hourly())
        if len(_CHOICES) > 8:
            _CHOICES.clear()
        _CHOICES[key] = choose(frame, extremes, calendar.representative_days, calendar.hours_per_year // 24)
    return _CHOICES[key]


def dataset_coordinates(days: TypicalDays, cf_attrs: Callable[..., dict]) -> dict:
    """What a case dataset adds to its ``interval`` dimension for these periods: the ``time`` of every
    interval (full year, representative days; CF hours since the year's start) and, for representative
    days, the period of each interval, what each period is and which calendar days it stands for."""
    if days.time is None:
        return {}
    time = np.asarray(days.time, dtype="datetime64[ns]")
    start = str(time.min().astype("datetime64[Y]"))

    def when(unit: str) -> dict:
        return {"units": f"{unit} since {start}-01-01 00:00:00", "calendar": "proleptic_gregorian", "dtype": "int32"}

    out = {"time": ("interval", time, {"standard_name": "time", "long_name": "start of the hour of the interval "
                    "(representative days: on the day shown), local standard time"}, when("hours"))}
    if days.day_period is None:
        return out
    n_periods = len(days.period_kind)
    out.update({
        "interval_period": ("interval", np.repeat(np.arange(n_periods, dtype=np.int32), 24),
                            cf_attrs("1", "representative period of the interval")),
        "period": ("period", np.arange(n_periods, dtype=np.int32), cf_attrs("1", "index of the representative period")),
        "period_kind": ("period", np.array(days.period_kind, dtype=str),
                        cf_attrs(None, "cluster of similar days, or the extreme day kept as a period of its own")),
        "period_date": ("period", time.reshape(n_periods, 24)[:, 0], {"long_name": "calendar day the period is "
                        "shown as (a cluster: its member closest to the mean day)"}, when("days")),
        "period_days": ("period", np.bincount(days.day_period, minlength=n_periods).astype(np.int32),
                        cf_attrs("1", "calendar days the period stands for")),
        "day": ("day", np.datetime64(f"{start}-01-01", "ns") + np.arange(len(days.day_period)) * np.timedelta64(1, "D"),
                {"standard_name": "time", "long_name": "calendar day"}, when("days")),
        "day_period": ("day", np.asarray(days.day_period, dtype=np.int32),
                       cf_attrs("1", "representative period that stands for the calendar day")),
    })
    return out
