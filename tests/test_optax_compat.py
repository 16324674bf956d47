"""optax's own shipped tests, run unchanged against ``jaxopt_course.conventions.optax_compat``.

The test here starts a second pytest on the test files that ship inside the installed optax, with
this module loaded as a plugin (``-p test_optax_compat``).  As a plugin it replaces every optax
function that ``conventions.optax_compat`` implements by ours, everywhere optax exports it, before the
test modules are imported, and keeps only the tests that exercise those names (the subset below).
Every test that fails is either one that fails on stock optax too, or is listed with its reason in
the known-differences table of docs/optax_compat.md; the table is enforced both ways.

Reproduce by hand (``ours`` or ``stock``)::

    JAXOPT_OPTAX_COMPAT=ours python -m pytest -p test_optax_compat -q -n 2 -p no:cacheprovider \\
        -c /dev/null --rootdir /tmp -o filterwarnings= $(python tests/test_optax_compat.py files)

(the test also sets ``XLA_FLAGS`` to the package's short-run options, see ``SHORT_RUN_FLAGS``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from jaxopt_course import compilation

ENV = "JAXOPT_OPTAX_COMPAT"
ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "optax_compat.md"
FILES = [
    "_src/alias_test.py",
    "_src/transform_test.py",
    "_src/float64_test.py",
    "schedules/_schedule_test.py",
    "schedules/_inject_test.py",
    "transforms/_clipping_test.py",
    "transforms/_adding_test.py",
]
OPTIMIZERS = {"sgd", "sgd_mom", "adam", "adamw", "amsgrad", "nadam", "rmsprop", "adagrad", "adadelta"}
# tests without an optimiser parameter that exercise our names (class::test, or a whole class::)
NAMED = [
    "Float64Test::test_mixed_dtype_input_outputs_adagrad",
    "Float64Test::test_mixed_dtype_input_outputs_adam",
    "Float64Test::test_mixed_dtype_input_outputs_adamw",
    "Float64Test::test_mixed_dtype_input_outputs_add_decayed_weights",
    "Float64Test::test_mixed_dtype_input_outputs_clip",
    "Float64Test::test_mixed_dtype_input_outputs_clip_by_global_norm",
    "Float64Test::test_mixed_dtype_input_outputs_rmsprop",
    "Float64Test::test_mixed_dtype_input_outputs_scale_by_adam",
    "Float64Test::test_mixed_dtype_input_outputs_scale_by_rms",
    "Float64Test::test_mixed_dtype_input_outputs_scale_by_stddev",
    "Float64Test::test_mixed_dtype_input_outputs_sgd",
    "Float64Test::test_mixed_dtype_input_outputs_trace",
    "Float64Test::test_mixed_dtype_input_outputs_trace_with_nesterov",
    "ConstantTest::",
    "PolynomialTest::",
    "PiecewiseConstantTest::",
    "ExponentialTest::",
    "CosineDecayTest::",
    "WarmupCosineDecayTest::",
    "PiecewiseInterpolateTest::",
    "OneCycleTest::",
    "InjectHyperparamsTest::",
    "ClippingTest::test_clip",
    "ClippingTest::test_clip_by_global_norm",
    "AddingTest::test_add_decayed_weights",
    "AddingTest::test_none_argument",
    "TransformTest::test_scalers_adam",
    "TransformTest::test_scalers_rmsprop",
    "TransformTest::test_scalers_stddev",
    "TransformTest::test_scalers_adadelta",
    "TransformTest::test_rms_match_adam",
]
# every test parameterised by an optimiser we implement is kept; a list of prefixes to leave out
# (empty: the subset is "every test of these files that exercises our names")
LEFT_OUT: tuple[str, ...] = ()


# optax's tests are ~300 short programs: compiling them is most of their time, and XLA's lowest
# LLVM level (the package's short-run options) halves it; the outcomes are the same. The user's
# XLA_FLAGS come after ours and win.
SHORT_RUN_FLAGS = tuple(f"--{name}={str(value).lower()}" for name, value in compilation.SHORT_RUN_OPTIONS.items())


def optax_dir() -> Path:
    import optax

    return Path(optax.__file__).parent


def optax_test_files() -> list[str]:
    return [str(optax_dir() / name) for name in FILES]


# --------------------------------------------------------------------------- the plugin side
def _replacements() -> dict:
    """optax's name -> ours, for every name conventions.optax_compat implements."""
    from jaxopt_course.conventions import optax_compat as ours

    return {name: getattr(ours, name) for name in ours.__all__}


def _swap_in_ours() -> None:
    """Replaces each optax function we implement by ours in every loaded optax module."""
    import optax  # noqa: F401 - loads the package and its submodules
    import optax._src.alias  # noqa: F401
    import optax.schedules  # noqa: F401
    import optax.transforms  # noqa: F401

    replacements = _replacements()
    originals = {id(getattr(optax, name)): ours for name, ours in replacements.items() if hasattr(optax, name)}
    originals.update(
        {id(getattr(optax.schedules, n)): f for n, f in replacements.items() if hasattr(optax.schedules, n)}
    )
    for module in [m for name, m in list(sys.modules.items()) if name == "optax" or name.startswith("optax.")]:
        for attribute, value in list(vars(module).items()):
            if callable(value) and id(value) in originals:
                setattr(module, attribute, originals[id(value)])


def pytest_configure(config):
    if os.environ.get(ENV) == "ours":
        _swap_in_ours()


def _selected(item) -> bool:
    node = item.nodeid.split("::", 1)[-1]
    if any(node.startswith(prefix) for prefix in LEFT_OUT):
        return False
    params = getattr(getattr(item, "obj", None), "__x_params_repr__", "") or ""
    found = re.search(r"opt_name='([a-z_0-9]+)'", params)
    if found:
        return found.group(1) in OPTIMIZERS
    return any(node.startswith(entry) if entry.endswith("::") else node == entry for entry in NAMED)


def pytest_collection_modifyitems(config, items):
    if os.environ.get(ENV) in ("ours", "stock"):
        items[:] = [item for item in items if _selected(item)]


# --------------------------------------------------------------------------- the test side
def run_optax_tests(mode: str, junit: Path, workers: int = 1) -> dict[str, str]:
    """Runs optax's tests (``mode`` "ours" or "stock"); returns test id -> passed/failed/skipped."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "test_optax_compat",
        "-q",
        "-p",
        "no:cacheprovider",
        "-c",
        os.devnull,
        "--rootdir",
        str(junit.parent),
        "-o",
        "filterwarnings=",
        f"--junitxml={junit}",
    ]
    if workers > 1:
        command += ["-n", str(workers)]
    else:
        command += ["-p", "no:xdist"]
    env = {
        **os.environ,
        ENV: mode,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]),
        "XLA_FLAGS": " ".join([*SHORT_RUN_FLAGS, os.environ.get("XLA_FLAGS", "")]).strip(),
    }
    subprocess.run(command + optax_test_files(), env=env, cwd=junit.parent, capture_output=True, text=True, timeout=900)
    outcomes = {}
    for case in ElementTree.parse(junit).iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        kinds = {child.tag for child in case}
        outcomes[name] = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
    return outcomes


def documented(section: str) -> dict[str, str]:
    """The rows ``| test id | reason |`` of one table of docs/optax_compat.md."""
    text = DOC.read_text()
    part = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| (.+?) \|$", part, flags=re.MULTILINE)
    return dict(rows)


@pytest.mark.slow
def test_optax_own_tests_pass_against_conventions_optax(tmp_path):
    """optax's shipped tests (the subset above) pass against conventions.optax_compat, except the ones
    that fail on stock optax too and the known differences, both listed in docs/optax_compat.md."""
    outcomes = run_optax_tests("ours", tmp_path / "ours.xml", workers=1)
    failed = {name for name, outcome in outcomes.items() if outcome == "failed"}
    stock_failures = set(documented("Failing on stock optax"))
    known = set(documented("Known differences"))
    assert len(outcomes) > 300, f"too few optax tests ran ({len(outcomes)}): was the plugin loaded?"
    assert failed <= stock_failures | known, f"new failures: {sorted(failed - stock_failures - known)}"
    assert known <= failed, f"listed as known differences but passing: {sorted(known - failed)}"
    counts = re.search(r"(\d+) of (\d+) optax tests pass", DOC.read_text())
    passed = sum(outcome == "passed" for outcome in outcomes.values())
    ran = len(outcomes) - sum(outcome == "skipped" for outcome in outcomes.values())
    assert counts and (int(counts[1]), int(counts[2])) == (passed, ran), (
        f"docs/optax_compat.md: update the count to {passed} of {ran}"
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["files"]:
        print(" ".join(optax_test_files()))
    else:  # python tests/test_optax_compat.py ours|stock: the counts
        results = run_optax_tests(sys.argv[1], Path("/tmp") / f"optax_compat_{sys.argv[1]}.xml", workers=2)
        for name, outcome in sorted(results.items()):
            if outcome == "failed":
                print("FAILED", name)
        ran = {n: o for n, o in results.items() if o != "skipped"}
        print(f"{sum(o == 'passed' for o in ran.values())} of {len(ran)} passed ({len(results) - len(ran)} skipped)")
