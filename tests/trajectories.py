"""The shared trajectory of the torch-parity tests: g = h ⊙ p + c_t, so every state variable feeds back."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax


def jax_trajectory(optimizer: optax.GradientTransformation, p0, noise, curvature) -> np.ndarray:
    """Parameters after each step of ``optimizer`` on gradients ``curvature * p + noise[t]``, as one jitted scan."""

    @jax.jit
    def run(p0, noise):
        def step(carry, c):
            p, state = carry
            updates, state = optimizer.update(curvature * p + c, state, p)
            p = optax.apply_updates(p, updates)
            return (p, state), p

        return jax.lax.scan(step, (p0, optimizer.init(p0)), noise)[1]

    return np.asarray(run(jnp.asarray(p0), jnp.asarray(noise)))
