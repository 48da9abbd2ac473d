"""A storage unit's energy capacity limits its offers (issue 13, class 11), and DER options that would
be accepted and then ignored are refused.

Over one interval a storage unit cannot discharge more than it holds above empty at its expected
state of charge (upward) nor charge more than the room below full (downward); the working point's
own exchange over the interval counts.
"""

from __future__ import annotations

import numpy as np
import pytest

from flexopt.compile.bids import compile_bids
from flexopt.compile.networks import build_feeder_net, operating_points
from flexopt.compile.profiles import compile_profiles
from tests.conftest import MINIMAL

BIDS = "bids { storage down -1 MW at 10 EUR/MWh  up +1 MW at 100 EUR/MWh }\n"
TWO_HOURS = ("calendar {\n  season yearround months jan feb mar apr may jun jul aug sep oct nov dec\n"
             "  hours 12\n}\n")


def storage_offers(folder, der: str, extra: str = ""):
    """Up and down offers (MW per interval) of the storage ST, its working point and the interval length."""
    scenario = folder.load(MINIMAL + extra + der + "\n" + BIDS)
    case = scenario.cases[0]
    profiles = compile_profiles(scenario, case)
    feeder_net = build_feeder_net(scenario, case, scenario.feeder("R1"))
    points = operating_points(feeder_net, case, profiles)
    book = compile_bids(feeder_net, case, points, profiles.prices)
    r = [res.name for res in book.resources].index("ST")
    return book.up_mw[:, r], book.down_mw[:, r], book.resources[r].working_p_mw, points.interval_hours


@pytest.mark.parametrize("der, up, down", [
    ("der ST storage 1 MW 0.5 MWh at R1 end", 0.25, 0.25),  # default: half full
    ("der ST storage 1 MW 0.5 MWh at R1 end state of charge 20 %", 0.1, 0.4),
    ("der ST storage 1 MW 500 kWh at R1 end state of charge 100 %", 0.5, 0.0),
    ("der ST storage 1 MW 4 MWh at R1 end state of charge 0 %", 0.0, 1.0),  # the power rating binds
    ("der ST storage 1 MW 10 MWh at R1 end", 1.0, 1.0),  # a large store: the power band
])
def test_a_one_hour_activation_cannot_move_more_energy_than_the_store_holds(folder, der, up, down):
    up_mw, down_mw, working, hours = storage_offers(folder, der)
    assert hours == 1.0 and np.all(working == 0)
    assert np.allclose(up_mw, up) and np.allclose(down_mw, down)


def test_with_two_hour_intervals_the_store_sustains_half_the_power(folder):
    up_mw, down_mw, _, hours = storage_offers(folder, "der ST storage 1 MW 0.5 MWh at R1 end", TWO_HOURS)
    assert hours == 2.0
    assert np.allclose(up_mw, 0.125) and np.allclose(down_mw, 0.125)


def test_a_scheduled_working_point_counts_against_the_stored_energy(folder):
    up_mw, down_mw, working, _ = storage_offers(
        folder, "der ST storage 1 MW 0.6 MWh at R1 end with profile pv state of charge 50 %")
    assert working.max() > 0.3  # at noon the schedule alone discharges more than the 0.3 MWh it holds
    assert np.allclose(up_mw, np.clip(np.minimum(1.0, 0.3) - working, 0, None))
    assert np.allclose(down_mw, np.clip(np.minimum(1.0, 0.3) + working, 0, None))
    assert np.all(up_mw[working >= 0.3] == 0)


def test_the_assessment_offers_no_more_than_the_store_can_deliver(folder):
    from flexopt.api import assess_case

    scenario = folder.load(MINIMAL + "der ST storage 1 MW 0.5 MWh at R1 middle state of charge 40 %\n" + BIDS)
    ds = assess_case(scenario)
    top, bottom = ds.quantity_mw.bid_point.max(), ds.quantity_mw.bid_point.min()
    assert np.allclose(ds.quantity_mw.sel(bid_point=top), 0.2)  # 40 % of 0.5 MWh in one hour
    assert np.allclose(ds.quantity_mw.sel(bid_point=bottom), -0.3)  # the 60 % left to fill
    assert np.allclose(ds.der_p_mw.sel(der="ST", bid_point=top), 0.2)


# ---------------------------------------------------------------------------
# The language: state of charge, and options without effect
# ---------------------------------------------------------------------------


def test_the_state_of_charge_is_read_in_percent_with_a_default_of_half(folder):
    case = folder.load(MINIMAL + "der ST storage 1 MW 2 MWh at R1 end state of charge 30 %\n"
                       "der S2 storage 1 MW 2 MWh at R1 end\n"
                       "case B { der S3 storage 1 MW 2 MWh at R1 end  state of charge 70 % }\n").case("B")
    assert [case.der(n).state_of_charge for n in ("ST", "S2", "S3")] == [0.3, 0.5, 0.7]
    assert case.der("ST").storage_limits_mwh() == pytest.approx((0.6, 1.4))


@pytest.mark.parametrize("der, column, message", [
    ("der ST storage 1 MW 2 MWh at R1 end state of charge 130 %", 53,
     "the state of charge of ST must be at most 100 %, got 130 %"),
    ("der ST storage 1 MW 2 MWh at R1 end state of charge 0.3", 53, "the state of charge of ST needs a unit"),
    ("der ST storage 1 MW 2 MWh at R1 end state of charge 30 %  state of charge 40 %", 59,
     "'state of charge' is given twice in DER ST"),
    ("der P2 pv 1 MW at R1 end state of charge 30 %", 26, "only storage has a state of charge; P2 is pv"),
])
def test_a_wrong_state_of_charge_is_located(folder, der, column, message):
    line, col, got, _ = folder.error(MINIMAL + der)
    assert (line, col, got) == (12, column, message)


PROFILE = "profile industrial generated demand { class industrial }\n"


@pytest.mark.parametrize("der, column, message", [
    ("der ST storage 1 MW 2 MWh at R1 end energy 100 MWh/y", 37,
     "storage ST has no profile: it idles at 0 MW, so an annual energy has no effect"),
    ("der ST storage 1 MW 2 MWh at R1 end power factor 0.9", 37,
     "storage ST has no profile: it idles at 0 MW, so a power factor has no effect"),
    (PROFILE + "der F enduser industrial 1 MW at R1 end capability semicircle", 41,
     "an end-user gives no reactive support, so the capability of F has no effect"),
    (PROFILE + "der F enduser industrial 1 MW at R1 end apparent power 2 MVA", 41,
     "an end-user gives no reactive support, so the apparent power of F has no effect"),
    (PROFILE + "der F enduser industrial 1 MW at R1 end power factor 0.9 absorbing", 41,
     "an end-user draws reactive power at its power factor (a lagging load); 'absorbing' applies to "
     "generators and storage"),
])
def test_an_option_the_assessment_would_ignore_is_refused(folder, der, column, message):
    line, col, got, hint = folder.error(MINIMAL + der)
    assert (line, col, got) == (MINIMAL.count("\n") + der.count("\n") + 1, column, message) and hint


def test_the_same_options_where_they_have_an_effect_are_accepted(folder):
    case = folder.load(MINIMAL + PROFILE + "der ST storage 1 MW 2 MWh at R1 end with profile pv energy 100 MWh/y "
                       "power factor 0.9\nder F enduser industrial 1 MW at R1 end capability none power factor 0.9\n"
                       ).cases[0]
    assert case.der("ST").energy_mwh_per_year == 100 and case.der("F").power_factor == 0.9
