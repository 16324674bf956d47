"""optax (0.2.x) semantics: optax's signatures, defaults and float32 arithmetic.

These reproduce ``optax.<name>`` to float32 rounding, including its float32 Adam bias
corrections (``1 - β^t`` rounded in float32); ``jaxopt_course.<name>`` shares the defaults but
computes the corrections accurately.
"""

from __future__ import annotations

import optax as _optax

from jaxopt_course.base import ArrayLike, ScalarOrSchedule
from jaxopt_course.optimizers import adadelta as _adadelta
from jaxopt_course.optimizers import adagrad as _adagrad
from jaxopt_course.optimizers import adam as _adam
from jaxopt_course.optimizers import adamw as _adamw
from jaxopt_course.optimizers import rmsprop as _rmsprop
from jaxopt_course.optimizers import sgd as _sgd
from jaxopt_course.regularizers import add_l2


def sgd(learning_rate: ScalarOrSchedule, momentum: ArrayLike | None = None, nesterov: bool = False):
    """``optax.sgd``: ``m = g + μ m``; ``u = -lr m`` (or ``-lr (g + μ m)``)."""
    return _sgd(learning_rate, momentum, nesterov)


def adagrad(learning_rate: ScalarOrSchedule, initial_accumulator_value: ArrayLike = 0.1, eps: ArrayLike = 1e-7):
    """``optax.adagrad``: ``s += g²``; ``u = -lr g / sqrt(s + ε)``."""
    return _adagrad(learning_rate, initial_accumulator_value, eps)


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
):
    """``optax.rmsprop``: the learning rate is applied before the momentum buffer."""
    return _rmsprop(
        learning_rate, decay, eps, initial_scale, centered, momentum, nesterov, eps_in_sqrt=eps_in_sqrt
    )


def adadelta(
    learning_rate: ScalarOrSchedule | None = None, rho: ArrayLike = 0.9, eps: ArrayLike = 1e-6, weight_decay: ArrayLike = 0.0
):
    """``optax.adadelta``: no learning rate by default (1.0); coupled weight decay first."""
    return _optax.chain(add_l2(weight_decay), _adadelta(1.0 if learning_rate is None else learning_rate, rho, eps))


def adam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
):
    """``optax.adam``, with optax's float32 bias corrections."""
    return _adam(learning_rate, b1, b2, eps, eps_root, bias_correction_precision="float32")


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    weight_decay: ArrayLike = 1e-4,
    mask=None,
):
    """``optax.adamw``: ``u = -lr (m̂ / (sqrt(v̂) + ε) + λ p)``."""
    return _adamw(
        learning_rate, b1, b2, eps, eps_root, weight_decay, mask=mask, bias_correction_precision="float32"
    )
