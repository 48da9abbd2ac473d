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


def test_the_parse_tables_kept_in_the_cache_folder_parse_as_a_fresh_parser_does(tmp_path, monkeypatch, capfd):
    """lark's parse tables are kept in the user's cache folder; a damaged file is rebuilt without a word."""
    from flexopt.language import grammar
    from tests.conftest import MINIMAL

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fresh = lark.Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=False,
                      postlex=grammar._WholeWords())
    try:
        grammar.parser.cache_clear()
        first = grammar.parser()  # builds the tables and keeps them
        (cache,) = (tmp_path / "flexopt").glob("lark-*-parser.pickle")
        grammar.parser.cache_clear()
        assert grammar.parser().parse(MINIMAL) == fresh.parse(MINIMAL) == first.parse(MINIMAL)
        cache.write_bytes(cache.read_bytes()[:200])  # cut short, as by a full disk
        grammar.parser.cache_clear()
        assert grammar.parser().parse(MINIMAL) == fresh.parse(MINIMAL)
        assert cache.stat().st_size > 200  # written whole again
        assert capfd.readouterr() == ("", "")
    finally:
        grammar.parser.cache_clear()
