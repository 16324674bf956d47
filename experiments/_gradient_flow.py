"""E12's deep networks: vanishing and exploding gradients, clipping, and the remedies.

The computations behind ``model_selection``'s gradient figures, on a 10-layer MLP of width 32
fitting ``sin(3x)`` on 64 points of [−1, 1], trained by full-batch SGD (clipped or not).  Every
network has the same parameter shapes, so all of them (the sigmoid MLP, its remedies, and the
large-weight runs with and without clipping) are one vmapped program over their starting
parameters, activation, residual switch, learning rate and clipping bound.  Batch normalisation,
whose parameters and running statistics differ, is a second program.  ``cfg`` is
``model_selection.Config``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxopt_course as jc
from experiments._common import long_runs
from jaxopt_course import compilation, models, regularizers, training


def target(x):
    """The function every E12 fit learns: ``sin(3x)``."""
    return jnp.sin(3.0 * x)


def curve_data():
    """64 evenly spaced points of the noiseless target on [−1, 1]."""
    x = jnp.linspace(-1, 1, 64).reshape(-1, 1)
    return x, target(x)


ACTIVATION_NAMES = ("sigmoid", "relu", "leaky_relu")
NO_CLIP = float(np.finfo(np.float32).max)  # a bound no gradient norm reaches: plain SGD
# name: (activation, residual connections, initialisation); the first is the problem itself
REMEDIES = {
    "sigmoid (the problem)": ("sigmoid", False, "torch"),
    "ReLU, torch's initialisation": ("relu", False, "torch"),
    "ReLU, He initialisation": ("relu", False, "he"),
    "LeakyReLU, He initialisation": ("leaky_relu", False, "he"),
    "sigmoid + residual connections": ("sigmoid", True, "torch"),
}
# Batch normalisation adds parameters (a scale and a shift per unit) and running statistics, so it
# runs as its own program: models.batch_norm_mlp, trained with the running statistics carried.
BATCH_NORM = "sigmoid + batch normalisation"


def deep_apply(params, x, activation, residual, leaky_slope):
    """The deep MLP, with a traced activation index and residual switch.

    ``z₀ = W₀x + b₀``; ``zᵢ = Wᵢ f(zᵢ₋₁) + bᵢ (+ zᵢ₋₁ if residual)`` for the hidden layers; the
    output ``W_L f(z_{L-1}) + b_L`` (no skip: its width differs).  Without the skip this is
    ``models.mlp``'s network exactly.  The skips are identity paths by which the gradient reaches
    the first layers undiminished.

    The activation is a ``select_n`` of the three, as ``vmap`` turns a ``lax.switch`` on a batched
    index into (the same numbers), without tracing three branches per layer for it to undo.
    """
    depth = len(params) - 1
    z = x @ params["dense_0"]["kernel"] + params["dense_0"]["bias"]
    for i in range(1, depth + 1):
        layer = params[f"dense_{i}"]
        skip = residual * z if i < depth else 0.0
        which = jnp.broadcast_to(jnp.asarray(activation, jnp.int32), z.shape)
        h = jax.lax.select_n(which, jax.nn.sigmoid(z), jax.nn.relu(z), jax.nn.leaky_relu(z, leaky_slope))
        z = h @ layer["kernel"] + layer["bias"] + skip
    return z


def he_initialisation(params, key):
    """He et al.'s initialisation for ReLU layers: kernels with variance 2 / fan_in, zero biases.

    Layer ``i`` (in sorted name order) draws from ``fold_in(key, i)``; layers of one shape draw in
    one vectorised call (``models.vectorised_draws``: one compiled draw, not one per layer).
    """
    names = sorted(params)
    shapes = [(params[name]["kernel"].shape,) for name in names]

    @compilation.jit
    def draw(key):
        keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, jnp.arange(len(names), dtype=jnp.uint32))
        return models.vectorised_draws(jax.nn.initializers.he_normal(), keys, shapes)

    kernels = draw(key)
    return {
        name: {"kernel": kernel, "bias": np.zeros(params[name]["bias"].shape, np.float32)}
        for name, kernel in zip(names, kernels)
    }


def deep_networks(cfg, key, long: bool = True) -> dict:
    """Gradient norm per layer at the start, and the SGD training loss, of every deep run.

    Returns ``gradients`` (the norms at torch's initialisation and with weights × scale; the
    large-weight loss curves with and without clipping, and the first non-finite step of each)
    and ``remedies`` (norms and loss curve of the sigmoid MLP and of each remedy; for batch
    normalisation also the final loss evaluated with the running statistics).  ``long``: compile
    both programs at LLVM's level 1, as the full 300 epochs do; the quick run's 100 epochs compile
    at the short runs' level (vmapped runs: 2.9 against 4.4 CPU-s, batch norm 2.0 against 3.5).
    """
    x, y = curve_data()
    torch_start = models.mlp(key, 1, [32] * cfg.depth + [1], activation="sigmoid")[0]
    starts = {
        "torch": torch_start,
        "he": he_initialisation(torch_start, jax.random.fold_in(key, 1)),
        "large": jax.tree.map(lambda p: np.asarray(p) * np.float32(cfg.exploding_scale), torch_start),
    }
    exploding = {"SGD": NO_CLIP, f"clip ‖g‖ ≤ {cfg.clip_norm:g}, then SGD": cfg.clip_norm}
    # name: (start, activation, residual, learning rate, clipping bound)
    rows = {
        name: (starts[init], activation, residual, cfg.remedy_learning_rate, NO_CLIP)
        for name, (activation, residual, init) in REMEDIES.items()
    }
    rows |= {
        name: (starts["large"], "sigmoid", False, cfg.exploding_learning_rate, bound)
        for name, bound in exploding.items()
    }
    # starts scaled and stacked on the host: the same float32 products, and no small program per shape
    params = jax.tree.map(lambda *leaves: np.stack(leaves), *(row[0] for row in rows.values()))
    activations = np.array([ACTIVATION_NAMES.index(row[1]) for row in rows.values()], np.int32)
    residuals, learning_rates, bounds = (np.array([row[i] for row in rows.values()], np.float32) for i in (2, 3, 4))
    plan = training.make_plan(x.shape[0], x.shape[0], num_epochs=cfg.gradient_epochs)

    def one(params, activation, residual, learning_rate, bound):
        def loss_fn(p, batch):
            inputs, targets = batch
            return jnp.mean((deep_apply(p, inputs, activation, residual, cfg.leaky_slope) - targets) ** 2)

        gradient = jax.grad(loss_fn)(params, (x, y))
        norms = jnp.stack([jnp.linalg.norm(gradient[f"dense_{i}"]["kernel"]) for i in range(cfg.depth + 1)])
        optimizer = optax.chain(regularizers.clip_by_global_norm(bound), jc.sgd(learning_rate))
        history = training.train(loss_fn, params, optimizer, (x, y), jax.random.PRNGKey(0), plan)
        return norms, history.step_loss, history.first_nonfinite_step

    with long_runs(long):  # seven ten-layer networks trained for 300 epochs: worth LLVM's full pipeline
        norms, losses, non_finite = (
            np.asarray(a)
            for a in compilation.jit(jax.vmap(one))(params, activations, residuals, learning_rates, bounds)
        )
    runs = {
        name: {"norms": norms[i], "loss": losses[i], "non_finite": int(non_finite[i])} for i, name in enumerate(rows)
    }
    baseline = runs[next(iter(REMEDIES))]
    return {
        "gradients": {
            "norms": {
                "torch initialisation": baseline["norms"],
                f"weights ×{cfg.exploding_scale:g}": runs["SGD"]["norms"],
            },
            "curves": {name: runs[name]["loss"] for name in exploding},
            "exploded_at_step": {name: runs[name]["non_finite"] for name in exploding},
        },
        "remedies": {name: {"norms": runs[name]["norms"], "loss": runs[name]["loss"]} for name in REMEDIES}
        | {BATCH_NORM: batch_normalised(cfg, key, long)},
    }


def batch_normalised(cfg, key, long: bool = True) -> dict:
    """The sigmoid MLP with batch normalisation before every hidden activation (torch's BatchNorm1d).

    Same dense initialisation as the others (the same key); the gradient at the start is taken in
    training mode (the batch's own statistics), the training carries the running statistics, and
    the final model is evaluated with them.
    """
    x, y = curve_data()
    params, model_state, apply = models.batch_norm_mlp(key, 1, [32] * cfg.depth + [1], activation="sigmoid")
    loss_fn = models.supervised_loss(apply, stateful=True)
    plan = training.make_plan(x.shape[0], x.shape[0], num_epochs=cfg.gradient_epochs)

    @compilation.jit
    def run(params, model_state):
        gradient = jax.grad(lambda p: loss_fn(p, (x, y), jax.random.PRNGKey(0), model_state)[0])(params)
        norms = jnp.stack([jnp.linalg.norm(gradient[f"dense_{i}"]["kernel"]) for i in range(cfg.depth + 1)])
        history = training.train(
            loss_fn,
            params,
            jc.sgd(cfg.remedy_learning_rate),
            (x, y),
            jax.random.PRNGKey(0),
            plan,
            model_state=model_state,
        )
        evaluation, _ = loss_fn(history.params, (x, y), None, history.model_state)
        return norms, history.step_loss, evaluation

    # at level 1, batch norm's many reductions compile 3x slower with the older loop emitters of the
    # experiments' short runs (compilation.SHORT_RUN_OPTIONS): 6.1 against 2.1 CPU-s; at the short
    # runs' level 0 (--quick) the older emitters compile quicker (1.7 against 2.4 CPU-s)
    with long_runs(long, xla_cpu_use_fusion_emitters=True):
        norms, losses, evaluation = run(params, model_state)
    return {"norms": np.asarray(norms), "loss": np.asarray(losses), "loss_with_running_statistics": float(evaluation)}
