"""The problem-collecting context every section of the validator shares: state, units, ranges, names, data files."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import numpy as np

from flexopt.files import irregular_kind
from flexopt.language import syntax as sx
from flexopt.language import units as u
from flexopt.language.series import CsvTable, read_csv_table
from flexopt.errors import FlexoptError, ProblemCollector, Span, did_you_mean, known_list, shorten
from flexopt.model import Calendar, Der, Feeder, Price, ProfileSource


#: The blocks a case may override; each is given at most once per scope.
SCOPE_BLOCKS = (sx.LimitsBlock, sx.BidsBlock, sx.ReactiveBlock, sx.StudyBlock)
BLOCK_WORDS = {sx.LimitsBlock: "limits", sx.BidsBlock: "bids", sx.ReactiveBlock: "reactive", sx.StudyBlock: "study",
               sx.CalendarBlock: "calendar", sx.SubstationBlock: "substation"}


#: Longest scenario or case name: each names an output folder or file, which must work on every system.
MAX_NAME_LENGTH = 100
_FORBIDDEN_IN_FILE_NAMES = '<>:"/\\|?*'
_WINDOWS_DEVICES = frozenset({"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(1, 10)}
                             | {f"lpt{i}" for i in range(1, 10)})


def file_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a file on Linux, Windows and macOS alike (completing a message
    "case name 'X' ..."), or None when it can."""
    if len(name) > MAX_NAME_LENGTH:
        return f"is {len(name)} characters long; a name may be at most {MAX_NAME_LENGTH}, as it names an output file"
    if len(name.encode("utf-8")) > 2 * MAX_NAME_LENGTH:
        return f"takes {len(name.encode('utf-8'))} bytes; a name may take at most {2 * MAX_NAME_LENGTH}, as it names an output file"
    bad = sorted({ch for ch in name if ch in _FORBIDDEN_IN_FILE_NAMES or ord(ch) < 32})
    if bad:
        return f"holds {' '.join(repr(ch) for ch in bad)}, which a file name cannot hold on every system"
    if name.split(".")[0].lower() in _WINDOWS_DEVICES:
        return f"is a device name on Windows ('{name.split('.')[0].upper()}'), which cannot name a file there"
    if name.endswith((".", " ")):
        return "ends with '.' or a space, which Windows drops from file names"
    return None


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
        #: the scenario's lines as the parser counts them
        self.lines = self.problems.sources[syntax.file]
        #: the calendar once built (None: it has errors); price rules are evaluated over its intervals
        self.calendar_model: Calendar | None = None
        self.conductor_names: set[str] = set()
        self.feeders: dict[str, Feeder] = {}
        self.imported_ders: dict[str, Der] = {}  # the generators of imported substations, as DERs
        self.net_feeder_buses: dict[str, frozenset[str]] = {}  # bus names of each imported substation's feeder
        self.profiles: dict[str, ProfileSource] = {}
        #: hours of the calendar year, bounding a DER's annual energy (a leap year until the calendar is known)
        self.hours_per_year = 8784
        #: names of the DERs each case declares itself, to tell a DER of another case from a misspelt one
        self.case_ders: dict[str, set[str]] = {}
        self._csv_tables: dict[Path, CsvTable | None] = {}
        #: CSV columns read as series, the price values of each distinct set of prices, the rules judged on them
        self.csv_values: dict[tuple[Path, str], np.ndarray | None] = {}
        self.price_sets: dict[tuple[Price, ...], int] = {}
        self.price_values: dict[int, dict[str, np.ndarray]] = {}
        self.series_reported: set[Span | None] = set()
        #: statements already checked against a set of prices, by (kind, id, price units): a chain of cases
        #: replays its ancestors' blocks, and each is checked once (reported once), not once per descendant
        self.checked: dict[tuple, object] = {}
        #: each case as resolved (see CaseRules.build_case), for the cases that extend it
        self.resolved: dict[str, object] = {}
        #: upward offers already checked for derating (a rule inherited by several cases is reported once)
        self.checked_up_offers: set[tuple[Span, str]] = set()
        #: feeders whose length the case being built changes: that case's name and the line of the length
        self.length_changed_by: dict[str, tuple[str, int]] = {}

    # -- small helpers ----------------------------------------------------------
    def error(self, message: str, span: Span | None, hint: str | None = None) -> None:
        self.problems.error(message, span, hint)

    def absorb(self, err: FlexoptError) -> None:
        """Collect the problems of a FlexoptError raised by a reader (a CSV file's own, with its lines)."""
        self.problems.sources.update(err.sources)
        for problem in err.problems:
            self.problems.add(problem)

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
            per_year = f"did you mean '{unit}/y'? " if f"{unit}/y" in dim.factors else ""  # demand 18000 MWh
            self.error(f"{what} is {dim.name}, but '{unit}' is {u.describe_unit(unit)}", q.span,
                       f"{per_year}use one of: {dim.examples()}")
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
        try:
            resolved = (self.folder / raw).resolve()
            regular = resolved.is_file()
        except OSError as err:  # a name too long for the file system, a loop of links ...
            self.error(f"{what} path '{shorten(word.text)}' cannot be opened: {err.strerror or err}", word.span,
                       "check the path; it is relative to the scenario file's folder")
            return None
        if not resolved.is_relative_to(self.folder):
            self.error(f"{what} path '{shorten(word.text)}' leaves the scenario's folder", word.span,
                       "keep data files in the scenario's folder or a subfolder, so the study can be shared")
            return None
        kind = irregular_kind(resolved)
        if kind is not None:
            self.error(f"{what} file '{shorten(word.text)}' is {kind}, not a regular file", word.span,
                       "name a file saved on disk; flexopt does not read pipes or devices, which may never end")
            return None
        if not regular:
            hint = did_you_mean_file(resolved)
            self.error(f"{what} file '{shorten(word.text)}' does not exist (looked in {resolved.parent})", word.span,
                       hint or "check the path; it is relative to the scenario file's folder")
            return None
        return resolved

    def csv_table(self, path: Path, span: Span) -> CsvTable | None:
        """A CSV data file, read once (size-capped); None, with its problem, when it cannot be read."""
        if path not in self._csv_tables:
            try:
                self._csv_tables[path] = read_csv_table(path, span)
            except FlexoptError as err:
                self.absorb(err)
                self._csv_tables[path] = None
        return self._csv_tables[path]

    def csv_header(self, path: Path, span: Span) -> list[str] | None:
        table = self.csv_table(path, span)
        return table.header if table is not None else None

    def check_column(self, path: Path, column: sx.Word, file_word: sx.Word | None = None) -> None:
        """The column must be in the CSV's header; a file that cannot be read is reported at ``file_word``."""
        header = self.csv_header(path, file_word.span if file_word is not None else column.span)
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


def price_signature(prices) -> tuple:
    """What the check of an expression depends on: the names of the prices and their units."""
    return tuple(sorted((name, price.unit) for name, price in prices.items()))
