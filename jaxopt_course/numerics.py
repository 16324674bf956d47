"""Numerical helpers: float32 conversions, ``1 - β`` and bias corrections, a saturating count.

docs/conventions.md explains where each framework rounds these quantities and why the package
computes them the way it does.
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxopt_course.base import ArrayLike


def as_float32(value: ArrayLike) -> jax.Array:
    return jnp.asarray(value, dtype=jnp.float32)


def one_minus_and_log(beta: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """``(1 - β, log β)`` for the float32 value of β, accurate to float32 rounding.

    β is first rounded to float32 (as every framework rounds it when it multiplies), then
    ``c = 1 - β`` is formed exactly (Sterbenz' lemma, β >= 1/2) and ``log β`` accurately: in double
    on the host for a Python float, as ``log1p(-c)`` for an array (a traced value in a sweep).
    Both paths agree to float32 rounding.  The moving-average weight ``1 - β`` and the bias
    correction ``1 - β^t = -expm1(t log β)`` then come from the *same* β.
    """
    if isinstance(beta, numbers.Real):  # the same numbers as the array path, computed on the host
        beta = float(np.float32(beta))
        log_beta = math.log(beta) if beta > 0 else -math.inf
        return jnp.float32(1.0 - beta), jnp.float32(log_beta)
    beta = as_float32(beta)
    complement = 1.0 - beta
    return complement, jnp.log1p(-complement)


def bias_correction(log_beta: jax.Array, count: jax.Array) -> jax.Array:
    """``1 - β^t`` as ``-expm1(t log β)``: no cancellation for β close to 1."""
    return -jnp.expm1(count.astype(jnp.float32) * log_beta)


def safe_increment(count: jax.Array) -> jax.Array:
    """``count + 1`` that stays at the int32 maximum instead of wrapping around."""
    return optax.safe_increment(count)


def abs_sq(g: jax.Array) -> jax.Array:
    """``|g|² = g · conj(g)``, real: the second moment of a complex gradient."""
    return (g * jnp.conj(g)).real if jnp.iscomplexobj(g) else g * g
