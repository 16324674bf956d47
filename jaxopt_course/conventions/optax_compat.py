"""optax (0.2.x) semantics, name for name: optax's signatures, defaults, dtypes and edge cases.

Each name here can replace ``optax.<name>``: optax's own test files pass against it
(tests/test_optax_compat.py).  What differs from the top-level ``jaxopt_course`` (which shares
optax's defaults):

* Adam's bias corrections ``1 - β^t`` are rounded in float32, as optax rounds them, and the
  moving-average weight ``1 - β`` is formed in double for a Python float;
* schedules accept optax's degenerate arguments (zero transition steps give a constant schedule)
  where ``jaxopt_course.schedules`` refuses them;
* ``add_decayed_weights`` accepts ``updates=None`` trees as optax does.

docs/conventions.md lists the formulas and docs/optax_compat.md the test counts.
"""

# no ``from __future__ import annotations``: optax's tests read the learning-rate annotation
# (``optax.ScalarOrSchedule``) from the signature, so it must be the object, not a string
from typing import Any

import optax as _optax
from optax import ScalarOrSchedule

from jaxopt_course.base import ArrayLike
from jaxopt_course.conventions import variants
from jaxopt_course.hyperparams import hyperparameters
from jaxopt_course.learning_rate import scale_by_learning_rate as _scale_by_learning_rate
from jaxopt_course.optimizers.adadelta import scale_by_adadelta as _scale_by_adadelta
from jaxopt_course.optimizers.adagrad import scale_by_adagrad as _scale_by_adagrad
from jaxopt_course.optimizers.adam import scale_by_adam as _scale_by_adam
from jaxopt_course.optimizers.adam import scale_by_amsgrad as _scale_by_amsgrad
from jaxopt_course.optimizers.rmsprop import scale_by_rms as _scale_by_rms
from jaxopt_course.optimizers.sgd import scale_by_momentum as _scale_by_momentum
from jaxopt_course.regularizers import add_l2 as _add_l2
from jaxopt_course.regularizers import clip_by_global_norm as _clip_by_global_norm
from jaxopt_course.regularizers import clip_by_value as _clip_by_value


def _identity() -> _optax.GradientTransformation:
    return _optax.GradientTransformation(lambda params: _optax.EmptyState(), lambda u, s, p=None: (u, s))


# --------------------------------------------------------------------------- blocks
@hyperparameters
def scale_by_learning_rate(learning_rate: ScalarOrSchedule, *, flip_sign: bool = True) -> _optax.GradientTransformation:
    """``optax.scale_by_learning_rate``: ``u = -η_t d``."""
    return _scale_by_learning_rate(learning_rate, flip_sign=flip_sign)


@hyperparameters
def trace(decay: ArrayLike, nesterov: bool = False, accumulator_dtype: Any = None) -> _optax.GradientTransformation:
    """``optax.trace``: ``b = g + μ b``; the direction is ``b`` (or ``g + μ b`` with nesterov)."""
    return _scale_by_momentum(decay, nesterov=nesterov, accumulator_dtype=accumulator_dtype)


@hyperparameters
def scale_by_adam(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
) -> _optax.GradientTransformation:
    """``optax.scale_by_adam``, with optax's float32 bias corrections."""
    return _scale_by_adam(
        b1, b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov, rounding=variants.float32_rounding
    )


@hyperparameters
def scale_by_amsgrad(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
) -> _optax.GradientTransformation:
    """``optax.scale_by_amsgrad``: the maximum of the corrected second moment."""
    return _scale_by_amsgrad(b1, b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, rounding=variants.float32_rounding)


@hyperparameters
def scale_by_rms(
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> _optax.GradientTransformation:
    """``optax.scale_by_rms``: ``v = γ v + (1-γ)|g|²``; ``d = g / sqrt(v + ε)`` (or ``sqrt(v) + ε``)."""
    return _optax_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction, centered=False)


@hyperparameters
def scale_by_stddev(
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> _optax.GradientTransformation:
    """``optax.scale_by_stddev``: centered RMSProp's direction."""
    return _optax_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction, centered=True)


def _optax_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction, *, centered):
    """The core RMS direction with optax's arithmetic: float32 roundings, ε where optax puts it."""
    denominator = variants.eps_in_root if eps_in_sqrt else variants.eps_outside_root
    return _scale_by_rms(
        decay,
        eps,
        initial_scale=initial_scale,
        centered=centered,
        denominator=denominator,
        bias_correction=bias_correction,
        rounding=variants.float32_rounding,
    )


@hyperparameters
def scale_by_adadelta(rho: ArrayLike = 0.9, eps: ArrayLike = 1e-6) -> _optax.GradientTransformation:
    """``optax.scale_by_adadelta``."""
    return _scale_by_adadelta(rho, eps)


# --------------------------------------------------------------------------- optimisers
@hyperparameters
def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    accumulator_dtype: Any = None,
) -> _optax.GradientTransformation:
    """``optax.sgd``: ``m = g + μ m``; ``u = -lr m`` (or ``-lr (g + μ m)``); no momentum: ``-lr g``."""
    buffer = (
        _identity() if momentum is None else trace(momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype)
    )
    return _optax.chain(buffer, scale_by_learning_rate(learning_rate))


@hyperparameters
def adagrad(
    learning_rate: ScalarOrSchedule, initial_accumulator_value: ArrayLike = 0.1, eps: ArrayLike = 1e-7
) -> _optax.GradientTransformation:
    """``optax.adagrad``: ``s += |g|²``; ``u = -lr g / sqrt(s + ε)``."""
    return _optax.chain(_scale_by_adagrad(initial_accumulator_value, eps), scale_by_learning_rate(learning_rate))


@hyperparameters
def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> _optax.GradientTransformation:
    """``optax.rmsprop``: the learning rate is applied before the momentum buffer."""
    block = scale_by_stddev if centered else scale_by_rms
    direction = block(decay, eps, initial_scale=initial_scale, eps_in_sqrt=eps_in_sqrt, bias_correction=bias_correction)
    buffer = _identity() if momentum is None else trace(momentum, nesterov=nesterov)
    return _optax.chain(direction, scale_by_learning_rate(learning_rate), buffer)


@hyperparameters
def adadelta(
    learning_rate: ScalarOrSchedule | None = None,
    rho: ArrayLike = 0.9,
    eps: ArrayLike = 1e-6,
    weight_decay: ArrayLike = 0.0,
    weight_decay_mask=None,
) -> _optax.GradientTransformation:
    """``optax.adadelta``: no learning rate by default (1.0); coupled weight decay first."""
    return _optax.chain(
        add_decayed_weights(weight_decay, mask=weight_decay_mask),
        scale_by_adadelta(rho, eps),
        scale_by_learning_rate(1.0 if learning_rate is None else learning_rate),
    )


@hyperparameters
def adam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
) -> _optax.GradientTransformation:
    """``optax.adam``, with optax's float32 bias corrections."""
    direction = scale_by_adam(b1, b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov)
    return _optax.chain(direction, scale_by_learning_rate(learning_rate))


@hyperparameters
def nadam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
) -> _optax.GradientTransformation:
    """``optax.nadam``: :func:`adam` with Nesterov's first moment."""
    return adam(learning_rate, b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov)


@hyperparameters
def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
) -> _optax.GradientTransformation:
    """``optax.amsgrad``."""
    direction = scale_by_amsgrad(b1, b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype)
    return _optax.chain(direction, scale_by_learning_rate(learning_rate))


@hyperparameters
def adamw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
    weight_decay: ArrayLike = 1e-4,
    mask=None,
    *,
    nesterov: bool = False,
) -> _optax.GradientTransformation:
    """``optax.adamw``: ``u = -lr (m̂ / (sqrt(v̂) + ε) + λ p)``."""
    return _optax.chain(
        scale_by_adam(b1, b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
        add_decayed_weights(weight_decay, mask=mask),
        scale_by_learning_rate(learning_rate),
    )


# --------------------------------------------------------------------------- regularisers
@hyperparameters
def add_decayed_weights(weight_decay: ArrayLike = 0.0, mask=None) -> _optax.GradientTransformation:
    """``optax.add_decayed_weights``: ``g ← g + λ p``; ``updates=None`` passes through as None."""
    decay = _add_l2(weight_decay, mask=mask)

    def update_fn(updates, state, params=None):
        if updates is None:
            return None, state
        return decay.update(updates, state, params)

    return _optax.GradientTransformation(decay.init, update_fn)


@hyperparameters
def clip(max_delta: ArrayLike) -> _optax.GradientTransformation:
    """``optax.clip``: element-wise ``clip(g, -c, c)``."""
    return _clip_by_value(max_delta)


@hyperparameters
def clip_by_global_norm(max_norm: ArrayLike) -> _optax.GradientTransformation:
    """``optax.clip_by_global_norm``: ``g · c / ‖g‖`` when ``‖g‖ > c``."""
    return _clip_by_global_norm(max_norm)


from jaxopt_course.conventions.optax_compat_schedules import (  # noqa: E402 - optax's schedules, same namespace
    constant_schedule,
    cosine_decay_schedule,
    cosine_onecycle_schedule,
    exponential_decay,
    join_schedules,
    linear_onecycle_schedule,
    linear_schedule,
    piecewise_constant_schedule,
    piecewise_interpolate_schedule,
    polynomial_schedule,
    warmup_cosine_decay_schedule,
)

__all__ = [
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "exponential_decay",
    "join_schedules",
    "linear_onecycle_schedule",
    "linear_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
    "warmup_cosine_decay_schedule",
    "adadelta",
    "adagrad",
    "adam",
    "adamw",
    "add_decayed_weights",
    "amsgrad",
    "clip",
    "clip_by_global_norm",
    "nadam",
    "rmsprop",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_amsgrad",
    "scale_by_learning_rate",
    "scale_by_rms",
    "scale_by_stddev",
    "sgd",
    "trace",
]
