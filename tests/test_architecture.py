"""The layout is the pipeline: stages import only earlier stages, no cycles, reports never load Pyomo."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "flexopt"
#: Each stage may import the shared modules and the stages before it (docs/architecture.md).
SHARED = {"flexopt.errors", "flexopt.files", "flexopt.model", "flexopt.progress"}
STAGE_ORDER = ["flexopt.language", "flexopt.compile", "flexopt.engine", "flexopt.results"]
MAX_MODULE_LINES = 520


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """Every flexopt module a file imports, at top level or inside functions, except under TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("flexopt"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("flexopt"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    # the package facade (flexopt/__init__.py: __version__ and the lazy public API) is not a stage
    return {m for m in found if m != "flexopt" and m in MODULES}


GRAPH = {name: _imports(path) for name, path in MODULES.items() if name != "flexopt"}


def _stage(module: str) -> int | None:
    for index, stage in enumerate(STAGE_ORDER):
        if module == stage or module.startswith(stage + "."):
            return index
    return None


def test_the_modules_import_each_other_without_a_cycle():
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(GRAPH.get(node, ())):
            assert state.get(target) != 1, "import cycle: " + " -> ".join(path[path.index(target):] + [target])
            if target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_each_stage_imports_only_shared_modules_and_earlier_stages():
    wrong = []
    for module, targets in GRAPH.items():
        own = _stage(module)
        if own is None:
            continue  # entry points (cli, run, sweep, api) may use every stage
        for target in targets:
            theirs = _stage(target)
            if target in SHARED:
                continue
            allowed = theirs is not None and (theirs <= own or target == "flexopt.results.schema")
            if not allowed:
                wrong.append(f"{module} imports {target}")
    assert not wrong, wrong


def test_the_traffic_light_codes_are_defined_once_in_the_schema():
    defining = [name for name, path in MODULES.items()
                if any(line.startswith(("GREEN, ORANGE, RED =", "REASONS =")) for line in path.read_text().splitlines())]
    assert defining == ["flexopt.results.schema"]


def test_reading_results_never_loads_pyomo_or_the_engine():
    code = ("import sys, flexopt.results.tables, flexopt.results.figures, flexopt.results.html, flexopt.results.store;"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'pyomo' or m.startswith('flexopt.engine'));"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_is_longer_than_about_five_hundred_lines():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, long


def test_the_architecture_map_names_every_module():
    text = (REPO / "docs" / "architecture.md").read_text()
    missing = [str(path.relative_to(REPO)) for name, path in MODULES.items()
               if str(path.relative_to(REPO)) not in text]
    assert not missing, missing
