"""Validate stage: syntax tree -> :class:`~flexopt.model.Scenario`, or every problem at once.

Checks names and references (with "did you mean" hints), duplicates, value
ranges, units (converted here, once, into the model's units), cycles in
``extends`` and among prices, and the data files a scenario refers to (they must
exist and stay inside the scenario's folder). All problems are collected and
raised together as one :class:`~flexopt.errors.FlexoptError`.
"""

from __future__ import annotations

import calendar as pycalendar
import csv
import datetime as dt
import functools
import hashlib
import math
from dataclasses import replace
from pathlib import Path
from typing import Iterable

from flexopt.language import expressions as ex
from flexopt.language import syntax as sx
from flexopt.language import units as u
from flexopt.errors import Problem, ProblemCollector, Span, did_you_mean, file_problem, known_list
from flexopt.model import (
    CUSTOMER_CLASSES,
    DAY_TYPES,
    DER_GROUPS,
    DER_KINDS,
    REMEDIES,
    STATIC_KINDS,
    BidRule,
    BidSelector,
    Calendar,
    Capability,
    Case,
    ConductorType,
    CustomerShare,
    Der,
    Feeder,
    Limits,
    Offer,
    PointOnFeeder,
    Position,
    Price,
    ProfileSource,
    ReactiveRemuneration,
    Scenario,
    Study,
    Substation,
    day_type_index,
    public_holidays,
    TransformerData,
)

MONTHS = {name.lower(): i for i, name in enumerate(pycalendar.month_abbr) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(pycalendar.month_name) if name})

DEFAULT_SEASONS = (("winter", (12, 1, 2)), ("spring", (3, 4, 5)), ("summer", (6, 7, 8)), ("autumn", (9, 10, 11)))
DEFAULT_YEAR = 2019

#: Parameters each profile generator takes: name -> (dimension or None for a word, allowed words, required).
GENERATOR_PARAMS: dict[str, dict[str, tuple[u.Dimension | None, tuple[str, ...] | None, bool]]] = {
    "pv": {
        "latitude": (u.ANGLE, None, True),
        "longitude": (u.ANGLE, None, True),
        "tilt": (u.ANGLE, None, False),
        "azimuth": (u.ANGLE, None, False),
        "altitude": (u.LENGTH, None, False),
        "losses": (u.PERCENT, None, False),
    },
    "wind": {
        "site": (None, ("coastal", "mountain"), True),
        "hub_height": (u.LENGTH, None, False),
        "turbine": (None, None, False),
    },
    "chp": {
        "zone": (None, ("A", "B", "C", "D", "E", "F"), True),
        "minimum": (u.PERCENT, None, False),
    },
    "demand": {
        "class": (None, CUSTOMER_CLASSES, True),
    },
}

#: Functions of price expressions; their names cannot name a price (it could never be referred to).
EXPRESSION_FUNCTIONS = ("min", "max")

#: Data files a scenario refers to, by suffix: what they are, for "this is ..., not a scenario file".
DATA_FILE_KINDS = {".csv": "a CSV data file", ".json": "a JSON file (a pandapower network?)"}

SCOPE_BLOCKS = (sx.LimitsBlock, sx.BidsBlock, sx.ReactiveBlock, sx.StudyBlock)
BLOCK_WORDS = {sx.LimitsBlock: "limits", sx.BidsBlock: "bids", sx.ReactiveBlock: "reactive", sx.StudyBlock: "study",
               sx.CalendarBlock: "calendar", sx.SubstationBlock: "substation"}


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


def load_scenario(path: str | Path) -> tuple[Scenario, list[Problem]]:
    """Read, parse and validate a scenario file; returns it with its warnings."""
    path = Path(path)
    shown = str(path)
    if not path.exists():
        raise file_problem(shown, "no such file", did_you_mean_file(path))
    if path.is_dir():
        raise file_problem(shown, "this is a folder, not a scenario file", "name a .flex file inside it")
    if path.suffix.lower() in DATA_FILE_KINDS:
        raise file_problem(shown, f"this is {DATA_FILE_KINDS[path.suffix.lower()]}, not a scenario file",
                           "name the .flex scenario file that refers to it")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise file_problem(shown, f"cannot read the file: {err.strerror or err}") from None
    text = sx.decode(data, shown)
    return load_scenario_text(text, shown, path.resolve().parent)


def load_scenario_text(text: str, file: str = "<scenario>", folder: Path | None = None) -> tuple[Scenario, list[Problem]]:
    """Parse and validate scenario text; data paths are resolved against ``folder``."""
    syntax = sx.parse_text(text, file)
    return validate(syntax, folder or Path.cwd())


def validate(syntax: sx.ScenarioSyntax, folder: Path) -> tuple[Scenario, list[Problem]]:
    """Check a parsed scenario and build the model; raises FlexoptError listing all problems."""
    validator = _Validator(syntax, folder)
    scenario = validator.run()
    validator.problems.raise_if_errors()
    assert scenario is not None
    return scenario, validator.problems.warnings


def did_you_mean_file(path: Path) -> str | None:
    folder = path.parent if str(path.parent) else Path(".")
    try:
        siblings = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    except OSError:
        siblings = []
    return did_you_mean(path.name, siblings)


# ---------------------------------------------------------------------------
# The validator
# ---------------------------------------------------------------------------


class _Validator:
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

    # -- run ------------------------------------------------------------------
    def run(self) -> Scenario | None:
        statements = self.syntax.statements
        header = self.syntax.header
        name = header.name.text.strip()
        if not name:
            self.error("the scenario needs a name", header.name.span, 'e.g. scenario "my_substation"')
        elif not all(ch.isalnum() or ch in "_-." for ch in name):
            self.error(f"scenario name '{name}' may hold only letters, digits, '_', '-' and '.'", header.name.span,
                       "it names the output folder")
        elif name in (".", ".."):
            self.error(f"scenario name '{name}' is not a usable folder name", header.name.span,
                       "it names the output folder; use letters or digits, e.g. scenario \"my_substation\"")

        singles: dict[type, object] = {}
        for stmt in statements:
            if isinstance(stmt, (sx.CalendarBlock, sx.SubstationBlock) + SCOPE_BLOCKS):
                kind = type(stmt)
                if kind in singles:
                    first = singles[kind].span  # type: ignore[attr-defined]
                    self.error(f"a second '{BLOCK_WORDS[kind]}' block", stmt.span,
                               f"merge it into the first one on line {first.line}")
                else:
                    singles[kind] = stmt

        calendar = self.calendar(singles.get(sx.CalendarBlock))
        if calendar is not None:
            self.hours_per_year = calendar.days_per_year * 24
        self.conductor_types = self.conductors([s for s in statements if isinstance(s, sx.ConductorDecl)])
        self.profile_sources([s for s in statements if isinstance(s, sx.ProfileDecl)])
        substation = self.substation(singles.get(sx.SubstationBlock))
        self.feeder_list([s for s in statements if isinstance(s, sx.FeederDecl)])
        cases = self.cases(statements)
        if self.problems.has_errors or substation is None or calendar is None:
            return None
        return Scenario(
            name=name,
            title=header.title,
            file=Path(self.file),
            text_sha256=hashlib.sha256(self.syntax.text.encode("utf-8")).hexdigest(),
            calendar=calendar,
            profiles=tuple(self.profiles.values()),
            conductor_types=self.conductor_types,
            substation=substation,
            feeders=tuple(self.feeders.values()),
            cases=cases,
        )

    # -- calendar -----------------------------------------------------------------
    def calendar(self, block: sx.CalendarBlock | None) -> Calendar | None:
        settings = block.settings if block else ()
        singles = self.settings_once(settings, "the calendar")
        year = None
        if "year" in singles:
            year = self.number(singles["year"].value, "the year", minimum=1900, maximum=2200, integer=True)
            year = int(year) if year is not None else None
        country = None
        if "holidays" in singles:
            word: sx.Word = singles["holidays"].value
            country = word.text.upper()
            if not _known_holiday_country(country):
                self.error(f"no public-holiday calendar for '{word.text}'", word.span,
                           "use an ISO 3166 country code such as \"IT\", \"ES\" or \"DE\"")
                country = None
        steps = 24
        if "hours" in singles:
            q = singles["hours"].value
            value = self.number(q, "hours per day", minimum=1, maximum=24, integer=True)
            if value is not None and 24 % int(value):
                self.error(f"hours per day must divide 24 evenly, got {int(value)}", q.span, "use 24, 12, 8, 6, 4, 3, 2 or 1")
            elif value is not None:
                steps = int(value)

        seasons: list[tuple[str, tuple[int, ...]]] = []
        season_spans: dict[str, Span] = {}
        month_owner: dict[int, str] = {}
        for setting in (s for s in settings if s.key == "season"):
            decl: sx.SeasonDecl = setting.value
            if not self.name(decl.name, "season", season_spans):
                continue
            months = []
            for month in decl.months:
                number = MONTHS.get(month.text.lower())
                if number is None:
                    self.error(f"'{month.text}' is not a month", month.span,
                               did_you_mean(month.text.lower(), MONTHS) or "write months as jan, feb, ... dec")
                    continue
                if number in month_owner:
                    self.error(f"{pycalendar.month_name[number]} is already in season '{month_owner[number]}'", month.span,
                               "each month belongs to one season")
                    continue
                month_owner[number] = decl.name.text
                months.append(number)
            seasons.append((decl.name.text, tuple(months)))
        if not seasons:
            seasons = list(DEFAULT_SEASONS)
        elif len(month_owner) < 12 and not any(s.key == "days" for s in settings):
            missing = [pycalendar.month_abbr[m].lower() for m in range(1, 13) if m not in month_owner]
            self.error(f"months {', '.join(missing)} belong to no season", block.span if block else None,
                       "list every month in one season, or give the day counts with 'days'")

        season_names = [s for s, _ in seasons]
        explicit: dict[str, dict[str, int]] = {}
        days_readable = True  # False once a 'days' line has an error: its totals would only repeat it
        for setting in (s for s in settings if s.key == "days"):
            decl: sx.DaysDecl = setting.value
            season = decl.season.text
            if season not in season_names:
                self.error(f"unknown season '{season}'", decl.season.span,
                           did_you_mean(season, season_names) or f"seasons: {known_list(season_names)}")
                days_readable = False
                continue
            if season in explicit:
                self.error(f"days of season '{season}' are given twice", setting.span)
                days_readable = False
                continue
            counts: dict[str, int] = {}
            for day_type, q in decl.counts:
                if day_type.text not in DAY_TYPES:
                    self.error(f"unknown day type '{day_type.text}'", day_type.span,
                               did_you_mean(day_type.text, DAY_TYPES) or f"day types: {known_list(DAY_TYPES)}")
                    days_readable = False
                    continue
                n = self.number(q, f"days of {season} {day_type.text}", minimum=0, maximum=366, integer=True)
                if n is None:
                    days_readable = False
                else:
                    counts[day_type.text] = int(n)
            explicit[season] = counts

        if not days_readable:
            return None
        if explicit:
            missing_seasons = [s for s in season_names if s not in explicit]
            if missing_seasons:
                self.error(f"day counts are missing for season(s) {', '.join(missing_seasons)}", block.span if block else None,
                           "give 'days' for every season, or none to count them from the year's calendar")
                return None
            day_counts = tuple(tuple(explicit[s].get(d, 0) for d in DAY_TYPES) for s in season_names)
            total = sum(map(sum, day_counts))
            expected = (366 if pycalendar.isleap(year) else 365) if year else None
            if (expected and total != expected) or (not expected and total not in (365, 366)):
                self.error(f"the day counts add up to {total} days, not {expected or 365}",
                           block.span if block else None, "each day of the year is one typical day of one season")
                return None
        else:
            counting_year = year or DEFAULT_YEAR
            day_counts = _count_days(counting_year, seasons, country)
            year = counting_year
        return Calendar(
            seasons=tuple(season_names),
            season_months=tuple(m for _, m in seasons),
            day_types=DAY_TYPES,
            steps_per_day=steps,
            day_counts=day_counts,
            year=year,
            holiday_country=country,
            span=block.span if block else None,
        )

    # -- conductors, profiles -------------------------------------------------------
    def conductors(self, decls: list[sx.ConductorDecl]) -> tuple[ConductorType, ...]:
        taken: dict[str, Span] = {}
        result = []
        fields = {"resistance": u.RESISTANCE_PER_KM, "reactance": u.RESISTANCE_PER_KM,
                  "capacitance": u.CAPACITANCE_PER_KM, "ampacity": u.CURRENT}
        for decl in decls:
            if not self.name(decl.name, "conductor", taken):
                continue
            values: dict[str, float] = {}
            misspelt = False
            for key, q in decl.params:
                if key.text not in fields:
                    misspelt = True
                    self.error(f"unknown conductor parameter '{key.text}'", key.span,
                               did_you_mean(key.text, fields) or f"parameters: {known_list(fields)}")
                    continue
                if key.text in values:
                    self.error(f"'{key.text}' is given twice", key.span)
                    continue
                v = self.value(q, fields[key.text], f"the {key.text}", minimum=0,
                               above=0 if key.text in ("reactance", "ampacity") else None)
                if v is not None:
                    values[key.text] = v
            given = {key.text for key, _ in decl.params}
            missing = [f for f in fields if f not in given and f != "capacitance"]
            if missing:
                if not misspelt:  # a misspelt parameter is reported as such, not once more as missing
                    self.error(f"conductor '{decl.name.text}' lacks {', '.join(missing)}", decl.span,
                               "give resistance and reactance in ohm/km and ampacity in A")
                continue
            if all(f in values for f in fields if f != "capacitance"):
                result.append(ConductorType(decl.name.text, values["resistance"], values["reactance"],
                                            values.get("capacitance", 0.0), values["ampacity"], decl.span))
        self.conductor_names = set(taken)
        return tuple(result)

    def profile_sources(self, decls: list[sx.ProfileDecl]) -> None:
        taken: dict[str, Span] = {}
        for decl in decls:
            if not self.name(decl.name, "profile", taken):
                continue
            if decl.source == "csv":
                path = self.data_path(decl.path, "profile")
                if path is not None:
                    self.check_column(path, decl.column)
                self.profiles[decl.name.text] = ProfileSource(decl.name.text, "csv", path, decl.column.text, None, (),
                                                              decl.span)
                continue
            generator = decl.generator.text
            if generator not in GENERATOR_PARAMS:
                self.error(f"no profile generator '{generator}'", decl.generator.span,
                           did_you_mean(generator, GENERATOR_PARAMS) or f"generators: {known_list(GENERATOR_PARAMS)}")
                continue
            schema = GENERATOR_PARAMS[generator]
            params: dict[str, float | str] = {}
            misspelt = False
            for key, value in decl.params:
                if key.text not in schema:
                    misspelt = True
                    self.error(f"the {generator} generator has no parameter '{key.text}'", key.span,
                               did_you_mean(key.text, schema) or f"parameters: {known_list(schema)}")
                    continue
                if key.text in params:
                    self.error(f"'{key.text}' is given twice", key.span)
                    continue
                dim, choices, _ = schema[key.text]
                if dim is not None:
                    if not isinstance(value, sx.Quantity):
                        self.error(f"'{key.text}' takes a number with a unit ({dim.examples()})", value.span)
                        continue
                    limits = {"latitude": (-90, 90), "longitude": (-180, 180), "tilt": (0, 90), "azimuth": (0, 360),
                              "losses": (0, 100), "minimum": (0, 100), "altitude": (0, 9), "hub_height": (0.005, 0.3)}
                    low, high = limits.get(key.text, (None, None))
                    v = self.value(value, dim, f"the {key.text}", minimum=low, maximum=high)
                    if v is not None:
                        params[key.text] = v
                    continue
                if isinstance(value, sx.Quantity):
                    self.error(f"'{key.text}' takes a word, not a number", value.span,
                               f"choices: {known_list(choices)}" if choices else None)
                    continue
                if choices is not None and value.text not in choices:
                    self.error(f"'{value.text}' is not a valid {key.text}", value.span,
                               did_you_mean(value.text, choices) or f"choices: {known_list(choices)}")
                    continue
                params[key.text] = value.text
            for key, (_, _, required) in schema.items():
                if required and not misspelt and not any(k.text == key for k, _ in decl.params):
                    self.error(f"the {generator} generator needs '{key}'", decl.span,
                               f"add it inside the braces: {{ {key} ... }}")
            self.profiles[decl.name.text] = ProfileSource(decl.name.text, "generated", None, None, generator,
                                                          tuple(sorted(params.items())), decl.span)

    # -- substation -----------------------------------------------------------------
    def substation(self, block: sx.SubstationBlock | None) -> Substation | None:
        if block is None:
            self.error("the scenario has no substation", self.syntax.header.span,
                       "add: substation PS { transformer 40 MVA 150/15 kV  busbar 1.0 pu }")
            return None
        singles = self.settings_once(block.settings, "the substation")
        busbar = 1.0
        if "busbar" in singles:
            busbar = self.value(singles["busbar"].value, u.PER_UNIT, "the busbar voltage setpoint", default_unit="pu",
                                minimum=0.85, maximum=1.15) or 1.0
        if "transformer" not in singles:
            self.error("the substation has no transformer", block.span, "add: transformer 40 MVA 150/15 kV")
            return None
        t: sx.TransformerDecl = singles["transformer"].value
        rated = self.value(t.rating, u.APPARENT_POWER, "the transformer rating", above=0, maximum=1000)
        lv = self.value(t.lv, u.VOLTAGE, "the MV voltage", above=0, maximum=70)
        hv = None
        if lv is not None:
            hv = self.value(replace(t.hv, unit=t.hv.unit or t.lv.unit), u.VOLTAGE, "the HV voltage", above=lv, maximum=1000)
        options = self.settings_once(t.options, "the transformer")
        defaults = {"short circuit voltage": 12.0, "copper losses": 0.4, "iron losses": 20.0, "no load current": 0.05}
        dims = {"short circuit voltage": u.PERCENT, "copper losses": u.PERCENT, "iron losses": u.POWER,
                "no load current": u.PERCENT}
        values = dict(defaults)
        for key, setting in options.items():
            dim = dims[key]
            v = self.value(setting.value, dim, f"the {key}", minimum=0, maximum=50 if dim is u.PERCENT else 10)
            if v is not None:
                values[key] = v * (1000.0 if key == "iron losses" else 1.0)  # MW -> kW
        if values["copper losses"] >= values["short circuit voltage"]:
            self.error("the copper losses must be below the short-circuit voltage", t.span,
                       "typical HV/MV values: short circuit voltage 12 %, copper losses 0.4 %")
        if rated is None or lv is None or hv is None:
            return None
        data = TransformerData(rated, hv, lv, values["short circuit voltage"], values["copper losses"],
                               values["iron losses"], values["no load current"])
        return Substation(block.name.text, data, busbar, block.span)

    # -- feeders --------------------------------------------------------------------
    def feeder_list(self, decls: list[sx.FeederDecl]) -> None:
        taken: dict[str, Span] = {}
        if not decls:
            self.error("the scenario has no feeder", self.syntax.header.span,
                       "add one, e.g.: feeder R1 rural { length 20 km  sections 20  conductor \"NA2XS2Y 1x185 RM/25 12/20 kV\"  demand 10 GWh/y  mix residential 100 % }")
        for decl in decls:
            if not self.name(decl.name, "feeder", taken):
                continue
            feeder = self.feeder(decl)
            if feeder is not None:
                self.feeders[feeder.name] = feeder

    def feeder(self, decl: sx.FeederDecl) -> Feeder | None:
        where = f"feeder '{decl.name.text}'"
        singles = self.settings_once(decl.settings, where)
        ambit = decl.ambit.text if decl.ambit else None
        synthetic_only = ("length", "sections", "laterals", "conductor")
        path = builder = None
        length = sections = None
        laterals = 0
        conductor = None
        if decl.source == "synthetic":
            for key in ("length", "sections", "conductor"):
                if key not in singles:
                    example = {"length": "length 20 km", "sections": "sections 20",
                               "conductor": 'conductor "NA2XS2Y 1x185 RM/25 12/20 kV"'}[key]
                    self.error(f"synthetic {where} needs '{key}'", decl.span, f"add: {example}")
            if "length" in singles:
                length = self.value(singles["length"].value, u.LENGTH, "the feeder length", above=0, maximum=300)
            if "sections" in singles:
                s = self.number(singles["sections"].value, "the number of sections", minimum=1, maximum=2000, integer=True)
                sections = int(s) if s is not None else None
            if "laterals" in singles:
                lat = self.number(singles["laterals"].value, "the number of laterals", minimum=0, maximum=100, integer=True)
                laterals = int(lat) if lat is not None else 0
                if sections is not None and laterals >= sections + 1 and lat is not None:
                    self.error(f"{laterals} laterals need more than {sections} sections", singles["laterals"].span,
                               "a lateral branches off a node of the main line")
            if "conductor" in singles:
                word: sx.Word = singles["conductor"].value
                if not self.conductor_known(word.text):
                    self.error(f"unknown conductor type '{word.text}'", word.span,
                               did_you_mean(word.text, self.conductor_choices())
                               or "use a pandapower line standard type or declare it: conductor \"name\" { resistance ... }")
                else:
                    conductor = word.text
        else:
            for key in synthetic_only:
                if key in singles:
                    self.error(f"'{key}' applies only to synthetic feeders", singles[key].span,
                               "an imported feeder takes its lines from its source")
            if decl.source == "file":
                if not decl.reference.text.lower().endswith(".json"):
                    self.error("an imported feeder must be a pandapower JSON file (.json)", decl.reference.span)
                else:
                    path = self.data_path(decl.reference, "feeder")
            else:
                builder = decl.reference.text
                choices = pandapower_builders()
                if builder not in choices:
                    self.error(f"pandapower.networks has no network builder '{builder}'", decl.reference.span,
                               did_you_mean(builder, choices) or "e.g. \"create_cigre_network_mv\"")
        demand = None
        if "demand" in singles:
            demand = self.value(singles["demand"].value, u.ENERGY_PER_YEAR, "the annual demand", minimum=0, maximum=1e7)
        elif decl.source == "synthetic":
            self.error(f"synthetic {where} needs 'demand'", decl.span, "add the annual energy of its loads: demand 10 GWh/y")
        mix: list[CustomerShare] = []
        if "mix" in singles:
            mix = self.customer_mix(singles["mix"])
        elif demand:
            self.error(f"{where} needs a customer 'mix' for its demand", decl.span, "add e.g.: mix residential 60 %  commercial 40 %")
        pf = 0.95
        if "power factor" in singles:
            pf = self.number(singles["power factor"].value, "the load power factor", above=0, maximum=1) or pf
        return Feeder(decl.name.text, ambit, decl.source, path, builder, length, sections, laterals, conductor,
                      demand, tuple(mix), pf, decl.span)

    def customer_mix(self, setting: sx.Setting) -> list[CustomerShare]:
        shares: list[CustomerShare] = []
        seen: set[str] = set()
        total = 0.0
        for word, q in setting.value:
            if word.text not in CUSTOMER_CLASSES:
                self.error(f"unknown customer class '{word.text}'", word.span,
                           did_you_mean(word.text, CUSTOMER_CLASSES) or f"classes: {known_list(CUSTOMER_CLASSES)}")
                continue
            if word.text not in self.profiles:
                self.error(f"no profile for the {word.text} customers", word.span,
                           f"declare one named like the class: profile {word.text} generated demand {{ class {word.text} }}")
            if word.text in seen:
                self.error(f"customer class '{word.text}' appears twice in the mix", word.span)
                continue
            seen.add(word.text)
            share = self.value(q, u.PERCENT, f"the {word.text} share", minimum=0, maximum=100)
            if share is None:
                continue
            total += share
            shares.append(CustomerShare(word.text, share / 100.0))
        if shares and abs(total - 100.0) > 0.01 and len(shares) == len(setting.value):
            self.error(f"the customer mix adds up to {total:g} %, not 100 %", setting.span,
                       "the shares split the feeder's annual demand among classes")
        return shares

    def conductor_known(self, name: str) -> bool:
        return name in self.conductor_names or name in pandapower_line_types()

    def conductor_choices(self) -> list[str]:
        return sorted(self.conductor_names | set(pandapower_line_types()))

    # -- cases ----------------------------------------------------------------------
    def cases(self, statements: tuple[object, ...]) -> tuple[Case, ...]:
        base = [s for s in statements if isinstance(s, (sx.PriceDecl, sx.DerDecl) + SCOPE_BLOCKS)]
        decls = [s for s in statements if isinstance(s, sx.CaseDecl)]
        taken: dict[str, Span] = {}
        by_name: dict[str, sx.CaseDecl] = {}
        for decl in decls:
            if self.name(decl.name, "case", taken):
                by_name[decl.name.text] = decl
        self.case_ders = {name: {s.name.text for s in decl.statements if isinstance(s, sx.DerDecl)}
                          for name, decl in by_name.items()}
        for decl in decls:
            self.check_scope(decl.statements, f"case '{decl.name.text}'")
        self.check_scope(tuple(base), "the scenario")

        chains: dict[str, list[sx.CaseDecl]] = {}
        for decl in by_name.values():
            chain = self.extends_chain(decl, by_name)
            if chain is not None:
                chains[decl.name.text] = chain
        if not decls:
            case = self.build_case("base", self.syntax.header.title, None, [base], None)
            return (case,) if case else ()
        for name, decl in by_name.items():
            if name not in chains:  # its ancestry is broken: still check what it states itself
                self.build_case(name, decl.title, None, [base, list(decl.statements)], decl.span, ancestry_known=False)
        result = []
        for name, chain in chains.items():
            decl = by_name[name]
            scopes = [base] + [list(c.statements) for c in chain]
            case = self.build_case(name, decl.title, decl.extends.text if decl.extends else None, scopes, decl.span)
            if case is not None:
                result.append(case)
        return tuple(result)

    def check_scope(self, statements: tuple[object, ...], where: str) -> None:
        """One block of each kind per scope, and unique DER and price names within it."""
        seen: dict[type, Span] = {}
        ders: dict[str, Span] = {}
        prices: dict[str, Span] = {}
        for stmt in statements:
            if isinstance(stmt, SCOPE_BLOCKS) and where != "the scenario":
                if type(stmt) in seen:
                    self.error(f"a second '{BLOCK_WORDS[type(stmt)]}' block in {where}", stmt.span,
                               f"merge it into the first one on line {seen[type(stmt)].line}")
                seen[type(stmt)] = stmt.span
            elif isinstance(stmt, sx.DerDecl):
                self.name(stmt.name, "DER", ders)
            elif isinstance(stmt, sx.PriceDecl):
                self.name(stmt.name, "price", prices)
                if stmt.name.text in EXPRESSION_FUNCTIONS:
                    self.error(f"'{stmt.name.text}' cannot name a price: {stmt.name.text}(...) is a function in "
                               "price expressions", stmt.name.span, f"choose another name, e.g. {stmt.name.text}_price")

    def extends_chain(self, decl: sx.CaseDecl, by_name: dict[str, sx.CaseDecl]) -> list[sx.CaseDecl] | None:
        """The case and its ancestors, oldest first; None (with an error) on an unknown parent or a cycle."""
        chain = [decl]
        current = decl
        while current.extends is not None:
            parent = current.extends.text
            if parent not in by_name:
                if current is decl:
                    self.error(f"case '{current.name.text}' extends unknown case '{parent}'", current.extends.span,
                               did_you_mean(parent, by_name) or f"cases: {known_list(by_name)}")
                return None
            names = [c.name.text for c in chain]
            if parent in names:
                cycle = names[names.index(parent):] + [parent]
                if cycle[0] == decl.name.text:  # report once per case of the cycle, at its own 'extends'
                    self.error(f"cases extend each other in a cycle: {' -> '.join(cycle)}", decl.extends.span,
                               "one case in the cycle must stand on the scenario alone")
                return None
            current = by_name[parent]
            chain.append(current)
        return list(reversed(chain))

    def build_case(self, name: str, title: str | None, extends: str | None, scopes: list[list[object]],
                   span: Span | None, ancestry_known: bool = True) -> Case | None:
        """Resolve a case from its scopes (scenario first, then each ancestor, the case last).

        Without ``ancestry_known`` (its ``extends`` is broken, which is reported), bid rules may name
        the DERs of any case: whether the case would inherit them cannot be told.
        """
        limits = Limits(0.9, 1.1, 100.0, 100.0, None)
        price_decls: dict[str, sx.PriceDecl] = {}
        der_decls: dict[str, sx.DerDecl] = {}
        rules: dict[BidSelector, BidRule] = {}
        reactive = ReactiveRemuneration("free", None, None)
        reactive_given = False
        study = Study(10, "merit order", ("reactive",), None)
        for scope in scopes:
            for stmt in scope:
                if isinstance(stmt, sx.LimitsBlock):
                    limits = self.limits(stmt, limits)
                elif isinstance(stmt, sx.PriceDecl):
                    price_decls[stmt.name.text] = stmt
                elif isinstance(stmt, sx.DerDecl):
                    der_decls[stmt.name.text] = stmt
                elif isinstance(stmt, sx.StudyBlock):
                    study = self.study(stmt, study)
        prices = self.prices(list(price_decls.values()))
        ders = self.ders(list(der_decls.values()))
        declared = set(der_decls)
        if not ancestry_known:
            declared.update(*self.case_ders.values())
        for scope in scopes:
            for stmt in scope:
                if isinstance(stmt, sx.BidsBlock):
                    self.bid_rules(stmt, rules, prices, ders, declared)
                elif isinstance(stmt, sx.ReactiveBlock):
                    reactive = self.reactive(stmt, prices) or reactive
                    reactive_given = True
        if not reactive_given:
            reactive = ReactiveRemuneration("free", None, None)
        if "reactive" not in study.remedies and reactive.mode != "unavailable":
            pass
        return Case(name, title, extends, limits, tuple(prices.values()), tuple(ders.values()), tuple(rules.values()),
                    reactive, study, span)

    # -- limits, study ----------------------------------------------------------------
    def limits(self, block: sx.LimitsBlock, current: Limits) -> Limits:
        singles = self.settings_once(block.settings, "the limits")
        v_min, v_max = current.v_min_pu, current.v_max_pu
        line, trafo = current.line_loading_percent, current.transformer_loading_percent
        if "voltage" in singles:
            low_q, high_q = singles["voltage"].value
            unit = high_q.unit or low_q.unit or "pu"
            low = self.value(low_q, u.PER_UNIT, "the lower voltage limit", default_unit=unit, minimum=0.5, maximum=1.5)
            high = self.value(high_q, u.PER_UNIT, "the upper voltage limit", default_unit=unit, minimum=0.5, maximum=1.5)
            if low is not None and high is not None:
                if low >= high:
                    self.error(f"the voltage band is inverted: {low:g} pu is not below {high:g} pu", singles["voltage"].span,
                               "write the lower limit first: voltage 0.90 .. 1.10 pu")
                else:
                    v_min, v_max = low, high
        if "loading" in singles:
            both = self.value(singles["loading"].value, u.PERCENT, "the loading limit", above=0, maximum=1000)
            if both is not None:
                line = trafo = both
        if "line loading" in singles:
            line = self.value(singles["line loading"].value, u.PERCENT, "the line loading limit", above=0, maximum=1000) or line
        if "transformer loading" in singles:
            trafo = self.value(singles["transformer loading"].value, u.PERCENT, "the transformer loading limit",
                               above=0, maximum=1000) or trafo
        return Limits(v_min, v_max, line, trafo, block.span)

    def study(self, block: sx.StudyBlock, current: Study) -> Study:
        singles = self.settings_once(block.settings, "the study")
        points, activation, remedies = current.bid_points_per_direction, current.activation, current.remedies
        if "bid points" in singles:
            value = self.number(singles["bid points"].value, "the number of bid points per direction", minimum=1,
                                maximum=1000, integer=True)
            points = int(value) if value is not None else points
        if "activation" in singles:
            activation = singles["activation"].value.text
        if "remedies" in singles:
            words: tuple[sx.Word, ...] = singles["remedies"].value
            chosen = []
            for word in words:
                if word.text not in REMEDIES:
                    self.error(f"unknown remedy '{word.text}'", word.span,
                               did_you_mean(word.text, REMEDIES) or f"remedies: {known_list(REMEDIES)}")
                elif word.text in chosen:
                    self.error(f"remedy '{word.text}' is listed twice", word.span)
                else:
                    chosen.append(word.text)
            remedies = tuple(chosen)
        draws, seed = current.placement_draws, current.placement_seed
        if "placement draws" in singles:
            count, seed_q = singles["placement draws"].value
            value = self.number(count, "the number of placement draws", minimum=0, maximum=10000, integer=True)
            draws = int(value) if value is not None else draws
            if seed_q is not None:
                value = self.number(seed_q, "the seed", minimum=0, maximum=2**32 - 1, integer=True)
                seed = int(value) if value is not None else seed
        return Study(points, activation, remedies, block.span, draws, seed)

    # -- prices -------------------------------------------------------------------------
    def prices(self, decls: list[sx.PriceDecl]) -> dict[str, Price]:
        by_name = {d.name.text: d for d in decls}
        units: dict[str, str | None] = {}
        converted: dict[str, ex.Expr] = {}
        for decl in decls:
            if decl.expr is not None:
                expr = self.convert_expr(decl.expr)
                if expr is not None:
                    converted[decl.name.text] = expr

        def unit_of_price(name: str, stack: tuple[str, ...] = ()) -> str | None:
            if name in units:
                return units[name]
            decl = by_name[name]
            if decl.expr is None:
                pair = u.PRICE_UNIT_NAMES.get(decl.unit.text)
                units[name] = pair[0] if pair else None
                return units[name]
            if name in stack:
                return None
            expr = converted.get(name)
            if expr is None:
                units[name] = None
                return None
            for ref in ex.references(expr):
                if ref.name not in by_name:
                    return None
                if ref.name in stack + (name,):
                    return None
            try:
                unit = ex.unit_of(expr, lambda n: unit_of_price(n, stack + (name,)) or "?")
            except ex.ExpressionUnitError:
                unit = None
            units[name] = unit if unit != "?" else None
            return units[name]

        result: dict[str, Price] = {}
        for decl in decls:
            name = decl.name.text
            if decl.expr is None:
                path = self.data_path(decl.path, "price")
                if path is not None:
                    self.check_column(path, decl.column)
                pair = u.PRICE_UNIT_NAMES.get(decl.unit.text)
                if pair is None:
                    self.error(f"a price is in EUR/MWh or EUR/Mvarh, not '{decl.unit.text}'", decl.unit.span,
                               "write the unit of the CSV column: EUR/MWh, EUR/kWh, EUR/Mvarh or EUR/kvarh")
                    continue
                result[name] = Price(name, pair[0], path, decl.column.text, pair[1], None, decl.span)
                continue
            expr = converted.get(name)
            if expr is None:
                continue
            ok = self.check_refs(expr, by_name, f"price '{name}'")
            cycle = _price_cycle(name, converted)
            if cycle:
                self.error(f"prices refer to each other in a cycle: {' -> '.join(cycle)}", decl.name.span,
                           "define at least one of them from a CSV file or a constant")
                continue
            if not ok:
                continue
            try:
                unit = ex.unit_of(expr, lambda n: unit_of_price(n) or "?")
            except ex.ExpressionUnitError as err:
                self.error(err.message, err.span, err.hint)
                continue
            if unit == "?":
                continue
            if unit == ex.DIMENSIONLESS:
                self.error(f"price '{name}' has no unit", decl.expr.span,
                           "give it one, e.g. price fuel 85 EUR/MWh, or build it from other prices")
                continue
            result[name] = Price(name, unit, None, None, 1.0, expr, decl.span)
        return result

    def convert_expr(self, expr: ex.Expr) -> ex.Expr | None:
        """Units of constants converted into EUR/MWh, EUR/Mvarh or plain numbers; None if one is wrong."""
        if isinstance(expr, ex.Number):
            if not math.isfinite(expr.value):
                self.error("the number is too large", expr.span)
                return None
            if expr.unit == ex.DIMENSIONLESS:
                return expr
            if expr.unit == "%":
                return ex.Number(expr.value / 100.0, ex.DIMENSIONLESS, expr.span)
            pair = u.PRICE_UNIT_NAMES.get(expr.unit)
            if pair is None:
                self.error(f"'{expr.unit}' is {u.describe_unit(expr.unit)}, not a price", expr.span,
                           "prices are in EUR/MWh (or EUR/kWh); reactive prices in EUR/Mvarh")
                return None
            return ex.Number(expr.value * pair[1], pair[0], expr.span)
        if isinstance(expr, ex.PriceRef):
            return expr
        if isinstance(expr, ex.Negate):
            operand = self.convert_expr(expr.operand)
            return ex.Negate(operand, expr.span) if operand is not None else None
        if isinstance(expr, ex.Call):
            args = [self.convert_expr(a) for a in expr.args]
            return ex.Call(expr.function, tuple(args), expr.span) if all(a is not None for a in args) else None
        left, right = self.convert_expr(expr.left), self.convert_expr(expr.right)
        if left is None or right is None:
            return None
        if expr.op == "/" and ex.constant_value(right) == 0:
            self.error("division by zero", expr.right.span, "the divisor is always 0")
            return None
        return ex.BinaryOp(expr.op, left, right, expr.span)

    def check_refs(self, expr: ex.Expr, known: dict, where: str) -> bool:
        ok = True
        for ref in ex.references(expr):
            if ref.name not in known:
                ok = False
                self.error(f"unknown price '{ref.name}' in {where}", ref.span,
                           did_you_mean(ref.name, known) or f"declared prices: {known_list(known)}")
        return ok

    def price_expression(self, raw: ex.Expr, prices: dict[str, Price], slot_unit: str, where: str) -> ex.Expr | None:
        """A price expression in a slot of a given unit (bids: EUR/MWh), checked against the case's prices."""
        expr = self.convert_expr(raw)
        if expr is None or not self.check_refs(expr, prices, where):
            return None
        try:
            unit = ex.unit_of(expr, lambda n: prices[n].unit)
        except ex.ExpressionUnitError as err:
            self.error(err.message, err.span, err.hint)
            return None
        if unit == ex.DIMENSIONLESS:
            if ex.constant_value(expr) == 0:  # a bare 0 (or -0) needs no unit
                return ex.Number(0.0, slot_unit, expr.span)
            self.error(f"the {where} has no unit", raw.span,
                       f"write it from named prices (e.g. 0.9 * buy) or with a unit (e.g. 40 {slot_unit})")
            return None
        if unit != slot_unit:
            self.error(f"the {where} is in {unit}, but it must be in {slot_unit}", raw.span,
                       "bids are paid per MWh of active energy" if slot_unit == ex.PER_MWH else None)
            return None
        return expr

    # -- DERs -------------------------------------------------------------------------
    def ders(self, decls: list[sx.DerDecl]) -> dict[str, Der]:
        result: dict[str, Der] = {}
        for decl in decls:
            der = self.der(decl)
            if der is not None:
                result[der.name] = der
        return result

    def der(self, decl: sx.DerDecl) -> Der | None:
        name = decl.name.text
        kind = decl.kind.text
        reserved = set(DER_KINDS) | set(DER_GROUPS)
        if name in reserved:
            self.error(f"'{name}' names a kind of DER; a DER needs its own name", decl.name.span,
                       f"e.g. {name.upper()}_1")
            return None
        if kind not in DER_KINDS:
            self.error(f"unknown kind of DER '{kind}'", decl.kind.span,
                       did_you_mean(kind, DER_KINDS) or f"kinds: {known_list(DER_KINDS)}")
            return None
        customer_class = None
        if kind == "enduser":
            if decl.customer_class is None:
                self.error("an end-user DER needs its customer class", decl.kind.span,
                           f"e.g. der {name} enduser industrial 2 MW at ...")
                return None
            customer_class = decl.customer_class.text
            if customer_class not in CUSTOMER_CLASSES:
                self.error(f"unknown customer class '{customer_class}'", decl.customer_class.span,
                           did_you_mean(customer_class, CUSTOMER_CLASSES) or f"classes: {known_list(CUSTOMER_CLASSES)}")
                return None
        elif decl.customer_class is not None:
            self.error(f"only end-users have a customer class; '{decl.customer_class.text}' is not expected here",
                       decl.customer_class.span, f"der {name} {kind} <power> at <feeder> <position>")
            return None
        rated = self.value(decl.rated, u.POWER, f"the rated power of {name}", above=0, maximum=1000)
        storage = None
        if kind == "storage":
            if decl.storage_energy is None:
                self.error(f"storage {name} needs its energy capacity", decl.rated.span, "e.g. 2 MW 4 MWh")
            else:
                storage = self.value(decl.storage_energy, u.ENERGY, f"the energy capacity of {name}", above=0)
        elif decl.storage_energy is not None:
            self.error("only storage has an energy capacity", decl.storage_energy.span)
        position = self.position(decl.location)
        singles = self.settings_once(decl.settings, f"DER {name}")
        apparent = rated
        if "apparent power" in singles and rated is not None:
            apparent = self.value(singles["apparent power"].value, u.APPARENT_POWER, f"the apparent power of {name}",
                                  minimum=rated, maximum=1000)
        capability = None
        if "capability" in singles:
            capability = self.capability(singles["capability"].value, kind)
        elif rated is not None:
            capability = default_capability(kind, rated)
        profile = None
        if "profile" in singles:
            word: sx.Word = singles["profile"].value
            if word.text not in self.profiles:
                self.error(f"unknown profile '{word.text}'", word.span,
                           did_you_mean(word.text, self.profiles) or f"profiles: {known_list(self.profiles)}")
            profile = word.text
        elif kind != "storage":
            default = customer_class if kind == "enduser" else kind
            if default in self.profiles:
                profile = default
            else:
                self.error(f"DER {name} has no profile", decl.span,
                           f"add 'with profile NAME' to it, or declare a profile named '{default}'")
        energy = None
        if "energy" in singles:
            energy = self.value(singles["energy"].value, u.ENERGY_PER_YEAR, f"the annual energy of {name}", minimum=0)
            hours = self.hours_per_year
            if energy is not None and rated is not None and energy > rated * hours:
                self.error(f"{name} cannot produce {energy / 1000:g} GWh/y at {rated:g} MW", singles["energy"].span,
                           f"at most {rated * hours / 1000:g} GWh/y: full power for all {hours} hours of the year")
        pf, direction = 1.0, "absorbing" if kind in ("pv", "wind", "storage") else "injecting"
        if "power factor" in singles:
            value, given = singles["power factor"].value
            checked = self.check_range(value, singles["power factor"].span, "the power factor", above=0, maximum=1)
            pf = checked if checked is not None else pf
            direction = given or direction
        if rated is None or position is None or capability is None or apparent is None:
            return None
        return Der(name, kind, customer_class, rated, apparent, storage, position, capability, profile, energy, pf,
                   direction, decl.span)

    def position(self, loc: sx.LocationDecl) -> Position | None:
        feeder = self.feeders.get(loc.feeder.text)
        if feeder is None:
            if loc.feeder.text not in {f.name.text for f in self.syntax.statements if isinstance(f, sx.FeederDecl)}:
                self.error(f"unknown feeder '{loc.feeder.text}'", loc.feeder.span,
                           did_you_mean(loc.feeder.text, self.feeders) or f"feeders: {known_list(self.feeders)}")
            return None
        if loc.kind == "bus":
            if not loc.bus.text:
                self.error("the bus name is empty", loc.bus.span)
                return None
            return Position(feeder.name, "bus", None, None, loc.bus.text, loc.span)
        start = self.point(loc.start, feeder)
        end = self.point(loc.end, feeder) if loc.kind == "along" else None
        if start is None or (loc.kind == "along" and end is None):
            return None
        if end is not None and feeder.length_km:
            a = start.fraction if start.fraction is not None else start.km / feeder.length_km
            b = end.fraction if end.fraction is not None else end.km / feeder.length_km
            if a >= b:
                self.error("the stretch runs backwards or is empty", loc.span,
                           "write it from the busbar outwards: from 40 % to end")
                return None
        return Position(feeder.name, loc.kind, start, end, None, loc.span)

    def point(self, point: sx.Point, feeder: Feeder) -> PointOnFeeder | None:
        if point.word is not None:
            return PointOnFeeder({"start": 0.0, "middle": 0.5, "end": 1.0}[point.word], None)
        q = point.quantity
        if q.unit is None:
            self.error("the position needs a unit", q.span,
                       f"a share of the feeder's length or a distance from the busbar: at {feeder.name} {q.value:g} % "
                       f"or at {feeder.name} {q.value:g} km")
            return None
        if q.unit == "%":
            value = self.value(q, u.PERCENT, "the position", minimum=0, maximum=100)
            return PointOnFeeder(value / 100.0, None) if value is not None else None
        maximum = feeder.length_km if feeder.length_km else None
        dim = u.LENGTH if q.unit in u.LENGTH.factors else u.LENGTH_OR_PERCENT  # the latter only to report the unit
        value = self.value(q, dim, "the position", minimum=0, maximum=maximum)
        return PointOnFeeder(None, value) if value is not None else None

    def capability(self, decl: sx.CapabilityDecl, kind: str) -> Capability | None:
        for value, what in ((decl.pf, "power factor"), (decl.injecting_pf, "injecting power factor"),
                            (decl.absorbing_pf, "absorbing power factor")):
            if value is not None and self.check_range(value, decl.span, f"the {what}", above=0, maximum=1) is None:
                return None
        if decl.kind == "synchronous":
            return Capability("synchronous", None, decl.injecting_pf or 0.8, decl.absorbing_pf or 0.95)
        return Capability(decl.kind, decl.pf)

    # -- bids and reactive -------------------------------------------------------------
    def bid_rules(self, block: sx.BidsBlock, rules: dict[BidSelector, BidRule], prices: dict[str, Price],
                  ders: dict[str, Der], declared: set[str]) -> None:
        """Add a block's rules to ``rules``; ``ders`` are the case's valid DERs, ``declared`` all it declares."""
        seen_here: dict[BidSelector, Span] = {}
        for decl in block.rules:
            selectors = [s for s in (self.selector(sel, ders, declared) for sel in decl.selectors) if s is not None]
            participation = None
            if len(decl.participation) > 1:
                self.error("participation is given twice", decl.participation[1].span)
            elif decl.participation:
                share = self.value(decl.participation[0], u.PERCENT, "the participation", minimum=0, maximum=100)
                participation = share / 100.0 if share is not None else None
            offers: dict[str, Offer | str] = {}
            for offer_decl in decl.offers:
                if offer_decl.direction in offers:
                    self.error(f"'{offer_decl.direction}' is given twice in this rule", offer_decl.span)
                    continue
                offer = self.offer(offer_decl, prices)
                if offer is not None:
                    offers[offer_decl.direction] = offer
            if not decl.offers and not decl.participation:
                self.error("this rule says nothing", decl.span, "add: down <quantity> at <price>  up <quantity> at <price>")
            for selector, sel_decl in zip(selectors, [s for s in decl.selectors]):
                if selector in seen_here:
                    self.error(f"'{selector.label()}' has two rules in this block", sel_decl.span,
                               f"the first is on line {seen_here[selector].line}; merge them")
                    continue
                seen_here[selector] = sel_decl.span
                previous = rules.get(selector)
                rule = BidRule(selector, participation, offers.get("down"), offers.get("up"), decl.span)
                if previous is not None:  # a case overrides only the clauses it states
                    rule = BidRule(selector,
                                   participation if participation is not None else previous.participation,
                                   rule.down if rule.down is not None else previous.down,
                                   rule.up if rule.up is not None else previous.up, decl.span)
                rules[selector] = rule

    def selector(self, sel: sx.Selector, ders: dict[str, Der], declared: set[str]) -> BidSelector | None:
        """What a rule applies to; None (with an error, unless the DER's own declaration has one) if nothing."""
        first = sel.words[0].text
        if first == "enduser":
            if len(sel.words) == 1:
                return BidSelector("enduser", "")
            klass = sel.words[1].text
            if klass not in CUSTOMER_CLASSES:
                self.error(f"unknown customer class '{klass}'", sel.words[1].span,
                           did_you_mean(klass, CUSTOMER_CLASSES) or f"classes: {known_list(CUSTOMER_CLASSES)}")
                return None
            return BidSelector("enduser", klass)
        if len(sel.words) > 1:
            self.error(f"'{first} {sel.words[1].text}' is not a selector", sel.words[1].span,
                       "separate selectors with commas: pv, wind")
            return None
        if first in DER_KINDS:
            return BidSelector("kind", first)
        if first in DER_GROUPS:
            return BidSelector("group", first)
        if first in ders:
            return BidSelector("der", first)
        if first in declared:  # the DER's declaration has an error, reported there
            return None
        owners = sorted(c for c, names in self.case_ders.items() if first in names)
        if owners:
            where = f"case{'s' if len(owners) > 1 else ''} {' and '.join(repr(c) for c in owners)}"
            self.error(f"DER '{first}' is declared only in {where}", sel.words[0].span,
                       f"refer to it only in {where} (or a case extending it), "
                       "or declare it at the top level to use it in every case")
            return None
        known = list(DER_KINDS) + list(DER_GROUPS) + list(ders)
        self.error(f"'{first}' is neither a DER nor a kind of DER", sel.words[0].span,
                   did_you_mean(first, known) or f"kinds: {known_list(DER_KINDS)}; groups: res, dg; or a DER's name")
        return None

    def offer(self, decl: sx.OfferDecl, prices: dict[str, Price]) -> Offer | str | None:
        if decl.quantity is None:
            return "none"
        q = decl.quantity
        sign = math.copysign(1.0, q.value) if q.value != 0 else 0.0
        if decl.direction == "down" and sign > 0 and q.span and self.syntax.text.splitlines()[q.span.line - 1][q.span.column - 1:].startswith("+"):
            self.error("a downward quantity cannot be positive", q.span, "write it as -20 % (or 20 %)")
            return None
        if decl.direction == "up" and sign < 0:
            self.error("an upward quantity cannot be negative", q.span, "write it as +20 % (or 20 %)")
            return None
        magnitude = sx.Quantity(abs(q.value), q.unit, q.span)
        if q.unit is None:
            self.error(f"the {decl.direction}ward quantity needs a unit", q.span,
                       "a share of the expected working point (%) or a power (kW, MW)")
            return None
        if q.unit == "%":
            value = self.value(magnitude, u.PERCENT, f"the {decl.direction}ward quantity", minimum=0, maximum=100)
            unit, scale = "fraction", 0.01
        else:
            dim = u.POWER if q.unit in u.POWER.factors else u.BID_QUANTITY  # the latter only to report the unit
            value = self.value(magnitude, dim, f"the {decl.direction}ward quantity", minimum=0, maximum=1000)
            unit, scale = "MW", 1.0
        price = self.price_expression(decl.price, prices, ex.PER_MWH, f"{decl.direction}ward price")
        if value is None or price is None:
            return None
        return Offer(decl.direction, value * scale, unit, price, decl.span)

    def reactive(self, block: sx.ReactiveBlock, prices: dict[str, Price]) -> ReactiveRemuneration | None:
        if len(block.items) != 1:
            span = block.items[1].span if len(block.items) > 1 else block.span
            self.error("the reactive block takes exactly one statement", span,
                       "remuneration <price> per Mvarh, remuneration free, or unavailable")
            return None
        item = block.items[0]
        if item.mode != "paid":
            return ReactiveRemuneration(item.mode, None, item.span)
        per_factor = None
        if item.per_unit is not None:
            per_factor = u.REACTIVE_ENERGY_UNITS.get(item.per_unit.text)
            if per_factor is None:
                self.error(f"reactive support is paid per Mvarh or kvarh, not per '{item.per_unit.text}'",
                           item.per_unit.span, "write: remuneration 0.05 * buy per Mvarh")
                return None
        expr = self.convert_expr(item.expr)
        if expr is None or not self.check_refs(expr, prices, "the reactive remuneration"):
            return None
        try:
            unit = ex.unit_of(expr, lambda n: prices[n].unit)
        except ex.ExpressionUnitError as err:
            self.error(err.message, err.span, err.hint)
            return None
        if per_factor is not None:
            per = item.per_unit.text
            if unit == ex.PER_MVARH:
                if per == "Mvarh":  # "2 EUR/Mvarh per Mvarh" states the unit twice, but means it
                    return ReactiveRemuneration("paid", expr, item.span)
                self.error(f"'per {per}' follows a price that is already per reactive energy ({unit})",
                           item.per_unit.span,
                           f"drop 'per {per}': remuneration {ex.render(item.expr)}; 'per' follows an energy price "
                           f"or a plain number, e.g. remuneration 0.05 * buy per {per}")
                return None
            if unit == ex.PER_MWH or (unit == ex.DIMENSIONLESS and ex.constant_value(expr) is not None):
                # "x per Mvarh": the value of x, in EUR, paid for each Mvarh (or kvarh)
                if per_factor != 1.0:
                    expr = ex.BinaryOp("/", expr, ex.Number(per_factor, ex.DIMENSIONLESS, item.span), item.span)
                return ReactiveRemuneration("paid", ex.Rebased(expr, ex.PER_MVARH, item.span), item.span)
            self.error(f"'per {per}' needs an energy price (EUR/MWh) or a constant before it, not a ratio of prices",
                       item.expr.span, f"write e.g.: remuneration 0.05 * buy per {per}")
            return None
        if unit == ex.PER_MVARH:
            return ReactiveRemuneration("paid", expr, item.span)
        if unit == ex.DIMENSIONLESS and ex.constant_value(expr) == 0:  # a bare 0 (or -0)
            return ReactiveRemuneration("free", None, item.span)
        shown = ex.describe(unit) if unit == ex.DIMENSIONLESS else f"in {unit}"
        self.error(f"the reactive remuneration must be in EUR/Mvarh, but it is {shown}", item.expr.span,
                   "add 'per Mvarh' to pay an energy price per Mvarh: remuneration 0.05 * buy per Mvarh")
        return None


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _price_cycle(start: str, converted: dict[str, ex.Expr]) -> list[str] | None:
    """A reference cycle through ``start`` among expression prices, if there is one."""
    path = [start]

    def walk(name: str) -> list[str] | None:
        expr = converted.get(name)
        if expr is None:
            return None
        for ref in ex.references(expr):
            if ref.name == start:
                return path + [start]
            if ref.name in path or ref.name not in converted:
                continue
            path.append(ref.name)
            found = walk(ref.name)
            if found:
                return found
            path.pop()
        return None

    return walk(start)


def default_capability(kind: str, rated_mw: float) -> Capability:
    """The paper's (CEI 0-16) capability by technology and size."""
    if kind in STATIC_KINDS:
        return Capability("semicircle") if rated_mw >= 0.4 else Capability("limited", 0.9)
    if kind == "wind":
        return Capability("rectangular", 0.95)
    if kind == "chp":
        return Capability("synchronous", None, 0.8, 0.95)
    return Capability("none")


def _count_days(year: int, seasons: list[tuple[str, tuple[int, ...]]], country: str | None) -> tuple[tuple[int, ...], ...]:
    """Days of each season and day type in a calendar year (Sundays and public holidays are holidays)."""
    public = public_holidays(country, year)
    season_of = {m: i for i, (_, months) in enumerate(seasons) for m in months}
    counts = [[0, 0, 0] for _ in seasons]
    day = dt.date(year, 1, 1)
    while day.year == year:
        s = season_of.get(day.month)
        if s is not None:
            counts[s][day_type_index(day, public)] += 1
        day += dt.timedelta(days=1)
    return tuple(tuple(row) for row in counts)


@functools.lru_cache(maxsize=64)
def _known_holiday_country(code: str) -> bool:
    import holidays

    return code in holidays.list_supported_countries()


@functools.lru_cache(maxsize=1)
def pandapower_line_types() -> tuple[str, ...]:
    """Names of pandapower's line standard types (imported lazily: pandapower is slow to import)."""
    from pandapower.std_types import basic_line_std_types

    return tuple(basic_line_std_types().keys())


@functools.lru_cache(maxsize=1)
def pandapower_builders() -> tuple[str, ...]:
    """Functions of pandapower.networks that build a network (not re-exported helpers)."""
    import inspect

    import pandapower.networks as pn

    names = []
    for name, obj in vars(pn).items():
        if name.startswith("_") or not inspect.isfunction(obj):
            continue
        if getattr(obj, "__module__", "").startswith("pandapower.networks"):
            names.append(name)
    return tuple(sorted(names))
