"""Hardening of file reading (issue 13): only regular files, sizes checked before reading, reads
capped, and every problem in a CSV file located at its own line and column.

A FIFO, a device or a huge sparse file named as a scenario or data file is refused in
milliseconds with the path and a hint (exit 2), never read until memory runs out or waited on
forever. The command-line tests run in a subprocess with a timeout, so that a regression fails
instead of hanging the suite.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flexopt.compile.profiles import compile_profiles
from flexopt.errors import FlexoptError
from flexopt.files import MAX_DATA_FILE_BYTES, read_bytes_capped
from flexopt.language.syntax import MAX_SCENARIO_BYTES
from flexopt.language.validate import load_scenario, load_scenario_text
from tests.conftest import MINIMAL, REPO, SCENARIOS

NEXT = 12
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")


def run_check(path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flexopt", "check", str(path)], capture_output=True, text=True,
                          timeout=60)


def sparse(path: Path, size: int, head: bytes = b"") -> Path:
    path.write_bytes(head)
    os.truncate(path, size)
    return path


def prices_csv(folder, change=None, name="spot.csv") -> None:
    """The case study's prices, with ``change(row_index, row)`` applied to the data rows."""
    with open(folder.root / "data" / "prices.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    for i, row in enumerate(rows[1:], start=2):
        if change:
            change(i, row)
    (folder.root / "data" / name).write_text("\n".join(",".join(r) for r in rows) + "\n")


SPOT = MINIMAL + 'price spot csv "data/spot.csv" column "buy" EUR/MWh\nbids { pv down -10 % at spot }\n'


# ---------------------------------------------------------------------------
# The scenario file
# ---------------------------------------------------------------------------


@needs_fifo
def test_a_fifo_as_the_scenario_is_refused_at_once(tmp_path):
    fifo = tmp_path / "study.flex"
    os.mkfifo(fifo)
    result = run_check(fifo)  # nobody writes to it: reading would block forever
    assert result.returncode == 2
    assert f"{fifo}:1:1: error: the file is a named pipe (FIFO), not a regular file" in result.stderr
    assert "hint:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_dev_zero_as_the_scenario_is_refused_without_reading_it():
    result = run_check("/dev/zero")
    assert result.returncode == 2
    assert "/dev/zero:1:1: error: the file is a character device, not a regular file" in result.stderr


def test_a_huge_scenario_is_refused_by_its_size_before_reading(tmp_path):
    path = sparse(tmp_path / "huge.flex", 2 * 1024**3, b'scenario "x"\n')
    load_scenario_text(MINIMAL, "warm.flex", SCENARIOS)  # the validator's imports, once: not what is timed
    started = time.perf_counter()
    with pytest.raises(FlexoptError) as caught:
        load_scenario(path)
    assert time.perf_counter() - started < 1
    problem = caught.value.errors[0]
    assert problem.message == "the file is 2147.5 MB; a scenario may be at most 4 MB"
    assert (problem.span.file, problem.span.line) == (str(path), 1) and "CSV" in problem.hint


def test_a_scenario_path_too_long_for_the_file_system_is_a_message(tmp_path):
    result = run_check(tmp_path / ("a" * 300 + ".flex"))
    assert result.returncode == 2
    assert "cannot read the file: File name too long" in result.stderr and "Traceback" not in result.stderr


def test_reads_stop_at_the_cap(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert read_bytes_capped(path, 100) == b"x" * 100
    with pytest.raises(FlexoptError, match="the file is 0.0 MB; a file may be at most 0 MB"):
        read_bytes_capped(path, 99)


# ---------------------------------------------------------------------------
# Data files: CSV profiles and prices
# ---------------------------------------------------------------------------


def test_a_2_gb_sparse_price_csv_is_refused_in_milliseconds_at_its_path(folder):
    with open(folder.root / "data" / "prices.csv", "rb") as handle:
        head = handle.read()
    sparse(folder.root / "data" / "spot.csv", 2 * 1024**3, head)
    folder.load(MINIMAL)  # the validator's imports, once: not what is timed
    started = time.perf_counter()
    line, column, message, hint = folder.error(SPOT)
    assert time.perf_counter() - started < 2  # measured: about 0.01 s (it was 25 s and 4.4 GB)
    assert (line, column) == (NEXT, 16)  # the path, where the scenario names the file
    assert message == f"'spot.csv' is 2147.5 MB; a CSV data file may be at most {MAX_DATA_FILE_BYTES // 2**20} MB"
    assert "right file" in hint


@needs_fifo
@pytest.mark.parametrize("statement", [
    'price spot csv "data/pipe.csv" column "buy" EUR/MWh',
    'profile flat csv "data/pipe.csv" column "buy"',
])
def test_a_fifo_as_a_data_file_is_refused_by_check(folder, statement):
    os.mkfifo(folder.root / "data" / "pipe.csv")
    line, column, message, hint = folder.error(MINIMAL + statement)
    assert (line, column) == (NEXT, statement.index('"') + 1)
    assert message.endswith("file 'data/pipe.csv' is a named pipe (FIFO), not a regular file")
    assert "pipes or devices" in hint


def test_a_data_path_too_long_for_the_file_system_is_a_message(folder):
    line, column, message, _ = folder.error(MINIMAL + 'price spot csv "data/' + "x" * 300 + '.csv" column "buy" EUR/MWh')
    assert (line, column) == (NEXT, 16)
    assert message.startswith("price path 'data/xxx") and message.endswith("cannot be opened: File name too long")


@pytest.mark.parametrize("hour", ["inf", "nan", "1e999", "-inf", "7.5"])
def test_an_hour_that_is_no_whole_number_is_located_in_the_csv(folder, hour):
    prices_csv(folder, lambda i, row: row.__setitem__(2, hour) if i == 6 else None)
    with pytest.raises(FlexoptError) as caught:
        load_scenario(folder.write(SPOT))
    problem = caught.value.errors[0]
    csv_file = str(folder.root / "data" / "spot.csv")
    assert (problem.span.file, problem.span.line, problem.span.column) == (csv_file, 6, 16)
    assert problem.message == f"hour '{hour}' on line 6 is not a whole number"
    rendered = caught.value.format()
    assert f"{csv_file}:6:16: error:" in rendered and f"    6 | winter,working,{hour}," in rendered


@pytest.mark.parametrize("value", ["inf", "1e999", "nan"])
def test_a_value_that_is_not_finite_is_located_at_its_cell(folder, value):
    prices_csv(folder, lambda i, row: row.__setitem__(4, value) if i == 9 else None)
    with pytest.raises(FlexoptError) as caught:
        load_scenario(folder.write(SPOT))
    problem = caught.value.errors[0]
    assert (problem.span.line, problem.span.column) == (9, len("winter,working,7,") + len(_row(folder, 9)[3]) + 2)
    assert problem.message == f"'{value}' in column 'buy' is not a finite number"


def _row(folder, line: int) -> list[str]:
    with open(folder.root / "data" / "spot.csv", newline="") as handle:
        return list(csv.reader(handle))[line - 1]


def test_a_price_csv_is_read_whole_by_check(folder):
    """Prices are evaluated at check time, so a gap in a price file is found by `check`, not by `run`."""
    prices_csv(folder)
    lines = (folder.root / "data" / "spot.csv").read_text().splitlines()
    (folder.root / "data" / "spot.csv").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(FlexoptError, match="'spot.csv' has no 'buy' value for autumn holiday hour 23"):
        load_scenario(folder.write(SPOT))


def test_a_profile_csv_with_an_infinite_hour_is_located_before_assessing(folder):
    prices_csv(folder, lambda i, row: row.__setitem__(2, "inf") if i == 6 else None)
    scenario, _ = load_scenario(folder.write(MINIMAL + 'profile flat csv "data/spot.csv" column "buy"\n'))
    with pytest.raises(FlexoptError) as caught:  # the OverflowError it once was
        compile_profiles(scenario, scenario.cases[0])
    problem = caught.value.errors[0]
    assert (problem.span.line, problem.span.column, problem.message) == (6, 16, "hour 'inf' on line 6 is not a whole number")


def test_a_csv_in_another_encoding_is_located_at_the_bad_byte(folder):
    (folder.root / "data" / "spot.csv").write_bytes(b"season,day_type,hour,buy\nwinter,working,0,4\xe9\n")
    with pytest.raises(FlexoptError) as caught:
        load_scenario(folder.write(SPOT))
    problem = caught.value.errors[0]
    assert (problem.span.line, problem.span.column) == (2, 19)
    assert problem.message == "'spot.csv' is not valid UTF-8 (byte 0xe9)"


# ---------------------------------------------------------------------------
# One way in
# ---------------------------------------------------------------------------

READS = re.compile(r"\bopen\(|\.read_text\(|\.read_bytes\(|read_csv\(|loadtxt\(|from_json\(")


@pytest.mark.parametrize("module", ["language/syntax.py", "language/series.py", "language/validate/__init__.py",
                                    "language/validate/context.py", "language/validate/prices.py",
                                    "language/validate/calendar.py", "language/validate/cases.py",
                                    "compile/profiles.py"])
def test_the_scenario_and_its_csv_files_are_read_only_through_flexopt_files(module):
    text = (REPO / "flexopt" / module).read_text(encoding="utf-8")
    found = [line.strip() for line in text.splitlines() if READS.search(line)]
    if module == "language/syntax.py":  # the grammar, shipped with flexopt, is no user file
        found = [line for line in found if "grammar" not in line and "source_tree" not in line and "packaged" not in line]
    assert not found, found


def test_the_scenario_size_cap_is_the_documented_one():
    assert MAX_SCENARIO_BYTES == 4 * 1024 * 1024
