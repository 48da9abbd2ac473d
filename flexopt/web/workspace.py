"""The workbench's folder: every path the browser names is resolved inside it, or refused.

A path from the page is relative, has no ``..`` part, no hidden part and no symbolic link on its way
(each component is checked with ``lstat``), so the server reads and writes only inside the workspace.
Scenario files are saved atomically and never overwritten unless the page says so.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from flexopt.errors import FlexoptError, Problem
from flexopt.files import write_text_atomic

#: Largest scenario text the workbench reads or saves (the language's own files are far smaller).
MAX_SCENARIO_BYTES = 4 * 1024 * 1024
#: Where workbench runs write, inside the workspace (one folder per scenario text).
RUNS_FOLDER = "outputs/workbench"


class OutsideWorkspace(FlexoptError):
    """A path the workspace refuses (outside it, through a link, hidden, or not a regular file)."""


@dataclass(frozen=True)
class ScenarioEntry:
    """A scenario file of the workspace, as the page lists it."""

    path: str  # relative, with forward slashes
    size_bytes: int


def _refuse(path: str, why: str) -> OutsideWorkspace:
    return OutsideWorkspace([Problem(f"{path}: {why}", None, "name a file inside the workbench's folder, "
                                     "e.g. scenarios/sardinia_ps.flex")])


@dataclass(frozen=True)
class Workspace:
    """The folder ``flexopt serve`` works in (absolute, symbolic links resolved)."""

    root: Path

    @classmethod
    def at(cls, folder: str | Path) -> "Workspace":
        return cls(Path(folder).resolve(strict=True))

    def resolve(self, relative: str, must_exist: bool = True) -> Path:
        """``relative`` as a path inside the workspace; raises :class:`OutsideWorkspace` otherwise."""
        if not isinstance(relative, str) or not relative.strip() or "\x00" in relative or "\\" in relative:
            raise _refuse(str(relative), "not a file name")
        pure = PurePosixPath(relative)
        if pure.is_absolute() or any(part in ("..", "") or part.startswith(".") for part in pure.parts):
            raise _refuse(relative, "only plain relative paths inside the workspace are served")
        current = self.root
        for index, part in enumerate(pure.parts):
            current = current / part
            try:
                info = os.lstat(current)
            except FileNotFoundError:
                if must_exist:
                    raise _refuse(relative, "no such file in the workspace") from None
                return current  # the rest does not exist yet: nothing can lead out of the workspace
            if stat.S_ISLNK(info.st_mode):
                raise _refuse(relative, "is or passes a symbolic link; the workbench does not follow links")
            last = index == len(pure.parts) - 1
            if not last and not stat.S_ISDIR(info.st_mode):
                raise _refuse(relative, f"{part} is not a folder")
        return current

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def scenarios(self) -> list[ScenarioEntry]:
        """The .flex files of the workspace (hidden folders, links and the outputs skipped), sorted by path."""
        found = []
        for folder, subfolders, files in os.walk(self.root, followlinks=False):
            subfolders[:] = sorted(s for s in subfolders if not s.startswith(".") and s != "outputs"
                                   and not os.path.islink(os.path.join(folder, s)))
            for name in sorted(files):
                path = Path(folder) / name
                if name.endswith(".flex") and not name.startswith(".") and not path.is_symlink():
                    found.append(ScenarioEntry(self.relative(path), path.stat().st_size))
        return found

    def read_scenario(self, relative: str) -> str:
        """The text of a scenario file of the workspace."""
        path = self.resolve(relative)
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(relative, "not a regular file")
        if info.st_size > MAX_SCENARIO_BYTES:
            raise _refuse(relative, f"larger than {MAX_SCENARIO_BYTES // 1024 // 1024} MB")
        return path.read_bytes().decode("utf-8", errors="replace")

    def save_scenario(self, relative: str, text: str, overwrite: bool = False) -> tuple[Path, bool]:
        """Write ``text`` to a .flex file of the workspace, atomically. An existing file is replaced only with
        ``overwrite``; returns (path, saved): (path, False) when it exists and was kept."""
        if not relative.endswith(".flex"):
            raise _refuse(relative, "scenario files end in .flex")
        if len(text.encode("utf-8")) > MAX_SCENARIO_BYTES:
            raise _refuse(relative, f"the text is larger than {MAX_SCENARIO_BYTES // 1024 // 1024} MB")
        path = self.resolve(relative, must_exist=False)
        if path.exists() and not overwrite:
            return path, False
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
        return path, True

    def output(self, relative: str) -> Path:
        """A file a workbench run wrote (under :data:`RUNS_FOLDER`), for download."""
        if not relative.startswith(RUNS_FOLDER + "/"):
            raise _refuse(relative, "only the outputs of workbench runs are served")
        path = self.resolve(relative)
        if not stat.S_ISREG(os.lstat(path).st_mode):
            raise _refuse(relative, "not a regular file")
        return path
