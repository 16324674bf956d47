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
import threading
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


def check_count(name: str, value, *, allow_none: bool = False) -> int | None:
    """A positive integer (Python or numpy), or None where allowed."""
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)) or value < 1:
        accepted = "a positive integer" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {accepted}; got {value!r}")
    return int(value)


def check_devices(devices) -> tuple:
    """``None`` (every device JAX sees) or a non-empty list of distinct ``jax.Device`` objects."""
    if devices is None:
        return tuple(jax.devices())
    if isinstance(devices, jax.Device):
        raise TypeError(f"devices must be a list of devices, not one device: use devices=[{devices}]")
    if isinstance(devices, (str, bytes)) or not isinstance(devices, Sequence):
        raise TypeError(f"devices must be a list of jax.Device objects (such as jax.devices()[:2]) or None; got {devices!r}")
    devices = tuple(devices)
    if not devices:
        raise ValueError("devices must name at least one device (or be None for every device)")
    strangers = [d for d in devices if not isinstance(d, jax.Device)]
    if strangers:
        raise TypeError(f"devices must hold jax.Device objects (such as jax.devices()[0]), not names; got {strangers[0]!r}")
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

    def wrap(self, data):
        return wrap_keys(data, self.impl)

    def describe(self) -> dict:
        return {"data": self.data.tolist(), "impl": self.impl}


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
        raise ValueError(f"{function_name} reads hyper-parameter {error.args[0]!r}, which the grid does not give (grid keys: {list(names)})") from None
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
        raise TypeError(f"{function_name} returned {outputs!r}: it must return its {what} as an array or a pytree (dict, tuple) of arrays")
    for leaf in leaves:
        if not isinstance(leaf, (jax.Array, np.ndarray, np.generic, numbers.Number)):
            raise TypeError(f"{function_name} returned a {type(leaf).__name__} ({leaf!r:.60}) among its {what}: return arrays (a dict of arrays, a NamedTuple)")


def check_reads(function_name: str, names: Sequence[str], read: set[str]) -> None:
    unused = [name for name in names if name not in read]
    if unused:
        raise ValueError(f"grid keys {unused} are not used by {function_name} (it reads {sorted(read)}); check their spelling")


def shardings(devices: tuple) -> tuple[NamedSharding, NamedSharding]:
    """(split by configuration, replicated) over a one-axis mesh of ``devices``."""
    mesh = Mesh(np.array(devices), ("config",))
    return NamedSharding(mesh, PartitionSpec("config")), NamedSharding(mesh, PartitionSpec())


class Program:
    """A traced (lowered) program, compiled when first called under a set of compiler options
    (``compilation.options()``), once for each set."""

    def __init__(self, lowered):
        self.lowered = lowered
        self._compiled: dict = {}
        self._lock = threading.Lock()  # lanes call one program from several threads: compile it once

    @property
    def out_tree(self):
        return self.lowered.out_tree

    def compiled(self, chosen: dict | None):
        """The executable for compiler options ``chosen`` (compiled on the first request)."""
        key = compilation.options_key(chosen)
        with self._lock:
            if key not in self._compiled:
                self._compiled[key] = self.lowered.compile(compiler_options=chosen)
            return self._compiled[key]

    def __call__(self, *args):
        return self.compiled(compilation.options())(*args)


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
    thread pool only where one operation is large: one wide call keeps about 1.5 of 2 cores busy
    and pays to share each small matrix product between them, while one call per core, each over
    its own configurations, keeps every core busy with operations that stay on one core (about
    twice the rate on 2 cores).  So a chunk is split into one lane per core that its devices
    leave free, each lane holding at least one group per device.  GPU and TPU programs, and
    programs of several processes (whose results are gathered together), run as one call.
    """
    if devices[0].platform != "cpu" or jax.process_count() > 1 or group is None:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores // len(devices), -(-width // (group * len(devices)))))


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
    return jax.shard_map(in_groups(function, group), mesh=mesh, in_specs=specs, out_specs=PartitionSpec("config"), check_vma=False)


PROGRAMS = ProgramCache(maxsize=64)  # sweep's and halving's programs, by what they close over


def run_program(run_fn: Callable, names: tuple[str, ...], devices: tuple, width: int, seeds: int, key_impl: str | None, key_width: int, group: int | None = None) -> Program:
    """``run_fn`` over [width configurations, seeds], kept by :func:`~jaxopt_course.hyperparams.static_key`
    of ``run_fn`` at this call (a ``run_fn`` defined again with the same code reuses it; one whose
    closure or globals changed is traced again)."""
    parts = ("run", run_fn, names, devices, width, seeds, key_impl, key_width, group)
    return PROGRAMS.get(parts, lambda: _run_program(run_fn, names, devices, width, seeds, key_impl, key_width, group))


def _run_program(run_fn, names, devices, width, seeds, key_impl, key_width, group) -> Program:
    """``run_fn`` over [width configurations, seeds]: one trace, which checks reads and outputs."""
    compilation.choose_threefry_lowering()
    by_config, replicated = shardings(devices)
    read: set[str] = set()

    def one(hparams, key):
        recording = Recording(hparams)
        metrics = run_fn(recording, key)
        read.update(recording.read)
        check_outputs("run_fn", metrics)
        return metrics

    def per_configuration(hparams, key_data):
        return over_seeds(one, seeds, (None, 0))(hparams, wrap_keys(key_data, key_impl))

    program = jax.jit(sharded(per_configuration, devices, 1, group), in_shardings=(by_config, replicated), out_shardings=by_config)
    with traced_call("run_fn", names):
        lowered = program.lower(hparam_structs(names, width, by_config), jax.ShapeDtypeStruct((seeds, key_width), jnp.uint32, sharding=replicated))
    check_reads("run_fn", names, read)
    return Program(lowered)


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

