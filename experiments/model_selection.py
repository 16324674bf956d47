"""E12: model selection and regularisation — capacity, data size, weight decay, dropout, early
stopping, and vanishing / exploding gradients with clipping.

* Capacity: polynomial regression (Legendre features, degree 1–12) on 30 noisy samples of
  ``sin(3x)``; the training error keeps falling with the degree while the validation error — a
  30% hold-out and 5-fold cross-validation, the folds trained as one ``vmap`` — turns up again.
  The degrees are one ``sweep``: the degree masks the features, so one program serves all.
* Data size: degree 9 trained on 12 … 160 samples (a mask again): more data, less over-fitting.
* A wide MLP 1-512-1 on 20 samples over-fits (Adam, learning rate cosine-annealed from 1e-2 to
  1e-4, full batch); L2 weight decay, inverted dropout (p = 0.5) and early stopping on the
  validation loss each end with a lower validation loss than no regularisation.
* A 10-layer sigmoid MLP: at torch's initialisation the gradient shrinks ~10× per layer towards
  the input (vanishing); with weights ×12 it is large everywhere and SGD at lr 1 blows up to
  NaN, while clipping the global gradient norm to 0.1 keeps training stable.
* The remedies the course lists for vanishing gradients, each beside that sigmoid MLP, measured
  as the gradient norm per layer at initialisation and as the training loss under the same SGD:
  ReLU and LeakyReLU (with torch's initialisation, and with He's, made for them), batch
  normalisation (running statistics carried by the training loop, the final model evaluated with
  them) and residual connections ``z ← z + W σ(z) + b`` (``_gradient_flow.py``).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

import jaxopt_course as jc
from experiments._common import long_runs, parse_args, write_results
from experiments._gradient_flow import deep_networks, target
from jaxopt_course import compilation, data, models, plotting, regularizers, schedules, training
from jaxopt_course.sweeps import sweep


@dataclasses.dataclass(frozen=True)
class Config:
    noise: float = 0.2
    max_degree: int = 12
    capacity_samples: int = 30
    folds: int = 5
    size_degree: int = 9
    sizes: tuple[int, ...] = (12, 20, 40, 80, 160)
    poly_steps: int = 3000
    mlp_samples: int = 20
    mlp_widths: tuple[int, ...] = (512, 1)
    mlp_epochs: int = 1500
    weight_decay: float = 1e-3
    dropout: float = 0.5
    mlp_learning_rate: float = 1e-2  # Adam's, cosine-annealed to 1% of it over the run
    patience: int = 100
    depth: int = 10
    exploding_scale: float = 12.0
    exploding_learning_rate: float = 1.0
    clip_norm: float = 0.1
    gradient_epochs: int = 300
    remedy_learning_rate: float = 0.05  # SGD, full batch, for the sigmoid MLP and its remedies
    leaky_slope: float = 0.01
    seed: int = 0


def sample(key, n, noise):
    """``n`` points x ~ U(-1, 1) and y = sin(3x) + noise·N(0, 1); the draws and sin(3x) are one
    program per ``n`` (not four small ones), the sum and the product are done on the host (the
    same float32 operations)."""
    x, clean, normal = _draws(key, n)
    return x, np.asarray(clean) + np.float32(noise) * np.asarray(normal)


@functools.partial(compilation.jit, static_argnums=(1,))
def _draws(key, n):
    key_x, key_noise = jax.random.split(key)
    x = jax.random.uniform(key_x, (n, 1), minval=-1.0, maxval=1.0)
    return x, target(x), jax.random.normal(key_noise, (n, 1))


def split_on_host(key, num: int) -> list:
    """``jax.random.split(key, num)``, its rows taken apart on the host (the same keys; no program to unstack them)."""
    return [jax.device_put(row) for row in np.asarray(jax.random.split(key, num))]


def legendre(x, max_degree):
    return jnp.asarray(np.polynomial.legendre.legvander(np.asarray(x)[:, 0], max_degree), jnp.float32)


def fit_polynomial(features, y, degree, weights, num_steps):
    """Full-batch Adam on a masked polynomial: coefficients above ``degree`` stay 0 (one program for every degree).

    ``weights`` (1 for a sample in use, 0 for one left out) travel as a second target column, so
    the data stays the pair (x, y) that training takes.
    """
    mask = (jnp.arange(features.shape[-1]) <= degree).astype(jnp.float32)

    def loss_fn(params, batch):
        phi, target_and_weight = batch
        errors = (phi @ (params * mask) - target_and_weight[:, 0]) ** 2
        return jnp.sum(target_and_weight[:, 1] * errors) / jnp.sum(target_and_weight[:, 1])

    plan = training.make_plan(features.shape[0], features.shape[0], num_epochs=num_steps)
    weighted = (features, jnp.concatenate([y, weights[:, None]], axis=1))
    history = training.train(
        loss_fn, jnp.zeros(features.shape[-1]), jc.adam(0.05), weighted, jax.random.PRNGKey(0), plan
    )
    return history.params * mask, history.epoch_loss[-1]


def capacity(cfg: Config, key) -> dict:
    pool_key, holdout_key, test_key = split_on_host(key, 3)
    x, y = sample(pool_key, cfg.capacity_samples, cfg.noise)
    (train_x, train_y), (hold_x, hold_y) = data.train_test_split((x, y), 0.3, holdout_key)
    test_x, test_y = sample(test_key, 1000, cfg.noise)
    (fold_train_x, fold_train_y), (fold_val_x, fold_val_y) = data.kfold((x, y), cfg.folds)
    phi = lambda a: legendre(a.reshape(-1, 1), cfg.max_degree)  # noqa: E731
    # the folds' features built and stacked on the host (legendre is numpy): no unstack or stack programs
    folds_phi = jnp.asarray(np.stack([np.asarray(phi(f)) for f in np.asarray(fold_train_x)]))
    folds_val_phi = jnp.asarray(np.stack([np.asarray(phi(f)) for f in np.asarray(fold_val_x)]))

    def run_fn(hparams, key):
        del key
        degree = hparams["degree"]
        coefficients, train_loss = fit_polynomial(phi(train_x), train_y, degree, jnp.ones(len(train_x)), cfg.poly_steps)
        holdout = jnp.mean((phi(hold_x) @ coefficients - hold_y[:, 0]) ** 2)
        test = jnp.mean((phi(test_x) @ coefficients - test_y[:, 0]) ** 2)

        def one_fold(features, targets, val_features, val_targets):
            c, _ = fit_polynomial(features, targets, degree, jnp.ones(features.shape[0]), cfg.poly_steps)
            return jnp.mean((val_features @ c - val_targets[:, 0]) ** 2)

        cross_validation = jnp.mean(jax.vmap(one_fold)(folds_phi, fold_train_y, folds_val_phi, fold_val_y))
        return {"train": train_loss, "holdout": holdout, "kfold": cross_validation, "test": test}

    result = sweep(run_fn, {"degree": np.arange(1, cfg.max_degree + 1)}, key=key, progress=False)
    return {name: result.final(name) for name in ("train", "holdout", "kfold", "test")} | {
        "degree": result.grid["degree"]
    }


def data_size(cfg: Config, key) -> dict:
    pool_key, test_key = split_on_host(key, 2)
    x, y = sample(pool_key, max(cfg.sizes), cfg.noise)
    test_x, test_y = sample(test_key, 1000, cfg.noise)
    features, test_features = legendre(x, cfg.max_degree), legendre(test_x, cfg.max_degree)

    def run_fn(hparams, key):
        del key
        weights = (jnp.arange(features.shape[0]) < hparams["size"]).astype(jnp.float32)
        coefficients, train_loss = fit_polynomial(features, y, cfg.size_degree, weights, cfg.poly_steps)
        return {"train": train_loss, "test": jnp.mean((test_features @ coefficients - test_y[:, 0]) ** 2)}

    result = sweep(run_fn, {"size": np.array(cfg.sizes)}, key=key, progress=False)
    return {"size": result.grid["size"], "train": result.final("train"), "test": result.final("test")}


def regularisation(cfg: Config, key, long: bool = True) -> dict:
    """The MLP unregularised, with L2 weight decay, with dropout and with early stopping.

    ``long``: compile at LLVM's level 1. The full 1500 epochs repay it; the quick 300 epochs do
    not (4.0 against 4.6 CPU-s for the four runs).
    """
    data_key, valid_key, init_key = split_on_host(key, 3)
    train = sample(data_key, cfg.mlp_samples, cfg.noise)
    valid = sample(valid_key, 500, cfg.noise)
    # (dropout rate, L2 weight, early stopping); no regularisation is L2 with weight 0 (g + 0·w is g), so
    # it and the L2 run differ only in a number and share one compiled program
    variants = {
        "no regularisation": (0.0, 0.0, None),
        f"L2 weight decay λ={cfg.weight_decay:g}": (0.0, cfg.weight_decay, None),
        f"dropout p={cfg.dropout:g}": (cfg.dropout, 0.0, None),
        f"early stopping (patience {cfg.patience})": (0.0, 0.0, training.EarlyStopping(patience=cfg.patience)),
    }
    results, evaluate = {}, {}
    for name, (rate, weight_decay, stopping) in variants.items():
        params, apply = models.mlp(init_key, 1, cfg.mlp_widths, dropout_rate=rate)
        # the validation loss of the returned parameters: one program per dropout rate, not a dozen small ones
        if rate not in evaluate:
            evaluate[rate] = compilation.jit(models.supervised_loss(apply))
        learning_rate = schedules.cosine_decay(cfg.mlp_learning_rate, cfg.mlp_epochs, 0.01 * cfg.mlp_learning_rate)
        optimizer = jc.chain(
            regularizers.add_l2(weight_decay, mask=regularizers.exclude_biases), jc.adam(learning_rate)
        )
        with long_runs(long):  # 1500 epochs of a 512-wide network: worth LLVM's full pipeline
            history = jc.fit(
                models.supervised_loss(apply),
                params,
                optimizer,
                train,
                batch_size=cfg.mlp_samples,
                num_epochs=cfg.mlp_epochs,
                key=jax.random.PRNGKey(1),
                eval_data=valid,
                early_stopping=stopping,
                progress=False,
            )
        results[name] = {
            "train": np.asarray(history.epoch_loss),
            "valid": np.asarray(history.eval_loss),
            "stopped": int(history.stopped_epoch),
            "best": int(history.best_epoch),
            "restored_valid": float(evaluate[rate](history.params, valid)),
        }
    return results


def run(cfg: Config, long: bool = True) -> dict:
    """Every part's results; ``long``: compile the long programs at LLVM's level 1 (not worth it for --quick)."""
    keys = split_on_host(jax.random.PRNGKey(cfg.seed), 4)
    return {
        "capacity": capacity(cfg, keys[0]),
        "size": data_size(cfg, keys[1]),
        "regularisation": regularisation(cfg, keys[2], long),
        **deep_networks(cfg, keys[3], long),
    }


def plot(results: dict, cfg: Config) -> dict:
    figures = {}
    figure, axes = plotting.new_figure(1, 2, width=5.8, height=4.2)
    c = results["capacity"]
    for key, label, color in (
        ("train", "training", 0),
        ("holdout", "30% hold-out validation", 1),
        ("kfold", f"{cfg.folds}-fold cross-validation", 2),
        ("test", "fresh test data (1000 samples)", 7),
    ):
        axes[0, 0].plot(c["degree"], c[key], "o-", color=plotting.PALETTE[color], label=label)
    axes[0, 0].axhline(cfg.noise**2, color="#7f7f7f", linestyle=":", label="noise floor σ²")
    axes[0, 0].set_yscale("log")
    plotting.label_axes(
        axes[0, 0],
        xlabel="polynomial degree (capacity)",
        ylabel="MSE (log)",
        title=f"capacity: {cfg.capacity_samples} samples of sin(3x) + noise",
        legend=True,
    )
    s = results["size"]
    axes[0, 1].plot(s["size"], s["train"], "o-", color=plotting.PALETTE[0], label="training")
    axes[0, 1].plot(s["size"], s["test"], "o-", color=plotting.PALETTE[1], label="test")
    axes[0, 1].axhline(cfg.noise**2, color="#7f7f7f", linestyle=":", label="noise floor σ²")
    axes[0, 1].set_xscale("log")
    axes[0, 1].set_xticks(s["size"], [str(int(n)) for n in s["size"]])
    axes[0, 1].minorticks_off()
    axes[0, 1].set_yscale("log")
    plotting.label_axes(
        axes[0, 1],
        xlabel="training-set size (log)",
        ylabel="MSE (log)",
        title=f"data size, degree {cfg.size_degree}",
        legend=True,
    )
    figure.suptitle("E12 — under- and over-fitting: capacity and data size", fontsize=13)
    figures["capacity"] = figure

    figure, axes = plotting.new_figure(1, 2, width=5.8, height=4.2, sharey=True)
    for (name, r), color in zip(results["regularisation"].items(), plotting.PALETTE):
        epochs = np.arange(1, len(r["train"]) + 1)
        axes[0, 0].plot(epochs, r["train"], color=color, label=name)
        axes[0, 1].plot(epochs, r["valid"], color=color, label=name)
        if r["stopped"] >= 0:
            axes[0, 1].axvline(r["stopped"] + 1, color=color, linestyle=":")
            axes[0, 1].plot(r["best"] + 1, r["valid"][r["best"]], "*", color=color, markersize=12)
    for ax, title in zip(axes[0], ("training loss", "validation loss (★ best epoch, dotted: stop)")):
        ax.set_yscale("log")
        plotting.label_axes(ax, xlabel="epoch", ylabel="MSE (log)", title=title, legend=ax is axes[0, 1])
    figure.suptitle(
        f"E12 — an MLP {'-'.join(map(str, (1, *cfg.mlp_widths)))} over-fits {cfg.mlp_samples} samples: weight decay, dropout, early stopping",
        fontsize=12,
    )
    figures["regularisation"] = figure

    figure, axes = plotting.new_figure(1, 2, width=5.8, height=4.2)
    g = results["gradients"]
    for (name, norms), color in zip(g["norms"].items(), plotting.PALETTE):
        axes[0, 0].plot(np.arange(1, len(norms) + 1), norms, "o-", color=color, label=name)
    axes[0, 0].set_yscale("log")
    plotting.label_axes(
        axes[0, 0],
        xlabel="layer (1 = next to the input)",
        ylabel="‖∂loss/∂W‖ (log)",
        title=f"gradient norm per layer, {cfg.depth}-layer sigmoid MLP",
        legend=True,
    )
    for (name, curve), color in zip(g["curves"].items(), plotting.PALETTE[1:]):
        axes[0, 1].plot(np.where(np.isfinite(curve), curve, np.nan), color=color, label=name)
    axes[0, 1].set_yscale("log")
    plotting.label_axes(
        axes[0, 1],
        xlabel="step",
        ylabel="training loss (log)",
        title=f"weights ×{cfg.exploding_scale:g}, lr {cfg.exploding_learning_rate:g}: clipping tames the explosion",
        legend=True,
    )
    figure.suptitle("E12 — vanishing and exploding gradients, and gradient clipping", fontsize=13)
    figures["gradients"] = figure

    figure, axes = plotting.new_figure(1, 2, width=5.8, height=4.2)
    for (name, r), color in zip(results["remedies"].items(), plotting.PALETTE):
        style = {"color": color, "label": name, "linestyle": "--" if name.startswith("ReLU, torch") else "-"}
        axes[0, 0].plot(np.arange(1, len(r["norms"]) + 1), r["norms"], "o", **style)
        axes[0, 1].plot(np.arange(1, len(r["loss"]) + 1), r["loss"], **style)
    axes[0, 0].set_yscale("log")
    axes[0, 1].set_yscale("log")
    plotting.label_axes(
        axes[0, 0],
        xlabel="layer (1 = next to the input)",
        ylabel="‖∂loss/∂W‖ at initialisation (log)",
        title="gradient norm per layer",
        legend=True,
    )
    plotting.label_axes(
        axes[0, 1],
        xlabel="step",
        ylabel="training loss (log)",
        title=f"full-batch SGD, lr {cfg.remedy_learning_rate:g}",
    )
    figure.suptitle(
        f"E12 — the remedies for vanishing gradients, each on the {cfg.depth}-layer MLP of width 32", fontsize=13
    )
    figures["vanishing_remedies"] = figure
    return figures


CAPTIONS = {
    "capacity": "Left: training error falls with every extra degree; hold-out, cross-validated and fresh-data errors fall, then rise once the polynomial fits the noise (over-fitting); low degrees under-fit. Right: at a fixed, too-large degree, more data closes the gap between training and test error.",
    "regularisation": "The same MLP on 20 points: unregularised, the validation loss rises after its early minimum as the network memorises the noise; an L2 penalty on the weights keeps it lower; inverted dropout (p = 0.5: units dropped and the rest scaled by 1/(1−p) in training, all kept at evaluation) makes the training loss noisy and the fit smoother; early stopping halts at the best validation epoch and restores those weights.",
    "vanishing_remedies": (
        "The course's remedies for vanishing gradients, beside the 10-layer sigmoid MLP (blue). Left, the gradient per layer at "
        "initialisation; right, the training loss under the same full-batch SGD. ReLU's derivative is 1 where it is active: with torch's "
        "default initialisation (weights of variance 1/(3·fan_in), dashed) the first layer's gradient is already orders of magnitude above "
        "the sigmoid's, yet the signal still shrinks layer by layer and SGD hardly moves; with He's initialisation (variance 2/fan_in, made "
        "for ReLU) ReLU and LeakyReLU keep the gradient about the same size in every layer and train at once. Batch normalisation keeps "
        "the sigmoid but rescales each layer's pre-activations to mean 0 and variance 1, where the sigmoid's slope is near its largest: "
        "the gradient reaches the first layer and the network trains (the final model is evaluated with the running statistics the "
        "training carried). Residual connections keep the sigmoid and add identity paths from the output to every layer: the first "
        "layer's gradient is as large as the later ones' and the network learns. The summary gives the measured first-layer ratios."
    ),
    "gradients": "Left: at torch's initialisation the sigmoid's derivative (≤ 1/4) shrinks the gradient about tenfold per layer on the way back to the input: the first layers barely learn. With large weights the gradient is large everywhere. Right: from those large weights plain SGD's loss explodes; clipping the global norm keeps every step bounded.",
}


def main(argv=None) -> int:
    args = parse_args(
        argv, "model_selection", "E12: model selection, regularisation, vanishing and exploding gradients"
    )
    cfg = Config(seed=args.seed)
    if args.quick:
        cfg = dataclasses.replace(cfg, poly_steps=800, mlp_epochs=300, gradient_epochs=100, patience=50)
    results = run(cfg, long=not args.quick)
    c, s, r, g = results["capacity"], results["size"], results["regularisation"], results["gradients"]
    best_degree = int(c["degree"][np.argmin(c["kfold"])])
    metrics = {
        "capacity": {k: np.asarray(v).tolist() for k, v in c.items()},
        "best_degree_by_kfold": best_degree,
        "size": {k: np.asarray(v).tolist() for k, v in s.items()},
        "regularisation": {
            name: {
                "final_train": float(v["train"][~np.isnan(v["train"])][-1]),
                "best_valid": float(np.nanmin(v["valid"])),
                "valid_of_returned_params": v["restored_valid"],
                "late_valid_mean": float(np.nanmean(v["valid"][-200:])) if v["stopped"] < 0 else v["restored_valid"],
                "stopped_epoch": v["stopped"],
            }
            for name, v in r.items()
        },
        "gradient_norms": {k: v.tolist() for k, v in g["norms"].items()},
        "remedies": {
            k: {
                "gradient_norms": v["norms"].tolist(),
                "first_loss": float(v["loss"][0]),
                "final_loss": float(v["loss"][-1]),
            }
            | {m: v[m] for m in ("loss_with_running_statistics",) if m in v}
            for k, v in results["remedies"].items()
        },
        "clipping": {
            k: {"first_loss": float(v[0]), "final_loss": float(v[-1]), "non_finite_from_step": g["exploded_at_step"][k]}
            for k, v in g["curves"].items()
        },
    }
    names = list(r)
    baseline = next(iter(results["remedies"].values()))
    summary = (
        f"5-fold cross-validation picks degree {best_degree}; degree {cfg.max_degree} has training error {c['train'][-1]:.3f} but validation {c['kfold'][-1]:.3f}. "
        f"At degree {cfg.size_degree}, test error goes {s['test'][0]:.3f} → {s['test'][-1]:.3f} from {cfg.sizes[0]} to {cfg.sizes[-1]} samples. "
        f"Validation loss of the MLP it ends with: "
        + ", ".join(f"{n} {metrics['regularisation'][n]['valid_of_returned_params']:.3f}" for n in names)
        + ". "
        f"Gradient norm of the first vs last layer at torch's initialisation: {g['norms']['torch initialisation'][0]:.1e} vs {g['norms']['torch initialisation'][-1]:.1e}. "
        "First-layer gradient of each remedy over the sigmoid MLP's, and its training loss after "
        f"{cfg.gradient_epochs} SGD steps (sigmoid: {baseline['loss'][-1]:.3f}): "
        + "; ".join(
            f"{name} {r['norms'][0] / baseline['norms'][0]:.1e}×, {r['loss'][-1]:.3f}"
            for name, r in list(results["remedies"].items())[1:]
        )
        + "."
    )
    write_results(args.out, config=cfg, metrics=metrics, figures=plot(results, cfg), summary=summary)
    print(summary)
    return 0
