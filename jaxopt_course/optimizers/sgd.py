"""Gradient descent: plain, heavy-ball momentum and Nesterov momentum.

The course's chapter on gradient descent: ``p_{t+1} = p_t - η g_t``; with momentum the step
follows a velocity ``b_t = μ b_{t-1} + (1 - d) g_t`` that remembers past gradients.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from optax import tree_utils as otu

from jaxopt_course.base import ArrayLike, ScalarOrSchedule
from jaxopt_course.checks import check_range, check_same_structure
from jaxopt_course.learning_rate import scale_by_learning_rate
from jaxopt_course.numerics import as_float32, safe_increment


class ScaleByMomentumState(NamedTuple):
    """State of :func:`scale_by_momentum`."""

    count: jax.Array  # int32 scalar: updates taken; 0 means the next update is the first
    velocity: optax.Updates  # b_{t-1}, the momentum buffer, one array per parameter


def scale_by_momentum(
    momentum: ArrayLike = 0.9,
    dampening: ArrayLike = 0.0,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """Heavy-ball momentum (Polyak), or Nesterov's form, as a direction.

    .. math::
        b_1 = g_1, \\qquad b_t = μ\\, b_{t-1} + (1 - d)\\, g_t \\quad (t > 1)

        d_t = b_t \\quad\\text{(heavy ball)}, \\qquad d_t = g_t + μ\\, b_t \\quad\\text{(Nesterov)}

    The first buffer is a plain copy of the gradient, as torch does; with dampening ``d = 0``
    this is the same as starting from ``b_0 = 0`` (optax's ``trace``, d2l's ``v``).

    Args:
      momentum: μ >= 0. μ = 0 gives plain gradient descent (the buffer is then the gradient, and
        dampening is ignored, as torch ignores it).  μ = 1 never forgets (the course's E3 runs it).
      dampening: d in [0, 1], torch's ``dampening``; the weight of the new gradient is ``1 - d``
        from the second step on.
      nesterov: use the look-ahead direction ``g_t + μ b_t``.

    Returns:
      An ``optax.GradientTransformation``; chain it with :func:`scale_by_learning_rate`.

    Note:
      Nesterov's form here is the one torch, optax and Keras share (Sutskever et al., 2013): the
      gradient is taken at the current point and the step looks ahead along the velocity.

    References:
      Polyak, "Some methods of speeding up the convergence of iteration methods", 1964.
      Sutskever, Martens, Dahl, Hinton, "On the importance of initialization and momentum in deep
      learning", 2013.
    """
    check_range("momentum", momentum, low=0.0)
    check_range("dampening", dampening, low=0.0, high=1.0, high_inclusive=True)
    if nesterov:
        check_range("momentum (with nesterov=True)", momentum, low=0.0, low_inclusive=False)

    def init_fn(params):
        return ScaleByMomentumState(count=jnp.zeros([], jnp.int32), velocity=otu.tree_zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        check_same_structure(updates, state.velocity, "momentum buffer built by init()")
        mu = as_float32(momentum)
        weight = jnp.where(mu == 0, 1.0, 1.0 - as_float32(dampening))
        first = state.count == 0
        velocity = jax.tree.map(
            lambda g, b: jnp.where(first, g, mu * b + weight * g).astype(b.dtype), updates, state.velocity
        )
        if nesterov:
            updates = jax.tree.map(lambda g, b: (g + mu * b).astype(g.dtype), updates, velocity)
        else:
            updates = jax.tree.map(lambda g, b: b.astype(g.dtype), updates, velocity)
        return updates, ScaleByMomentumState(count=safe_increment(state.count), velocity=velocity)

    return optax.GradientTransformation(init_fn, update_fn)


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    *,
    dampening: ArrayLike = 0.0,
    lr_in_momentum: bool = False,
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
      nesterov: Nesterov's look-ahead form (needs momentum > 0).
      dampening: torch's dampening d (see :func:`scale_by_momentum`).
      lr_in_momentum: where η sits relative to the buffer.  False (torch, optax, d2l):
        ``b_t = μ b_{t-1} + g_t``, ``p -= η_t b_t``.  True (Keras): ``m_t = μ m_{t-1} - η_t g_t``,
        ``p += m_t``, so the buffer holds already-scaled steps.  The two agree for a constant η
        and differ under a schedule.

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
    step = scale_by_learning_rate(learning_rate)
    if momentum is None:
        return step
    buffer = scale_by_momentum(momentum, dampening, nesterov=nesterov)
    return optax.chain(step, buffer) if lr_in_momentum else optax.chain(buffer, step)
