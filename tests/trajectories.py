"""The shared trajectory of the torch-parity tests: g = h ⊙ p + c_t, so every state variable feeds back."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax


def _scan(optimizer, p0, noise, curvature):
    def step(carry, c):
        p, state = carry
        updates, state = optimizer.update(curvature * p + c, state, p)
        p = optax.apply_updates(p, updates)
        return (p, state), p

    return jax.lax.scan(step, (p0, optimizer.init(p0)), noise)[1]


def jax_trajectory(optimizer: optax.GradientTransformation, p0, noise, curvature) -> np.ndarray:
    """Parameters after each step of ``optimizer`` on gradients ``curvature * p + noise[t]``, as one jitted scan."""
    run = jax.jit(lambda p0, noise: _scan(optimizer, p0, noise, curvature))
    return np.asarray(run(jnp.asarray(p0), jnp.asarray(noise)))


_COMPILED: dict = {}


def traced_trajectory(
    key, build: Callable[[dict], optax.GradientTransformation], hparams: dict, p0, noise, curvature
) -> np.ndarray:
    """:func:`jax_trajectory` of ``build(hparams)`` with the float hyper-parameters traced: one
    compilation per ``key`` (the structural options), shared by every value of the floats."""
    if key not in _COMPILED:
        _COMPILED[key] = jax.jit(lambda hp, p0, noise, curvature: _scan(build(hp), p0, noise, curvature))
    floats = jax.tree.map(jnp.float32, hparams)
    return np.asarray(_COMPILED[key](floats, jnp.asarray(p0), jnp.asarray(noise), jnp.asarray(curvature)))
