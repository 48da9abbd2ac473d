"""Each statement of the scenario language, read into the model in the model's units."""

from __future__ import annotations

import numpy as np
import pytest

from flexopt.language import expressions as ex
from tests.conftest import CASE_STUDY, MINIMAL


def test_the_case_study_is_valid_and_holds_the_papers_substation(folder):
    from flexopt.language.validate import load_scenario

    scenario, warnings = load_scenario(CASE_STUDY)
    assert scenario.name == "sardinia_ps"
    assert [f.name for f in scenario.feeders] == ["R1", "R2", "D3", "U4", "U5"]
    assert scenario.substation.transformer.rated_mva == 40
    assert [c.name for c in scenario.cases] == ["A", "B", "A_q_free", "A_no_q", "A_local_market"]
    case_a = scenario.case("A")
    by_kind = {}
    for der in case_a.ders:
        by_kind[der.kind] = by_kind.get(der.kind, 0) + der.rated_mw
    assert by_kind == pytest.approx({"pv": 26.0, "wind": 2.5, "chp": 5.2})
    r1_share = sum(d.rated_mw for d in case_a.ders if d.feeder == "R1") / sum(by_kind.values())
    assert r1_share > 0.5  # the paper: R1 holds over half of the DG capacity
    assert sum(f.demand_mwh_per_year for f in scenario.feeders) == pytest.approx(81_400)


def test_header_gives_name_and_title(folder):
    scenario = folder.load(MINIMAL.replace('scenario "mini"', 'scenario "mini" "A small test"'))
    assert (scenario.name, scenario.title) == ("mini", "A small test")
    assert len(scenario.text_sha256) == 64


def test_default_calendar_is_four_seasons_three_day_types_24_hours_of_a_whole_year(folder):
    cal = folder.load(MINIMAL).calendar
    assert cal.seasons == ("winter", "spring", "summer", "autumn")
    assert cal.day_types == ("working", "saturday", "holiday")
    assert cal.n_intervals == 288
    _, _, _, weights = cal.intervals()
    assert weights.sum() == pytest.approx(8760)


def test_calendar_counts_sundays_and_italian_public_holidays_as_holidays(folder):
    text = MINIMAL + """
calendar {
  year 2019  holidays "IT"
  season winter months dec jan feb
  season spring months mar apr may
  season summer months jun jul aug
  season autumn months sep oct nov
  hours 24
}
"""
    cal = folder.load(text).calendar
    # 2019: 52 Sundays; Italian holidays not on a Sunday: Jan 1, Jan 6 is Sunday, Apr 22 (Easter Monday),
    # Apr 25, May 1, Jun 2 is Sunday, Aug 15, Nov 1, Dec 8 is Sunday, Dec 25, Dec 26 -> 8 more
    holidays = sum(row[2] for row in cal.day_counts)
    saturdays = sum(row[1] for row in cal.day_counts)
    assert holidays == 52 + 8
    assert saturdays == 52
    assert cal.days_per_year == 365
    # winter 2019 (Jan+Feb+Dec = 90 days): 13 Sundays + Jan 1, Dec 25, Dec 26; 12 Saturdays
    assert cal.day_counts[0] == (62, 12, 16)


def test_explicit_day_counts_and_coarser_steps(folder):
    text = MINIMAL + """
calendar {
  season cold months oct nov dec jan feb mar
  season warm months apr may jun jul aug sep
  days cold working 130 saturday 26 holiday 26
  days warm working 131 saturday 26 holiday 26
  hours 12
}
"""
    cal = folder.load(text).calendar
    assert cal.seasons == ("cold", "warm")
    assert cal.steps_per_day == 12 and cal.step_hours == 2
    seasons, day_types, hours, weights = cal.intervals()
    assert len(weights) == 2 * 3 * 12
    assert hours[:3].tolist() == [0, 2, 4]
    assert weights.sum() == pytest.approx(8760)


def test_csv_and_generated_profiles(folder):
    text = MINIMAL + """
profile wind generated wind { site coastal  hub_height 80 m }
profile chp generated chp { zone C }
profile commercial generated demand { class commercial }
profile measured csv "data/prices.csv" column "buy"
"""
    scenario = folder.load(text)
    profiles = {p.name: p for p in scenario.profiles}
    assert profiles["wind"].param("site") == "coastal"
    assert profiles["wind"].param("hub_height") == pytest.approx(0.08)  # km
    assert profiles["pv"].param("latitude") == pytest.approx(39.2)
    assert profiles["measured"].path == (folder.root / "data" / "prices.csv").resolve()
    assert profiles["measured"].column == "buy"


def test_prices_from_csv_constants_and_expressions_with_unit_conversion(folder):
    text = MINIMAL.replace("price buy 50 EUR/MWh", 'price buy csv "data/prices.csv" column "buy" EUR/MWh') + """
price fuel 0.085 EUR/kWh
price cap min(fuel, 2 * buy)
"""
    case = folder.load(text).cases[0]
    assert case.price("buy").column == "buy" and case.price("buy").unit == "EUR/MWh"
    fuel = case.price("fuel")
    assert fuel.expr.value == pytest.approx(85.0) and fuel.unit == "EUR/MWh"
    assert ex.evaluate(case.price("cap").expr, {"fuel": 85.0, "buy": np.array([30.0, 50.0])}).tolist() == [60.0, 85.0]


def test_substation_transformer_and_busbar(folder):
    text = MINIMAL.replace(
        "substation PS { transformer 40 MVA 150/15 kV }",
        "substation PS { transformer 40000 kVA 150/15 kV short circuit voltage 13 % copper losses 0.5 %"
        " iron losses 25 kW no load current 0.1 %  busbar 1.02 pu }",
    )
    sub = folder.load(text).substation
    t = sub.transformer
    assert (t.rated_mva, t.hv_kv, t.lv_kv) == (40, 150, 15)
    assert (t.vk_percent, t.vkr_percent, t.pfe_kw, t.i0_percent) == pytest.approx((13, 0.5, 25, 0.1))
    assert sub.busbar_pu == 1.02


def test_limits_voltage_band_and_loading(folder):
    case = folder.load(MINIMAL + "limits { voltage 0.95 .. 1.05 pu  line loading 90 %  transformer loading 110 % }").cases[0]
    lim = case.limits
    assert (lim.v_min_pu, lim.v_max_pu, lim.line_loading_percent, lim.transformer_loading_percent) == (0.95, 1.05, 90, 110)
    both = folder.load(MINIMAL + "limits { loading 80 % }").cases[0].limits
    assert (both.line_loading_percent, both.transformer_loading_percent, both.v_min_pu) == (80, 80, 0.9)


def test_user_defined_conductor_type(folder):
    text = MINIMAL.replace('"NA2XS2Y 1x185 RM/25 12/20 kV"', '"Al 150 overhead"') + """
conductor "Al 150 overhead" { resistance 0.206 ohm/km  reactance 0.39 ohm/km  capacitance 0.01 uF/km  ampacity 320 A }
"""
    scenario = folder.load(text)
    (conductor,) = scenario.conductor_types
    assert (conductor.r_ohm_per_km, conductor.x_ohm_per_km, conductor.c_nf_per_km, conductor.max_i_ka) == pytest.approx(
        (0.206, 0.39, 10.0, 0.32))
    assert scenario.feeder("R1").conductor == "Al 150 overhead"


def test_synthetic_feeder_parameters(folder):
    text = MINIMAL.replace("feeder R1 rural {", "feeder R1 rural { laterals 3  power factor 0.9").replace(
        "mix residential 100 %", "mix residential 40 %  agricultural 60 %")
    f = folder.load(text + "profile agricultural generated demand { class agricultural }").feeder("R1")
    assert (f.ambit, f.source, f.length_km, f.sections, f.laterals, f.load_power_factor) == ("rural", "synthetic", 10, 10, 3, 0.9)
    assert f.demand_mwh_per_year == 5000
    assert [(s.customer_class, s.share) for s in f.mix] == [("residential", 0.4), ("agricultural", 0.6)]


def test_imported_feeders_from_pandapower_json_and_builder(folder):
    (folder.root / "data" / "net.json").write_text("{}")
    text = MINIMAL + """
feeder X1 urban from file "data/net.json"
feeder X2 from pandapower "create_cigre_network_mv" { demand 3 GWh/y  mix residential 100 % }
der PV9 pv 1 MW at X2 bus "Bus 11"
"""
    scenario = folder.load(text)
    x1, x2 = scenario.feeder("X1"), scenario.feeder("X2")
    assert x1.source == "file" and x1.path == (folder.root / "data" / "net.json").resolve() and x1.ambit == "urban"
    assert x2.source == "pandapower" and x2.builder == "create_cigre_network_mv" and x2.demand_mwh_per_year == 3000
    assert scenario.cases[0].der("PV9").position.bus == "Bus 11"


def test_der_kinds_positions_and_options(folder):
    text = MINIMAL + """
profile wind generated wind { site mountain }
profile chp generated chp { zone D }
profile industrial generated demand { class industrial }
der PV2 pv 300 kW at R1 60 %
der PV3 pv 5 MW at R1 from 40 % to end  apparent power 5.5 MVA  energy 7.5 GWh/y
der WT1 wind 1.25 MW at R1 4.5 km  power factor 0.95 absorbing
der CHP1 chp 2.7 MW at R1 start
der ST1 storage 1 MW 2 MWh at R1 middle capability rectangular pf 0.9
der FAB1 enduser industrial 1.5 MW at R1 end with profile industrial capability none
"""
    case = folder.load(text).cases[0]
    pv2, pv3, wt1, chp1, st1, fab1 = (case.der(n) for n in ("PV2", "PV3", "WT1", "CHP1", "ST1", "FAB1"))
    assert pv2.rated_mw == pytest.approx(0.3) and pv2.position.start.fraction == pytest.approx(0.6)
    assert pv2.capability.kind == "limited" and pv2.capability.pf == 0.9  # < 400 kW static: the paper's rule
    assert pv3.position.kind == "along" and (pv3.position.start.fraction, pv3.position.end.fraction) == (0.4, 1.0)
    assert pv3.apparent_mva == 5.5 and pv3.energy_mwh_per_year == 7500 and pv3.capability.kind == "semicircle"
    assert wt1.position.start.km == 4.5 and wt1.capability.describe() == "rectangular pf 0.95"
    assert (wt1.power_factor, wt1.q_direction) == (0.95, "absorbing")
    assert chp1.capability.kind == "synchronous" and chp1.position.start.fraction == 0.0
    assert st1.storage_mwh == 2 and st1.profile is None and st1.capability.pf == 0.9
    assert (fab1.kind, fab1.customer_class, fab1.profile, fab1.capability.kind) == ("enduser", "industrial", "industrial", "none")
    assert pv2.profile == "pv"  # default: the profile named like the kind


def test_names_that_start_with_a_keyword_are_names(folder):
    # keywords match whole words only: `Startville` is no `start`, `toaster` no `to`, `atlas` no `at`
    text = MINIMAL.replace("R1", "Startville") + """calendar {
  season yearround months jan feb mar apr may jun jul aug sep oct nov dec
  days yearround working 250 saturday 50 holiday 65
}
profile withering generated pv { latitude 39.2 deg  longitude 9.1 deg }
price tolls 2 EUR/MWh
price endesa 0.9 * buy + tolls
der toaster pv 1 MW at Startville from start to end with profile withering
der atlas pv 1 MW at Startville middle
der endpoint pv 500 kW at Startville start
bids { toaster down -100 % at endesa  atlas, endpoint up 10 % at 2 * sell }
case fromage "f" { }
case casebook extends fromage { }
"""
    scenario = folder.load(text)
    assert [f.name for f in scenario.feeders] == ["Startville"]
    assert list(scenario.calendar.seasons) == ["yearround"]
    assert [c.name for c in scenario.cases] == ["fromage", "casebook"] and scenario.cases[1].extends == "fromage"
    case = scenario.cases[0]
    assert [d.name for d in case.ders] == ["PV1", "toaster", "atlas", "endpoint"]
    toaster = case.der("toaster")
    assert (toaster.feeder, toaster.profile, toaster.position.kind) == ("Startville", "withering", "along")
    assert case.der("atlas").position.start.fraction == 0.5 and case.der("endpoint").position.start.fraction == 0.0
    assert [r.selector.label() for r in case.bid_rules] == ["toaster", "atlas", "endpoint"]
    assert ex.render(case.bid_for("toaster", "pv").down.price) == "endesa"


@pytest.mark.parametrize("capability, p_mw, expected_q_max", [
    ("semicircle", 0.6, 0.8),
    ("limited pf 0.9", 0.0, 0.43589),
    ("limited pf 0.9", 0.95, 0.31225),
    ("rectangular pf 0.95", 1.0, 0.31225),
    ("triangular pf 0.9", 0.5, 0.24216),
])
def test_capability_curves_give_the_papers_reactive_limits(folder, capability, p_mw, expected_q_max):
    case = folder.load(MINIMAL.replace("der PV1 pv 2 MW at R1 end", f"der PV1 pv 1 MW at R1 end capability {capability}")).cases[0]
    q_min, q_max = case.der("PV1").capability.q_limits_mvar(np.array([p_mw]), 1.0)
    assert q_max[0] == pytest.approx(expected_q_max, abs=1e-5)
    assert q_min[0] == pytest.approx(-expected_q_max, abs=1e-5)


def test_synchronous_capability_is_asymmetric(folder):
    text = MINIMAL + "profile chp generated chp { zone C }\nder CHP1 chp 1 MW at R1 start capability synchronous injecting pf 0.8 absorbing pf 0.9"
    cap = folder.load(text).cases[0].der("CHP1").capability
    q_min, q_max = cap.q_limits_mvar(np.array([0.0]), 1.0)
    assert (q_min[0], q_max[0]) == pytest.approx((-0.43589, 0.6), abs=1e-5)


def test_bid_rules_table_2_with_selectors_and_signs(folder):
    text = MINIMAL + """
profile chp generated chp { zone C }
price fuel 85 EUR/MWh
der CHP1 chp 1 MW at R1 start
bids {
  res        down -100 % at 0            up +10 % at 2 * sell
  chp        down 20 %   at 0.9 * buy    up 20 % at fuel
  PV1        up 0.5 MW at 3 * sell
  enduser industrial participation 25 %  down -5 % at 0.9 * buy  up +5 % at 1.1 * buy
}
"""
    case = folder.load(text).cases[0]
    pv = case.bid_for("PV1", "pv")
    assert pv.participation == 1.0
    assert (pv.down.quantity, pv.down.quantity_unit, ex.render(pv.down.price)) == (1.0, "fraction", "0 EUR/MWh")
    assert (pv.up.quantity, pv.up.quantity_unit, ex.render(pv.up.price)) == (0.5, "MW", "3 * sell")  # by name wins
    chp = case.bid_for("CHP1", "chp")
    assert chp.down.quantity == pytest.approx(0.2) and chp.down.direction == "down"
    assert ex.render(chp.up.price) == "fuel"
    industrial = case.bid_for("", "enduser", "industrial")
    assert industrial.participation == 0.25 and industrial.up.quantity == pytest.approx(0.05)
    assert case.bid_for("", "enduser", "residential").up is None


def test_offer_none_removes_a_direction(folder):
    text = MINIMAL + "bids { pv down -100 % at 0  up none }"
    bid = folder.load(text).cases[0].bid_for("PV1", "pv")
    assert bid.down is not None and bid.up is None


def test_an_upward_offer_can_be_made_by_derating_and_the_summary_says_so(folder):
    from flexopt.language.summary import format_summary

    text = MINIMAL + "bids { pv down -100 % at 0  up +10 % derated at 2 * sell }"
    scenario = folder.load(text)
    up = scenario.cases[0].bid_for("PV1", "pv").up
    assert up.derated and up.quantity == pytest.approx(0.1)
    assert scenario.cases[0].bid_for("PV1", "pv").down.derated is False
    assert "+10 % derated" in format_summary(scenario, "test.flex")


def test_an_upward_pv_offer_without_derating_is_warned_about_because_it_offers_nothing(folder):
    from flexopt.language.validate import load_scenario

    _, warnings = load_scenario(folder.write(MINIMAL + "bids { pv down -100 % at 0  up +10 % at 2 * sell }"))
    assert len(warnings) == 1
    assert (warnings[0].span.line, warnings[0].span.column) == (12, 29)
    assert "nothing to offer" in warnings[0].message and "derated" in warnings[0].hint


def test_derating_applies_to_generators_only(folder):
    line, column, message, hint = folder.error(
        MINIMAL + "bids { enduser industrial  up +5 % derated at 1.1 * buy }")
    assert (line, column) == (12, 28) and "not to end-users" in message
    line, column, message, _ = folder.error(
        MINIMAL + "der ST1 storage 1 MW 2 MWh at R1 end\nbids { storage up 0.5 MW derated at 1.1 * buy }")
    assert (line, column) == (13, 16) and "not to storage 'ST1'" in message


def test_a_downward_offer_cannot_be_derated(folder):
    line, column, message, _ = folder.error(MINIMAL + "bids { pv down -100 % derated at 0 }")
    assert line == 12 and column == 23


@pytest.mark.parametrize("statement, mode, per_mvarh_at_buy_50", [
    ("remuneration 0.05 * buy per Mvarh", "paid", 2.5),
    ("remuneration 5 % * buy per Mvarh", "paid", 2.5),
    ("remuneration 3 EUR/Mvarh", "paid", 3.0),
    ("remuneration 0.003 EUR/kvarh", "paid", 3.0),
    ("remuneration 0.0025 * buy per kvarh", "paid", 125.0),
    ("remuneration free", "free", None),
    ("unavailable", "unavailable", None),
])
def test_reactive_remuneration(folder, statement, mode, per_mvarh_at_buy_50):
    reactive = folder.load(MINIMAL + f"reactive {{ {statement} }}").cases[0].reactive
    assert reactive.mode == mode
    if per_mvarh_at_buy_50 is not None:
        assert ex.unit_of(reactive.price, lambda name: "EUR/MWh") == "EUR/Mvarh"
        assert ex.evaluate(reactive.price, {"buy": 50.0}) == pytest.approx(per_mvarh_at_buy_50)


def test_reactive_support_is_free_when_not_stated(folder):
    assert folder.load(MINIMAL).cases[0].reactive.mode == "free"


def test_study_settings(folder):
    study = folder.load(MINIMAL + "study { bid points 20 per direction  activation pro rata  remedies reactive, redispatch }").cases[0].study
    assert (study.bid_points_per_direction, study.activation, study.remedies) == (20, "pro rata", ("reactive", "redispatch"))
    default = folder.load(MINIMAL).cases[0].study
    assert (default.bid_points_per_direction, default.activation, default.remedies) == (10, "merit order", ("reactive",))


def test_no_case_means_one_case_named_base(folder):
    scenario = folder.load(MINIMAL)
    assert [c.name for c in scenario.cases] == ["base"]


def test_cases_extend_and_override_blocks_clause_by_clause(folder):
    text = MINIMAL + """
bids { pv down -100 % at 0  up +10 % at 2 * sell }
reactive { remuneration 0.05 * buy per Mvarh }
limits { voltage 0.9 .. 1.1 pu }
case A "only DG" { }
case A_neg "negative RES down bids" extends A {
  bids { pv down -100 % at -10 EUR/MWh }
  limits { line loading 90 % }
  price buy 60 EUR/MWh
}
case A_free extends A_neg {
  reactive { remuneration free }
  der PV1 pv 3 MW at R1 middle
  der PV2 pv 1 MW at R1 start
  study { bid points 4 }
}
"""
    scenario = folder.load(text)
    a, neg, free = (scenario.case(n) for n in ("A", "A_neg", "A_free"))
    assert (neg.extends, free.extends) == ("A", "A_neg")
    assert ex.render(neg.bid_for("PV1", "pv").down.price) == "-10 EUR/MWh"
    assert ex.render(neg.bid_for("PV1", "pv").up.price) == "2 * sell"  # inherited clause
    assert ex.render(a.bid_for("PV1", "pv").down.price) == "0 EUR/MWh"  # the parent is untouched
    assert (neg.limits.line_loading_percent, neg.limits.v_max_pu) == (90, 1.1)
    assert neg.price("buy").expr.value == 60 and a.price("buy").expr.value == 50
    assert free.reactive.mode == "free" and neg.reactive.mode == "paid"
    assert free.der("PV1").rated_mw == 3 and len(free.ders) == 2 and len(a.ders) == 1
    assert free.study.bid_points_per_direction == 4 and free.limits.line_loading_percent == 90


def test_comments_and_free_layout(folder):
    text = "# leading comment\n" + MINIMAL.replace("\n", "   # trailing comment\n").replace("  ", "\t")
    assert folder.load(text).name == "mini"


def test_units_are_converted_once_into_model_units(folder):
    text = MINIMAL.replace("length 10 km", "length 10000 m").replace("demand 5 GWh/y", "demand 5000000 kWh/y").replace(
        "der PV1 pv 2 MW", "der PV1 pv 2000 kW")
    scenario = folder.load(text)
    assert scenario.feeder("R1").length_km == 10
    assert scenario.feeder("R1").demand_mwh_per_year == 5000
    assert scenario.cases[0].der("PV1").rated_mw == 2


def test_a_bare_zero_price_may_carry_a_sign(folder):
    case = folder.load(MINIMAL + "price z -0 EUR/MWh\nbids { pv down -100 % at -0 }\nreactive { remuneration -0 }").cases[0]
    assert ex.evaluate(case.price("z").expr, {}) == 0
    assert ex.render(case.bid_for("PV1", "pv").down.price) == "0 EUR/MWh"
    assert case.reactive.mode == "free"


def test_summary_omits_an_unknown_year_and_unstated_participation(folder):
    from flexopt.language.summary import bid_rules_table, format_summary

    scenario = folder.load(MINIMAL + """calendar {
  season all months jan feb mar apr may jun jul aug sep oct nov dec
  days all working 250 saturday 50 holiday 65
}
bids { pv up 10 % at buy  PV1 participation 50 % }""")
    summary = format_summary(scenario, "test.flex")
    assert "calendar: 1 season x 3 day types x 24 steps = 72 intervals, 365 days\n" in summary
    assert "None" not in summary
    table = bid_rules_table(scenario.cases[0])
    assert table["participation"].tolist() == ["-", "50 %"]


def test_a_long_chain_of_cases_resolves_each_case_from_its_parent(folder):
    """Cases extending each other inherit every block, whatever the chain's length; a case in the middle
    that declares a price of its own changes what its descendants' inherited rules evaluate."""
    cases = ['case C0 "first" { bids { pv up +10 % derated at 2 * sell } }']
    for i in range(1, 300):
        body = f"reactive {{ remuneration {i} EUR/Mvarh }}"
        if i == 150:
            body += "  price sell 99 EUR/MWh"
        cases.append(f'case C{i} "next" extends C{i - 1} {{ {body} }}')
    scenario = folder.load(MINIMAL + "\n".join(cases) + "\n")
    assert len(scenario.cases) == 300
    for i in (1, 149, 150, 299):
        case = scenario.case(f"C{i}")
        assert ex.render(case.reactive.price) == f"{i} EUR/Mvarh"
        assert case.bid_for("PV1", "pv").up.derated
        sell = case.price("sell")
        assert (sell.expr is not None and ex.render(sell.expr) == "99 EUR/MWh") == (i >= 150)


def test_the_line_types_kept_in_the_cache_folder_are_pandapowers_own(tmp_path, monkeypatch):
    from pandapower.std_types import basic_line_std_types

    from flexopt.language.validate.network import pandapower_line_types

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    expected = tuple(basic_line_std_types().keys())
    pandapower_line_types.cache_clear()
    try:
        assert pandapower_line_types() == expected  # written to the cache ...
        (cache,) = (tmp_path / "flexopt").glob("pandapower-*-line-types.json")
        pandapower_line_types.cache_clear()
        assert pandapower_line_types() == expected  # ... and read from it
        cache.write_text("{not json")  # a damaged cache is read again from pandapower
        pandapower_line_types.cache_clear()
        assert pandapower_line_types() == expected
        monkeypatch.setenv("XDG_CACHE_HOME", "/proc/no-such-folder")  # no cache folder: no harm
        pandapower_line_types.cache_clear()
        assert pandapower_line_types() == expected
    finally:
        pandapower_line_types.cache_clear()
