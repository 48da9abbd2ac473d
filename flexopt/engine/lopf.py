"""Assess stage, LOPF: the cheapest local remedy that removes a violation.

A linear programme per violating point (the paper's section 4.3, step b). Its
variables are the reactive-power changes dQ of the feeder's DG units, bounded by
each unit's capability curve at its current active power, with their magnitudes
|dQ|; and, when the framework has a local ancillary-service market, the active
power the DSO redispatches from the feeder's bidding resources (up and down parts,
bounded by what each has left to offer at that point, balanced so that the
exchange offered to the TSO is kept). Constraints: bus voltages and branch
currents, linearised around the AC solution with sensitivity coefficients from
the AC Jacobian. Objective: the remuneration of reactive power (price per Mvarh
× |dQ|) plus the redispatched energy at the resources' bid prices.

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
#: Margins the LP keeps from the limits so that the AC re-check confirms it.
VOLTAGE_MARGIN_PU = 2e-4
CURRENT_MARGIN_SHARE = 2e-3
#: Sensitivities below this (pu or kA per Mvar or MW) are written as exact zeros.
NEGLIGIBLE = 1e-12

_EMPTY = np.zeros(0)


@dataclass(frozen=True)
class LpSolution:
    status: str  # "optimal", "infeasible" or "failed: ..."
    dq_mvar: np.ndarray  # (unit,) change of reactive power, generator convention
    dp_mw: np.ndarray = field(default_factory=lambda: _EMPTY)  # (resource,) redispatched injection (+ more export)


@dataclass(frozen=True)
class LpData:
    """The numbers of one LOPF: sensitivities, limits as room left, capability room and prices.

    The redispatch part (``dvm_per_mw`` ...) is empty when the framework has no local market.
    """

    dvm_per_mvar: np.ndarray  # (bus, unit)
    di_per_mvar: np.ndarray  # (current row, unit) kA per Mvar
    vm_pu: np.ndarray  # (bus,)
    v_min_pu: float
    v_max_pu: float
    i_ka: np.ndarray  # (current row,)
    i_max_ka: np.ndarray  # (current row,)
    q_up_room_mvar: np.ndarray  # (unit,) how far each unit may raise Q
    q_down_room_mvar: np.ndarray  # (unit,) how far it may lower Q
    price_eur_per_mvarh: float
    dvm_per_mw: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (bus, resource)
    di_per_mw: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (current row, resource)
    p_up_room_mw: np.ndarray = field(default_factory=lambda: _EMPTY)  # (resource,) more injection on offer
    p_down_room_mw: np.ndarray = field(default_factory=lambda: _EMPTY)  # (resource,) less injection on offer
    p_up_price_eur_per_mwh: np.ndarray = field(default_factory=lambda: _EMPTY)
    p_down_price_eur_per_mwh: np.ndarray = field(default_factory=lambda: _EMPTY)

    def bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        v_low = self.v_min_pu + VOLTAGE_MARGIN_PU - self.vm_pu
        v_high = self.v_max_pu - VOLTAGE_MARGIN_PU - self.vm_pu
        i_room = self.i_max_ka * (1 - CURRENT_MARGIN_SHARE) - self.i_ka
        dq_low = -np.clip(self.q_down_room_mvar, 0, None)
        dq_high = np.clip(self.q_up_room_mvar, 0, None)
        return v_low, v_high, i_room, dq_low, dq_high

    @property
    def q_weight(self) -> float:
        return max(float(self.price_eur_per_mvarh), FREE_WEIGHT)

    @property
    def p_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Objective weights of redispatching up and down: the bid prices, never below FREE_WEIGHT
        (a negative price must not make the DSO redispatch for profit)."""
        return (np.maximum(self.p_up_price_eur_per_mwh, FREE_WEIGHT),
                np.maximum(self.p_down_price_eur_per_mwh, FREE_WEIGHT))


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
        v_low, v_high, i_room = -np.ones(n_buses), np.ones(n_buses), np.ones(n_rows)
        dq_low, dq_high, q_weight = -np.ones(n_units), np.ones(n_units), 1.0
        up_room = down_room = up_weight = down_weight = np.ones(n_resources)
    else:
        sv, si, pv, pi = data.dvm_per_mvar, data.di_per_mvar, data.dvm_per_mw, data.di_per_mw
        v_low, v_high, i_room, dq_low, dq_high = data.bounds()
        q_weight = data.q_weight
        up_room, down_room = np.clip(data.p_up_room_mw, 0, None), np.clip(data.p_down_room_mw, 0, None)
        up_weight, down_weight = data.p_weights
    m.dq = pyo.Var(m.U, bounds=lambda m, u: (float(dq_low[u]), float(dq_high[u])))
    m.size = pyo.Var(m.U, domain=pyo.NonNegativeReals)
    m.up = pyo.Var(m.G, bounds=lambda m, g: (0.0, float(up_room[g])))
    m.down = pyo.Var(m.G, bounds=lambda m, g: (0.0, float(down_room[g])))
    m.size_above = pyo.Constraint(m.U, rule=lambda m, u: m.size[u] - m.dq[u] >= 0)
    m.size_below = pyo.Constraint(m.U, rule=lambda m, u: m.size[u] + m.dq[u] >= 0)

    def change(m, coefficients_q, coefficients_p, row):
        return (sum(float(coefficients_q[row, u]) * m.dq[u] for u in m.U)
                + sum(float(coefficients_p[row, g]) * (m.up[g] - m.down[g]) for g in m.G))

    m.voltage = pyo.Constraint(m.B, rule=lambda m, b: pyo.inequality(float(v_low[b]), change(m, sv, pv, b),
                                                                     float(v_high[b])))
    m.current = pyo.Constraint(m.R, rule=lambda m, r: change(m, si, pi, r) <= float(i_room[r]))
    if n_resources:  # counter-trading: the exchange offered to the TSO is kept
        m.balance = pyo.Constraint(expr=sum(m.up[g] - m.down[g] for g in m.G) == 0)
    m.cost = pyo.Objective(expr=q_weight * sum(m.size[u] for u in m.U)
                           + sum(float(up_weight[g]) * m.up[g] + float(down_weight[g]) * m.down[g] for g in m.G),
                           sense=pyo.minimize)
    return m


def _clean(values: np.ndarray) -> np.ndarray:
    return np.where(np.abs(values) < NEGLIGIBLE, 0.0, values)


class ReactiveLp:
    """A feeder's LOPF, built once and re-solved for every violating point.

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
        self.voltage_rows = np.array([con_row[m.voltage[b]] for b in m.B], dtype=np.int32)
        self.current_rows = np.array([con_row[m.current[r]] for r in m.R], dtype=np.int32)
        # The last coefficients written, per block (rows, columns, sign): only changes are sent.
        self._written = {key: np.ones(shape) for key, shape in (
            ("vq", (n_buses, n_units)), ("iq", (n_rows, n_units)), ("vp", (n_buses, n_resources)),
            ("ip", (n_rows, n_resources)))}

    def _write(self, key: str, rows: np.ndarray, columns: list[tuple[np.ndarray, float]], values: np.ndarray) -> None:
        old = self._written[key]
        changed = np.argwhere(values != old)
        h = self.highs
        for i, j in changed:
            if values[i, j] == 0.0 and old[i, j] == 0.0:
                continue
            for cols, sign in columns:
                h.changeCoeff(int(rows[i]), int(cols[j]), float(sign * values[i, j]))
        self._written[key] = values

    def solve(self, data: LpData) -> LpSolution:
        """Write the point's numbers into the persistent HiGHS model and solve it."""
        import highspy

        h = self.highs
        self._write("vq", self.voltage_rows, [(self.dq_cols, 1.0)], _clean(data.dvm_per_mvar))
        self._write("iq", self.current_rows, [(self.dq_cols, 1.0)], _clean(data.di_per_mvar))
        v_low, v_high, i_room, dq_low, dq_high = data.bounds()
        h.changeRowsBounds(len(self.voltage_rows), self.voltage_rows, v_low.astype(float), v_high.astype(float))
        h.changeRowsBounds(len(self.current_rows), self.current_rows, np.full(self.n_rows, -highspy.kHighsInf),
                           i_room.astype(float))
        if self.n_units:
            h.changeColsBounds(self.n_units, self.dq_cols, dq_low.astype(float), dq_high.astype(float))
            h.changeColsCost(self.n_units, self.size_cols, np.full(self.n_units, data.q_weight))
        if self.n_resources:
            self._write("vp", self.voltage_rows, [(self.up_cols, 1.0), (self.down_cols, -1.0)], _clean(data.dvm_per_mw))
            self._write("ip", self.current_rows, [(self.up_cols, 1.0), (self.down_cols, -1.0)], _clean(data.di_per_mw))
            zeros = np.zeros(self.n_resources)
            h.changeColsBounds(self.n_resources, self.up_cols, zeros, np.clip(data.p_up_room_mw, 0, None).astype(float))
            h.changeColsBounds(self.n_resources, self.down_cols, zeros,
                               np.clip(data.p_down_room_mw, 0, None).astype(float))
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
            return LpSolution("optimal", values[self.dq_cols], values[self.up_cols] - values[self.down_cols])
        if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return self._empty("infeasible")
        return self._empty(f"failed: {h.modelStatusToString(status)}")

    def _empty(self, status: str) -> LpSolution:
        return LpSolution(status, np.zeros(self.n_units), np.zeros(self.n_resources))


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
    if result.termination_condition == TerminationCondition.optimal:
        result.solution_loader.load_vars()
        dp = np.array([pyo.value(m.up[g]) - pyo.value(m.down[g]) for g in m.G])
        return LpSolution("optimal", np.array([pyo.value(m.dq[u]) for u in m.U]), dp)
    if result.termination_condition in (TerminationCondition.infeasible, TerminationCondition.infeasibleOrUnbounded):
        return LpSolution("infeasible", np.zeros(n_units), np.zeros(n_resources))
    return LpSolution(f"failed: {result.termination_condition.name}", np.zeros(n_units), np.zeros(n_resources))
