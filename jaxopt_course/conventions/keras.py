"""Keras 3 semantics: Keras's defaults, keyword names and update formulas.

Differences that change trajectories:

* ``weight_decay`` is *decoupled* on every optimiser: ``p ← p - p λ lr`` before the step (so
  ``keras.adam(weight_decay=λ)`` is AdamW, not L2 Adam).
* The learning rate sits inside momentum buffers: ``m = μ m - lr g``, ``p += m`` (SGD, RMSProp).
* ε sits inside the square root (AdaGrad, RMSProp, AdaDelta); Adam uses TensorFlow's ε̂:
  ``p -= lr sqrt(1-β2^t)/(1-β1^t) · m / (sqrt(v) + ε)``, with the powers in float32.
* Defaults: lr 0.01 for SGD and 1e-3 for the others, ε 1e-7, AdaDelta ρ 0.95, AdaGrad s_0 0.1.
"""

from __future__ import annotations

import optax

from jaxopt_course.base import ArrayLike, ScalarOrSchedule
from jaxopt_course.checks import check_decay, check_learning_rate, check_range
from jaxopt_course.conventions import variants
from jaxopt_course.hyperparams import hyperparameters
from jaxopt_course.learning_rate import scale_by_learning_rate
from jaxopt_course.optimizers.adadelta import scale_by_adadelta
from jaxopt_course.optimizers.adagrad import scale_by_adagrad
from jaxopt_course.optimizers.adam import scale_by_adam, scale_by_amsgrad
from jaxopt_course.optimizers.rmsprop import scale_by_rms
from jaxopt_course.regularizers import decoupled_weight_decay


def _check(learning_rate, weight_decay, epsilon=0.0):
    check_learning_rate(learning_rate, "learning_rate")
    if weight_decay is not None:
        check_range("weight_decay", weight_decay, low=0.0)
    check_range("epsilon", epsilon, low=0.0)


def _with_decay(transforms, *, weight_decay, learning_rate):
    """Keras's decoupled ``p ← p - p λ lr``, beside every optimiser's step."""
    if weight_decay is None:
        return optax.chain(*transforms)
    return optax.chain(*transforms, decoupled_weight_decay(weight_decay, learning_rate))


@hyperparameters
def sgd(
    learning_rate: ScalarOrSchedule = 0.01,
    momentum: ArrayLike = 0.0,
    nesterov: bool = False,
    weight_decay: ArrayLike | None = None,
) -> optax.GradientTransformation:
    """``keras.optimizers.SGD``: ``m = μ m - lr g``; ``p += m`` (or ``p += μ m - lr g``)."""
    _check(learning_rate, weight_decay)
    check_range("momentum", momentum, low=0.0)
    step = variants.lr_inside_momentum(learning_rate, momentum=momentum, nesterov=nesterov)
    return _with_decay([step], weight_decay=weight_decay, learning_rate=learning_rate)


@hyperparameters
def adagrad(
    learning_rate: ScalarOrSchedule = 1e-3,
    initial_accumulator_value: ArrayLike = 0.1,
    epsilon: ArrayLike = 1e-7,
    weight_decay: ArrayLike | None = None,
) -> optax.GradientTransformation:
    """``keras.optimizers.Adagrad``: ``s += g²``; ``p -= lr g / sqrt(s + ε)``."""
    _check(learning_rate, weight_decay, epsilon)
    check_range("initial_accumulator_value", initial_accumulator_value, low=0.0)
    transforms = [scale_by_adagrad(initial_accumulator_value, epsilon), scale_by_learning_rate(learning_rate)]
    return _with_decay(transforms, weight_decay=weight_decay, learning_rate=learning_rate)


@hyperparameters
def rmsprop(
    learning_rate: ScalarOrSchedule = 1e-3,
    rho: ArrayLike = 0.9,
    momentum: ArrayLike = 0.0,
    epsilon: ArrayLike = 1e-7,
    centered: bool = False,
    weight_decay: ArrayLike | None = None,
) -> optax.GradientTransformation:
    """``keras.optimizers.RMSprop``: ``v = ρv + (1-ρ)g²``; ``m = μ m + lr g / sqrt(v - ḡ² + ε)``;
    ``p -= m``."""
    _check(learning_rate, weight_decay, epsilon)
    check_decay("rho", rho)
    check_range("momentum", momentum, low=0.0)
    transforms = [
        scale_by_rms(rho, epsilon, centered=centered),
        variants.lr_inside_momentum(learning_rate, momentum=momentum),
    ]
    return _with_decay(transforms, weight_decay=weight_decay, learning_rate=learning_rate)


@hyperparameters
def adadelta(
    learning_rate: ScalarOrSchedule = 1e-3,
    rho: ArrayLike = 0.95,
    epsilon: ArrayLike = 1e-7,
    weight_decay: ArrayLike | None = None,
) -> optax.GradientTransformation:
    """``keras.optimizers.Adadelta``: Zeiler's rule, lr 1e-3 by default (torch's is 1.0)."""
    _check(learning_rate, weight_decay, epsilon)
    check_decay("rho", rho)
    transforms = [scale_by_adadelta(rho, epsilon), scale_by_learning_rate(learning_rate)]
    return _with_decay(transforms, weight_decay=weight_decay, learning_rate=learning_rate)


@hyperparameters
def adam(
    learning_rate: ScalarOrSchedule = 1e-3,
    beta_1: ArrayLike = 0.9,
    beta_2: ArrayLike = 0.999,
    epsilon: ArrayLike = 1e-7,
    amsgrad: bool = False,
    weight_decay: ArrayLike | None = None,
) -> optax.GradientTransformation:
    """``keras.optimizers.Adam``: ``p -= lr sqrt(1-β2^t)/(1-β1^t) · m / (sqrt(v) + ε)`` (ε̂, float32
    powers; AMSGrad over the raw second moment)."""
    _check(learning_rate, weight_decay, epsilon)
    check_decay("beta_1", beta_1)
    check_decay("beta_2", beta_2)
    keras_arithmetic = dict(eps=epsilon, rounding=variants.float32_rounding, denominator=variants.eps_hat)
    if amsgrad:
        direction = scale_by_amsgrad(beta_1, beta_2, maximum=variants.raw_maximum, **keras_arithmetic)
    else:
        direction = scale_by_adam(beta_1, beta_2, **keras_arithmetic)
    transforms = [direction, scale_by_learning_rate(learning_rate)]
    return _with_decay(transforms, weight_decay=weight_decay, learning_rate=learning_rate)


@hyperparameters
def adamw(
    learning_rate: ScalarOrSchedule = 1e-3,
    weight_decay: ArrayLike = 0.004,
    beta_1: ArrayLike = 0.9,
    beta_2: ArrayLike = 0.999,
    epsilon: ArrayLike = 1e-7,
    amsgrad: bool = False,
) -> optax.GradientTransformation:
    """``keras.optimizers.AdamW``: ``p ← p - p λ lr``, then Keras's Adam step."""
    return adam(learning_rate, beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad, weight_decay=weight_decay)


from jaxopt_course.conventions.keras_schedules import (  # noqa: E402 - Keras's schedules, same namespace
    cosine_decay,
    exponential_decay,
    inverse_time_decay,
    piecewise_constant_decay,
    polynomial_decay,
)

__all__ = [
    "adadelta",
    "adagrad",
    "adam",
    "adamw",
    "cosine_decay",
    "exponential_decay",
    "inverse_time_decay",
    "piecewise_constant_decay",
    "polynomial_decay",
    "rmsprop",
    "sgd",
]
