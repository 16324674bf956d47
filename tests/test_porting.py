"""Porting from PyTorch: weights copied both ways, torch's parameter groups, the porting guide runs."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxopt_course import models
from jaxopt_course.conventions import pytorch as torch_conventions
from jaxopt_course.porting import decay_mask, param_labels, params_from_torch, params_to_torch

torch = pytest.importorskip("torch")

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "porting_from_pytorch.md"
WIDTHS = (16, 8, 2)


def torch_mlp(seed: int = 0, in_features: int = 3, widths=WIDTHS):
    """torch's counterpart of ``models.mlp(..., activation="tanh")``."""
    torch.manual_seed(seed)
    layers, fan_in = [], in_features
    for width in widths:
        layers += [torch.nn.Linear(fan_in, width), torch.nn.Tanh()]
        fan_in = width
    return torch.nn.Sequential(*layers[:-1])


def our_mlp(seed: int = 1, in_features: int = 3, widths=WIDTHS):
    return models.mlp(jax.random.PRNGKey(seed), in_features, list(widths), activation="tanh")


def max_abs_difference(tree_a, tree_b) -> float:
    return max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(tree_a), jax.tree.leaves(tree_b)))


# --------------------------------------------------------------------------- weights
def test_copied_weights_give_torch_outputs():
    """The MLP with a torch model's weights computes the torch model's outputs, to float32 rounding."""
    model = torch_mlp()
    params, apply = our_mlp()
    params = params_from_torch(model, like=params)
    x = np.random.default_rng(0).standard_normal((32, 3)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.asarray(apply(params, jnp.asarray(x))), expected, rtol=1e-6, atol=1e-6)
    assert params["dense_0"]["kernel"].shape == (3, 16) and params["dense_0"]["kernel"].dtype == jnp.float32


def test_round_trips_are_bit_exact():
    """params → torch → params and torch → params → torch give back the same bits."""
    params, _ = our_mlp()
    model = params_to_torch(params, torch_mlp(seed=5))
    back = params_from_torch(model)
    assert jax.tree.structure(back) == jax.tree.structure(params)
    for ours, returned in zip(jax.tree.leaves(params), jax.tree.leaves(back)):
        np.testing.assert_array_equal(np.asarray(returned), np.asarray(ours))
    source, target = torch_mlp(seed=2), torch_mlp(seed=3)
    params_to_torch(params_from_torch(source), target)
    for a, b in zip(source.parameters(), target.parameters()):
        assert torch.equal(a, b)


def test_copies_share_no_memory():
    """Training the torch model after a copy leaves the copied params as they were."""
    model = torch_mlp()
    params = params_from_torch(model)
    before = np.asarray(params["dense_0"]["kernel"]).copy()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    np.testing.assert_array_equal(np.asarray(params["dense_0"]["kernel"]), before)


def test_params_to_torch_keeps_the_models_dtype_and_reads_bfloat16():
    """A float64 torch model stays float64; bfloat16 params are written exactly."""
    params, _ = our_mlp()
    params = jax.tree.map(lambda leaf: leaf.astype(jnp.bfloat16), params)
    model = params_to_torch(params, torch_mlp().double())
    assert model[0].weight.dtype == torch.float64
    np.testing.assert_array_equal(
        model[0].weight.detach().numpy().T, np.asarray(params["dense_0"]["kernel"], np.float64)
    )


def test_shape_mismatch_names_the_layer_and_both_shapes():
    """A layer of another shape is refused, naming the layer, the argument and both shapes; nothing is written."""
    params, _ = our_mlp(widths=(16, 5, 2))
    model = torch_mlp()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(
        ValueError,
        match=r"layer 1: torch_model's Linear has weight \(8, 16\).*params\['dense_1'\] has kernel \(16, 5\)",
    ):
        params_to_torch(params, model)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    with pytest.raises(ValueError, match=r"layer 1: .*like\['dense_1'\] has kernel \(16, 5\)"):
        params_from_torch(model, like=params)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: params_to_torch(our_mlp(widths=(16, 2))[0], torch_mlp()),
            r"torch_model has 3 Linear layers but params has 2 dense layers",
        ),
        (
            lambda: params_from_torch(torch_mlp(), like=our_mlp(widths=(2,))[0]),
            r"torch_model has 3 Linear layers but like has 1",
        ),
        (lambda: params_from_torch(torch.nn.Sequential(torch.nn.Tanh())), r"torch_model has no torch.nn.Linear layer"),
        (lambda: params_from_torch(torch.nn.Linear(3, 2, bias=False)), r"Linear layer 0 has no bias"),
        (
            lambda: params_to_torch({"dense_0": {"kernel": jnp.zeros((3, 2))}}, torch.nn.Linear(3, 2)),
            r"params\['dense_0'\] must hold exactly",
        ),
        (lambda: params_to_torch({"w": jnp.zeros((3, 2))}, torch.nn.Linear(3, 2)), r"params must hold dense layers"),
    ],
)
def test_layouts_that_do_not_match_are_refused(call, message):
    """Different layer counts, no Linear layer, a bias-free Linear or non-MLP params: a ValueError naming the argument."""
    with pytest.raises(ValueError, match=message):
        call()


def test_not_a_torch_module_is_refused():
    """Params given where the torch model belongs is a TypeError naming torch_model."""
    with pytest.raises(TypeError, match="torch_model must be a torch.nn.Module"):
        params_from_torch(our_mlp()[0])


def test_without_torch_the_copies_say_so(monkeypatch):
    """With torch not importable, both copies raise an ImportError that names the function and torch."""
    model = torch_mlp()
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match="params_from_torch .* needs PyTorch"):
        params_from_torch(model)
    with pytest.raises(ImportError, match="params_to_torch .* needs PyTorch"):
        params_to_torch(our_mlp()[0], model)


# --------------------------------------------------------------------------- parameter groups
def test_decay_mask_and_labels_split_weights_from_biases_and_norms():
    """Kernels (and models.linear's w) decay; biases and batch norm's scale and bias do not."""
    params, _ = our_mlp(widths=(4, 1))
    assert decay_mask(params) == {
        "dense_0": {"kernel": True, "bias": False},
        "dense_1": {"kernel": True, "bias": False},
    }
    assert param_labels(params)["dense_1"] == {"kernel": "decay", "bias": "no_decay"}
    norm_params, _, _ = models.batch_norm_mlp(jax.random.PRNGKey(0), 3, [4, 1])
    assert decay_mask(norm_params)["batch_norm_0"] == {"scale": False, "bias": False}
    assert decay_mask(models.linear(None, 3)[0]) == {"w": True, "b": False}
    by_layer = param_labels(params, rule=lambda path, leaf: path[0].key)
    assert by_layer == {
        "dense_0": {"kernel": "dense_0", "bias": "dense_0"},
        "dense_1": {"kernel": "dense_1", "bias": "dense_1"},
    }


X_BATCH = np.random.default_rng(1).standard_normal((32, 3)).astype(np.float32)
Y_BATCH = np.stack([np.sin(X_BATCH).sum(axis=1), np.cos(X_BATCH).sum(axis=1)], axis=1).astype(
    np.float32
)  # two outputs, as WIDTHS
NUM_STEPS = 10


def torch_two_groups(model, num_steps: int = NUM_STEPS):
    """torch's AdamW with decayed weights at lr 1e-3 and undecayed biases at lr 3e-3, on one fixed batch."""
    weights = [p for p in model.parameters() if p.ndim >= 2]
    biases = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": weights, "weight_decay": 0.1}, {"params": biases, "weight_decay": 0.0, "lr": 3e-3}], lr=1e-3
    )
    x, y = torch.from_numpy(X_BATCH), torch.from_numpy(Y_BATCH)
    for _ in range(num_steps):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    return model


def run_ours(optimizer, params, apply, num_steps: int = NUM_STEPS):
    loss_fn = models.supervised_loss(apply, "mse")
    batch = (jnp.asarray(X_BATCH), jnp.asarray(Y_BATCH))

    def step(carry, _):
        params, state = carry
        updates, state = optimizer.update(jax.grad(loss_fn)(params, batch), state, params)
        return (optax.apply_updates(params, updates), state), None

    return jax.jit(lambda params: jax.lax.scan(step, (params, optimizer.init(params)), length=num_steps)[0][0])(params)


PORTS = {
    "torch's groups": (
        {"decay": dict(lr=1e-3, weight_decay=0.1), "no_decay": dict(lr=3e-3, weight_decay=0.0)},
        param_labels,
    ),
    "biases decayed too": (
        {"all": dict(lr=1e-3, weight_decay=0.1), "biases": dict(lr=3e-3, weight_decay=0.1)},
        lambda p: jax.tree.map(lambda m: "all" if m else "biases", decay_mask(p)),
    ),
    "one lr for both": (
        {"decay": dict(lr=1e-3, weight_decay=0.1), "no_decay": dict(lr=1e-3, weight_decay=0.0)},
        param_labels,
    ),
}


def ported_difference(port: str) -> tuple[float, float]:
    """(max abs difference to torch's two-group AdamW after 10 steps, max displacement) for one port."""
    groups, labels = PORTS[port]
    start = torch_mlp(seed=4)
    params, apply = our_mlp()
    params = params_from_torch(start, like=params)
    optimizer = optax.multi_transform(
        {label: torch_conventions.adamw(**kwargs) for label, kwargs in groups.items()}, labels
    )
    ours = run_ours(optimizer, params, apply)
    theirs = params_from_torch(torch_two_groups(start))
    return max_abs_difference(ours, theirs), max_abs_difference(theirs, params)


def test_parameter_groups_match_torch_adamw():
    """multi_transform over param_labels with the torch-convention adamw follows torch's two-group AdamW to 1e-6."""
    difference, displacement = ported_difference("torch's groups")
    assert displacement > 5e-3  # the run moved the parameters
    assert difference < 1e-6


@pytest.mark.parametrize("port", ["biases decayed too", "one lr for both"])
def test_wrong_parameter_groups_miss_torch(port):
    """Decaying the biases too, or one lr for both groups, misses torch by far more than the 1e-6 the right port keeps."""
    difference, _ = ported_difference(port)
    assert difference > 1e-5


# --------------------------------------------------------------------------- the guide
def test_porting_guide_runs_and_matches_torch():
    """docs/porting_from_pytorch.md's python blocks run in order; the port ends within 1e-6 of torch, as the guide says."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
    assert len(blocks) == 3
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{GUIDE.name} block {i}", "exec"), namespace)  # noqa: S102
    assert namespace["max_abs_diff"] < 1e-6
    assert 0.05 < namespace["max_displacement"] < 0.5
    assert namespace["history"].epoch_loss[-1] < namespace["history"].epoch_loss[0]
