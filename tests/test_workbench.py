"""The workbench (`flexopt serve`) as its users meet it, without a browser: the form rewrites only what it
changes, the server stays inside its folder, saving never overwrites unasked, runs are queued and cancellable."""

from __future__ import annotations

import difflib
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from flexopt.errors import FlexoptError
from flexopt.language.validate import load_scenario_text
from flexopt.web.app import create_app, is_loopback
from flexopt.web.form import apply_change, form_fields
from flexopt.web.workspace import OutsideWorkspace, Workspace
from tests.conftest import CASE_STUDY, SCENARIOS

TEXT = CASE_STUDY.read_text(encoding="utf-8")
FILE = "scenarios/sardinia_ps.flex"


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    shutil.copytree(SCENARIOS, tmp_path / "scenarios", ignore=shutil.ignore_patterns("*.py"))
    return tmp_path


@pytest.fixture()
def client(workspace: Path):
    with TestClient(create_app(workspace, FILE)) as test_client:
        yield test_client


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


# ---- the form ---------------------------------------------------------------------------------------------
def test_the_form_shows_the_bid_rules_reactive_remuneration_limits_and_remedies_of_the_case_study():
    fields = {f.key: f for f in form_fields(TEXT)}
    assert fields["|bids|0|up|quantity"].value == "+10" and fields["|bids|0|up|quantity"].unit == "%"
    assert fields["|bids|0|up|derated"].value == "yes"
    assert fields["|bids|1|down|price"].value == "0.9 * buy"
    assert fields["|reactive|0|price"].value == "0.05 * buy"
    assert fields["|limits|0|voltage high"].value == "1.10"
    assert fields["|study|0|remedies"].value == "reactive"
    assert fields["A_q_free|reactive|0|mode"].value == "free" and not fields["A_q_free|reactive|0|mode"].inherited
    assert fields["A|reactive|0|price"].inherited  # case A states no reactive block: it inherits the top level's
    assert fields["A_local_market|study|0|remedies"].value == "reactive, redispatch"


def test_changing_the_reactive_price_rewrites_only_that_expression_and_keeps_comments_and_layout():
    after = apply_change(TEXT, "|reactive|0|price", "0.03 * buy")
    assert changed_lines(TEXT, after) == ["-  remuneration 0.05 * buy per Mvarh", "+  remuneration 0.03 * buy per Mvarh"]
    scenario, _ = load_scenario_text(after, "x.flex", SCENARIOS)
    assert scenario.case("A").reactive != load_scenario_text(TEXT, "x.flex", SCENARIOS)[0].case("A").reactive


def test_changing_an_inherited_value_inserts_the_override_into_that_case_only():
    after = apply_change(TEXT, "A|reactive|0|price", "0.03 * buy")
    assert changed_lines(TEXT, after) == ['-case A "only DG" { }', '+case A "only DG" {',
                                          "+  reactive { remuneration 0.03 * buy per Mvarh }", "+}"]
    scenario, _ = load_scenario_text(after, "x.flex", SCENARIOS)
    before, _ = load_scenario_text(TEXT, "x.flex", SCENARIOS)
    assert scenario.case("A").reactive != before.case("A").reactive
    own = [replace(s.case("A_q_free").reactive, span=None) for s in (scenario, before)]
    assert own[0] == own[1]  # A_q_free extends A but states its own


@pytest.mark.parametrize("key, value, expected", [
    ("|bids|0|up|derated", "no", ["-  pv, wind   down -100 % at 0            up +10 % derated at 2 * sell",
                                  "+  pv, wind   down -100 % at 0            up +10 % at 2 * sell"]),
    ("|limits|0|voltage low", "0.95", ["-  voltage 0.90 .. 1.10 pu", "+  voltage 0.95 .. 1.10 pu"]),
    ("A_q_free|reactive|0|mode", "unavailable", ["-  reactive { remuneration free }", "+  reactive { unavailable }"]),
    ("A_local_market|study|0|remedies", "reactive", ["-  study { remedies reactive, redispatch }",
                                                     "+  study { remedies reactive }"]),
])
def test_each_kind_of_field_writes_a_valid_scenario_changing_one_line(key, value, expected):
    after = apply_change(TEXT, key, value)
    assert changed_lines(TEXT, after) == expected
    load_scenario_text(after, "x.flex", SCENARIOS)


@pytest.mark.parametrize("key, value", [("|limits|0|voltage low", "0.9 } case X {"),
                                        ("|reactive|0|price", "0.05 } feeder X {"), ("|study|0|remedies", "magic")])
def test_a_form_value_that_is_not_a_value_of_its_kind_is_refused_before_it_reaches_the_text(key, value):
    with pytest.raises(FlexoptError):
        apply_change(TEXT, key, value)


# ---- the workspace ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["../etc/passwd", "/etc/passwd", "scenarios/../../x.flex", ".git/config",
                                  "scenarios\\sardinia_ps.flex", ""])
def test_the_workspace_refuses_paths_that_lead_out_of_it(workspace: Path, path: str):
    with pytest.raises(OutsideWorkspace):
        Workspace.at(workspace).resolve(path)


def test_the_workspace_does_not_follow_a_symbolic_link_out_of_it(workspace: Path, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.flex").write_text("scenario \"secret\"\n")
    os.symlink(outside, workspace / "linked")
    with pytest.raises(OutsideWorkspace, match="symbolic link"):
        Workspace.at(workspace).read_scenario("linked/secret.flex")
    shipped = sorted(f"scenarios/{p.name}" for p in SCENARIOS.glob("*.flex"))
    assert [s.path for s in Workspace.at(workspace).scenarios()] == shipped and FILE in shipped  # not linked/


def test_the_check_refuses_a_data_file_outside_the_workspace_at_its_line(client):
    text = TEXT.replace('"data/prices.csv" column "sell"', '"../../../etc/passwd" column "sell"')
    answer = client.post("/api/check", json={"path": FILE, "text": text}).json()
    assert not answer["ok"]
    [problem] = answer["problems"]
    assert problem["line"] == 32 and "outside the workbench's folder" in problem["message"]


def test_the_check_gives_the_same_located_messages_as_flexopt_check(client):
    text = TEXT.replace("voltage 0.90 .. 1.10 pu", "voltage 0.90 .. 1.10 kg")
    answer = client.post("/api/check", json={"path": FILE, "text": text}).json()
    assert [(p["line"], p["column"], p["severity"]) for p in answer["problems"]] == [(43, 24, "error")]
    assert answer["problems"][0]["text"].startswith(f"{FILE}:43:24: error: 'kg' is not a unit")
    answer = client.post("/api/check", json={"path": FILE, "text": TEXT}).json()
    assert answer["ok"] and [c["name"] for c in answer["cases"]] == ["A", "B", "A_q_free", "A_no_q", "A_local_market"]


def test_saving_never_overwrites_a_file_unless_asked(client, workspace: Path):
    answer = client.post("/api/save", json={"path": FILE, "text": "changed"}).json()
    assert answer == {"path": FILE, "saved": False, "exists": True}
    assert (workspace / FILE).read_text(encoding="utf-8") == TEXT
    answer = client.post("/api/save", json={"path": "scenarios/variant.flex", "text": TEXT}).json()
    assert answer["saved"] and (workspace / "scenarios/variant.flex").read_text(encoding="utf-8") == TEXT
    assert client.post("/api/save", json={"path": FILE, "text": TEXT + "\n", "overwrite": True}).json()["saved"]
    assert client.post("/api/save", json={"path": "../escape.flex", "text": TEXT}).status_code == 403
    assert not (workspace.parent / "escape.flex").exists()


def test_a_new_case_is_appended_and_refused_when_its_name_is_taken(client):
    answer = client.post("/api/case", json={"text": TEXT, "name": "A_q3", "extends": "A", "title": "3 %"}).json()
    assert answer["text"].endswith('case A_q3 "3 %" extends A { }\n')
    taken = client.post("/api/case", json={"text": TEXT, "name": "A", "extends": ""})
    assert taken.status_code == 400 and "already has a case 'A'" in taken.json()["problems"][0]["message"]


def test_the_files_served_are_only_the_outputs_of_workbench_runs(client):
    assert client.get(f"/files/{FILE}").status_code == 403
    assert client.get("/files/outputs/workbench/../../scenarios/sardinia_ps.flex").status_code in (403, 404)
    assert client.get("/static/app.js").status_code == 200


def test_the_page_loads_nothing_from_another_host(client):
    from flexopt.web.app import STATIC

    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path.name


def test_only_loopback_addresses_count_as_local():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


# ---- runs -------------------------------------------------------------------------------------------------
def test_a_run_can_be_cancelled_and_leaves_no_half_written_file(client, workspace: Path):
    run = client.post("/api/runs", json={"path": FILE, "text": TEXT, "cases": ["A"], "figures": False}).json()
    assert run["state"] in ("queued", "running") and run["feeders"] == {"A": ["R1", "R2", "D3", "U4", "U5"]}
    time.sleep(1.0)
    assert client.post(f"/api/runs/{run['id']}/cancel").json() == {"cancelled": True}
    deadline = time.monotonic() + 60
    while (state := client.get(f"/api/runs/{run['id']}").json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, state
        time.sleep(0.3)
    assert state["state"] == "cancelled", state
    outputs = workspace / "outputs" / "workbench"
    assert not [p for p in outputs.rglob("*") if p.is_file() and (".tmp" in p.name or p.name.startswith("."))
                and p.name not in (".flexopt-manifest.json", ".flexopt.lock")]  # the lock stays by design
    assert client.get(f"/api/runs/{run['id']}/results").status_code == 400


def test_runs_wait_in_a_queue_and_go_one_at_a_time(client):
    first = client.post("/api/runs", json={"path": FILE, "text": TEXT, "cases": ["A"], "figures": False}).json()
    second = client.post("/api/runs", json={"path": FILE, "text": TEXT + "\n", "cases": ["B"], "figures": False}).json()
    deadline = time.monotonic() + 30
    while client.get(f"/api/runs/{first['id']}").json()["state"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert client.get(f"/api/runs/{second['id']}").json()["state"] == "queued"  # not beside the first
    assert [r["id"] for r in client.get("/api/runs").json()["runs"]] == [first["id"], second["id"]]
    assert client.post(f"/api/runs/{second['id']}/cancel").json() == {"cancelled": True}
    assert client.get(f"/api/runs/{second['id']}").json()["state"] == "cancelled"
    client.post(f"/api/runs/{first['id']}/cancel")


def test_serve_refuses_a_missing_file_and_a_port_in_use_with_one_message(capsys, workspace: Path, monkeypatch):
    import socket

    from flexopt.cli import main

    monkeypatch.chdir(workspace)
    assert main(["serve", "scenarios/missing.flex"]) == 2
    assert "no such scenario file" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", FILE, "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err and "Traceback" not in err


def test_a_run_of_a_text_that_does_not_check_is_refused_with_its_problems(client):
    answer = client.post("/api/runs", json={"path": FILE, "text": TEXT.replace("1.10 pu", "1.10 kg"), "cases": ["A"]})
    assert answer.status_code == 400 and answer.json()["problems"][0]["line"] == 43
    unknown = client.post("/api/runs", json={"path": FILE, "text": TEXT, "cases": ["Z"]})
    assert unknown.status_code == 400 and "no case 'Z'" in unknown.json()["problems"][0]["message"]
