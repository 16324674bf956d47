"""E1: gradient descent on ``f(x) = x² + 4x + 1`` from x = −10 with learning rate 0.9, 100 steps.

``x_{t+1} = x_t − 0.9 (2x_t + 4) = −0.8 x_t − 3.6``: the iterate overshoots the minimum at −2 on
every step (the factor is negative) and still converges, by 0.8 per step.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import jaxopt_course as jc
from experiments._common import parse_args, write_results
from jaxopt_course import plotting, problems


@dataclasses.dataclass(frozen=True)
class Config:
    learning_rate: float = 0.9
    start: float = -10.0
    num_steps: int = 100


PUBLISHED = {"final x": -2.000000238418579}
CAPTIONS = {
    "gd_1d": "Gradient descent with learning rate 0.9 on x² + 4x + 1: each step jumps across the minimum (the update factor 1 − 2η = −0.8 is negative) yet the jumps shrink by 0.8 each time."
}


def run(cfg: Config) -> dict:
    path = np.asarray(problems.run_optimizer(problems.PARABOLA, jc.sgd(cfg.learning_rate), [cfg.start], cfg.num_steps))[
        :, 0
    ]
    return {"path": path, "values": np.asarray([float(problems.PARABOLA.f(np.array([x]))) for x in path])}


def plot(results: dict, cfg: Config) -> dict:
    figure, axes = plotting.new_figure(1, 1, width=7.0, height=4.6)
    ax = axes[0, 0]
    curve = np.arange(-10.0, 10.0, 0.1)
    ax.plot(curve, curve**2 + 4 * curve + 1, "b-", label="f(x) = x² + 4x + 1")
    ax.plot(results["path"], results["values"], "r--", linewidth=1)
    ax.scatter(results["path"], results["values"], s=50, c="r", label=f"iterates (η = {cfg.learning_rate:g})", zorder=3)
    plotting.label_axes(
        ax,
        xlabel="x",
        ylabel="f(x)",
        title=f"E1 — gradient descent from x = {cfg.start:g}: final x = {results['path'][-1]:.9f}",
        legend=True,
    )
    ax.grid(True, alpha=0.3)
    return {"gd_1d": figure}


def main(argv=None) -> int:
    args = parse_args(argv, "gd_1d", "E1: gradient descent on x² + 4x + 1")
    cfg = Config()  # 100 scalar steps: --quick has nothing to cut
    results = run(cfg)
    final = float(results["path"][-1])
    metrics = {
        "final_x": final,
        "error": abs(final + 2.0),
        "published_final_x": PUBLISHED["final x"],
        "steps": cfg.num_steps,
    }
    summary = f"After {cfg.num_steps} steps x = {final:.9f} (course: {PUBLISHED['final x']:.9f}); the minimiser is −2, reached to {abs(final + 2):.1e}."
    write_results(args.out, config=cfg, metrics=metrics, figures=plot(results, cfg), summary=summary)
    print(summary)
    return 0
