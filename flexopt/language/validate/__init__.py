"""Validate stage: syntax tree -> :class:`~flexopt.model.Scenario`, or every problem at once.

Checks names and references (with "did you mean" hints), duplicates, value
ranges, units (converted here, once, into the model's units), cycles in
``extends`` and among prices, and the data files a scenario refers to (they must
exist and stay inside the scenario's folder). All problems are collected and
raised together as one :class:`~flexopt.errors.FlexoptError`.

The rules live in one module per section of the language (calendar, network, ders, prices,
cases), each a mixin over the shared :class:`~flexopt.language.validate.context.Context`.
"""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from flexopt.files import read_bytes_capped
from flexopt.language import syntax as sx
from flexopt.errors import Problem, file_problem, shorten
from flexopt.model import Scenario

from flexopt.language.validate.calendar import CalendarRules
from flexopt.language.validate.cases import CaseRules
from flexopt.language.validate.context import BLOCK_WORDS, SCOPE_BLOCKS, did_you_mean_file, file_name_problem
from flexopt.language.validate.ders import DerRules
from flexopt.language.validate.network import NetworkRules
from flexopt.language.validate.prices import PriceRules
from flexopt.language.validate.substations import SubstationRules

__all__ = ["load_scenario", "load_scenario_text", "validate"]

DATA_FILE_KINDS = {".csv": "a CSV data file", ".json": "a JSON file (a pandapower network?)"}


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


def load_scenario(path: str | Path) -> tuple[Scenario, list[Problem]]:
    """Read, parse and validate a scenario file; returns it with its warnings."""
    path = Path(path)
    shown = str(path)
    try:
        is_folder = stat.S_ISDIR(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        raise file_problem(shown, "no such file", did_you_mean_file(path)) from None
    except OSError as err:  # a name too long, a loop of links, no permission on a folder ...
        raise file_problem(shown, f"cannot read the file: {err.strerror or err}", "check the path") from None
    if is_folder:
        raise file_problem(shown, "this is a folder, not a scenario file", "name a .flex file inside it")
    if path.suffix.lower() in DATA_FILE_KINDS:
        raise file_problem(shown, f"this is {DATA_FILE_KINDS[path.suffix.lower()]}, not a scenario file",
                           "name the .flex scenario file that refers to it")
    data = read_bytes_capped(path, sx.MAX_SCENARIO_BYTES, label="the file", kind="a scenario",
                             hint="is this really a scenario file? Put large data in CSV files it refers to")
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


# ---------------------------------------------------------------------------
# The validator
# ---------------------------------------------------------------------------


class _Validator(CalendarRules, NetworkRules, SubstationRules, DerRules, PriceRules, CaseRules):
    """The whole validator: the sections above, run in the order of :meth:`run`."""

    # -- run ------------------------------------------------------------------
    def run(self) -> Scenario | None:
        statements = self.syntax.statements
        header = self.syntax.header
        name = header.name.text.strip()
        if not name:
            self.error("the scenario needs a name", header.name.span, 'e.g. scenario "my_substation"')
        elif not all(ch.isalnum() or ch in "_-." for ch in name):
            self.error(f"scenario name '{shorten(name)}' may hold only letters, digits, '_', '-' and '.'", header.name.span,
                       "it names the output folder")
        elif name in (".", ".."):
            self.error(f"scenario name '{name}' is not a usable folder name", header.name.span,
                       "it names the output folder; use letters or digits, e.g. scenario \"my_substation\"")
        elif file_name_problem(name):
            self.error(f"scenario name '{shorten(name)}' {file_name_problem(name)}", header.name.span,
                       "it names the output folder; choose a short name of letters, digits and '_'")

        singles: dict[type, object] = {}
        for stmt in statements:
            if isinstance(stmt, sx.SubstationBlock) and stmt.source != "declared":
                continue  # `substation NAME from ...`: as many as the region has
            if isinstance(stmt, (sx.CalendarBlock, sx.SubstationBlock) + SCOPE_BLOCKS):
                kind = type(stmt)
                if kind in singles:
                    first = singles[kind].span  # type: ignore[attr-defined]
                    self.error(f"a second '{BLOCK_WORDS[kind]}' block", stmt.span,
                               f"merge it into the first one on line {first.line}")
                else:
                    singles[kind] = stmt

        calendar = self.calendar(singles.get(sx.CalendarBlock))
        self.calendar_model = calendar
        if calendar is not None:
            self.hours_per_year = calendar.days_per_year * 24
        self.conductor_types = self.conductors([s for s in statements if isinstance(s, sx.ConductorDecl)])
        self.profile_sources([s for s in statements if isinstance(s, sx.ProfileDecl)])
        imports = [s for s in statements if isinstance(s, sx.SubstationBlock) and s.source != "declared"]
        declared = self.substation(singles.get(sx.SubstationBlock), required=not imports)
        substations = ([declared] if declared else []) + self.imported_substations(imports)
        self.feeder_list([s for s in statements if isinstance(s, sx.FeederDecl)], required=not imports)
        cases = self.cases(statements)
        if self.problems.has_errors or not substations or calendar is None:
            return None
        return Scenario(
            name=name,
            title=header.title,
            file=Path(self.file),
            text_sha256=hashlib.sha256(self.syntax.text.encode("utf-8")).hexdigest(),
            calendar=calendar,
            profiles=tuple(self.profiles.values()),
            conductor_types=self.conductor_types,
            substation=substations[0],
            feeders=tuple(self.feeders.values()),
            cases=cases,
            substations=tuple(substations),
        )
