"""Training runs as one compiled ``lax.scan`` program.

The pipeline, top to bottom:

1. :func:`make_plan` fixes the static shape of a run (epochs, steps, batch size, sampling mode;
   ``plan``).
2. :func:`make_train` makes every static decision once and returns a :class:`Trainer`
   (``trainer``), whose pieces are pure (traceable, jittable, vmappable):

   * ``trainer(params, optimizer, data, key) -> History``: the whole run;
   * ``trainer.init(params, optimizer, key) -> TrainCarry`` and
     ``trainer.advance(carry, optimizer, data, num_epochs) -> (TrainCarry, History)``: the same
     run in resumable pieces (successive halving builds on them).

3. :func:`fit` checks its input once, compiles once per *structure* of run, and runs it with a
   progress bar (``fitting``).

What a run carries and returns is in ``history``; how a per-step mode draws its batch in
``batches``; the scan that reports progress in ``reporting``.
"""

from jaxopt_course.training.batches import distinct_draws
from jaxopt_course.training.fitting import MIN_STEPS_PER_REPORT, fit
from jaxopt_course.training.history import Evaluation, History, RunLog, TrainCarry
from jaxopt_course.training.plan import SAMPLING, WHOLE_EPOCHS, EarlyStopping, Plan, make_plan
from jaxopt_course.training.trainer import (
    Trainer,
    check_optimizer,
    check_params,
    check_start,
    make_train,
    takes_key,
    train,
)

__all__ = [
    "MIN_STEPS_PER_REPORT",
    "SAMPLING",
    "WHOLE_EPOCHS",
    "EarlyStopping",
    "Evaluation",
    "History",
    "Plan",
    "RunLog",
    "TrainCarry",
    "Trainer",
    "check_optimizer",
    "check_params",
    "check_start",
    "distinct_draws",
    "fit",
    "make_plan",
    "make_train",
    "takes_key",
    "train",
]
