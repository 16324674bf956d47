"""``sweep``: a whole hyper-parameter grid × seeds as one compiled, vmapped program.

``run_fn(hparams, key) -> metrics`` trains one configuration (typically a closure over
``training.train`` that builds its optimiser from ``hparams``, a dict of float32 scalars).  The
grid's values are *traced arguments* of one jitted function, never constants baked into it, so a
grid compiles once and a second grid of the same shape compiles zero times.  Configurations are
spread over every device JAX sees with a ``Mesh`` over a ``config`` axis; ``chunk_size`` bounds
memory by running the grid a chunk at a time through the same compiled program.

On a cluster, call ``jax.distributed.initialize()`` at the start of the same script on every host:
``jax.devices()`` then lists the devices of all hosts, the mesh spans them, and the same
``sweep(...)`` call spreads the configurations over the whole cluster (each host must call it with
the same arguments; results are gathered to every host).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxopt_course.progress import ProgressBar
from jaxopt_course.sweep_results import SweepResult


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


class _Recording(dict):
    """A dict that remembers which keys were read (to catch grid keys run_fn never uses)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read: set[str] = set()

    def __getitem__(self, name):
        self.read.add(name)
        return super().__getitem__(name)

    def get(self, name, default=None):
        self.read.add(name)
        return super().get(name, default)

    def __iter__(self):  # also makes ``**hparams`` go through __getitem__
        return iter(list(super().keys()))

    def items(self):
        self.read.update(super().keys())
        return super().items()

    def values(self):
        self.read.update(super().keys())
        return super().values()


@functools.lru_cache(maxsize=64)
def _check_run_fn(run_fn: Callable, names: tuple[str, ...], key_struct: jax.ShapeDtypeStruct) -> None:
    """Traces run_fn once (no compile): every grid key must be read, every key read must exist.

    Cached per (run_fn, keys), so repeated sweeps of one run function trace it only to compile.
    """
    key = key_struct
    recording = _Recording()

    def probe(hparams, key):
        recording.update(hparams)
        return run_fn(recording, key)

    structs = {name: jax.ShapeDtypeStruct((), jnp.float32) for name in names}
    try:
        jax.eval_shape(probe, structs, key)
    except KeyError as error:
        raise ValueError(f"run_fn reads hyper-parameter {error.args[0]!r}, which the grid does not give (grid keys: {list(names)})") from None
    unused = [name for name in names if name not in recording.read]
    if unused:
        raise ValueError(f"grid keys {unused} are not used by run_fn (it reads {sorted(recording.read)}); check their spelling")


@functools.lru_cache(maxsize=32)
def _compiled(run_fn: Callable, devices: tuple):
    """One jitted program for run_fn over [configuration, seed], and the shardings of its inputs.

    The configurations are split over a one-axis ``Mesh`` of ``devices`` (axis "config"), the
    seed keys replicated; the outputs stay split by configuration.  One device is a mesh of one.
    """
    batched = jax.vmap(jax.vmap(run_fn, in_axes=(None, 0)), in_axes=(0, None))
    mesh = Mesh(np.array(devices), ("config",))
    by_config = NamedSharding(mesh, PartitionSpec("config"))
    replicated = NamedSharding(mesh, PartitionSpec())
    program = jax.jit(batched, in_shardings=(by_config, replicated), out_shardings=by_config)
    return program, by_config, replicated


def _global_array(values: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A global array from a host value every process holds alike (one process or many)."""
    return jax.make_array_from_callback(values.shape, sharding, lambda index: values[index])


def _to_host(tree):
    """Gathers the sharded outputs to numpy on every host (across processes on a cluster)."""
    if jax.process_count() == 1:
        return jax.tree.map(np.asarray, tree)
    from jax.experimental import multihost_utils

    return jax.tree.map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))


def sweep(
    run_fn: Callable[[dict, jax.Array], Any],
    grid: Mapping[str, Any],
    *,
    seeds: int = 1,
    key: jax.Array,
    chunk_size: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    progress: bool = True,
) -> SweepResult:
    """Runs ``run_fn`` on every configuration of ``grid`` and every seed, as one compiled program.

    Args:
      run_fn: ``run_fn(hparams, key) -> pytree of metrics``; ``hparams`` maps each grid key to a
        float32 scalar (traced: build the optimiser from it inside run_fn).
      grid: ``{name: 1-D values}``, combined as a cartesian product (last key fastest); a
        ``Zip(a=[...], b=[...])`` entry is one axis whose values move together.
      seeds: how many seeds per configuration; seed i uses ``jax.random.split(key, seeds)[i]``
        for every configuration (common random numbers: configurations differ only by their
        hyper-parameters).
      key: a PRNG key.
      chunk_size: run this many configurations at a time (bounded memory; every chunk reuses
        the same compiled program, the last one padded); None runs the whole grid at once.
      devices: devices to spread the configurations over; default every device JAX sees.
      progress: a progress bar over chunks.

    Returns:
      A :class:`SweepResult` with ``grid`` (one entry per configuration) and ``metrics``
      (leading axes [configuration, seed]).
    """
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer; got {seeds!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer or None; got {chunk_size!r}")
    configurations = expand_grid(grid)
    names = list(configurations)
    _check_run_fn(run_fn, tuple(names), jax.ShapeDtypeStruct(jnp.shape(key), jnp.asarray(key).dtype))
    devices = tuple(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must name at least one device")
    count = len(configurations[names[0]])
    chunk = -(-min(chunk_size or count, count) // len(devices)) * len(devices)  # a multiple of the devices
    num_chunks = -(-count // chunk)
    padded = {name: np.concatenate([v, np.repeat(v[-1:], num_chunks * chunk - count)]) for name, v in configurations.items()}
    program, by_config, replicated = _compiled(run_fn, devices)
    seed_keys = jax.random.split(key, seeds)
    seed_keys = jax.device_put(seed_keys, replicated) if jax.process_count() == 1 else _global_array(np.asarray(seed_keys), replicated)
    outputs = []
    with ProgressBar(num_chunks, enabled=progress and num_chunks > 1, description="sweep", unit="chunk") as bar:
        for start in range(0, num_chunks * chunk, chunk):
            hparams = {name: _global_array(np.asarray(v[start : start + chunk], np.float32), by_config) for name, v in padded.items()}
            outputs.append(_to_host(program(hparams, seed_keys)))
            bar.update(1)
    metrics = jax.tree.map(lambda *parts: np.concatenate(parts)[:count], *outputs)
    return SweepResult(grid=configurations, metrics=metrics, seeds=seeds)
