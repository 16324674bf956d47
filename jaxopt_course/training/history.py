"""What a run carries from step to step and epoch to epoch, and what it returns.

All are NamedTuples, so they are pytrees: they pass through ``jit``, ``vmap`` and ``lax.scan``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax


class Evaluation(NamedTuple):
    """The evaluation state, in the carry only when the run has ``eval_data``."""

    initial_loss: jax.Array  # float32: eval loss of the initial parameters
    best_params: Any  # parameters of the epoch with the lowest eval loss so far
    best_model_state: Any  # the model state (running statistics) of that epoch, None without one
    best_loss: jax.Array  # float32: that loss (inf before the first epoch)
    best_epoch: jax.Array  # int32: that epoch (-1 before the first)
    stopped_epoch: jax.Array  # int32: the epoch at which early stopping fired, -1 while running
    initial_metrics: dict  # {name: float32} the metrics of the initial parameters ({} without metrics)


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
    eval_metrics: dict  # {name: [epochs]} each metric on eval_data after each epoch ({} without metrics)


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
    # the ``metrics=`` of the run, each a float32 per epoch on eval_data (NaN once stopped early), and of the
    # initial parameters: ``{}`` without metrics (None only in a History built by hand)
    eval_metrics: Any = None  # {name: [num_epochs]}
    initial_eval_metrics: Any = None  # {name: float32}


class StepState(NamedTuple):
    """What one step changes: the scan carry of a stretch of steps."""

    params: Any
    opt_state: Any
    model_state: Any  # None without one


class StepLog(NamedTuple):
    """What one step records."""

    loss: jax.Array  # the loss of the step's batch
    learning_rate: jax.Array  # η of the step (NaN if the optimiser keeps none)
