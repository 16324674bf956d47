"""``torch.optim`` (2.13) semantics: torch's defaults, keyword names and update formulas.

Differences from this package's optax-style defaults that change trajectories (docs/conventions.md
has the formulas):

* ``weight_decay`` is coupled L2 (``g ← g + λ p`` before anything else) in every optimiser but
  ``adamw`` (and ``adam(decoupled_weight_decay=True)``), which shrinks ``p ← p · float32(1 - lr λ)``
  before the Adam step.
* ε sits outside the square root (AdaGrad, RMSProp, Adam); AdaGrad starts its sum at 0.
* The learning rate multiplies the whole momentum buffer (SGD, RMSProp): ``p -= lr · b_t``.
* SGD's first momentum buffer is a copy of the gradient, so ``dampening`` starts on step 2.
* Adam's bias corrections are exact (torch computes them in double); AMSGrad keeps the maximum
  of the raw second moment.
* ``maximize=True`` negates the gradient first, before the weight decay.

A torch scheduler stepped once per optimiser step is a schedule ``step -> lr`` passed as ``lr``;
one stepped once per epoch of B steps is ``schedules.per_epoch(schedule, B)``.  Each factory checks
its arguments under torch's names before it builds the core blocks.
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
from jaxopt_course.regularizers import add_l2


def _betas(betas) -> tuple[ArrayLike, ArrayLike]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), each in [0, 1); got {betas!r}")
    check_decay("betas[0]", betas[0])
    check_decay("betas[1]", betas[1])
    return betas[0], betas[1]


def _check(lr, weight_decay, eps=0.0):
    check_learning_rate(lr, "lr")
    check_range("weight_decay", weight_decay, low=0.0)
    check_range("eps", eps, low=0.0)


def _chain(transforms, *, maximize: bool) -> optax.GradientTransformation:
    """``maximize`` negates the gradient before everything else (torch's order)."""
    return optax.chain(*([variants.negate()] if maximize else []), *transforms)


@hyperparameters
def sgd(
    lr: ScalarOrSchedule = 1e-3,
    momentum: ArrayLike = 0.0,
    dampening: ArrayLike = 0.0,
    weight_decay: ArrayLike = 0.0,
    nesterov: bool = False,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    """``torch.optim.SGD``: ``g ← g + λp``; ``b_1 = g``, ``b_t = μ b + (1-d) g``; ``p -= lr · b``.

    With ``nesterov`` the step is ``lr · (g + μ b_t)``; torch requires momentum > 0 and
    dampening = 0 for it, and so does this.
    """
    _check(lr, weight_decay)
    check_range("momentum", momentum, low=0.0)
    check_range("dampening", dampening, low=0.0, high=1.0, high_inclusive=True)
    if nesterov:
        check_range("momentum (with nesterov=True)", momentum, low=0.0, low_inclusive=False)
        check_range("dampening (with nesterov=True)", dampening, low=0.0, high=0.0, high_inclusive=True)
    step = variants.lr_outside_momentum(lr, momentum=momentum, dampening=dampening, nesterov=nesterov)
    return _chain([add_l2(weight_decay), step], maximize=maximize)


@hyperparameters
def adagrad(
    lr: ScalarOrSchedule = 1e-2,
    lr_decay: ArrayLike = 0.0,
    weight_decay: ArrayLike = 0.0,
    initial_accumulator_value: ArrayLike = 0.0,
    eps: ArrayLike = 1e-10,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    """``torch.optim.Adagrad``: ``s += g²``; ``p -= lr/(1 + (t-1) δ) · g / (sqrt(s) + ε)``."""
    _check(lr, weight_decay, eps)
    check_range("lr_decay", lr_decay, low=0.0)
    check_range("initial_accumulator_value", initial_accumulator_value, low=0.0)
    direction = scale_by_adagrad(initial_accumulator_value, eps, denominator=variants.eps_outside_root)
    step = scale_by_learning_rate(variants.torch_lr_decay(lr, lr_decay))
    return _chain([add_l2(weight_decay), direction, step], maximize=maximize)


@hyperparameters
def rmsprop(
    lr: ScalarOrSchedule = 1e-2,
    alpha: ArrayLike = 0.99,
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
    momentum: ArrayLike = 0.0,
    centered: bool = False,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    """``torch.optim.RMSprop``: ``v = α v + (1-α) g²``; ``b = μ b + g / (sqrt(v - ḡ²) + ε)``;
    ``p -= lr · b`` (ḡ only when centered; ε outside the root; lr outside the buffer)."""
    _check(lr, weight_decay, eps)
    check_decay("alpha", alpha)
    check_range("momentum", momentum, low=0.0)
    direction = scale_by_rms(alpha, eps, centered=centered, denominator=variants.eps_outside_root)
    step = variants.lr_outside_momentum(lr, momentum=momentum)
    return _chain([add_l2(weight_decay), direction, step], maximize=maximize)


@hyperparameters
def adadelta(
    lr: ScalarOrSchedule = 1.0,
    rho: ArrayLike = 0.9,
    eps: ArrayLike = 1e-6,
    weight_decay: ArrayLike = 0.0,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    """``torch.optim.Adadelta``: Zeiler's rule with ε inside both roots, scaled by ``lr``."""
    _check(lr, weight_decay, eps)
    check_decay("rho", rho)
    return _chain([add_l2(weight_decay), scale_by_adadelta(rho, eps), scale_by_learning_rate(lr)], maximize=maximize)


def _adam_direction(b1, b2, *, eps, amsgrad):
    if amsgrad:
        return scale_by_amsgrad(b1, b2, eps=eps, maximum=variants.raw_maximum)
    return scale_by_adam(b1, b2, eps=eps)


@hyperparameters
def adam(
    lr: ScalarOrSchedule = 1e-3,
    betas=(0.9, 0.999),
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
) -> optax.GradientTransformation:
    """``torch.optim.Adam``: ``p -= lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + ε)``, L2 decay.

    ``decoupled_weight_decay=True`` is torch's AdamW: ``p ← p · float32(1 - lr λ)`` first.
    """
    b1, b2 = _betas(betas)
    _check(lr, weight_decay, eps)
    step = [_adam_direction(b1, b2, eps=eps, amsgrad=amsgrad), scale_by_learning_rate(lr)]
    if decoupled_weight_decay:
        return _chain([*step, variants.torch_decoupled_decay(weight_decay, lr)], maximize=maximize)
    return _chain([add_l2(weight_decay), *step], maximize=maximize)


@hyperparameters
def adamw(
    lr: ScalarOrSchedule = 1e-3,
    betas=(0.9, 0.999),
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 1e-2,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    """``torch.optim.AdamW``: ``p ← p · float32(1 - lr λ)``, then the Adam step."""
    return adam(
        lr, betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True
    )


from jaxopt_course.conventions.pytorch_schedules import (  # noqa: E402 - torch's schedulers, same namespace
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
