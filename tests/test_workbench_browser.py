"""The workbench in a real browser (Debian's chromium, driven by playwright): a regulator's session from
loading the page to reading Table 4, which must equal what `flexopt run` writes for the same text.

`.ci/run` installs chromium with apt-get when it is missing. Set FLEXOPT_SCREENSHOTS=docs/img to refresh
the screenshots of docs/workbench.md.
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from flexopt.results.tables import metric_unit
from flexopt.run import run_scenario
from tests.conftest import SCENARIOS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Chromium as root in a container without network: no sandbox, no background connections.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FILE = "scenarios/sardinia_ps.flex"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install "
                                                                     "chromium; .ci/run installs it)")


@pytest.fixture()
def server(tmp_path: Path):
    """The workbench on a free loopback port over a copy of the shipped scenarios."""
    import uvicorn

    from flexopt.web.app import create_app

    shutil.copytree(SCENARIOS, tmp_path / "scenarios", ignore=shutil.ignore_patterns("*.py"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(tmp_path, FILE), host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline, "the workbench did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/?file={FILE}", tmp_path
    instance.should_exit = True
    thread.join(timeout=20)


@pytest.fixture()
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 860})
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        yield tab
        browser.close()
        assert not errors, errors


def shoot(page, name: str, folder: Path) -> None:
    target = Path(os.environ.get("FLEXOPT_SCREENSHOTS") or folder)
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"workbench_{name}.png"))


def type_into_editor(page, old: str, new: str) -> None:
    """Select ``old`` in the editor and type ``new`` over it, as a user would."""
    page.evaluate("""([old]) => { const t = document.getElementById('source'); const at = t.value.indexOf(old);
                     t.focus(); t.setSelectionRange(at, at + old.length); }""", [old])
    page.keyboard.type(new)


def test_a_regulator_marks_an_error_fixes_it_changes_the_reactive_price_runs_and_compares_cases_and_reads_table_4(server, page):
    url, workspace = server
    shots = workspace / "screenshots"
    page.goto(url)
    page.wait_for_selector("#check-status.good", timeout=30000)
    assert page.inner_text("#check-status").startswith("OK: 5 cases")
    shoot(page, "1_loaded", shots)

    type_into_editor(page, "1.10 pu", "1.10 kg")  # a unit flexopt does not know, on line 43
    page.wait_for_selector("#check-status.bad", timeout=30000)
    assert page.eval_on_selector_all("#gutter div.error", "els => els.map(e => e.dataset.line)") == ["43"]
    assert "43:24: error: 'kg' is not a unit" in page.inner_text("#problems")
    page.click("#problems li")  # jumps to the line
    shoot(page, "2_error_marked", shots)

    type_into_editor(page, "1.10 kg", "1.10 pu")
    page.wait_for_selector("#check-status.good", timeout=30000)
    assert page.eval_on_selector_all("#gutter div.error", "els => els.length") == 0

    page.select_option("#form-scope", "")
    price = page.locator("[data-key='|reactive|0|price']")
    assert price.input_value() == "0.05 * buy"
    price.fill("0.03 * buy")
    price.dispatch_event("change")
    page.wait_for_function("document.getElementById('source').value.includes('remuneration 0.03 * buy per Mvarh')")
    page.wait_for_selector("#check-status.good", timeout=30000)
    shoot(page, "3_form", shots)
    text = page.eval_on_selector("#source", "t => t.value")
    other = page.context.browser.new_page()  # another tab sees the file as saved, not this tab's draft
    other.goto(url)
    other.wait_for_selector("#check-status.good", timeout=30000)
    assert other.eval_on_selector("#source", "t => t.value") == (workspace / FILE).read_text(encoding="utf-8")
    other.close()
    assert text == (workspace / FILE).read_text(encoding="utf-8").replace("remuneration 0.05 * buy",
                                                                          "remuneration 0.03 * buy")

    page.click("button[data-tab=run]")
    page.check("#run-cases input[value=A]")
    page.check("#run-cases input[value=A_q_free]")  # the same framework with reactive support free of charge
    page.click("#run-button")
    page.wait_for_selector("#run-progress .progress-case[data-case=A]", timeout=30000)
    page.wait_for_selector("#run-status.good", timeout=240000)
    assert "done" in page.inner_text("#run-status")
    shoot(page, "4_run", shots)

    page.reload()  # the run is picked up again by the reloaded tab
    page.wait_for_selector("#run-status.good", timeout=30000)
    page.click("button[data-tab=results]")
    page.wait_for_selector("#table4 td[data-case=A]", timeout=60000)
    page.wait_for_selector("#chart svg circle", timeout=60000)
    page.locator("#chart circle[data-i]").last.hover(force=True)
    tooltip = page.inner_text("#tooltip")
    assert "hour" in tooltip and "MW" in tooltip and ("green" in tooltip or "orange" in tooltip or "red" in tooltip)
    shoot(page, "5_results", shots)
    shown = {}
    for cell in page.locator("#table4 td[data-case=A]").all():
        metric = metric_unit(cell.get_attribute("data-metric"))[0]
        value = cell.get_attribute("data-value")
        shown[(metric, cell.get_attribute("data-direction"))] = float(value) if value else None
        assert cell.inner_text() == (f"{float(value):.3f}" if value else "–")

    edited = workspace / "scenarios" / "edited.flex"  # the same text, through the command line
    edited.write_text(text, encoding="utf-8")
    run_scenario(str(edited), ["A"], str(workspace / "cli"), quiet=True, figures=False)
    with open(workspace / "cli" / "sardinia_ps" / "table4.csv", newline="", encoding="utf-8") as handle:
        cli = {(r["metric"], r["direction"]): float(r["value"]) if r["value"] else None
               for r in csv.DictReader(handle) if r["case"] == "A"}
    assert set(cli) == set(shown) and len(cli) == 22
    for key, value in cli.items():
        assert (shown[key] is None) == (value is None), key
        if value is not None:
            assert shown[key] == pytest.approx(value, rel=1e-5, abs=1e-9), key  # the CSV keeps 6 digits
    assert shown[("feasible_flexibility", "up")] > 0
    assert shown[("reactive_cost", "up")] != 0 or shown[("reactive_cost", "down")] != 0

    page.click("button[data-tab=compare]")  # A is the baseline; free reactive support changes its costs
    page.wait_for_selector("#compare-table td[data-case=A_q_free]", timeout=30000)
    highlighted = {(c.get_attribute("data-metric"), c.get_attribute("data-direction"))
                   for c in page.locator("#compare-table td.differs[data-case=A_q_free]").all()}
    assert any(metric == "reactive_cost_keur_per_y" for metric, _ in highlighted), highlighted
    assert ("market_potential_gwh_per_y", "up") not in highlighted  # the same offers: the same potential
    assert not page.locator("#compare-table td.differs[data-case=A]").count()
    page.evaluate("document.getElementById('side-pane').scrollTop = 0")
    shoot(page, "6_compare", shots)
