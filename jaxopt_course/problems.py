"""The course's test functions, with their minimisers, and a compiled optimiser run on them.

Each :class:`Problem` maps a point ``x`` (a 1-D array) to a scalar.  :func:`run_optimizer` runs an
optimiser from a start for a number of steps as one ``lax.scan`` and returns the whole path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from jaxopt_course import compilation


@dataclasses.dataclass(frozen=True)
class Problem:
    """A test function, its usual start, its minimiser (None if unbounded) and a plotting window."""

    name: str
    f: Callable[[jax.Array], jax.Array]
    start: tuple[float, ...]
    minimiser: tuple[float, ...] | None
    window: tuple[tuple[float, float], ...]
    curvatures: tuple[float, ...] | None = None  # Hessian eigenvalues of a quadratic

    def __call__(self, x):
        return self.f(jnp.asarray(x))


PARABOLA = Problem("x² + 4x + 1", lambda x: x[0] ** 2 + 4.0 * x[0] + 1.0, (-10.0,), (-2.0,), ((-10.0, 10.0),), (2.0,))
BOWL = Problem(
    "x² + 2y²",
    lambda x: x[0] ** 2 + 2.0 * x[1] ** 2,
    (-10.0, -10.0),
    (0.0, 0.0),
    ((-10.0, 10.0), (-10.0, 10.0)),
    (2.0, 4.0),
)
ILL_CONDITIONED = Problem(
    "0.1x₁² + 2x₂²",
    lambda x: 0.1 * x[0] ** 2 + 2.0 * x[1] ** 2,
    (-5.0, -2.0),
    (0.0, 0.0),
    ((-5.5, 1.5), (-3.0, 3.0)),
    (0.2, 4.0),
)
ROSENBROCK = Problem(
    "Rosenbrock (1-x)² + 100(y-x²)²",
    lambda x: (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2,
    (-1.2, 1.0),
    (1.0, 1.0),
    ((-2.0, 2.0), (-1.0, 3.0)),
)
SADDLE = Problem(
    "saddle x² − y²", lambda x: x[0] ** 2 - x[1] ** 2, (1.0, 1e-3), None, ((-1.2, 1.2), (-2.0, 2.0)), (2.0, -2.0)
)
PLATEAU = Problem(
    "plateau 1 − exp(−(x² + 2y²)/2)",
    lambda x: 1.0 - jnp.exp(-(x[0] ** 2 + 2.0 * x[1] ** 2) / 2.0),
    (2.5, 1.9),
    (0.0, 0.0),
    ((-1.5, 3.0), (-1.5, 2.5)),
)

PROBLEMS = {p.name: p for p in (PARABOLA, BOWL, ILL_CONDITIONED, ROSENBROCK, SADDLE, PLATEAU)}


@compilation.jit(static_argnums=(0, 1, 3))
def _path(f, optimizer, x0, num_steps):
    def step(carry, _):
        x, state = carry
        updates, state = optimizer.update(jax.grad(f)(x), state, x)
        x = optax.apply_updates(x, updates)
        return (x, state), x

    _, path = jax.lax.scan(step, (x0, optimizer.init(x0)), None, length=num_steps)
    return jnp.concatenate([x0[None], path])


def run_optimizer(
    problem: Problem | Callable, optimizer: optax.GradientTransformation, x0=None, num_steps: int = 100
) -> jax.Array:
    """The path ``[x_0, x_1, …, x_T]`` (shape ``[num_steps + 1, dim]``) of ``optimizer`` on ``problem``.

    One compiled ``lax.scan``; the optimiser is a static argument, so each new optimiser object
    compiles once (use ``sweeps.sweep`` to run many hyper-parameter values as one program).
    """
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer; got {num_steps!r}")
    f = problem.f if isinstance(problem, Problem) else problem
    start = problem.start if (x0 is None and isinstance(problem, Problem)) else x0
    if start is None:
        raise ValueError("x0 is needed when the problem is a plain function")
    return _path(f, optimizer, jnp.asarray(start, jnp.float32).reshape(-1), num_steps)
