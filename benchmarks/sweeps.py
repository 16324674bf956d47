"""Sweep throughput on E3's mini-batch task, beside a naive ``jit(vmap(train))`` and the matmul bounds.

``python -m benchmarks.sweeps [--quick]`` measures, in one run and one process:

* ``sweep``: a learning-rate grid of 64, 256, 1024 and 4096 configurations (MLP 1-32-32-1,
  SGD with momentum 0.9, ``jaxopt_course.sgd``, the same update as ``optax.sgd``; batch 128 of
  1000 samples), in config-steps/s and in GFLOP/s of its matrix products;
* the same grid as one whole-width vmap inside ``sweep`` (``group_size`` = the grid), to show what
  running each device's share in cache-sized groups buys;
* a naive ``jax.jit(jax.vmap(train))`` written with plain optax and flax, the key shared by every
  configuration (common random numbers, as ``sweep`` does);
* the sweep's own program over the whole grid as one call (no lanes), to show what running one
  lane per core buys;
* one large matmul (2048²), the batched [K, 128, 32] × [K, 32, 32] matmul, and the bound of this
  MLP: the step's three products of that size over groups of 32, run in lanes as the sweep runs;
* the cost of checkpoints: a chunked sweep with and without ``checkpoint_dir``, and a re-call that
  loads every finished chunk;
* a 64-configuration sweep against ``fit`` called once per configuration, and peak memory of
  16 384 configurations with and without chunking (each in a fresh process);
* successive halving against the full grid on ``experiments.lr_momentum_sweep``'s own set-up
  (60 configurations × 3 seeds, rungs of 2 epochs to 10): first call (compiles included) and
  compiled, for both.

Times are the best of three (wall clock, after a warm-up call that compiles); the CPU seconds of
the process are reported beside them, since a shared machine makes wall time noisy.  JSON +
Markdown go to ``benchmarks/out/``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxopt_course as jc
from jaxopt_course import data, models, training
from jaxopt_course.sweeps import programs as sweep_programs
from jaxopt_course.sweeps import sweep
from jaxopt_course.sweeps.programs import CPU_GROUP_SIZE

OUT = Path(__file__).resolve().parent / "out"
ROOT = Path(__file__).resolve().parents[1]
NUM_SAMPLES, BATCH, WIDTHS = 1000, 128, (1, 32, 32, 1)


def flops_per_config_step() -> float:
    """Matrix-product FLOPs of one step, per configuration: forward 2·B·Σ dᵢdᵢ₊₁, the weight
    gradients as many, the input gradients of every layer but the first; B is the mean batch."""
    pairs = list(zip(WIDTHS[:-1], WIDTHS[1:]))
    per_sample = 2 * sum(a * b for a, b in pairs) * 2 + 2 * sum(a * b for a, b in pairs[1:])
    return per_sample * NUM_SAMPLES / -(-NUM_SAMPLES // BATCH)


def task(num_epochs: int):
    x, y = data.parabola(num_samples=NUM_SAMPLES, numpy_seed=0)
    params, apply = models.mlp(jax.random.PRNGKey(0), 1, WIDTHS[1:])
    loss_fn = models.supervised_loss(apply)
    plan = training.make_plan(NUM_SAMPLES, BATCH, num_epochs=num_epochs)

    def run_fn(hparams, key):
        history = training.train(loss_fn, params, jc.sgd(hparams["learning_rate"], momentum=0.9), (x, y), key, plan)
        return {"epoch_loss": history.epoch_loss}

    return run_fn, (x, y), plan, params, loss_fn


class NaiveMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        for width in WIDTHS[1:-1]:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(WIDTHS[-1])(x)


def naive_train(x, y, num_epochs: int):
    """``jit(vmap(train))`` as a user writes it with optax and flax: epochs of shuffled batches."""
    model = NaiveMLP()
    num_full = NUM_SAMPLES // BATCH

    def train(learning_rate, key):
        params = model.init(jax.random.PRNGKey(0), x[:1])
        optimizer = optax.sgd(learning_rate, momentum=0.9)

        def loss(params, xb, yb):
            return jnp.mean((model.apply(params, xb) - yb) ** 2)

        def step(carry, indices):
            params, state = carry
            value, grads = jax.value_and_grad(loss)(params, x[indices], y[indices])
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), value

        def epoch(carry, number):
            order = jax.random.permutation(jax.random.fold_in(key, number), NUM_SAMPLES)
            carry, losses = jax.lax.scan(step, carry, order[: num_full * BATCH].reshape(num_full, BATCH))
            carry, last = step(carry, order[num_full * BATCH :])
            return carry, (jnp.sum(losses) * BATCH + last * (NUM_SAMPLES - num_full * BATCH)) / NUM_SAMPLES

        _, epoch_loss = jax.lax.scan(epoch, (params, optimizer.init(params)), jnp.arange(num_epochs))
        return epoch_loss

    return jax.jit(jax.vmap(train, in_axes=(0, None)))


def best_of(function, repeats: int = 3) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of the fastest of ``repeats`` calls after a warm-up."""
    jax.block_until_ready(jax.tree.leaves(function()))
    runs = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        jax.block_until_ready(jax.tree.leaves(function()))
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(runs)


def matmul_rates(sizes, lanes: int) -> dict:
    """GFLOP/s of one 2048² matmul, of the batched [K,128,32]×[K,32,32] matmul for each K, and of
    ``lanes`` batched K=32 matmuls at once, one per thread, as the sweep's lanes run (its bound)."""
    large = jnp.ones((2048, 2048), jnp.float32)
    square = jax.jit(lambda a: a @ a)
    wall, _ = best_of(lambda: square(large), 5)
    rates = {"large_matmul_gflops": 2 * 2048**3 / wall / 1e9}
    batched = jax.jit(lambda a, b: jnp.einsum("kij,kjl->kil", a, b))
    for size in sizes:
        a, b = jnp.ones((size, BATCH, 32), jnp.float32), jnp.ones((size, 32, 32), jnp.float32)
        wall, _ = best_of(lambda: batched(a, b), 20)
        rates[f"batched_matmul_{size}_gflops"] = 2 * size * BATCH * 32 * 32 / wall / 1e9
    rates["lanes"] = lanes
    for form in PRODUCTS:
        rates[f"batched_{form}_in_lanes_gflops"] = in_lanes(form, lanes)
    return rates


# the step's three products of [K,128,32] size: forward h·W, input gradient δ·Wᵀ, weight gradient hᵀ·δ
PRODUCTS = ("forward", "input_gradient", "weight_gradient")


def in_lanes(form: str, lanes: int, repeats: int = 50) -> float:
    """GFLOP/s of one product form over a group of 32 configurations, ``lanes`` calls at once (one
    per thread), as the sweep runs them.  Each call chains ``repeats`` products, each on the last
    one's result, so the operands stay in cache as a step's do; the weight gradient is chained
    through a forward product whose time is then taken off."""
    k = CPU_GROUP_SIZE
    h, weights = jnp.full((k, BATCH, 32), 1 / 64, jnp.float32), jnp.full((k, 32, 32), 1 / 32, jnp.float32)
    bodies = {
        "forward": lambda x: jnp.einsum("kbi,kij->kbj", x, weights),
        "input_gradient": lambda x: jnp.einsum("kbj,kij->kbi", x, weights),
        "weight_gradient": lambda x: jnp.einsum("kbi,kij->kbj", h, jnp.einsum("kbi,kbj->kij", h, x)),
    }

    def seconds(body):
        chain = jax.jit(lambda x: jax.lax.fori_loop(0, repeats, lambda _, y: body(y), x))
        with ThreadPoolExecutor(lanes) as pool:
            wall, _ = best_of(lambda: list(pool.map(lambda _: jax.block_until_ready(chain(h)), range(lanes))), 5)
        return wall

    taken = seconds(bodies[form]) - (seconds(bodies["forward"]) if form == "weight_gradient" else 0.0)
    return lanes * repeats * 2 * k * BATCH * 32 * 32 / taken / 1e9


def one_call(run_fn, rates, key):
    """The sweep's program over the whole grid as one call (groups of 32, no lanes)."""
    devices = tuple(jax.devices()[:1])
    by_config, replicated = sweep_programs.shardings(devices)
    program = sweep_programs.run_program(run_fn, ("learning_rate",), devices, len(rates), 1, None, 2, CPU_GROUP_SIZE)
    hparams = sweep_programs.hparam_arrays({"learning_rate": rates}, by_config)
    seed_keys = sweep_programs.global_array(np.asarray(jax.random.split(key, 1)), replicated)
    return lambda: program(hparams, seed_keys)


def throughput(sizes, num_epochs: int) -> list[dict]:
    run_fn, (x, y), plan, _, _ = task(num_epochs)
    naive = naive_train(x, y, num_epochs)
    flops = flops_per_config_step()
    rows = []
    for size in sizes:
        rates = np.geomspace(1e-4, 3e-2, size).astype(np.float32)
        key = jax.random.PRNGKey(0)
        config_steps = size * plan.num_steps
        ours = best_of(lambda: sweep(run_fn, {"learning_rate": rates}, key=key, progress=False).metrics)
        single = best_of(one_call(run_fn, rates, key))
        whole = best_of(
            lambda: sweep(run_fn, {"learning_rate": rates}, key=key, group_size=size, progress=False).metrics
        )
        plain = best_of(lambda: naive(rates, key))
        row = {
            "configurations": size,
            "lanes": sweep_programs.lanes_for(tuple(jax.devices()), size, CPU_GROUP_SIZE),
            "sweep_config_steps_per_s": config_steps / ours[0],
            "sweep_gflops": config_steps * flops / ours[0] / 1e9,
            "sweep_config_steps_per_cpu_s": config_steps / ours[1],
            "one_call_config_steps_per_s": config_steps / single[0],
            "one_call_config_steps_per_cpu_s": config_steps / single[1],
            "whole_vmap_sweep_config_steps_per_s": config_steps / whole[0],
            "naive_config_steps_per_s": config_steps / plain[0],
            "naive_config_steps_per_cpu_s": config_steps / plain[1],
        }
        row["speedup_vs_naive"] = plain[0] / ours[0]
        row["speedup_vs_naive_cpu_s"] = plain[1] / ours[1]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def checkpoint_cost(size: int, chunk: int, num_epochs: int) -> dict:
    """Seconds of a chunked sweep without and with checkpoints, and of a re-call that loads them."""
    run_fn, *_ = task(num_epochs)
    grid = {"learning_rate": np.geomspace(1e-4, 3e-2, size)}
    key = jax.random.PRNGKey(0)
    plain, _ = best_of(lambda: sweep(run_fn, grid, key=key, chunk_size=chunk, progress=False).metrics)
    writes, loads = [], []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as folder:
            began = time.perf_counter()
            sweep(run_fn, grid, key=key, chunk_size=chunk, checkpoint_dir=folder, progress=False)
            writes.append(time.perf_counter() - began)
            began = time.perf_counter()
            sweep(run_fn, grid, key=key, chunk_size=chunk, checkpoint_dir=folder, progress=False)
            loads.append(time.perf_counter() - began)
    return {
        "configurations": size,
        "chunk_size": chunk,
        "plain_seconds": plain,
        "checkpointed_seconds": min(writes),
        "write_overhead": min(writes) / plain - 1,
        "resume_all_done_seconds": min(loads),
    }


def against_fit(num_configs: int, num_epochs: int) -> dict:
    """A sweep against ``fit`` called once per configuration (a new optimiser each, as a user
    writes it) and against one jitted run called once per configuration."""
    run_fn, (x, y), plan, params, loss_fn = task(num_epochs)
    rates = np.geomspace(1e-4, 3e-2, num_configs)
    key = jax.random.PRNGKey(0)
    began, cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(sweep(run_fn, {"learning_rate": rates}, key=key, progress=False).metrics)
    first, first_cpu = time.perf_counter() - began, time.process_time() - cpu
    swept, swept_cpu = best_of(lambda: sweep(run_fn, {"learning_rate": rates * 1.01}, key=key, progress=False).metrics)
    began = time.perf_counter()
    for rate in rates:
        training.fit(
            loss_fn,
            params,
            jc.sgd(float(rate), momentum=0.9),
            (x, y),
            batch_size=BATCH,
            num_epochs=num_epochs,
            key=key,
            progress=False,
        )
    one_by_one = time.perf_counter() - began
    plain = jax.jit(jax.vmap(lambda rate, key: run_fn({"learning_rate": rate}, key), in_axes=(0, None)))
    wall, cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(plain(jnp.asarray(rates, jnp.float32), key))
    plain_first = (time.perf_counter() - wall, time.process_time() - cpu)
    plain_run = best_of(lambda: plain(jnp.asarray(rates * 1.01, jnp.float32), key))
    single = jax.jit(lambda rate, key: run_fn({"learning_rate": rate}, key))
    jax.block_until_ready(single(np.float32(rates[0]), key))
    began = time.perf_counter()
    for rate in rates:
        jax.block_until_ready(single(np.float32(rate), key))
    compiled_loop = time.perf_counter() - began
    return {
        "configurations": num_configs,
        "steps_per_configuration": plan.num_steps,
        "sweep_seconds": swept,
        "sweep_compile_seconds": first - swept,
        "sweep_compile_cpu_seconds": first_cpu - swept_cpu,
        "plain_vmap_compile_seconds": plain_first[0] - plain_run[0],
        "plain_vmap_compile_cpu_seconds": plain_first[1] - plain_run[1],
        "fit_one_by_one_seconds": one_by_one,
        "compiled_loop_seconds": compiled_loop,
        "speedup_vs_fit_one_by_one": one_by_one / swept,
        "speedup_vs_fit_one_by_one_compile_included": one_by_one / first,
        "speedup_vs_compiled_loop": compiled_loop / swept,
    }


def halving_against_full_grid(quick: bool) -> dict:
    """``experiments.lr_momentum_sweep``'s full grid and its successive halving (its ``--quick``
    grid with ``quick``), each timed on its first call (compiles included) and, compiled, as the
    best of three (wall and CPU seconds)."""
    from experiments import lr_momentum_sweep as experiment

    cfg = experiment.quick_config(experiment.Config()) if quick else experiment.Config()
    grid, key = experiment.grid_and_key(cfg)
    run_fn = experiment.make_run_fn(cfg)
    halving_fns = experiment.make_halving_fns(cfg)
    calls = {
        "full_grid": lambda: sweep(run_fn, grid, seeds=cfg.seeds, key=key, progress=False).metrics,
        "halving": lambda: experiment.halve(cfg, halving_fns, grid, key).scores,
    }
    report = {}
    for name, call in calls.items():
        began = time.perf_counter()
        jax.block_until_ready(call())
        report[f"{name}_first_call_seconds"] = time.perf_counter() - began
        report[f"{name}_seconds"], report[f"{name}_cpu_seconds"] = best_of(call)
    return report


MEMORY_SCRIPT = """
import sys, json, numpy as np, jax
from benchmarks.sweeps import task
from jaxopt_course.sweeps import sweep
size, chunk = int(sys.argv[1]), (None if sys.argv[2] == 'none' else int(sys.argv[2]))
run_fn, *_ = task(1)
sweep(run_fn, {'learning_rate': np.geomspace(1e-4, 3e-2, size)}, key=jax.random.PRNGKey(0), chunk_size=chunk, progress=False)
# VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec
peak_kb = next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM'))
print(json.dumps({'peak_rss_mb': peak_kb / 1024}))
"""


def peak_memory(size: int, chunk: int | None) -> float:
    """Peak resident memory (MB) of a fresh process running one sweep."""
    completed = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(size), "none" if chunk is None else str(chunk)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])["peak_rss_mb"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="two sizes, two epochs")
    args = parser.parse_args(argv)
    sizes = (64, 256) if args.quick else (64, 256, 1024, 4096)
    num_epochs = 2 if args.quick else 3
    bounds = matmul_rates(
        sorted({32, *sizes}), sweep_programs.lanes_for(tuple(jax.devices()), max(sizes), CPU_GROUP_SIZE)
    )
    print(json.dumps(bounds), flush=True)
    rows = throughput(sizes, num_epochs)
    checkpoints = checkpoint_cost(256 if args.quick else 1024, 64 if args.quick else 256, num_epochs)
    print(json.dumps(checkpoints), flush=True)
    versus_fit = against_fit(16 if args.quick else 64, num_epochs)
    print(json.dumps(versus_fit), flush=True)
    halving = halving_against_full_grid(args.quick)
    print(json.dumps(halving), flush=True)
    memory = {}
    if not args.quick:
        memory = {
            "16384_unchunked_mb": peak_memory(16384, None),
            "16384_chunk_1024_mb": peak_memory(16384, 1024),
            "1_configuration_mb": peak_memory(1, None),
        }
        print(json.dumps(memory), flush=True)
    report = {
        "device": str(jax.devices()[0]),
        "device_count": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "flops_per_config_step": flops_per_config_step(),
        "bounds": bounds,
        "throughput": rows,
        "checkpoints": checkpoints,
        "versus_fit": versus_fit,
        "halving": halving,
        "memory": memory,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sweeps.json").write_text(json.dumps(report, indent=2))
    lines = [
        f"E3 mini-batch task (MLP 1-32-32-1, B = {BATCH}, {flops_per_config_step() / 1e3:.0f} kFLOP of matmuls per config-step), "
        f"{jax.device_count()} {jax.devices()[0].platform} device(s), {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}:",
        f"one 2048² matmul {bounds['large_matmul_gflops']:.0f} GFLOP/s; batched [K,128,32]×[K,32,32]: "
        + ", ".join(f"K={k} {bounds[f'batched_matmul_{k}_gflops']:.0f}" for k in sorted({32, *sizes}))
        + " GFLOP/s",
        "",
        "| configurations | lanes | sweep config-steps/s (wall / per CPU s) | GFLOP/s (wall) | of the batched-matmul bound | one call, no lanes (wall / per CPU s) "
        "| whole-width vmap (wall) | naive jit(vmap), optax+flax (wall / per CPU s) | speed-up vs naive (wall / CPU s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    products_seconds = sum(
        BATCH * 32 * 32 * 2 / (bounds[f"batched_{form}_in_lanes_gflops"] * 1e9) for form in PRODUCTS
    )  # per config-step
    for r in rows:
        lines.append(
            f"| {r['configurations']} | {r['lanes']} | {r['sweep_config_steps_per_s']:.0f} / {r['sweep_config_steps_per_cpu_s']:.0f} | {r['sweep_gflops']:.1f} | "
            f"{products_seconds * r['sweep_config_steps_per_s']:.0%} | {r['one_call_config_steps_per_s']:.0f} / {r['one_call_config_steps_per_cpu_s']:.0f} | {r['whole_vmap_sweep_config_steps_per_s']:.0f} | "
            f"{r['naive_config_steps_per_s']:.0f} / {r['naive_config_steps_per_cpu_s']:.0f} | {r['speedup_vs_naive']:.2f}× / {r['speedup_vs_naive_cpu_s']:.2f}× |"
        )
    largest = rows[-1]
    step_seconds = 1 / largest["sweep_config_steps_per_s"]
    lines += [
        "",
        f"The bound: batched [32,128,32]×[32,32,32] products in {bounds['lanes']} lanes, as the sweep runs them, "
        + ", ".join(f"{form.replace('_', ' ')} {bounds[f'batched_{form}_in_lanes_gflops']:.0f}" for form in PRODUCTS)
        + f" GFLOP/s: {1 / products_seconds:.0f} config-steps/s if a step were its three products and nothing else (the table's bound). "
        f"At {largest['configurations']} configurations the three products alone would take {products_seconds * 1e6:.1f} µs "
        f"of a config-step's {step_seconds * 1e6:.1f} µs ({products_seconds / step_seconds:.0%}); the rest is work that is not a large product: "
        "the elementwise passes over [32,128,32] activations (bias, ReLU and its mask, the loss), the 1→32 and 32→1 layers and their "
        "gradients (memory-bound), a transposed copy of the first layer's gradient for its folded weight product, the optimiser update "
        "and the loop's per-operation overhead.",
    ]
    c = checkpoints
    lines += [
        "",
        f"checkpoints, {c['configurations']} configurations in chunks of {c['chunk_size']}: {c['plain_seconds']:.2f} s plain, "
        f"{c['checkpointed_seconds']:.2f} s writing every chunk ({c['write_overhead']:+.1%}), {c['resume_all_done_seconds']:.2f} s to resume a finished sweep",
    ]
    v = versus_fit
    lines += [
        "",
        f"{v['configurations']} configurations, {v['steps_per_configuration']} steps each: sweep {v['sweep_seconds']:.2f} s (compile {v['sweep_compile_seconds']:.2f} s, "
        f"{v['sweep_compile_cpu_seconds']:.2f} CPU s, against {v['plain_vmap_compile_seconds']:.2f} s, {v['plain_vmap_compile_cpu_seconds']:.2f} CPU s for a plain jit(vmap(run_fn))); "
        f"fit one after another {v['fit_one_by_one_seconds']:.2f} s ({v['speedup_vs_fit_one_by_one']:.0f}× slower, {v['speedup_vs_fit_one_by_one_compile_included']:.1f}× counting the sweep's compilation); "
        f"one compiled run per configuration {v['compiled_loop_seconds']:.2f} s ({v['speedup_vs_compiled_loop']:.1f}×)",
    ]
    h = halving
    lines += [
        "",
        f"lr × momentum (experiments.lr_momentum_sweep): successive halving {h['halving_seconds']:.2f} s compiled, {h['halving_cpu_seconds']:.2f} CPU s "
        f"({h['halving_first_call_seconds']:.1f} s first call), the full grid {h['full_grid_seconds']:.2f} s, {h['full_grid_cpu_seconds']:.2f} CPU s "
        f"({h['full_grid_first_call_seconds']:.1f} s)",
    ]
    if memory:
        lines += [
            "",
            f"peak memory (whole process), 16384 configurations: unchunked {memory['16384_unchunked_mb']:.0f} MB, chunk_size=1024 "
            f"{memory['16384_chunk_1024_mb']:.0f} MB (one configuration: {memory['1_configuration_mb']:.0f} MB)",
        ]
    (OUT / "sweeps.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
