"""E9 (c): fit ``y = w·x`` to three points, by gradient descent and by one-sample SGD.

x = [1, 2, 3], y = [2, 4, 6], w = 1.0, mean squared error, learning rate 0.01, 100 epochs;
``predict(4)`` goes from 4.0 to about 8.0.  The course's SGD loop draws ``i = randint(0, 2)`` but
looks it up in ``range(0, 2)``: sample 3 is never used, and a third of the epochs train on
x = y = 0 (no update, loss 0).  Shown as published beside the fix; the noisy SGD loss is drawn
with the exponentially weighted moving average the same page recommends.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import jaxopt_course as jc
from experiments._common import parse_args, write_results
from jaxopt_course import data, plotting
from jaxopt_course.training import fit

PUBLISHED = {"predict(4) before": 4.0, "predict(4) after GD": 8.0}
BUGS = "The published SGD loop never picks the third sample (range(0, 2)) and trains on x = y = 0 a third of the time; the fix draws each of the three samples with probability 1/3."
CAPTIONS = {
    "tiny_linear": "Left: full-batch gradient descent on three points: the cost falls smoothly and w → 2. Right: one random sample per epoch, as published (samples 1 and 2, or the phantom (0, 0)) and fixed; raw costs faint, EWMA (β = 0.9) bold."
}


@dataclasses.dataclass(frozen=True)
class Config:
    learning_rate: float = 0.01
    num_epochs: int = 100
    start_w: float = 1.0
    seed: int = 0


def loss_fn(params, batch):
    x, y = batch
    return jnp.mean((x[:, 0] * params["w"] - y[:, 0]) ** 2)


def phantom(column):
    """``column`` with its third sample set to 0 (on the host: no scatter program)."""
    column = np.array(column)
    column[2] = 0.0
    return column


def run(cfg: Config) -> dict:
    x, y = data.three_points()
    params = {"w": jnp.float32(cfg.start_w)}
    key = jax.random.PRNGKey(cfg.seed)
    runs = {
        "GD": fit(
            loss_fn,
            params,
            jc.sgd(cfg.learning_rate),
            (x, y),
            batch_size=3,
            num_epochs=cfg.num_epochs,
            key=key,
            progress=False,
        ),
        # as published: a uniform pick among sample 1, sample 2 and a phantom (0, 0)
        "SGD as published": fit(
            loss_fn,
            params,
            jc.sgd(cfg.learning_rate),
            (phantom(x), phantom(y)),
            batch_size=1,
            num_steps=cfg.num_epochs,
            key=key,
            sampling="replacement",
            progress=False,
        ),
        "SGD fixed": fit(
            loss_fn,
            params,
            jc.sgd(cfg.learning_rate),
            (x, y),
            batch_size=1,
            num_steps=cfg.num_epochs,
            key=key,
            sampling="replacement",
            progress=False,
        ),
    }
    return {
        name: {"loss": np.asarray(h.step_loss), "w": float(h.params["w"]), "predict_4": 4.0 * float(h.params["w"])}
        for name, h in runs.items()
    }


def plot(results: dict, cfg: Config) -> dict:
    figure, axes = plotting.new_figure(1, 2, width=5.6, height=4.0)
    plotting.plot_loss(
        axes[0, 0],
        results["GD"]["loss"],
        color=plotting.PALETTE[0],
        label=f"GD: w → {results['GD']['w']:.4f}",
        log=True,
    )
    plotting.label_axes(
        axes[0, 0], xlabel="epoch", ylabel="MSE cost (log)", title="gradient descent on all three points", legend=True
    )
    for name, color in (("SGD as published", plotting.PALETTE[1]), ("SGD fixed", plotting.PALETTE[2])):
        plotting.plot_loss(
            axes[0, 1],
            results[name]["loss"],
            color=color,
            smooth=0.9,
            raw_alpha=0.3,
            label=f"{name}: w → {results[name]['w']:.3f}",
        )
    plotting.label_axes(
        axes[0, 1],
        xlabel="epoch (one sample each)",
        ylabel="cost of the sample",
        title="one-sample SGD, EWMA-smoothed",
        legend=True,
    )
    figure.suptitle("E9 — y = w·x on (1, 2), (2, 4), (3, 6) from w = 1, lr 0.01", fontsize=13)
    return {"tiny_linear": figure}


def main(argv=None) -> int:
    args = parse_args(argv, "tiny_linear", "E9 (c): y = w x on three points, GD and SGD")
    cfg = Config(seed=args.seed)
    results = run(cfg)
    metrics = {
        name: {
            "w": r["w"],
            "predict_4": r["predict_4"],
            "final_loss": float(r["loss"][-1]),
            "zero_loss_steps": int(np.sum(r["loss"] == 0.0)),
        }
        for name, r in results.items()
    }
    metrics["predict_4_before"] = 4.0 * cfg.start_w
    metrics["published"] = PUBLISHED
    summary = (
        f"Gradient descent: predict(4) goes from 4.0 to {results['GD']['predict_4']:.4f} (course ≈ 8.0). One-sample SGD: "
        f"as published w ends at {results['SGD as published']['w']:.3f}, fixed at {results['SGD fixed']['w']:.3f}; the published loop spent {metrics['SGD as published']['zero_loss_steps']} of its {cfg.num_epochs} epochs on the phantom sample (0, 0), with zero loss and no update."
    )
    write_results(args.out, config=cfg, metrics=metrics, figures=plot(results, cfg), summary=summary)
    print(summary)
    return 0
