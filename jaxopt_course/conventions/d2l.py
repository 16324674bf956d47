"""The d2l book's from-scratch optimisers (chapter "Optimization Algorithms").

d2l writes each rule by hand: ε inside the square root (1e-6; 1e-5 for AdaDelta), accumulators
starting at 0, no learning rate in AdaDelta, Adam's bias corrections in Python double, and no
weight decay inside the optimisers (the book adds an L2 penalty to the loss).  d2l divides the
gradient by the batch size inside ``sgd``; here the loss is a mean, which does the same.
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


@renamed_arguments(learning_rate="lr")
def sgd(lr: ScalarOrSchedule, momentum: ArrayLike | None = None) -> optax.GradientTransformation:
    """d2l ``sgd`` / ``sgd_momentum``: ``v = μ v + g`` (v_0 = 0); ``p -= lr v``."""
    return _sgd(lr, momentum)


@renamed_arguments(learning_rate="lr")
def adagrad(lr: ScalarOrSchedule, eps: ArrayLike = 1e-6) -> optax.GradientTransformation:
    """d2l ``adagrad``: ``s += g²``; ``p -= lr g / sqrt(s + ε)`` with s_0 = 0."""
    return _adagrad(lr, 0.0, eps)


@renamed_arguments(learning_rate="lr", decay="gamma")
def rmsprop(lr: ScalarOrSchedule, gamma: ArrayLike = 0.9, eps: ArrayLike = 1e-6) -> optax.GradientTransformation:
    """d2l ``rmsprop``: ``s = γ s + (1-γ) g²``; ``p -= lr g / sqrt(s + ε)``."""
    return _rmsprop(lr, gamma, eps)


def adadelta(rho: ArrayLike = 0.9, eps: ArrayLike = 1e-5) -> optax.GradientTransformation:
    """d2l ``adadelta``: Zeiler's rule with no learning rate and ε = 1e-5."""
    return _adadelta(1.0, rho, eps)


@renamed_arguments(learning_rate="lr")
def adam(
    lr: ScalarOrSchedule, b1: ArrayLike = 0.9, b2: ArrayLike = 0.999, eps: ArrayLike = 1e-6
) -> optax.GradientTransformation:
    """d2l ``adam``: ``p -= lr m̂ / (sqrt(v̂) + ε)`` with ε = 1e-6 and exact bias corrections."""
    return _adam(lr, b1, b2, eps)


def adamw(*args, **kwargs):
    """d2l's optimisation chapter has no AdamW: this raises NotImplementedError."""
    raise NotImplementedError(
        "d2l's 'Optimization Algorithms' chapter has no AdamW (the book adds an L2 penalty to the "
        "loss instead); use jaxopt_course.conventions.torch.adamw or jaxopt_course.adamw"
    )
