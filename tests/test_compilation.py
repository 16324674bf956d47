"""``jaxopt_course.compilation``: the package's programs compile with its CPU options, give the
same numbers as XLA's defaults to float32 rounding, and leave a user's own XLA flags, and the
lowering of the user's own programs, alone."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import jax
import numpy as np
import pytest
from compiles import Traces, compiles

import jaxopt_course as jc
from jaxopt_course import compilation, data, models, training
from jaxopt_course.conventions import keras, pytorch


@pytest.fixture(scope="module")
def task():
    x, y = data.parabola(num_samples=96, numpy_seed=0)
    params, apply = models.mlp(jax.random.PRNGKey(0), 1, (16, 1))
    return params, models.supervised_loss(apply), (x, y)


@pytest.fixture(scope="module")
def xla_default_runs():
    """The runs compiled at XLA's defaults, by optimiser: its library and short-run cases compare
    against the one run (the reference's compiler options name every option either sets)."""
    return {}


# XLA's own values of the options the package sets, named: the suite's process holds the short-run
# ones in XLA_FLAGS (conftest.py), which a plain jax.jit would compile with.
XLA_DEFAULTS = {
    "xla_backend_optimization_level": 3,
    "xla_cpu_use_fusion_emitters": True,
    "xla_cpu_parallel_codegen_split_count": 32,
}


@pytest.mark.parametrize("short_runs", [False, True], ids=["library", "short_runs"])
@pytest.mark.parametrize(
    "optimizer",
    [
        pytorch.sgd(1e-3, momentum=0.9, nesterov=True),
        jc.adam(1e-3),
        pytorch.rmsprop(1e-3, centered=True),
        keras.adam(1e-3, amsgrad=True),
    ],
    ids=["nesterov", "adam", "centered_rmsprop", "keras_amsgrad"],
)
def test_fit_with_the_options_equals_xla_defaults_to_float32_rounding(
    task, xla_default_runs, optimizer, short_runs, monkeypatch
):
    """fit (compiled with CPU_OPTIONS, and SHORT_RUN_OPTIONS too in an experiments' process)
    against the same run compiled by a plain ``jax.jit``."""
    params, loss_fn, batch = task
    if id(optimizer) not in xla_default_runs:  # compiled in a library process, as the fixture leaves it
        trainer = training.make_train(loss_fn, training.make_plan(96, 8, num_epochs=3))
        xla_default_runs[id(optimizer)] = jax.jit(
            lambda p, o, d, k: trainer(p, o, d, k), compiler_options=XLA_DEFAULTS
        )(params, optimizer, batch, jax.random.PRNGKey(1))
    default = xla_default_runs[id(optimizer)]
    if short_runs:
        monkeypatch.setattr(compilation, "_short_runs", True)
    ours = training.fit(
        loss_fn, params, optimizer, batch, batch_size=8, num_epochs=3, key=jax.random.PRNGKey(1), progress=False
    )
    np.testing.assert_allclose(ours.step_loss, default.step_loss, rtol=2e-5, atol=1e-7)
    for a, b in zip(jax.tree.leaves(ours.params), jax.tree.leaves(default.params)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-7)


def test_options_apply_on_cpu_and_can_be_switched_off(monkeypatch):
    assert jax.default_backend() == "cpu"
    assert compilation.options() == compilation.CPU_OPTIONS != {}
    monkeypatch.setattr(compilation, "CPU_OPTIONS", {})
    assert compilation.options() is None


def test_a_package_program_inside_a_users_jit_is_a_plain_nested_jit():
    """jax refuses compiler options on a nested jit; ours drops them there (the outer program's apply)."""
    params = jax.jit(lambda key: models.mlp(key, 1, (4, 1))[0])(jax.random.PRNGKey(0))
    direct = models.mlp(jax.random.PRNGKey(0), 1, (4, 1))[0]
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(direct)))


@pytest.fixture(autouse=True)
def library_process(monkeypatch):
    """Every test runs as a library process: no short-run options, not opted in to the
    straight-line Threefry lowering, and JAX's own CPU rule for it in place (the suite's process
    is one of short runs, see conftest.py); the process's own state is restored after."""
    from jax._src.interpreters import mlir
    from jax._src.random import threefry2x32

    rules = mlir._platform_specific_lowerings["cpu"]
    before = rules.get(threefry2x32.threefry2x32_p)
    mlir.register_lowering(threefry2x32.threefry2x32_p, threefry2x32._threefry2x32_cpu_lowering_rule, platform="cpu")
    monkeypatch.setattr(compilation, "_short_runs", False)
    monkeypatch.setattr(compilation, "_user_flags", frozenset())
    monkeypatch.setattr(compilation, "_threefry_opted_in", False)
    monkeypatch.setattr(compilation, "_threefry_lowering_chosen", False)
    yield
    if before is None:
        rules.pop(threefry2x32.threefry2x32_p, None)
    else:
        rules[threefry2x32.threefry2x32_p] = before


def test_use_in_process_adds_only_the_flags_the_user_did_not_set(monkeypatch):
    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    monkeypatch.setattr(compilation, "_accelerator_installed", lambda: False)
    monkeypatch.setattr(compilation, "_backend_started", lambda: False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=3 --xla_dump_to=/tmp/somewhere")
    compilation.use_in_process()
    flags = os.environ["XLA_FLAGS"].split()
    assert "--xla_backend_optimization_level=3" in flags and "--xla_dump_to=/tmp/somewhere" in flags
    assert (
        "--xla_cpu_use_fusion_emitters=false" in flags
        and len(flags) == 2 + len(compilation.CPU_OPTIONS | compilation.SHORT_RUN_OPTIONS) - 1
    )
    # the package's programs get the short-run options too, but not the level the user chose,
    # not even inside long_runs (compiler options would override XLA_FLAGS)
    assert compilation.options() == {"xla_cpu_parallel_codegen_split_count": 1, "xla_cpu_use_fusion_emitters": False}
    with compilation.long_runs():
        assert "xla_backend_optimization_level" not in compilation.options()
    compilation.use_in_process()  # a second call: XLA_FLAGS now holds our flags too, and nothing changes
    assert os.environ["XLA_FLAGS"].split() == flags and compilation._user_flags == {
        "xla_backend_optimization_level",
        "xla_dump_to",
    }


def test_a_library_process_leaves_the_users_xla_flags_alone(monkeypatch):
    """Compiler options override XLA_FLAGS, so options() leaves out what the user named there."""
    monkeypatch.setattr(
        compilation, "_user_flags", compilation._named_flags("--xla_backend_optimization_level=3 --xla_dump_to=/tmp/x")
    )
    assert compilation.options() == {"xla_cpu_parallel_codegen_split_count": 1}


def test_short_runs_compile_at_level_0_and_long_runs_at_level_1(monkeypatch):
    assert compilation.options() == compilation.CPU_OPTIONS
    monkeypatch.setattr(compilation, "_short_runs", True)
    short = compilation.options()
    assert short["xla_backend_optimization_level"] == 0 and short["xla_cpu_use_fusion_emitters"] is False
    assert short["xla_cpu_parallel_codegen_split_count"] == 1
    with compilation.long_runs():
        assert compilation.options() == compilation.CPU_OPTIONS | {"xla_cpu_use_fusion_emitters": False}
        with compilation.long_runs(xla_cpu_use_fusion_emitters=True):
            assert compilation.options() == compilation.CPU_OPTIONS | {"xla_cpu_use_fusion_emitters": True}
        assert compilation.options()["xla_cpu_use_fusion_emitters"] is False
    assert compilation.options() == short


def test_long_runs_restore_the_level_of_cpu_options_and_hold_for_their_thread_only(monkeypatch):
    import threading

    monkeypatch.setattr(compilation, "_short_runs", True)
    monkeypatch.setattr(compilation, "CPU_OPTIONS", {})
    with compilation.long_runs():
        assert compilation.options() == {
            "xla_backend_optimization_level": 3,
            "xla_cpu_use_fusion_emitters": False,
        }  # XLA's own level
        seen = []
        thread = threading.Thread(target=lambda: seen.append(compilation.options()))
        thread.start()
        thread.join()
    assert seen == [compilation.SHORT_RUN_OPTIONS]
    monkeypatch.setattr(compilation, "_short_runs", False)
    with compilation.long_runs():
        assert compilation.options() is None  # a library process with CPU_OPTIONS = {}: XLA's defaults


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"fusion_emitters": True}, ValueError, "'fusion_emitters' is not an XLA option"),
        (
            {"xla_backend_optimization_level": [1]},
            TypeError,
            "xla_backend_optimization_level must be a bool, int, float or str",
        ),
    ],
    ids=["not_an_xla_name", "a_list_value"],
)
def test_long_runs_refuses_bad_options_by_name_before_anything_runs(options, error, match):
    with pytest.raises(error, match=match):
        with compilation.long_runs(**options):
            raise AssertionError("the block must not run")


def test_the_options_reach_xla():
    """An option XLA does not know is refused at compile time, by jit's programs and by sweeps'."""
    from jaxopt_course.sweeps import sweep

    program = compilation.jit(lambda x: x * 2.0 + 1.0)
    with compilation.long_runs(xla_no_such_option=1), pytest.raises(Exception, match="xla_no_such_option"):
        program(jax.numpy.ones(3))
    with compilation.long_runs(xla_no_such_option=1), pytest.raises(Exception, match="xla_no_such_option"):
        sweep(lambda h, key: {"y": h["a"] * 2.0}, {"a": [1.0, 2.0]}, key=jax.random.PRNGKey(0), progress=False)


def test_an_option_the_installed_xla_does_not_know_is_dropped_with_one_warning(monkeypatch):
    """A name in CPU_OPTIONS that XLA refuses (an XLA too old or too new for it) no longer breaks
    every program: options() drops it, once checked, with one RuntimeWarning naming it."""
    known = dict(compilation.CPU_OPTIONS)
    monkeypatch.setattr(compilation, "CPU_OPTIONS", known | {"xla_no_such_option": 1})
    monkeypatch.setattr(compilation, "_verdicts", {})
    monkeypatch.setattr(compilation, "_warned", set())
    program = compilation.jit(lambda x: x * 2.0 + 1.0)
    with pytest.warns(RuntimeWarning, match="xla_no_such_option") as record:
        np.testing.assert_array_equal(program(jax.numpy.ones(3)), np.full(3, 3.0))
    assert len(record) == 1 and "xla_backend_optimization_level" not in str(record[0].message)
    # checked once: the same set again, and another set naming it (short runs), warn no more
    assert compilation.options() == known
    monkeypatch.setattr(compilation, "_short_runs", True)
    assert (
        "xla_no_such_option" not in compilation.options()
        and compilation.options()["xla_cpu_use_fusion_emitters"] is False
    )
    x, y = data.parabola(num_samples=16, numpy_seed=0)
    params, apply = models.mlp(jax.random.PRNGKey(0), 1, (4, 1))
    history = jc.fit(
        models.supervised_loss(apply),
        params,
        jc.sgd(0.1),
        (x, y),
        batch_size=8,
        num_epochs=2,
        key=jax.random.PRNGKey(1),
        progress=False,
    )
    assert np.isfinite(history.step_loss).all()


def test_the_probe_of_the_options_is_one_compile_per_set(monkeypatch):
    monkeypatch.setattr(
        compilation, "CPU_OPTIONS", {"xla_backend_optimization_level": 2, "xla_cpu_parallel_codegen_split_count": 3}
    )  # a set no other test uses
    with compiles() as names:
        compilation.options()
        compilation.options()
    assert len(names) == 1 and _PROBE in names[0]
    assert _compiled_names(compilation.options) == []


_PROBE = "_xla_option_probe"


def _compiled_names(function, *args):
    """The programs compiled by ``function(*args)``, less the check of a new set of options."""
    with compiles() as names:
        jax.block_until_ready(function(*args))
    return [name for name in names if _PROBE not in (name or "")]


def test_a_program_compiles_once_per_set_of_options(monkeypatch):
    """Inside long_runs a package program is a new compile with the other options; each is kept."""
    monkeypatch.setattr(compilation, "_short_runs", True)
    program = compilation.jit(lambda x: jax.numpy.tanh(x) * 3.0 + 1.0)
    x = jax.numpy.linspace(-2.0, 2.0, 7)
    assert len(_compiled_names(program, x)) == 1
    with compilation.long_runs():
        assert len(_compiled_names(program, x)) == 1
        assert _compiled_names(program, x) == []
    assert _compiled_names(program, x) == []
    assert len(program._jitted) == 2


def test_use_in_process_changes_nothing_where_an_accelerator_may_be_used(monkeypatch):
    monkeypatch.setattr(compilation, "_backend_started", lambda: False)
    monkeypatch.setenv("JAX_PLATFORMS", "cuda,cpu")
    monkeypatch.setenv("XLA_FLAGS", "")
    compilation.use_in_process()
    assert os.environ["XLA_FLAGS"] == ""
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    compilation.use_in_process()
    assert "--xla_backend_optimization_level=0" in os.environ["XLA_FLAGS"]


def test_use_in_process_changes_nothing_once_the_backend_has_started(monkeypatch):
    """Too late to matter, and the changed variable would leak into every subprocess started later."""
    jax.numpy.zeros(1).block_until_ready()
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv("XLA_FLAGS", "")
    compilation.use_in_process()
    assert os.environ["XLA_FLAGS"] == ""


def _lowered_with(rule, function, *args):
    """``function(*args)`` compiled by a fresh jit while ``rule`` lowers Threefry on the CPU, and its text."""
    from jax._src.interpreters import mlir
    from jax._src.random import threefry2x32

    mlir.register_lowering(threefry2x32.threefry2x32_p, rule, platform="cpu")  # the fixture restores JAX's
    lowered = jax.jit(lambda *a: function(*a)).lower(*args)
    return lowered.compile()(*args), lowered.as_text()


@pytest.mark.parametrize(
    "draw, loops_of_its_own",
    [
        (lambda k: jax.random.uniform(jax.random.fold_in(k, 7), (5, 3)), False),
        (lambda k: jax.random.permutation(k, 1000), False),
        (lambda k: jax.random.randint(k, (64,), 0, 1000), False),
        (lambda k: jax.random.normal(jax.random.split(k, 3)[2], (17,)), False),
        (lambda k: training.distinct_draws(k, 1000, 128), True),
    ],
    ids=["fold_in_uniform", "permutation", "randint", "split_normal", "distinct_draws"],
)
def test_the_straight_line_threefry_gives_jaxs_own_bits(draw, loops_of_its_own):
    """The package's Threefry lowering on the CPU: the very numbers of JAX's own (looped) one, and no loop."""
    from jax._src.random import threefry2x32

    key = jax.random.PRNGKey(11)
    looped, looped_text = _lowered_with(threefry2x32._threefry2x32_cpu_lowering_rule, draw, key)
    straight, straight_text = _lowered_with(threefry2x32._threefry2x32_lowering_rule, draw, key)
    np.testing.assert_array_equal(np.asarray(looped), np.asarray(straight))
    assert "stablehlo.while" in looped_text
    assert loops_of_its_own or "stablehlo.while" not in straight_text


def _lowers_with_a_loop() -> bool:
    return "stablehlo.while" in jax.jit(lambda k: jax.random.uniform(k, (4,))).lower(jax.random.PRNGKey(0)).as_text()


def test_a_library_process_registers_no_threefry_lowering():
    """Building and running package programs (a draw of a new layout, a fit) in a library process
    changes nothing process-wide: choose_threefry_lowering is a no-op without the opt-in."""
    assert _lowers_with_a_loop()
    models.mlp(jax.random.PRNGKey(0), 1, (7, 3, 2))
    assert compilation.choose_threefry_lowering() is False and compilation._threefry_lowering_chosen is False
    assert _lowers_with_a_loop()


@pytest.mark.parametrize("unrolled", [True, False], ids=["default", "switched_off"])
def test_use_in_process_opts_in_to_the_straight_line_threefry(monkeypatch, unrolled):
    monkeypatch.setattr(compilation, "UNROLLED_THREEFRY", unrolled)
    monkeypatch.setattr(compilation, "_backend_started", lambda: True)  # leave XLA_FLAGS alone
    compilation.use_in_process()
    assert compilation._threefry_lowering_chosen is unrolled
    assert _lowers_with_a_loop() is not unrolled
    assert compilation.choose_threefry_lowering() is unrolled


_USERS_PROGRAM = """
import jax
import jaxopt_course as jc
from jaxopt_course import data, models

def lowered():
    return jax.jit(lambda k: jax.random.uniform(k, (3,))).lower(jax.random.key(0)).as_text()

before = lowered()
x, y = data.parabola(num_samples=32, numpy_seed=0)
params, apply = models.mlp(jax.random.PRNGKey(0), 1, (4, 1))
jc.fit(models.supervised_loss(apply), params, jc.adam(1e-2), (x, y), batch_size=8, num_epochs=2, key=jax.random.PRNGKey(1), progress=False)
print("same" if lowered() == before else "changed")
"""


@pytest.mark.slow
def test_a_fit_leaves_the_lowering_of_the_users_programs_alone():
    """In a fresh process: a user's program lowered before and after one jc.fit has the same text.

    The process keeps the suite's ``XLA_FLAGS`` (quicker compiles): they reach XLA's backend only,
    after the lowering compared here, and the Threefry rule depends on no flag."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _USERS_PROGRAM], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "same"


# jax 0.6.1 is the first release with a top-level jax.shard_map, and it takes check_vma there
# (0.6.0 has only jax.experimental.shard_map.shard_map, with check_rep): read from the wheels.
_FIRST_JAX_WITH_SHARD_MAP_CHECK_VMA = (0, 6, 1)


def _floor(requirements: list[str], name: str) -> tuple[int, ...]:
    (spec,) = [r for r in requirements if r.split(">=")[0].strip() == name]
    return tuple(int(part) for part in spec.split(">=")[1].split(",")[0].strip().split("."))


def test_the_declared_jax_floor_has_jax_shard_map_with_check_vma():
    """sweep_programs calls jax.shard_map(..., check_vma=False): pyproject's floors for jax and
    jaxlib must be a release that has it, and the installed jax must be at least that."""
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    jax_floor, jaxlib_floor = _floor(project["dependencies"], "jax"), _floor(project["dependencies"], "jaxlib")
    assert jax_floor == jaxlib_floor >= _FIRST_JAX_WITH_SHARD_MAP_CHECK_VMA
    installed = tuple(int(part) for part in jax.__version__.split(".")[:3] if part.isdigit())
    assert installed >= jax_floor
    assert "check_vma" in inspect.signature(jax.shard_map).parameters


def test_a_sweep_compiles_with_the_package_options_once_per_set(monkeypatch):
    """A sweep's program (traced once) is compiled again inside long_runs, with the same numbers."""
    from jaxopt_course.sweeps import sweep

    traces = Traces()

    def run_fn(hparams, key):
        traces()
        x = jax.lax.fori_loop(
            0, 20, lambda _, x: x - hparams["learning_rate"] * jax.numpy.sin(x), jax.random.normal(key, (3,))
        )
        return {"x": x.sum()}

    monkeypatch.setattr(compilation, "_short_runs", True)
    grid = {"learning_rate": [0.1, 0.2, 0.3]}
    results = []
    run = lambda: results.append(sweep(run_fn, grid, key=jax.random.PRNGKey(0), progress=False).final("x"))  # noqa: E731
    programs = lambda: [name for name in _compiled_names(run) if name == "jit(run)"]  # noqa: E731  (the sweep's own)
    assert len(programs()) == 1
    with compilation.long_runs():
        assert len(programs()) == 1
        assert programs() == []
    assert programs() == [] and traces.count == 1
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)
