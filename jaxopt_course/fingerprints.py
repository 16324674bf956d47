"""Fingerprints of functions that a later process can compare: what a checkpoint records of ``run_fn``.

``fingerprint(value)`` is a hex digest of :func:`jaxopt_course.hyperparams.static_key`'s key for
the value (the package's one rule of "the same function"), with what that key holds by identity
(JAX arrays, objects it cannot see into, which only the running process can compare) described
by its contents instead.  So a function's
fingerprint is equal in two processes when its code (bytecode, constants, names; not the line it
stands on), its defaults, the values in its closure and the globals it reads (by name, and the
same way down into the functions it reads) are equal, and it changes when any of them changes.
Modules and the classes of installed libraries (and of this package) count by name, and such a
library's function by its code, defaults and closure, not the module globals it reads, so a
change inside a library the function calls is not seen.
A string or path that names an existing file counts with the file's bytes, so a function that
reads its data by path changes fingerprint when that file changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import types
from typing import Any

import jax
import numpy as np

from jaxopt_course.hyperparams import _Identity, static_key

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+|0x[0-9a-fA-F]{6,}")  # ids differ from process to process


def fingerprint(value: Any) -> str:
    """A digest equal across processes for values that compute alike (see the module docstring)."""
    digest = hashlib.sha256()
    _feed(digest, static_key(value), set())
    return digest.hexdigest()


def _digest_of(key: Any) -> str:
    digest = hashlib.sha256()
    _feed(digest, key, set())
    return digest.hexdigest()


def _feed(digest, key: Any, visiting: set) -> None:
    if type(key) is tuple:
        digest.update(b"(")
        for item in key:
            _feed(digest, item, visiting)
        digest.update(b")")
    elif isinstance(key, frozenset):  # a set's items, in an order every process agrees on
        digest.update(b"{" + b"".join(sorted(_digest_of(item).encode() for item in key)) + b"}")
    elif isinstance(key, _Identity):
        _feed_contents(digest, key.value, visiting)
    else:
        digest.update(_describe(key).encode() + b"\0")


def _describe(value: Any) -> str:
    """An atom of a key: a number, string, bytes, type, module or a value-hashable object."""
    if isinstance(value, bytes):
        return "bytes:" + value.hex()
    if isinstance(value, (str, os.PathLike)):
        return f"{type(value).__qualname__}:{value}{_file_contents(value)}"
    if isinstance(value, type):
        return f"type:{value.__module__}.{value.__qualname__}"
    if isinstance(value, types.ModuleType):
        return f"module:{value.__name__}"
    if isinstance(value, np.generic):
        return f"{value.dtype}:{value.tobytes().hex()}"
    return f"{type(value).__qualname__}:{_ADDRESS.sub('', repr(value))}"


def _file_contents(name) -> str:
    """A string or path that names an existing file stands for that file's bytes too: a ``run_fn``
    reading data by path then changes fingerprint when the file changes on disk."""
    try:
        if len(str(name)) > 4096 or "\0" in str(name) or not os.path.isfile(name):
            return ""
        digest = hashlib.sha256()
        with open(name, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        return f"|file:{digest.hexdigest()}"
    except (OSError, ValueError):
        return ""


def _feed_contents(digest, value: Any, visiting: set) -> None:
    """What ``static_key`` keeps by identity, by its contents: arrays by dtype, shape and bytes."""
    if id(value) in visiting:  # an object that contains itself
        digest.update(b"<cycle>")
        return
    visiting.add(id(value))
    try:
        if isinstance(value, jax.Array) and jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
            value = jax.random.key_data(value)
        if isinstance(value, os.PathLike):
            digest.update(_describe(value).encode() + b"\0")
        elif isinstance(value, (np.ndarray, jax.Array)):
            array = np.asarray(value)
            digest.update(f"array:{array.dtype}:{array.shape}:".encode() + hashlib.sha256(np.ascontiguousarray(array).tobytes()).digest())
        elif isinstance(value, dict):
            _feed(digest, ("dict",) + tuple((static_key(name), static_key(item)) for name, item in value.items()), visiting)
        elif isinstance(value, (list, tuple)):
            _feed(digest, (type(value).__qualname__,) + tuple(static_key(item) for item in value), visiting)
        elif isinstance(value, (set, frozenset)):
            _feed(digest, ("set",) + tuple(sorted(fingerprint(item) for item in value)), visiting)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            _feed(digest, (type(value),) + tuple((f.name, static_key(getattr(value, f.name, None))) for f in dataclasses.fields(value)), visiting)
        elif hasattr(value, "__dict__"):
            _feed(digest, (type(value),) + tuple((name, static_key(item)) for name, item in sorted(vars(value).items())), visiting)
        else:
            digest.update(_describe(value).encode() + b"\0")
    finally:
        visiting.discard(id(value))
