"""``fit``: checks a run's input once, compiles once per *structure* of run (a program cache keyed
by what the program closes over), and runs it with a progress bar."""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optax

from jaxopt_course import compilation
from jaxopt_course.data import check_data
from jaxopt_course.horizons import check_horizon
from jaxopt_course.hyperparams import ProgramCache, is_hyperparametric, structure_key
from jaxopt_course.progress import ProgressBar
from jaxopt_course.training.history import History
from jaxopt_course.training.plan import EarlyStopping, Plan, make_plan
from jaxopt_course.training.trainer import Trainer, check_start, make_train

MIN_STEPS_PER_REPORT = 2000  # fit's progress reports come at least this many steps apart

_PROGRAMS = ProgramCache(maxsize=64)


def _program(trainer: Trainer, optimizer):
    """The jitted run for this structure: one per (loss function, optimiser structure, plan, ...).

    Everything the program closes over is keyed by :func:`~jaxopt_course.hyperparams.static_key` at this call, so it is never
    staler than ``jax.jit`` of a freshly built ``loss_fn``.  An optimiser of this package is an
    *argument* of the program (its numbers are its pytree leaves), keyed by its structure as it is
    now (:func:`structure_key`); an optimiser we cannot see into by :func:`~jaxopt_course.hyperparams.static_key`.
    ``eval_data`` is an argument too: the program keeps ``trainer`` without it.  The metrics are
    keyed as the loss is: a new dict of equal functions reuses the program, another compiles anew.
    """
    hyperparametric = is_hyperparametric(optimizer)
    opaque = None if hyperparametric else optimizer
    structure = structure_key(optimizer) if hyperparametric else None
    with_eval = trainer.eval_data is not None
    trainer = dataclasses.replace(trainer, eval_data=None)

    def build():
        def train_program(params, optimizer, data, key, eval_data, model_state):
            run = dataclasses.replace(trainer, eval_data=eval_data).run
            return run(params, opaque if opaque is not None else optimizer, data, key, model_state)

        return compilation.jit(train_program)

    return _PROGRAMS.get(
        (
            trainer.loss_fn,
            opaque,
            structure,
            trainer.plan,
            trainer.early_stopping,
            trainer.progress_every,
            with_eval,
            trainer.metrics,
        ),
        build,
    )


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
    metrics: dict[str, Callable] | None = None,
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
      sampling: "epoch", "sequential", "single_batch" or "replacement" (:mod:`jaxopt_course.training.plan` describes each).
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
      metrics: ``{name: fn(params, batch) -> scalar}``, such as ``{"accuracy":
        models.accuracy(apply)}``, evaluated on the whole of ``eval_data`` (needs it) for the
        initial parameters and after every epoch: ``History.initial_eval_metrics[name]`` and
        ``History.eval_metrics[name]`` (float32 [num_epochs]).  With a ``model_state`` each is
        called ``fn(params, batch, model_state)`` with the running statistics
        (``models.accuracy(apply, stateful=True)``).  See :func:`~jaxopt_course.training.trainer.make_train`.

    Returns:
      A :class:`History`.  Called under ``jax.vmap`` or ``jit`` (traced inputs), ``fit`` is
      :meth:`Trainer.run`: no progress bar and no warning, the flag is in ``first_nonfinite_step``.

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
      * ``metrics`` are keyed the same way: an equal dict built again compiles nothing, a
        different one (another function, name or set of names) compiles its own program.
      * A new shape of data or parameters, or a new plan (batch size, steps, mode), compiles again.
    """
    num_samples = check_data(data)
    plan = make_plan(
        num_samples, batch_size, num_epochs=num_epochs, num_steps=num_steps, sampling=sampling, drop_last=drop_last
    )
    if on_nonfinite not in ("warn", "raise"):
        raise ValueError(f"on_nonfinite must be 'warn' or 'raise'; got {on_nonfinite!r}")
    check_start(params, optimizer, key)
    check_horizon(optimizer, plan.num_steps, stacklevel=3)  # a cosine that ends before the run would climb back
    traced = any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves((params, data, eval_data, key)))
    check_labels = getattr(loss_fn, "check_data", None)  # models.supervised_loss's: labels against the model's outputs
    if callable(check_labels) and not traced:
        for name, arrays in (("data", data), ("eval_data", eval_data)):
            if arrays is not None:
                check_labels(params, arrays, model_state, name)
    # at most ~20 host round trips (each ~0.3-1 ms), and none more often than every 2000 steps
    every = max(plan.num_steps // 20, MIN_STEPS_PER_REPORT) if progress and not traced else 0
    trainer = make_train(
        loss_fn, plan, eval_data=eval_data, early_stopping=early_stopping, progress_every=every, metrics=metrics
    )
    trainer.check_metric_outputs(params, model_state)
    if traced:
        return trainer.run(params, optimizer, tuple(data), key, model_state)
    for name, arrays in (("data", data), ("eval_data", eval_data)):
        if arrays is not None and not all(np.all(np.isfinite(np.asarray(a))) for a in arrays):
            raise ValueError(f"{name} contains NaN or inf; clean or drop those samples before training")
    program = _program(trainer, optimizer)
    with ProgressBar(plan.num_steps, enabled=progress):
        history = jax.block_until_ready(
            program(
                params, optimizer if is_hyperparametric(optimizer) else None, tuple(data), key, eval_data, model_state
            )
        )
        jax.effects_barrier()  # let the last progress callbacks land before the bar closes
    _flag(history, plan, early_stopping, on_nonfinite)
    if bool(np.all(np.isnan(np.asarray(history.learning_rate)))):  # the optimiser's state keeps no rate
        warnings.warn(
            "History.learning_rate will be NaN (unknown): this optimiser keeps no learning rate in its state, as optax's own "
            "optimisers do not. To record it, build it as optax.inject_hyperparams(optax.adam)(learning_rate=1e-3), "
            "or use this package's optimiser of the same name (jc.adam(1e-3))",
            UserWarning,
            stacklevel=2,
        )
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
            ratio = f" ({best / initial:.3g}x)" if initial > 0 else ""  # a run may start at a perfect fit
            warnings.warn(
                f"early stopping restored the parameters of epoch {best_epoch}, but no epoch improved on the initial "
                f"parameters: eval loss {best:.4g} against {initial:.4g} at the start{ratio}; the run "
                "diverged or moved away from the evaluation task: lower the learning rate or check eval_data",
                RuntimeWarning,
                stacklevel=3,
            )
