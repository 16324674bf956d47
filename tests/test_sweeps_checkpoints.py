"""Resumable sweeps: finished chunks on disk, skipped on a re-call, refused on changed arguments,
a SIGKILL mid-chunk then resume equal to the uninterrupted run; SweepResult.save/load exact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_course as jc
from jaxopt_course import training
from jaxopt_course.sweeps import sweep
from jaxopt_course.sweeps.results import SweepResult

# numpy data: the same bits in every process, whatever XLA options a process compiles with
# (run_fn's fingerprint, which resuming checks, covers the arrays it reads)
X = np.linspace(-1.0, 1.0, 16, dtype=np.float32).reshape(-1, 1)
Y = 3.0 * X - np.float32(1.0)
PARAMS = {"w": jnp.zeros((1, 1)), "b": jnp.zeros((1,))}
PLAN = training.make_plan(16, 4, num_epochs=2)
GRID = {"learning_rate": [0.01, 0.03, 0.1, 0.2, 0.3], "momentum": [0.0, 0.9]}  # 10 configurations
KILL_AT = np.float32(0.1)  # a learning rate of the third chunk of two configurations


def loss_fn(params, batch):
    x, y = batch
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def _die_if_marked(learning_rate):
    if os.environ.get("SWEEP_TEST_KILL") and np.any(np.asarray(learning_rate) == KILL_AT):
        os.kill(os.getpid(), signal.SIGKILL)


def run_fn(hparams, key):
    """Linear regression with SGD; a host callback can SIGKILL the process mid-chunk (for the test)."""
    jax.debug.callback(_die_if_marked, hparams["learning_rate"])
    history = training.train(loss_fn, PARAMS, jc.sgd(hparams["learning_rate"], hparams["momentum"]), (X, Y), key, PLAN)
    return {"curves": history, "final": {"w": history.params["w"][0, 0]}}


def same_bits(a, b) -> bool:
    return all(
        x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def test_a_second_call_loads_every_chunk_and_gives_the_same_result(tmp_path):
    """Re-called with the same arguments, the sweep reads its chunks back (no new run) bit for bit."""
    first = sweep(
        run_fn, GRID, seeds=2, key=jax.random.PRNGKey(0), chunk_size=4, checkpoint_dir=tmp_path, progress=False
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "chunk_00000.npz",
        "chunk_00001.npz",
        "chunk_00002.npz",
        "sweep.json",
        "sweep.lock",
    ]
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    again = sweep(
        run_fn, GRID, seeds=2, key=jax.random.PRNGKey(0), chunk_size=4, checkpoint_dir=tmp_path, progress=False
    )
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == stamps
    assert type(again.metrics["curves"]) is training.History and same_bits(first.metrics, again.metrics)
    plain = sweep(run_fn, GRID, seeds=2, key=jax.random.PRNGKey(0), chunk_size=4, progress=False)
    assert same_bits(plain.metrics, again.metrics)


@pytest.mark.parametrize(
    "changed,argument",
    [
        ({"grid": {**GRID, "momentum": [0.0, 0.8]}}, "grid"),
        ({"seeds": 3}, "seeds"),
        ({"key": jax.random.PRNGKey(1)}, "key"),
        ({"key": jax.random.key(0)}, "key"),
        ({"chunk_size": 5}, "chunk_size"),
        ({"run_fn": lambda hparams, key: run_fn(hparams, key)}, "run_fn"),
    ],
)
def test_other_arguments_are_refused_naming_the_one_that_changed(tmp_path, changed, argument):
    """A checkpoint_dir of one sweep never mixes with another: the error names the changed argument."""
    arguments = {"run_fn": run_fn, "grid": GRID, "seeds": 2, "key": jax.random.PRNGKey(0), "chunk_size": 4}
    sweep(arguments.pop("run_fn"), arguments.pop("grid"), checkpoint_dir=tmp_path, progress=False, **arguments)
    arguments = {"run_fn": run_fn, "grid": GRID, "seeds": 2, "key": jax.random.PRNGKey(0), "chunk_size": 4, **changed}
    with pytest.raises(ValueError, match=f"holds a sweep with a different {argument} "):
        sweep(arguments.pop("run_fn"), arguments.pop("grid"), checkpoint_dir=tmp_path, progress=False, **arguments)


USER_MODULE = """
import jax.numpy as jnp
SCALE = {scale}

def run_fn(hparams, key):
    w = jnp.zeros(())
    for _ in range(3):
        w = w - hparams["learning_rate"] * {gradient}
    return {{"w": w}}
"""


def _load_user_module(folder: Path, scale: float, gradient: str):
    """Writes (or rewrites) the user's module and imports it afresh, as a new session would."""
    import importlib.util

    path = folder / "user_sweep.py"
    path.write_text(USER_MODULE.format(scale=scale, gradient=gradient))
    spec = importlib.util.spec_from_file_location("user_sweep", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_edited_run_fn_under_the_same_name_is_refused_and_the_same_code_resumes(tmp_path):
    """run_fn is known by its fingerprint: a changed body or a changed global it reads is refused
    (naming run_fn); the same source imported again resumes without running a chunk."""
    grid, folder = {"learning_rate": [0.1, 0.2, 0.3]}, tmp_path / "checkpoints"
    arguments = dict(key=jax.random.PRNGKey(0), chunk_size=2, checkpoint_dir=folder, progress=False)
    first = sweep(_load_user_module(tmp_path, 1.0, "(w - SCALE)").run_fn, grid, **arguments)
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    for scale, gradient in ((1.0, "(w - 2.0 * SCALE)"), (2.0, "(w - SCALE)")):
        edited = _load_user_module(tmp_path, scale, gradient).run_fn
        assert edited.__qualname__ == "run_fn" and edited.__module__ == "user_sweep"
        with pytest.raises(
            ValueError, match=r"holds a sweep with a different run_fn \(user_sweep.run_fn has changed since"
        ):
            sweep(edited, grid, **arguments)
    again = sweep(_load_user_module(tmp_path, 1.0, "(w - SCALE)").run_fn, grid, **arguments)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps and same_bits(
        first.metrics, again.metrics
    )
    np.testing.assert_allclose(again.metrics["w"][:, 0], 1 - (1 - np.array(grid["learning_rate"])) ** 3, rtol=1e-6)


def test_fingerprints_follow_contents_not_identity():
    """Equal closures over equal arrays share a fingerprint; a changed array entry or code does not."""
    from jaxopt_course.sweeps.checkpoints import fingerprint

    def make(weights, offset):
        return lambda hparams, key: {"loss": jnp.sum(weights * hparams["learning_rate"]) + offset}

    weights = np.arange(2000, dtype=np.float32)
    changed = weights.copy()
    changed[1000] += 1  # in the middle, where a printed array shows "..."
    assert fingerprint(make(weights, 1.0)) == fingerprint(make(weights.copy(), 1.0))
    assert fingerprint(make(jnp.asarray(weights), 1.0)) == fingerprint(make(jnp.asarray(weights), 1.0))
    assert fingerprint(make(weights, 1.0)) != fingerprint(make(changed, 1.0))
    assert fingerprint(make(weights, 1.0)) != fingerprint(make(weights, 2.0))
    assert fingerprint(make(weights, 1.0)) != fingerprint(
        lambda hparams, key: {"loss": jnp.sum(weights * hparams["learning_rate"]) - 1.0}
    )
    assert fingerprint(make(weights.astype(np.float64), 1.0)) != fingerprint(make(weights, 1.0))


class Pair(NamedTuple):
    loss: np.ndarray
    steps: np.ndarray


def test_save_and_load_round_trip_every_array_and_the_pytree(tmp_path):
    """save/load: the same grid order, dtypes and bits (NaN, int32, bool), dicts, lists, NamedTuples."""

    class Local(NamedTuple):  # not importable by name: comes back as a stand-in with the same fields
        a: np.ndarray
        b: np.ndarray

    grid = {"momentum": np.array([0.0, 0.9], np.float32), "learning_rate": np.array([0.1, 0.2], np.float32)}
    metrics = {
        "z": Pair(loss=np.array([[[1.5, np.nan]], [[np.inf, -0.0]]], np.float32), steps=np.array([[3], [4]], np.int32)),
        "a": [np.array([[True], [False]]), (np.ones((2, 1, 3), np.float64), None)],
        "local": Local(a=np.zeros((2, 1)), b=np.arange(2, dtype=np.uint8).reshape(2, 1)),
    }
    result = SweepResult(grid=grid, metrics=metrics, seeds=1)
    result.save(tmp_path / "result.npz")
    loaded = SweepResult.load(tmp_path / "result.npz")
    assert list(loaded.grid) == ["momentum", "learning_rate"] and loaded.seeds == 1
    assert same_bits(loaded.grid, grid) and same_bits(loaded.metrics, metrics)
    assert (
        type(loaded.metrics["z"]) is Pair
        and isinstance(loaded.metrics["a"], list)
        and isinstance(loaded.metrics["a"][1], tuple)
    )
    assert loaded.metrics["a"][1][1] is None and loaded.metrics["local"]._fields == ("a", "b")
    assert jax.tree.structure(loaded.metrics["z"]) == jax.tree.structure(metrics["z"])
    with pytest.raises(ValueError, match="not a file written by SweepResult.save"):
        np.savez(tmp_path / "other.npz", x=np.zeros(2))
        SweepResult.load(tmp_path / "other.npz")


def test_save_load_of_a_training_sweep(tmp_path):
    """A sweep of training Histories saved and loaded compares equal leaf by leaf, History type kept."""
    result = sweep(run_fn, GRID, key=jax.random.PRNGKey(0), progress=False)
    result.save(tmp_path / "sweep.npz")
    loaded = SweepResult.load(tmp_path / "sweep.npz")
    assert type(loaded.metrics["curves"]) is training.History and same_bits(result.metrics, loaded.metrics)
    assert loaded.best("curves.epoch_loss") == result.best("curves.epoch_loss")


SCRIPT = textwrap.dedent(
    """
    import sys
    import jax
    sys.path.insert(0, {tests!r})
    from test_sweeps_checkpoints import run_fn, GRID
    from jaxopt_course.sweeps import sweep
    result = sweep(run_fn, GRID, seeds=2, key=jax.random.PRNGKey(0), chunk_size=2, checkpoint_dir=sys.argv[1], progress=False)
    result.save(sys.argv[2])
    """
)


def test_sigkill_mid_chunk_then_resume_equals_the_uninterrupted_run(tmp_path):
    """SIGKILL inside the third chunk (a subprocess); resumed here, chunks 0-1 are loaded, not rerun,
    and the result is the uninterrupted one bit for bit."""
    root = Path(__file__).resolve().parents[1]
    script = SCRIPT.format(tests=str(root / "tests"))
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(root), SWEEP_TEST_KILL="1")
    folder = tmp_path / "checkpoints"
    killed = subprocess.run(
        [sys.executable, "-c", script, str(folder), str(tmp_path / "never.npz")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("chunk")) == [
        "chunk_00000.npz",
        "chunk_00001.npz",
    ]
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert run_fn.__module__ == "test_sweeps_checkpoints"  # the name the killed process recorded
    resumed = sweep(
        run_fn, GRID, seeds=2, key=jax.random.PRNGKey(0), chunk_size=2, checkpoint_dir=folder, progress=False
    )
    assert all(folder.joinpath(name).stat().st_mtime_ns == stamp for name, stamp in stamps.items())  # not run again
    assert len(list(folder.glob("chunk_*.npz"))) == 5
    uninterrupted = sweep(run_fn, GRID, seeds=2, key=jax.random.PRNGKey(0), chunk_size=2, progress=False)
    assert same_bits(resumed.metrics, uninterrupted.metrics)
