"""A cached program is never staler than ``jax.jit`` of a freshly built function at that call.

Each case changes something a loss (or a schedule, or a sweep's ``run_fn``) reads, without
building a new function object, and checks ``fit`` against the hand-computed first step of
gradient descent on ``scale · Σ w²``: w₁ = w₀ − η · 2 · scale · w₀.  Equal functions built again
(a notebook cell run twice) still compile nothing.
"""

from __future__ import annotations

import types

import jax
import jax.numpy as jnp
import numpy as np
from compiles import compiles

import jaxopt_course as jc

W0 = np.array([1.0, -2.0], np.float32)
DATA = (np.zeros((4, 1), np.float32), np.zeros((4,), np.float32))


def one_step(loss_fn, optimizer=None):
    """w after one batch step of ``optimizer`` (default SGD with η = 0.1) from W0."""
    history = jc.fit(
        loss_fn,
        {"w": jnp.asarray(W0)},
        optimizer or jc.sgd(0.1),
        DATA,
        batch_size=4,
        num_steps=1,
        key=jax.random.key(0),
        progress=False,
    )
    return np.asarray(history.params["w"])


def expected(scale, learning_rate=0.1):
    return W0 - learning_rate * 2.0 * scale * W0


def test_a_bound_methods_object_changed_since_compiles_again():
    """fit(m.loss) after m.scale changed uses the new scale."""

    class Model:
        def __init__(self):
            self.scale = 1.0

        def loss(self, params, batch):
            return self.scale * jnp.sum(params["w"] ** 2)

    model = Model()
    np.testing.assert_allclose(one_step(model.loss), expected(1.0), rtol=1e-6)
    model.scale = 3.0
    np.testing.assert_allclose(one_step(model.loss), expected(3.0), rtol=1e-6)


def test_a_namespace_attribute_changed_since_compiles_again():
    """A loss reading a SimpleNamespace's attribute sees its new value."""
    config = types.SimpleNamespace(scale=1.0)
    loss = lambda params, batch: config.scale * jnp.sum(params["w"] ** 2)  # noqa: E731
    np.testing.assert_allclose(one_step(loss), expected(1.0), rtol=1e-6)
    config.scale = 0.5
    np.testing.assert_allclose(one_step(loss), expected(0.5), rtol=1e-6)


def test_a_callable_objects_attribute_changed_since_compiles_again():
    """A callable object as the loss: its attribute is part of its key."""

    class Loss:
        scale = None

        def __call__(self, params, batch):
            return self.scale * jnp.sum(params["w"] ** 2)

    loss = Loss()
    loss.scale = 1.0
    np.testing.assert_allclose(one_step(loss), expected(1.0), rtol=1e-6)
    loss.scale = 2.0
    np.testing.assert_allclose(one_step(loss), expected(2.0), rtol=1e-6)


def test_a_numpy_array_edited_in_place_compiles_again():
    """A numpy array in the closure, edited in place, is keyed by its contents."""
    scale = np.array([1.0], np.float32)
    loss = lambda params, batch: scale[0] * jnp.sum(params["w"] ** 2)  # noqa: E731
    np.testing.assert_allclose(one_step(loss), expected(1.0), rtol=1e-6)
    scale[0] = 4.0
    np.testing.assert_allclose(one_step(loss), expected(4.0), rtol=1e-6)


class Settings:
    scale = 1.0


def test_a_class_attribute_changed_since_compiles_again():
    """A loss reading a class attribute (of the user's own class) sees its new value."""
    loss = lambda params, batch: Settings.scale * jnp.sum(params["w"] ** 2)  # noqa: E731
    try:
        np.testing.assert_allclose(one_step(loss), expected(1.0), rtol=1e-6)
        Settings.scale = 2.5
        np.testing.assert_allclose(one_step(loss), expected(2.5), rtol=1e-6)
    finally:
        Settings.scale = 1.0


def test_a_user_schedule_reading_a_changed_config_follows_it():
    """jc.sgd(lambda t: cfg.lr): a new value of cfg.lr is used, by a rebuilt optimiser and by the same one."""
    cfg = types.SimpleNamespace(lr=0.1)
    loss = lambda params, batch: jnp.sum(params["w"] ** 2)  # noqa: E731
    optimizer = jc.sgd(lambda count: cfg.lr)
    np.testing.assert_allclose(one_step(loss, optimizer), expected(1.0, 0.1), rtol=1e-6)
    cfg.lr = 0.3
    np.testing.assert_allclose(one_step(loss, jc.sgd(lambda count: cfg.lr)), expected(1.0, 0.3), rtol=1e-6)
    cfg.lr = 0.2
    np.testing.assert_allclose(one_step(loss, optimizer), expected(1.0, 0.2), rtol=1e-6)


def test_equal_functions_built_again_compile_nothing():
    """The same loss and schedule rebuilt (a cell run again) with equal contents reuse the program."""
    config = types.SimpleNamespace(scale=1.5, table=np.arange(3.0))

    def cell():
        return lambda params, batch: config.scale * jnp.sum(params["w"] ** 2)

    one_step(cell(), jc.sgd(lambda count: 0.1))
    jax.clear_caches()  # only our own cache may answer now: a program found there runs with no compile
    with compiles() as compiled:
        pass
    before = len(compiled)
    with compiles() as compiled:
        np.testing.assert_allclose(one_step(cell(), jc.sgd(lambda count: 0.1)), expected(1.5), rtol=1e-6)
    assert compiled.count("jit(train_program)") <= 1 and before == 0


def _run_cell():
    """What a notebook cell defines: the same code every time it runs."""

    def run_fn(hparams, key):
        w = jnp.asarray(W0)
        for _ in range(2):
            w = w - hparams["lr"] * 2.0 * w
        return {"w": w}

    def init_fn(hparams, key):
        return jnp.asarray(W0)

    def advance_fn(state, hparams):
        state = state - hparams["lr"] * 2.0 * state
        return state, {"loss": jnp.sum(state**2)}

    return run_fn, init_fn, advance_fn


def test_running_a_cell_again_compiles_no_sweep_or_halving_program():
    """sweep and successive_halving with run_fn defined again from the same code compile nothing."""
    grid = {"lr": [0.1, 0.2, 0.3]}
    run_fn, init_fn, advance_fn = _run_cell()
    first = jc.sweep(run_fn, grid, key=jax.random.key(0), progress=False)
    jc.successive_halving(init_fn, advance_fn, grid, metric="loss", rungs=2, key=jax.random.key(0), progress=False)
    run_fn, init_fn, advance_fn = _run_cell()
    with compiles() as compiled:
        again = jc.sweep(run_fn, grid, key=jax.random.key(0), progress=False)
        jc.successive_halving(init_fn, advance_fn, grid, metric="loss", rungs=2, key=jax.random.key(0), progress=False)
    assert compiled == [], compiled
    np.testing.assert_array_equal(again.metrics["w"], first.metrics["w"])


def test_a_sweeps_run_fn_whose_global_changed_runs_the_new_code():
    """A run_fn reading a config object whose value changed is traced again, not reused."""
    config = types.SimpleNamespace(steps=1)

    def run_fn(hparams, key):
        w = jnp.asarray(W0)
        for _ in range(config.steps):
            w = w - hparams["lr"] * 2.0 * w
        return {"w": w}

    one = jc.sweep(run_fn, {"lr": [0.1]}, key=jax.random.key(0), progress=False)
    config.steps = 2
    two = jc.sweep(run_fn, {"lr": [0.1]}, key=jax.random.key(0), progress=False)
    np.testing.assert_allclose(one.metrics["w"][0, 0], W0 * 0.8, rtol=1e-6)
    np.testing.assert_allclose(two.metrics["w"][0, 0], W0 * 0.8 * 0.8, rtol=1e-6)
