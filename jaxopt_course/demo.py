"""``python -m jaxopt_course.demo``: every optimiser of the course on two classic problems.

Prints, per optimiser (torch convention, the course's framework), the loss after a fixed number
of steps on the ill-conditioned quadratic ``0.1 x1² + 2 x2²`` and on Rosenbrock's valley.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import optax

from jaxopt_course.conventions import torch

PROBLEMS = {
    "quadratic 0.1x²+2y²": (lambda p: 0.1 * p[0] ** 2 + 2.0 * p[1] ** 2, jnp.array([-5.0, -2.0]), 100),
    "Rosenbrock": (lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2, jnp.array([-1.2, 1.0]), 5000),
}

OPTIMIZERS = {
    "SGD (lr 1e-3)": torch.sgd(1e-3),
    "SGD momentum 0.9": torch.sgd(1e-3, momentum=0.9),
    "SGD Nesterov 0.9": torch.sgd(1e-3, momentum=0.9, nesterov=True),
    "AdaGrad (lr 0.5)": torch.adagrad(0.5),
    "RMSProp (lr 1e-2)": torch.rmsprop(1e-2),
    "AdaDelta (lr 1)": torch.adadelta(1.0),
    "Adam (lr 1e-2)": torch.adam(1e-2),
    "AdamW (lr 1e-2)": torch.adamw(1e-2),
}


def final_loss(optimizer, loss_fn, start, num_steps):
    def step(carry, _):
        params, state = carry
        grads = jax.grad(loss_fn)(params)
        updates, state = optimizer.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(step, (start, optimizer.init(start)), None, length=num_steps)
    return loss_fn(params)


def main() -> None:
    names = list(PROBLEMS)
    print(f"{'optimiser':<20}" + "".join(f"{n + f' ({PROBLEMS[n][2]} steps)':>34}" for n in names))
    began = time.perf_counter()
    for label, optimizer in OPTIMIZERS.items():
        losses = [float(jax.jit(final_loss, static_argnums=(0, 1, 3))(optimizer, *PROBLEMS[n][:2], PROBLEMS[n][2])) for n in names]
        print(f"{label:<20}" + "".join(f"{loss:>34.3e}" for loss in losses))
    print("\nstarting losses: " + ", ".join(f"{n} {float(PROBLEMS[n][0](PROBLEMS[n][1])):.3g}" for n in names))
    print(f"{len(OPTIMIZERS) * len(names)} compiled runs in {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
