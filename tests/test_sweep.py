"""Sweeps of cases and DER placement draws: local processes, a real dask cluster, resuming, flexopt compare."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from flexopt.run import compare_scenario, run_scenario
from flexopt.sweep import placement_draw
from flexopt.language.validate import load_scenario
from tests.conftest import ScenarioFolder
from tests.test_engine import SMALL

#: The weak feeder with a CHP beside the PV, three placement draws per case.
DRAWS = (SMALL.replace("der PV1 pv 7 MW at F1 end", "der PV1 pv 7 MW at F1 end\nprofile chp generated chp { zone C }\n"
                       "der CHP1 chp 2 MW at F1 start capability synchronous\nprice fuel 85 EUR/MWh")
         .replace("bids { pv down -100 % at 0  up +30 % at 2 * sell }",
                  "bids { pv down -100 % at 0  up +30 % at 2 * sell\n  chp down -20 % at 0.9 * buy  up +20 % at fuel }")
         .replace("study { bid points 4 per direction }", "study { bid points 4 per direction  placement draws 3 seed 11 }"))


def same_results(a: xr.Dataset, b: xr.Dataset) -> None:
    xr.testing.assert_identical(a.drop_attrs(deep=False), b.drop_attrs(deep=False))


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    folder = ScenarioFolder(tmp_path_factory.mktemp("sweep"))
    path = folder.write(DRAWS, "draws.flex")
    out = folder.root / "local"
    csv = compare_scenario(str(path), ["A,NOQ"], str(out), quiet=True, jobs=2)
    return folder, path, out / "small", csv


def test_placement_draws_are_reproducible_and_move_the_ders(local):
    folder, path, _, _ = local
    scenario, _ = load_scenario(path)
    case = scenario.case("A")
    first, again, other = (placement_draw(scenario, case, 0), placement_draw(scenario, case, 0),
                           placement_draw(scenario, case, 1))
    assert first == again
    fractions = [d.position.start.fraction for d in first.ders]
    assert fractions != [d.position.start.fraction for d in other.ders]
    assert all(0 < f <= 1 for f in fractions)
    assert [d.position.start for d in case.ders] != [d.position.start for d in first.ders]


def test_compare_writes_the_cases_side_by_side_with_the_spread_of_the_draws(local):
    _, _, folder, csv = local
    tidy = pd.read_csv(csv)
    assert list(tidy.columns) == ["case", "statistic", "direction", "metric", "value", "unit"]
    frame = tidy.set_index(["case", "statistic", "direction", "metric"])["value"]
    for case, statistic in (("A", "assessed"), ("NOQ", "assessed"), ("A", "placements min"),
                            ("A", "placements median"), ("A", "placements max")):
        assert (case, statistic, "up", "feasible_flexibility") in frame.index
    row = frame.loc["A"].xs(("up", "feasible_flexibility"), level=("direction", "metric"))
    assert row["placements min"] <= row["placements median"] <= row["placements max"]
    assert frame[("NOQ", "assessed", "up", "reactive_cost")] == 0.0
    stacked = xr.load_dataset(folder / "compare.nc")
    assert list(stacked.case.values) == ["A", "NOQ"] and stacked.status.dims[0] == "case"
    same_results(stacked.sel(case="A").drop_vars("case").status.to_dataset(),
                 xr.load_dataset(folder / "A.nc").status.to_dataset())
    assert len(list((folder / "placements" / "A").glob("draw_*.nc"))) == 3


def test_the_same_seed_gives_the_same_draws_in_one_process_as_in_two(local, tmp_path):
    _, path, folder, _ = local
    compare_scenario(str(path), ["A"], str(tmp_path), quiet=True, jobs=1)
    for draw in range(3):
        name = f"placements/A/draw_{draw:04d}.nc"
        same_results(xr.load_dataset(folder / name), xr.load_dataset(tmp_path / "small" / name))


def test_a_real_dask_cluster_on_localhost_gives_the_local_results(local, tmp_path):
    from distributed import LocalCluster

    _, path, folder, _ = local
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        result = subprocess.run([sys.executable, "-m", "flexopt", "compare", str(path), "--cases", "A,NOQ", "--out",
                                 str(tmp_path), "--scheduler", cluster.scheduler_address, "--quiet"],
                                capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    for name in ("A.nc", "NOQ.nc", "placements/A/draw_0002.nc", "placements/NOQ/draw_0001.nc"):
        same_results(xr.load_dataset(folder / name), xr.load_dataset(tmp_path / "small" / name))
    assert pd.read_csv(tmp_path / "small" / "compare.csv").equals(pd.read_csv(folder / "compare.csv"))


def test_an_interrupted_sweep_resumes_without_redoing_finished_members(local, tmp_path):
    _, path, folder, _ = local
    command = [sys.executable, "-m", "flexopt", "compare", str(path), "--cases", "A,NOQ", "--out", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    out = tmp_path / "small"
    deadline = time.time() + 300
    while time.time() < deadline and not (out / "placements" / "A" / "draw_0000.nc").exists():
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    finished = sorted(p.relative_to(out) for p in out.rglob("*.nc"))
    assert finished and not (out / "compare.csv").exists()
    stamps = {p: (out / p).stat().st_mtime_ns for p in finished}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    skipped = [line for line in result.stderr.splitlines() if line.startswith("[skip]")]
    assert len(skipped) == len(finished)
    assert all((out / p).stat().st_mtime_ns == stamp for p, stamp in stamps.items())
    for name in ("A.nc", "NOQ.nc", "placements/NOQ/draw_0002.nc"):
        same_results(xr.load_dataset(folder / name), xr.load_dataset(out / name))


def test_a_changed_scenario_is_assessed_again_not_skipped(tmp_path):
    folder = ScenarioFolder(tmp_path)
    path = folder.write(DRAWS, "draws.flex")
    first = run_scenario(str(path), ["NOQ"], str(tmp_path / "out"), quiet=True)["NOQ"]
    before = first.stat().st_mtime_ns
    run_scenario(str(path), ["NOQ"], str(tmp_path / "out"), quiet=True)
    assert first.stat().st_mtime_ns == before  # same text: skipped
    folder.write(DRAWS.replace("price buy 50 EUR/MWh", "price buy 60 EUR/MWh"), "draws.flex")
    run_scenario(str(path), ["NOQ"], str(tmp_path / "out"), quiet=True)
    assert first.stat().st_mtime_ns != before
    assert float(xr.load_dataset(first).price_buy_eur_per_mwh.mean()) == pytest.approx(60.0)


def test_an_unreachable_scheduler_is_a_clear_user_error(local, tmp_path):
    _, path, _, _ = local
    result = subprocess.run([sys.executable, "-m", "flexopt", "run", str(path), "--case", "A", "--out", str(tmp_path),
                             "--scheduler", "tcp://127.0.0.1:9"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "cannot reach the dask scheduler" in result.stderr and "Traceback" not in result.stderr
    assert np.all([not p.suffix == ".nc" for p in tmp_path.rglob("*")])


def test_a_rerun_with_everything_written_writes_nothing_and_still_finds_damage(tmp_path, capsys):
    folder = ScenarioFolder(tmp_path)
    path = folder.write(SMALL, "small.flex")
    out = tmp_path / "out" / "small"

    def run() -> tuple[str, str]:
        run_scenario(str(path), ["A,NOQ"], str(tmp_path / "out"))
        captured = capsys.readouterr()
        return captured.out, captured.err

    first, _ = run()
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != ".flexopt.lock"}
    assert ".flexopt-manifest.json" in stamps and "report.html" in stamps
    again, err = run()
    assert again == first and "[skip] A" in err and "[skip] NOQ" in err  # the same tables, printed again
    assert {name: (out / name).stat().st_mtime_ns for name in stamps} == stamps  # nothing written
    # A damaged dataset: its digest no longer matches, the full check finds the damage, it is assessed again.
    data = bytearray((out / "A.nc").read_bytes())
    data[len(data) // 2: len(data) // 2 + 4096] = os.urandom(4096)
    (out / "A.nc").write_bytes(bytes(data))
    _, err = run()
    assert "[redo] A: A.nc is" in err and "[skip] NOQ" in err
    assert (out / "report.html").stat().st_mtime_ns != stamps["report.html"]
    # A figure removed: drawn again from the kept dataset; the other case's figures are kept as they are.
    (out / "NOQ_pq.png").unlink()
    kept = (out / "A_pq.png").stat().st_mtime_ns
    _, err = run()
    assert "[skip] A" in err and (out / "NOQ_pq.png").is_file() and (out / "A_pq.png").stat().st_mtime_ns == kept


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_run_in_two_processes_writes_what_a_run_in_one_writes(tmp_path, monkeypatch, method):
    """With --jobs 2 (workers forked, or spawned where forking is unsafe) the members are assessed in the workers,
    each figure part of a case is a task of its own once its dataset is written, and compare.png is drawn once
    every case is: the same datasets, the same figures byte for byte and the same report as a serial run."""
    import re

    folder = ScenarioFolder(tmp_path)
    path = folder.write(DRAWS.replace("placement draws 3 seed 11", ""), "figures.flex")
    run_scenario(str(path), None, str(tmp_path / "jobs1"), quiet=True, jobs=1)
    monkeypatch.setattr("flexopt.workers.start_method", lambda: method)
    run_scenario(str(path), None, str(tmp_path / "jobs2"), quiet=True, jobs=2)
    serial, parallel = tmp_path / "jobs1" / "small", tmp_path / "jobs2" / "small"
    names = sorted(p.name for p in serial.glob("*.png"))
    assert names == sorted(p.name for p in parallel.glob("*.png"))
    assert {"A_profiles.png", "A_pq.png", "A_curves.png", "NOQ_pq.png", "compare.png"} <= set(names)
    for name in names:
        assert (serial / name).read_bytes() == (parallel / name).read_bytes(), name
    for case in ("A", "NOQ"):
        same_results(xr.load_dataset(serial / f"{case}.nc"), xr.load_dataset(parallel / f"{case}.nc"))
    captions = [re.findall(r"<figcaption>(.*?)</figcaption>", (folder / "report.html").read_text())
                for folder in (serial, parallel)]
    assert captions[0] == captions[1] and len(captions[1]) == len(names)
