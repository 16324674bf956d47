"""Schedule horizons: how many steps a schedule is built for, and a warning when a run is longer.

A cosine annealed over T steps has done its work at step T: optax's and Keras's then hold the
floor, torch's CosineAnnealingLR climbs back to the base rate (period 2T), and torch's OneCycleLR
refuses to step further.  A run longer than that is almost always a mistake of units (T_max in
epochs while the schedule counts steps, or the other way round).  A schedule factory states its
horizon by returning ``with_horizon(function, Horizon(...))``; ``schedule.horizon`` holds it (None
when the factory states none, or when the argument that sets it is traced); and
:func:`check_horizon` warns when a run of ``num_steps`` steps outlives it.

Schedules built on others carry the horizon through: :func:`scaled` (a schedule held for whole
epochs), :func:`shifted` (a schedule started after a warm-up or a join's boundary).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import numpy as np

from jaxopt_course.checks import is_traced
from jaxopt_course.hyperparams import Schedule, ScheduleWithHorizon, Transform

__all__ = ["Horizon", "check_horizon", "horizon_of", "scaled", "shifted", "steps_of", "with_horizon"]


class Horizon(NamedTuple):
    """A schedule's horizon: it is built for ``steps`` optimiser steps (0 .. steps - 1).

    ``steps = parameter's value × steps_per_unit + offset``: ``parameter`` names the factory's
    argument that sets it (``T_max``, ``decay_steps``, ``total_steps``), ``steps_per_unit`` the
    optimiser steps one unit of it stands for (``steps_per_epoch`` for a scheduler stepped per
    epoch, 1 for one counted in steps), ``offset`` the steps before it starts (a warm-up).
    """

    steps: int
    parameter: str
    steps_per_unit: int = 1
    offset: int = 0

    def needed(self, num_steps: int) -> int:
        """The least value of ``parameter`` whose horizon covers a run of ``num_steps`` steps."""
        return max(1, math.ceil((num_steps - self.offset) / self.steps_per_unit))


def steps_of(value: Any) -> int | None:
    """A step count from a schedule's argument: the smallest of an array's values, rounded up;
    None for a traced value (its horizon is unknown when the schedule is built)."""
    if value is None or is_traced(value):
        return None
    return math.ceil(float(np.min(np.asarray(value, dtype=np.float64))))


def with_horizon(function, horizon: Horizon | None) -> ScheduleWithHorizon:
    """What a schedule factory returns to state the horizon of ``function``."""
    return ScheduleWithHorizon(function, horizon)


def horizon_of(schedule: Any) -> Horizon | None:
    """``schedule.horizon`` for a schedule of this package; None for any other callable or number."""
    return schedule.horizon if isinstance(schedule, Schedule) else None


def scaled(horizon: Horizon | None, steps_per_epoch: int) -> Horizon | None:
    """The horizon of a schedule whose every step is held for ``steps_per_epoch`` optimiser steps."""
    if horizon is None:
        return None
    return Horizon(
        horizon.steps * steps_per_epoch,
        horizon.parameter,
        horizon.steps_per_unit * steps_per_epoch,
        horizon.offset * steps_per_epoch,
    )


def shifted(horizon: Horizon | None, start: Any) -> Horizon | None:
    """The horizon of a schedule that starts ``start`` steps late (None if ``start`` is traced)."""
    offset = steps_of(start)
    if horizon is None or offset is None:
        return None
    return horizon._replace(steps=horizon.steps + offset, offset=horizon.offset + offset)


def _schedules_in(node: Any, found: dict) -> None:
    """The outermost schedules with a horizon in an optimiser or schedule.  The parts of a
    schedule with a horizon are not visited (their horizons count in its units, epochs say);
    those of one without (a learning rate wrapped in torch's ``lr_decay``) are."""
    if isinstance(node, Schedule) and node.horizon is not None:
        found.setdefault(id(node), node)
    elif isinstance(node, (Schedule, Transform)):
        for child in node.children:
            _schedules_in(child, found)


def _name(schedule: Schedule) -> str:
    factory = schedule.recipe.factory
    module = getattr(factory, "__module__", "") or ""
    return f"{module.removeprefix('jaxopt_course.')}.{factory.__qualname__}"


def check_horizon(schedule_or_optimizer: Any, num_steps: int, *, stacklevel: int = 2) -> None:
    """Warns (``UserWarning``) for every schedule whose horizon is shorter than a run of ``num_steps``.

    ``schedule_or_optimizer`` is a schedule, or an optimiser of this package (its learning-rate
    schedules are found through its numbers, inside chains too).  Plain callables, optax's own
    transforms and schedules that state no horizon are not checked.  The warning names the
    schedule, its horizon, the run's length and the value of the argument that would cover it.

    Example:
      >>> import warnings
      >>> from jaxopt_course.conventions import pytorch
      >>> opt = pytorch.sgd(pytorch.cosine_annealing_lr(0.1, T_max=10, steps_per_epoch=5))
      >>> with warnings.catch_warnings(record=True) as caught:
      ...     warnings.simplefilter("always")
      ...     check_horizon(opt, 100)
      >>> "raise T_max to at least 20" in str(caught[0].message)
      True
    """
    found: dict = {}
    _schedules_in(schedule_or_optimizer, found)
    for schedule in found.values():
        horizon = schedule.horizon
        if num_steps <= horizon.steps:
            continue
        value = (horizon.steps - horizon.offset) // horizon.steps_per_unit
        per_epoch = f" epochs × {horizon.steps_per_unit} steps per epoch" if horizon.steps_per_unit != 1 else ""
        warmup = f", + {horizon.offset} steps before it" if horizon.offset else ""
        fix = f"raise {horizon.parameter} to at least {horizon.needed(num_steps)}"
        if horizon.steps_per_unit != 1 and not horizon.offset:
            fix += f" (num_steps // steps_per_epoch = {num_steps // horizon.steps_per_unit} for a run of whole epochs)"
        warnings.warn(
            f"{_name(schedule)} has a horizon of {horizon.steps} steps ({horizon.parameter} = {value}{per_epoch}{warmup}), "
            f"shorter than this run of {num_steps} steps: from step {horizon.steps} on it is past the end it was built for "
            f"(torch's cosine climbs back to the base rate, a clamped schedule holds its floor); {fix}, or run fewer steps",
            UserWarning,
            stacklevel=stacklevel,
        )
