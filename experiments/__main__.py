"""``python -m experiments NAME [--out DIR] [--quick] [--seed N]``, ``all`` or ``list``."""

from __future__ import annotations

import importlib
import sys

from experiments import REGISTRY
from experiments._common import enable_compilation_cache

USAGE = "usage: python -m experiments {list | all | NAME} [--out DIR] [--quick] [--seed N]"


def list_experiments() -> str:
    width = max((len(name) for name in REGISTRY), default=0)
    return "\n".join(f"{name:<{width}}  {description}" for name, (_, description) in REGISTRY.items())


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(USAGE + "\n\n" + list_experiments())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "list":
        print(list_experiments())
        return 0
    if name == "all":
        return run_all_command(rest)
    if name not in REGISTRY:
        print(f"unknown experiment {name!r}; choose one of: {', '.join(REGISTRY) or '(none yet)'}", file=sys.stderr)
        return 2
    enable_compilation_cache()
    module = importlib.import_module(REGISTRY[name][0])
    try:
        return module.main(rest) or 0
    except ValueError as error:  # a bad --out, or a bad value given on the command line
        print(f"error: {error}", file=sys.stderr)
        return 2


def run_all_command(argv: list[str]) -> int:
    """``all [--out DIR] [--quick] [--seed N]``: every experiment, then ``DIR/index.html``."""
    import argparse

    from experiments.report import run_all

    parser = argparse.ArgumentParser(prog="python -m experiments all", description="run every experiment and write index.html")
    parser.add_argument("--out", default="results", help="folder for every experiment's results and index.html (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="the small, fast version of each experiment")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    enable_compilation_cache()
    try:
        outcomes = run_all(args.out, quick=args.quick, seed=args.seed)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = [o["name"] for o in outcomes if o["error"]]
    print(f"wrote {args.out}/index.html; " + (f"FAILED: {', '.join(failed)}" if failed else "all experiments succeeded"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
