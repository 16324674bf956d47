"""Learning-rate schedules: pure functions ``step -> learning rate`` (float32).

The first update sees step 0 (optax's and Keras's convention, and torch's when its scheduler is
stepped after each optimiser step).  Every numeric parameter may be an array or a traced value, so
a sweep can ``vmap`` over a decay rate or a warm-up length: there is no Python branch on a value,
only ``jnp.where``.  Concrete arguments that make no sense raise ``ValueError`` naming them,
among them every value that would make a rate negative or non-finite; traced arguments and the
values a user's callable returns cannot be inspected and are not checked.  A zero-length schedule
is refused here (``conventions.optax_compat`` accepts it, as optax does).  Exponentials are evaluated as
``exp(t log r)`` and cosines as ``sin²``, forms that stay accurate to float32 rounding over long
runs (docs/conventions.md).  ``conventions.pytorch`` and ``conventions.keras``
expose the same schedules under those frameworks' names and off-by-ones.  Schedules built for a
number of steps (cosines, one-cycle, and what is built on them) state it as ``schedule.horizon``;
:func:`check_horizon` warns when a run is longer (``jaxopt_course.horizons``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

import jax.numpy as jnp
import numpy as np

from jaxopt_course.base import ArrayLike, Schedule
from jaxopt_course.checks import check_count, check_range, check_traceable, is_traced
from jaxopt_course.horizons import Horizon, check_horizon, horizon_of, scaled, shifted, steps_of, with_horizon
from jaxopt_course.hyperparams import hyperparameters
from jaxopt_course.numerics import as_float32

__all__ = [
    "check_horizon",
    "constant",
    "cosine_decay",
    "cosine_with_restarts",
    "exponential_decay",
    "from_function",
    "inverse_time_decay",
    "join",
    "linear_warmup",
    "multi_step_decay",
    "one_cycle",
    "per_epoch",
    "piecewise_constant",
    "polynomial_decay",
    "step_decay",
    "warmup_cosine_decay",
]


def _step(count) -> jnp.ndarray:
    return jnp.asarray(count).astype(jnp.float32)


def _log(value: ArrayLike) -> jnp.ndarray:
    """log of a positive rate: in double for a Python float, float32 for an array."""
    if isinstance(value, numbers.Real):
        return jnp.float32(math.log(value)) if value > 0 else jnp.float32(-jnp.inf)
    return jnp.log(as_float32(value))


def _positive(name: str, value) -> None:
    check_range(name, value, low=0.0, low_inclusive=False)


def _power(rate: ArrayLike, exponent: jnp.ndarray) -> jnp.ndarray:
    """``rate ** exponent`` as ``exp(exponent log rate)``; 0 ** 0 = 1 and 0 ** e = 0 for e > 0."""
    return jnp.where(exponent == 0, 1.0, jnp.exp(exponent * _log(rate)))


@hyperparameters(kind="schedule")
def constant(value: ArrayLike) -> Schedule:
    """``η_t = value``."""
    check_range("value", value, low=0.0)
    return lambda count: jnp.broadcast_to(as_float32(value), jnp.shape(count))


@hyperparameters(kind="schedule")
def exponential_decay(
    init_value: ArrayLike, decay_steps: ArrayLike, decay_rate: ArrayLike, *, staircase: bool = False
) -> Schedule:
    """``η_t = η_0 · r^(t / k)``, with ``⌊t / k⌋`` when ``staircase`` (Keras ExponentialDecay).

    ``decay_steps = 1`` is torch's ExponentialLR; staircase with ``k = step_size`` is StepLR.
    """
    check_range("init_value", init_value, low=0.0)
    _positive("decay_steps", decay_steps)
    check_range("decay_rate", decay_rate, low=0.0)

    def schedule(count):
        exponent = _step(count) / as_float32(decay_steps)
        return as_float32(init_value) * _power(decay_rate, jnp.floor(exponent) if staircase else exponent)

    return schedule


@hyperparameters(kind="schedule")
def step_decay(init_value: ArrayLike, step_size: ArrayLike, gamma: ArrayLike = 0.1) -> Schedule:
    """``η_t = η_0 · γ^⌊t / s⌋`` (torch StepLR)."""
    _positive("step_size", step_size)
    check_range("gamma", gamma, low=0.0)
    return exponential_decay(init_value, step_size, decay_rate=gamma, staircase=True)


@hyperparameters(kind="schedule")
def multi_step_decay(init_value: ArrayLike, milestones: Sequence[int], gamma: ArrayLike = 0.1) -> Schedule:
    """``η_t = η_0 · γ^(number of milestones <= t)`` (torch MultiStepLR; a repeated milestone counts twice)."""
    check_range("init_value", init_value, low=0.0)
    check_range("gamma", gamma, low=0.0)
    points = _sorted_boundaries("milestones", milestones, allow_repeats=True)

    def schedule(count):
        passed = jnp.sum(_step(count)[..., None] >= points, axis=-1).astype(jnp.float32)
        return as_float32(init_value) * _power(gamma, passed)

    return schedule


@hyperparameters(kind="schedule")
def inverse_time_decay(
    init_value: ArrayLike, decay_steps: ArrayLike, decay_rate: ArrayLike, *, staircase: bool = False
) -> Schedule:
    """``η_t = η_0 / (1 + r · t / k)``, with ``⌊t / k⌋`` when ``staircase`` (Keras InverseTimeDecay)."""
    check_range("init_value", init_value, low=0.0)
    _positive("decay_steps", decay_steps)
    check_range("decay_rate", decay_rate, low=0.0)

    def schedule(count):
        ratio = _step(count) / as_float32(decay_steps)
        return as_float32(init_value) / (1.0 + as_float32(decay_rate) * (jnp.floor(ratio) if staircase else ratio))

    return schedule


@hyperparameters(kind="schedule")
def piecewise_constant(
    boundaries: Sequence[int], values: Sequence[float], *, boundary_in_left: bool = False
) -> Schedule:
    """Absolute values per interval: ``values[i]`` between ``boundaries[i-1]`` and ``boundaries[i]``.

    By default a boundary starts the next interval (the new value applies *at* step b, as optax);
    ``boundary_in_left=True`` is Keras's PiecewiseConstantDecay, where step b still has the old
    value and the change comes at b + 1.
    """
    points = _sorted_boundaries("boundaries", boundaries)
    if len(values) != len(points) + 1:
        raise ValueError(f"values must have one more entry than boundaries ({len(points) + 1}); got {len(values)}")
    for i, value in enumerate(values):
        check_range(f"values[{i}]", value, low=0.0)
    table = jnp.asarray(values, jnp.float32)

    def schedule(count):
        t = _step(count)[..., None]
        index = jnp.sum((t > points) if boundary_in_left else (t >= points), axis=-1)
        return table[index]

    return schedule


@hyperparameters(kind="schedule")
def polynomial_decay(
    init_value: ArrayLike, end_value: ArrayLike, decay_steps: ArrayLike, power: ArrayLike = 1.0, *, cycle: bool = False
) -> Schedule:
    """``η_t = (η_0 - η_end)(1 - min(t, T)/T)^p + η_end``; with ``cycle`` T grows to the next multiple.

    The fraction is formed as ``(T - min(t, T)) / T``, exactly 0 at ``t = T`` (``1 - t/T`` is not
    under jit, where the division becomes a multiplication, and a power < 1 magnifies the residue).
    """
    check_range("init_value", init_value, low=0.0)
    check_range("end_value", end_value, low=0.0)
    _positive("decay_steps", decay_steps)
    check_range("power", power, low=0.0)

    def schedule(count):
        t, period = _step(count), as_float32(decay_steps)
        if cycle:
            period = period * jnp.maximum(jnp.ceil(t / period), 1.0)
        fraction = (period - jnp.minimum(t, period)) / period
        return (as_float32(init_value) - as_float32(end_value)) * fraction ** as_float32(power) + as_float32(end_value)

    return schedule


@hyperparameters(kind="schedule")
def cosine_decay(
    init_value: ArrayLike, decay_steps: ArrayLike, end_value: ArrayLike = 0.0, *, periodic: bool = False
) -> Schedule:
    """Cosine annealing to a floor: ``η_t = η_end + (η_0 - η_end) · ½(1 + cos(π t / T))``.

    Clamped at ``t = T`` (optax, Keras); ``periodic=True`` keeps the cosine going, rising again
    after T with period 2T, as torch's CosineAnnealingLR does.  Evaluated as
    ``sin²(π (T - t) / 2T)``, which is exact where ``1 + cos`` cancels.
    """
    check_range("init_value", init_value, low=0.0)
    check_range("end_value", end_value, low=0.0)
    _positive("decay_steps", decay_steps)

    def schedule(count):
        t, period = _step(count), as_float32(decay_steps)
        # periodic: reduce to one period 2T first, so the angle stays in [-π/2, π/2] (no cancellation)
        t = jnp.mod(t, 2.0 * period) if periodic else jnp.minimum(t, period)
        weight = jnp.sin(jnp.pi * (period - t) / (2.0 * period)) ** 2
        return as_float32(end_value) + (as_float32(init_value) - as_float32(end_value)) * weight

    steps = steps_of(decay_steps)
    return with_horizon(schedule, None if steps is None else Horizon(steps, "decay_steps"))


@hyperparameters(kind="schedule")
def cosine_with_restarts(
    init_value: ArrayLike, first_period: ArrayLike, *, period_multiplier: int = 1, end_value: ArrayLike = 0.0
) -> Schedule:
    """SGDR: cosine annealing from η_0 to η_end, restarted after T_0, T_0·m, T_0·m², … steps.

    Cycle i starts at ``T_0 (m^i - 1)/(m - 1)`` (``i T_0`` for m = 1) and lasts ``T_0 m^i``; inside it
    ``η = η_end + (η_0 - η_end) · ½(1 + cos(π τ / T_i))`` with τ the steps since the restart
    (torch's CosineAnnealingWarmRestarts stepped per step).  ``first_period`` may be traced (a
    sweep over T_0); ``period_multiplier`` is structural.
    """
    if not is_traced(first_period):
        check_range("first_period", first_period, low=0.0, low_inclusive=False)
        if np.any(np.asarray(first_period) != np.round(np.asarray(first_period))):
            raise ValueError(f"first_period must be a whole number of steps >= 1; got {first_period!r}")
    check_count("period_multiplier", period_multiplier)
    check_range("init_value", init_value, low=0.0)
    check_range("end_value", end_value, low=0.0)

    def schedule(count):
        t, first = _step(count), as_float32(first_period)
        if period_multiplier == 1:
            cycle_start, period = jnp.floor(t / first) * first, first
        else:
            m = float(period_multiplier)
            cycle = jnp.floor(jnp.log1p(t * (m - 1.0) / first) / math.log(m))
            cycle_start = first * (m**cycle - 1.0) / (m - 1.0)
            # float rounding of the log can land one cycle early or late at a boundary: correct it
            cycle = jnp.where(
                t < cycle_start, cycle - 1.0, jnp.where(t >= cycle_start + first * m**cycle, cycle + 1.0, cycle)
            )
            cycle_start = first * (m**cycle - 1.0) / (m - 1.0)
            period = first * m**cycle
        return cosine_decay(init_value, 1.0, end_value)((t - cycle_start) / period)

    return schedule


@hyperparameters(kind="schedule")
def linear_warmup(
    schedule: Schedule, warmup_steps: ArrayLike, *, start_value: ArrayLike = 0.0, total_steps: int | None = None
) -> Schedule:
    """A linear ramp from ``start_value`` to ``schedule(0)`` over ``warmup_steps``, then ``schedule(t - w)``.

    ``total_steps``, when given, is the length of the whole warmed-up run; a warm-up longer than
    it is refused (the schedule behind it would never be reached).  ``schedule``'s own values are
    not checked.
    """
    check_range("warmup_steps", warmup_steps, low=0.0)
    check_range("start_value", start_value, low=0.0)
    _check_schedule("schedule", schedule)
    if total_steps is not None:
        check_count("total_steps", total_steps)
        if not is_traced(warmup_steps) and np.any(np.asarray(warmup_steps) > total_steps):
            raise ValueError(
                f"warmup_steps ({warmup_steps!r}) must not exceed total_steps ({total_steps!r}), the length of the schedule"
            )

    def warmed(count):
        t, w = _step(count), as_float32(warmup_steps)
        ramp = as_float32(start_value) + (schedule(jnp.zeros_like(t)) - as_float32(start_value)) * t / jnp.maximum(
            w, 1.0
        )
        return jnp.where(t < w, ramp, schedule(jnp.maximum(t - w, 0.0)))

    return with_horizon(warmed, shifted(horizon_of(schedule), warmup_steps))


@hyperparameters(kind="schedule")
def warmup_cosine_decay(
    init_value: ArrayLike, peak_value: ArrayLike, warmup_steps: ArrayLike, decay_steps: int, end_value: ArrayLike = 0.0
) -> Schedule:
    """Linear warm-up from ``init_value`` to ``peak_value`` over ``warmup_steps``, then cosine decay
    to ``end_value`` at ``decay_steps`` (the total length, warm-up included, as optax counts it).

    .. math::
        η_t = η_{init} + (η_{peak} - η_{init})\\, t / w \\quad (t < w), \\qquad
        η_t = η_{end} + (η_{peak} - η_{end})\\, ½(1 + \\cos(π (t - w) / (T - w))) \\quad (w \\le t \\le T)
    """
    check_count("decay_steps", decay_steps)
    for name, value in (("init_value", init_value), ("peak_value", peak_value), ("end_value", end_value)):
        check_range(name, value, low=0.0)
    if not is_traced(warmup_steps) and np.any(np.asarray(warmup_steps) >= decay_steps):
        raise ValueError(
            f"warmup_steps ({warmup_steps!r}) must be less than decay_steps ({decay_steps!r}), the length of the whole schedule"
        )
    decay = cosine_decay(peak_value, as_float32(decay_steps) - as_float32(warmup_steps), end_value)
    return with_horizon(linear_warmup(decay, warmup_steps, start_value=init_value), Horizon(decay_steps, "decay_steps"))


@hyperparameters(kind="schedule")
def one_cycle(
    max_value: ArrayLike,
    total_steps: int,
    pct_start: ArrayLike = 0.3,
    *,
    anneal: str = "cos",
    div_factor: ArrayLike = 25.0,
    final_div_factor: ArrayLike = 1e4,
    three_phase: bool = False,
) -> Schedule:
    """The 1cycle policy with torch's phase ends: up to ``max_value`` at step ``pct·N - 1``, down
    to ``max_value / div / final_div`` at ``N - 1`` (three phases: back to the start value at
    ``2·pct·N - 2`` first).  Steps past ``N - 1`` keep the last value."""
    check_count("total_steps", total_steps, minimum=2)
    check_range("max_value", max_value, low=0.0)
    check_range("pct_start", pct_start, low=0.0, high=1.0, low_inclusive=False)
    _positive("div_factor", div_factor)
    _positive("final_div_factor", final_div_factor)
    if anneal not in ("cos", "linear"):
        raise ValueError(f"anneal must be 'cos' or 'linear'; got {anneal!r}")
    peak = as_float32(max_value)
    initial = peak / as_float32(div_factor)
    floor = initial / as_float32(final_div_factor)
    # torch's phase ends, pct·N - 1 (and 2·pct·N - 2), formed in double for a Python float
    first_end = (
        jnp.float32(pct_start * total_steps - 1.0)
        if isinstance(pct_start, numbers.Real)
        else as_float32(pct_start) * total_steps - 1.0
    )
    second_end = (
        jnp.float32(2.0 * pct_start * total_steps - 2.0) if isinstance(pct_start, numbers.Real) else 2.0 * first_end
    )
    if three_phase:
        phases = [
            (first_end, initial, peak),
            (second_end, peak, initial),
            (jnp.float32(total_steps - 1), initial, floor),
        ]
    else:
        phases = [(first_end, initial, peak), (jnp.float32(total_steps - 1), peak, floor)]

    def interpolate(start, end, remaining):
        """``remaining`` = share of the phase still ahead; weights, not differences, so each phase
        hits its end values exactly and a tiny end value keeps its relative accuracy."""
        weight = jnp.sin(jnp.pi * remaining / 2.0) ** 2 if anneal == "cos" else remaining
        return start * weight + end * (1.0 - weight)

    def schedule(count):
        t = jnp.minimum(_step(count), total_steps - 1.0)
        value, phase_start = interpolate(*phases[-1][1:], 0.0), 0.0
        chosen = jnp.zeros_like(t, dtype=bool)
        for end, start_value, end_value in phases:
            inside = ~chosen & (t <= end)
            remaining = (end - t) / jnp.maximum(end - phase_start, 1e-12)
            value = jnp.where(inside, interpolate(start_value, end_value, remaining), value)
            chosen, phase_start = chosen | inside, end
        return value

    return with_horizon(schedule, Horizon(total_steps, "total_steps"))


@hyperparameters(kind="schedule")
def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """``schedules[i]`` from ``boundaries[i-1]`` on, fed its local step ``t - boundaries[i-1]``."""
    points = _sorted_boundaries("boundaries", boundaries)
    if len(schedules) != len(points) + 1:
        raise ValueError(
            f"schedules must have one more entry than boundaries ({len(points) + 1}); got {len(schedules)}"
        )
    for i, schedule in enumerate(schedules):
        _check_schedule(f"schedules[{i}]", schedule)
    starts = np.concatenate([[0.0], np.asarray(points)])

    def joined(count):
        t = _step(count)
        value = schedules[0](t)
        for start, schedule in zip(starts[1:], schedules[1:]):
            value = jnp.where(t >= start, schedule(jnp.maximum(t - start, 0.0)), value)
        return value

    return with_horizon(joined, shifted(horizon_of(schedules[-1]), starts[-1]))


@hyperparameters(kind="schedule")
def from_function(function: Callable) -> Schedule:
    """Any jnp-traceable function of the step, as a float32 schedule (torch's LambdaLR).

    The function's values are not checked (they are traced); one that needs a concrete step (a
    Python ``if`` on it) is refused here, with the ``jnp.where`` form to write instead."""
    _check_schedule("function", function)
    check_traceable("function", function, "step")
    return lambda count: as_float32(function(_step(count)))


@hyperparameters(kind="schedule")
def per_epoch(schedule: Schedule, steps_per_epoch: int) -> Schedule:
    """Holds ``schedule(e)`` for the whole of epoch ``e``: step t uses ``schedule(⌊t / B⌋)``.

    This is a torch scheduler stepped once per epoch of B optimiser steps.
    """
    _check_schedule("schedule", schedule)
    check_count("steps_per_epoch", steps_per_epoch)
    return with_horizon(
        lambda count: schedule(jnp.floor(_step(count) / steps_per_epoch)), scaled(horizon_of(schedule), steps_per_epoch)
    )


def _check_schedule(name: str, schedule) -> None:
    if not callable(schedule):
        raise ValueError(f"{name} must be a callable step -> learning rate; got {schedule!r}")


def _sorted_boundaries(name: str, boundaries, *, allow_repeats: bool = False) -> jnp.ndarray:
    points = np.asarray(list(boundaries), dtype=np.float64)
    if points.ndim != 1 or not np.all(np.isfinite(points)) or np.any(points < 0):
        raise ValueError(f"{name} must be a list of steps >= 0; got {boundaries!r}")
    increasing = np.all(np.diff(points) >= 0) if allow_repeats else np.all(np.diff(points) > 0)
    if not increasing:
        raise ValueError(f"{name} must be sorted in increasing order; got {list(boundaries)!r}")
    return jnp.asarray(points, jnp.float32)
