"""The README's commands are the ones CI runs, and its quick start runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_test_command() -> str:
    text = (ROOT / "README.md").read_text()
    (line,) = [line for line in text.splitlines() if "pip install" in line and "pytest" in line]
    return line.split("&&")[-1].strip()


def test_ci_runs_the_readme_test_command():
    """.ci/run ends with exactly the test command the README gives."""
    ci_lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ci_lines[-1] == readme_test_command()


@pytest.mark.slow
def test_quick_start_runs_and_converges():
    """The README's quick start (jc.adam inside optax.chain) reaches a loss near 0, and its
    digits example classifies held-out digits (accuracy > 0.9) and its sweep finds a finite best."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    first, second = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len([line for line in first.splitlines() if line.strip()]) <= 11
    namespace: dict = {}
    exec(
        compile(
            first.replace("print(float(loss(params)))", "final = float(loss(params))"), "README quick start", "exec"
        ),
        namespace,
    )  # noqa: S102
    assert namespace["final"] < 1e-3
    second = second.replace("eval_data=test)", "eval_data=test, progress=False)").replace(
        'print(f"test accuracy {accuracy[-1]:.3f}")', ""
    )
    second = second.replace('print(result.best("loss"))', 'best = result.best("loss")')
    exec(compile(second, "README training example", "exec"), namespace)  # noqa: S102
    assert namespace["history"].epoch_loss[-1] < namespace["history"].epoch_loss[0]
    assert float(namespace["accuracy"][-1]) > 0.9  # digits: a 64-64-10 MLP reaches about 0.97 on the held-out quarter
    assert namespace["result"].num_configurations == 6 and namespace["best"]["score"] < 5.0
