"""How flexopt scales: many DERs on one feeder, long chains of cases (issue goals in brackets).

Run: python benchmarks/scale.py [--ders 1000,3000,10000] [--cases 2000]
Prints one table:
  - `flexopt run` of one feeder carrying N small PV plants (2 bid points per direction), in a
    fresh process: wall time and peak memory  [10,000 DERs <= 60 s, <= 2 GB]
  - `flexopt check` of a scenario whose N cases each extend the previous one, imports and
    parser excluded  [2,000 cases <= 2 s]
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

HEAD = """\
scenario "scale"
profile pv generated pv { latitude 39.2 deg  longitude 9.1 deg }
profile residential generated demand { class residential }
price buy 50 EUR/MWh
price sell 40 EUR/MWh
substation PS { transformer 40 MVA 150/20 kV }
feeder R1 rural {
  length 10 km  sections 10
  conductor "NA2XS2Y 1x185 RM/25 12/20 kV"
  demand 5 GWh/y  mix residential 100 %
}
"""


def many_ders(n: int) -> str:
    ders = "\n".join(f"der PV{i} pv 0.002 MW at R1 {0.5 + (i % 95) * 0.1:.1f} km" for i in range(n))
    return (HEAD + ders + "\nbids { pv down -100 % at 0  up +10 % derated at 2 * sell }\n"
            "study { bid points 2 per direction }\ncase A \"many DERs\" { }\n")


def case_chain(n: int) -> str:
    cases = ['case C0 "first" { }'] + [f'case C{i} "next" extends C{i - 1} {{ reactive {{ remuneration {i} EUR/Mvarh }} }}'
                                       for i in range(1, n)]
    return HEAD + "der PV1 pv 2 MW at R1 end\n" + "\n".join(cases) + "\n"


def run_ders(n: int, rows: list[tuple[str, str, str]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ders.flex"
        path.write_text(many_ders(n), encoding="utf-8")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "flexopt", "run", str(path), "--out", str(Path(folder) / "out"),
                                 "--quiet"], capture_output=True, text=True)
        wall = time.perf_counter() - started
        peak = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
        note = "ok" if result.returncode == 0 else f"exit {result.returncode}: {result.stderr.strip()[-120:]}"
        rows.append((f"flexopt run, one feeder with {n:,} DERs [10,000: <= 60 s, <= 2 GB]", f"{wall:.1f} s",
                     f"peak {peak:,.0f} MB; {note}"))


def check_cases(n: int, rows: list[tuple[str, str, str]]) -> None:
    from flexopt.language import syntax
    from flexopt.language.validate import load_scenario_text

    syntax.parser()
    text = case_chain(n)
    with tempfile.TemporaryDirectory() as folder:
        shutil.copytree(REPO / "scenarios" / "data", Path(folder) / "data")
        load_scenario_text(case_chain(3), "warm-up.flex", Path(folder))  # lazy imports, std types
        started = time.perf_counter()
        load_scenario_text(text, "chain.flex", Path(folder))
        seconds = time.perf_counter() - started
    rows.append((f"flexopt check, {n:,} cases each extending the last [2,000: <= 2 s]", f"{seconds:.2f} s",
                 "parse + validate, warm process"))


def main(argv: list[str]) -> None:
    ders = [1000, 3000, 10000]
    cases = 2000
    for i, arg in enumerate(argv):
        if arg == "--ders":
            ders = [int(x) for x in argv[i + 1].split(",")]
        if arg == "--cases":
            cases = int(argv[i + 1])
    rows: list[tuple[str, str, str]] = []
    check_cases(cases, rows)
    for n in ders:
        run_ders(n, rows)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':{width}s}  {'value':>10s}  note")
    for name, value, note in rows:
        print(f"{name:{width}s}  {value:>10s}  {note}")


if __name__ == "__main__":
    main(sys.argv[1:])
