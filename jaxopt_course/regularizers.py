"""Weight decay as gradient transformations (clipping and L1 follow)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxopt_course.base import (
    ArrayLike,
    ScalarOrSchedule,
    as_float32,
    check_learning_rate,
    check_range,
    learning_rate_at,
    safe_increment,
)


def _mask_tree(mask, params):
    if mask is None:
        return jax.tree.map(lambda _: True, params)
    return mask(params) if callable(mask) else mask


def add_l2(weight_decay: ArrayLike, mask=None) -> optax.GradientTransformation:
    """Coupled L2 decay: ``g ← g + λ p`` (torch's ``weight_decay=``), before the optimiser."""
    check_range("weight_decay", weight_decay, low=0.0)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("add_l2 needs the params: call update(grads, state, params)")
        decay = as_float32(weight_decay)
        updates = jax.tree.map(
            lambda g, p, keep: (g + decay * p).astype(g.dtype) if keep else g, updates, params, _mask_tree(mask, params)
        )
        return updates, state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


class DecoupledWeightDecayState(NamedTuple):
    """State of :func:`decoupled_weight_decay`."""

    count: jax.Array  # int32 scalar: updates taken, the step the learning-rate schedule sees


def decoupled_weight_decay(
    weight_decay: ArrayLike, learning_rate: ScalarOrSchedule, *, multiplicative: bool = False, mask=None
) -> optax.GradientTransformation:
    """Decoupled decay (AdamW): ``p ← p - η_t λ p`` beside the step, placed after the lr scaling.

    With ``multiplicative`` it reproduces torch's ``p ← p · float32(1 - η_t λ)`` followed by the
    step ``u``: the update returned is ``(p·f + u) - p``.
    """
    check_range("weight_decay", weight_decay, low=0.0)
    check_learning_rate(learning_rate)

    def init_fn(params):
        del params
        return DecoupledWeightDecayState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("decoupled_weight_decay needs the params: call update(grads, state, params)")
        shrink = learning_rate_at(learning_rate, state.count) * as_float32(weight_decay)
        factor = 1.0 - shrink

        def decay(u, p, keep):
            if not keep:
                return u
            if multiplicative:
                return ((p * factor + u) - p).astype(u.dtype)
            return (u - shrink * p).astype(u.dtype)

        updates = jax.tree.map(decay, updates, params, _mask_tree(mask, params))
        return updates, DecoupledWeightDecayState(count=safe_increment(state.count))

    return optax.GradientTransformation(init_fn, update_fn)
