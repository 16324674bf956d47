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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxopt_course import compilation
from jaxopt_course.checks import check_count
from jaxopt_course.progress import ProgressBar
from jaxopt_course.sweeps import programs
from jaxopt_course.sweeps.checkpoints import Checkpoints, check_checkpoint_dir, describe_run
from jaxopt_course.sweeps.grid import prepare
from jaxopt_course.sweeps.results import SweepResult


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
        keep a step's working set in the CPU caches: the default is 32 on CPU (fewer where a chunk
        has too few configurations to give each core a lane of 32) and all at once on GPU and TPU.  On CPU a chunk's groups are also split into one lane per core
        (``programs.lanes_for``), each lane a call of the same program from its own thread
        (docs/performance.md gives the rates).
        Numbers change only by float32 rounding with the group size and the lanes.
      checkpoint_dir: a folder where each finished chunk is written (atomically) as it ends.  A
        later call with the same arguments loads the finished chunks instead of running them and
        gives the same result as an uninterrupted run; a call with other arguments is refused.
        run_fn is recognised by its name and its :func:`~jaxopt_course.sweeps.checkpoints.fingerprint`
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
    group = programs.lane_group_size(devices, width, check_count("group_size", group_size, allow_none=True))
    lanes = programs.lanes_for(devices, width, group)
    lane_width = programs.chunk_width(-(-width // lanes), None, len(devices))
    program = programs.run_program(run_fn, names, devices, lane_width, seeds, keys.impl, keys.data.shape[1], group)
    store = None
    if checkpoint_dir is not None:
        described = describe_run({"run_fn": run_fn}, configurations, seeds, keys, width, devices, group)
        expected = [((width, *leaf.shape[1:]), leaf.dtype) for leaf in jax.tree.leaves(program.lowered.out_info)]
        store = Checkpoints(checkpoint_dir, described, num_chunks)
    by_config, replicated = programs.shardings(devices)
    seed_keys = programs.global_array(keys.data, replicated)
    padded = {name: programs.pad_to(values, num_chunks * width) for name, values in configurations.items()}
    outputs = []

    chosen = compilation.options()  # this thread's (the lanes run on others)

    def run_lane(part):
        return programs.to_host(program.compiled(chosen)(programs.hparam_arrays(part, by_config), seed_keys))

    with (
        contextlib.closing(store) if store is not None else contextlib.nullcontext(),
        ProgressBar(num_chunks, enabled=progress and num_chunks > 1, description="sweep", unit="chunk") as bar,
        ThreadPoolExecutor(lanes) as pool,
    ):
        for index in range(num_chunks):
            chunk = None if store is None else store.load(index, program.out_tree, expected)
            if chunk is None:
                part = {
                    name: programs.pad_to(values[index * width : (index + 1) * width], lanes * lane_width)
                    for name, values in padded.items()
                }
                pieces = [
                    {name: values[lane * lane_width : (lane + 1) * lane_width] for name, values in part.items()}
                    for lane in range(lanes)
                ]
                results = list(pool.map(run_lane, pieces)) if lanes > 1 else [run_lane(pieces[0])]
                chunk = jax.tree.map(lambda *lane_parts: np.concatenate(lane_parts)[:width], *results)
                if store is not None:
                    store.save(index, chunk)
            outputs.append(chunk)
            bar.update(1)
    metrics = jax.tree.map(lambda *parts: np.concatenate(parts)[:count], *outputs)
    return SweepResult(grid=configurations, metrics=metrics, seeds=seeds)
