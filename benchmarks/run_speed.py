"""End-to-end speed of `flexopt run` on the shipped case study (issue 15's goals in brackets).

Run: python benchmarks/run_speed.py [--repeat N] [--skip-lopf] [--skip-serial]
Prints one table:
  - the five shipped cases, `flexopt run scenarios/sardinia_ps.flex --jobs 2`, fresh output folder,
    fresh process: wall time, and the members' assessment times  [<= 20 s on 2 cores]
  - the same with `--jobs 1`, and the speed-up of `--jobs 2` over it  [>= 1.5x]; each command N times
    (default 3), the two interleaved, medians
  - a rerun of the `--jobs 2` command on its complete folder  [<= 10 % of the first run]
  - `--no-figures --jobs 2` (datasets, tables, a report without figures)
  - the size of report.html and its embedded figures  [<= 3 MB]
  - the LOPF re-solve through the persistent HiGHS model (as benchmarks/engine_speed.py)  [<= 1.5 ms]
Times are wall-clock on whatever else the machine runs: on a shared machine, say so.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CASE_STUDY = REPO / "scenarios" / "sardinia_ps.flex"


def flexopt_run(out: Path, *options: str) -> tuple[float, float, str]:
    """(wall seconds, sum of the members' seconds, stderr) of one `flexopt run` of the case study."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "flexopt", "run", str(CASE_STUDY), "--out", str(out), *options],
                            capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"flexopt run failed ({result.returncode}):\n{result.stderr}")
    members = sum(float(s) for s in re.findall(r"^\[\d+/\d+\] \S+: ([0-9.]+) s", result.stderr, flags=re.M))
    return wall, members, result.stderr


def lopf_ms() -> float:
    """Milliseconds per LOPF re-solve, measured by benchmarks/engine_speed.py's own routine."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import engine_speed

    rows: list[tuple[str, str, str]] = []
    engine_speed.power_flows(rows)
    note = next(r[2] for r in rows if r[0].startswith("LOPF re-solve"))
    return float(note.split()[0])


def main(argv: list[str]) -> None:
    rows: list[tuple[str, str, str, str]] = []
    times = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 3
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        runs2, runs1 = [], []
        for i in range(times):  # interleaved: jobs 2, jobs 1, jobs 2, ...
            runs2.append(flexopt_run(tmp_path / f"jobs2_{i}", "--jobs", "2"))
            if "--skip-serial" not in argv:
                runs1.append(flexopt_run(tmp_path / f"jobs1_{i}", "--jobs", "1"))
        wall2 = statistics.median(r[0] for r in runs2)
        rows.append(("five cases, --jobs 2, end to end", f"{wall2:.1f} s", "<= 20 s",
                     f"median of {times} ({', '.join(f'{r[0]:.1f}' for r in runs2)}); assessments "
                     f"{statistics.median(r[1] for r in runs2):.1f} s in all, figures drawn as tasks of their own"))
        if runs1:
            wall1 = statistics.median(r[0] for r in runs1)
            rows.append(("five cases, --jobs 1, end to end", f"{wall1:.1f} s", "",
                         f"median of {times} ({', '.join(f'{r[0]:.1f}' for r in runs1)}); assessments "
                         f"{statistics.median(r[1] for r in runs1):.1f} s in all"))
            rows.append(("speed-up of --jobs 2 over --jobs 1", f"{wall1 / wall2:.2f} x", ">= 1.5 x",
                         "ratio of the medians"))
        rerun, _, err = flexopt_run(tmp_path / "jobs2_0", "--jobs", "2")  # where it ran: the manifest names paths
        skipped = len(re.findall(r"^\[skip\]", err, flags=re.M))
        rows.append(("rerun, everything written", f"{rerun:.1f} s", f"<= {0.1 * wall2:.1f} s",
                     f"{100 * rerun / wall2:.0f} % of the first run; {skipped} members skipped"))
        bare, _, _ = flexopt_run(tmp_path / "bare", "--jobs", "2", "--no-figures")
        rows.append(("five cases, --jobs 2 --no-figures", f"{bare:.1f} s", "", "datasets, tables, report"))
        report = tmp_path / "jobs2_0" / "sardinia_ps" / "report.html"
        text = report.read_text(encoding="utf-8")
        images = len(re.findall(r'<img [^>]*src="data:image/png;base64,', text))
        rows.append(("report.html of the five cases", f"{report.stat().st_size / 1e6:.2f} MB", "<= 3 MB",
                     f"{images} figures embedded"))
    if "--skip-lopf" not in argv:
        rows.append(("LOPF re-solve, persistent HiGHS", f"{lopf_ms():.2f} ms", "<= 1.5 ms", "R1, 40 busiest intervals"))
    width = max(len(r[0]) for r in rows)
    print(f"machine: {os.cpu_count()} cores (shared with whatever else runs: times are wall-clock)")
    print(f"{'measure':{width}s}  {'value':>10s}  {'goal':>9s}  note")
    for name, value, goal, note in rows:
        print(f"{name:{width}s}  {value:>10s}  {goal:>9s}  {note}")


if __name__ == "__main__":
    main(sys.argv[1:])
