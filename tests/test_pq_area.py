"""The TSO's view: the P-Q chart at the PCC (`study { pq area N directions }`).

Every stored vertex is a dispatch inside the offers and capability curves that an AC power flow
confirms; the chart matches an exhaustive AC grid search over the same dispatches; green bid
points lie inside it; the substation's chart adds the feeders' charts under the transformer's limit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandapower as pp
import pytest
from scipy.spatial import ConvexHull

from flexopt.compile.networks import export_nets
from flexopt.engine.assess import assess_case, transformer_limit_mva
from flexopt.engine.pq_area import polygon_area
from flexopt.engine.powerflow import BatchPowerFlow
from flexopt.language.validate import load_scenario
from flexopt.results.schema import CHARTED, CHARTED_AROUND_VIOLATION, GREEN, NO_DER, PQ_REASONS, WORKING_VIOLATION
from flexopt.results.store import apply_point, apply_vertex, to_dataset
from tests.conftest import ScenarioFolder

#: One PV plant (the only DER of F1, so its dispatch is two numbers and a grid search is exhaustive)
#: at the end of a long cable whose voltage band binds at summer noons; F2 has no DER.
CHARTED_FEEDERS = """\
scenario "pq"
profile pv generated pv { latitude 39.2 deg  longitude 9.1 deg }
profile residential generated demand { class residential }
price buy 50 EUR/MWh
price sell 40 EUR/MWh
substation PS { transformer 40 MVA 150/20 kV  busbar 1.02 pu }
feeder F1 rural {
  length 20 km  sections 10
  conductor "NA2XS2Y 1x185 RM/25 12/20 kV"
  demand 3 GWh/y  mix residential 100 %
}
feeder F2 urban {
  length 5 km  sections 5
  conductor "NA2XS2Y 1x185 RM/25 12/20 kV"
  demand 8 GWh/y  mix residential 100 %
}
der PV1 pv 8 MW at F1 end  capability semicircle
bids { pv down -60 % at 0  up +10 % derated at 2 * sell }
reactive { remuneration 0.05 * buy per Mvarh }
limits { voltage 0.95 .. 1.05 pu }
study { bid points 4 per direction  pq area 16 directions }
case A "paid Q" { }
case SMALL "a small transformer" extends A { limits { transformer loading 20 % } }
"""
#: Summer working day at 4 h, 12 h, 14 h and 16 h; winter working day at 12 h.
INTERVALS = (148, 156, 158, 160, 12)
#: The daytime ones: at night the plant can only exchange reactive power, and the chart of a fixed P is
#: a curve (the losses' parabola), whose area means nothing.
DAYTIME = INTERVALS[1:]


def quiet_runpp(net) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(net, numba=False, init="flat", tolerance_mva=1e-10)


@pytest.fixture(scope="module")
def charted(tmp_path_factory):
    folder = ScenarioFolder(tmp_path_factory.mktemp("pq"))
    scenario, _ = load_scenario(folder.write(CHARTED_FEEDERS, "pq.flex"))
    assessments = {name: assess_case(scenario, scenario.case(name)) for name in ("A", "SMALL")}
    datasets = {name: to_dataset(a) for name, a in assessments.items()}
    nets = folder.root / "nets"
    export_nets(scenario, scenario.case("A"), nets)
    return scenario, assessments, datasets, nets


def test_pq_area_is_declared_in_the_study_block_with_at_least_four_directions(tmp_path):
    folder = ScenarioFolder(tmp_path)
    scenario = folder.load(CHARTED_FEEDERS)
    assert scenario.case("A").study.pq_area_directions == 16
    assert folder.load(CHARTED_FEEDERS.replace("  pq area 16 directions", "")).case("A").study.pq_area_directions == 0
    line, column, message, hint = folder.error(CHARTED_FEEDERS.replace("pq area 16", "pq area 3"))
    assert (line, message) == (21, "the P-Q chart needs at least 4 directions, got 3")
    assert "pq area 16 directions" in hint
    assert "whole number" in folder.error(CHARTED_FEEDERS.replace("pq area 16", "pq area 6.5"))[2]


def test_the_dataset_holds_the_chart_the_dispatch_behind_each_vertex_and_the_substation_chart(charted):
    _, _, datasets, _ = charted
    ds = datasets["A"]
    assert ds.pq_p_mw.dims == ("feeder", "interval", "direction") == ds.pq_q_mvar.dims
    assert ds.pq_der_p_mw.dims == ("interval", "direction", "der") == ds.pq_der_q_mvar.dims
    assert ds.pq_substation_p_mw.dims == ("interval", "direction")
    np.testing.assert_allclose(ds.direction_deg.values, np.arange(16) * 22.5)
    assert ds.pq_reason.attrs["flag_meanings"].split() == list(PQ_REASONS)
    f1 = ds.sel(feeder="F1")
    assert set(np.unique(f1.pq_reason.values)) == {CHARTED, CHARTED_AROUND_VIOLATION}
    assert int((f1.pq_reason == CHARTED_AROUND_VIOLATION).sum()) == 20  # summer and spring noons: orange
    assert bool((f1.sel(bid_point=0).status.values[f1.pq_reason.values == CHARTED_AROUND_VIOLATION] == 1).all())
    assert bool(np.isfinite(f1.pq_p_mw).all()) and bool(np.isfinite(f1.pq_q_mvar).all())
    f2 = ds.sel(feeder="F2")  # no DER: no chart
    assert bool((f2.pq_reason == NO_DER).all()) and bool(np.isnan(f2.pq_p_mw).all())


def test_every_vertex_rebuilt_with_pandapower_violates_no_limit_and_gives_the_stored_exchange(charted):
    _, _, datasets, nets = charted
    ds = datasets["A"]
    net = pp.from_json(str(nets / "F1.json"))
    for interval in INTERVALS:
        for direction in range(16):
            apply_vertex(net, ds, "F1", interval, direction)
            quiet_runpp(net)
            assert net.res_bus.vm_pu.max() <= 1.05 + 1e-6 and net.res_bus.vm_pu.min() >= 0.95 - 1e-6
            assert net.res_line.loading_percent.max() <= 100.0 + 1e-4
            vertex = ds.sel(feeder="F1", interval=interval, direction=direction)
            assert float(net.res_ext_grid.p_mw.sum()) == pytest.approx(float(vertex.pq_p_mw), abs=1e-5)
            assert float(net.res_ext_grid.q_mvar.sum()) == pytest.approx(float(vertex.pq_q_mvar), abs=1e-5)


def exhaustive_area(ds, nets, interval: int, steps: int = 61) -> tuple[float, np.ndarray]:
    """Area of the convex hull of every PCC exchange an AC power flow confirms over a grid of the PV
    plant's dispatch (P over its offered range, Q over its capability at that P): (area, points)."""
    net = pp.from_json(str(nets / "F1.json"))
    apply_point(net, ds, "F1", interval, 0)
    flow = BatchPowerFlow(net)
    point = ds.sel(interval=interval)
    p_values = np.linspace(float(point.der_p_mw.sel(der="PV1").min()), float(point.der_p_mw.sel(der="PV1").max()),
                           steps)
    s_mva = 8.0
    grid = [(p, q) for p in p_values for q in np.linspace(-1, 1, steps) * np.sqrt(max(s_mva**2 - p**2, 0.0))]
    rows = net.sgen.index[net.sgen.name == "PV1"]
    share = np.isin(net.sgen.index, rows) / len(rows)
    sgen_p = np.array([net.sgen.p_mw.to_numpy() * (1 - share) + p * share for p, _ in grid])
    sgen_q = np.array([net.sgen.q_mvar.to_numpy() * (1 - share) + q * share for _, q in grid])
    load_p = np.tile(net.load.p_mw.to_numpy(), (len(grid), 1))
    load_q = np.tile(net.load.q_mvar.to_numpy(), (len(grid), 1))
    result = flow.solve(load_p, load_q, sgen_p, sgen_q)
    ok = (result.converged & (result.vm_pu.max(axis=1) <= 1.05) & (result.vm_pu.min(axis=1) >= 0.95)
          & (result.loading_percent.max(axis=1) <= 100.0))
    points = np.stack([result.p_pcc_mw[ok], result.q_pcc_mvar[ok]], axis=1)
    return ConvexHull(points).volume, points


def test_the_chart_matches_an_exhaustive_ac_grid_search_within_5_percent_of_area(charted):
    _, _, datasets, nets = charted
    ds = datasets["A"]
    for interval in DAYTIME:
        chart = ds.sel(feeder="F1", interval=interval)
        area = float(polygon_area(chart.pq_p_mw.values, chart.pq_q_mvar.values))
        assert float(chart.pq_area_mw_mvar) == pytest.approx(area)
        exact, points = exhaustive_area(ds, nets, interval)
        assert area == pytest.approx(exact, rel=0.05), (interval, area, exact)
        assert area <= exact * 1.001  # an inner approximation: every vertex is a confirmed dispatch


def test_the_voltage_band_shapes_the_summer_noon_chart(charted):
    """At a summer noon the band cuts the chart (absorbing Q buys export), at night it does not bind."""
    _, _, datasets, nets = charted
    ds = datasets["A"].sel(feeder="F1")
    noon, night = ds.sel(interval=156), ds.sel(interval=148)
    most_export = int(np.argmin(noon.pq_p_mw.values))
    assert float(noon.pq_q_mvar[most_export]) > float(noon.sel(bid_point=0).q_pcc_mvar)  # Q absorbed at the edge
    assert float(night.pq_area_mw_mvar) > 0 and float(noon.pq_area_mw_mvar) > float(night.pq_area_mw_mvar)


def outside_mw(chart_p: np.ndarray, chart_q: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """How far each point lies outside the convex polygon of the chart (<= 0 inside), MW or Mvar."""
    hull = ConvexHull(np.stack([chart_p, chart_q], axis=1))
    return (np.stack([p, q], axis=1) @ hull.equations[:, :2].T + hull.equations[:, 2]).max(axis=1)


def test_every_green_bid_point_lies_inside_its_interval_chart_up_to_its_chord_error(charted):
    """A chart of N vertices is a polygon inside a region bounded by curved AC limits: a green point on the
    boundary may lie beyond a chord by the sagitta, which we bound at 2 % of the chart's extent."""
    _, _, datasets, _ = charted
    ds = datasets["A"].sel(feeder="F1")
    checked = 0
    for interval in np.flatnonzero(ds.pq_reason.values == CHARTED):
        chart = ds.sel(interval=interval)
        green = chart.status.values == GREEN
        extent = float(np.ptp(chart.pq_p_mw.values) + np.ptp(chart.pq_q_mvar.values))
        gap = outside_mw(chart.pq_p_mw.values, chart.pq_q_mvar.values, chart.p_pcc_mw.values[green],
                         chart.q_pcc_mvar.values[green])
        assert (gap <= 0.02 * extent + 1e-6).all(), (interval, gap.max(), extent)
        checked += int(green.sum())
    assert checked > 288 * 5


def test_the_substation_chart_adds_the_feeders_and_keeps_inside_the_transformer_limit(charted):
    scenario, assessments, datasets, _ = charted
    ds = datasets["A"]
    f2_working = ds.sel(feeder="F2", bid_point=0)
    clipped = ds.pq_substation_clipped.values.astype(bool)
    assert not clipped.any()  # 40 MVA: the feeders' sum fits
    np.testing.assert_allclose(ds.pq_substation_p_mw.values,
                               ds.pq_p_mw.sel(feeder="F1").values + f2_working.p_pcc_mw.values[:, None])
    np.testing.assert_allclose(ds.pq_substation_q_mvar.values,
                               ds.pq_q_mvar.sel(feeder="F1").values + f2_working.q_pcc_mvar.values[:, None])
    small = datasets["SMALL"]
    limit = transformer_limit_mva(scenario.substation, scenario.case("SMALL"))
    assert limit == pytest.approx(40 * 1.02 * 0.2)
    cut = small.pq_substation_clipped.values.astype(bool)
    assert cut.any()
    apparent = np.hypot(small.pq_substation_p_mw.values, small.pq_substation_q_mvar.values)
    assert np.nanmax(apparent[cut]) <= limit * (1 + 1e-9)
    unclipped_area = polygon_area(small.pq_p_mw.sel(feeder="F1").values + small.sel(feeder="F2", bid_point=0).p_pcc_mw.values[:, None],
                                  small.pq_q_mvar.sel(feeder="F1").values + small.sel(feeder="F2", bid_point=0).q_pcc_mvar.values[:, None])
    assert (small.pq_substation_area_mw_mvar.values[cut] < unclipped_area[cut]).all()


def test_a_working_point_no_dispatch_can_bring_within_limits_gets_no_chart_and_its_reason(tmp_path):
    folder = ScenarioFolder(tmp_path)
    text = CHARTED_FEEDERS.replace("voltage 0.95 .. 1.05 pu", "voltage 0.95 .. 1.021 pu").replace(
        "reactive { remuneration 0.05 * buy per Mvarh }", "reactive { unavailable }")
    scenario, _ = load_scenario(folder.write(text))
    assessment = assess_case(scenario, scenario.case("A"))
    pq = assessment.feeders[0].pq
    violated = pq.reason == WORKING_VIOLATION
    assert violated.any() and np.isin(pq.reason[~violated], [CHARTED, CHARTED_AROUND_VIOLATION]).all()
    assert np.isnan(pq.p_mw[violated]).all() and np.isfinite(pq.p_mw[~violated]).all()


def test_the_dense_jacobian_parts_are_pandapowers_dsbus_dv():
    """The hand-written derivatives of the bus injections behind every sensitivity equal pandapower's."""
    import pandapower.networks as pn
    from pandapower.pypower.dSbus_dV import dSbus_dV
    from scipy.sparse import csr_matrix

    flow = BatchPowerFlow(pn.create_cigre_network_mv(with_der="pv_wind"))
    rng = np.random.default_rng(1)
    n = len(flow.ybus)
    v = (1 + 0.05 * rng.standard_normal(n)) * np.exp(0.1j * rng.standard_normal(n))
    ours_vm, ours_va = flow.ds_dv(v)
    theirs_vm, theirs_va = dSbus_dV(csr_matrix(flow.ybus), v)
    np.testing.assert_allclose(ours_vm, theirs_vm.toarray(), atol=1e-9)
    np.testing.assert_allclose(ours_va, theirs_va.toarray(), atol=1e-9)


def test_the_chart_figures_are_written_with_captions_and_only_for_charted_cases(charted, tmp_path):
    from flexopt.results.pq_chart import busiest_interval, chart_figures

    _, _, datasets, _ = charted
    ds = datasets["A"]
    figures = chart_figures(ds, "A", tmp_path)
    assert [f.path.name for f in figures] == ["A_pq_chart.png", "A_pq_days.png", "A_pq_area.png"]
    assert all(f.path.stat().st_size > 5_000 and f.caption.startswith("Case A") for f in figures)
    blocked = ((ds.status == 1) | (ds.status == 2)).sum(dim=("feeder", "bid_point")).values
    assert blocked[busiest_interval(ds)] == blocked.max() > 0
    assert chart_figures(ds.drop_vars([v for v in ds.variables if str(v).startswith("pq_")]), "A", tmp_path) == []


def test_the_report_of_a_charted_case_shows_its_chart_figures_with_their_captions(charted, tmp_path):
    from flexopt.results.html import write_outputs
    from flexopt.results.pq_chart import busiest_interval, interval_label

    _, _, datasets, _ = charted
    written = write_outputs({"A": datasets["A"]}, tmp_path)
    names = {p.name for p in written.paths}
    assert {"A_pq_chart.png", "A_pq_days.png", "A_pq_area.png", "A_profiles.png"} <= names
    text = (tmp_path / "report.html").read_text()
    when = interval_label(datasets["A"], busiest_interval(datasets["A"]))
    assert f"), {when} (the interval with the most orange and red bid points)" in text
    assert "chart at every hour of each typical day" in text and "chart and of the substation" in text
    uncharted = datasets["A"].drop_vars([v for v in datasets["A"].variables if str(v).startswith("pq_")])
    uncharted = write_outputs({"A": uncharted}, tmp_path / "uncharted")
    assert not any("pq_" in p.name for p in uncharted.paths)


def test_a_rerun_with_more_cases_keeps_the_chart_figures_of_the_case_already_written(tmp_path):
    """The second run reuses case A's dataset and the figures the first run drew from it: all of them, the
    chart's included, so its report still shows A's chart."""
    from flexopt.run import run_scenario

    folder = ScenarioFolder(tmp_path)
    path = folder.write(CHARTED_FEEDERS, "pq.flex")
    run_scenario(str(path), ["A"], str(tmp_path / "out"), quiet=True)
    run_scenario(str(path), ["A", "SMALL"], str(tmp_path / "out"), quiet=True)
    text = (tmp_path / "out" / "pq" / "report.html").read_text()
    for case in ("A", "SMALL"):
        assert f'alt="Case {case}' in text
    assert text.count("(the interval with the most orange and red bid points)") == 2
