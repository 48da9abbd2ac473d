"""The scenario language's grammar (``grammar/flexopt.lark``), loaded once, and its LALR parser."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import lark

from flexopt.errors import FlexoptError, Problem




def grammar_text() -> str:
    """The grammar, from the installed package (wheel) or from the source tree."""
    packaged = resources.files("flexopt").joinpath("grammar", "flexopt.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    source_tree = Path(__file__).resolve().parents[2] / "grammar" / "flexopt.lark"
    if source_tree.is_file():
        return source_tree.read_text(encoding="utf-8")
    raise FlexoptError([Problem("the flexopt grammar file is missing from this installation",
                                hint="reinstall flexopt: pip install --force-reinstall flexopt")])


class _WholeWords:
    """Keywords match whole words only: ``endd`` is the name ``endd``, never ``end`` then ``d``.

    lark's contextual lexer tries only the terminals the parser accepts next. Where a keyword is
    accepted but a name is not (``at R1 end``), the keyword's plain string would match the start of
    a longer word. Keeping NAME in every lexer state makes the longest word win; a word that is
    exactly a keyword accepted there still becomes that keyword (lark folds keywords into NAME), and
    a word the parser cannot take is reported whole ("unexpected 'endd'"). Passes tokens unchanged.
    """

    always_accept = ("NAME",)

    def process(self, stream):
        return stream


@functools.lru_cache(maxsize=1)
def parser() -> lark.Lark:
    """The LALR parser, built once per process: its parse tables are kept in the user's cache folder (lark
    checks the grammar's and the options' digest in the file and rebuilds them when it differs, or when the
    file is missing or damaged), which makes a process ready about 0.17 s sooner."""
    return lark.Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=False,
                     postlex=_WholeWords(), cache=_parse_table_cache() or False)


def _parse_table_cache() -> str | None:
    """The file of lark's parse tables for this lark and Python, or None when there is no cache folder."""
    import sys

    from flexopt.files import user_cache_folder

    folder = user_cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return str(folder / f"lark-{lark.__version__}-py{sys.version_info[0]}{sys.version_info[1]}-parser.pickle")
