"""Property: whatever a user types, flexopt answers with its own error type, never a crash."""

from __future__ import annotations

import os
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flexopt.errors import FlexoptError
from flexopt.language.syntax import decode
from flexopt.language.validate import load_scenario_text
from tests.conftest import CASE_STUDY, MINIMAL, SCENARIOS

SEEDS = [CASE_STUDY.read_text(encoding="utf-8"), MINIMAL + "bids { pv down -100 % at 0 up 10 % at 2 * sell }\n",
         MINIMAL + "case A { feeder R1 { length 16 km  laterals 2  demand 7 GWh/y } }\ncase B extends A { feeder R1 { sections 4 } }\n"]

VOCABULARY = [
    "{", "}", "(", ")", ",", "..", "/", "*", "+", "-", "%", '"', "#", "\n", " ", "\t", "\\", "'", "\x00", "\u00e9", "\u202e",
    "scenario", "feeder", "der", "bids", "case", "extends", "A", "B", "at", "from", "to", "end", "start", "middle",
    "pv", "wind", "chp", "storage", "enduser", "industrial", "price", "profile", "generated", "csv", "column",
    "MW", "kW", "GWh/y", "EUR/MWh", "EUR/Mvarh", "km", "pu", "MVA", "kV", "deg", "per", "Mvarh", "none", "free",
    "min", "max", "buy", "sell", "fuel", "0", "-1", "1e400", "1e-400", "99999999999999999999", "0.0", "100", "101",
    '"data/prices.csv"', '"../x.csv"', '"/etc/passwd"', '"data"', '"NA2XS2Y 1x185 RM/25 12/20 kV"', "R1", "R9",
    "__import__", "eval", "(((((((((((", "))))", "capability", "semicircle", "limited", "pf", "synchronous",
]


NUMBER = re.compile(r"(?<![\w.])[0-9]+(\.[0-9]+)?")
WORD = re.compile(r"(?<![\w\"])[A-Za-z_][A-Za-z0-9_]*")
EXTREME_NUMBERS = ["0", "0.0", "1e400", "1e-400", "5", "24", "99999999", "0.0001", "100.5", "366", "1", "2019", "7"]
WORDS = [w for w in VOCABULARY if w.isidentifier()] + ["U4", "D3", "A", "B", "winter", "holiday", "working", "dec",
                                                       "residential", "coastal", "zone", "class", "site", "Mvarh"]


@st.composite
def mutated_scenario(draw) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "duplicate_line", "drop_line", "swap_lines",
                                     "number", "number", "word", "word"]))
        if kind in ("number", "word"):
            # keep the syntax mostly intact so that the validator, not only the parser, is exercised
            pattern = NUMBER if kind == "number" else WORD
            matches = list(pattern.finditer(text))
            if matches:
                m = matches[draw(st.integers(0, len(matches) - 1))]
                piece = draw(st.sampled_from(EXTREME_NUMBERS if kind == "number" else WORDS))
                text = text[:m.start()] + piece + text[m.end():]
            continue
        if kind in ("insert", "delete", "replace") and text:
            start = draw(st.integers(0, len(text)))
            end = min(len(text), start + draw(st.integers(0, 40)))
            piece = draw(st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=8)))
            if kind == "insert":
                text = text[:start] + piece + text[start:]
            elif kind == "delete":
                text = text[:start] + text[end:]
            else:
                text = text[:start] + piece + text[end:]
        else:
            lines = text.splitlines(keepends=True)
            if not lines:
                continue
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if kind == "duplicate_line":
                lines.insert(j, lines[i])
            elif kind == "drop_line":
                del lines[i]
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "".join(lines)
    return text


@settings(max_examples=int(os.environ.get("FLEXOPT_FUZZ_EXAMPLES", "400")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_scenario())
def test_mutated_scenarios_raise_only_flexopt_errors(text):
    try:
        load_scenario_text(text, "fuzz.flex", SCENARIOS)
    except FlexoptError as err:
        rendered = err.format()  # the message itself must render too
        assert "fuzz.flex" in rendered or "error" in rendered


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_flexopt_errors(data):
    try:
        text = decode(data, "bytes.flex")
        load_scenario_text(text, "bytes.flex", SCENARIOS)
    except FlexoptError as err:
        err.format()


def test_deep_nesting_is_refused_cleanly():
    text = MINIMAL + "bids { pv up 10 % at " + "(" * 5000 + "buy" + ")" * 5000 + " }"
    try:
        load_scenario_text(text, "deep.flex", SCENARIOS)
    except FlexoptError as err:
        assert "nested" in err.format()
    else:
        raise AssertionError("deep nesting was accepted")


def test_long_operator_chain_is_handled():
    text = MINIMAL + "bids { pv up 10 % at buy" + " + buy" * 3000 + " }"
    try:
        load_scenario_text(text, "chain.flex", SCENARIOS)
    except FlexoptError:
        pass


def test_case_study_still_valid_as_seed():
    load_scenario_text(SEEDS[0], str(CASE_STUDY), Path(CASE_STUDY).parent)
