"""The course's worked examples, one module each: ``python -m experiments NAME``.

Every module has the same shape (STYLE.md): a frozen ``Config`` whose defaults are the course's,
a pure ``run(cfg)``, a ``plot(results, cfg)`` built from ``jaxopt_course.plotting`` helpers, and
``main(argv)`` with ``--out``, ``--quick`` and ``--seed``.

``REGISTRY`` maps each experiment's command name to its module and a one-line description; add a
line here when you add a module.
"""

REGISTRY: dict[str, tuple[str, str]] = {
    # name: (module, what it shows)
    "schedules": ("experiments.schedules", "E6: every learning-rate schedule of the course on one sheet"),
    "lr_momentum_sweep": ("experiments.lr_momentum_sweep", "Sweep: learning rate x momentum x seeds of E3's mini-batch task, one compiled program"),
    "momentum_theory": ("experiments.momentum_theory", "Sweep: momentum's optimal step and rate on a quadratic, measured against theory"),
    "batch_modes": ("experiments.batch_modes", "E3: batch vs stochastic vs mini-batch gradient descent (the headline)"),
}
