"""Handwritten digits: the course's optimisers on a real classification task, then a tuned learning rate.

Data: the 1797 8×8 digits images (``data.load_digits(scale=True)``, pixels in [0, 1]), split at
random into 60% training, 20% validation and 20% test.  Model: an MLP 64-64-10 (ReLU), softmax
cross-entropy, mini-batches of 64 reshuffled every epoch.  Accuracy is a ``metrics=`` entry of the
training loop (``models.accuracy``), evaluated after every epoch.

(a) Every optimiser of the course at a usual learning rate for it (SGD, momentum, Nesterov,
    AdaGrad, RMSProp, AdaDelta, Adam, AMSGrad, AdamW), and two with a schedule (momentum with an
    exponential decay per epoch, Adam with cosine decay), each over several seeds: test accuracy
    and training loss per epoch.
(b) SGD with momentum 0.9 over a log grid of learning rates × seeds, as one ``sweep``, ranked by
    validation accuracy; and successive halving of the same grid (the best third continues after
    every rung).  Reported: the configuration-epochs each spent, and where halving's pick ranks in
    the full grid's ranking; the test accuracy of both picks, which played no part in choosing.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

import jaxopt_course as jc
from experiments._common import parse_args, write_results
from jaxopt_course import data, models, plotting, schedules, training
from jaxopt_course.sweeps import sweep
from jaxopt_course.sweeps.halving import successive_halving

CLASSES = 10


@dataclasses.dataclass(frozen=True)
class Config:
    validation_fraction: float = 0.2
    test_fraction: float = 0.2
    hidden: tuple[int, ...] = (64,)
    batch_size: int = 64
    num_epochs: int = 30
    seeds: int = 3
    optimizers: tuple[str, ...] = (
        "SGD",
        "Momentum",
        "Nesterov",
        "AdaGrad",
        "RMSProp",
        "AdaDelta",
        "Adam",
        "AMSGrad",
        "AdamW",
        "Momentum + exponential decay",
        "Adam + cosine decay",
    )
    momentum: float = 0.9  # the sweep's (and the momentum optimisers')
    learning_rates: tuple[float, ...] = tuple(np.geomspace(1e-3, 1.0, 10).round(6))
    epochs_per_rung: int = 10  # successive halving: num_epochs / epochs_per_rung rungs
    keep: float = 1 / 3
    seed: int = 0


# name -> (learning rate, build(learning_rate, steps_per_epoch, num_epochs)); the top-level jaxopt_course optimisers
OPTIMIZERS = {
    "SGD": (0.1, lambda lr, steps, epochs: jc.sgd(lr)),
    "Momentum": (0.02, lambda lr, steps, epochs: jc.sgd(lr, momentum=0.9)),
    "Nesterov": (0.02, lambda lr, steps, epochs: jc.sgd(lr, momentum=0.9, nesterov=True)),
    "AdaGrad": (0.05, lambda lr, steps, epochs: jc.adagrad(lr)),
    "RMSProp": (1e-3, lambda lr, steps, epochs: jc.rmsprop(lr)),
    "AdaDelta": (1.0, lambda lr, steps, epochs: jc.adadelta(lr)),
    "Adam": (1e-3, lambda lr, steps, epochs: jc.adam(lr)),
    "AMSGrad": (1e-3, lambda lr, steps, epochs: jc.amsgrad(lr)),
    "AdamW": (1e-3, lambda lr, steps, epochs: jc.adamw(lr, weight_decay=1e-2)),
    "Momentum + exponential decay": (
        0.05,
        lambda lr, steps, epochs: jc.sgd(schedules.exponential_decay(lr, steps, 0.9, staircase=True), momentum=0.9),
    ),
    "Adam + cosine decay": (3e-3, lambda lr, steps, epochs: jc.adam(schedules.cosine_decay(lr, steps * epochs))),
}


def splits(cfg: Config) -> dict:
    """Training, validation and test splits of the digits, drawn from the seed."""
    everything = data.load_digits(scale=True)
    first, second = jax.random.split(jax.random.PRNGKey(cfg.seed))
    rest, test = data.train_test_split(everything, cfg.test_fraction, first)
    train, validation = data.train_test_split(rest, cfg.validation_fraction / (1 - cfg.test_fraction), second)
    return {"train": train, "validation": validation, "test": test}


class Task:
    """What every run of this experiment shares: the splits, the model, its loss and its metrics."""

    def __init__(self, cfg: Config):
        self.cfg, self.data = cfg, splits(cfg)
        self.widths = (*cfg.hidden, CLASSES)
        _, self.apply = models.mlp(jax.random.PRNGKey(0), 64, self.widths)
        self.loss_fn = models.supervised_loss(self.apply, "cross_entropy")
        self.plan = training.make_plan(len(self.data["train"][1]), cfg.batch_size, num_epochs=cfg.num_epochs)
        accuracy, test = models.accuracy(self.apply), self.data["test"]
        # on eval_data (the validation split) the accuracy that selects; beside it the test split's, never used to select
        self.metrics = {"accuracy": accuracy, "test_accuracy": lambda params, batch: accuracy(params, test)}

    def start(self, key):
        """(initial parameters, training key) of the seed ``key``: every configuration starts alike."""
        init_key, train_key = jax.random.split(key)
        return models.mlp(init_key, 64, self.widths)[0], train_key

    def run_fn(self, build, eval_split: str = "test"):
        """run_fn(hparams, key) of ``sweep``: one whole run, its History (parameters dropped)."""
        eval_data = self.data[eval_split]
        metrics = {"accuracy": self.metrics["accuracy"]} if eval_split == "test" else self.metrics
        steps, epochs = self.plan.steps_per_epoch, self.cfg.num_epochs

        def run_fn(hparams, key):
            params, train_key = self.start(key)
            optimizer = build(hparams["learning_rate"], steps, epochs)
            history = training.train(
                self.loss_fn,
                params,
                optimizer,
                self.data["train"],
                train_key,
                self.plan,
                eval_data=eval_data,
                metrics=metrics,
            )
            return history._replace(params=None)

        return run_fn

    def halving_fns(self):
        """init_fn and advance_fn of the sweep's runs, ``epochs_per_rung`` epochs per rung."""
        trainer = training.make_train(self.loss_fn, self.plan, eval_data=self.data["validation"], metrics=self.metrics)

        def optimizer(hparams):
            return jc.sgd(hparams["learning_rate"], momentum=self.cfg.momentum)

        def init_fn(hparams, key):
            params, train_key = self.start(key)
            return trainer.init(params, optimizer(hparams), train_key)

        def advance_fn(carry, hparams):
            carry, history = trainer.advance(
                carry, optimizer(hparams), self.data["train"], num_epochs=self.cfg.epochs_per_rung
            )
            return carry, history._replace(params=None)

        return init_fn, advance_fn


def momentum_sgd(cfg: Config):
    return lambda lr, steps, epochs: jc.sgd(lr, momentum=cfg.momentum)


def run(cfg: Config) -> dict:
    """(a) each optimiser over seeds; (b) the learning-rate grid as one sweep and by successive halving."""
    if cfg.num_epochs % cfg.epochs_per_rung:
        raise ValueError(f"epochs_per_rung ({cfg.epochs_per_rung}) must divide num_epochs ({cfg.num_epochs})")
    task, key = Task(cfg), jax.random.PRNGKey(cfg.seed + 1)
    optimizers = {}
    for name in cfg.optimizers:
        rate, build = OPTIMIZERS[name]
        optimizers[name] = sweep(
            task.run_fn(build), {"learning_rate": [rate]}, seeds=cfg.seeds, key=key, progress=False
        )
    grid = {"learning_rate": cfg.learning_rates}
    init_fn, advance_fn = task.halving_fns()
    # short runs: compiled at the experiments' quick level (compilation.long_runs() would cost more to compile than it saves)
    full = sweep(task.run_fn(momentum_sgd(cfg), "validation"), grid, seeds=cfg.seeds, key=key, progress=False)
    halving = successive_halving(
        init_fn,
        advance_fn,
        grid,
        metric="eval_metrics.accuracy",
        mode="max",
        rungs=cfg.num_epochs // cfg.epochs_per_rung,
        keep=cfg.keep,
        seeds=cfg.seeds,
        key=key,
        progress=False,
    )
    return {
        "optimizers": optimizers,
        "full": full,
        "halving": halving,
        "sizes": {name: len(split[1]) for name, split in task.data.items()},
    }


def rank_in(scores: np.ndarray, index: int) -> int:
    """1 + how many configurations score strictly higher than ``index`` (NaN lowest): ties share a rank."""
    ranked = np.where(np.isnan(scores), -np.inf, scores)
    return 1 + int(np.sum(ranked > ranked[index]))


def comparison(results: dict, cfg: Config) -> dict:
    """The full grid's pick and halving's: their validation and test accuracy, halving's rank, the cost of each."""
    full, halving = results["full"], results["halving"]
    validation, test = full.final("eval_metrics.accuracy"), full.final("eval_metrics.test_accuracy")
    best, picked, cost = full.best("eval_metrics.accuracy", mode="max"), halving.best(), halving.cost()
    index = picked["index"]
    return {
        "full_grid_best": {
            "learning_rate": best["learning_rate"],
            "index": best["index"],
            "validation_accuracy": float(validation[best["index"]]),
            "test_accuracy": float(test[best["index"]]),
        },
        "halving_pick": {
            "learning_rate": picked["learning_rate"],
            "index": index,
            "validation_accuracy_at_last_rung": picked["score"],
            "full_grid_validation_accuracy": float(validation[index]),
            "test_accuracy": float(test[index]),
        },
        "halving_rank_in_full_grid": rank_in(validation, index),
        "same_best_as_full_grid": bool(validation[index] == validation[best["index"]]),
        "survivors_per_rung": [len(i) for i in halving.indices],
        "config_epochs": cost["config_advances"] * cfg.epochs_per_rung,
        "full_grid_config_epochs": cost["full_grid_config_advances"] * cfg.epochs_per_rung,
        "saved": cost["saved"],
        "saved_counting_padding": cost["saved_computed"],
    }


def final_accuracies(results: dict) -> dict:
    """Per optimiser: the test accuracy after the last epoch (mean, min and max over seeds) and the best epoch's mean."""
    out = {}
    for name, result in results["optimizers"].items():
        curves = np.asarray(result.metrics.eval_metrics["accuracy"])[0]  # [seed, epoch]
        out[name] = {
            "final": float(curves[:, -1].mean()),
            "min_over_seeds": float(curves[:, -1].min()),
            "max_over_seeds": float(curves[:, -1].max()),
            "best_epoch_mean": float(curves.mean(axis=0).max()),
            "final_training_loss": float(np.asarray(result.metrics.epoch_loss)[0, :, -1].mean()),
        }
    return out


def plot(results: dict, cfg: Config) -> dict:
    return {
        "digits_optimizers": plot_optimizers(results, cfg),
        "digits_learning_rate": plot_learning_rate(results, cfg),
    }


def plot_optimizers(results: dict, cfg: Config):
    """Test accuracy (left) and training loss (right) per epoch, mean over seeds with a min–max band."""
    figure, axes = plotting.new_figure(1, 2, width=6.4, height=5.0)
    finals = final_accuracies(results)
    order = sorted(results["optimizers"], key=lambda n: -finals[n]["final"])
    colors = dict(zip(results["optimizers"], plotting.PALETTE + ["#bcbd22", "#000000"]))
    for name in order:
        history = results["optimizers"][name].metrics
        dashed = "+" in name  # the scheduled runs
        for ax, curves in ((axes[0, 0], history.eval_metrics["accuracy"]), (axes[0, 1], history.epoch_loss)):
            seeds = np.asarray(curves)[0]
            epochs = np.arange(1, seeds.shape[1] + 1)
            ax.fill_between(epochs, seeds.min(axis=0), seeds.max(axis=0), color=colors[name], alpha=0.15, linewidth=0)
            label = f"{name}: {finals[name]['final']:.3f}" if ax is axes[0, 0] else name
            ax.plot(
                epochs,
                seeds.mean(axis=0),
                color=colors[name],
                linestyle="--" if dashed else "-",
                linewidth=1.8,
                label=label,
            )
    low = min(0.8, min(f["final"] for f in finals.values()) - 0.02)
    axes[0, 0].set_ylim(max(low, 0.0), 1.0)
    axes[0, 0].axhline(1 / CLASSES, color="#9a9a9a", linewidth=0.8, linestyle=":")
    plotting.label_axes(
        axes[0, 0],
        xlabel="epoch",
        ylabel=f"test accuracy ({results['sizes']['test']} images)",
        title="test accuracy after each epoch (legend: the last epoch's)",
    )
    axes[0, 0].legend(frameon=False, fontsize=8, loc="lower right", title="mean of seeds, best first", title_fontsize=8)
    axes[0, 1].set_yscale("log")
    plotting.label_axes(
        axes[0, 1],
        xlabel="epoch",
        ylabel="training cross-entropy (log)",
        title="training loss, mean over the epoch's batches",
    )
    for ax in axes[0]:
        ax.grid(True, alpha=0.3, which="both")
    figure.suptitle(
        f"Digits, MLP 64-{'-'.join(map(str, cfg.hidden))}-10, batches of {cfg.batch_size}: the course's optimisers "
        f"(dashed: with a schedule; bands: min–max over {cfg.seeds} seeds)",
        fontsize=12,
    )
    return figure


def plot_learning_rate(results: dict, cfg: Config):
    """Validation accuracy against the learning rate for the full grid (left); what successive halving trained (right)."""
    full, compared = results["full"], comparison(results, cfg)
    rates = full.grid["learning_rate"]
    figure, axes = plotting.new_figure(1, 2, width=6.4, height=5.0)
    ax = axes[0, 0]
    seeds = np.asarray(full.metrics.eval_metrics["accuracy"])[:, :, -1]  # [configuration, seed]
    ax.fill_between(rates, seeds.min(axis=1), seeds.max(axis=1), color=plotting.PALETTE[0], alpha=0.2, linewidth=0)
    ax.plot(
        rates,
        seeds.mean(axis=1),
        marker="o",
        color=plotting.PALETTE[0],
        label=f"full grid, validation (after {cfg.num_epochs} epochs)",
    )
    ax.plot(
        rates,
        full.final("eval_metrics.test_accuracy"),
        marker=".",
        color="#7f7f7f",
        linestyle=":",
        label="full grid, test (not used to choose)",
    )
    best, picked = compared["full_grid_best"], compared["halving_pick"]
    ax.plot(
        best["learning_rate"],
        best["validation_accuracy"],
        marker="o",
        markersize=14,
        markerfacecolor="none",
        markeredgecolor="#d62728",
        markeredgewidth=2,
        linestyle="none",
        label=f"full grid's best: η {best['learning_rate']:.3g}",
    )
    ax.plot(
        picked["learning_rate"],
        picked["full_grid_validation_accuracy"],
        marker="*",
        markersize=16,
        color="#d62728",
        markeredgecolor="white",
        linestyle="none",
        label=f"halving's pick: η {picked['learning_rate']:.3g} (rank {compared['halving_rank_in_full_grid']} of {len(rates)})",
    )
    ax.set_xscale("log")
    ax.axhline(1 / CLASSES, color="#9a9a9a", linewidth=0.8, linestyle=":")
    ax.set_ylim(0.0, 1.02)
    plotting.label_axes(
        ax,
        xlabel="learning rate η (log scale)",
        ylabel="accuracy (mean over seeds; band: min–max)",
        title=f"full grid: {len(rates)} learning rates × {cfg.seeds} seeds, one sweep",
    )
    ax.legend(frameon=False, fontsize=8, loc="lower center")
    ax.grid(True, alpha=0.3, which="both")
    plot_halving_bars(axes[0, 1], results, cfg, compared)
    figure.suptitle(
        f"Tuning the learning rate of SGD with momentum {cfg.momentum:g} on digits: the whole grid against successive halving",
        fontsize=12,
    )
    return figure


def plot_halving_bars(ax, results: dict, cfg: Config, compared: dict) -> None:
    """One bar per learning rate: the epochs successive halving trained it, its validation accuracy at its last rung beside it."""
    halving, full = results["halving"], results["full"]
    rates, validation = halving.grid["learning_rate"], full.final("eval_metrics.accuracy")
    rows = np.arange(len(rates))
    epochs = (halving.stopped_rung + 1) * cfg.epochs_per_rung
    for row, (trained, stopped) in enumerate(zip(epochs, halving.stopped_rung)):
        finalist = stopped == len(halving.rungs) - 1
        ax.barh(
            row,
            trained,
            color=plotting.PALETTE[1] if finalist else plotting.PALETTE[0],
            height=0.7,
            alpha=0.85 if finalist else 0.5,
            label="trained to the end" if finalist and row == halving.indices[-1][0] else None,
        )
        score = halving.scores[stopped, row]
        ax.text(
            trained + 0.3,
            row,
            f"{score:.3f} at its last rung (full run: {validation[row]:.3f}, rank {rank_in(validation, row)})",
            va="center",
            fontsize=8,
        )
    picked, best = compared["halving_pick"]["index"], compared["full_grid_best"]["index"]
    ax.plot(
        0,
        picked,
        marker="*",
        markersize=15,
        color="#d62728",
        markeredgecolor="white",
        linestyle="none",
        label="halving's pick",
        clip_on=False,
    )
    ax.plot(
        0,
        best,
        marker="o",
        markersize=12,
        markerfacecolor="none",
        markeredgecolor="#d62728",
        markeredgewidth=2,
        linestyle="none",
        label="full grid's best",
        clip_on=False,
    )
    ax.set_yticks(rows, [f"{r:.3g}" for r in rates])
    ticks = (np.arange(len(halving.rungs)) + 1) * cfg.epochs_per_rung
    ax.set_xticks(np.concatenate([[0], ticks]))
    ax.set_xlim(0, ticks[-1] * 2.1)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    plotting.label_axes(
        ax,
        xlabel="epochs trained by successive halving (text: validation accuracy)",
        ylabel="learning rate η",
        title=f"successive halving: {' → '.join(map(str, compared['survivors_per_rung']))}, {compared['saved']:.0%} of the epochs saved",
    )


CAPTIONS = {
    "digits_optimizers": (
        "Test accuracy and training loss of an MLP 64-64-10 on the digits for each of the course's optimisers at a usual learning rate for it, "
        "and two with a learning-rate schedule (dashed). The legend lists the last epoch's test accuracy, best first; the summary gives the numbers."
    ),
    "digits_learning_rate": (
        "Left: validation accuracy after the whole run against the learning rate of SGD with momentum, every configuration of the grid trained "
        "in one compiled sweep; the test accuracy beside it played no part in choosing. Right: successive halving of the same grid, the epochs "
        "each learning rate trained before it fell out of the best third, its validation accuracy at that rung, and its full run's accuracy and "
        "rank in the full grid; the star is halving's pick, the ring the full grid's best."
    ),
}


def describe(results: dict, cfg: Config, finals: dict, compared: dict) -> str:
    """The summary paragraph: every number in it computed from the run."""
    sizes = results["sizes"]
    order = sorted(finals, key=lambda n: -finals[n]["final"])
    best, picked, rank = compared["full_grid_best"], compared["halving_pick"], compared["halving_rank_in_full_grid"]
    count = len(cfg.learning_rates)
    if compared["same_best_as_full_grid"]:
        verdict = (
            f"Halving picked the full grid's best (rank 1 of {count}): η {picked['learning_rate']:.3g}, validation accuracy "
            f"{picked['full_grid_validation_accuracy']:.3f}"
            + ("" if picked["index"] == best["index"] else f", tied with η {best['learning_rate']:.3g}")
            + "."
        )
    else:
        verdict = (
            f"Halving missed: it picked the {ordinal(rank)} best of the {count} learning rates, η {picked['learning_rate']:.3g} with validation accuracy "
            f"{picked['full_grid_validation_accuracy']:.3f} after the full run, against {best['validation_accuracy']:.3f} for the full grid's best, "
            f"η {best['learning_rate']:.3g}."
        )
    return (
        f"Digits split {sizes['train']}/{sizes['validation']}/{sizes['test']} (training/validation/test); MLP 64-{'-'.join(map(str, cfg.hidden))}-10, "
        f"{cfg.num_epochs} epochs of batches of {cfg.batch_size}, {cfg.seeds} seeds. Test accuracy after the last epoch (mean over seeds): "
        + ", ".join(f"{n} {finals[n]['final']:.3f}" for n in order)
        + f" (chance is {1 / CLASSES:.2f}). "
        f"Learning rate of SGD with momentum {cfg.momentum:g}, {count} values from {min(cfg.learning_rates):.3g} to {max(cfg.learning_rates):.3g}: "
        f"the full grid's best is η {best['learning_rate']:.3g} (validation accuracy {best['validation_accuracy']:.3f}, test {best['test_accuracy']:.3f}). "
        f"Successive halving ({' → '.join(map(str, compared['survivors_per_rung']))} configurations, keep {cfg.keep:.2g} every {cfg.epochs_per_rung} epochs) "
        f"trained {compared['config_epochs']} of the full grid's {compared['full_grid_config_epochs']} configuration-epochs ({compared['saved']:.0%} saved; "
        f"{compared['saved_counting_padding']:.0%} counting the padding of its fixed-width program). {verdict} "
        f"Its pick's test accuracy: {picked['test_accuracy']:.3f}."
    )


def ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def main(argv=None) -> int:
    args = parse_args(argv, "digits", "the course's optimisers and a tuned learning rate on the digits images")
    cfg = Config(seed=args.seed)
    if args.quick:
        cfg = dataclasses.replace(
            cfg,
            num_epochs=4,
            seeds=2,
            epochs_per_rung=2,
            learning_rates=(0.003, 0.03, 0.3),
            optimizers=("SGD", "Adam + cosine decay"),
        )
    results = run(cfg)
    finals, compared = final_accuracies(results), comparison(results, cfg)
    metrics = {
        "test_accuracy": finals,
        "learning_rate_sweep": compared,
        "sizes": results["sizes"],
        "records": results["full"].to_records(),
    }
    summary = describe(results, cfg, finals, compared)
    write_results(args.out, config=cfg, metrics=metrics, figures=plot(results, cfg), summary=summary)
    print(summary)
    return 0
