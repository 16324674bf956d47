"""E8: linear regression from scratch, d2l style.

true w = [2, −3.4], b = 4.2, 1000 samples with noise N(0, 0.01²); shuffled mini-batches of 10;
w ~ N(0, 0.01²), b = 0; loss (ŷ − y)²/2; SGD learning rate 0.03; 3 epochs.  After each epoch the
loss over the whole data set is printed, as d2l does.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from experiments._common import parse_args, write_results
from jaxopt_course import data, models, plotting
from jaxopt_course.conventions import d2l
from jaxopt_course.training import fit

PUBLISHED = {"epoch loss": 5.8e-5, "w error": 1e-4, "b error": 1e-4}


@dataclasses.dataclass(frozen=True)
class Config:
    num_samples: int = 1000
    batch_size: int = 10
    learning_rate: float = 0.03
    num_epochs: int = 3
    seed: int = 0


CAPTIONS = {"linear_regression": "d2l's linear regression: shuffled mini-batches of 10, SGD lr 0.03, loss (ŷ − y)²/2. The full-data loss after each epoch (log scale) drops to the noise floor σ²/2 = 5e-5 by the second epoch."}


def run(cfg: Config) -> dict:
    data_key, init_key, train_key = jax.random.split(jax.random.PRNGKey(cfg.seed), 3)
    x, y = data.d2l_linear(data_key, cfg.num_samples)
    params, apply = models.linear(init_key, 2)
    loss_fn = models.supervised_loss(apply, "half_squared_error")
    history = fit(loss_fn, params, d2l.sgd(cfg.learning_rate), (x, y), batch_size=cfg.batch_size, num_epochs=cfg.num_epochs, key=train_key, eval_data=(x, y), progress=False)
    w = np.asarray(history.params["w"])[:, 0]
    return {
        "initial_loss": float(loss_fn(params, (x, y))),
        "epoch_loss": np.asarray(history.eval_loss),
        "step_loss": np.asarray(history.step_loss),
        "w_error": (np.array(data.D2L_TRUE_W) - w).tolist(),
        "b_error": float(data.D2L_TRUE_B - np.asarray(history.params["b"])[0]),
    }


def plot(results: dict, cfg: Config) -> dict:
    figure, axes = plotting.new_figure(1, 1, width=7.0, height=4.2)
    ax = axes[0, 0]
    steps_per_epoch = cfg.num_samples // cfg.batch_size
    plotting.plot_loss(ax, results["step_loss"], x=np.arange(1, len(results["step_loss"]) + 1) / steps_per_epoch, color=plotting.PALETTE[0], label="mini-batch loss", log=True, smooth=0.9)
    ax.plot(np.arange(0, cfg.num_epochs + 1), [results["initial_loss"], *results["epoch_loss"]], "o-", color=plotting.PALETTE[1], label="loss on all the data, after each epoch")
    ax.axhline(0.01**2 / 2, color="#7f7f7f", linestyle=":", label="noise floor σ²/2")
    plotting.label_axes(ax, xlabel="epoch", ylabel="(ŷ − y)²/2 (log)", title="E8 — linear regression from scratch (d2l)", legend=True)
    return {"linear_regression": figure}


def main(argv=None) -> int:
    args = parse_args(argv, "linear_regression", "E8: d2l linear regression from scratch")
    cfg = Config(seed=args.seed)
    results = run(cfg)
    metrics = {"epoch_loss": results["epoch_loss"], "w_error": results["w_error"], "b_error": results["b_error"], "published": PUBLISHED}
    summary = (
        "Loss after each epoch: " + ", ".join(f"{v:.2e}" for v in results["epoch_loss"]) + f" (course ≈ {PUBLISHED['epoch loss']:.1e}); "
        f"error in w = [{results['w_error'][0]:.1e}, {results['w_error'][1]:.1e}], in b = {results['b_error']:.1e} (course ≈ 1e-4)."
    )
    write_results(args.out, config=cfg, metrics=metrics, figures=plot(results, cfg), summary=summary)
    print(summary)
    return 0
