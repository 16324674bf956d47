"""RMSProp: AdaGrad with a leaky (exponentially weighted) average of squared gradients."""

from __future__ import annotations

from typing import NamedTuple

import jax
import optax
from optax import tree_utils as otu

from jaxopt_course.base import ArrayLike, ScalarOrSchedule
from jaxopt_course.checks import check_decay, check_range, check_same_structure
from jaxopt_course.learning_rate import scale_by_learning_rate
from jaxopt_course.numerics import as_float32, one_minus_and_log
from jaxopt_course.optimizers.adagrad import adagrad_denominator, divide_or_zero
from jaxopt_course.optimizers.sgd import scale_by_momentum


class ScaleByRmsState(NamedTuple):
    """State of :func:`scale_by_rms`."""

    nu: optax.Updates  # v_t, the moving average of g², one array per parameter
    mu: optax.Updates  # ḡ_t, the moving average of g (used only when centered)


def scale_by_rms(
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    *,
    eps_in_sqrt: bool = True,
    centered: bool = False,
) -> optax.GradientTransformation:
    """RMSProp's direction: the gradient over the root of a moving average of its square.

    .. math::
        v_t = γ v_{t-1} + (1 - γ) g_t^2, \\qquad v_0 = \\text{initial\\_scale}

        \\bar g_t = γ \\bar g_{t-1} + (1 - γ) g_t \\quad (\\text{centered only})

        d_t = g_t / \\sqrt{v_t - \\bar g_t^2 + ε} \\quad (\\text{eps\\_in\\_sqrt}), \\qquad
        d_t = g_t / (\\sqrt{v_t - \\bar g_t^2} + ε) \\quad (\\text{otherwise})

    (``\\bar g_t = 0`` when not centered.)

    Args:
      decay: γ in [0, 1) (optax, Keras 0.9; torch's ``alpha`` 0.99).
      eps: ε >= 0.
      initial_scale: v_0 >= 0 (1.0 reproduces TensorFlow 1).
      eps_in_sqrt: ε inside the root (optax, Keras, d2l) or outside (torch).
      centered: divide by an estimate of the variance instead of the raw second moment.

    Note:
      With v_0 = 0 the first step has size about ``η / sqrt(1 - γ)`` per coordinate: 10 η for
      γ = 0.99.

    References:
      Tieleman, Hinton, "Lecture 6.5 - RMSProp", COURSERA: Neural Networks for Machine Learning,
      2012.  Graves, "Generating sequences with recurrent neural networks", 2013 (centered form).
    """
    check_decay("decay", decay)
    check_range("eps", eps, low=0.0)
    check_range("initial_scale", initial_scale, low=0.0)

    def init_fn(params):
        return ScaleByRmsState(nu=otu.tree_full_like(params, initial_scale), mu=otu.tree_zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        check_same_structure(updates, state.nu, "RMSProp moving average built by init()")
        one_minus_decay, _ = one_minus_and_log(decay)
        gamma = as_float32(decay)
        nu = jax.tree.map(lambda g, v: gamma * v + one_minus_decay * (g * g), updates, state.nu)
        if centered:
            mu = jax.tree.map(lambda g, m: m + one_minus_decay * (g - m), updates, state.mu)
        else:
            mu = state.mu
        variance = jax.tree.map(lambda v, m: v - m * m, nu, mu) if centered else nu
        updates = jax.tree.map(
            lambda g, s: divide_or_zero(g, adagrad_denominator(s, eps, eps_in_sqrt)).astype(g.dtype),
            updates,
            variance,
        )
        return updates, ScaleByRmsState(nu=nu, mu=mu)

    return optax.GradientTransformation(init_fn, update_fn)


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    centered: bool = False,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    *,
    eps_in_sqrt: bool = True,
    lr_in_momentum: bool = True,
) -> optax.GradientTransformation:
    """RMSProp: ``p_{t+1} = p_t - η_t · d_t`` with d_t from :func:`scale_by_rms`.

    With momentum μ the scaled directions feed a heavy-ball buffer.  Defaults follow optax.

    Args:
      learning_rate: η: a number >= 0, an array, or a schedule ``step -> η``.
      decay, eps, initial_scale, centered, eps_in_sqrt: see :func:`scale_by_rms`.
      momentum: μ, or None for none.
      nesterov: Nesterov's form of the momentum buffer.
      lr_in_momentum: True (optax, Keras): ``b_t = μ b_{t-1} + η_t d_t``, ``p -= b_t``.
        False (torch): ``b_t = μ b_{t-1} + d_t``, ``p -= η_t b_t``.  Equal for a constant η.

    Returns:
      An ``optax.GradientTransformation``.

    References:
      Tieleman, Hinton, 2012.
    """
    if nesterov and momentum is None:
        raise ValueError("nesterov=True needs a momentum > 0; got momentum=None")
    direction = scale_by_rms(decay, eps, initial_scale, eps_in_sqrt=eps_in_sqrt, centered=centered)
    step = scale_by_learning_rate(learning_rate)
    if momentum is None:
        return optax.chain(direction, step)
    buffer = scale_by_momentum(momentum, nesterov=nesterov)
    return optax.chain(direction, step, buffer) if lr_in_momentum else optax.chain(direction, buffer, step)
