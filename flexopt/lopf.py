"""Assess stage, LOPF: the cheapest reactive support from DG that removes a violation.

A linear programme per violating point (the paper's section 4.3, step b): the
variables are the reactive-power changes dQ of the feeder's DG units, bounded by
each unit's capability curve at its current active power, and their magnitudes
|dQ|; the constraints are the bus voltages and branch currents, linearised
around the AC solution with sensitivity coefficients from the AC Jacobian; the
objective is the remuneration of reactive power (price per Mvarh times |dQ|).

The Pyomo model is built once per feeder, with plain float coefficients, and
handed to HiGHS through Pyomo's persistent interface (``pyomo.contrib.appsi``).
Each point then writes its sensitivity coefficients, bounds and price straight
into that persistent HiGHS model and re-solves it: appsi's own update path
re-evaluates every mutable-parameter expression of the model on each solve
(~14 ms here), writing the numbers directly costs ~1 ms. ``solve_fresh`` solves
the same LP through Pyomo the ordinary way; the tests check both agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

#: Tie-breaking weight per Mvar when reactive support is free: use no more Q than needed.
FREE_Q_WEIGHT = 1e-3
#: Margins the LP keeps from the limits so that the AC re-check confirms it.
VOLTAGE_MARGIN_PU = 2e-4
CURRENT_MARGIN_SHARE = 2e-3
#: Sensitivities below this (pu or kA per Mvar) are written as exact zeros.
NEGLIGIBLE = 1e-12


@dataclass(frozen=True)
class LpSolution:
    status: str  # "optimal", "infeasible" or "failed: ..."
    dq_mvar: np.ndarray  # (unit,) change of reactive power, generator convention


@dataclass(frozen=True)
class LpData:
    """The numbers of one LOPF: sensitivities, limits as room left, capability room and price."""

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

    def bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        v_low = self.v_min_pu + VOLTAGE_MARGIN_PU - self.vm_pu
        v_high = self.v_max_pu - VOLTAGE_MARGIN_PU - self.vm_pu
        i_room = self.i_max_ka * (1 - CURRENT_MARGIN_SHARE) - self.i_ka
        dq_low = -np.clip(self.q_down_room_mvar, 0, None)
        dq_high = np.clip(self.q_up_room_mvar, 0, None)
        return v_low, v_high, i_room, dq_low, dq_high

    @property
    def cost_weight(self) -> float:
        return max(float(self.price_eur_per_mvarh), FREE_Q_WEIGHT)


def build_model(n_units: int, n_buses: int, n_rows: int, data: LpData | None = None) -> pyo.ConcreteModel:
    """The LOPF as a Pyomo model; with ``data`` its coefficients, otherwise placeholders (1.0)."""
    m = pyo.ConcreteModel()
    m.U = pyo.RangeSet(0, n_units - 1)
    m.B = pyo.RangeSet(0, n_buses - 1)
    m.R = pyo.RangeSet(0, n_rows - 1)
    if data is None:
        sv = np.ones((n_buses, n_units))
        si = np.ones((n_rows, n_units))
        v_low, v_high, i_room = -np.ones(n_buses), np.ones(n_buses), np.ones(n_rows)
        dq_low, dq_high, weight = -np.ones(n_units), np.ones(n_units), 1.0
    else:
        sv, si = data.dvm_per_mvar, data.di_per_mvar
        v_low, v_high, i_room, dq_low, dq_high = data.bounds()
        weight = data.cost_weight
    m.dq = pyo.Var(m.U, bounds=lambda m, u: (float(dq_low[u]), float(dq_high[u])))
    m.size = pyo.Var(m.U, domain=pyo.NonNegativeReals)
    m.size_above = pyo.Constraint(m.U, rule=lambda m, u: m.size[u] - m.dq[u] >= 0)
    m.size_below = pyo.Constraint(m.U, rule=lambda m, u: m.size[u] + m.dq[u] >= 0)
    m.voltage = pyo.Constraint(m.B, rule=lambda m, b: pyo.inequality(
        float(v_low[b]), sum(float(sv[b, u]) * m.dq[u] for u in m.U), float(v_high[b])))
    m.current = pyo.Constraint(m.R, rule=lambda m, r: sum(float(si[r, u]) * m.dq[u] for u in m.U) <= float(i_room[r]))
    m.cost = pyo.Objective(expr=weight * sum(m.size[u] for u in m.U), sense=pyo.minimize)
    return m


def _clean(values: np.ndarray) -> np.ndarray:
    return np.where(np.abs(values) < NEGLIGIBLE, 0.0, values)


class ReactiveLp:
    """A feeder's LOPF, built once and re-solved for every violating point."""

    def __init__(self, n_units: int, n_buses: int, n_rows: int) -> None:
        from pyomo.contrib.appsi.solvers import Highs

        self.n_units, self.n_buses, self.n_rows = n_units, n_buses, n_rows
        self.model = build_model(n_units, n_buses, n_rows)
        self.solver = Highs()
        self.solver.set_instance(self.model)
        self.highs = self.solver._solver_model  # the persistent highspy.Highs instance appsi manages
        self.highs.setOptionValue("output_flag", False)
        var_col = self.solver._pyomo_var_to_solver_var_map
        con_row = self.solver._pyomo_con_to_solver_con_map
        m = self.model
        self.dq_cols = np.array([var_col[id(m.dq[u])] for u in m.U], dtype=np.int32)
        self.size_cols = np.array([var_col[id(m.size[u])] for u in m.U], dtype=np.int32)
        self.voltage_rows = np.array([con_row[m.voltage[b]] for b in m.B], dtype=np.int32)
        self.current_rows = np.array([con_row[m.current[r]] for r in m.R], dtype=np.int32)
        self._sv = np.ones((n_buses, n_units))
        self._si = np.ones((n_rows, n_units))

    def solve(self, data: LpData) -> LpSolution:
        """Write the point's numbers into the persistent HiGHS model and solve it."""
        import highspy

        h = self.highs
        sv, si = _clean(data.dvm_per_mvar), _clean(data.di_per_mvar)
        for rows, new, old in ((self.voltage_rows, sv, self._sv), (self.current_rows, si, self._si)):
            changed = np.argwhere(new != old)
            for i, u in changed:
                if new[i, u] == 0.0 and old[i, u] == 0.0:
                    continue
                h.changeCoeff(int(rows[i]), int(self.dq_cols[u]), float(new[i, u]))
        self._sv, self._si = sv, si
        v_low, v_high, i_room, dq_low, dq_high = data.bounds()
        h.changeRowsBounds(len(self.voltage_rows), self.voltage_rows, v_low.astype(float), v_high.astype(float))
        h.changeRowsBounds(len(self.current_rows), self.current_rows, np.full(self.n_rows, -highspy.kHighsInf),
                           i_room.astype(float))
        h.changeColsBounds(self.n_units, self.dq_cols, dq_low.astype(float), dq_high.astype(float))
        h.changeColsCost(self.n_units, self.size_cols, np.full(self.n_units, data.cost_weight))
        try:
            h.run()
            status = h.getModelStatus()
        except Exception as err:  # noqa: BLE001 - a solver failure classifies the point, it never ends the run
            return LpSolution(f"failed: {err}", np.zeros(self.n_units))
        if status == highspy.HighsModelStatus.kOptimal:
            values = np.asarray(h.getSolution().col_value)
            return LpSolution("optimal", values[self.dq_cols])
        if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return LpSolution("infeasible", np.zeros(self.n_units))
        return LpSolution(f"failed: {h.modelStatusToString(status)}", np.zeros(self.n_units))


def solve_fresh(data: LpData) -> LpSolution:
    """The same LP built from scratch and solved through Pyomo's ordinary path (reference for tests)."""
    from pyomo.contrib.appsi.base import TerminationCondition
    from pyomo.contrib.appsi.solvers import Highs

    n_buses, n_units = data.dvm_per_mvar.shape
    m = build_model(n_units, n_buses, data.di_per_mvar.shape[0], data)
    solver = Highs()
    solver.config.load_solution = False
    result = solver.solve(m)
    if result.termination_condition == TerminationCondition.optimal:
        result.solution_loader.load_vars()
        return LpSolution("optimal", np.array([pyo.value(m.dq[u]) for u in m.U]))
    if result.termination_condition in (TerminationCondition.infeasible, TerminationCondition.infeasibleOrUnbounded):
        return LpSolution("infeasible", np.zeros(n_units))
    return LpSolution(f"failed: {result.termination_condition.name}", np.zeros(n_units))
