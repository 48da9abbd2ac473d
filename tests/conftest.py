"""Shared helpers: write a scenario into a temporary folder and check it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flexopt.errors import FlexoptError
from flexopt.language.validate import load_scenario

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
CASE_STUDY = SCENARIOS / "sardinia_ps.flex"

#: The smallest complete scenario; tests append or replace lines to exercise one statement.
MINIMAL = """\
scenario "mini"
profile pv generated pv { latitude 39.2 deg  longitude 9.1 deg }  profile residential generated demand { class residential }
price buy 50 EUR/MWh
price sell 40 EUR/MWh
substation PS { transformer 40 MVA 150/15 kV }
feeder R1 rural {
  length 10 km  sections 10
  conductor "NA2XS2Y 1x185 RM/25 12/20 kV"
  demand 5 GWh/y  mix residential 100 %
}
der PV1 pv 2 MW at R1 end
"""


class ScenarioFolder:
    """A temporary scenario folder holding the case study's data files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        shutil.copytree(SCENARIOS / "data", root / "data")

    def write(self, text: str, name: str = "test.flex") -> Path:
        path = self.root / name
        path.write_text(text, encoding="utf-8")
        return path

    def load(self, text: str, name: str = "test.flex"):
        scenario, _warnings = load_scenario(self.write(text, name))
        return scenario

    def problems(self, text: str, name: str = "test.flex") -> list[tuple[int, int, str]]:
        """(line, column, message) of every error the text causes; fails if it is valid."""
        with pytest.raises(FlexoptError) as caught:
            load_scenario(self.write(text, name))
        return [(p.span.line, p.span.column, p.message) for p in caught.value.errors]

    def error(self, text: str) -> tuple[int, int, str, str | None]:
        """The single error of a text, with its hint."""
        with pytest.raises(FlexoptError) as caught:
            load_scenario(self.write(text))
        errors = caught.value.errors
        assert len(errors) == 1, caught.value.format()
        p = errors[0]
        return p.span.line, p.span.column, p.message, p.hint


@pytest.fixture
def folder(tmp_path: Path) -> ScenarioFolder:
    return ScenarioFolder(tmp_path)
