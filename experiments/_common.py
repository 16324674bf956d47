"""What every experiment's ``main`` shares: the command line and atomic result files."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from jaxopt_course.io import atomic_write, write_json, write_text


def enable_compilation_cache() -> str | None:
    """Keeps compiled programs on disk, so a second run of an experiment skips XLA compilation.

    The folder is ``$JAXOPT_COURSE_CACHE`` or ``~/.cache/jaxopt_course/xla``; setting
    ``JAXOPT_COURSE_CACHE=off`` disables it.  Returns the folder, or None when disabled.
    """
    import jax

    folder = os.environ.get("JAXOPT_COURSE_CACHE", str(Path.home() / ".cache" / "jaxopt_course" / "xla"))
    if folder.lower() in {"off", "0", "none", ""}:
        return None
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    return folder


def parse_args(argv: list[str] | None, name: str, description: str) -> argparse.Namespace:
    """``--out`` (default ``results/<name>``), ``--quick`` and ``--seed``."""
    parser = argparse.ArgumentParser(prog=f"python -m experiments {name}", description=description)
    parser.add_argument("--out", default=f"results/{name}", help="folder for figures and JSON (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a small, fast version (seconds) for tests")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default: %(default)s)")
    return parser.parse_args(argv)


def prepare_out_dir(out: str | os.PathLike) -> Path:
    """Creates ``out`` (and parents); a clear ValueError if it is a file or not writable."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {str(path)!r} is a file, not a folder; give a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"--out {str(path)!r} cannot be created: {error.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"--out {str(path)!r} is not writable; choose another folder")
    return path


def save_figure(figure, path: Path, dpi: int = 100) -> None:
    import matplotlib.pyplot as plt

    try:
        atomic_write(path, lambda temporary: figure.savefig(temporary, dpi=dpi, format=Path(path).suffix[1:]))
    finally:
        plt.close(figure)


def write_results(out: str | os.PathLike, *, config: Any, metrics: dict, figures: dict, summary: str) -> Path:
    """Writes ``config.json``, ``metrics.json``, ``summary.txt`` and ``<name>.png`` per figure.

    Every file is written atomically: an interrupted run leaves the previous files intact.
    The figures are closed.
    """
    folder = prepare_out_dir(out)
    for name, figure in figures.items():
        save_figure(figure, folder / f"{name}.png")
    write_json(folder / "config.json", config)
    write_json(folder / "metrics.json", metrics)
    write_text(folder / "summary.txt", summary.strip() + "\n")
    return folder
