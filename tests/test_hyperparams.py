"""Hyper-parameters are data: a freshly built optimiser of the same structure compiles nothing.

One table of rows, each a builder ``build(s)`` whose structure is fixed and whose numbers move
with ``s``; generic properties run over every row.  Compiles are counted from JAX's own
backend-compile events, not from traces.
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from compiles import compiles

import jaxopt_course as jc
from jaxopt_course import models, regularizers, schedules, training
from jaxopt_course.conventions import d2l, keras, pytorch
from jaxopt_course.conventions import optax_compat as optax_convention
from jaxopt_course.hyperparams import is_hyperparametric, static_key
from jaxopt_course.training import fitting

# name -> build(s): s in [0.5, 1] changes every number and nothing else
ROWS = {
    "sgd": lambda s: jc.sgd(0.1 * s),
    "momentum": lambda s: jc.sgd(0.05 * s, momentum=0.9 * s),
    "nesterov": lambda s: jc.sgd(0.05 * s, momentum=0.9 * s, nesterov=True),
    "adagrad": lambda s: jc.adagrad(0.3 * s, initial_accumulator_value=0.1 * s, eps=1e-7 * s),
    "rmsprop": lambda s: jc.rmsprop(0.01 * s, decay=0.9 * s, eps=1e-6 * s),
    "rmsprop_centered_momentum": lambda s: jc.rmsprop(
        0.01 * s, decay=0.5 + 0.4 * s, eps=1e-3 * s, centered=True, momentum=0.5 * s
    ),
    "adadelta": lambda s: jc.adadelta(1.0 * s, rho=0.9 * s, eps=1e-6 * s),
    "adam": lambda s: jc.adam(0.05 * s, b1=0.9 * s, b2=0.999 * s, eps=1e-8 * s),
    "amsgrad": lambda s: jc.amsgrad(0.05 * s, b1=0.9 * s, b2=0.99 * s),
    "adamw": lambda s: jc.adamw(0.05 * s, weight_decay=0.01 * s),
    "scale_by_adam+lr": lambda s: jc.chain(jc.scale_by_adam(b1=0.8 * s), jc.scale_by_learning_rate(0.05 * s)),
    "torch.sgd": lambda s: pytorch.sgd(0.05 * s, momentum=0.9 * s, dampening=0.1 * s, weight_decay=1e-3 * s),
    "torch.sgd_nesterov": lambda s: pytorch.sgd(0.05 * s, momentum=0.9 * s, nesterov=True),
    "torch.adagrad": lambda s: pytorch.adagrad(0.1 * s, lr_decay=0.01 * s, initial_accumulator_value=0.1 * s),
    "torch.rmsprop": lambda s: pytorch.rmsprop(0.01 * s, alpha=0.9 * s, momentum=0.5 * s, centered=True),
    "torch.adadelta": lambda s: pytorch.adadelta(1.0 * s, rho=0.9 * s),
    "torch.adam": lambda s: pytorch.adam(0.05 * s, betas=(0.9 * s, 0.999 * s), weight_decay=1e-3 * s),
    "torch.adam_amsgrad": lambda s: pytorch.adam(0.05 * s, amsgrad=True),
    "torch.adamw": lambda s: pytorch.adamw(0.05 * s, weight_decay=0.01 * s),
    "keras.sgd": lambda s: keras.sgd(0.05 * s, momentum=0.9 * s),
    "keras.adagrad": lambda s: keras.adagrad(0.1 * s),
    "keras.rmsprop": lambda s: keras.rmsprop(0.01 * s, rho=0.9 * s, momentum=0.5 * s),
    "keras.adadelta": lambda s: keras.adadelta(1.0 * s, rho=0.95 * s),
    "keras.adam": lambda s: keras.adam(0.05 * s, beta_1=0.9 * s),
    "keras.adamw": lambda s: keras.adamw(0.05 * s, weight_decay=0.004 * s),
    "d2l.sgd": lambda s: d2l.sgd(0.05 * s, momentum=0.9 * s),
    "d2l.adagrad": lambda s: d2l.adagrad(0.1 * s),
    "d2l.rmsprop": lambda s: d2l.rmsprop(0.01 * s, gamma=0.9 * s),
    "d2l.adadelta": lambda s: d2l.adadelta(rho=0.9 * s),
    "d2l.adam": lambda s: d2l.adam(0.05 * s),
    "optax.sgd": lambda s: optax_convention.sgd(0.05 * s, momentum=0.9 * s),
    "optax.adam": lambda s: optax_convention.adam(0.05 * s, b1=0.9 * s),
    "optax.adamw": lambda s: optax_convention.adamw(0.05 * s, weight_decay=1e-4 * s),
    "optax.rmsprop": lambda s: optax_convention.rmsprop(0.01 * s, decay=0.9 * s),
    "optax.adagrad": lambda s: optax_convention.adagrad(0.1 * s),
    "optax.adadelta": lambda s: optax_convention.adadelta(1.0 * s),
    "optax.amsgrad": lambda s: optax_convention.amsgrad(0.05 * s),
    "schedule.exponential_decay": lambda s: jc.sgd(schedules.exponential_decay(0.1 * s, 10, 0.9 * s)),
    "schedule.cosine_decay": lambda s: jc.sgd(schedules.cosine_decay(0.1 * s, 20, 0.01 * s)),
    "schedule.step_decay": lambda s: jc.sgd(schedules.step_decay(0.1 * s, 5, 0.5 * s)),
    "schedule.polynomial_decay": lambda s: jc.sgd(schedules.polynomial_decay(0.1 * s, 0.01 * s, 20, 2.0 * s)),
    "schedule.piecewise_constant": lambda s: jc.sgd(
        schedules.piecewise_constant([5, 10], [0.1 * s, 0.05 * s, 0.01 * s])
    ),
    "schedule.one_cycle": lambda s: jc.sgd(schedules.one_cycle(0.1 * s, 30)),
    "schedule.warmup_cosine_decay": lambda s: jc.sgd(schedules.warmup_cosine_decay(0.0, 0.1 * s, 5, 30, 0.001 * s)),
    "schedule.linear_warmup": lambda s: jc.sgd(schedules.linear_warmup(schedules.constant(0.1 * s), 5)),
    "schedule.per_epoch": lambda s: jc.sgd(schedules.per_epoch(schedules.exponential_decay(0.1 * s, 1, 0.9 * s), 4)),
    "torch.step_lr": lambda s: pytorch.sgd(pytorch.step_lr(0.1 * s, 3, 0.5 * s, steps_per_epoch=2)),
    "torch.cosine_annealing_lr": lambda s: pytorch.sgd(pytorch.cosine_annealing_lr(0.1 * s, 10, 0.001 * s)),
    "keras.exponential_decay": lambda s: keras.sgd(keras.exponential_decay(0.1 * s, 10, 0.9 * s)),
    "keras.polynomial_decay": lambda s: keras.sgd(keras.polynomial_decay(0.1 * s, 20, 0.01 * s)),
    "regularizers.l2+clip": lambda s: jc.chain(
        regularizers.clip_by_global_norm(1.0 * s), regularizers.add_l2(1e-3 * s), jc.sgd(0.05 * s)
    ),
    "regularizers.l1+value_clip": lambda s: jc.chain(
        regularizers.clip_by_value(0.5 * s), regularizers.add_l1(1e-3 * s), jc.sgd(0.05 * s)
    ),
    "regularizers.decoupled": lambda s: jc.chain(
        jc.adam(0.05 * s), regularizers.decoupled_weight_decay(0.01 * s, 0.05 * s)
    ),
    "chain_with_optax_stateless": lambda s: jc.chain(
        optax.clip_by_global_norm(1.0), optax.scale_by_sign(), jc.sgd(0.01 * s, momentum=0.9 * s)
    ),
}

SCALES = (1.0, 0.5, 0.8)
TARGET = {"w": jnp.array([1.0, -2.0, 0.5]), "b": jnp.array(0.3)}


def quadratic(params):
    return sum(jnp.sum((params[k] - TARGET[k]) ** 2 * (1.0 + i)) for i, k in enumerate(sorted(params)))


def gradient(params):
    """``jax.grad(quadratic)`` in closed form, 2·(1 + i)·(p − target): the same bits (the factors
    are powers of two, so no order of the products rounds differently), and a smaller program to
    trace and compile in every scanned step."""
    return {k: 2.0 * (1.0 + i) * (params[k] - TARGET[k]) for i, k in enumerate(sorted(params))}


def test_the_closed_form_gradient_is_the_quadratics_own():
    """The trajectories' closed-form gradient equals jax.grad of the quadratic, bit for bit."""
    point = {"w": jnp.array([-30.0, 20.5, -25.25]), "b": jnp.array(40.1)}
    equal = jax.tree.map(np.array_equal, gradient(point), jax.grad(quadratic)(point))
    assert all(jax.tree.leaves(equal)), equal


# far from the minimum: 500 steps of the adaptive methods (about η per step) stay in transit, where
# the dynamics do not amplify float32 rounding as they do in the oscillation around a minimum
START = {"w": jnp.array([-30.0, 20.0, -25.0]), "b": jnp.array(40.0)}


def trajectory(optimizer, num_steps):
    """Parameters after each of ``num_steps`` updates on a small quadratic."""

    def step(carry, _):
        params, state = carry
        updates, state = optimizer.update(gradient(params), state, params)
        params = optax.apply_updates(params, updates)
        return (params, state), params

    return jax.lax.scan(step, (START, optimizer.init(START)), length=num_steps)[1]


run_as_argument = jax.jit(trajectory, static_argnums=1)


@pytest.mark.parametrize("name", list(ROWS))
def test_new_numbers_same_structure(name):
    """Two builds that differ only in numbers share a tree structure; their leaves differ."""
    first, second = ROWS[name](1.0), ROWS[name](0.5)
    assert is_hyperparametric(first)
    assert jax.tree.structure(first) == jax.tree.structure(second)
    assert hash(jax.tree.structure(first)) == hash(jax.tree.structure(second))
    assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(second)))


# Keras and optax form 1 − β in double when β is a Python float; as data, β is float32 and
# 1 − float32(β) is formed in float32 (what both frameworks do for a float32 tensor β): for
# β2 = 0.999 the moving-average weight moves by 1.3e-5 relative.
DOUBLE_COMPLEMENT = {"keras.adam", "keras.adamw", "optax.adam", "optax.adamw", "optax.amsgrad"}


# Centered RMSProp divides by sqrt(v − m̄² + ε), and on a noiseless problem v ≈ m̄²: the
# difference cancels to a few ulps of v, so the one-ulp differences between a program with the
# numbers as constants and one with them as arguments (XLA folds constants into other fusions)
# move the step by up to 2e-5 relative.  The mechanism is exact; the problem is ill-conditioned.
CANCELLING = {"rmsprop_centered_momentum"}


def _close(result, reference, tolerance):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance), result, reference)


@pytest.mark.parametrize("name", list(ROWS))
def test_fresh_optimizers_compile_once_and_follow_their_own_numbers(name):
    """A jitted run taking the optimiser as an argument compiles once for three fresh builds; each
    follows the per-object path (numbers baked in as constants) to 1e-6·max(1, |p|) over 500
    steps: built from float32 arrays always, from Python floats except where a framework forms
    1 − β in double (1e-4 there), and 1e-4 for centered RMSProp's cancelling denominator.

    The six per-object runs of a row (three builds from floats, three from float32 arrays) are
    one program: each run's numbers are still constants of its own scan."""

    # trajectory as a new function object: no earlier test can have compiled it, so no cache is cleared
    run_this_row = jax.jit(functools.wraps(trajectory)(lambda *args: trajectory(*args)), static_argnums=1)
    with compiles() as compiled:
        results = [run_this_row(ROWS[name](s), 500) for s in SCALES]
    assert compiled.count("jit(trajectory)") == 1, compiled
    built_from_arrays = [jax.tree.map(lambda v: np.float32(v), ROWS[name](s)) for s in SCALES]
    for built in built_from_arrays:
        assert all(isinstance(leaf, np.float32) for leaf in jax.tree.leaves(built))
    from_floats, from_arrays = jax.jit(
        lambda: (
            [trajectory(ROWS[name](s), 500) for s in SCALES],
            [trajectory(built, 500) for built in built_from_arrays],
        )
    )()
    for result, floats, arrays in zip(results, from_floats, from_arrays):
        _close(result, floats, 1e-4 if name in DOUBLE_COMPLEMENT | CANCELLING else 1e-6)
        _close(result, arrays, 1e-4 if name in CANCELLING else 1e-6)


def test_a_flag_is_structure():
    """nesterov, amsgrad and centered change the structure, and so compile again."""
    for plain, flagged in [
        (jc.sgd(0.1, momentum=0.9), jc.sgd(0.1, momentum=0.9, nesterov=True)),
        (pytorch.adam(0.1), pytorch.adam(0.1, amsgrad=True)),
        (jc.rmsprop(0.1), jc.rmsprop(0.1, centered=True)),
    ]:
        assert jax.tree.structure(plain) != jax.tree.structure(flagged)


def test_stacked_optimizers_run_side_by_side_under_vmap():
    """Hyper-parameters are leaves: two optimisers stacked leaf by leaf run as one vmapped program."""
    builds = [ROWS["adam"](s) for s in (1.0, 0.5)]
    stacked = jax.tree.map(lambda *leaves: jnp.stack([jnp.asarray(v, jnp.float32) for v in leaves]), *builds)
    together = jax.jit(jax.vmap(lambda optimizer: trajectory(optimizer, 50)))(stacked)
    for i, optimizer in enumerate(builds):
        alone = run_as_argument(optimizer, 50)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b, rtol=1e-6, atol=1e-7), together, alone)


# --------------------------------------------------------------------------- fit
X = jnp.linspace(-1.0, 1.0, 32).reshape(-1, 1)
Y = 0.5 * X**2 - X
MLP_PARAMS, MLP_APPLY = models.mlp(jax.random.PRNGKey(0), 1, [8, 1])


def _fit(optimizer, loss_fn=None, params=None, **options):
    arguments = dict(batch_size=8, num_epochs=3, key=jax.random.PRNGKey(0), progress=False)
    arguments.update(options)
    return jc.fit(loss_fn or models.supervised_loss(MLP_APPLY), params or MLP_PARAMS, optimizer, (X, Y), **arguments)


def _programs(names):
    return names.count("jit(train_program)")


_OWNERS = itertools.count()


def _loss_of_its_own():
    """``models.supervised_loss(MLP_APPLY)``, keyed apart from every other loss function (a number
    no other call gets): fit's programs for it are compiled by the test that asks for it and by
    nothing before, so that test counts its compiles without clearing JAX's caches."""
    shared = models.supervised_loss(MLP_APPLY)
    return lambda params, batch, key=None, *, owner=next(_OWNERS): shared(params, batch, key)


@pytest.mark.parametrize(
    "name",
    [
        "momentum",
        "torch.sgd",
        "keras.adam",
        "d2l.rmsprop",
        "optax.adamw",
        "schedule.cosine_decay",
        "regularizers.l2+clip",
    ],
)
def test_ten_fits_with_fresh_optimizers_compile_once(name):
    """Ten fit calls, each with a freshly built optimiser and its own numbers, compile one program."""
    loss_fn, rates = _loss_of_its_own(), np.linspace(0.5, 1.0, 10)
    with compiles() as compiled:
        histories = [_fit(ROWS[name](float(s)), loss_fn) for s in rates]
    assert _programs(compiled) == 1, compiled
    finals = {float(h.epoch_loss[-1]) for h in histories}
    assert len(finals) == 10  # ten different runs, not one run ten times


def test_fit_compiles_again_for_a_flag_or_a_shape():
    """A new flag, a new data shape or a new plan is a new program; new numbers are not."""
    loss_fn = _loss_of_its_own()
    with compiles() as compiled:
        _fit(jc.sgd(0.1, momentum=0.9), loss_fn)
        _fit(jc.sgd(0.2, momentum=0.5), loss_fn)
        assert _programs(compiled) == 1
        _fit(jc.sgd(0.1, momentum=0.9, nesterov=True), loss_fn)
        assert _programs(compiled) == 2
        _fit(jc.sgd(0.1, momentum=0.9), loss_fn, batch_size=16)
        assert _programs(compiled) == 3
        jc.fit(
            loss_fn,
            MLP_PARAMS,
            jc.sgd(0.1, momentum=0.9),
            (X[:16], Y[:16]),
            batch_size=8,
            num_epochs=3,
            key=jax.random.PRNGKey(0),
            progress=False,
        )
        assert _programs(compiled) == 4


def test_fit_gives_the_numbers_of_the_per_object_program():
    """fit with a fresh optimiser equals the run compiled with the numbers baked in."""
    optimizer = pytorch.sgd(0.07, momentum=0.8, weight_decay=1e-3)
    plan = training.make_plan(32, 8, num_epochs=3)
    loss_fn = models.supervised_loss(MLP_APPLY)
    baked = jax.jit(lambda: training.train(loss_fn, MLP_PARAMS, optimizer, (X, Y), jax.random.PRNGKey(0), plan))()
    fitted = _fit(pytorch.sgd(0.07, momentum=0.8, weight_decay=1e-3))
    np.testing.assert_allclose(fitted.step_loss, baked.step_loss, rtol=1e-6)


def test_equal_loss_functions_share_a_program():
    """A lambda rebuilt with the same code, or supervised_loss called again on an equal model,
    reuses the program; a loss with other code or another constant compiles again."""
    fitting._PROGRAMS.clear()  # fit's own program cache: no earlier run's program can answer

    def build_lambda(scale):
        return lambda params, batch: scale * jnp.mean((MLP_APPLY(params, batch[0]) - batch[1]) ** 2)

    with compiles() as compiled:
        _fit(jc.sgd(0.1), loss_fn=build_lambda(1.0))
        _fit(jc.sgd(0.2), loss_fn=build_lambda(1.0))
        _, apply_again = models.mlp(jax.random.PRNGKey(5), 1, [8, 1])
        _fit(jc.sgd(0.1), loss_fn=models.supervised_loss(MLP_APPLY))
        _fit(jc.sgd(0.3), loss_fn=models.supervised_loss(apply_again))
        assert _programs(compiled) == 2
        _fit(jc.sgd(0.1), loss_fn=build_lambda(2.0))
        assert _programs(compiled) == 3
        _fit(jc.sgd(0.1), loss_fn=models.supervised_loss(MLP_APPLY, "half_squared_error"))
        assert _programs(compiled) == 4


@pytest.mark.filterwarnings("ignore:History.learning_rate will be NaN")  # optax's own optimiser, on purpose
def test_opaque_optax_optimizers_are_keyed_by_their_closures():
    """optax's own optimisers: equal numbers reuse a program, new numbers compile again."""
    loss_fn = _loss_of_its_own()
    with compiles() as compiled:
        _fit(optax.adam(1e-2), loss_fn)
        _fit(optax.adam(1e-2), loss_fn)
        assert _programs(compiled) == 1
        _fit(optax.adam(2e-2), loss_fn)
        assert _programs(compiled) == 2


def test_static_keys_follow_globals_and_mutable_state():
    """A function's key changes with a global it reads; lists are keyed by their contents now."""
    namespace = {"jnp": jnp, "factor": 2.0}
    exec("def loss(p):\n    return factor * jnp.sum(p)", namespace)
    first = static_key(namespace["loss"])
    namespace["factor"] = 3.0
    assert static_key(namespace["loss"]) != first
    items = [1.0]
    assert static_key(lambda: items) == static_key(lambda: items)
    reader = lambda values: lambda: values  # noqa: E731
    assert static_key(reader(items)) == static_key(reader([1.0]))
    before = static_key(reader(items))
    items.append(2.0)
    assert static_key(reader(items)) != before


def test_jc_chain_refuses_what_is_not_a_transform():
    """jc.chain names the argument that is not a built transformation."""
    with pytest.raises(TypeError, match=r"chain's argument 1 must be an optax.GradientTransformation"):
        jc.chain(jc.sgd(0.1), jc.adam)
