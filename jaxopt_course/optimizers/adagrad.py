"""AdaGrad: a per-coordinate step that shrinks with the sum of squared gradients."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from optax import tree_utils as otu

from jaxopt_course.base import ArrayLike, ScalarOrSchedule
from jaxopt_course.checks import check_learning_rate, check_range, check_same_structure
from jaxopt_course.learning_rate import learning_rate_at, scale_by_learning_rate
from jaxopt_course.numerics import as_float32


class ScaleByAdagradState(NamedTuple):
    """State of :func:`scale_by_adagrad`."""

    sum_of_squares: optax.Updates  # s_t = s_0 + Σ_{k<=t} g_k², one array per parameter


def adagrad_denominator(sum_of_squares: jax.Array, eps: ArrayLike, eps_in_sqrt: bool) -> jax.Array:
    """``sqrt(s + ε)`` (eps inside) or ``sqrt(s) + ε`` (eps outside)."""
    eps = as_float32(eps)
    return jnp.sqrt(sum_of_squares + eps) if eps_in_sqrt else jnp.sqrt(sum_of_squares) + eps


def divide_or_zero(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
    """``numerator / denominator``, and 0 where the denominator is 0 (a coordinate never moved)."""
    safe = jnp.where(denominator > 0, denominator, 1.0)
    return jnp.where(denominator > 0, numerator / safe, 0.0)


def scale_by_adagrad(
    initial_accumulator_value: ArrayLike = 0.1,
    eps: ArrayLike = 1e-7,
    *,
    eps_in_sqrt: bool = True,
) -> optax.GradientTransformation:
    """AdaGrad's direction: the gradient divided by the root of the summed squared gradients.

    .. math::
        s_t = s_{t-1} + g_t \\odot g_t, \\qquad s_0 = \\text{initial\\_accumulator\\_value}

        d_t = g_t / \\sqrt{s_t + ε} \\quad (\\text{eps\\_in\\_sqrt}), \\qquad
        d_t = g_t / (\\sqrt{s_t} + ε) \\quad (\\text{otherwise})

    A coordinate whose denominator is 0 (no gradient yet, s_0 = 0, ε = 0) gets direction 0.

    Args:
      initial_accumulator_value: s_0 >= 0 (optax and Keras 0.1; torch and d2l 0).
      eps: ε >= 0 (optax and Keras 1e-7 inside the root; torch 1e-10 outside; d2l 1e-6 inside).
      eps_in_sqrt: put ε inside the square root (optax, Keras, d2l) or outside (torch).

    References:
      Duchi, Hazan, Singer, "Adaptive subgradient methods for online learning and stochastic
      optimization", 2011.
    """
    check_range("initial_accumulator_value", initial_accumulator_value, low=0.0)
    check_range("eps", eps, low=0.0)

    def init_fn(params):
        return ScaleByAdagradState(sum_of_squares=otu.tree_full_like(params, initial_accumulator_value))

    def update_fn(updates, state, params=None):
        del params
        check_same_structure(updates, state.sum_of_squares, "AdaGrad accumulator built by init()")
        sum_of_squares = jax.tree.map(lambda g, s: s + g * g, updates, state.sum_of_squares)
        updates = jax.tree.map(
            lambda g, s: divide_or_zero(g, adagrad_denominator(s, eps, eps_in_sqrt)).astype(g.dtype),
            updates,
            sum_of_squares,
        )
        return updates, ScaleByAdagradState(sum_of_squares=sum_of_squares)

    return optax.GradientTransformation(init_fn, update_fn)


def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: ArrayLike = 0.1,
    eps: ArrayLike = 1e-7,
    *,
    eps_in_sqrt: bool = True,
    lr_decay: ArrayLike = 0.0,
) -> optax.GradientTransformation:
    """AdaGrad: ``p_{t+1} = p_t - η_t · g_t / sqrt(s_t + ε)``.

    Defaults follow optax (s_0 = 0.1, ε = 1e-7 inside the root).

    Args:
      learning_rate: η: a number >= 0, an array, or a schedule ``step -> η``.
      initial_accumulator_value: s_0 (see :func:`scale_by_adagrad`).
      eps: ε (see :func:`scale_by_adagrad`).
      eps_in_sqrt: ε inside the square root (True) or outside (False, torch).
      lr_decay: torch's ``lr_decay`` δ >= 0: update ``t`` (0-based) uses ``η_t / (1 + t δ)``.

    Returns:
      An ``optax.GradientTransformation``.

    Note:
      The course (seed notes, E7) shows AdaGrad's steps shrinking as ``s_t`` grows: with a small
      η the loss barely falls.

    References:
      Duchi, Hazan, Singer, 2011.
    """
    check_range("lr_decay", lr_decay, low=0.0)
    direction = scale_by_adagrad(initial_accumulator_value, eps, eps_in_sqrt=eps_in_sqrt)

    def decayed_learning_rate(count):
        return learning_rate_at(learning_rate, count) / (1.0 + count.astype(jnp.float32) * as_float32(lr_decay))

    check_learning_rate(learning_rate)
    return optax.chain(direction, scale_by_learning_rate(decayed_learning_rate))
