"""``torch.optim`` (2.13) semantics: torch's defaults, keyword names and update formulas.

Differences from this package's optax-style defaults that change trajectories:

* ``weight_decay`` is coupled L2 (``g ← g + λ p`` before anything else) in every optimiser but
  ``adamw``, which shrinks ``p ← p · float32(1 - lr λ)`` before the Adam step.
* ε sits outside the square root (AdaGrad, RMSProp, Adam); AdaGrad starts its sum at 0.
* The learning rate multiplies the whole momentum buffer (SGD, RMSProp): ``p -= lr · b_t``.
* SGD's first momentum buffer is a copy of the gradient, so ``dampening`` starts on step 2.
* Adam's bias corrections are exact (torch computes them in double); AMSGrad keeps the maximum
  of the raw second moment.
* ``momentum=0`` is plain gradient descent (the buffer then equals the gradient).

A torch scheduler stepped once per optimiser step is a schedule ``step -> lr`` passed as ``lr``;
one stepped once per epoch of B steps is ``schedules.per_epoch(schedule, B)``.
"""

from __future__ import annotations

import optax

from jaxopt_course.base import ArrayLike, ScalarOrSchedule
from jaxopt_course.checks import check_range, renamed_arguments
from jaxopt_course.optimizers import adadelta as _adadelta
from jaxopt_course.optimizers import adagrad as _adagrad
from jaxopt_course.optimizers import adam as _adam
from jaxopt_course.optimizers import adamw as _adamw
from jaxopt_course.optimizers import rmsprop as _rmsprop
from jaxopt_course.optimizers import sgd as _sgd
from jaxopt_course.regularizers import add_l2


def _betas(betas) -> tuple[ArrayLike, ArrayLike]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), each in [0, 1); got {betas!r}")
    return betas[0], betas[1]


@renamed_arguments(learning_rate="lr")
def sgd(
    lr: ScalarOrSchedule = 1e-3,
    momentum: ArrayLike = 0.0,
    dampening: ArrayLike = 0.0,
    nesterov: bool = False,
    weight_decay: ArrayLike = 0.0,
) -> optax.GradientTransformation:
    """``torch.optim.SGD``: ``g ← g + λp``; ``b_1 = g``, ``b_t = μ b + (1-d) g``; ``p -= lr · b``.

    With ``nesterov`` the step is ``lr · (g + μ b_t)``; torch requires momentum > 0 and
    dampening = 0 for it, and so does this.
    """
    if nesterov:
        check_range("dampening (with nesterov=True)", dampening, low=0.0, high=0.0, high_inclusive=True)
    return optax.chain(
        add_l2(weight_decay), _sgd(lr, momentum, nesterov, dampening=dampening, lr_in_momentum=False)
    )


@renamed_arguments(learning_rate="lr")
def adagrad(
    lr: ScalarOrSchedule = 1e-2,
    lr_decay: ArrayLike = 0.0,
    weight_decay: ArrayLike = 0.0,
    initial_accumulator_value: ArrayLike = 0.0,
    eps: ArrayLike = 1e-10,
) -> optax.GradientTransformation:
    """``torch.optim.Adagrad``: ``s += g²``; ``p -= lr/(1 + (t-1) δ) · g / (sqrt(s) + ε)``."""
    return optax.chain(
        add_l2(weight_decay),
        _adagrad(lr, initial_accumulator_value, eps, eps_in_sqrt=False, lr_decay=lr_decay),
    )


@renamed_arguments(learning_rate="lr", decay="alpha")
def rmsprop(
    lr: ScalarOrSchedule = 1e-2,
    alpha: ArrayLike = 0.99,
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
    momentum: ArrayLike = 0.0,
    centered: bool = False,
) -> optax.GradientTransformation:
    """``torch.optim.RMSprop``: ``v = α v + (1-α) g²``; ``b = μ b + g / (sqrt(v - ḡ²) + ε)``;
    ``p -= lr · b`` (ḡ only when centered; ε outside the root; lr outside the buffer)."""
    return optax.chain(
        add_l2(weight_decay),
        _rmsprop(lr, alpha, eps, 0.0, centered, momentum, eps_in_sqrt=False, lr_in_momentum=False),
    )


@renamed_arguments(learning_rate="lr")
def adadelta(
    lr: ScalarOrSchedule = 1.0, rho: ArrayLike = 0.9, eps: ArrayLike = 1e-6, weight_decay: ArrayLike = 0.0
) -> optax.GradientTransformation:
    """``torch.optim.Adadelta``: Zeiler's rule with ε inside both roots, scaled by ``lr``."""
    return optax.chain(add_l2(weight_decay), _adadelta(lr, rho, eps))


@renamed_arguments(learning_rate="lr", b1="betas[0]", b2="betas[1]")
def adam(
    lr: ScalarOrSchedule = 1e-3,
    betas=(0.9, 0.999),
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
    amsgrad: bool = False,
) -> optax.GradientTransformation:
    """``torch.optim.Adam``: ``p -= lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + ε)``, L2 decay."""
    b1, b2 = _betas(betas)
    return optax.chain(add_l2(weight_decay), _adam(lr, b1, b2, eps, 0.0, amsgrad, amsgrad_max="raw"))


@renamed_arguments(learning_rate="lr", b1="betas[0]", b2="betas[1]")
def adamw(
    lr: ScalarOrSchedule = 1e-3,
    betas=(0.9, 0.999),
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 1e-2,
    amsgrad: bool = False,
) -> optax.GradientTransformation:
    """``torch.optim.AdamW``: ``p ← p · float32(1 - lr λ)``, then the Adam step."""
    b1, b2 = _betas(betas)
    return _adamw(lr, b1, b2, eps, 0.0, weight_decay, amsgrad, multiplicative_decay=True, amsgrad_max="raw")


from jaxopt_course.conventions.torch_schedules import (  # noqa: E402 - torch's schedulers, same namespace
    cosine_annealing_lr,
    exponential_lr,
    lambda_lr,
    linear_lr,
    multi_step_lr,
    one_cycle_lr,
    step_lr,
)

__all__ = [
    "adadelta",
    "adagrad",
    "adam",
    "adamw",
    "cosine_annealing_lr",
    "exponential_lr",
    "lambda_lr",
    "linear_lr",
    "multi_step_lr",
    "one_cycle_lr",
    "rmsprop",
    "sgd",
    "step_lr",
]
