"""``SweepResult``: a sweep's grid and metrics, kept aligned, with a table, files and selections.

``save``/``load`` keep every array exactly (dtype and bits) in one ``.npz`` file, and the metrics'
pytree structure (dicts, lists, tuples, NamedTuples such as a training ``History``) as JSON beside
them; ``load`` never unpickles.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import importlib
import io as _io
import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxopt_course.result_files import atomic_write, write_json, write_text

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
            raise ValueError(f"{metric or 'the metric'} is NaN for every configuration (every run diverged?): there is no best one")
        ranked = np.where(np.isnan(scores), np.inf if mode == "min" else -np.inf, scores)
        index = int(np.argmin(ranked) if mode == "min" else np.argmax(ranked))
        return {**{name: float(v[index]) for name, v in self.grid.items()}, "score": float(scores[index]), "index": index}

    def select(self, **fixed) -> SweepResult:
        """The configurations whose hyper-parameters equal ``fixed`` (to float32 rounding)."""
        keep = np.ones(self.num_configurations, bool)
        for name, value in fixed.items():
            if name not in self.grid:
                raise ValueError(f"select() got {name!r}, which is not a grid key ({list(self.grid)})")
            keep &= np.isclose(self.grid[name], np.float32(value), rtol=1e-6, atol=0)
        if not keep.any():
            raise ValueError(f"no configuration has {fixed}")
        return SweepResult({n: v[keep] for n, v in self.grid.items()}, jax.tree.map(lambda a: np.asarray(a)[keep], self.metrics), self.seeds)

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
        """Writes grid, seeds and every metric array, bit for bit, to one ``.npz`` file (atomically)."""
        leaves: list[np.ndarray] = []
        structure = encode_tree(self.metrics, leaves)
        write_npz(path, {"format": FORMAT, "seeds": self.seeds, "grid": list(self.grid), "metrics": structure}, {**grid_arrays(self.grid), **leaf_arrays(leaves)})

    @classmethod
    def load(cls, path: str | os.PathLike) -> SweepResult:
        """The :class:`SweepResult` that :meth:`save` wrote to ``path``."""
        meta, stored = read_npz(path, FORMAT, "SweepResult.save")
        return cls(grid=stored_grid(meta, stored), metrics=decode_tree(meta["metrics"], stored_leaves(stored)), seeds=meta["seeds"])


# --------------------------------------------------------------------------- result files
def write_npz(path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """``arrays`` and the JSON ``meta`` beside them in one ``.npz`` file, written atomically."""
    _check_folder(path)

    def write(temporary):
        with open(temporary, "wb") as stream:
            np.savez(stream, meta=np.array(json.dumps(meta)), **arrays)

    atomic_write(path, write)


def read_npz(path, format_name: str, writer: str) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, every array) of a file that ``writer`` wrote in ``format_name``; never unpickles."""
    with np.load(path, allow_pickle=False) as stored:
        if "meta" not in stored.files or json.loads(str(stored["meta"])).get("format") != format_name:
            raise ValueError(f"{str(path)!r} is not a file written by {writer}")
        return json.loads(str(stored["meta"])), {name: stored[name] for name in stored.files if name != "meta"}


def grid_arrays(grid: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"grid_{i}": np.asarray(v) for i, v in enumerate(grid.values())}


def stored_grid(meta: dict, stored: dict) -> dict[str, np.ndarray]:
    return {name: stored[f"grid_{i}"] for i, name in enumerate(meta["grid"])}


def leaf_arrays(leaves: list[np.ndarray]) -> dict[str, np.ndarray]:
    return {f"leaf_{i}": leaf for i, leaf in enumerate(leaves)}


def stored_leaves(stored: dict) -> list[np.ndarray]:
    return [stored[f"leaf_{i}"] for i in range(sum(name.startswith("leaf_") for name in stored))]


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


def encode_tree(node, leaves: list) -> Any:
    """The pytree structure of ``node`` as JSON, its arrays appended to ``leaves`` in order."""
    if node is None:
        return {"none": None}
    if isinstance(node, dict):
        return {"dict": [[key, encode_tree(value, leaves)] for key, value in node.items()]}
    if _is_namedtuple(node):
        kind = type(node)
        return {"namedtuple": [kind.__module__, kind.__qualname__, list(kind._fields)], "children": [encode_tree(v, leaves) for v in node]}
    if isinstance(node, (list, tuple)):
        return {type(node).__name__: [encode_tree(v, leaves) for v in node]}
    if isinstance(node, (jax.Array, np.ndarray, np.generic, int, float, bool)):
        leaves.append(np.asarray(node))
        return {"leaf": len(leaves) - 1}
    raise TypeError(f"SweepResult.save keeps dicts, lists, tuples, NamedTuples and arrays; metrics hold a {type(node).__name__}")


def decode_tree(structure, leaves: list) -> Any:
    kind = next(name for name in structure if name != "children")
    value = structure[kind]
    if kind == "none":
        return None
    if kind == "leaf":
        return leaves[value]
    if kind == "dict":
        return {key: decode_tree(child, leaves) for key, child in value}
    if kind == "namedtuple":
        return _namedtuple_class(*value)(*[decode_tree(child, leaves) for child in structure["children"]])
    children = [decode_tree(child, leaves) for child in value]
    return children if kind == "list" else tuple(children)


def _namedtuple_class(module: str, qualname: str, fields: list[str]):
    """The saved NamedTuple class if it still exists with the same fields, else a stand-in of that name."""
    try:
        kind = importlib.import_module(module)
        for part in qualname.split("."):
            kind = getattr(kind, part)
        if isinstance(kind, type) and list(getattr(kind, "_fields", ())) == fields:
            return kind
    except (ImportError, AttributeError):
        pass
    return collections.namedtuple(qualname.split(".")[-1], fields)
