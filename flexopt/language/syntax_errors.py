"""Syntax errors: lark's parse errors turned into one located :class:`Problem` with a hint, and
the one limit checked before parsing (the nesting of parentheses).

Split from :mod:`flexopt.language.syntax` to keep the parser small; the parser is passed in,
so this module does not import :mod:`flexopt.language.syntax`. Words quoted from the file are
cut when long (:func:`flexopt.errors.shorten`).
"""

from __future__ import annotations

import functools
import re
import unicodedata

import lark
from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from flexopt.errors import FlexoptError, Problem, Span, did_you_mean, shorten, source_lines
from flexopt.language.units import ALL_UNITS

__all__ = ["MAX_EXPRESSION_DEPTH", "check_nesting", "syntax_problem"]

#: Deepest nesting of parentheses in a price expression (chains of operators do not nest: any length is read).
MAX_EXPRESSION_DEPTH = 50

#: What the nesting check skips: comments and quoted texts (a "(" in either opens nothing).
_SKIPPED_OR_PAREN = re.compile(r'#[^\n]*|"[^"\n]*"|[()]')


def check_nesting(text: str, file: str, lines: list[str]) -> None:
    """Refuse parentheses nested deeper than :data:`MAX_EXPRESSION_DEPTH`, before parsing.

    Only brackets the parser reads count: those in comments and quoted texts are skipped, as
    the lexer skips them.
    """
    depth = 0
    for match in _SKIPPED_OR_PAREN.finditer(text):
        ch = match.group()
        if ch == "(":
            depth += 1
            if depth > MAX_EXPRESSION_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
                raise FlexoptError([Problem(f"parentheses nested more than {MAX_EXPRESSION_DEPTH} deep",
                                            Span(file, line, column), "simplify the price expression, or split it "
                                            "into named prices: price part ...")], {file: lines})
        elif ch == ")":
            depth = max(0, depth - 1)


# Human descriptions of terminals for "expected ..." messages.
_TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": 'a quoted text ("...")',
    "UNIT": "a unit",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "SLASH": "'/'",
    "STAR": "'*'",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "$END": "the end of the file",
}

_UNIT_FAMILIES = {
    "power": ["kW", "MW", "GW"],
    "energy per year": ["MWh/y", "GWh/y"],
    "length": ["m", "km"],
    "price": ["EUR/MWh", "EUR/kWh", "EUR/Mvarh"],
}


def _expected_words(err: UnexpectedToken | UnexpectedCharacters | UnexpectedEOF, parser: lark.Lark) -> list[str]:
    expected = getattr(err, "expected", None) or getattr(err, "allowed", None) or set()
    terminals = {t.name: t for t in parser.terminals}
    state = getattr(err, "state", None)
    if isinstance(err, UnexpectedCharacters) and hasattr(state, "parse_conf"):
        # what the parser accepts here: the lexer's own list always holds NAME (see grammar._WholeWords)
        # and folds the keywords into it
        accepted = state.parse_conf.states[state.position]
        expected = {name for name in accepted if name in terminals or name == "$END"} or expected
    words = []
    for name in sorted(expected):
        if name in _TERMINAL_WORDS:
            words.append(_TERMINAL_WORDS[name])
            continue
        term = terminals.get(name)
        if term is not None and term.pattern.type == "str":
            words.append(f"'{term.pattern.value}'")
        else:
            words.append(name.lower())
    return sorted(set(words), key=lambda w: (not w.startswith("'"), w))


def syntax_problem(err: UnexpectedInput, text: str, file: str, parser: lark.Lark) -> Problem:
    """One located problem for a lark syntax error: the place, what was expected and a hint."""
    expected = _expected_words(err, parser)
    keywords = [w.strip("'") for w in expected if w.startswith("'") and w.strip("'").isidentifier()]
    if isinstance(err, UnexpectedToken) and err.token.type == "$END":
        lines = source_lines(text)
        if len(lines) > 1 and not lines[-1]:  # the file ends with a line break: its last line is the one before
            lines.pop()
        span = Span(file, len(lines), len(lines[-1]) + 1)
        message = "the file ends too early"
        hint = "expected " + _or_list(expected) + (" — is a '}' missing?" if "'}'" in expected else "")
        return Problem(message, span, hint)
    if isinstance(err, UnexpectedToken):
        token = err.token
        shown = shorten(str(token))
        span = Span(file, token.line, token.column, token.end_line, token.end_column)
        special = (_voltage_pair_problem(err, text, span, parser) or _per_problem(token, text, file, parser)
                   or _unit_problem(token, text, file, expected, parser))
        if special is not None:
            return special
        message = f"unexpected '{shown}'"
        decimal = _decimal_comma_hint(text, token) if token.type == "COMMA" else None
        if decimal is not None:
            return Problem(message, span, decimal)
        hint = None
        if token.type == "NAME" and keywords:
            hint = did_you_mean(shown, keywords)
        if hint is None and token.type in ("NAME",) and "a name" in expected and shown in _reserved_words(parser):
            hint = f"'{shown}' is a keyword of the language; choose another name"
        expected_text = "expected " + _or_list(expected)
        return Problem(message, span, f"{expected_text}" + (f"; {hint}" if hint else ""))
    # UnexpectedCharacters: a character no token starts with
    line, column = err.line, err.column
    char = text[err.pos_in_stream] if 0 <= err.pos_in_stream < len(text) else "?"
    span = Span(file, line, column, line, column + 1)
    hint = "expected " + _or_list(expected) if expected else None
    if char in _CURRENCY_SIGNS:  # ``85 €/MWh``
        word = char + re.match(r"[\w/]*", text[err.pos_in_stream + 1:]).group()
        lead = "write the euro sign as EUR: " if char == "€" else "flexopt's prices are in euros, written EUR: "
        span = Span(file, line, column, line, column + len(word))
        return Problem(f"'{shorten(word)}' is not a unit flexopt knows", span, lead + _unit_fix("EUR" + word[1:]))
    if char == "'":
        hint = 'write texts in double quotes: "..."'
    elif char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp"):
        name = unicodedata.name(char, "a control character").lower()
        hint = (f"this is an invisible character, {name} (U+{ord(char):04X}); flexopt reads plain spaces, tabs "
                "and line breaks only: replace it by one of them")
    return Problem(f"unexpected character {char!r}", span, hint)


def _previous_token(text: str, position: int, parser: lark.Lark) -> Token | None:
    """The token that ends before ``position`` (comments and spaces skipped); None at the start.

    Tokens never span lines, so lexing starts at a line start: the latest one with a token before
    ``position``, which keeps this cheap in a long file.
    """
    start = text.rfind("\n", 0, position) + 1
    while True:
        try:
            tokens = list(parser.lex(text[start:position]))
        except lark.exceptions.LarkError:  # the text before an error always lexes; be safe anyway
            return None
        if tokens or start == 0:
            return tokens[-1] if tokens else None
        start = text.rfind("\n", 0, start - 1) + 1


#: Currency signs a price's unit may be written with (flexopt writes EUR).
_CURRENCY_SIGNS = "€$£¥"
#: Words that mean "per year" after an energy: ``18000 MWh per year``.
_YEAR_WORDS = ("year", "years", "yr", "y", "a", "annum")


def _per_problem(token: Token, text: str, file: str, parser: lark.Lark) -> Problem | None:
    """``18000 MWh per year``: a unit written with 'per' where flexopt writes '/' (``MWh/y``)."""
    if token.type != "NAME" or str(token) != "per":
        return None
    previous = _previous_token(text, token.start_pos, parser)
    line_start = text.rfind("\n", 0, token.start_pos) + 1
    before = re.search(r"(\S+)[ \t]*$", text[line_start: token.start_pos])
    if previous is None or previous.type != "UNIT" or before is None:
        return None
    after = re.match(r"[ \t]*([A-Za-z]\w*)", text[token.end_pos:])
    unit, per = str(previous), after.group(1) if after else ""
    likely = {name.lower(): name for name in ALL_UNITS}.get(
        f"{unit}/{'y' if per.lower() in _YEAR_WORDS else per}".lower())
    rule = "flexopt writes a unit with '/', as one word: demand 18 GWh/y, price fuel 85 EUR/MWh"
    if likely is None:
        span = Span(file, token.line, token.column, token.line, token.column + 3)
        return Problem(f"unexpected 'per' after the unit {unit}", span, f"{rule}; 'per' belongs only in "
                       "'bid points N per direction' and 'remuneration ... per Mvarh'")
    end = token.end_pos + (after.end() if after else 0)
    column = before.start(1) + 1
    span = Span(file, token.line, column, token.line, column + end - (line_start + before.start(1)))
    return Problem(f"'{unit} per {per}' is not a unit flexopt knows", span, f"did you mean '{likely}'? {rule}")


def _voltage_pair_problem(err: UnexpectedToken, text: str, span: Span, parser: lark.Lark) -> Problem | None:
    """``transformer 40 MVA 150 kV/15 kV``: the HV number takes no unit of its own."""
    token = err.token
    if set(err.expected) != {"SLASH"} or token.type not in ("NAME", "UNIT"):
        return None
    previous = _previous_token(text, token.start_pos, parser)
    if previous is None or previous.type != "NUMBER":
        return None
    unit = str(token) if str(token) in ("kV", "V") else "kV"
    mv = re.match(r"\s*/?\s*([0-9][0-9.]*)", text[token.end_pos:])
    pair = f"{previous}/{mv.group(1) if mv else '15'} {unit}"
    return Problem(f"write the voltage pair with one unit at the end: {pair}", span,
                   "the HV number takes the unit of the MV one")


def _unit_problem(token: Token, text: str, file: str, expected: list[str], parser: lark.Lark) -> Problem | None:
    """A mistyped unit where one belongs (after a number): ``10 mw``, ``18 MWh/year``, ``85 EUR/MW``.

    The whole word glued by ``/`` is judged, so ``EUR/MW`` is reported as one unit, not as an
    unexpected ``/``.
    """
    line_start = text.rfind("\n", 0, token.start_pos) + 1
    before = re.search(r"[A-Za-z_][\w/]*$", text[line_start: token.start_pos])  # a word glued to the token's left
    if token.type != "NAME" and not (token.type == "SLASH" and before):
        return None
    start = line_start + before.start() if before else token.start_pos
    end = token.start_pos + re.match(r"[\w/]*", text[token.start_pos:]).end()
    previous = _previous_token(text, start, parser)
    after_number = previous is not None and previous.type == "NUMBER"
    if not after_number and not (token.type == "NAME" and "a unit" in expected):
        return None
    word = text[start:end]
    column = token.column - (token.start_pos - start)
    span = Span(file, token.line, column, token.line, column + len(word))
    keyword = re.search(r"([A-Za-z_]\w*)\s+[+-]?[0-9][0-9.]*\s*$", text[line_start:start])
    return Problem(f"'{shorten(word)}' is not a unit flexopt knows", span,
                   _unit_fix(word, keyword.group(1) if keyword else ""))


#: Statements whose number is an energy per year (``demand 18 GWh/y``, a DER's ``energy 12.9 GWh/y``).
_ANNUAL_ENERGY_WORDS = ("demand", "energy")


def _energy_fix(word: str, keyword: str) -> str | None:
    """``18.0 GWh``: an energy where a power or an energy per year belongs; None for another word."""
    if word.lower() not in ("kwh", "mwh", "gwh", "twh"):
        return None
    if keyword in _ANNUAL_ENERGY_WORDS:
        likely = {unit.lower(): unit for unit in ALL_UNITS}.get(word.lower() + "/y")
        return (f"did you mean '{likely}'? " if likely else "") + \
            f"'{keyword}' is an energy per year: write it in kWh/y, MWh/y or GWh/y"
    if keyword in ALL_UNITS:  # a second quantity: a storage's energy, ``storage 1 MW 2 MWh``
        likely = {unit.lower(): unit for unit in ALL_UNITS}.get(word.lower(), "MWh")
        return f"did you mean '{likely}'? an energy is written in kWh or MWh (e.g. storage 1 MW 2 MWh)"
    return (f"'{word}' is an energy, not a power: write a power in kW, MW or GW (a DER's rating, e.g. 18 MW) and "
            "an apparent power in kVA or MVA; an energy per year goes after 'demand' or a DER's 'energy', in "
            "kWh/y, MWh/y or GWh/y (e.g. demand 18 GWh/y)")


def _unit_fix(word: str, keyword: str = "") -> str:
    """The hint for a mistyped unit: the likely one (``mw`` -> MW, ``MWh/year`` -> MWh/y), then the choices;
    ``keyword`` is the statement's word before the number (``demand``), telling what the number is."""
    energy = _energy_fix(word, keyword)
    if energy is not None:
        return energy
    by_lower = {unit.lower(): unit for unit in ALL_UNITS}
    left, _, right = word.lower().partition("/")
    if left in ("eur", "euro", "euros"):
        if "var" in right:
            likely = "EUR/kvarh" if right.startswith("k") else "EUR/Mvarh"
        else:
            likely = "EUR/kWh" if right.startswith("k") else "EUR/MWh"
        return f"did you mean '{likely}'? a price is in EUR/MWh or EUR/kWh, a reactive price in EUR/Mvarh or EUR/kvarh"
    if left in ("kwh", "mwh", "gwh") and right in ("year", "years", "yr", "a", "annum"):
        suggestion: str | None = f"did you mean '{by_lower[left + '/y']}'?"
    else:
        suggestion = did_you_mean(word, ALL_UNITS)
    return (suggestion + " " if suggestion else "") + _unit_hint()


def _decimal_comma_hint(text: str, token: Token) -> str | None:
    """``1,5 MW``: a decimal comma between digits, written as a decimal point."""
    whole = re.search(r"(?<![\w.])[0-9]+$", text[text.rfind("\n", 0, token.start_pos) + 1: token.start_pos])
    fraction = re.match(r"[0-9]+", text[token.end_pos:])
    if whole is None or fraction is None:
        return None
    return f"use a decimal point: {whole.group()}.{fraction.group()}"


def _or_list(words: list[str]) -> str:
    if len(words) > 10:
        words = words[:10] + ["..."]
    if len(words) <= 1:
        return "".join(words) or "something else"
    return ", ".join(words[:-1]) + " or " + words[-1]


def _unit_hint() -> str:
    return "; ".join(f"{family}: {', '.join(units)}" for family, units in _UNIT_FAMILIES.items())


@functools.lru_cache(maxsize=1)
def _reserved_words(parser: lark.Lark) -> frozenset[str]:
    return frozenset(
        t.pattern.value for t in parser.terminals if t.pattern.type == "str" and t.pattern.value.isidentifier()
    )
