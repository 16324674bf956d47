"""Regularisers as gradient transformations: weight decay (coupled, decoupled), L1, clipping.

Masks: ``mask`` is a pytree of booleans shaped like the params, or a callable ``params -> such a
pytree``; leaves marked False pass through untouched (biases are usually left out of decay).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxopt_course.base import ArrayLike, ScalarOrSchedule
from jaxopt_course.checks import check_learning_rate, check_range, check_same_structure
from jaxopt_course.hyperparams import hyperparameters
from jaxopt_course.learning_rate import learning_rate_at
from jaxopt_course.numerics import as_float32, safe_increment


def mask_tree(mask, params):
    if mask is None:
        return jax.tree.map(lambda _: True, params)
    tree = mask(params) if callable(mask) else mask
    if jax.tree.structure(tree) != jax.tree.structure(params):
        raise ValueError(
            f"mask must have the params' tree structure; got {jax.tree.structure(tree)}, "
            f"expected {jax.tree.structure(params)}"
        )
    return tree


def exclude_biases(params):
    """A mask that decays every leaf except those named ``bias`` or ``b`` (1-D biases)."""
    return jax.tree.map_with_path(lambda path, _: getattr(path[-1], "key", None) not in ("bias", "b"), params)


def _add_penalty_gradient(name: str, weight_decay: ArrayLike, mask, direction) -> optax.GradientTransformation:
    """``g ← g + λ · direction(p)`` on the leaves ``mask`` keeps: the (sub-)gradient of a penalty
    ``λ R(p)`` added to the gradient, before the optimiser sees it."""
    check_range("weight_decay", weight_decay, low=0.0)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(f"{name} needs the params: call update(grads, state, params)")
        check_same_structure(updates, params, "params passed to update()")
        decay = as_float32(weight_decay)
        updates = jax.tree.map(
            lambda g, p, keep: (g + decay * direction(p)).astype(g.dtype) if keep else g,
            updates,
            params,
            mask_tree(mask, params),
        )
        return updates, state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


@hyperparameters
def add_l2(weight_decay: ArrayLike, mask=None) -> optax.GradientTransformation:
    """Coupled L2 decay: ``g ← g + λ p`` (torch's ``weight_decay=``), placed before the optimiser.

    The gradient of the penalty ``(λ/2)‖p‖²`` (the course: weight decay is MAP with a Gaussian
    prior).  Because λp enters the gradient, it also enters every moment an adaptive optimiser
    keeps; compare :func:`decoupled_weight_decay`.
    """
    return _add_penalty_gradient("add_l2", weight_decay, mask, lambda p: p)


class DecoupledWeightDecayState(NamedTuple):
    """State of :func:`decoupled_weight_decay`."""

    count: jax.Array  # int32 scalar: updates taken, the step the learning-rate schedule sees


@hyperparameters
def decoupled_weight_decay(
    weight_decay: ArrayLike, learning_rate: ScalarOrSchedule, *, mask=None
) -> optax.GradientTransformation:
    """Decoupled decay (AdamW): ``u ← u - η_t λ p`` beside the step, placed after the lr scaling.

    ``learning_rate`` (a number, an array or a schedule, evaluated at this transform's own count,
    so it matches the optimiser's) scales the decay, as torch, optax and Keras do.  torch's
    multiplicative form is ``conventions.variants.torch_decoupled_decay``.

    References:
      Loshchilov, Hutter, "Decoupled weight decay regularization", 2019.
    """
    check_range("weight_decay", weight_decay, low=0.0)
    check_learning_rate(learning_rate)

    def init_fn(params):
        del params
        return DecoupledWeightDecayState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("decoupled_weight_decay needs the params: call update(grads, state, params)")
        check_same_structure(updates, params, "params passed to update()")
        shrink = learning_rate_at(learning_rate, state.count) * as_float32(weight_decay)
        decay = lambda u, p, keep: (u - shrink * p).astype(u.dtype) if keep else u  # noqa: E731
        updates = jax.tree.map(decay, updates, params, mask_tree(mask, params))
        return updates, DecoupledWeightDecayState(count=safe_increment(state.count))

    return optax.GradientTransformation(init_fn, update_fn)


@hyperparameters
def add_l1(weight_decay: ArrayLike, mask=None) -> optax.GradientTransformation:
    """L1 penalty ``λ‖p‖₁`` through its sub-gradient: ``g ← g + λ sign(p)`` (0 at p = 0).

    The MAP reading of the course: an L1 penalty is a Laplace prior on the weights, as L2 is a
    Gaussian one; it pushes small weights to exactly zero.
    """
    return _add_penalty_gradient("add_l1", weight_decay, mask, jnp.sign)


@hyperparameters
def clip_by_value(max_delta: ArrayLike) -> optax.GradientTransformation:
    """``g ← clip(g, -c, c)`` element-wise (torch's ``clip_grad_value_``, Keras's ``clipvalue``)."""
    check_range("max_delta", max_delta, low=0.0)

    def update_fn(updates, state, params=None):
        del params
        bound = as_float32(max_delta)
        return jax.tree.map(lambda g: jnp.clip(g, -bound, bound).astype(g.dtype), updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def global_norm(updates) -> jax.Array:
    """``‖g‖ = sqrt(Σ over every leaf of Σ g²)``."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(g.astype(jnp.float32))) for g in jax.tree.leaves(updates)))


@hyperparameters
def clip_by_global_norm(max_norm: ArrayLike) -> optax.GradientTransformation:
    """``g ← g · c / ‖g‖`` when ``‖g‖ >= c``, unchanged below (optax's form; d2l's ``grad_clipping``).

    The cure the course gives for exploding gradients: the direction is kept, the length capped.
    """
    check_range("max_norm", max_norm, low=0.0, low_inclusive=False)

    def update_fn(updates, state, params=None):
        del params
        norm, bound = global_norm(updates), as_float32(max_norm)
        clipped = norm >= bound
        safe_norm = jnp.where(clipped, norm, 1.0)
        return jax.tree.map(lambda g: jnp.where(clipped, (g / safe_norm) * bound, g).astype(g.dtype), updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


@hyperparameters
def clip_by_global_norm_torch(max_norm: ArrayLike) -> optax.GradientTransformation:
    """torch's ``clip_grad_norm_`` exactly: ``g ← g · min(c / (‖‖g_i‖‖ + 1e-6), 1)``, always multiplied.

    The total is the norm of the per-leaf norms, and the 1e-6 makes torch clip slightly below
    ``c`` too (by ``1e-6/‖g‖`` relative: 1e-4 at a norm of 0.01; docs/conventions.md).
    """
    check_range("max_norm", max_norm, low=0.0, low_inclusive=False)

    def update_fn(updates, state, params=None):
        del params
        norms = jnp.stack([jnp.linalg.norm(g.astype(jnp.float32).ravel()) for g in jax.tree.leaves(updates)])
        coefficient = jnp.minimum(as_float32(max_norm) / (jnp.linalg.norm(norms) + 1e-6), 1.0)
        return jax.tree.map(lambda g: (g * coefficient).astype(g.dtype), updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)
