"""``python -m experiments {list | all | explorer | NAME} [--out DIR] [--quick] [--seed N]``.

``all`` also takes ``--jobs N``: the number of worker processes (default: one per CPU core, at
most 4).  Every command's options are checked here before anything runs; a bad one ends in ONE
line on stderr and exit status 2 (``--seed`` outside [0, 2³²), an empty ``--out``, ``--jobs 0``,
an unknown option).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from experiments._common import configure_jax
from experiments.report import everything

USAGE = (
    "usage: python -m experiments {list | all | explorer | NAME} [--out DIR] [--quick] [--seed N]  (all: [--jobs N])"
)
SEED_LIMIT = 2**32  # without jax_enable_x64 a PRNG key keeps 32 bits: 2**32 would be seed 0 again


class CommandLineError(Exception):
    """A bad command line: its message is printed as one line, and the exit status is 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but an error raises :class:`CommandLineError` instead of printing usage and exiting."""

    def error(self, message):
        raise CommandLineError(f"{self.prog}: {message}")


def seed_value(text: str) -> int:
    """``--seed``: an integer in [0, 2³²)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 2**32); got {text!r}") from None
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 2**32) (a PRNG key holds 32 bits); got {text}")
    return value


def jobs_value(text: str) -> int:
    """``--jobs``: a positive number of worker processes."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer (worker processes); got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (worker processes); got {value}")
    return value


def out_value(text: str) -> str:
    """``--out``: a folder name; an empty one would write into the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder; got an empty string")
    return text


def options_parser(command: str, description: str, default_out: str) -> _Parser:
    """The options every command shares: ``--out``, ``--quick``, ``--seed``."""
    parser = _Parser(prog=f"python -m experiments {command}", description=description)
    parser.add_argument(
        "--out", type=out_value, default=default_out, help="folder for the results (default: %(default)s)"
    )
    parser.add_argument("--quick", action="store_true", help="the small, fast version (seconds)")
    parser.add_argument("--seed", type=seed_value, default=0, help="PRNG seed in [0, 2**32) (default: %(default)s)")
    return parser


def list_experiments() -> str:
    table = everything()
    width = max(len(name) for name in table)
    return "\n".join(f"{name:<{width}}  {description}" for name, (_, description) in table.items())


def main(argv: list[str]) -> int:
    try:
        return _dispatch(argv)
    except CommandLineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(USAGE + "\n\n" + list_experiments())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "list":
        _Parser(prog="python -m experiments list", description="list the experiments").parse_args(rest)
        print(list_experiments())
        return 0
    if name == "all":
        return run_all_command(rest)
    table = everything()
    if name not in table:
        raise CommandLineError(f"unknown experiment {name!r}; choose one of: list, all, {', '.join(table)}")
    options_parser(name, table[name][1], f"results/{name}").parse_args(rest)  # refuses bad options before any work
    configure_jax()
    module = importlib.import_module(table[name][0])
    try:
        return module.main(rest) or 0
    except ValueError as error:  # a bad --out (a file, unwritable), or a bad value given on the command line
        print(f"error: {error}", file=sys.stderr)
        return 2


def run_all_command(argv: list[str]) -> int:
    """``all [--out DIR] [--quick] [--seed N]``: every experiment and page, then ``DIR/index.html``."""
    from experiments.report import default_jobs, run_all

    parser = options_parser("all", "run every experiment and write index.html", "results")
    parser.add_argument(
        "--jobs",
        type=jobs_value,
        default=default_jobs(),
        help="worker processes, longest experiments first (default: one per CPU core, at most 4: %(default)s here)",
    )
    args = parser.parse_args(argv)
    if args.jobs == 1:
        configure_jax()  # several workers each configure their own process
    try:
        outcomes = run_all(args.out, quick=args.quick, seed=args.seed, jobs=args.jobs)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = [o["name"] for o in outcomes if o["error"]]
    print(
        f"wrote {args.out}/index.html; " + (f"FAILED: {', '.join(failed)}" if failed else "all experiments succeeded")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
