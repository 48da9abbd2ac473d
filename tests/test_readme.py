"""The README stays true: CI runs exactly the README's test command."""

from __future__ import annotations

import re

from tests.conftest import REPO


def code_blocks(markdown: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", markdown, flags=re.S)


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    test_command = next(b.strip() for b in code_blocks(readme) if "pytest" in b)
    ci = (REPO / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()


def test_readme_main_command_uses_the_shipped_case_study():
    readme = (REPO / "README.md").read_text()
    main_command = code_blocks(readme)[0].strip()
    path = re.search(r"(scenarios/\S+\.flex)", main_command).group(1)
    assert (REPO / path).is_file()
