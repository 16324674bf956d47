"""E10: momentum and the adaptive methods on the ill-conditioned ``f = 0.1 x1² + 2 x2²`` (d2l).

From (−5, −2), 20 steps.  Plain gradient descent is slow along x1 at η = 0.4 and diverges along x2
at η = 0.6 (|1 − 0.6·4| = 1.4 > 1); momentum γ = 0.5 makes both fast and stable.  AdaGrad, RMSProp,
AdaDelta and Adam (d2l's from-scratch versions) rescale each coordinate instead.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from experiments._common import parse_args, write_results
from jaxopt_course import plotting, problems
from jaxopt_course.conventions import d2l


@dataclasses.dataclass(frozen=True)
class Config:
    num_steps: int = 20
    momentum: float = 0.5
    adaptive_learning_rate: float = 0.4
    rmsprop_gamma: float = 0.9
    adadelta_rho: float = 0.9
    adam_learning_rate: float = 0.4  # not given by the course; chosen to show Adam's sign-like steps


def optimizers(cfg: Config) -> dict:
    return {
        "momentum": {
            "GD η=0.4": d2l.sgd(0.4),
            "GD η=0.6 (diverges along x₂)": d2l.sgd(0.6),
            f"momentum η=0.4, γ={cfg.momentum:g}": d2l.sgd(0.4, momentum=cfg.momentum),
            f"momentum η=0.6, γ={cfg.momentum:g}": d2l.sgd(0.6, momentum=cfg.momentum),
        },
        "adaptive": {
            f"AdaGrad η={cfg.adaptive_learning_rate:g}": d2l.adagrad(cfg.adaptive_learning_rate),
            f"RMSProp η={cfg.adaptive_learning_rate:g}, γ={cfg.rmsprop_gamma:g}": d2l.rmsprop(
                cfg.adaptive_learning_rate, cfg.rmsprop_gamma
            ),
            f"AdaDelta ρ={cfg.adadelta_rho:g}": d2l.adadelta(cfg.adadelta_rho),
            f"Adam η={cfg.adam_learning_rate:g}": d2l.adam(cfg.adam_learning_rate),
        },
    }


def run(cfg: Config) -> dict:
    return {
        group: {
            name: np.asarray(problems.run_optimizer(problems.ILL_CONDITIONED, optimizer, num_steps=cfg.num_steps))
            for name, optimizer in members.items()
        }
        for group, members in optimizers(cfg).items()
    }


def plot(results: dict, cfg: Config) -> dict:
    figure, axes = plotting.new_figure(1, 2, width=5.4, height=5.2)
    titles = {"momentum": "gradient descent vs momentum", "adaptive": "AdaGrad, RMSProp, AdaDelta, Adam (d2l)"}
    for ax, (group, paths) in zip(axes[0], results.items()):
        plotting.plot_contour_paths(ax, problems.ILL_CONDITIONED.f, problems.ILL_CONDITIONED.window, paths, levels=20)
        plotting.label_axes(ax, xlabel="x₁", ylabel="x₂", title=titles[group])
        ax.legend(fontsize=8, loc="lower right", framealpha=0.9)
    figure.suptitle(f"E10 — f = 0.1x₁² + 2x₂² from (−5, −2), {cfg.num_steps} steps", fontsize=13)
    return {"momentum_ill_conditioned": figure}


CAPTIONS = {
    "momentum_ill_conditioned": "Left: with η = 0.4 gradient descent crawls along the flat x₁ direction; η = 0.6 oscillates out of control along the steep x₂; momentum (γ = 0.5) averages the oscillation away and runs along the valley. Right: the adaptive methods scale each coordinate by its own gradient history."
}


def main(argv=None) -> int:
    args = parse_args(argv, "momentum_ill_conditioned", "E10: momentum on an ill-conditioned quadratic")
    cfg = Config()
    results = run(cfg)
    distances = {name: float(np.linalg.norm(path[-1])) for group in results.values() for name, path in group.items()}
    metrics = {
        "final_distance_to_minimum": distances,
        "final_points": {name: path[-1] for group in results.values() for name, path in group.items()},
    }
    summary = (
        "After 20 steps, distance to the minimum: "
        + "; ".join(f"{name} {d:.3g}" for name, d in distances.items())
        + "."
    )
    write_results(args.out, config=cfg, metrics=metrics, figures=plot(results, cfg), summary=summary)
    print(summary)
    return 0
