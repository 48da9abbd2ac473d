"""Network compiler: one pandapower net per feeder, deterministic, named like the scenario."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pytest

from flexopt.errors import FlexoptError
from flexopt.compile.networks import build_feeder_net, build_networks, transformer_loading_percent
from flexopt.language.validate import load_scenario
from tests.conftest import CASE_STUDY, MINIMAL


@pytest.fixture(scope="module")
def case_study():
    scenario, _ = load_scenario(CASE_STUDY)
    return scenario


@pytest.fixture(scope="module")
def nets_a(case_study):
    return {fn.feeder: fn for fn in build_networks(case_study, case_study.case("A"))}


def expected_bus_count(feeder) -> int:
    from flexopt.compile.networks import LATERAL_LENGTH_SHARE

    lateral_km = LATERAL_LENGTH_SHARE[feeder.ambit] * feeder.length_km
    lateral_sections = max(2, round(feeder.sections * lateral_km / feeder.length_km))
    return 1 + feeder.sections + feeder.laterals * lateral_sections


def test_one_net_per_feeder_with_the_declared_topology(case_study, nets_a):
    assert list(nets_a) == ["R1", "R2", "D3", "U4", "U5"]
    for feeder in case_study.feeders:
        net = nets_a[feeder.name].net
        assert len(net.bus) == expected_bus_count(feeder)
        assert len(net.line) == len(net.bus) - 1  # radial
        assert net.line.length_km[net.line.name.str.contains("-M")].sum() == pytest.approx(feeder.length_km)
        assert set(net.line.std_type) == {feeder.conductor}
        assert (net.bus.vn_kv == case_study.substation.transformer.lv_kv).all()
        assert net.ext_grid.vm_pu.tolist() == [case_study.substation.busbar_pu]


def test_network_sizes_of_the_case_study_are_pinned(nets_a):
    """Buses, lines, loads (one per class per node) and DER rows of every feeder; a change here is a
    change of the case study and must be explained in docs/case_study.md."""
    sizes = {name: (len(fn.net.bus), len(fn.net.line), len(fn.net.load), len(fn.net.sgen)) for name, fn in nets_a.items()}
    assert sizes == {"R1": (40, 39, 127, 2), "R2": (31, 30, 97, 2), "D3": (7, 6, 1, 2), "U4": (19, 18, 40, 1),
                     "U5": (15, 14, 31, 0)}
    total_km = {name: round(fn.net.line.length_km.sum(), 2) for name, fn in nets_a.items()}
    assert total_km == {"R1": 38.0, "R2": 31.5, "D3": 6.0, "U4": 8.7, "U5": 6.5}


def test_element_names_equal_the_scenarios_names(case_study, nets_a):
    sgens = {name for fn in nets_a.values() for name in fn.net.sgen.name}
    assert sgens == {d.name for d in case_study.case("A").ders}
    assert nets_a["R1"].net.bus.name.iloc[-1].startswith("R1-")
    assert all(name.endswith(("residential", "commercial", "agricultural", "industrial")) for name in nets_a["R1"].net.load.name)


def test_ders_sit_where_declared(nets_a):
    r1 = nets_a["R1"]
    end_bus = r1.main_path[-1]
    assert r1.net.sgen.loc[r1.der("PV_R1").indices[0], "bus"] == end_bus
    assert r1.net.bus.at[end_bus, "name"] == "R1-M%02d" % (len(r1.main_path) - 1)
    r2 = nets_a["R2"]
    assert r2.net.sgen.loc[r2.der("CHP_R2").indices[0], "bus"] == r2.main_path[1]  # start: first node after the busbar


def test_load_shares_of_each_class_add_up_to_one(nets_a):
    for fn in nets_a.values():
        totals: dict[str, float] = {}
        for load in fn.loads:
            totals[load.customer_class] = totals.get(load.customer_class, 0.0) + load.share
        assert totals and all(v == pytest.approx(1.0) for v in totals.values())


def test_compilation_is_deterministic(case_study, nets_a):
    again = build_feeder_net(case_study, case_study.case("A"), case_study.feeder("R1")).net
    first = nets_a["R1"].net
    for table in ("bus", "line", "load", "sgen"):
        assert getattr(again, table).equals(getattr(first, table))


def test_der_spread_over_a_stretch(folder):
    scenario = folder.load(MINIMAL.replace("der PV1 pv 2 MW at R1 end", "der PV1 pv 2 MW at R1 from 50 % to end"))
    fn = build_feeder_net(scenario, scenario.cases[0], scenario.feeder("R1"))
    element = fn.der("PV1")
    assert len(element.indices) == 6  # nodes 5..10 of 10 sections
    assert sum(element.shares) == pytest.approx(1.0)
    assert fn.net.sgen.sn_mva.sum() == pytest.approx(2.0)
    assert set(fn.net.sgen.name) == {"PV1"}


def test_imported_pandapower_builder_with_a_named_bus(folder):
    scenario = folder.load(MINIMAL.replace("der PV1 pv 2 MW at R1 end", "")
                           + 'feeder CIGRE urban from pandapower "create_cigre_network_mv"\nder PV9 pv 1 MW at CIGRE bus "Bus 11"\n')
    fn = build_feeder_net(scenario, scenario.cases[0], scenario.feeder("CIGRE"))
    (idx,) = fn.der("PV9").indices
    assert fn.net.bus.at[fn.net.sgen.at[idx, "bus"], "name"] == "Bus 11"
    assert fn.net.ext_grid.vm_pu.iloc[0] == scenario.substation.busbar_pu


def test_unknown_bus_on_an_imported_builder_feeder_is_refused_by_check_at_the_der(folder):
    line, _, message, hint = folder.error(MINIMAL.replace("der PV1 pv 2 MW at R1 end", "")
                                          + 'feeder CIGRE from pandapower "create_cigre_network_mv"\n'
                                          'der PV9 pv 1 MW at CIGRE bus "Bus 111"\n')
    assert (line, message) == (13, "feeder 'CIGRE' has no bus named 'Bus 111'")
    assert hint == "did you mean 'Bus 11'?"


def test_transformer_loading_formula_matches_pandapower(case_study):
    """The substation-level check agrees with pandapower's transformer model at the same busbar voltage."""
    t = case_study.substation.transformer
    net = pp.create_empty_network()
    hv = pp.create_bus(net, t.hv_kv)
    lv = pp.create_bus(net, t.lv_kv)
    pp.create_ext_grid(net, hv, vm_pu=1.0)
    pp.create_transformer_from_parameters(net, hv, lv, sn_mva=t.rated_mva, vn_hv_kv=t.hv_kv, vn_lv_kv=t.lv_kv,
                                          vk_percent=t.vk_percent, vkr_percent=t.vkr_percent, pfe_kw=t.pfe_kw,
                                          i0_percent=t.i0_percent)
    pp.create_load(net, lv, p_mw=-25.0, q_mvar=4.0)  # 25 MW of net export, 4 Mvar drawn
    pp.runpp(net, numba=False)
    v_lv = net.res_bus.vm_pu.at[lv]
    from dataclasses import replace

    substation = replace(case_study.substation, busbar_pu=v_lv)
    ours = transformer_loading_percent(substation, np.array([-25.0]), np.array([4.0]))[0]
    assert ours == pytest.approx(net.res_trafo.loading_percent.iloc[0], rel=1e-3)
