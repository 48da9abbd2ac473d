"""The grammar ships inside the wheel: a non-editable install finds it away from the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import CASE_STUDY, REPO

pytest.importorskip("hatchling")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    (path,) = out.glob("flexopt-*.whl")
    return path


def test_wheel_maps_the_grammar_into_the_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "flexopt/grammar/flexopt.lark" in names
    packaged = zipfile.ZipFile(wheel).read("flexopt/grammar/flexopt.lark").decode()
    assert packaged == (REPO / "grammar" / "flexopt.lark").read_text()
    assert any(n.endswith("entry_points.txt") for n in names)


def test_installed_wheel_checks_the_case_study_outside_the_source_tree(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = dict(os.environ, PYTHONPATH=str(target))
    code = ("import flexopt, flexopt.language.syntax as s, sys; "
            "assert flexopt.__file__.startswith(sys.argv[1]), flexopt.__file__; "
            "from importlib import resources; "
            "assert resources.files('flexopt').joinpath('grammar', 'flexopt.lark').is_file(); "
            "from flexopt.cli import main; sys.exit(main(['check', '-q', sys.argv[2]]))")
    result = subprocess.run([sys.executable, "-c", code, str(target), str(CASE_STUDY)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(": OK")
