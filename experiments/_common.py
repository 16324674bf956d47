"""What every experiment's ``main`` shares: the command line and atomic result files."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def configure_jax() -> str | None:
    """How the experiments' processes compile: quickly, and kept on disk.

    * On a CPU, every compile of the process (the library's programs and the small operations
      outside them) uses ``jaxopt_course.compilation``'s ``CPU_OPTIONS`` and
      ``SHORT_RUN_OPTIONS`` (LLVM's level 0 and the older fusion emitters), which cut XLA's
      compile time for these short runs (one E4 program: 0.54 → 0.19 CPU-s;
      ``compilation.use_in_process``); the few programs that run long are called inside
      ``compilation.long_runs()``, at level 1.  It must run before JAX starts.
    * Compiled programs are kept on disk, so a second run of an experiment skips XLA
      compilation.  The folder is ``$JAXOPT_COURSE_CACHE`` or ``~/.cache/jaxopt_course/xla``;
      setting ``JAXOPT_COURSE_CACHE=off`` disables it.

    Returns the cache folder, or None when disabled.
    """
    import jax

    from jaxopt_course import compilation

    compilation.use_in_process()

    folder = os.environ.get("JAXOPT_COURSE_CACHE", str(Path.home() / ".cache" / "jaxopt_course" / "xla"))
    if folder.lower() in {"off", "0", "none", ""}:
        return None
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    return folder


def long_runs(worth: bool, **xla_options):
    """``compilation.long_runs(**xla_options)`` where ``worth``, else nothing: the short runs' level.

    A full configuration runs its large programs long enough for LLVM's level 1 to repay its
    longer compile; a ``--quick`` one runs them a fraction as long, and compiling at level 0
    costs less than the slower run loses, so ``main`` passes ``worth=not args.quick``.
    """
    from jaxopt_course import compilation

    return compilation.long_runs(**xla_options) if worth else contextlib.nullcontext()


def parse_args(argv: list[str] | None, name: str, description: str) -> argparse.Namespace:
    """``--out`` (default ``results/<name>``), ``--quick`` and ``--seed``.

    ``--out`` is checked (created, writable) before the experiment runs, so a bad folder fails in
    a second with a ValueError naming it, not after minutes of training.
    """
    parser = argparse.ArgumentParser(prog=f"python -m experiments {name}", description=description)
    parser.add_argument("--out", default=f"results/{name}", help="folder for figures and JSON (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a small, fast version (seconds) for tests")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default: %(default)s)")
    args = parser.parse_args(argv)
    prepare_out_dir(args.out)
    return args


def prepare_out_dir(out: str | os.PathLike) -> Path:
    """Creates ``out`` (and parents); a clear ValueError if it is a file or cannot be written.

    Writability is probed by creating (and removing) a file, which also holds for root, for
    read-only mounts and for access-control lists that permission bits do not show.
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {str(path)!r} is a file, not a folder; give a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-"):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise ValueError(
            f"--out {str(path)!r} cannot be created or written ({reason}); choose another folder"
        ) from None
    return path


def write_results(out: str | os.PathLike, *, config: Any, metrics: dict, figures: dict, summary: str) -> Path:
    """Writes ``<name>.png`` per figure, ``config.json``, ``metrics.json``, ``summary.txt`` and
    ``manifest.json`` (the list of this run's figures, which the report page shows).

    Everything is rendered first into a hidden staging folder inside ``out``; only then are the
    finished files renamed into place, manifest last.  A run interrupted while rendering leaves the
    previous results untouched, and no file is ever half-written.  The figures are closed.
    """
    import matplotlib.pyplot as plt

    from jaxopt_course.sweeps.files import write_json, write_text

    folder = prepare_out_dir(out)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".staging-"))
    try:
        names = []
        for name, figure in figures.items():
            figure.savefig(staging / f"{name}.png", dpi=100)
            names.append(f"{name}.png")
        write_json(staging / "config.json", config)
        write_json(staging / "metrics.json", metrics)
        write_text(staging / "summary.txt", summary.strip() + "\n")
        files = names + ["config.json", "metrics.json", "summary.txt"]
        write_json(staging / "manifest.json", {"figures": names, "files": files})
        for name in files + ["manifest.json"]:  # the manifest last
            os.replace(staging / name, folder / name)
    finally:
        for figure in figures.values():
            plt.close(figure)
        shutil.rmtree(staging, ignore_errors=True)
    return folder
