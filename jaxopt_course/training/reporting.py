"""A ``lax.scan`` that reports progress to the open progress bar after every chunk of items.

The reports come from an outer scan over chunks of the items, never from a branch inside the
scanned body (a per-item branch would cost about 20% of a tiny step).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxopt_course.progress import tick


def reports_inside(length: int, every: int) -> bool:
    """Whether a scan of ``length`` items reports from inside (at least two chunks of ``every``)."""
    return every > 0 and length >= 2 * every


def scan_reporting(body, carry, xs, length: int, every: int, steps_per_item: int):
    """``lax.scan(body, carry, xs)`` over ``length`` items (steps, or epochs of ``steps_per_item``
    steps) that reports ``chunk · steps_per_item`` steps done after every chunk of about ``every``
    items; a plain scan when :func:`reports_inside` is False."""
    if not reports_inside(length, every):
        return jax.lax.scan(body, carry, xs)
    chunk = chunk_size(length, every)
    whole = length // chunk * chunk

    def chunk_body(c, chunk_xs):
        c, out = jax.lax.scan(body, c, chunk_xs)
        jax.debug.callback(tick, chunk * steps_per_item, ordered=False)
        return c, out

    head = jax.tree.map(lambda a: a[:whole].reshape(length // chunk, chunk, *a.shape[1:]), xs)
    carry, out = jax.lax.scan(chunk_body, carry, head)
    out = jax.tree.map(lambda a: a.reshape(whole, *a.shape[2:]), out)
    if whole < length:  # a remainder no chunk size near ``every`` divides evenly
        carry, rest = jax.lax.scan(body, carry, jax.tree.map(lambda a: a[whole:], xs))
        out = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), out, rest)
    return carry, out


def chunk_size(length: int, every: int) -> int:
    """A divisor of ``length`` in [every/2, every] if there is one (one scan, no remainder), else ``every``."""
    for size in range(every, max(every // 2, 1) - 1, -1):
        if length % size == 0:
            return size
    return every
