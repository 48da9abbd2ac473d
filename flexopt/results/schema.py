"""The dataset contract's codes, defined once: traffic lights and the reasons a point is red.

The engine writes these codes and the reports read them; this module imports nothing
heavy, so reading results never loads Pyomo or pandapower.
"""

from __future__ import annotations

#: Traffic lights, stored as int8 in ``status`` with CF ``flag_values`` / ``flag_meanings``.
GREEN, ORANGE, RED = 0, 1, 2
STATUS_MEANINGS = "green orange red"
#: Why a point is red (0: not red). Codes are stored in ``red_reason`` with these meanings.
REASONS = ("none", "over_voltage", "under_voltage", "line_loading", "transformer_loading", "no_power_flow_solution",
           "solver_failure")
NONE, OVER_VOLTAGE, UNDER_VOLTAGE, LINE, TRANSFORMER, NO_SOLUTION, SOLVER_FAILURE = range(len(REASONS))
#: How a red verdict was established, stored in ``red_established``: by the exact check (the least AC
#: limit excess any allowed dispatch reaches is above zero), by the AC power flow itself when the
#: framework allows no remedy, by a power flow without solution, by the substation's transformer check;
#: or not proven, because the LP solver failed.
RED_ESTABLISHED = ("not_red", "exact_ac_check", "ac_check_no_remedy", "no_power_flow_solution", "transformer_check",
                   "solver_failure")
NOT_RED, BY_EXACT_CHECK, BY_AC_CHECK, BY_NO_SOLUTION, BY_TRANSFORMER_CHECK, BY_SOLVER_FAILURE = \
    range(len(RED_ESTABLISHED))
#: The two directions of an offer, as the tables name them.
DIRECTIONS = ("up", "down")
#: How an interval of a feeder got its P-Q chart (``pq_reason``): charted from a working point within the
#: limits, or from one that violates them (the vertices are dispatches that respect them), or NaN
#: vertices because the feeder has no DER, or its working point violates a limit and no dispatch the LP
#: found was confirmed, or the working point has no power-flow solution.
PQ_REASONS = ("charted", "no_der", "working_point_violation", "no_power_flow_solution",
              "charted_working_point_violates")
CHARTED, NO_DER, WORKING_VIOLATION, WORKING_NO_SOLUTION, CHARTED_AROUND_VIOLATION = range(len(PQ_REASONS))
