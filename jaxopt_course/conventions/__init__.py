"""Each framework's optimisers, with its defaults, keyword names and formulas.

``conventions.pytorch``, ``conventions.keras``, ``conventions.d2l`` and ``conventions.optax_compat``
expose the same names (``sgd``, ``adagrad``, ``rmsprop``, ``adadelta``, ``adam``, ``adamw``), so a
recipe ported from one framework keeps its numbers; ``conventions.optax_compat`` is optax name for
name.  ``conventions.variants`` holds the small pieces in which the frameworks differ from the
papers.  docs/conventions.md lists every difference; the docstrings repeat the ones that change
trajectories.

The modules are not named after the frameworks' packages, so that a porting script can import them
beside the real ones (``from jaxopt_course.conventions import pytorch`` then ``import torch``).
The names they had before, ``torch``, ``optax``, ``torch_schedules`` and ``optax_schedules``, stay
importable as aliases of the very same module objects: attributes of this package and entries of
``sys.modules``, so ``import jaxopt_course.conventions.torch as t`` and ``from
jaxopt_course.conventions.torch import adamw`` give what the new names give.
"""

import sys

from jaxopt_course.conventions import (
    d2l,
    keras,
    optax_compat,
    optax_compat_schedules,
    pytorch,
    pytorch_schedules,
    variants,
)

# the old names, bound to the very same modules (see above)
torch = pytorch
optax = optax_compat
torch_schedules = pytorch_schedules
optax_schedules = optax_compat_schedules
OLD_NAMES = ("torch", "optax", "torch_schedules", "optax_schedules")
sys.modules.update({f"{__name__}.{name}": globals()[name] for name in OLD_NAMES})

__all__ = ["d2l", "keras", "optax_compat", "pytorch", "variants"]
