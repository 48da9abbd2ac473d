"""Speed and accuracy of the calendar's periods on the shipped case study, case A (issue 12 goals in brackets).

Run: python benchmarks/periods_speed.py [--days N] [--weather expected|variable] [--seed S] [--skip-full-year]
Prints one table, one row per mode (typical days, full year, representative N days):
  - intervals assessed and the time of the assessment of case A (profiles, nets, power flows, LOPF,
    transformer check)  [full year <= 90 s on 2 cores]
  - the speed-up over the full year  [representative >= 5x]
  - feeder R1's hour-weighted orange + red share of the points that move the PCC, and its
    difference from the full year  [representative within 2 points]
  - annual energy of R1's PV over the intervals against its declared energy (kept exactly)
The scenario is the shipped one with its calendar block given a `periods` (and `weather`) line.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CASE_STUDY = REPO / "scenarios" / "sardinia_ps.flex"


def scenario_with(folder: Path, periods: str, weather: str) -> Path:
    """The case study with ``periods ...`` and ``weather ...`` in its calendar block."""
    text = CASE_STUDY.read_text(encoding="utf-8")
    text, n = re.subn(r"calendar\s*\{", lambda m: f"{m.group(0)}\n  {periods}\n  {weather}", text, count=1)
    assert n == 1, "the case study has no calendar block"
    path = folder / f"{re.sub(r'[^a-z0-9]+', '_', periods)}.flex"
    path.write_text(text, encoding="utf-8")
    return path


def r1_share_percent(ds) -> float:
    """R1's orange + red share (%) of the points that move the PCC, each point weighing its interval's hours."""
    r1 = ds.sel(feeder="R1")
    moved = ((r1.bid_point != 0) & (np.abs(r1.quantity_mw) > 1e-9)).transpose("interval", "bid_point").values
    weight = np.broadcast_to(r1.weight_h.values[:, None], moved.shape)
    flagged = (r1.status.transpose("interval", "bid_point").values != 0) & moved
    return 100.0 * float((weight * flagged).sum() / (weight * moved).sum())


def measure(path: Path) -> dict:
    from flexopt.api import assess_case, load_scenario
    from flexopt.compile.profiles import compile_profiles

    scenario = load_scenario(path)
    start = time.perf_counter()
    ds = assess_case(scenario, "A")
    seconds = time.perf_counter() - start
    case = scenario.case("A")
    profiles = compile_profiles(scenario, case)
    pv = case.der("PV_R1")
    energy = profiles.annual_energy_mwh(profiles.der_p_mw["PV_R1"])
    return {"intervals": ds.sizes["interval"], "seconds": seconds, "share": r1_share_percent(ds),
            "energy_gwh": energy / 1000, "declared_gwh": (pv.energy_mwh_per_year or float("nan")) / 1000,
            "peak_pu": float(profiles.der_p_mw["PV_R1"].max() / pv.rated_mw)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=12, help="representative days (clusters) besides the extremes")
    parser.add_argument("--weather", default="expected", choices=("expected", "variable"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-full-year", action="store_true")
    args = parser.parse_args()
    weather = "weather expected" if args.weather == "expected" else f"weather variable seed {args.seed}"
    modes = ["periods typical days", f"periods representative {args.days} days"]
    if not args.skip_full_year:
        modes.insert(1, "periods full year")
    folder = Path(tempfile.mkdtemp(prefix="flexopt-periods-"))
    try:
        shutil.copytree(CASE_STUDY.parent / "data", folder / "data")
        rows = {mode: measure(scenario_with(folder, mode, weather)) for mode in modes}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    full = rows.get("periods full year")
    print(f"case study, case A, {weather}")
    print(f"{'mode':<34} {'intervals':>9} {'assess s':>9} {'speed-up':>9} {'R1 orange+red %':>16} "
          f"{'vs full year':>13} {'PV_R1 GWh/y':>12} {'declared':>9} {'PV peak pu':>10}")
    for mode, row in rows.items():
        speed = f"{full['seconds'] / row['seconds']:.1f}x" if full else "-"
        diff = f"{row['share'] - full['share']:+.2f}" if full else "-"
        print(f"{mode:<34} {row['intervals']:>9} {row['seconds']:>9.1f} {speed:>9} {row['share']:>16.2f} "
              f"{diff:>13} {row['energy_gwh']:>12.4f} {row['declared_gwh']:>9.4f} {row['peak_pu']:>10.3f}")
    print("goals: full year <= 90 s on 2 cores; representative >= 5x faster and within 2 points of the full year")


if __name__ == "__main__":
    main()
