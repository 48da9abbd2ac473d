"""Assess stage, LOPF: the cheapest local remedy that removes a violation.

A linear programme per violating point and step (the paper's section 4.3, step b).
Its variables are the total reactive-power changes dQ of the feeder's DG units from
the bid point, bounded by each unit's capability curve at its current active power,
with their magnitudes |dQ|; and, when the framework has a local ancillary-service
market, the active power the DSO redispatches from the feeder's bidding resources
(up and down parts, bounded by what each has left to offer at that point, balanced
so that the exchange offered to the TSO is kept). Constraints: bus voltages and
branch currents, linearised around the current AC solution with sensitivity
coefficients from the AC Jacobian, optionally with margins from the limits, a trust
region around the current changes, and a common limit excess the LP may use and
minimises first (the exact check of ``remedy.py``). Objective: the remuneration of
reactive power (price per Mvarh × |dQ|) plus the redispatched energy at the
resources' bid prices.

The Pyomo model is built once per feeder, with plain float coefficients, and
handed to HiGHS through Pyomo's persistent interface (``pyomo.contrib.appsi``).
Each point then writes its sensitivity coefficients, bounds and prices straight
into that persistent HiGHS model and re-solves it: appsi's own update path
re-evaluates every mutable-parameter expression of the model on each solve
(~14 ms here), writing the numbers directly costs ~1 ms. ``solve_fresh`` solves
the same LP through Pyomo the ordinary way; the tests check both agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo

#: Least weight per Mvar or MW in the objective: with free support, use no more than needed.
FREE_WEIGHT = 1e-3
#: Margins the fast LOPF keeps from the limits so that the AC re-check confirms it.
VOLTAGE_MARGIN_PU = 2e-4
CURRENT_MARGIN_SHARE = 2e-3
#: Weight of the limit excess (per pu of voltage or per unit of ampacity) when the LP minimises
#: the violation first: far above any price, so the violation is minimised before the cost.
EXCESS_WEIGHT = 1e7
#: Sensitivities below this (pu or kA per Mvar or MW) are written as exact zeros.
NEGLIGIBLE = 1e-12

_EMPTY = np.zeros(0)


@dataclass(frozen=True)
class LpSolution:
    status: str  # "optimal", "infeasible" or "failed: ..."
    dq_mvar: np.ndarray  # (unit,) change of reactive power from the bid point, generator convention
    dp_mw: np.ndarray = field(default_factory=lambda: _EMPTY)  # (resource,) redispatched injection (+ more export)
    up_mw: np.ndarray = field(default_factory=lambda: _EMPTY)  # (resource,) its upward part
    down_mw: np.ndarray = field(default_factory=lambda: _EMPTY)  # (resource,) its downward part
    excess: float = 0.0  # the limit excess the linearised network still shows (pu, or share of ampacity)
    cost: float = 0.0  # objective without the excess term (EUR/h, with FREE_WEIGHT floors)


@dataclass(frozen=True)
class LpData:
    """The numbers of one LOPF: sensitivities at the current AC state, limits, rooms and prices.

    The variables are the **total** changes from the bid point (reactive power of each unit,
    upward and downward redispatch of each resource); ``dq_now_mvar``, ``up_now_mw`` and
    ``down_now_mw`` are the changes already made, where the network was linearised (zero at the
    first solve). Rooms are counted from the bid point. With ``allow_excess`` the LP may exceed
    the limits by a common excess it minimises first (the exact check's feasibility phase);
    ``trust_radius`` bounds the move from the current changes (Mvar, MW).
    The redispatch part (``dvm_per_mw`` ...) is empty when the framework has no local market.
    """

    dvm_per_mvar: np.ndarray  # (bus, unit)
    di_per_mvar: np.ndarray  # (current row, unit) kA per Mvar
    vm_pu: np.ndarray  # (bus,)
    v_min_pu: float
    v_max_pu: float
    i_ka: np.ndarray  # (current row,)
    i_max_ka: np.ndarray  # (current row,)
    q_up_room_mvar: np.ndarray  # (unit,) how far each unit may raise Q above its bid-point value
    q_down_room_mvar: np.ndarray  # (unit,) how far it may lower Q below it
    price_eur_per_mvarh: float
    dvm_per_mw: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (bus, resource)
    di_per_mw: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (current row, resource)
    p_up_room_mw: np.ndarray = field(default_factory=lambda: _EMPTY)  # (resource,) more injection on offer
    p_down_room_mw: np.ndarray = field(default_factory=lambda: _EMPTY)  # (resource,) less injection on offer
    p_up_price_eur_per_mwh: np.ndarray = field(default_factory=lambda: _EMPTY)
    p_down_price_eur_per_mwh: np.ndarray = field(default_factory=lambda: _EMPTY)
    dq_now_mvar: np.ndarray | None = None  # (unit,) changes already made; None: none
    up_now_mw: np.ndarray | None = None  # (resource,)
    down_now_mw: np.ndarray | None = None  # (resource,)
    voltage_margin_pu: float = VOLTAGE_MARGIN_PU
    current_margin_share: float = CURRENT_MARGIN_SHARE
    trust_radius: float | None = None
    allow_excess: bool = False

    def now(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The changes already made: reactive (unit,), upward and downward redispatch (resource,)."""
        n_units, n_res = self.dvm_per_mvar.shape[1], len(self.p_up_room_mw)
        dq = np.zeros(n_units) if self.dq_now_mvar is None else np.asarray(self.dq_now_mvar, dtype=float)
        up = np.zeros(n_res) if self.up_now_mw is None else np.asarray(self.up_now_mw, dtype=float)
        down = np.zeros(n_res) if self.down_now_mw is None else np.asarray(self.down_now_mw, dtype=float)
        return dq, up, down

    def bounds(self) -> tuple[np.ndarray, ...]:
        """Row bounds (voltage low, high, current room) and column bounds (dq, up, down) of the LP."""
        dq_now, up_now, down_now = self.now()
        dp_now = up_now - down_now
        shift_v = self.dvm_per_mvar @ dq_now + (self.dvm_per_mw @ dp_now if len(dp_now) else 0.0)
        shift_i = self.di_per_mvar @ dq_now + (self.di_per_mw @ dp_now if len(dp_now) else 0.0)
        v_low = self.v_min_pu + self.voltage_margin_pu - self.vm_pu + shift_v
        v_high = self.v_max_pu - self.voltage_margin_pu - self.vm_pu + shift_v
        i_room = self.i_max_ka * (1 - self.current_margin_share) - self.i_ka + shift_i
        dq_low = -np.clip(self.q_down_room_mvar, 0, None)
        dq_high = np.clip(self.q_up_room_mvar, 0, None)
        up_high = np.clip(self.p_up_room_mw, 0, None)
        down_high = np.clip(self.p_down_room_mw, 0, None)
        up_low, down_low = np.zeros_like(up_high), np.zeros_like(down_high)
        if self.trust_radius is not None:
            r = float(self.trust_radius)
            dq_low, dq_high = _within(dq_low, dq_high, dq_now - r, dq_now + r)
            up_low, up_high = _within(up_low, up_high, up_now - r, up_now + r)
            down_low, down_high = _within(down_low, down_high, down_now - r, down_now + r)
        return v_low, v_high, i_room, dq_low, dq_high, up_low, up_high, down_low, down_high

    @property
    def q_weight(self) -> float:
        return max(float(self.price_eur_per_mvarh), FREE_WEIGHT)

    @property
    def p_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Objective weights of redispatching up and down: the bid prices, never below FREE_WEIGHT
        (a negative price must not make the DSO redispatch for profit)."""
        return (np.maximum(self.p_up_price_eur_per_mwh, FREE_WEIGHT),
                np.maximum(self.p_down_price_eur_per_mwh, FREE_WEIGHT))

    def cost(self, dq: np.ndarray, up: np.ndarray, down: np.ndarray) -> float:
        """The LP's objective (without the excess) at given total changes."""
        up_weight, down_weight = self.p_weights
        return float(self.q_weight * np.abs(dq).sum() + up_weight @ up + down_weight @ down)


def _within(low: np.ndarray, high: np.ndarray, trust_low: np.ndarray, trust_high: np.ndarray):
    """Intersect [low, high] with a trust box; a box outside the range collapses onto its nearest edge."""
    new_low = np.minimum(np.maximum(low, trust_low), high)
    new_high = np.maximum(np.minimum(high, trust_high), new_low)
    return new_low, new_high


def build_model(n_units: int, n_buses: int, n_rows: int, n_resources: int = 0,
                data: LpData | None = None) -> pyo.ConcreteModel:
    """The LOPF as a Pyomo model; with ``data`` its coefficients, otherwise placeholders (1.0)."""
    m = pyo.ConcreteModel()
    m.U = pyo.RangeSet(0, n_units - 1)
    m.B = pyo.RangeSet(0, n_buses - 1)
    m.R = pyo.RangeSet(0, n_rows - 1)
    m.G = pyo.RangeSet(0, n_resources - 1)
    if data is None:
        sv, si = np.ones((n_buses, n_units)), np.ones((n_rows, n_units))
        pv, pi = np.ones((n_buses, n_resources)), np.ones((n_rows, n_resources))
        i_max = np.ones(n_rows)
        v_low, v_high, i_room = -np.ones(n_buses), np.ones(n_buses), np.ones(n_rows)
        dq_low, dq_high, q_weight = -np.ones(n_units), np.ones(n_units), 1.0
        up_low = down_low = np.zeros(n_resources)
        up_high = down_high = up_weight = down_weight = np.ones(n_resources)
        excess_high = 0.0
    else:
        sv, si, pv, pi = data.dvm_per_mvar, data.di_per_mvar, data.dvm_per_mw, data.di_per_mw
        i_max = data.i_max_ka
        v_low, v_high, i_room, dq_low, dq_high, up_low, up_high, down_low, down_high = data.bounds()
        q_weight = data.q_weight
        up_weight, down_weight = data.p_weights
        excess_high = None if data.allow_excess else 0.0
    m.dq = pyo.Var(m.U, bounds=lambda m, u: (float(dq_low[u]), float(dq_high[u])))
    m.size = pyo.Var(m.U, domain=pyo.NonNegativeReals)
    m.up = pyo.Var(m.G, bounds=lambda m, g: (float(up_low[g]), float(up_high[g])))
    m.down = pyo.Var(m.G, bounds=lambda m, g: (float(down_low[g]), float(down_high[g])))
    m.excess = pyo.Var(bounds=(0.0, excess_high))
    m.size_above = pyo.Constraint(m.U, rule=lambda m, u: m.size[u] - m.dq[u] >= 0)
    m.size_below = pyo.Constraint(m.U, rule=lambda m, u: m.size[u] + m.dq[u] >= 0)

    def change(m, coefficients_q, coefficients_p, row):
        return (sum(float(coefficients_q[row, u]) * m.dq[u] for u in m.U)
                + sum(float(coefficients_p[row, g]) * (m.up[g] - m.down[g]) for g in m.G))

    m.voltage_low = pyo.Constraint(m.B, rule=lambda m, b: change(m, sv, pv, b) + m.excess >= float(v_low[b]))
    m.voltage_high = pyo.Constraint(m.B, rule=lambda m, b: change(m, sv, pv, b) - m.excess <= float(v_high[b]))
    m.current = pyo.Constraint(m.R, rule=lambda m, r: change(m, si, pi, r) - float(i_max[r]) * m.excess
                               <= float(i_room[r]))
    if n_resources:  # counter-trading: the exchange offered to the TSO is kept
        m.balance = pyo.Constraint(expr=sum(m.up[g] - m.down[g] for g in m.G) == 0)
    m.cost = pyo.Objective(expr=q_weight * sum(m.size[u] for u in m.U)
                           + sum(float(up_weight[g]) * m.up[g] + float(down_weight[g]) * m.down[g] for g in m.G)
                           + EXCESS_WEIGHT * m.excess, sense=pyo.minimize)
    return m


def _clean(values: np.ndarray) -> np.ndarray:
    return np.where(np.abs(values) < NEGLIGIBLE, 0.0, values)


class ReactiveLp:
    """A feeder's LOPF, built once and re-solved for every violating point and iteration.

    ``n_resources`` > 0 adds the active-power redispatch of a local ancillary-service market.
    """

    def __init__(self, n_units: int, n_buses: int, n_rows: int, n_resources: int = 0) -> None:
        from pyomo.contrib.appsi.solvers import Highs

        self.n_units, self.n_buses, self.n_rows, self.n_resources = n_units, n_buses, n_rows, n_resources
        self.model = build_model(n_units, n_buses, n_rows, n_resources)
        self.solver = Highs()
        self.solver.set_instance(self.model)
        self.highs = self.solver._solver_model  # the persistent highspy.Highs instance appsi manages
        self.highs.setOptionValue("output_flag", False)
        var_col = self.solver._pyomo_var_to_solver_var_map
        con_row = self.solver._pyomo_con_to_solver_con_map
        m = self.model
        self.dq_cols = np.array([var_col[id(m.dq[u])] for u in m.U], dtype=np.int32)
        self.size_cols = np.array([var_col[id(m.size[u])] for u in m.U], dtype=np.int32)
        self.up_cols = np.array([var_col[id(m.up[g])] for g in m.G], dtype=np.int32)
        self.down_cols = np.array([var_col[id(m.down[g])] for g in m.G], dtype=np.int32)
        self.excess_col = np.array([var_col[id(m.excess)]], dtype=np.int32)
        self.v_low_rows = np.array([con_row[m.voltage_low[b]] for b in m.B], dtype=np.int32)
        self.v_high_rows = np.array([con_row[m.voltage_high[b]] for b in m.B], dtype=np.int32)
        self.current_rows = np.array([con_row[m.current[r]] for r in m.R], dtype=np.int32)
        # The last coefficients written, per block: only changes are sent.
        self._written = {key: np.ones(shape) for key, shape in (
            ("vq", (n_buses, n_units)), ("iq", (n_rows, n_units)), ("vp", (n_buses, n_resources)),
            ("ip", (n_rows, n_resources)), ("ie", (n_rows, 1)))}

    def _write(self, key: str, row_sets: list[np.ndarray], columns: list[tuple[np.ndarray, float]],
               values: np.ndarray) -> None:
        i, j = np.nonzero(values != self._written[key])  # only changes are sent (two zeros compare equal)
        if len(i):
            change = self.highs.changeCoeff
            new = values[i, j]
            for rows in row_sets:  # one C call per coefficient, with the indices and values as Python numbers
                for cols, sign in columns:
                    for row, col, value in zip(rows[i].tolist(), cols[j].tolist(), (sign * new).tolist()):
                        change(row, col, value)
        self._written[key] = values

    def solve(self, data: LpData) -> LpSolution:
        """Write the point's numbers into the persistent HiGHS model and solve it."""
        import highspy

        h = self.highs
        inf = highspy.kHighsInf
        voltage = [self.v_low_rows, self.v_high_rows]
        self._write("vq", voltage, [(self.dq_cols, 1.0)], _clean(data.dvm_per_mvar))
        self._write("iq", [self.current_rows], [(self.dq_cols, 1.0)], _clean(data.di_per_mvar))
        self._write("ie", [self.current_rows], [(self.excess_col, -1.0)], data.i_max_ka.astype(float)[:, None])
        v_low, v_high, i_room, dq_low, dq_high, up_low, up_high, down_low, down_high = data.bounds()
        n_b = self.n_buses
        h.changeRowsBounds(n_b, self.v_low_rows, v_low.astype(float), np.full(n_b, inf))
        h.changeRowsBounds(n_b, self.v_high_rows, np.full(n_b, -inf), v_high.astype(float))
        h.changeRowsBounds(self.n_rows, self.current_rows, np.full(self.n_rows, -inf), i_room.astype(float))
        h.changeColsBounds(1, self.excess_col, np.zeros(1), np.full(1, inf if data.allow_excess else 0.0))
        if self.n_units:
            h.changeColsBounds(self.n_units, self.dq_cols, dq_low.astype(float), dq_high.astype(float))
            h.changeColsCost(self.n_units, self.size_cols, np.full(self.n_units, data.q_weight))
        if self.n_resources:
            self._write("vp", voltage, [(self.up_cols, 1.0), (self.down_cols, -1.0)], _clean(data.dvm_per_mw))
            self._write("ip", [self.current_rows], [(self.up_cols, 1.0), (self.down_cols, -1.0)],
                        _clean(data.di_per_mw))
            h.changeColsBounds(self.n_resources, self.up_cols, up_low.astype(float), up_high.astype(float))
            h.changeColsBounds(self.n_resources, self.down_cols, down_low.astype(float), down_high.astype(float))
            up_weight, down_weight = data.p_weights
            h.changeColsCost(self.n_resources, self.up_cols, up_weight.astype(float))
            h.changeColsCost(self.n_resources, self.down_cols, down_weight.astype(float))
        try:
            h.run()
            status = h.getModelStatus()
        except Exception as err:  # noqa: BLE001 - a solver failure classifies the point, it never ends the run
            return self._empty(f"failed: {err}")
        if status == highspy.HighsModelStatus.kOptimal:
            values = np.asarray(h.getSolution().col_value)
            return _solution(data, values[self.dq_cols], values[self.up_cols], values[self.down_cols],
                             float(values[self.excess_col[0]]))
        if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return self._empty("infeasible")
        return self._empty(f"failed: {h.modelStatusToString(status)}")

    def _empty(self, status: str) -> LpSolution:
        zeros = np.zeros(self.n_resources)
        return LpSolution(status, np.zeros(self.n_units), zeros, zeros, zeros)


def _solution(data: LpData, dq: np.ndarray, up: np.ndarray, down: np.ndarray, excess: float) -> LpSolution:
    return LpSolution("optimal", dq, up - down, up, down, max(excess, 0.0), data.cost(dq, up, down))


def solve_fresh(data: LpData) -> LpSolution:
    """The same LP built from scratch and solved through Pyomo's ordinary path (reference for tests)."""
    from pyomo.contrib.appsi.base import TerminationCondition
    from pyomo.contrib.appsi.solvers import Highs

    n_buses, n_units = data.dvm_per_mvar.shape
    n_resources = len(data.p_up_room_mw)
    m = build_model(n_units, n_buses, data.di_per_mvar.shape[0], n_resources, data)
    solver = Highs()
    solver.config.load_solution = False
    result = solver.solve(m)
    zeros = np.zeros(n_resources)
    if result.termination_condition == TerminationCondition.optimal:
        result.solution_loader.load_vars()
        return _solution(data, np.array([pyo.value(m.dq[u]) for u in m.U]), np.array([pyo.value(m.up[g]) for g in m.G]),
                         np.array([pyo.value(m.down[g]) for g in m.G]), float(pyo.value(m.excess)))
    if result.termination_condition in (TerminationCondition.infeasible, TerminationCondition.infeasibleOrUnbounded):
        return LpSolution("infeasible", np.zeros(n_units), zeros, zeros, zeros)
    return LpSolution(f"failed: {result.termination_condition.name}", np.zeros(n_units), zeros, zeros, zeros)
