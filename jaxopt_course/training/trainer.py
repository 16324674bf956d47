"""Training runs as one compiled ``lax.scan`` program.

Batch, stochastic and mini-batch gradient descent are the same loop with a different
``batch_size`` B (N, 1, or in between).  The sampling modes of :func:`make_plan`:

* ``"epoch"``: shuffle once per epoch and visit every sample exactly once, in ``ceil(N/B)``
  steps; the last, smaller batch is a real batch of ``N mod B`` samples (its mean loss is over
  real samples only), or is dropped with ``drop_last=True``.
* ``"sequential"``: the same epochs without shuffling, the data's own order every epoch (a
  ``DataLoader(shuffle=False)``, as the course's E4 and E5 use).
* ``"single_batch"``: the course's ``next(iter(DataLoader(shuffle=True)))``: every step draws a
  fresh batch of B distinct samples.
* ``"replacement"``: every step draws B i.i.d. indices.

The pipeline, top to bottom:

1. :func:`make_plan` fixes the static shape of a run (epochs, steps, batch size, mode).
2. :func:`make_train` makes every static decision once and returns a :class:`Trainer`, whose
   pieces are pure (traceable, jittable, vmappable):

   * ``trainer(params, optimizer, data, key) -> History``: the whole run;
   * ``trainer.init(params, optimizer, key) -> TrainCarry`` and
     ``trainer.advance(carry, optimizer, data, num_epochs) -> (TrainCarry, History)``: the same
     run in resumable pieces (successive halving builds on them).

3. :func:`fit` checks its input, compiles once per *structure* of run, and runs it with a
   progress bar.

Step k draws its batch (per-step modes) and its dropout key from ``jax.random.fold_in`` of the
run's key and k, and epoch e its shuffle from e, so a run cut into pieces gives the same numbers
as the whole run, and the same key gives the same run bit for bit.  In the per-step modes without
``eval_data`` nothing happens between epochs, and the run is one flat scan of its steps (epochs
only group the log); otherwise it scans epochs, each a scan of steps.  Progress reports come from
an outer scan over chunks of steps (or of epochs), never from a branch inside the step.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxopt_course import compilation
from jaxopt_course.checks import check_key, is_count
from jaxopt_course.data import check_data
from jaxopt_course.hyperparams import ProgramCache, is_hyperparametric, structure_key
from jaxopt_course.learning_rate import latest_learning_rate
from jaxopt_course.progress import ProgressBar, tick

SAMPLING = ("epoch", "sequential", "single_batch", "replacement")
WHOLE_EPOCHS = ("epoch", "sequential")
MIN_STEPS_PER_REPORT = 2000  # fit's progress reports come at least this many steps apart


# --------------------------------------------------------------------------- the run's shape
@dataclasses.dataclass(frozen=True)
class Plan:
    """The static shape of a run: how many epochs, steps and samples per step."""

    num_samples: int
    batch_size: int
    sampling: str
    num_epochs: int  # whole epochs
    steps_per_epoch: int  # ceil(N/B) in "epoch" mode (N//B with drop_last)
    tail_steps: int = 0  # steps after the last whole epoch (per-step modes only)
    drop_last: bool = False

    @property
    def last_batch_size(self) -> int:
        """Size of an epoch's final batch in the whole-epoch modes (B when B divides N or with drop_last)."""
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
    if not is_count(num_samples) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer (the number of training samples); got {num_samples!r}")
    if sampling not in SAMPLING:
        raise ValueError(f"sampling must be one of {SAMPLING}; got {sampling!r}")
    if not is_count(batch_size) or not 1 <= batch_size <= num_samples:
        raise ValueError(f"batch_size must be an integer in [1, {num_samples}] (the number of samples); got {batch_size!r}")
    if (num_epochs is None) == (num_steps is None):
        raise ValueError(f"give exactly one of num_epochs and num_steps; got num_epochs={num_epochs!r}, num_steps={num_steps!r}")
    for name, value in (("num_epochs", num_epochs), ("num_steps", num_steps)):
        if value is not None and (not is_count(value) or value < 1):
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    if not isinstance(drop_last, (bool, np.bool_)):
        raise ValueError(f"drop_last must be True or False; got {drop_last!r}")
    num_samples, batch_size = int(num_samples), int(batch_size)
    per_epoch = num_samples // batch_size if (drop_last and sampling in WHOLE_EPOCHS) else math.ceil(num_samples / batch_size)
    if num_epochs is not None:
        return Plan(num_samples, batch_size, sampling, int(num_epochs), per_epoch, 0, bool(drop_last))
    epochs, tail = divmod(int(num_steps), per_epoch)
    if sampling in WHOLE_EPOCHS and tail:
        raise ValueError(
            f'num_steps={num_steps} is not a whole number of epochs ({per_epoch} steps each) in "{sampling}" '
            'mode; give num_epochs, or use sampling="single_batch"'
        )
    return Plan(num_samples, batch_size, sampling, epochs, per_epoch, tail, bool(drop_last))


@dataclasses.dataclass(frozen=True)
class EarlyStopping:
    """Stop when the evaluation loss has not improved by ``min_delta`` for ``patience`` epochs."""

    patience: int = 5
    min_delta: float = 0.0
    restore_best: bool = True

    def __post_init__(self):
        if not is_count(self.patience) or self.patience < 1:
            raise ValueError(f"patience must be a positive integer; got {self.patience!r}")
        if isinstance(self.min_delta, bool) or not isinstance(self.min_delta, (numbers.Real, np.floating)) or not self.min_delta >= 0:
            raise ValueError(f"min_delta must be a number >= 0; got {self.min_delta!r}")
        object.__setattr__(self, "patience", int(self.patience))


# --------------------------------------------------------------------------- what a run carries and returns
class Evaluation(NamedTuple):
    """The evaluation state, in the carry only when the run has ``eval_data``."""

    initial_loss: jax.Array  # float32: eval loss of the initial parameters
    best_params: Any  # parameters of the epoch with the lowest eval loss so far
    best_model_state: Any  # the model state (running statistics) of that epoch, None without one
    best_loss: jax.Array  # float32: that loss (inf before the first epoch)
    best_epoch: jax.Array  # int32: that epoch (-1 before the first)
    stopped_epoch: jax.Array  # int32: the epoch at which early stopping fired, -1 while running


class TrainCarry(NamedTuple):
    """Everything a run needs to continue: what :meth:`Trainer.advance` takes and returns."""

    params: Any
    opt_state: Any
    epoch: jax.Array  # int32: whole epochs done
    sample_key: jax.Array  # shuffles (per epoch) and drawn batches (per step) fold this in
    dropout_key: jax.Array  # each step's dropout key folds this in
    evaluation: Evaluation | None
    model_state: Any = None  # a model's non-trained state (batch-norm running statistics), None without one


class RunLog(NamedTuple):
    """Per-step and per-epoch records of a stretch of training."""

    step_loss: jax.Array  # [steps]
    learning_rate: jax.Array  # [steps]
    epoch_loss: jax.Array  # [epochs]
    eval_loss: jax.Array  # [epochs]
    ran: jax.Array  # [epochs] bool: False for an epoch frozen by early stopping


class History(NamedTuple):
    """What a run returns (a pytree: it passes through ``jit`` and ``vmap``)."""

    step_loss: jax.Array  # [num_steps] training loss of each step's batch (NaN once stopped early)
    epoch_loss: jax.Array  # [num_epochs] mean training loss per epoch, weighted by batch size
    eval_loss: jax.Array  # [num_epochs] loss on eval_data after each epoch (NaN without eval_data)
    learning_rate: jax.Array  # [num_steps] η used by each step (NaN if the optimiser keeps none)
    params: Any  # final parameters (the best ones when early stopping restores them)
    first_nonfinite_step: jax.Array  # int32: first step (of this stretch) whose loss is NaN or inf, -1 if none
    best_epoch: jax.Array  # int32: epoch of the lowest eval loss (-1 without eval_data)
    stopped_epoch: jax.Array  # int32: epoch at which early stopping fired, -1 if it did not
    initial_eval_loss: jax.Array  # float32: eval loss of the initial parameters (NaN without eval_data)
    model_state: Any = None  # final model state (the best epoch's when early stopping restores it); None without one


# --------------------------------------------------------------------------- input checks
def takes_key(loss_fn: Callable) -> bool:
    """Whether ``loss_fn`` accepts a third (PRNG key) argument, for dropout."""
    try:
        parameters = inspect.signature(loss_fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3 or any(p.kind is p.VAR_POSITIONAL for p in parameters)


def check_optimizer(optimizer: Any) -> None:
    """An optimiser is a built ``optax.GradientTransformation``: an ``(init, update)`` pair."""
    if isinstance(optimizer, optax.GradientTransformation) and callable(optimizer.init) and callable(optimizer.update):
        return
    if callable(optimizer) and not hasattr(optimizer, "init"):
        name = getattr(optimizer, "__name__", repr(optimizer))
        raise TypeError(f"optimizer must be an optax.GradientTransformation; got the function {name!r}: call it, e.g. {name}(learning_rate=0.1)")
    raise TypeError(f"optimizer must be an optax.GradientTransformation, such as jc.sgd(0.1) or optax.adam(1e-3); got {optimizer!r}")


def check_params(params: Any) -> None:
    """Every parameter is a floating-point array: a gradient step cannot change an integer."""
    leaves = jax.tree_util.tree_leaves_with_path(params)
    if not leaves:
        raise ValueError("params must hold at least one array; got an empty tree")
    for path, leaf in leaves:
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.inexact):
            where = jax.tree_util.keystr(path) or "params"
            raise ValueError(
                f"params{jax.tree_util.keystr(path)} has dtype {dtype}; parameters must be floating point "
                f"(e.g. jnp.float32), else no gradient step can change them ({where})"
            )


# --------------------------------------------------------------------------- the trainer
def make_train(
    loss_fn: Callable,
    plan: Plan,
    *,
    eval_data: tuple | None = None,
    early_stopping: EarlyStopping | None = None,
    progress_every: int = 0,
) -> Trainer:
    """Makes every static decision of a run once; returns its pure :class:`Trainer`.

    Args:
      loss_fn: ``loss_fn(params, batch)`` or ``loss_fn(params, batch, key)`` (dropout): the mean
        loss, a scalar, over a batch ``(x, y)``.  Also evaluated on ``eval_data`` (no key).
      plan: the run's :class:`Plan` (from :func:`make_plan`).
      eval_data: ``(x, y)`` evaluated after every epoch.
      early_stopping: an :class:`EarlyStopping` (needs ``eval_data``).
      progress_every: report to the open progress bar about every that many steps (0: never, as
        under ``vmap``).
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function loss_fn(params, batch) -> scalar loss; got {loss_fn!r}")
    if not isinstance(plan, Plan):
        raise TypeError(f"plan must be a Plan from training.make_plan(...); got {plan!r}")
    if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
        raise TypeError(f"early_stopping must be an EarlyStopping(...) or None; got {early_stopping!r}")
    if early_stopping is not None and eval_data is None:
        raise ValueError("early_stopping needs eval_data: the evaluation loss decides when to stop")
    if eval_data is not None:
        check_data(eval_data, "eval_data")
    if not is_count(progress_every) or progress_every < 0:
        raise ValueError(f"progress_every must be an integer >= 0; got {progress_every!r}")
    return Trainer(loss_fn, plan, eval_data, early_stopping, int(progress_every), takes_key(loss_fn))


@dataclasses.dataclass(frozen=True)
class Trainer:
    """A run's pure pieces; build it with :func:`make_train`."""

    loss_fn: Callable
    plan: Plan
    eval_data: tuple | None
    early_stopping: EarlyStopping | None
    progress_every: int
    loss_takes_key: bool

    @property
    def flat(self) -> bool:
        """Per-step sampling without evaluation: the run is one flat scan of steps."""
        return self.plan.sampling not in WHOLE_EPOCHS and self.eval_data is None

    # ---- the public pieces
    def __call__(self, params: Any, optimizer: optax.GradientTransformation, data: tuple, key: jax.Array, model_state: Any = None) -> History:
        """The whole run: ``plan.num_epochs`` epochs, then the tail steps of a per-step plan."""
        carry = self.init(params, optimizer, key, model_state)
        carry, log = self._epochs(carry, optimizer, self._check_data(data), self.plan.num_epochs, self.plan.tail_steps)
        return self._history(carry, log)

    def init(self, params: Any, optimizer: optax.GradientTransformation, key: jax.Array, model_state: Any = None) -> TrainCarry:
        """The carry before the first epoch.

        With a ``model_state`` (a Flax model's ``batch_stats``), the loss is called as
        ``loss_fn(params, batch, key, model_state) -> (loss, new_model_state)`` when training and
        ``loss_fn(params, batch, None, model_state)`` when evaluating (running statistics), and
        the carry keeps the state from step to step.
        """
        check_params(params)
        check_optimizer(optimizer)
        check_key(key)
        params = jax.tree.map(jnp.asarray, params)
        sample_key, dropout_key = jax.random.split(key)
        evaluation = None
        if self.eval_data is not None:
            initial = self._eval_loss(params, model_state)
            evaluation = Evaluation(initial, params, model_state, jnp.float32(jnp.inf), jnp.int32(-1), jnp.int32(-1))
        return TrainCarry(params, optimizer.init(params), jnp.int32(0), sample_key, dropout_key, evaluation, model_state)

    def advance(self, carry: TrainCarry, optimizer: optax.GradientTransformation, data: tuple, num_epochs: int) -> tuple[TrainCarry, History]:
        """``num_epochs`` (a static count) more whole epochs from ``carry``; their history."""
        if not is_count(num_epochs) or num_epochs < 1:
            raise ValueError(f"num_epochs must be a positive integer; got {num_epochs!r}")
        carry, log = self._epochs(carry, optimizer, self._check_data(data), int(num_epochs))
        return carry, self._history(carry, log)

    # ---- epochs
    def _epochs(self, carry: TrainCarry, optimizer, data, num_epochs: int, tail_steps: int = 0) -> tuple[TrainCarry, RunLog]:
        """``num_epochs`` whole epochs, then ``tail_steps`` steps logged as one more epoch."""
        plan = self.plan
        if self.flat:  # nothing happens between epochs: one scan over every step
            whole = num_epochs * plan.steps_per_epoch
            state, steps = self._drawn_steps(carry, optimizer, data, carry.epoch * plan.steps_per_epoch, whole + tail_steps)
            epoch_loss = steps.loss[:whole].reshape(num_epochs, plan.steps_per_epoch).mean(axis=1)  # by reshape: no index constant to fold
            if tail_steps:
                epoch_loss = jnp.append(epoch_loss, steps.loss[whole:].mean())
            logged = num_epochs + (1 if tail_steps else 0)
            nothing = jnp.full((logged,), jnp.nan, jnp.float32)
            carry = carry._replace(**state._asdict(), epoch=carry.epoch + logged)
            return carry, RunLog(steps.loss, steps.learning_rate, epoch_loss, nothing, jnp.ones((logged,), bool))
        # progress from inside a long epoch's steps, else after every few short epochs
        inside = _reports_inside(plan.steps_per_epoch, self.progress_every)
        every = 0 if not self.progress_every or inside else max(1, self.progress_every // plan.steps_per_epoch)
        carry, log = _scan_reporting(
            lambda c, epoch: self._epoch(c, optimizer, data, epoch, plan.steps_per_epoch),
            carry, carry.epoch + jnp.arange(num_epochs, dtype=jnp.int32), num_epochs, every, plan.steps_per_epoch,
        )
        log = log._replace(step_loss=log.step_loss.reshape(-1), learning_rate=log.learning_rate.reshape(-1))
        if tail_steps:
            carry, tail = self._epoch(carry, optimizer, data, carry.epoch, tail_steps)
            log = jax.tree.map(lambda whole, part: jnp.concatenate([whole, jnp.atleast_1d(part)]), log, tail)
        return carry, log

    def _epoch(self, carry: TrainCarry, optimizer, data, epoch, num_steps: int) -> tuple[TrainCarry, RunLog]:
        """One epoch of ``num_steps`` steps, then its evaluation; frozen once stopped early."""

        def active(carry):
            state, steps, sizes = self._train_epoch(carry, optimizer, data, epoch, num_steps)
            epoch_loss = jnp.sum(steps.loss * sizes) / jnp.sum(sizes)
            carry = carry._replace(**state._asdict(), epoch=epoch + 1)
            evaluation, eval_loss = self._evaluate(carry, epoch)
            return carry._replace(evaluation=evaluation), RunLog(steps.loss, steps.learning_rate, epoch_loss, eval_loss, jnp.bool_(True))

        def frozen(carry):
            nothing = jnp.full((self._steps_in(num_steps),), jnp.nan, jnp.float32)
            return carry._replace(epoch=epoch + 1), RunLog(nothing, nothing, jnp.float32(jnp.nan), jnp.float32(jnp.nan), jnp.bool_(False))

        if self.early_stopping is None:  # no epoch is ever frozen: no branch to compile
            return active(carry)
        return jax.lax.cond(carry.evaluation.stopped_epoch >= 0, frozen, active, carry)

    def _train_epoch(self, carry: TrainCarry, optimizer, data, epoch, num_steps: int):
        """The steps of one epoch: their state, records and batch sizes (as weights)."""
        plan = self.plan
        if plan.sampling not in WHOLE_EPOCHS:
            state, steps = self._drawn_steps(carry, optimizer, data, epoch * plan.steps_per_epoch, num_steps)
            return state, steps, jnp.full((num_steps,), plan.batch_size, jnp.float32)
        if plan.sampling == "sequential":
            order = jnp.arange(plan.num_samples)
        else:
            order = jax.random.permutation(jax.random.fold_in(carry.sample_key, epoch), plan.num_samples)
        num_full = plan.num_samples // plan.batch_size
        batches = order[: num_full * plan.batch_size].reshape(num_full, plan.batch_size)
        numbers = epoch * plan.steps_per_epoch + jnp.arange(num_full)
        update = self._update(optimizer, data, carry.dropout_key)
        state, steps = _scan_reporting(lambda s, xs: update(s, *xs), _State(carry.params, carry.opt_state, carry.model_state), (batches, numbers), num_full, self.progress_every, 1)
        sizes = jnp.full((num_full,), plan.batch_size, jnp.float32)
        if plan.last_batch_size != plan.batch_size:  # the epoch's last, smaller batch
            state, last = update(state, order[num_full * plan.batch_size :], numbers[-1] + 1)
            steps = jax.tree.map(jnp.append, steps, last)
            sizes = jnp.append(sizes, jnp.float32(plan.last_batch_size))
        return state, steps, sizes

    def _drawn_steps(self, carry: TrainCarry, optimizer, data, first_step, num_steps: int):
        """Steps ``first_step …`` of a per-step mode, each drawing its batch from its own key."""
        update = self._update(optimizer, data, carry.dropout_key)

        def step(state, number):
            return update(state, _drawn_batch(self.plan, jax.random.fold_in(carry.sample_key, number)), number)

        numbers = first_step + jnp.arange(num_steps)
        return _scan_reporting(step, _State(carry.params, carry.opt_state, carry.model_state), numbers, num_steps, self.progress_every, 1)

    def _steps_in(self, num_steps: int) -> int:
        return self.plan.steps_per_epoch if self.plan.sampling in WHOLE_EPOCHS else num_steps

    # ---- one step, one evaluation
    def _update(self, optimizer, data, dropout_key):
        """The step function: ``(state, batch indices, step number) -> (state, StepLog)``."""
        data = jax.tree.map(jnp.asarray, tuple(data))

        def update(state: _State, indices, number):
            batch = data if indices is None else jax.tree.map(lambda a: a[indices], data)
            step_key = jax.random.fold_in(dropout_key, number)
            if state.model_state is not None:  # the loss also returns the model's new state
                (loss, model_state), grads = jax.value_and_grad(self._stateful_loss, has_aux=True)(state.params, batch, step_key, state.model_state)
            else:
                args = (state.params, batch, step_key) if self.loss_takes_key else (state.params, batch)
                (loss, grads), model_state = jax.value_and_grad(self._scalar_loss)(*args), None
            updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
            return _State(optax.apply_updates(state.params, updates), opt_state, model_state), _StepLog(loss, latest_learning_rate(opt_state))

        return update

    def _scalar_loss(self, *args):
        return _checked_scalar(self.loss_fn(*args))

    def _stateful_loss(self, params, batch, key, model_state):
        returned = self.loss_fn(params, batch, key, model_state)
        if not isinstance(returned, tuple) or len(returned) != 2:
            raise ValueError("with a model_state, loss_fn(params, batch, key, model_state) must return (loss, new_model_state)")
        loss, new_state = returned
        if jax.tree.structure(new_state) != jax.tree.structure(model_state):
            raise ValueError(f"loss_fn returned a model state of structure {jax.tree.structure(new_state)}; expected {jax.tree.structure(model_state)}")
        return _checked_scalar(loss), new_state

    def _eval_loss(self, params, model_state) -> jax.Array:
        batch = jax.tree.map(jnp.asarray, tuple(self.eval_data))
        loss = self._scalar_loss(params, batch) if model_state is None else self._stateful_loss(params, batch, None, model_state)[0]
        return jnp.asarray(loss, jnp.float32)

    def _evaluate(self, carry: TrainCarry, epoch) -> tuple[Evaluation | None, jax.Array]:
        """The eval loss after ``epoch``; the best epoch so far and whether to stop."""
        evaluation = carry.evaluation
        if evaluation is None:
            return None, jnp.float32(jnp.nan)
        eval_loss = self._eval_loss(carry.params, carry.model_state)
        min_delta = self.early_stopping.min_delta if self.early_stopping else 0.0
        improved = eval_loss < evaluation.best_loss - min_delta
        best_epoch = jnp.where(improved, epoch, evaluation.best_epoch).astype(jnp.int32)
        stopped = -1
        if self.early_stopping is not None:
            stopped = jnp.where(epoch - best_epoch >= self.early_stopping.patience, epoch, -1)
        keep = functools.partial(jax.tree.map, lambda new, old: jnp.where(improved, new, old))
        return Evaluation(
            initial_loss=evaluation.initial_loss,
            best_params=keep(carry.params, evaluation.best_params),
            best_model_state=keep(carry.model_state, evaluation.best_model_state),
            best_loss=jnp.minimum(eval_loss, evaluation.best_loss),
            best_epoch=best_epoch,
            stopped_epoch=jnp.asarray(stopped, jnp.int32),
        ), eval_loss

    # ---- the record
    def _history(self, carry: TrainCarry, log: RunLog) -> History:
        # each step ran unless its epoch was frozen (broadcast, not jnp.repeat: a repeat by
        # constant counts makes XLA constant-fold an index array as long as the run)
        num_steps, num_epochs = log.step_loss.shape[0], log.ran.shape[0]
        whole = min(num_epochs, num_steps // self.plan.steps_per_epoch)
        executed = jnp.broadcast_to(log.ran[:whole, None], (whole, self.plan.steps_per_epoch)).reshape(-1)
        if executed.shape[0] < num_steps:  # the tail of a per-step plan
            executed = jnp.concatenate([executed, jnp.broadcast_to(log.ran[-1], (num_steps - executed.shape[0],))])
        bad = executed & ~jnp.isfinite(log.step_loss)
        evaluation = carry.evaluation
        restore = evaluation is not None and self.early_stopping is not None and self.early_stopping.restore_best
        return History(
            step_loss=log.step_loss,
            epoch_loss=log.epoch_loss,
            eval_loss=log.eval_loss,
            learning_rate=log.learning_rate,
            params=evaluation.best_params if restore else carry.params,
            first_nonfinite_step=jnp.where(jnp.any(bad), jnp.argmax(bad), -1).astype(jnp.int32),
            best_epoch=evaluation.best_epoch if evaluation is not None else jnp.int32(-1),
            stopped_epoch=evaluation.stopped_epoch if evaluation is not None else jnp.int32(-1),
            initial_eval_loss=evaluation.initial_loss if evaluation is not None else jnp.float32(jnp.nan),
            model_state=evaluation.best_model_state if restore else carry.model_state,
        )

    def _check_data(self, data) -> tuple:
        num_samples = check_data(data)
        if num_samples != self.plan.num_samples:
            raise ValueError(
                f"the plan is for num_samples={self.plan.num_samples} but data has {num_samples} rows; "
                f"make the plan with training.make_plan({num_samples}, ...)"
            )
        return tuple(data)


class _State(NamedTuple):
    params: Any
    opt_state: Any
    model_state: Any


def _checked_scalar(loss):
    if not hasattr(loss, "shape") or jnp.shape(loss) != ():
        shown = f"shape {jnp.shape(loss)}" if hasattr(loss, "shape") else type(loss).__name__
        raise ValueError(f"loss_fn must return a scalar (the mean loss of the batch); it returned {shown}")
    return loss


class _StepLog(NamedTuple):
    loss: jax.Array
    learning_rate: jax.Array


def _drawn_batch(plan: Plan, key: jax.Array) -> jax.Array | None:
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
    One round is a scatter into an n-long array and a prefix sum over the round: on a CPU, for 128
    of 1000, 5 µs a step against 37–46 µs for a ``top_k`` over n uniforms (13–15 µs with JAX's
    looped Threefry hash, which ``compilation.use_in_process`` replaces).
    """
    per_round = 2 * count if per_round is None else per_round
    for name, value, low, high in (("n", n, 1, 2**31 - 1), ("count", count, 1, n), ("per_round", per_round, 1, 2**31 - 1)):
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


def _reports_inside(length: int, every: int) -> bool:
    return every > 0 and length >= 2 * every


def _scan_reporting(body, carry, xs, length: int, every: int, steps_per_item: int):
    """``lax.scan`` of ``body`` over ``length`` items (steps, or epochs of ``steps_per_item``
    steps) that reports progress after every chunk of about ``every`` items, from an outer scan
    over chunks: no per-item branch, which would cost ~20% of a tiny step."""
    if not _reports_inside(length, every):
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


def _chunk_size(length: int, every: int) -> int:
    """A divisor of ``length`` in [every/2, every] if there is one (one scan, no remainder), else ``every``."""
    for size in range(every, max(every // 2, 1) - 1, -1):
        if length % size == 0:
            return size
    return every


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
    model_state: Any = None,
) -> History:
    """One whole run, pure: ``make_train(loss_fn, plan, ...)(params, optimizer, data, key, model_state)``."""
    trainer = make_train(loss_fn, plan, eval_data=eval_data, early_stopping=early_stopping, progress_every=progress_every)
    return trainer(params, optimizer, data, key, model_state)


# --------------------------------------------------------------------------- fit
_PROGRAMS = ProgramCache(maxsize=64)


def _program(loss_fn, optimizer, plan, early_stopping, progress_every, with_eval):
    """The jitted run for this structure: one per (loss function, optimiser structure, plan, ...).

    Everything the program closes over is keyed by :func:`~jaxopt_course.hyperparams.static_key` at this call, so it is never
    staler than ``jax.jit`` of a freshly built ``loss_fn``.  An optimiser of this package is an
    *argument* of the program (its numbers are its pytree leaves), keyed by its structure as it is
    now (:func:`structure_key`); an optimiser we cannot see into by :func:`~jaxopt_course.hyperparams.static_key`.
    """
    hyperparametric = is_hyperparametric(optimizer)
    opaque = None if hyperparametric else optimizer
    structure = structure_key(optimizer) if hyperparametric else None

    def build():
        def train_program(params, optimizer, data, key, eval_data, model_state):
            trainer = make_train(loss_fn, plan, eval_data=eval_data, early_stopping=early_stopping, progress_every=progress_every)
            return trainer(params, opaque if opaque is not None else optimizer, data, key, model_state)

        return compilation.jit(train_program)

    return _PROGRAMS.get((loss_fn, opaque, structure, plan, early_stopping, progress_every, with_eval), build)


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
    model_state: Any = None,
) -> History:
    """Trains ``params`` on ``data`` with ``optimizer``: one compiled program for the whole run.

    Args:
      loss_fn: ``loss_fn(params, batch)`` or ``loss_fn(params, batch, key)`` (dropout), the mean
        loss over a batch ``(x, y)``, a scalar.  Also evaluated on ``eval_data`` after each epoch.
      params: the initial parameters (any pytree of floating-point arrays).
      optimizer: an ``optax.GradientTransformation`` (ours or optax's).
      data: ``(x, y)`` arrays with the same leading length N.
      batch_size: B in [1, N]: N is batch gradient descent, 1 is stochastic.
      num_epochs, num_steps: the length of the run; give exactly one.  An epoch is ceil(N/B) steps.
      key: a PRNG key (``jax.random.PRNGKey(seed)`` or ``jax.random.key(seed)``); the same key
        gives bit-identical histories.
      sampling: "epoch", "sequential", "single_batch" or "replacement" (module docstring).
      eval_data: ``(x, y)`` evaluated after every epoch.
      drop_last: in "epoch" mode, drop the last N mod B samples of each epoch's shuffle.
      early_stopping: an :class:`EarlyStopping` (needs eval_data).
      progress: show a progress bar with steps/s (updated at most about 20 times per run, at
        least 2000 steps apart, also within a long epoch).
      on_nonfinite: "warn" or "raise" when the loss becomes NaN or inf.
      model_state: a model's state that is not trained but carried, such as a Flax
        ``BatchNorm``'s ``batch_stats``.  The loss is then ``loss_fn(params, batch, key,
        model_state) -> (loss, new_model_state)``; evaluation calls it with ``key=None``, the
        model's cue to use its running statistics (see ``models.mlp(batch_norm=True)``).
        ``History.model_state`` is the final state.

    Returns:
      A :class:`History`.  Called under ``jax.vmap`` or ``jit`` (traced inputs), ``fit`` is
      :func:`train`: no progress bar and no warning, the flag is in ``first_nonfinite_step``.

    When it compiles:
      ``fit`` compiles once per *structure* of run and reuses the program for new numbers.

      * An optimiser of this package (every factory, convention, schedule and regulariser, and
        :func:`jaxopt_course.chain`) is data: a new one of the same structure (factory, flags,
        kinds of schedule, shape of a chain) with new numbers compiles nothing.  Chain our
        transforms with ``jc.chain``, not ``optax.chain``, to keep this.
      * An optimiser we cannot see into (``optax.adam(...)``, ``optax.chain(...)``) is keyed
        by its closures: the same code with equal numbers reuses a program, new numbers compile
        again.
      * ``loss_fn`` is keyed the same way: a lambda rebuilt with the same code, or
        ``models.supervised_loss(apply)`` called again on an equal model, reuses the program.
        Everything it reads is keyed as it is at this call (:func:`~jaxopt_course.hyperparams.static_key`):
        numbers, numpy arrays, lists, dicts and objects' attributes by their contents, globals
        by name and contents, a user class by its attributes, so a ``loss_fn`` (or a schedule)
        whose object, closure or global changed since compiles again, as ``jax.jit`` of a
        freshly built function would.  Not seen: values reached through a module's attribute.
      * A new shape of data or parameters, or a new plan (batch size, steps, mode), compiles again.
    """
    num_samples = check_data(data)
    plan = make_plan(num_samples, batch_size, num_epochs=num_epochs, num_steps=num_steps, sampling=sampling, drop_last=drop_last)
    if on_nonfinite not in ("warn", "raise"):
        raise ValueError(f"on_nonfinite must be 'warn' or 'raise'; got {on_nonfinite!r}")
    check_optimizer(optimizer)
    check_key(key)
    check_params(params)
    make_train(loss_fn, plan, eval_data=eval_data, early_stopping=early_stopping)  # checks the rest
    traced = any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves((params, data, eval_data, key)))
    if traced:
        return train(loss_fn, params, optimizer, data, key, plan, eval_data, early_stopping, model_state=model_state)
    for name, arrays in (("data", data), ("eval_data", eval_data)):
        if arrays is not None and not all(np.all(np.isfinite(np.asarray(a))) for a in arrays):
            raise ValueError(f"{name} contains NaN or inf; clean or drop those samples before training")
    # at most ~20 host round trips (each ~0.3-1 ms), and none more often than every 2000 steps
    every = max(plan.num_steps // 20, MIN_STEPS_PER_REPORT) if progress else 0
    program = _program(loss_fn, optimizer, plan, early_stopping, every, eval_data is not None)
    with ProgressBar(plan.num_steps, enabled=progress):
        history = jax.block_until_ready(program(params, optimizer if is_hyperparametric(optimizer) else None, tuple(data), key, eval_data, model_state))
        jax.effects_barrier()  # let the last progress callbacks land before the bar closes
    _flag(history, plan, early_stopping, on_nonfinite)
    return history


def _flag(history: History, plan: Plan, early_stopping: EarlyStopping | None, on_nonfinite: str) -> None:
    """Warns (or raises) when the loss stopped being finite, or early stopping kept a diverged run."""
    first_bad = int(history.first_nonfinite_step)
    if first_bad >= 0:
        message = f"the training loss became non-finite at step {first_bad} (of {plan.num_steps}); lower the learning rate or clip gradients"
        if on_nonfinite == "raise":
            raise FloatingPointError(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)
    if early_stopping is not None and early_stopping.restore_best:
        best_epoch, initial = int(history.best_epoch), float(history.initial_eval_loss)
        best = float(history.eval_loss[best_epoch]) if best_epoch >= 0 else math.nan
        if not best <= initial:
            warnings.warn(
                f"early stopping restored the parameters of epoch {best_epoch}, but no epoch improved on the initial "
                f"parameters: eval loss {best:.4g} against {initial:.4g} at the start ({best / initial:.3g}x); the run "
                "diverged or moved away from the evaluation task: lower the learning rate or check eval_data",
                RuntimeWarning,
                stacklevel=3,
            )
