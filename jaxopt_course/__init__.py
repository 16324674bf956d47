"""jaxopt_course: the optimisation methods of deep learning, from scratch, in JAX.

Every optimiser is a pure ``(init, update)`` ``optax.GradientTransformation``: use it alone, or
inside ``optax.chain`` with optax's own transforms.  Framework-exact variants live in
``jaxopt_course.conventions.{optax, torch, keras, d2l}``.
"""

from jaxopt_course.base import scale_by_learning_rate

__all__ = ["scale_by_learning_rate"]
__version__ = "0.1.0"
