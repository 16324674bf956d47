"""The torch convention against torch.optim itself: 500-step trajectories with feedback."""

from __future__ import annotations

import functools
import inspect
import itertools

import numpy as np
import optax
import pytest
import trajectories

from jaxopt_course.conventions import pytorch as torch_convention

torch = pytest.importorskip("torch")

P0 = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
CURVATURE = np.array([0.5, 1.0, 2.0, 0.1], np.float32)  # h in g = h ⊙ p + c_t
NUM_STEPS = 500
NOISE = (np.random.default_rng(0).standard_normal((NUM_STEPS, 4)) * np.array([1e-1, 1e-3, 10.0, 1.0])).astype(
    np.float32
)

# Every optimiser crossed with every combination of its options (torch's names); the learning
# rates are the ones each optimiser is used with.  eps = 1e-3 pins where ε sits (the second
# coordinate's gradients are ~1e-3).  torch's own rule removes Nesterov with dampening or without
# momentum.  Float options are traced (one compilation per combination of the boolean ones).
OPTIONS = {
    "SGD": (
        {"lr": 1e-2},
        {
            "momentum": [0.0, 0.9],
            "dampening": [0.0, 0.3],
            "nesterov": [False, True],
            "weight_decay": [0.0, 0.1],
            "maximize": [False, True],
        },
    ),
    "Adagrad": (
        {"lr": 1e-1},
        {
            "lr_decay": [0.0, 0.01],
            "initial_accumulator_value": [0.0, 0.1],
            "weight_decay": [0.0, 0.1],
            "eps": [1e-10, 1e-3],
            "maximize": [False, True],
        },
    ),
    "RMSprop": (
        {"lr": 1e-2},
        {
            "alpha": [0.99, 0.9],
            "eps": [1e-8, 1e-3],
            "centered": [False, True],
            "momentum": [0.0, 0.5],
            "weight_decay": [0.0, 0.1],
            "maximize": [False, True],
        },
    ),
    "Adadelta": ({}, {"lr": [1.0, 0.5], "rho": [0.9, 0.95], "weight_decay": [0.0, 0.1], "maximize": [False, True]}),
    "Adam": (
        {"lr": 1e-2},
        {
            "betas": [(0.9, 0.999), (0.8, 0.99)],
            "eps": [1e-8, 1e-3],
            "weight_decay": [0.0, 0.1],
            "amsgrad": [False, True],
            "decoupled_weight_decay": [False, True],
        },
    ),
    "AdamW": (
        {"lr": 1e-2},
        {
            "betas": [(0.9, 0.999), (0.8, 0.99)],
            "eps": [1e-8, 1e-3],
            "weight_decay": [0.01, 0.1],
            "amsgrad": [False, True],
        },
    ),
}


def _valid(name, kwargs):
    return not (name == "SGD" and kwargs["nesterov"] and (kwargs["momentum"] == 0 or kwargs["dampening"] != 0))


CASES = [
    (name, {**fixed, **dict(zip(axes, values))})
    for name, (fixed, axes) in OPTIONS.items()
    for values in itertools.product(*axes.values())
    if _valid(name, dict(zip(axes, values)))
] + [
    ("Adam", {"lr": 1e-3}),
    ("AdamW", {"lr": 1e-3}),
    ("Adadelta", {}),
    ("Adam", {"lr": 1e-2, "maximize": True}),
    ("AdamW", {"lr": 1e-2, "maximize": True}),
]


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


# torch's Adagrad reads initial_accumulator_value at construction, not from a param group's options
CONSTRUCTOR_ONLY = ("initial_accumulator_value",)


def _batch(name, kwargs):
    return name, tuple((k, kwargs[k]) for k in CONSTRUCTOR_ONLY if k in kwargs)


def _grid_curvature(kwargs):
    """With ``maximize`` the problem is the concave one (curvature -h), so that ascent converges."""
    return -CURVATURE if kwargs.get("maximize") else CURVATURE


@functools.cache
def torch_grid_trajectories(batch):
    """:func:`torch_trajectory` of every case of ``CASES`` in ``batch`` (an optimiser and its
    constructor-only options), each case one param group of a single torch optimizer: torch steps
    every group with its own options and state, so each path is bit for bit the one of a separate
    optimizer (``test_param_groups_reproduce_separate_optimizers``), at a fraction of the steps'
    Python cost.  Returns the cases' kwargs and their paths, in ``CASES``'s order."""
    name, constructor = batch
    cases = [kwargs for n, kwargs in CASES if _batch(n, kwargs) == batch]
    params = [torch.tensor(P0, requires_grad=True) for _ in cases]
    optimizer = getattr(torch.optim, name)([{"params": [p], **kw} for p, kw in zip(params, cases)], **dict(constructor))
    h = torch.tensor(np.stack([_grid_curvature(kw) for kw in cases]))
    path = []
    for c in NOISE:
        grads = h * torch.stack([p.detach() for p in params]) + torch.tensor(c)
        for p, g in zip(params, grads):
            p.grad = g
        optimizer.step()
        path.append(torch.stack([p.detach() for p in params]).numpy())
    return cases, np.stack(path, axis=1)


def torch_grid_trajectory(name, kwargs):
    cases, paths = torch_grid_trajectories(_batch(name, kwargs))
    return paths[cases.index(kwargs)]


def jax_trajectory(optimizer, p0=P0, noise=NOISE, curvature=CURVATURE):
    return trajectories.jax_trajectory(optimizer, p0, noise, curvature)


def ours_traced(name, kwargs, factory=None, p0=P0, noise=NOISE, curvature=CURVATURE):
    """Our trajectory for torch's ``name(**kwargs)``, the floats traced; ``factory`` replaces
    ``conventions.pytorch``'s (a wrong variant, to show the grid tells it apart)."""
    factory = factory or getattr(torch_convention, name.lower())
    structural = tuple(sorted((k, v) for k, v in kwargs.items() if isinstance(v, bool)))
    floats = {k: v for k, v in kwargs.items() if not isinstance(v, bool)}
    build = lambda hp: factory(**hp, **dict(structural))  # noqa: E731
    return trajectories.traced_trajectory(
        (name, factory, structural, tuple(sorted(floats))), build, floats, p0, noise, curvature
    )


def worst_error(got, expected):
    return float((np.abs(got - expected) / np.maximum(1.0, np.abs(expected))).max())


@pytest.mark.parametrize(
    "name,kwargs", CASES, ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in CASES]
)
def test_matches_torch_over_500_steps(name, kwargs):
    """Every optimiser and option: max |Δp| <= 1e-5 · max(1, |p|) over 500 steps under jit.

    With ``maximize`` the problem is the concave one (curvature -h), so that ascent converges."""
    expected = torch_grid_trajectory(name, kwargs)
    got = ours_traced(name, kwargs, curvature=_grid_curvature(kwargs))
    assert np.all(np.isfinite(got))
    error = worst_error(got, expected)
    assert error <= 1e-5, f"worst relative error {error:.2e}"


BATCHES = sorted({_batch(name, kwargs) for name, kwargs in CASES}, key=repr)


@pytest.mark.parametrize("batch", BATCHES, ids=[f"{n}{''.join(f'-{k}={v}' for k, v in c)}" for n, c in BATCHES])
def test_param_groups_reproduce_separate_optimizers(batch):
    """The shared torch runs are exact: the batch's case furthest from torch's defaults (the most
    options changed), alone in its own optimizer, takes the same path bit for bit as in its param group."""
    cases, paths = torch_grid_trajectories(batch)
    defaults = inspect.signature(getattr(torch.optim, batch[0])).parameters
    changed = [sum(value != defaults[k].default for k, value in kw.items()) for kw in cases]
    i = len(cases) - 1 - int(np.argmax(changed[::-1]))  # the last such case
    alone = torch_trajectory(batch[0], cases[i], curvature=_grid_curvature(cases[i]))
    assert np.array_equal(paths[i], alone), cases[i]


def _torch_like(name, *, denominator=None, rounding=None, decay=None, eps_in_root=False):
    """torch's rule rebuilt from the core blocks, with one piece swappable."""
    from jaxopt_course.learning_rate import scale_by_learning_rate
    from jaxopt_course.optimizers.adagrad import scale_by_adagrad
    from jaxopt_course.optimizers.adam import ACCURATE, scale_by_adam
    from jaxopt_course.optimizers.rmsprop import scale_by_rms

    def build(lr, eps=1e-8, betas=(0.9, 0.999), weight_decay=0.0):
        if name in ("Adam", "AdamW"):
            eps_kw = {"eps": 0.0, "eps_root": eps} if eps_in_root else {"eps": eps}
            direction = scale_by_adam(betas[0], betas[1], rounding=rounding or ACCURATE, **eps_kw)
            return optax.chain(direction, scale_by_learning_rate(lr), *([decay(weight_decay, lr)] if decay else []))
        block = scale_by_rms if name == "RMSprop" else scale_by_adagrad
        first = 0.99 if name == "RMSprop" else 0.0  # alpha, or the initial accumulator
        return optax.chain(block(first, eps, denominator=denominator), scale_by_learning_rate(lr))

    return build


@pytest.mark.parametrize(
    "name,kwargs,variant",
    [
        ("Adam", {"lr": 1e-2, "eps": 1e-3}, "eps inside the root"),
        ("RMSprop", {"lr": 1e-2, "eps": 1e-3}, "eps inside the root"),
        ("Adagrad", {"lr": 1e-1, "eps": 1e-3}, "eps inside the root"),
        ("Adam", {"lr": 0.1}, "float32 bias corrections"),
        ("AdamW", {"lr": 1e-3, "weight_decay": 0.02}, "subtractive decoupled decay"),  # float32(1 - 2e-5) is 2.7e-8 off
    ],
)
def test_grid_tells_the_wrong_variant_apart(name, kwargs, variant):
    """The grid's tolerance passes torch's variant and fails the wrong one: ε inside the root
    (eps = 1e-3), float32 bias corrections (torch's first steps at lr 0.1, tolerance 1e-6), the
    subtractive AdamW decay instead of torch's multiplicative float32 factor."""
    from jaxopt_course.conventions import variants
    from jaxopt_course.regularizers import decoupled_weight_decay

    right, wrong = {
        "eps inside the root": (
            {"denominator": variants.eps_outside_root},
            {"denominator": variants.eps_in_root, "eps_in_root": True},
        ),
        "float32 bias corrections": ({}, {"rounding": variants.float32_rounding}),
        "subtractive decoupled decay": ({"decay": variants.torch_decoupled_decay}, {"decay": decoupled_weight_decay}),
    }[variant]
    args, tolerance = {}, 1e-5
    if variant == "float32 bias corrections":
        args, tolerance = {"p0": FIXTURE_P0, "noise": FIXTURE_GRADS, "curvature": np.zeros(3, np.float32)}, 1e-6
    expected = torch_trajectory(name, kwargs, **args)
    assert worst_error(ours_traced(name, kwargs, **args), expected) <= tolerance
    assert worst_error(ours_traced(name, kwargs, factory=_torch_like(name, **right), **args), expected) <= tolerance
    assert worst_error(ours_traced(name, kwargs, factory=_torch_like(name, **wrong), **args), expected) > tolerance


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
