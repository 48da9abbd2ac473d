"""Assess stage, the remedy of one violating point: fast LOPF, exact check, polish.

1. **Fast path**: the LOPF with small margins from the limits, re-linearised at the AC result
   up to MAX_LOPF_ITERATIONS times, until an AC power flow confirms it.
2. **Exact check**, when the fast path does not confirm: a sequential LP without margins that
   minimises the AC limit excess (voltage in pu, current as a share of its limit) over every
   allowed remedy, inside a trust region, each step measured by an AC power flow. It ends at an
   AC-feasible dispatch (the point is orange) or where no step reduces the excess any more (the
   point is red, proven by AC calculations, with its residual excess).
3. **Polish**, for every orange point: margin-free LOPF steps from the feasible dispatch, each
   confirmed by AC (the step halved until it is), while the cost falls by more than POLISH_GAIN,
   so the reactive power bought is the AC minimum, not the fast path's cautious answer.

The LP's variables are total changes from the bid point (see ``LpData``), so every step
re-linearises at the current AC state but optimises the whole remedy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from flexopt.compile.bids import Resource
from flexopt.engine.lopf import LpData, LpSolution, ReactiveLp
from flexopt.engine.powerflow import BatchPowerFlow
from flexopt.model import Case
from flexopt.results.schema import (BY_EXACT_CHECK, BY_NO_SOLUTION, BY_SOLVER_FAILURE, LINE, NO_SOLUTION, NONE,
                                     OVER_VOLTAGE, UNDER_VOLTAGE)

#: How many times the fast LOPF may be re-linearised at the AC result before the exact check.
MAX_LOPF_ITERATIONS = 4
#: Steps of the exact check (each one LP and one AC power flow) and its smallest trust radius (Mvar, MW).
MAX_EXACT_ITERATIONS = 40
MIN_TRUST_RADIUS = 1e-5
#: The exact check stops where the linearised network promises less excess reduction than
#: STATIONARY_EXCESS plus STATIONARY_SHARE of the excess left (a stationary point of the excess).
STATIONARY_EXCESS = 1e-8
STATIONARY_SHARE = 1e-3
#: Polish steps and the least relative fall of the cost that makes another one worth it.
MAX_POLISH_ITERATIONS = 8
POLISH_GAIN = 2e-3
#: Tolerances of the limit checks (the power flow itself is solved to 1e-9 pu).
VOLTAGE_TOLERANCE_PU = 1e-6
LOADING_TOLERANCE_SHARE = 1e-6


def violation(v_min: float, v_max: float, overload: float, converged: bool, case: Case) -> int:
    """The first limit a solved point violates (voltage before current), or NONE."""
    limits = case.limits
    if not converged:
        return NO_SOLUTION
    if v_max > limits.v_max_pu + VOLTAGE_TOLERANCE_PU:
        return OVER_VOLTAGE
    if v_min < limits.v_min_pu - VOLTAGE_TOLERANCE_PU:
        return UNDER_VOLTAGE
    if overload > 1.0 + LOADING_TOLERANCE_SHARE:
        return LINE
    return NONE


def overload_share(loading_percent: np.ndarray, limit_percent: np.ndarray) -> np.ndarray:
    """Highest loading of each step relative to its branch's limit (1.0 = at the limit)."""
    if loading_percent.shape[-1] == 0:
        return np.zeros(loading_percent.shape[:-1])
    return (loading_percent / limit_percent).max(axis=-1)


@dataclass
class Setpoints:
    """Injections of every load and sgen row; one step (1-D rows) or many (2-D)."""

    load_p: np.ndarray
    load_q: np.ndarray
    sgen_p: np.ndarray
    sgen_q: np.ndarray

    def step(self, s: int) -> "Setpoints":
        return Setpoints(self.load_p[s].copy(), self.load_q[s].copy(), self.sgen_p[s].copy(), self.sgen_q[s].copy())

    def store(self, s: int, one: "Setpoints") -> None:
        self.load_p[s], self.load_q[s], self.sgen_p[s], self.sgen_q[s] = one.load_p, one.load_q, one.sgen_p, one.sgen_q

    def solve(self, flow: BatchPowerFlow):
        return flow.solve(self.load_p[None], self.load_q[None], self.sgen_p[None], self.sgen_q[None])


@dataclass(frozen=True)
class Offers:
    """What the local-market resources still offer at one point: rooms (MW, injection) and prices."""

    up_room: np.ndarray
    down_room: np.ndarray
    up_price: np.ndarray
    down_price: np.ndarray


@dataclass(frozen=True)
class _Changes:
    """Total changes from the bid point: Q of each unit, upward and downward redispatch of each resource."""

    dq: np.ndarray
    up: np.ndarray
    down: np.ndarray

    def toward(self, other: "_Changes", share: float) -> "_Changes":
        return _Changes(self.dq + share * (other.dq - self.dq), self.up + share * (other.up - self.up),
                        self.down + share * (other.down - self.down))


@dataclass(frozen=True)
class _State:
    """The AC result at some changes, with its limit excess (<= 0 within the limits)."""

    changes: _Changes
    point: Setpoints
    converged: bool
    v: np.ndarray
    v_min: float
    v_max: float
    loading: float
    overload: float
    excess: float  # max of voltage excess (pu) and overload share; inf without a solution
    feasible: bool
    p_pcc: float
    q_pcc: float


@dataclass(frozen=True)
class Remedy:
    """What the remedy of one point found: fixed (orange) or not, the dispatch, its AC result, and how."""

    fixed: bool
    established: int  # for a point not fixed: how its red verdict was reached (a BY_* code)
    dq_by_unit: np.ndarray
    dp_by_resource: np.ndarray
    setpoints: Setpoints
    v_min: float
    v_max: float
    loading: float
    p_pcc: float
    q_pcc: float
    residual_voltage_pu: float  # not fixed: the least voltage excess reached (pu beyond the band)
    residual_overload_percent: float  # not fixed: the least overload reached (% above the loading limit)
    solves: int
    seconds: float
    exact_checks: int  # 1 when the exact check ran
    exact_seconds: float


class FeederRemedies:
    """The remedies one feeder allows: reactive power of its DG units, redispatch of its local market."""

    def __init__(self, flow: BatchPowerFlow, units: list[Resource], unit_buses: list[np.ndarray],
                 market: list[Resource], market_buses: list[np.ndarray], case: Case) -> None:
        self.flow, self.units, self.unit_buses = flow, units, unit_buses
        self.market, self.market_buses, self.case = market, market_buses, case
        self.lp = ReactiveLp(len(units), len(flow.position_of_bus), 2 * len(flow.branch_names), len(market))
        limits = case.limits
        self.limit_percent = flow.loading_limits_percent(limits.line_loading_percent,
                                                         limits.transformer_loading_percent)
        self.i_max = flow.current_limits_ka(limits.line_loading_percent, limits.transformer_loading_percent)
        self.solves, self.seconds = 0, 0.0

    # -- the pieces ---------------------------------------------------------------
    def _apply(self, origin: Setpoints, load_ratio: np.ndarray, changes: _Changes) -> Setpoints:
        point = Setpoints(origin.load_p.copy(), origin.load_q.copy(), origin.sgen_p.copy(), origin.sgen_q.copy())
        for dq, unit in zip(changes.dq, self.units):
            point.sgen_q[list(unit.rows)] += dq * np.array(unit.shares)
        for dp, resource in zip(changes.up - changes.down, self.market):
            rows, shares = list(resource.rows), np.array(resource.shares)
            if resource.table == "sgen":
                point.sgen_p[rows] += dp * shares
            else:  # more injection = less consumption, at the load's power factor
                point.load_p[rows] -= dp * shares
                point.load_q[rows] = point.load_p[rows] * load_ratio[rows]
        return point

    def _state(self, origin: Setpoints, load_ratio: np.ndarray, changes: _Changes) -> _State:
        point = self._apply(origin, load_ratio, changes)
        result = point.solve(self.flow)
        converged = bool(result.converged[0])
        if not converged:
            return _State(changes, point, False, result.v[0], np.nan, np.nan, np.nan, np.inf, np.inf, False,
                          np.nan, np.nan)
        vm = result.vm_pu[0]
        limits = self.case.limits
        loading = float(result.loading_percent[0].max()) if result.loading_percent.size else 0.0
        overload = float(overload_share(result.loading_percent[0], self.limit_percent))
        excess = max(float(vm.max()) - limits.v_max_pu, limits.v_min_pu - float(vm.min()), overload - 1.0)
        feasible = violation(float(vm.min()), float(vm.max()), overload, True, self.case) == NONE
        return _State(changes, point, True, result.v[0], float(vm.min()), float(vm.max()), loading, overload,
                      excess, feasible, float(result.p_pcc_mw[0]), float(result.q_pcc_mvar[0]))

    def _sensitivity(self, v: np.ndarray, resources: list[Resource], buses: list[np.ndarray], power: str):
        """Voltage and current sensitivities per resource: its rows' coefficients weighted by their shares."""
        n_bus, n_rows = len(v), 2 * len(self.flow.branch_names)
        if not resources:
            return np.zeros((n_bus, 0)), np.zeros((n_rows, 0))
        dvm_rows, di_rows = self.flow.sensitivities(v, np.concatenate(buses), power)
        dvm, di, start = [], [], 0
        for resource, row_buses in zip(resources, buses):
            shares = np.array(resource.shares)
            dvm.append(dvm_rows[:, start:start + len(row_buses)] @ shares)
            di.append(di_rows[:, start:start + len(row_buses)] @ shares)
            start += len(row_buses)
        return np.stack(dvm, axis=1), np.stack(di, axis=1)

    def _data(self, state: _State, origin: Setpoints, offers: Offers, price: float, *, margins: bool,
              trust_radius: float | None = None, allow_excess: bool = False) -> LpData:
        limits = self.case.limits
        dvm_q, di_q = self._sensitivity(state.v, self.units, self.unit_buses, "reactive")
        dvm_p, di_p = self._sensitivity(state.v, self.market, self.market_buses, "active")
        p_unit = np.array([state.point.sgen_p[list(u.rows)].sum() for u in self.units])
        q_origin = np.array([origin.sgen_q[list(u.rows)].sum() for u in self.units])
        ranges = [u.capability.q_limits_mvar(p, u.apparent_mva) for u, p in zip(self.units, p_unit)]
        q_low = np.array([float(low) for low, _ in ranges])
        q_high = np.array([float(high) for _, high in ranges])
        extra = {} if margins else {"voltage_margin_pu": 0.0, "current_margin_share": 0.0}
        return LpData(dvm_q, di_q, np.abs(state.v), limits.v_min_pu, limits.v_max_pu,
                      self.flow.branch_currents_ka(state.v), self.i_max, q_high - q_origin, q_origin - q_low, price,
                      dvm_p, di_p, offers.up_room, offers.down_room, offers.up_price, offers.down_price,
                      state.changes.dq, state.changes.up, state.changes.down, trust_radius=trust_radius,
                      allow_excess=allow_excess, **extra)

    def _solve(self, data: LpData) -> LpSolution:
        started = time.perf_counter()
        solution = self.lp.solve(data)
        self.seconds += time.perf_counter() - started
        self.solves += 1
        return solution

    # -- the three phases ---------------------------------------------------------
    def remedy(self, origin: Setpoints, load_ratio: np.ndarray, offers: Offers, price: float) -> Remedy:
        """Fix one violating point if any allowed dispatch can; otherwise prove that none can."""
        self.solves, self.seconds = 0, 0.0
        none = _Changes(np.zeros(len(self.units)), np.zeros(len(self.market)), np.zeros(len(self.market)))
        state = self._state(origin, load_ratio, none)
        best = state
        for _ in range(MAX_LOPF_ITERATIONS):
            if not state.converged:
                break
            solution = self._solve(self._data(state, origin, offers, price, margins=True))
            if solution.status != "optimal":
                break
            state = self._state(origin, load_ratio, _Changes(solution.dq_mvar, solution.up_mw, solution.down_mw))
            if state.feasible:
                return self._fixed(self._polish(state, origin, load_ratio, offers, price), 0, 0.0)
            best = state if state.excess < best.excess else best
        started = time.perf_counter()
        state, established = self._exact(best, origin, load_ratio, offers, price)
        exact_seconds = time.perf_counter() - started
        if state.feasible:
            polished = self._polish(state, origin, load_ratio, offers, price)
            return self._fixed(polished, 1, time.perf_counter() - started)
        limits = self.case.limits
        voltage = max(state.v_max - limits.v_max_pu, limits.v_min_pu - state.v_min, 0.0)
        return Remedy(False, established, state.changes.dq, state.changes.up - state.changes.down, state.point,
                      state.v_min, state.v_max, state.loading, state.p_pcc, state.q_pcc, voltage,
                      max(state.overload - 1.0, 0.0) * 100.0, self.solves, self.seconds, 1, exact_seconds)

    def _fixed(self, state: _State, exact_checks: int, exact_seconds: float) -> Remedy:
        return Remedy(True, NONE, state.changes.dq, state.changes.up - state.changes.down, state.point, state.v_min,
                      state.v_max, state.loading, state.p_pcc, state.q_pcc, np.nan, np.nan, self.solves,
                      self.seconds, exact_checks, exact_seconds)

    def _exact(self, state: _State, origin: Setpoints, load_ratio: np.ndarray, offers: Offers,
               price: float) -> tuple[_State, int]:
        """Minimise the AC limit excess by margin-free LP steps in a trust region; returns the last
        accepted state (feasible, or where the excess cannot be reduced) and how that was established."""
        if not state.converged:
            return state, BY_NO_SOLUTION
        # start with a radius no remedy can exceed: the units' apparent power, the offers' rooms
        sizes = np.concatenate([[1.0], [u.apparent_mva for u in self.units], offers.up_room, offers.down_room])
        radius = float(np.nanmax(np.abs(sizes)))
        for _ in range(MAX_EXACT_ITERATIONS):
            solution = self._solve(self._data(state, origin, offers, price, margins=False, trust_radius=radius,
                                              allow_excess=True))
            if solution.status != "optimal":
                return state, BY_SOLVER_FAILURE
            predicted = state.excess - solution.excess
            if predicted <= STATIONARY_EXCESS + STATIONARY_SHARE * state.excess:
                return state, BY_EXACT_CHECK
            trial = self._state(origin, load_ratio, _Changes(solution.dq_mvar, solution.up_mw, solution.down_mw))
            if trial.feasible:
                return trial, NONE
            actual = state.excess - trial.excess
            step = _step_size(state.changes, trial.changes)
            if actual >= 0.1 * predicted:
                state = trial
                if actual >= 0.75 * predicted and step >= 0.99 * radius:
                    radius *= 2.0
            else:
                radius = min(radius, step) / 4.0
                if radius < MIN_TRUST_RADIUS:
                    return state, BY_EXACT_CHECK
        return state, BY_EXACT_CHECK

    def _polish(self, state: _State, origin: Setpoints, load_ratio: np.ndarray, offers: Offers,
                price: float) -> _State:
        """From an AC-feasible dispatch, margin-free LOPF steps while they lower the cost (each AC-confirmed)."""
        for _ in range(MAX_POLISH_ITERATIONS):
            data = self._data(state, origin, offers, price, margins=False)
            cost = data.cost(state.changes.dq, state.changes.up, state.changes.down)
            solution = self._solve(data)
            if solution.status != "optimal" or solution.cost >= cost * (1.0 - POLISH_GAIN):
                return state
            target = _Changes(solution.dq_mvar, solution.up_mw, solution.down_mw)
            for share in (1.0, 0.5, 0.25, 0.125):
                trial = self._state(origin, load_ratio, state.changes.toward(target, share))
                if trial.feasible:
                    state = trial
                    break
            else:
                return state
        return state


def _step_size(a: _Changes, b: _Changes) -> float:
    """The largest change of any variable between two dispatches (the trust region's norm)."""
    parts = [np.abs(a.dq - b.dq), np.abs(a.up - b.up), np.abs(a.down - b.down)]
    return float(max((p.max() for p in parts if p.size), default=0.0))
