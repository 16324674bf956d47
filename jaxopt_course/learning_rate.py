"""The learning-rate step that ends every optimiser: ``u_t = -η_t · d_t``.

Every optimiser in this package is a direction (``scale_by_<algo>``) followed by
:func:`scale_by_learning_rate`.  ``η_t`` may be a number, an array (a traced value inside a sweep)
or a schedule ``step -> η``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxopt_course.base import ScalarOrSchedule
from jaxopt_course.checks import check_learning_rate, check_same_structure
from jaxopt_course.hyperparams import hyperparameters
from jaxopt_course.numerics import as_float32, safe_increment


class ScaleByLearningRateState(NamedTuple):
    """State of :func:`scale_by_learning_rate`."""

    count: jax.Array  # int32 scalar: number of updates taken, the step the schedule sees next
    learning_rate: jax.Array  # float32: η used by the latest update (0 before the first)


def learning_rate_at(learning_rate: ScalarOrSchedule, count: jax.Array) -> jax.Array:
    """The learning rate used by the update with 0-based index ``count`` (float32)."""
    if callable(learning_rate):
        return as_float32(learning_rate(count))
    return as_float32(learning_rate)


def check_broadcasts_to(rate: Any, leaf: Any, name: str = "learning_rate") -> None:
    """An array rate must broadcast onto the parameter without changing the parameter's shape."""
    rate_shape, shape = jnp.shape(rate), jnp.shape(leaf)
    try:
        ok = np.broadcast_shapes(rate_shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{name} has shape {rate_shape}, which does not broadcast to a parameter of shape "
            f"{shape} without changing the parameter's shape"
        )


@hyperparameters
def scale_by_learning_rate(learning_rate: ScalarOrSchedule, *, flip_sign: bool = True) -> optax.GradientTransformation:
    """Multiplies the direction by ``-η_t`` (or ``η_t`` with ``flip_sign=False``).

    ``u_t = -η_t · d_t`` where ``η_t = learning_rate`` for a number or array, and
    ``η_t = learning_rate(t)`` for a schedule, with ``t = 0`` on the first update (optax's and
    Keras's convention, and torch's when its scheduler is stepped after each optimiser step).

    Args:
      learning_rate: a finite number >= 0, an array (traced values and a schedule's values are
        accepted unchecked) whose shape broadcasts to every parameter without changing it, or a
        callable schedule ``step -> learning rate``.
      flip_sign: negate, so that ``p + u`` descends.

    Returns:
      An ``optax.GradientTransformation`` whose state holds the int32 update ``count``.
    """
    check_learning_rate(learning_rate)
    sign = -1.0 if flip_sign else 1.0

    def init_fn(params):
        if not callable(learning_rate):
            for leaf in jax.tree.leaves(params):
                check_broadcasts_to(learning_rate, leaf)
        shape = (
            jax.eval_shape(learning_rate, jnp.zeros([], jnp.int32)).shape
            if callable(learning_rate)
            else jnp.shape(learning_rate)
        )
        rate = jnp.zeros(shape, jnp.float32)
        return ScaleByLearningRateState(count=jnp.zeros([], jnp.int32), learning_rate=rate)

    def update_fn(updates, state, params=None):
        if params is not None:
            check_same_structure(updates, params, "params passed to update()")
        current = learning_rate_at(learning_rate, state.count)
        for leaf in jax.tree.leaves(updates):
            check_broadcasts_to(current, leaf)
        updates = jax.tree.map(lambda d: (sign * current * d).astype(d.dtype), updates)
        return updates, ScaleByLearningRateState(
            count=safe_increment(state.count), learning_rate=jnp.broadcast_to(current, state.learning_rate.shape)
        )

    return optax.GradientTransformation(init_fn, update_fn)


def _injected(node) -> bool:
    return isinstance(getattr(node, "hyperparams", None), dict) and "learning_rate" in node.hyperparams


def _rate_nodes(optimizer_state: Any) -> list:
    """The states in the tree that record a learning rate, outermost first."""
    found = jax.tree.leaves(
        optimizer_state, is_leaf=lambda node: isinstance(node, ScaleByLearningRateState) or _injected(node)
    )
    return [node for node in found if isinstance(node, ScaleByLearningRateState) or _injected(node)]


def latest_learning_rate(optimizer_state: Any) -> jax.Array:
    """η used by the latest update, read from an optimiser's state; NaN if none is recorded.

    Finds the first :func:`scale_by_learning_rate` state in the tree, or the ``learning_rate`` of
    an ``optax.inject_hyperparams`` state.
    """
    for node in _rate_nodes(optimizer_state):
        if isinstance(node, ScaleByLearningRateState):
            return node.learning_rate
        return as_float32(node.hyperparams["learning_rate"])
    return jnp.float32(jnp.nan)
