"""Test functions: minimisers and gradients against closed forms; run_optimizer against a loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_course as jc
from jaxopt_course import problems


@pytest.mark.parametrize(
    "problem", [p for p in problems.PROBLEMS.values() if p.minimiser is not None], ids=lambda p: p.name
)
def test_minimiser_has_zero_gradient_and_is_lowest_nearby(problem):
    """The stated minimiser has zero gradient and beats random nearby points."""
    x = jnp.asarray(problem.minimiser, jnp.float32)

    @jax.jit  # one program, not an eager compile per operation
    def check(x):
        nearby = x + 0.05 * jax.random.normal(jax.random.PRNGKey(0), (50, x.size))
        return jax.grad(problem.f)(x), jax.vmap(problem.f)(nearby), problem.f(x)

    gradient, values, value = check(x)
    np.testing.assert_allclose(gradient, 0.0, atol=1e-6)
    assert np.all(np.asarray(values) >= float(value))


def test_gradients_match_closed_forms():
    """∇(x² + 4x + 1) = 2x + 4; ∇(0.1x² + 2y²) = (0.2x, 4y); the saddle's is (2x, −2y)."""
    derivatives = jax.jit(  # one program, not an eager compile per operation
        lambda: (
            jax.grad(problems.PARABOLA.f)(jnp.array([3.0])),
            jax.grad(problems.ILL_CONDITIONED.f)(jnp.array([1.0, 1.0])),
            jax.grad(problems.SADDLE.f)(jnp.array([1.0, 2.0])),
            jax.hessian(problems.ILL_CONDITIONED.f)(jnp.zeros(2)),
        )
    )
    parabola, ill_conditioned, saddle, hessian = derivatives()
    np.testing.assert_allclose(parabola, [10.0])
    np.testing.assert_allclose(ill_conditioned, [0.2, 4.0])
    np.testing.assert_allclose(saddle, [2.0, -4.0])
    np.testing.assert_allclose(np.linalg.eigvalsh(hessian), problems.ILL_CONDITIONED.curvatures)


def test_run_optimizer_equals_a_python_loop():
    """The scanned path equals a hand-written loop, start included."""
    optimizer = jc.sgd(0.1, momentum=0.5)
    path = problems.run_optimizer(problems.BOWL, optimizer, num_steps=5)
    x, state, expected = jnp.array(problems.BOWL.start), optimizer.init(jnp.array(problems.BOWL.start)), []
    expected.append(x)

    @jax.jit  # one step of the loop, compiled once
    def step(x, state):
        updates, state = optimizer.update(jax.grad(problems.BOWL.f)(x), state, x)
        return optax.apply_updates(x, updates), state

    for _ in range(5):
        x, state = step(x, state)
        expected.append(x)
    np.testing.assert_allclose(path, np.stack(expected), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="num_steps"):
        problems.run_optimizer(problems.BOWL, optimizer, num_steps=0)
