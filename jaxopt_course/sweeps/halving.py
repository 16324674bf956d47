"""Successive halving and Hyperband inside compiled, vmapped programs.

Successive halving (Jamieson & Talwalkar 2016) trains every configuration for one rung, keeps the
best fraction ``keep`` by a metric, trains the survivors for another rung from where they stopped,
and so on: with n_0 configurations and R rungs it runs n_0 + n_1 + … + n_{R-1} configuration-rungs,
n_{r+1} = ⌈keep · n_r⌉, instead of the full grid's R · n_0.

Here a rung is one call of a compiled program over a fixed number of configurations (the
*width*) × seeds: ``advance_fn`` vmapped twice and sharded over a ``config`` device mesh, as in
``sweep``.  Every rung runs its survivors through that same program, a chunk of ``width`` at a
time (the last chunk padded), each from its own saved state.  Because the program is the same and
each configuration's lane is computed independently of its neighbours, a survivor's numbers are
bit for bit those of the full grid run through the same rung program with nothing stopped
(``keep=1`` with the same ``chunk_size``), on the same devices.  A second grid of the same shape
traces and compiles nothing.

Hyperband (Li et al. 2018) runs several such brackets that trade many configurations stopped early
against few trained long; see :func:`hyperband`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_course import compilation
from jaxopt_course.checks import check_count
from jaxopt_course.progress import ProgressBar
from jaxopt_course.sweeps import programs, results
from jaxopt_course.sweeps.checkpoints import Checkpoints, check_checkpoint_dir, describe_run
from jaxopt_course.sweeps.grid import SeedKeys, Zip, expand_grid, prepare
from jaxopt_course.sweeps.results import SweepResult, check_metric, named_leaves

FORMAT = "jaxopt_course.HalvingResult/1"


@dataclasses.dataclass(frozen=True)
class HalvingResult:
    """What :func:`successive_halving` ran: every configuration's metrics at each rung it reached.

    ``rungs[r]`` is a :class:`SweepResult` of the configurations that ran rung r (their grid
    values and the metrics of that rung, axes [configuration, seed, ...]); ``indices[r]`` their
    indices into ``grid``.  ``stopped_rung[i]`` is the last rung configuration i ran
    (``len(rungs) - 1`` for the finalists); ``scores[r, i]`` its ranking score after rung r
    (NaN where it did not run).  ``config_rungs`` counts the configuration-rungs run,
    ``computed_config_rungs`` those the programs computed (padding included).
    """

    grid: dict[str, np.ndarray]
    rungs: list[SweepResult]
    indices: list[np.ndarray]
    stopped_rung: np.ndarray
    scores: np.ndarray
    metric: str
    mode: str
    seeds: int
    chunk_size: int
    advances: tuple[int, ...]
    config_rungs: int
    computed_config_rungs: int

    @property
    def num_configurations(self) -> int:
        return len(next(iter(self.grid.values())))

    def best(self) -> dict:
        """The best finalist by its score after the last rung: its values, score and index."""
        last = self.rungs[-1]
        local = last.best(self.metric, mode=self.mode)
        index = int(self.indices[-1][local["index"]])
        return {**{name: float(v[index]) for name, v in self.grid.items()}, "score": local["score"], "index": index}

    def cost(self) -> dict:
        """Advance calls run, against the full grid through every rung (configuration-advances)."""
        full = self.num_configurations * sum(self.advances)
        run = sum(len(ix) * a for ix, a in zip(self.indices, self.advances))
        computed = self.computed_config_rungs
        return {
            "config_advances": run,
            "full_grid_config_advances": full,
            "saved": 1 - run / full,
            "computed_config_advances": computed,
            "saved_computed": 1 - computed / full,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Writes everything, every array bit for bit, to one ``.npz`` file (atomically), as
        :meth:`SweepResult.save <jaxopt_course.sweeps.results.SweepResult.save>` does."""
        meta, arrays = self._encode()
        results.write_npz(path, {"format": FORMAT, **meta}, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike, namedtuples: Sequence[type] = ()) -> HalvingResult:
        """The :class:`HalvingResult` that :meth:`save` wrote to ``path``; never unpickles or imports.

        ``namedtuples`` and the checks are those of :meth:`SweepResult.load
        <jaxopt_course.sweeps.results.SweepResult.load>`, for every rung (its grid the configurations
        ``indices[r]``); also ``stopped_rung`` is [n], ``scores`` [rungs, n], one ``advances`` per rung."""
        stored = results.StoredFile(path, FORMAT, "HalvingResult.save", namedtuples)
        return cls._decode(stored, stored.meta)

    def _encode(self, prefix: str = "") -> tuple[dict, dict[str, np.ndarray]]:
        """(meta, arrays) of this result, its arrays' names starting with ``prefix``."""
        leaves: list[np.ndarray] = []
        structures = [
            results.encode_tree(rung.metrics, leaves, f"rungs[{r}].metrics") for r, rung in enumerate(self.rungs)
        ]
        meta = {
            "grid": list(self.grid),
            "rungs": structures,
            "metric": self.metric,
            "mode": self.mode,
            "seeds": self.seeds,
            "chunk_size": self.chunk_size,
            "advances": list(self.advances),
            "config_rungs": self.config_rungs,
            "computed_config_rungs": self.computed_config_rungs,
        }
        arrays = {
            **results.grid_arrays(self.grid, prefix),
            **results.leaf_arrays(leaves, prefix),
            f"{prefix}stopped_rung": self.stopped_rung,
            f"{prefix}scores": self.scores,
        }
        arrays.update({f"{prefix}indices_{r}": np.asarray(where) for r, where in enumerate(self.indices)})
        return meta, arrays

    @classmethod
    def _decode(cls, stored: results.StoredFile, meta: dict, prefix: str = "", where: str = "") -> HalvingResult:
        """The result :meth:`_encode` wrote with ``meta`` and ``prefix`` into ``stored``, checked."""
        of = f" of {where}" if where else ""
        with stored.reading():
            grid, leaves, seeds = stored.grid(meta["grid"], prefix), stored.leaves(prefix), stored.seeds(meta, where)
            indices = [stored.arrays[f"{prefix}indices_{r}"] for r in range(len(meta["rungs"]))]
            metrics = [stored.tree(structure, leaves) for structure in meta["rungs"]]
            stopped, scores, advances = (
                stored.arrays[f"{prefix}stopped_rung"],
                stored.arrays[f"{prefix}scores"],
                tuple(meta["advances"]),
            )
            fields = {
                name: meta[name] for name in ("metric", "mode", "chunk_size", "config_rungs", "computed_config_rungs")
            }
        stored.check_shapes(grid, {}, seeds, where)
        count = len(next(iter(grid.values())))
        if len(advances) != len(indices) or np.shape(stopped) != (count,) or np.shape(scores) != (len(indices), count):
            raise stored.error(
                f"{len(indices)} rungs{of} need {len(indices)} advances, stopped_rung of shape ({count},) and scores of shape "
                f"({len(indices)}, {count}); the file has {len(advances)}, {np.shape(stopped)} and {np.shape(scores)}"
            )
        rungs = []
        for r, (tree, chosen) in enumerate(zip(metrics, indices)):
            if (
                np.ndim(chosen) != 1
                or not np.issubdtype(np.asarray(chosen).dtype, np.integer)
                or np.any((chosen < 0) | (chosen >= count))
            ):
                raise stored.error(
                    f"indices of rung {r}{of} must be 1-D integers in [0, {count}); the file has {chosen!r}"
                )
            rung_grid = {n: v[chosen] for n, v in grid.items()}
            stored.check_shapes(rung_grid, tree, seeds, f"rung {r}{of}")
            rungs.append(SweepResult(grid=rung_grid, metrics=tree, seeds=seeds))
        return cls(
            grid=grid,
            rungs=rungs,
            indices=indices,
            stopped_rung=stopped,
            scores=scores,
            seeds=seeds,
            advances=advances,
            **fields,
        )

    def history(self, index: int) -> list:
        """Configuration ``index``'s metrics (one seed axis) at every rung it reached."""
        out = []
        for rung, where in zip(self.rungs, self.indices):
            position = np.flatnonzero(where == index)
            if position.size:
                out.append(jax.tree.map(lambda a, p=int(position[0]): a[p], rung.metrics))
        return out


def _check_rungs(rungs) -> tuple[int, ...]:
    """``rungs`` as the number of advance calls in each rung."""
    if isinstance(rungs, Sequence) and not isinstance(rungs, str):
        if not rungs:
            raise ValueError("rungs must be a positive integer or a non-empty list of advance counts; got []")
        return tuple(check_count("each entry of rungs", r) for r in rungs)
    return (1,) * check_count("rungs", rungs)


def _check_keep(keep) -> float:
    if isinstance(keep, bool) or not isinstance(keep, (int, float, np.floating)) or not 0 < keep <= 1:
        raise ValueError(f"keep must be a fraction in (0, 1] (1 stops nothing); got {keep!r}")
    return float(keep)


def survivors(count: int, keep: float) -> int:
    """⌈keep · count⌉, at least one."""
    return max(1, math.ceil(count * keep - 1e-9))


def _rung_layout(metrics_info, state_info, alive: int, num_chunks: int):
    """(tree, leaves' (shape, dtype)) of a rung's checkpoint: its survivors' metrics and each lane's state."""

    def host(info, rows=None):
        return jax.ShapeDtypeStruct(info.shape if rows is None else (rows, *info.shape[1:]), info.dtype)

    layout = {
        "metrics": jax.tree.map(lambda i: host(i, alive), metrics_info),
        "states": [jax.tree.map(host, state_info)] * num_chunks,
    }
    return jax.tree.structure(layout), [(leaf.shape, leaf.dtype) for leaf in jax.tree.leaves(layout)]


@functools.lru_cache(maxsize=16)
def _gather_program(devices):
    """(chunks of states, indices [n_out, width]) -> n_out chunks: the survivors' states, on device."""
    by_config, _ = programs.shardings(devices)

    def gather(states, indices):
        stacked = jax.tree.map(lambda *chunks: jnp.concatenate(chunks), *states)
        return tuple(jax.tree.map(lambda a, j=j: a[indices[j]], stacked) for j in range(indices.shape[0]))

    return compilation.jit(gather, out_shardings=by_config)


def successive_halving(
    init_fn: Callable[[dict, jax.Array], Any],
    advance_fn: Callable[[Any, dict], tuple[Any, Any]],
    grid: Mapping[str, Any],
    *,
    metric: str | None = None,
    mode: str = "min",
    rungs: int | Sequence[int] = 4,
    keep: float = 1 / 3,
    seeds: int = 1,
    key: jax.Array,
    chunk_size: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    group_size: int | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> HalvingResult:
    """Successive halving of ``grid`` × ``seeds``, each rung one compiled, vmapped, sharded program.

    Args:
      init_fn: ``init_fn(hparams, key) -> state``, a pytree (parameters, optimiser state, …);
        ``hparams`` maps each grid key to a traced float32 scalar.  Seed i's key is
        ``jax.random.split(key, seeds)[i]`` for every configuration (common random numbers).
      advance_fn: ``advance_fn(state, hparams) -> (state, metrics)``: one rung's training from
        ``state``; the new state has the same structure, shapes and dtypes.
      grid: as for ``sweep``: ``{name: 1-D values}`` or ``Zip`` entries, a cartesian product.
      metric: the metrics leaf that ranks (dotted name, as in ``SweepResult``); its last value,
        averaged over seeds, is the score (NaN ranks last).  None if there is one leaf.
      mode: "min" or "max".
      rungs: the number of rungs, each one ``advance_fn`` call; or a sequence giving the number
        of ``advance_fn`` calls in each rung (a rung's metrics are those of its last call).
      keep: the fraction that continues after each rung, n_{r+1} = ⌈keep · n_r⌉ (1 stops nothing).
      seeds, key, devices, group_size, progress: as for ``sweep``.
      checkpoint_dir: a folder where each finished rung is written (atomically): its metrics and
        every lane's state.  A later call with the same arguments loads the finished rungs and
        continues from the last one's states, bit for bit as an uninterrupted run; a call with
        other arguments, or a file of another run, is refused by name (as for ``sweep``).
      chunk_size: the width of the rung program (configurations per call, rounded up to a
        multiple of the devices).  Default: the survivors of the first rung, ⌈keep · n⌉.  Compare
        with a ``keep=1`` run of the same ``chunk_size`` for bit-identical numbers.

    Returns:
      A :class:`HalvingResult`.
    """
    for name, function in (("init_fn", init_fn), ("advance_fn", advance_fn)):
        if not callable(function):
            raise TypeError(f"{name} must be a function; got {function!r}")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max'; got {mode!r}")
    advances, keep = _check_rungs(rungs), _check_keep(keep)
    checkpoint_dir = check_checkpoint_dir(checkpoint_dir)
    configurations, names, count, seeds, keys, chunk_size, devices = prepare(grid, seeds, key, chunk_size, devices)
    width = programs.chunk_width(count, chunk_size or survivors(count, keep), len(devices))
    group = programs.group_size_for(devices, check_count("group_size", group_size, allow_none=True))
    init, advance, metrics_info = programs.rung_programs(
        init_fn, advance_fn, names, devices, width, seeds, keys.impl, keys.data.shape[1], group
    )
    metric = check_metric(list(named_leaves(metrics_info)), metric)
    by_config, replicated = programs.shardings(devices)
    seed_keys = programs.global_array(keys.data, replicated)
    gather = _gather_program(devices)
    store = None
    if checkpoint_dir is not None:
        described = describe_run(
            {"init_fn": init_fn, "advance_fn": advance_fn},
            configurations,
            seeds,
            keys,
            width,
            devices,
            group,
            metric=metric,
            mode=mode,
            rungs=list(advances),
            keep=keep,
        )
        store = Checkpoints(
            checkpoint_dir, described, len(advances), part="rung", manifest="halving.json", caller="successive_halving"
        )
    state_info = init.lowered.out_info

    alive = np.arange(count)
    states, rung_results, indices, scores = None, [], [], np.full((len(advances), count), np.nan)
    computed = 0
    saved_states = None  # the host states of the last rung loaded from checkpoint_dir
    positions = None  # the survivors' lanes in the last rung's chunks
    with (
        contextlib.closing(store) if store is not None else contextlib.nullcontext(),
        ProgressBar(len(advances), enabled=progress, description="successive halving", unit="rung") as bar,
    ):
        for rung, num_advances in enumerate(advances):
            num_chunks = -(-len(alive) // width)
            computed += num_chunks * width * num_advances
            finished = (
                None
                if store is None
                else store.load(rung, *_rung_layout(metrics_info, state_info, len(alive), num_chunks))
            )
            if finished is not None:
                metrics, saved_states, states = finished["metrics"], finished["states"], None
            else:
                slots = programs.pad_to(alive, num_chunks * width)  # configurations of each lane
                hparams = [
                    programs.hparam_arrays(
                        {n: v[slots[c * width : (c + 1) * width]] for n, v in configurations.items()}, by_config
                    )
                    for c in range(num_chunks)
                ]
                if saved_states is not None:
                    states, saved_states = (
                        [jax.tree.map(lambda a: programs.global_array(a, by_config), lane) for lane in saved_states],
                        None,
                    )
                if rung == 0:
                    states = [init(h, seed_keys) for h in hparams]
                else:
                    states = list(
                        gather(
                            tuple(states),
                            programs.global_array(positions.reshape(num_chunks, width).astype(np.int32), replicated),
                        )
                    )
                metrics = []
                for c in range(num_chunks):
                    for _ in range(num_advances):
                        states[c], chunk_metrics = advance((states[c], hparams[c]))
                    metrics.append(programs.to_host(chunk_metrics))
                metrics = jax.tree.map(lambda *parts: np.concatenate(parts)[: len(alive)], *metrics)
                if store is not None:
                    store.save(rung, {"metrics": metrics, "states": [programs.to_host(lane) for lane in states]})
            result = SweepResult(grid={n: v[alive] for n, v in configurations.items()}, metrics=metrics, seeds=seeds)
            rung_results.append(result)
            indices.append(alive)
            scores[rung, alive] = result.final(metric)
            if rung + 1 < len(advances):
                ranked = np.where(
                    np.isnan(scores[rung, alive]), np.inf, scores[rung, alive] * (1 if mode == "min" else -1)
                )
                order = np.lexsort((alive, ranked))[: survivors(len(alive), keep)]  # by score, ties by index
                order = np.sort(order)  # survivors keep the grid's order
                alive = alive[order]
                positions = programs.pad_to(order, -(-len(order) // width) * width)  # lanes in this rung's chunks
            bar.update(1)
    stopped = np.full(count, -1)
    for rung, where in enumerate(indices):
        stopped[where] = rung
    return HalvingResult(
        grid=configurations,
        rungs=rung_results,
        indices=indices,
        stopped_rung=stopped,
        scores=scores,
        metric=metric,
        mode=mode,
        seeds=seeds,
        chunk_size=width,
        advances=advances,
        config_rungs=sum(len(i) for i in indices),
        computed_config_rungs=computed,
    )


@dataclasses.dataclass(frozen=True)
class HyperbandResult:
    """The brackets :func:`hyperband` ran: ``brackets[b]`` a :class:`HalvingResult` over the
    configurations ``members[b]`` (indices into ``grid``), most aggressive bracket first."""

    FORMAT = "jaxopt_course.HyperbandResult/1"  # of save's files (not a field)

    grid: dict[str, np.ndarray]
    brackets: list[HalvingResult]
    members: list[np.ndarray]
    max_advances: int

    def best(self) -> dict:
        """The best configuration over every bracket's finalists (all trained ``max_advances`` calls)."""
        finalists = [(b.best(), m) for b, m in zip(self.brackets, self.members)]
        sign = 1 if self.brackets[0].mode == "min" else -1
        pick, members = min(finalists, key=lambda f: np.inf if np.isnan(f[0]["score"]) else sign * f[0]["score"])
        return {**pick, "index": int(members[pick["index"]])}

    def drawn(self) -> np.ndarray:
        """The indices into ``grid`` of the configurations some bracket drew (sorted, distinct)."""
        return np.unique(np.concatenate([np.asarray(m) for m in self.members]))

    def cost(self) -> dict:
        """Advance calls of every bracket together, against the configurations drawn trained
        ``max_advances`` calls each (not the whole grid: those never drawn were never compared).

        ``saved`` is 1 - config_advances / drawn_config_advances; it is negative when brackets
        drew the same configurations often enough to cost more than training them all once.
        """
        run = sum(b.cost()["config_advances"] for b in self.brackets)
        drawn = len(self.drawn())
        return {
            "config_advances": run,
            "drawn_configurations": drawn,
            "grid_configurations": len(next(iter(self.grid.values()))),
            "drawn_config_advances": drawn * self.max_advances,
            "saved": 1 - run / (drawn * self.max_advances),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Writes the grid, members and every bracket, every array bit for bit, to one ``.npz`` file
        (atomically), as :meth:`HalvingResult.save` does."""
        meta = {"format": self.FORMAT, "grid": list(self.grid), "max_advances": self.max_advances, "brackets": []}
        arrays = results.grid_arrays(self.grid)
        for b, (bracket, members) in enumerate(zip(self.brackets, self.members)):
            bracket_meta, bracket_arrays = bracket._encode(f"bracket{b}_")
            meta["brackets"].append(bracket_meta)
            arrays.update(bracket_arrays)
            arrays[f"members_{b}"] = np.asarray(members)
        results.write_npz(path, meta, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike, namedtuples: Sequence[type] = ()) -> HyperbandResult:
        """The :class:`HyperbandResult` that :meth:`save` wrote to ``path``; never unpickles or imports.

        Every bracket is loaded and checked as :meth:`HalvingResult.load` does; also ``members[b]``
        are as many indices into ``grid`` as bracket b has configurations."""
        stored = results.StoredFile(path, cls.FORMAT, "HyperbandResult.save", namedtuples)
        with stored.reading():
            grid, max_advances = stored.grid(), stored.meta["max_advances"]
            members = [stored.arrays[f"members_{b}"] for b in range(len(stored.meta["brackets"]))]
        stored.check_shapes(grid, {}, 1)
        count = len(next(iter(grid.values())))
        brackets = []
        for b, (meta, chosen) in enumerate(zip(stored.meta["brackets"], members)):
            bracket = HalvingResult._decode(stored, meta, f"bracket{b}_", f"bracket {b}")
            if (
                np.ndim(chosen) != 1
                or len(chosen) != bracket.num_configurations
                or np.any((chosen < 0) | (chosen >= count))
            ):
                raise stored.error(
                    f"members of bracket {b} must be {bracket.num_configurations} indices in [0, {count}); the file has {chosen!r}"
                )
            brackets.append(bracket)
        return cls(grid=grid, brackets=brackets, members=members, max_advances=max_advances)


def hyperband_brackets(max_advances: int, eta: int) -> list[tuple[int, tuple[int, ...]]]:
    """Li et al.'s brackets s = s_max … 0: (n_s configurations, advance calls in each rung).

    s_max = ⌊log_η R⌋; bracket s starts n_s = ⌈(s_max+1)/(s+1) · η^s⌉ configurations and its rung
    i ends at r_i = R η^(i-s) advance calls (rounded, at least one more than the rung before).
    """
    s_max = int(math.floor(math.log(max_advances, eta) + 1e-9))
    brackets = []
    for s in range(s_max, -1, -1):
        ends = []
        for i in range(s + 1):
            ends.append(max(round(max_advances * eta ** (i - s)), (ends[-1] + 1) if ends else 1))
        ends[-1] = max_advances
        brackets.append((math.ceil((s_max + 1) / (s + 1) * eta**s - 1e-9), tuple(np.diff([0, *ends]).tolist())))
    return brackets


def hyperband(
    init_fn: Callable[[dict, jax.Array], Any],
    advance_fn: Callable[[Any, dict], tuple[Any, Any]],
    grid: Mapping[str, Any],
    *,
    max_advances: int,
    eta: int = 3,
    metric: str | None = None,
    mode: str = "min",
    seeds: int = 1,
    key: jax.Array,
    devices: Sequence[jax.Device] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> HyperbandResult:
    """Hyperband (Li et al. 2018) over a grid: brackets of :func:`successive_halving` that trade
    many configurations stopped early against few trained long.

    Bracket s draws n_s configurations of ``grid`` at random (without replacement, from ``key``;
    all of them when the grid is smaller) and halves them, keeping ⌈n/η⌉ after each rung, with
    the rung budgets of :func:`hyperband_brackets`; the most aggressive bracket starts with one
    advance call, the last trains its few configurations ``max_advances`` calls with no stop.
    Every bracket uses ``key`` for its seeds, so a configuration drawn twice runs the same numbers.

    Args:
      init_fn, advance_fn, metric, mode, seeds, key, devices, progress: as for successive_halving.
      grid: the configurations to draw from (``sweep``'s grid).
      max_advances: R, the advance calls of a configuration trained to the end.
      eta: η ≥ 2, the factor between rungs.
      checkpoint_dir: a folder holding one :func:`successive_halving` checkpoint folder per
        bracket (``bracket_0``, ``bracket_1``, …), so that a rerun resumes where it stopped.
    """
    checkpoint_dir = check_checkpoint_dir(checkpoint_dir)
    max_advances = check_count("max_advances", max_advances)
    if isinstance(eta, bool) or not isinstance(eta, (int, np.integer)) or eta < 2:
        raise ValueError(f"eta must be an integer >= 2; got {eta!r}")
    configurations = expand_grid(grid)
    count = len(next(iter(configurations.values())))
    SeedKeys(key, 1)  # checks the key before any work
    brackets, members = [], []
    for number, (size, advances) in enumerate(hyperband_brackets(max_advances, int(eta))):
        order = np.asarray(jax.random.permutation(jax.random.fold_in(key, number), count))
        chosen = np.sort(order[: min(size, count)])
        subset = {"configuration": Zip(**{name: values[chosen] for name, values in configurations.items()})}
        brackets.append(
            successive_halving(
                init_fn,
                advance_fn,
                subset,
                metric=metric,
                mode=mode,
                rungs=advances,
                keep=1 / eta,
                seeds=seeds,
                key=key,
                devices=devices,
                progress=progress,
                checkpoint_dir=None if checkpoint_dir is None else checkpoint_dir / f"bracket_{number}",
            )
        )
        members.append(chosen)
    result = HyperbandResult(grid=configurations, brackets=brackets, members=members, max_advances=max_advances)
    drawn = len(result.drawn())
    if drawn < count / 2:
        warnings.warn(
            f"hyperband drew {drawn} of the grid's {count} configurations ({drawn / count:.0%}); the other {count - drawn} were "
            "never trained, so best() is the best of those drawn and cost() counts against them only. For more, raise "
            "max_advances (more and larger brackets), or run successive_halving over the whole grid",
            UserWarning,
            stacklevel=2,
        )
    return result
