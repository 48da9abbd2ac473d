"""The grammar itself: unambiguous for LALR(1), and every terminal reachable from the language."""

from __future__ import annotations

import lark
import pytest

from flexopt.language.grammar import grammar_text


def test_grammar_has_no_lalr_conflicts():
    pytest.importorskip("interegular")
    # strict mode refuses shift/reduce conflicts and colliding terminals: a keyword that both ends
    # one statement and starts another would silently swallow the next line.
    lark.Lark(grammar_text(), parser="lalr", strict=True)


def test_der_options_do_not_swallow_the_next_statement(folder):
    from tests.conftest import MINIMAL

    text = MINIMAL + "profile wind generated wind { site coastal }\nder W1 wind 1 MW at R1 end\nprofile x generated chp { zone C }\n"
    scenario = folder.load(text)
    assert {p.name for p in scenario.profiles} == {"pv", "residential", "wind", "x"}
