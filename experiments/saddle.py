"""E11: escaping a saddle point and a plateau — plain gradient descent is the slowest.

Saddle: ``f = x² − y²`` started at (1, 10⁻³), next to the saddle at the origin; an optimiser has
escaped once |y| > 1.  Plateau: ``f = 1 − exp(−(x² + 2y²)/2)`` started at (2.5, 1.9), where the
gradient is ~10⁻³; escaped once f < 0.5.  The course's claim (seed 001 §7.6): momentum, RMSProp
and Adam leave such regions faster than gradient descent.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import jaxopt_course as jc
from experiments._common import parse_args, write_results
from jaxopt_course import plotting, problems


@dataclasses.dataclass(frozen=True)
class Config:
    learning_rate: float = 0.05
    num_steps: int = 300


def optimizers(cfg: Config) -> dict:
    lr = cfg.learning_rate
    return {
        "GD": jc.sgd(lr),
        "momentum 0.9": jc.sgd(lr, momentum=0.9),
        "RMSProp": jc.rmsprop(lr, decay=0.9),
        "Adam": jc.adam(lr),
    }


def escape_step(values: np.ndarray, escaped) -> int:
    """First step at which ``escaped(values)`` holds, -1 if never."""
    hits = np.nonzero(escaped(values))[0]
    return int(hits[0]) if hits.size else -1


def run(cfg: Config) -> dict:
    results = {}
    for name, optimizer in optimizers(cfg).items():
        saddle = np.asarray(problems.run_optimizer(problems.SADDLE, optimizer, num_steps=cfg.num_steps), np.float64)
        plateau = np.asarray(problems.run_optimizer(problems.PLATEAU, optimizer, num_steps=cfg.num_steps))
        plateau_loss = 1 - np.exp(-(plateau[:, 0] ** 2 + 2 * plateau[:, 1] ** 2) / 2)
        results[name] = {
            "saddle": saddle,
            "saddle_loss": saddle[:, 0] ** 2 - saddle[:, 1] ** 2,
            "saddle_escape": escape_step(np.abs(saddle[:, 1]), lambda v: v > 1.0),
            "plateau": plateau,
            "plateau_loss": plateau_loss,
            "plateau_escape": escape_step(plateau_loss, lambda v: v < 0.5),
        }
    return results


def plot(results: dict, cfg: Config) -> dict:
    figure, axes = plotting.new_figure(2, 2, width=6.0, height=4.2)
    truncate = lambda path: path[np.all(np.abs(path) < 3.0, axis=1)]  # noqa: E731 - keep the escaping part in view
    plotting.plot_contour_paths(
        axes[0, 0],
        problems.SADDLE.f,
        problems.SADDLE.window,
        {n: truncate(r["saddle"]) for n, r in results.items()},
        levels=20,
        markers=False,
    )
    plotting.label_axes(axes[0, 0], xlabel="x", ylabel="y", title="saddle x² − y², start (1, 10⁻³)")
    axes[0, 0].legend(fontsize=8, loc="lower left")
    for (name, r), color in zip(results.items(), plotting.PALETTE):
        steps = np.arange(len(r["saddle_loss"]))
        shown = r["saddle_loss"] > -4
        axes[0, 1].plot(
            steps[shown], r["saddle_loss"][shown], color=color, label=f"{name}: escapes at step {r['saddle_escape']}"
        )
        axes[1, 1].plot(
            r["plateau_loss"],
            color=color,
            label=f"{name}: "
            + (
                f"escapes at step {r['plateau_escape']}"
                if r["plateau_escape"] >= 0
                else f"still on the plateau after {cfg.num_steps}"
            ),
        )
    plotting.label_axes(
        axes[0, 1], xlabel="step", ylabel="f(x, y)", title="saddle: loss (escape = |y| > 1)", legend=True
    )
    plotting.plot_contour_paths(
        axes[1, 0],
        problems.PLATEAU.f,
        problems.PLATEAU.window,
        {n: r["plateau"] for n, r in results.items()},
        levels=15,
        markers=False,
    )
    plotting.label_axes(axes[1, 0], xlabel="x", ylabel="y", title="plateau 1 − exp(−(x² + 2y²)/2), start (2.5, 1.9)")
    plotting.label_axes(
        axes[1, 1], xlabel="step", ylabel="f(x, y)", title="plateau: loss (escape = f < 0.5)", legend=True
    )
    for ax in axes.ravel():
        ax.grid(True, alpha=0.3)
    figure.suptitle(f"E11 — leaving a saddle and a plateau (learning rate {cfg.learning_rate:g} for all)", fontsize=13)
    return {"saddle": figure}


CAPTIONS = {
    "saddle": "Near a saddle the gradient along the escape direction is tiny, and on a plateau every gradient is: gradient descent's step is proportional to it and crawls; momentum accumulates it; RMSProp and Adam divide by its running size and take full-length steps at once."
}


def _slowest_sentence(metrics: dict) -> str:
    """Which optimiser left each region last, read from the escape steps (-1: never, the slowest)."""
    parts = []
    for region in ("saddle", "plateau"):
        steps = {name: m[f"{region}_escape_step"] for name, m in metrics.items()}
        slowest = max(steps, key=lambda name: np.inf if steps[name] < 0 else steps[name])
        parts.append(
            f"{slowest} is the slowest to leave the {region}"
            + (" (it never does within the run)" if steps[slowest] < 0 else "")
        )
    return "; ".join(parts) + "."


def main(argv=None) -> int:
    args = parse_args(argv, "saddle", "E11: escaping a saddle point and a plateau")
    cfg = Config()
    results = run(cfg)
    metrics = {
        name: {"saddle_escape_step": r["saddle_escape"], "plateau_escape_step": r["plateau_escape"]}
        for name, r in results.items()
    }
    summary = (
        "Escape steps (saddle |y| > 1; plateau f < 0.5; -1 = not within the run): "
        + "; ".join(f"{name} {m['saddle_escape_step']} / {m['plateau_escape_step']}" for name, m in metrics.items())
        + ". "
        + _slowest_sentence(metrics)
    )
    write_results(args.out, config=cfg, metrics=metrics, figures=plot(results, cfg), summary=summary)
    print(summary)
    return 0
