"""Which learning rate, which momentum? E3's mini-batch task over a grid, as one compiled program.

An MLP 1-32-32-1 on ``0.3x² + noise`` (torch-convention SGD, batch 128, real epochs) for every
(learning rate, momentum) of a log × linear grid and several seeds: one ``vmap``-ed, jit-compiled
``sweep``.  The heat map shows the final training loss; diverged runs are crossed out.

Beside it, successive halving of the same grid: every configuration trains ``epochs_per_rung``
epochs, the best third (by training loss, mean over seeds) continues from where it stopped, and so
on until the last rung ends at the full grid's epoch count.  The page reports the configuration-
epochs each approach spent and whether both picked the same configuration (their seconds are
measured by ``python -m benchmarks.sweeps``, not here: an experiment runs each program once).
"""

from __future__ import annotations

import dataclasses

import jax
import matplotlib.ticker
import numpy as np

from experiments._common import long_runs, parse_args, write_results
from jaxopt_course import data, models, plotting, training
from jaxopt_course.conventions import pytorch
from jaxopt_course.sweeps import sweep
from jaxopt_course.sweeps.halving import successive_halving
from jaxopt_course.sweeps.results import SweepResult


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
    epochs_per_rung: int = 2  # successive halving: num_epochs / epochs_per_rung rungs
    keep: float = 1 / 3


def make_run_fn(cfg: Config):
    """run_fn(hparams, key): one training run of the E3 mini-batch task, history out."""
    x, y = data.parabola(num_samples=cfg.num_samples, numpy_seed=0)
    plan = training.make_plan(cfg.num_samples, cfg.batch_size, num_epochs=cfg.num_epochs)
    _, apply = models.mlp(jax.random.PRNGKey(0), 1, cfg.widths)
    loss_fn = models.supervised_loss(apply)

    def run_fn(hparams, key):
        init_key, train_key = jax.random.split(key)
        params, _ = models.mlp(init_key, 1, cfg.widths)
        optimizer = pytorch.sgd(hparams["learning_rate"], momentum=hparams["momentum"])
        history = training.train(loss_fn, params, optimizer, (x, y), train_key, plan)
        return {"epoch_loss": history.epoch_loss}

    return run_fn


def make_halving_fns(cfg: Config):
    """init_fn and advance_fn of the same runs as :func:`make_run_fn`, one rung at a time."""
    x, y = data.parabola(num_samples=cfg.num_samples, numpy_seed=0)
    plan = training.make_plan(cfg.num_samples, cfg.batch_size, num_epochs=cfg.num_epochs)
    _, apply = models.mlp(jax.random.PRNGKey(0), 1, cfg.widths)
    trainer = training.make_train(models.supervised_loss(apply), plan)

    def optimizer(hparams):
        return pytorch.sgd(hparams["learning_rate"], momentum=hparams["momentum"])

    def init_fn(hparams, key):
        init_key, train_key = jax.random.split(key)
        params, _ = models.mlp(init_key, 1, cfg.widths)
        return trainer.init(params, optimizer(hparams), train_key)

    def advance_fn(carry, hparams):
        carry, history = trainer.advance(carry, optimizer(hparams), (x, y), num_epochs=cfg.epochs_per_rung)
        return carry, {"epoch_loss": history.epoch_loss}

    return init_fn, advance_fn


def run(cfg: Config, long: bool = True) -> dict:
    """The full grid as one ``sweep`` and successive halving of the same grid, each run once.

    ``long``: compile at LLVM's level 1 (``compilation.long_runs``). The full grid's 180 runs of 80
    steps repay it (4.9 against 5.6 CPU-s in all); the quick grid's 12 runs of 24 steps do not
    (the whole quick run: 5.4 CPU-s at the short runs' level, 9.2 at level 1).
    """
    if cfg.num_epochs % cfg.epochs_per_rung:
        raise ValueError(f"epochs_per_rung ({cfg.epochs_per_rung}) must divide num_epochs ({cfg.num_epochs})")
    grid, key = grid_and_key(cfg)
    with long_runs(long):
        result = sweep(make_run_fn(cfg), grid, seeds=cfg.seeds, key=key, progress=False)
        halving = halve(cfg, make_halving_fns(cfg), grid, key)
    return {"result": result, "halving": halving}


def quick_config(cfg: Config) -> Config:
    """``cfg`` cut to the ``--quick`` grid: 3 learning rates × 2 momenta, 2 seeds, 3 epochs of one rung each."""
    return dataclasses.replace(
        cfg, learning_rates=(1e-3, 1e-2, 1e-1), momenta=(0.0, 0.9), seeds=2, num_epochs=3, epochs_per_rung=1
    )


def grid_and_key(cfg: Config):
    """The learning rate × momentum grid of ``cfg`` and the key of its runs."""
    return {"learning_rate": cfg.learning_rates, "momentum": cfg.momenta}, jax.random.PRNGKey(cfg.seed)


def halve(cfg: Config, halving_fns, grid, key):
    """Successive halving of ``grid`` on the epoch loss, a rung per ``cfg.epochs_per_rung`` epochs;
    ``halving_fns`` is :func:`make_halving_fns`'s pair."""
    init_fn, advance_fn = halving_fns
    return successive_halving(
        init_fn,
        advance_fn,
        grid,
        metric="epoch_loss",
        rungs=cfg.num_epochs // cfg.epochs_per_rung,
        keep=cfg.keep,
        seeds=cfg.seeds,
        key=key,
        progress=False,
    )


def plot(results: dict, cfg: Config) -> dict:
    result = results["result"]
    figure, axes = plotting.new_figure(1, 2, width=6.2, height=4.6)
    plotting.plot_heatmap(
        axes[0, 0],
        result,
        "epoch_loss",
        "learning_rate",
        "momentum",
        colorbar_label=f"training loss after {cfg.num_epochs} epochs (mean of {cfg.seeds} seeds)",
    )
    axes[0, 0].set_title(f"{result.num_configurations} configurations × {cfg.seeds} seeds, one compiled program")
    plotting.plot_top_curves(
        axes[0, 1],
        result,
        "epoch_loss",
        k=4,
        describe=lambda i: f"lr {result.grid['learning_rate'][i]:.3g}, momentum {result.grid['momentum'][i]:.3g}",
    )
    plotting.label_axes(
        axes[0, 1],
        xlabel="epoch",
        ylabel="training loss, mean over seeds (log)",
        title="the best four (band: min–max over seeds)",
    )
    figure.suptitle("Learning rate × momentum for E3's mini-batch SGD (B = 128): × marks a diverged run", fontsize=13)
    return {"sweep": figure, "halving": plot_halving(results, cfg)}


def plot_halving(results: dict, cfg: Config):
    """Which configurations stopped at which rung (heat map), and every configuration's loss by rung."""
    halving, full = results["halving"], results["result"]
    reached = SweepResult(
        grid=halving.grid,
        metrics={"epochs trained": (halving.stopped_rung[:, None] + 1.0) * cfg.epochs_per_rung},
        seeds=1,
    )
    figure, axes = plotting.new_figure(1, 2, width=6.2, height=4.6)
    reached_image = plotting.plot_heatmap(
        axes[0, 0],
        reached,
        None,
        "learning_rate",
        "momentum",
        log_color=False,
        mark_best=None,
        colorbar_label="epochs trained before it was stopped",
    )
    reached_image.colorbar.locator = matplotlib.ticker.MaxNLocator(integer=True)  # whole epochs only
    reached_image.colorbar.update_ticks()
    xs, ys = np.unique(halving.grid["learning_rate"]), np.unique(halving.grid["momentum"])
    for best, marker, label in (
        (halving.best(), "*", "successive halving's pick"),
        (full.best("epoch_loss"), "o", "full grid's best"),
    ):
        axes[0, 0].plot(
            np.searchsorted(xs, np.float32(best["learning_rate"])),
            np.searchsorted(ys, np.float32(best["momentum"])),
            marker=marker,
            markersize=16 if marker == "*" else 11,
            markerfacecolor="#d62728" if marker == "*" else "none",
            markeredgecolor="white" if marker == "*" else "#d62728",
            markeredgewidth=2,
            linestyle="none",
            label=label,
        )
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[0, 0].set_title(
        f"successive halving: keep {halving_fraction(cfg)} after every "
        + ("epoch" if cfg.epochs_per_rung == 1 else f"{cfg.epochs_per_rung} epochs")
    )
    epochs = (np.arange(len(halving.rungs)) + 1) * cfg.epochs_per_rung
    for index in range(halving.num_configurations):
        stopped = halving.stopped_rung[index]
        finalist = stopped == len(halving.rungs) - 1
        axes[0, 1].plot(
            epochs[: stopped + 1],
            halving.scores[: stopped + 1, index],
            marker="o",
            markersize=3,
            color=plotting.PALETTE[1] if finalist else "#9a9a9a",
            alpha=1.0 if finalist else 0.5,
            linewidth=2 if finalist else 1,
        )
    axes[0, 1].set_yscale("log")
    axes[0, 1].xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # rungs end on whole epochs
    plotting.label_axes(
        axes[0, 1],
        xlabel="epoch",
        ylabel="training loss at the rung, mean over seeds (log)",
        title="loss at every rung reached (red: the finalist)",
    )
    return figure


def halving_fraction(cfg: Config) -> str:
    return "1/3" if abs(cfg.keep - 1 / 3) < 1e-9 else f"{cfg.keep:.2g}"


CAPTIONS = {
    "sweep": "Final training loss over a log grid of learning rates and a grid of momenta. The good region is a diagonal band: with momentum μ the effective step is about η/(1−μ), so larger momentum wants a smaller learning rate, and too large a product diverges (×).",
    "halving": "Successive halving of the same grid: the colour is how many epochs each configuration trained before it fell out of the best third (the star is the one trained to the end, the ring the full grid's best); right, each configuration's loss at every rung it reached.",
}


def _best_per_momentum(result) -> dict:
    return {float(m): result.select(momentum=m).best("epoch_loss") for m in np.unique(result.grid["momentum"])}


def main(argv=None) -> int:
    args = parse_args(argv, "lr_momentum_sweep", "learning rate x momentum sweep of E3's mini-batch task")
    cfg = Config(seed=args.seed)
    if args.quick:
        cfg = quick_config(cfg)
    results = run(cfg, long=not args.quick)
    result = results["result"]
    best = result.best("epoch_loss")
    halving = results["halving"]
    picked, cost = halving.best(), halving.cost()
    same = picked["index"] == best["index"]
    comparison = {
        "best": picked,
        "same_best_as_full_grid": same,
        "config_epochs": cost["config_advances"] * cfg.epochs_per_rung,
        "full_grid_config_epochs": cost["full_grid_config_advances"] * cfg.epochs_per_rung,
        "saved": cost["saved"],
        "computed_saved": cost["saved_computed"],
        "survivors_per_rung": [len(i) for i in halving.indices],
    }
    metrics = {
        "best": best,
        "configurations": result.num_configurations,
        "seeds": cfg.seeds,
        "successive_halving": comparison,
        "records": result.to_records(),
    }
    diverged = int(np.sum(~np.isfinite(result.final("epoch_loss"))))
    summary = (
        f"{result.num_configurations} configurations × {cfg.seeds} seeds ran as one compiled program. "
        f"Best: learning rate {best['learning_rate']:.3g} with momentum {best['momentum']:.3g}, final loss {best['score']:.3f}; "
        f"{diverged} configurations diverged. Best learning rate for each momentum: "
        + ", ".join(f"μ {m:.3g}: η {r['learning_rate']:.3g}" for m, r in _best_per_momentum(result).items())
        + " (a band where η/(1−μ) is about constant would make these fall as μ grows). "
        f"Successive halving ({' → '.join(str(n) for n in comparison['survivors_per_rung'])} configurations, keep {halving_fraction(cfg)} "
        f"every {cfg.epochs_per_rung} epochs) trained {comparison['config_epochs']} of the full grid's {comparison['full_grid_config_epochs']} "
        f"configuration-epochs ({cost['saved']:.0%} saved; {cost['saved_computed']:.0%} counting the padding of its fixed-width program; "
        "its seconds against the full grid's: python -m benchmarks.sweeps). "
        + (
            f"It found the same best configuration (learning rate {picked['learning_rate']:.3g}, momentum {picked['momentum']:.3g}, loss {picked['score']:.3f})."
            if same
            else f"It picked learning rate {picked['learning_rate']:.3g} with momentum {picked['momentum']:.3g} (loss {picked['score']:.3f}), "
            f"not the full grid's best (loss {best['score']:.3f})."
        )
    )
    write_results(args.out, config=cfg, metrics=metrics, figures=plot(results, cfg), summary=summary)
    result.to_csv(f"{args.out}/sweep.csv")
    print(summary)
    return 0
