"""The course's optimisers, one module per chapter."""

from jaxopt_course.optimizers.adadelta import adadelta, scale_by_adadelta
from jaxopt_course.optimizers.adagrad import adagrad, scale_by_adagrad
from jaxopt_course.optimizers.adam import adam, adamw, amsgrad, scale_by_adam, scale_by_amsgrad
from jaxopt_course.optimizers.rmsprop import rmsprop, scale_by_rms
from jaxopt_course.optimizers.sgd import scale_by_momentum, sgd

__all__ = [
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
    "scale_by_momentum",
    "scale_by_rms",
    "sgd",
]
