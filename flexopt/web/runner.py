"""One workbench run in a process of its own: ``python -m flexopt.web.runner`` reads the run's spec (JSON) on
standard input, calls the same :func:`flexopt.run.run_scenario` as ``flexopt run`` and tells its progress as
one JSON object per line on standard output. Being a process, a run can be cancelled (SIGINT: the sweep
removes its temporary files, finished datasets stay) and survives the page that started it.
"""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import asdict, dataclass
from typing import TextIO

from flexopt.progress import Progress


@dataclass(frozen=True)
class RunSpec:
    """What the page asked to run: an editor's text (saved or not), beside the file it came from."""

    file: str  # absolute path of the scenario file the text belongs to (its data files are resolved beside it)
    text: str
    cases: tuple[str, ...]
    out: str  # absolute output folder; the run writes OUT/<scenario>/
    jobs: int = 1
    figures: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "RunSpec":
        data = json.loads(text)
        return cls(str(data["file"]), str(data["text"]), tuple(str(c) for c in data["cases"]), str(data["out"]),
                   int(data.get("jobs", 1)), bool(data.get("figures", True)))


class EventProgress(Progress):
    """:class:`Progress` as JSON events: cases done, feeders done, notes."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(level=2, stream=stream)

    def emit(self, **event) -> None:
        print(json.dumps(event), file=self.stream, flush=True)

    @property
    def interactive(self) -> bool:
        return False

    def start(self, total: int, unit: str) -> None:
        self.emit(event="start", total=total)

    def step(self, line: str, member: str | None = None) -> None:
        self.emit(event="case", case=member, line=line)

    def note(self, line: str) -> None:
        self.emit(event="note", line=line)

    def detail(self, line: str) -> None:
        pass

    def feeder(self, member: str, feeder: str, line: str) -> None:
        self.emit(event="feeder", case=member, feeder=feeder, line=line.strip())


def main(stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    from flexopt.errors import FlexoptError
    from flexopt.run import run_scenario

    progress = EventProgress(stdout)
    spec = RunSpec.from_json(stdin.read())
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        paths = run_scenario(spec.file, list(spec.cases), spec.out, quiet=True, jobs=spec.jobs,
                             figures=spec.figures, text=spec.text, progress=progress)
    except KeyboardInterrupt:
        progress.emit(event="cancelled")
        return 130
    except FlexoptError as err:
        progress.emit(event="error", message=err.format())
        return 2
    except Exception as err:  # noqa: BLE001 - reported to the page, never a traceback there
        progress.emit(event="error", message=f"internal error ({type(err).__name__}: {err}); this is a bug in "
                                             "flexopt, please report it with the scenario text")
        return 3
    folder = next(iter(paths.values())).parent if paths else None
    progress.emit(event="done", folder=str(folder) if folder else None, datasets={c: str(p) for c, p in paths.items()})
    return 0


if __name__ == "__main__":  # pragma: no cover - run by the workbench as a process
    import gc

    status = main()
    gc.freeze()  # as flexopt.cli.entry: no garbage collections over the run's objects at exit (about 1 s)
    sys.exit(status)
