"""Every optimiser crossed with every generic property (one table of optimisers, one of problems)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_course as jc
from jaxopt_course.conventions import keras as keras_convention
from jaxopt_course.conventions import optax_compat as optax_convention
from jaxopt_course.conventions import pytorch as torch_convention


@dataclasses.dataclass(frozen=True)
class Row:
    """An optimiser of ours beside the optax reference that must give the same numbers."""

    name: str
    ours: Callable[..., optax.GradientTransformation]
    reference: Callable[..., optax.GradientTransformation] | None
    hparams: dict  # the values used everywhere; each may be swept under vmap
    converge: dict  # hyper-parameters and steps that reach the optimum of each problem
    like_reference: Callable[..., optax.GradientTransformation] | None = None  # ours, in the reference's arithmetic

    def matching(self, **hp):
        return (self.like_reference or self.ours)(**hp)


ROWS = [
    Row(
        "sgd",
        jc.sgd,
        optax.sgd,
        {"learning_rate": 0.1},
        {"quadratic": ({"learning_rate": 0.2}, 200), "rosenbrock": ({"learning_rate": 1e-3}, 20000)},
    ),
    Row(
        "momentum",
        lambda learning_rate, momentum: jc.sgd(learning_rate, momentum),
        lambda learning_rate, momentum: optax.sgd(learning_rate, momentum),
        {"learning_rate": 0.05, "momentum": 0.9},
        {
            "quadratic": ({"learning_rate": 0.1, "momentum": 0.5}, 200),
            "rosenbrock": ({"learning_rate": 1e-3, "momentum": 0.9}, 5000),
        },
    ),
    Row(
        "nesterov",
        lambda learning_rate, momentum: jc.sgd(learning_rate, momentum, nesterov=True),
        lambda learning_rate, momentum: optax.sgd(learning_rate, momentum, nesterov=True),
        {"learning_rate": 0.05, "momentum": 0.9},
        {
            "quadratic": ({"learning_rate": 0.1, "momentum": 0.5}, 200),
            "rosenbrock": ({"learning_rate": 1e-3, "momentum": 0.9}, 5000),
        },
    ),
    Row(
        "adagrad",
        jc.adagrad,
        optax.adagrad,
        {"learning_rate": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-7},
        {"quadratic": ({"learning_rate": 1.0}, 500), "rosenbrock": ({"learning_rate": 0.5}, 20000)},
    ),
    Row(
        "rmsprop",
        jc.rmsprop,
        optax.rmsprop,
        {"learning_rate": 0.01, "decay": 0.9, "eps": 1e-8},
        {"quadratic": ({"learning_rate": 0.01}, 2000), "rosenbrock": ({"learning_rate": 1e-3}, 20000)},
    ),
    Row(
        "rmsprop_centered_momentum",
        lambda learning_rate, decay, momentum: jc.rmsprop(learning_rate, decay, centered=True, momentum=momentum),
        lambda learning_rate, decay, momentum: optax.rmsprop(learning_rate, decay, centered=True, momentum=momentum),
        {"learning_rate": 0.01, "decay": 0.9, "momentum": 0.5},
        {
            "quadratic": ({"learning_rate": 0.01, "decay": 0.9, "momentum": 0.5}, 2000),
            "rosenbrock": ({"learning_rate": 5e-4, "decay": 0.9, "momentum": 0.5}, 20000),
        },
    ),
    Row(
        "adadelta",
        jc.adadelta,
        optax.adadelta,
        {"learning_rate": 1.0, "rho": 0.9, "eps": 1e-6},
        {"quadratic": ({"learning_rate": 1.0, "rho": 0.95, "eps": 1e-2}, 20000), "rosenbrock": None},
    ),
    Row(
        "adam",
        jc.adam,
        optax.adam,
        {"learning_rate": 0.1, "b1": 0.9, "b2": 0.999, "eps": 1e-8},
        {"quadratic": ({"learning_rate": 0.1}, 1000), "rosenbrock": ({"learning_rate": 0.01}, 20000)},
        like_reference=optax_convention.adam,
    ),
    Row(
        "adamw",
        jc.adamw,
        optax.adamw,
        {"learning_rate": 0.1, "b1": 0.9, "b2": 0.999, "weight_decay": 0.01},
        {
            "quadratic": ({"learning_rate": 0.1, "weight_decay": 1e-4}, 1000),
            "rosenbrock": ({"learning_rate": 0.01, "weight_decay": 1e-6}, 20000),
        },
        like_reference=optax_convention.adamw,
    ),
    Row(
        "amsgrad",
        jc.amsgrad,
        optax.amsgrad,
        {"learning_rate": 0.1, "b1": 0.9, "b2": 0.999},
        {"quadratic": ({"learning_rate": 0.1}, 1000), "rosenbrock": ({"learning_rate": 0.1}, 20000)},
        like_reference=optax_convention.amsgrad,
    ),
]
IDS = [row.name for row in ROWS]


# ------------------------------------------------------------------ problems (with known optima)
def quadratic(params):
    """0.1 x1² + 2 x2² on a nested dict: ill-conditioned (κ = 20), minimum 0 at the origin."""
    return 0.1 * params["w"]["a"] ** 2 + 2.0 * jnp.sum(params["b"] ** 2)


def rosenbrock(params):
    x, y = params["w"]["a"], params["b"][0]
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


PROBLEMS = {
    "quadratic": (
        quadratic,
        {"w": {"a": jnp.float32(-5.0)}, "b": jnp.array([-2.0], jnp.float32)},
        {"w": {"a": 0.0}, "b": jnp.array([0.0])},
    ),
    "rosenbrock": (
        rosenbrock,
        {"w": {"a": jnp.float32(-1.2)}, "b": jnp.array([1.0], jnp.float32)},
        {"w": {"a": 1.0}, "b": jnp.array([1.0])},
    ),
}


def quadratic_value_and_grad(params):
    """``jax.value_and_grad(quadratic)`` in closed form, (0.2 x1, 4 x2): the same bits (0.2 is
    float32(0.1) doubled, and doubling rounds nothing), and a smaller program in every step."""
    return quadratic(params), {"w": {"a": 0.2 * params["w"]["a"]}, "b": 4.0 * params["b"]}


VALUE_AND_GRAD = {quadratic: quadratic_value_and_grad, rosenbrock: jax.value_and_grad(rosenbrock)}


def gradient(loss_fn, params):
    return VALUE_AND_GRAD[loss_fn](params)[1]


def test_the_closed_form_quadratic_is_jaxs_value_and_grad():
    """The steps' closed-form value and gradient of the quadratic equal jax.value_and_grad's, bit for bit."""
    point = {"w": {"a": jnp.float32(-3.7)}, "b": jnp.array([1.9, -0.11], jnp.float32)}
    equal = jax.tree.map(np.array_equal, quadratic_value_and_grad(point), jax.value_and_grad(quadratic)(point))
    assert all(jax.tree.leaves(equal)), equal


def run(optimizer, loss_fn, params, num_steps):
    """Final params and the loss per step, as one lax.scan (works inside jit and vmap)."""

    def step(carry, _):
        params, state = carry
        loss, grads = VALUE_AND_GRAD[loss_fn](params)
        updates, state = optimizer.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), loss

    (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)), None, length=num_steps)
    return params, losses


def finals(optimizers, loss_fn, params, num_steps):
    """Each optimiser's final params after :func:`run`, every run traced into one jitted program."""
    return jax.jit(lambda: [run(optimizer, loss_fn, params, num_steps)[0] for optimizer in optimizers])()


def run_python(optimizer, loss_fn, params, num_steps):
    state = optimizer.init(params)
    for _ in range(num_steps):
        grads = gradient(loss_fn, params)
        updates, state = optimizer.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params, state


# ------------------------------------------------------------------ properties, every row
@pytest.mark.parametrize("row", ROWS, ids=IDS)
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_matches_optax_reference(row, problem):
    """Over 100 steps on each problem, ours and optax's give the same parameters (both runs one program)."""
    loss_fn, start, _ = PROBLEMS[problem]
    hp = dict(row.hparams, learning_rate=row.hparams["learning_rate"] * (0.01 if problem == "rosenbrock" else 1.0))
    ours, reference = finals([row.matching(**hp), row.reference(**hp)], loss_fn, start, 100)
    chex.assert_trees_all_close(ours, reference, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_converges(row, problem):
    """Each optimiser reaches the known minimiser of the quadratic and of Rosenbrock."""
    if row.converge[problem] is None:
        pytest.xfail(f"{row.name} is known not to converge on {problem} (optax's behaves alike)")
    loss_fn, start, optimum = PROBLEMS[problem]
    hp, num_steps = row.converge[problem]
    hp = dict(row.hparams, **hp)
    final, losses = jax.jit(lambda: run(row.ours(**hp), loss_fn, start, num_steps))()
    chex.assert_tree_all_finite(final)
    chex.assert_trees_all_close(final, jax.tree.map(jnp.float32, optimum), atol=2e-2)
    assert float(losses[-1]) < 1e-3 * float(losses[0])


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_jit_and_eager_agree_and_state_is_stable(row):
    """A jitted step equals the eager one; the state keeps its shapes and dtypes every step."""
    chex.clear_trace_counter()
    loss_fn, start, _ = PROBLEMS["quadratic"]
    optimizer = row.ours(**row.hparams)
    eager_params, eager_state = run_python(optimizer, loss_fn, start, 3)
    initial_state = optimizer.init(start)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(params, state):
        updates, state = optimizer.update(gradient(loss_fn, params), state, params)
        return optax.apply_updates(params, updates), state

    params, state = start, initial_state
    for _ in range(3):
        params, state = step(params, state)
        chex.assert_trees_all_equal_shapes_and_dtypes(state, initial_state)
        chex.assert_trees_all_equal_shapes_and_dtypes(params, start)
    chex.assert_trees_all_close(params, eager_params, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(state, eager_state, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_vmap_over_every_hyperparameter(row):
    """Sweeping each numeric hyper-parameter under vmap equals running each value alone.

    Two programs for the whole row: every hyper-parameter's sweep (one vmap each) beside the runs
    built from Python floats (one per value, with it a constant); and the runs alone, one per
    hyper-parameter with its value an argument (called once per value)."""
    loss_fn, start, _ = PROBLEMS["quadratic"]
    grids = {
        name: jnp.array([value * 0.5, value, value * 0.9 if name != "learning_rate" else value * 1.5], jnp.float32)
        for name, value in row.hparams.items()
    }

    def final(name, v):
        return run(row.ours(**dict(row.hparams, **{name: v})), loss_fn, start, 20)[0]

    # beside the sweeps, the optimiser built from a plain Python float, as a user writes it
    floats = {name: [float(v) for v in np.asarray(grid)] for name, grid in grids.items()}
    swept, as_float = jax.jit(
        lambda grids: (
            {name: jax.vmap(functools.partial(final, name))(grids[name]) for name in grids},
            {name: [final(name, v) for v in values] for name, values in floats.items()},
        )
    )(grids)
    each_alone = jax.jit(lambda values: {name: final(name, values[name]) for name in values})
    alone = [each_alone({name: jnp.float32(grid[i]) for name, grid in grids.items()}) for i in range(3)]
    for name, grid in grids.items():
        for i, v in enumerate(np.asarray(grid)):
            case = f"{name}={v}"
            at_i = jax.tree.map(lambda x: x[i], swept[name])
            chex.assert_trees_all_close(at_i, alone[i][name], rtol=1e-5, atol=1e-6, custom_message=case)
            chex.assert_trees_all_close(at_i, as_float[name][i], rtol=1e-5, atol=1e-6, custom_message=case)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_composes_with_optax_transforms(row):
    """Inside optax.chain with optax's clipping, and with its lr scaling, ours equals the reference
    (both runs one program)."""
    loss_fn, start, _ = PROBLEMS["quadratic"]
    ours = optax.chain(optax.clip_by_global_norm(1.0), row.matching(**row.hparams))
    reference = optax.chain(optax.clip_by_global_norm(1.0), row.reference(**row.hparams))
    of_ours, of_reference = finals([ours, reference], loss_fn, start, 30)
    chex.assert_trees_all_close(of_ours, of_reference, rtol=2e-5, atol=2e-6)


def test_direction_block_with_optax_learning_rate():
    """Our direction blocks followed by optax.scale_by_learning_rate equal our full optimisers (all
    the runs one program)."""
    loss_fn, start, _ = PROBLEMS["quadratic"]
    pairs = {
        "scale_by_adam": (jc.scale_by_adam(), jc.adam(0.1)),
        "scale_by_rms": (jc.scale_by_rms(), jc.rmsprop(0.1)),
        "scale_by_adagrad": (jc.scale_by_adagrad(), jc.adagrad(0.1)),
        "scale_by_adadelta": (jc.scale_by_adadelta(), jc.adadelta(0.1)),
        "scale_by_momentum": (jc.scale_by_momentum(0.9), jc.sgd(0.1, 0.9)),
    }

    runs = [
        optimizer
        for block, full in pairs.values()
        for optimizer in (optax.chain(block, optax.scale_by_learning_rate(0.1)), full)
    ]
    of_runs = finals(runs, loss_fn, start, 20)
    for name, of_chained, of_full in zip(pairs, of_runs[0::2], of_runs[1::2], strict=True):
        chex.assert_trees_all_close(of_chained, of_full, rtol=1e-6, custom_message=name)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_inject_hyperparams_matches_plain(row):
    """optax.inject_hyperparams(ours) runs and gives the plain optimiser's trajectory (both runs one program)."""
    loss_fn, start, _ = PROBLEMS["quadratic"]
    injected = optax.inject_hyperparams(row.ours)(**row.hparams)
    of_injected, of_plain = finals([injected, row.ours(**row.hparams)], loss_fn, start, 50)
    chex.assert_trees_all_close(of_injected, of_plain, rtol=1e-5, atol=1e-6)


FLOAT_VS_ARRAY = {
    "adam": (jc.adam, {"learning_rate": 1e-2, "b1": 0.9, "b2": 0.999, "eps": 1e-8}),
    "amsgrad": (jc.amsgrad, {"learning_rate": 1e-2, "b1": 0.9, "b2": 0.999}),
    "adamw": (jc.adamw, {"learning_rate": 1e-2, "b1": 0.9, "b2": 0.999, "weight_decay": 1e-2}),
    "rmsprop": (jc.rmsprop, {"learning_rate": 1e-2, "decay": 0.99, "momentum": 0.9}),
    "adadelta": (jc.adadelta, {"learning_rate": 1.0, "rho": 0.95}),
    "momentum": (jc.sgd, {"learning_rate": 1e-2, "momentum": 0.9}),
    "adagrad": (jc.adagrad, {"learning_rate": 1e-1, "initial_accumulator_value": 0.1, "eps": 1e-7}),
    "rmsprop_centered": (
        lambda **hp: jc.rmsprop(**hp, centered=True),
        {"learning_rate": 1e-2, "decay": 0.9, "momentum": 0.5},
    ),
}


@pytest.mark.parametrize("name", list(FLOAT_VS_ARRAY))
def test_float_and_float32_array_hyperparameters_agree(name):
    """A hyper-parameter as a Python float or a float32 array: the same 500 steps to 1e-6."""
    factory, hp = FLOAT_VS_ARRAY[name]
    noise = jax.random.normal(jax.random.PRNGKey(0), (500, 4)) * jnp.array([1e-1, 1e-3, 10.0, 1.0])
    start = jnp.array([1.0, -2.0, 0.5, 3.0])

    def trajectory(optimizer):
        def step(carry, c):
            p, s = carry
            u, s = optimizer.update(0.5 * p + c, s, p)
            p = optax.apply_updates(p, u)
            return (p, s), p

        return jax.lax.scan(step, (start, optimizer.init(start)), noise)[1]

    as_floats, as_arrays = jax.jit(
        lambda: (trajectory(factory(**hp)), trajectory(factory(**{k: jnp.float32(v) for k, v in hp.items()})))
    )()
    scale = jnp.maximum(1.0, jnp.abs(as_floats))
    assert float(jnp.max(jnp.abs(as_floats - as_arrays) / scale)) <= 1e-6


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_param_structures_and_dtypes(row):
    """Single arrays, tuples and nested dicts work; float32 and bfloat16 params keep their dtype."""
    optimizer = row.ours(**row.hparams)

    def two_steps(params):
        """The gradients, each step's (params, updates) and the final params: dtypes are fixed when traced."""
        state = optimizer.init(params)
        grads = jax.tree.map(lambda p: (p * 0.5 + 0.1).astype(p.dtype), params)
        steps = []
        for _ in range(2):
            updates, state = optimizer.update(grads, state, params)
            steps.append((params, updates))
            params = optax.apply_updates(params, updates)
        return grads, steps, params

    structures = [
        jnp.array([1.0, -2.0], jnp.float32),
        (jnp.ones((2, 3), jnp.float32), jnp.zeros((3,), jnp.float32)),
        {"layer": {"kernel": jnp.ones((2, 2), jnp.bfloat16), "bias": jnp.ones((2,), jnp.bfloat16)}},
    ]
    # the three structures' runs as one program
    for grads, steps, params in jax.jit(lambda structures: [two_steps(params) for params in structures])(structures):
        for before, updates in steps:
            chex.assert_trees_all_equal_dtypes(updates, before)
        chex.assert_trees_all_equal_dtypes(params, grads)
        chex.assert_tree_all_finite(params)


def _convention_optimizers():
    from jaxopt_course.conventions import d2l, keras, torch

    yield from (
        (f"torch.{n}", getattr(torch, n)(weight_decay=0.01))
        for n in ("sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw")
    )
    yield from (
        (f"keras.{n}", getattr(keras, n)(weight_decay=0.01)) for n in ("sgd", "adagrad", "rmsprop", "adadelta", "adam")
    )
    yield from (("d2l.adadelta", d2l.adadelta()), ("optax.adadelta", optax_convention.adadelta(1.0, weight_decay=0.01)))


MISMATCH_CASES = [(row.name, row.ours(**row.hparams)) for row in ROWS] + list(_convention_optimizers())


@pytest.mark.parametrize("name, optimizer", MISMATCH_CASES, ids=[name for name, _ in MISMATCH_CASES])
def test_mismatched_gradient_tree_is_a_clear_error(name, optimizer):
    """Gradients whose structure differs from the params given to init raise a readable error,
    for every optimiser, plain SGD and every convention (weight decay first in the chain) too."""
    params = {"a": jnp.ones(2), "b": jnp.ones(3)}
    state = optimizer.init(params)
    with pytest.raises(ValueError, match="tree structure"):
        optimizer.update({"a": jnp.ones(2)}, state, params)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_differentiable_through_updates(row):
    """jax.grad of the loss after 10 steps with respect to the learning rate matches finite differences
    (the derivative and both sides of the difference one program)."""
    loss_fn, start, _ = PROBLEMS["quadratic"]

    def final_loss(learning_rate):
        params, _ = run(row.ours(**dict(row.hparams, learning_rate=learning_rate)), loss_fn, start, 10)
        return loss_fn(params)

    @jax.jit
    def derivative_and_difference(learning_rate):
        h = learning_rate * 1e-2
        difference = (final_loss(learning_rate + h) - final_loss(learning_rate - h)) / (2 * h)
        return jax.grad(final_loss)(learning_rate), difference

    derivative, finite_difference = derivative_and_difference(jnp.float32(row.hparams["learning_rate"]))
    assert np.isfinite(float(derivative))
    np.testing.assert_allclose(float(derivative), float(finite_difference), rtol=2e-2, atol=1e-4)


CONVENTION_ROWS = {
    "torch.sgd": lambda: torch_convention.sgd(0.1, momentum=0.9, weight_decay=0.01, maximize=True),
    "torch.adam_amsgrad": lambda: torch_convention.adam(0.1, amsgrad=True),
    "torch.adamw": lambda: torch_convention.adamw(0.1),
    "torch.rmsprop": lambda: torch_convention.rmsprop(0.1, momentum=0.5, centered=True),
    "torch.adagrad": lambda: torch_convention.adagrad(0.1, lr_decay=0.1),
    "keras.adam": lambda: keras_convention.adam(0.1, weight_decay=0.01),
    "keras.sgd": lambda: keras_convention.sgd(0.1, momentum=0.9),
    "optax.adam_mu_dtype": lambda: optax_convention.adam(0.1, mu_dtype=jnp.float32),
    "optax.sgd_accumulator_dtype": lambda: optax_convention.sgd(0.1, 0.9, accumulator_dtype=jnp.float32),
}
DTYPE_CASES = [(row.name, lambda row=row: row.ours(**row.hparams)) for row in ROWS] + list(CONVENTION_ROWS.items())


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bfloat16", "float16"])
def test_state_dtypes_stable_through_cond_and_scan(dtype):
    """Every row and convention: the state that init builds keeps its shapes and dtypes through
    lax.cond and lax.scan (both require it), for bfloat16 and float16 params.  All the cases'
    scans are traced as one program, with jax.eval_shape: shapes and dtypes are fixed when traced
    (lax.cond and lax.scan refuse a changing state then), so nothing needs compiling or running.
    A failure names its case."""
    params = {"w": jnp.array([1.0, -2.0], dtype), "b": jnp.array(0.5, dtype)}
    optimizers = {name: build() for name, build in DTYPE_CASES}
    states = {name: optimizer.init(params) for name, optimizer in optimizers.items()}

    def three_steps(name, params, state):
        optimizer = optimizers[name]

        def step(carry, _):
            p, s = carry
            grads = jax.tree.map(lambda x: (0.5 * x + 0.1).astype(x.dtype), p)
            u, new_s = optimizer.update(grads, s, p)
            new_s = jax.lax.cond(jnp.all(jnp.isfinite(u["w"])), lambda: new_s, lambda: s)
            return (optax.apply_updates(p, u), new_s), None

        try:
            return jax.lax.scan(step, (params, state), None, length=3)[0]
        except Exception as error:  # lax.cond or lax.scan refusing the state this case's update returns
            error.add_note(f"in case {name}")
            raise

    finals = jax.eval_shape(
        lambda p, states: {name: three_steps(name, p, s) for name, s in states.items()}, params, states
    )
    for name, state in states.items():
        final, final_state = finals[name]
        chex.assert_trees_all_equal_shapes_and_dtypes(final_state, state, custom_message=name)
        chex.assert_trees_all_equal_dtypes(final, params, custom_message=name)


@pytest.mark.parametrize("row", [row for row in ROWS if row.name != "adadelta"], ids=lambda row: row.name)
def test_complex_params_match_optax(row):
    """Complex parameters: second moments use |g|² = g·conj(g), as optax does (10 steps).

    AdaDelta is left out: optax 0.2.8's AdaDelta squares a complex gradient without the
    conjugate (g·g), where ours uses |g|² (docs/conventions.md).  Both runs are one program."""
    params = jnp.array([1.0 + 2.0j, -0.5 + 0.3j], jnp.complex64)
    grads_of = lambda p: jnp.conj(p) * 0.0 + p  # the gradient of |p|²/2 in optax's convention  # noqa: E731

    def ten_steps(optimizer):
        def step(carry, _):
            p, s = carry
            u, s = optimizer.update(grads_of(p), s, p)
            return (optax.apply_updates(p, u), s), None

        return jax.lax.scan(step, (params, optimizer.init(params)), length=10)[0][0]

    ours, reference = row.matching(**row.hparams), row.reference(**row.hparams)
    p_ours, p_ref = jax.jit(lambda: (ten_steps(ours), ten_steps(reference)))()
    np.testing.assert_allclose(p_ours, p_ref, rtol=1e-5, atol=1e-6)


def test_gradient_of_another_shape_is_an_error_naming_both_shapes():
    """A (3,) gradient for a (1,) parameter is refused (it would broadcast and change the shape)."""
    for optimizer in (jc.sgd(0.1), jc.adam(0.1), jc.rmsprop(0.1, momentum=0.5)):
        params = {"w": jnp.ones(1)}
        with pytest.raises(ValueError, match=r"shape \(3,\).*shape \(1,\)"):
            optimizer.update({"w": jnp.ones(3)}, optimizer.init(params), params)


def test_array_learning_rate_must_not_change_a_parameter_s_shape():
    """An lr of shape (2,) would turn a scalar parameter into shape (2,): refused; one that
    broadcasts onto the parameter is fine."""
    with pytest.raises(ValueError, match=r"learning_rate has shape \(2,\)"):
        jc.sgd(jnp.array([0.1, 0.2])).init(jnp.float32(1.0))
    optimizer = jc.sgd(jnp.array([0.1, 0.2]))
    updates, _ = optimizer.update(jnp.ones(2), optimizer.init(jnp.ones(2)))
    np.testing.assert_allclose(updates, [-0.1, -0.2])


def _traced_factories():
    from jaxopt_course.conventions import d2l, keras, torch

    def optax_schedule(name, **kw):
        return lambda **hp: optax_convention.sgd(getattr(optax_convention, name)(**kw, **hp))

    return {
        **{row.name: (row.ours, row.hparams) for row in ROWS},
        "torch.adam": (torch.adam, {"lr": 0.1, "betas": (0.9, 0.99), "eps": 1e-3, "weight_decay": 0.1}),
        "torch.sgd": (torch.sgd, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.1}),
        "torch.adagrad": (torch.adagrad, {"lr": 0.1, "lr_decay": 0.1, "initial_accumulator_value": 0.1}),
        "keras.adam": (keras.adam, {"learning_rate": 0.1, "beta_1": 0.9, "epsilon": 1e-7, "weight_decay": 0.01}),
        "keras.rmsprop": (keras.rmsprop, {"learning_rate": 0.1, "rho": 0.9, "momentum": 0.5}),
        "d2l.rmsprop": (d2l.rmsprop, {"lr": 0.1, "gamma": 0.9}),
        "optax.adamw": (optax_convention.adamw, {"learning_rate": 0.1, "b1": 0.9, "weight_decay": 0.1}),
        "optax.rmsprop": (optax_convention.rmsprop, {"learning_rate": 0.1, "decay": 0.9, "momentum": 0.5}),
        "optax.exponential_decay": (
            optax_schedule("exponential_decay", transition_steps=10),
            {"init_value": 0.1, "decay_rate": 0.5, "end_value": 0.01},
        ),
        "optax.warmup_cosine": (
            optax_schedule("warmup_cosine_decay_schedule", warmup_steps=5, decay_steps=20),
            {"init_value": 0.0, "peak_value": 0.1, "end_value": 0.01},
        ),
        "optax.onecycle": (
            optax_schedule("cosine_onecycle_schedule", transition_steps=20),
            {"peak_value": 0.1, "div_factor": 25.0},
        ),
        "torch.one_cycle_lr": (
            lambda **hp: jc.sgd(torch.one_cycle_lr(total_steps=20, **hp)),
            {"max_lr": 0.1, "div_factor": 25.0},
        ),
        "keras.cosine_decay": (
            lambda **hp: jc.sgd(keras.cosine_decay(decay_steps=20, **hp)),
            {"initial_learning_rate": 0.1, "alpha": 0.1},
        ),
    }


@pytest.mark.parametrize("name", list(_traced_factories()))
def test_every_float_hyperparameter_may_be_traced(name):
    """Each factory builds and steps with its float hyper-parameters as tracers (traced, not run)."""
    factory, hparams = _traced_factories()[name]
    params = jnp.ones(2)

    def one_step(hp):
        optimizer = factory(**hp)
        return optimizer.update(params, optimizer.init(params), params)

    jax.eval_shape(one_step, jax.tree.map(jnp.float32, hparams))


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32, np.float64], ids=lambda d: jnp.dtype(d).name)
def test_checks_accept_every_floating_dtype(dtype):
    """Hyper-parameters in any floating dtype (bfloat16 included) are checked, not rejected."""
    optimizer = jc.adam(np.asarray(0.1, dtype), b1=np.asarray(0.9, dtype), eps=np.asarray(1e-3, dtype))
    updates, _ = optimizer.update(jnp.ones(2), optimizer.init(jnp.ones(2)))
    np.testing.assert_allclose(updates, -0.1 / (1 + 1e-3) * np.ones(2), rtol=1e-2)
    with pytest.raises(ValueError, match="^b1 must be"):
        jc.adam(0.1, b1=np.asarray(1.5, dtype))
