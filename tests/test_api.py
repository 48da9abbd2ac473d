"""The public API of docs/api.md works as documented: its example runs as it stands."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO


def test_the_api_example_in_the_docs_runs_and_assesses_case_a():
    text = (REPO / "docs" / "api.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "['A', 'B'" in result.stdout
    assert "R1 points:" in result.stdout
    assert "no such file" in result.stdout


def test_importing_flexopt_loads_no_stage_until_used():
    code = "import sys, flexopt; print(sorted(m for m in sys.modules if m.startswith('flexopt.')))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout
