"""Price expressions: a tiny arithmetic over numbers and named prices, with units.

A scenario writes a bid price as ``2 * sell`` or ``min(fuel, 1.1 * buy)``. The
grammar parses it into these frozen nodes; this module checks its unit and
evaluates it over the typical-day intervals. Nothing here calls ``eval``: a
scenario file can never run Python.

A chain of operators of one precedence level (``a + b - c + ...``) is one :class:`Chain` node,
not one node per operator: a sum of thousands of terms is as deep as a sum of two, so no walk
over it can exhaust the recursion limit (only parentheses deepen a tree, and the parser bounds
them).
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
class Chain:
    """Operands joined left to right by operators of one level: ``a + b - c`` or ``a / b * c``."""

    first: "Expr"
    rest: tuple[tuple[str, "Expr"], ...]  # (operator, operand); operators all in "+-" or all in "*/"
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


Expr = Union[Number, PriceRef, BinaryOp, Chain, Negate, Call, Rebased]


class ExpressionUnitError(Exception):
    """A unit mismatch inside an expression, with the place it happens."""

    def __init__(self, message: str, span: Span, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint


def operands(expr: Expr) -> list[Expr]:
    """The sub-expressions of a node, in reading order."""
    if isinstance(expr, BinaryOp):
        return [expr.left, expr.right]
    if isinstance(expr, Chain):
        return [expr.first] + [operand for _, operand in expr.rest]
    if isinstance(expr, (Negate, Rebased)):
        return [expr.operand]
    if isinstance(expr, Call):
        return list(expr.args)
    return []


def steps(expr: BinaryOp | Chain) -> tuple[Expr, list[tuple[str, Expr, Span]]]:
    """A binary operation or chain as its first operand and its steps: (operator, operand, span of
    the chain from its start to that operand), the place a problem of that step is reported."""
    if isinstance(expr, BinaryOp):
        return expr.left, [(expr.op, expr.right, expr.span)]
    start = expr.span
    return expr.first, [(op, operand, Span(start.file, start.line, start.column, operand.span.end_line,
                                           operand.span.end_column)) for op, operand in expr.rest]


def references(expr: Expr) -> list[PriceRef]:
    """Every named price an expression refers to, in reading order."""
    found: list[PriceRef] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, PriceRef):
            found.append(node)
        else:
            stack.extend(reversed(operands(node)))
    return found


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
    first, chain = steps(expr)
    left = unit_of(first, price_unit)
    for op, operand, span in chain:
        left = _step_unit(op, left, unit_of(operand, price_unit), span)
    return left


def _step_unit(op: str, left: str, right: str, span: Span) -> str:
    if op in "+-":
        return _same_unit([left, right], f"'{op}'", span)
    if op == "*":
        if left == DIMENSIONLESS:
            return right
        if right == DIMENSIONLESS:
            return left
        raise ExpressionUnitError(
            f"cannot multiply {left} by {right}", span, "multiply a price by a plain number, e.g. 0.9 * buy"
        )
    # division
    if right == DIMENSIONLESS:
        return left
    if left == right:
        return DIMENSIONLESS
    raise ExpressionUnitError(
        f"cannot divide {describe(left)} by {describe(right)}", span,
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


def evaluate(expr: Expr, prices: PriceValues, _found: list | None = None) -> np.ndarray | float:
    """Value of an expression, element-wise over the intervals of the named price arrays.

    Overflow and division by zero give inf or NaN here, without a warning; the validator and
    the compile stage look for them with :func:`find_nonfinite` and refuse them.
    """
    with np.errstate(all="ignore"):
        return _evaluate(expr, prices, _found)


def _evaluate(expr: Expr, prices: PriceValues, found: list | None) -> np.ndarray | float:
    if isinstance(expr, Number):
        return expr.value
    if isinstance(expr, PriceRef):
        return prices[expr.name]
    if isinstance(expr, Rebased):
        return _evaluate(expr.operand, prices, found)
    if isinstance(expr, Negate):
        return -_evaluate(expr.operand, prices, found)
    if isinstance(expr, Call):
        values = [_evaluate(a, prices, found) for a in expr.args]
        reduce = np.maximum if expr.function == "max" else np.minimum
        result = values[0]
        for v in values[1:]:
            result = reduce(result, v)
        return result
    first, chain = steps(expr)
    value = _evaluate(first, prices, found)
    for op, operand, span in chain:
        right = _evaluate(operand, prices, found)
        result = _apply(op, value, right)
        if found is not None and not found:
            _watch(found, op, value, right, result, operand, span)
        value = result
    return value


def _apply(op: str, left, right):
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return np.multiply(left, right)
    return np.divide(left, right)


@dataclass(frozen=True)
class NonFinite:
    """Where an expression stops being a finite number: the step, why, and at which intervals."""

    span: Span  # the operation, from the start of its chain to the operand
    divisor: str | None  # the divisor as written, when it is a division by zero
    intervals: np.ndarray | None  # indices of the intervals where it is not finite; None for a constant


def _watch(found: list, op: str, left, right, result, operand: Expr, span: Span) -> None:
    """Record the first step whose finite operands give a non-finite value."""
    bad = ~np.isfinite(result) & np.isfinite(left) & np.isfinite(right)
    if not np.any(bad):
        return
    zero = op == "/" and np.any(np.asarray(right == 0) & bad)
    found.append(NonFinite(span, render(operand) if zero else None, np.flatnonzero(bad) if np.ndim(bad) else None))


def find_nonfinite(expr: Expr, prices: PriceValues) -> NonFinite | None:
    """The first operation of an expression that gives inf or NaN from finite operands, if any.

    ``prices`` are the named prices' values (all finite); a constant expression is checked with
    none. Intervals are indices into the price arrays.
    """
    found: list[NonFinite] = []
    value = evaluate(expr, prices, found)
    if found:
        return found[0]
    bad = ~np.isfinite(value)
    if np.any(bad):  # not made here (a number too large is refused where it is written): said at the whole
        return NonFinite(expr.span, None, np.flatnonzero(bad) if np.ndim(bad) else None)
    return None


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
    first, chain = steps(expr)
    parts = [_wrap(first, chain[0][0])]
    for op, operand, _ in chain:
        parts.append(f"{op} {_wrap(operand, op, right=True)}")
    return " ".join(parts)


def _level(expr: Expr) -> str | None:
    """"+-" or "*/" for a binary operation or chain, else None."""
    if isinstance(expr, BinaryOp):
        return "+-" if expr.op in "+-" else "*/"
    if isinstance(expr, Chain):
        return "+-" if expr.rest[0][0] in "+-" else "*/"
    return None


def _wrap(expr: Expr, parent_op: str, right: bool = False) -> str:
    text = render(expr)
    level = _level(expr)
    if level is not None:
        weaker = level == "+-" and parent_op in "*/"
        same_level_right = right and parent_op in "-/" and (level == "+-") == (parent_op in "+-")
        if weaker or same_level_right:
            return f"({text})"
    return text


# ---------------------------------------------------------------------------
# Building chains while parsing
# ---------------------------------------------------------------------------


class OpenChain:
    """A chain the parser is still extending, left to right; :func:`closed` freezes it.

    lark builds ``a + b + c`` as ``(a + b) + c``: each step appends to the chain on its left
    instead of nesting it, which keeps building linear in the length of the chain. Only the
    parser holds an open chain, and each one has a single owner (its parent in the parse tree).
    """

    __slots__ = ("level", "first", "rest", "span")

    def __init__(self, level: str, first: Expr, rest: list, span: Span) -> None:
        self.level, self.first, self.rest, self.span = level, first, rest, span


def chain_step(left: "Expr | OpenChain", op: str, right: "Expr | OpenChain", span: Span) -> OpenChain:
    """``left op right``: extends ``left`` when it is a chain of the same level (``(a + b) + c`` is
    ``a + b + c``, exactly: the chain evaluates left to right), else starts a chain."""
    level = "+-" if op in "+-" else "*/"
    if isinstance(left, OpenChain) and left.level == level:
        left.rest.append((op, closed(right)))
        left.span = span
        return left
    return OpenChain(level, closed(left), [(op, closed(right))], span)


def closed(expr: "Expr | OpenChain") -> Expr:
    """An expression with its open chain (if it is one) frozen into a :class:`Chain`."""
    if isinstance(expr, OpenChain):
        return Chain(expr.first, tuple(expr.rest), expr.span)
    return expr
