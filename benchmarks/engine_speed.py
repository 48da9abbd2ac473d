"""Speed of the assessment engine on the shipped case study (issue goals in brackets).

Run: python benchmarks/engine_speed.py [--skip-case-study] [--skip-exact-checks]
Prints one table:
  - AC power flows per second, engine (lightsim2grid batch) vs pandapower.runpp, same feeder
    (R1) and the same operating points  [engine >= 500x runpp]
  - LOPF re-solves per second through the persistent HiGHS model, and a fresh Pyomo build
    and solve of the same LP for comparison  [<= 3 ms per solve]
  - `flexopt run --case A,B` with the default bid points in a fresh process: the time of
    the two assessments, the wall time with figures and report, peak memory (max RSS)
    [<= 30 s, <= 2 GB]
  - the exact AC checks behind the red verdicts, on R1 under the stressed calibrations of
    scenarios/sardinia_calibrations.flex: how many ran, their cost, how each red was established
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CASE_STUDY = REPO / "scenarios" / "sardinia_ps.flex"


def power_flows(rows: list[tuple[str, str, str]]) -> None:
    import pandapower as pp

    from flexopt.compile.networks import build_feeder_net, operating_points
    from flexopt.engine.powerflow import BatchPowerFlow
    from flexopt.compile.profiles import compile_profiles
    from flexopt.language.validate import load_scenario

    scenario, _ = load_scenario(CASE_STUDY)
    case = scenario.case("A")
    profiles = compile_profiles(scenario, case)
    feeder_net = build_feeder_net(scenario, case, scenario.feeder("R1"))
    points = operating_points(feeder_net, case, profiles)
    net = feeder_net.net
    flow = BatchPowerFlow(net)
    repeats = 21  # as many steps as the default bid points give: 288 intervals x 21 points
    args = [np.tile(a, (repeats, 1)) for a in (points.load_p_mw, points.load_q_mvar, points.sgen_p_mw,
                                               points.sgen_q_mvar)]
    flow.solve(*[a[:10] for a in args])  # warm-up
    started = time.perf_counter()
    result = flow.solve(*args)
    engine_s = (time.perf_counter() - started) / len(args[0])
    assert result.converged.all()
    sample = 60
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in range(sample):
            net.load["p_mw"], net.load["q_mvar"] = points.load_p_mw[t], points.load_q_mvar[t]
            net.sgen["p_mw"], net.sgen["q_mvar"] = points.sgen_p_mw[t], points.sgen_q_mvar[t]
            pp.runpp(net, numba=False)
    runpp_s = (time.perf_counter() - started) / sample
    worst = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in range(0, 288, 29):
            net.load["p_mw"], net.load["q_mvar"] = points.load_p_mw[t], points.load_q_mvar[t]
            net.sgen["p_mw"], net.sgen["q_mvar"] = points.sgen_p_mw[t], points.sgen_q_mvar[t]
            pp.runpp(net, numba=False)
            worst = max(worst, float(np.abs(result.vm_pu[t] - net.res_bus.vm_pu.values).max()))
    rows.append(("AC power flow, engine (R1, %d buses, batch of %d)" % (len(net.bus), len(args[0])),
                 f"{1 / engine_s:,.0f} /s", f"{engine_s * 1e6:.1f} us each"))
    rows.append(("AC power flow, pandapower.runpp (same feeder)", f"{1 / runpp_s:,.0f} /s",
                 f"{runpp_s * 1e3:.1f} ms each"))
    rows.append(("engine speed-up over runpp [goal >= 500x]", f"{runpp_s / engine_s:,.0f} x",
                 f"max |dV| {worst:.1e} pu"))

    from flexopt.engine.lopf import LpData, ReactiveLp, solve_fresh

    lp = ReactiveLp(len(net.sgen), len(net.bus), 2 * len(flow.branch_names))
    busiest = np.argsort(points.sgen_p_mw.sum(axis=1))[-40:]
    problems = []
    for t in busiest:
        state = flow.solve(points.load_p_mw[[t]], points.load_q_mvar[[t]], points.sgen_p_mw[[t]],
                           points.sgen_q_mvar[[t]])
        v = state.v[0]
        dvm, di = flow.sensitivities(v, net.sgen.bus.to_numpy())
        problems.append(LpData(dvm, di, np.abs(v), 0.9, float(np.abs(v).max()) - 0.005, flow.branch_currents_ka(v),
                               flow.rated_current_ka, np.full(len(net.sgen), 5.0),
                               np.full(len(net.sgen), 5.0), 2.5))
    started = time.perf_counter()
    for data in problems:
        lp.solve(data)
    persistent_s = (time.perf_counter() - started) / len(problems)
    started = time.perf_counter()
    for data in problems[:10]:
        solve_fresh(data)
    fresh_s = (time.perf_counter() - started) / 10
    started = time.perf_counter()
    for t in busiest[:10]:
        state = flow.solve(points.load_p_mw[[t]], points.load_q_mvar[[t]], points.sgen_p_mw[[t]],
                           points.sgen_q_mvar[[t]])
        flow.sensitivities(state.v[0], net.sgen.bus.to_numpy())
    sensitivity_s = (time.perf_counter() - started) / 10
    rows.append(("LOPF re-solve, persistent HiGHS [goal <= 3 ms]", f"{1 / persistent_s:,.0f} /s",
                 f"{persistent_s * 1e3:.2f} ms each"))
    rows.append(("LOPF built and solved fresh through Pyomo", f"{1 / fresh_s:,.0f} /s", f"{fresh_s * 1e3:.1f} ms each"))
    rows.append(("AC re-check + Jacobian sensitivities per LOPF iteration", f"{1 / sensitivity_s:,.0f} /s",
                 f"{sensitivity_s * 1e3:.2f} ms each"))


def case_study(rows: list[tuple[str, str, str]]) -> None:
    import re

    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "flexopt", "run", str(CASE_STUDY), "--case", "A,B", "--out", out],
                                check=True, capture_output=True, text=True)
        wall = time.perf_counter() - started
    member_s = sum(float(s) for s in re.findall(r"^\[\d+/\d+\] \S+: ([0-9.]+) s", result.stderr, flags=re.M))
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows.append(("case study A + B assessed, 10 bid points per direction [goal <= 30 s]", f"{member_s:.1f} s",
                 "profiles, networks, power flows, LOPF, datasets"))
    rows.append(("flexopt run --case A,B, fresh process", f"{wall:.1f} s",
                 "+ imports, tables, 21 figures, report.html"))
    rows.append(("peak memory of that run [goal <= 2 GB]", f"{peak_mb:,.0f} MB", "max RSS"))


def exact_checks(rows: list[tuple[str, str, str]]) -> None:
    from collections import Counter

    import flexopt
    from flexopt.compile.networks import build_networks
    from flexopt.compile.profiles import compile_profiles
    from flexopt.engine.assess import assess_feeder, reactive_price
    from flexopt.results.schema import RED_ESTABLISHED

    scenario = flexopt.load_scenario(REPO / "scenarios" / "sardinia_calibrations.flex")
    for name in ("A", "CABLE_30KM", "OVERHEAD_16KM"):
        case = scenario.case(name)
        profiles = compile_profiles(scenario, case)
        net = next(n for n in build_networks(scenario, case) if n.feeder == "R1")
        started = time.perf_counter()
        feeder = assess_feeder(net, case, profiles, reactive_price(case, profiles))
        seconds = time.perf_counter() - started
        status = feeder.status.ravel()
        how = Counter(RED_ESTABLISHED[c] for c in feeder.red_established.ravel()[status == 2])
        per_check = f"{feeder.exact_seconds / feeder.exact_checks * 1e3:.0f} ms each" if feeder.exact_checks else "-"
        rows.append((f"R1 of {name}: {int((status == 1).sum())} orange, {int((status == 2).sum())} red "
                     f"({', '.join(f'{n} {k}' for k, n in how.items()) or 'none'})", f"{seconds:.1f} s",
                     f"{feeder.lopf_solves} LP solves; {feeder.exact_checks} exact checks, "
                     f"{feeder.exact_seconds:.1f} s, {per_check}"))


def main(argv: list[str]) -> None:
    rows: list[tuple[str, str, str]] = []
    power_flows(rows)
    if "--skip-case-study" not in argv:
        case_study(rows)
    if "--skip-exact-checks" not in argv:
        exact_checks(rows)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':{width}s}  {'value':>14s}  note")
    for name, value, note in rows:
        print(f"{name:{width}s}  {value:>14s}  {note}")


if __name__ == "__main__":
    main(sys.argv[1:])
