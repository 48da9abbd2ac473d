"""Every class of user error is reported at its exact line:column, with a hint, all at once."""

from __future__ import annotations

import pytest

from flexopt.errors import FlexoptError
from flexopt.language.validate import load_scenario, load_scenario_text
from tests.conftest import MINIMAL

# MINIMAL has 11 lines; statements appended below start on line 12.
NEXT = 12


def test_syntax_error_points_at_the_token_and_suggests_the_keyword(folder):
    line, column, message, hint = folder.error(MINIMAL.replace("  length 10 km", "  lenght 10 km"))
    assert (line, column) == (7, 3)
    assert message == "unexpected 'lenght'"
    assert "did you mean 'length'?" in hint


def test_unknown_unit_after_a_number(folder):
    line, column, message, hint = folder.error(MINIMAL.replace("length 10 km", "length 10 kms"))
    assert (line, column, message) == (7, 13, "'kms' is not a unit flexopt knows")
    assert "did you mean 'km'?" in hint


def test_missing_closing_brace_reports_the_end_of_file(folder):
    line, column, message, hint = folder.error(MINIMAL + "limits { voltage 0.9 .. 1.1 pu\n")
    assert (line, message) == (NEXT, "the file ends too early")
    assert "'}'" in hint


def test_single_quotes_are_refused_with_a_hint(folder):
    line, column, message, hint = folder.error(MINIMAL.replace('scenario "mini"', "scenario 'mini'"))
    assert (line, column) == (1, 10)
    assert "double quotes" in hint


def test_unknown_reference_with_did_you_mean(folder):
    line, column, message, hint = folder.error(MINIMAL.replace("at R1 end", "at R11 end"))
    assert (line, column, message) == (11, 20, "unknown feeder 'R11'")
    assert hint == "did you mean 'R1'?"


def test_unknown_price_in_a_bid(folder):
    line, column, message, hint = folder.error(MINIMAL + "bids { pv down -100 % at 0.9 * bye }")
    assert (line, column, message) == (NEXT, 32, "unknown price 'bye' in downward price")
    assert hint == "did you mean 'buy'?"


def test_unknown_profile_generator_parameter(folder):
    line, column, message, hint = folder.error(MINIMAL.replace("latitude 39.2 deg", "latitud 39.2 deg"))
    assert (line, column, message) == (2, 27, "the pv generator has no parameter 'latitud'")
    assert hint == "did you mean 'latitude'?"


def test_duplicate_names(folder):
    line, column, message, hint = folder.error(MINIMAL + "der PV1 pv 1 MW at R1 start")
    assert (line, column, message) == (NEXT, 5, "DER 'PV1' is declared twice")
    assert "line 11" in hint


def test_duplicate_setting_in_a_block(folder):
    line, column, message, _ = folder.error(MINIMAL.replace("sections 10", "sections 10 sections 12"))
    assert (line, column, message) == (7, 29, "'sections' is given twice in feeder 'R1'")


def test_negative_power_is_out_of_range(folder):
    line, column, message, _ = folder.error(MINIMAL.replace("der PV1 pv 2 MW", "der PV1 pv -2 MW"))
    assert (line, column) == (11, 12)
    assert message == "the rated power of PV1 must be more than 0 MW, got -2 MW"


def test_share_above_100_percent(folder):
    line, column, message, _ = folder.error(MINIMAL.replace("mix residential 100 %", "mix residential 120 %"))
    assert (line, column, message) == (9, 35, "the residential share must be at most 100 %, got 120 %")


def test_mix_that_does_not_add_up(folder):
    text = MINIMAL.replace("mix residential 100 %", "mix residential 60 % commercial 30 %")
    line, column, message, _ = folder.error(text + "profile commercial generated demand { class commercial }")
    assert (line, column, message) == (9, 19, "the customer mix adds up to 90 %, not 100 %")


def test_a_customer_class_needs_its_demand_profile(folder):
    line, column, message, hint = folder.error(MINIMAL.replace("mix residential 100 %", "mix residential 60 % commercial 40 %"))
    assert (line, column, message) == (9, 40, "no profile for the commercial customers")
    assert hint == "declare one named like the class: profile commercial generated demand { class commercial }"


def test_inverted_voltage_band(folder):
    line, column, message, hint = folder.error(MINIMAL + "limits { voltage 1.1 .. 0.9 pu }")
    assert (line, column) == (NEXT, 10)
    assert message == "the voltage band is inverted: 1.1 pu is not below 0.9 pu"
    assert "lower limit first" in hint


def test_wrong_unit_kind(folder):
    line, column, message, hint = folder.error(MINIMAL.replace("demand 5 GWh/y", "demand 5 km"))
    assert (line, column, message) == (9, 10, "the annual demand is an energy per year, but 'km' is a length")
    assert "GWh/y" in hint


def test_missing_unit(folder):
    line, column, message, _ = folder.error(MINIMAL.replace("length 10 km", "length 10"))
    assert (line, column, message) == (7, 10, "the feeder length needs a unit")


def test_price_units_are_checked(folder):
    problems = folder.problems(MINIMAL + """bids { pv up 10 % at 2 * buy + 3  down 5 % at 2 MW }
reactive { remuneration 0.05 * buy }
price weird buy * sell
""")
    assert (NEXT, 22, "'+' mixes a plain number and EUR/MWh") in problems
    assert (NEXT, 47, "'MW' is a power, not a price") in problems
    assert (NEXT + 1, 25, "the reactive remuneration must be in EUR/Mvarh, but it is in EUR/MWh") in problems
    assert (NEXT + 2, 13, "cannot multiply EUR/MWh by EUR/MWh") in problems


def test_a_bid_price_without_unit_is_refused_except_zero(folder):
    line, column, message, hint = folder.error(MINIMAL + "bids { pv up 10 % at 0.9 }")
    assert (line, column, message) == (NEXT, 22, "the upward price has no unit")
    assert "0.9 * buy" in hint


def test_downward_quantity_cannot_be_positive_with_explicit_sign(folder):
    line, column, message, _ = folder.error(MINIMAL + "bids { pv down +10 % at 0 }")
    assert (line, column, message) == (NEXT, 16, "a downward quantity cannot be positive")


def test_cycle_in_extends(folder):
    problems = folder.problems(MINIMAL + "case A extends B { }\ncase B extends A { }\n")
    assert problems == [(NEXT, 16, "cases extend each other in a cycle: A -> B -> A"),
                        (NEXT + 1, 16, "cases extend each other in a cycle: B -> A -> B")]


def test_self_extension_is_a_cycle(folder):
    line, column, message, _ = folder.error(MINIMAL + "case A extends A { }")
    assert (line, column, message) == (NEXT, 16, "cases extend each other in a cycle: A -> A")


def test_unknown_parent_case(folder):
    line, column, message, hint = folder.error(MINIMAL + "case A { }\ncase B extends AA { }")
    assert (line, column, message) == (NEXT + 1, 16, "case 'B' extends unknown case 'AA'")
    assert hint == "did you mean 'A'?"


def test_cycle_among_prices(folder):
    problems = folder.problems(MINIMAL + "price p1 2 * p2\nprice p2 0.5 * p1\n")
    assert (NEXT, 7, "prices refer to each other in a cycle: p1 -> p2 -> p1") in problems


def test_missing_data_file(folder):
    line, column, message, _ = folder.error(MINIMAL + 'price spot csv "data/spot.csv" column "x" EUR/MWh')
    assert (line, column) == (NEXT, 16)
    assert message.startswith("price file 'data/spot.csv' does not exist")


def test_data_path_leaving_the_scenario_folder(folder):
    (folder.root.parent / "outside.csv").write_text("x\n1\n")
    line, column, message, hint = folder.error(MINIMAL + 'price spot csv "../outside.csv" column "x" EUR/MWh')
    assert (line, column) == (NEXT, 16)
    assert message == "price path '../outside.csv' leaves the scenario's folder"
    assert "subfolder" in hint


def test_absolute_data_path_is_refused(folder):
    line, column, message, _ = folder.error(MINIMAL + 'price spot csv "/etc/passwd" column "x" EUR/MWh')
    assert (line, column, message) == (NEXT, 16, "price path must be relative to the scenario's folder")


def test_missing_csv_column(folder):
    line, column, message, hint = folder.error(MINIMAL + 'price spot csv "data/prices.csv" column "sel" EUR/MWh')
    assert (line, column, message) == (NEXT, 41, "column 'sel' is not in prices.csv")
    assert hint == "did you mean 'sell'?"


def test_unknown_conductor_type(folder):
    line, column, message, hint = folder.error(MINIMAL.replace("1x185", "1x18"))
    assert (line, column, message) == (8, 13, "unknown conductor type 'NA2XS2Y 1x18 RM/25 12/20 kV'")
    assert hint.startswith("did you mean 'NA2XS2Y 1x")


def test_unknown_pandapower_builder(folder):
    line, column, message, hint = folder.error(MINIMAL + 'feeder X from pandapower "create_cigre_mv"')
    assert (line, column, message) == (NEXT, 26, "pandapower.networks has no network builder 'create_cigre_mv'")
    assert "create_cigre_network" in hint


def test_feeder_builder_must_be_a_builder_not_any_attribute(folder):
    line, column, message, _ = folder.error(MINIMAL + 'feeder X from pandapower "create_bus"')
    assert message == "pandapower.networks has no network builder 'create_bus'"


def test_missing_blocks_are_reported(folder):
    problems = folder.problems('scenario "x"\n')
    messages = [m for _, _, m in problems]
    assert "the scenario has no substation" in messages
    assert "the scenario has no feeder" in messages


def test_all_problems_are_reported_together_in_file_order(folder):
    text = MINIMAL.replace("at R1 end", "at R7 end") + "limits { voltage 1.1 .. 0.9 pu }\nbids { pv up 10 % at 2 * sel }\n"
    problems = folder.problems(text)
    assert [(line, column) for line, column, _ in problems] == [(11, 20), (NEXT, 10), (NEXT + 1, 26)]


def test_selector_that_names_nothing(folder):
    line, column, message, hint = folder.error(MINIMAL + "bids { pvv down -100 % at 0 }")
    assert (line, column, message) == (NEXT, 8, "'pvv' is neither a DER nor a kind of DER")
    assert hint == "did you mean 'pv'?"


def test_der_named_like_a_kind_is_refused(folder):
    line, column, message, _ = folder.error(MINIMAL + "der wind wind 1 MW at R1 end")
    assert (line, column) == (NEXT, 5)
    assert "names a kind of DER" in message


def test_storage_needs_energy_capacity(folder):
    line, column, message, _ = folder.error(MINIMAL + "der ST storage 1 MW at R1 end")
    assert (line, column, message) == (NEXT, 16, "storage ST needs its energy capacity")


def test_der_without_profile(folder):
    line, column, message, hint = folder.error(MINIMAL + "der W1 wind 1 MW at R1 end")
    assert (line, column, message) == (NEXT, 1, "DER W1 has no profile")
    assert hint == "add 'with profile NAME' to it, or declare a profile named 'wind'"


def test_calendar_errors(folder):
    problems = folder.problems(MINIMAL + """calendar {
  season winter months dec jan fbr
  season summer months jun jan
  hours 7
}""")
    assert (NEXT + 1, 32, "'fbr' is not a month") in problems
    assert (NEXT + 2, 28, "January is already in season 'winter'") in problems
    assert (NEXT + 3, 9, "hours per day must divide 24 evenly, got 7") in problems


def test_day_counts_must_fill_the_year(folder):
    problems = folder.problems(MINIMAL + """calendar {
  season all months jan feb mar apr may jun jul aug sep oct nov dec
  days all working 250 saturday 50 holiday 50
}""")
    assert problems == [(NEXT, 1, "the day counts add up to 350 days, not 365")]


def test_text_without_file_uses_the_given_name():
    with pytest.raises(FlexoptError) as caught:
        load_scenario_text("scenario", "inline.flex")
    assert str(caught.value).startswith("inline.flex:1:")


def test_missing_scenario_file_has_a_clear_message(tmp_path):
    with pytest.raises(FlexoptError) as caught:
        load_scenario(tmp_path / "nothere.flex")
    assert "no such file" in str(caught.value)


def test_transformer_voltages_with_two_units_show_the_expected_form(folder):
    line, column, message, hint = folder.error(MINIMAL.replace("150/15 kV", "150 kV/15 kV"))
    assert (line, column, message) == (5, 40, "write the voltage pair with one unit at the end: 150/15 kV")
    assert hint == "the HV number takes the unit of the MV one"


def test_energy_per_year_written_out_suggests_the_short_unit(folder):
    line, column, message, hint = folder.error(MINIMAL.replace("demand 5 GWh/y", "demand 18 MWh/year"))
    assert (line, column, message) == (9, 13, "'MWh/year' is not a unit flexopt knows")
    assert hint.startswith("did you mean 'MWh/y'?") and "GWh/y" in hint


def test_a_unit_in_the_wrong_case_suggests_the_right_case(folder):
    line, column, message, hint = folder.error(MINIMAL.replace("pv 2 MW", "pv 10 mw"))
    assert (line, column, message) == (11, 15, "'mw' is not a unit flexopt knows")
    assert hint.startswith("did you mean 'MW'?")


def test_a_word_after_a_name_ending_in_a_digit_is_no_unit(folder):
    line, column, message, hint = folder.error(MINIMAL.replace("feeder R1 rural {", "feeder R1 rurl {"))
    assert (line, column, message) == (6, 11, "unexpected 'rurl'")
    assert hint.endswith("did you mean 'rural'?") and "unit" not in hint


def test_a_keyword_with_letters_glued_on_is_reported_as_one_word(folder):
    # the keyword `end` must not match the start of `endd` (which used to give "unexpected 'd'")
    line, column, message, hint = folder.error(MINIMAL.replace("at R1 end", "at R1 endd"))
    assert (line, column, message) == (11, 23, "unexpected 'endd'")
    assert hint.endswith("did you mean 'end'?")


@pytest.mark.parametrize("old, new, line, column, word, suggestion", [
    ("at R1 end", "at R1 starts", 11, 23, "starts", "start"),
    ("at R1 end", "at R1 middles", 11, 23, "middles", "middle"),
    ("at R1 end", "at R1 fromage start to end", 11, 23, "fromage", "from"),
    ("at R1 end", "at R1 from start toe end", 11, 34, "toe", "to"),
    ("at R1 end", "at R1 end withx profile pv", 11, 27, "withx", "with"),
    ("at R1 end", "atlas R1 end", 11, 17, "atlas", None),
    ("profile pv generated pv", "profile pv generatedx pv", 2, 12, "generatedx", "generated"),
])
def test_a_word_that_starts_with_a_keyword_is_never_split(folder, old, new, line, column, word, suggestion):
    found_line, found_column, message, hint = folder.error(MINIMAL.replace(old, new))
    assert (found_line, found_column, message) == (line, column, f"unexpected '{word}'")
    if suggestion:
        assert hint.endswith(f"did you mean '{suggestion}'?")


def test_a_stray_character_lists_the_keywords_the_parser_accepts_there(folder):
    line, column, message, hint = folder.error(MINIMAL.replace("at R1 end", "at R1 @"))
    assert (line, column, message) == (11, 23, "unexpected character '@'")
    assert hint == "expected '+', '-', 'bus', 'end', 'from', 'middle', 'start' or a number"


@pytest.mark.parametrize("statement, column", [("price fuel 85 EUR/MW", 15), ("bids { pv up 10 % at 40 EUR/MW }", 25)])
def test_a_price_per_power_is_reported_as_one_unit(folder, statement, column):
    line, column_found, message, hint = folder.error(MINIMAL + statement)
    assert (line, column_found, message) == (NEXT, column, "'EUR/MW' is not a unit flexopt knows")
    assert hint.startswith("did you mean 'EUR/MWh'?") and "EUR/Mvarh" in hint


def test_a_decimal_comma_suggests_a_decimal_point(folder):
    line, column, message, hint = folder.error(MINIMAL.replace("pv 2 MW", "pv 1,5 MW"))
    assert (line, column, message) == (11, 13, "unexpected ','")
    assert hint == "use a decimal point: 1.5"


def test_a_position_without_unit(folder):
    line, column, message, hint = folder.error(MINIMAL.replace("at R1 end", "at R1 5"))
    assert (line, column, message) == (11, 23, "the position needs a unit")
    assert hint.endswith("at R1 5 % or at R1 5 km")


def test_participation_out_of_range_is_the_only_problem_of_its_rule(folder):
    line, column, message, _ = folder.error(MINIMAL + "bids { pv participation 120 % }")
    assert (line, column, message) == (NEXT, 25, "the participation must be at most 100 %, got 120 %")


def test_bid_quantity_in_mw_out_of_range_shows_the_unit(folder):
    line, column, message, _ = folder.error(MINIMAL + "bids { pv up 2000 MW at buy }")
    assert (line, column, message) == (NEXT, 14, "the upward quantity must be at most 1000 MW, got 2000 MW")


def test_per_after_a_reactive_price(folder):
    line, column, message, hint = folder.error(MINIMAL + "reactive { remuneration 2 EUR/Mvarh per kvarh }")
    assert (line, column) == (NEXT, 41)
    assert message == "'per kvarh' follows a price that is already per reactive energy (EUR/Mvarh)"
    assert hint.startswith("drop 'per kvarh': remuneration 2 EUR/Mvarh;")


def test_per_after_a_ratio_of_prices(folder):
    line, column, message, _ = folder.error(MINIMAL + "reactive { remuneration sell / buy per Mvarh }")
    assert (line, column) == (NEXT, 25)
    assert message == "'per Mvarh' needs an energy price (EUR/MWh) or a constant before it, not a ratio of prices"


def test_division_message_names_a_plain_number(folder):
    line, column, message, _ = folder.error(MINIMAL + "price x 1 / buy")
    assert (line, column, message) == (NEXT, 9, "cannot divide a plain number by EUR/MWh")


@pytest.mark.parametrize("statement, column", [("price x buy / (2 - 2)", 16), ("bids { pv up 10 % at buy / 0 }", 28)])
def test_division_by_a_constant_zero(folder, statement, column):
    line, column_found, message, hint = folder.error(MINIMAL + statement)
    assert (line, column_found, message) == (NEXT, column, "division by zero")
    assert hint == "the divisor is always 0"


@pytest.mark.parametrize("name", ["min", "max"])
def test_function_names_cannot_name_a_price(folder, name):
    line, column, message, hint = folder.error(MINIMAL + f"price {name} 5 EUR/MWh")
    assert (line, column) == (NEXT, 7)
    assert message == f"'{name}' cannot name a price: {name}(...) is a function in price expressions"
    assert hint == f"choose another name, e.g. {name}_price"


@pytest.mark.parametrize("name", [".", ".."])
def test_scenario_name_must_be_a_usable_folder_name(folder, name):
    line, column, message, _ = folder.error(MINIMAL.replace('scenario "mini"', f'scenario "{name}"'))
    assert (line, column, message) == (1, 10, f"scenario name '{name}' is not a usable folder name")


def test_a_der_with_an_error_is_not_reported_again_where_it_is_used(folder):
    line, column, message, _ = folder.error(MINIMAL + "der W1 wnd 1 MW at R1 end\nbids { W1 up 10 % at buy }")
    assert (line, column, message) == (NEXT, 8, "unknown kind of DER 'wnd'")


def test_a_der_of_another_case_says_which_case_declares_it(folder):
    line, column, message, hint = folder.error(MINIMAL + """case A { der W1 wind 1 MW at R1 end with profile pv }
case B { bids { W1 up 10 % at buy } }""")
    assert (line, column, message) == (NEXT + 1, 17, "DER 'W1' is declared only in case 'A'")
    assert "declare it at the top level" in hint


def test_an_unknown_day_type_is_not_reported_again_in_the_day_total(folder):
    line, column, message, hint = folder.error(MINIMAL + """calendar {
  season all months jan feb mar apr may jun jul aug sep oct nov dec
  days all working 250 saturday 50 holidy 65
}""")
    assert (line, column, message) == (NEXT + 2, 36, "unknown day type 'holidy'")
    assert hint == "did you mean 'holiday'?"


def test_annual_energy_is_bounded_by_the_hours_of_the_calendar_year(folder):
    text = MINIMAL.replace("der PV1 pv 2 MW at R1 end", "der PV1 pv 2 MW at R1 end energy 17.56 GWh/y")
    line, column, message, hint = folder.error(text)  # 2019: 8760 hours
    assert (line, column, message) == (11, 27, "PV1 cannot produce 17.56 GWh/y at 2 MW")
    assert hint == "at most 17.52 GWh/y: full power for all 8760 hours of the year"
    leap = folder.load(text + "calendar { year 2020 }")  # 8784 hours: 17.568 GWh/y
    assert leap.cases[0].der("PV1").energy_mwh_per_year == pytest.approx(17560)


def test_a_conductor_without_ampacity_is_reported_among_other_errors(folder):
    problems = folder.problems(MINIMAL + """conductor "c1" { resistance 0.1 ohm/km  reactance 0.1 ohm/km }
limits { voltage 1.1 .. 0.9 pu }""")
    assert (NEXT, 1, "conductor 'c1' lacks ampacity") in problems
    assert (NEXT + 1, 10, "the voltage band is inverted: 1.1 pu is not below 0.9 pu") in problems


def test_a_misspelt_conductor_parameter_is_not_also_missing(folder):
    line, column, message, hint = folder.error(MINIMAL + """conductor "c1" { resistance 0.1 ohm/km  reactance 0.1 ohm/km
  ampacty 300 A }""")
    assert (line, column, message) == (NEXT + 1, 3, "unknown conductor parameter 'ampacty'")
    assert hint == "did you mean 'ampacity'?"


def test_a_data_file_given_instead_of_the_scenario(folder):
    with pytest.raises(FlexoptError) as caught:
        load_scenario(folder.root / "data" / "prices.csv")
    (problem,) = caught.value.errors
    assert (problem.span.line, problem.span.column) == (1, 1)
    assert problem.message == "this is a CSV data file, not a scenario file"
    assert problem.hint == "name the .flex scenario file that refers to it"


def test_a_folder_given_instead_of_the_scenario(folder):
    with pytest.raises(FlexoptError) as caught:
        load_scenario(folder.root / "data")
    (problem,) = caught.value.errors
    assert (problem.span.line, problem.span.column, problem.message) == (1, 1, "this is a folder, not a scenario file")
