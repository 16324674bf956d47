"""``sweep`` against the program a practitioner writes by hand: ``jit(vmap(vmap(lax.scan)))`` over optax.

``python -m benchmarks.sweep_vs_handwritten [--quick]`` trains the digits MLP (64-32-10,
softmax cross-entropy, ``optax.sgd`` with momentum 0.9, batch 128 with the last partial batch
dropped: 14 steps an epoch) over a learning-rate grid of K = 32, 256 and 4096 configurations,
3 seeds each, two ways, in one run and one process:

* ``sweep(run_fn, grid, seeds=3, key=key)``, ``run_fn`` a closure over ``training.train``;
* a hand-written ``jax.jit(jax.vmap(jax.vmap(train, (None, 0)), (0, None)))`` of a
  ``lax.scan`` over epochs, each a ``lax.scan`` over steps, with the same batches: seed i's key
  is ``jax.random.split(key, 3)[i]`` and epoch e shuffles with a permutation of
  ``fold_in(shuffle key, e)``, the same index sequence for every configuration (common random
  numbers), as ``training.train`` draws them.

Both give the same final losses (checked, to float32 rounding).  Two times for each: the
compiled run (best of three calls after a warm-up call) and the time as users write code (two
calls with new learning rates, each building its ``run_fn``, or its jitted function, afresh, the
first call compiles included).  The ratio is handwritten / sweep: at least 1 means sweep is at
least as fast.  Times are wall clock; the process's CPU seconds are reported beside them, since a
shared machine makes wall time noisy.  JSON + Markdown go to ``benchmarks/out/``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxopt_course import data, models, training
from jaxopt_course.sweeps import programs as sweep_programs
from jaxopt_course.sweeps import sweep

OUT = Path(__file__).resolve().parent / "out"
BATCH, HIDDEN, MOMENTUM, SEEDS = 128, 32, 0.9, 3
EPOCHS = {32: 20, 256: 4, 4096: 1}  # per grid size K: a couple of minutes in all on 2 cores
QUICK_EPOCHS = {8: 2, 64: 1}


def digits_task():
    """The scaled digits images, the MLP's initial parameters (fixed) and its ``apply``."""
    x, y = data.load_digits(scale=True)
    params, apply = models.mlp(jax.random.PRNGKey(0), x.shape[1], [HIDDEN, 10])
    return (x, y), params, apply


def make_run_fn(task, num_epochs: int):
    """``sweep``'s side: ``run_fn(hparams, key)`` around ``training.train``, defined afresh on each call."""
    (x, y), params, apply = task
    loss_fn = models.supervised_loss(apply, "cross_entropy")
    plan = training.make_plan(x.shape[0], BATCH, num_epochs=num_epochs, drop_last=True)

    def run_fn(hparams, key):
        optimizer = optax.sgd(hparams["learning_rate"], momentum=MOMENTUM)
        return training.train(loss_fn, params, optimizer, (x, y), key, plan).epoch_loss

    return run_fn


def make_handwritten(task, num_epochs: int):
    """The hand-written side: ``train(learning_rate, key) -> epoch losses``, jitted and vmapped
    over [learning rates, seed keys]; a new jitted function on each call."""
    (x, y), params, apply = task
    num_samples = x.shape[0]
    steps_per_epoch = num_samples // BATCH

    def loss(params, batch_x, batch_y):
        return optax.softmax_cross_entropy_with_integer_labels(apply(params, batch_x), batch_y).mean()

    def train(learning_rate, key):
        optimizer = optax.sgd(learning_rate, momentum=MOMENTUM)
        shuffle_key = jax.random.split(key)[0]  # training.train's: (shuffles, dropout)

        def step(carry, indices):
            params, state = carry
            value, grads = jax.value_and_grad(loss)(params, x[indices], y[indices])
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), value

        def epoch(carry, number):
            order = jax.random.permutation(jax.random.fold_in(shuffle_key, number), num_samples)
            carry, losses = jax.lax.scan(step, carry, order[: steps_per_epoch * BATCH].reshape(steps_per_epoch, BATCH))
            return carry, losses.mean()

        _, epoch_loss = jax.lax.scan(epoch, (params, optimizer.init(params)), jnp.arange(num_epochs, dtype=jnp.int32))
        return epoch_loss

    return jax.jit(jax.vmap(jax.vmap(train, in_axes=(None, 0)), in_axes=(0, None)))


def learning_rates(size: int, scale: float = 1.0) -> np.ndarray:
    return (scale * np.geomspace(1e-3, 0.3, size)).astype(np.float32)


def timed(function) -> tuple[float, float, np.ndarray]:
    """(wall seconds, process CPU seconds, result) of one call, waited for."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = jax.block_until_ready(function())
    return time.perf_counter() - wall, time.process_time() - cpu, result


def best_of(function, repeats: int = 3) -> tuple[float, float, np.ndarray]:
    """The fastest of ``repeats`` calls after a warm-up call (which compiles)."""
    jax.block_until_ready(function())
    return min((timed(function) for _ in range(repeats)), key=lambda run: run[0])


def sides(task, num_epochs: int, key):
    """``{name: call(rates, fresh)}``: one call of each side; ``fresh`` builds its function anew."""
    seed_keys = jax.random.split(key, SEEDS)
    kept = {"sweep": make_run_fn(task, num_epochs), "handwritten": make_handwritten(task, num_epochs)}

    def swept(rates, fresh):
        run_fn = make_run_fn(task, num_epochs) if fresh else kept["sweep"]
        return sweep(run_fn, {"learning_rate": rates}, seeds=SEEDS, key=key, progress=False).metrics

    def handwritten(rates, fresh):
        train = make_handwritten(task, num_epochs) if fresh else kept["handwritten"]
        return np.asarray(train(jnp.asarray(rates), seed_keys))

    return {"sweep": swept, "handwritten": handwritten}


def compare(task, size: int, num_epochs: int, calls: int = 2) -> dict:
    """One row: both sides' times, compiled and as users write code, and their agreement."""
    key = jax.random.PRNGKey(1)
    rates = learning_rates(size)
    row = {
        "configurations": size,
        "seeds": SEEDS,
        "epochs": num_epochs,
        "steps": num_epochs * (task[0][0].shape[0] // BATCH),
        "lanes": sweep_programs.lanes_for(
            tuple(jax.devices()), size, sweep_programs.lane_group_size(tuple(jax.devices()), size, None)
        ),
    }
    finals = {}
    for name, call in sides(task, num_epochs, key).items():
        sweep_programs.PROGRAMS.clear()  # so that sweep's first call compiles, as in a new process
        fresh = [timed(lambda: call(learning_rates(size, 1.0 + 0.01 * i), True)) for i in range(calls)]
        row[f"{name}_fresh_seconds"] = sum(wall for wall, _, _ in fresh)
        row[f"{name}_fresh_first_call_seconds"] = fresh[0][0]
        row[f"{name}_seconds"], row[f"{name}_cpu_seconds"], losses = best_of(lambda: call(rates, False))
        finals[name] = np.asarray(losses)[..., -1]
    row["ratio"] = row["handwritten_seconds"] / row["sweep_seconds"]
    row["cpu_ratio"] = row["handwritten_cpu_seconds"] / row["sweep_cpu_seconds"]
    row["fresh_ratio"] = row["handwritten_fresh_seconds"] / row["sweep_fresh_seconds"]
    finite = np.isfinite(finals["sweep"]) & np.isfinite(finals["handwritten"])
    row["finite_runs"] = int(finite.sum())
    row["max_relative_difference"] = float(
        np.max(np.abs(finals["sweep"] - finals["handwritten"])[finite] / np.abs(finals["handwritten"][finite]))
    )
    row["losses_agree"] = bool(
        np.array_equal(finite, np.isfinite(finals["sweep"]))
        and np.allclose(finals["sweep"][finite], finals["handwritten"][finite], rtol=1e-4, atol=1e-5)
    )
    return row


def markdown(report: dict) -> str:
    lines = [
        f"digits MLP 64-{HIDDEN}-10, optax.sgd(momentum={MOMENTUM}), batch {BATCH}, {SEEDS} seeds; {report['device_count']} "
        f"{report['platform']} device(s), {report['cpu_count']} cores, load average {report['load_average'][0]:.1f}",
        "",
        "| K | steps | lanes | handwritten s (CPU s) | sweep s (CPU s) | ratio | CPU ratio | fresh objects: handwritten s | sweep s | fresh ratio | final losses agree (max rel. diff.) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['configurations']} | {r['steps']} | {r['lanes']} | {r['handwritten_seconds']:.3f} ({r['handwritten_cpu_seconds']:.2f}) | "
            f"{r['sweep_seconds']:.3f} ({r['sweep_cpu_seconds']:.2f}) | {r['ratio']:.2f}× | {r['cpu_ratio']:.2f}× | "
            f"{r['handwritten_fresh_seconds']:.2f} | {r['sweep_fresh_seconds']:.2f} | {r['fresh_ratio']:.2f}× | "
            f"{'yes' if r['losses_agree'] else 'NO'} ({r['max_relative_difference']:.1e}) |"
        )
    lines += [
        "",
        "ratio = handwritten / sweep (at least 1: sweep is at least as fast); compiled times are the best of three after a warm-up; "
        "fresh objects: two calls with new learning rates, each building its function afresh, the first call's compile included.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small grids, one or two epochs")
    args = parser.parse_args(argv)
    task = digits_task()
    rows = []
    for size, num_epochs in (QUICK_EPOCHS if args.quick else EPOCHS).items():
        rows.append(compare(task, size, num_epochs))
        print(json.dumps(rows[-1]), flush=True)
    report = {
        "platform": jax.devices()[0].platform,
        "device_count": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "quick": args.quick,
        "rows": rows,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    name = "sweep_vs_handwritten_quick" if args.quick else "sweep_vs_handwritten"
    (OUT / f"{name}.json").write_text(json.dumps(report, indent=2))
    (OUT / f"{name}.md").write_text(markdown(report))
    print(markdown(report))
    return 0 if all(r["losses_agree"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
