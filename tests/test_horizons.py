"""Schedule horizons: what each schedule states, and check_horizon's warning for a longer run."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import optax
import pytest

import jaxopt_course as jc
from jaxopt_course import regularizers, schedules
from jaxopt_course.conventions import keras, pytorch
from jaxopt_course.horizons import Horizon


def no_warning(schedule_or_optimizer, num_steps):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schedules.check_horizon(schedule_or_optimizer, num_steps)


def test_torch_cosine_horizon_is_t_max_epochs_of_steps():
    """CosineAnnealingLR(T_max) stepped per epoch of B steps is built for T_max × B steps: a run of
    exactly that many is quiet, one step more warns (a horizon of T_max steps would warn at 50)."""
    schedule = pytorch.cosine_annealing_lr(0.1, T_max=10, steps_per_epoch=5)
    assert schedule.horizon == Horizon(50, "T_max", 5)
    no_warning(pytorch.sgd(schedule, momentum=0.9), 50)
    with pytest.warns(
        UserWarning,
        match=r"horizon of 50 steps \(T_max = 10 epochs × 5 steps per epoch\), shorter than this run of 51 steps",
    ):
        schedules.check_horizon(pytorch.sgd(schedule, momentum=0.9), 51)


def test_short_cosine_warning_names_schedule_horizon_run_and_fix():
    """The warning names the schedule, its horizon, the run's length and the T_max that covers it,
    num_steps // steps_per_epoch for a run of whole epochs; it points at the caller."""
    optimizer = pytorch.adamw(pytorch.cosine_annealing_lr(1e-3, T_max=20, steps_per_epoch=10))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        schedules.check_horizon(optimizer, 500)
    assert len(caught) == 1, [str(w.message) for w in caught]  # adamw reads its lr twice: one warning
    message = str(caught[0].message)
    assert caught[0].category is UserWarning and caught[0].filename == __file__
    for part in (
        "cosine_annealing_lr",
        "horizon of 200 steps",
        "run of 500 steps",
        "raise T_max to at least 50",
        "num_steps // steps_per_epoch = 50",
    ):
        assert part in message, (part, message)


def test_torch_cosine_stepped_per_step_and_the_fix_it_names():
    """Stepped after every update (steps_per_epoch=1) the horizon is T_max steps; the T_max the
    warning suggests is quiet."""
    with pytest.warns(UserWarning, match="raise T_max to at least 120"):
        schedules.check_horizon(pytorch.cosine_annealing_lr(0.1, 100), 120)
    no_warning(pytorch.cosine_annealing_lr(0.1, 120), 120)


@pytest.mark.parametrize(
    "build, horizon",
    [
        (lambda: schedules.cosine_decay(0.1, 30), Horizon(30, "decay_steps")),
        (lambda: schedules.cosine_decay(0.1, 30, periodic=True), Horizon(30, "decay_steps")),
        (lambda: schedules.per_epoch(schedules.cosine_decay(0.1, 30), 4), Horizon(120, "decay_steps", 4)),
        (lambda: schedules.linear_warmup(schedules.cosine_decay(0.1, 30), 10), Horizon(40, "decay_steps", 1, 10)),
        (lambda: schedules.warmup_cosine_decay(0.0, 0.1, 10, 30), Horizon(30, "decay_steps")),
        (
            lambda: schedules.join([schedules.constant(0.1), schedules.cosine_decay(0.1, 30)], [5]),
            Horizon(35, "decay_steps", 1, 5),
        ),
        (lambda: schedules.one_cycle(0.1, 30), Horizon(30, "total_steps")),
        (lambda: pytorch.one_cycle_lr(0.1, 30, steps_per_epoch=2), Horizon(60, "total_steps", 2)),
        (lambda: keras.cosine_decay(0.1, 30), Horizon(30, "decay_steps")),
        (lambda: keras.cosine_decay(0.0, 30, warmup_target=0.1, warmup_steps=10), Horizon(40, "decay_steps", 1, 10)),
        (lambda: schedules.exponential_decay(0.1, 10, 0.5), None),
        (lambda: pytorch.step_lr(0.1, 10, steps_per_epoch=3), None),
        (lambda: pytorch.lambda_lr(0.1, lambda e: 0.9**e), None),
    ],
)
def test_each_schedule_states_its_horizon(build, horizon):
    """Cosines and one-cycle state their length in steps; what is built on them (epochs, warm-up,
    join) carries it over; open-ended schedules state none."""
    assert build().horizon == horizon


def test_horizon_needed_value_covers_the_run():
    """For every horizon above, raising the named argument to ``needed(n)`` covers n steps."""
    for horizon in (Horizon(120, "decay_steps", 4), Horizon(40, "decay_steps", 1, 10), Horizon(60, "total_steps", 2)):
        for num_steps in (1, 59, 61, 1000, 1001):
            value = horizon.needed(num_steps)
            assert value * horizon.steps_per_unit + horizon.offset >= num_steps
            assert value == 1 or (value - 1) * horizon.steps_per_unit + horizon.offset < num_steps


def test_schedules_found_inside_chains_and_wrapped_learning_rates():
    """check_horizon finds a schedule inside jc.chain, beside regularisers, and behind torch's
    Adagrad lr_decay; an optax chain and plain callables cannot be seen into and are skipped."""
    cosine = schedules.cosine_decay(0.1, 10)
    for optimizer in (
        jc.chain(regularizers.clip_by_global_norm(1.0), jc.adam(cosine)),
        pytorch.adagrad(cosine, lr_decay=0.1),
        cosine,
    ):
        with pytest.warns(UserWarning, match="horizon of 10 steps"):
            schedules.check_horizon(optimizer, 11)
    no_warning(optax.chain(optax.clip(1.0), jc.adam(lambda count: 0.1)), 10**6)
    no_warning(jc.sgd(0.1), 10**6)
    no_warning(0.1, 10**6)


def test_horizon_survives_pytrees_and_is_none_when_traced():
    """A schedule rebuilt from its leaves keeps its horizon; one built with a traced decay_steps
    inside jit has none (it cannot be known), and the schedule still works."""
    schedule = pytorch.cosine_annealing_lr(0.1, 10, steps_per_epoch=3)
    leaves, treedef = jax.tree.flatten(schedule)
    assert jax.tree.unflatten(treedef, [leaf * 2 for leaf in leaves]).horizon == Horizon(30, "T_max", 3)
    seen = []

    def build(decay_steps):
        built = schedules.cosine_decay(0.1, decay_steps)
        seen.append(built.horizon)
        return built(jnp.int32(5))

    assert float(jax.jit(build)(10.0)) == pytest.approx(0.05, rel=1e-6)
    assert seen == [None]
