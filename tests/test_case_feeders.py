"""A case may change a feeder: `feeder NAME { items }` inside a case replaces only the items it states.

The feeders stay declared once, at the top level; a case (and every case extending it) sees them
with its changes applied, and every stage that builds a net or a demand profile for the case uses
the case's feeders.
"""

from __future__ import annotations

import pytest

from flexopt.compile.networks import LATERAL_LENGTH_SHARE, build_networks
from flexopt.compile.profiles import compile_profiles
from flexopt.language.summary import format_summary
from tests.conftest import CASE_STUDY, MINIMAL

#: The example of docs/language.md: a calibration of R1 as overhead line, and of U5's demand.
R1_OVERHEAD = """
case R1_overhead "R1 as 16 km of overhead line" extends A {
  feeder R1 { length 16 km  conductor "34-AL1/6-ST1A 20.0"  demand 35 GWh/y }
  feeder U5 { demand 14.4 GWh/y }
}
"""

#: MINIMAL with an imported feeder, which has no lines of its own to change.
WITH_IMPORTED = MINIMAL + 'feeder X2 from pandapower "create_cigre_network_mv" { demand 3 GWh/y  mix residential 100 % }\n'


# ---- what a change does ------------------------------------------------------------------------


def test_a_case_changes_only_the_feeder_items_it_states(folder):
    scenario = folder.load(MINIMAL + "case A { }\ncase short { feeder R1 { length 8 km  demand 7 GWh/y } }\n")
    declared, changed = scenario.feeder("R1"), scenario.case("short").feeder("R1")
    assert (changed.length_km, changed.demand_mwh_per_year) == (8, 7000)
    # everything not stated is the declaration's
    for item in ("ambit", "source", "sections", "laterals", "conductor", "mix", "load_power_factor", "span"):
        assert getattr(changed, item) == getattr(declared, item), item
    # the scenario keeps the feeders as declared, and a case without changes sees them so
    assert (declared.length_km, declared.demand_mwh_per_year) == (10, 5000)
    assert scenario.case("A").feeders == scenario.feeders


def test_a_case_may_change_every_item_of_a_synthetic_feeder(folder):
    text = MINIMAL + "profile commercial generated demand { class commercial }\n" + """case all {
  feeder R1 {
    length 12000 m  sections 6  laterals 2  conductor "NA2XS2Y 1x240 RM/25 12/20 kV"
    demand 4000 MWh/y  mix residential 40 %  commercial 60 %  power factor 0.9
  }
}
"""
    r1 = folder.load(text).case("all").feeder("R1")
    assert (r1.length_km, r1.sections, r1.laterals, r1.conductor) == (12, 6, 2, "NA2XS2Y 1x240 RM/25 12/20 kV")
    assert r1.demand_mwh_per_year == 4000 and r1.load_power_factor == 0.9
    assert [(s.customer_class, s.share) for s in r1.mix] == [("residential", 0.4), ("commercial", 0.6)]


def test_the_cases_feeders_keep_the_scenarios_order(folder):
    scenario = folder.load(WITH_IMPORTED + "case A { feeder X2 { demand 4 GWh/y }  feeder R1 { length 9 km } }\n")
    assert [f.name for f in scenario.case("A").feeders] == [f.name for f in scenario.feeders] == ["R1", "X2"]


def test_a_case_inherits_the_feeder_changes_of_the_case_it_extends_and_its_own_win(folder):
    scenario = folder.load(MINIMAL + """
case A { feeder R1 { length 16 km  demand 7 GWh/y } }
case B extends A { feeder R1 { demand 9 GWh/y } }
case C extends B { feeder R1 { length 20 km } }
""")
    a, b, c = (scenario.case(name).feeder("R1") for name in "ABC")
    assert (a.length_km, a.demand_mwh_per_year) == (16, 7000)
    assert (b.length_km, b.demand_mwh_per_year) == (16, 9000)  # length from A, its own demand
    assert (c.length_km, c.demand_mwh_per_year) == (20, 9000)  # its own length, demand from B
    assert scenario.feeder("R1").length_km == 10


def test_an_imported_feeder_may_have_its_demand_mix_and_power_factor_changed(folder):
    text = WITH_IMPORTED + "profile commercial generated demand { class commercial }\n" \
        "case A { feeder X2 { demand 6 GWh/y  mix commercial 100 %  power factor 0.92 } }\n"
    x2 = folder.load(text).case("A").feeder("X2")
    assert (x2.source, x2.builder) == ("pandapower", "create_cigre_network_mv")
    assert x2.demand_mwh_per_year == 6000 and x2.load_power_factor == 0.92
    assert [s.customer_class for s in x2.mix] == ["commercial"]


def test_the_scenario_text_hash_is_of_the_text_alone(folder):
    text = MINIMAL + "case A { feeder R1 { length 8 km } }\n"
    assert folder.load(text).text_sha256 == folder.load(text, "copy.flex").text_sha256
    assert folder.load(text).text_sha256 != folder.load(text.replace("8 km", "9 km")).text_sha256


# ---- what is refused, and where ------------------------------------------------------------------


def test_a_change_of_an_unknown_feeder_is_refused_with_a_suggestion(folder):
    assert folder.error(MINIMAL + "case A { feeder R2 { length 8 km } }") == (
        12, 17, "unknown feeder 'R2'", "did you mean 'R1'?")


def test_a_case_cannot_change_the_ambit(folder):
    line, column, message, hint = folder.error(MINIMAL + "case A { feeder R1 urban { length 8 km } }")
    assert (line, column, message) == (12, 20, "a case cannot change the ambit of feeder 'R1'")
    assert "declared on line 6" in hint


@pytest.mark.parametrize("source", ['from file "data/R1.json" { length 8 km }', 'from pandapower "mv_oberrhein"'])
def test_a_case_cannot_import_a_feeder(folder, source):
    line, column, message, hint = folder.error(MINIMAL + f"case A {{ feeder R1 {source} }}")
    assert (line, column) == (12, 20)
    assert message.startswith("a case cannot import feeder 'R1' ('from ")
    assert "declared (line 6)" in hint


@pytest.mark.parametrize("item", ["length 3 km", "sections 4", "laterals 1", 'conductor "NA2XS2Y 1x240 RM/25 12/20 kV"'])
def test_the_lines_of_an_imported_feeder_cannot_be_changed_as_at_the_top_level(folder, item):
    key = item.split()[0]
    assert folder.error(WITH_IMPORTED + f"case A {{ feeder X2 {{ {item} }} }}") == (
        13, 22, f"'{key}' applies only to synthetic feeders", "an imported feeder takes its lines from its source")


def test_an_item_given_twice_is_refused(folder):
    assert folder.error(MINIMAL + "case A { feeder R1 { length 8 km  length 9 km } }") == (
        12, 35, "'length' is given twice in feeder 'R1'", "the first one is on line 12; keep one")


def test_the_same_feeder_changed_twice_in_one_case_is_refused(folder):
    assert folder.error(MINIMAL + "case A {\n  feeder R1 { length 8 km }\n  feeder R1 { demand 7 GWh/y }\n}") == (
        14, 3, "feeder 'R1' is changed twice in case 'A'", "merge it into the first one on line 13")


@pytest.mark.parametrize("item, wrong", [
    ("length 10 km", "length 400 km"),
    ("length 10 km", "length 10 MW"),
    ("sections 10", "sections 2.5"),
    ("demand 5 GWh/y", "demand 5 GW"),
    ('conductor "NA2XS2Y 1x185 RM/25 12/20 kV"', 'conductor "NA2XS2Y 1x185 RM/25 12/20 kv"'),
    ("mix residential 100 %", "mix residential 90 %"),
])
def test_a_change_is_checked_like_the_declaration_with_the_same_message(folder, item, wrong):
    top_text = MINIMAL.replace(item, wrong)
    at_top = folder.error(top_text)
    in_case = folder.error(MINIMAL + f"case A {{ feeder R1 {{ {wrong} }} }}")
    assert in_case[2:] == at_top[2:]  # message and hint
    within_item = at_top[1] - (top_text.splitlines()[at_top[0] - 1].index(wrong) + 1)
    assert (in_case[0], in_case[1]) == (12, 22 + within_item)  # at the same place of the case's item


def test_laterals_against_sections_are_checked_on_the_merged_feeder_at_the_cases_item(folder):
    text = MINIMAL.replace("sections 10", "sections 10  laterals 3") + "case A { feeder R1 { sections 2 } }"
    assert folder.error(text)[:3] == (12, 22, "3 laterals need more than 2 sections")


def test_der_positions_are_checked_against_the_cases_length(folder):
    text = MINIMAL + "der PV2 pv 1 MW at R1 9 km\ncase A { }\ncase short {\n  feeder R1 { length 8 km }\n}\n"
    line, column, message, hint = folder.error(text)
    assert (line, column) == (12, 23)
    assert message == "the position 9 km lies beyond the end of R1, which is 8 km long in case 'short'"
    assert hint.startswith("line 15 changes its length")


def test_a_der_may_sit_beyond_the_declared_end_in_a_case_that_lengthens_the_feeder(folder):
    case = folder.load(MINIMAL + "case long { feeder R1 { length 16 km }  der PV2 pv 1 MW at R1 14 km }").case("long")
    assert case.der("PV2").position.start.km == 14


# ---- the stages that use the case's feeders --------------------------------------------------------


@pytest.fixture(scope="module")
def overhead(tmp_path_factory):
    from tests.conftest import ScenarioFolder

    return ScenarioFolder(tmp_path_factory.mktemp("overhead")).load(CASE_STUDY.read_text(encoding="utf-8") + R1_OVERHEAD)


def test_the_net_of_a_changed_feeder_has_the_cases_length_and_conductor(overhead):
    nets = {fn.feeder: fn.net for fn in build_networks(overhead, overhead.case("R1_overhead"))}
    r1 = nets["R1"]
    main = r1.line.length_km[r1.line.name.str.contains("-M")].sum()
    assert main == pytest.approx(16)
    assert r1.line.length_km.sum() == pytest.approx(16 * (1 + 4 * LATERAL_LENGTH_SHARE["rural"]))  # 4 laterals
    assert set(r1.line.std_type) == {"34-AL1/6-ST1A 20.0"}
    declared = {fn.feeder: fn.net for fn in build_networks(overhead, overhead.case("A"))}["R1"]
    assert declared.line.length_km[declared.line.name.str.contains("-M")].sum() == pytest.approx(19)


def test_the_demand_profiles_of_a_case_follow_its_changed_demand(overhead):
    profiles = compile_profiles(overhead, overhead.case("R1_overhead"))

    def energy(feeder: str) -> float:
        return sum(profiles.annual_energy_mwh(series) for (name, _), series in profiles.class_demand_mw.items()
                   if name == feeder)

    assert energy("R1") == pytest.approx(35_000)
    assert energy("U5") == pytest.approx(14_400)
    assert energy("R2") == pytest.approx(22_000)  # unchanged
    declared = compile_profiles(overhead, overhead.case("A"))
    assert profiles.annual_energy_mwh(profiles.class_demand_mw[("R1", "residential")]) == pytest.approx(
        declared.annual_energy_mwh(declared.class_demand_mw[("R1", "residential")]) * 35 / 18)


def test_placement_draws_measure_stretches_on_the_cases_length(folder):
    from flexopt.sweep import placement_draw

    scenario = folder.load(MINIMAL + "case long { feeder R1 { length 20 km }  der PV2 pv 1 MW at R1 from 2 km to 6 km }")
    moved = placement_draw(scenario, scenario.case("long"), 0).der("PV2").position
    assert moved.end.fraction - moved.start.fraction == pytest.approx(4 / 20)


def test_check_lists_the_feeders_a_case_changes(overhead):
    summary = format_summary(overhead, "sardinia_ps.flex")
    block = summary.split('case R1_overhead "R1 as 16 km of overhead line" (extends A)\n')[1]
    assert block.splitlines()[1] == ('  feeders overridden: R1 (length 16 km, conductor "34-AL1/6-ST1A 20.0", '
                                     'demand 35 GWh/y), U5 (demand 14.4 GWh/y)')
    case_a = summary.split('case A "only DG"\n')[1].split("\ncase ")[0]
    assert "feeders overridden" not in case_a
