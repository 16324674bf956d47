"""Schedules against the frameworks they mirror: torch's schedulers, Keras's formulas, optax's built-ins."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from trajectories import jax_trajectory

from jaxopt_course import schedules
from jaxopt_course.conventions import keras
from jaxopt_course.conventions import pytorch as torch_convention

STEPS = np.arange(301)

TORCH_CASES = {
    "StepLR": (
        lambda o: ("StepLR", dict(step_size=30, gamma=0.5)),
        lambda spe: torch_convention.step_lr(0.1, 30, 0.5, steps_per_epoch=spe),
    ),
    "MultiStepLR": (
        lambda o: ("MultiStepLR", dict(milestones=[20, 50, 50, 120], gamma=0.3)),
        lambda spe: torch_convention.multi_step_lr(0.1, [20, 50, 50, 120], 0.3, steps_per_epoch=spe),
    ),
    "ExponentialLR": (
        lambda o: ("ExponentialLR", dict(gamma=0.99)),
        lambda spe: torch_convention.exponential_lr(0.1, 0.99, steps_per_epoch=spe),
    ),
    "CosineAnnealingLR": (
        lambda o: ("CosineAnnealingLR", dict(T_max=100, eta_min=1e-5)),
        lambda spe: torch_convention.cosine_annealing_lr(0.1, 100, 1e-5, steps_per_epoch=spe),
    ),
    "LambdaLR": (
        lambda o: ("LambdaLR", dict(lr_lambda=lambda epoch: 0.99**epoch)),
        lambda spe: torch_convention.lambda_lr(0.1, lambda epoch: 0.99**epoch, steps_per_epoch=spe),
    ),
    "LinearLR": (
        lambda o: ("LinearLR", dict(start_factor=0.2, end_factor=1.0, total_iters=40)),
        lambda spe: torch_convention.linear_lr(0.1, 0.2, 1.0, 40, steps_per_epoch=spe),
    ),
    "OneCycleLR": (
        lambda o: ("OneCycleLR", dict(max_lr=0.1, total_steps=301)),
        lambda spe: torch_convention.one_cycle_lr(0.1, 301, steps_per_epoch=spe),
    ),
    "OneCycleLR-linear-3phase": (
        lambda o: ("OneCycleLR", dict(max_lr=0.1, total_steps=301, anneal_strategy="linear", three_phase=True)),
        lambda spe: torch_convention.one_cycle_lr(
            0.1, 301, anneal_strategy="linear", three_phase=True, steps_per_epoch=spe
        ),
    ),
}


def torch_learning_rates(name, kwargs, num_steps, steps_per_epoch=1):
    """The lr each optimiser step uses, with scheduler.step() after every steps_per_epoch steps."""
    torch = pytest.importorskip("torch")
    parameter = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([parameter], lr=0.1)
    scheduler = getattr(torch.optim.lr_scheduler, name)(optimizer, **kwargs)
    rates = []
    for step in range(num_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        parameter.grad = torch.zeros(1)
        optimizer.step()
        scheduler_steps = (step + 1) // steps_per_epoch
        if (step + 1) % steps_per_epoch == 0 and (name != "OneCycleLR" or scheduler_steps < kwargs["total_steps"]):
            scheduler.step()
    return np.array(rates)


@pytest.mark.parametrize("case", list(TORCH_CASES))
@pytest.mark.parametrize("steps_per_epoch", [1, 7])
def test_torch_schedulers_stepped_per_step_and_per_epoch(case, steps_per_epoch):
    """Each torch scheduler, stepped per step or per epoch of 7 steps, for 301 steps, to float32 rounding."""
    describe, factory = TORCH_CASES[case]
    name, kwargs = describe(None)
    if name == "OneCycleLR" and steps_per_epoch != 1:
        kwargs = dict(kwargs, total_steps=50)
        ours = torch_convention.one_cycle_lr(
            0.1,
            50,
            anneal_strategy=kwargs.get("anneal_strategy", "cos"),
            three_phase=kwargs.get("three_phase", False),
            steps_per_epoch=7,
        )
        num_steps = 50 * 7
    else:
        ours, num_steps = factory(steps_per_epoch), len(STEPS)
    expected = torch_learning_rates(name, kwargs, num_steps, steps_per_epoch)
    got = np.asarray(jax.jit(ours)(jnp.arange(num_steps)))
    np.testing.assert_allclose(got, expected, rtol=3e-6, atol=1e-9)


KERAS_MEASURED = {
    "piecewise": (keras.piecewise_constant_decay([2, 4], [1.0, 0.1, 0.01]), [1, 1, 1, 0.1, 0.1, 0.01, 0.01]),
    "exponential": (keras.exponential_decay(1.0, 2, 0.5), [1, 0.70711, 0.5, 0.35355, 0.25]),
    "exponential staircase": (keras.exponential_decay(1.0, 2, 0.5, staircase=True), [1, 1, 0.5, 0.5, 0.25, 0.25]),
    "inverse time": (keras.inverse_time_decay(1.0, 2, 0.5), [1, 0.8, 0.66667, 0.57143, 0.5, 0.44444]),
    "inverse time staircase": (
        keras.inverse_time_decay(1.0, 2, 0.5, staircase=True),
        [1, 1, 0.66667, 0.66667, 0.5, 0.5],
    ),
    "cosine": (keras.cosine_decay(1.0, 5, alpha=0.1), [1, 0.91406, 0.68906, 0.41094, 0.18594, 0.1, 0.1, 0.1]),
    "cosine warmup": (
        keras.cosine_decay(0.0, 5, warmup_target=1.0, warmup_steps=3),
        [0, 0.33333, 0.66667, 1, 0.90451, 0.65451, 0.34549, 0.09549, 0, 0],
    ),
}


@pytest.mark.parametrize("case", list(KERAS_MEASURED))
def test_keras_schedules_match_measured_values(case):
    """Keras 3's measured values at the first steps, including left-inclusive boundaries."""
    schedule, expected = KERAS_MEASURED[case]
    np.testing.assert_allclose(jax.jit(schedule)(jnp.arange(len(expected))), expected, atol=1e-5)


def test_keras_schedules_match_their_closed_forms_over_300_steps():
    """Keras's formulas (evaluated in float64) at steps 0..300, staircase and boundaries included."""
    t = STEPS.astype(np.float64)
    cases = [
        (keras.exponential_decay(0.1, 30, 0.9), 0.1 * 0.9 ** (t / 30)),
        (keras.exponential_decay(0.1, 30, 0.9, staircase=True), 0.1 * 0.9 ** np.floor(t / 30)),
        (keras.inverse_time_decay(0.1, 25, 0.5), 0.1 / (1 + 0.5 * t / 25)),
        (keras.inverse_time_decay(0.1, 25, 0.5, staircase=True), 0.1 / (1 + 0.5 * np.floor(t / 25))),
        (
            keras.piecewise_constant_decay([100, 200], [0.1, 0.05, 0.01]),
            np.where(t <= 100, 0.1, np.where(t <= 200, 0.05, 0.01)),
        ),
        (keras.polynomial_decay(0.1, 200, 1e-4, power=2.0), (0.1 - 1e-4) * (1 - np.minimum(t, 200) / 200) ** 2 + 1e-4),
        (
            keras.polynomial_decay(0.1, 120, 1e-4, cycle=True),
            (0.1 - 1e-4) * (1 - t / (120 * np.maximum(np.ceil(t / 120), 1))) + 1e-4,
        ),
        (
            keras.cosine_decay(0.1, 200, alpha=0.05),
            0.1 * ((1 - 0.05) * 0.5 * (1 + np.cos(np.pi * np.minimum(t, 200) / 200)) + 0.05),
        ),
    ]
    for schedule, expected in cases:
        np.testing.assert_allclose(jax.jit(schedule)(jnp.asarray(STEPS)), expected, rtol=2e-6, atol=1e-9)


def test_optax_builtins_that_are_the_same_schedule():
    """Where optax has the same schedule, the values agree to float32 rounding."""
    t = jnp.asarray(STEPS)
    pairs = [
        (schedules.exponential_decay(0.1, 1, 0.99), optax.exponential_decay(0.1, 1, 0.99)),
        (schedules.step_decay(0.1, 30, 0.5), optax.exponential_decay(0.1, 30, 0.5, staircase=True)),
        (schedules.cosine_decay(0.1, 200, 0.01), optax.cosine_decay_schedule(0.1, 200, alpha=0.1)),
        (
            schedules.piecewise_constant([50, 150], [0.1, 0.01, 0.005]),
            optax.piecewise_constant_schedule(0.1, {50: 0.1, 150: 0.5}),
        ),
        (schedules.polynomial_decay(0.1, 0.001, 100, 2.0), optax.polynomial_schedule(0.1, 0.001, 2.0, 100)),
        (
            schedules.join([schedules.polynomial_decay(0.0, 0.1, 20), schedules.exponential_decay(0.1, 1, 0.98)], [20]),
            optax.join_schedules([optax.linear_schedule(0.0, 0.1, 20), optax.exponential_decay(0.1, 1, 0.98)], [20]),
        ),
        (
            schedules.linear_warmup(schedules.cosine_decay(0.1, 180), 20),
            optax.warmup_cosine_decay_schedule(0.0, 0.1, 20, 200),
        ),
    ]
    for ours, reference in pairs:
        np.testing.assert_allclose(jax.jit(ours)(t), jax.jit(jax.vmap(reference))(t), rtol=1e-5, atol=1e-8)


def test_long_runs_stay_accurate():
    """exp(t log r) and the sin² cosine keep float32 accuracy where naive forms drift (docs/conventions.md)."""
    t = np.array([100, 1000, 10000, 9990, 9999])
    np.testing.assert_allclose(
        schedules.exponential_decay(1.0, 1, 0.999)(jnp.asarray(t)), 0.999 ** t.astype(np.float64), rtol=5e-7
    )
    cosine = schedules.cosine_decay(1.0, 10000)(jnp.asarray(t[3:]))
    np.testing.assert_allclose(cosine, 0.5 * (1 + np.cos(np.pi * t[3:] / 10000)), rtol=2e-6)


def test_array_parameters_under_vmap_equal_one_at_a_time():
    """A decay rate, a warm-up length, a peak and a period as traced arrays under vmap."""
    t = jnp.arange(120)
    builders = {
        "decay_rate": (lambda v: schedules.exponential_decay(0.1, 10, v), [0.5, 0.9, 0.99]),
        "warmup_steps": (lambda v: schedules.linear_warmup(schedules.cosine_decay(0.1, 100), v), [0.0, 10.0, 25.0]),
        "max_value": (lambda v: schedules.one_cycle(v, 100), [0.1, 1.0, 3.0]),
        "decay_steps": (lambda v: schedules.cosine_decay(0.1, v, periodic=True), [20.0, 50.0, 100.0]),
        "gamma": (lambda v: schedules.multi_step_decay(0.1, [10, 40], v), [0.1, 0.5, 0.9]),
        "first_period": (lambda v: schedules.cosine_with_restarts(0.1, v, period_multiplier=2), [5.0, 10.0, 30.0]),
    }
    for name, (build, values) in builders.items():
        swept = np.asarray(jax.jit(jax.vmap(lambda v: build(v)(t)))(jnp.asarray(values, jnp.float32)))
        one_at_a_time = jax.jit(lambda v: build(v)(t))
        for i, value in enumerate(values):
            np.testing.assert_allclose(swept[i], one_at_a_time(jnp.float32(value)), rtol=1e-6, atol=1e-9, err_msg=name)
            # and against the schedule built from a plain Python number (the un-swept user's path)
            np.testing.assert_allclose(swept[i], jax.jit(build(value))(t), rtol=3e-6, atol=1e-9, err_msg=name)


def test_per_epoch_holds_the_value_within_an_epoch():
    """per_epoch(s, B)(t) = s(t // B)."""
    held = schedules.per_epoch(schedules.exponential_decay(1.0, 1, 0.5), 4)(jnp.arange(12))
    np.testing.assert_allclose(held, np.repeat([1.0, 0.5, 0.25], 4))


def test_cosine_with_restarts_restarts():
    """SGDR restarts at T0, then after T0·m more steps, from the initial value."""
    values = np.asarray(jax.jit(schedules.cosine_with_restarts(1.0, 10, period_multiplier=2))(jnp.arange(40)))
    assert values[0] == pytest.approx(1.0) and values[10] == pytest.approx(1.0) and values[30] == pytest.approx(1.0)
    assert values[9] < 0.05 and values[29] < 0.01
    np.testing.assert_allclose(values[10:30], jax.jit(schedules.cosine_decay(1.0, 20))(jnp.arange(20)), atol=1e-6)


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: schedules.step_decay(0.1, 0), "^step_size must be"),
        (
            lambda: schedules.linear_warmup(schedules.cosine_decay(0.1, 10), 50, total_steps=20),
            "warmup_steps .* must not exceed total_steps",
        ),
        (lambda: schedules.warmup_cosine_decay(0.0, 0.1, 100, 100), "warmup_steps .* must be less than decay_steps"),
        (lambda: schedules.cosine_with_restarts(0.1, 0), "^first_period must be"),
        (lambda: schedules.cosine_with_restarts(0.1, 2.5), "^first_period must be a whole number"),
        (lambda: torch_convention.step_lr(0.1, 0), "^step_size must be"),
        (lambda: torch_convention.cosine_annealing_lr(0.1, T_max=0), "^T_max must be"),
        (lambda: torch_convention.exponential_lr(0.1, gamma=-1.0), "^gamma must be"),
        (lambda: torch_convention.linear_lr(0.1, start_factor=0.0), "^start_factor must be"),
        (lambda: torch_convention.one_cycle_lr(0.1, 1), "^total_steps must be"),
        (lambda: keras.exponential_decay(-0.1, 10, 0.5), "^initial_learning_rate must be"),
        (lambda: keras.polynomial_decay(0.1, 0), "^decay_steps must be"),
        (lambda: schedules.exponential_decay(0.1, -5, 0.9), "decay_steps"),
        (lambda: schedules.cosine_decay(0.1, 0), "decay_steps"),
        (lambda: schedules.piecewise_constant([10, 5], [1.0, 0.5, 0.1]), "boundaries must be sorted"),
        (lambda: schedules.piecewise_constant([10, 20], [1.0, 0.5]), "values must have one more entry"),
        (lambda: schedules.join([schedules.constant(1.0)], [10]), "schedules must have one more entry"),
        (lambda: schedules.multi_step_decay(0.1, [30, 10]), "milestones must be sorted"),
        (lambda: schedules.one_cycle(0.1, 1), "total_steps"),
        (lambda: schedules.one_cycle(0.1, 100, pct_start=1.0), "pct_start"),
        (lambda: schedules.linear_warmup(schedules.constant(0.1), -3), "warmup_steps"),
        (lambda: schedules.per_epoch(schedules.constant(0.1), 0), "steps_per_epoch"),
        (lambda: schedules.linear_warmup(0.1, 10), "schedule must be a callable"),
        (lambda: torch_convention.linear_lr(0.1, total_iters=0), "total_iters"),
        # a schedule whose concrete values would be negative or non-finite
        (lambda: schedules.polynomial_decay(-0.1, 0.0, 10), "^init_value must be"),
        (lambda: schedules.cosine_decay(0.1, 10, end_value=-0.5), "^end_value must be"),
        (lambda: schedules.warmup_cosine_decay(-1.0, 0.1, 10, 100), "^init_value must be"),
        (lambda: schedules.piecewise_constant([10], [0.1, float("nan")]), r"^values\[1\] must be"),
        (lambda: schedules.piecewise_constant([10], [-0.1, 0.1]), r"^values\[0\] must be"),
        (lambda: schedules.one_cycle(0.1, 100, div_factor=0.0), "^div_factor must be"),
        (lambda: schedules.one_cycle(-0.1, 100), "^max_value must be"),
        (lambda: torch_convention.one_cycle_lr(-0.1, 100), "^max_lr must be"),
        (lambda: keras.polynomial_decay(0.1, 10, end_learning_rate=-1.0), "^end_learning_rate must be"),
    ],
)
def test_bad_static_arguments(build, match):
    """Zero or negative step counts, unsorted boundaries and mismatched lengths are refused."""
    with pytest.raises(ValueError, match=match):
        build()


def test_schedule_in_optimisers_matches_torch_with_the_same_scheduler():
    """A torch scheduler plugged into SGD momentum, Adam and RMSprop: the same 300-step trajectory."""
    torch = pytest.importorskip("torch")
    p0 = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    h = np.array([0.5, 1.0, 2.0, 0.1], np.float32)
    noise = (np.random.default_rng(0).standard_normal((300, 4)) * [0.1, 1e-3, 10.0, 1.0]).astype(np.float32)
    cases = [
        (
            "SGD",
            dict(momentum=0.9),
            "StepLR",
            dict(step_size=50, gamma=0.5),
            lambda: torch_convention.sgd(torch_convention.step_lr(0.01, 50, 0.5), momentum=0.9),
        ),
        (
            "Adam",
            {},
            "CosineAnnealingLR",
            dict(T_max=100, eta_min=1e-4),
            lambda: torch_convention.adam(torch_convention.cosine_annealing_lr(0.01, 100, 1e-4)),
        ),
        (
            "RMSprop",
            dict(momentum=0.5),
            "OneCycleLR",
            dict(max_lr=0.01, total_steps=301),
            lambda: torch_convention.rmsprop(torch_convention.one_cycle_lr(0.01, 301), momentum=0.5),
        ),
    ]
    for name, options, scheduler_name, scheduler_options, ours in cases:
        p = torch.tensor(p0, requires_grad=True)
        optimizer = getattr(torch.optim, name)([p], lr=0.01, **options)
        scheduler = getattr(torch.optim.lr_scheduler, scheduler_name)(optimizer, **scheduler_options)
        if scheduler_name == "OneCycleLR":  # torch cycles momentum too; keep it fixed for the comparison
            scheduler.cycle_momentum = False
            optimizer.param_groups[0]["momentum"] = 0.5
        expected = []
        for c in noise:
            p.grad = torch.tensor(h) * p.detach() + torch.tensor(c)
            optimizer.step()
            scheduler.step()
            expected.append(p.detach().numpy().copy())
        got = jax_trajectory(ours(), p0, noise, h)
        error = np.abs(np.asarray(got) - np.array(expected)) / np.maximum(1.0, np.abs(expected))
        assert error.max() <= 1e-5, (name, scheduler_name, error.max())


@pytest.mark.parametrize("period_multiplier", [1, 2, 3])
def test_cosine_with_restarts_matches_torch(period_multiplier):
    """SGDR against torch's CosineAnnealingWarmRestarts (T_0 = 10, T_mult 1, 2, 3, eta_min 1e-4) over 301 steps."""
    expected = torch_learning_rates(
        "CosineAnnealingWarmRestarts", dict(T_0=10, T_mult=period_multiplier, eta_min=1e-4), len(STEPS)
    )
    got = jax.jit(schedules.cosine_with_restarts(0.1, 10, period_multiplier=period_multiplier, end_value=1e-4))(
        jnp.asarray(STEPS)
    )
    np.testing.assert_allclose(np.asarray(got), expected, rtol=3e-6, atol=1e-9)


def test_warmup_cosine_decay_matches_optax():
    """warmup_cosine_decay equals optax.warmup_cosine_decay_schedule (same argument order), past its end too."""
    t = jnp.asarray(STEPS)
    for warmup in (0, 1, 25, 150):
        ours = schedules.warmup_cosine_decay(0.001, 0.1, warmup, 200, 1e-4)
        reference = optax.warmup_cosine_decay_schedule(0.001, 0.1, warmup, 200, 1e-4)
        np.testing.assert_allclose(jax.jit(ours)(t), jax.vmap(reference)(t), rtol=1e-5, atol=1e-8, err_msg=str(warmup))


def _torch_trajectory(torch, name, options, scheduler_name, scheduler_options, p0, h, noise, steps_per_epoch):
    p = torch.tensor(p0, requires_grad=True)
    optimizer = getattr(torch.optim, name)([p], **options)
    scheduler = getattr(torch.optim.lr_scheduler, scheduler_name)(optimizer, **scheduler_options)
    expected = []
    for step, c in enumerate(noise):
        p.grad = torch.tensor(h) * p.detach() + torch.tensor(c)
        optimizer.step()
        if (step + 1) % steps_per_epoch == 0:
            scheduler.step()
        expected.append(p.detach().numpy().copy())
    return np.array(expected)


SCHEDULED_OPTIMISERS = {
    # torch optimiser, its options, ours built from a schedule (lr=...) with the same options
    "SGD": (
        dict(momentum=0.9, weight_decay=1e-2),
        lambda lr: torch_convention.sgd(lr, momentum=0.9, weight_decay=1e-2),
    ),
    "SGD-plain": (dict(), lambda lr: torch_convention.sgd(lr)),
    "Adagrad": (
        dict(lr_decay=1e-2, weight_decay=1e-2),
        lambda lr: torch_convention.adagrad(lr, lr_decay=1e-2, weight_decay=1e-2),
    ),
    "RMSprop": (
        dict(centered=True, momentum=0.5),
        lambda lr: torch_convention.rmsprop(lr, centered=True, momentum=0.5),
    ),
    "Adadelta": (dict(weight_decay=1e-2), lambda lr: torch_convention.adadelta(lr, weight_decay=1e-2)),
    "Adam": (dict(amsgrad=True), lambda lr: torch_convention.adam(lr, amsgrad=True)),
    "AdamW": (dict(weight_decay=0.1), lambda lr: torch_convention.adamw(lr, weight_decay=0.1)),
}


@pytest.mark.parametrize("name", list(SCHEDULED_OPTIMISERS))
@pytest.mark.parametrize("steps_per_epoch", [1, 6])
def test_every_optimiser_with_a_torch_scheduler_matches_torch(name, steps_per_epoch):
    """Every torch optimiser under StepLR and ExponentialLR, stepped per step or per epoch of 6 steps:
    the same 300-step trajectory as torch (weight decay, lr_decay and decoupled decay see the scheduled lr)."""
    torch = pytest.importorskip("torch")
    p0 = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    h = np.array([0.5, 1.0, 2.0, 0.1], np.float32)
    noise = (np.random.default_rng(1).standard_normal((300, 4)) * [0.1, 1e-3, 10.0, 1.0]).astype(np.float32)
    options, build = SCHEDULED_OPTIMISERS[name]
    base_lr = 1.0 if name == "Adadelta" else 0.01
    schedulers = {
        "StepLR": (
            dict(step_size=20, gamma=0.5),
            torch_convention.step_lr(base_lr, 20, 0.5, steps_per_epoch=steps_per_epoch),
        ),
        "ExponentialLR": (
            dict(gamma=0.97),
            torch_convention.exponential_lr(base_lr, 0.97, steps_per_epoch=steps_per_epoch),
        ),
    }
    for scheduler_name, (scheduler_options, schedule) in schedulers.items():
        torch_name = name.split("-")[0]
        expected = _torch_trajectory(
            torch,
            torch_name,
            dict(options, lr=base_lr),
            scheduler_name,
            scheduler_options,
            p0,
            h,
            noise,
            steps_per_epoch,
        )
        got = jax_trajectory(build(schedule), p0, noise, h)
        error = np.abs(np.asarray(got) - expected) / np.maximum(1.0, np.abs(expected))
        assert error.max() <= 1e-5, (name, scheduler_name, steps_per_epoch, error.max())


def test_keras_polynomial_decay_with_power_below_one_lands_on_the_end_value_under_jit():
    """PolynomialDecay(power=0.5) at t = T under jit is exactly end_learning_rate: 1 - 77/77 would
    leave 9.3e-10, whose square root is 3e-5 (a 0.9% error on the end value)."""
    schedule = jax.jit(keras.polynomial_decay(0.1, 77, end_learning_rate=1e-3, power=0.5))
    assert float(schedule(77)) == np.float32(1e-3)
    assert float(schedule(500)) == np.float32(1e-3)
    np.testing.assert_allclose(float(schedule(38)), (0.1 - 1e-3) * np.sqrt(1 - 38 / 77) + 1e-3, rtol=1e-6)


def test_zero_step_schedules_top_level_strict_and_optax_convention_constant():
    """A schedule of zero transition steps: refused by jaxopt_course.schedules, a constant schedule
    in conventions.optax_compat, as in optax itself."""
    from jaxopt_course.conventions import optax_compat as optax_convention

    with pytest.raises(ValueError, match="decay_steps"):
        schedules.polynomial_decay(0.1, 0.0, 0)
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.exponential_decay(0.1, 0, decay_rate=0.5)
    for ours, stock in [
        (optax_convention.polynomial_schedule(0.1, 0.0, 1.0, 0), optax.polynomial_schedule(0.1, 0.0, 1.0, 0)),
        (optax_convention.exponential_decay(0.1, 0, 0.5), optax.exponential_decay(0.1, 0, 0.5)),
        (optax_convention.linear_schedule(0.1, 0.0, 0), optax.linear_schedule(0.1, 0.0, 0)),
    ]:
        np.testing.assert_allclose([ours(t) for t in (0, 5)], [stock(t) for t in (0, 5)])


def test_optax_one_cycle_phase_ends_are_optax_s():
    """conventions.optax_compat's one-cycle peaks at int(pct·N) and ends at N, as optax's; the top-level
    (torch's) peaks at pct·N - 1 and ends at N - 1."""
    from jaxopt_course.conventions import optax_compat as optax_convention

    ours = jax.jit(optax_convention.cosine_onecycle_schedule(100, 1.0, pct_start=0.3))  # one compile for every step
    stock = jax.jit(optax.cosine_onecycle_schedule(100, 1.0, pct_start=0.3))
    steps = [0, 10, 29, 30, 31, 60, 99, 100, 104]
    np.testing.assert_allclose([ours(t) for t in steps], [stock(t) for t in steps], rtol=1e-5, atol=1e-9)
    assert float(schedules.one_cycle(1.0, 100, pct_start=0.3)(29)) == 1.0


def test_lambda_lr_with_a_python_if_on_the_epoch_is_refused_showing_the_jnp_where_form():
    """torch users' LambdaLR ``lambda epoch: 0.1 if epoch < 10 else 0.01`` fails when built, with a
    message that gives the jnp.where form and quotes the lambda (not a TracerBoolConversionError
    inside the first compiled step); so do min() on the epoch and a Python if in from_function."""
    with pytest.raises(
        ValueError,
        match=r"lr_lambda uses a Python `if` on the epoch\b.*write it as lambda epoch: jnp\.where\(epoch < 10, 0\.1, 0\.01\)",
    ) as caught:
        torch_convention.lambda_lr(0.1, lambda epoch: 0.1 if epoch < 10 else 0.01)
    assert "got torch_convention.lambda_lr(0.1, lambda epoch: 0.1 if epoch < 10 else 0.01)" in str(caught.value)
    with pytest.raises(ValueError, match="jnp.minimum"):
        torch_convention.lambda_lr(0.1, lambda epoch: min(1.0, (epoch + 1) / 5), steps_per_epoch=4)
    with pytest.raises(ValueError, match=r"function uses a Python `if` on the step\b.*jnp\.where\(step < 10"):
        schedules.from_function(lambda step: 1.0 if step < 10 else 0.5)


@pytest.mark.parametrize("steps_per_epoch", [1, 3])
def test_lambda_lr_jnp_where_form_matches_torch_lambda_lr_with_its_python_if(steps_per_epoch):
    """The jnp.where form gives the learning rates torch's LambdaLR gives with the Python if, over
    25 epochs stepped per epoch (the switch lands on epoch 10, not 9 or 11)."""
    num_steps = 25 * steps_per_epoch
    expected = torch_learning_rates(
        "LambdaLR", dict(lr_lambda=lambda epoch: 1.0 if epoch < 10 else 0.1), num_steps, steps_per_epoch
    )
    ours = torch_convention.lambda_lr(
        0.1, lambda epoch: jnp.where(epoch < 10, 1.0, 0.1), steps_per_epoch=steps_per_epoch
    )
    got = np.asarray(jax.jit(ours)(jnp.arange(num_steps)))
    np.testing.assert_allclose(got, expected, rtol=1e-7)
    assert got[10 * steps_per_epoch - 1] == pytest.approx(0.1, rel=1e-6) and got[10 * steps_per_epoch] == pytest.approx(
        0.01, rel=1e-6
    )
