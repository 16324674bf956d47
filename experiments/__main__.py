"""``python -m experiments NAME [--out DIR] [--quick] [--seed N]``, or ``list``."""

from __future__ import annotations

import importlib
import sys

from experiments import REGISTRY
from experiments._common import enable_compilation_cache

USAGE = "usage: python -m experiments {list | NAME} [--out DIR] [--quick] [--seed N]"


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
    if name not in REGISTRY:
        print(f"unknown experiment {name!r}; choose one of: {', '.join(REGISTRY) or '(none yet)'}", file=sys.stderr)
        return 2
    enable_compilation_cache()
    module = importlib.import_module(REGISTRY[name][0])
    return module.main(rest) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
