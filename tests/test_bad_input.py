"""Bad hyper-parameters raise ValueError naming the argument and the accepted range."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import pytest

import jaxopt_course as jc
from jaxopt_course.conventions import d2l as d2l_convention
from jaxopt_course.conventions import keras as keras_convention
from jaxopt_course.conventions import pytorch as torch_convention

FACTORIES = {
    "sgd": jc.sgd,
    "adagrad": jc.adagrad,
    "rmsprop": jc.rmsprop,
    "adadelta": jc.adadelta,
    "adam": jc.adam,
    "adamw": jc.adamw,
}


@pytest.mark.parametrize("name", list(FACTORIES))
@pytest.mark.parametrize("learning_rate", [-0.1, math.nan, math.inf, jnp.array([0.1, -1.0])])
def test_bad_learning_rate(name, learning_rate):
    """A negative or non-finite learning rate (also inside an array) is refused by name."""
    with pytest.raises(ValueError, match=r"learning_rate must be a finite number in \[0, inf\)"):
        FACTORIES[name](learning_rate)


@pytest.mark.parametrize("name", list(FACTORIES))
@pytest.mark.parametrize("learning_rate", ["0.1", None, [0.1], True])
def test_learning_rate_neither_number_nor_schedule(name, learning_rate):
    """A learning rate that is neither a number, an array nor a callable is refused."""
    if name == "adadelta" and learning_rate is None:
        pytest.skip("adadelta's learning_rate has a default")
    with pytest.raises(ValueError, match="learning_rate must be"):
        FACTORIES[name](learning_rate)


@pytest.mark.parametrize(
    "build,argument",
    [
        (lambda v: jc.adam(0.1, b1=v), "b1"),
        (lambda v: jc.adam(0.1, b2=v), "b2"),
        (lambda v: jc.rmsprop(0.1, decay=v), "decay"),
        (lambda v: jc.adadelta(1.0, rho=v), "rho"),
    ],
)
@pytest.mark.parametrize("value", [1.0, -0.1, 1.5, math.nan])
def test_decay_rates_outside_unit_interval(build, argument, value):
    """β1, β2, decay and ρ must lie in [0, 1)."""
    with pytest.raises(ValueError, match=rf"{argument} must be a finite number in \[0, 1\)"):
        build(value)


@pytest.mark.parametrize(
    "build,argument",
    [
        (lambda: jc.adam(0.1, eps=-1e-8), "eps"),
        (lambda: jc.adagrad(0.1, eps=-1.0), "eps"),
        (lambda: jc.rmsprop(0.1, eps=-1.0), "eps"),
        (lambda: jc.adadelta(1.0, eps=-1.0), "eps"),
        (lambda: jc.sgd(0.1, momentum=-0.5), "momentum"),
        (lambda: jc.rmsprop(0.1, momentum=-0.5), "momentum"),
        (lambda: jc.adagrad(0.1, initial_accumulator_value=-1.0), "initial_accumulator_value"),
        (lambda: jc.adamw(0.1, weight_decay=-1.0), "weight_decay"),
        (lambda: torch_convention.sgd(0.1, momentum=0.9, dampening=2.0), "dampening"),
    ],
)
def test_negative_eps_momentum_and_decay(build, argument):
    """eps, momentum, accumulators and weight decay must be >= 0."""
    with pytest.raises(ValueError, match=rf"^{argument} must be"):
        build()


def test_nesterov_without_momentum():
    """Nesterov's form needs a momentum: None and 0 are both refused."""
    with pytest.raises(ValueError, match="nesterov=True needs a momentum"):
        jc.sgd(0.1, nesterov=True)
    with pytest.raises(ValueError, match="momentum"):
        jc.sgd(0.1, momentum=0.0, nesterov=True)
    with pytest.raises(ValueError, match="nesterov=True needs a momentum"):
        jc.rmsprop(0.1, nesterov=True)


def test_structural_options_are_checked():
    """String options name their accepted values; removed options are refused, not ignored."""
    from jaxopt_course import schedules

    with pytest.raises(ValueError, match="anneal must be 'cos' or 'linear'; got 'exp'"):
        schedules.one_cycle(0.1, 30, anneal="exp")
    with pytest.raises(TypeError, match="unexpected keyword argument 'amsgrad_max'"):
        jc.adam(0.1, amsgrad=True, amsgrad_max="max")  # the variants live in conventions/ now


def test_traced_hyperparameters_are_accepted():
    """Traced values cannot be checked, and building an optimiser from them works under jit."""

    @jax.jit
    def first_step(learning_rate, b1):
        optimizer = jc.adam(learning_rate, b1=b1)
        p = jnp.ones(2)
        return optimizer.update(p, optimizer.init(p), p)[0]

    assert jnp.allclose(first_step(0.1, 0.9), -0.1, atol=1e-6)


@pytest.mark.parametrize(
    "build,argument",
    [
        (lambda: torch_convention.sgd(lr=-0.1), r"lr must be a finite number in \[0, inf\)"),
        (lambda: torch_convention.adam(betas=(1.5, 0.999)), r"betas\[0\] must be a finite number in \[0, 1\)"),
        (lambda: torch_convention.adamw(betas=(0.9, 1.0)), r"betas\[1\] must be"),
        (lambda: torch_convention.rmsprop(alpha=1.0), r"alpha must be"),
        (lambda: torch_convention.adagrad(lr_decay=-1.0), r"lr_decay must be"),
        (
            lambda: torch_convention.sgd(0.1, momentum=0.9, nesterov=True, dampening=0.1),
            r"dampening \(with nesterov=True\) must be",
        ),
        (lambda: keras_convention.adam(beta_1=2.0), r"beta_1 must be"),
        (lambda: keras_convention.adam(epsilon=-1.0), r"epsilon must be"),
        (lambda: keras_convention.rmsprop(rho=1.0), r"rho must be"),
        (lambda: keras_convention.sgd(learning_rate=math.nan), r"learning_rate must be"),
        (lambda: d2l_convention.rmsprop(0.1, gamma=1.0), r"gamma must be"),
        (lambda: d2l_convention.sgd(lr=-1.0), r"lr must be"),
    ],
)
def test_conventions_name_their_own_arguments(build, argument):
    """A bad value given to a convention is reported under the name the user typed (lr, betas[0], alpha, beta_1)."""
    with pytest.raises(ValueError, match="^" + argument):
        build()
