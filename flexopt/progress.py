"""Progress of long work: a bar on a terminal, plain log lines otherwise, nothing with --quiet.

Events are one line each ("case A: feeder R1 done ..."), so that a log file of a batch
study reads well; on a terminal the same events advance a tqdm bar and only warnings
interrupt it. ``--verbose`` adds the per-feeder events (feeders of cases assessed in this
process), which are otherwise folded into the bar.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Progress:
    """Where progress goes. ``level``: 0 quiet, 1 normal, 2 verbose."""

    level: int = 1
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    _bar: object = None

    @property
    def interactive(self) -> bool:
        return self.level > 0 and hasattr(self.stream, "isatty") and self.stream.isatty()

    def start(self, total: int, unit: str) -> None:
        """A new piece of work of ``total`` steps."""
        if self.interactive:
            from tqdm import tqdm

            tqdm.monitor_interval = 0  # no monitor thread: a process with one thread forks its workers (--jobs N)
            self._bar = tqdm(total=total, unit=unit, file=self.stream, dynamic_ncols=True, leave=True)

    def step(self, line: str, member: str | None = None) -> None:
        """One step finished (of ``member``, a case or placement draw, when known): the bar moves, or the line is
        printed."""
        if self._bar is not None:
            self._bar.set_postfix_str(line[:60], refresh=False)
            self._bar.update(1)
        elif self.level > 0:
            print(line, file=self.stream, flush=True)

    def note(self, line: str) -> None:
        """A remark that is no step (a file done again, temporary files removed): printed unless quiet."""
        if self.level > 0:
            if self._bar is not None:
                self._bar.write(line, file=self.stream)
            else:
                print(line, file=self.stream, flush=True)

    def detail(self, line: str) -> None:
        """A finer event (a feeder done): printed in verbose mode only."""
        if self.level > 1:
            if self._bar is not None:
                self._bar.write(line, file=self.stream)
            else:
                print(line, file=self.stream, flush=True)

    def feeder(self, member: str, feeder: str, line: str) -> None:
        """A feeder of ``member`` assessed in this process: a :meth:`detail` line (the workbench counts them)."""
        self.detail(line)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
