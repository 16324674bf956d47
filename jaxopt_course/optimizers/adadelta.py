"""AdaDelta: RMSProp whose step size is a moving average of past step sizes."""

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
from jaxopt_course.numerics import abs_sq, as_float32, one_minus_and_log


class ScaleByAdadeltaState(NamedTuple):
    """State of :func:`scale_by_adadelta`."""

    nu: optax.Updates  # s_t, moving average of |g|², one array per parameter
    delta_nu: optax.Updates  # Δx_t, moving average of the squared (unscaled) steps


@hyperparameters
def scale_by_adadelta(rho: ArrayLike = 0.9, eps: ArrayLike = 1e-6) -> optax.GradientTransformation:
    """AdaDelta's direction.

    .. math::
        s_t = ρ s_{t-1} + (1 - ρ) |g_t|^2

        g'_t = \\sqrt{(Δx_{t-1} + ε) / (s_t + ε)} \\odot g_t

        Δx_t = ρ Δx_{t-1} + (1 - ρ) |g'_t|^2

    and the direction is ``g'_t``.  Both averages start at 0; ε sits inside both roots.

    Args:
      rho: ρ in [0, 1) (torch, optax 0.9; Keras 0.95).
      eps: ε >= 0 (torch, optax 1e-6; Keras 1e-7; d2l 1e-5).

    Note:
      The step average accumulates the step *before* the learning rate, as torch, optax and Keras
      do; the learning rate (1.0 in torch, none in the paper and d2l) only multiplies at the end.

    References:
      Zeiler, "ADADELTA: An adaptive learning rate method", 2012.
    """
    check_decay("rho", rho)
    check_range("eps", eps, low=0.0)

    def init_fn(params):
        return ScaleByAdadeltaState(nu=otu.tree_zeros_like(params), delta_nu=otu.tree_zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        check_same_structure(updates, state.nu, "AdaDelta moving averages built by init()")
        one_minus_rho, _ = one_minus_and_log(rho)
        epsilon = as_float32(eps)
        decay = as_float32(rho)
        nu = jax.tree.map(lambda g, s: (decay * s + one_minus_rho * abs_sq(g)).astype(s.dtype), updates, state.nu)
        steps = jax.tree.map(
            lambda g, s, dx: jnp.sqrt(dx + epsilon) / jnp.sqrt(s + epsilon) * g, updates, nu, state.delta_nu
        )
        delta_nu = jax.tree.map(
            lambda d, dx: (decay * dx + one_minus_rho * abs_sq(d)).astype(dx.dtype), steps, state.delta_nu
        )
        updates = jax.tree.map(lambda d, g: d.astype(g.dtype), steps, updates)
        return updates, ScaleByAdadeltaState(nu=nu, delta_nu=delta_nu)

    return optax.GradientTransformation(init_fn, update_fn)


@hyperparameters
def adadelta(
    learning_rate: ScalarOrSchedule = 1.0, rho: ArrayLike = 0.9, eps: ArrayLike = 1e-6
) -> optax.GradientTransformation:
    """AdaDelta: ``p_{t+1} = p_t - η_t g'_t`` with ``g'_t`` from :func:`scale_by_adadelta`.

    Args:
      learning_rate: η, 1.0 by default (the paper has none; torch's default is 1.0, Keras's 1e-3).
      rho: ρ in [0, 1).
      eps: ε >= 0.

    Returns:
      An ``optax.GradientTransformation``.

    References:
      Zeiler, 2012.
    """
    return optax.chain(scale_by_adadelta(rho, eps), scale_by_learning_rate(learning_rate))
