"""``SweepResult``: a sweep's grid and metrics, kept aligned, with a table, files and selections.

``save``/``load`` keep every array exactly (dtype and bits) in one ``.npz`` file, and the metrics'
pytree structure (dicts, lists, tuples, NamedTuples such as a training ``History``) as JSON beside
them; ``load`` never unpickles and never imports (NamedTuple classes come from the caller, from
modules already imported, or as stand-ins), restores bfloat16/float8 and typed PRNG keys exactly, and
checks the file is whole and its shapes agree with its grid and seeds.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import dataclasses
import io as _io
import json
import os
import sys
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import ml_dtypes
import numpy as np

from jaxopt_course.sweeps.files import atomic_write, write_json, write_text

FORMAT = "jaxopt_course.SweepResult/1"


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """``grid[name][i]`` is configuration i's value; every metric leaf has axes [configuration, seed, ...]."""

    grid: dict[str, np.ndarray]
    metrics: Any
    seeds: int

    @property
    def num_configurations(self) -> int:
        return len(next(iter(self.grid.values())))

    def _named(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(leaf) for name, leaf in named_leaves(self.metrics).items()}

    def metric_names(self) -> list[str]:
        return list(self._named())

    def _leaf(self, metric: str | None) -> np.ndarray:
        named = self._named()
        return named[check_metric(list(named), metric)]

    def final(self, metric: str | None = None) -> np.ndarray:
        """Per configuration: the mean over seeds (NaN if any seed diverged) of the last value (trailing axes
        are a history: [configuration, seed, step] keeps the last step)."""
        values = self._leaf(metric)
        while values.ndim > 2:
            values = values[..., -1]
        return values.mean(axis=1) if values.ndim == 2 else values  # a diverged seed makes it NaN

    def best(self, metric: str | None = None, mode: str = "min") -> dict:
        """The best configuration by :meth:`final` (NaN counts as worst): its values, score, index."""
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max'; got {mode!r}")
        scores = self.final(metric)
        if np.all(np.isnan(scores)):
            raise ValueError(
                f"{metric or 'the metric'} is NaN for every configuration (every run diverged?): there is no best one"
            )
        ranked = np.where(np.isnan(scores), np.inf if mode == "min" else -np.inf, scores)
        index = int(np.argmin(ranked) if mode == "min" else np.argmax(ranked))
        return {
            **{name: float(v[index]) for name, v in self.grid.items()},
            "score": float(scores[index]),
            "index": index,
        }

    def select(self, **fixed) -> SweepResult:
        """The configurations whose hyper-parameters equal ``fixed`` (to float32 rounding)."""
        keep = np.ones(self.num_configurations, bool)
        for name, value in fixed.items():
            if name not in self.grid:
                raise ValueError(f"select() got {name!r}, which is not a grid key ({list(self.grid)})")
            keep &= np.isclose(self.grid[name], np.float32(value), rtol=1e-6, atol=0)
        if not keep.any():
            raise ValueError(f"no configuration has {fixed}")
        return SweepResult(
            {n: v[keep] for n, v in self.grid.items()},
            jax.tree.map(lambda a: np.asarray(a)[keep], self.metrics),
            self.seeds,
        )

    def to_records(self) -> list[dict]:
        """One dict per configuration: its hyper-parameters and each metric's :meth:`final` value."""
        finals = {name: self.final(name) for name in self.metric_names()}
        return [
            {**{n: float(v[i]) for n, v in self.grid.items()}, **{m: float(f[i]) for m, f in finals.items()}}
            for i in range(self.num_configurations)
        ]

    def to_csv(self, path) -> None:
        _check_folder(path)
        records = self.to_records()
        buffer = _io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
        write_text(path, buffer.getvalue())

    def to_json(self, path) -> None:
        _check_folder(path)
        write_json(path, {"seeds": self.seeds, "grid": self.grid, "records": self.to_records()})

    def save(self, path: str | os.PathLike) -> None:
        """Writes grid, seeds and every metric array, bit for bit, to one ``.npz`` file (atomically).

        Metrics may hold dicts (string or integer keys), lists, tuples, NamedTuples, None, arrays of
        any numpy or ml_dtypes dtype (bfloat16, float8, …) and typed PRNG keys; anything else is a
        ``TypeError`` here, not a file that cannot be loaded."""
        leaves: list[np.ndarray] = []
        structure = encode_tree(self.metrics, leaves)
        write_npz(
            path,
            {"format": FORMAT, "seeds": self.seeds, "grid": list(self.grid), "metrics": structure},
            {**grid_arrays(self.grid), **leaf_arrays(leaves)},
        )

    @classmethod
    def load(cls, path: str | os.PathLike, namedtuples: Sequence[type] = ()) -> SweepResult:
        """The :class:`SweepResult` that :meth:`save` wrote to ``path``; never unpickles or imports.

        NamedTuples come back as the class of the same qualified name and fields in ``namedtuples``
        (e.g. ``(training.History,)``), else as that class if its module is already imported, else
        as a ``collections.namedtuple`` of the saved name and fields.  Checks: the file is a whole
        ``.npz`` written by :meth:`save` (a truncated or corrupt one is a ``ValueError`` naming it),
        and every grid array has one length and every metric leaf has axes [that length, seeds, …]."""
        stored = StoredFile(path, FORMAT, "SweepResult.save", namedtuples)
        with stored.reading():
            grid, metrics, seeds = stored.grid(), stored.tree(stored.meta["metrics"], stored.leaves()), stored.seeds()
        stored.check_shapes(grid, metrics, seeds)
        return cls(grid=grid, metrics=metrics, seeds=seeds)


# --------------------------------------------------------------------------- result files
def _extension_dtypes() -> dict[str, np.dtype]:
    """ml_dtypes' dtypes (bfloat16, float8_*, int4, …) by name: numpy saves them as void bytes."""
    return {
        name: np.dtype(kind)
        for name in dir(ml_dtypes)
        if isinstance(kind := getattr(ml_dtypes, name), type) and issubclass(kind, np.generic)
    }


EXTENSION_DTYPES = _extension_dtypes()


def write_npz(path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """``arrays`` and the JSON ``meta`` beside them in one ``.npz`` file, written atomically.

    An ml_dtypes array is stored as its bits (an unsigned integer of the same width) and its
    dtype's name in ``meta["dtypes"]``; :func:`read_npz` restores it exactly."""
    _check_folder(path)
    meta, stored = {**meta, "dtypes": {}}, {}
    for name, array in arrays.items():
        array = np.asarray(array)
        if array.dtype.name in EXTENSION_DTYPES and array.dtype == EXTENSION_DTYPES[array.dtype.name]:
            meta["dtypes"][name] = array.dtype.name
            array = array.view(f"u{array.dtype.itemsize}")
        stored[name] = array

    def write(temporary):
        with open(temporary, "wb") as stream:
            np.savez(stream, meta=np.array(json.dumps(meta)), **stored)

    atomic_write(path, write)


def read_npz(path, format_name: str, writer: str) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, every array) of a file that ``writer`` wrote in ``format_name``; never unpickles.

    A file that is not a whole ``.npz`` (truncated, overwritten, not one at all) is a
    ``ValueError`` naming it; a whole ``.npz`` of another writer or format says so."""
    try:
        with open(path, "rb") as stream:  # numpy leaves a path it opened open when the zip is bad
            stored = np.load(stream, allow_pickle=False)
            if not isinstance(stored, np.lib.npyio.NpzFile) or "meta" not in stored.files:  # an .npy is an array
                raise _NotOurs
            meta = json.loads(str(stored["meta"]))
            if not isinstance(meta, dict) or meta.get("format") != format_name:
                raise _NotOurs
            arrays = {name: stored[name] for name in stored.files if name != "meta"}
        for name, dtype in dict(meta.get("dtypes", {})).items():
            if dtype not in EXTENSION_DTYPES or name not in arrays:
                raise ValueError(f"meta names dtype {dtype!r} for array {name!r}")
            arrays[name] = arrays[name].view(EXTENSION_DTYPES[dtype])
        return meta, arrays
    except _NotOurs:
        raise ValueError(f"{str(path)!r} is not a file written by {writer}") from None
    except (zipfile.BadZipFile, EOFError, ValueError, TypeError, KeyError, zlib.error) as error:
        raise ValueError(
            f"{str(path)!r} is truncated or corrupt ({type(error).__name__}: {error}); "
            f"it cannot be read: re-run what made it and save it again with {writer}"
        ) from error


class _NotOurs(Exception):
    pass


class StoredFile:
    """A result file read by :func:`read_npz`, with what its ``load`` needs to rebuild and check it."""

    def __init__(self, path, format_name: str, writer: str, namedtuples: Sequence[type] = ()):
        self.path, self.writer = path, writer
        self.meta, self.arrays = read_npz(path, format_name, writer)
        self._classes = _check_namedtuples(namedtuples)
        self._rebuilt: dict[tuple, type] = {}

    def error(self, what: str) -> ValueError:
        return ValueError(
            f"{str(self.path)!r}: {what}; the file was edited or is corrupt: re-run what made it and save it again with {self.writer}"
        )

    @contextlib.contextmanager
    def reading(self):
        """Missing or malformed entries in the metadata become one ``ValueError`` naming the file."""
        try:
            yield
        except (KeyError, IndexError, TypeError, StopIteration, AttributeError) as error:
            raise self.error(f"its metadata does not describe its arrays ({type(error).__name__}: {error})") from error

    def seeds(self, meta: dict | None = None, where: str = "") -> int:
        """``meta["seeds"]`` (the file's meta by default), checked to be a positive integer."""
        seeds = (self.meta if meta is None else meta)["seeds"]
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise self.error(
                f"seeds{f' of {where}' if where else ''} must be a positive integer; the metadata has {seeds!r}"
            )
        return seeds

    def grid(self, names: list[str] | None = None, prefix: str = "") -> dict[str, np.ndarray]:
        """The grid that :func:`grid_arrays` stored under ``prefix`` (names: the meta's ``"grid"``)."""
        return {
            name: self.arrays[f"{prefix}grid_{i}"]
            for i, name in enumerate(self.meta["grid"] if names is None else names)
        }

    def leaves(self, prefix: str = "") -> list:
        """The leaves that :func:`leaf_arrays` stored under ``prefix``."""
        return [
            self.arrays[f"{prefix}leaf_{i}"]
            for i in range(sum(name.startswith(f"{prefix}leaf_") for name in self.arrays))
        ]

    def tree(self, structure, leaves: list) -> Any:
        return decode_tree(structure, leaves, self._namedtuple_class)

    def check_shapes(self, grid: dict[str, np.ndarray], metrics, seeds: int, where: str = "") -> None:
        """Every grid array has one length n; every metrics leaf has axes [n, seeds, …]."""
        where = f" ({where})" if where else ""
        lengths = {name: np.shape(values) for name, values in grid.items()}
        if (
            not lengths
            or any(len(shape) != 1 for shape in lengths.values())
            or len({s[0] for s in lengths.values()}) != 1
        ):
            raise self.error(f"the grid arrays{where} must be 1-D of one length; they have shapes {lengths}")
        count = next(iter(lengths.values()))[0]
        for name, leaf in named_leaves(metrics).items():
            shape = np.shape(leaf)
            if len(shape) < 2 or shape[0] != count or shape[1] != seeds:
                raise self.error(
                    f"metric {name!r}{where} has shape {shape}, but axes [configuration, seed] must be "
                    f"[{count}, {seeds}] ({count} grid values, seeds={seeds})"
                )

    def _namedtuple_class(self, module: str, qualname: str, fields: list[str]) -> type:
        """The class in ``namedtuples`` of this qualified name (its fields must match), else that
        class in its module if the module is already imported (nothing is imported), else a stand-in."""
        fields = tuple(fields)
        if (qualname, fields) not in self._rebuilt:
            self._rebuilt[qualname, fields] = self._find_class(module, qualname, fields)
        return self._rebuilt[qualname, fields]

    def _find_class(self, module: str, qualname: str, fields: tuple[str, ...]) -> type:
        for kind in self._classes:
            if kind.__qualname__ == qualname:
                if tuple(kind._fields) != fields:
                    raise self.error(
                        f"namedtuples gives {qualname} with fields {kind._fields}, but the file saved {qualname} with fields {fields}"
                    )
                return kind
        kind = sys.modules.get(module)  # already imported; never imported here
        for part in qualname.split("."):
            kind = vars(kind).get(part) if hasattr(kind, "__dict__") else None  # no __getattr__ runs
        if _is_namedtuple_class(kind) and tuple(kind._fields) == fields:
            return kind
        try:
            return collections.namedtuple(qualname.split(".")[-1].replace("<locals>", "locals"), fields)
        except ValueError as error:
            raise self.error(
                f"it names a NamedTuple {qualname!r} with fields {list(fields)} that no class can have ({error})"
            ) from error


def _is_namedtuple_class(kind) -> bool:
    return (
        isinstance(kind, type)
        and issubclass(kind, tuple)
        and isinstance(getattr(kind, "_fields", None), tuple)
        and hasattr(kind, "_make")
    )


def _check_namedtuples(namedtuples) -> tuple[type, ...]:
    if isinstance(namedtuples, type) or not isinstance(namedtuples, (list, tuple)):
        raise TypeError(f"namedtuples must be a list or tuple of NamedTuple classes; got {namedtuples!r}")
    for kind in namedtuples:
        if not _is_namedtuple_class(kind):
            raise TypeError(f"namedtuples must hold NamedTuple classes; got {kind!r}")
    return tuple(namedtuples)


def grid_arrays(grid: dict[str, np.ndarray], prefix: str = "") -> dict[str, np.ndarray]:
    return {f"{prefix}grid_{i}": np.asarray(v) for i, v in enumerate(grid.values())}


def leaf_arrays(leaves: list[np.ndarray], prefix: str = "") -> dict[str, np.ndarray]:
    return {f"{prefix}leaf_{i}": leaf for i, leaf in enumerate(leaves)}


def _key_name(key) -> str:
    for attribute in ("key", "name", "idx"):
        if hasattr(key, attribute):
            return str(getattr(key, attribute))
    return str(key)


def named_leaves(tree) -> dict[str, Any]:
    """Every leaf of a metrics pytree by name: a dict's keys, dotted for nested dicts and
    NamedTuples (``"eval.loss"``, ``"epoch_loss"`` of a History); ``"metric"`` for a lone array."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    if len(leaves) == 1 and not leaves[0][0]:
        return {"metric": leaves[0][1]}
    return {".".join(_key_name(k) for k in path): leaf for path, leaf in leaves}


def check_metric(names: list[str], metric: str | None) -> str:
    """``metric`` if it names a leaf (None names the only one)."""
    if metric is None and len(names) == 1:
        return names[0]
    if metric not in names:
        raise ValueError(f"metric must be one of {names}; got {metric!r}")
    return metric


def _check_folder(path) -> None:
    folder = Path(path).parent
    if not folder.is_dir():
        raise ValueError(f"path {str(path)!r}: its folder {str(folder)!r} does not exist; create it first")


def _is_namedtuple(node) -> bool:
    return isinstance(node, tuple) and hasattr(type(node), "_fields")


def encode_tree(node, leaves: list, where: str = "metrics") -> Any:
    """The pytree structure of ``node`` as JSON, its arrays appended to ``leaves`` in order; a typed
    PRNG key is its key data and the name of its implementation."""
    if node is None:
        return {"none": None}
    if isinstance(node, dict):
        for key in node:
            if not isinstance(key, (str, int)):  # JSON keeps str, int and bool exactly; a tuple would come back a list
                raise TypeError(
                    f"{where} has the key {key!r} ({type(key).__name__}); result files keep dict keys that are strings or integers"
                )
        return {"dict": [[key, encode_tree(value, leaves, f"{where}[{key!r}]")] for key, value in node.items()]}
    if _is_namedtuple(node):
        kind = type(node)
        return {
            "namedtuple": [kind.__module__, kind.__qualname__, list(kind._fields)],
            "children": [encode_tree(v, leaves, f"{where}.{f}") for f, v in zip(kind._fields, node)],
        }
    if isinstance(node, (list, tuple)):
        return {type(node).__name__: [encode_tree(v, leaves, f"{where}[{i}]") for i, v in enumerate(node)]}
    if isinstance(node, jax.Array) and jax.dtypes.issubdtype(node.dtype, jax.dtypes.prng_key):
        leaves.append(np.asarray(jax.random.key_data(node)))
        return {"key": len(leaves) - 1, "impl": str(jax.random.key_impl(node))}
    if isinstance(node, (jax.Array, np.ndarray, np.generic, int, float, bool)):
        array = np.asarray(node)
        if array.dtype.kind in "OV" and array.dtype.name not in EXTENSION_DTYPES:
            raise TypeError(f"{where} is an array of dtype {array.dtype}, which cannot be saved without pickling")
        leaves.append(array)
        return {"leaf": len(leaves) - 1}
    raise TypeError(
        f"result files keep dicts, lists, tuples, NamedTuples, arrays and PRNG keys; {where} is a {type(node).__name__}"
    )


def decode_tree(structure, leaves: list, namedtuple_class: Callable[[str, str, list[str]], type]) -> Any:
    """The pytree :func:`encode_tree` described; ``namedtuple_class(module, qualname, fields)`` gives
    each NamedTuple's class (see :class:`StoredFile`)."""
    kind = next(name for name in structure if name not in ("children", "impl"))
    value = structure[kind]
    if kind == "none":
        return None
    if kind == "leaf":
        return leaves[value]
    if kind == "key":
        if structure["impl"] not in KEY_IMPLS:
            raise KeyError(f"PRNG key implementation {structure['impl']!r} is not one of {KEY_IMPLS}")
        return jax.random.wrap_key_data(leaves[value], impl=structure["impl"])
    if kind == "dict":
        return {key: decode_tree(child, leaves, namedtuple_class) for key, child in value}
    if kind == "namedtuple":
        return namedtuple_class(*value)(
            *[decode_tree(child, leaves, namedtuple_class) for child in structure["children"]]
        )
    if kind not in ("list", "tuple"):
        raise KeyError(f"unknown node {kind!r}")
    children = [decode_tree(child, leaves, namedtuple_class) for child in value]
    return children if kind == "list" else tuple(children)


KEY_IMPLS = ("threefry2x32", "rbg", "unsafe_rbg")
