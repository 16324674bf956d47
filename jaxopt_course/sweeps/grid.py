"""A sweep's arguments: the grid (a cartesian product of axes, ``Zip`` axes moving together),
the seed keys and the devices, all checked before any work."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_course.checks import check_count


class Zip:
    """Values that vary together: ``Zip(learning_rate=[...], momentum=[...])`` is one grid axis."""

    def __init__(self, **values):
        if not values:
            raise ValueError("Zip needs at least one hyper-parameter")
        self.values = {name: _as_axis(name, v) for name, v in values.items()}
        lengths = {name: len(v) for name, v in self.values.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"zipped hyper-parameters must have the same length; got {lengths}")

    def __len__(self) -> int:
        return len(next(iter(self.values.values())))


def _as_axis(name: str, values) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)):
        raise ValueError(f"grid[{name!r}] must hold numbers; got {values!r}")
    if array.ndim != 1:
        raise ValueError(f"grid[{name!r}] must be a 1-D list of values; got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"grid[{name!r}] is empty; give at least one value")
    if not np.all(np.isfinite(array.astype(np.float64))):
        raise ValueError(f"grid[{name!r}] contains NaN or inf")
    overflowing = array[np.abs(array.astype(np.float64)) > np.finfo(np.float32).max]
    if overflowing.size:
        raise ValueError(
            f"grid[{name!r}] value {float(overflowing[0])!r} overflows float32 (largest {np.finfo(np.float32).max:.4g}); hyper-parameters are float32"
        )
    return array.astype(np.float32)


def expand_grid(grid: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The cartesian product of the grid's axes, the last key fastest; a :class:`Zip` is one axis.

    Returns one 1-D float32 array per hyper-parameter, all of the number of configurations.
    """
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError("grid must be a non-empty dict of name -> 1-D values (or Zip(...) entries)")
    axes: list[dict[str, np.ndarray]] = []
    for name, values in grid.items():
        axes.append(values.values if isinstance(values, Zip) else {name: _as_axis(name, values)})
    names = [n for axis in axes for n in axis]
    if len(set(names)) != len(names):
        raise ValueError(f"a hyper-parameter appears twice in the grid: {names}")
    lengths = [len(next(iter(axis.values()))) for axis in axes]
    combos = np.array(list(itertools.product(*[range(n) for n in lengths])), dtype=np.int64).reshape(-1, len(axes))
    return {name: values[combos[:, i]] for i, axis in enumerate(axes) for name, values in axis.items()}


class Prepared(NamedTuple):
    """A sweep's checked arguments: the expanded grid and its size, seeds, keys, devices."""

    configurations: dict[str, np.ndarray]
    names: tuple[str, ...]
    count: int
    seeds: int
    keys: SeedKeys
    chunk_size: int | None
    devices: tuple


def prepare(grid, seeds, key, chunk_size, devices) -> Prepared:
    """Checks the arguments ``sweep`` and ``successive_halving`` share, before any work."""
    seeds = check_count("seeds", seeds)
    chunk_size = check_count("chunk_size", chunk_size, allow_none=True)
    configurations = expand_grid(grid)
    keys = SeedKeys(key, seeds)
    devices = check_devices(devices)
    names = tuple(configurations)
    return Prepared(configurations, names, len(configurations[names[0]]), seeds, keys, chunk_size, devices)


def check_devices(devices) -> tuple:
    """``None`` (every device JAX sees) or a non-empty list of distinct ``jax.Device`` objects."""
    if devices is None:
        return tuple(jax.devices())
    if isinstance(devices, jax.Device):
        raise TypeError(f"devices must be a list of devices, not one device: use devices=[{devices}]")
    if isinstance(devices, (str, bytes)) or not isinstance(devices, Sequence):
        raise TypeError(
            f"devices must be a list of jax.Device objects (such as jax.devices()[:2]) or None; got {devices!r}"
        )
    devices = tuple(devices)
    if not devices:
        raise ValueError("devices must name at least one device (or be None for every device)")
    strangers = [d for d in devices if not isinstance(d, jax.Device)]
    if strangers:
        raise TypeError(
            f"devices must hold jax.Device objects (such as jax.devices()[0]), not names; got {strangers[0]!r}"
        )
    if len(set(devices)) != len(devices):
        raise ValueError(f"devices lists a device twice: {list(devices)}")
    return devices


class SeedKeys:
    """One key per seed (``jax.random.split(key, seeds)``) as raw uint32 data plus its PRNG impl.

    Raw data can be a replicated global array on every process; the program wraps it back into a
    typed key when the user gave one (``impl`` is then its name), so ``run_fn`` sees the kind of
    key it was given.
    """

    def __init__(self, key, seeds: int):
        if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            if key.shape != ():
                raise ValueError(f"key must be one PRNG key (shape ()); got an array of keys of shape {key.shape}")
            self.impl = str(jax.random.key_impl(key))
            self.data = np.asarray(jax.random.key_data(jax.random.split(key, seeds)))
        elif isinstance(key, (jax.Array, np.ndarray)) and key.dtype == np.uint32 and key.ndim == 1:
            self.impl = None
            self.data = np.asarray(jax.random.split(jnp.asarray(key), seeds))
        else:
            raise TypeError(f"key must be a PRNG key, jax.random.key(seed) or jax.random.PRNGKey(seed); got {key!r}")

    def describe(self) -> dict:
        return {"data": self.data.tolist(), "impl": self.impl}
