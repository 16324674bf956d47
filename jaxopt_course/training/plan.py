"""The static shape of a run: its :class:`Plan` (epochs, steps, batch size, sampling mode) and
its :class:`EarlyStopping` rule.

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
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from jaxopt_course.checks import check_count, is_count

SAMPLING = ("epoch", "sequential", "single_batch", "replacement")
WHOLE_EPOCHS = ("epoch", "sequential")


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
        raise ValueError(
            f"num_samples must be a positive integer (the number of training samples); got {num_samples!r}"
        )
    if sampling not in SAMPLING:
        raise ValueError(f"sampling must be one of {SAMPLING}; got {sampling!r}")
    if not is_count(batch_size) or not 1 <= batch_size <= num_samples:
        raise ValueError(
            f"batch_size must be an integer in [1, {num_samples}] (the number of samples); got {batch_size!r}"
        )
    if (num_epochs is None) == (num_steps is None):
        raise ValueError(
            f"give exactly one of num_epochs and num_steps; got num_epochs={num_epochs!r}, num_steps={num_steps!r}"
        )
    for name, value in (("num_epochs", num_epochs), ("num_steps", num_steps)):
        check_count(name, value, allow_none=True)
    if not isinstance(drop_last, (bool, np.bool_)):
        raise ValueError(f"drop_last must be True or False; got {drop_last!r}")
    num_samples, batch_size = int(num_samples), int(batch_size)
    per_epoch = (
        num_samples // batch_size if (drop_last and sampling in WHOLE_EPOCHS) else math.ceil(num_samples / batch_size)
    )
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
        check_count("patience", self.patience)
        if (
            isinstance(self.min_delta, bool)
            or not isinstance(self.min_delta, (numbers.Real, np.floating))
            or not self.min_delta >= 0
        ):
            raise ValueError(f"min_delta must be a number >= 0; got {self.min_delta!r}")
        object.__setattr__(self, "patience", int(self.patience))
