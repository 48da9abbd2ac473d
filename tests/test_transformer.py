"""The HV/MV transformer's data are used: its losses turn the busbar exchange into what the TSO sees."""

from __future__ import annotations

import warnings

import numpy as np
import pandapower as pp
import pytest

from flexopt.api import assess_case
from flexopt.compile.networks import hv_exchange
from flexopt.model import Substation, TransformerData
from flexopt.results.tables import table4

from .conftest import MINIMAL

LOSSY = "transformer 40 MVA 150/15 kV  short circuit voltage 10 %  copper losses 1 %  iron losses 60 kW  " \
        "no load current 0.5 %"


def pandapower_hv_exchange(t: TransformerData, busbar_pu: float, p_mw: float, q_mvar: float) -> tuple[float, float]:
    """The ext_grid's import of a two-bus net whose HV voltage is tuned until the busbar sits at its setpoint."""
    net = pp.create_empty_network()
    hv, lv = pp.create_bus(net, t.hv_kv), pp.create_bus(net, t.lv_kv)
    grid = pp.create_ext_grid(net, hv, vm_pu=1.0)
    pp.create_transformer_from_parameters(net, hv, lv, t.rated_mva, t.hv_kv, t.lv_kv, t.vkr_percent, t.vk_percent,
                                          t.pfe_kw, t.i0_percent)
    pp.create_load(net, lv, p_mw, q_mvar)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(30):
            pp.runpp(net, numba=False, tolerance_mva=1e-11)
            error = busbar_pu - net.res_bus.vm_pu[lv]
            if abs(error) < 1e-12:
                break
            net.ext_grid.loc[grid, "vm_pu"] += error
    return float(net.res_ext_grid.p_mw[grid]), float(net.res_ext_grid.q_mvar[grid])


@pytest.mark.parametrize("transformer", [TransformerData(40.0, 150.0, 20.0, 12.0, 0.4, 20.0, 0.05),
                                         TransformerData(25.0, 132.0, 15.0, 8.0, 1.0, 60.0, 0.5)])
@pytest.mark.parametrize("p_mw, q_mvar", [(20.0, 5.0), (-15.0, 3.0), (0.0, 0.0), (-30.0, -10.0)])
def test_the_hv_exchange_matches_pandapowers_transformer_model_within_1e_6_mva(transformer, p_mw, q_mvar):
    substation = Substation("PS", transformer, 1.02, None)
    p_hv, q_hv = hv_exchange(substation, np.array(p_mw), np.array(q_mvar))
    expected_p, expected_q = pandapower_hv_exchange(transformer, 1.02, p_mw, q_mvar)
    assert float(p_hv) == pytest.approx(expected_p, abs=1e-6)
    assert float(q_hv) == pytest.approx(expected_q, abs=1e-6)


@pytest.fixture(scope="module")
def default_and_lossy(tmp_path_factory):
    from .conftest import ScenarioFolder

    folder = ScenarioFolder(tmp_path_factory.mktemp("trafo"))
    text = MINIMAL + "bids { pv down -100 % at 0  up +30 % derated at 2 * sell }\n"
    default = assess_case(folder.load(text))
    lossy_text = text.replace("transformer 40 MVA 150/15 kV", LOSSY)
    assert lossy_text != text
    lossy = assess_case(folder.load(lossy_text, "lossy.flex"))
    return default, lossy


def test_the_transformers_losses_change_what_the_tso_sees_and_nothing_inside_the_feeder(default_and_lossy):
    default, lossy = default_and_lossy
    np.testing.assert_allclose(lossy.p_pcc_mw, default.p_pcc_mw)
    np.testing.assert_array_equal(lossy.status, default.status)
    default_losses = (default.p_hv_mw - default.p_pcc_mw).values  # one feeder: the others exchange nothing
    lossy_losses = (lossy.p_hv_mw - lossy.p_pcc_mw).values
    assert (default_losses > 0).all() and (lossy_losses > default_losses).all()
    # iron losses alone at no load: 60 kW at the busbar's 1 pu squared (the minimal scenario holds it at 1.0)
    assert lossy_losses.min() >= 0.060 * 0.99
    assert (lossy.q_hv_mvar - lossy.q_pcc_mvar).min() > 0  # the magnetising and leakage reactances absorb


def test_table_4_reports_the_flexibility_at_the_hv_terminals_next_to_the_busbars(default_and_lossy):
    _, lossy = default_and_lossy
    t4 = table4({"lossy": lossy})
    for direction in ("up", "down"):
        busbar = t4.loc["feasible_flexibility_gwh_per_y", ("lossy", direction)]
        hv = t4.loc["feasible_at_hv_gwh_per_y", ("lossy", direction)]
        assert busbar > 0
        assert hv == pytest.approx(busbar, rel=0.05) and hv != pytest.approx(busbar, rel=1e-6)
