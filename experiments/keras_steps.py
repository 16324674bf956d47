"""E9 (a, b): the course's smallest Keras examples, reproduced with ``conventions.keras``.

``var = 1.0``, ``loss = var²/2`` (so the gradient is var).  One SGD step with learning rate 0.1
gives 0.9; with momentum 0.9 the first two steps move 0.1 and then 0.18 (Keras keeps the
learning rate inside the velocity: m = 0.9 m − 0.1 g).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import optax

from experiments._common import parse_args, write_results
from jaxopt_course import plotting
from jaxopt_course.conventions import keras

PUBLISHED = {"plain SGD after one step": 0.9, "momentum steps": [0.1, 0.18]}


@dataclasses.dataclass(frozen=True)
class Config:
    learning_rate: float = 0.1
    momentum: float = 0.9
    num_steps: int = 30


def momentum_steps_by_hand(learning_rate: float, momentum: float, num_steps: int) -> list[float]:
    """Keras's rule on var²/2 from var = 1, in plain Python: ``m = μ m − η var``, ``var += m``.

    The first steps are η, then η(1 + μ) − η², …: 0.1, 0.18, 0.234 for η = 0.1, μ = 0.9.
    """
    var, velocity, steps = 1.0, 0.0, []
    for _ in range(num_steps):
        velocity = momentum * velocity - learning_rate * var
        var += velocity
        steps.append(-velocity)
    return steps


_STEPS = ", ".join(f"{step:.3g}" for step in momentum_steps_by_hand(Config.learning_rate, Config.momentum, 3))
CAPTIONS = {
    "keras_steps": f"var²/2 from var = 1 with Keras SGD (lr {Config.learning_rate:g}): plain steps shrink with the gradient; with momentum {Config.momentum:g} the velocity grows the steps ({_STEPS}, …) before it overshoots."
}


def trajectory(optimizer, num_steps: int) -> np.ndarray:
    var = np.float32(1.0)
    state, path = optimizer.init(var), [var]
    for _ in range(num_steps):
        updates, state = optimizer.update(path[-1], state, path[-1])  # d(var²/2)/dvar = var
        path.append(np.float32(optax.apply_updates(path[-1], updates)))
    return np.array(path)


def run(cfg: Config) -> dict:
    return {
        "plain": trajectory(keras.sgd(cfg.learning_rate), cfg.num_steps),
        "momentum": trajectory(keras.sgd(cfg.learning_rate, momentum=cfg.momentum), cfg.num_steps),
    }


def plot(results: dict, cfg: Config) -> dict:
    figure, axes = plotting.new_figure(1, 1, width=7.0, height=4.2)
    ax = axes[0, 0]
    ax.plot(
        results["plain"],
        "o-",
        color=plotting.PALETTE[0],
        label=f"SGD(learning_rate={cfg.learning_rate:g}): 1.0 → {results['plain'][1]:.2f}",
    )
    steps = -np.diff(results["momentum"])
    ax.plot(
        results["momentum"],
        "s-",
        color=plotting.PALETTE[1],
        label=f"SGD(momentum={cfg.momentum:g}): first steps {steps[0]:.2f}, {steps[1]:.2f}",
    )
    ax.axhline(0.0, color="#7f7f7f", linewidth=0.8)
    plotting.label_axes(ax, xlabel="step", ylabel="var", title="E9 — Keras SGD on loss = var²/2, var₀ = 1", legend=True)
    ax.grid(True, alpha=0.3)
    return {"keras_steps": figure}


def main(argv=None) -> int:
    args = parse_args(argv, "keras_steps", "E9 (a, b): Keras SGD's first steps")
    cfg = Config()
    results = run(cfg)
    steps = -np.diff(results["momentum"])
    metrics = {
        "plain_after_one_step": float(results["plain"][1]),
        "momentum_first_steps": steps[:3].tolist(),
        "published": PUBLISHED,
    }
    summary = f"One plain step: 1.0 → {results['plain'][1]:.6f} (course 0.9). With momentum the first steps are {steps[0]:.6f} and {steps[1]:.6f} (course 0.1 and 0.18)."
    write_results(args.out, config=cfg, metrics=metrics, figures=plot(results, cfg), summary=summary)
    print(summary)
    return 0
