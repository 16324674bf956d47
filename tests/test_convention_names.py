"""The conventions' module names: new names beside the real packages, old names as aliases."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jaxopt_course import conventions
from jaxopt_course.conventions import optax_compat, optax_compat_schedules, pytorch, pytorch_schedules

ROOT = Path(__file__).resolve().parent.parent
RENAMED = {
    "torch": pytorch,
    "optax": optax_compat,
    "torch_schedules": pytorch_schedules,
    "optax_schedules": optax_compat_schedules,
}


@pytest.mark.parametrize("old_name", sorted(RENAMED))
def test_old_names_are_the_same_modules(old_name):
    """conventions.<old name> is the renamed module itself, as an attribute, an import and a from-import."""
    new = RENAMED[old_name]
    assert getattr(conventions, old_name) is new
    assert importlib.import_module(f"jaxopt_course.conventions.{old_name}") is new
    assert sys.modules[f"jaxopt_course.conventions.{old_name}"] is new
    for name in getattr(new, "__all__", None) or [n for n in vars(new) if not n.startswith("_")]:
        assert getattr(importlib.import_module(f"jaxopt_course.conventions.{old_name}"), name) is getattr(new, name)


def test_old_import_forms_in_a_fresh_process_and_real_packages_beside_the_new_names():
    """In a new interpreter: ``import ...conventions.torch as t`` and ``from ...conventions.torch
    import adamw`` give the new module's objects, and a porting script that imports ``pytorch``
    and ``optax_compat`` and then ``torch`` and ``optax`` gets the real packages under those names.

    ``import torch`` is answered by the spec that the import system finds for it (the module in
    ``sys.modules`` if one is there, else the first ``torch`` on the path): the real package's,
    not a module of this project.  Finding it costs nothing; executing torch's import costs 4 s."""
    script = """
import importlib.util
import os
import jaxopt_course.conventions.torch as t
from jaxopt_course.conventions.torch import adamw
from jaxopt_course.conventions.optax import adam as compat_adam
from jaxopt_course.conventions import pytorch, optax_compat
import optax
assert t is pytorch and adamw is pytorch.adamw and compat_adam is optax_compat.adam
torch = importlib.util.find_spec("torch")
assert torch.origin.endswith(os.path.join("site-packages", "torch", "__init__.py")), torch.origin
assert optax.adam is not compat_adam and optax.__name__ == "optax", optax
assert pytorch.__name__ == "jaxopt_course.conventions.pytorch"
print("ok")
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


def test_no_module_of_the_package_is_named_after_a_framework_package():
    """No file of the package is named torch.py or optax.py (the names a porting script imports)."""
    package = Path(conventions.__file__).resolve().parent.parent
    clashing = sorted(str(p.relative_to(package)) for p in package.rglob("*.py") if p.stem in ("torch", "optax"))
    assert not clashing, clashing
