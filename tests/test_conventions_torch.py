"""The torch convention against torch.optim itself: 500-step trajectories with feedback."""

from __future__ import annotations

import itertools

import numpy as np
import optax
import pytest

import trajectories
from jaxopt_course.conventions import torch as torch_convention

torch = pytest.importorskip("torch")

P0 = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
CURVATURE = np.array([0.5, 1.0, 2.0, 0.1], np.float32)  # h in g = h ⊙ p + c_t
NUM_STEPS = 500
NOISE = (np.random.default_rng(0).standard_normal((NUM_STEPS, 4)) * np.array([1e-1, 1e-3, 10.0, 1.0])).astype(np.float32)

# Every optimiser crossed with every combination of its options (torch's names); the learning
# rates are the ones each optimiser is used with.  torch's own rule removes Nesterov with
# dampening or without momentum.
OPTIONS = {
    "SGD": ({"lr": 1e-2}, {"momentum": [0.0, 0.9], "dampening": [0.0, 0.3], "nesterov": [False, True], "weight_decay": [0.0, 0.1]}),
    "Adagrad": ({"lr": 1e-1}, {"lr_decay": [0.0, 0.01], "initial_accumulator_value": [0.0, 0.1], "weight_decay": [0.0, 0.1], "eps": [1e-10, 1e-6]}),
    "RMSprop": ({"lr": 1e-2}, {"alpha": [0.99, 0.9], "centered": [False, True], "momentum": [0.0, 0.5], "weight_decay": [0.0, 0.1]}),
    "Adadelta": ({}, {"lr": [1.0, 0.5], "rho": [0.9, 0.95], "weight_decay": [0.0, 0.1]}),
    "Adam": ({"lr": 1e-2}, {"betas": [(0.9, 0.999), (0.8, 0.99)], "weight_decay": [0.0, 0.1], "amsgrad": [False, True]}),
    "AdamW": ({"lr": 1e-2}, {"betas": [(0.9, 0.999), (0.8, 0.99)], "weight_decay": [0.01, 0.1], "amsgrad": [False, True]}),
}


def _valid(name, kwargs):
    return not (name == "SGD" and kwargs["nesterov"] and (kwargs["momentum"] == 0 or kwargs["dampening"] != 0))


CASES = [
    (name, {**fixed, **dict(zip(axes, values))})
    for name, (fixed, axes) in OPTIONS.items()
    for values in itertools.product(*axes.values())
    if _valid(name, dict(zip(axes, values)))
] + [("Adam", {"lr": 1e-3}), ("AdamW", {"lr": 1e-3}), ("Adadelta", {})]  # the defaults


def torch_trajectory(name, kwargs, p0=P0, noise=NOISE, curvature=CURVATURE):
    p = torch.tensor(p0, requires_grad=True)
    optimizer = getattr(torch.optim, name)([p], **kwargs)
    h = torch.tensor(curvature)
    path = []
    for c in noise:
        p.grad = h * p.detach() + torch.tensor(c)
        optimizer.step()
        path.append(p.detach().numpy().copy())
    return np.stack(path)


def jax_trajectory(optimizer, p0=P0, noise=NOISE, curvature=CURVATURE):
    return trajectories.jax_trajectory(optimizer, p0, noise, curvature)


def ours(name, kwargs):
    return getattr(torch_convention, name.lower())(**kwargs)


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in CASES])
def test_matches_torch_over_500_steps(name, kwargs):
    """Every optimiser and option: max |Δp| <= 1e-5 · max(1, |p|) over 500 steps under jit."""
    expected = torch_trajectory(name, kwargs)
    got = jax_trajectory(ours(name, kwargs))
    error = np.abs(got - expected) / np.maximum(1.0, np.abs(expected))
    assert np.all(np.isfinite(got))
    assert error.max() <= 1e-5, f"worst relative error {error.max():.2e} at step {error.max(axis=1).argmax()}"


FIXTURE_P0 = np.array([1.0, -2.0, 0.5], np.float32)
FIXTURE_GRADS = np.array([[0.1, -0.2, 0.3], [0.4, 0.1, -0.5], [-0.3, 0.2, 0.05]], np.float32)
AMSGRAD_GRADS = np.array([[1, -2, 0.5], [0.01, 0.02, -0.01], [0.02, -0.01, 0.01], [0.01, 0.01, 0.01]], np.float32)


def test_adam_at_large_learning_rate_is_closer_to_torch_than_stock_optax():
    """Adam, lr 0.1, 3 fixture steps: within 1e-6 of torch, where stock optax is ~1.7e-6 off."""
    zero = np.zeros(3, np.float32)
    expected = torch_trajectory("Adam", {"lr": 0.1}, FIXTURE_P0, FIXTURE_GRADS, zero)
    got = jax_trajectory(torch_convention.adam(0.1), FIXTURE_P0, FIXTURE_GRADS, zero)
    stock = jax_trajectory(optax.adam(0.1), FIXTURE_P0, FIXTURE_GRADS, zero)
    assert np.abs(got - expected).max() <= 1e-6
    assert np.abs(stock - expected).max() > 1e-6  # the float32 bias corrections we avoid


def test_amsgrad_is_torch_variant_not_optax_variant():
    """AMSGrad keeps the max of the raw second moment, as torch does (no optax flag does)."""
    zero = np.zeros(3, np.float32)
    expected = torch_trajectory("Adam", {"lr": 0.1, "amsgrad": True}, FIXTURE_P0, AMSGRAD_GRADS, zero)
    got = jax_trajectory(torch_convention.adam(0.1, amsgrad=True), FIXTURE_P0, AMSGRAD_GRADS, zero)
    stock = jax_trajectory(optax.amsgrad(0.1), FIXTURE_P0, AMSGRAD_GRADS, zero)
    assert np.abs(got - expected).max() <= 1e-6
    assert np.abs(stock - expected).max() > 1e-2


def test_nesterov_needs_momentum_and_no_dampening():
    """torch's own rule: Nesterov requires momentum > 0 and dampening == 0."""
    with pytest.raises(ValueError, match="dampening"):
        torch_convention.sgd(0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="momentum"):
        torch_convention.sgd(0.1, momentum=0.0, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        torch_convention.adam(0.1, betas=0.9)
