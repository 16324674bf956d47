"""keras.optimizers.schedules as schedule factories, with Keras's names and boundaries.

Keras calls a schedule with ``optimizer.iterations``, which is 0 on the first update.
"""

from __future__ import annotations

from collections.abc import Sequence

from jaxopt_course import schedules
from jaxopt_course.base import ArrayLike, Schedule
from jaxopt_course.checks import check_range
from jaxopt_course.hyperparams import hyperparameters
from jaxopt_course.numerics import as_float32


@hyperparameters(kind="schedule")
def piecewise_constant_decay(boundaries: Sequence[int], values: Sequence[float]) -> Schedule:
    """``PiecewiseConstantDecay``: a boundary belongs to the interval on its left (the value
    changes at step b + 1)."""
    return schedules.piecewise_constant(boundaries, values, boundary_in_left=True)


@hyperparameters(kind="schedule")
def exponential_decay(
    initial_learning_rate: ArrayLike, decay_steps: ArrayLike, decay_rate: ArrayLike, staircase: bool = False
) -> Schedule:
    """``ExponentialDecay``: ``η_0 · r^(t / k)`` (floored exponent when staircase)."""
    check_range("initial_learning_rate", initial_learning_rate, low=0.0)
    return schedules.exponential_decay(initial_learning_rate, decay_steps, decay_rate=decay_rate, staircase=staircase)


@hyperparameters(kind="schedule")
def inverse_time_decay(
    initial_learning_rate: ArrayLike, decay_steps: ArrayLike, decay_rate: ArrayLike, staircase: bool = False
) -> Schedule:
    """``InverseTimeDecay``: ``η_0 / (1 + r · t / k)`` (floored ratio when staircase)."""
    check_range("initial_learning_rate", initial_learning_rate, low=0.0)
    return schedules.inverse_time_decay(initial_learning_rate, decay_steps, decay_rate=decay_rate, staircase=staircase)


@hyperparameters(kind="schedule")
def cosine_decay(
    initial_learning_rate: ArrayLike,
    decay_steps: int,
    alpha: ArrayLike = 0.0,
    warmup_target: ArrayLike | None = None,
    warmup_steps: int = 0,
) -> Schedule:
    """``CosineDecay``: alpha is a fraction of the peak; with a warm-up, the ramp goes from
    ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps`` and the cosine then runs
    ``decay_steps`` *more* steps."""
    check_range("initial_learning_rate", initial_learning_rate, low=0.0)
    check_range("warmup_steps", warmup_steps, low=0.0)
    peak = initial_learning_rate if warmup_target is None else warmup_target
    cosine = schedules.cosine_decay(peak, decay_steps, end_value=as_float32(alpha) * as_float32(peak))
    if warmup_target is None:
        return cosine
    return schedules.linear_warmup(cosine, warmup_steps, start_value=initial_learning_rate)


@hyperparameters(kind="schedule")
def polynomial_decay(
    initial_learning_rate: ArrayLike,
    decay_steps: ArrayLike,
    end_learning_rate: ArrayLike = 1e-4,
    power: ArrayLike = 1.0,
    cycle: bool = False,
) -> Schedule:
    """``PolynomialDecay``: ``(η_0 - η_end)(1 - min(t, T)/T)^p + η_end``, exactly ``η_end`` from T on."""
    check_range("initial_learning_rate", initial_learning_rate, low=0.0)
    check_range("end_learning_rate", end_learning_rate, low=0.0)
    return schedules.polynomial_decay(
        initial_learning_rate, end_learning_rate, decay_steps=decay_steps, power=power, cycle=cycle
    )
