"""RMSProp: AdaGrad with a leaky (exponentially weighted) average of squared gradients."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from optax import tree_utils as otu

from jaxopt_course.base import ArrayLike, ScalarOrSchedule
from jaxopt_course.checks import check_decay, check_range, check_same_structure
from jaxopt_course.hyperparams import hyperparameters
from jaxopt_course.learning_rate import scale_by_learning_rate
from jaxopt_course.numerics import abs_sq, as_float32, safe_increment
from jaxopt_course.optimizers.adagrad import Denominator, divide_or_zero, eps_in_root
from jaxopt_course.optimizers.adam import ACCURATE, Rounding
from jaxopt_course.optimizers.sgd import scale_by_momentum


class ScaleByRmsState(NamedTuple):
    """State of :func:`scale_by_rms`."""

    count: jax.Array  # int32 scalar: updates taken (used by the bias correction)
    nu: optax.Updates  # v_t, the moving average of |g|², one array per parameter
    mu: optax.Updates  # ḡ_t, the moving average of g (stays 0 unless centered)


@hyperparameters
def scale_by_rms(
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    *,
    centered: bool = False,
    bias_correction: bool = False,
    denominator: Denominator = eps_in_root,
    rounding: Rounding = ACCURATE,
) -> optax.GradientTransformation:
    """RMSProp's direction: the gradient over the root of a moving average of its square.

    .. math::
        v_t = γ v_{t-1} + (1 - γ) |g_t|^2, \\qquad v_0 = \\text{initial\\_scale}

        \\bar g_t = γ \\bar g_{t-1} + (1 - γ) g_t \\quad (\\text{centered; else } \\bar g_t = 0)

        d_t = g_t / \\sqrt{v_t - \\bar g_t^2 + ε}

    With ``bias_correction`` (v_0 = 0) the moments are divided by ``1 - γ^t`` as in Adam;
    ``rounding`` says how ``1 - γ`` and ``1 - γ^t`` are formed (see :func:`scale_by_adam`).
    ``denominator`` changes where ε sits (torch: ``conventions.variants.eps_outside_root``).

    Args:
      decay: γ in [0, 1) (optax, Keras 0.9; torch's ``alpha`` 0.99).
      eps: ε >= 0.
      initial_scale: v_0 >= 0 (1.0 reproduces TensorFlow 1).
      centered: divide by an estimate of the variance instead of the raw second moment (Graves).

    Note:
      With v_0 = 0 the first step has size about ``η / sqrt(1 - γ)`` per coordinate.

    References:
      Tieleman, Hinton, "Lecture 6.5 - RMSProp", COURSERA: Neural Networks for Machine Learning,
      2012.  Graves, "Generating sequences with recurrent neural networks", 2013 (centered form).
    """
    check_decay("decay", decay)
    check_range("eps", eps, low=0.0)
    check_range("initial_scale", initial_scale, low=0.0)

    def init_fn(params):
        nu, mu = otu.tree_full_like(params, initial_scale), otu.tree_zeros_like(params)
        return ScaleByRmsState(count=jnp.zeros([], jnp.int32), nu=nu, mu=mu)

    def update_fn(updates, state, params=None):
        del params
        check_same_structure(updates, state.nu, "RMSProp moving average built by init()")
        c = rounding.one_minus(decay)
        nu = jax.tree.map(lambda g, v: (as_float32(decay) * v + c * abs_sq(g)).astype(v.dtype), updates, state.nu)
        mu = jax.tree.map(lambda g, m: (m + c * (g - m)).astype(m.dtype), updates, state.mu) if centered else state.mu
        count = safe_increment(state.count)
        bc = rounding.correction(decay, count) if bias_correction else 1.0
        variance = (
            jax.tree.map(lambda v, m: v / bc - abs_sq(m / bc), nu, mu)
            if centered
            else jax.tree.map(lambda v: v / bc, nu)
        )
        e = as_float32(eps)
        direction = jax.tree.map(lambda g, s: divide_or_zero(g, denominator(s, e)).astype(g.dtype), updates, variance)
        return direction, ScaleByRmsState(count=count, nu=nu, mu=mu)

    return optax.GradientTransformation(init_fn, update_fn)


@hyperparameters
def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    centered: bool = False,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """RMSProp: ``p_{t+1} = p_t - η_t · d_t`` with d_t from :func:`scale_by_rms` (optax's defaults).

    With momentum μ the scaled steps feed a heavy-ball buffer, ``b_t = μ b_{t-1} + η_t d_t``,
    ``p -= b_t`` (optax, Keras; torch puts η outside the buffer, ``conventions.pytorch``).

    Args:
      learning_rate: η: a number >= 0, an array, or a schedule ``step -> η``.
      decay, eps, initial_scale, centered: see :func:`scale_by_rms`.
      momentum: μ, or None for none.
      nesterov: Nesterov's form of the momentum buffer.

    References:
      Tieleman, Hinton, 2012.
    """
    if nesterov and momentum is None:
        raise ValueError("nesterov=True needs a momentum > 0; got momentum=None")
    if nesterov:
        check_range("momentum (with nesterov=True)", momentum, low=0.0, low_inclusive=False)
    direction = scale_by_rms(decay, eps, initial_scale, centered=centered)
    step = scale_by_learning_rate(learning_rate)
    if momentum is None:
        return optax.chain(direction, step)
    return optax.chain(direction, step, scale_by_momentum(momentum, nesterov=nesterov))
