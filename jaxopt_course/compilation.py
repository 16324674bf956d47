"""How this package compiles its programs: :func:`jit`, ``jax.jit`` with CPU options for short runs.

* :data:`CPU_OPTIONS`: XLA options every program of the package compiles with on a CPU
  (LLVM's level 1, one LLVM module per program).  They do not change run time and shorten
  compiles.  An option the installed XLA refuses is dropped, with one ``RuntimeWarning`` naming
  it (checked once per set of options, by compiling a trivial program).
* :data:`SHORT_RUN_OPTIONS`: added for a process of short runs (:func:`use_in_process`, which
  ``python -m experiments`` calls): LLVM's level 0 and the older loop fusion emitters, quicker
  to compile, slower to run.  Programs called inside :func:`long_runs` get level 1 again.
* :data:`UNROLLED_THREEFRY`: in a process that opted in with :func:`use_in_process`, JAX's
  straight-line Threefry lowering (its GPU one) is registered for the CPU too, in place of a
  ``while`` loop per hash: the same bits, faster steps.  The registration is process-wide, so a
  plain library import or :func:`jc.fit <jaxopt_course.training.fit>` never makes it.

Results agree with XLA's defaults to float32 rounding (``tests/test_compilation.py``); the
measurements are in docs/performance.md.  Nothing is changed on a GPU or TPU.  ``CPU_OPTIONS = {}``
compiles with XLA's defaults; a program called after an edit compiles again (one version per set
of options).  An option named in ``XLA_FLAGS`` at import is the user's: never overridden.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib.metadata
import os
import threading
import warnings
from typing import Any, Callable

import jax

CPU_OPTIONS: dict[str, Any] = {"xla_backend_optimization_level": 1, "xla_cpu_parallel_codegen_split_count": 1}
SHORT_RUN_OPTIONS: dict[str, Any] = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}
UNROLLED_THREEFRY = True
_LEVEL = "xla_backend_optimization_level"
_XLA_DEFAULT_LEVEL = 3  # XLA's own, where CPU_OPTIONS names no level
_threefry_lowering_chosen = False
_threefry_opted_in = False  # whether use_in_process let this process register the lowering
_short_runs = False  # whether use_in_process made this a process of short runs


def _named_flags(flags: str) -> frozenset[str]:
    """The option names in an ``XLA_FLAGS`` value (``--name=value ...``)."""
    return frozenset(flag.split("=")[0].lstrip("-") for flag in flags.split())


_user_flags = _named_flags(os.environ.get("XLA_FLAGS", ""))  # the user's, read before use_in_process adds ours
# the options of the long_runs() blocks open in this thread (or task), innermost last
_long_runs: contextvars.ContextVar[tuple[dict[str, Any], ...]] = contextvars.ContextVar("long_runs", default=())


def choose_threefry_lowering() -> bool:
    """Registers JAX's straight-line Threefry lowering for the CPU, once, where the process opted in.

    Registers nothing unless :func:`use_in_process` opted this process in (and
    :data:`UNROLLED_THREEFRY` is true): the rule is process-wide, so a library process keeps JAX's
    own.  Returns whether the straight-line lowering is in use.  Where this JAX has no such rule
    under the expected names (its internals moved), JAX's own choice stays and False is returned.
    """
    global _threefry_lowering_chosen
    if _threefry_lowering_chosen or not (_threefry_opted_in and UNROLLED_THREEFRY):
        return _threefry_lowering_chosen
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32

        primitive, straight_line = threefry2x32.threefry2x32_p, threefry2x32._threefry2x32_lowering_rule
    except (ImportError, AttributeError):
        return False
    mlir.register_lowering(
        primitive, straight_line, platform="cpu", inline=False
    )  # as JAX registers it for other platforms
    _threefry_lowering_chosen = True
    return True


_verdicts: dict[tuple, frozenset[str]] = {}  # a set of options -> the names the installed XLA refuses
_warned: set[str] = set()
_verdicts_lock = threading.Lock()


def _refuses(chosen: dict[str, Any]) -> str | None:
    """XLA's message where it refuses to compile a trivial program with ``chosen``; None where it takes them."""
    try:
        jax.jit(_xla_option_probe, compiler_options=chosen).lower(jax.ShapeDtypeStruct((), "float32")).compile()
    except Exception as error:  # noqa: BLE001  (XLA's error type varies with the release)
        return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return None


def _xla_option_probe(x):
    return x + 1


def _known_to_xla(chosen: dict[str, Any]) -> dict[str, Any]:
    """``chosen`` less the options the installed XLA refuses, each named once in a RuntimeWarning.

    Checked once per set of options: one trivial compile, and one per option where it fails.
    """
    if not chosen:
        return chosen
    key = options_key(chosen)
    with _verdicts_lock:
        refused = _verdicts.get(key)
        if refused is None:
            refused, why = frozenset(), {}
            if _refuses(chosen) is not None:
                why = {
                    name: message for name, value in chosen.items() if (message := _refuses({name: value})) is not None
                }
                refused = frozenset(why)
            _verdicts[key] = refused
            for name in sorted(refused - _warned):
                _warned.add(name)
                warnings.warn(
                    f"jaxopt_course.compilation: the installed XLA refuses the option {name}={chosen[name]!r}, so the package's programs compile without it ({why[name]})",
                    RuntimeWarning,
                    stacklevel=3,
                )
    return {name: value for name, value in chosen.items() if name not in refused}


def options() -> dict[str, Any] | None:
    """The compiler options for a program compiled now on this process's default backend.

    On a CPU: :data:`CPU_OPTIONS`; in a process of short runs (:func:`use_in_process`) also
    :data:`SHORT_RUN_OPTIONS`, with the optimisation level of :data:`CPU_OPTIONS` again inside
    :func:`long_runs` (and its options on top), and never an option the user set in
    ``XLA_FLAGS`` (compiler options would override it).  An option of :data:`CPU_OPTIONS` or
    :data:`SHORT_RUN_OPTIONS` that the installed XLA refuses is left out, with one warning; one
    named to :func:`long_runs` is not checked (XLA refuses it at compile time).  None on other
    platforms, or when nothing is left to set.
    """
    if jax.default_backend() != "cpu":
        return None
    short = SHORT_RUN_OPTIONS if _short_runs else {}
    package = CPU_OPTIONS | short
    blocks = _long_runs.get()
    if blocks and _LEVEL in short:
        package[_LEVEL] = CPU_OPTIONS.get(_LEVEL, _XLA_DEFAULT_LEVEL)
    chosen = _known_to_xla({name: value for name, value in package.items() if name not in _user_flags})
    for extra in blocks:  # asked for by name: not checked, so XLA refuses an unknown one loudly
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
    (:func:`use_in_process`), such as E12's 512-wide MLP trained for 1500 epochs.  ``xla_options``
    names more, such as ``xla_cpu_use_fusion_emitters=True`` (which E12's ten-layer batch-norm
    network compiles with); an option the user set in ``XLA_FLAGS`` still wins.  An option the
    installed XLA does not know is not dropped here, as it is from :data:`CPU_OPTIONS`: the
    program fails to compile, naming it.  Elsewhere only
    ``xla_options`` change anything.  The block holds for this thread (a context variable); a
    program of :func:`jit` or a sweep keeps one compiled version per set of options, so one
    function called inside and outside compiles once for each.
    """
    for name, value in xla_options.items():  # refused here, before anything is compiled or run
        if not name.startswith("xla_"):
            raise ValueError(
                f"long_runs: {name!r} is not an XLA option (their names start with 'xla_', such as xla_cpu_use_fusion_emitters)"
            )
        if not isinstance(value, (bool, int, float, str)):
            raise TypeError(
                f"long_runs: {name} must be a bool, int, float or str (an XLA option's value); got {value!r}"
            )
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
    """Applies :data:`CPU_OPTIONS` and :data:`SHORT_RUN_OPTIONS` to every compile of this process,
    and opts it in to the straight-line Threefry lowering (registered now, so that eager random
    draws get it too; :data:`UNROLLED_THREEFRY` false keeps JAX's loop).

    For an application of short runs, such as the course's experiments: its programs, the
    package's and its own, and the small operations outside them (each of which JAX compiles on
    first use), all compile with both: through ``XLA_FLAGS``, and the package's programs through
    :func:`options` (inside :func:`long_runs`, at level 1 again).  Call it before JAX starts its
    backend.  Flags the user already set in ``XLA_FLAGS`` win, for the package's programs too.
    Nothing is changed where a GPU or TPU may be used, or once the backend has started: XLA
    reads the variable no more then, and the change would only leak into subprocesses.
    """
    global _short_runs, _user_flags, _threefry_opted_in
    _threefry_opted_in = True
    choose_threefry_lowering()  # the experiments' own small random draws too
    if _short_runs or _accelerator_installed() or _backend_started():
        return  # applied already (XLA_FLAGS holds our flags now, not only the user's), or too late
    present = os.environ.get("XLA_FLAGS", "")
    named = _named_flags(present)
    _short_runs, _user_flags = True, named
    added = [
        f"--{name}={str(value).lower()}"
        for name, value in (CPU_OPTIONS | SHORT_RUN_OPTIONS).items()
        if name not in named
    ]
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
            self._jitted[key] = jax.jit(self._fun, compiler_options=chosen, **self._kwargs)
        return self._jitted[key]

    def __call__(self, *args, **kwargs):
        if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves((args, kwargs))):
            if self._nested is None:
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


class Program:
    """A traced (lowered) program, compiled when first called under a set of compiler options
    (``options()``), once for each set."""

    def __init__(self, lowered):
        self.lowered = lowered
        self._compiled: dict = {}
        self._lock = threading.Lock()  # lanes call one program from several threads: compile it once

    @property
    def out_tree(self):
        return self.lowered.out_tree

    def compiled(self, chosen: dict | None):
        """The executable for compiler options ``chosen`` (compiled on the first request)."""
        key = options_key(chosen)
        with self._lock:
            if key not in self._compiled:
                self._compiled[key] = self.lowered.compile(compiler_options=chosen)
            return self._compiled[key]

    def __call__(self, *args):
        return self.compiled(options())(*args)
