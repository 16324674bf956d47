"""Each framework's optimisers, with its defaults, keyword names and formulas.

``conventions.torch``, ``conventions.keras``, ``conventions.d2l`` and ``conventions.optax`` expose
the same names (``sgd``, ``adagrad``, ``rmsprop``, ``adadelta``, ``adam``, ``adamw``), so a recipe
ported from one framework keeps its numbers; ``conventions.optax`` is optax name for name.
``conventions.variants`` holds the small pieces in which the frameworks differ from the papers.
docs/conventions.md lists every difference; the docstrings repeat the ones that change
trajectories.
"""

from jaxopt_course.conventions import d2l, keras, optax, torch, variants

__all__ = ["d2l", "keras", "optax", "torch", "variants"]
