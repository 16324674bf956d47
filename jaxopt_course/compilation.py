"""How this package compiles its programs: ``jit``, ``jax.jit`` with CPU options for short runs.

The programs of this package (a training loop over a small model, a sweep, an optimiser's path
on a test function) run for milliseconds to seconds, so on a CPU much of a first call is XLA
compiling it.  Two sets of XLA's CPU options shorten that:

* :data:`CPU_OPTIONS`, which every program of the package compiles with, cost nothing at run
  time (E3's mini-batch loop: 14 800 steps/s with XLA's defaults, 15 000 with them):

  - ``xla_backend_optimization_level=1``: LLVM's lighter pipeline (level 0 compiles faster
    still but runs these loops 3× slower);
  - ``xla_cpu_parallel_codegen_split_count=1``: one LLVM module per program rather than
    pieces built on several threads, which costs more CPU in all than it saves on two cores.

* :data:`SHORT_RUN_OPTIONS` trade run time for compile time, for a process whose programs run
  for less time than they take to compile (``python -m experiments`` applies them to its whole
  process with :func:`use_in_process`):

  - ``xla_backend_optimization_level=0``: LLVM's quickest pipeline.  Most of a compile is LLVM
    (an Adam run of E4: 0.35 CPU-s of its 0.54 at level 1, 0.07 of 0.19 at level 0), and the
    code it makes runs these loops about 3× slower, which a run of a few thousand small steps
    does not notice;
  - ``xla_cpu_use_fusion_emitters=False``: the older loop emitters for fused element-wise
    code, quicker to build than the MLIR fusion pipeline: E3's mini-batch program compiles in
    0.9 instead of 1.3 CPU-s, but runs 7% slower (15% in stochastic mode).

  A program that runs long even in such a process (a wide network trained for thousands of
  steps) is called inside :func:`long_runs`, which restores level 1 (and can name more options:
  a ten-layer batch-norm network compiles 3× slower with the older emitters).

And one choice of how JAX lowers its random numbers, :data:`UNROLLED_THREEFRY`.  On a CPU, JAX
lowers every Threefry-2x32 hash (behind ``fold_in``, ``split``, ``uniform``, ``randint``,
``permutation``) as a ``while`` loop of five iterations, and each loop costs a few µs at run
time and its own small computations at compile time.  With ``UNROLLED_THREEFRY`` (the default)
the package's first compiled program registers JAX's own straight-line lowering of the same hash
(the one it uses on GPUs) for the CPU as well: the same bits, a mini-batch step of ``fit`` in
23 instead of 42 µs, a stochastic step in 2 instead of 7.5 µs, and programs that draw random
numbers compile about 15% faster.  The registration is process-wide: JAX code of the user's own
that is lowered later also gets it (with the same numbers).  Set ``UNROLLED_THREEFRY = False``
before the first call of a program to keep JAX's loop.

Results agree with XLA's defaults to float32 rounding (the lighter LLVM pipeline can order a
sum differently; the older emitters and the unrolled hash give the same bits), which
``tests/test_compilation.py`` checks.  On other platforms (GPU, TPU) nothing is changed.  Set
:data:`CPU_OPTIONS` to ``{}`` to compile with XLA's defaults, or edit it: a program called
afterwards compiles again with the new options (each keeps one version per set of options).  An
option named in ``XLA_FLAGS`` when the package is imported is the user's choice: the package's
programs never override it.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib.metadata
import os
from typing import Any, Callable

import jax

CPU_OPTIONS: dict[str, Any] = {"xla_backend_optimization_level": 1, "xla_cpu_parallel_codegen_split_count": 1}
SHORT_RUN_OPTIONS: dict[str, Any] = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}
UNROLLED_THREEFRY = True
_LEVEL = "xla_backend_optimization_level"
_XLA_DEFAULT_LEVEL = 3  # XLA's own, where CPU_OPTIONS names no level
_threefry_lowering_chosen = False
_short_runs = False  # whether use_in_process made this a process of short runs


def _named_flags(flags: str) -> frozenset[str]:
    """The option names in an ``XLA_FLAGS`` value (``--name=value ...``)."""
    return frozenset(flag.split("=")[0].lstrip("-") for flag in flags.split())


_user_flags = _named_flags(os.environ.get("XLA_FLAGS", ""))  # the user's, read before use_in_process adds ours
# the options of the long_runs() blocks open in this thread (or task), innermost last
_long_runs: contextvars.ContextVar[tuple[dict[str, Any], ...]] = contextvars.ContextVar("long_runs", default=())


def choose_threefry_lowering() -> bool:
    """Registers JAX's straight-line Threefry lowering for the CPU, once, if :data:`UNROLLED_THREEFRY`.

    Returns whether the straight-line lowering is in use.  Where this JAX has no such rule under
    the expected names (its internals moved), JAX's own choice stays and False is returned.
    """
    global _threefry_lowering_chosen
    if _threefry_lowering_chosen or not UNROLLED_THREEFRY:
        return _threefry_lowering_chosen
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32
        primitive, straight_line = threefry2x32.threefry2x32_p, threefry2x32._threefry2x32_lowering_rule
    except (ImportError, AttributeError):
        return False
    mlir.register_lowering(primitive, straight_line, platform="cpu", inline=False)  # as JAX registers it for other platforms
    _threefry_lowering_chosen = True
    return True


def options() -> dict[str, Any] | None:
    """The compiler options for a program compiled now on this process's default backend.

    On a CPU: :data:`CPU_OPTIONS`; in a process of short runs (:func:`use_in_process`) also
    :data:`SHORT_RUN_OPTIONS`, with the optimisation level of :data:`CPU_OPTIONS` again inside
    :func:`long_runs` (and its options on top), and never an option the user set in
    ``XLA_FLAGS`` (compiler options would override it).  None on other platforms, or when
    nothing is left to set.
    """
    if jax.default_backend() != "cpu":
        return None
    short = SHORT_RUN_OPTIONS if _short_runs else {}
    chosen = CPU_OPTIONS | short
    blocks = _long_runs.get()
    if blocks and _LEVEL in short:
        chosen[_LEVEL] = CPU_OPTIONS.get(_LEVEL, _XLA_DEFAULT_LEVEL)
    for extra in blocks:
        chosen |= extra
    chosen = {name: value for name, value in chosen.items() if name not in _user_flags}
    return chosen or None


def options_key(chosen: dict[str, Any] | None) -> tuple | None:
    """A hashable key for a set of :func:`options`: a program keeps one compiled version per key."""
    return None if chosen is None else tuple(sorted(chosen.items()))


@contextlib.contextmanager
def long_runs(**xla_options):
    """Programs compiled inside run long: the optimisation level of :data:`CPU_OPTIONS` (LLVM's
    level 1) instead of the short runs' level 0, and ``xla_options`` on top.

    For a program whose run outlasts its compile in a process of short runs
    (:func:`use_in_process`), such as E12's 512-wide MLP trained for 1500 epochs (4 runs, cold:
    9.3 CPU-s at level 0, 4.2 at level 1).  ``xla_options`` names more, such as
    ``xla_cpu_use_fusion_emitters=True`` for a ten-layer batch-norm network (3× quicker to
    compile with them); an option the user set in ``XLA_FLAGS`` still wins.  Elsewhere only
    ``xla_options`` change anything.  The block holds for this thread (a context variable); a
    program of :func:`jit` or a sweep keeps one compiled version per set of options, so one
    function called inside and outside compiles once for each.
    """
    for name, value in xla_options.items():  # refused here, before anything is compiled or run
        if not name.startswith("xla_"):
            raise ValueError(f"long_runs: {name!r} is not an XLA option (their names start with 'xla_', such as xla_cpu_use_fusion_emitters)")
        if not isinstance(value, (bool, int, float, str)):
            raise TypeError(f"long_runs: {name} must be a bool, int, float or str (an XLA option's value); got {value!r}")
    token = _long_runs.set(_long_runs.get() + (dict(xla_options),))
    try:
        yield
    finally:
        _long_runs.reset(token)


def _accelerator_installed() -> bool:
    """Whether JAX may pick a GPU or TPU here: ``JAX_PLATFORMS`` names one, or a plugin for one is installed."""
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if platforms:
        return platforms.split(",")[0].strip().lower() != "cpu"
    names = {(d.metadata["Name"] or "").lower().replace("_", "-") for d in importlib.metadata.distributions()}
    return any(n.startswith(("jax-cuda", "jax-rocm", "libtpu", "jaxlib-cuda")) for n in names)


def _backend_started() -> bool:
    try:
        from jax._src import xla_bridge
    except ImportError:  # a JAX without this module: assume it has not started
        return False
    started = getattr(xla_bridge, "backends_are_initialized", None)
    return bool(started()) if callable(started) else False


def use_in_process() -> None:
    """Applies :data:`CPU_OPTIONS` and :data:`SHORT_RUN_OPTIONS` to every compile of this process
    (and chooses the Threefry lowering now, so that eager random draws get it too).

    For an application of short runs, such as the course's experiments: its programs, the
    package's and its own, and the small operations outside them (each of which JAX compiles on
    first use), all compile with both: through ``XLA_FLAGS``, and the package's programs through
    :func:`options` (inside :func:`long_runs`, at level 1 again).  Call it before JAX starts its
    backend.  Flags the user already set in ``XLA_FLAGS`` win, for the package's programs too.
    Nothing is changed where a GPU or TPU may be used, or once the backend has started: XLA
    reads the variable no more then, and the change would only leak into subprocesses.
    """
    global _short_runs, _user_flags
    choose_threefry_lowering()  # the experiments' own small random draws too
    if _short_runs or _accelerator_installed() or _backend_started():
        return  # applied already (XLA_FLAGS holds our flags now, not only the user's), or too late
    present = os.environ.get("XLA_FLAGS", "")
    named = _named_flags(present)
    _short_runs, _user_flags = True, named
    added = [f"--{name}={str(value).lower()}" for name, value in (CPU_OPTIONS | SHORT_RUN_OPTIONS).items() if name not in named]
    os.environ["XLA_FLAGS"] = " ".join(present.split() + added)


class _LazyJit:
    """``jax.jit(fun, compiler_options=options(), **kwargs)``, built when it is called.

    Building it on a call keeps an import from starting JAX's backend (which must not start before
    ``jax.distributed.initialize`` in a multi-process run).  There is one ``jax.jit`` per set of
    :func:`options` it is called under (inside and outside :func:`long_runs`).  Called inside
    another trace (with traced arguments), it is a plain nested ``jax.jit``: the outer program's
    options apply.
    """

    def __init__(self, fun: Callable, kwargs: dict):
        self._fun, self._kwargs, self._jitted, self._nested = fun, kwargs, {}, None
        functools.update_wrapper(self, fun)

    def _program(self):
        chosen = options()
        key = options_key(chosen)
        if key not in self._jitted:
            choose_threefry_lowering()
            self._jitted[key] = jax.jit(self._fun, compiler_options=chosen, **self._kwargs)
        return self._jitted[key]

    def __call__(self, *args, **kwargs):
        if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves((args, kwargs))):
            if self._nested is None:
                choose_threefry_lowering()
                self._nested = jax.jit(self._fun, **self._kwargs)
            return self._nested(*args, **kwargs)
        return self._program()(*args, **kwargs)

    def lower(self, *args, **kwargs):
        return self._program().lower(*args, **kwargs)


def jit(fun: Callable | None = None, **kwargs) -> Callable:
    """``jax.jit`` with this package's compiler options; usable as ``@jit`` or ``@jit(static_argnums=...)``."""
    if fun is None:
        return functools.partial(jit, **kwargs)
    return _LazyJit(fun, kwargs)
