"""Hardening of the language (issue 13): non-finite prices, long chains, names that cannot be
file names, comments that are only comments, and quotes that show the reported line, cut.

Each test states one rule the way a user meets it: what is written, what `check` says, where.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import time

import numpy as np
import pytest

from flexopt.compile.profiles import compile_profiles
from flexopt.errors import FlexoptError, Problem, Span, source_lines
from flexopt.language import expressions as ex
from flexopt.language.validate import load_scenario_text
from tests.conftest import MINIMAL, SCENARIOS

# MINIMAL has 11 lines; statements appended below start on line 12.
NEXT = 12
SELL_FROM_CSV = MINIMAL.replace("price sell 40 EUR/MWh", 'price sell csv "data/zero.csv" column "sell" EUR/MWh')


def run_check(path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flexopt", "check", str(path)], capture_output=True, text=True,
                          timeout=120)


def write_prices_with_zeros(folder, hours=(3, 4), name="zero.csv"):
    """The case study's prices with 'sell' at 0 on working days at the given hours (8 intervals for 2 hours)."""
    with open(folder.root / "data" / "prices.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    for row in rows[1:]:
        if row[1] == "working" and int(row[2]) in hours:
            row[3] = "0"
    (folder.root / "data" / name).write_text("\n".join(",".join(r) for r in rows) + "\n")


def bid_price(folder, expression: str):
    scenario = folder.load(MINIMAL + f"bids {{ pv up 10 % derated at {expression} }}\n")
    return scenario.cases[0].bid_for("PV1", "pv").up.price


# ---------------------------------------------------------------------------
# Class 3: every price and price rule is a finite number in every interval
# ---------------------------------------------------------------------------


def test_a_constant_that_overflows_is_refused_where_it_is_written(folder):
    line, column, message, hint = folder.error(MINIMAL + "bids { pv up 10 % derated at 1e300 EUR/MWh * 1e300 }")
    assert (line, column) == (NEXT, 30)
    assert message == "this part of the price overflows: its value is beyond ±1.8e308"
    assert "typing mistake" in hint


def test_a_constant_overflowing_inside_a_rule_on_prices_is_refused_too(folder):
    line, column, message, _ = folder.error(MINIMAL + "bids { pv up 10 % derated at buy + 1e300 EUR/MWh * 1e300 }")
    assert (line, column, message) == (NEXT, 36, "this part of the price overflows: its value is beyond ±1.8e308")


def test_a_number_too_large_once_converted_to_the_model_unit_is_refused(folder):
    line, column, message, _ = folder.error(MINIMAL + "price fuel 1e306 EUR/kWh")
    assert (line, column, message) == (NEXT, 12, "the number is too large once converted to EUR/MWh")


def test_a_division_by_a_constant_zero_is_refused_inside_a_function(folder):
    line, column, message, _ = folder.error(MINIMAL + "bids { pv up 10 % derated at max(buy, 1 EUR/MWh / (2 - 2)) }")
    assert (line, column, message) == (NEXT, 52, "division by zero")


def test_a_rule_dividing_by_a_price_that_is_zero_in_some_hours_is_refused_by_check(folder):
    write_prices_with_zeros(folder)
    line, column, message, hint = folder.error(SELL_FROM_CSV + "bids { pv up 10 % derated at buy / sell * buy }")
    assert (line, column) == (NEXT, 30)  # the division, inside the rule
    assert message == ("the upward price for 'pv' divides by 'sell', which is 0 in 8 of 288 intervals, first "
                       "winter working 03:00 (interval 3), winter working 04:00 (interval 4), "
                       "spring working 03:00 (interval 75) and 5 more")
    assert "guard the divisor" in hint


def test_a_named_price_that_is_not_finite_is_reported_once_at_the_price_not_at_every_rule_using_it(folder):
    write_prices_with_zeros(folder)
    text = SELL_FROM_CSV + ("price ratio buy / sell * 1 EUR/MWh\n"
                            "bids { pv up 10 % derated at ratio  down -10 % at 2 * ratio }\n")
    line, column, message, _ = folder.error(text)
    assert (line, column) == (NEXT, 13)
    assert message.startswith("price 'ratio' divides by 'sell', which is 0 in 8 of 288 intervals")


def test_an_overflow_on_the_price_series_names_the_rule_and_the_intervals(folder):
    line, column, message, _ = folder.error(MINIMAL + "bids { pv up 10 % derated at buy * 1e307 }")
    assert (line, column) == (NEXT, 30)
    assert message == ("the upward price for 'pv' is not a finite number in every interval: "
                       "the value overflows (beyond ±1.8e308)")


def test_a_case_whose_price_makes_an_inherited_rule_divide_by_zero_is_named_once(folder):
    text = MINIMAL + ("bids { pv up 10 % derated at buy / sell * buy }\n"
                      "case A { }\ncase B { price sell 0 EUR/MWh }\ncase C extends B { }\n")
    line, column, message, _ = folder.error(text)
    assert (line, column) == (NEXT, 30)
    assert message == "the upward price for 'pv' in case 'B' divides by 'sell', which is 0 in every interval"


def test_the_reactive_remuneration_is_judged_on_the_prices_too(folder):
    write_prices_with_zeros(folder, hours=(12,))
    text = SELL_FROM_CSV + "reactive { remuneration buy / sell * 1 EUR/Mvarh }"
    line, column, message, _ = folder.error(text)
    assert (line, column) == (NEXT, 25)
    assert message.startswith("the reactive remuneration divides by 'sell', which is 0 in 4 of 288 intervals, first "
                              "winter working 12:00 (interval 12)")


def test_a_guarded_division_passes(folder):
    write_prices_with_zeros(folder)
    folder.load(SELL_FROM_CSV + "bids { pv up 10 % derated at buy / max(sell, 1 EUR/MWh) * buy }\n")


def test_prices_changed_after_check_are_refused_before_assessing(folder):
    """The compile stage evaluates the rules again: a data file edited since `check` cannot slip NaN through."""
    write_prices_with_zeros(folder, hours=())
    scenario = folder.load(SELL_FROM_CSV + "bids { pv up 10 % derated at buy / sell * buy }\n")
    write_prices_with_zeros(folder)
    with pytest.raises(FlexoptError) as caught:
        compile_profiles(scenario, scenario.cases[0])
    problem = caught.value.errors[0]
    assert (problem.span.line, problem.span.column) == (NEXT, 30)
    assert problem.message.startswith("the upward price for 'pv' divides by 'sell', which is 0 in 8 of 288 intervals")


def test_a_non_finite_rule_exits_2_without_a_traceback(folder):
    path = folder.write(MINIMAL + "bids { pv up 10 % derated at 1e300 EUR/MWh * 1e300 }\n")
    result = run_check(path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and f"{path}:{NEXT}:30: error: this part of the price overflows" in result.stderr


# ---------------------------------------------------------------------------
# Class 4: operator chains of any length; names that make file names
# ---------------------------------------------------------------------------


def test_a_chain_of_600_lines_of_operators_is_read_and_evaluated(folder):
    started = time.perf_counter()
    price = bid_price(folder, "buy\n" + "  + 1 EUR/MWh\n" * 600)
    assert time.perf_counter() - started < 10
    assert ex.evaluate(price, {"buy": np.array([50.0, 60.0])}).tolist() == [650.0, 660.0]
    assert isinstance(price, ex.Chain) and len(price.rest) == 600  # one node, not 600 nested ones


def test_chains_of_any_length_and_of_each_level_are_read_without_a_limit():
    terms = 20_000
    text = MINIMAL + "bids { pv up 10 % derated at buy" + " + 2 * buy / 2 - buy" * (terms // 3) + " }\n"
    scenario, _ = load_scenario_text(text, "long.flex", SCENARIOS)
    price = scenario.cases[0].bid_for("PV1", "pv").up.price
    assert ex.evaluate(price, {"buy": 7.0}) == pytest.approx(7.0)
    assert ex.render(price).count("+") == terms // 3


def test_a_run_of_signs_is_one_level_deep():
    text = MINIMAL + "bids { pv up 10 % derated at " + "- " * 1001 + "buy }\n"
    scenario, _ = load_scenario_text(text, "signs.flex", SCENARIOS)
    price = scenario.cases[0].bid_for("PV1", "pv").up.price
    assert ex.render(price) == "-buy"


@pytest.mark.parametrize("expression, rendered, value", [
    ("buy - (sell - buy)", "buy - (sell - buy)", 60.0),
    ("(buy - sell) - buy", "buy - sell - buy", -40.0),
    ("buy / (sell / buy)", "buy / (sell / buy)", 62.5),
    ("(buy + sell) * 2", "(buy + sell) * 2", 180.0),
    ("buy * 2 + sell / 4 - 1 EUR/MWh", "buy * 2 + sell / 4 - 1 EUR/MWh", 109.0),
])
def test_chains_keep_the_order_and_the_brackets_of_the_text(folder, expression, rendered, value):
    price = bid_price(folder, expression)
    assert ex.render(price) == rendered
    assert ex.evaluate(price, {"buy": 50.0, "sell": 40.0}) == pytest.approx(value)


def test_a_600_line_chain_passes_check_on_the_command_line(folder):
    path = folder.write(MINIMAL + "bids { pv up 10 % derated at buy\n" + "  + 1 EUR/MWh\n" * 600 + "}\n")
    result = run_check(path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_a_scenario_name_longer_than_100_characters_is_refused_by_check(folder):
    line, column, message, hint = folder.error(MINIMAL.replace('"mini"', '"' + "a" * 250 + '"'))
    assert (line, column) == (1, 10)
    assert message.endswith("is 250 characters long; a name may be at most 100, as it names an output file")
    assert "(250 characters)" in message  # the name itself is quoted cut
    assert "output folder" in hint


def test_a_name_of_100_characters_is_accepted(folder):
    folder.load(MINIMAL.replace('"mini"', '"' + "a" * 100 + '"') + "case " + "c" * 100 + " { }\n")


def test_a_case_name_longer_than_100_characters_is_refused_by_check(folder):
    line, column, message, hint = folder.error(MINIMAL + "case " + "c" * 250 + " { }")
    assert (line, column) == (NEXT, 6)
    assert "is 250 characters long" in message and ".nc" in hint


@pytest.mark.parametrize("name, why", [
    ("CON", "is a device name on Windows ('CON')"),
    ("nul", "is a device name on Windows ('NUL')"),
    ("com1", "is a device name on Windows ('COM1')"),
])
def test_a_case_named_like_a_windows_device_is_refused(folder, name, why):
    line, column, message, _ = folder.error(MINIMAL + f"case {name} {{ }}")
    assert (line, column, message) == (NEXT, 6, f"case name '{name}' {why}, which cannot name a file there")


@pytest.mark.parametrize("name, why", [
    ("lpt1.v2", "is a device name on Windows ('LPT1')"),
    ("study.", "ends with '.' or a space"),
    ("日" * 80, "takes 240 bytes; a name may take at most 200"),
])
def test_a_scenario_name_that_is_no_file_name_everywhere_is_refused(folder, name, why):
    line, column, message, _ = folder.error(MINIMAL.replace('"mini"', f'"{name}"'))
    assert (line, column) == (1, 10)
    assert why in message


def test_a_long_case_name_exits_2_on_the_command_line(folder):
    result = run_check(folder.write(MINIMAL + "case " + "c" * 250 + " { }\n"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "is 250 characters long" in result.stderr


# ---------------------------------------------------------------------------
# Class 6: comments are ignored; the quoted line is the reported one; long text is cut
# ---------------------------------------------------------------------------


def test_brackets_in_a_comment_are_ignored(folder):
    folder.load(MINIMAL + "# " + "(" * 60 + "\n")


def test_a_banner_comment_of_dashes_is_ignored(folder):
    folder.load("# " + "-" * 210 + "\n" + MINIMAL + "# " + "+-*/" * 100 + "\n")


def test_brackets_in_a_quoted_text_are_ignored(folder):
    folder.load(MINIMAL.replace('scenario "mini"', 'scenario "mini" "' + "(" * 60 + '"'))


def test_a_line_of_300_operators_is_read(folder):
    price = bid_price(folder, "buy" + " + 1 EUR/MWh" * 300)
    assert ex.evaluate(price, {"buy": 0.0}) == 300.0


def test_brackets_the_parser_reads_are_still_bounded_and_located(folder):
    text = MINIMAL + "# (((((\nbids { pv up 10 % at " + "(" * 60 + "buy" + ")" * 60 + " }"
    line, column, message, hint = folder.error(text)
    assert (line, column, message) == (NEXT + 1, 22 + 50, "parentheses nested more than 50 deep")
    assert "named prices" in hint


def quoted(folder, text: str) -> tuple[Problem, str]:
    """The single error of a text and the quote under it (the source line as printed)."""
    with pytest.raises(FlexoptError) as caught:
        folder.load(text)
    problem = caught.value.errors[0]
    lines = caught.value.format().splitlines()
    return problem, lines[1]


WRONG_FEEDER = "der X pv 2 MW at R9 end"


@pytest.mark.parametrize("layout", ["form feed", "vertical tab in a comment", "CR only", "CRLF"])
def test_the_quoted_line_is_the_reported_line_whatever_the_line_breaks(folder, layout):
    if layout == "form feed":
        text = MINIMAL.replace("price buy", "\f\nprice buy").replace("der PV1", "\fder PV1") + WRONG_FEEDER + "\n"
        line = NEXT + 1
    elif layout == "vertical tab in a comment":
        text = MINIMAL.replace("price buy", "# a\vb\u2028c\x85d\nprice buy") + WRONG_FEEDER + "\n"
        line = NEXT + 1
    elif layout == "CR only":
        text = (MINIMAL + WRONG_FEEDER + "\n").replace("\n", "\r")
        line = NEXT
    else:
        text = (MINIMAL + WRONG_FEEDER + "\n").replace("\n", "\r\n")
        line = NEXT
    problem, quote = quoted(folder, text)
    assert (problem.span.line, problem.span.column, problem.message) == (line, 18, "unknown feeder 'R9'")
    assert quote == f"{line:>5} | {WRONG_FEEDER}"


def test_an_invisible_unicode_character_is_named_and_quoted_on_its_line(folder):
    problem, quote = quoted(folder, MINIMAL.replace("price buy", "\u2028price buy"))
    assert (problem.span.line, problem.span.column, problem.message) == (3, 1, "unexpected character '\\u2028'")
    assert "line separator (U+2028)" in problem.hint
    assert quote == "    3 |  price buy 50 EUR/MWh"  # shown as a space: the caret stays under it


def test_a_megabyte_line_of_letters_is_quoted_cut_with_its_length(folder):
    with pytest.raises(FlexoptError) as caught:
        folder.load(MINIMAL + "a" * 1_000_000 + "\n")
    rendered = caught.value.format()
    assert len(rendered) < 1000
    assert caught.value.errors[0].message == "unexpected '" + "a" * 40 + "… (1000000 characters)'"
    assert f"{NEXT:>5} | " + "a" * 80 + " … (1000000 characters)" in rendered


def test_a_long_name_in_a_meaning_error_is_cut_too(folder):
    with pytest.raises(FlexoptError) as caught:
        folder.load(MINIMAL + "der D2 pv 2 MW at " + "R" * 100_000 + " end\n")
    rendered = caught.value.format()
    assert len(rendered) < 1000 and "(100000 characters)" in rendered


def test_a_long_line_is_quoted_as_a_window_around_the_caret():
    line = "x" * 500 + " bad " + "y" * 500
    problem = Problem("unexpected 'bad'", Span("f.flex", 1, 502, 1, 505))
    quote, caret = problem.format([line]).splitlines()[1:3]
    assert quote == "    1 | …" + "x" * 19 + " bad " + "y" * 56 + " … (1005 characters)"  # 80 of them
    assert caret.index("^^^") == quote.index("bad") and caret.count("^") == 3


def test_lines_are_split_as_the_parser_counts_them():
    assert source_lines("a\fb\u2028c\x85d\ne\r\nf\rg") == ["a\fb\u2028c\x85d", "e", "f", "g"]
