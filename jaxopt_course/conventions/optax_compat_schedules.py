"""optax's schedules, name for name, with optax's edge cases (``conventions.optax_compat`` re-exports them).

Unlike ``jaxopt_course.schedules``, these accept what optax accepts: zero or negative transition
steps give a constant schedule, values may be negative, ``decay_rate = 0`` holds the initial
value.  Step counts and the one-cycle fractions are structural (Python numbers); every other
float may be an array or a traced value.  docs/conventions.md has the formulas.
"""

from __future__ import annotations

import logging

import jax.numpy as jnp

from jaxopt_course.base import ArrayLike, Schedule
from jaxopt_course.checks import is_traced
from jaxopt_course.hyperparams import hyperparameters


def _float(count):
    return jnp.asarray(count).astype(jnp.float32)


@hyperparameters(kind="schedule")
def constant_schedule(value: ArrayLike) -> Schedule:
    """``optax.constant_schedule``: ``η_t = value``."""
    return lambda count: value


@hyperparameters(kind="schedule")
def polynomial_schedule(
    init_value: ArrayLike, end_value: ArrayLike, power: ArrayLike, transition_steps: int, transition_begin: int = 0
) -> Schedule:
    """``optax.polynomial_schedule``: ``(I - E)(1 - (t - B)/T)^p + E`` for ``B <= t < B + T``;
    I before B, E after; ``T <= 0`` is the constant I."""
    if transition_steps <= 0:
        logging.info("polynomial_schedule: transition_steps <= 0, a constant schedule of init_value")
        return constant_schedule(init_value)
    transition_begin = max(transition_begin, 0)

    def schedule(count):
        steps = jnp.float32(transition_steps)
        t = jnp.clip(_float(count) - transition_begin, 0.0, steps)
        fraction = 1.0 - t / steps
        return (init_value - end_value) * fraction**power + end_value

    return schedule


@hyperparameters(kind="schedule")
def linear_schedule(
    init_value: ArrayLike, end_value: ArrayLike, transition_steps: int, transition_begin: int = 0
) -> Schedule:
    """``optax.linear_schedule``: :func:`polynomial_schedule` with power 1."""
    return polynomial_schedule(
        init_value, end_value, power=1, transition_steps=transition_steps, transition_begin=transition_begin
    )


@hyperparameters(kind="schedule")
def exponential_decay(
    init_value: ArrayLike,
    transition_steps: int,
    decay_rate: ArrayLike,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: ArrayLike | None = None,
) -> Schedule:
    """``optax.exponential_decay``: ``I · r^((t - B) / T)`` from B on (floored exponent when
    staircase), bounded by ``end_value`` (below when r < 1, above otherwise); ``T <= 0`` and
    ``r = 0`` give the constant I."""
    if transition_steps <= 0:
        logging.info("exponential_decay: transition_steps <= 0, a constant schedule of init_value")
        return constant_schedule(init_value)
    transition_begin = max(transition_begin, 0)

    def schedule(count):
        t = _float(count) - transition_begin
        exponent = t / jnp.float32(transition_steps)
        if staircase:
            exponent = jnp.floor(exponent)
        decayed = jnp.where(t <= 0, init_value, init_value * jnp.power(decay_rate, exponent))
        if end_value is not None:
            decayed = jnp.where(decay_rate < 1, jnp.maximum(decayed, end_value), jnp.minimum(decayed, end_value))
        return jnp.where(decay_rate == 0, init_value, decayed)

    return schedule


@hyperparameters(kind="schedule")
def cosine_decay_schedule(
    init_value: ArrayLike, decay_steps: int, alpha: ArrayLike = 0.0, exponent: ArrayLike = 1.0
) -> Schedule:
    """``optax.cosine_decay_schedule``: ``I (α + (1 - α) [½(1 + cos(π t / T))]^p)``, clamped at T."""
    if not decay_steps > 0:
        raise ValueError(f"cosine_decay_schedule requires decay_steps > 0; got {decay_steps!r}")

    steps = jnp.float32(decay_steps)  # a count past int32 still works

    def schedule(count):
        t = jnp.minimum(_float(count), steps)
        cosine = 0.5 * (1.0 + jnp.cos(jnp.pi * t / steps))
        return init_value * ((1.0 - alpha) * cosine**exponent + alpha)

    return schedule


@hyperparameters(kind="schedule")
def join_schedules(schedules, boundaries) -> Schedule:
    """``optax.join_schedules``: ``schedules[i]`` from ``boundaries[i-1]`` on, at ``t - boundaries[i-1]``."""

    def schedule(count):
        output = schedules[0](count)
        for boundary, following in zip(boundaries, schedules[1:]):
            output = jnp.where(count < boundary, output, following(count - boundary))
        return output

    return schedule


@hyperparameters(kind="schedule")
def warmup_cosine_decay_schedule(
    init_value: ArrayLike,
    peak_value: ArrayLike,
    warmup_steps: int,
    decay_steps: int,
    end_value: ArrayLike = 0.0,
    exponent: ArrayLike = 1.0,
) -> Schedule:
    """``optax.warmup_cosine_decay_schedule``: linear from I to the peak over ``warmup_steps``,
    then cosine to ``end_value`` at ``decay_steps`` (the total length)."""
    if decay_steps - warmup_steps <= 0:
        raise ValueError(f"decay_steps ({decay_steps!r}) must exceed warmup_steps ({warmup_steps!r})")
    alpha = jnp.where(
        jnp.asarray(peak_value) == 0, 0.0, end_value / jnp.where(jnp.asarray(peak_value) == 0, 1.0, peak_value)
    )
    warmup = linear_schedule(init_value, peak_value, warmup_steps)
    decay = cosine_decay_schedule(peak_value, decay_steps - warmup_steps, alpha, exponent)
    return join_schedules([warmup, decay], [warmup_steps])


@hyperparameters(kind="schedule", static=("boundaries_and_scales",))
def piecewise_constant_schedule(init_value: ArrayLike, boundaries_and_scales: dict | None = None) -> Schedule:
    """``optax.piecewise_constant_schedule``: ``I`` times every scale whose boundary ``b <= t``."""
    items = sorted((boundaries_and_scales or {}).items())
    for _, scale in items:
        if not is_traced(scale) and scale < 0:
            raise ValueError(f"piecewise_constant_schedule's scales must be >= 0; got {scale!r}")

    def schedule(count):
        value = init_value
        for boundary, scale in items:
            value = jnp.where(count >= boundary, value * scale, value)
        return value

    return schedule


@hyperparameters(kind="schedule", static=("boundaries_and_scales",))
def piecewise_interpolate_schedule(
    interpolate_type: str, init_value: ArrayLike, boundaries_and_scales: dict | None = None
) -> Schedule:
    """``optax.piecewise_interpolate_schedule``: the value after boundary ``b_i`` is ``I · Π s_j``
    (j <= i), and between boundaries it moves linearly or along half a cosine."""
    if interpolate_type not in ("linear", "cosine"):
        raise ValueError(f"interpolate_type must be 'linear' or 'cosine'; got {interpolate_type!r}")
    items = sorted((boundaries_and_scales or {}).items())
    if any(not is_traced(scale) and scale < 0 for _, scale in items):
        raise ValueError("piecewise_interpolate_schedule's scales must be >= 0")
    bounds = [0] + [int(b) for b, _ in items]
    values = [init_value]
    for _, scale in items:
        values.append(values[-1] * scale)

    def interpolate(start, end, fraction):
        if interpolate_type == "linear":
            return start + (end - start) * fraction
        return end + (start - end) * 0.5 * (1.0 + jnp.cos(jnp.pi * fraction))

    def schedule(count):
        t = _float(count)
        value = jnp.asarray(values[-1], jnp.float32)
        for i in range(len(bounds) - 1, 0, -1):
            start, end = bounds[i - 1], bounds[i]
            fraction = jnp.clip((t - start) / max(end - start, 1), 0.0, 1.0)
            value = jnp.where(t < end, interpolate(values[i - 1], values[i], fraction), value)
        return (
            jnp.where(t < bounds[0], values[0], value)
            if items
            else jnp.broadcast_to(jnp.asarray(init_value, jnp.float32), jnp.shape(t))
        )

    return schedule


@hyperparameters(kind="schedule", static=("pct_start", "pct_final"))
def linear_onecycle_schedule(
    transition_steps: int,
    peak_value: ArrayLike,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    """``optax.linear_onecycle_schedule``: up to the peak at ``⌊pct_start·N⌋``, back to
    ``peak/div`` at ``⌊pct_final·N⌋``, down to ``peak/div/final_div`` at N.

    ``pct_start`` and ``pct_final`` must be concrete (they place the boundaries)."""
    if transition_steps <= 0:
        raise ValueError(f"transition_steps must be > 0; got {transition_steps!r}")
    boundaries = {
        int(pct_start * transition_steps): div_factor,
        int(pct_final * transition_steps): 1.0 / div_factor,
        transition_steps: 1.0 / final_div_factor,
    }
    return piecewise_interpolate_schedule("linear", peak_value / div_factor, boundaries)


@hyperparameters(kind="schedule", static=("pct_start", "pct_final"))
def cosine_onecycle_schedule(
    transition_steps: int,
    peak_value: ArrayLike,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    """``optax.cosine_onecycle_schedule``: half a cosine up to the peak at ``⌊pct_start·N⌋``, then
    down to ``peak/div/final_div`` at N.  ``pct_start`` must be concrete."""
    if transition_steps <= 0:
        raise ValueError(f"transition_steps must be > 0; got {transition_steps!r}")
    boundaries = {
        int(pct_start * transition_steps): div_factor,
        transition_steps: 1.0 / (div_factor * final_div_factor),
    }
    return piecewise_interpolate_schedule("cosine", peak_value / div_factor, boundaries)
