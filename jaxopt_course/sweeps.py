"""``sweep``: a whole hyper-parameter grid × seeds as one compiled, vmapped program.

``run_fn(hparams, key) -> metrics`` trains one configuration (typically a closure over
``training.train`` that builds its optimiser from ``hparams``, a dict of float32 scalars).  The
grid's values are *traced arguments* of one jitted function, never constants baked into it, so a
grid compiles once and a second grid of the same shape compiles zero times.  Configurations are
spread over every device JAX sees with a ``Mesh`` over a ``config`` axis, each device running its
share ``group_size`` configurations at a time (on CPU, in one lane per core); ``chunk_size`` bounds memory by running the grid a
chunk at a time through the same compiled program, and ``checkpoint_dir`` keeps finished chunks
on disk so that an interrupted sweep resumes where it stopped.

Common random numbers: every configuration gets the same seed keys, so under ``vmap`` the key is
not batched over configurations and whatever depends on it alone (shuffles, batch gathers,
initial parameters drawn from it) is computed once per seed, not once per configuration.

On a cluster, call ``jax.distributed.initialize()`` at the start of the same script on every host:
``jax.devices()`` then lists the devices of all hosts, the mesh spans them, and the same
``sweep(...)`` call spreads the configurations over the whole cluster (each host must call it with
the same arguments; results are gathered to every host).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxopt_course import compilation
from jaxopt_course import sweep_programs as programs
from jaxopt_course.fingerprints import fingerprint
from jaxopt_course.progress import ProgressBar
from jaxopt_course.result_files import atomic_write, to_jsonable, write_json
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
    overflowing = array[np.abs(array.astype(np.float64)) > np.finfo(np.float32).max]
    if overflowing.size:
        raise ValueError(f"grid[{name!r}] value {float(overflowing[0])!r} overflows float32 (largest {np.finfo(np.float32).max:.4g}); hyper-parameters are float32")
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
    keys: programs.SeedKeys
    chunk_size: int | None
    devices: tuple


def prepare(grid, seeds, key, chunk_size, devices) -> Prepared:
    """Checks the arguments ``sweep`` and ``successive_halving`` share, before any work."""
    seeds = programs.check_count("seeds", seeds)
    chunk_size = programs.check_count("chunk_size", chunk_size, allow_none=True)
    configurations = expand_grid(grid)
    keys = programs.SeedKeys(key, seeds)
    devices = programs.check_devices(devices)
    names = tuple(configurations)
    return Prepared(configurations, names, len(configurations[names[0]]), seeds, keys, chunk_size, devices)


def sweep(
    run_fn: Callable[[dict, jax.Array], Any],
    grid: Mapping[str, Any],
    *,
    seeds: int = 1,
    key: jax.Array,
    chunk_size: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    group_size: int | None = None,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
) -> SweepResult:
    """Runs ``run_fn`` on every configuration of ``grid`` and every seed, as one compiled program.

    Args:
      run_fn: ``run_fn(hparams, key) -> pytree of metrics``; ``hparams`` maps each grid key to a
        float32 scalar, *traced* (one program serves every value: build the optimiser from it
        inside run_fn, and use ``jnp.where``, never a Python ``if``, on it).
      grid: ``{name: 1-D values}``, combined as a cartesian product (last key fastest); a
        ``Zip(a=[...], b=[...])`` entry is one axis whose values move together.
      seeds: how many seeds per configuration; seed i uses ``jax.random.split(key, seeds)[i]``
        for every configuration (common random numbers: configurations differ only by their
        hyper-parameters).
      key: a PRNG key, ``jax.random.key(seed)`` or ``jax.random.PRNGKey(seed)``; run_fn gets
        keys of the same kind.
      chunk_size: run this many configurations at a time (bounded memory; every chunk reuses
        the same compiled program, the last one padded); None runs the whole grid at once.
      devices: a list of devices to spread the configurations over; default every device JAX sees.
      group_size: how many configurations each device runs side by side (vmapped); the rest of
        its share runs group after group inside the same program (``lax.map``).  Small groups
        keep a step's working set in the CPU caches: the default is 32 on CPU and all at once on
        GPU and TPU.  On CPU a chunk's groups are also split into one lane per core
        (``sweep_programs.lanes_for``), each lane a call of the same program from its own thread
        (docs/performance.md gives the rates).
        Numbers change only by float32 rounding with the group size and the lanes.
      checkpoint_dir: a folder where each finished chunk is written (atomically) as it ends.  A
        later call with the same arguments loads the finished chunks instead of running them and
        gives the same result as an uninterrupted run; a call with other arguments is refused.
        run_fn is recognised by its name and its :func:`~jaxopt_course.fingerprints.fingerprint`
        (its code, closure, defaults and the globals it reads, arrays by their contents): the same
        function resumes in a new process, an edited one is refused.  On a cluster, the folder
        must be one that every process sees.
      progress: a progress bar over chunks.

    Returns:
      A :class:`SweepResult` with ``grid`` (one entry per configuration) and ``metrics``
      (leading axes [configuration, seed]).
    """
    if not callable(run_fn):
        raise TypeError(f"run_fn must be a function run_fn(hparams, key) -> metrics; got {run_fn!r}")
    checkpoint_dir = check_checkpoint_dir(checkpoint_dir)
    configurations, names, count, seeds, keys, chunk_size, devices = prepare(grid, seeds, key, chunk_size, devices)
    width = programs.chunk_width(count, chunk_size, len(devices))
    num_chunks = -(-count // width)
    group = programs.group_size_for(devices, programs.check_count("group_size", group_size, allow_none=True))
    lanes = programs.lanes_for(devices, width, group)
    lane_width = programs.chunk_width(-(-width // lanes), None, len(devices))
    program = programs.run_program(run_fn, names, devices, lane_width, seeds, keys.impl, keys.data.shape[1], group)
    store = None
    if checkpoint_dir is not None:
        described = {"run_fn": {"name": _function_name(run_fn), "fingerprint": fingerprint(run_fn)}, "grid": {n: v.tolist() for n, v in configurations.items()}, "seeds": seeds,
                     "key": keys.describe(), "chunk_size": width, "devices": {"count": len(devices), "platform": devices[0].platform},
                     "x64": bool(jax.config.jax_enable_x64)}
        expected = [((width, *leaf.shape[1:]), leaf.dtype) for leaf in jax.tree.leaves(program.lowered.out_info)]
        store = _Checkpoints(checkpoint_dir, described, program.out_tree, num_chunks, expected)
    by_config, replicated = programs.shardings(devices)
    seed_keys = programs.global_array(keys.data, replicated)
    padded = {name: programs.pad_to(values, num_chunks * width) for name, values in configurations.items()}
    outputs = []

    chosen = compilation.options()  # this thread's (the lanes run on others)

    def run_lane(part):
        return programs.to_host(program.compiled(chosen)(programs.hparam_arrays(part, by_config), seed_keys))

    with contextlib.closing(store) if store is not None else contextlib.nullcontext(), ProgressBar(num_chunks, enabled=progress and num_chunks > 1, description="sweep", unit="chunk") as bar, ThreadPoolExecutor(lanes) as pool:
        for index in range(num_chunks):
            chunk = None if store is None else store.load(index)
            if chunk is None:
                part = {name: programs.pad_to(values[index * width : (index + 1) * width], lanes * lane_width) for name, values in padded.items()}
                pieces = [{name: values[lane * lane_width : (lane + 1) * lane_width] for name, values in part.items()} for lane in range(lanes)]
                results = list(pool.map(run_lane, pieces)) if lanes > 1 else [run_lane(pieces[0])]
                chunk = jax.tree.map(lambda *lane_parts: np.concatenate(lane_parts)[:width], *results)
                if store is not None:
                    store.save(index, chunk)
            outputs.append(chunk)
            bar.update(1)
    metrics = jax.tree.map(lambda *parts: np.concatenate(parts)[:count], *outputs)
    return SweepResult(grid=configurations, metrics=metrics, seeds=seeds)


def check_checkpoint_dir(checkpoint_dir) -> Path | None:
    """``checkpoint_dir`` as a Path (None stays None); an empty or non-path value is refused by name."""
    if checkpoint_dir is None:
        return None
    if not isinstance(checkpoint_dir, (str, os.PathLike)) or isinstance(checkpoint_dir, bytes):
        raise TypeError(f"checkpoint_dir must be a folder path (str or pathlib.Path) or None; got {checkpoint_dir!r}")
    if str(checkpoint_dir).strip() == "":
        raise ValueError("checkpoint_dir must name a folder; got the empty string (None keeps nothing on disk)")
    folder = Path(checkpoint_dir)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"checkpoint_dir {str(folder)!r} is a file, not a folder")
    return folder


def _function_name(function) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', type(function).__qualname__)}"


class _Checkpoints:
    """A sweep's finished chunks in a folder: ``sweep.json`` (its arguments), ``chunk_00000.npz`` …

    Each chunk file carries a ``meta`` entry (JSON): the sweep's fingerprint (a sha256 of the
    described arguments), the chunk's index and each leaf's shape and dtype, all verified when it is
    loaded, so a chunk of another sweep, another chunk of this one, or a corrupt file is refused
    by name rather than loaded.  While a sweep uses the folder, its writer (process 0) holds an
    exclusive ``flock`` on ``sweep.lock`` there; a second sweep on the same folder is refused
    while the first runs.
    Opening the folder removes temporary files an interrupted atomic write left behind.
    """

    LOCK = "sweep.lock"

    def __init__(self, folder: Path, described: dict, out_tree, num_chunks: int, expected=None):
        self.folder, self.out_tree, self.expected = folder, out_tree, expected
        self.fingerprint = hashlib.sha256(json.dumps(to_jsonable(described), sort_keys=True, allow_nan=False).encode()).hexdigest()
        self.writer = jax.process_index() == 0  # one process writes; every process reads
        self._lock_file = None
        if jax.process_count() > 1:  # the writer has finished the files of any earlier sweep
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"checkpoints in {folder}")
        held = self._acquire() if self.writer else True
        if jax.process_count() > 1:  # every process refuses together, or the others hang
            from jax.experimental import multihost_utils

            held = bool(np.all(np.asarray(multihost_utils.process_allgather(np.int32(held)))))
        if not held:
            self.close()
            raise RuntimeError(
                f"checkpoint_dir {str(folder)!r} is in use by another sweep (it holds {self.LOCK} there): "
                "wait until that sweep ends, or give another checkpoint_dir"
            )
        try:
            self._open(described, num_chunks)
        except BaseException:
            self.close()
            raise

    def _open(self, described: dict, num_chunks: int) -> None:
        folder = self.folder
        if self.writer:
            self._remove_orphans()
        manifest = folder / "sweep.json"
        if manifest.exists():
            stored = json.loads(manifest.read_text())
            for argument, value in to_jsonable(described).items():
                if stored.get(argument) != value:
                    if argument == "run_fn":
                        raise ValueError(
                            f"checkpoint_dir {str(folder)!r} holds a sweep with a different run_fn ({_what_changed(stored.get(argument), value)}): "
                            "call sweep with the same run_fn to resume it, or give a new checkpoint_dir"
                        )
                    difference = _grid_difference(stored.get(argument), value) if argument == "grid" else f"{_short(stored.get(argument))} there, {_short(value)} now"
                    raise ValueError(
                        f"checkpoint_dir {str(folder)!r} holds a sweep with a different {argument} "
                        f"({difference}): call sweep with the same arguments to resume it, or give a new checkpoint_dir"
                    )
        elif self.writer:
            write_json(manifest, described)
        self.finished = np.array([self._path(i).exists() for i in range(num_chunks)])
        if jax.process_count() > 1:  # every process must skip the same chunks, or the collectives hang
            from jax.experimental import multihost_utils

            everyone = np.asarray(multihost_utils.process_allgather(self.finished.astype(np.int32)))
            if not np.all(everyone == everyone[:1]):
                raise ValueError(f"checkpoint_dir {str(folder)!r} holds different chunks on different processes: give a folder every process sees")

    def _acquire(self) -> bool:
        """Takes the folder's lock (non-blocking); False when another sweep holds it.  The file
        stays (an unlinked lock file could be locked twice); the kernel drops the lock when its
        holder ends, even by SIGKILL."""
        self.folder.mkdir(parents=True, exist_ok=True)
        stream = open(self.folder / self.LOCK, "a+")
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stream.close()
            return False
        self._lock_file = stream
        return True

    def close(self) -> None:
        """Releases the folder's lock; safe to call twice."""
        stream, self._lock_file = self._lock_file, None
        if stream is not None:
            stream.close()  # closing releases the flock

    def _remove_orphans(self) -> None:
        """Temporary files of atomic writes (``.<name>.*.tmp``) an interrupted process left behind."""
        for orphan in self.folder.glob(".*.tmp"):
            if orphan.name.startswith((".chunk_", ".sweep.json.")) and orphan.is_file():
                orphan.unlink(missing_ok=True)

    def _path(self, index: int) -> Path:
        return self.folder / f"chunk_{index:05d}.npz"

    def _refuse(self, path: Path, what: str):
        return ValueError(f"checkpoint file {str(path)!r} {what}: delete it (or give a new checkpoint_dir) and call sweep again")

    def load(self, index: int):
        """The chunk's metrics if it finished before, else None; a file that is not this chunk of
        this sweep, or a corrupt one, is refused naming the file."""
        path = self._path(index)
        if not self.finished[index]:
            return None
        try:
            with open(path, "rb") as stream, np.load(stream, allow_pickle=False) as stored:  # our stream: closed even when np.load fails
                names = set(stored.files)
                meta = json.loads(str(stored["meta"][()])) if "meta" in names else None
                count = meta["leaves"].__len__() if isinstance(meta, dict) and isinstance(meta.get("leaves"), list) else None
                leaves = None if count is None else [stored[f"leaf_{i}"] for i in range(count)]
        except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError, TypeError) as error:
            raise ValueError(
                f"checkpoint file {str(path)!r} is corrupt or truncated ({type(error).__name__}: {error}): "
                f"delete {path.name} and call sweep again to recompute that chunk"
            ) from error
        if meta is None:
            raise self._refuse(path, "does not say which sweep and chunk it holds (no meta entry: written by an older version or by something else)")
        if not isinstance(meta, dict) or leaves is None:
            raise self._refuse(path, "has an unreadable meta entry (corrupt)")
        if meta.get("fingerprint") != self.fingerprint:
            raise self._refuse(path, f"is from another sweep (fingerprint {str(meta.get('fingerprint'))[:12]}… there, {self.fingerprint[:12]}… here)")
        if meta.get("chunk") != index:
            raise self._refuse(path, f"is chunk {meta.get('chunk')} of this sweep, not chunk {index}")
        if len(leaves) != self.out_tree.num_leaves:
            raise self._refuse(path, f"holds {len(leaves)} metric arrays but run_fn returns {self.out_tree.num_leaves}")
        for i, (leaf, described) in enumerate(zip(leaves, meta["leaves"])):
            if [list(leaf.shape), leaf.dtype.str] != described:
                raise self._refuse(path, f"is corrupt: leaf {i} is {leaf.dtype.str}{list(leaf.shape)}, its meta says {described}")
            if self.expected is not None:
                shape, dtype = self.expected[i]
                if tuple(leaf.shape) != tuple(shape) or leaf.dtype != dtype:
                    raise self._refuse(path, f"holds leaf {i} as {leaf.dtype}{list(leaf.shape)} but run_fn returns {np.dtype(dtype)}{list(shape)}")
        return jax.tree.unflatten(self.out_tree, leaves)

    def save(self, index: int, chunk) -> None:
        if not self.writer:
            return
        leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(chunk)]
        meta = {"fingerprint": self.fingerprint, "chunk": index, "leaves": [[list(leaf.shape), leaf.dtype.str] for leaf in leaves]}

        def write(temporary):
            with open(temporary, "wb") as stream:
                np.savez(stream, meta=np.array(json.dumps(meta)), **{f"leaf_{i}": leaf for i, leaf in enumerate(leaves)})

        atomic_write(self._path(index), write)


def _grid_difference(stored, now: dict) -> str:
    """The first difference between two grids: a name, a length or a value."""
    if not isinstance(stored, dict):
        return f"{_short(stored)} there"
    if list(stored) != list(now):
        gone, new = [n for n in stored if n not in now], [n for n in now if n not in stored]
        if gone or new:
            return f"hyper-parameters {gone} there and not now, {new} now and not there"
        return f"hyper-parameters in the order {list(stored)} there, {list(now)} now"
    for name, values in now.items():
        old = stored[name]
        if not isinstance(old, list) or len(old) != len(values):
            return f"grid[{name!r}] has {len(old) if isinstance(old, list) else _short(old)} values there, {len(values)} now"
        for i, (a, b) in enumerate(zip(old, values)):
            if a != b:
                return f"configuration {i} has {name} = {_float32(a)} there, {_float32(b)} now"
    return "same values, other form"


def _float32(value) -> str:
    """A grid value as the sweep saw it (float32), without float64 noise: 0.3, not 0.30000001192092896."""
    return str(np.float32(value)) if isinstance(value, (int, float)) else repr(value)


def _what_changed(stored, now: dict) -> str:
    if not isinstance(stored, dict) or stored.get("name") != now["name"]:
        return f"{_short(stored.get('name') if isinstance(stored, dict) else stored)} there, {now['name']!r} now"
    return (f"{now['name']} has changed since: its code, or a value it closes over or reads as a global; "
            f"fingerprint {str(stored.get('fingerprint'))[:12]} there, {now['fingerprint'][:12]} now")


def _short(value, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
