"""Gradient descent: plain, heavy-ball momentum and Nesterov momentum.

The course's chapter on gradient descent: ``p_{t+1} = p_t - η g_t``; with momentum the step
follows a velocity ``b_t = μ b_{t-1} + g_t`` that remembers past gradients.  torch's dampening and
Keras's learning rate inside the buffer are variants in ``jaxopt_course.conventions.variants``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import optax
from optax import tree_utils as otu

from jaxopt_course.base import ArrayLike, ScalarOrSchedule
from jaxopt_course.checks import check_range, check_same_structure
from jaxopt_course.hyperparams import hyperparameters
from jaxopt_course.learning_rate import scale_by_learning_rate
from jaxopt_course.numerics import as_float32


class ScaleByMomentumState(NamedTuple):
    """State of :func:`scale_by_momentum`."""

    trace: optax.Updates  # b_{t-1}, the momentum buffer (optax calls it the trace), one per parameter


@hyperparameters
def scale_by_momentum(
    momentum: ArrayLike = 0.9, *, nesterov: bool = False, accumulator_dtype: Any = None
) -> optax.GradientTransformation:
    """Heavy-ball momentum (Polyak), or Nesterov's form, as a direction.

    .. math::
        b_t = μ\\, b_{t-1} + g_t, \\quad b_0 = 0; \\qquad
        d_t = b_t \\quad\\text{(heavy ball)}, \\qquad d_t = g_t + μ\\, b_t \\quad\\text{(Nesterov)}

    Args:
      momentum: μ >= 0 (μ = 1 never forgets; the course's E3 runs it).
      nesterov: the look-ahead direction ``g_t + μ b_t`` (Sutskever et al.'s form, shared by
        torch, optax and Keras: the gradient is taken at the current point).
      accumulator_dtype: dtype of the buffer (None: the parameters').

    References:
      Polyak, "Some methods of speeding up the convergence of iteration methods", 1964.
      Sutskever, Martens, Dahl, Hinton, "On the importance of initialization and momentum in deep
      learning", 2013.
    """
    check_range("momentum", momentum, low=0.0)

    def init_fn(params):
        return ScaleByMomentumState(trace=otu.tree_zeros_like(params, dtype=accumulator_dtype))

    def update_fn(updates, state, params=None):
        del params
        check_same_structure(updates, state.trace, "momentum buffer built by init()")
        mu = as_float32(momentum)
        velocity = jax.tree.map(lambda g, b: (mu * b + g).astype(b.dtype), updates, state.trace)
        if nesterov:
            direction = jax.tree.map(lambda g, b: (g + mu * b).astype(g.dtype), updates, velocity)
        else:
            direction = jax.tree.map(lambda g, b: b.astype(g.dtype), updates, velocity)
        return direction, ScaleByMomentumState(trace=velocity)

    return optax.GradientTransformation(init_fn, update_fn)


@hyperparameters
def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    accumulator_dtype: Any = None,
) -> optax.GradientTransformation:
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    .. math::
        p_{t+1} = p_t - η_t\\, d_t

    with ``d_t = g_t`` without momentum and ``d_t`` from :func:`scale_by_momentum` with it.
    Batch, stochastic and mini-batch gradient descent are this same rule; they differ only in
    how many samples ``g_t`` averages over (``jaxopt_course.training.fit``'s ``batch_size``).

    Args:
      learning_rate: η: a number >= 0, an array, or a schedule ``step -> η``.
      momentum: μ, or None for plain gradient descent.
      nesterov: Nesterov's look-ahead form (needs a momentum).
      accumulator_dtype: dtype of the momentum buffer.

    Returns:
      An ``optax.GradientTransformation``.

    Example:
      >>> import jax.numpy as jnp, optax, jaxopt_course as jc
      >>> opt = jc.sgd(0.1)
      >>> p = jnp.array(1.0)
      >>> u, _ = opt.update(p, opt.init(p))      # gradient of p²/2 is p
      >>> float(optax.apply_updates(p, u))
      0.9

    References:
      Robbins, Monro, "A stochastic approximation method", 1951.
    """
    if nesterov and momentum is None:
        raise ValueError("nesterov=True needs a momentum > 0; got momentum=None")
    if nesterov:
        check_range("momentum (with nesterov=True)", momentum, low=0.0, low_inclusive=False)
    step = scale_by_learning_rate(learning_rate)
    if momentum is None:
        return step
    return optax.chain(scale_by_momentum(momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype), step)
