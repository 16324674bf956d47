"""torch.optim.lr_scheduler as schedule factories: the base learning rate first, torch's names.

A factory returns the learning rate that optimiser update k uses when torch's scheduler is stepped
once after every ``steps_per_epoch`` optimiser steps (1: after every step).  The scheduler's
constructor step is counted: update 0 already uses ``f(0)`` (LinearLR starts at
``lr · start_factor``).  Pass the result as the ``lr`` of a ``conventions.pytorch`` optimiser.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from jaxopt_course import schedules
from jaxopt_course.base import ArrayLike, Schedule
from jaxopt_course.checks import check_count, check_range, check_traceable
from jaxopt_course.horizons import Horizon, steps_of, with_horizon
from jaxopt_course.hyperparams import hyperparameters
from jaxopt_course.numerics import as_float32


def _check_lr_gamma(lr, gamma) -> None:
    check_range("lr", lr, low=0.0)
    check_range("gamma", gamma, low=0.0)


def _stepped(schedule: Schedule, steps_per_epoch: int) -> Schedule:
    return schedules.per_epoch(schedule, steps_per_epoch) if steps_per_epoch != 1 else schedule


@hyperparameters(kind="schedule")
def step_lr(lr: ArrayLike, step_size: int, gamma: ArrayLike = 0.1, *, steps_per_epoch: int = 1) -> Schedule:
    """``StepLR``: ``lr · γ^⌊e / step_size⌋``."""
    _check_lr_gamma(lr, gamma)
    check_range("step_size", step_size, low=0.0, low_inclusive=False)
    return _stepped(schedules.step_decay(lr, step_size, gamma=gamma), steps_per_epoch)


@hyperparameters(kind="schedule")
def multi_step_lr(
    lr: ArrayLike, milestones: Sequence[int], gamma: ArrayLike = 0.1, *, steps_per_epoch: int = 1
) -> Schedule:
    """``MultiStepLR``: ``lr · γ^(milestones passed)``; a milestone listed twice applies γ twice."""
    _check_lr_gamma(lr, gamma)
    return _stepped(schedules.multi_step_decay(lr, sorted(milestones), gamma=gamma), steps_per_epoch)


@hyperparameters(kind="schedule")
def exponential_lr(lr: ArrayLike, gamma: ArrayLike, *, steps_per_epoch: int = 1) -> Schedule:
    """``ExponentialLR``: ``lr · γ^e``."""
    _check_lr_gamma(lr, gamma)
    return _stepped(schedules.exponential_decay(lr, 1, decay_rate=gamma), steps_per_epoch)


@hyperparameters(kind="schedule")
def cosine_annealing_lr(lr: ArrayLike, T_max: int, eta_min: ArrayLike = 0.0, *, steps_per_epoch: int = 1) -> Schedule:  # noqa: N803
    """``CosineAnnealingLR``: not clamped at T_max: it rises again with period 2·T_max."""
    check_range("lr", lr, low=0.0)
    check_range("T_max", T_max, low=0.0, low_inclusive=False)
    check_range("eta_min", eta_min, low=0.0)
    cosine = _stepped(schedules.cosine_decay(lr, T_max, end_value=eta_min, periodic=True), steps_per_epoch)
    steps = steps_of(T_max)
    return with_horizon(cosine, None if steps is None else Horizon(steps * steps_per_epoch, "T_max", steps_per_epoch))


@hyperparameters(kind="schedule")
def lambda_lr(lr: ArrayLike, lr_lambda: Callable, *, steps_per_epoch: int = 1) -> Schedule:
    """``LambdaLR``: ``lr · lr_lambda(e)``.

    ``lr_lambda`` receives the epoch as a traced float32 scalar, so it is written with jnp:
    torch's ``lambda epoch: 0.1 if epoch < 10 else 0.01`` is ``lambda epoch: jnp.where(epoch < 10,
    0.1, 0.01)``.  One with a Python ``if`` on the epoch is refused here, showing that form.
    """
    check_traceable("lr_lambda", lr_lambda, "epoch")
    return _stepped(schedules.from_function(lambda e: as_float32(lr) * lr_lambda(e)), steps_per_epoch)


@hyperparameters(kind="schedule")
def linear_lr(
    lr: ArrayLike,
    start_factor: float = 1.0 / 3.0,
    end_factor: float = 1.0,
    total_iters: int = 5,
    *,
    steps_per_epoch: int = 1,
) -> Schedule:
    """``LinearLR``: ``lr · (s + (e_f - s) · min(e, T) / T)``."""
    check_count("total_iters", total_iters)
    check_range("start_factor", start_factor, low=0.0, high=1.0, low_inclusive=False, high_inclusive=True)
    check_range("end_factor", end_factor, low=0.0, high=1.0, high_inclusive=True)
    factor = schedules.polynomial_decay(start_factor, end_factor, decay_steps=total_iters)
    return _stepped(lambda e: as_float32(lr) * factor(e), steps_per_epoch)


@hyperparameters(kind="schedule")
def one_cycle_lr(
    max_lr: ArrayLike,
    total_steps: int,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
    *,
    steps_per_epoch: int = 1,
) -> Schedule:
    """``OneCycleLR`` (learning rate only; torch also cycles momentum).

    Note: torch's OneCycleLR has its own ``epochs``/``steps_per_epoch`` pair, which only computes
    ``total_steps``; here give ``total_steps`` (the number of scheduler steps) directly, and
    ``steps_per_epoch`` keeps its meaning in this module: optimiser steps per scheduler step.
    """
    check_range("max_lr", max_lr, low=0.0)
    if anneal_strategy not in ("cos", "linear"):
        raise ValueError(f"anneal_strategy must be 'cos' or 'linear'; got {anneal_strategy!r}")
    schedule = schedules.one_cycle(
        max_lr,
        total_steps,
        pct_start=pct_start,
        anneal=anneal_strategy,
        div_factor=div_factor,
        final_div_factor=final_div_factor,
        three_phase=three_phase,
    )
    return _stepped(schedule, steps_per_epoch)
