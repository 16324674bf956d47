"""The frameworks' variants of the published algorithms, as small named pieces.

The core blocks in ``jaxopt_course.optimizers`` hold the papers' algorithms; each piece here
changes one detail, and the convention modules pass it in by keyword
(``scale_by_adagrad(..., denominator=eps_outside_root)``).  docs/conventions.md says which
framework uses which piece and how much the trajectories differ.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from optax import tree_utils as otu

from jaxopt_course.base import ArrayLike, ScalarOrSchedule
from jaxopt_course.checks import check_learning_rate, check_range, check_same_structure
from jaxopt_course.hyperparams import hyperparameters
from jaxopt_course.learning_rate import learning_rate_at, scale_by_learning_rate
from jaxopt_course.numerics import as_float32, safe_increment
from jaxopt_course.optimizers.adagrad import eps_in_root  # noqa: F401 - the default, named beside its variant
from jaxopt_course.optimizers.adam import Rounding
from jaxopt_course.optimizers.sgd import scale_by_momentum


# --------------------------------------------------------------------------- where ε sits
def eps_outside_root(s: jax.Array, eps: jax.Array) -> jax.Array:
    """``sqrt(s) + ε`` (torch's AdaGrad and RMSprop, optax's ``eps_in_sqrt=False``)."""
    return jnp.sqrt(s) + eps


def eps_hat(v_hat, eps, eps_root, correction2):
    """TensorFlow's and Keras's ε̂: ε added to the *uncorrected* root.

    ``m̂ / (sqrt(v̂) + ε / sqrt(1 - β2^t))``, which is Keras's
    ``m · sqrt(1 - β2^t) / (1 - β1^t) / (sqrt(v) + ε)`` written for the corrected moments."""
    return jnp.sqrt(v_hat + eps_root) + eps / jnp.sqrt(correction2)


# --------------------------------------------------------------------------- bias corrections
def float32_correction(beta: ArrayLike, count: jax.Array) -> jax.Array:
    """``1 - β^t`` with the power formed in float32 (optax, Keras): a relative error up to about
    1e-5 early in a run for β2 = 0.999, where ``1 - β^t`` cancels."""
    return 1.0 - as_float32(beta) ** count.astype(jnp.float32)


def one_minus_in_double(beta: ArrayLike) -> jax.Array:
    """``1 - β`` formed in double for a Python float, then rounded (optax's and Keras's weight)."""
    if isinstance(beta, numbers.Real):  # the same number as the array path, to float32 rounding
        return jnp.float32(1.0 - float(beta))
    return 1.0 - as_float32(beta)


# optax's and Keras's Adam arithmetic: both 1 - β and 1 - β^t rounded as those frameworks do
float32_rounding = Rounding(one_minus=one_minus_in_double, correction=float32_correction)


# --------------------------------------------------------------------------- AMSGrad's maximum
def raw_maximum(nu_max, nu, correction2):
    """torch's and Keras's AMSGrad: the maximum of the *raw* second moment, corrected afterwards."""
    new_max = jnp.maximum(nu_max, nu)
    return new_max, new_max / correction2


# --------------------------------------------------------------------------- momentum buffers
class TorchMomentumState(NamedTuple):
    """State of :func:`torch_momentum`."""

    count: jax.Array  # int32: updates taken; the first update copies the gradient into the buffer
    velocity: optax.Updates


@hyperparameters
def torch_momentum(
    momentum: ArrayLike, *, dampening: ArrayLike = 0.0, nesterov: bool = False
) -> optax.GradientTransformation:
    """torch's SGD buffer: ``b_1 = g_1``, ``b_t = μ b_{t-1} + (1 - d) g_t``; Nesterov ``g + μ b_t``.

    With dampening 0 this is the heavy ball from ``b_0 = 0``; μ = 0 is plain gradient descent
    (dampening is then ignored, as torch ignores it).
    """
    check_range("momentum", momentum, low=0.0)
    check_range("dampening", dampening, low=0.0, high=1.0, high_inclusive=True)

    def init_fn(params):
        return TorchMomentumState(count=jnp.zeros([], jnp.int32), velocity=otu.tree_zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        check_same_structure(updates, state.velocity, "momentum buffer built by init()")
        mu = as_float32(momentum)
        weight = jnp.where(mu == 0, 1.0, 1.0 - as_float32(dampening))
        first = state.count == 0
        velocity = jax.tree.map(
            lambda g, b: jnp.where(first, g, mu * b + weight * g).astype(b.dtype), updates, state.velocity
        )
        pick = (lambda g, b: g + mu * b) if nesterov else (lambda g, b: b)
        direction = jax.tree.map(lambda g, b: pick(g, b).astype(g.dtype), updates, velocity)
        return direction, TorchMomentumState(count=safe_increment(state.count), velocity=velocity)

    return optax.GradientTransformation(init_fn, update_fn)


@hyperparameters
def lr_inside_momentum(
    learning_rate: ScalarOrSchedule, *, momentum: ArrayLike, nesterov: bool = False
) -> optax.GradientTransformation:
    """The buffer holds scaled steps: ``b_t = μ b_{t-1} + η_t d_t``, ``p -= b_t`` (Keras; optax's
    RMSProp).  Equal to :func:`lr_outside_momentum` for a constant η; not under a schedule."""
    return optax.chain(scale_by_learning_rate(learning_rate), scale_by_momentum(momentum, nesterov=nesterov))


@hyperparameters
def lr_outside_momentum(
    learning_rate: ScalarOrSchedule, *, momentum: ArrayLike, dampening: ArrayLike = 0.0, nesterov: bool = False
) -> optax.GradientTransformation:
    """The buffer holds raw directions: ``b_t = μ b_{t-1} + d_t``, ``p -= η_t b_t`` (torch, d2l)."""
    return optax.chain(
        torch_momentum(momentum, dampening=dampening, nesterov=nesterov), scale_by_learning_rate(learning_rate)
    )


# --------------------------------------------------------------------------- decay, sign, lr decay
class TorchDecoupledDecayState(NamedTuple):
    """State of :func:`torch_decoupled_decay`."""

    count: jax.Array  # int32: updates taken, the step the learning-rate schedule sees


@hyperparameters
def torch_decoupled_decay(
    weight_decay: ArrayLike, learning_rate: ScalarOrSchedule, *, mask=None
) -> optax.GradientTransformation:
    """torch's AdamW decay: ``p ← p · float32(1 - η_t λ)`` before the step ``u``.

    Placed after the step in a chain, it returns ``(p·f + u) - p``, exact by Sterbenz' lemma for
    small steps; the float32 factor changes the decay by up to a few parts in 10³ against the
    subtractive ``p - η_t λ p`` (``regularizers.decoupled_weight_decay``).
    """
    from jaxopt_course.regularizers import mask_tree

    check_range("weight_decay", weight_decay, low=0.0)
    check_learning_rate(learning_rate)

    def init_fn(params):
        del params
        return TorchDecoupledDecayState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("torch_decoupled_decay needs the params: call update(grads, state, params)")
        check_same_structure(updates, params, "params passed to update()")
        factor = 1.0 - learning_rate_at(learning_rate, state.count) * as_float32(weight_decay)
        decay = lambda u, p, keep: ((p * factor + u) - p).astype(u.dtype) if keep else u  # noqa: E731
        updates = jax.tree.map(decay, updates, params, mask_tree(mask, params))
        return updates, TorchDecoupledDecayState(count=safe_increment(state.count))

    return optax.GradientTransformation(init_fn, update_fn)


@hyperparameters
def negate() -> optax.GradientTransformation:
    """``g ← -g``: torch's ``maximize=True``, placed first so that the optimiser ascends."""

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: -g, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def torch_lr_decay(learning_rate: ScalarOrSchedule, lr_decay: ArrayLike) -> ScalarOrSchedule:
    """torch's AdaGrad ``lr_decay`` δ: update ``t`` (0-based) uses ``η_t / (1 + t δ)``."""
    check_range("lr_decay", lr_decay, low=0.0)
    return lambda count: (
        learning_rate_at(learning_rate, count) / (1.0 + count.astype(jnp.float32) * as_float32(lr_decay))
    )
