"""A light report (issue 15): small palette figures within the size budget, legends that agree with Table 3 on
the shipped case study, and `--no-figures` for batch work."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import xarray as xr

from tests.conftest import REPO, ScenarioFolder
from tests.test_engine import SMALL
from tests.test_figures import legend_counts, table3_counts

#: The whole case study (five cases) must give a report of at most 3 MB: one case at most a fifth of it.
REPORT_BUDGET_BYTES = 3_000_000


def flexopt(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "flexopt", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


@pytest.fixture(scope="module")
def shipped_a(tmp_path_factory):
    out = tmp_path_factory.mktemp("shipped")
    result = flexopt("run", REPO / "scenarios" / "sardinia_ps.flex", "--case", "A", "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    return out / "sardinia_ps"


def test_one_shipped_case_takes_at_most_a_fifth_of_the_report_budget(shipped_a):
    text = (shipped_a / "report.html").read_text()
    images = re.findall(r'<img [^>]*src="data:image/png;base64,', text)
    assert len(images) == 3  # profiles, P-Q per season, price/quantity curves
    assert (shipped_a / "report.html").stat().st_size <= REPORT_BUDGET_BYTES / 5
    for name in ("A_profiles.png", "A_pq.png", "A_curves.png"):
        assert (shipped_a / name).read_bytes()[25] == 3, name  # PNG colour type 3: indexed (palette)


def test_the_legends_agree_with_table_3_on_the_shipped_case(shipped_a):
    from flexopt.results.figures import draw_profiles
    from flexopt.results.pq_seasons import draw_pq_seasons

    datasets = {"A": xr.load_dataset(shipped_a / "A.nc")}
    ds = datasets["A"]
    expected = {str(f): table3_counts(datasets, "A", str(f)) for f in ds.feeder.values}
    assert expected["R1"]["orange"] > 0 and sum(expected["U5"].values()) == 0  # R1 orange, U5 without DER
    found = {}
    for ax in draw_profiles(ds).axes:
        legend = ax.get_legend()
        if legend is not None:
            found[legend.get_texts()[0].get_text().split()[1].rstrip(",")] = legend_counts(legend)
    assert found == expected
    rows = {ax.get_legend().get_title().get_text().split(",")[0]: legend_counts(ax.get_legend())
            for ax in draw_pq_seasons(ds).axes if ax.get_legend()}
    assert rows == {f: counts for f, counts in expected.items() if f != "U5"}  # U5 offers nothing: no row


def test_no_figures_writes_the_datasets_tables_and_a_report_without_figures(tmp_path):
    folder = ScenarioFolder(tmp_path)
    path = folder.write(SMALL, "small.flex")
    result = flexopt("run", path, "--case", "A,NOQ", "--out", tmp_path / "out", "--no-figures")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out" / "small"
    assert not list(out.glob("*.png"))
    for name in ("A.nc", "NOQ.nc", "table3.csv", "table3.md", "table4.csv", "table4.md", "report.html"):
        assert (out / name).stat().st_size > 0, name
    text = (out / "report.html").read_text()
    assert "<img" not in text and "not drawn" in text and "Table 3" in text and "Red points by reason" in text
    assert "report.html without figures" in result.stdout
    # The same folder with figures afterwards: the datasets are kept, the figures drawn.
    again = flexopt("run", path, "--case", "A,NOQ", "--out", tmp_path / "out")
    assert again.returncode == 0 and "[skip] A" in again.stderr and "[skip] NOQ" in again.stderr
    assert sorted(p.name for p in out.glob("*.png")) == sorted(
        ["A_profiles.png", "A_pq.png", "A_curves.png", "NOQ_profiles.png", "NOQ_pq.png", "NOQ_curves.png",
         "compare.png"])


def test_no_figures_is_an_option_of_run_and_compare():
    for command in ("run", "compare"):
        result = flexopt(command, "--help")
        assert result.returncode == 0 and "--no-figures" in result.stdout, command
