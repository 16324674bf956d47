"""sweep: one compile per grid shape, equal to one-at-a-time runs, chunked, sharded, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from compiles import Traces

import jaxopt_course as jc
from jaxopt_course import compilation, training
from jaxopt_course.sweeps import Zip, expand_grid, sweep
from jaxopt_course.sweeps.results import SweepResult

X = jnp.linspace(-1.0, 1.0, 32).reshape(-1, 1)
Y = 3.0 * X - 1.0
PARAMS = {"w": jnp.zeros((1, 1)), "b": jnp.zeros((1,))}
PLAN = training.make_plan(32, 8, num_epochs=4)


def loss_fn(params, batch):
    x, y = batch
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def run_fn(hparams, key):
    history = training.train(loss_fn, PARAMS, jc.sgd(hparams["learning_rate"], hparams["momentum"]), (X, Y), key, PLAN)
    return {"epoch_loss": history.epoch_loss, "w": history.params["w"][0, 0]}


GRID = {"learning_rate": [0.01, 0.05, 0.2], "momentum": [0.0, 0.5]}


def test_grid_is_cartesian_with_last_key_fastest_and_zip_is_one_axis():
    """expand_grid: cartesian order, last key fastest; a Zip moves its keys together."""
    grid = expand_grid({"a": [1, 2], "b": [10, 20, 30]})
    np.testing.assert_array_equal(grid["a"], [1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(grid["b"], [10, 20, 30, 10, 20, 30])
    grid = expand_grid({"pair": Zip(a=[1, 2], b=[5, 6]), "c": [0, 1]})
    np.testing.assert_array_equal(grid["a"], [1, 1, 2, 2])
    np.testing.assert_array_equal(grid["b"], [5, 5, 6, 6])
    np.testing.assert_array_equal(grid["c"], [0, 1, 0, 1])


def test_sweep_equals_each_configuration_alone():
    """Every configuration and seed of the sweep equals run_fn called alone (float32 rounding)."""
    key = jax.random.PRNGKey(0)
    result = sweep(run_fn, GRID, seeds=2, key=key, progress=False)
    assert result.metrics["epoch_loss"].shape == (6, 2, 4)
    alone = jax.jit(run_fn)
    seed_keys = jax.random.split(key, 2)
    for i in range(6):
        hparams = {name: jnp.float32(values[i]) for name, values in result.grid.items()}
        for s in range(2):
            chex.assert_trees_all_close(
                jax.tree.map(lambda a: a[i, s], result.metrics), alone(hparams, seed_keys[s]), rtol=1e-5, atol=1e-7
            )


def counting_run_fn():
    """A fresh run function and the counter of its traces (a Python side effect runs once per trace)."""
    traces = Traces()

    def fresh_run(hparams, key):
        traces()
        return run_fn(hparams, key)

    return fresh_run, traces


def test_a_grid_traces_once_and_a_same_shape_grid_traces_zero_times():
    """One trace per grid shape, grid-key check included; new values of the same shape: no trace, no compile."""
    fresh_run, traces = counting_run_fn()
    sweep(fresh_run, GRID, key=jax.random.PRNGKey(0), progress=False)
    assert traces.count == 1
    other = sweep(
        fresh_run,
        {"learning_rate": [0.02, 0.1, 0.3], "momentum": [0.1, 0.9]},
        key=jax.random.PRNGKey(1),
        progress=False,
    )
    assert traces.count == 1
    assert other.grid["learning_rate"][-1] == np.float32(0.3)


def test_chunks_give_the_same_numbers_and_reuse_one_program():
    """chunk_size runs the grid in pieces (last one padded) through one compiled program."""
    fresh_run, traces = counting_run_fn()
    grid = {"learning_rate": np.geomspace(0.01, 0.3, 7), "momentum": [0.0, 0.5]}  # 14 configurations
    whole = sweep(fresh_run, grid, key=jax.random.PRNGKey(0), progress=False)
    chunked = sweep(fresh_run, grid, key=jax.random.PRNGKey(0), chunk_size=4, progress=False)
    chex.assert_trees_all_close(whole.metrics, chunked.metrics, rtol=1e-6)
    assert traces.count == 2  # the whole-grid shape and the chunk shape, four chunks


def test_lanes_split_a_chunk_over_the_cores_and_give_the_same_numbers(monkeypatch):
    """On CPU a chunk runs as one lane per core (uneven lanes padded): the numbers of one lane."""
    from jaxopt_course.sweeps import programs as sweep_programs

    cpu = jax.devices("cpu")[:1]
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert sweep_programs.lanes_for(tuple(cpu), 7, 1) == 4 and sweep_programs.lanes_for(tuple(cpu), 7, 2) == 4
    assert sweep_programs.lanes_for(tuple(cpu), 7, 4) == 2 and sweep_programs.lanes_for(tuple(cpu), 64, 32) == 2
    assert sweep_programs.lanes_for(tuple(cpu), 7, None) == 1
    grid = {"learning_rate": np.geomspace(0.01, 0.3, 7), "momentum": [0.5]}
    called = []
    original = compilation.Program.compiled
    monkeypatch.setattr(
        compilation.Program, "compiled", lambda self, chosen: called.append(1) or original(self, chosen)
    )
    lanes = sweep(run_fn, grid, seeds=2, key=jax.random.PRNGKey(0), devices=cpu, group_size=1, progress=False)
    assert len(called) == 4  # four lanes of two configurations, the last padded
    called.clear()
    one = sweep(run_fn, grid, seeds=2, key=jax.random.PRNGKey(0), devices=cpu, group_size=7, progress=False)
    assert len(called) == 1
    chex.assert_trees_all_close(lanes.metrics, one.metrics, rtol=1e-6, atol=1e-7)
    assert lanes.metrics["epoch_loss"].shape == (7, 2, 4)


def test_groups_that_do_not_divide_the_width_trace_once_and_one_seed_equals_run_fn_alone(monkeypatch):
    """7 configurations in groups of at most 3 run as 3 equal groups (one trace, not a second copy
    for a remainder); with one seed every configuration equals run_fn alone on split(key, 1)[0]."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)  # one lane
    fresh_run, traces = counting_run_fn()
    grid = {"learning_rate": np.geomspace(0.01, 0.3, 7), "momentum": [0.5]}
    result = sweep(
        fresh_run, grid, key=jax.random.PRNGKey(0), devices=jax.devices("cpu")[:1], group_size=3, progress=False
    )
    assert traces.count == 1 and result.metrics["epoch_loss"].shape == (7, 1, 4)
    alone, seed_key = jax.jit(run_fn), jax.random.split(jax.random.PRNGKey(0), 1)[0]
    for i in range(7):
        hparams = {name: jnp.float32(values[i]) for name, values in result.grid.items()}
        chex.assert_trees_all_close(
            jax.tree.map(lambda a: a[i, 0], result.metrics), alone(hparams, seed_key), rtol=1e-5, atol=1e-7
        )


def test_typed_keys_give_the_same_numbers_as_raw_keys():
    """jax.random.key(0) works; run_fn gets typed keys, and the numbers equal those of PRNGKey(0)."""
    seen = []

    def typed_run(hparams, key):
        seen.append(jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key))
        return run_fn(hparams, jax.random.key_data(key))

    typed = sweep(typed_run, GRID, seeds=2, key=jax.random.key(0), progress=False)
    raw = sweep(run_fn, GRID, seeds=2, key=jax.random.PRNGKey(0), progress=False)
    assert seen == [True]
    chex.assert_trees_all_close(typed.metrics, raw.metrics, rtol=1e-6)


def test_result_table_files_best_and_select(tmp_path):
    """to_records, to_csv, to_json, best and select keep grid and metrics aligned."""
    result = sweep(run_fn, GRID, seeds=2, key=jax.random.PRNGKey(0), progress=False)
    final = result.final("epoch_loss")
    best = result.best("epoch_loss")
    assert best["score"] == pytest.approx(final.min()) and best["index"] == int(final.argmin())
    assert result.best("epoch_loss", mode="max")["index"] == int(final.argmax())
    records = result.to_records()
    assert len(records) == 6 and records[best["index"]]["epoch_loss"] == pytest.approx(best["score"])
    subset = result.select(momentum=0.5)
    np.testing.assert_array_equal(subset.grid["momentum"], 0.5)
    np.testing.assert_allclose(subset.final("epoch_loss"), final[1::2])
    result.to_csv(tmp_path / "sweep.csv")
    result.to_json(tmp_path / "sweep.json")
    assert (tmp_path / "sweep.csv").read_text().splitlines()[0] == "learning_rate,momentum,epoch_loss,w"
    assert len(json.loads((tmp_path / "sweep.json").read_text())["records"]) == 6
    with pytest.raises(ValueError, match="metric must be one of"):
        result.best("loss")
    with pytest.raises(ValueError, match="no configuration"):
        result.select(momentum=0.7)


@pytest.mark.parametrize(
    "grid,match",
    [
        ({}, "non-empty dict"),
        ({"learning_rate": [], "momentum": [0.0]}, "is empty"),
        ({"learning_rate": [[0.1, 0.2]], "momentum": [0.0]}, "1-D"),
        ({"learning_rate": ["fast"], "momentum": [0.0]}, "must hold numbers"),
        ({"learning_rate": [0.1, float("nan")], "momentum": [0.0]}, "NaN"),
        (lambda: {"pair": Zip(learning_rate=[0.1, 0.2], momentum=[0.0])}, "same length"),
        ({"learning_rate": [0.1], "momentum": [0.0], "nesterov": [1.0]}, "not used by run_fn"),
        ({"learnin_rate": [0.1], "momentum": [0.0]}, "reads hyper-parameter 'learning_rate'"),
    ],
)
def test_bad_grids(grid, match):
    """Empty, non-1-D, non-numeric, mismatched zips and unknown keys are refused by name."""
    with pytest.raises(ValueError, match=match):
        sweep(run_fn, grid() if callable(grid) else grid, key=jax.random.PRNGKey(0), progress=False)


def test_bad_sizes():
    """seeds and chunk_size must be positive integers."""
    with pytest.raises(ValueError, match="seeds"):
        sweep(run_fn, GRID, seeds=0, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="chunk_size"):
        sweep(run_fn, GRID, chunk_size=0, key=jax.random.PRNGKey(0))


SHARDED = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    sys.path.insert(0, {tests!r})
    from test_sweeps import run_fn, GRID
    from jaxopt_course.sweeps import sweep
    assert len(jax.devices()) == 4, jax.devices()
    key = jax.random.PRNGKey(0)
    everywhere = sweep(run_fn, GRID, seeds=2, key=key, progress=False)
    one = sweep(run_fn, GRID, seeds=2, key=key, devices=jax.devices()[:1], progress=False)
    chunked = sweep(run_fn, GRID, seeds=2, key=key, chunk_size=3, progress=False)
    difference = max(float(np.max(np.abs(a - b))) for a, b in zip(jax.tree.leaves(everywhere.metrics), jax.tree.leaves(one.metrics)))
    difference_chunked = max(float(np.max(np.abs(a - b))) for a, b in zip(jax.tree.leaves(chunked.metrics), jax.tree.leaves(one.metrics)))
    # where the program really ran: its outputs' shardings, on all four devices and on the last alone
    from jaxopt_course import sweeps
    placed = {{}}
    from jaxopt_course.sweeps import programs as sweep_programs
    for name, devices in (("all", tuple(jax.devices())), ("last", tuple(jax.devices()[3:]))):
        program = sweep_programs.run_program(run_fn, tuple(GRID), devices, 4, 2, None, 2)
        by_config, replicated = sweep_programs.shardings(devices)
        hparams = {{k: jax.device_put(np.full(4, 0.1, np.float32), by_config) for k in GRID}}
        outputs = program(hparams, jax.device_put(jax.random.split(key, 2), replicated))
        placed[name] = sorted({{d.id for leaf in jax.tree.leaves(outputs) for d in leaf.sharding.device_set}})
    print(json.dumps({{"difference": difference, "chunked": difference_chunked, "devices": len(jax.devices()), "placed": placed}}))
    """
)


def test_sharded_over_four_cpu_devices_equals_one_device():
    """With 4 (forced) CPU devices the grid is sharded over a mesh and gives one device's numbers."""
    root = Path(__file__).resolve().parents[1]
    env = dict(
        os.environ,
        XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=str(root),
    )
    script = SHARDED.format(tests=str(root / "tests"))
    completed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["devices"] == 4 and report["difference"] <= 1e-6 and report["chunked"] <= 1e-6
    assert report["placed"] == {"all": [0, 1, 2, 3], "last": [3]}


def test_nested_metrics_get_dotted_names():
    """A run function returning nested dicts or a NamedTuple: every leaf is a named metric in records and best()."""
    from typing import NamedTuple

    class Curves(NamedTuple):
        loss: np.ndarray
        accuracy: np.ndarray

    grid = {"learning_rate": np.array([0.1, 0.2, 0.3], np.float32)}
    loss = np.array(
        [[[3.0, 2.0], [3.0, 1.0]], [[3.0, 0.5], [3.0, 0.7]], [[3.0, 4.0], [3.0, 5.0]]]
    )  # [config, seed, step]
    metrics = {"train": Curves(loss=loss, accuracy=-loss), "eval": {"loss": loss[..., -1] * 2}}
    result = SweepResult(grid=grid, metrics=metrics, seeds=2)
    assert result.metric_names() == ["eval.loss", "train.loss", "train.accuracy"]
    np.testing.assert_allclose(result.final("train.loss"), [1.5, 0.6, 4.5])
    assert result.best("train.accuracy", mode="max")["index"] == 1 and result.best("eval.loss")["score"] == 1.2
    assert result.to_records()[2] == {
        "learning_rate": np.float32(0.3),
        "eval.loss": 9.0,
        "train.loss": 4.5,
        "train.accuracy": -4.5,
    }
    with pytest.raises(ValueError, match="metric must be one of"):
        result.final("loss")
