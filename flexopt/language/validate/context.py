"""The problem-collecting context every section of the validator shares: state, units, ranges, names, data files."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Iterable

from flexopt.language import syntax as sx
from flexopt.language import units as u
from flexopt.errors import ProblemCollector, Span, did_you_mean, known_list
from flexopt.model import Feeder, ProfileSource


#: The blocks a case may override; each is given at most once per scope.
SCOPE_BLOCKS = (sx.LimitsBlock, sx.BidsBlock, sx.ReactiveBlock, sx.StudyBlock)
BLOCK_WORDS = {sx.LimitsBlock: "limits", sx.BidsBlock: "bids", sx.ReactiveBlock: "reactive", sx.StudyBlock: "study",
               sx.CalendarBlock: "calendar", sx.SubstationBlock: "substation"}


def did_you_mean_file(path: Path) -> str | None:
    folder = path.parent if str(path.parent) else Path(".")
    try:
        siblings = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    except OSError:
        siblings = []
    return did_you_mean(path.name, siblings)


class Context:
    """Shared state and small helpers; the section mixins add the rules of each part of the language."""

    def __init__(self, syntax: sx.ScenarioSyntax, folder: Path) -> None:
        self.syntax = syntax
        self.folder = folder.resolve()
        self.file = syntax.file
        self.problems = ProblemCollector(syntax.file, syntax.text)
        self.conductor_names: set[str] = set()
        self.feeders: dict[str, Feeder] = {}
        self.profiles: dict[str, ProfileSource] = {}
        #: hours of the calendar year, bounding a DER's annual energy (a leap year until the calendar is known)
        self.hours_per_year = 8784
        #: names of the DERs each case declares itself, to tell a DER of another case from a misspelt one
        self.case_ders: dict[str, set[str]] = {}
        self._csv_headers: dict[Path, list[str] | None] = {}
        #: upward offers already checked for derating (a rule inherited by several cases is reported once)
        self.checked_up_offers: set[tuple[Span, str]] = set()
        #: feeders whose length the case being built changes: that case's name and the line of the length
        self.length_changed_by: dict[str, tuple[str, int]] = {}

    # -- small helpers ----------------------------------------------------------
    def error(self, message: str, span: Span | None, hint: str | None = None) -> None:
        self.problems.error(message, span, hint)

    def value(self, q: sx.Quantity, dim: u.Dimension, what: str, *, default_unit: str | None = None,
              minimum: float | None = None, maximum: float | None = None, above: float | None = None,
              integer: bool = False) -> float | None:
        """Convert a written quantity into the model unit of ``dim``, checking unit and range."""
        unit = q.unit
        if unit is None:
            if default_unit is None:
                self.error(f"{what} needs a unit", q.span, f"write {dim.name}, e.g. in {dim.examples()}")
                return None
            unit = default_unit
        if unit not in dim.factors:
            self.error(f"{what} is {dim.name}, but '{unit}' is {u.describe_unit(unit)}", q.span,
                       f"use one of: {dim.examples()}")
            return None
        value = q.value * dim.factors[unit]
        return self.check_range(value, q.span, what, unit=dim.model_unit, minimum=minimum, maximum=maximum,
                                above=above, integer=integer)

    def check_range(self, value: float, span: Span, what: str, *, unit: str = "", minimum: float | None = None,
                    maximum: float | None = None, above: float | None = None, integer: bool = False) -> float | None:
        """``value`` if it is finite and in range, else None with an error that shows ``unit`` ("100 %")."""
        shown_unit = f" {unit}" if unit else ""
        if not math.isfinite(value):
            self.error(f"{what} is not a finite number", span)
            return None
        if integer and value != int(value):
            self.error(f"{what} must be a whole number, got {value:g}", span)
            return None
        if minimum is not None and value < minimum:
            self.error(f"{what} must be at least {minimum:g}{shown_unit}, got {value:g}{shown_unit}", span)
            return None
        if above is not None and value <= above:
            self.error(f"{what} must be more than {above:g}{shown_unit}, got {value:g}{shown_unit}", span)
            return None
        if maximum is not None and value > maximum:
            self.error(f"{what} must be at most {maximum:g}{shown_unit}, got {value:g}{shown_unit}", span)
            return None
        return value

    def number(self, q: sx.Quantity, what: str, **kw) -> float | None:
        """A plain number (no unit allowed)."""
        if q.unit is not None:
            self.error(f"{what} is a plain number, without a unit ('{q.unit}')", q.span, "remove the unit")
            return None
        return self.check_range(q.value, q.span, what, **kw)

    def settings_once(self, settings: Iterable[sx.Setting], where: str) -> dict[str, sx.Setting]:
        """Index a block's settings by keyword, reporting a keyword given twice."""
        seen: dict[str, sx.Setting] = {}
        for setting in settings:
            if setting.key in seen and setting.key not in ("season", "days"):
                first = seen[setting.key].span
                self.error(f"'{setting.key}' is given twice in {where}", setting.span,
                           f"the first one is on line {first.line}; keep one")
                continue
            seen[setting.key] = setting
        return seen

    def data_path(self, word: sx.Word, what: str) -> Path | None:
        """Resolve a data file relative to the scenario's folder; it must exist and stay inside it."""
        raw = Path(word.text)
        if raw.is_absolute():
            self.error(f"{what} path must be relative to the scenario's folder", word.span,
                       "write the path from the scenario's folder, e.g. \"data/prices.csv\"")
            return None
        resolved = (self.folder / raw).resolve()
        if not resolved.is_relative_to(self.folder):
            self.error(f"{what} path '{word.text}' leaves the scenario's folder", word.span,
                       "keep data files in the scenario's folder or a subfolder, so the study can be shared")
            return None
        if not resolved.is_file():
            hint = did_you_mean_file(resolved)
            self.error(f"{what} file '{word.text}' does not exist (looked in {resolved.parent})", word.span,
                       hint or "check the path; it is relative to the scenario file's folder")
            return None
        return resolved

    def csv_header(self, path: Path, span: Span) -> list[str] | None:
        if path not in self._csv_headers:
            header: list[str] | None = None
            try:
                with path.open(newline="", encoding="utf-8-sig") as handle:
                    header = next(csv.reader(handle), [])
            except (OSError, UnicodeDecodeError, csv.Error) as err:
                self.error(f"cannot read the CSV header of '{path.name}': {err}", span, "save it as UTF-8 CSV")
            self._csv_headers[path] = header
        return self._csv_headers[path]

    def check_column(self, path: Path, column: sx.Word) -> None:
        header = self.csv_header(path, column.span)
        if header is not None and column.text not in header:
            self.error(f"column '{column.text}' is not in {path.name}", column.span,
                       did_you_mean(column.text, header) or f"its columns are: {known_list(header)}")

    def name(self, word: sx.Word, kind: str, taken: dict[str, Span]) -> bool:
        """Register a declared name, reporting duplicates."""
        if word.text in taken:
            self.error(f"{kind} '{word.text}' is declared twice", word.span,
                       f"the first declaration is on line {taken[word.text].line}; names must be unique")
            return False
        taken[word.text] = word.span
        return True
