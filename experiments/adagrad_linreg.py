"""E7: AdaGrad on linear regression — the shrinking steps of a small learning rate.

X ~ N(0, 1) (100 samples), y = 2X + 3 + N(0, 1), w = b = 0, full-batch torch Adagrad with learning
rate 0.01 for 100 epochs: every coordinate's first step is η (AdaGrad divides by |g|), and each
later one is smaller, so w and b crawl and the loss falls only a little.  A larger η is shown
beside it for contrast.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from experiments._common import parse_args, write_results
from jaxopt_course import data, models, plotting
from jaxopt_course.conventions import pytorch
from jaxopt_course.training import fit


@dataclasses.dataclass(frozen=True)
class Config:
    learning_rates: tuple[float, ...] = (0.01, 0.5)  # the course's, then a larger one for contrast
    num_epochs: int = 100
    num_samples: int = 100
    seed: int = 0


CAPTIONS = {
    "adagrad_linreg": "Full-batch AdaGrad on y = 2x + 3 + noise from w = b = 0. At the course's η = 0.01 the parameters move about η per epoch at first and less after (AdaGrad's steps shrink as squared gradients accumulate): after 100 epochs the loss has barely fallen. η = 0.5 reaches the noise floor."
}


def run(cfg: Config) -> dict:
    x, y = data.line(jax.random.PRNGKey(cfg.seed), cfg.num_samples)
    params = {"w": np.zeros((1, 1), np.float32), "b": np.zeros((1,), np.float32)}  # host zeros: no small programs
    loss_fn = models.supervised_loss(lambda p, x, key=None: x @ p["w"] + p["b"])
    results = {}
    for rate in cfg.learning_rates:
        history = fit(
            loss_fn,
            params,
            pytorch.adagrad(rate),
            (x, y),
            batch_size=cfg.num_samples,
            num_epochs=cfg.num_epochs,
            key=jax.random.PRNGKey(0),
            progress=False,
        )
        results[rate] = {
            "loss": np.asarray(history.step_loss),
            "w": float(np.asarray(history.params["w"])[0, 0]),  # indexed on the host
            "b": float(np.asarray(history.params["b"])[0]),
        }
    return results


def plot(results: dict, cfg: Config) -> dict:
    figure, axes = plotting.new_figure(1, 1, width=7.0, height=4.2)
    for (rate, r), color in zip(results.items(), plotting.PALETTE):
        plotting.plot_loss(
            axes[0, 0],
            r["loss"],
            color=color,
            label=f"Adagrad lr {rate:g}{' (course)' if rate == cfg.learning_rates[0] else ''}: w={r['w']:.2f}, b={r['b']:.2f}",
        )
    plotting.label_axes(
        axes[0, 0],
        xlabel="epoch (full batch)",
        ylabel="MSE loss",
        title="E7 — AdaGrad on y = 2x + 3 + noise, from w = b = 0",
        legend=True,
    )
    return {"adagrad_linreg": figure}


def main(argv=None) -> int:
    args = parse_args(argv, "adagrad_linreg", "E7: AdaGrad on linear regression")
    cfg = Config(seed=args.seed)
    results = run(cfg)
    metrics = {
        str(rate): {"first_loss": float(r["loss"][0]), "last_loss": float(r["loss"][-1]), "w": r["w"], "b": r["b"]}
        for rate, r in results.items()
    }
    course = metrics[str(cfg.learning_rates[0])]
    summary = f"With lr {cfg.learning_rates[0]:g} the loss goes {course['first_loss']:.2f} → {course['last_loss']:.2f} in {cfg.num_epochs} epochs (w = {course['w']:.3f}, b = {course['b']:.3f}, truth 2 and 3): AdaGrad's shrinking steps. With lr {cfg.learning_rates[1]:g}: → {metrics[str(cfg.learning_rates[1])]['last_loss']:.2f}."
    write_results(args.out, config=cfg, metrics=metrics, figures=plot(results, cfg), summary=summary)
    print(summary)
    return 0
