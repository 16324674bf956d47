"""Argument checks shared by the optimisers, schedules and regularisers.

Every check names the argument it was given, so a convention that uses its own keywords (torch's
``lr``, Keras's ``epsilon``) checks them under those names before it builds the core optimiser.
Traced values (a sweep builds its optimisers from tracers) cannot be inspected and pass unchecked.
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def is_traced(value: Any) -> bool:
    """True for a JAX tracer (a value inside ``jit``, ``vmap`` or ``grad``)."""
    return isinstance(value, jax.core.Tracer)


def _concrete_values(name: str, value: Any) -> np.ndarray | None:
    """The numbers inside ``value`` as a float64 array, None when traced; ValueError otherwise.

    Every JAX real dtype is accepted (bfloat16 and float16 included).
    """
    if is_traced(value):
        return None
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, np.generic, jax.Array)):
        raise ValueError(f"{name} must be a real number or an array of them; got {value!r}")
    array = np.asarray(value)
    if not (jnp.issubdtype(array.dtype, jnp.floating) or jnp.issubdtype(array.dtype, jnp.integer)):
        raise ValueError(f"{name} must be a real number or an array of them; got dtype {array.dtype}")
    return array.astype(np.float64)


def _inside(array, low, high, low_inclusive, high_inclusive):
    ok = np.isfinite(array)
    if low is not None:
        ok &= (array >= low) if low_inclusive else (array > low)
    if high is not None:
        ok &= (array <= high) if high_inclusive else (array < high)
    return ok


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

    Traced values pass unchecked; Python numbers and concrete arrays are checked element-wise.
    """
    array = _concrete_values(name, value)
    if array is None:
        return
    inside = _inside(array, low, high, low_inclusive, high_inclusive)
    if np.all(inside):
        return
    left = "(-inf" if low is None else ("[" if low_inclusive else "(") + f"{low:g}"
    right = "inf)" if high is None else f"{high:g}" + ("]" if high_inclusive else ")")
    shown = value if array.size == 1 else f"an array containing {array[~inside].ravel()[:3]}"
    raise ValueError(f"{name} must be a finite number in {left}, {right}; got {shown}")


def check_decay(name: str, value: Any) -> None:
    """Decay rates (b1, b2, decay, rho, alpha) live in [0, 1)."""
    check_range(name, value, low=0.0, high=1.0)


def check_learning_rate(learning_rate: Any, name: str = "learning_rate") -> None:
    """A learning rate is a finite number >= 0, an array of them, or a callable schedule.

    A schedule's values and a traced learning rate are not checked.
    """
    if callable(learning_rate) or is_traced(learning_rate):
        return
    if isinstance(learning_rate, bool) or not isinstance(
        learning_rate, (numbers.Real, np.ndarray, np.generic, jax.Array)
    ):
        raise ValueError(
            f"{name} must be a finite number >= 0, an array of them, or a schedule "
            f"(a callable step -> learning rate); got {learning_rate!r}"
        )
    check_range(name, learning_rate, low=0.0)


def is_count(value: Any) -> bool:
    """Whether ``value`` is a Python or numpy integer (a bool is not a count)."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_count(name: str, value: Any, *, minimum: int = 1, allow_none: bool = False) -> int | None:
    """The package's one check of a count (steps, seeds, sizes, epochs): a Python or numpy
    integer >= ``minimum`` (or None where allowed), returned as a Python int."""
    if value is None and allow_none:
        return None
    if not is_count(value) or value < minimum:
        accepted = ("a positive integer" if minimum == 1 else f"an integer >= {minimum}") + (
            " or None" if allow_none else ""
        )
        raise ValueError(f"{name} must be {accepted}; got {value!r}")
    return int(value)


def check_same_structure(updates: Any, reference: Any, what: str) -> None:
    """Raises a readable ValueError when the gradients' tree differs from ``reference``'s
    (the optimiser state's, or the params passed to update), or a leaf's shape differs."""
    expected = jax.tree.structure(reference)
    got = jax.tree.structure(updates)
    if expected != got:
        raise ValueError(
            f"the gradients' tree structure does not match the {what}: "
            f"expected {expected}, got {got}. Pass gradients with the same structure as the "
            "parameters given to init()."
        )
    for (path, g), r in zip(jax.tree_util.tree_leaves_with_path(updates), jax.tree.leaves(reference)):
        if jnp.shape(g) != jnp.shape(r):
            raise ValueError(
                f"the gradient at {jax.tree_util.keystr(path) or 'the root'} has shape {jnp.shape(g)}, "
                f"but its parameter has shape {jnp.shape(r)} (in the {what}); gradients must have "
                "their parameters' shapes"
            )


def check_key(key: Any, name: str = "key") -> None:
    """A PRNG key: ``jax.random.PRNGKey(seed)`` (uint32 [2]) or ``jax.random.key(seed)`` (typed)."""
    if isinstance(key, jax.Array) or isinstance(key, jax.core.Tracer):
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ():
            return
        if key.dtype == jnp.uint32 and key.shape == (2,):
            return
    shown = f"an array of shape {key.shape} and dtype {key.dtype}" if hasattr(key, "dtype") else repr(key)
    raise TypeError(f"{name} must be a PRNG key, jax.random.PRNGKey(seed) or jax.random.key(seed); got {shown}")


def check_traceable(name: str, function: Any, argument: str = "step") -> None:
    """A schedule's function of the ``argument`` (a step, an epoch) must take a traced value.

    The function is traced once on an abstract float32 scalar (``jax.eval_shape``: nothing is
    computed, as torch's LambdaLR calls its lambda once when built), so a Python ``if`` on the
    value fails here, with the ``jnp.where`` form to write instead, not deep inside a compiled run.
    """
    try:
        jax.eval_shape(function, jax.ShapeDtypeStruct((), jnp.float32))
    except jax.errors.TracerBoolConversionError as error:
        raise ValueError(
            f"{name} uses a Python `if` on the {argument} (or `and`/`or`/`not`, `min`/`max`), which a traced "
            f"{argument} cannot take; write it as lambda {argument}: jnp.where({argument} < 10, 0.1, 0.01) rather "
            f"than lambda {argument}: 0.1 if {argument} < 10 else 0.01 (and min/max as jnp.minimum/jnp.maximum); "
            f"got {_source(function)}"
        ) from error
    except jax.errors.ConcretizationTypeError as error:
        raise ValueError(
            f"{name} needs a concrete {argument} (math.*, float(), int() or indexing by it), which a traced "
            f"{argument} is not; write it with jnp functions (jnp.cos, jnp.floor, jnp.where); got {_source(function)}"
        ) from error


def _source(function: Any) -> str:
    """The source line(s) of a function, for an error message, or its repr when there is none."""
    try:
        return " ".join(inspect.getsource(function).split())[:300]
    except (OSError, TypeError):
        return repr(function)
