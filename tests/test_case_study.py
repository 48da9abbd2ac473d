"""The paper's case study, rebuilt: energies, a fit-and-forget grid at its working point, R1 critical."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pandapower as pp
import pytest

from flexopt.compile.networks import build_networks, operating_points, set_interval, transformer_loading_percent
from flexopt.compile.profiles import compile_profiles
from flexopt.language.validate import load_scenario
from tests.conftest import CASE_STUDY, SCENARIOS

#: Annual energies the paper states (section 5), GWh/y.
PAPER_GWH = {"demand": 81.4, "pv": 35.03, "wind": 3.87, "chp": 20.35}


@pytest.fixture(scope="module")
def study():
    scenario, _ = load_scenario(CASE_STUDY)
    case = scenario.case("A")
    profiles = compile_profiles(scenario, case)
    nets = build_networks(scenario, case)
    return scenario, case, profiles, nets


def test_typical_day_weights_sum_to_a_year(study):
    _, _, profiles, _ = study
    assert len(profiles.days.weight_h) == 288
    assert profiles.days.weight_h.sum() == pytest.approx(8760)


def test_annual_energies_match_the_paper_within_one_percent(study):
    scenario, case, profiles, _ = study
    demand = sum(profiles.annual_energy_mwh(profiles.feeder_class_demand_mw(f.name, s.customer_class))
                 for f in scenario.feeders for s in f.mix)
    by_kind = {"pv": 0.0, "wind": 0.0, "chp": 0.0}
    for der in case.ders:
        by_kind[der.kind] += profiles.annual_energy_mwh(profiles.der_p_mw[der.name])
    assert demand / 1000 == pytest.approx(PAPER_GWH["demand"], rel=0.01)
    for kind, value in by_kind.items():
        assert value / 1000 == pytest.approx(PAPER_GWH[kind], rel=0.01), kind


def run_all_intervals(scenario, case, profiles, feeder_net, scale_dg=None):
    """(v_min, v_max, loading_max, p_pcc, q_pcc) per interval with pandapower.runpp."""
    net = feeder_net.net
    points = operating_points(feeder_net, case, profiles)
    rows = []
    for t in range(len(profiles.days.weight_h)):
        set_interval(net, points, t)
        if scale_dg is not None:
            net.sgen["p_mw"] = points.sgen_p_mw[t] * scale_dg
        pp.runpp(net, numba=False, init="flat")
        rows.append((net.res_bus.vm_pu.min(), net.res_bus.vm_pu.max(), net.res_line.loading_percent.max(),
                     net.res_ext_grid.p_mw.sum(), net.res_ext_grid.q_mvar.sum()))
    return np.array(rows)


@pytest.fixture(scope="module")
def working_points(study):
    scenario, case, profiles, nets = study
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {fn.feeder: run_all_intervals(scenario, case, profiles, fn) for fn in nets}


def test_every_feeder_is_within_limits_at_its_working_point_in_all_288_intervals(study, working_points):
    scenario, case, _, _ = study
    limits = case.limits
    for feeder, results in working_points.items():
        assert results[:, 0].min() >= limits.v_min_pu, feeder
        assert results[:, 1].max() <= limits.v_max_pu, feeder
        assert results[:, 2].max() <= limits.line_loading_percent, feeder


def test_the_transformer_carries_the_sum_of_the_feeders_within_its_rating(study, working_points):
    scenario, case, _, _ = study
    p = sum(r[:, 3] for r in working_points.values())
    q = sum(r[:, 4] for r in working_points.values())
    loading = transformer_loading_percent(scenario.substation, p, q)
    assert loading.max() <= case.limits.transformer_loading_percent
    assert p.min() < 0  # reverse flow towards the transmission grid in some hours, as in the paper


def test_r1_is_where_bids_hit_the_limits_first(study, working_points):
    """Table 2's largest upward offer (derated RES back to their available output, +20 % CHP) violates
    limits on R1 only, whose working point is within them in every interval."""
    scenario, case, profiles, nets = study
    limits = case.limits
    headroom = {f: min(limits.v_max_pu - r[:, 1].max(), (limits.line_loading_percent - r[:, 2].max()) / 100)
                for f, r in working_points.items()}
    assert min(headroom, key=headroom.get) == "R1"
    violating = {}
    for fn in nets:
        kinds = [case.der(fn.net.sgen.name.at[i]).kind for i in fn.net.sgen.index]
        scale = np.array([1.2 if k == "chp" else 1 / 0.9 for k in kinds])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = run_all_intervals(scenario, case, profiles, fn, scale_dg=scale)
        violating[fn.feeder] = int(((results[:, 1] > limits.v_max_pu) | (results[:, 2] > limits.line_loading_percent)).sum())
    assert violating["R1"] > 0
    assert all(v == 0 for f, v in violating.items() if f != "R1"), violating


def test_export_nets_round_trip(tmp_path, study):
    scenario, case, profiles, nets = study
    result = subprocess.run([sys.executable, "-m", "flexopt", "export-nets", str(CASE_STUDY), "--case", "A",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.glob("*.json")) == sorted(f"{f.name}.json" for f in scenario.feeders)
    for fn in nets:
        exported = pp.from_json(str(tmp_path / f"{fn.feeder}.json"))
        assert exported.bus.name.tolist() == fn.net.bus.name.tolist()
        assert exported.sgen.name.tolist() == fn.net.sgen.name.tolist()
        assert exported.load.name.tolist() == fn.net.load.name.tolist()
        assert exported.line.length_km.tolist() == pytest.approx(fn.net.line.length_km.tolist())
        pp.runpp(exported, numba=False)
        assert exported.converged
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    json.loads((tmp_path / "R1.json").read_text())


def test_the_calibration_study_is_the_case_study_with_other_calibrations_of_r1():
    """scenarios/sardinia_calibrations.flex repeats the case study word for word above its cases."""
    calibrations = (SCENARIOS / "sardinia_calibrations.flex").read_text(encoding="utf-8")
    shipped = CASE_STUDY.read_text(encoding="utf-8")
    def body(text):
        text = text.split("# ---- cases", 1)[0]
        return text[text.index("calendar {"):]
    assert body(calibrations) == body(shipped)
    scenario, _ = load_scenario(SCENARIOS / "sardinia_calibrations.flex")
    assert scenario.case("A").feeders == scenario.feeders
    lengths = {c.name: c.feeder("R1").length_km for c in scenario.cases}
    assert lengths["A"] == 19 and lengths["CABLE_30KM"] == 30 and lengths["OVERHEAD_16KM_35GWH"] == 16
    heavy = scenario.case("OVERHEAD_16KM_35GWH")
    total = sum(f.demand_mwh_per_year for f in heavy.feeders)
    assert total == pytest.approx(sum(f.demand_mwh_per_year for f in scenario.feeders))  # 81.4 GWh/y kept
