"""Assess stage: traffic lights for every (feeder, interval, bid point) — the paper's Figure 1.

For each feeder: the bid points of its market potential are set on the network and
solved in one AC batch; a point within the voltage band and the ampacity limits is
**green**; a violating point gets the remedies of ``remedy.py``: a LOPF that buys reactive
power from DG within their capability curves (and, in a local market, redispatches),
re-checked with the AC power flow until confirmed (**orange**, with its Mvar and cost,
polished to the AC minimum); a point no allowed dispatch can fix, as an exact AC check
proves, is **red**, with its reason, how that was established and its residual excess.
The transformer, shared by all feeders, is checked at substation level.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from flexopt.language import expressions as ex
from flexopt.compile.bids import BidBook, BidPoints, Resource, bid_points, compile_bids, setpoints
from flexopt.model import Case, Scenario
from flexopt.compile.networks import (FeederNet, build_feeder_net, hv_exchange, operating_points,
                                      transformer_loading_percent)
from flexopt.engine.powerflow import BatchPowerFlow, q_over_p
from flexopt.engine.pq_area import FeederPq, SubstationPq, chart_feeder, combine_substation
from flexopt.compile.profiles import CaseProfiles, compile_profiles
from flexopt.engine.remedy import FeederRemedies, Offers, Setpoints, overload_share, violation
from flexopt.results.schema import (BY_AC_CHECK, BY_NO_SOLUTION, BY_SOLVER_FAILURE, BY_TRANSFORMER_CHECK, GREEN,
                                     NO_SOLUTION, NONE, NOT_RED, ORANGE, RED, SOLVER_FAILURE, TRANSFORMER)

#: Tolerance of the transformer's loading check (percent).
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
    red_established: np.ndarray  # int8, index into RED_ESTABLISHED
    residual_voltage_pu: np.ndarray  # red by an AC check: the least voltage excess any allowed dispatch reaches
    residual_overload_percent: np.ndarray  # ... and the least overload (% above the limit); NaN otherwise
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
    exact_checks: int  # points whose verdict needed the exact AC check
    exact_seconds: float
    # the substation's exchange at the transformer's HV terminals with this feeder at each point and
    # the others at their working point (set by check_transformer: it needs every feeder)
    p_hv_mw: np.ndarray | None = None
    q_hv_mvar: np.ndarray | None = None
    # `study { pq area N directions }`: the feeder's P-Q chart at the PCC in every interval
    pq: FeederPq | None = None


@dataclass(frozen=True)
class CaseAssessment:
    scenario: Scenario
    case: Case
    profiles: CaseProfiles
    feeders: tuple[FeederAssessment, ...]
    reactive_price_eur_per_mvarh: np.ndarray  # (interval,)
    seconds: float
    substation_pq: SubstationPq | None = None  # the feeders' charts combined under the transformer's limit


def assess_case(scenario: Scenario, case: Case, profiles: CaseProfiles | None = None,
                on_feeder: Callable[[FeederAssessment, float], None] | None = None,
                parts: dict[str, tuple[FeederAssessment, ...]] | None = None) -> CaseAssessment:
    """Assess every feeder of a case, then each substation's transformer; ``on_feeder`` hears of each feeder
    done. ``parts``: substations already assessed elsewhere (:func:`assess_substation` in other processes)."""
    started = time.perf_counter()
    profiles = profiles or compile_profiles(scenario, case)
    parts = dict(parts or {})
    for substation in (s.name for s in scenario.all_substations):
        if substation not in parts:
            parts[substation] = assess_substation(scenario, case, profiles, substation, on_feeder)
    by_name = {f.feeder: f for part in parts.values() for f in part}
    feeders = [by_name[f.name] for f in case.feeders]
    return combine_case(scenario, case, profiles, feeders, time.perf_counter() - started)


def assess_substation(scenario: Scenario, case: Case, profiles: CaseProfiles, substation: str,
                      on_feeder: Callable[[FeederAssessment, float], None] | None = None) -> tuple[FeederAssessment, ...]:
    """The feeders one substation supplies, assessed, then its transformer checked on their exchanges."""
    q_price = reactive_price(case, profiles)
    feeders = []
    for feeder in case.feeders:
        if scenario.substation_of(feeder.name).name != substation:
            continue
        feeder_started = time.perf_counter()
        feeders.append(assess_feeder(build_feeder_net(scenario, case, feeder), case, profiles, q_price))
        if on_feeder is not None:
            on_feeder(feeders[-1], time.perf_counter() - feeder_started)
    return tuple(check_transformer(scenario, case, feeders))


def combine_case(scenario: Scenario, case: Case, profiles: CaseProfiles, feeders: list[FeederAssessment],
                 seconds: float) -> CaseAssessment:
    """The case's assessment from its feeders (transformers checked): the substation's P-Q chart added."""
    q_price = reactive_price(case, profiles)
    substation_pq = None
    if case.study.pq_area_directions and len(scenario.all_substations) == 1:  # a region: a chart per feeder only
        substation_pq = combine_substation([f.pq for f in feeders], *_working_exchange(feeders),
                                           transformer_limit_mva(scenario.substation, case))
    return CaseAssessment(scenario, case, profiles, tuple(feeders), q_price, seconds, substation_pq)


def transformer_limit_mva(substation, case: Case) -> float:
    """Apparent power at the busbar at which the transformer reaches its loading limit (see
    ``transformer_loading_percent``: |S| / (v_busbar S_n))."""
    return substation.busbar_pu * substation.transformer.rated_mva * case.limits.transformer_loading_percent / 100.0


def _working_exchange(feeders) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each feeder's PCC exchange at its working point (bid point 0), per interval."""
    zero = [int(np.flatnonzero(f.bid_point == 0)[0]) for f in feeders]
    return ([f.p_pcc_mw[:, k] for f, k in zip(feeders, zero)], [f.q_pcc_mvar[:, k] for f, k in zip(feeders, zero)])


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
    load_ratio = q_over_p(points.load_q_mvar, points.load_p_mw)  # (interval, load): loads keep their power factor
    load_q = load_p * load_ratio[:, None, :]
    sgen_q = sgen_p * q_over_p(points.sgen_q_mvar, points.sgen_p_mw)[:, None, :]
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
    overload = overload_share(result.loading_percent, limit_percent)
    p_pcc, q_pcc = result.p_pcc_mw.copy(), result.q_pcc_mvar.copy()
    reason = np.array([violation(v_min[s], v_max[s], overload[s], result.converged[s], case) for s in range(steps)],
                      dtype=np.int8)
    status = np.where(reason == NONE, GREEN, RED).astype(np.int8)
    established = np.where(reason == NO_SOLUTION, BY_NO_SOLUTION, np.where(reason == NONE, NOT_RED, BY_AC_CHECK))
    established = established.astype(np.int8)
    residual_v = np.where(status == RED, np.maximum(np.maximum(v_max - case.limits.v_max_pu,
                                                               case.limits.v_min_pu - v_min), 0.0), np.nan)
    residual_i = np.where(status == RED, np.maximum(overload - 1.0, 0.0) * 100.0, np.nan)
    q_support = np.zeros(steps)
    q_cost = np.zeros(steps)
    redispatch = np.zeros(steps)
    redispatch_cost = np.zeros(steps)
    final = Setpoints(load_p.reshape(steps, -1).copy(), load_q.reshape(steps, -1).copy(),
                      sgen_p.reshape(steps, -1).copy(), sgen_q.reshape(steps, -1).copy())
    redispatch_by_resource = np.zeros((steps, len(book.resources)))

    unit_index = [i for i, r in enumerate(book.resources) if r.capability is not None] if reactive_allowed(case) else []
    pq = None
    if case.study.pq_area_directions:  # before the remedies: the chart starts from the working point as it is
        zero = int(np.flatnonzero(bids.bid_point == 0)[0])
        working = tuple(a.reshape(n_t, n_p, -1)[:, zero] for a in (load_p, load_q, sgen_p, sgen_q))
        pq = chart_feeder(flow, net, book, case, case.study.pq_area_directions, unit_index, working, load_ratio,
                          result.v.reshape(n_t, n_p, -1)[:, zero], reason.reshape(n_t, n_p)[:, zero].copy())
    market = list(range(len(book.resources))) if "redispatch" in case.study.remedies else []
    lopf_solves, lopf_seconds, exact_checks, exact_seconds = 0, 0.0, 0, 0.0
    candidates = np.flatnonzero((reason != NONE) & (reason != NO_SOLUTION))
    if (unit_index or market) and len(candidates):
        buses = _resource_buses(net, book.resources)
        remedies = FeederRemedies(flow, [book.resources[i] for i in unit_index], [buses[i] for i in unit_index],
                                  [book.resources[g] for g in market], [buses[g] for g in market], case)
        for s in candidates:
            t, k = divmod(s, n_p)
            offers = _offers_left(book, bids, t, k, market)
            outcome = remedies.remedy(final.step(s), load_ratio[t], offers, float(q_price[t]))
            lopf_solves += outcome.solves
            lopf_seconds += outcome.seconds
            exact_checks += outcome.exact_checks
            exact_seconds += outcome.exact_seconds
            if outcome.fixed:
                status[s], reason[s], established[s] = ORANGE, NONE, NOT_RED
                residual_v[s] = residual_i[s] = np.nan
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
            else:
                established[s] = outcome.established
                residual_v[s], residual_i[s] = outcome.residual_voltage_pu, outcome.residual_overload_percent
                if outcome.established == BY_SOLVER_FAILURE:
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
        status=status.reshape(shape), red_reason=reason.reshape(shape), red_established=established.reshape(shape),
        residual_voltage_pu=residual_v.reshape(shape), residual_overload_percent=residual_i.reshape(shape),
        q_support_mvar=q_support.reshape(shape), q_cost_eur_per_h=q_cost.reshape(shape),
        redispatch_mw=redispatch.reshape(shape), redispatch_cost_eur_per_h=redispatch_cost.reshape(shape),
        p_pcc_mw=p_pcc.reshape(shape), q_pcc_mvar=q_pcc.reshape(shape), v_min_pu=v_min.reshape(shape),
        v_max_pu=v_max.reshape(shape), loading_max_percent=loading.reshape(shape),
        der_p_mw=der_p, der_q_mvar=der_q, der_q_min_mvar=der_q_min, der_q_max_mvar=der_q_max,
        load_names=names, load_p_mw=points.load_p_mw[:, other], load_q_mvar=points.load_q_mvar[:, other],
        power_flows=steps, lopf_solves=lopf_solves, lopf_seconds=lopf_seconds, exact_checks=exact_checks,
        exact_seconds=exact_seconds, pq=pq)


def _offers_left(book: BidBook, bids: BidPoints, t: int, k: int, market: list[int]) -> Offers:
    """The part of each resource's offers the bid point has not activated: the DSO may buy it."""
    activated = bids.activated_mw[t, k, market]
    return Offers(book.up_mw[t, market] - np.clip(activated, 0, None),
                   book.down_mw[t, market] - np.clip(-activated, 0, None),
                   book.up_price_eur_per_mwh[t, market], book.down_price_eur_per_mwh[t, market])


def _resource_buses(net, resources) -> list[np.ndarray]:
    """The bus label of every row of every resource."""
    return [(net.sgen if r.table == "sgen" else net.load).bus.to_numpy()[list(r.rows)] for r in resources]


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
            ratio = q_over_p(resource.working_q_mvar, resource.working_p_mw)
            der_q[:, :, i] = der_p[:, :, i] * ratio[:, None]
            q_min[:, :, i] = q_max[:, :, i] = der_q[:, :, i]
    return der_p, der_q, q_min, q_max


def check_transformer(scenario: Scenario, case: Case, feeders: list[FeederAssessment]) -> list[FeederAssessment]:
    """Mark red the points whose exchange, added to the other feeders at their working point, overloads
    the HV/MV transformer (which no feeder's reactive support is asked to fix); the exchange the TSO
    sees at the HV terminals, losses included, is kept with each feeder."""
    from dataclasses import replace

    zero = {f.feeder: int(np.flatnonzero(f.bid_point == 0)[0]) for f in feeders}
    # A feeder whose working point has no power-flow solution counts as exchanging nothing (its own
    # points are red already); the others are still checked.
    working_p = {f.feeder: np.nan_to_num(f.p_pcc_mw[:, zero[f.feeder]]) for f in feeders}
    working_q = {f.feeder: np.nan_to_num(f.q_pcc_mvar[:, zero[f.feeder]]) for f in feeders}
    substation = {f.feeder: scenario.substation_of(f.feeder) for f in feeders}  # a region: each its own
    total_p = {sub.name: sum(working_p[f] for f, s in substation.items() if s is sub) for sub in substation.values()}
    total_q = {sub.name: sum(working_q[f] for f, s in substation.items() if s is sub) for sub in substation.values()}
    checked = []
    for f in feeders:
        sub = substation[f.feeder]
        others_p = total_p[sub.name] - working_p[f.feeder]
        others_q = total_q[sub.name] - working_q[f.feeder]
        busbar_p, busbar_q = others_p[:, None] + f.p_pcc_mw, others_q[:, None] + f.q_pcc_mvar
        loading = transformer_loading_percent(sub, busbar_p, busbar_q)
        p_hv, q_hv = hv_exchange(sub, busbar_p, busbar_q)
        f = replace(f, p_hv_mw=p_hv, q_hv_mvar=q_hv)
        over = (loading > case.limits.transformer_loading_percent + LOADING_TOLERANCE_PERCENT) & (f.status != RED)
        if over.any():
            status = np.where(over, RED, f.status).astype(np.int8)
            reason = np.where(over, TRANSFORMER, f.red_reason).astype(np.int8)
            established = np.where(over, BY_TRANSFORMER_CHECK, f.red_established).astype(np.int8)
            # a blocked point buys no reactive support (its AC results stay those last computed)
            f = replace(f, status=status, red_reason=reason, red_established=established,
                        residual_overload_percent=np.where(over, loading - case.limits.transformer_loading_percent,
                                                           f.residual_overload_percent),
                        residual_voltage_pu=np.where(over, 0.0, f.residual_voltage_pu), q_support_mvar=np.where(over, 0.0, f.q_support_mvar),
                        q_cost_eur_per_h=np.where(over, 0.0, f.q_cost_eur_per_h),
                        redispatch_mw=np.where(over, 0.0, f.redispatch_mw),
                        redispatch_cost_eur_per_h=np.where(over, 0.0, f.redispatch_cost_eur_per_h))
        checked.append(f)
    return checked
