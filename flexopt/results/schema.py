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
#: The two directions of an offer, as the tables name them.
DIRECTIONS = ("up", "down")
