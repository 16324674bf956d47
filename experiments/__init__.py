"""The course's worked examples, one module each: ``python -m experiments NAME``.

Every module has the same shape: a frozen ``Config`` whose defaults are the course's,
a pure ``run(cfg)``, a ``plot(results, cfg)`` built from ``jaxopt_course.plotting`` helpers, and
``main(argv)`` with ``--out``, ``--quick`` and ``--seed``.

``REGISTRY`` maps each experiment's command name to its module and a one-line description; add a
line here when you add a module.  The experiments are a folder run from the project root
(``python -m experiments all``), not part of the installed package.

What the results page (``report.py``) shows of an experiment: from its result folder, the run's
``summary.txt`` (the measured reading) and the figures ``manifest.json`` lists; from its module,
three optional names, read as plain module attributes:

* ``CAPTIONS: dict[str, str]``: figure name (a key of the ``figures`` given to
  ``write_results``, the PNG's stem) → the caption under it.  Built at import, so a number in it
  is derived from the module's ``Config`` defaults (as ``keras_steps`` does) or stated as a
  measurement in ``summary.txt`` instead; never copied from a run.  Every figure has one (the
  quick-run tests check it).
* ``PUBLISHED: dict[str, object]``: the numbers the course printed, shown as "The course printed";
  only the course's own numbers, which the module's tests assert the run against.
* ``BUGS: str``: where the course's code has a bug, one paragraph naming it and what the corrected
  variant changes, shown highlighted.  Such a module runs both variants and names the published
  figures ``<name>_published``.
"""

REGISTRY: dict[str, tuple[str, str]] = {
    # name: (module, what it shows), in the course's order, then the sweeps
    "gd_1d": ("experiments.gd_1d", "E1: gradient descent on x² + 4x + 1 from -10, lr 0.9"),
    "gd_2d": ("experiments.gd_2d", "E2: gradient descent on x² + 2y² from (-10, -10), lr 0.1: 3-D and contour paths"),
    "batch_modes": ("experiments.batch_modes", "E3: batch vs stochastic vs mini-batch gradient descent (the headline)"),
    "optimizer_comparison": (
        "experiments.optimizer_comparison",
        "E4: six optimisers (torch) on a small regression, in lock-step; as published and corrected",
    ),
    "lr_scheduler": ("experiments.lr_scheduler", "E5: SGD lr 0.1 with and without ExponentialLR(0.99) per epoch"),
    "schedules": ("experiments.schedules", "E6: every learning-rate schedule of the course on one sheet"),
    "adagrad_linreg": (
        "experiments.adagrad_linreg",
        "E7: AdaGrad's shrinking steps on linear regression (lr 0.01, full batch)",
    ),
    "linear_regression": (
        "experiments.linear_regression",
        "E8: d2l linear regression from scratch (batches of 10, lr 0.03, 3 epochs)",
    ),
    "keras_steps": ("experiments.keras_steps", "E9 (a, b): Keras SGD: 1.0 -> 0.9; momentum steps 0.1 then 0.18"),
    "tiny_linear": (
        "experiments.tiny_linear",
        "E9 (c): y = w x on three points by GD and SGD (the published sampling bug beside the fix)",
    ),
    "momentum_ill_conditioned": (
        "experiments.momentum_ill_conditioned",
        "E10: GD vs momentum, then AdaGrad/RMSProp/AdaDelta/Adam on 0.1x1² + 2x2²",
    ),
    "saddle": ("experiments.saddle", "E11: escaping a saddle and a plateau: which optimiser leaves first"),
    "model_selection": (
        "experiments.model_selection",
        "E12: capacity, data size, K-fold CV, weight decay, dropout, early stopping, vanishing/exploding gradients",
    ),
    "lr_momentum_sweep": (
        "experiments.lr_momentum_sweep",
        "Sweep: learning rate x momentum x seeds of E3's mini-batch task, one compiled program",
    ),
    "momentum_theory": (
        "experiments.momentum_theory",
        "Sweep: momentum's optimal step and rate on a quadratic, measured against theory",
    ),
    "digits": (
        "experiments.digits",
        "Digits: the course's optimisers on 8×8 handwritten digits (test accuracy), and a learning-rate sweep against successive halving",
    ),
}
