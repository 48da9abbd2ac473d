"""Price expressions: a tiny arithmetic over numbers and named prices, with units.

A scenario writes a bid price as ``2 * sell`` or ``min(fuel, 1.1 * buy)``. The
grammar parses it into these frozen nodes; this module checks its unit and
evaluates it over the typical-day intervals. Nothing here calls ``eval``: a
scenario file can never run Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Union

import numpy as np

from flexopt.errors import Span

#: Unit "kinds" of price expressions. "1" is a plain number.
DIMENSIONLESS = "1"
PER_MWH = "EUR/MWh"
PER_MVARH = "EUR/Mvarh"

#: Units a number in a price expression may carry, with their factor to the model unit.
PRICE_UNITS: dict[str, tuple[str, float]] = {
    "EUR/MWh": (PER_MWH, 1.0),
    "EUR/kWh": (PER_MWH, 1000.0),
    "EUR/Mvarh": (PER_MVARH, 1.0),
    "EUR/kvarh": (PER_MVARH, 1000.0),
    "%": (DIMENSIONLESS, 0.01),
}


@dataclass(frozen=True)
class Number:
    """A constant, already converted to the model unit (EUR/MWh, EUR/Mvarh or plain)."""

    value: float
    unit: str
    span: Span


@dataclass(frozen=True)
class PriceRef:
    """A reference to a named price (``sell``, ``buy``, ``fuel``, ...)."""

    name: str
    span: Span


@dataclass(frozen=True)
class BinaryOp:
    op: str  # one of + - * /
    left: "Expr"
    right: "Expr"
    span: Span


@dataclass(frozen=True)
class Negate:
    operand: "Expr"
    span: Span


@dataclass(frozen=True)
class Call:
    function: str  # "min" or "max"
    args: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True)
class Rebased:
    """``x per Mvarh``: the value of an energy price ``x`` paid per unit of reactive energy."""

    operand: "Expr"
    unit: str
    span: Span


Expr = Union[Number, PriceRef, BinaryOp, Negate, Call, Rebased]


class ExpressionUnitError(Exception):
    """A unit mismatch inside an expression, with the place it happens."""

    def __init__(self, message: str, span: Span, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint


def references(expr: Expr) -> list[PriceRef]:
    """Every named price an expression refers to, in reading order."""
    if isinstance(expr, PriceRef):
        return [expr]
    if isinstance(expr, BinaryOp):
        return references(expr.left) + references(expr.right)
    if isinstance(expr, (Negate, Rebased)):
        return references(expr.operand)
    if isinstance(expr, Call):
        return [r for a in expr.args for r in references(a)]
    return []


def unit_of(expr: Expr, price_unit: Callable[[str], str]) -> str:
    """The unit an expression evaluates to; raises ExpressionUnitError on a mismatch.

    ``price_unit(name)`` gives the unit of a named price. Rules: + - min max need
    equal units; a price times a plain number is a price; a price divided by a
    price is a plain number; a price times a price has no meaning.
    """
    if isinstance(expr, Number):
        return expr.unit
    if isinstance(expr, PriceRef):
        return price_unit(expr.name)
    if isinstance(expr, Rebased):
        unit_of(expr.operand, price_unit)
        return expr.unit
    if isinstance(expr, Negate):
        return unit_of(expr.operand, price_unit)
    if isinstance(expr, Call):
        units = [unit_of(a, price_unit) for a in expr.args]
        return _same_unit(units, f"{expr.function}(...)", expr.span)
    left = unit_of(expr.left, price_unit)
    right = unit_of(expr.right, price_unit)
    if expr.op in "+-":
        return _same_unit([left, right], f"'{expr.op}'", expr.span)
    if expr.op == "*":
        if left == DIMENSIONLESS:
            return right
        if right == DIMENSIONLESS:
            return left
        raise ExpressionUnitError(
            f"cannot multiply {left} by {right}", expr.span, "multiply a price by a plain number, e.g. 0.9 * buy"
        )
    # division
    if right == DIMENSIONLESS:
        return left
    if left == right:
        return DIMENSIONLESS
    raise ExpressionUnitError(
        f"cannot divide {describe(left)} by {describe(right)}", expr.span,
        "divide a price by a plain number, or a price by a price of the same unit"
    )


def describe(unit: str) -> str:
    """A unit for a message: the unit itself, or "a plain number" for a number without one."""
    return "a plain number" if unit == DIMENSIONLESS else unit


def _same_unit(units: list[str], what: str, span: Span) -> str:
    distinct = sorted(set(units))
    if len(distinct) == 1:
        return distinct[0]
    shown = " and ".join(describe(u) for u in distinct)
    hint = "give constants their unit, e.g. 5 EUR/MWh" if DIMENSIONLESS in distinct else None
    raise ExpressionUnitError(f"{what} mixes {shown}", span, hint)


PriceValues = Mapping[str, Union[float, np.ndarray]]


def evaluate(expr: Expr, prices: PriceValues) -> np.ndarray | float:
    """Value of an expression, element-wise over the intervals of the named price arrays."""
    if isinstance(expr, Number):
        return expr.value
    if isinstance(expr, PriceRef):
        return prices[expr.name]
    if isinstance(expr, Rebased):
        return evaluate(expr.operand, prices)
    if isinstance(expr, Negate):
        return -evaluate(expr.operand, prices)
    if isinstance(expr, Call):
        values = [evaluate(a, prices) for a in expr.args]
        reduce = np.maximum if expr.function == "max" else np.minimum
        result = values[0]
        for v in values[1:]:
            result = reduce(result, v)
        return result
    left = evaluate(expr.left, prices)
    right = evaluate(expr.right, prices)
    if expr.op == "+":
        return left + right
    if expr.op == "-":
        return left - right
    if expr.op == "*":
        return left * right
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(left, right)


def constant_value(expr: Expr) -> float | None:
    """The value of an expression that refers to no named price (``-0``, ``1 - 1``), else None."""
    if references(expr):
        return None
    return float(evaluate(expr, {}))


def render(expr: Expr) -> str:
    """The expression written back in the scenario language (for summaries and reports)."""
    if isinstance(expr, Number):
        value = f"{expr.value:g}"
        return value if expr.unit == DIMENSIONLESS else f"{value} {expr.unit}"
    if isinstance(expr, PriceRef):
        return expr.name
    if isinstance(expr, Rebased):
        return f"{render(expr.operand)} per {expr.unit.removeprefix('EUR/')}"
    if isinstance(expr, Negate):
        return f"-{_wrap(expr.operand, '*')}"
    if isinstance(expr, Call):
        return f"{expr.function}({', '.join(render(a) for a in expr.args)})"
    return f"{_wrap(expr.left, expr.op)} {expr.op} {_wrap(expr.right, expr.op, right=True)}"


def _wrap(expr: Expr, parent_op: str, right: bool = False) -> str:
    text = render(expr)
    if isinstance(expr, BinaryOp):
        weaker = expr.op in "+-" and parent_op in "*/"
        same_level_right = right and parent_op in "-/" and (expr.op in "+-") == (parent_op in "+-")
        if weaker or same_level_right:
            return f"({text})"
    return text
