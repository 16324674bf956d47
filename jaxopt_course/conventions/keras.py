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
from jaxopt_course.checks import renamed_arguments
from jaxopt_course.optimizers import adadelta as _adadelta
from jaxopt_course.optimizers import adagrad as _adagrad
from jaxopt_course.optimizers import adam as _adam
from jaxopt_course.optimizers import rmsprop as _rmsprop
from jaxopt_course.optimizers import sgd as _sgd
from jaxopt_course.regularizers import decoupled_weight_decay


def _with_decay(optimizer, weight_decay, learning_rate):
    if weight_decay is None:
        return optimizer
    return optax.chain(optimizer, decoupled_weight_decay(weight_decay, learning_rate))


@renamed_arguments(b1="beta_1", b2="beta_2", eps="epsilon")
def sgd(
    learning_rate: ScalarOrSchedule = 0.01,
    momentum: ArrayLike = 0.0,
    nesterov: bool = False,
    weight_decay: ArrayLike | None = None,
) -> optax.GradientTransformation:
    """``keras.optimizers.SGD``: ``m = μ m - lr g``; ``p += m`` (or ``p += μ m - lr g``)."""
    return _with_decay(_sgd(learning_rate, momentum, nesterov, lr_in_momentum=True), weight_decay, learning_rate)


@renamed_arguments(b1="beta_1", b2="beta_2", eps="epsilon")
def adagrad(
    learning_rate: ScalarOrSchedule = 1e-3,
    initial_accumulator_value: ArrayLike = 0.1,
    epsilon: ArrayLike = 1e-7,
    weight_decay: ArrayLike | None = None,
) -> optax.GradientTransformation:
    """``keras.optimizers.Adagrad``: ``s += g²``; ``p -= lr g / sqrt(s + ε)``."""
    return _with_decay(_adagrad(learning_rate, initial_accumulator_value, epsilon), weight_decay, learning_rate)


@renamed_arguments(b1="beta_1", b2="beta_2", eps="epsilon", decay="rho")
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
    optimizer = _rmsprop(learning_rate, rho, epsilon, 0.0, centered, momentum, lr_in_momentum=True)
    return _with_decay(optimizer, weight_decay, learning_rate)


@renamed_arguments(b1="beta_1", b2="beta_2", eps="epsilon")
def adadelta(
    learning_rate: ScalarOrSchedule = 1e-3,
    rho: ArrayLike = 0.95,
    epsilon: ArrayLike = 1e-7,
    weight_decay: ArrayLike | None = None,
) -> optax.GradientTransformation:
    """``keras.optimizers.Adadelta``: Zeiler's rule, lr 1e-3 by default (torch's is 1.0)."""
    return _with_decay(_adadelta(learning_rate, rho, epsilon), weight_decay, learning_rate)


@renamed_arguments(b1="beta_1", b2="beta_2", eps="epsilon")
def adam(
    learning_rate: ScalarOrSchedule = 1e-3,
    beta_1: ArrayLike = 0.9,
    beta_2: ArrayLike = 0.999,
    epsilon: ArrayLike = 1e-7,
    amsgrad: bool = False,
    weight_decay: ArrayLike | None = None,
) -> optax.GradientTransformation:
    """``keras.optimizers.Adam``: ``p -= lr sqrt(1-β2^t)/(1-β1^t) · m / (sqrt(v) + ε)`` (ε̂)."""
    optimizer = _adam(
        learning_rate,
        beta_1,
        beta_2,
        epsilon,
        0.0,
        amsgrad,
        amsgrad_max="raw",
        eps_hat=True,
        bias_correction_precision="float32",
    )
    return _with_decay(optimizer, weight_decay, learning_rate)


@renamed_arguments(b1="beta_1", b2="beta_2", eps="epsilon")
def adamw(
    learning_rate: ScalarOrSchedule = 1e-3,
    weight_decay: ArrayLike = 0.004,
    beta_1: ArrayLike = 0.9,
    beta_2: ArrayLike = 0.999,
    epsilon: ArrayLike = 1e-7,
    amsgrad: bool = False,
) -> optax.GradientTransformation:
    """``keras.optimizers.AdamW``: ``p ← p - p λ lr``, then Keras's Adam step."""
    return adam(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay)


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
