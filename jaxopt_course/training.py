"""``fit``: a whole training run as one jit-compiled ``lax.scan`` program.

Batch, stochastic and mini-batch gradient descent are the same loop with a different
``batch_size`` (N, 1, or in between).  Three ways to draw batches:

* ``"epoch"``: shuffle once per epoch and visit every sample exactly once, in ``ceil(N/B)``
  iterations; the last, smaller batch is a real batch of ``N mod B`` samples (so its mean loss is
  over real samples only), or is dropped with ``drop_last=True``.
* ``"sequential"``: the same epochs without shuffling, the data's own order every epoch (a
  ``DataLoader(shuffle=False)``, as the course's E4 and E5 use).
* ``"single_batch"``: the course's ``next(iter(DataLoader(shuffle=True)))``: every step draws a
  fresh batch of B distinct samples.
* ``"replacement"``: every step draws B i.i.d. indices.

In the per-step modes, without ``eval_data`` or early stopping, nothing happens between epochs and
the run is one flat scan over its steps (epochs only group the log); otherwise it scans epochs, each
a scan of steps.  Progress reports come from an outer scan over chunks of steps (or of epochs),
never from a branch inside the step.

:func:`train` is the pure core (traceable, ``vmap``-able over keys and hyper-parameters: the sweep
engine builds on it); :func:`fit` validates its input, compiles once per run shape, shows a
progress bar and flags a loss that stops being finite.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxopt_course.learning_rate import latest_learning_rate
from jaxopt_course.data import num_samples_of
from jaxopt_course.progress import ProgressBar, tick

SAMPLING = ("epoch", "sequential", "single_batch", "replacement")
MIN_STEPS_PER_REPORT = 2000  # progress reports at least this many steps apart
WHOLE_EPOCHS = ("epoch", "sequential")


@dataclasses.dataclass(frozen=True)
class Plan:
    """The static shape of a run: how many epochs, steps and samples per step."""

    num_samples: int
    batch_size: int
    sampling: str
    num_epochs: int  # whole epochs
    steps_per_epoch: int  # ceil(N/B) in "epoch" mode (N//B with drop_last)
    tail_steps: int = 0  # steps after the last whole epoch (not in "epoch" mode)
    drop_last: bool = False

    @property
    def last_batch_size(self) -> int:
        """Size of an epoch's final batch in "epoch" mode (B when B divides N or with drop_last)."""
        remainder = self.num_samples % self.batch_size
        return self.batch_size if remainder == 0 or self.drop_last else remainder

    @property
    def num_steps(self) -> int:
        return self.num_epochs * self.steps_per_epoch + self.tail_steps

    @property
    def num_logged_epochs(self) -> int:
        return self.num_epochs + (1 if self.tail_steps else 0)


def make_plan(
    num_samples: int,
    batch_size: int,
    *,
    num_epochs: int | None = None,
    num_steps: int | None = None,
    sampling: str = "epoch",
    drop_last: bool = False,
) -> Plan:
    """Checks the run's static arguments and returns its :class:`Plan`."""
    if sampling not in SAMPLING:
        raise ValueError(f"sampling must be one of {SAMPLING}; got {sampling!r}")
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or not 1 <= batch_size <= num_samples:
        raise ValueError(f"batch_size must be an integer in [1, {num_samples}] (the number of samples); got {batch_size!r}")
    if (num_epochs is None) == (num_steps is None):
        raise ValueError(f"give exactly one of num_epochs and num_steps; got num_epochs={num_epochs!r}, num_steps={num_steps!r}")
    for name, value in (("num_epochs", num_epochs), ("num_steps", num_steps)):
        if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    per_epoch = num_samples // batch_size if (drop_last and sampling in WHOLE_EPOCHS) else math.ceil(num_samples / batch_size)
    if num_epochs is not None:
        return Plan(num_samples, batch_size, sampling, int(num_epochs), per_epoch, 0, drop_last)
    epochs, tail = divmod(int(num_steps), per_epoch)
    if sampling in WHOLE_EPOCHS and tail:
        raise ValueError(
            f'num_steps={num_steps} is not a whole number of epochs ({per_epoch} steps each) in "{sampling}" '
            'mode; give num_epochs, or use sampling="single_batch"'
        )
    return Plan(num_samples, batch_size, sampling, epochs, per_epoch, tail, drop_last)


@dataclasses.dataclass(frozen=True)
class EarlyStopping:
    """Stop when the evaluation loss has not improved by ``min_delta`` for ``patience`` epochs."""

    patience: int = 5
    min_delta: float = 0.0
    restore_best: bool = True

    def __post_init__(self):
        if not isinstance(self.patience, int) or self.patience < 1:
            raise ValueError(f"patience must be a positive integer; got {self.patience!r}")
        if not self.min_delta >= 0:
            raise ValueError(f"min_delta must be >= 0; got {self.min_delta!r}")


class History(NamedTuple):
    """What a run returns (a pytree: it passes through ``jit`` and ``vmap``)."""

    step_loss: jax.Array  # [num_steps] training loss of each step's batch (NaN once stopped early)
    epoch_loss: jax.Array  # [num_epochs] mean training loss per epoch, weighted by batch size
    eval_loss: jax.Array  # [num_epochs] loss on eval_data after each epoch (NaN without eval_data)
    learning_rate: jax.Array  # [num_steps] η used by each step (NaN if the optimiser keeps none)
    params: Any  # final parameters (the best ones when early stopping restores them)
    first_nonfinite_step: jax.Array  # int32: first step whose loss is NaN or inf, -1 if none
    best_epoch: jax.Array  # int32: epoch of the lowest eval loss (-1 without eval_data)
    stopped_epoch: jax.Array  # int32: epoch at which early stopping fired, -1 if it did not


class _Carry(NamedTuple):
    params: Any
    opt_state: Any
    best_params: Any
    best_loss: jax.Array
    best_epoch: jax.Array
    stopped_epoch: jax.Array


def takes_key(loss_fn: Callable) -> bool:
    """Whether ``loss_fn`` accepts a third (PRNG key) argument, for dropout."""
    try:
        parameters = inspect.signature(loss_fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3 or any(p.kind is p.VAR_POSITIONAL for p in parameters)


def _batch_indices(plan: Plan, key: jax.Array) -> jax.Array | None:
    """Indices of one step's batch in the per-step modes; None means the whole data set.

    Without replacement, the B smallest of N uniform draws are a uniformly random B-subset: a
    ``top_k`` costs a fifth of a full permutation.  With B = N every sample is in the batch, and
    the order does not change a mean loss, so no indices are drawn at all.
    """
    if plan.sampling == "replacement" or plan.batch_size == 1:
        return jax.random.randint(key, (plan.batch_size,), 0, plan.num_samples)
    if plan.batch_size == plan.num_samples:
        return None
    return jax.lax.top_k(jax.random.uniform(key, (plan.num_samples,)), plan.batch_size)[1]


def train(
    loss_fn: Callable,
    params: Any,
    optimizer: optax.GradientTransformation,
    data: tuple,
    key: jax.Array,
    plan: Plan,
    eval_data: tuple | None = None,
    early_stopping: EarlyStopping | None = None,
    progress_every: int = 0,
) -> History:
    """The pure training run behind :func:`fit`: traceable, jittable and vmappable.

    ``loss_fn(params, batch)`` or ``loss_fn(params, batch, key)`` returns the mean loss of a batch
    ``(x, y)``; ``optimizer`` may be built from traced hyper-parameters (what a sweep does).  Step k
    uses ``jax.random.fold_in`` of ``key`` for its batch and its dropout, so the same key gives the
    same run bit for bit.  ``progress_every`` > 0 reports every that many steps to the active
    progress bar (host callback; 0 for none, as under ``vmap``).
    """
    with_key = takes_key(loss_fn)
    sample_key, dropout_key = jax.random.split(key)
    x_all = jax.tree.map(jnp.asarray, data)

    def step(carry, indices, step_number):
        params, opt_state = carry
        batch = x_all if indices is None else jax.tree.map(lambda a: a[indices], x_all)
        args = (params, batch, jax.random.fold_in(dropout_key, step_number)) if with_key else (params, batch)
        loss, grads = jax.value_and_grad(loss_fn)(*args)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), (loss, latest_learning_rate(opt_state))

    def run_epoch(carry, epoch, num_steps):
        """Trains one epoch of ``num_steps`` steps; returns step losses, rates, batch sizes."""
        first_step = epoch * plan.steps_per_epoch
        if plan.sampling in WHOLE_EPOCHS:
            if plan.sampling == "sequential":
                order = jnp.arange(plan.num_samples)
            else:
                order = jax.random.permutation(jax.random.fold_in(sample_key, epoch), plan.num_samples)
            num_full = plan.num_samples // plan.batch_size
            full = order[: num_full * plan.batch_size].reshape(num_full, plan.batch_size)
            carry, (losses, rates) = scan_steps(lambda c, xs: step(c, xs[0], xs[1]), carry, (full, first_step + jnp.arange(num_full)), num_full)
            sizes = jnp.full((num_full,), plan.batch_size, jnp.float32)
            if plan.last_batch_size != plan.batch_size:
                carry, (loss, rate) = step(carry, order[num_full * plan.batch_size :], first_step + num_full)
                losses, rates = jnp.append(losses, loss), jnp.append(rates, rate)
                sizes = jnp.append(sizes, jnp.float32(plan.last_batch_size))
            return carry, losses, rates, sizes
        carry, (losses, rates) = run_drawn_steps(carry, first_step, num_steps)
        return carry, losses, rates, jnp.full((num_steps,), plan.batch_size, jnp.float32)

    def run_drawn_steps(carry, first_step, num_steps):
        """Steps ``first_step …`` of a per-step mode, each drawing its batch from its own key."""
        numbers = first_step + jnp.arange(num_steps)
        keys = jax.vmap(lambda n: jax.random.fold_in(sample_key, n))(numbers)
        return scan_steps(lambda c, xs: step(c, _batch_indices(plan, xs[0]), xs[1]), carry, (keys, numbers), num_steps)

    def scan_steps(body, carry, xs, length, every=None, steps_per_item=1):
        """``lax.scan`` of ``body`` over ``length`` items (steps, or epochs of ``steps_per_item``
        steps) that reports progress after every chunk of about ``every`` items, from an outer scan
        over chunks: no per-item branch, which would cost ~20% of a tiny step."""
        every = progress_every if every is None else every
        if not every or length < 2 * every:
            return jax.lax.scan(body, carry, xs)
        chunk = _chunk_size(length, every)
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

    def _ticks_inside(length):
        return progress_every > 0 and length >= 2 * progress_every

    def epoch_body(carry: _Carry, epoch, num_steps):
        stopped = carry.stopped_epoch >= 0

        def active(carry):
            (params, opt_state), losses, rates, sizes = run_epoch((carry.params, carry.opt_state), epoch, num_steps)
            epoch_loss = jnp.sum(losses * sizes) / jnp.sum(sizes)
            eval_loss = loss_fn(params, eval_data) if eval_data is not None else jnp.float32(jnp.nan)
            improved = eval_loss < carry.best_loss - (early_stopping.min_delta if early_stopping else 0.0)
            best_params = jax.tree.map(lambda new, old: jnp.where(improved, new, old), params, carry.best_params)
            best_epoch = jnp.where(improved, epoch, carry.best_epoch).astype(jnp.int32)
            stop = early_stopping is not None and eval_data is not None
            stopped_epoch = jnp.where(
                stop & (epoch - best_epoch >= (early_stopping.patience if stop else 1)), epoch, -1
            ).astype(jnp.int32)
            new = _Carry(params, opt_state, best_params, jnp.minimum(eval_loss, carry.best_loss), best_epoch, stopped_epoch)
            return new, (losses, rates, epoch_loss, eval_loss, jnp.bool_(True))

        def frozen(carry):
            nan_steps = jnp.full((_steps_in(num_steps),), jnp.nan, jnp.float32)
            return carry, (nan_steps, nan_steps, jnp.float32(jnp.nan), jnp.float32(jnp.nan), jnp.bool_(False))

        # without early stopping no epoch is ever frozen: no branch to compile
        return active(carry) if early_stopping is None else jax.lax.cond(stopped, frozen, active, carry)

    def _steps_in(num_steps):
        return plan.steps_per_epoch if plan.sampling in WHOLE_EPOCHS else num_steps

    params = jax.tree.map(jnp.asarray, params)
    carry = _Carry(params, optimizer.init(params), params, jnp.float32(jnp.inf), jnp.int32(-1), jnp.int32(-1))
    whole = plan.num_epochs * plan.steps_per_epoch  # steps in whole epochs; a tail of steps follows
    if plan.sampling not in WHOLE_EPOCHS and eval_data is None and early_stopping is None:
        # nothing happens between epochs: one flat scan over every step (epochs only group the log)
        (params, opt_state), (step_loss, rates) = run_drawn_steps((carry.params, carry.opt_state), 0, plan.num_steps)
        carry = carry._replace(params=params, opt_state=opt_state)
        # epoch means by reshape: no per-step index constant for XLA to fold
        epoch_loss = step_loss[:whole].reshape(plan.num_epochs, plan.steps_per_epoch).mean(axis=1)
        if plan.tail_steps:
            epoch_loss = jnp.append(epoch_loss, step_loss[whole:].mean())
        eval_loss, ran = jnp.full(plan.num_logged_epochs, jnp.nan, jnp.float32), jnp.ones(plan.num_logged_epochs, bool)
    else:
        # progress: from inside a long epoch's steps, else after every few short epochs
        epochs_every = 0 if not progress_every or _ticks_inside(plan.steps_per_epoch) else max(1, progress_every // plan.steps_per_epoch)
        carry, (step_loss, rates, epoch_loss, eval_loss, ran) = scan_steps(
            lambda c, e: epoch_body(c, e, plan.steps_per_epoch), carry, jnp.arange(plan.num_epochs), plan.num_epochs,
            every=epochs_every, steps_per_item=plan.steps_per_epoch,
        )
        step_loss, rates = step_loss.reshape(-1), rates.reshape(-1)
        if plan.tail_steps:
            carry, tail = epoch_body(carry, jnp.int32(plan.num_epochs), plan.tail_steps)
            step_loss, rates = jnp.concatenate([step_loss, tail[0]]), jnp.concatenate([rates, tail[1]])
            epoch_loss, eval_loss, ran = (jnp.append(whole, part) for whole, part in zip((epoch_loss, eval_loss, ran), tail[2:]))
    # each step ran unless its epoch was frozen by early stopping (broadcast, not jnp.repeat: a
    # repeat by constant counts makes XLA constant-fold an index array as long as the run)
    executed = jnp.broadcast_to(ran[: plan.num_epochs, None], (plan.num_epochs, plan.steps_per_epoch)).reshape(whole)
    if plan.tail_steps:
        executed = jnp.concatenate([executed, jnp.broadcast_to(ran[-1], (plan.tail_steps,))])
    bad = executed & ~jnp.isfinite(step_loss)
    restore = early_stopping is not None and early_stopping.restore_best and eval_data is not None
    return History(
        step_loss=step_loss,
        epoch_loss=epoch_loss,
        eval_loss=eval_loss,
        learning_rate=rates,
        params=carry.best_params if restore else carry.params,
        first_nonfinite_step=jnp.where(jnp.any(bad), jnp.argmax(bad), -1).astype(jnp.int32),
        best_epoch=carry.best_epoch,
        stopped_epoch=carry.stopped_epoch,
    )


def _chunk_size(length: int, every: int) -> int:
    """A divisor of ``length`` in [every/2, every] if there is one (one scan, no remainder), else ``every``."""
    for size in range(every, max(every // 2, 1) - 1, -1):
        if length % size == 0:
            return size
    return every


@functools.lru_cache(maxsize=64)
def _compiled(loss_fn, optimizer, plan, early_stopping, progress_every):
    return jax.jit(functools.partial(train, loss_fn, optimizer=optimizer, plan=plan, early_stopping=early_stopping, progress_every=progress_every))


def fit(
    loss_fn: Callable,
    params: Any,
    optimizer: optax.GradientTransformation,
    data: tuple,
    *,
    batch_size: int,
    num_epochs: int | None = None,
    num_steps: int | None = None,
    key: jax.Array,
    sampling: str = "epoch",
    eval_data: tuple | None = None,
    drop_last: bool = False,
    early_stopping: EarlyStopping | None = None,
    progress: bool = True,
    on_nonfinite: str = "warn",
) -> History:
    """Trains ``params`` on ``data`` with ``optimizer``: one compiled program for the whole run.

    Args:
      loss_fn: ``loss_fn(params, batch)`` or ``loss_fn(params, batch, key)`` (dropout), the mean
        loss over a batch ``(x, y)``.  Also evaluated on ``eval_data`` after each epoch (no key).
      params: the initial parameters (any pytree).
      optimizer: an ``optax.GradientTransformation`` (ours or optax's).
      data: ``(x, y)`` arrays with the same leading length N.
      batch_size: B in [1, N]: N is batch gradient descent, 1 is stochastic.
      num_epochs, num_steps: the length of the run; give exactly one.  An epoch is ceil(N/B) steps.
      key: a PRNG key; the same key gives bit-identical histories.
      sampling: "epoch", "sequential", "single_batch" or "replacement" (module docstring).
      eval_data: ``(x, y)`` evaluated after every epoch.
      drop_last: in "epoch" mode, drop the last N mod B samples of each epoch's shuffle.
      early_stopping: an :class:`EarlyStopping` (needs eval_data).
      progress: show a progress bar with steps/s (updated at most about 20 times per run, at
        least 2000 steps apart, also within a long epoch).
      on_nonfinite: "warn" or "raise" when the loss becomes NaN or inf.

    Returns:
      A :class:`History`.  Called under ``jax.vmap`` or ``jit`` (traced inputs), ``fit`` is
      :func:`train`: no progress bar and no warning, the flag is in ``first_nonfinite_step``.
    """
    num_samples = num_samples_of(data)
    plan = make_plan(num_samples, batch_size, num_epochs=num_epochs, num_steps=num_steps, sampling=sampling, drop_last=drop_last)
    if on_nonfinite not in ("warn", "raise"):
        raise ValueError(f"on_nonfinite must be 'warn' or 'raise'; got {on_nonfinite!r}")
    if early_stopping is not None and eval_data is None:
        raise ValueError("early_stopping needs eval_data: the evaluation loss decides when to stop")
    if eval_data is not None:
        num_samples_of(eval_data)
    traced = any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves((params, data, eval_data, key)))
    if traced:
        return train(loss_fn, params, optimizer, data, key, plan, eval_data, early_stopping)
    for name, arrays in (("data", data), ("eval_data", eval_data)):
        if arrays is not None and not all(np.all(np.isfinite(np.asarray(a))) for a in arrays):
            raise ValueError(f"{name} contains NaN or inf; clean or drop those samples before training")
    # at most ~20 host round trips (each ~0.3-1 ms), and none more often than every 2000 steps
    every = max(plan.num_steps // 20, MIN_STEPS_PER_REPORT) if progress else 0
    run = _compiled(loss_fn, optimizer, plan, early_stopping, every)
    with ProgressBar(plan.num_steps, enabled=progress):
        history = jax.block_until_ready(run(params, data=data, key=key, eval_data=eval_data))
        jax.effects_barrier()  # let the last progress callbacks land before the bar closes
    first_bad = int(history.first_nonfinite_step)
    if first_bad >= 0:
        message = f"the training loss became non-finite at step {first_bad} (of {plan.num_steps}); lower the learning rate or clip gradients"
        if on_nonfinite == "raise":
            raise FloatingPointError(message)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return history
