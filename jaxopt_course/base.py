"""Type aliases shared by the package.

Argument checks live in :mod:`jaxopt_course.checks`, numerical helpers in
:mod:`jaxopt_course.numerics`, and the learning-rate step in :mod:`jaxopt_course.learning_rate`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

ArrayLike = jax.typing.ArrayLike
Schedule = Callable[[jax.Array], jax.Array]
ScalarOrSchedule = ArrayLike | Schedule
Params = Any
Updates = Any
