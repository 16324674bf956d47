"""E6: the course's learning-rate schedules on one sheet (torch's schedulers and Keras's).

Base learning rate 0.1 over 300 optimiser steps, each scheduler stepped once per step.  The warm-up
of the course is shown as published, ``LambdaLR(lambda t: min(t / 20, 0.001))`` — which caps the
factor at 0.001 for ever — beside the meant ``min(t / 20, 1)``.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from experiments._common import parse_args, write_results
from jaxopt_course import compilation, plotting
from jaxopt_course.conventions import keras, pytorch


@dataclasses.dataclass(frozen=True)
class Config:
    base_lr: float = 0.1
    num_steps: int = 300
    warmup_steps: int = 20
    landmarks: tuple[int, ...] = (0, 10, 20, 50, 99, 100, 101, 150, 200, 201, 299)


def build(cfg: Config) -> dict:
    """Every schedule of the course: name -> (panel, schedule)."""
    lr, w = cfg.base_lr, cfg.warmup_steps
    return {
        "StepLR(100, γ=0.5)": ("torch StepLR", pytorch.step_lr(lr, 100, 0.5)),
        "ExponentialLR(γ=0.99)": ("torch ExponentialLR", pytorch.exponential_lr(lr, 0.99)),
        "CosineAnnealingLR(T=100, η_min=1e-5)": ("torch CosineAnnealingLR", pytorch.cosine_annealing_lr(lr, 100, 1e-5)),
        "LambdaLR(0.99^epoch)": ("torch LambdaLR", pytorch.lambda_lr(lr, lambda epoch: 0.99**epoch)),
        "warm-up as published: min(t/20, 0.001)": (
            "warm-up (LambdaLR)",
            pytorch.lambda_lr(lr, lambda t: jnp.minimum(t / w, 0.001)),
        ),
        "warm-up as meant: min(t/20, 1)": (
            "warm-up (LambdaLR)",
            pytorch.lambda_lr(lr, lambda t: jnp.minimum(t / w, 1.0)),
        ),
        "PiecewiseConstantDecay([100, 200], [0.1, 0.05, 0.01])": (
            "Keras PiecewiseConstantDecay",
            keras.piecewise_constant_decay([100, 200], [lr, lr / 2, lr / 10]),
        ),
        "ExponentialDecay(k=50, r=0.5)": ("Keras ExponentialDecay", keras.exponential_decay(lr, 50, 0.5)),
        "ExponentialDecay(k=50, r=0.5, staircase)": (
            "Keras ExponentialDecay",
            keras.exponential_decay(lr, 50, 0.5, staircase=True),
        ),
        "InverseTimeDecay(k=50, r=1)": ("Keras InverseTimeDecay", keras.inverse_time_decay(lr, 50, 1.0)),
        "InverseTimeDecay(k=50, r=1, staircase)": (
            "Keras InverseTimeDecay",
            keras.inverse_time_decay(lr, 50, 1.0, staircase=True),
        ),
    }


def run(cfg: Config) -> dict:
    """Every schedule at every step, as one compiled program (as a training step evaluates them),
    not some thirty small ones of operation-by-operation evaluation."""
    schedules = build(cfg)
    values = compilation.jit(lambda steps: {name: schedule(steps) for name, (_, schedule) in schedules.items()})(
        jnp.arange(cfg.num_steps)
    )
    return {name: (panel, np.asarray(values[name])) for name, (panel, _) in schedules.items()}


def plot(results: dict, cfg: Config) -> dict:
    panels = list(dict.fromkeys(panel for panel, _ in results.values()))
    figure, axes = plotting.new_figure(3, 3, width=4.4, height=3.0)
    axes = axes.ravel()
    for ax, panel in zip(axes, panels):
        members = [(name, values) for name, (p, values) in results.items() if p == panel]
        for (name, values), color in zip(members, plotting.PALETTE):
            ax.plot(values, color=color, label=name, linewidth=1.8, linestyle="--" if "published" in name else "-")
        if panel.startswith("warm-up"):
            ax.set_yscale("log")
            ax.set_title(panel + " — the published cap is a bug", color="#b22222")
        else:
            ax.set_title(panel)
        plotting.label_axes(ax, xlabel="step", ylabel="learning rate", legend=True)
        ax.legend(frameon=False, fontsize=7.5)
        ax.grid(True, alpha=0.3, which="both")
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    figure.suptitle(
        f"E6 — the course's learning-rate schedules (base lr {cfg.base_lr:g}, one scheduler step per optimiser step)",
        fontsize=13,
    )
    return {"schedules": figure}


CAPTIONS = {
    "schedules": "Every schedule of the course, evaluated by the library at each optimiser step. Note torch's cosine rising again after T_max (it is not clamped), Keras's left-inclusive piecewise boundaries (the value changes at step b+1), and the published warm-up, whose factor min(t/20, 0.001) never exceeds 0.001."
}
BUGS = "The course's warm-up LambdaLR uses min(t / warmup_steps, 0.001), which caps the learning rate at 0.1% of its base for ever; min(t / warmup_steps, 1) is meant."


def main(argv=None) -> int:
    args = parse_args(argv, "schedules", "E6: the course's learning-rate schedules")
    cfg = Config()
    results = run(cfg)
    metrics = {
        name: {str(step): float(values[step]) for step in cfg.landmarks if step < cfg.num_steps}
        for name, (_, values) in results.items()
    }
    summary = (
        f"StepLR halves the rate at step 100 ({metrics['StepLR(100, γ=0.5)']['99']:.3g} → {metrics['StepLR(100, γ=0.5)']['100']:.3g}); "
        f"torch's cosine reaches η_min at step 100 and climbs back to {metrics['CosineAnnealingLR(T=100, η_min=1e-5)']['200']:.3g} at step 200; "
        f"Keras's piecewise schedule still gives {metrics['PiecewiseConstantDecay([100, 200], [0.1, 0.05, 0.01])']['100']:.3g} at its boundary step 100 "
        f"and changes at 101. The published warm-up never exceeds {max(results['warm-up as published: min(t/20, 0.001)'][1]):.3g} "
        f"(0.001 × base); the meant one reaches the base rate at step {cfg.warmup_steps}."
    )
    write_results(args.out, config=cfg, metrics=metrics, figures=plot(results, cfg), summary=summary)
    print(summary)
    return 0
