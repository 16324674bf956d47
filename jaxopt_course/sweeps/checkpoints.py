"""Checkpoints: a run's finished parts on disk, each verified when it is loaded, and the
fingerprints of functions by which a later process recognises the run.

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
import fcntl
import hashlib
import json
import os
import re
import types
import zipfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxopt_course.hyperparams import _Identity, static_key
from jaxopt_course.sweeps.files import atomic_write, to_jsonable, write_json

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
            digest.update(
                f"array:{array.dtype}:{array.shape}:".encode()
                + hashlib.sha256(np.ascontiguousarray(array).tobytes()).digest()
            )
        elif isinstance(value, dict):
            _feed(
                digest,
                ("dict",) + tuple((static_key(name), static_key(item)) for name, item in value.items()),
                visiting,
            )
        elif isinstance(value, (list, tuple)):
            _feed(digest, (type(value).__qualname__,) + tuple(static_key(item) for item in value), visiting)
        elif isinstance(value, (set, frozenset)):
            _feed(digest, ("set",) + tuple(sorted(fingerprint(item) for item in value)), visiting)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            _feed(
                digest,
                (type(value),)
                + tuple((f.name, static_key(getattr(value, f.name, None))) for f in dataclasses.fields(value)),
                visiting,
            )
        elif hasattr(value, "__dict__"):
            _feed(
                digest,
                (type(value),) + tuple((name, static_key(item)) for name, item in sorted(vars(value).items())),
                visiting,
            )
        else:
            digest.update(_describe(value).encode() + b"\0")
    finally:
        visiting.discard(id(value))


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


def describe_function(function) -> dict:
    """What a checkpoint records of a user function: its dotted name and :func:`fingerprint`."""
    name = f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', type(function).__qualname__)}"
    return {"name": name, "fingerprint": fingerprint(function)}


def describe_run(
    functions: dict,
    configurations: dict[str, np.ndarray],
    seeds: int,
    keys,
    width: int,
    devices: tuple,
    group: int | None,
    **more,
) -> dict:
    """What identifies a run's checkpoints: its functions (:func:`describe_function`), grid, seeds,
    key, program width and group, devices, x64 mode, and ``more`` (the caller's own arguments)."""
    return {
        **{name: describe_function(function) for name, function in functions.items()},
        "grid": {n: v.tolist() for n, v in configurations.items()},
        "seeds": seeds,
        "key": keys.describe(),
        "chunk_size": width,
        "group_size": group,
        "devices": {"count": len(devices), "platform": devices[0].platform},
        "x64": bool(jax.config.jax_enable_x64),
        **more,
    }


class Checkpoints:
    """A run's finished parts in a folder: ``<manifest>`` (its arguments) and one file per part
    (``sweep``: ``sweep.json``, ``chunk_00000.npz`` …; halving: ``halving.json``, ``rung_00000.npz`` …).

    Each part's file carries a ``meta`` entry (JSON): the sweep's fingerprint (a sha256 of the
    described arguments), the chunk's index and each leaf's shape and dtype, all verified when it is
    loaded, so a chunk of another sweep, another chunk of this one, or a corrupt file is refused
    by name rather than loaded.  While a sweep uses the folder, its writer (process 0) holds an
    exclusive ``flock`` on ``sweep.lock`` there; a second sweep on the same folder is refused
    while the first runs.
    Opening the folder removes temporary files an interrupted atomic write left behind.
    """

    LOCK = "sweep.lock"

    def __init__(
        self,
        folder: Path,
        described: dict,
        num_parts: int,
        *,
        part: str = "chunk",
        manifest: str = "sweep.json",
        caller: str = "sweep",
    ):
        self.folder, self.part, self.manifest, self.caller = folder, part, manifest, caller
        self.noun = "sweep" if caller == "sweep" else f"{caller} run"
        self.fingerprint = hashlib.sha256(
            json.dumps(to_jsonable(described), sort_keys=True, allow_nan=False).encode()
        ).hexdigest()
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
                f"checkpoint_dir {str(folder)!r} is in use by another {self.noun} (it holds {self.LOCK} there): "
                f"wait until that {self.noun} ends, or give another checkpoint_dir"
            )
        try:
            self._open(described, num_parts)
        except BaseException:
            self.close()
            raise

    def _open(self, described: dict, num_parts: int) -> None:
        folder, caller = self.folder, self.caller
        if self.writer:
            self._remove_orphans()
        manifest = folder / self.manifest
        if manifest.exists():
            try:
                stored = json.loads(manifest.read_text())
            except (ValueError, UnicodeDecodeError) as error:
                raise ValueError(
                    f"checkpoint file {str(manifest)!r} is corrupt ({error}): give a new checkpoint_dir, or delete the folder and call {caller} again"
                ) from error
            for argument, value in to_jsonable(described).items():
                if stored.get(argument) != value:
                    if isinstance(value, dict) and set(value) == {"name", "fingerprint"}:  # a user function
                        raise ValueError(
                            f"checkpoint_dir {str(folder)!r} holds a {self.noun} with a different {argument} ({_what_changed(stored.get(argument), value)}): "
                            f"call {caller} with the same {argument} to resume it, or give a new checkpoint_dir"
                        )
                    difference = (
                        _grid_difference(stored.get(argument), value)
                        if argument == "grid"
                        else f"{_short(stored.get(argument))} there, {_short(value)} now"
                    )
                    raise ValueError(
                        f"checkpoint_dir {str(folder)!r} holds a {self.noun} with a different {argument} "
                        f"({difference}): call {caller} with the same arguments to resume it, or give a new checkpoint_dir"
                    )
        elif self.writer:
            write_json(manifest, described)
        self.finished = np.array([self._path(i).exists() for i in range(num_parts)])
        if jax.process_count() > 1:  # every process must skip the same chunks, or the collectives hang
            from jax.experimental import multihost_utils

            everyone = np.asarray(multihost_utils.process_allgather(self.finished.astype(np.int32)))
            if not np.all(everyone == everyone[:1]):
                raise ValueError(
                    f"checkpoint_dir {str(folder)!r} holds different chunks on different processes: give a folder every process sees"
                )

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
            if orphan.name.startswith((f".{self.part}_", f".{self.manifest}.")) and orphan.is_file():
                orphan.unlink(missing_ok=True)

    def _path(self, index: int) -> Path:
        return self.folder / f"{self.part}_{index:05d}.npz"

    def _refuse(self, path: Path, what: str):
        return ValueError(
            f"checkpoint file {str(path)!r} {what}: delete it (or give a new checkpoint_dir) and call {self.caller} again"
        )

    def load(self, index: int, tree, expected=None):
        """Part ``index`` (a pytree of the structure ``tree``, a treedef) if it finished before,
        else None; a file that is not this part of this run, or a corrupt one, is refused naming
        the file.  ``expected``: each leaf's (shape, dtype), checked too."""
        path = self._path(index)
        if not self.finished[index]:
            return None
        try:
            with (
                open(path, "rb") as stream,
                np.load(stream, allow_pickle=False) as stored,
            ):  # our stream: closed even when np.load fails
                names = set(stored.files)
                meta = json.loads(str(stored["meta"][()])) if "meta" in names else None
                count = (
                    meta["leaves"].__len__()
                    if isinstance(meta, dict) and isinstance(meta.get("leaves"), list)
                    else None
                )
                leaves = None if count is None else [stored[f"leaf_{i}"] for i in range(count)]
        except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError, TypeError) as error:
            raise ValueError(
                f"checkpoint file {str(path)!r} is corrupt or truncated ({type(error).__name__}: {error}): "
                f"delete {path.name} and call {self.caller} again to recompute that {self.part}"
            ) from error
        if meta is None:
            raise self._refuse(
                path,
                "does not say which sweep and chunk it holds (no meta entry: written by an older version or by something else)",
            )
        if not isinstance(meta, dict) or leaves is None:
            raise self._refuse(path, "has an unreadable meta entry (corrupt)")
        if meta.get("fingerprint") != self.fingerprint:
            raise self._refuse(
                path,
                f"is from another {self.noun} (fingerprint {str(meta.get('fingerprint'))[:12]}… there, {self.fingerprint[:12]}… here)",
            )
        if meta.get(self.part) != index:
            raise self._refuse(
                path, f"is {self.part} {meta.get(self.part)} of this {self.noun}, not {self.part} {index}"
            )
        if len(leaves) != tree.num_leaves:
            raise self._refuse(path, f"holds {len(leaves)} arrays but this {self.part} has {tree.num_leaves}")
        for i, (leaf, described) in enumerate(zip(leaves, meta["leaves"])):
            if [list(leaf.shape), leaf.dtype.str] != described:
                raise self._refuse(
                    path, f"is corrupt: leaf {i} is {leaf.dtype.str}{list(leaf.shape)}, its meta says {described}"
                )
            if expected is not None:
                shape, dtype = expected[i]
                if tuple(leaf.shape) != tuple(shape) or leaf.dtype != dtype:
                    raise self._refuse(
                        path,
                        f"holds leaf {i} as {leaf.dtype}{list(leaf.shape)} but the run gives {np.dtype(dtype)}{list(shape)}",
                    )
        return jax.tree.unflatten(tree, leaves)

    def save(self, index: int, chunk) -> None:
        if not self.writer:
            return
        leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(chunk)]
        meta = {
            "fingerprint": self.fingerprint,
            self.part: index,
            "leaves": [[list(leaf.shape), leaf.dtype.str] for leaf in leaves],
        }

        def write(temporary):
            with open(temporary, "wb") as stream:
                np.savez(
                    stream, meta=np.array(json.dumps(meta)), **{f"leaf_{i}": leaf for i, leaf in enumerate(leaves)}
                )

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
    return (
        f"{now['name']} has changed since: its code, or a value it closes over or reads as a global; "
        f"fingerprint {str(stored.get('fingerprint'))[:12]} there, {now['fingerprint'][:12]} now"
    )


def _short(value, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
