"""The workbench's run queue: runs wait their turn and go one at a time (each with the server's ``--jobs``),
each in a process of its own (:mod:`flexopt.web.runner`), its progress kept here so that a reloaded page,
or another tab, picks it up again.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from flexopt.web.runner import RunSpec

#: Seconds a cancelled run has to clean up after SIGINT before it is killed.
CANCEL_GRACE_S = 10.0


@dataclass
class Run:
    """One run and what is known of it so far (mutable: the queue's thread updates it under its lock)."""

    id: str
    spec: RunSpec
    feeders: dict[str, tuple[str, ...]]  # by case, in order
    state: str = "queued"  # queued, running, done, failed, cancelled
    feeders_done: dict[str, list[str]] = field(default_factory=dict)
    cases_done: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    message: str = ""
    folder: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    process: subprocess.Popen | None = None
    cancel_requested: bool = False

    def as_json(self) -> dict:
        return {"id": self.id, "state": self.state, "cases": list(self.spec.cases), "file": self.spec.file,
                "feeders": {c: list(f) for c, f in self.feeders.items()},
                "feeders_done": {c: list(f) for c, f in self.feeders_done.items()},
                "cases_done": list(self.cases_done), "notes": self.notes[-20:], "message": self.message,
                "folder": self.folder, "created": self.created, "finished": self.finished}


def output_folder(runs_root: Path, text: str) -> Path:
    """One folder per scenario text: the same text runs into the same folder (and is not assessed again)."""
    return runs_root / hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


class RunQueue:
    """Runs in order of submission, one at a time, in their own processes."""

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = jobs
        self._runs: dict[str, Run] = {}
        self._waiting: deque[str] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopped = False
        self._thread = threading.Thread(target=self._work, name="flexopt-runs", daemon=True)
        self._thread.start()

    def submit(self, spec: RunSpec, feeders: dict[str, tuple[str, ...]]) -> Run:
        run = Run(uuid.uuid4().hex[:12], spec, feeders, feeders_done={c: [] for c in spec.cases})
        with self._wake:
            self._runs[run.id] = run
            self._waiting.append(run.id)
            self._wake.notify()
        return run

    def get(self, run_id: str) -> dict | None:
        with self._lock:
            run = self._runs.get(run_id)
            return run.as_json() if run else None

    def all(self) -> list[dict]:
        with self._lock:
            return [run.as_json() for run in sorted(self._runs.values(), key=lambda r: r.created)]

    def cancel(self, run_id: str) -> bool:
        """Cancel a queued run, or interrupt a running one (its finished datasets are kept)."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.state not in ("queued", "running"):
                return False
            run.cancel_requested = True
            if run.state == "queued":
                self._waiting.remove(run_id)
                run.state, run.finished, run.message = "cancelled", time.time(), "cancelled before it started"
                return True
            process = run.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            threading.Thread(target=_kill_later, args=(process,), daemon=True).start()
        return True

    def stop(self) -> None:
        """Stop the queue: waiting runs are dropped, the running one interrupted."""
        with self._wake:
            self._stopped = True
            self._waiting.clear()
            running = [r.id for r in self._runs.values() if r.state == "running"]
            self._wake.notify()
        for run_id in running:
            self.cancel(run_id)

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._stopped:
                    self._wake.wait()
                if self._stopped:
                    return
                run = self._runs[self._waiting.popleft()]
                run.state = "running"
            self._execute(run)

    def _execute(self, run: Run) -> None:
        spec = RunSpec(run.spec.file, run.spec.text, run.spec.cases, run.spec.out, self.jobs, run.spec.figures)
        environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
        try:
            process = subprocess.Popen([sys.executable, "-m", "flexopt.web.runner"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
                                       start_new_session=True)
        except OSError as err:
            self._end(run, "failed", f"could not start the run: {err}")
            return
        with self._lock:
            run.process = process
            cancelled = run.cancel_requested
        if cancelled:
            process.send_signal(signal.SIGINT)
        errors = threading.Thread(target=_drain, args=(process.stderr, run.notes), daemon=True)
        errors.start()
        process.stdin.write(spec.to_json())
        process.stdin.close()
        final = None
        for line in process.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            final = self._apply(run, event) or final
        code = process.wait()
        errors.join(timeout=5)
        if final is None:
            if run.cancel_requested:
                final = ("cancelled", "cancelled; the cases already finished are kept")
            else:
                final = ("failed", f"the run ended with exit code {code}: " + " ".join(run.notes[-3:]))
        self._end(run, *final)

    def _apply(self, run: Run, event: dict) -> tuple[str, str] | None:
        kind = event.get("event")
        with self._lock:
            if kind == "feeder" and event.get("case") in run.feeders_done:
                run.feeders_done[event["case"]].append(str(event.get("feeder")))
            elif kind == "case" and event.get("case"):
                run.cases_done.append(str(event["case"]))
                run.feeders_done[event["case"]] = list(run.feeders.get(event["case"], ()))
            elif kind == "note":
                run.notes.append(str(event.get("line", "")))
            elif kind == "done":
                run.folder = event.get("folder")
                return "done", "finished"
            elif kind == "error":
                return "failed", str(event.get("message", ""))
            elif kind == "cancelled":
                return "cancelled", "cancelled; the cases already finished are kept"
        return None

    def _end(self, run: Run, state: str, message: str) -> None:
        with self._lock:
            run.state, run.message, run.finished, run.process = state, message, time.time(), None


def _drain(stream, notes: list[str]) -> None:
    for line in stream:
        if line.strip():
            notes.append(line.rstrip())


def _kill_later(process: subprocess.Popen) -> None:
    try:
        process.wait(timeout=CANCEL_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
