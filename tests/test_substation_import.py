"""Whole substations imported from pandapower nets (issue 17): `substation NAME from pandapower|file`.

The net is split at each HV/MV transformer's MV busbar into feeders as its switches stand; every
feeder cut out of the whole must reproduce the whole net's power flow, the batch power flow must
match pandapower.runpp on every cut feeder, the net's generators become DERs by type and its loads
demand, and a net that cannot be used ends in one clear message.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import warnings

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest

from flexopt.errors import FlexoptError
from flexopt.language.substation_nets import SubstationNetError, feeder_net, split_substations
from flexopt.language.validate import load_scenario_text

HEADER = """scenario "region"
calendar {
  season winter months dec jan feb
  season summer months mar apr may jun jul aug sep oct nov
  hours 24
}
profile pv          generated pv     { latitude 48.3 deg  longitude 7.8 deg  tilt 30 deg }
profile wind        generated wind   { site coastal }
profile chp         generated chp    { zone C }
profile residential generated demand { class residential }
price sell 60 EUR/MWh
price buy  70 EUR/MWh
bids {
  pv, wind  down -100 % at 0  up +10 % derated at 2 * sell
}
reactive { remuneration 0.05 * buy per Mvarh }
study { bid points 4 per direction }
case A { }
"""


def quiet_runpp(net, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(net, numba=False, tolerance_mva=1e-10, **kw)


def scenario(body: str, folder=None):
    return load_scenario_text(HEADER + body, "region.flex", folder)


NETS = {
    "mv_oberrhein": lambda: pn.mv_oberrhein(),
    "mv_oberrhein_with_its_mv_lv_substations": lambda: pn.mv_oberrhein(include_substations=True),
    "cigre_mv": lambda: pn.create_cigre_network_mv(with_der="pv_wind"),
    "open_ring": lambda: pn.simple_mv_open_ring_net(),
}


# ---------------------------------------------------------------------------
# Splitting a net into substations and feeders
# ---------------------------------------------------------------------------


def test_mv_oberrhein_is_two_substations_of_two_feeders_each_and_every_load_and_plant_is_in_one_feeder():
    net = pn.mv_oberrhein()
    subs = split_substations(net)
    assert [s.trafo_name for s in subs] == ["HV/MV Transformer 0", "HV/MV Transformer 1"]
    assert [len(s.feeders) for s in subs] == [2, 2]
    loads = [i for s in subs for f in s.feeders for i in f.loads]
    sgens = [i for s in subs for f in s.feeders for i in f.sgens]
    assert sorted(loads) == sorted(net.load.index) and len(loads) == 147
    assert sorted(sgens) == sorted(net.sgen.index) and len(sgens) == 153
    buses = [b for s in subs for f in s.feeders for b in f.buses]
    assert len(buses) == len(set(buses)) == len(net.bus) - 4  # all but the two HV buses and two busbars
    assert all(f.radial for s in subs for f in s.feeders)  # the six open switches cut every ring


def test_cigre_mv_is_two_substations_and_the_loads_on_a_busbar_go_with_its_first_feeder():
    net = pn.create_cigre_network_mv(with_der="pv_wind")
    subs = split_substations(net)
    assert [(s.busbar, len(s.feeders)) for s in subs] == [(1, 1), (12, 1)]
    assert [s.busbar_loads for s in subs] == [2, 2]
    assert sum(len(f.loads) for s in subs for f in s.feeders) == len(net.load)
    assert {int(net.load.bus[i]) for i in subs[0].feeders[0].loads} >= {1}


@pytest.mark.parametrize("name", NETS)
def test_every_feeder_cut_out_of_the_whole_reproduces_the_whole_nets_power_flow(name):
    from flexopt.engine.powerflow import open_branch_switches

    whole = NETS[name]()
    reference = copy.deepcopy(whole)
    open_branch_switches(reference)  # a line behind an open switch is cut off (its charging current too)
    quiet_runpp(reference, calculate_voltage_angles=True, init="dc")  # Dyn5: 150 degrees of phase shift
    for sub in split_substations(whole):
        for feeder in sub.feeders:
            busbar_pu = float(reference.res_bus.vm_pu[sub.busbar])
            part = feeder_net(copy.deepcopy(whole), sub, feeder, busbar_pu, feeder.label)
            open_branch_switches(part)  # as the batch power flow does: a ring opened inside one feeder
            quiet_runpp(part)
            buses = list(feeder.buses)
            assert np.abs(part.res_bus.vm_pu[buses] - reference.res_bus.vm_pu[buses]).max() < 1e-8
            lines = part.line.index[part.line.in_service]
            assert np.abs(part.res_line.loading_percent[lines] - reference.res_line.loading_percent[lines]).max() < 1e-6


@pytest.mark.parametrize("name", NETS)
def test_the_batch_power_flow_matches_runpp_on_every_cut_feeder(name):
    from flexopt.engine.powerflow import BatchPowerFlow, open_branch_switches

    whole = NETS[name]()
    for sub in split_substations(whole):
        for feeder in sub.feeders:
            net = feeder_net(copy.deepcopy(whole), sub, feeder, 1.02, feeder.label)
            flow = BatchPowerFlow(net)
            scale = np.array([[1.0], [0.3]])
            result = flow.solve(net.load.p_mw.to_numpy() * scale, net.load.q_mvar.to_numpy() * scale,
                                net.sgen.p_mw.to_numpy() * scale[::-1], net.sgen.q_mvar.to_numpy() * scale[::-1])
            assert result.converged.all()
            open_branch_switches(net)
            for row in range(2):
                reference = copy.deepcopy(net)
                reference.load["p_mw"] = net.load.p_mw * scale[row, 0]
                reference.load["q_mvar"] = net.load.q_mvar * scale[row, 0]
                reference.sgen["p_mw"] = net.sgen.p_mw * scale[::-1][row, 0]
                reference.sgen["q_mvar"] = net.sgen.q_mvar * scale[::-1][row, 0]
                reference.load["scaling"] = reference.sgen["scaling"] = 1.0
                quiet_runpp(reference)
                assert np.abs(result.vm_pu[row] - reference.res_bus.vm_pu.values).max() < 1e-6
                assert result.p_pcc_mw[row] == pytest.approx(reference.res_ext_grid.p_mw.iat[0], abs=1e-6)


def test_substations_joined_by_a_closed_switch_are_refused_with_the_switch_to_open():
    net = pn.mv_oberrhein()
    net.switch["closed"] = True  # the rings closed: the two substations run in parallel
    with pytest.raises(SubstationNetError, match="connects the busbars of two substations") as err:
        split_substations(net)
    assert "open the switch" in err.value.hint


def test_a_net_of_feeders_only_and_a_net_with_voltage_controlled_generators_are_refused():
    with pytest.raises(SubstationNetError, match="no in-service HV/MV transformer"):
        split_substations(_feeder_only())
    net = pn.mv_oberrhein()
    pp.create_gen(net, int(net.bus.index[5]), p_mw=1.0)
    with pytest.raises(SubstationNetError, match="voltage-controlled generators") as err:
        split_substations(net)
    assert "replace_gen_by_sgen" in err.value.hint


def _feeder_only():
    net = pp.create_empty_network()
    a, b = pp.create_bus(net, 20.0), pp.create_bus(net, 20.0)
    pp.create_ext_grid(net, a)
    pp.create_line(net, a, b, 2.0, "NA2XS2Y 1x185 RM/25 12/20 kV")
    return net


# ---------------------------------------------------------------------------
# The scenario language
# ---------------------------------------------------------------------------


def test_a_builder_with_two_substations_becomes_two_substations_of_the_study_with_their_feeders_and_ders():
    model, _ = scenario('substation OB from pandapower "mv_oberrhein" { busbar 1.02 pu }\n')
    assert [s.name for s in model.substations] == ["OB_1", "OB_2"]
    assert [s.transformer.rated_mva for s in model.substations] == [25.0, 25.0]
    assert [f.name for f in model.feeders] == ["OB_1_Line_162", "OB_1_Line_165", "OB_2_Line_62", "OB_2_Line_193"]
    assert {model.substation_of(f).name for f in model.feeders[:2]} == {"OB_1"}
    ders = model.cases[0].ders
    assert len(ders) == 153 and {d.kind for d in ders} == {"pv"}
    net = pn.mv_oberrhein()
    assert sum(d.rated_mw for d in ders) == pytest.approx(net.sgen.p_mw.sum())
    peak = sum(f.demand_peak_mw for f in model.feeders)
    assert peak == pytest.approx((net.load.p_mw * net.load.scaling).sum())


def test_a_declared_demand_is_shared_among_the_feeders_by_their_loads_peak():
    model, _ = scenario('substation OB from pandapower "mv_oberrhein" { demand 100 GWh/y  mix residential 100 % }\n')
    assert sum(f.demand_mwh_per_year for f in model.feeders) == pytest.approx(100_000.0)
    assert all(f.demand_peak_mw is None for f in model.feeders)


def test_generator_types_without_a_kind_are_refused_with_the_line_to_add_and_mapped_types_become_ders():
    with pytest.raises(FlexoptError) as err:
        scenario('substation C from file "cigre_all.json"\n', _cigre_all_folder())
    text = str(err.value)
    assert "have no kind of DER" in text and 'type "Residential fuel cell" as chp' in text
    model, _ = scenario('substation C from file "cigre_all.json" {\n'
                        '  type "Residential fuel cell" as chp\n  type "Fuel cell" as chp\n'
                        '  type "CHP diesel" as chp\n}\n', _cigre_all_folder())
    kinds = sorted({d.kind for d in model.cases[0].ders})
    assert kinds == ["chp", "pv", "storage", "wind"]  # the net's two batteries (net.storage) are storage DERs
    battery = model.cases[0].der("C_1_Battery_1")
    assert (battery.rated_mw, battery.storage_mwh, battery.position.bus_index) == (0.2, 2.4, 5)
    with pytest.raises(FlexoptError, match=r"storage 'Battery 1' has no energy capacity \(max_e_mwh\)"):
        scenario('substation C from file "cigre_no_energy.json" { type "Residential fuel cell" as chp\n'
                 '  type "Fuel cell" as chp  type "CHP diesel" as chp }\n', _cigre_all_folder())


_FOLDERS: dict[str, object] = {}


def _cigre_all_folder():
    if "cigre" not in _FOLDERS:
        import tempfile
        from pathlib import Path

        folder = Path(tempfile.mkdtemp(prefix="flexopt-cigre-"))
        net = pn.create_cigre_network_mv(with_der="all")
        net.storage["max_e_mwh"] = [2.4, 0.8]  # pandapower gives its two batteries no energy capacity
        pp.to_json(net, str(folder / "cigre_all.json"))
        del net.storage["max_e_mwh"]
        pp.to_json(net, str(folder / "cigre_no_energy.json"))
        _FOLDERS["cigre"] = folder
    return _FOLDERS["cigre"]


def test_a_type_mapped_as_fixed_keeps_its_generators_as_fixed_injections_that_never_bid(tmp_path):
    from flexopt.compile.networks import build_networks, operating_points
    from flexopt.compile.profiles import compile_profiles

    model, _ = scenario('substation C from pandapower "create_cigre_network_mv" { type "PV" as fixed }\n')
    case = model.cases[0]
    assert case.ders == ()
    nets = build_networks(model, case)
    profiles = compile_profiles(model, case)
    for feeder in nets:
        points = operating_points(feeder, case, profiles)
        assert np.allclose(points.sgen_p_mw, (feeder.net.sgen.p_mw * feeder.net.sgen.scaling).to_numpy()[None])


def test_an_unknown_builder_gets_a_did_you_mean_at_its_column():
    with pytest.raises(FlexoptError) as err:
        scenario('substation OB from pandapower "mv_oberhein"\n')
    assert "region.flex:19:" in str(err.value) and "did you mean 'mv_oberrhein'" in str(err.value)


def test_a_der_at_a_named_bus_of_an_imported_feeder_is_checked_against_that_feeders_buses():
    model, _ = scenario('substation OB from pandapower "mv_oberrhein"\n'
                        'der CHP_X chp 1 MW at OB_1_Line_162 bus "Bus 91"\n')
    assert model.cases[0].der("CHP_X").position.bus == "Bus 91"
    with pytest.raises(FlexoptError, match="has no bus named 'Bus 9999'"):
        scenario('substation OB from pandapower "mv_oberrhein"\n'
                 'der CHP_X chp 1 MW at OB_1_Line_162 bus "Bus 9999"\n')


def test_check_lists_the_substations_and_their_feeders_and_exits_0():
    done = subprocess.run([sys.executable, "-m", "flexopt", "check", "scenarios/oberrhein.flex"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "substation OB_1 (HV/MV Transformer 0, imported from its net): 25 MVA 110/20 kV" in done.stdout
    assert "OB_2_Line_193" in done.stdout and "153 DERs" in done.stdout
    assert "numba" not in done.stdout + done.stderr


# ---------------------------------------------------------------------------
# End to end: each substation's transformer, tables per substation and for the region
# ---------------------------------------------------------------------------


def test_a_region_is_assessed_with_each_transformer_checked_on_its_own_feeders():
    from flexopt.engine.assess import assess_case
    from flexopt.results.store import to_dataset

    model, _ = scenario('substation OB from pandapower "mv_oberrhein" { busbar 1.02 pu }\n'
                        'substation CG from pandapower "create_cigre_network_mv" { }\n')
    assert [s.name for s in model.substations] == ["OB_1", "OB_2", "CG_1", "CG_2"]
    assessment = assess_case(model, model.cases[0])
    ds = to_dataset(assessment)
    assert list(ds.feeder_substation.values) == [model.substation_of(f).name for f in ds.feeder.values]
    assert len(ds.der) == 153  # cigre_mv without DER: its feeders only load the transformers
    for f in assessment.feeders:  # the HV exchange adds only the feeders of the same substation
        sub = model.substation_of(f.feeder)
        mates = [g for g in assessment.feeders if model.substation_of(g.feeder) is sub]
        zero = int(np.flatnonzero(f.bid_point == 0)[0])
        from flexopt.compile.networks import hv_exchange

        busbar_p = sum(np.nan_to_num(g.p_pcc_mw[:, zero]) for g in mates)
        busbar_q = sum(np.nan_to_num(g.q_pcc_mvar[:, zero]) for g in mates)
        expected_p, _ = hv_exchange(sub, busbar_p, busbar_q)
        assert np.allclose(f.p_hv_mw[:, zero], expected_p, atol=1e-9)


REGION = ('substation RING from pandapower "simple_mv_open_ring_net" { busbar 1.02 pu }\n'
          'substation CG from pandapower "create_cigre_network_mv" { busbar 1.03 pu }\n')


@pytest.fixture(scope="module")
def region_runs(tmp_path_factory):
    """The same small region (three substations) run serially and with one task per substation."""
    from flexopt.run import run_scenario

    folder = tmp_path_factory.mktemp("region")
    path = folder / "region.flex"
    pp.to_json(pn.create_cigre_network_mv(with_der="pv_wind"), str(folder / "cigre.json"))  # PV and WP plants
    path.write_text(HEADER + REGION.replace('from pandapower "create_cigre_network_mv"', 'from file "cigre.json"'),
                    encoding="utf-8")
    for jobs in (1, 2):
        written = run_scenario(str(path), None, str(folder / f"jobs{jobs}"), quiet=True, jobs=jobs)
        assert list(written) == ["A"]
    return folder


def test_a_region_run_with_one_task_per_substation_writes_the_same_dataset_and_figures_as_a_serial_run(region_runs):
    import xarray as xr

    serial = xr.open_dataset(region_runs / "jobs1" / "region" / "A.nc")
    parallel = xr.open_dataset(region_runs / "jobs2" / "region" / "A.nc")
    assert list(serial.feeder_substation.values) == ["RING", "RING", "CG_1", "CG_2"]
    for name in ("status", "quantity_mw", "q_support_mvar", "p_hv_mw", "v_max_pu"):
        np.testing.assert_array_equal(serial[name].values, parallel[name].values)
    assert (region_runs / "jobs1" / "region" / "table4_substations.csv").read_text() == \
        (region_runs / "jobs2" / "region" / "table4_substations.csv").read_text()
    figures = sorted(p.name for p in (region_runs / "jobs1" / "region").glob("*.png"))  # drawn by worker tasks too
    assert figures and figures == sorted(p.name for p in (region_runs / "jobs2" / "region").glob("*.png"))
    for name in figures:
        assert (region_runs / "jobs1" / "region" / name).read_bytes() == \
            (region_runs / "jobs2" / "region" / name).read_bytes(), name


def test_a_regions_tables_add_up_its_substations_and_the_report_shows_the_region_first(region_runs):
    import pandas as pd

    folder = region_runs / "jobs1" / "region"
    t4 = pd.read_csv(folder / "table4_substations.csv")
    assert list(dict.fromkeys(t4.substation)) == ["region", "RING", "CG_1", "CG_2"]
    potential = t4[t4.metric == "market_potential"].set_index(["substation", "direction"]).value
    for direction in ("up", "down"):
        parts = sum(potential[(name, direction)] for name in ("RING", "CG_1", "CG_2"))
        assert potential[("region", direction)] == pytest.approx(parts, rel=1e-5)
    whole = pd.read_csv(folder / "table4.csv")
    region_row = whole[(whole.metric == "market_potential") & (whole.direction == "down")].value.iat[0]
    assert region_row == pytest.approx(potential[("region", "down")], rel=1e-5)
    t3 = pd.read_csv(folder / "table3_substations.csv")
    points = t3[t3.metric == "points"].set_index("substation").value
    assert points["region"] == points["RING"] + points["CG_1"] + points["CG_2"]
    report = (folder / "report.html").read_text()
    assert report.index("The region: its substations") < report.index("Table 3 — operating points per feeder")
    assert "Table 4 — flexibility of the whole region" in report
    assert "A region of 3 substations (RING 25 MVA at 1.02 pu, CG_1 25 MVA at 1.03 pu" in report


def test_a_feeder_from_a_net_of_two_substations_is_refused_by_check_with_the_substation_statement():
    with pytest.raises(FlexoptError) as err:
        scenario('substation PS { transformer 40 MVA 110/20 kV }\nfeeder OB from pandapower "mv_oberrhein"\n')
    text = str(err.value)
    assert "region.flex:20:" in text and "holds 2 substations" in text
    assert 'substation OB from pandapower "mv_oberrhein"' in text


# ---------------------------------------------------------------------------
# Every MV (and MV/LV) network of pandapower.networks, and a SimBench grid
# ---------------------------------------------------------------------------

#: pandapower.networks builders without required arguments whose nets hold MV buses: each imports, or is
#: refused with a message (never an internal error); every feeder of those that import converges.
MV_BUILDERS = {
    "create_cigre_network_mv": None, "mv_oberrhein": None, "simple_mv_open_ring_net": None,
    "create_cigre_network_hv": "voltage-controlled generators", "example_simple": "voltage-controlled generators",
    "example_multivoltage": "voltage-controlled generators", "create_cigre_network_lv": None,
    "create_kerber_dorfnetz": None, "create_kerber_vorstadtnetz_kabel_1": None, "kb_extrem_vorstadtnetz_trafo_2": None,
    "four_loads_with_branches_out": None, "panda_four_load_branch": None, "simple_four_bus_system": None,
    "create_synthetic_voltage_control_lv_network": None, "create_dickert_lv_network": None,
}


@pytest.mark.parametrize("builder", MV_BUILDERS)
def test_every_mv_network_of_pandapower_imports_or_is_refused_with_a_reason(builder):
    from flexopt.engine.powerflow import BatchPowerFlow

    net = getattr(pn, builder)()
    refused = MV_BUILDERS[builder]
    if refused:
        with pytest.raises(SubstationNetError, match=refused):
            split_substations(net)
        return
    for sub in split_substations(net):
        assert sub.feeders and sub.transformer.rated_mva > 0
        for feeder in sub.feeders:
            part = feeder_net(copy.deepcopy(net), sub, feeder, 1.0, feeder.label)
            result = BatchPowerFlow(part).solve(
                (part.load.p_mw * part.load.scaling).to_numpy()[None], (part.load.q_mvar * part.load.scaling).to_numpy()[None],
                (part.sgen.p_mw * part.sgen.scaling).to_numpy()[None], (part.sgen.q_mvar * part.sgen.scaling).to_numpy()[None])
            assert result.converged.all(), (builder, feeder.label)


def test_one_substation_of_mv_oberrhein_saved_as_json_is_one_substation_named_as_written(tmp_path):
    pp.to_json(pn.mv_oberrhein(separation_by_sub=True)[0], str(tmp_path / "ob0.json"))
    model, _ = scenario('substation OB0 from file "ob0.json" { }\n', tmp_path)
    assert [s.name for s in model.substations] == ["OB0"]
    assert [s.transformer_name for s in model.substations] == ["HV/MV Transformer 0"]
    assert len(model.cases[0].ders) == 60


def test_the_default_kinds_of_sgen_types_are_whole_words_of_the_type():
    from flexopt.language.substation_nets import sgen_kind

    assert [sgen_kind(t) for t in ("PV", "PV_MV", "WP", "Wind_MV", "CHP diesel", "Battery", "lv_RES", "Hydro_MV",
                                   "PVC", "")] == ["pv", "pv", "wind", "wind", "chp", "storage", None, None, None, None]


def test_a_simbench_mv_grid_is_imported_whole_with_its_parallel_transformers_and_assessed(tmp_path):
    simbench = pytest.importorskip("simbench")
    from flexopt.engine.assess import assess_case

    pp.to_json(simbench.get_simbench_net("1-MV-rural--0-sw"), str(tmp_path / "mv_rural.json"))
    with pytest.raises(FlexoptError) as err:  # SimBench's aggregated LV plants and its biomass and hydro
        scenario('substation SB from file "mv_rural.json"\n', tmp_path)
    assert 'type "lv_RES" as chp' in str(err.value) and "type 'Biomass_MV'" in str(err.value)
    model, _ = scenario('substation SB from file "mv_rural.json" {\n  type "lv_RES" as pv  type "Biomass_MV" as chp\n'
                        '  type "Hydro_MV" as fixed\n}\n', tmp_path)
    (sub,) = model.substations
    assert sub.transformer.rated_mva == 50.0 and " + " in sub.transformer_name  # two 25 MVA in parallel
    assert len(model.feeders) == 8
    assert {d.kind for d in model.cases[0].ders} == {"pv", "wind", "chp"}
    assessment = assess_case(model, model.cases[0])
    assert all(f.status.size and (f.status >= 0).all() for f in assessment.feeders)


def test_parallel_lines_and_out_of_service_elements_are_taken_as_the_net_says():
    from flexopt.engine.powerflow import BatchPowerFlow, open_branch_switches

    net = pn.mv_oberrhein()
    subs = split_substations(net)
    first = subs[0].feeders[0]
    line = int(net.line.index[net.line.from_bus.isin(first.buses) & net.line.to_bus.isin(first.buses)][3])
    doubled = pp.create_line_from_parameters(  # a second circuit beside the line, and one of two cables
        net, int(net.line.from_bus[line]), int(net.line.to_bus[line]), float(net.line.length_km[line]),
        float(net.line.r_ohm_per_km[line]), float(net.line.x_ohm_per_km[line]), float(net.line.c_nf_per_km[line]),
        float(net.line.max_i_ka[line]), name="second circuit")
    net.line.loc[int(net.line.index[net.line.from_bus.isin(first.buses)][6]), "parallel"] = 2
    cut = int(net.line.index[net.line.from_bus.isin(subs[1].feeders[1].buses)][10])
    net.line.loc[cut, "in_service"] = False  # buses behind it are supplied by nothing: in no feeder
    net.load.loc[net.load.index[net.load.bus.isin(first.buses)][0], "in_service"] = False
    again = split_substations(net)
    assert again[0].feeders[0].buses == first.buses and again[0].feeders[0].radial  # parallel circuits: no loop
    assert len(again[0].feeders[0].loads) == len(first.loads) - 1
    orphaned = set(subs[1].feeders[1].buses) - set(again[1].feeders[1].buses)
    assert orphaned and not any(set(f.buses) & orphaned for s in again for f in s.feeders)
    part = feeder_net(copy.deepcopy(net), again[0], again[0].feeders[0], 1.02, "F")
    assert doubled in part.line.index
    flow = BatchPowerFlow(part)
    load = (part.load.p_mw * part.load.scaling).to_numpy()[None]
    result = flow.solve(load, load * 0.3, np.zeros((1, len(part.sgen))), np.zeros((1, len(part.sgen))))
    reference = copy.deepcopy(part)
    open_branch_switches(reference)
    reference.load["p_mw"], reference.load["q_mvar"], reference.load["scaling"] = load[0], load[0] * 0.3, 1.0
    reference.sgen["p_mw"] = reference.sgen["q_mvar"] = 0.0
    quiet_runpp(reference)
    assert np.abs(result.vm_pu[0] - reference.res_bus.vm_pu.values).max() < 1e-6
    in_service = reference.line.in_service.to_numpy()
    assert np.abs(result.loading_percent[0][:in_service.sum()]
                  - reference.res_line.loading_percent.values[in_service]).max() < 1e-3


def test_parallel_transformers_and_lines_of_a_net_solve_as_runpp_does():
    from flexopt.engine.powerflow import BatchPowerFlow, open_branch_switches

    net = pn.create_cigre_network_mv(with_der="pv_wind")
    net.trafo["parallel"] = 2  # lightsim2grid refuses `parallel`; the batch merges each into one element
    net.line.loc[3, "parallel"] = 3
    flow = BatchPowerFlow(net)
    result = flow.solve(net.load.p_mw.to_numpy()[None], net.load.q_mvar.to_numpy()[None],
                        net.sgen.p_mw.to_numpy()[None], net.sgen.q_mvar.to_numpy()[None])
    open_branch_switches(net)
    quiet_runpp(net, calculate_voltage_angles=True, init="dc")
    assert np.abs(result.vm_pu[0] - net.res_bus.vm_pu.values).max() < 1e-8
    expected = np.concatenate([net.res_line.loading_percent.values[net.line.in_service.to_numpy()],
                               net.res_trafo.loading_percent.values])
    assert np.abs(result.loading_percent[0] - expected).max() < 1e-6
    assert result.p_pcc_mw[0] == pytest.approx(net.res_ext_grid.p_mw.iat[0], abs=1e-8)
