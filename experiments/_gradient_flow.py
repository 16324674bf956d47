"""E12's deep networks: vanishing and exploding gradients, clipping, and the remedies.

The computations behind ``model_selection``'s gradient figures, on a 10-layer MLP of width 32
fitting ``sin(3x)`` on 64 points of [−1, 1].  ``cfg`` is ``model_selection.Config``.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxopt_course as jc
from jaxopt_course import models, regularizers, training


def target(x):
    """The function every E12 fit learns: ``sin(3x)``."""
    return jnp.sin(3.0 * x)


def curve_data():
    """64 evenly spaced points of the noiseless target on [−1, 1]."""
    x = jnp.linspace(-1, 1, 64).reshape(-1, 1)
    return x, target(x)


def gradients(cfg, key) -> dict:
    x, y = curve_data()
    params, apply = models.mlp(key, 1, [32] * cfg.depth + [1], activation="sigmoid")
    loss_fn = models.supervised_loss(apply)
    large = jax.tree.map(lambda p: p * cfg.exploding_scale, params)
    norms = {}
    for name, p in (("torch initialisation", params), (f"weights ×{cfg.exploding_scale:g}", large)):
        g = jax.grad(loss_fn)(p, (x, y))
        norms[name] = np.array([float(jnp.linalg.norm(g[f"dense_{i}"]["kernel"])) for i in range(cfg.depth + 1)])
    curves, exploded = {}, {}
    for name, optimizer in (("SGD", jc.sgd(cfg.exploding_learning_rate)), (f"clip ‖g‖ ≤ {cfg.clip_norm:g}, then SGD", optax.chain(regularizers.clip_by_global_norm(cfg.clip_norm), jc.sgd(cfg.exploding_learning_rate)))):
        with warnings.catch_warnings():  # the explosion is the lesson: fit's non-finite warning is expected
            warnings.simplefilter("ignore", RuntimeWarning)
            history = jc.fit(loss_fn, large, optimizer, (x, y), batch_size=64, num_epochs=cfg.gradient_epochs, key=jax.random.PRNGKey(0), progress=False)
        curves[name], exploded[name] = np.asarray(history.step_loss), int(history.first_nonfinite_step)
    return {"norms": norms, "curves": curves, "exploded_at_step": exploded}


ACTIVATION_NAMES = ("sigmoid", "relu", "leaky_relu")
# name: (activation, residual connections, initialisation); the first is the problem itself
REMEDIES = {
    "sigmoid (the problem)": ("sigmoid", False, "torch"),
    "ReLU, torch's initialisation": ("relu", False, "torch"),
    "ReLU, He initialisation": ("relu", False, "he"),
    "LeakyReLU, He initialisation": ("leaky_relu", False, "he"),
    "sigmoid + residual connections": ("sigmoid", True, "torch"),
    # BATCH NORMALISATION goes here (the lead's part of issue 14): "sigmoid + batch normalisation"
    # needs Flax's BatchNorm after each hidden dense layer and a training loop that carries its
    # running statistics and evaluates with them. Its parameters differ in shape from these five,
    # so it runs as its own program; add its gradient norms and loss curve to `remedies()`'s result
    # under this name and the figure and metrics show it beside the others.
}


def deep_apply(params, x, activation, residual, leaky_slope):
    """The deep MLP of :func:`gradients`, with a traced activation index and residual switch.

    ``z₀ = W₀x + b₀``; ``zᵢ = Wᵢ f(zᵢ₋₁) + bᵢ (+ zᵢ₋₁ if residual)`` for the hidden layers; the
    output ``W_L f(z_{L-1}) + b_L`` (no skip: its width differs).  Without the skip this is
    ``models.mlp``'s network exactly.  The skips are identity paths by which the gradient reaches
    the first layers undiminished.
    """
    functions = [jax.nn.sigmoid, jax.nn.relu, lambda z: jax.nn.leaky_relu(z, leaky_slope)]
    depth = len(params) - 1
    z = x @ params["dense_0"]["kernel"] + params["dense_0"]["bias"]
    for i in range(1, depth + 1):
        layer = params[f"dense_{i}"]
        skip = residual * z if i < depth else 0.0
        z = jax.lax.switch(activation, functions, z) @ layer["kernel"] + layer["bias"] + skip
    return z


def he_initialisation(params, key):
    """He et al.'s initialisation for ReLU layers: kernels with variance 2 / fan_in, zero biases."""
    initialise = jax.nn.initializers.he_normal()
    return {
        name: {"kernel": initialise(jax.random.fold_in(key, i), layer["kernel"].shape), "bias": jnp.zeros_like(layer["bias"])}
        for i, (name, layer) in enumerate(sorted(params.items()))
    }


def remedies(cfg, key) -> dict:
    """Gradient norm per layer at initialisation, and the SGD training loss, of every remedy."""
    x, y = curve_data()
    starts = {"torch": models.mlp(key, 1, [32] * cfg.depth + [1], activation="sigmoid")[0]}  # the parameters of `gradients`
    starts["he"] = he_initialisation(starts["torch"], jax.random.fold_in(key, 1))
    params = jax.tree.map(lambda *leaves: jnp.stack(leaves), *(starts[init] for _, _, init in REMEDIES.values()))
    activations = jnp.array([ACTIVATION_NAMES.index(activation) for activation, _, _ in REMEDIES.values()], jnp.int32)
    residuals = jnp.array([float(residual) for _, residual, _ in REMEDIES.values()], jnp.float32)
    plan = training.make_plan(x.shape[0], x.shape[0], num_epochs=cfg.gradient_epochs)

    def one(params, activation, residual):
        def loss_fn(p, batch):
            inputs, targets = batch
            return jnp.mean((deep_apply(p, inputs, activation, residual, cfg.leaky_slope) - targets) ** 2)

        gradient = jax.grad(loss_fn)(params, (x, y))
        norms = jnp.stack([jnp.linalg.norm(gradient[f"dense_{i}"]["kernel"]) for i in range(cfg.depth + 1)])
        history = training.train(loss_fn, params, jc.sgd(cfg.remedy_learning_rate), (x, y), jax.random.PRNGKey(0), plan)
        return norms, history.step_loss

    norms, losses = jax.jit(jax.vmap(one))(params, activations, residuals)
    return {name: {"norms": np.asarray(norms[i]), "loss": np.asarray(losses[i])} for i, name in enumerate(REMEDIES)}
