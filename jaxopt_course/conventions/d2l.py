"""The d2l book's from-scratch optimisers (chapter "Optimization Algorithms").

d2l writes each rule by hand: ε inside the square root (1e-6; 1e-5 for AdaDelta), accumulators
starting at 0, no learning rate in AdaDelta, Adam's bias corrections in Python double, and no
weight decay inside the optimisers (the book adds an L2 penalty to the loss).  d2l divides the
gradient by the batch size inside ``sgd``; here the loss is a mean, which does the same.  Each
factory checks its arguments under d2l's names.
"""

from __future__ import annotations

import optax

from jaxopt_course.base import ArrayLike, ScalarOrSchedule
from jaxopt_course.checks import check_decay, check_learning_rate, check_range
from jaxopt_course.hyperparams import hyperparameters
from jaxopt_course.learning_rate import scale_by_learning_rate
from jaxopt_course.optimizers.adadelta import scale_by_adadelta
from jaxopt_course.optimizers.adagrad import scale_by_adagrad
from jaxopt_course.optimizers.adam import scale_by_adam
from jaxopt_course.optimizers.rmsprop import scale_by_rms
from jaxopt_course.optimizers.sgd import scale_by_momentum


@hyperparameters
def sgd(lr: ScalarOrSchedule, momentum: ArrayLike | None = None) -> optax.GradientTransformation:
    """d2l ``sgd`` / ``sgd_momentum``: ``v = μ v + g`` (v_0 = 0); ``p -= lr v``."""
    check_learning_rate(lr, "lr")
    if momentum is None:
        return scale_by_learning_rate(lr)
    check_range("momentum", momentum, low=0.0)
    return optax.chain(scale_by_momentum(momentum), scale_by_learning_rate(lr))


@hyperparameters
def adagrad(lr: ScalarOrSchedule, eps: ArrayLike = 1e-6) -> optax.GradientTransformation:
    """d2l ``adagrad``: ``s += g²``; ``p -= lr g / sqrt(s + ε)`` with s_0 = 0."""
    check_learning_rate(lr, "lr")
    check_range("eps", eps, low=0.0)
    return optax.chain(scale_by_adagrad(0.0, eps), scale_by_learning_rate(lr))


@hyperparameters
def rmsprop(lr: ScalarOrSchedule, gamma: ArrayLike = 0.9, eps: ArrayLike = 1e-6) -> optax.GradientTransformation:
    """d2l ``rmsprop``: ``s = γ s + (1-γ) g²``; ``p -= lr g / sqrt(s + ε)``."""
    check_learning_rate(lr, "lr")
    check_decay("gamma", gamma)
    check_range("eps", eps, low=0.0)
    return optax.chain(scale_by_rms(gamma, eps), scale_by_learning_rate(lr))


@hyperparameters
def adadelta(rho: ArrayLike = 0.9, eps: ArrayLike = 1e-5) -> optax.GradientTransformation:
    """d2l ``adadelta``: Zeiler's rule with no learning rate (a step of 1.0) and ε = 1e-5."""
    return optax.chain(scale_by_adadelta(rho, eps), scale_by_learning_rate(1.0))


@hyperparameters
def adam(
    lr: ScalarOrSchedule, b1: ArrayLike = 0.9, b2: ArrayLike = 0.999, eps: ArrayLike = 1e-6
) -> optax.GradientTransformation:
    """d2l ``adam``: ``p -= lr m̂ / (sqrt(v̂) + ε)`` with ε = 1e-6 and exact bias corrections."""
    check_learning_rate(lr, "lr")
    return optax.chain(scale_by_adam(b1, b2, eps=eps), scale_by_learning_rate(lr))


def adamw(*args, **kwargs):
    """d2l's optimisation chapter has no AdamW: this raises NotImplementedError."""
    raise NotImplementedError(
        "d2l's 'Optimization Algorithms' chapter has no AdamW (the book adds an L2 penalty to the "
        "loss instead); use jaxopt_course.conventions.pytorch.adamw or jaxopt_course.adamw"
    )
