"""Speed and accuracy of the P-Q chart (`study { pq area 16 directions }`) on the shipped case study.

Run: python benchmarks/pq_speed.py [--grid N]
Prints one table:
  - case A assessed without and with the chart: the chart's time for all 288 intervals x 5 feeders
    x 16 directions, its power flows and LP solves  [goal <= 60 s on 2 cores]
  - R1 at interval 156 (summer working day, noon): its chart (area, P and Q ranges) side by side with
    an exhaustive map by pandapower.runpp over a grid of both DERs' dispatch (PV and wind: P over their
    offers, Q over their capability), with its time and number of power flows  [TensorConvolution+:
    806 s for this one interval, 207 MW·Mvar; an exhaustive pandapower OPF map 197 MW·Mvar]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CASE_STUDY = REPO / "scenarios" / "sardinia_ps.flex"
INTERVAL = 156


def scenario_with_chart(directions: int):
    from flexopt.language.validate import load_scenario_text

    text = CASE_STUDY.read_text(encoding="utf-8")
    text = text.replace("  remedies reactive\n}", f"  remedies reactive\n  pq area {directions} directions\n}}", 1)
    scenario, _ = load_scenario_text(text, str(CASE_STUDY), CASE_STUDY.parent)
    assert scenario.case("A").study.pq_area_directions == directions
    return scenario


def exhaustive_map(scenario, ds, steps: int) -> tuple[float, float, int, np.ndarray]:
    """Convex-hull area (MW·Mvar), seconds and power flows of a runpp grid over R1's DER dispatch."""
    import pandapower as pp
    from scipy.spatial import ConvexHull

    from flexopt.compile.networks import export_nets
    from flexopt.results.store import apply_point

    with tempfile.TemporaryDirectory() as folder:
        export_nets(scenario, scenario.case("A"), Path(folder))
        net = pp.from_json(str(Path(folder) / "R1.json"))
    apply_point(net, ds, "R1", INTERVAL, 0)
    point = ds.sel(interval=INTERVAL)
    limits = (float(ds.v_min_limit_pu), float(ds.v_max_limit_pu), float(ds.loading_limit_percent))
    grids = {}
    for der, s_mva, q_cap in (("PV_R1", 16.4, None), ("WT_R1", 1.25, 1.25 * np.sin(np.arccos(0.95)))):
        p = point.der_p_mw.sel(der=der).values
        grids[der] = (np.linspace(p.min(), p.max(), steps if der == "PV_R1" else 3), s_mva, q_cap)
    rows = {der: net.sgen.index[net.sgen.name == der] for der in grids}
    found, flows = [], 0
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p_pv in grids["PV_R1"][0]:
            q_pv_max = np.sqrt(max(16.4**2 - p_pv**2, 0.0))
            for q_pv in np.linspace(-q_pv_max, q_pv_max, 2 * steps - 1):
                for p_wt in grids["WT_R1"][0]:
                    for q_wt in np.linspace(-grids["WT_R1"][2], grids["WT_R1"][2], 3):
                        for der, p, q in (("PV_R1", p_pv, q_pv), ("WT_R1", p_wt, q_wt)):
                            net.sgen.loc[rows[der], "p_mw"] = p / len(rows[der])
                            net.sgen.loc[rows[der], "q_mvar"] = q / len(rows[der])
                        flows += 1
                        try:
                            pp.runpp(net, numba=False)
                        except pp.LoadflowNotConverged:
                            continue
                        vm = net.res_bus.vm_pu
                        if vm.min() >= limits[0] and vm.max() <= limits[1] and \
                                net.res_line.loading_percent.max() <= limits[2]:
                            found.append((net.res_ext_grid.p_mw.sum(), net.res_ext_grid.q_mvar.sum()))
    seconds = time.perf_counter() - started
    points = np.array(found)
    return ConvexHull(points).volume, seconds, flows, points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=9, help="grid steps of the PV's P (its Q gets 2N-1)")
    parser.add_argument("--directions", type=int, default=16)
    args = parser.parse_args()

    from flexopt.engine.assess import assess_case
    from flexopt.results.store import to_dataset

    plain = scenario_with_chart(args.directions)
    started = time.perf_counter()
    from flexopt.language.validate import load_scenario

    scenario_plain, _ = load_scenario(CASE_STUDY)
    assess_case(scenario_plain, scenario_plain.case("A"))
    without_s = time.perf_counter() - started
    started = time.perf_counter()
    assessment = assess_case(plain, plain.case("A"))
    with_s = time.perf_counter() - started
    charts = [f.pq for f in assessment.feeders]
    chart_s = sum(c.seconds for c in charts)
    ds = to_dataset(assessment)
    r1 = ds.sel(feeder="R1", interval=INTERVAL)
    area = float(r1.pq_area_mw_mvar)
    hull, map_s, flows, points = exhaustive_map(plain, ds, args.grid)

    rows = [
        ("case A assessed, no chart", f"{without_s:.1f} s", ""),
        (f"case A assessed, chart in {args.directions} directions", f"{with_s:.1f} s", ""),
        ("  of which the chart (288 intervals x 5 feeders)", f"{chart_s:.1f} s", "goal <= 60 s"),
        ("  power flows / LP solves of the chart", f"{sum(c.power_flows for c in charts):,} / "
                                                   f"{sum(c.lp_solves for c in charts):,}", ""),
        ("  per feeder (s)", ", ".join(f"{f.feeder} {f.pq.seconds:.1f}" for f in assessment.feeders), ""),
        ("  vertices pulled inwards", f"{int(np.nansum(ds.pq_share.values < 1))} of "
                                      f"{int(np.isfinite(ds.pq_share.values).sum())}", ""),
        (f"R1, interval {INTERVAL}: chart area", f"{area:.1f} MW·Mvar",
         f"P {float(r1.pq_p_mw.min()):.2f} .. {float(r1.pq_p_mw.max()):.2f} MW, "
         f"Q {float(r1.pq_q_mvar.min()):.2f} .. {float(r1.pq_q_mvar.max()):.2f} Mvar"),
        (f"R1, interval {INTERVAL}: exhaustive runpp map", f"{hull:.1f} MW·Mvar",
         f"P {points[:, 0].min():.2f} .. {points[:, 0].max():.2f} MW, "
         f"Q {points[:, 1].min():.2f} .. {points[:, 1].max():.2f} Mvar"),
        ("  its time and power flows", f"{map_s:.1f} s", f"{flows:,} runpp, {len(points):,} feasible"),
        ("  chart / map area", f"{area / hull:.3f}", "TensorConvolution+: 806 s, 207 MW·Mvar"),
    ]
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print(f"{'measure':<{width}}  {'value':<{value_width}}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:<{value_width}}  {note}")


if __name__ == "__main__":
    main()
