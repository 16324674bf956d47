"""``SweepResult``: a sweep's grid and metrics, kept aligned, with a table, files and selections."""

from __future__ import annotations

import csv
import dataclasses
import io as _io
from typing import Any

import jax
import numpy as np

from jaxopt_course.result_files import write_json, write_text


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
        """Every metric leaf by name: a dict's keys, dotted for nested dicts and NamedTuples
        (``"eval.loss"``, ``"epoch_loss"`` of a History); ``"metric"`` for a lone array."""
        leaves = jax.tree_util.tree_flatten_with_path(self.metrics)[0]
        if len(leaves) == 1 and not leaves[0][0]:
            return {"metric": np.asarray(leaves[0][1])}
        return {".".join(_key_name(k) for k in path): np.asarray(leaf) for path, leaf in leaves}

    def metric_names(self) -> list[str]:
        return list(self._named())

    def _leaf(self, metric: str | None) -> np.ndarray:
        named = self._named()
        if metric is None and len(named) == 1:
            return next(iter(named.values()))
        if metric not in named:
            raise ValueError(f"metric must be one of {list(named)}; got {metric!r}")
        return named[metric]

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
        records = self.to_records()
        buffer = _io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
        write_text(path, buffer.getvalue())

    def to_json(self, path) -> None:
        write_json(path, {"seeds": self.seeds, "grid": self.grid, "records": self.to_records()})


def _key_name(key) -> str:
    for attribute in ("key", "name", "idx"):
        if hasattr(key, attribute):
            return str(getattr(key, attribute))
    return str(key)
