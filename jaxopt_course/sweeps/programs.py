"""The compiled programs behind ``sweep`` and ``successive_halving``, and the checks of their input.

A program runs a user function over ``[configuration, seed]`` with ``jax.vmap`` twice, the
configurations split over a one-axis ``Mesh`` (axis ``"config"``) of the chosen devices and the
seed keys replicated.  It is traced once per (function, devices, width, seeds, key kind): that one
trace also records which hyper-parameters the function reads, checks what it returns and turns a
Python branch on a traced value into a clear error, all before XLA compiles anything.
"""

from __future__ import annotations

import contextlib
import numbers
import os
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxopt_course import compilation
from jaxopt_course.hyperparams import ProgramCache

_TRACER_ERRORS = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerIntegerConversionError,
)


def wrap_keys(data, impl: str | None):
    """Inside a program: raw key data back in the form the user gave it (typed when ``impl``)."""
    return data if impl is None else jax.random.wrap_key_data(data, impl=impl)


class Recording(dict):
    """A dict that remembers which keys were read (to catch grid keys a function never uses)."""

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


@contextlib.contextmanager
def traced_call(function_name: str, names: Sequence[str]):
    """Turns the errors a user function meets while traced into ones that name it."""
    try:
        yield
    except KeyError as error:
        raise ValueError(
            f"{function_name} reads hyper-parameter {error.args[0]!r}, which the grid does not give (grid keys: {list(names)})"
        ) from None
    except _TRACER_ERRORS as error:
        raise TypeError(
            f"{function_name} needs the concrete value of a traced argument (a Python if, float() or int() on it). "
            f"Its hyper-parameters are traced float32 scalars, one program for every value: use jnp.where or "
            f"jax.lax.cond instead of a Python branch. JAX said: {str(error).splitlines()[0]}"
        ) from error


def check_outputs(function_name: str, outputs, what: str = "metrics") -> None:
    """A function's result must be a pytree of arrays with at least one leaf."""
    leaves = jax.tree.leaves(outputs)
    if not leaves:
        raise TypeError(
            f"{function_name} returned {outputs!r}: it must return its {what} as an array or a pytree (dict, tuple) of arrays"
        )
    for leaf in leaves:
        if not isinstance(leaf, (jax.Array, np.ndarray, np.generic, numbers.Number)):
            raise TypeError(
                f"{function_name} returned a {type(leaf).__name__} ({leaf!r:.60}) among its {what}: return arrays (a dict of arrays, a NamedTuple)"
            )


def check_reads(function_name: str, names: Sequence[str], read: set[str]) -> None:
    unused = [name for name in names if name not in read]
    if unused:
        raise ValueError(
            f"grid keys {unused} are not used by {function_name} (it reads {sorted(read)}); check their spelling"
        )


def shardings(devices: tuple) -> tuple[NamedSharding, NamedSharding]:
    """(split by configuration, replicated) over a one-axis mesh of ``devices``."""
    mesh = Mesh(np.array(devices), ("config",))
    return NamedSharding(mesh, PartitionSpec("config")), NamedSharding(mesh, PartitionSpec())


def hparam_structs(names: Sequence[str], width: int, sharding) -> dict:
    return {name: jax.ShapeDtypeStruct((width,), jnp.float32, sharding=sharding) for name in names}


CPU_GROUP_SIZE = 32  # configurations side by side on a CPU device: a step's working set stays in cache


def group_size_for(devices: tuple, group_size: int | None) -> int | None:
    """Configurations vmapped side by side on each device (None: all of its share at once)."""
    if group_size is not None:
        return group_size
    return CPU_GROUP_SIZE if devices[0].platform == "cpu" else None


def lanes_for(devices: tuple, width: int, group: int | None) -> int:
    """How many calls of a chunk's program run side by side, each from its own thread.

    On CPU, XLA runs a small program's operations on the thread that called it, helped by its
    thread pool only where one operation is large: one wide call leaves cores idle and pays to
    share each small matrix product between them, while one call per core, each over its own
    configurations, keeps every core busy with operations that stay on one core
    (docs/performance.md gives the rates).  So a chunk is split into one lane per core that its devices
    leave free, each lane holding at least one group per device.  GPU and TPU programs, and
    programs of several processes (whose results are gathered together), run as one call.
    """
    if devices[0].platform != "cpu" or jax.process_count() > 1 or group is None:
        return 1
    return max(1, min(_cores_per_device(devices), -(-width // (group * len(devices)))))


def lane_group_size(devices: tuple, width: int, group_size: int | None) -> int | None:
    """The group of a sweep's lanes: ``group_size`` where one is given, else :func:`group_size_for`'s
    default, made smaller on a CPU where a chunk is too narrow to give every core it leaves free
    a lane of whole groups (32 configurations on 2 cores: two lanes of 16, not one lane of 32).

    One lane is one thread: a chunk of a single group keeps one core busy and leaves the others
    idle, while a plain ``jit(vmap(...))`` of the same run gets some help from XLA's thread pool;
    half-width groups, one lane per core, keep every core busy (``benchmarks/sweep_vs_handwritten.py``
    gives the times).  An explicit ``group_size`` is kept as given.
    """
    group = group_size_for(devices, group_size)
    if group_size is not None or group is None or devices[0].platform != "cpu" or jax.process_count() > 1:
        return group
    return max(1, min(group, -(-width // (_cores_per_device(devices) * len(devices)))))


def _cores_per_device(devices: tuple) -> int:
    """The cores this process may run on, shared out among ``devices`` (at least one each)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // len(devices))


def in_groups(function: Callable, group: int | None) -> Callable:
    """``function(mapped, *shared)`` vmapped over ``mapped``'s leading (configuration) axis,
    at most ``group`` configurations at a time.

    ``lax.map`` runs the groups one after another inside the program; each is the same vmapped
    computation, so only the working set changes, not the arithmetic.  The groups are made equal
    (the last rows repeated, their results dropped): a remainder group of another size would be a
    second copy of the whole computation, tracing and compiling it twice.
    """

    def run(mapped, *shared):
        width = jax.tree.leaves(mapped)[0].shape[0]
        if group is None or group >= width:
            return jax.vmap(function, in_axes=(0,) + (None,) * len(shared))(mapped, *shared)
        count = -(-width // group)
        size = -(-width // count)  # count equal groups of at most ``group``
        padded = jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], count * size - width, axis=0)]), mapped)
        outputs = jax.lax.map(lambda one: function(one, *shared), padded, batch_size=size)
        return jax.tree.map(lambda a: a[:width], outputs)

    return run


def over_seeds(function: Callable, seeds: int, in_axes: tuple) -> Callable:
    """``function`` vmapped over the seed axis (``in_axes`` as for ``jax.vmap``, each 0 or None).

    With one seed it is called once on that seed and its outputs get the seed axis back: the
    same numbers with one batching level less to trace and compile.
    """
    if seeds > 1:
        return jax.vmap(function, in_axes=in_axes)

    def single(*args):
        args = [arg if axis is None else jax.tree.map(lambda a: a[0], arg) for arg, axis in zip(args, in_axes)]
        return jax.tree.map(lambda a: jnp.expand_dims(a, 0), function(*args))

    return single


def sharded(function: Callable, devices: tuple, num_shared: int, group: int | None) -> Callable:
    """``function(mapped, *shared)`` with ``mapped``'s configuration axis split over a mesh of
    ``devices``: each device runs its own share (``shard_map``) in groups; ``shared`` replicated."""
    mesh = Mesh(np.array(devices), ("config",))
    specs = (PartitionSpec("config"),) + (PartitionSpec(),) * num_shared
    return jax.shard_map(
        in_groups(function, group), mesh=mesh, in_specs=specs, out_specs=PartitionSpec("config"), check_vma=False
    )


PROGRAMS = ProgramCache(maxsize=64)  # sweep's and halving's programs, by what they close over


def lower(
    per_configuration: Callable,
    mapped,
    shared: tuple,
    devices: tuple,
    group: int | None,
    function_name: str,
    names: Sequence[str],
) -> compilation.Program:
    """The one builder of a grid program: ``per_configuration(one_configuration, *shared)`` over
    the configuration axis of ``mapped`` (a pytree of ``ShapeDtypeStruct`` [width, ...]), split
    over a ``config`` mesh of ``devices`` and run ``group`` at a time on each, ``shared``
    replicated; traced now, with the user function's errors named, and compiled on first call."""
    by_config, replicated = shardings(devices)
    body = sharded(per_configuration, devices, len(shared), group)
    program = jax.jit(body, in_shardings=(by_config,) + (replicated,) * len(shared), out_shardings=by_config)
    with traced_call(function_name, names):
        return compilation.Program(program.lower(mapped, *shared))


def key_struct(seeds: int, key_width: int, devices: tuple) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct((seeds, key_width), jnp.uint32, sharding=shardings(devices)[1])


def run_program(
    run_fn: Callable,
    names: tuple[str, ...],
    devices: tuple,
    width: int,
    seeds: int,
    key_impl: str | None,
    key_width: int,
    group: int | None = None,
) -> compilation.Program:
    """``sweep``'s program: ``run_fn`` over [width configurations, seeds], kept by
    :func:`~jaxopt_course.hyperparams.static_key` of ``run_fn`` at this call (a ``run_fn`` defined
    again with the same code reuses it; one whose closure or globals changed is traced again)."""
    return PROGRAMS.get(
        ("run", run_fn, names, devices, width, seeds, key_impl, key_width, group),
        lambda: _run_program(run_fn, names, devices, width, seeds, key_impl, key_width, group),
    )


def _run_program(run_fn, names, devices, width, seeds, key_impl, key_width, group):
    read: set[str] = set()

    def one(hparams, key):
        recording = Recording(hparams)
        metrics = run_fn(recording, key)
        read.update(recording.read)
        check_outputs("run_fn", metrics)
        return metrics

    def per_configuration(hparams, key_data):
        return over_seeds(one, seeds, (None, 0))(hparams, wrap_keys(key_data, key_impl))

    hparams = hparam_structs(names, width, shardings(devices)[0])
    program = lower(
        per_configuration, hparams, (key_struct(seeds, key_width, devices),), devices, group, "run_fn", names
    )
    check_reads("run_fn", names, read)
    return program


def rung_programs(init_fn, advance_fn, names, devices, width, seeds, key_impl, key_width, group):
    """Halving's programs, kept as :func:`run_program`'s: init (hparams, key data) -> state and
    advance (state, hparams) -> (state, metrics), each over [width, seeds], and the metrics' shapes."""
    parts = ("rungs", init_fn, advance_fn, names, devices, width, seeds, key_impl, key_width, group)
    return PROGRAMS.get(
        parts, lambda: _rung_programs(init_fn, advance_fn, names, devices, width, seeds, key_impl, key_width, group)
    )


def _rung_programs(init_fn, advance_fn, names, devices, width, seeds, key_impl, key_width, group):
    read: set[str] = set()

    def init_one(hparams, key):
        recording = Recording(hparams)
        state = init_fn(recording, key)
        read.update(recording.read)
        check_outputs("init_fn", state, "state")
        return state

    def advance_one(state, hparams):
        recording = Recording(hparams)
        out = advance_fn(state, recording)
        read.update(recording.read)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"advance_fn must return a pair (state, metrics); got {type(out).__name__}")
        new_state, metrics = out
        shapes = lambda tree: jax.tree.map(lambda a: (jnp.shape(a), jnp.result_type(a)), tree)  # noqa: E731
        if jax.tree.structure(new_state) != jax.tree.structure(state) or shapes(new_state) != shapes(state):
            raise TypeError(
                "advance_fn must return a state of the structure, shapes and dtypes it was given (the next rung starts from it)"
            )
        check_outputs("advance_fn", metrics)
        return new_state, metrics

    by_config = shardings(devices)[0]
    hparams = hparam_structs(names, width, by_config)
    init = lower(
        lambda h, key_data: over_seeds(init_one, seeds, (None, 0))(h, wrap_keys(key_data, key_impl)),
        hparams,
        (key_struct(seeds, key_width, devices),),
        devices,
        group,
        "init_fn",
        names,
    )
    state = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=by_config), init.lowered.out_info)
    advance = lower(
        lambda pair: over_seeds(advance_one, seeds, (0, None))(*pair),
        (state, hparams),
        (),
        devices,
        group,
        "advance_fn",
        names,
    )
    check_reads("init_fn and advance_fn", names, read)
    return init, advance, advance.lowered.out_info[1]


def global_array(values: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A global array from a host value every process holds alike (one process or many)."""
    return jax.make_array_from_callback(values.shape, sharding, lambda index: values[index])


def to_host(tree):
    """Gathers sharded outputs to numpy on every host (across processes on a cluster)."""
    if jax.process_count() == 1:
        return jax.tree.map(np.asarray, tree)
    from jax.experimental import multihost_utils

    return jax.tree.map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))


def chunk_width(count: int, chunk_size: int | None, num_devices: int) -> int:
    """Configurations per program call: ``chunk_size`` (or all), rounded up to a multiple of the devices."""
    return -(-min(chunk_size or count, count) // num_devices) * num_devices


def hparam_arrays(configurations: dict[str, np.ndarray], sharding) -> dict[str, jax.Array]:
    return {name: global_array(np.asarray(values, np.float32), sharding) for name, values in configurations.items()}


def pad_to(values: np.ndarray, length: int) -> np.ndarray:
    """``values`` padded to ``length`` by repeating its last entry (padding rows are computed, then dropped)."""
    return np.concatenate([values, np.repeat(values[-1:], length - len(values), axis=0)])
