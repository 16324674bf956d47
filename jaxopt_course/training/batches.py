"""Which samples a step of the per-step modes trains on: its batch indices, drawn from its own key.

A step's batch is B indices in ``0 … N-1``: i.i.d. draws (``"replacement"``, or B = 1), or B
distinct ones, a uniformly random ordered sample without replacement (``"single_batch"``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxopt_course.checks import is_count
from jaxopt_course.training.plan import Plan


def drawn_batch(plan: Plan, key: jax.Array) -> jax.Array | None:
    """Indices of one step's batch in the per-step modes; None means the whole data set.

    With replacement (or B = 1) they are B i.i.d. ``randint`` draws.  Without replacement and
    B ≤ N/2 they are :func:`distinct_draws`, the first B distinct values of a stream of uniform
    draws; above N/2 that stream repeats itself so often that the indices of the B largest of N
    uniforms (a ``top_k``) cost less.  With B = N every sample is in the batch, and the order does
    not change a mean loss, so no indices are drawn at all.
    """
    if plan.sampling == "replacement" or plan.batch_size == 1:
        return jax.random.randint(key, (plan.batch_size,), 0, plan.num_samples)
    if plan.batch_size == plan.num_samples:
        return None
    if 2 * plan.batch_size <= plan.num_samples:
        return distinct_draws(key, plan.num_samples, plan.batch_size)
    return jax.lax.top_k(jax.random.uniform(key, (plan.num_samples,)), plan.batch_size)[1]


def distinct_draws(key: jax.Array, n: int, count: int, *, per_round: int | None = None) -> jax.Array:
    r"""``count`` distinct indices in ``0 … n-1``: a uniformly random ordered sample without replacement.

    Sequential sampling: draw :math:`v_1, v_2, \dots` i.i.d. uniform on :math:`\{0, \dots, n-1\}`
    and keep each value the first time it appears.  Conditioned on the values kept so far, the next
    new one is uniform over the rest, so the result has the law of the first ``count`` entries of
    a uniformly random permutation (the first batch of a fresh ``DataLoader(shuffle=True)``).

    Draws come ``per_round`` at a time (default 2·count); rounds repeat until ``count`` values are
    kept.  The expected number of draws is :math:`n \ln\frac{n}{n-\text{count}}`, at most
    1.39·count when count ≤ n/2, so a second round is rare (E3, 128 of 1000: never in practice).
    One round is a scatter into an n-long array and a prefix sum over the round, cheaper than a
    ``top_k`` over n uniforms (docs/performance.md gives the measurements).
    """
    per_round = 2 * count if per_round is None else per_round
    for name, value, low, high in (
        ("n", n, 1, 2**31 - 1),
        ("count", count, 1, n),
        ("per_round", per_round, 1, 2**31 - 1),
    ):
        if not is_count(value) or not low <= value <= high:
            raise ValueError(f"distinct_draws: {name} must be an integer in [{low}, {high}]; got {value!r}")
    never = jnp.iinfo(jnp.int32).max

    def one_round(state):
        batch, kept, first, number = state
        value, exact = _uniform_below(jax.random.bits(jax.random.fold_in(key, number), (per_round,), jnp.uint32), n)
        # the position in the whole stream (int32: it would wrap only after 2³¹ draws, about a
        # million times the expected number when count ≤ n/2)
        position = number * per_round + jnp.arange(per_round, dtype=jnp.int32)
        # each value's first position in the stream so far; rejected draws (index n) are dropped
        first = first.at[jnp.where(exact, value, n)].min(position, mode="drop")
        new = exact & (first[value] == position)
        slot = kept + jnp.cumsum(new, dtype=jnp.int32) - 1
        batch = batch.at[jnp.where(new & (slot < count), slot, count)].set(value, mode="drop")
        return batch, jnp.minimum(kept + new.sum(dtype=jnp.int32), count), first, number + 1

    start = (jnp.zeros((count,), jnp.int32), jnp.int32(0), jnp.full((n,), never, jnp.int32), jnp.int32(0))
    return jax.lax.while_loop(lambda state: state[1] < count, one_round, start)[0]


def _uniform_below(bits: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    r"""Lemire's map of uint32 ``bits`` to ``0 … n-1``: :math:`\lfloor bits \cdot n / 2^{32} \rfloor`,
    exactly uniform once the draws whose low word :math:`bits \cdot n \bmod 2^{32}` is below
    :math:`2^{32} \bmod n` are rejected.  Returns (values as int32, whether each is kept).

    The high word of the 64-bit product is assembled from 16-bit halves, so it needs no 64-bit type.
    """
    low = bits * jnp.uint32(n)  # uint32 products wrap: the low word
    keep = low >= jnp.uint32((1 << 32) % n)
    a_high, a_low = bits >> 16, bits & 0xFFFF
    b_high, b_low = jnp.uint32(n >> 16), jnp.uint32(n & 0xFFFF)
    low_low, low_high, high_low = a_low * b_low, a_low * b_high, a_high * b_low
    middle = (low_low >> 16) + (low_high & 0xFFFF) + (high_low & 0xFFFF)
    high = a_high * b_high + (low_high >> 16) + (high_low >> 16) + (middle >> 16)
    return high.astype(jnp.int32), keep
