"""Hostile and odd network files, and DERs at buses that do not exist (issue 13, classes 1 and 9).

A feeder imported ``from file`` is read by flexopt's own allow-list reader, never by
``pandapower.from_json`` (which imports whatever module a file names): a file naming code is
refused with a located message, at ``check`` already, and nothing it names is imported. A
legitimate file round-trips exactly as pandapower reads it. A DER placed ``at FEEDER bus "NAME"``
at a bus that does not exist is refused by ``check``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from flexopt.compile.networks import build_feeder_net, build_networks
from flexopt.errors import FlexoptError
from flexopt.language.feeder_nets import TABLES, NetFileError, net_bus_names, read_net, synthetic_bus_names
from tests.conftest import CASE_STUDY, MINIMAL, REPO

pp = pytest.importorskip("pandapower")
MARKER = "MARKER"
EVIL_MODULE = 'from pathlib import Path\nPath(__file__).with_name("MARKER").write_text("ran")\nclass Boom:\n    pass\n'


def small_net():
    """A feeder with a transformer, line switches, an open bus-bus switch, loads, sgens and a shunt."""
    net = pp.create_empty_network(name="small")
    hv = pp.create_bus(net, 110.0, name="HV", type="b")
    mv = [pp.create_bus(net, 20.0, name=f"MV{i}") for i in range(5)]
    pp.create_ext_grid(net, hv, vm_pu=1.0, name="grid")
    pp.create_transformer(net, hv, mv[0], "25 MVA 110/20 kV", name="T1")
    for a, b in zip(mv, mv[1:]):
        line = pp.create_line(net, a, b, 1.5, "NA2XS2Y 1x185 RM/25 12/20 kV", name=f"L{a}-{b}")
        pp.create_switch(net, a, line, et="l", closed=True, type="LBS", name=f"S{line}")
    pp.create_switch(net, mv[1], mv[4], et="b", closed=False, name="tie")
    for bus in mv[1:]:
        pp.create_load(net, bus, p_mw=0.4, q_mvar=0.1, name=f"load {bus}")
    pp.create_sgen(net, mv[4], p_mw=1.0, name="PV far", type="PV")
    pp.create_sgen(net, mv[2], p_mw=0.5, name="CHP mid", type="CHP")
    pp.create_shunt(net, mv[3], q_mvar=0.2, name="cap")
    return net


def write_net(net, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.to_json(net, str(path))
    return path


def tamper(path: Path, change) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def imported(folder_file: str, der: str = "") -> str:
    return MINIMAL + f'feeder X1 urban from file "{folder_file}" {{ demand 2 GWh/y  mix residential 100 % }}\n' + der


@pytest.fixture
def evil(folder):
    """A scenario folder with a net whose sgen table names a module that, imported, writes MARKER."""
    (folder.root / "evilmod.py").write_text(EVIL_MODULE)
    path = write_net(small_net(), folder.root / "evil.json")
    tamper(path, lambda d: d["_object"].__setitem__("sgen", {"_module": "evilmod", "_class": "Boom", "_object": "{}"}))
    return folder


def _cli(folder, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "flexopt", *args], capture_output=True, text=True, timeout=300,
                          cwd=folder.root, env=env)


# ---------------------------------------------------------------------------
# Class 1: code execution from a study folder
# ---------------------------------------------------------------------------


def test_the_malicious_file_would_run_code_through_pandapower(evil):
    """The fixture is really hostile: pandapower.from_json imports the module it names."""
    code = "import pandapower as pp\ntry:\n    pp.from_json('evil.json')\nexcept Exception:\n    pass\n"
    subprocess.run([sys.executable, "-c", code], cwd=evil.root, capture_output=True, timeout=300)
    if not (evil.root / MARKER).exists():
        pytest.skip("this pandapower no longer imports the modules a file names")
    (evil.root / MARKER).unlink()


@pytest.mark.parametrize("command", ["check", "run"])
def test_check_and_run_refuse_a_file_that_names_a_module_and_import_nothing(evil, command):
    evil.write(imported("evil.json"))
    args = [command, "test.flex"] + (["--out", "out"] if command == "run" else [])
    result = _cli(evil, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    first = result.stderr.splitlines()[0]
    assert first == ("test.flex:12:1: error: cannot use the pandapower network evil.json: key \"sgen\" names the "
                     "Python module 'evilmod' (class 'Boom')")
    assert "hint: flexopt never imports what a network file names" in result.stderr
    assert not (evil.root / MARKER).exists()
    assert not (evil.root / "out").exists()


def test_the_compile_stage_refuses_a_file_changed_to_name_a_module_after_check(evil):
    good = write_net(small_net(), evil.root / "net.json")
    scenario = evil.load(imported("net.json"))
    good.write_text((evil.root / "evil.json").read_text())
    with pytest.raises(FlexoptError) as caught:
        build_networks(scenario, scenario.cases[0])
    problem = caught.value.errors[0]
    assert (problem.span.line, problem.span.column) == (12, 1)
    assert problem.message.startswith('cannot use the pandapower network net.json: key "sgen" names the Python module')
    assert not (evil.root / MARKER).exists()


@pytest.mark.parametrize("change, detail", [
    (lambda d: d.update({"_module": "os", "_class": "system"}), "its top-level \"_module\"/\"_class\" is 'os'/'system'"),
    (lambda d: d["_object"].__setitem__("name", {"_module": "builtins", "_class": "eval", "_object": "1"}),
     "key \"name\" names the Python module 'builtins'"),
    (lambda d: d["_object"].__setitem__("user_pf_options", {"x": {"_module": "os", "_class": "system"}}),
     "key \"user_pf_options.x\" names the Python module 'os'"),
    (lambda d: d["_object"].__setitem__("line", dict(d["_object"]["line"], _module="pickle", _class="loads")),
     "key \"line\" names the Python module 'pickle' (class 'loads')"),
])
def test_anything_that_names_code_is_refused_as_unsafe(tmp_path, change, detail):
    path = tamper(write_net(small_net(), tmp_path / "x.json"), change)
    with pytest.raises(NetFileError) as caught:
        read_net(path)
    assert caught.value.unsafe and caught.value.detail.startswith(detail)


def test_a_controller_is_code_and_is_refused(tmp_path):
    from pandapower.control import ConstControl

    net = small_net()
    ConstControl(net, "load", "p_mw", element_index=[0])
    with pytest.raises(NetFileError) as caught:
        read_net(write_net(net, tmp_path / "ctrl.json"))
    assert caught.value.unsafe
    assert caught.value.detail.startswith('table "controller" row 0 column "object" names the Python module')


def _set_table(name, value):
    return lambda d: d["_object"].__setitem__(name, value)


def _cell(table, row, column, value):
    def change(d):
        split = json.loads(d["_object"][table]["_object"])
        split["data"][row][split["columns"].index(column)] = value
        d["_object"][table]["_object"] = json.dumps(split)
    return change


def _dtype(table, column, dtype):
    return lambda d: d["_object"][table]["dtype"].__setitem__(column, dtype)


FRAME = {"_module": "pandas.core.frame", "_class": "DataFrame", "orient": "split"}


@pytest.mark.parametrize("change, detail", [
    (_set_table("my_table", dict(FRAME, _object='{"columns":["a"],"index":[0],"data":[[1]]}')),
     'table "my_table" is not one of pandapower\'s element tables flexopt reads'),
    (_cell("bus", 0, "name", {"nested": 1}), 'table "bus" row 0 column "name" holds an object, not a value'),
    (_dtype("bus", "vn_kv", "datetime64[ns]"), 'table "bus" column "vn_kv": dtype \'datetime64[ns]\' is not read'),
    (_cell("line", 0, "from_bus", "zero"), 'table "line" column "from_bus" is not uint32'),
    (_cell("line", 0, "from_bus", 999), 'table "line" row 0: from_bus 999 is not a bus of the network'),
    (_set_table("bus", dict(FRAME, _object="{not json")), 'table "bus": its "_object" is not valid JSON'),
    (lambda d: (d.pop("_class"), d.pop("_module")), 'it holds no pandapower network (no "_class": "pandapowerNet" at its top)'),
])
def test_a_malformed_file_is_refused_naming_the_json_key(tmp_path, change, detail):
    path = tamper(write_net(small_net(), tmp_path / "x.json"), change)
    with pytest.raises(NetFileError) as caught:
        read_net(path)
    assert not caught.value.unsafe and caught.value.detail.startswith(detail), caught.value.detail


def test_an_empty_unknown_table_and_old_results_are_skipped(tmp_path):
    path = tamper(write_net(small_net(), tmp_path / "x.json"),
                  _set_table("my_table", dict(FRAME, _object='{"columns":["a"],"index":[],"data":[]}')))
    net = read_net(path)
    assert "my_table" not in net and len(net.bus) == 6


@pytest.mark.parametrize("text, detail", [("[1, 2]", "the file holds a JSON list"), ("{", "not valid JSON"),
                                          ("[" * 100_000 + "]" * 100_000, "")])
def test_text_that_is_no_network_is_a_clear_error(tmp_path, text, detail):
    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(NetFileError) as caught:
        read_net(path)
    assert caught.value.detail.startswith(detail)


def test_a_fifo_is_not_read(tmp_path):
    path = tmp_path / "x.json"
    os.mkfifo(path)
    with pytest.raises(NetFileError, match="not a regular file"):
        read_net(path)


def _assert_same_tables(ours, theirs):
    for key in sorted(TABLES):
        if key in theirs:
            pd.testing.assert_frame_equal(ours[key], theirs[key], check_exact=True, obj=key)
    assert ours.std_types == theirs.std_types
    assert (ours.name, ours.f_hz, ours.sn_mva) == (theirs.name, theirs.f_hz, theirs.sn_mva)


@pytest.mark.parametrize("make", [small_net, lambda: __import__("pandapower.networks").networks.mv_oberrhein()],
                         ids=["small", "mv_oberrhein"])
def test_a_net_written_by_pandapower_round_trips_identically(tmp_path, make):
    original = make()
    path = write_net(original, tmp_path / "net.json")
    ours = read_net(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _assert_same_tables(ours, pp.from_json(str(path)))
    for key in ("bus", "line", "trafo", "load", "sgen", "switch", "ext_grid", "shunt"):  # as built, to 15 digits
        mine, built = ours[key], original[key]
        assert list(mine.columns) == list(built.columns) and (mine.dtypes == built.dtypes).all(), key
        assert list(mine.index) == list(built.index), key
        numbers = [c for c in mine.columns if mine[c].dtype.kind in "fiub"]
        pd.testing.assert_frame_equal(mine[numbers], built[numbers], check_exact=False, rtol=1e-13, obj=key)
        for column in (c for c in mine.columns if c not in numbers):
            assert [v if pd.notna(v) else None for v in mine[column]] == [
                v if pd.notna(v) else None for v in built[column]], (key, column)
    assert net_bus_names(path) == tuple(str(n) for n in original.bus.name)
    pp.runpp(ours, numba=False)
    assert ours.converged


def test_an_imported_feeder_from_a_file_is_built_with_its_named_bus(folder):
    write_net(small_net(), folder.root / "net.json")
    scenario = folder.load(imported("net.json", 'der PV9 pv 1 MW at X1 bus "MV3"\n'))
    fn = build_feeder_net(scenario, scenario.cases[0], scenario.feeder("X1"))
    (idx,) = fn.der("PV9").indices
    assert fn.net.bus.at[fn.net.sgen.at[idx, "bus"], "name"] == "MV3"
    assert fn.net.bus.name.iloc[0] == "HV" and len(fn.net.trafo) == 1


# ---------------------------------------------------------------------------
# Class 9: a DER at a bus that does not exist is refused by check
# ---------------------------------------------------------------------------


def test_a_der_at_an_unknown_bus_of_an_imported_file_is_refused_by_check(folder):
    write_net(small_net(), folder.root / "net.json")
    line, column, message, hint = folder.error(imported("net.json", 'der PV9 pv 1 MW at X1 bus "MV33"\n'))
    assert (line, column, message, hint) == (13, 27, "feeder 'X1' has no bus named 'MV33'", "did you mean 'MV3'?")


def test_a_der_at_an_unknown_bus_of_a_synthetic_feeder_is_refused_by_check(folder):
    assert folder.error(MINIMAL + 'der PV9 pv 1 MW at R1 bus "R1-M5"\n') == (
        12, 27, "feeder 'R1' has no bus named 'R1-M5'", "did you mean 'R1-M05'?")
    _, _, _, hint = folder.error(MINIMAL + 'der PV9 pv 1 MW at R1 bus "Bus 7"\n')
    assert hint == ("the buses of R1 are 'R1 busbar', 'R1-M01' to 'R1-M10' along the main line; "
                    "or place it by position, e.g. at R1 60 %")
    assert folder.load(MINIMAL + 'der PV9 pv 1 MW at R1 bus "R1-M05"\n').cases[0].der("PV9").position.bus == "R1-M05"


def test_a_bus_is_checked_on_the_feeder_as_the_case_changes_it(folder):
    text = MINIMAL + 'case A { feeder R1 { sections 5 }  der PV9 pv 1 MW at R1 bus "R1-M08" }\n'
    line, column, message, _ = folder.error(text)
    assert (line, column, message) == (12, 62, "feeder 'R1' has no bus named 'R1-M08'")


def test_a_der_at_a_bus_of_a_file_that_is_no_network_points_at_the_feeder(folder):
    (folder.root / "net.json").write_text("[]")
    folder.load(imported("net.json"))  # not opened further until its buses are needed
    line, column, message, hint = folder.error(imported("net.json", 'der PV9 pv 1 MW at X1 bus "MV3"\n'))
    assert (line, column) == (12, 1)
    assert message == "cannot use the pandapower network net.json: the file holds a JSON list, not a pandapower network"
    assert "pandapower.to_json" in hint


def test_check_exits_2_for_an_unknown_bus(folder):
    folder.write(MINIMAL + 'der PV9 pv 1 MW at R1 bus "R1-M99"\n')
    result = _cli(folder, "check", "test.flex")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[0] == "test.flex:12:27: error: feeder 'R1' has no bus named 'R1-M99'"


def test_the_synthetic_bus_names_are_the_names_of_the_built_net(folder):
    from flexopt.language.validate import load_scenario

    scenario, _ = load_scenario(CASE_STUDY)
    text = MINIMAL.replace("sections 10", "sections 12  laterals 3")
    for sc in (scenario, folder.load(text)):
        case = sc.cases[0]
        for fn in build_networks(sc, case):
            feeder = case.feeder(fn.feeder)
            if feeder.source == "synthetic":
                assert tuple(fn.net.bus.name) == synthetic_bus_names(feeder)
