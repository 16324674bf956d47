"""Types, argument checks and the learning-rate step shared by every transformation.

Every optimiser in this package is a direction (``scale_by_<algo>``) followed by
:func:`scale_by_learning_rate`, which multiplies the direction by ``-η_t``.  ``η_t`` may be a
number, an array (a traced value inside a sweep) or a schedule ``step -> η``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

ArrayLike = jax.typing.ArrayLike
Schedule = Callable[[jax.Array], jax.Array]
ScalarOrSchedule = ArrayLike | Schedule
Params = Any
Updates = Any


# --------------------------------------------------------------------------- argument checks
_PUBLIC_NAMES: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("public_names", default={})


@contextlib.contextmanager
def argument_names(**public_names: str):
    """Within the block, argument errors use the caller's names for the arguments.

    A convention builds the core optimisers under its own keywords (torch's ``lr``, ``betas``,
    ``alpha``; Keras's ``beta_1``, ``epsilon``, ``rho``): ``with argument_names(b1="betas[0]")``
    makes a bad β1 reported as ``betas[0]``, the name the user typed.
    """
    token = _PUBLIC_NAMES.set({**_PUBLIC_NAMES.get(), **public_names})
    try:
        yield
    finally:
        _PUBLIC_NAMES.reset(token)


def renamed_arguments(**public_names: str):
    """Decorator: the function's argument errors use ``public_names`` (see :func:`argument_names`)."""

    def decorate(function):
        @functools.wraps(function)
        def wrapped(*args, **kwargs):
            with argument_names(**public_names):
                return function(*args, **kwargs)

        return wrapped

    return decorate


def public_name(name: str) -> str:
    """The name an argument error should show: the caller's, where a convention renamed it."""
    return _PUBLIC_NAMES.get().get(name, name)


def is_traced(value: Any) -> bool:
    return isinstance(value, jax.core.Tracer)


def _concrete_values(name: str, value: Any) -> np.ndarray | None:
    """The numbers inside ``value`` as a float64 array, None when traced; ValueError otherwise."""
    if is_traced(value):
        return None
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, np.generic, jax.Array)):
        raise ValueError(f"{name} must be a real number or an array of them; got {value!r}")
    array = np.asarray(value)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must be a real number or an array of them; got dtype {array.dtype}")
    return array.astype(np.float64)


def check_range(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = False,
) -> None:
    """Raises ValueError naming ``name`` unless every value is finite and inside the interval.

    Traced values cannot be inspected and pass unchecked (a sweep builds its optimisers from
    tracers); Python numbers and concrete arrays are checked element-wise.
    """
    name = public_name(name)
    array = _concrete_values(name, value)
    if array is None:
        return
    left = "(-inf" if low is None else ("[" if low_inclusive else "(") + f"{low:g}"
    right = "inf)" if high is None else f"{high:g}" + ("]" if high_inclusive else ")")
    accepted = f"a finite number in {left}, {right}"
    shown = value if array.size == 1 else f"an array containing {array[~_inside(array, low, high, low_inclusive, high_inclusive)].ravel()[:3]}"
    if not np.all(np.isfinite(array)) or not np.all(_inside(array, low, high, low_inclusive, high_inclusive)):
        raise ValueError(f"{name} must be {accepted}; got {shown}")


def _inside(array, low, high, low_inclusive, high_inclusive):
    ok = np.isfinite(array)
    if low is not None:
        ok &= (array >= low) if low_inclusive else (array > low)
    if high is not None:
        ok &= (array <= high) if high_inclusive else (array < high)
    return ok


def check_learning_rate(learning_rate: Any, name: str = "learning_rate") -> None:
    """A learning rate is a finite number >= 0, an array of them, or a callable schedule."""
    name = public_name(name)
    if callable(learning_rate):
        return
    if is_traced(learning_rate):
        return
    if isinstance(learning_rate, bool) or not isinstance(
        learning_rate, (numbers.Real, np.ndarray, np.generic, jax.Array)
    ):
        raise ValueError(
            f"{name} must be a finite number >= 0, an array of them, or a schedule "
            f"(a callable step -> learning rate); got {learning_rate!r}"
        )
    check_range(name, learning_rate, low=0.0)


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> None:
    """A static count (steps, periods, epochs) is a Python or numpy integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < minimum:
        raise ValueError(f"{public_name(name)} must be an integer >= {minimum}; got {value!r}")


def check_decay(name: str, value: Any) -> None:
    """Decay rates (b1, b2, decay, rho, alpha) live in [0, 1)."""
    check_range(name, value, low=0.0, high=1.0)


# --------------------------------------------------------------------------- tree helpers
def check_same_structure(updates: Updates, reference: Any, what: str) -> None:
    """Raises a readable ValueError when the gradients' tree differs from the optimiser state's
    (or from the params passed to update)."""
    expected = jax.tree.structure(reference)
    got = jax.tree.structure(updates)
    if expected != got:
        raise ValueError(
            f"the gradients' tree structure does not match the {what}: "
            f"expected {expected}, got {got}. Pass gradients with the same structure as the "
            "parameters given to init()."
        )


def zeros_like_tree(params: Params, dtype: Any = None) -> Any:
    return jax.tree.map(lambda p: jnp.zeros_like(p, dtype=dtype), params)


def full_like_tree(params: Params, value: ArrayLike) -> Any:
    return jax.tree.map(lambda p: jnp.full_like(p, value), params)


def cast_like(tree: Any, reference: Any) -> Any:
    """Casts each leaf of ``tree`` to the dtype of the matching leaf of ``reference``."""
    return jax.tree.map(lambda x, r: x.astype(r.dtype), tree, reference)


def as_float32(value: ArrayLike) -> jax.Array:
    return jnp.asarray(value, dtype=jnp.float32)


def one_minus_and_log(beta: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """``(1 - β, log β)`` for the float32 value of β, accurate to float32 rounding.

    β is first rounded to float32 (as every framework rounds it when it multiplies), then
    ``c = 1 - β`` is formed exactly (Sterbenz' lemma, β >= 1/2) and ``log β`` accurately: in double
    on the host for a Python float, as ``log1p(-c)`` for an array (a traced value in a sweep, or
    what ``optax.inject_hyperparams`` passes).  The moving-average weight ``1 - β`` and the bias
    correction ``1 - β^t = -expm1(t log β)`` then come from the *same* β, so a Python float and
    its float32 array give the same trajectory (NUMERICS.md §5.1, §5.2).
    """
    if isinstance(beta, numbers.Real):
        beta = float(np.float32(beta))
        log_beta = math.log(beta) if beta > 0 else -math.inf
        return jnp.float32(1.0 - beta), jnp.float32(log_beta)
    beta = as_float32(beta)
    complement = 1.0 - beta
    return complement, jnp.log1p(-complement)


def one_minus_in_double(beta: ArrayLike) -> jax.Array:
    """``1 - β`` formed in double for a Python float (optax's and Keras's EMA weight)."""
    if isinstance(beta, numbers.Real):
        return jnp.float32(1.0 - float(beta))
    return 1.0 - as_float32(beta)


def bias_correction(log_beta: jax.Array, count: jax.Array) -> jax.Array:
    """``1 - β^t`` as ``-expm1(t log β)``: no cancellation for β close to 1."""
    return -jnp.expm1(count.astype(jnp.float32) * log_beta)


def safe_increment(count: jax.Array) -> jax.Array:
    """``count + 1`` that stays at the int32 maximum instead of wrapping around."""
    return jnp.where(count < jnp.iinfo(jnp.int32).max, count + 1, count).astype(jnp.int32)


# --------------------------------------------------------------------------- learning rate
class ScaleByLearningRateState(NamedTuple):
    """State of :func:`scale_by_learning_rate`."""

    count: jax.Array  # int32 scalar: number of updates taken, the step the schedule sees next
    learning_rate: jax.Array  # float32 scalar: η used by the latest update (0 before the first)


def learning_rate_at(learning_rate: ScalarOrSchedule, count: jax.Array) -> jax.Array:
    """The learning rate used by the update with 0-based index ``count``."""
    if callable(learning_rate):
        return as_float32(learning_rate(count))
    return as_float32(learning_rate)


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule, *, flip_sign: bool = True
) -> optax.GradientTransformation:
    """Multiplies the direction by ``-η_t`` (or ``η_t`` with ``flip_sign=False``).

    ``u_t = -η_t · d_t`` where ``η_t = learning_rate`` for a number or array, and
    ``η_t = learning_rate(t)`` for a schedule, with ``t = 0`` on the first update (optax's and
    Keras's convention, and torch's when its scheduler is stepped after each optimiser step).

    Args:
      learning_rate: a finite number >= 0, an array (traced values are accepted unchecked), or a
        callable schedule ``step -> learning rate``.
      flip_sign: negate, so that ``p + u`` descends.

    Returns:
      An ``optax.GradientTransformation`` whose state holds the int32 update ``count``.
    """
    check_learning_rate(learning_rate)
    sign = -1.0 if flip_sign else 1.0

    def init_fn(params):
        del params
        return ScaleByLearningRateState(count=jnp.zeros([], jnp.int32), learning_rate=jnp.zeros([], jnp.float32))

    def update_fn(updates, state, params=None):
        if params is not None:
            check_same_structure(updates, params, "params passed to update()")
        current = learning_rate_at(learning_rate, state.count)
        updates = jax.tree.map(lambda d: (sign * current * d).astype(d.dtype), updates)
        return updates, ScaleByLearningRateState(count=safe_increment(state.count), learning_rate=current)

    return optax.GradientTransformation(init_fn, update_fn)


def latest_learning_rate(optimizer_state: Any) -> jax.Array:
    """η used by the latest update, read from an optimiser's state; NaN if none is recorded.

    Finds the first :func:`scale_by_learning_rate` state in the tree, or the ``learning_rate`` of
    an ``optax.inject_hyperparams`` state.
    """
    def injected(node):
        return isinstance(getattr(node, "hyperparams", None), dict) and "learning_rate" in node.hyperparams

    found = jax.tree.leaves(
        optimizer_state, is_leaf=lambda node: isinstance(node, ScaleByLearningRateState) or injected(node)
    )
    for node in found:
        if isinstance(node, ScaleByLearningRateState):
            return node.learning_rate
        if injected(node):
            return as_float32(node.hyperparams["learning_rate"])
    return jnp.float32(jnp.nan)
