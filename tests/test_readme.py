"""The README's commands are the ones CI runs, and its quick start runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_test_command() -> str:
    text = (ROOT / "README.md").read_text()
    (line,) = [line for line in text.splitlines() if "pip install" in line and "pytest" in line]
    return line.split("&&")[-1].strip()


def test_ci_runs_the_readme_test_command():
    """.ci/run ends with exactly the test command the README gives."""
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert ci_lines[-1] == readme_test_command()


def test_quick_start_runs_and_converges():
    """The README's quick start trains with jc.adam inside optax.chain to a loss near 0."""
    text = (ROOT / "README.md").read_text()
    code = re.search(r"## Quick start\n\n```python\n(.*?)```", text, re.S).group(1)
    code = code.replace("print(float(loss(params)))", "final = float(loss(params))")
    namespace: dict = {}
    exec(compile(code, "README quick start", "exec"), namespace)  # noqa: S102 - the README's own code
    assert namespace["final"] < 1e-3
    assert len([line for line in code.splitlines() if line.strip()]) <= 11
