"""Training runs as one compiled ``lax.scan`` program (``trainer``)."""

from jaxopt_course.training.trainer import *  # noqa: F403
from jaxopt_course.training.trainer import _uniform_below, tick  # noqa: F401
