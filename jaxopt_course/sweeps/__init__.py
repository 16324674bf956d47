"""Hyper-parameter sweeps: a grid × seeds as one compiled, vmapped program sharded over every device.

One file per job:

* :mod:`~jaxopt_course.sweeps.grid`: the grid (cartesian axes, :class:`Zip` axes), seeds' keys and
  devices, checked before any work;
* :mod:`~jaxopt_course.sweeps.programs`: the one builder of grid programs (``lower``), used by
  :func:`sweep` and by halving's rungs, and the program cache they share;
* :mod:`~jaxopt_course.sweeps.run`: :func:`sweep`;
* :mod:`~jaxopt_course.sweeps.halving`: :func:`successive_halving` and :func:`hyperband`;
* :mod:`~jaxopt_course.sweeps.results`: :class:`SweepResult` and its ``.npz`` files;
* :mod:`~jaxopt_course.sweeps.checkpoints`: finished parts on disk, verified when loaded, and
  the fingerprints that recognise a run in a later process;
* :mod:`~jaxopt_course.sweeps.files`: atomic writes of result files.
"""

from jaxopt_course.sweeps.checkpoints import fingerprint
from jaxopt_course.sweeps.grid import Zip, expand_grid
from jaxopt_course.sweeps.halving import (
    HalvingResult,
    HyperbandResult,
    hyperband,
    hyperband_brackets,
    successive_halving,
)
from jaxopt_course.sweeps.results import SweepResult
from jaxopt_course.sweeps.run import sweep

__all__ = [
    "HalvingResult",
    "HyperbandResult",
    "SweepResult",
    "Zip",
    "expand_grid",
    "fingerprint",
    "hyperband",
    "hyperband_brackets",
    "successive_halving",
    "sweep",
]
