"""The project's own style tools pass: ruff's lint (pycodestyle, pyflakes, import order) and its
formatter at 120 columns, with the configuration in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ruff(*arguments: str) -> subprocess.CompletedProcess:
    """ruff of the test extras (pip install -e ".[test]"), run on the project root."""
    return subprocess.run([sys.executable, "-m", "ruff", *arguments], cwd=ROOT, capture_output=True, text=True)


def test_ruff_lint_passes():
    """`ruff check .`: no unused import, no undefined name, imports in order."""
    result = ruff("check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]


def test_ruff_format_leaves_every_file_as_it_is():
    """`ruff format --check .`: the code is formatted at 120 columns."""
    result = ruff("format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
