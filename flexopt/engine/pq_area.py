"""Assess stage, the TSO's view: the P-Q chart at the PCC of every feeder, interval by interval.

With ``study { pq area N directions }`` each feeder and interval gets the region of PCC exchange
its DERs can reach inside their offered ranges (the bid rules' up and down quantities, derating
included) and their reactive capability curves without violating a voltage or ampacity limit,
as N vertices: for each direction theta, the dispatch that maximises
cos(theta) P_pcc + sin(theta) Q_pcc.

1. **Linearise** at the working point with one factorisation of the AC Jacobian
   (``BatchPowerFlow.injection_sensitivities``): bus voltage magnitudes, the complex current at
   both ends of every branch and the PCC exchange, per MW of each resource and per Mvar of each
   DG unit. An LP per interval (HiGHS, built once per interval, re-solved per direction with only
   its objective changed): voltage rows with small margins, each ampacity circle as a polygon
   inside it (CURRENT_SIDES sides), each capability curve as chords under it (CAPABILITY_CHORDS,
   so every LP dispatch is within the curve), the offers as column bounds.
2. **Confirm** every vertex with an AC power flow (one batch for the feeder). A vertex that
   violates a limit is re-linearised at its own AC state and re-solved (RELINEARISATIONS times);
   one still violating is **pulled inwards**: the dispatch is moved along the segment from the
   working point by the largest share that the AC power flow confirms (a bracketing search in
   batches of BRACKET shares, BRACKET_ROUNDS rounds: to 1/64 of the segment). No stored vertex
   violates a limit.
3. An interval whose working point itself violates a limit (or has no power-flow solution) gets
   NaN vertices and its reason (``PQ_REASONS``); so does a feeder without DERs.

The substation's chart (``combine_substation``) adds the feeders' vertices direction by direction
(the feeders are independent given the held busbar voltage, so support functions add) and clips the
sum by the transformer's apparent-power limit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from flexopt.compile.bids import BidBook
from flexopt.engine.lopf import CURRENT_MARGIN_SHARE, VOLTAGE_MARGIN_PU
from flexopt.engine.powerflow import BatchPowerFlow, q_over_p
from flexopt.engine.remedy import LOADING_TOLERANCE_SHARE, VOLTAGE_TOLERANCE_PU, overload_share
from flexopt.model import Case
from flexopt.results.schema import CHARTED, CHARTED_AROUND_VIOLATION, NO_DER, NO_SOLUTION, NONE, WORKING_NO_SOLUTION, WORKING_VIOLATION

#: Sides of the polygon inside each branch end's ampacity circle (|I| <= I_max), and the chords
#: under each capability curve Q(P) over the unit's offered range (uniform in angle on a circle).
CURRENT_SIDES = 16
CAPABILITY_CHORDS = 12
#: Re-linearisations of a vertex the AC power flow does not confirm, then the pull inwards:
#: rounds of BRACKET - 1 shares of the segment from the working point, tried in one batch each.
RELINEARISATIONS = 2
BRACKET = 8
BRACKET_ROUNDS = 2
#: Cost per MW or Mvar of moving a DER away from its working point in the LP of a vertex (a tie-break,
#: in units of the objective, MW or Mvar at the PCC).
TIE_BREAK = 0.01
#: Transformer clip: sides of the polygon inside the apparent-power circle.
CIRCLE_SIDES = 720


@dataclass(frozen=True)
class FeederPq:
    """The P-Q chart of one feeder: vertices (interval, direction) and the dispatch behind each."""

    directions_deg: np.ndarray  # (direction,)
    p_mw: np.ndarray  # (interval, direction) PCC exchange, + import; NaN where not charted
    q_mvar: np.ndarray
    der_p_mw: np.ndarray  # (interval, direction, resource) in the convention of the resource's table
    der_q_mvar: np.ndarray
    reason: np.ndarray  # (interval,) int8 index into PQ_REASONS
    share: np.ndarray  # (interval, direction): 1 the (re-)linearised LP vertex confirmed, < 1 pulled inwards
    area_mw_mvar: np.ndarray  # (interval,) area of the polygon of the vertices
    power_flows: int
    lp_solves: int
    seconds: float


@dataclass(frozen=True)
class SubstationPq:
    """The substation's chart at the MV busbar: the feeders' charts added, clipped by the transformer."""

    p_mw: np.ndarray  # (interval, direction)
    q_mvar: np.ndarray
    area_mw_mvar: np.ndarray  # (interval,)
    clipped: np.ndarray  # (interval,) bool: the transformer's limit cut the sum
    limit_mva: float


def polygon_area(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Shoelace area of polygons whose vertices run along the last axis (NaN if any vertex is NaN)."""
    return 0.5 * np.abs((p * np.roll(q, -1, axis=-1) - np.roll(p, -1, axis=-1) * q).sum(axis=-1))


def _chords(capability, s_mva: float, p_low: float, p_high: float):
    """Chords under the upper and over the lower capability curve on [p_low, p_high], as the lines
    ``(slope, value, at)`` of g(P) = value + slope (P - at) bounding Q (upper side) and -Q (lower side):
    each side's piecewise-linear interpolation is the least of its lines (the curve is concave there),
    an inner approximation; a side that is not concave is replaced by its least value (a constant)."""
    if s_mva > 0 and -s_mva < p_low < p_high:
        a_low, a_high = math.acos(max(-1.0, p_low / s_mva)), math.acos(min(1.0, p_high / s_mva))
        p = np.unique(np.concatenate([[p_low, p_high], s_mva * np.cos(np.linspace(a_low, a_high, CAPABILITY_CHORDS + 1))]))
        p = p[(p >= p_low) & (p <= p_high)]
    else:
        p = np.unique(np.linspace(p_low, p_high, CAPABILITY_CHORDS + 1))
    low, high = (np.broadcast_to(np.asarray(x, dtype=float), p.shape) for x in capability.q_limits_mvar(p, s_mva))
    sides = []
    for values in (high, -low):  # Q <= high(P) and -Q <= -low(P): both bounds by a concave function
        if len(p) > 1:
            slopes = np.diff(values) / np.diff(p)
        if len(p) > 1 and np.all(np.diff(slopes) <= 1e-9 * max(1.0, np.abs(slopes).max())):
            sides.append([(b, v, x) for b, v, x in zip(slopes, values[:-1], p[:-1])])
        else:
            sides.append([(0.0, float(values.min()), p_low)])
    return sides, float(low.min()), float(high.max())


class FeederCharter:
    """Charts one feeder: the linear models, the LPs per interval, the AC confirmation."""

    def __init__(self, flow: BatchPowerFlow, net, book: BidBook, case: Case, units: list[int],
                 load_p: np.ndarray, load_q: np.ndarray, sgen_p: np.ndarray, sgen_q: np.ndarray,
                 load_ratio: np.ndarray) -> None:
        import highspy

        self.flow, self.book, self.case, self.units = flow, book, case, units
        self.load_p, self.load_q, self.sgen_p, self.sgen_q, self.load_ratio = load_p, load_q, sgen_p, sgen_q, load_ratio
        self.sgen_ratio = q_over_p(sgen_q, sgen_p)
        resources = book.resources
        self.n_res, self.n = len(resources), len(resources) + len(units)
        self.unit_column = {r: len(resources) + i for i, r in enumerate(units)}
        # one entry per row of every resource: its bus, table, row, share and resource
        self.entries = [(int((net.sgen if r.table == "sgen" else net.load).bus.to_numpy()[row]), r.table, row, share, i)
                        for i, r in enumerate(resources) for row, share in zip(r.rows, r.shares)]
        self.buses = np.array([e[0] for e in self.entries], dtype=int)
        limits = case.limits
        self.limit_percent = flow.loading_limits_percent(limits.line_loading_percent, limits.transformer_loading_percent)
        self.i_max = flow.current_limits_ka(limits.line_loading_percent, limits.transformer_loading_percent)
        angles = 2 * np.pi * np.arange(CURRENT_SIDES) / CURRENT_SIDES
        self.rotations = np.exp(-1j * angles)
        self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        self.lp_solves = 0

    # -- dispatch -> setpoints -----------------------------------------------------------
    def setpoints(self, t: np.ndarray, x: np.ndarray):
        """Injections of every row for dispatches ``x`` (k, n) at intervals ``t`` (k,)."""
        load_p, load_q = self.load_p[t].copy(), self.load_q[t].copy()
        sgen_p, sgen_q = self.sgen_p[t].copy(), self.sgen_q[t].copy()
        for _, table, row, share, i in self.entries:
            delta = x[:, i] * share
            if table == "sgen":
                sgen_p[:, row] += delta
                column = self.unit_column.get(i)
                sgen_q[:, row] += x[:, column] * share if column is not None else delta * self.sgen_ratio[t, row]
            else:  # more injection = less consumption, at the load's power factor
                load_p[:, row] -= delta
                load_q[:, row] = load_p[:, row] * self.load_ratio[t, row]
        return load_p, load_q, sgen_p, sgen_q

    def evaluate(self, t: np.ndarray, x: np.ndarray):
        """AC power flow of dispatches ``x`` at intervals ``t``: (result, feasible (k,), setpoints)."""
        points = self.setpoints(t, x)
        result = self.flow.solve(*points)
        limits = self.case.limits
        vm = np.where(result.converged[:, None], result.vm_pu, np.nan)
        with np.errstate(invalid="ignore"):
            overload = overload_share(result.loading_percent, self.limit_percent)
            feasible = (result.converged & (vm.max(axis=1) <= limits.v_max_pu + VOLTAGE_TOLERANCE_PU)
                        & (vm.min(axis=1) >= limits.v_min_pu - VOLTAGE_TOLERANCE_PU)
                        & (overload <= 1.0 + LOADING_TOLERANCE_SHARE))
        return result, feasible, points

    # -- the LP -------------------------------------------------------------------------
    def bounds(self, t: int) -> tuple[np.ndarray, np.ndarray, list]:
        """Column bounds of the dispatch (offers; reactive range of the units) and the capability rows."""
        low = np.concatenate([-self.book.down_mw[t], np.zeros(len(self.units))])
        high = np.concatenate([self.book.up_mw[t], np.zeros(len(self.units))])
        rows = []  # (coefficients (n,), upper bound)
        for r in self.units:
            resource, column = self.book.resources[r], self.unit_column[r]
            p0 = float(self.sgen_p[t, list(resource.rows)].sum())
            q0 = float(self.sgen_q[t, list(resource.rows)].sum())
            sides, q_low, q_high = _chords(resource.capability, resource.apparent_mva, p0 + low[r], p0 + high[r])
            low[column], high[column] = q_low - q0, q_high - q0
            if high[r] - low[r] <= 1e-9:
                continue  # P fixed: the column bounds are the range at P
            for sign, side in zip((1.0, -1.0), sides):  # sign Q <= value + slope (P - at), on (dP, dQ)
                for slope, value, p_at in side:
                    a = np.zeros(self.n)
                    a[column], a[r] = sign, -slope
                    rows.append((a, value + slope * (p0 - p_at) - sign * q0))
        return low, np.maximum(high, low), rows

    def model(self, t: int, v: np.ndarray, x1: np.ndarray, origin: bool):
        """The LP of interval ``t`` linearised at voltages ``v`` and dispatch ``x1``: matrix, row bounds,
        column bounds and the PCC sensitivities (n,) complex. With ``origin`` the working point (x = 0)
        is kept feasible (rows it violates in the linear model are relaxed to it)."""
        flow, m = self.flow, len(self.entries)
        dvm, di, ds = flow.injection_sensitivities(v, self.buses)
        w_p, w_q = np.zeros((m, self.n)), np.zeros((m, self.n))
        for j, (_, table, row, share, i) in enumerate(self.entries):
            w_p[j, i] = share
            column = self.unit_column.get(i)
            if column is not None:
                w_q[j, column] = share
            else:
                w_q[j, i] = share * (self.sgen_ratio[t, row] if table == "sgen" else self.load_ratio[t, row])
        a_v = dvm[:, :m] @ w_p + dvm[:, m:] @ w_q
        a_i = di[:, :m] @ w_p + di[:, m:] @ w_q
        a_s = ds[:m] @ w_p + ds[m:] @ w_q
        limits = self.case.limits
        vm1, i1 = np.abs(v), flow.branch_currents_complex_ka(v)
        shift_v = a_v @ x1
        rows_a = [a_v]
        rows_low = [limits.v_min_pu + VOLTAGE_MARGIN_PU - vm1 + shift_v]
        rows_high = [limits.v_max_pu - VOLTAGE_MARGIN_PU - vm1 + shift_v]
        room = self.i_max * math.cos(math.pi / CURRENT_SIDES) * (1.0 - CURRENT_MARGIN_SHARE)
        for e in self.rotations:
            a = (e * a_i).real
            rows_a.append(a)
            rows_low.append(np.full(len(a), -np.inf))
            rows_high.append(room - (e * i1).real + a @ x1)
        col_low, col_high, capability = self.bounds(t)
        if capability:
            rows_a.append(np.array([a for a, _ in capability]))
            rows_low.append(np.full(len(capability), -np.inf))
            rows_high.append(np.array([b for _, b in capability]))
        a, low, high = np.vstack(rows_a), np.concatenate(rows_low), np.concatenate(rows_high)
        if origin:
            low, high = np.minimum(low, 0.0), np.maximum(high, 0.0)
        # drop the rows no dispatch inside the column bounds can make bind
        most = np.clip(a, 0, None) @ col_high + np.clip(a, None, 0) @ col_low
        least = np.clip(a, 0, None) @ col_low + np.clip(a, None, 0) @ col_high
        keep = (most > high) | (least < low)
        return a[keep], low[keep], high[keep], col_low, col_high, a_s

    def solve(self, model, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The LP's dispatch for each direction (radians): (x (direction, n), solved (direction,)).

        The dispatch is split x = x+ - x- with a small cost TIE_BREAK on both: among dispatches the
        linear model finds (nearly) equally good, the one that moves the DERs least wins, so a
        direction in which Q is free (the linear losses barely move P) keeps Q near its working point
        instead of at an arbitrary end of its range, where the AC losses the LP does not see are."""
        import highspy

        a, low, high, col_low, col_high, a_s = model
        n = self.n
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = 2 * n, len(low)
        lp.col_cost_ = np.zeros(2 * n)
        lp.col_lower_ = np.concatenate([np.clip(col_low, 0, None), np.clip(-col_high, 0, None)]).astype(float)
        lp.col_upper_ = np.concatenate([np.clip(col_high, 0, None), np.clip(-col_low, 0, None)]).astype(float)
        inf = highspy.kHighsInf
        lp.row_lower_ = np.where(np.isfinite(low), low, -inf).astype(float)
        lp.row_upper_ = np.where(np.isfinite(high), high, inf).astype(float)
        a = np.where(np.abs(a) < 1e-12, 0.0, a)
        a = np.hstack([a, -a])
        columns = [np.flatnonzero(a[:, j]) for j in range(2 * n)]
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.concatenate([[0], np.cumsum([len(c) for c in columns])]).astype(np.int32)
        lp.a_matrix_.index_ = np.concatenate(columns).astype(np.int32)
        lp.a_matrix_.value_ = np.concatenate([a[c, j] for j, c in enumerate(columns)])
        h = self.highs
        h.clearSolver()
        h.passModel(lp)
        x = np.zeros((len(directions), n))
        solved = np.zeros(len(directions), dtype=bool)
        all_columns = np.arange(2 * n, dtype=np.int32)
        for d, theta in enumerate(directions):
            gain = (np.exp(-1j * theta) * a_s).real  # d(cos P + sin Q) per unit of each column
            cost = np.concatenate([-gain, gain]) + TIE_BREAK  # HiGHS minimises
            h.changeColsCost(2 * n, all_columns, cost.astype(float))
            h.run()
            self.lp_solves += 1
            if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
                value = np.asarray(h.getSolution().col_value)
                x[d] = np.clip(value[:n] - value[n:], col_low, col_high)
                solved[d] = True
        return x, solved


def chart_feeder(flow: BatchPowerFlow, net, book: BidBook, case: Case, directions: int, units: list[int],
                 working: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], load_ratio: np.ndarray,
                 v_working: np.ndarray, working_reason: np.ndarray) -> FeederPq:
    """The P-Q chart of a feeder in every interval. ``working``: (load_p, load_q, sgen_p, sgen_q) of the
    working point (interval, row); ``v_working``, ``working_reason``: its AC voltages and violation code
    (0 none, 5 no power-flow solution as in ``results.schema``); ``units``: the resources whose reactive
    power is free within their capability curve (the others keep their power factor)."""
    started = time.perf_counter()
    n_t, n_r = working[0].shape[0], len(book.resources)
    theta = 2 * np.pi * np.arange(directions) / directions
    p = np.full((n_t, directions), np.nan)
    q, share = p.copy(), p.copy()
    der_p = np.full((n_t, directions, n_r), np.nan)
    der_q = der_p.copy()
    reason = np.where(working_reason == NONE, CHARTED,
                      np.where(working_reason == NO_SOLUTION, WORKING_NO_SOLUTION, WORKING_VIOLATION)).astype(np.int8)
    if n_r == 0:
        reason[:] = NO_DER
        return FeederPq(np.degrees(theta), p, q, der_p, der_q, reason, share, np.full(n_t, np.nan), 0, 0,
                        time.perf_counter() - started)
    charter = FeederCharter(flow, net, book, case, units, *working, load_ratio)
    # a working point that violates a limit is charted too where the LP finds dispatches that respect
    # them (confirmed by AC); without the working point as a safe end, no vertex is pulled inwards
    charted = np.flatnonzero((reason == CHARTED) | (reason == WORKING_VIOLATION))
    x = np.zeros((n_t, directions, charter.n))
    for t in charted:
        x[t], _ = charter.solve(charter.model(t, v_working[t], np.zeros(charter.n), reason[t] == CHARTED), theta)
    pairs_t = np.repeat(charted, directions)
    pairs_d = np.tile(np.arange(directions), len(charted))
    flows = 0
    xs = x[pairs_t, pairs_d]
    result, feasible, points = charter.evaluate(pairs_t, xs)
    flows += len(pairs_t)
    final = _Final(result, feasible, points)
    share_of = np.ones(len(pairs_t))
    todo = np.flatnonzero(~feasible)
    for _ in range(RELINEARISATIONS):  # re-linearise a vertex at its own AC state and re-solve its LP
        if not len(todo):
            break
        moved = []
        for k in todo:
            if not final.converged(k):
                continue
            model = charter.model(pairs_t[k], final.v[k], xs[k], False)
            new, solved = charter.solve(model, theta[pairs_d[k]:pairs_d[k] + 1])
            if solved[0]:
                xs[k] = new[0]
                moved.append(k)
        if not moved:
            break
        moved = np.array(moved)
        result, ok, points = charter.evaluate(pairs_t[moved], xs[moved])
        flows += len(moved)
        final.update(moved, result, ok, points)
        todo = np.flatnonzero(~final.feasible)
    todo = todo[reason[pairs_t[todo]] == CHARTED]  # pulled towards a working point that is feasible
    low, high = np.zeros(len(todo)), np.ones(len(todo))
    for _ in range(BRACKET_ROUNDS):  # pull inwards: the largest confirmed share of the segment
        if not len(todo):
            break
        steps = np.arange(1, BRACKET) / BRACKET
        shares = low[:, None] + (high - low)[:, None] * steps[None, :]  # (k, B-1)
        trial_t = np.repeat(pairs_t[todo], BRACKET - 1)
        trial_x = (shares.reshape(-1, 1) * np.repeat(xs[todo], BRACKET - 1, axis=0))
        result, ok, points = charter.evaluate(trial_t, trial_x)
        flows += len(trial_t)
        ok = ok.reshape(len(todo), BRACKET - 1)
        best = np.where(ok.any(axis=1), BRACKET - 2 - np.argmax(ok[:, ::-1], axis=1), -1)  # largest confirmed
        width = (high - low) / BRACKET
        for j, k in enumerate(todo):
            if best[j] >= 0:
                row = j * (BRACKET - 1) + best[j]
                final.update(np.array([k]), result.take(row), np.array([True]), [a[row:row + 1] for a in points])
                low[j] = shares[j, best[j]]
            high[j] = low[j] + width[j]  # the next share up failed (or was the old top)
    unconfirmed = todo[~final.feasible[todo]]
    if len(unconfirmed):  # nothing on the segment confirmed: the vertex is the working point itself
        zero = np.zeros((len(unconfirmed), charter.n))
        result, ok, points = charter.evaluate(pairs_t[unconfirmed], zero)
        flows += len(unconfirmed)
        final.update(unconfirmed, result, ok, points)
        low[np.searchsorted(todo, unconfirmed)] = 0.0
    share_of[todo] = low
    still = ~final.feasible  # only if the working point's own batch result disagreed: never stored
    pick = _furthest(np.where(still, np.nan, final.p_pcc), np.where(still, np.nan, final.q_pcc), theta)
    p[pairs_t, pairs_d] = np.where(still, np.nan, final.p_pcc)[pick]
    q[pairs_t, pairs_d] = np.where(still, np.nan, final.q_pcc)[pick]
    share[pairs_t, pairs_d] = np.where(still, np.nan, share_of)[pick]
    dp, dq = _der_values(book, final.points)
    der_p[pairs_t, pairs_d] = np.where(still[:, None], np.nan, dp)[pick]
    der_q[pairs_t, pairs_d] = np.where(still[:, None], np.nan, dq)[pick]
    reason[(reason == WORKING_VIOLATION) & np.isfinite(p).all(axis=1)] = CHARTED_AROUND_VIOLATION
    p[reason == WORKING_VIOLATION] = q[reason == WORKING_VIOLATION] = np.nan
    return FeederPq(np.degrees(theta), p, q, der_p, der_q, reason, share, polygon_area(p, q), flows,
                    charter.lp_solves, time.perf_counter() - started)


def _furthest(p: np.ndarray, q: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """For every (interval, direction) pair (interval-major, as the pairs are laid out), the pair of the
    same interval whose confirmed exchange goes furthest in that direction. The LP of one direction
    may stop short where the AC exchange curves (losses grow with the square of the current, which
    the linear model does not see) while another direction's AC result went further: each direction
    keeps the best confirmed dispatch of its interval, so the chart is the convex polygon of their
    support points, in the order of the directions."""
    n_d = len(theta)
    k = len(p) // n_d
    p, q = p.reshape(k, n_d), q.reshape(k, n_d)
    score = np.cos(theta)[None, :, None] * p[:, None, :] + np.sin(theta)[None, :, None] * q[:, None, :]
    best = np.argmax(np.where(np.isnan(score), -np.inf, score), axis=2)  # (interval, direction): candidate
    own = np.arange(n_d)[None, :]
    score_own = np.take_along_axis(score, own[..., None].repeat(k, axis=0), axis=2)[..., 0]
    best_score = np.take_along_axis(score, best[..., None], axis=2)[..., 0]
    best = np.where(best_score > np.where(np.isnan(score_own), -np.inf, score_own) + 1e-9, best, own)  # ties keep the direction's own vertex
    return (np.arange(k)[:, None] * n_d + best).ravel()


class _Final:
    """The AC result kept for every (interval, direction) pair: replaced as vertices are re-solved."""

    def __init__(self, result, feasible: np.ndarray, points) -> None:
        self.v = result.v.copy()
        self.feasible = feasible.copy()
        self.p_pcc, self.q_pcc = result.p_pcc_mw.copy(), result.q_pcc_mvar.copy()
        self.points = [a.copy() for a in points]
        self._converged = result.converged.copy()

    def converged(self, k: int) -> bool:
        return bool(self._converged[k])

    def update(self, rows: np.ndarray, result, feasible: np.ndarray, points) -> None:
        self.v[rows], self.feasible[rows], self._converged[rows] = result.v, feasible, result.converged
        self.p_pcc[rows], self.q_pcc[rows] = result.p_pcc_mw, result.q_pcc_mvar
        for mine, theirs in zip(self.points, points):
            mine[rows] = theirs


def _der_values(book: BidBook, points) -> tuple[np.ndarray, np.ndarray]:
    """P and Q of every resource (summed over its rows, in its table's convention) at each dispatch."""
    load_p, load_q, sgen_p, sgen_q = points
    der_p = np.zeros((load_p.shape[0], len(book.resources)))
    der_q = der_p.copy()
    for i, r in enumerate(book.resources):
        rows = list(r.rows)
        p_rows, q_rows = (sgen_p, sgen_q) if r.table == "sgen" else (load_p, load_q)
        der_p[:, i], der_q[:, i] = p_rows[:, rows].sum(axis=1), q_rows[:, rows].sum(axis=1)
    return der_p, der_q


def combine_substation(charts: list[FeederPq], working_p: list[np.ndarray], working_q: list[np.ndarray],
                       limit_mva: float) -> SubstationPq:
    """The substation's chart: per direction the sum of the feeders' vertices (support functions of
    convex regions add: the Minkowski sum), a feeder without DERs adding its working-point exchange;
    then clipped by the transformer's apparent-power circle, each direction's vertex the clipped
    region's support point. NaN in an interval where a feeder with DERs has no chart."""
    n_t, n_d = charts[0].p_mw.shape
    p, q = np.zeros((n_t, n_d)), np.zeros((n_t, n_d))
    for chart, p0, q0 in zip(charts, working_p, working_q):
        no_der = chart.reason == NO_DER
        p += np.where(no_der[:, None], p0[:, None], chart.p_mw)
        q += np.where(no_der[:, None], q0[:, None], chart.q_mvar)
    theta = np.radians(charts[0].directions_deg)
    clipped = np.zeros(n_t, dtype=bool)
    circle = 2 * np.pi * np.arange(CIRCLE_SIDES) / CIRCLE_SIDES
    disc = np.stack([limit_mva * np.cos(circle), limit_mva * np.sin(circle)], axis=1)
    for t in range(n_t):
        if not np.isfinite(p[t]).all() or np.hypot(p[t], q[t]).max() <= limit_mva:
            continue
        clipped[t] = True
        polygon = _clip(np.stack([p[t], q[t]], axis=1), disc)
        if not len(polygon):
            p[t], q[t] = np.nan, np.nan
            continue
        best = np.argmax(np.cos(theta)[:, None] * polygon[None, :, 0] + np.sin(theta)[:, None] * polygon[None, :, 1],
                         axis=1)
        p[t], q[t] = polygon[best, 0], polygon[best, 1]
    return SubstationPq(p, q, polygon_area(p, q), clipped, limit_mva)


def _clip(subject: np.ndarray, convex: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman: the part of polygon ``subject`` inside the convex counter-clockwise polygon
    ``convex`` (vertices (k, 2)); empty when they do not meet."""
    out = subject
    for a, b in zip(convex, np.roll(convex, -1, axis=0)):
        if not len(out):
            break
        edge = b - a
        side = edge[0] * (out[:, 1] - a[1]) - edge[1] * (out[:, 0] - a[0])  # >= 0: inside (left of a->b)
        if (side >= 0).all():
            continue
        kept = []
        for i in range(len(out)):
            j = (i + 1) % len(out)
            if side[i] >= 0:
                kept.append(out[i])
            if (side[i] >= 0) != (side[j] >= 0):
                kept.append(out[i] + side[i] / (side[i] - side[j]) * (out[j] - out[i]))
        out = np.array(kept).reshape(-1, 2)
    return out
