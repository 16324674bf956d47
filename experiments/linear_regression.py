"""E8: linear regression from scratch, d2l style.

true w = [2, −3.4], b = 4.2, 1000 samples with noise N(0, σ²), σ = 0.01; shuffled mini-batches of
10; w ~ N(0, 0.01²), b = 0; loss (ŷ − y)²/2; SGD learning rate 0.03; 3 epochs.  After each epoch
the loss over the whole data set is printed, as d2l does.

What the numbers must be.  The loss cannot fall below the noise floor σ²/2 = 5e-5 (the least-
squares fit of these samples sits a little under it, by the noise's sampling spread ≈ √(2/N)), and
no estimator from N = 1000 samples gets w and b closer than about σ/√N ≈ 3e-4 each.

The course prints ≈ 5.8e-5 after every epoch, the first included.  A fresh run cannot do that: the
Hessian of the loss is E[x xᵀ] = I, so each step shrinks the error in (w, b) by 1 − η = 0.97 and
the first epoch's 100 steps leave 0.97¹⁰⁰ ≈ 5% of it, a loss 0.97²⁰⁰ ≈ 0.2% of the initial one
(≈ 3e-2, hundreds of times the floor).  The printed numbers are those of the training cell run a
second time, continuing from the trained parameters: the "published" variant here.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from experiments._common import parse_args, write_results
from jaxopt_course import compilation, data, models, plotting
from jaxopt_course.conventions import d2l
from jaxopt_course.training import fit

PUBLISHED = {"epoch loss": 5.8e-5, "w error": 1e-4, "b error": 1e-4}


@dataclasses.dataclass(frozen=True)
class Config:
    num_samples: int = 1000
    noise: float = 0.01
    batch_size: int = 10
    learning_rate: float = 0.03
    num_epochs: int = 3
    seed: int = 0


def first_epoch_contraction(cfg: Config) -> float:
    """(1 − η)^(N/B): the share of the initial error in (w, b) one epoch leaves (Hessian ≈ I)."""
    return (1.0 - cfg.learning_rate) ** (cfg.num_samples // cfg.batch_size)


_LEFT = first_epoch_contraction(Config())
CAPTIONS = {
    "linear_regression": (
        f"Left, a fresh run: d2l's linear regression (shuffled mini-batches of 10, SGD lr 0.03, loss (ŷ − y)²/2); the full-data loss "
        f"after each epoch (log scale) reaches the noise floor σ²/2 = 5e-5 by the last epoch. Its first epoch cannot reach the 5.8e-5 "
        f"the course prints: each step shrinks the error in (w, b) by 1 − η = 0.97, so 100 steps leave 0.97¹⁰⁰ ≈ {_LEFT:.0%} of it, "
        f"a loss of 0.97²⁰⁰ ≈ {_LEFT**2:.1%} of the initial one. Right, as published: the training cell run a second time, "
        f"continuing from the trained parameters, prints the floor after every epoch, as the course does."
    )
}


def run(cfg: Config) -> dict:
    """A fresh run, then the published one: the same training again from the trained parameters."""
    data_key, init_key, train_key = jax.random.split(jax.random.PRNGKey(cfg.seed), 3)
    x, y = data.d2l_linear(data_key, cfg.num_samples, noise_scale=cfg.noise)
    params, apply = models.linear(init_key, 2)
    loss_fn = models.supervised_loss(apply, "half_squared_error")

    def train(start, key):
        return fit(
            loss_fn,
            start,
            d2l.sgd(cfg.learning_rate),
            (x, y),
            batch_size=cfg.batch_size,
            num_epochs=cfg.num_epochs,
            key=key,
            eval_data=(x, y),
            progress=False,
        )

    fresh = train(params, train_key)
    again = train(fresh.params, jax.random.fold_in(train_key, 1))  # a new shuffle, as re-running the cell draws
    truth = np.array([*data.D2L_TRUE_W, data.D2L_TRUE_B])
    features = np.c_[np.asarray(x, np.float64), np.ones(cfg.num_samples)]
    least_squares, *_ = np.linalg.lstsq(features, np.asarray(y, np.float64)[:, 0], rcond=None)

    def errors(p):
        return (truth - np.r_[np.asarray(p["w"])[:, 0], np.asarray(p["b"])]).tolist()

    return {
        "initial_loss": float(compilation.jit(loss_fn)(params, (x, y))),  # one program, not six small ones
        "least_squares_loss": float(np.mean((features @ least_squares - np.asarray(y, np.float64)[:, 0]) ** 2) / 2),
        "least_squares_error": (truth - least_squares).tolist(),
        "fresh": {
            "epoch_loss": np.asarray(fresh.eval_loss),
            "step_loss": np.asarray(fresh.step_loss),
            "error": errors(fresh.params),
        },
        "published": {
            "epoch_loss": np.asarray(again.eval_loss),
            "step_loss": np.asarray(again.step_loss),
            "error": errors(again.params),
        },
    }


def plot(results: dict, cfg: Config) -> dict:
    figure, axes = plotting.new_figure(1, 2, width=5.6, height=4.2, sharey=True)
    steps_per_epoch = cfg.num_samples // cfg.batch_size
    epochs = np.arange(0, cfg.num_epochs + 1)
    fresh, published = results["fresh"], results["published"]
    for ax, run_, start, title in (
        (axes[0, 0], fresh, results["initial_loss"], "a fresh run"),
        (
            axes[0, 1],
            published,
            float(fresh["epoch_loss"][-1]),
            "as published: the cell run again from the trained w, b",
        ),
    ):
        steps = np.arange(1, len(run_["step_loss"]) + 1) / steps_per_epoch
        plotting.plot_loss(
            ax,
            run_["step_loss"],
            x=steps,
            color=plotting.PALETTE[0],
            label="mini-batch loss (EWMA)",
            log=True,
            smooth=0.9,
        )
        ax.plot(
            epochs,
            [start, *run_["epoch_loss"]],
            "o-",
            color=plotting.PALETTE[1],
            label="loss on all the data, after each epoch",
        )
        ax.axhline(cfg.noise**2 / 2, color="#7f7f7f", linestyle=":", label="noise floor σ²/2")
        ax.axhline(
            PUBLISHED["epoch loss"],
            color=plotting.PALETTE[2],
            linestyle="--",
            linewidth=0.9,
            label="the course's printed 5.8e-5",
        )
        plotting.label_axes(ax, xlabel="epoch", ylabel="(ŷ − y)²/2 (log)", title=title, legend=ax is axes[0, 1])
    contraction = first_epoch_contraction(cfg)
    axes[0, 0].annotate(
        f"epoch 1: 0.97²⁰⁰ × initial ≈ {contraction**2 * results['initial_loss']:.1e}",
        (1, float(fresh["epoch_loss"][0])),
        textcoords="offset points",
        xytext=(8, 8),
        fontsize=8,
    )
    figure.suptitle(
        "E8 — linear regression from scratch (d2l): the printed ≈ 5.8e-5 per epoch is a second run", fontsize=12
    )
    return {"linear_regression": figure}


def main(argv=None) -> int:
    args = parse_args(argv, "linear_regression", "E8: d2l linear regression from scratch")
    cfg = Config(seed=args.seed)  # 300 steps of a 3-parameter model: --quick has nothing to cut
    results = run(cfg)
    fresh, published = results["fresh"], results["published"]
    metrics = {
        "epoch_loss": fresh["epoch_loss"],
        "w_error": fresh["error"][:2],
        "b_error": fresh["error"][2],
        "published_variant": {
            "epoch_loss": published["epoch_loss"],
            "w_error": published["error"][:2],
            "b_error": published["error"][2],
        },
        "initial_loss": results["initial_loss"],
        "first_epoch_contraction": first_epoch_contraction(cfg),
        "noise_floor": cfg.noise**2 / 2,
        "least_squares_loss": results["least_squares_loss"],
        "least_squares_error": results["least_squares_error"],
        "standard_error": cfg.noise / np.sqrt(cfg.num_samples),
        "published": PUBLISHED,
    }
    summary = (
        "Fresh run, loss after each epoch: "
        + ", ".join(f"{v:.2e}" for v in fresh["epoch_loss"])
        + f" (noise floor σ²/2 = {cfg.noise**2 / 2:.0e}; least squares on these samples {results['least_squares_loss']:.2e}); "
        f"error in w = [{fresh['error'][0]:.1e}, {fresh['error'][1]:.1e}], in b = {fresh['error'][2]:.1e} (σ/√N = {metrics['standard_error']:.1e}). "
        "Run again from the trained parameters, as the course's printout was: "
        + ", ".join(f"{v:.2e}" for v in published["epoch_loss"])
        + f" (course ≈ {PUBLISHED['epoch loss']:.1e} each)."
    )
    write_results(args.out, config=cfg, metrics=metrics, figures=plot(results, cfg), summary=summary)
    print(summary)
    return 0
