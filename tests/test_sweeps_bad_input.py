"""sweep and SweepResult refuse bad input with errors that name the argument, before any compile."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course.sweeps import sweep
from jaxopt_course.sweeps.results import SweepResult

GRID = {"learning_rate": [0.1, 0.2, 0.3]}
KEY = jax.random.PRNGKey(0)


def tiny_run(hparams, key):
    return {"loss": hparams["learning_rate"] * 2.0 + jax.random.uniform(key)}


@pytest.mark.parametrize(
    "devices,error,match",
    [
        (["cpu"], TypeError, "jax.Device objects"),
        (lambda: jax.devices()[0], TypeError, "not one device"),
        (lambda: [jax.devices()[0], jax.devices()[0]], ValueError, "twice"),
        ([], ValueError, "at least one device"),
        ("cpu", TypeError, "list of jax.Device"),
    ],
)
def test_bad_devices(devices, error, match):
    """Names instead of devices, a lone device, duplicates and an empty list are refused by name."""
    with pytest.raises(error, match=match):
        sweep(tiny_run, GRID, key=KEY, devices=devices() if callable(devices) else devices, progress=False)


@pytest.mark.parametrize("key", [None, 0, np.arange(2), "key"])
def test_bad_keys(key):
    """key=None, an int, an int64 array or a string: a TypeError that says what a key is."""
    with pytest.raises(TypeError, match=r"key must be a PRNG key, jax.random.key\(seed\)"):
        sweep(tiny_run, GRID, key=key, progress=False)


def test_an_array_of_keys_is_refused():
    """A batch of typed keys is not one key."""
    with pytest.raises(ValueError, match="one PRNG key"):
        sweep(tiny_run, GRID, key=jax.random.split(jax.random.key(0), 2), progress=False)


@pytest.mark.parametrize(
    "returned,match", [(None, "returned None"), ("done", "returned a str"), (object(), "returned a object")]
)
def test_run_fn_must_return_arrays(returned, match):
    """run_fn returning None, a string or an object: a TypeError naming run_fn."""
    with pytest.raises(TypeError, match=f"run_fn {match}"):
        sweep(lambda hparams, key: (hparams["learning_rate"], returned)[1], GRID, key=KEY, progress=False)


def test_python_branch_on_a_hyper_parameter_is_explained():
    """A Python if on a hyper-parameter: the error names run_fn and says hyper-parameters are traced."""

    def branching(hparams, key):
        if hparams["learning_rate"] > 0.15:
            return {"loss": jnp.float32(1.0)}
        return {"loss": jnp.float32(0.0)}

    with pytest.raises(TypeError, match="run_fn needs the concrete value.*hyper-parameters are traced"):
        sweep(branching, GRID, key=KEY, progress=False)
    with pytest.raises(TypeError, match="run_fn needs the concrete value"):
        sweep(lambda hparams, key: {"loss": jnp.zeros(int(hparams["learning_rate"]))}, GRID, key=KEY, progress=False)


def test_run_fn_must_be_callable():
    with pytest.raises(TypeError, match="run_fn must be a function"):
        sweep("train", GRID, key=KEY, progress=False)


def test_grid_value_overflowing_float32_is_refused():
    """1e40 is finite in float64 but inf in float32: refused, not silently inf."""
    with pytest.raises(ValueError, match=r"grid\['learning_rate'\] value 1e\+40 overflows float32"):
        sweep(tiny_run, {"learning_rate": [0.1, 1e40]}, key=KEY, progress=False)


@pytest.mark.parametrize("name", ["seeds", "chunk_size"])
def test_numpy_integers_are_accepted(name):
    """seeds=np.int64(2), chunk_size=np.int32(2) are integers."""
    value = np.int64(2) if name == "seeds" else np.int32(2)
    result = sweep(tiny_run, GRID, key=KEY, progress=False, **{name: value})
    assert result.metrics["loss"].shape == ((3, 2) if name == "seeds" else (3, 1))
    assert isinstance(result.seeds, int)


@pytest.mark.parametrize("value", [True, 1.5, -1, np.float64(2.0)])
def test_non_integer_seeds_are_refused(value):
    with pytest.raises(ValueError, match="seeds must be a positive integer"):
        sweep(tiny_run, GRID, seeds=value, key=KEY, progress=False)


def all_nan_result() -> SweepResult:
    loss = np.full((3, 2), np.nan, np.float32)
    return SweepResult(grid={"learning_rate": np.array([0.1, 0.2, 0.3], np.float32)}, metrics={"loss": loss}, seeds=2)


def test_best_of_an_all_nan_metric_is_refused():
    """best() when every configuration diverged raises, instead of calling configuration 0 the best."""
    with pytest.raises(ValueError, match="NaN for every configuration"):
        all_nan_result().best("loss")


@pytest.mark.parametrize("method", ["to_csv", "to_json", "save"])
def test_files_into_a_missing_folder_are_refused_clearly(tmp_path, method):
    """to_csv/to_json/save into a folder that does not exist: a ValueError naming the folder."""
    target = tmp_path / "missing" / "sweep.out"
    with pytest.raises(ValueError, match="folder .*missing.* does not exist"):
        getattr(all_nan_result(), method)(target)
