"""Real grids at scale (issue 17): pandapower's mv_oberrhein imported whole, and a region of many of them.

Run: python benchmarks/region_scale.py [--copies 10] [--jobs 2]
Prints one table (issue goals in brackets):
  - `flexopt run` of scenarios/oberrhein.flex (2 substations, 4 feeders, 153 PV DERs), case A, in a
    fresh process, figures and report included  [<= 60 s on 2 cores]
  - a region of 2 x COPIES substations (COPIES times the whole mv_oberrhein net, 153 DERs each),
    `--no-figures`, with --jobs 1, with --jobs N (one task per substation), and on a local
    dask.distributed cluster of N single-threaded worker processes (one task per substation)
Every run writes the same Table 4; the script checks that the three region runs agree.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def region_text(copies: int) -> str:
    text = (REPO / "scenarios" / "oberrhein.flex").read_text(encoding="utf-8")
    head, _, rest = text.partition('substation OB from pandapower "mv_oberrhein" {')
    block, _, tail = rest.partition("}")
    statements = "\n".join(f'substation OB{k} from pandapower "mv_oberrhein" {{{block}}}' for k in range(1, copies + 1))
    return head.replace('scenario "oberrhein"', 'scenario "region"') + statements + tail


def timed(args: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "flexopt", *args], capture_output=True, text=True)
    wall = time.perf_counter() - started
    return wall, "ok" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[-160:]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10, help="copies of mv_oberrhein (2 substations each)")
    parser.add_argument("--jobs", type=int, default=2)
    options = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        wall, note = timed(["run", str(REPO / "scenarios" / "oberrhein.flex"), "--out", str(out / "ob"), "--quiet"])
        rows.append(("mv_oberrhein whole, case A, figures + report", "2 / 4 / 153", "1", f"{wall:.1f}", note))
        path = out / "region.flex"
        path.write_text(region_text(options.copies), encoding="utf-8")
        size = f"{2 * options.copies} / {4 * options.copies} / {153 * options.copies}"
        tables = {}
        for label, extra in (("--jobs 1", ["--jobs", "1"]), (f"--jobs {options.jobs}", ["--jobs", str(options.jobs)])):
            target = out / label.replace(" ", "")
            wall, note = timed(["run", str(path), "--out", str(target), "--quiet", "--no-figures", *extra])
            rows.append((f"region, {label}", size, extra[-1], f"{wall:.1f}", note))
            tables[label] = (target / "region" / "table4.csv").read_text() if note == "ok" else None
        from distributed import LocalCluster

        with LocalCluster(n_workers=options.jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster:
            target = out / "dask"
            wall, note = timed(["run", str(path), "--out", str(target), "--quiet", "--no-figures",
                                "--scheduler", cluster.scheduler_address])
        rows.append((f"region, dask LocalCluster ({options.jobs} workers)", size, str(options.jobs), f"{wall:.1f}",
                     note))
        tables["dask"] = (target / "region" / "table4.csv").read_text() if note == "ok" else None
        same = len({t for t in tables.values() if t is not None}) == 1 and None not in tables.values()
    header = ("run", "substations / feeders / DERs", "workers", "wall s", "result")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths)] + rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
    print(f"\nTable 4 of the three region runs identical: {same}")


if __name__ == "__main__":
    main()
