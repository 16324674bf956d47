"""AdaGrad: a per-coordinate step that shrinks with the sum of squared gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from optax import tree_utils as otu

from jaxopt_course.base import ArrayLike, ScalarOrSchedule
from jaxopt_course.checks import check_range, check_same_structure
from jaxopt_course.hyperparams import hyperparameters
from jaxopt_course.learning_rate import scale_by_learning_rate
from jaxopt_course.numerics import abs_sq, as_float32

# (accumulated second moment, ε) -> denominator
Denominator = Callable[[jax.Array, jax.Array], jax.Array]


def eps_in_root(s: jax.Array, eps: jax.Array) -> jax.Array:
    """``sqrt(s + ε)``: ε inside the square root."""
    return jnp.sqrt(s + eps)


def divide_or_zero(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
    """``numerator / denominator``, and 0 where the denominator is 0 (a coordinate never moved)."""
    nonzero = denominator != 0
    return jnp.where(nonzero, numerator / jnp.where(nonzero, denominator, 1.0), 0.0)


class ScaleByAdagradState(NamedTuple):
    """State of :func:`scale_by_adagrad`."""

    sum_of_squares: optax.Updates  # s_t = s_0 + Σ_{k<=t} |g_k|², one array per parameter


@hyperparameters
def scale_by_adagrad(
    initial_accumulator_value: ArrayLike = 0.1,
    eps: ArrayLike = 1e-7,
    *,
    denominator: Denominator = eps_in_root,
) -> optax.GradientTransformation:
    """AdaGrad's direction: the gradient over the root of the summed squared gradients.

    .. math::
        s_t = s_{t-1} + |g_t|^2, \\qquad s_0 = \\text{initial\\_accumulator\\_value}, \\qquad
        d_t = g_t / \\sqrt{s_t + ε}

    A coordinate whose denominator is 0 (no gradient yet, s_0 = 0, ε = 0) gets direction 0.
    ``denominator`` changes where ε sits (torch: ``conventions.variants.eps_outside_root``).

    Args:
      initial_accumulator_value: s_0 >= 0 (optax and Keras 0.1; torch and d2l 0).
      eps: ε >= 0.

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
        s = jax.tree.map(lambda g, s: (s + abs_sq(g)).astype(s.dtype), updates, state.sum_of_squares)
        e = as_float32(eps)
        direction = jax.tree.map(lambda g, s: divide_or_zero(g, denominator(s, e)).astype(g.dtype), updates, s)
        return direction, ScaleByAdagradState(sum_of_squares=s)

    return optax.GradientTransformation(init_fn, update_fn)


@hyperparameters
def adagrad(
    learning_rate: ScalarOrSchedule, initial_accumulator_value: ArrayLike = 0.1, eps: ArrayLike = 1e-7
) -> optax.GradientTransformation:
    """AdaGrad: ``p_{t+1} = p_t - η_t · g_t / sqrt(s_t + ε)`` (optax's defaults).

    Args:
      learning_rate: η: a number >= 0, an array, or a schedule ``step -> η``.
      initial_accumulator_value, eps: see :func:`scale_by_adagrad`.

    Note:
      The course (E7) shows AdaGrad's steps shrinking as ``s_t`` grows: with a small η the loss
      barely falls.

    References:
      Duchi, Hazan, Singer, 2011.
    """
    return optax.chain(scale_by_adagrad(initial_accumulator_value, eps), scale_by_learning_rate(learning_rate))
