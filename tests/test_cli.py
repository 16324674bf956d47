"""`python -m experiments`: a bad command line is ONE line on stderr and exit status 2, before any work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from experiments import __main__ as command

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def never_runs(monkeypatch):
    """Fails the test if an experiment or `all` would start."""
    ran = []
    monkeypatch.setattr("experiments.gd_1d.main", lambda argv: ran.append(argv) or 0)
    monkeypatch.setattr("experiments.report.run_all", lambda *a, **k: ran.append(a) or [])
    monkeypatch.setenv("JAXOPT_COURSE_CACHE", "off")
    return ran


@pytest.mark.parametrize(
    "argv, words",
    [
        (["gd_1d", "--seed", str(2**70)], ["--seed", "[0, 2**32)"]),
        (["gd_1d", "--seed", "2**70"], ["--seed", "'2**70'"]),
        (["all", "--seed", str(2**32)], ["--seed", "[0, 2**32)"]),
        (["gd_1d", "--seed", "-1"], ["--seed"]),
        (["list", "--foo"], ["unrecognized arguments: --foo"]),
        (["gd_1d", "--out", ""], ["--out", "empty"]),
        (["all", "--out", "  "], ["--out", "empty"]),
        (["explorer", "--bogus"], ["unrecognized arguments: --bogus"]),
        (["gd_1d", "--seed"], ["--seed", "expected one argument"]),
        (["no_such_experiment"], ["unknown experiment 'no_such_experiment'", "explorer"]),
        (["all", "--jobs", "0"], ["--jobs", "positive integer"]),
        (["all", "--jobs", "two"], ["--jobs", "'two'"]),
        (["gd_1d", "--jobs", "2"], ["unrecognized arguments: --jobs"]),
    ],
)
def test_bad_command_lines_are_one_line_and_status_2(argv, words, never_runs, capsys):
    """Each bad command line: exit status 2, exactly one line on stderr naming the problem, nothing run."""
    assert command.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ") and all(word in lines[0] for word in words), lines[0]
    assert captured.out == "" and never_runs == []


def test_good_options_reach_the_experiment(never_runs):
    """The largest valid seed and a real folder pass through unchanged."""
    argv = ["--seed", str(2**32 - 1), "--out", "some/folder", "--quick"]
    assert command.main(["gd_1d", *argv]) == 0
    assert never_runs == [argv]


def test_the_real_command_line_exits_2_without_a_traceback():
    """`python -m experiments gd_1d --seed 2**70` as a process: status 2, one line, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "experiments", "gd_1d", "--seed", str(2**70)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
