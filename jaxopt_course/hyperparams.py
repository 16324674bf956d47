"""Hyper-parameters as data: optimisers and schedules that are pytrees of their numbers.

A factory decorated with :func:`hyperparameters` returns an object that remembers how it was
built.  As a pytree, its **leaves are its numbers** and everything else is its **structure**:

* numbers: Python floats and floating (or complex) arrays, and the numbers of every schedule or
  transform built by a decorated factory that it was given (a ``learning_rate`` schedule, the
  members of :func:`chain`);
* structure: the factory itself, flags (bools), integer counts, strings, ``None``, and anything
  this package cannot see into, such as a user's own schedule function or optax's own transforms.

Flattening splits an optimiser into ``(structure, numbers)``; unflattening calls the factory again
with new numbers.  So a jitted function that takes the optimiser as an *argument* traces once per
structure: ``jax.jit(f)(adam(1e-3))`` and ``jax.jit(f)(adam(3e-4))`` share one compiled program,
and ``jax.tree.map(lambda *v: jnp.stack(v), adam(1e-3), adam(3e-4))`` is two optimisers that
``jax.vmap`` runs side by side.  :func:`jaxopt_course.fit` relies on this: a freshly built
optimiser of the same structure compiles nothing.

Structure is compared through :func:`static_key`, a snapshot of what a fresh trace would read:
numbers, strings and tuples by value; lists, dicts, sets, numpy arrays and objects' attributes by
their contents now; functions by their code, defaults, closure and the globals they read; JAX
arrays by identity.  The same rule keys ``fit``'s loss function and ``sweep``'s ``run_fn``.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import inspect
import os
import sys
import sysconfig
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

__all__ = [
    "ProgramCache",
    "Schedule",
    "ScheduleWithHorizon",
    "Transform",
    "chain",
    "hyperparameters",
    "is_hyperparametric",
    "static_key",
    "structure_key",
]


# --------------------------------------------------------------------------- static keys
class _Identity:
    """A key that equals only the object it holds (and keeps it alive, so its id is not reused)."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __eq__(self, other) -> bool:
        return isinstance(other, _Identity) and other.value is self.value

    def __hash__(self) -> int:
        return id(self.value)

    def __repr__(self) -> str:
        return f"<identity of {type(self.value).__name__}>"


_VALUE_TYPES = (type(None), bool, int, float, complex, str, bytes, np.generic, types.ModuleType)
_visiting = threading.local()
# a class of these packages (or of Python itself) counts by its name: what it holds is the library's
_LIBRARY_FOLDERS = tuple(
    str(Path(folder).resolve())
    for name in ("stdlib", "platstdlib", "purelib", "platlib")
    if (folder := sysconfig.get_paths().get(name))
)
_CLASS_NOISE = frozenset(
    {
        "__dict__",
        "__weakref__",
        "__doc__",
        "__module__",
        "__qualname__",
        "__annotations__",
        "__firstlineno__",
        "__static_attributes__",
    }
)


def static_key(value: Any) -> Any:
    """A hashable key that is equal for two values exactly when a program may treat them alike.

    The one rule by which this package decides that a function, optimiser or schedule is "the
    same" as one seen before (``fit``'s programs, ``sweep``'s and halving's programs, and, as a
    digest, checkpoints' :func:`~jaxopt_course.sweeps.checkpoints.fingerprint`).  It is a snapshot of
    everything a fresh ``jax.jit`` of the value would read when tracing it *now*:

    * ``None``, numbers, strings, numpy scalars, modules: the value itself.
    * tuples, lists, dicts and sets: their items' keys, taken now (a list edited in place later
      gets a new key).
    * numpy arrays: dtype, shape and a digest of their bytes (an array edited in place gets a new
      key); JAX arrays, which cannot change, by identity.
    * a Python function: its code, its defaults, the keys of the values in its closure and of the
      globals it reads (by name), so a lambda rebuilt in a notebook cell, or a loss built again by
      the same helper, gets the same key, and one whose global, closure or array has changed
      gets a new one.
    * a bound method: its function and the key of its object; ``functools.partial``: its parts.
    * a transform or schedule of this package: its structure (taken now, see
      :func:`structure_key`) and numbers.
    * optax's own transforms: the keys of their ``init`` and ``update`` functions.
    * an object whose class defines ``__eq__`` and ``__hash__`` (a frozen dataclass, a Flax
      module): the object itself.
    * any other object with attributes (a ``SimpleNamespace``, a callable object, a config): its
      class and the keys of its attributes.  A class of the user's own code counts by its
      attributes and methods (a class attribute changed later gets a new key); a class of an
      installed library or of Python by its name.
    * anything else: its identity.

    Not seen: a value reached through a module's attribute (``config.lr`` of a module
    ``config``), and files a function reads.
    """
    if isinstance(value, _VALUE_TYPES):
        return (type(value), value)
    if isinstance(value, type):
        return _class_key(value)
    if isinstance(value, (Transform, Schedule)):
        return ("hyperparametric", structure_key(value), tuple(static_key(leaf) for leaf in jax.tree.leaves(value)))
    if isinstance(value, functools.partial):
        return (functools.partial, static_key(value.func), static_key(value.args), static_key(value.keywords))
    if isinstance(value, types.MethodType):
        return (types.MethodType, static_key(value.__func__), static_key(value.__self__))
    if isinstance(value, types.FunctionType):
        return _function_key(value)
    if isinstance(value, (staticmethod, classmethod)):
        return (type(value), static_key(value.__func__))
    if isinstance(value, property):
        return (property, static_key(value.fget), static_key(value.fset), static_key(value.fdel))
    if isinstance(value, optax.GradientTransformation):
        return (type(value), static_key(value.init), static_key(value.update))
    if isinstance(value, np.ndarray) and value.dtype != object:
        return (
            np.ndarray,
            str(value.dtype),
            value.shape,
            hashlib.blake2b(np.ascontiguousarray(value).view(np.uint8), digest_size=20).digest(),
        )
    if isinstance(value, (tuple, list, dict, set, frozenset)):
        return _guarded(value, _contents_key)
    if isinstance(value, jax.Array) or _hashable_by_value(value):
        return _Identity(value) if isinstance(value, jax.Array) else (type(value), value)
    return _guarded(value, _contents_key)


def _guarded(value: Any, key_of: Callable) -> Any:
    """``key_of(value)``, or a cycle marker when ``value`` is being keyed already (it contains itself)."""
    in_progress = getattr(_visiting, "objects", None)
    if in_progress is None:
        in_progress = _visiting.objects = set()
    if id(value) in in_progress:
        return ("cycle", type(value).__qualname__)
    in_progress.add(id(value))
    try:
        return key_of(value)
    finally:
        in_progress.discard(id(value))


def _contents_key(value: Any) -> Any:
    """A mutable value by what it holds now."""
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(static_key(item) for item in value))
    if isinstance(value, dict):
        return (type(value), tuple((static_key(name), static_key(item)) for name, item in value.items()))
    if isinstance(value, (set, frozenset)):
        return (type(value), frozenset(static_key(item) for item in value))
    if dataclasses.is_dataclass(value):
        return (
            static_key(type(value)),
            tuple((f.name, static_key(getattr(value, f.name, None))) for f in dataclasses.fields(value)),
        )
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        return (static_key(type(value)), tuple((name, static_key(item)) for name, item in sorted(attributes.items())))
    return _Identity(value)


def _class_key(cls: type) -> Any:
    """A library's class by its name; a class of the user's code also by what it defines."""
    if _from_library(cls):
        return (type, cls)
    return _guarded(
        cls,
        lambda c: (
            type,
            c,
            tuple(static_key(base) for base in c.__bases__),
            tuple((name, static_key(item)) for name, item in sorted(vars(c).items()) if name not in _CLASS_NOISE),
        ),
    )


@functools.lru_cache(maxsize=1024)
def _module_from_library(module_name: str) -> bool:
    if module_name.split(".")[0] in ("builtins", "jaxopt_course"):
        return True
    if module_name == "__main__":  # the user's script, even when run by a tool installed as a library
        return False
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if path is None:
        return module is not None and module_name != "__main__" and module_name in sys.builtin_module_names
    path = str(Path(path).resolve())
    return any(path.startswith(folder + os.sep) for folder in _LIBRARY_FOLDERS)


def _from_library(cls: type) -> bool:
    return _module_from_library(getattr(cls, "__module__", "builtins") or "builtins")


def _hashable_by_value(value: Any) -> bool:
    cls = type(value)
    if cls.__eq__ is object.__eq__ or cls.__hash__ is None or cls.__hash__ is object.__hash__:
        return False
    try:
        hash(value)
    except TypeError:
        return False
    return True


def structure_key(tree: Any) -> Any:
    """The key of a tree's structure *now*: its transforms' and schedules' recipes with each
    static argument keyed again (a user schedule whose global changed since it was built gets a
    new key), its numbers left out."""
    nodes = []

    def visit(node):
        if isinstance(node, (Transform, Schedule)):
            nodes.append(node.recipe.fresh_key())
            for child in node.children:
                visit(child)
        else:
            nodes.append(None)

    visit(tree)
    return tuple(nodes)


def _function_key(function: types.FunctionType) -> Any:
    in_progress = getattr(_visiting, "functions", None)
    if in_progress is None:
        in_progress = _visiting.functions = set()
    if id(function) in in_progress:  # a function that refers to itself (recursion)
        return ("recursive", _code_key(function.__code__))
    in_progress.add(id(function))
    try:
        cells = tuple(_cell_key(cell) for cell in function.__closure__ or ())
        if function.__module__ is not None and _module_from_library(function.__module__):
            # a library's code does not change in a process, and its globals are module attributes
            # (not seen, as for user code); its closures (a factory's inner functions) still count
            read_globals = ()
        else:
            names = sorted(name for name in _global_names(function.__code__) if name in function.__globals__)
            read_globals = tuple((name, static_key(function.__globals__[name])) for name in names)
        return (
            types.FunctionType,
            _code_key(function.__code__),
            cells,
            static_key(function.__defaults__),
            static_key(function.__kwdefaults__),
            read_globals,
        )
    finally:
        in_progress.discard(id(function))


def _code_key(code: types.CodeType) -> tuple:
    """What a code object computes: its bytecode, constants and names, not where it was written."""
    constants = tuple(_code_key(c) if isinstance(c, types.CodeType) else static_key(c) for c in code.co_consts)
    return (
        code.co_code,
        constants,
        code.co_names,
        code.co_varnames,
        code.co_freevars,
        code.co_cellvars,
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
        code.co_flags,
    )


def _cell_key(cell) -> Any:
    try:
        return static_key(cell.cell_contents)
    except ValueError:  # an empty cell
        return ("empty cell",)


def _global_names(code: types.CodeType) -> Iterator[str]:
    """Names a code object (and the functions defined inside it) may read as globals."""
    yield from code.co_names
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _global_names(constant)


# --------------------------------------------------------------------------- recipes
@dataclasses.dataclass(frozen=True)
class _Leaf:
    """Marks an argument (or part of one) that is a pytree child: a number or a nested node."""


_LEAF = _Leaf()


@dataclasses.dataclass(frozen=True)
class _Static:
    """An argument that is structure: compared through :func:`static_key`, kept for rebuilding."""

    value: Any = dataclasses.field(compare=False)
    key: Any

    def __repr__(self) -> str:
        return repr(self.value)


@dataclasses.dataclass(frozen=True)
class _Sequence:
    kind: type
    items: tuple


@dataclasses.dataclass(frozen=True)
class _Mapping:
    keys: tuple
    items: tuple


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (float, complex)):
        return True
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        return bool(jax.dtypes.issubdtype(value.dtype, np.inexact))
    return isinstance(value, jax.core.Tracer)


def _split(value: Any, static: bool, children: list) -> Any:
    """The spec of one argument; its numbers and nested nodes are appended to ``children``."""
    if not static and (_is_number(value) or isinstance(value, (Transform, Schedule))):
        children.append(value)
        return _LEAF
    if isinstance(value, (tuple, list)) and not hasattr(value, "_fields"):
        return _Sequence(type(value), tuple(_split(item, static, children) for item in value))
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        names = tuple(sorted(value))
        return _Mapping(names, tuple(_split(value[k], static, children) for k in names))
    if isinstance(value, dict):  # consumed when the factory runs, so compared by its items' values
        return _Static(
            value, (dict, tuple(sorted(((static_key(k), static_key(v)) for k, v in value.items()), key=repr)))
        )
    return _Static(value, static_key(value))


def _join(spec: Any, children: Iterator) -> Any:
    if spec is _LEAF:
        return next(children)
    if isinstance(spec, _Sequence):
        return spec.kind(_join(item, children) for item in spec.items)
    if isinstance(spec, _Mapping):
        return {name: _join(item, children) for name, item in zip(spec.keys, spec.items)}
    return spec.value


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How an object was built: the factory and its arguments with the numbers taken out.

    Two recipes are equal when the factories are the same and every static argument has an equal
    :func:`static_key`; this is the pytree's structure (its ``treedef`` auxiliary data).
    """

    factory: Callable = dataclasses.field(compare=False)
    factory_key: Any
    names: tuple[str, ...]
    specs: tuple

    def build(self, children) -> Any:
        """Calls the factory with these arguments and ``children`` as the numbers."""
        remaining = iter(children)
        arguments = {name: _join(spec, remaining) for name, spec in zip(self.names, self.specs)}
        bound = inspect.BoundArguments(inspect.signature(self.factory), arguments)
        return self.factory(*bound.args, **bound.kwargs)

    def fresh_key(self) -> tuple:
        """This recipe's key with every static argument keyed again now (see :func:`structure_key`)."""
        return (self.factory_key, self.names, tuple(_fresh(spec) for spec in self.specs))

    def __repr__(self) -> str:
        return f"{getattr(self.factory, '__qualname__', self.factory)}({', '.join(self.names)})"


def _fresh(spec: Any) -> Any:
    if isinstance(spec, _Static):
        return static_key(spec.value)
    if isinstance(spec, (_Sequence, _Mapping)):
        return (
            type(spec),
            getattr(spec, "kind", None),
            getattr(spec, "keys", None),
            tuple(_fresh(item) for item in spec.items),
        )
    return spec


# --------------------------------------------------------------------------- the two node types
class Transform(optax.GradientTransformation):
    """An ``optax.GradientTransformation`` that is also a pytree of its numeric hyper-parameters.

    It is the ``(init, update)`` pair optax expects, so ``optax.chain`` and every optax helper
    take it as they are.  A placeholder (what JAX builds when it unflattens a tree of non-numbers,
    such as ``in_axes`` specifications) has no ``init``/``update`` to call.
    """

    recipe: Recipe
    children: tuple

    def __repr__(self) -> str:
        return f"Transform({self.recipe!r}, numbers={list(self.children)!r})"


class Schedule:
    """A learning-rate schedule ``step -> η`` that is also a pytree of its numeric parameters.

    ``horizon`` is the :class:`jaxopt_course.horizons.Horizon` its factory stated (how many steps
    it is built for, and the argument that sets it), or None: see :class:`ScheduleWithHorizon`.
    """

    __slots__ = ("function", "recipe", "children", "horizon", "__weakref__")

    def __init__(self, function: Callable, recipe: Recipe, children: tuple, horizon: Any = None):
        self.function, self.recipe, self.children, self.horizon = function, recipe, children, horizon

    def __call__(self, count):
        return self.function(count)

    def __repr__(self) -> str:
        return f"Schedule({self.recipe!r}, numbers={list(self.children)!r})"


class ScheduleWithHorizon(NamedTuple):
    """What a schedule factory returns to state its horizon: the function and a
    :class:`jaxopt_course.horizons.Horizon` (or None).  A factory that returns a plain function
    builds a schedule without one; one that returns another factory's schedule keeps that
    schedule's horizon."""

    function: Callable
    horizon: Any


def _placeholder(*_args, **_kwargs):
    raise TypeError(
        "this transform was rebuilt by JAX from a tree that holds no numbers (an in_axes "
        "specification, shapes, ...); it cannot be called"
    )


def _make(built: Any, recipe: Recipe, children: tuple) -> Transform | Schedule:
    if isinstance(built, optax.GradientTransformation):
        made = Transform(built.init, built.update)
        made.__dict__.update(recipe=recipe, children=children)
        return made
    if isinstance(built, ScheduleWithHorizon):
        return Schedule(built.function, recipe, children, built.horizon)
    if callable(built):
        return Schedule(built, recipe, children, built.horizon if isinstance(built, Schedule) else None)
    raise TypeError(f"{recipe!r} returned {type(built).__name__}, neither a transform nor a schedule")


def _real(children: tuple) -> bool:
    """Whether unflattened children are numbers to build with (not a placeholder tree's leaves)."""
    for child in children:
        if isinstance(child, Transform):
            if child.init is _placeholder:
                return False
        elif isinstance(child, Schedule):
            if child.function is _placeholder:
                return False
        elif not _is_number(child):
            return False
    return True


def _flatten(node):
    return node.children, node.recipe


def _unflatten(recipe: Recipe, children) -> Transform | Schedule:
    children = tuple(children)
    if _real(children):
        return recipe.build(children)
    shell = (
        _placeholder
        if recipe.factory_key[1] == "schedule"
        else optax.GradientTransformation(_placeholder, _placeholder)
    )
    return _make(shell, recipe, children)


jax.tree_util.register_pytree_node(Transform, _flatten, _unflatten)
jax.tree_util.register_pytree_node(Schedule, _flatten, _unflatten)


def is_hyperparametric(value: Any) -> bool:
    """Whether ``value`` is a transform or schedule whose numbers are its pytree leaves."""
    return isinstance(value, (Transform, Schedule))


# --------------------------------------------------------------------------- the decorator
def hyperparameters(factory: Callable | None = None, *, static: tuple[str, ...] = (), kind: str = "transform"):
    """Decorator: the factory returns a :class:`Transform` (or :class:`Schedule`) that records
    its arguments, with the float ones as its pytree leaves.

    Args:
      factory: a function returning an ``optax.GradientTransformation`` or a schedule.
      static: names of float arguments that must stay Python values (they shape the program,
        e.g. a fraction of the steps); they are structure, compared by value.
      kind: ``"transform"`` or ``"schedule"``, what the factory returns.
    """
    if factory is None:
        return functools.partial(hyperparameters, static=static, kind=kind)
    if kind not in ("transform", "schedule"):
        raise ValueError(f"kind must be 'transform' or 'schedule'; got {kind!r}")
    signature = inspect.signature(factory)

    @functools.wraps(factory)
    def build(*args, **kwargs):
        built = factory(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        children: list = []
        specs = tuple(_split(value, name in static, children) for name, value in bound.arguments.items())
        recipe = Recipe(build, (_Identity(factory), kind), tuple(bound.arguments), specs)
        return _make(built, recipe, tuple(children))

    build.__signature__ = signature
    return build


@hyperparameters
def chain(*transforms: optax.GradientTransformation) -> optax.GradientTransformation:
    """``optax.chain`` whose numbers stay data: the chain of the members' numbers.

    Use it instead of ``optax.chain`` to chain this package's transforms when the chain is given
    to :func:`jaxopt_course.fit` (or any jitted function taking it as an argument): a new chain of
    the same shape with new numbers reuses the compiled program.  Members that are optax's own
    transforms are structure, compared by their closures' values (equal numbers reuse a program,
    new numbers compile again).
    """
    if not transforms:
        raise ValueError("chain needs at least one transform")
    for index, transform in enumerate(transforms):
        if not isinstance(transform, optax.GradientTransformation):
            raise TypeError(
                f"chain's argument {index} must be an optax.GradientTransformation (a called factory "
                f"such as jc.sgd(0.1)); got {transform!r}"
            )
    return optax.chain(*transforms)


# --------------------------------------------------------------------------- compiled programs by key
class ProgramCache:
    """Programs built once per :func:`static_key` of what they close over, least recently used dropped.

    ``cache.get(parts, build)`` returns the program built for equal ``parts`` (functions,
    optimisers, shapes, options), or calls ``build()`` and keeps its result.  ``parts`` are keyed
    at every call, so a function whose closure, globals or object changed since gets a new
    program, as a fresh ``jax.jit`` would, and an equal one rebuilt (a notebook cell run again)
    gets the old one.  ``fit``, ``sweep`` and successive halving keep their programs here.
    """

    def __init__(self, maxsize: int = 64):
        self.maxsize = maxsize
        self._programs: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, parts: tuple, build: Callable[[], Any]) -> Any:
        key = static_key(parts)
        with self._lock:
            if key in self._programs:
                self._programs.move_to_end(key)
                return self._programs[key]
        program = build()
        with self._lock:
            self._programs[key] = program
            while len(self._programs) > self.maxsize:
                self._programs.popitem(last=False)
        return program

    def clear(self) -> None:
        with self._lock:
            self._programs.clear()
