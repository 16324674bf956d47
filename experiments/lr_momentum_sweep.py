"""Which learning rate, which momentum? E3's mini-batch task over a grid, as one compiled program.

An MLP 1-32-32-1 on ``0.3x² + noise`` (torch-convention SGD, batch 128, real epochs) for every
(learning rate, momentum) of a log × linear grid and several seeds: one ``vmap``-ed, jit-compiled
``sweep``.  The heat map shows the final training loss; diverged runs are crossed out.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from experiments._common import parse_args, write_results
from jaxopt_course import data, models, plotting, training
from jaxopt_course.conventions import torch
from jaxopt_course.sweeps import sweep


@dataclasses.dataclass(frozen=True)
class Config:
    learning_rates: tuple[float, ...] = tuple(np.geomspace(1e-4, 0.3, 10).round(6))
    momenta: tuple[float, ...] = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99)
    seeds: int = 3
    batch_size: int = 128
    num_epochs: int = 10
    num_samples: int = 1000
    widths: tuple[int, ...] = (32, 32, 1)
    seed: int = 0


def make_run_fn(cfg: Config):
    """run_fn(hparams, key): one training run of the E3 mini-batch task, history out."""
    x, y = data.parabola(num_samples=cfg.num_samples, numpy_seed=0)
    plan = training.make_plan(cfg.num_samples, cfg.batch_size, num_epochs=cfg.num_epochs)
    _, apply = models.mlp(jax.random.PRNGKey(0), 1, cfg.widths)
    loss_fn = models.supervised_loss(apply)

    def run_fn(hparams, key):
        init_key, train_key = jax.random.split(key)
        params, _ = models.mlp(init_key, 1, cfg.widths)
        optimizer = torch.sgd(hparams["learning_rate"], momentum=hparams["momentum"])
        history = training.train(loss_fn, params, optimizer, (x, y), train_key, plan)
        return {"epoch_loss": history.epoch_loss}

    return run_fn


def run(cfg: Config) -> dict:
    began = time.perf_counter()
    result = sweep(
        make_run_fn(cfg), {"learning_rate": cfg.learning_rates, "momentum": cfg.momenta},
        seeds=cfg.seeds, key=jax.random.PRNGKey(cfg.seed), progress=False,
    )
    return {"result": result, "seconds": time.perf_counter() - began}


def plot(results: dict, cfg: Config) -> dict:
    result = results["result"]
    figure, axes = plotting.new_figure(1, 2, width=6.2, height=4.6)
    plotting.plot_heatmap(axes[0, 0], result, "epoch_loss", "learning_rate", "momentum", colorbar_label=f"training loss after {cfg.num_epochs} epochs (mean of {cfg.seeds} seeds)")
    axes[0, 0].set_title(f"{result.num_configurations} configurations × {cfg.seeds} seeds, one compiled program")
    plotting.plot_top_curves(axes[0, 1], result, "epoch_loss", k=4, describe=lambda i: f"lr {result.grid['learning_rate'][i]:.3g}, momentum {result.grid['momentum'][i]:.3g}")
    plotting.label_axes(axes[0, 1], xlabel="epoch", ylabel="training loss, mean over seeds (log)", title="the best four (band: min–max over seeds)")
    figure.suptitle("Learning rate × momentum for E3's mini-batch SGD (B = 128): × marks a diverged run", fontsize=13)
    return {"sweep": figure}


CAPTIONS = {"sweep": "Final training loss over a log grid of learning rates and a grid of momenta. The good region is a diagonal band: with momentum μ the effective step is about η/(1−μ), so larger momentum wants a smaller learning rate, and too large a product diverges (×)."}


def _best_per_momentum(result) -> dict:
    return {float(m): result.select(momentum=m).best("epoch_loss") for m in np.unique(result.grid["momentum"])}


def main(argv=None) -> int:
    args = parse_args(argv, "lr_momentum_sweep", "learning rate x momentum sweep of E3's mini-batch task")
    cfg = Config(seed=args.seed)
    if args.quick:
        cfg = dataclasses.replace(cfg, learning_rates=(1e-3, 1e-2, 1e-1), momenta=(0.0, 0.9), seeds=2, num_epochs=3)
    results = run(cfg)
    result = results["result"]
    best = result.best("epoch_loss")
    metrics = {"best": best, "configurations": result.num_configurations, "seeds": cfg.seeds, "seconds": results["seconds"], "records": result.to_records()}
    diverged = int(np.sum(~np.isfinite(result.final("epoch_loss"))))
    summary = (
        f"{result.num_configurations} configurations × {cfg.seeds} seeds ran as one compiled program in {results['seconds']:.1f} s. "
        f"Best: learning rate {best['learning_rate']:.3g} with momentum {best['momentum']:.3g}, final loss {best['score']:.3f}; "
        f"{diverged} configurations diverged. Best learning rate for each momentum: "
        + ", ".join(f"μ {m:.3g}: η {r['learning_rate']:.3g}" for m, r in _best_per_momentum(result).items())
        + " (a band where η/(1−μ) is about constant would make these fall as μ grows)."
    )
    write_results(args.out, config=cfg, metrics=metrics, figures=plot(results, cfg), summary=summary)
    result.to_csv(f"{args.out}/sweep.csv")
    print(summary)
    return 0
