"""jaxopt_course: the optimisation methods of deep learning, from scratch, in JAX.

Every optimiser is a pure ``(init, update)`` ``optax.GradientTransformation``: use it alone, or
inside ``optax.chain`` with optax's own transforms.  Framework-exact variants live in
``jaxopt_course.conventions.{optax_compat, pytorch, keras, d2l}``.  Every optimiser, schedule and
regulariser is also a pytree of its numeric hyper-parameters (``jaxopt_course.hyperparams``):
chain them with :func:`chain` to keep that, so that a new optimiser with new numbers reuses every
compiled program.
"""

from jaxopt_course.hyperparams import chain
from jaxopt_course.learning_rate import scale_by_learning_rate
from jaxopt_course.optimizers import (
    adadelta,
    adagrad,
    adam,
    adamw,
    amsgrad,
    rmsprop,
    scale_by_adadelta,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_amsgrad,
    scale_by_momentum,
    scale_by_rms,
    sgd,
)
from jaxopt_course.sweeps import HalvingResult, HyperbandResult, SweepResult, Zip, hyperband, successive_halving, sweep
from jaxopt_course.training import EarlyStopping, History, fit

__all__ = [
    "chain",
    "EarlyStopping",
    "History",
    "fit",
    "HalvingResult",
    "HyperbandResult",
    "hyperband",
    "successive_halving",
    "sweep",
    "SweepResult",
    "Zip",
    "adadelta",
    "adagrad",
    "adam",
    "adamw",
    "amsgrad",
    "rmsprop",
    "scale_by_adadelta",
    "scale_by_adagrad",
    "scale_by_adam",
    "scale_by_amsgrad",
    "scale_by_learning_rate",
    "scale_by_momentum",
    "scale_by_rms",
    "sgd",
]
__version__ = "0.1.0"
