"""Sweep throughput: a 64-configuration learning-rate sweep of E3's mini-batch task, side by side.

``python -m benchmarks.sweeps [--quick]`` compares, in one run:

* ``sweep``: the 64 configurations as one compiled, vmapped program;
* ``fit`` one configuration after another, as a user writes it (a new optimiser per learning rate,
  so each run compiles again);
* one jitted ``train`` with the learning rate as an argument, called 64 times (one compile).

It also reports time per configuration as the grid grows, peak memory with and without chunking
(each in a fresh subprocess) and compile time; JSON + Markdown go to ``benchmarks/out/``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

from jaxopt_course import data, models, training
from jaxopt_course.conventions import torch
from jaxopt_course.sweeps import sweep

OUT = Path(__file__).resolve().parent / "out"
ROOT = Path(__file__).resolve().parents[1]


def task(num_epochs: int):
    x, y = data.parabola(numpy_seed=0)
    params, apply = models.mlp(jax.random.PRNGKey(0), 1, (32, 32, 1))
    loss_fn = models.supervised_loss(apply)
    plan = training.make_plan(1000, 128, num_epochs=num_epochs)

    def run_fn(hparams, key):
        history = training.train(loss_fn, params, torch.sgd(hparams["learning_rate"], momentum=0.9), (x, y), key, plan)
        return {"epoch_loss": history.epoch_loss}

    return run_fn, (x, y), params, loss_fn, plan


def timed(function):
    began = time.perf_counter()
    value = function()
    jax.block_until_ready(jax.tree.leaves(value))
    return value, time.perf_counter() - began


def compare(num_configs: int, num_epochs: int) -> dict:
    run_fn, (x, y), params, loss_fn, plan = task(num_epochs)
    rates = np.geomspace(1e-4, 3e-2, num_configs)
    grid = {"learning_rate": rates}
    key = jax.random.PRNGKey(0)
    _, first = timed(lambda: sweep(run_fn, grid, key=key, progress=False).metrics)
    _, swept = timed(lambda: sweep(run_fn, {"learning_rate": rates * 1.01}, key=key, progress=False).metrics)
    began = time.perf_counter()
    for rate in rates:
        training.fit(loss_fn, params, torch.sgd(float(rate), momentum=0.9), (x, y), batch_size=128, num_epochs=num_epochs, key=key, progress=False)
    one_by_one_fit = time.perf_counter() - began
    single = jax.jit(lambda rate, key: run_fn({"learning_rate": rate}, key))
    jax.block_until_ready(single(np.float32(rates[0]), key))
    began = time.perf_counter()
    for rate in rates:
        jax.block_until_ready(single(np.float32(rate), key))
    one_by_one_compiled = time.perf_counter() - began
    steps = num_configs * plan.num_steps
    return {
        "configurations": num_configs,
        "steps_per_configuration": plan.num_steps,
        "sweep_seconds": swept,
        "sweep_compile_seconds": first - swept,
        "sweep_config_steps_per_s": steps / swept,
        "fit_one_by_one_seconds": one_by_one_fit,
        "fit_one_by_one_config_steps_per_s": steps / one_by_one_fit,
        "compiled_loop_seconds": one_by_one_compiled,
        "speedup_vs_fit_one_by_one": one_by_one_fit / swept,
        "speedup_vs_fit_one_by_one_compile_included": one_by_one_fit / first,
        "speedup_vs_compiled_loop": one_by_one_compiled / swept,
    }


def scaling(sizes, num_epochs: int) -> list[dict]:
    run_fn, *_ = task(num_epochs)
    rows = []
    for size in sizes:
        grid = {"learning_rate": np.geomspace(1e-4, 3e-2, size)}
        _, first = timed(lambda: sweep(run_fn, grid, key=jax.random.PRNGKey(0), progress=False).metrics)
        _, second = timed(lambda: sweep(run_fn, {"learning_rate": grid["learning_rate"] * 1.01}, key=jax.random.PRNGKey(0), progress=False).metrics)
        rows.append({"configurations": size, "seconds": second, "ms_per_configuration": 1e3 * second / size, "compile_seconds": first - second})
        print(json.dumps(rows[-1]), flush=True)
    return rows


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
    completed = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(size), "none" if chunk is None else str(chunk)],
        cwd=ROOT, capture_output=True, text=True, check=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])["peak_rss_mb"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    comparison = compare(16 if args.quick else 64, 2 if args.quick else 5)
    print(json.dumps(comparison), flush=True)
    sizes = (1, 16, 256) if args.quick else (1, 16, 256, 4096)
    growth = scaling(sizes, 1)
    memory = {}
    if not args.quick:
        memory = {
            "16384_unchunked_mb": peak_memory(16384, None),
            "16384_chunk_1024_mb": peak_memory(16384, 1024),
            "1_configuration_mb": peak_memory(1, None),
        }
        print(json.dumps(memory), flush=True)
    report = {"device": str(jax.devices()[0]), "device_count": jax.device_count(), "cpu_count": os.cpu_count(), "comparison": comparison, "scaling": growth, "memory": memory}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sweeps.json").write_text(json.dumps(report, indent=2))
    c = comparison
    lines = [
        f"{c['configurations']}-configuration learning-rate sweep, {c['steps_per_configuration']} steps each:",
        f"- sweep: {c['sweep_seconds']:.2f} s ({c['sweep_config_steps_per_s']:.0f} configuration-steps/s), compile {c['sweep_compile_seconds']:.2f} s",
        f"- fit one after another: {c['fit_one_by_one_seconds']:.2f} s → sweep is {c['speedup_vs_fit_one_by_one']:.1f}× faster "
        f"({c['speedup_vs_fit_one_by_one_compile_included']:.1f}× counting the sweep's own compilation)",
        f"- one compiled train called per configuration: {c['compiled_loop_seconds']:.2f} s → sweep is {c['speedup_vs_compiled_loop']:.1f}× faster",
        "",
        "| configurations | seconds | ms per configuration | compile s |",
        "|---|---|---|---|",
        *[f"| {r['configurations']} | {r['seconds']:.3f} | {r['ms_per_configuration']:.2f} | {r['compile_seconds']:.2f} |" for r in growth],
    ]
    if memory:
        lines += ["", f"peak memory (whole process), 16384 configurations: unchunked {memory['16384_unchunked_mb']:.0f} MB, chunk_size=1024 {memory['16384_chunk_1024_mb']:.0f} MB (one configuration: {memory['1_configuration_mb']:.0f} MB)"]
    (OUT / "sweeps.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
