"""Price expressions: arithmetic, units, and the guarantee that a scenario never runs code."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

from flexopt.language import expressions as ex
from flexopt.errors import FlexoptError
from tests.conftest import MINIMAL


def bid_price(folder, expression: str, extra: str = "") -> ex.Expr:
    case = folder.load(MINIMAL + extra + f"\nbids {{ pv up 10 % at {expression} }}").cases[0]
    return case.bid_for("PV1", "pv").up.price


PRICES = {"buy": np.array([40.0, 60.0]), "sell": np.array([30.0, 50.0])}


@pytest.mark.parametrize("expression, expected", [
    ("2 * sell", [60.0, 100.0]),
    ("sell + 5 EUR/MWh", [35.0, 55.0]),
    ("buy - sell", [10.0, 10.0]),
    ("(buy + sell) / 2", [35.0, 55.0]),
    ("min(buy, 45 EUR/MWh)", [40.0, 45.0]),
    ("max(buy, sell, 55 EUR/MWh)", [55.0, 60.0]),
    ("-buy + 100 EUR/MWh", [60.0, 40.0]),
    ("110 % * buy", [44.0, 66.0]),
    ("0.05 EUR/kWh", [50.0, 50.0]),
    ("buy / sell * buy", [40 / 30 * 40, 60 / 50 * 60]),
    ("2 * 3 * sell - sell * 2", [120.0, 200.0]),
])
def test_expressions_evaluate_elementwise_over_intervals(folder, expression, expected):
    value = ex.evaluate(bid_price(folder, expression), PRICES)
    assert np.broadcast_to(value, (2,)) == pytest.approx(expected)


@pytest.mark.parametrize("expression", ["2 * sell", "(buy + sell) / 2", "min(buy, 45 EUR/MWh)", "-buy + 100 EUR/MWh",
                                        "buy - (sell - 1 EUR/MWh)", "buy / (2 * 3)"])
def test_rendering_reads_back_to_the_same_value(folder, expression):
    expr = bid_price(folder, expression)
    again = bid_price(folder, ex.render(expr))
    assert np.allclose(ex.evaluate(expr, PRICES), ex.evaluate(again, PRICES))


@pytest.mark.parametrize("left, right, message", [
    ("buy", "3", "'+' mixes a plain number and EUR/MWh"),
    ("buy", "3 EUR/Mvarh", "'+' mixes EUR/MWh and EUR/Mvarh"),
])
def test_addition_needs_equal_units(folder, left, right, message):
    problems = folder.problems(MINIMAL + f"bids {{ pv up 10 % at {left} + {right} }}")
    assert [m for _, _, m in problems] == [message]


def test_ratio_of_prices_is_a_plain_number_and_scales_a_price(folder):
    assert ex.render(bid_price(folder, "buy / sell * buy")) == "buy / sell * buy"
    problems = folder.problems(MINIMAL + "bids { pv up 10 % at buy / sell }")
    assert [m for _, _, m in problems] == ["the upward price has no unit"]


@pytest.mark.parametrize("payload", [
    '__import__("os").system("touch PWNED")',
    'exec("open(\'PWNED\', \'w\')")',
    'eval("1")',
    "buy.__class__",
    "[x for x in ()]",
    "lambda: 0",
    "buy; import os",
    "`touch PWNED`",
    "buy if 1 else sell",
    "open('PWNED', 'w')",
])
def test_python_code_in_a_price_expression_is_rejected_and_nothing_runs(folder, monkeypatch, payload):
    from flexopt.language import syntax

    syntax.parser()  # build the parser first: from here on nothing may evaluate code

    def forbidden(*args, **kwargs):
        raise AssertionError("a scenario made flexopt evaluate code")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "__import__", _guard_imports(builtins.__import__))
    monkeypatch.chdir(folder.root)
    with pytest.raises(FlexoptError):
        folder.load(MINIMAL + f"bids {{ pv up 10 % at {payload} }}")
    with pytest.raises(FlexoptError):
        folder.load(MINIMAL + f"price evil {payload}\n")
    assert not (folder.root / "PWNED").exists()


def _guard_imports(real_import):
    def guarded(name, *args, **kwargs):
        if name in ("os", "subprocess", "shutil") and name not in _ALREADY_LOADED:
            raise AssertionError(f"a scenario made flexopt import {name}")
        return real_import(name, *args, **kwargs)

    return guarded


import sys  # noqa: E402

_ALREADY_LOADED = set(sys.modules)


def test_unit_of_rejects_a_product_of_prices():
    span = None
    expr = ex.BinaryOp("*", ex.PriceRef("buy", span), ex.PriceRef("sell", span), span)
    with pytest.raises(ex.ExpressionUnitError, match="cannot multiply EUR/MWh by EUR/MWh"):
        ex.unit_of(expr, lambda name: "EUR/MWh")
