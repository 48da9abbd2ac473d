"""User-facing problems: where they are, what is wrong, and a hint how to fix it.

Every error a user can cause (a bad scenario file, a missing data file, an
unsolvable case) becomes a :class:`Problem`; stages collect them and raise one
:class:`FlexoptError`, which the CLI prints as ``file:line:col: message`` with the
source line, a caret and the hint, then exits with code 2.
"""

from __future__ import annotations

import difflib
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
        """Render as ``file:line:col: error: message``, the source line, a caret and the hint."""
        where = f"{self.span}: " if self.span else ""
        out = [f"{where}{self.severity}: {self.message}"]
        if self.span and source_lines and 1 <= self.span.line <= len(source_lines):
            text = source_lines[self.span.line - 1].rstrip("\r\n").expandtabs(1)
            if len(text) > 200:
                text = text[:200] + " ..."
            gutter = f"{self.span.line:>5} | "
            out.append(gutter + text)
            width = 1
            if self.span.end_line == self.span.line and self.span.end_column:
                width = max(1, self.span.end_column - self.span.column)
            col = min(max(self.span.column - 1, 0), len(text))
            width = max(1, min(width, len(text) - col if len(text) > col else 1))
            out.append(" " * (len(gutter) - 2) + "| " + " " * col + "^" * width)
        if self.hint:
            out.append(f"  hint: {self.hint}")
        return "\n".join(out)


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
            self.sources[file] = text.splitlines()

    def error(self, message: str, span: Span | None = None, hint: str | None = None) -> None:
        self._add(Problem(message, span, hint, "error"))

    def warning(self, message: str, span: Span | None = None, hint: str | None = None) -> None:
        self._add(Problem(message, span, hint, "warning"))

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
