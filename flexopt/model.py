"""The validated scenario: frozen dataclasses in the model's units.

This is what every later stage (compile, assess, store, report) consumes. Units
are fixed here and carried in the field names: MW, MVA, Mvar, kV, kA, km, pu,
MWh per year, EUR/MWh, EUR/Mvarh; shares are fractions 0..1. Every element keeps
the :class:`~flexopt.errors.Span` it was declared at, so that a later stage can
still point the user at the line that caused a problem.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flexopt.errors import Span
from flexopt.language.expressions import Expr

DER_KINDS = ("pv", "wind", "chp", "storage", "enduser")
#: Groups usable as bid-rule selectors besides the kinds themselves.
DER_GROUPS = {"res": ("pv", "wind"), "dg": ("pv", "wind", "chp")}
CUSTOMER_CLASSES = ("residential", "commercial", "industrial", "agricultural")
AMBITS = ("rural", "urban", "dedicated")
DAY_TYPES = ("working", "saturday", "holiday")
STATIC_KINDS = ("pv", "storage")  # inverter-connected in the paper's sense
REMEDIES = ("reactive", "redispatch")


@functools.lru_cache(maxsize=32)
def public_holidays(country: str | None, year: int) -> frozenset[dt.date]:
    """The public holidays of a country (ISO code) in a year, from the ``holidays`` package; none without one."""
    if not country:
        return frozenset()
    import holidays

    return frozenset(holidays.country_holidays(country, years=year))


def day_type_index(day: dt.date, public: frozenset[dt.date]) -> int:
    """Index into DAY_TYPES: Sundays and public holidays are holidays, Saturdays Saturdays, the rest working days."""
    if day.weekday() == 6 or day in public:
        return 2
    return 1 if day.weekday() == 5 else 0


PERIODS = ("typical days", "full year", "representative days")
WEATHERS = ("expected", "variable")


def calendar_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


@functools.lru_cache(maxsize=8)
def _hour_intervals(season_months: tuple[tuple[int, ...], ...], steps_per_day: int, year: int,
                    country: str | None) -> np.ndarray:
    public = public_holidays(country, year)
    season_of = {m: i for i, months in enumerate(season_months) for m in months}
    step_hours = 24 // steps_per_day
    day, out = dt.date(year, 1, 1), []
    while day.year == year:
        s = season_of.get(day.month)
        base = -1 if s is None else (s * 3 + day_type_index(day, public)) * steps_per_day
        out.extend([-1] * 24 if s is None else [base + h // step_hours for h in range(24)])
        day += dt.timedelta(days=1)
    values = np.array(out, dtype=int)
    values.setflags(write=False)
    return values


@dataclass(frozen=True)
class Calendar:
    """Typical days: seasons x day types x steps per day, with the days each stands for."""

    seasons: tuple[str, ...]
    season_months: tuple[tuple[int, ...], ...]
    day_types: tuple[str, ...]
    steps_per_day: int
    day_counts: tuple[tuple[int, ...], ...]  # [season][day_type], days per year
    year: int | None
    holiday_country: str | None
    span: Span | None
    periods: str = "typical days"  # PERIODS: "typical days", "full year" or "representative days"
    representative_days: int = 0  # N of `periods representative N days`
    weather: str = "expected"  # WEATHERS: "expected" (climatology) or "variable" (seeded weather)
    weather_seed: int = 0

    @property
    def step_hours(self) -> float:
        return 24.0 / self.steps_per_day

    @property
    def weather_text(self) -> str:
        return "variable seed %d" % self.weather_seed if self.weather == "variable" else self.weather

    @property
    def hourly(self) -> bool:
        """True when the series are read and evaluated hour by hour of the year (full year, representative days)."""
        return self.periods != "typical days"

    @property
    def hours_per_year(self) -> int:
        return 8784 if calendar_leap(self.year or 2019) else 8760

    @property
    def n_intervals(self) -> int:
        """Intervals the series are given on: the typical-day intervals, or every hour of the year."""
        if self.hourly:
            return self.hours_per_year
        return len(self.seasons) * len(self.day_types) * self.steps_per_day

    def hour_intervals(self) -> np.ndarray:
        """The typical-day interval of every hour of the calendar year (-1 for a month in no season)."""
        return _hour_intervals(self.season_months, self.steps_per_day, self.year or 2019, self.holiday_country)

    @property
    def days_per_year(self) -> int:
        return int(sum(sum(row) for row in self.day_counts))

    def intervals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Season, day type, hour and weight (hours per year) of every interval, in dataset order."""
        if self.hourly:  # every hour of the year, weight 1 h
            typical = self.hour_intervals()
            steps, n_days = self.steps_per_day, len(self.day_types)
            season = np.array(self.seasons + ("",))[np.where(typical >= 0, typical // (n_days * steps), -1)]
            day_type = np.array(self.day_types)[(typical // steps) % n_days]
            hour = np.tile(np.arange(24), len(typical) // 24)
            return season, day_type, hour, np.ones(len(typical))
        seasons, day_types, hours, weights = [], [], [], []
        for s, season in enumerate(self.seasons):
            for d, day_type in enumerate(self.day_types):
                for step in range(self.steps_per_day):
                    seasons.append(season)
                    day_types.append(day_type)
                    hours.append(int(step * self.step_hours))
                    weights.append(self.day_counts[s][d] * self.step_hours)
        return np.array(seasons), np.array(day_types), np.array(hours), np.array(weights, dtype=float)


@dataclass(frozen=True)
class ProfileSource:
    """A named shape over the typical days: read from CSV or generated from parameters."""

    name: str
    kind: str  # "csv" or "generated"
    path: Path | None
    column: str | None
    generator: str | None  # pv, wind, chp, demand
    params: tuple[tuple[str, float | str], ...]
    span: Span

    def param(self, key: str, default: float | str | None = None) -> float | str | None:
        return dict(self.params).get(key, default)


@dataclass(frozen=True)
class Price:
    """A named price: a CSV column (times ``scale`` to reach the unit) or an expression."""

    name: str
    unit: str  # EUR/MWh or EUR/Mvarh
    path: Path | None
    column: str | None
    scale: float
    expr: Expr | None
    span: Span


@dataclass(frozen=True)
class TransformerData:
    rated_mva: float
    hv_kv: float
    lv_kv: float
    vk_percent: float
    vkr_percent: float
    pfe_kw: float
    i0_percent: float


@dataclass(frozen=True)
class Substation:
    name: str
    transformer: TransformerData
    busbar_pu: float
    span: Span | None
    source: str = "declared"  # or "file" / "pandapower": imported whole (`substation NAME from ...`)
    transformer_name: str | None = None  # the net's name of its HV/MV transformer(s), when imported


@dataclass(frozen=True)
class Limits:
    v_min_pu: float
    v_max_pu: float
    line_loading_percent: float
    transformer_loading_percent: float
    span: Span | None


@dataclass(frozen=True)
class ConductorType:
    """A user-defined conductor, in pandapower's line standard-type parameters."""

    name: str
    r_ohm_per_km: float
    x_ohm_per_km: float
    c_nf_per_km: float
    max_i_ka: float
    span: Span


@dataclass(frozen=True)
class CustomerShare:
    customer_class: str
    share: float  # fraction of the feeder's annual demand


@dataclass(frozen=True)
class Feeder:
    name: str
    ambit: str | None
    source: str  # "synthetic", "file", "pandapower" or "substation" (cut from an imported substation's net)
    path: Path | None  # pandapower JSON for "file"
    builder: str | None  # pandapower.networks function for "pandapower"
    length_km: float | None
    sections: int | None
    laterals: int
    conductor: str | None
    demand_mwh_per_year: float | None
    mix: tuple[CustomerShare, ...]
    load_power_factor: float
    span: Span
    #: the substation whose busbar supplies the feeder (None: the scenario's declared one)
    substation: str | None = None
    #: source "substation": (substation's index in the net, feeder's index in it); see substation_nets
    net_part: tuple[int, int] | None = None
    #: imported loads as demand: the feeder's loads peak together at this (their sum of p_mw)
    demand_peak_mw: float | None = None
    #: source "substation": the rows of the net's sgen table that are DERs (taken out, placed as DERs)
    net_der_sgens: tuple[int, ...] = ()


@dataclass(frozen=True)
class PointOnFeeder:
    """start = 0, end = 1 of the main line; or a distance in km from the busbar."""

    fraction: float | None
    km: float | None


@dataclass(frozen=True)
class Position:
    feeder: str
    kind: str  # "point", "along" or "bus"
    start: PointOnFeeder | None
    end: PointOnFeeder | None
    bus: str | None
    span: Span
    bus_index: int | None = None  # an imported substation's generator: its bus in the net (net.bus index)


@dataclass(frozen=True)
class Capability:
    """Reactive capability curve; ``q_limits_mvar`` gives the Q range at a P setpoint.

    semicircle: |Q| <= sqrt(S^2 - P^2); limited: the same, capped at S*sin(acos pf);
    rectangular: |Q| <= S*sin(acos pf) at any P; triangular: |Q| <= P*tan(acos pf);
    synchronous: from -S*sin(acos pf_absorbing) to +S*sin(acos pf_injecting), within
    the semicircle; none: Q fixed at the working point.
    """

    kind: str
    pf: float | None = None
    injecting_pf: float | None = None
    absorbing_pf: float | None = None

    def q_limits_mvar(self, p_mw: np.ndarray | float, s_mva: float) -> tuple[np.ndarray, np.ndarray]:
        p = np.abs(np.asarray(p_mw, dtype=float))
        circle = np.sqrt(np.clip(s_mva**2 - p**2, 0.0, None))
        if self.kind == "semicircle":
            return -circle, circle
        if self.kind == "limited":
            cap = s_mva * _sin_of_pf(self.pf)
            q = np.minimum(circle, cap)
            return -q, q
        if self.kind == "rectangular":
            q = np.full_like(p, s_mva * _sin_of_pf(self.pf))
            return -q, q
        if self.kind == "triangular":
            q = np.minimum(p * math.tan(math.acos(self.pf)), circle)
            return -q, q
        if self.kind == "synchronous":
            q_max = np.minimum(circle, s_mva * _sin_of_pf(self.injecting_pf))
            q_min = -np.minimum(circle, s_mva * _sin_of_pf(self.absorbing_pf))
            return q_min, q_max
        zero = np.zeros_like(p)
        return zero, zero

    def describe(self) -> str:
        if self.kind in ("limited", "rectangular", "triangular"):
            return f"{self.kind} pf {self.pf:g}"
        if self.kind == "synchronous":
            return f"synchronous injecting pf {self.injecting_pf:g} absorbing pf {self.absorbing_pf:g}"
        return self.kind


def _sin_of_pf(pf: float | None) -> float:
    return math.sqrt(max(0.0, 1.0 - (pf or 1.0) ** 2))


@dataclass(frozen=True)
class Der:
    """A distributed energy resource: generator, storage or participating end-user."""

    name: str
    kind: str
    customer_class: str | None  # for end-users
    rated_mw: float
    apparent_mva: float  # converter or machine rating for the capability curve
    storage_mwh: float | None
    position: Position
    capability: Capability
    profile: str | None
    energy_mwh_per_year: float | None  # scale the profile to this annual energy
    power_factor: float  # expected working point
    q_direction: str  # "absorbing" or "injecting" at the working point
    span: Span
    #: storage: expected state of charge (0..1 of ``storage_mwh``) at the start of every interval, bounding
    #: what an activation over the interval can discharge (upward) or charge (downward)
    state_of_charge: float = 0.5

    @property
    def feeder(self) -> str:
        return self.position.feeder

    def storage_limits_mwh(self) -> tuple[float, float]:
        """Energy a storage unit holds above empty and the room below full (MWh); unbounded for other kinds."""
        if self.storage_mwh is None:
            return math.inf, math.inf
        return self.state_of_charge * self.storage_mwh, (1.0 - self.state_of_charge) * self.storage_mwh


@dataclass(frozen=True)
class Offer:
    """One direction of a bid rule: quantity (fraction of working point, or MW) and price."""

    direction: str  # "down" or "up"
    quantity: float  # magnitude: fraction (0..1) or MW
    quantity_unit: str  # "fraction" or "MW"
    price: Expr  # EUR/MWh
    span: Span
    derated: bool = False  # upward only: the working point gives up this quantity to offer it

    def quantity_mw(self, basis_mw, participation: float = 1.0):
        """The offered MW over the intervals: a share of ``basis_mw`` (magnitude), or MW, times participation."""
        basis = np.abs(np.asarray(basis_mw, dtype=float))
        if self.quantity_unit == "fraction":
            return self.quantity * participation * basis
        return np.full(basis.shape, self.quantity * participation)


@dataclass(frozen=True)
class BidSelector:
    """What a rule applies to: a DER by name, a kind, a group (res, dg) or an end-user class."""

    kind: str  # "der", "kind", "group", "enduser"
    value: str  # DER name, kind, group, or customer class ("" = every class)

    @property
    def specificity(self) -> int:
        return {"der": 3, "enduser": 2 if self.value else 1, "kind": 2, "group": 1}[self.kind]

    def label(self) -> str:
        if self.kind == "enduser":
            return f"enduser {self.value}".strip()
        return self.value


@dataclass(frozen=True)
class BidRule:
    """Bid clauses for one selector; a clause left as None is inherited or absent.

    ``down``/``up`` hold an :class:`Offer`, the string "none" (explicitly no offer),
    or None (not stated in this rule).
    """

    selector: BidSelector
    participation: float | None
    down: Offer | str | None
    up: Offer | str | None
    span: Span


@dataclass(frozen=True)
class ResolvedBid:
    """The bid terms that apply to one DER after selectors and cases are resolved."""

    participation: float
    down: Offer | None
    up: Offer | None


@dataclass(frozen=True)
class ReactiveRemuneration:
    mode: str  # "paid", "free" or "unavailable"
    price: Expr | None  # EUR/Mvarh when paid
    span: Span | None


@dataclass(frozen=True)
class Study:
    bid_points_per_direction: int
    activation: str  # "merit order" or "pro rata"
    remedies: tuple[str, ...]
    span: Span | None
    placement_draws: int = 0  # random DER placements to assess besides the declared one
    placement_seed: int = 0
    pq_area_directions: int = 0  # `pq area N directions`: the P-Q chart at the PCC in N directions; 0 off


@dataclass(frozen=True)
class Case:
    """One assessable variant: everything a case may override, fully resolved."""

    name: str
    title: str | None
    extends: str | None
    limits: Limits
    prices: tuple[Price, ...]
    ders: tuple[Der, ...]
    bid_rules: tuple[BidRule, ...]
    reactive: ReactiveRemuneration
    study: Study
    span: Span | None
    #: the scenario's feeders (same order) with the items this case and its ancestors change applied;
    #: what every stage that builds a net or a demand profile for the case reads
    feeders: tuple[Feeder, ...]

    def price(self, name: str) -> Price:
        return next(p for p in self.prices if p.name == name)

    def feeder(self, name: str) -> Feeder:
        return next(f for f in self.feeders if f.name == name)

    def der(self, name: str) -> Der:
        return next(d for d in self.ders if d.name == name)

    def bid_for(self, name: str, kind: str, customer_class: str | None = None) -> ResolvedBid:
        """Bid terms for a DER (or a class of end-user load): per clause, the most specific rule wins."""
        matching = [r for r in self.bid_rules if _selects(r.selector, name, kind, customer_class)]
        matching.sort(key=lambda r: r.selector.specificity)
        participation, down, up = 1.0, None, None
        for rule in matching:
            if rule.participation is not None:
                participation = rule.participation
            if rule.down is not None:
                down = rule.down
            if rule.up is not None:
                up = rule.up
        return ResolvedBid(participation, down if isinstance(down, Offer) else None, up if isinstance(up, Offer) else None)


def _selects(selector: BidSelector, name: str, kind: str, customer_class: str | None) -> bool:
    if selector.kind == "der":
        return selector.value == name
    if selector.kind == "kind":
        return selector.value == kind
    if selector.kind == "group":
        return kind in DER_GROUPS[selector.value]
    return kind == "enduser" and (selector.value in ("", customer_class))


@dataclass(frozen=True)
class Scenario:
    """A validated scenario file: the shared network and calendar, and its cases."""

    name: str
    title: str | None
    file: Path
    text_sha256: str
    calendar: Calendar
    profiles: tuple[ProfileSource, ...]
    conductor_types: tuple[ConductorType, ...]
    substation: Substation  # the first of ``substations``
    feeders: tuple[Feeder, ...]  # as declared; a case's own are in Case.feeders
    cases: tuple[Case, ...]
    substations: tuple[Substation, ...] = ()  # every substation of the study (a region: several)

    @property
    def all_substations(self) -> tuple[Substation, ...]:
        """Every substation of the study, each assessed on its own (a scenario built without ``substations``
        has its one ``substation``)."""
        return self.substations or (self.substation,)

    def substation_of(self, feeder: Feeder | str) -> Substation:
        """The substation whose busbar supplies a feeder."""
        if isinstance(feeder, str):
            wanted = next((f.substation for f in self.feeders if f.name == feeder), None)
        else:
            wanted = feeder.substation
        return next((s for s in self.substations if s.name == wanted), self.substation)

    @property
    def folder(self) -> Path:
        return self.file.parent

    def case(self, name: str) -> Case:
        for case in self.cases:
            if case.name == name:
                return case
        raise KeyError(name)

    def feeder(self, name: str) -> Feeder:
        return next(f for f in self.feeders if f.name == name)
