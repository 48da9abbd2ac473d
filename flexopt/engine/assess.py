"""Assess stage: traffic lights for every (feeder, interval, bid point) — the paper's Figure 1.

For each feeder: the bid points of its market potential are set on the network and
solved in one AC batch; a point within the voltage band and the ampacity limits is
**green**; a violating point gets a LOPF that buys reactive power from DG within
their capability curves, re-checked with the AC power flow and re-linearised until
confirmed (**orange**, with its Mvar and cost) or given up (**red**, with the
reason). The transformer, shared by all feeders, is checked at substation level.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from flexopt.language import expressions as ex
from flexopt.compile.bids import BidBook, BidPoints, Resource, bid_points, compile_bids, setpoints
from flexopt.engine.lopf import LpData, ReactiveLp
from flexopt.model import Case, Scenario
from flexopt.compile.networks import FeederNet, build_networks, operating_points, transformer_loading_percent
from flexopt.engine.powerflow import BatchPowerFlow
from flexopt.compile.profiles import CaseProfiles, compile_profiles
from flexopt.results.schema import (GREEN, LINE, NO_SOLUTION, NONE, ORANGE, OVER_VOLTAGE, RED, SOLVER_FAILURE,
                                     TRANSFORMER, UNDER_VOLTAGE)

#: How many times the LOPF may be re-linearised at the AC result before a point is called red.
MAX_LOPF_ITERATIONS = 4
#: Tolerances of the limit checks (the power flow itself is solved to 1e-9 pu).
VOLTAGE_TOLERANCE_PU = 1e-6
LOADING_TOLERANCE_SHARE = 1e-6
LOADING_TOLERANCE_PERCENT = 1e-4


@dataclass(frozen=True)
class FeederAssessment:
    """Everything assessed on one feeder; arrays are (interval, bid point[, resource])."""

    feeder: str
    bid_point: np.ndarray
    resources: tuple[Resource, ...]
    quantity_mw: np.ndarray
    bid_cost_eur_per_h: np.ndarray
    status: np.ndarray  # int8
    red_reason: np.ndarray  # int8, index into REASONS
    q_support_mvar: np.ndarray
    q_cost_eur_per_h: np.ndarray
    redispatch_mw: np.ndarray  # active power the DSO moved between resources (local market), MW up = MW down
    redispatch_cost_eur_per_h: np.ndarray
    p_pcc_mw: np.ndarray
    q_pcc_mvar: np.ndarray
    v_min_pu: np.ndarray
    v_max_pu: np.ndarray
    loading_max_percent: np.ndarray
    der_p_mw: np.ndarray
    der_q_mvar: np.ndarray
    der_q_min_mvar: np.ndarray
    der_q_max_mvar: np.ndarray
    load_names: tuple[str, ...]  # loads that are not DERs
    load_p_mw: np.ndarray  # (interval, load)
    load_q_mvar: np.ndarray
    power_flows: int
    lopf_solves: int
    lopf_seconds: float


@dataclass(frozen=True)
class CaseAssessment:
    scenario: Scenario
    case: Case
    profiles: CaseProfiles
    feeders: tuple[FeederAssessment, ...]
    reactive_price_eur_per_mvarh: np.ndarray  # (interval,)
    seconds: float


def assess_case(scenario: Scenario, case: Case, profiles: CaseProfiles | None = None,
                on_feeder: Callable[[FeederAssessment, float], None] | None = None) -> CaseAssessment:
    """Assess every feeder of a case, then the shared transformer; ``on_feeder`` hears of each feeder done."""
    started = time.perf_counter()
    profiles = profiles or compile_profiles(scenario, case)
    q_price = reactive_price(case, profiles)
    feeders = []
    for feeder_net in build_networks(scenario, case):
        feeder_started = time.perf_counter()
        feeders.append(assess_feeder(feeder_net, case, profiles, q_price))
        if on_feeder is not None:
            on_feeder(feeders[-1], time.perf_counter() - feeder_started)
    feeders = check_transformer(scenario, case, feeders)
    return CaseAssessment(scenario, case, profiles, tuple(feeders), q_price, time.perf_counter() - started)


def reactive_price(case: Case, profiles: CaseProfiles) -> np.ndarray:
    """EUR/Mvarh the DSO pays for reactive support in each interval (0 when free or unavailable)."""
    n = profiles.days.n
    if case.reactive.mode != "paid" or case.reactive.price is None:
        return np.zeros(n)
    return np.broadcast_to(np.asarray(ex.evaluate(case.reactive.price, profiles.prices), dtype=float), (n,)).copy()


def reactive_allowed(case: Case) -> bool:
    return "reactive" in case.study.remedies and case.reactive.mode != "unavailable"


def assess_feeder(feeder_net: FeederNet, case: Case, profiles: CaseProfiles, q_price: np.ndarray) -> FeederAssessment:
    """Bid points, batch AC power flow, LOPF for the violating points, traffic lights of one feeder."""
    net = feeder_net.net
    points = operating_points(feeder_net, case, profiles)
    book = compile_bids(feeder_net, case, points, profiles.prices)
    bids = bid_points(book, case.study.bid_points_per_direction, case.study.activation)
    n_t, n_p = bids.quantity_mw.shape
    load_p, sgen_p = setpoints(book, bids, points)
    load_ratio = _ratio(points.load_q_mvar, points.load_p_mw)  # (interval, load): loads keep their power factor
    load_q = load_p * load_ratio[:, None, :]
    sgen_q = sgen_p * _ratio(points.sgen_q_mvar, points.sgen_p_mw)[:, None, :]
    flow = BatchPowerFlow(net)
    steps = n_t * n_p
    result = flow.solve(load_p.reshape(steps, -1), load_q.reshape(steps, -1), sgen_p.reshape(steps, -1),
                        sgen_q.reshape(steps, -1))
    vm = np.where(result.converged[:, None], result.vm_pu, 1.0)  # no solution: NaN, set below
    v_min = np.where(result.converged, vm.min(axis=1), np.nan)
    v_max = np.where(result.converged, vm.max(axis=1), np.nan)
    loading = result.loading_percent.max(axis=1) if result.loading_percent.size else np.zeros(steps)
    limit_percent = flow.loading_limits_percent(case.limits.line_loading_percent,
                                                case.limits.transformer_loading_percent)
    overload = _overload(result.loading_percent, limit_percent)
    p_pcc, q_pcc = result.p_pcc_mw.copy(), result.q_pcc_mvar.copy()
    reason = np.array([_violation(v_min[s], v_max[s], overload[s], result.converged[s], case) for s in range(steps)],
                      dtype=np.int8)
    status = np.where(reason == NONE, GREEN, RED).astype(np.int8)
    q_support = np.zeros(steps)
    q_cost = np.zeros(steps)
    redispatch = np.zeros(steps)
    redispatch_cost = np.zeros(steps)
    final = _Setpoints(load_p.reshape(steps, -1).copy(), load_q.reshape(steps, -1).copy(),
                       sgen_p.reshape(steps, -1).copy(), sgen_q.reshape(steps, -1).copy())
    redispatch_by_resource = np.zeros((steps, len(book.resources)))

    unit_index = [i for i, r in enumerate(book.resources) if r.capability is not None] if reactive_allowed(case) else []
    units = [book.resources[i] for i in unit_index]
    market = list(range(len(book.resources))) if "redispatch" in case.study.remedies else []
    lopf_solves, lopf_seconds = 0, 0.0
    candidates = np.flatnonzero((reason != NONE) & (reason != NO_SOLUTION))
    if (units or market) and len(candidates):
        lp = ReactiveLp(len(units), len(net.bus), 2 * len(flow.branch_names), len(market))
        buses = _resource_buses(net, book.resources)
        for s in candidates:
            t, k = divmod(s, n_p)
            offers = _offers_left(book, bids, t, k, market)
            outcome = _remedy(flow, lp, units, [buses[i] for i in unit_index], [book.resources[g] for g in market],
                              [buses[g] for g in market], final.step(s), load_ratio[t], offers, case,
                              float(q_price[t]))
            lopf_solves += outcome.solves
            lopf_seconds += outcome.seconds
            if outcome.fixed:
                status[s] = ORANGE
                reason[s] = NONE
                support = float(np.abs(outcome.dq_by_unit).sum())
                q_support[s] = support
                q_cost[s] = support * q_price[t]
                moved_up = np.clip(outcome.dp_by_resource, 0, None)
                moved_down = np.clip(-outcome.dp_by_resource, 0, None)
                redispatch[s] = float(moved_up.sum())
                redispatch_cost[s] = float(moved_up @ offers.up_price + moved_down @ offers.down_price)
                redispatch_by_resource[s, market] = outcome.dp_by_resource
                final.store(s, outcome.setpoints)
                v_min[s], v_max[s], loading[s] = outcome.v_min, outcome.v_max, outcome.loading
                p_pcc[s], q_pcc[s] = outcome.p_pcc, outcome.q_pcc
            elif outcome.solver_failed:
                reason[s] = SOLVER_FAILURE

    shape = (n_t, n_p)
    der_p, der_q, der_q_min, der_q_max = _der_setpoints(book, bids, final.sgen_p.reshape(n_t, n_p, -1),
                                                        final.sgen_q.reshape(n_t, n_p, -1),
                                                        redispatch_by_resource.reshape(n_t, n_p, -1))
    der_rows = {(r.table, row) for r in book.resources if r.customer_class is None for row in r.rows}
    other = [i for i in range(len(net.load)) if ("load", i) not in der_rows]
    names = tuple(str(net.load.name.iat[i]) for i in other)
    return FeederAssessment(
        feeder=feeder_net.feeder, bid_point=bids.bid_point, resources=book.resources,
        quantity_mw=bids.quantity_mw, bid_cost_eur_per_h=bids.bid_cost_eur_per_h,
        status=status.reshape(shape), red_reason=reason.reshape(shape),
        q_support_mvar=q_support.reshape(shape), q_cost_eur_per_h=q_cost.reshape(shape),
        redispatch_mw=redispatch.reshape(shape), redispatch_cost_eur_per_h=redispatch_cost.reshape(shape),
        p_pcc_mw=p_pcc.reshape(shape), q_pcc_mvar=q_pcc.reshape(shape), v_min_pu=v_min.reshape(shape),
        v_max_pu=v_max.reshape(shape), loading_max_percent=loading.reshape(shape),
        der_p_mw=der_p, der_q_mvar=der_q, der_q_min_mvar=der_q_min, der_q_max_mvar=der_q_max,
        load_names=names, load_p_mw=points.load_p_mw[:, other], load_q_mvar=points.load_q_mvar[:, other],
        power_flows=steps, lopf_solves=lopf_solves, lopf_seconds=lopf_seconds)


def _ratio(q: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Q/P at the working point (0 where P is 0): bids keep each element's power factor."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(p) > 1e-12, q / np.where(np.abs(p) > 1e-12, p, 1.0), 0.0)


def _overload(loading_percent: np.ndarray, limit_percent: np.ndarray) -> np.ndarray:
    """Highest loading of each step relative to its branch's limit (1.0 = at the limit)."""
    if loading_percent.shape[-1] == 0:
        return np.zeros(loading_percent.shape[:-1])
    return (loading_percent / limit_percent).max(axis=-1)


def _violation(v_min: float, v_max: float, overload: float, converged: bool, case: Case) -> int:
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


@dataclass
class _Setpoints:
    """Injections of every load and sgen row; one step (1-D rows) or many (2-D)."""

    load_p: np.ndarray
    load_q: np.ndarray
    sgen_p: np.ndarray
    sgen_q: np.ndarray

    def step(self, s: int) -> "_Setpoints":
        return _Setpoints(self.load_p[s].copy(), self.load_q[s].copy(), self.sgen_p[s].copy(), self.sgen_q[s].copy())

    def store(self, s: int, one: "_Setpoints") -> None:
        self.load_p[s], self.load_q[s], self.sgen_p[s], self.sgen_q[s] = one.load_p, one.load_q, one.sgen_p, one.sgen_q

    def solve(self, flow: BatchPowerFlow):
        return flow.solve(self.load_p[None], self.load_q[None], self.sgen_p[None], self.sgen_q[None])


@dataclass(frozen=True)
class _Offers:
    """What the local-market resources still offer at one point: rooms (MW, injection) and prices."""

    up_room: np.ndarray
    down_room: np.ndarray
    up_price: np.ndarray
    down_price: np.ndarray


def _offers_left(book: BidBook, bids: BidPoints, t: int, k: int, market: list[int]) -> _Offers:
    """The part of each resource's offers the bid point has not activated: the DSO may buy it."""
    activated = bids.activated_mw[t, k, market]
    return _Offers(book.up_mw[t, market] - np.clip(activated, 0, None),
                   book.down_mw[t, market] - np.clip(-activated, 0, None),
                   book.up_price_eur_per_mwh[t, market], book.down_price_eur_per_mwh[t, market])


def _resource_buses(net, resources) -> list[np.ndarray]:
    """The bus label of every row of every resource."""
    return [(net.sgen if r.table == "sgen" else net.load).bus.to_numpy()[list(r.rows)] for r in resources]


@dataclass(frozen=True)
class _Remedy:
    fixed: bool
    solver_failed: bool
    dq_by_unit: np.ndarray
    dp_by_resource: np.ndarray
    setpoints: _Setpoints
    v_min: float
    v_max: float
    loading: float
    p_pcc: float
    q_pcc: float
    solves: int
    seconds: float


def _sensitivity_by_resource(flow: BatchPowerFlow, v: np.ndarray, resources: list[Resource], buses: list[np.ndarray],
                             power: str) -> tuple[np.ndarray, np.ndarray]:
    """Voltage and current sensitivities per resource: its rows' coefficients weighted by their shares."""
    n_bus, n_rows = len(v), 2 * len(flow.branch_names)
    if not resources:
        return np.zeros((n_bus, 0)), np.zeros((n_rows, 0))
    all_buses = np.concatenate([buses[i] for i in range(len(resources))])
    dvm_rows, di_rows = flow.sensitivities(v, all_buses, power)
    dvm, di, start = [], [], 0
    for r, row_buses in zip(resources, buses):
        shares = np.array(r.shares)
        dvm.append(dvm_rows[:, start:start + len(row_buses)] @ shares)
        di.append(di_rows[:, start:start + len(row_buses)] @ shares)
        start += len(row_buses)
    return np.stack(dvm, axis=1), np.stack(di, axis=1)


def _remedy(flow: BatchPowerFlow, lp: ReactiveLp, units: list[Resource], unit_buses: list[np.ndarray],
            market: list[Resource], market_buses: list[np.ndarray], point: _Setpoints, load_ratio: np.ndarray,
            offers: _Offers, case: Case, price_eur_per_mvarh: float) -> _Remedy:
    """LOPF, AC re-check, re-linearise: the reactive support (and, in a local market, the active-power
    redispatch) that makes one point feasible, if any."""
    limits = case.limits
    dq_total = np.zeros(len(units))
    dp_total = np.zeros(len(market))
    solves, seconds = 0, 0.0
    state = point.solve(flow)
    limit_percent = flow.loading_limits_percent(limits.line_loading_percent, limits.transformer_loading_percent)
    i_max = flow.current_limits_ka(limits.line_loading_percent, limits.transformer_loading_percent)
    for _ in range(MAX_LOPF_ITERATIONS):
        if not state.converged[0]:
            break
        v = state.v[0]
        dvm_q, di_q = _sensitivity_by_resource(flow, v, units, unit_buses, "reactive")
        dvm_p, di_p = _sensitivity_by_resource(flow, v, market, market_buses, "active")
        p_unit = np.array([point.sgen_p[list(u.rows)].sum() for u in units])
        q_unit = np.array([point.sgen_q[list(u.rows)].sum() for u in units])
        limits_q = [u.capability.q_limits_mvar(p, u.apparent_mva) for u, p in zip(units, p_unit)]
        q_low = np.array([float(low) for low, _ in limits_q])
        q_high = np.array([float(high) for _, high in limits_q])
        data = LpData(dvm_q, di_q, np.abs(v), limits.v_min_pu, limits.v_max_pu, flow.branch_currents_ka(v), i_max,
                      q_high - q_unit, q_unit - q_low, price_eur_per_mvarh, dvm_p, di_p,
                      offers.up_room - np.clip(dp_total, 0, None), offers.down_room - np.clip(-dp_total, 0, None),
                      offers.up_price, offers.down_price)
        started = time.perf_counter()
        solution = lp.solve(data)
        seconds += time.perf_counter() - started
        solves += 1
        if solution.status != "optimal":
            return _Remedy(False, solution.status.startswith("failed"), dq_total, dp_total, point, np.nan, np.nan,
                           np.nan, np.nan, np.nan, solves, seconds)
        for dq, u in zip(solution.dq_mvar, units):
            point.sgen_q[list(u.rows)] += dq * np.array(u.shares)
        for dp, r in zip(solution.dp_mw, market):
            rows, shares = list(r.rows), np.array(r.shares)
            if r.table == "sgen":
                point.sgen_p[rows] += dp * shares
            else:  # more injection = less consumption, at the load's power factor
                point.load_p[rows] -= dp * shares
                point.load_q[rows] = point.load_p[rows] * load_ratio[rows]
        dq_total += solution.dq_mvar
        dp_total += solution.dp_mw
        state = point.solve(flow)
        vm = state.vm_pu[0]
        loading = float(state.loading_percent[0].max()) if state.loading_percent.size else 0.0
        overload = float(_overload(state.loading_percent[0], limit_percent))
        if state.converged[0] and _violation(vm.min(), vm.max(), overload, True, case) == NONE:
            return _Remedy(True, False, dq_total, dp_total, point, float(vm.min()), float(vm.max()), loading,
                           float(state.p_pcc_mw[0]), float(state.q_pcc_mvar[0]), solves, seconds)
    return _Remedy(False, False, dq_total, dp_total, point, np.nan, np.nan, np.nan, np.nan, np.nan, solves, seconds)


def _der_setpoints(book: BidBook, bids: BidPoints, sgen_p: np.ndarray, sgen_q: np.ndarray, redispatch: np.ndarray):
    """P, Q and the reactive range of every resource at every point, in its table's convention."""
    n_t, n_p = bids.quantity_mw.shape
    n_r = len(book.resources)
    der_p = np.zeros((n_t, n_p, n_r))
    der_q = np.zeros((n_t, n_p, n_r))
    q_min = np.zeros((n_t, n_p, n_r))
    q_max = np.zeros((n_t, n_p, n_r))
    for i, resource in enumerate(book.resources):
        rows = list(resource.rows)
        if resource.table == "sgen":
            der_p[:, :, i] = sgen_p[:, :, rows].sum(axis=2)
            der_q[:, :, i] = sgen_q[:, :, rows].sum(axis=2)
            if resource.capability is not None:
                low, high = resource.capability.q_limits_mvar(der_p[:, :, i], resource.apparent_mva)
                q_min[:, :, i], q_max[:, :, i] = low, high
            else:
                q_min[:, :, i] = q_max[:, :, i] = der_q[:, :, i]
        else:  # consumption: upward bids and upward redispatch lower it
            der_p[:, :, i] = resource.working_p_mw[:, None] - bids.activated_mw[:, :, i] - redispatch[:, :, i]
            ratio = _ratio(resource.working_q_mvar, resource.working_p_mw)
            der_q[:, :, i] = der_p[:, :, i] * ratio[:, None]
            q_min[:, :, i] = q_max[:, :, i] = der_q[:, :, i]
    return der_p, der_q, q_min, q_max


def check_transformer(scenario: Scenario, case: Case, feeders: list[FeederAssessment]) -> list[FeederAssessment]:
    """Mark red the points whose exchange, added to the other feeders at their working point, overloads
    the HV/MV transformer (which no feeder's reactive support is asked to fix)."""
    from dataclasses import replace

    zero = {f.feeder: int(np.flatnonzero(f.bid_point == 0)[0]) for f in feeders}
    # A feeder whose working point has no power-flow solution counts as exchanging nothing (its own
    # points are red already); the others are still checked.
    working_p = {f.feeder: np.nan_to_num(f.p_pcc_mw[:, zero[f.feeder]]) for f in feeders}
    working_q = {f.feeder: np.nan_to_num(f.q_pcc_mvar[:, zero[f.feeder]]) for f in feeders}
    total_p = sum(working_p.values())
    total_q = sum(working_q.values())
    checked = []
    for f in feeders:
        others_p = total_p - working_p[f.feeder]
        others_q = total_q - working_q[f.feeder]
        loading = transformer_loading_percent(scenario.substation, others_p[:, None] + f.p_pcc_mw,
                                              others_q[:, None] + f.q_pcc_mvar)
        over = (loading > case.limits.transformer_loading_percent + LOADING_TOLERANCE_PERCENT) & (f.status != RED)
        if over.any():
            status = np.where(over, RED, f.status).astype(np.int8)
            reason = np.where(over, TRANSFORMER, f.red_reason).astype(np.int8)
            # a blocked point buys no reactive support (its AC results stay those last computed)
            f = replace(f, status=status, red_reason=reason, q_support_mvar=np.where(over, 0.0, f.q_support_mvar),
                        q_cost_eur_per_h=np.where(over, 0.0, f.q_cost_eur_per_h),
                        redispatch_mw=np.where(over, 0.0, f.redispatch_mw),
                        redispatch_cost_eur_per_h=np.where(over, 0.0, f.redispatch_cost_eur_per_h))
        checked.append(f)
    return checked
