"""Runs under faults (issue 13): one scenario text per run, write problems found up front and told
clearly, bounded waits on a dask scheduler, resume that trusts no damaged file, Ctrl-C with --jobs."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from flexopt.cli import main
from flexopt.errors import FlexoptError
from flexopt.language.validate import load_scenario
from flexopt.progress import Progress
from flexopt.results import store
from flexopt.run import run_scenario
from tests.conftest import MINIMAL, ScenarioFolder

#: MINIMAL with bids, two bid points per direction, and cases that are all the same as A.
CASES = ("A", "B", "C", "D", "E", "F", "G", "H")
TEXT = (MINIMAL + "bids { pv down -100 % at 0  up +30 % derated at 2 * sell }\n"
        "study { bid points 2 per direction }\ncase A { }\n" + "".join(f"case {c} extends A {{ }}\n" for c in CASES[1:]))
EDITED = TEXT.replace("price buy 50 EUR/MWh", "price buy 60 EUR/MWh")


def flexopt(*args, timeout=300, **kwargs):
    return subprocess.run([sys.executable, "-m", "flexopt", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def same_results(a: xr.Dataset, b: xr.Dataset) -> None:
    xr.testing.assert_identical(a.drop_attrs(deep=False), b.drop_attrs(deep=False))


def no_temporaries(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.tmp"))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Cases A and B assessed once, in this process: the reference results."""
    folder = ScenarioFolder(tmp_path_factory.mktemp("runs"))
    path = folder.write(TEXT, "mini.flex")
    out = folder.root / "out"
    run_scenario(str(path), ["A,B"], str(out), quiet=True)
    sha = load_scenario(path)[0].text_sha256
    return folder, path, out / "mini", sha


# ---------------------------------------------------------------------------
# Class 2: one scenario text per run
# ---------------------------------------------------------------------------


class EditAfterFirst(Progress):
    """Progress that rewrites the scenario file as soon as the first member has finished."""

    def __init__(self, path: Path) -> None:
        super().__init__(level=1)
        self.path = path

    def step(self, line: str, member: str | None = None) -> None:
        super().step(line, member)
        if line.startswith("[1/"):
            self.path.write_text(EDITED, encoding="utf-8")


def _check_one_text(paths, sha, reference: xr.Dataset) -> None:
    for path in paths:
        ds = xr.load_dataset(path)
        assert ds.attrs["scenario_sha256"] == sha, path
        assert float(ds.price_buy_eur_per_mwh.mean()) == pytest.approx(50.0), path
        same_results(ds, reference)


@pytest.mark.parametrize("jobs", [1, 2])
def test_editing_the_scenario_mid_run_changes_no_member(base, tmp_path, monkeypatch, jobs):
    _, _, reference_folder, sha = base
    folder = ScenarioFolder(tmp_path)
    path = folder.write(TEXT, "mini.flex")
    monkeypatch.setattr("flexopt.run._progress", lambda quiet, verbose: EditAfterFirst(path))
    cases = ["A,B"] if jobs == 1 else ["A,B,C"]
    paths = run_scenario(str(path), cases, str(tmp_path / "out"), quiet=True, jobs=jobs)
    assert path.read_text() == EDITED  # the file did change mid-run
    _check_one_text(paths.values(), sha, xr.load_dataset(reference_folder / "A.nc"))


def test_dask_workers_use_the_text_read_at_the_start(base, tmp_path, monkeypatch):
    from distributed import LocalCluster

    _, _, reference_folder, sha = base
    folder = ScenarioFolder(tmp_path)
    path = folder.write(TEXT, "mini.flex")
    monkeypatch.setattr("flexopt.run._progress", lambda quiet, verbose: EditAfterFirst(path))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address=None) as cluster:
        paths = run_scenario(str(path), ["A,B,C"], str(tmp_path / "out"), quiet=True,
                             scheduler=cluster.scheduler_address)
    assert path.read_text() == EDITED
    _check_one_text(paths.values(), sha, xr.load_dataset(reference_folder / "A.nc"))


def test_tables_and_report_refuse_datasets_of_different_texts(base, tmp_path):
    from flexopt.results.tables import table3, table4

    _, _, out, _ = base
    a, b = xr.load_dataset(out / "A.nc"), xr.load_dataset(out / "B.nc")
    b.attrs["scenario_sha256"] = "f" * 64
    for table in (table3, table4):
        with pytest.raises(FlexoptError, match="different scenario texts"):
            table({"A": a, "B": b})
    store.write_dataset(b, tmp_path / "B.nc")
    result = flexopt("report", out / "A.nc", tmp_path / "B.nc", "--out", tmp_path / "report")
    assert result.returncode == 2 and "different scenario texts" in result.stderr, result.stderr
    assert str(tmp_path / "B.nc") in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "report" / "table3.csv").exists()


# ---------------------------------------------------------------------------
# Class 4: write problems found before assessing, told clearly
# ---------------------------------------------------------------------------


def _never_assess(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the assessment started before the write problem was found")

    monkeypatch.setattr("flexopt.sweep.run_sweep", refuse)


def test_out_an_existing_file_is_refused_before_assessing(base, tmp_path, monkeypatch, capsys):
    _, path, _, _ = base
    (tmp_path / "file").write_text("x")
    _never_assess(monkeypatch)
    assert main(["run", str(path), "--out", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "hint:" in err and "Traceback" not in err


def test_out_read_only_is_refused_before_assessing(base, tmp_path, monkeypatch, capsys):
    _, path, _, _ = base
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: let the probe meet what a user would
        real_open = open

        def read_only(file, mode="r", *args, **kwargs):
            if "w" in mode and Path(file).parent.is_relative_to(out):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(store, "open", read_only, raising=False)
    _never_assess(monkeypatch)
    try:
        assert main(["run", str(path), "--out", str(out)]) == 2
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err
    assert "permission denied" in err and "--out" in err and "Traceback" not in err
    assert no_temporaries(out) == []


def test_a_file_name_too_long_for_the_file_system_is_found_by_the_probe(tmp_path):
    with pytest.raises(FlexoptError, match="too long"):
        store.probe_output(tmp_path / "out", [tmp_path / "out" / ("x" * 245 + ".nc")])
    assert no_temporaries(tmp_path) == []


def _disk_full_while(monkeypatch, how: str):
    def to_netcdf(self, path=None, *args, **kwargs):
        Path(path).write_bytes(b"\x89HDF\r\n\x1a\n half a file")  # what a full disk leaves
        if how == "oserror":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        raise RuntimeError("NetCDF: HDF error")  # how netCDF4 reports it

    monkeypatch.setattr(xr.Dataset, "to_netcdf", to_netcdf)
    if how == "hdf":
        monkeypatch.setattr(store, "_nearly_full", lambda folder: True)


@pytest.mark.parametrize("how", ["oserror", "hdf"])
def test_a_full_disk_while_writing_a_dataset_is_a_clear_message_and_leaves_nothing(base, tmp_path, monkeypatch,
                                                                                 capsys, how):
    _, path, _, _ = base
    _disk_full_while(monkeypatch, how)
    assert main(["run", str(path), "--case", "A", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no space left on the device" in err and "A.nc" in err and "hint:" in err
    assert "Traceback" not in err and "internal error" not in err
    assert no_temporaries(tmp_path) == [] and not list(tmp_path.rglob("*.nc"))


def test_a_full_disk_while_writing_the_tables_is_a_clear_message(base, tmp_path, monkeypatch, capsys):
    import flexopt.files

    _, path, _, _ = base

    def write_text_atomic(target, text):
        with flexopt.files.atomic_path(Path(target)) as tmp:
            tmp.write_text(text[: len(text) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))

    monkeypatch.setattr("flexopt.results.tables.write_text_atomic", write_text_atomic)
    assert main(["run", str(path), "--case", "A", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no space left on the device" in err and "Traceback" not in err
    assert no_temporaries(tmp_path) == [] and not (tmp_path / "mini" / "table3.csv").exists()


@pytest.mark.parametrize("address", ["tcp://127.0.0.1", "tcp://127.0.0.1:99999", "tcp://127.0.0.1:port",
                                     "http://127.0.0.1:8786", "127.0.0.1:8786", "tcp://:8786", "tcp://h:0"])
def test_a_malformed_scheduler_address_is_refused_when_parsing_the_arguments(base, address, capsys):
    _, path, _, _ = base
    with pytest.raises(SystemExit) as exited:
        main(["run", str(path), "--scheduler", address])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--scheduler" in err and "tcp://127.0.0.1:8786" in err and "Traceback" not in err


def test_report_on_a_dataset_lacking_variables_or_on_no_netcdf_is_one_clear_message(base, tmp_path):
    folder, path, out, _ = base
    partial = xr.load_dataset(out / "A.nc").drop_vars(["status", "quantity_mw"])
    partial.to_netcdf(tmp_path / "partial.nc")
    xr.Dataset({"x": ("t", np.arange(3.0))}).to_netcdf(tmp_path / "other.nc")
    (tmp_path / "empty.nc").write_bytes(b"")
    (tmp_path / "text.nc").write_text("not a netcdf at all\n")
    expected = {"partial.nc": "lacks status, quantity_mw", "other.nc": "not a complete flexopt dataset",
                "empty.nc": "not a netCDF dataset", "text.nc": "not a netCDF dataset"}
    for name, message in expected.items():
        result = flexopt("report", tmp_path / name, "--out", tmp_path / "r")
        assert result.returncode == 2 and message in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr and "http" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 2  # the message and its hint
    scenario = flexopt("report", path, "--out", tmp_path / "r")
    assert scenario.returncode == 2 and "not a netCDF dataset (it is a scenario file)" in scenario.stderr
    assert "flexopt run" in scenario.stderr and "http" not in scenario.stderr


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_holds_it(base, tmp_path, capsys):
    _, path, _, _ = base
    folder = tmp_path / "mini"
    folder.mkdir()
    with open(folder / ".flexopt.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write("4242\n")
        lock.flush()
        assert main(["run", str(path), "--case", "A", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "another flexopt run (process 4242) is writing to" in err and "Traceback" not in err


# ---------------------------------------------------------------------------
# Class 5: a scheduler that accepts connections and says nothing
# ---------------------------------------------------------------------------


def test_a_mute_scheduler_fails_within_fifteen_seconds(base, tmp_path):
    _, path, _, _ = base
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def accept():
        while True:
            try:
                accepted.append(server.accept()[0])  # and never a word
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    port = server.getsockname()[1]
    started = time.monotonic()
    try:
        result = flexopt("run", path, "--case", "A", "--out", tmp_path, "--scheduler", f"tcp://127.0.0.1:{port}",
                         timeout=60)
    finally:
        server.close()
        for conn in accepted:
            conn.close()
    elapsed = time.monotonic() - started
    assert accepted and result.returncode == 2, result.stderr
    assert "did not answer like a dask scheduler" in result.stderr and "Traceback" not in result.stderr
    assert elapsed < 15, elapsed
    assert not list(tmp_path.rglob("*.nc"))


# ---------------------------------------------------------------------------
# Class 7: resume verifies the files it finds
# ---------------------------------------------------------------------------


def test_resume_redoes_damaged_datasets_and_removes_leftover_temporaries(base, tmp_path):
    folder, path, reference, _ = base
    out = tmp_path / "mini"
    out.mkdir()
    for case in ("A", "B"):
        (out / f"{case}.nc").write_bytes((reference / f"{case}.nc").read_bytes())
    # A: garbage inside; B: cut short; C: a valid netCDF that lacks variables; D: complete (made from A's)
    data = bytearray((out / "A.nc").read_bytes())
    data[len(data) // 2: len(data) // 2 + 4096] = os.urandom(4096)
    (out / "A.nc").write_bytes(bytes(data))
    (out / "B.nc").write_bytes((out / "B.nc").read_bytes()[:5000])
    xr.load_dataset(reference / "A.nc").drop_vars("der_q_max_mvar").to_netcdf(out / "C.nc")
    d = xr.load_dataset(reference / "A.nc")
    d.attrs["case"] = "D"
    store.write_dataset(d, out / "D.nc")
    for leftover in (".A.nc.k3j4h5g6.tmp", ".table3.csv.abcdefgh.tmp"):
        (out / leftover).write_bytes(b"half")
    result = flexopt("run", path, "--case", "A,B,C,D", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "[redo] A: A.nc is a damaged netCDF file that cannot be read completely; assessing it again" in lines
    assert any(line.startswith("[redo] B: B.nc is") for line in lines)
    assert any(line.startswith("[redo] C: C.nc is not a complete flexopt dataset: lacks der_q_max_mvar")
               for line in lines)
    assert any(line.startswith("[skip] D: already written") for line in lines)
    assert any(line.startswith("[clean] removed 2 temporary files") for line in lines)
    assert no_temporaries(out) == []
    for case in ("A", "B", "C", "D"):
        same_results(store.read_dataset(out / f"{case}.nc"), xr.load_dataset(reference / "A.nc"))
    again = flexopt("run", path, "--case", "A,B,C,D", "--out", tmp_path, "--quiet")
    assert again.returncode == 0 and again.stderr == ""


def test_a_complete_dataset_is_recognised_and_a_stale_one_is_named(base):
    from flexopt.sweep import Member, member_state

    _, _, out, sha = base
    assert member_state(Member("A", None, out / "A.nc"), sha) == (True, None)
    complete, why = member_state(Member("A", None, out / "A.nc"), "0" * 64)
    assert not complete and "another scenario text" in why
    assert member_state(Member("A", None, out / "nothing.nc"), sha) == (False, None)
    assert sorted(store.VARIABLES) == sorted(xr.load_dataset(out / "A.nc").data_vars)
    assert sorted(store.COORDINATES) == sorted(xr.load_dataset(out / "A.nc").coords)


# ---------------------------------------------------------------------------
# Class 10: Ctrl-C with --jobs
# ---------------------------------------------------------------------------


#: `flexopt` with its workers spawned, as where forking is unsafe (another thread runs, or not Linux).
SPAWNING = ("import sys, flexopt.workers as w; w.start_method = lambda: 'spawn'; "
            "from flexopt.cli import entry; sys.exit(entry())")


@pytest.mark.parametrize("target, method", [("group", "fork"), ("parent", "fork"), ("group", "spawn")])
def test_ctrl_c_with_jobs_stops_within_three_seconds_leaving_only_complete_files(base, tmp_path, target, method):
    folder, path, reference, _ = base
    out = tmp_path / "mini"
    command = [sys.executable, "-m", "flexopt"] if method == "fork" else [sys.executable, "-c", SPAWNING]
    process = subprocess.Popen([*command, "run", str(path), "--out", str(tmp_path), "--jobs", "2"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not list(out.glob("*.nc")) and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()
    sent = time.monotonic()
    if target == "group":
        os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    else:
        os.kill(process.pid, signal.SIGINT)
    try:
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    stopped = time.monotonic() - sent
    assert stopped < 3, stopped
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err and "leaked" not in err
    for _ in range(40):  # the workers are gone with the parent
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("worker processes outlived the interrupted run")
    time.sleep(0.5)
    assert no_temporaries(out) == []
    written = sorted(out.glob("*.nc"))
    assert written and len(written) < len(CASES)
    for path in written:
        same_results(store.read_dataset(path), xr.load_dataset(reference / "A.nc"))
