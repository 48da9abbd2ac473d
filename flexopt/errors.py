"""User-facing problems: where they are, what is wrong, and a hint how to fix it.

Every error a user can cause (a bad scenario file, a missing data file, an
unsolvable case) becomes a :class:`Problem`; stages collect them and raise one
:class:`FlexoptError`, which the CLI prints as ``file:line:col: message`` with the
source line, a caret and the hint, then exits with code 2.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Span:
    """A place in a scenario file: 1-based line and column, end exclusive."""

    file: str
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the user's input."""

    message: str
    span: Span | None = None
    hint: str | None = None
    severity: str = "error"  # "error" or "warning"

    def format(self, source_lines: Sequence[str] | None = None) -> str:
        """Render as ``file:line:col: error: message``, the source line, a caret and the hint.

        A long source line is quoted as a window of :data:`QUOTE_WIDTH` characters around the
        caret, and an overlong word in the message or hint is cut (with its length), so that a
        megabyte line never reaches the terminal whole.
        """
        where = f"{self.span}: " if self.span else ""
        out = [f"{where}{self.severity}: {_cut_words(self.message)}"]
        if self.span and source_lines and 1 <= self.span.line <= len(source_lines):
            text = _printable(source_lines[self.span.line - 1].rstrip("\r\n"))
            col = max(self.span.column - 1, 0)
            width = 1
            if self.span.end_line == self.span.line and self.span.end_column:
                width = max(1, self.span.end_column - self.span.column)
            start = 0
            if len(text) > QUOTE_WIDTH:
                start = 0 if col < QUOTE_WIDTH - 20 else col - 20  # the caret stays in view
                total = len(text)
                text = ("…" if start else "") + text[start: start + QUOTE_WIDTH] + \
                       (f" … ({total} characters)" if start + QUOTE_WIDTH < total else "")
                col = col - start + (1 if start else 0)
                width = min(width, QUOTE_WIDTH - (col - (1 if start else 0)))
            gutter = f"{self.span.line:>5} | "
            out.append(gutter + text)
            col = min(col, len(text))
            width = max(1, min(width, len(text) - col if len(text) > col else 1))
            out.append(" " * (len(gutter) - 2) + "| " + " " * col + "^" * width)
        if self.hint:
            out.append(f"  hint: {_cut_words(self.hint)}")
        return "\n".join(out)


#: Characters of a source line quoted under a message; a longer line is shown as a window.
QUOTE_WIDTH = 80
#: Longest word shown whole in a message; a longer one is cut and its length given.
WORD_WIDTH = 60


def shorten(text: str, limit: int = WORD_WIDTH) -> str:
    """A word for a message: itself, or its start and its length when it is longer than ``limit``."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}… ({len(text)} characters)"


def _cut_words(text: str) -> str:
    """The last guard: any word over 200 characters in a message (a long path stays whole) is cut."""
    if len(text) <= 200:
        return text
    return re.sub(r"[^\s'\"]{201,}", lambda m: shorten(m.group()), text)


def _printable(line: str) -> str:
    """A source line for the terminal: tabs as one space, invisible characters (form feed, U+2028,
    no-break space ...) as one visible character, so the caret stays under its column."""
    if line.isprintable():
        return line
    return "".join(ch if ch.isprintable() else (" " if ch.isspace() else "\ufffd") for ch in line)


def source_lines(text: str) -> list[str]:
    """The lines of a scenario as the parser counts them: broken at LF, CRLF and a lone CR only.

    ``str.splitlines`` also breaks at form feeds, U+2028, U+0085 ..., which the parser does not
    count as line breaks; quoting with it would show another line than the one reported.
    """
    return _LINE_BREAK.split(text)


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass
class FlexoptError(Exception):
    """Raised with every problem found; the only exception flexopt lets out for bad input."""

    problems: list[Problem]
    sources: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.format())

    def __reduce__(self):  # cross process boundaries (sweep workers) with the problems intact
        return (FlexoptError, (self.problems, self.sources))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def format(self) -> str:
        return "\n".join(p.format(self.sources.get(p.span.file) if p.span else None) for p in self.problems)

    def __str__(self) -> str:
        return self.format()


class ProblemCollector:
    """Gathers problems during one pass so that all of them are reported together."""

    def __init__(self, file: str, text: str | None = None) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self._seen: set[Problem] = set()
        self.sources: dict[str, list[str]] = {}
        if text is not None:
            self.sources[file] = source_lines(text)

    def error(self, message: str, span: Span | None = None, hint: str | None = None) -> None:
        self._add(Problem(message, span, hint, "error"))

    def warning(self, message: str, span: Span | None = None, hint: str | None = None) -> None:
        self._add(Problem(message, span, hint, "warning"))

    def add(self, problem: Problem) -> None:
        self._add(problem)

    def _add(self, problem: Problem) -> None:
        # cases re-validate what they inherit: report each problem once
        if problem not in self._seen:
            self._seen.add(problem)
            self.problems.append(problem)

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)

    def raise_if_errors(self) -> None:
        if self.has_errors:
            ordered = sorted(self.problems, key=_problem_order)
            raise FlexoptError(ordered, self.sources)

    @property
    def warnings(self) -> list[Problem]:
        return sorted((p for p in self.problems if p.severity == "warning"), key=_problem_order)


def _problem_order(problem: Problem) -> tuple:
    span = problem.span
    if span is None:
        return ("", 0, 0)
    return (span.file, span.line, span.column)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A "did you mean 'X'?" hint for a misspelt name, or None when nothing is close."""
    if len(word) > 2 * WORD_WIDTH:  # no name is that long: nothing is close, and comparing would be slow
        return None
    pool = sorted(set(candidates))
    lowered = {c.lower(): c for c in pool}
    if word.lower() in lowered:  # a slip of case first: 'mw' means 'MW', not 'm'
        return f"did you mean '{lowered[word.lower()]}'?"
    cutoff = 0.5 if len(word) <= 3 else 0.6  # "R2" vs "R1" is a typo too
    close = difflib.get_close_matches(word, pool, n=1, cutoff=cutoff)
    if close:
        return f"did you mean '{close[0]}'?"
    return None


def known_list(candidates: Iterable[str], limit: int = 12) -> str:
    """A short human list of valid choices for a hint."""
    pool = sorted(set(candidates))
    if not pool:
        return "(none declared)"
    shown = ", ".join(f"'{c}'" for c in pool[:limit])
    return shown + (f" and {len(pool) - limit} more" if len(pool) > limit else "")


def file_problem(path: Path | str, message: str, hint: str | None = None) -> FlexoptError:
    """An error about a whole file (missing, unreadable), positioned at line 1."""
    return FlexoptError([Problem(message, Span(str(path), 1, 1), hint)])
