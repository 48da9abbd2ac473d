"""`flexopt check`: a summary on success; file:line:col, caret, hint and exit 2 on failure; never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flexopt.cli import main
from tests.conftest import CASE_STUDY, MINIMAL, SCENARIOS


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flexopt", *args], capture_output=True, text=True, timeout=120)


def test_every_shipped_scenario_passes_check():
    files = sorted(str(p) for p in SCENARIOS.glob("*.flex"))
    assert files, "no shipped scenarios"
    result = run_cli("check", *files)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_summary_of_the_case_study(capsys):
    assert main(["check", str(CASE_STUDY)]) == 0
    out = capsys.readouterr().out
    assert "OK  scenario 'sardinia_ps'" in out
    assert "288 intervals" in out
    assert "case A \"only DG\"" in out and "case B \"DG + end-users\" (extends A)" in out
    assert "DER rated power (MW) by kind and feeder" in out
    # the DER table: total PV 26 MW, R1 17.65 MW
    pv_row = next(line for line in out.splitlines() if line.strip().startswith("pv "))
    assert pv_row.split()[-1] == "26"
    assert "enduser industrial" in out and "0.9 * buy" in out and "2 * sell" in out
    assert "paid at 0.05 * buy per Mvarh" in out


def test_errors_are_printed_with_position_caret_and_hint(folder, capsys):
    path = folder.write(MINIMAL.replace("at R1 end", "at R2 end"))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0] == f"{path}:11:20: error: unknown feeder 'R2'"
    assert lines[1] == "   11 | der PV1 pv 2 MW at R2 end"
    assert lines[2] == "      |                    ^^"
    assert lines[3] == "  hint: did you mean 'R1'?"
    assert lines[-1] == f"{path}: 1 problem found"


def test_a_misspelt_keyword_is_underlined_as_one_word(folder, capsys):
    path = folder.write(MINIMAL.replace("at R1 end", "at R1 endd"))
    assert main(["check", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"{path}:11:23: error: unexpected 'endd'"
    assert lines[2] == "      |                       ^^^^"
    assert lines[3].startswith("  hint: expected ") and lines[3].endswith("did you mean 'end'?")


def test_summary_counts_take_singular_and_plural(folder, capsys):
    one = MINIMAL + """calendar {
  season all months jan feb mar apr may jun jul aug sep oct nov dec
  days all working 250 saturday 50 holiday 65
  hours 1
}
study { bid points 1 }
bids { pv up 10 % at buy }
"""
    assert main(["check", str(folder.write(one))]) == 0
    out = capsys.readouterr().out
    assert "calendar: 1 season x 3 day types x 1 step = 3 intervals, 365 days\n" in out
    assert "\nfeeder:\n" in out and "\nfeeders:" not in out
    assert "  study: 1 bid point per direction," in out
    assert "\n  bid rule:\n" in out
    assert main(["check", str(CASE_STUDY)]) == 0
    out = capsys.readouterr().out
    assert "calendar: 4 seasons x 3 day types x 24 steps = 288 intervals, 365 days" in out
    assert "\nfeeders:\n" in out and "  study: 10 bid points per direction," in out and "\n  bid rules:\n" in out


@pytest.mark.parametrize("content", [
    b"",
    b"\x00\x01\x02binary\xff",
    b"scenario \"x\"\n\xc3\x28 bad utf-8\n",
    b"\xef\xbb\xbf",  # a byte-order mark and nothing else
    b"scenario \"x\"\n" + b"der " * 1_200_000,
    b"}" * 10_000,
])
def test_bad_input_never_shows_a_traceback(tmp_path, content):
    path = tmp_path / "bad.flex"
    path.write_bytes(content)
    result = run_cli("check", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.stderr.startswith(f"{path}:")


def test_missing_file_and_folder(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nope.flex")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["check", str(tmp_path)]) == 2
    assert "folder" in capsys.readouterr().err


def test_several_files_report_each_and_fail_if_any_fails(folder, capsys):
    good = folder.write(MINIMAL, "good.flex")
    bad = folder.write(MINIMAL + "limits { voltage 1.2 .. 1.0 pu }", "bad.flex")
    assert main(["check", "--quiet", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert f"{good}: OK" in captured.out
    assert f"{bad}:12:10: error: the voltage band is inverted" in captured.err


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "check" in capsys.readouterr().out


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("flexopt ")


def test_the_command_returns_mains_exit_code_and_leaves_the_last_collection_nothing_to_walk(monkeypatch, tmp_path):
    """`flexopt` and `python -m flexopt` run :func:`entry`: main's exit code, then every object frozen so that the
    interpreter's garbage collections at exit (about 1 s after a run) have nothing to walk."""
    import gc
    import tomllib
    from pathlib import Path

    from flexopt.cli import entry

    scripts = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["flexopt"] == "flexopt.cli:entry"
    bad = tmp_path / "bad.flex"
    bad.write_text("scenario {\n")
    monkeypatch.setattr(sys, "argv", ["flexopt", "check", "-q", str(bad)])
    try:
        assert entry() == 2
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
