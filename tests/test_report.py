"""What a run leaves for people: tables, figures, one self-contained report.html, and `flexopt report`
rebuilding them from the stored datasets alone; progress on the way."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ScenarioFolder
from tests.test_engine import SMALL


def flexopt(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "flexopt", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = ScenarioFolder(tmp_path_factory.mktemp("report"))
    path = folder.write(SMALL, "small.flex")
    result = flexopt("run", path, "--case", "A,NOQ", "--out", folder.root / "out", "--verbose")
    assert result.returncode == 0, result.stderr
    return folder, path, folder.root / "out" / "small", result


def test_a_run_leaves_tables_figures_and_a_report_beside_the_datasets(run):
    _, _, out, _ = run
    for name in ("A.nc", "NOQ.nc", "table3.csv", "table3.md", "table4.csv", "table4.md", "report.html",
                 "A_curves.png", "A_profiles.png", "A_pq.png", "compare.png"):
        assert (out / name).stat().st_size > 0, name


def test_the_report_is_one_self_contained_file_with_its_figures_embedded(run):
    _, _, out, _ = run
    text = (out / "report.html").read_text()
    images = re.findall(r'<img [^>]*src="([^"]+)"', text)
    assert len(images) == len(list(out.glob("*.png"))) and images
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "Table 3" in text and "Table 4" in text and "scenario text SHA-256" in text
    assert not re.search(r'(src|href)="(?!data:|#)', text)  # nothing fetched from elsewhere


def test_the_report_has_contents_captions_rules_and_red_reasons(run):
    _, _, out, _ = run
    text = (out / "report.html").read_text()
    anchors = re.findall(r'<a href="#([^"]+)">', text)
    assert {"scenario", "rules", "table3", "reds", "table4", "figures", "provenance"} <= set(anchors)
    assert all(f"id={anchor}>" in text for anchor in anchors)  # every entry of the contents leads somewhere
    captions = re.findall(r"<figcaption>([^<]+)</figcaption>", text)
    assert len(captions) == 7 and all(len(c) > 80 and "png" not in c for c in captions)
    assert not re.search(r"<figcaption>\w+ F1 \w+</figcaption>", text)  # no file names as captions
    # Rules that differ: A pays for reactive support, NOQ has none; the rules they share are not listed.
    rules = text[text.index("id=rules>"):text.index("id=table3>")]
    assert "reactive support" in rules and "unavailable" in rules and "bids: pv" not in rules
    # The small scenario's red points (NOQ: no remedy) appear by reason, with how they were established.
    reds = text[text.index("id=reds>"):text.index("id=table4>")]
    assert "NOQ" in reds and "over voltage" in reds and "ac check no remedy" in reds
    assert "bid point 0" in text and "never counted" in text  # the counting rule is stated


def test_flexopt_report_rebuilds_byte_identical_tables_from_the_stored_run(run, tmp_path):
    _, _, out, _ = run
    result = flexopt("report", out / "A.nc", out / "NOQ.nc", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("table3.csv", "table3.md", "table4.csv", "table4.md", "A_profiles.png", "A_pq.png", "compare.png"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name
    assert (tmp_path / "report.html").stat().st_size > 0


def test_progress_is_plain_lines_off_a_terminal_and_verbose_names_every_feeder(run, tmp_path):
    _, path, _, result = run
    lines = result.stderr.splitlines()
    assert any(line.startswith("[1/2] A") for line in lines) and any(line.startswith("[2/2] NOQ") for line in lines)
    assert any("feeder F1" in line and "power flows" in line for line in lines)
    quiet = flexopt("run", path, "--case", "A", "--out", tmp_path, "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


def test_report_on_something_that_is_not_a_run_is_a_clear_error(run, tmp_path):
    folder, path, out, _ = run
    missing = flexopt("report", tmp_path / "nothing.nc")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    not_netcdf = flexopt("report", path)
    assert not_netcdf.returncode == 2 and "not a netCDF dataset" in not_netcdf.stderr
    assert "Traceback" not in missing.stderr + not_netcdf.stderr
