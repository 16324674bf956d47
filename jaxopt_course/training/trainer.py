"""The training loop: :func:`make_train` makes a run's static decisions once and returns a
:class:`Trainer`, whose pieces are pure (traceable, jittable, vmappable).

Step k draws its batch (per-step modes) and its dropout key from ``jax.random.fold_in`` of the
run's key and k, and epoch e its shuffle from e, so a run cut into pieces gives the same numbers
as the whole run, and the same key gives the same run bit for bit.  In the per-step modes without
``eval_data`` nothing happens between epochs, and the run is one flat scan of its steps (epochs
only group the log); otherwise it scans epochs, each a scan of steps.  Either way every step runs
through :meth:`Trainer._steps`.

Input is checked where it enters: :func:`make_train` checks the static options, the public
pieces (``trainer(...)``, :meth:`Trainer.init`, :meth:`Trainer.advance`) check their arguments,
and :meth:`Trainer.run` trusts arguments checked already (by :func:`check_start` and the data's
check, as :func:`~jaxopt_course.training.fitting.fit` does).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxopt_course.checks import check_count, check_key, is_count
from jaxopt_course.data import check_data
from jaxopt_course.hyperparams import Schedule
from jaxopt_course.learning_rate import latest_learning_rate
from jaxopt_course.training.batches import drawn_batch
from jaxopt_course.training.history import Evaluation, History, RunLog, StepLog, StepState, TrainCarry
from jaxopt_course.training.plan import WHOLE_EPOCHS, EarlyStopping, Plan
from jaxopt_course.training.reporting import reports_inside, scan_reporting


# --------------------------------------------------------------------------- input checks
def takes_key(loss_fn: Callable) -> bool:
    """Whether ``loss_fn`` accepts a third (PRNG key) argument, for dropout."""
    try:
        parameters = inspect.signature(loss_fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3 or any(p.kind is p.VAR_POSITIONAL for p in parameters)


_DATA_NAMES = frozenset(
    {
        "x",
        "xs",
        "X",
        "xb",
        "x_batch",
        "inputs",
        "features",
        "images",
        "y",
        "ys",
        "Y",
        "yb",
        "y_batch",
        "labels",
        "targets",
        "target",
    }
)


def check_loss_signature(loss_fn: Callable) -> None:
    """``loss_fn(params, batch[, key])``, not ``loss_fn(params, x, y)`` (a batch taken apart)."""
    try:
        parameters = list(inspect.signature(loss_fn).parameters.values())
    except (TypeError, ValueError):
        return
    positional = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) >= 3 and {positional[1], positional[2]} & _DATA_NAMES:
        raise TypeError(
            f"loss_fn takes ({', '.join(positional)}), but it is called as loss_fn(params, batch) (or loss_fn(params, batch, key) "
            "for dropout) with batch = (x, y): write def loss_fn(params, batch): x, y = batch; ..., "
            "or build it with models.supervised_loss(apply, 'cross_entropy')"
        )


def _is_schedule(value: Any) -> bool:
    """A learning-rate schedule: ours, or a function of one step count (optax's ``schedule(count)``)."""
    if isinstance(value, Schedule):
        return True
    try:
        parameters = list(inspect.signature(value).parameters.values())
    except (TypeError, ValueError):
        return False
    required = [
        p for p in parameters if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return len(required) == 1 and required[0].name in ("count", "step", "t", "epoch", "steps", "iteration")


def check_optimizer(optimizer: Any) -> None:
    """An optimiser is a built ``optax.GradientTransformation``: an ``(init, update)`` pair."""
    if isinstance(optimizer, optax.GradientTransformation) and callable(optimizer.init) and callable(optimizer.update):
        return
    if callable(optimizer) and _is_schedule(optimizer):
        raise TypeError(
            f"optimizer is a learning-rate schedule ({optimizer!r:.100}), not an optimiser: give it to one as its learning rate, "
            "e.g. jc.sgd(learning_rate=schedule) or optax.adam(learning_rate=schedule)"
        )
    if callable(optimizer) and not hasattr(optimizer, "init"):
        name = getattr(optimizer, "__name__", repr(optimizer))
        raise TypeError(
            f"optimizer must be an optax.GradientTransformation; got the function {name!r}: call it, e.g. {name}(learning_rate=0.1)"
        )
    raise TypeError(
        f"optimizer must be an optax.GradientTransformation, such as jc.sgd(0.1) or optax.adam(1e-3); got {optimizer!r}"
    )


def check_params(params: Any) -> None:
    """Every parameter is a floating-point array: a gradient step cannot change an integer."""
    leaves = jax.tree_util.tree_leaves_with_path(params)
    if not leaves:
        raise ValueError("params must hold at least one array; got an empty tree")
    for path, leaf in leaves:
        where = f"params{jax.tree_util.keystr(path)}"
        if callable(leaf):
            raise TypeError(
                f"{where} is a function ({getattr(leaf, '__qualname__', type(leaf).__name__)}), not an array: models.mlp(...) and the "
                "other model builders return (params, apply); unpack them, params, apply = models.mlp(...), and pass params"
            )
        if isinstance(leaf, (str, bytes)):
            raise TypeError(
                f"{where} is the string {leaf!r:.60}; params must hold only floating-point arrays: keep names and settings outside params"
            )
        try:
            dtype = jnp.result_type(leaf)
        except TypeError:
            raise TypeError(
                f"{where} is a {type(leaf).__name__}, not an array; params must hold only floating-point arrays"
            ) from None
        if not jnp.issubdtype(dtype, jnp.inexact):
            where = jax.tree_util.keystr(path) or "params"
            raise ValueError(
                f"params{jax.tree_util.keystr(path)} has dtype {dtype}; parameters must be floating point "
                f"(e.g. jnp.float32), else no gradient step can change them ({where})"
            )


def check_start(params: Any, optimizer: Any, key: Any) -> None:
    """What every run starts from: a built optimiser, a PRNG key and floating-point parameters."""
    check_optimizer(optimizer)
    check_key(key)
    check_params(params)


def check_metrics(metrics: Any, eval_data: tuple | None) -> dict:
    """``metrics`` as a new dict ``{name: fn}``: string names, functions, and ``eval_data`` to evaluate them on."""
    if metrics is None:
        return {}
    if not isinstance(metrics, dict):
        raise TypeError(
            f"metrics must be a dict {{name: fn(params, batch) -> scalar}}, e.g. {{'accuracy': models.accuracy(apply)}}; got {type(metrics).__name__} {metrics!r}"
        )
    for name, metric in metrics.items():
        if not isinstance(name, str) or not name or "." in name:
            raise TypeError(
                f"metrics' names must be non-empty strings without a dot (results name them 'eval_metrics.<name>'); got {name!r}"
            )
        if not callable(metric):
            raise TypeError(f"metrics[{name!r}] must be a function fn(params, batch) -> scalar; got {metric!r}")
        _check_metric_signature(name, metric)
    if metrics and eval_data is None:
        raise ValueError("metrics are evaluated on eval_data; give eval_data=(x, y)")
    return dict(metrics)


def _check_metric_signature(name: str, metric: Callable) -> None:
    """A metric takes (params, batch), or (params, batch, model_state); an uncalled factory does not."""
    try:
        signature = inspect.signature(metric)
    except (TypeError, ValueError):
        return
    for count in (2, 3):
        try:
            signature.bind(*range(count))
            return
        except TypeError:
            pass
    factory = (
        f": it looks like a factory, call it, e.g. {{{name!r}: models.{metric.__name__}(apply)}}"
        if "apply" in signature.parameters
        else ""
    )
    raise TypeError(
        f"metrics[{name!r}] takes {signature}, but a metric is called fn(params, batch) "
        f"(fn(params, batch, model_state) with a model state){factory}"
    )


# --------------------------------------------------------------------------- the trainer
def make_train(
    loss_fn: Callable,
    plan: Plan,
    *,
    eval_data: tuple | None = None,
    early_stopping: EarlyStopping | None = None,
    progress_every: int = 0,
    metrics: dict[str, Callable] | None = None,
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
      metrics: ``{name: fn(params, batch) -> scalar}`` (e.g. ``{"accuracy": models.accuracy(apply)}``),
        each evaluated on the whole of ``eval_data`` (needs it) wherever the eval loss is: for the
        initial parameters (``History.initial_eval_metrics``) and after every epoch
        (``History.eval_metrics[name]``, float32 [num_epochs], NaN for an epoch frozen by early
        stopping).  With a ``model_state`` each is called ``fn(params, batch, model_state)`` with
        the running statistics (evaluation mode), as ``models.accuracy(apply, stateful=True)``
        does.  A metric is not differentiated and never decides early stopping.
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function loss_fn(params, batch) -> scalar loss; got {loss_fn!r}")
    check_loss_signature(loss_fn)
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
    metrics = check_metrics(metrics, eval_data)
    return Trainer(loss_fn, plan, eval_data, early_stopping, int(progress_every), takes_key(loss_fn), metrics)


@dataclasses.dataclass(frozen=True)
class Trainer:
    """A run's pure pieces; build it with :func:`make_train`."""

    loss_fn: Callable
    plan: Plan
    eval_data: tuple | None
    early_stopping: EarlyStopping | None
    progress_every: int
    loss_takes_key: bool
    metrics: dict = dataclasses.field(default_factory=dict)  # {name: fn}, checked by make_train

    @property
    def flat(self) -> bool:
        """Per-step sampling without evaluation: the run is one flat scan of steps."""
        return self.plan.sampling not in WHOLE_EPOCHS and self.eval_data is None

    # ---- the public pieces
    def __call__(
        self, params: Any, optimizer: optax.GradientTransformation, data: tuple, key: jax.Array, model_state: Any = None
    ) -> History:
        """The whole run: ``plan.num_epochs`` epochs, then the tail steps of a per-step plan."""
        check_start(params, optimizer, key)
        self.check_metric_outputs(params, model_state)
        return self.run(params, optimizer, self._check_data(data), key, model_state)

    def run(
        self, params: Any, optimizer: optax.GradientTransformation, data: tuple, key: jax.Array, model_state: Any = None
    ) -> History:
        """The whole run, as ``trainer(...)``, on arguments already checked: nothing is checked again."""
        carry = self._start(params, optimizer, key, model_state)
        carry, log = self._epochs(carry, optimizer, tuple(data), self.plan.num_epochs, self.plan.tail_steps)
        return self._history(carry, log)

    def init(
        self, params: Any, optimizer: optax.GradientTransformation, key: jax.Array, model_state: Any = None
    ) -> TrainCarry:
        """The carry before the first epoch.

        With a ``model_state`` (a Flax model's ``batch_stats``), the loss is called as
        ``loss_fn(params, batch, key, model_state) -> (loss, new_model_state)`` when training and
        ``loss_fn(params, batch, None, model_state)`` when evaluating (running statistics), and
        the carry keeps the state from step to step.
        """
        check_start(params, optimizer, key)
        self.check_metric_outputs(params, model_state)
        return self._start(params, optimizer, key, model_state)

    def check_metric_outputs(self, params: Any, model_state: Any = None) -> None:
        """Each metric returns a scalar on ``eval_data``: traced for shapes only, nothing runs."""
        if self.metrics:
            jax.eval_shape(self._eval_metrics, params, model_state)

    def advance(
        self, carry: TrainCarry, optimizer: optax.GradientTransformation, data: tuple, num_epochs: int
    ) -> tuple[TrainCarry, History]:
        """``num_epochs`` (a static count) more whole epochs from ``carry``; their history."""
        check_count("num_epochs", num_epochs)
        carry, log = self._epochs(carry, optimizer, self._check_data(data), int(num_epochs))
        return carry, self._history(carry, log)

    def _start(self, params, optimizer, key, model_state) -> TrainCarry:
        params = jax.tree.map(jnp.asarray, params)
        sample_key, dropout_key = jax.random.split(key)
        evaluation = None
        if self.eval_data is not None:
            initial = self._eval_loss(params, model_state)
            evaluation = Evaluation(
                initial,
                params,
                model_state,
                jnp.float32(jnp.inf),
                jnp.int32(-1),
                jnp.int32(-1),
                self._eval_metrics(params, model_state),
            )
        return TrainCarry(
            params, optimizer.init(params), jnp.int32(0), sample_key, dropout_key, evaluation, model_state
        )

    # ---- epochs
    def _epochs(
        self, carry: TrainCarry, optimizer, data, num_epochs: int, tail_steps: int = 0
    ) -> tuple[TrainCarry, RunLog]:
        """``num_epochs`` whole epochs, then ``tail_steps`` steps logged as one more epoch."""
        plan = self.plan
        if self.flat:  # nothing happens between epochs: one scan over every step
            whole = num_epochs * plan.steps_per_epoch
            state, steps = self._steps(carry, optimizer, data, carry.epoch * plan.steps_per_epoch, whole + tail_steps)
            epoch_loss = (
                steps.loss[:whole].reshape(num_epochs, plan.steps_per_epoch).mean(axis=1)
            )  # by reshape: no index constant to fold
            if tail_steps:
                epoch_loss = jnp.append(epoch_loss, steps.loss[whole:].mean())
            logged = num_epochs + (1 if tail_steps else 0)
            nothing = jnp.full((logged,), jnp.nan, jnp.float32)
            carry = carry._replace(**state._asdict(), epoch=carry.epoch + logged)
            return carry, RunLog(steps.loss, steps.learning_rate, epoch_loss, nothing, jnp.ones((logged,), bool), {})
        # progress from inside a long epoch's steps, else after every few short epochs
        inside = reports_inside(plan.steps_per_epoch, self.progress_every)
        every = 0 if not self.progress_every or inside else max(1, self.progress_every // plan.steps_per_epoch)
        carry, log = scan_reporting(
            lambda c, epoch: self._epoch(c, optimizer, data, epoch, plan.steps_per_epoch),
            carry,
            carry.epoch + jnp.arange(num_epochs, dtype=jnp.int32),
            num_epochs,
            every,
            plan.steps_per_epoch,
        )
        log = log._replace(step_loss=log.step_loss.reshape(-1), learning_rate=log.learning_rate.reshape(-1))
        if tail_steps:
            carry, tail = self._epoch(carry, optimizer, data, carry.epoch, tail_steps)
            log = jax.tree.map(lambda whole, part: jnp.concatenate([whole, jnp.atleast_1d(part)]), log, tail)
        return carry, log

    def _epoch(self, carry: TrainCarry, optimizer, data, epoch, num_steps: int) -> tuple[TrainCarry, RunLog]:
        """One epoch of ``num_steps`` steps, then its evaluation; frozen once stopped early."""

        def active(carry):
            state, steps = self._steps(
                carry, optimizer, data, epoch * self.plan.steps_per_epoch, num_steps, self._order(carry, epoch)
            )
            sizes = self._batch_sizes(num_steps)
            epoch_loss = jnp.sum(steps.loss * sizes) / jnp.sum(sizes)
            carry = carry._replace(**state._asdict(), epoch=epoch + 1)
            evaluation, eval_loss, eval_metrics = self._evaluate(carry, epoch)
            return carry._replace(evaluation=evaluation), RunLog(
                steps.loss, steps.learning_rate, epoch_loss, eval_loss, jnp.bool_(True), eval_metrics
            )

        def frozen(carry):
            nothing = jnp.full((self._steps_in(num_steps),), jnp.nan, jnp.float32)
            no_metrics = {name: jnp.float32(jnp.nan) for name in self.metrics}
            return carry._replace(epoch=epoch + 1), RunLog(
                nothing, nothing, jnp.float32(jnp.nan), jnp.float32(jnp.nan), jnp.bool_(False), no_metrics
            )

        if self.early_stopping is None:  # no epoch is ever frozen: no branch to compile
            return active(carry)
        return jax.lax.cond(carry.evaluation.stopped_epoch >= 0, frozen, active, carry)

    def _order(self, carry: TrainCarry, epoch) -> jax.Array | None:
        """The order in which a whole-epoch mode visits the samples in ``epoch``; None in a per-step mode."""
        if self.plan.sampling not in WHOLE_EPOCHS:
            return None
        if self.plan.sampling == "sequential":
            return jnp.arange(self.plan.num_samples)
        return jax.random.permutation(jax.random.fold_in(carry.sample_key, epoch), self.plan.num_samples)

    def _batch_sizes(self, num_steps: int) -> jax.Array:
        """The batch size of each of an epoch's steps, float32, as the weights of its mean loss."""
        plan = self.plan
        if plan.sampling not in WHOLE_EPOCHS:
            return jnp.full((num_steps,), plan.batch_size, jnp.float32)
        sizes = jnp.full((plan.num_samples // plan.batch_size,), plan.batch_size, jnp.float32)
        if plan.last_batch_size != plan.batch_size:
            sizes = jnp.append(sizes, jnp.float32(plan.last_batch_size))
        return sizes

    # ---- steps
    def _steps(
        self, carry: TrainCarry, optimizer, data, first_step, num_steps: int, order: jax.Array | None = None
    ) -> tuple[StepState, StepLog]:
        """Steps ``first_step …`` from ``carry``: the one route of every step of every mode.

        Without ``order`` (the per-step modes) each of the ``num_steps`` steps draws its batch
        from its own key; with it (an epoch of a whole-epoch mode) the steps take ``order`` B
        samples at a time, and a last, smaller batch of the rest unless B divides N or
        ``drop_last``.
        """
        plan = self.plan
        update = self._update(optimizer, data, carry.dropout_key)
        state = StepState(carry.params, carry.opt_state, carry.model_state)
        if order is None:

            def step(state, number):
                return update(state, drawn_batch(plan, jax.random.fold_in(carry.sample_key, number)), number)

            return scan_reporting(step, state, first_step + jnp.arange(num_steps), num_steps, self.progress_every, 1)
        num_full = plan.num_samples // plan.batch_size
        batches = order[: num_full * plan.batch_size].reshape(num_full, plan.batch_size)
        numbers = first_step + jnp.arange(num_full)
        state, steps = scan_reporting(
            lambda s, xs: update(s, *xs), state, (batches, numbers), num_full, self.progress_every, 1
        )
        if plan.last_batch_size != plan.batch_size:  # the epoch's last, smaller batch
            state, last = update(state, order[num_full * plan.batch_size :], numbers[-1] + 1)
            steps = jax.tree.map(jnp.append, steps, last)
        return state, steps

    def _steps_in(self, num_steps: int) -> int:
        return self.plan.steps_per_epoch if self.plan.sampling in WHOLE_EPOCHS else num_steps

    # ---- one step, one evaluation
    def _update(self, optimizer, data, dropout_key):
        """The step function: ``(state, batch indices, step number) -> (state, StepLog)``; indices None: the whole data set."""
        data = jax.tree.map(jnp.asarray, tuple(data))

        def update(state: StepState, indices, number):
            batch = data if indices is None else jax.tree.map(lambda a: a[indices], data)
            step_key = jax.random.fold_in(dropout_key, number)
            if state.model_state is not None:  # the loss also returns the model's new state
                (loss, model_state), grads = jax.value_and_grad(self._stateful_loss, has_aux=True)(
                    state.params, batch, step_key, state.model_state
                )
            else:
                args = (state.params, batch, step_key) if self.loss_takes_key else (state.params, batch)
                (loss, grads), model_state = jax.value_and_grad(self._scalar_loss)(*args), None
            updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
            return StepState(optax.apply_updates(state.params, updates), opt_state, model_state), StepLog(
                loss, latest_learning_rate(opt_state)
            )

        return update

    def _scalar_loss(self, *args):
        return _checked_scalar(self.loss_fn(*args))

    def _stateful_loss(self, params, batch, key, model_state):
        returned = self.loss_fn(params, batch, key, model_state)
        if not isinstance(returned, tuple) or len(returned) != 2:
            raise ValueError(
                "with a model_state, loss_fn(params, batch, key, model_state) must return (loss, new_model_state)"
            )
        loss, new_state = returned
        if jax.tree.structure(new_state) != jax.tree.structure(model_state):
            raise ValueError(
                f"loss_fn returned a model state of structure {jax.tree.structure(new_state)}; expected {jax.tree.structure(model_state)}"
            )
        return _checked_scalar(loss), new_state

    def _eval_loss(self, params, model_state) -> jax.Array:
        batch = jax.tree.map(jnp.asarray, tuple(self.eval_data))
        loss = (
            self._scalar_loss(params, batch)
            if model_state is None
            else self._stateful_loss(params, batch, None, model_state)[0]
        )
        return jnp.asarray(loss, jnp.float32)

    def _eval_metrics(self, params, model_state) -> dict:
        """Each metric on the whole of ``eval_data``, a float32 scalar; ``(params, batch, model_state)`` with a model state."""
        batch = jax.tree.map(jnp.asarray, tuple(self.eval_data)) if self.metrics else None
        state = () if model_state is None else (model_state,)
        return {name: _checked_metric(name, metric(params, batch, *state)) for name, metric in self.metrics.items()}

    def _evaluate(self, carry: TrainCarry, epoch) -> tuple[Evaluation | None, jax.Array, dict]:
        """The eval loss and metrics after ``epoch``; the best epoch so far and whether to stop."""
        evaluation = carry.evaluation
        if evaluation is None:
            return None, jnp.float32(jnp.nan), {}
        eval_loss = self._eval_loss(carry.params, carry.model_state)
        min_delta = self.early_stopping.min_delta if self.early_stopping else 0.0
        improved = eval_loss < evaluation.best_loss - min_delta
        best_epoch = jnp.where(improved, epoch, evaluation.best_epoch).astype(jnp.int32)
        stopped = -1
        if self.early_stopping is not None:
            stopped = jnp.where(epoch - best_epoch >= self.early_stopping.patience, epoch, -1)
        keep = functools.partial(jax.tree.map, lambda new, old: jnp.where(improved, new, old))
        return (
            Evaluation(
                initial_loss=evaluation.initial_loss,
                best_params=keep(carry.params, evaluation.best_params),
                best_model_state=keep(carry.model_state, evaluation.best_model_state),
                best_loss=jnp.minimum(eval_loss, evaluation.best_loss),
                best_epoch=best_epoch,
                stopped_epoch=jnp.asarray(stopped, jnp.int32),
                initial_metrics=evaluation.initial_metrics,
            ),
            eval_loss,
            self._eval_metrics(carry.params, carry.model_state),
        )

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
            eval_metrics=log.eval_metrics,
            initial_eval_metrics=evaluation.initial_metrics if evaluation is not None else {},
        )

    def _check_data(self, data) -> tuple:
        num_samples = check_data(data)
        if num_samples != self.plan.num_samples:
            raise ValueError(
                f"the plan is for num_samples={self.plan.num_samples} but data has {num_samples} rows; "
                f"make the plan with training.make_plan({num_samples}, ...)"
            )
        return tuple(data)


def _checked_scalar(loss):
    if not hasattr(loss, "shape") or jnp.shape(loss) != ():
        shown = f"shape {jnp.shape(loss)}" if hasattr(loss, "shape") else type(loss).__name__
        raise ValueError(f"loss_fn must return a scalar (the mean loss of the batch); it returned {shown}")
    return loss


def _checked_metric(name: str, value) -> jax.Array:
    is_number = hasattr(value, "shape") or isinstance(value, (int, float))
    if not is_number or jnp.shape(value) != ():
        shown = f"shape {jnp.shape(value)}" if hasattr(value, "shape") else type(value).__name__
        raise ValueError(
            f"metrics[{name!r}] must return a scalar (one number for the whole eval_data); it returned {shown}"
        )
    return jnp.asarray(value, jnp.float32)


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
    metrics: dict[str, Callable] | None = None,
) -> History:
    """One whole run, pure: ``make_train(loss_fn, plan, ...)(params, optimizer, data, key, model_state)``."""
    trainer = make_train(
        loss_fn,
        plan,
        eval_data=eval_data,
        early_stopping=early_stopping,
        progress_every=progress_every,
        metrics=metrics,
    )
    return trainer(params, optimizer, data, key, model_state)
