"""E3's three modes, timed side by side: the course's PyTorch loop, a plain optax + flax loop, fit.

``python -m benchmarks.batch_modes [--quick]`` prints, per mode and in one run: steady-state
steps/s of the course's PyTorch loop, of a plain optax + flax loop and of ``fit`` with one reused
optimiser; ``fit`` as users write it (a new optimiser and a rebuilt loss on every call, compiles
included, after one warm-up call); the ratios; fit's compile time; and, with a cold compilation
cache, the whole-process times of ``python -m experiments batch_modes`` against the course's
PyTorch script and of ``python -m experiments all``.  It writes ``benchmarks/out/batch_modes.{json,md}``.
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
import jax.numpy as jnp
import numpy as np
import optax

from jaxopt_course import data, models
from jaxopt_course.conventions import pytorch as torch_convention
from jaxopt_course.training import fit

MODES = [("Batch", 1000, 1.0), ("Stochastic", 1, 0.0), ("Minibatch", 128, 1.0)]
LEARNING_RATE = 1e-4
OUT = Path(__file__).resolve().parent / "out"
ROOT = Path(__file__).resolve().parents[1]


def time_torch(batch_size, momentum, steps):
    try:
        from benchmarks import torch_e3
    except ImportError:
        return None
    dataset = torch_e3.make_dataset()
    torch_e3.train_mode(dataset, batch_size, momentum, 20)  # warm-up
    began = time.perf_counter()
    torch_e3.train_mode(dataset, batch_size, momentum, steps)
    return steps / (time.perf_counter() - began)


def time_optax_loop(batch_size, momentum, steps):
    """What a JAX user writes first: a jitted step, batches drawn on the host with numpy."""
    x, y = (np.asarray(a) for a in data.parabola(numpy_seed=0))
    params, apply = models.mlp(jax.random.PRNGKey(0), 1, [32, 32, 1])
    optimizer = optax.sgd(LEARNING_RATE, momentum=momentum)

    @jax.jit
    def train_step(params, opt_state, batch_x, batch_y):
        loss, grads = jax.value_and_grad(lambda p: jnp.mean((apply(p, batch_x) - batch_y) ** 2))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def loop(num_steps):
        opt_state, losses, rng = optimizer.init(params), [], np.random.default_rng(0)
        p = params
        for _ in range(num_steps):
            indices = rng.permutation(len(x))[:batch_size]  # DataLoader(shuffle=True)'s first batch
            p, opt_state, loss = train_step(p, opt_state, x[indices], y[indices])
            losses.append(loss)
        return jax.block_until_ready(jnp.stack(losses))

    loop(20)
    began = time.perf_counter()
    loop(steps)
    return steps / (time.perf_counter() - began)


def _fit_setup(batch_size, steps, progress):
    x, y = data.parabola(numpy_seed=0)
    params, apply = models.mlp(jax.random.PRNGKey(0), 1, [32, 32, 1])
    loss_fn = models.supervised_loss(apply)
    kwargs = dict(
        batch_size=batch_size, num_steps=steps, key=jax.random.PRNGKey(1), sampling="single_batch", progress=progress
    )
    return loss_fn, params, (x, y), kwargs


def time_fit(batch_size, momentum, steps, progress=False):
    """The best case: one optimiser object, reused; steady-state steps/s and the compile seconds."""
    loss_fn, params, arrays, kwargs = _fit_setup(batch_size, steps, progress)
    optimizer = torch_convention.sgd(LEARNING_RATE, momentum=momentum)
    began = time.perf_counter()
    fit(loss_fn, params, optimizer, arrays, **kwargs)
    first = time.perf_counter() - began
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        fit(loss_fn, params, optimizer, arrays, **kwargs)
        best = min(best, time.perf_counter() - began)
    return steps / best, first - best


def time_fit_as_users_write_it(batch_size, momentum, steps, calls=4):
    """What users write: a new optimiser (new learning rate) and a rebuilt loss on every call.

    One warm-up call, then ``calls`` calls, each with ``torch.sgd(lr_i, momentum)`` built afresh
    and ``models.supervised_loss(apply)`` called again; steps/s over all of them, compiles included.
    """
    loss_fn, params, arrays, kwargs = _fit_setup(batch_size, steps, False)
    _, apply = models.mlp(jax.random.PRNGKey(0), 1, [32, 32, 1])
    fit(models.supervised_loss(apply), params, torch_convention.sgd(LEARNING_RATE, momentum=momentum), arrays, **kwargs)
    began = time.perf_counter()
    for scale in np.linspace(0.5, 1.5, calls):
        fit(
            models.supervised_loss(apply),
            params,
            torch_convention.sgd(float(scale) * LEARNING_RATE, momentum=momentum),
            arrays,
            **kwargs,
        )
    return calls * steps / (time.perf_counter() - began)


def process_seconds(command, **environment):
    began = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(ROOT), **environment)
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - began


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer steps, no whole-process timing")
    args = parser.parse_args(argv)
    steps = 200 if args.quick else 1000
    rows = []
    for name, batch_size, momentum in MODES:
        torch_speed = time_torch(batch_size, momentum, steps)
        optax_speed = time_optax_loop(batch_size, momentum, steps)
        fit_speed, compile_seconds = time_fit(batch_size, momentum, steps * 10)
        users_speed = time_fit_as_users_write_it(batch_size, momentum, steps)
        # the bar's cost on a run of at least a second (opening and closing a bar is a fixed few ms)
        long_steps = max(steps * 10, int(fit_speed))
        fit_long_speed, _ = time_fit(batch_size, momentum, long_steps)
        fit_progress_speed, _ = time_fit(batch_size, momentum, long_steps, progress=True)
        rows.append(
            {
                "mode": name,
                "batch_size": batch_size,
                "momentum": momentum,
                "torch_steps_per_s": torch_speed,
                "optax_loop_steps_per_s": optax_speed,
                "fit_steps_per_s": fit_speed,
                "fit_with_progress_steps_per_s": fit_progress_speed,
                "fit_as_users_write_it_steps_per_s": users_speed,
                "users_vs_torch": users_speed / torch_speed if torch_speed else None,
                "users_vs_optax_loop": users_speed / optax_speed,
                "fit_compile_s": compile_seconds,
                "fit_vs_torch": fit_speed / torch_speed if torch_speed else None,
                "fit_vs_optax_loop": fit_speed / optax_speed,
                "progress_run_steps": long_steps,
                "progress_overhead": 1.0 - fit_progress_speed / fit_long_speed,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    processes = {}
    if not args.quick:
        experiment = [sys.executable, "-m", "experiments", "batch_modes", "--out", str(OUT / "batch_modes_run")]
        # without the persistent compilation cache (a first run), then with it warm (every later run)
        processes["experiment_cold_cache_s"] = process_seconds(experiment, JAXOPT_COURSE_CACHE="off")
        process_seconds(experiment)  # fills the cache
        processes["experiment_warm_cache_s"] = process_seconds(experiment)
        if rows[0]["torch_steps_per_s"]:
            processes["torch_script_s"] = process_seconds([sys.executable, "-m", "benchmarks.torch_e3"])
            processes["ratio_cold"] = processes["torch_script_s"] / processes["experiment_cold_cache_s"]
            processes["ratio_warm"] = processes["torch_script_s"] / processes["experiment_warm_cache_s"]
        everything = [sys.executable, "-m", "experiments", "all", "--out", str(OUT / "all_run")]
        processes["experiments_all_cold_cache_s"] = process_seconds(everything, JAXOPT_COURSE_CACHE="off")
    report = {
        "device": str(jax.devices()[0]),
        "cpu_count": os.cpu_count(),
        "steps": steps,
        "modes": rows,
        "whole_process": processes,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "batch_modes.json").write_text(json.dumps(report, indent=2))
    lines = [
        "| mode | torch steps/s | optax loop steps/s | fit, reused optimiser | fit as users write it | as users write it / torch | as users write it / optax loop | reused / optax loop | compile s | progress overhead |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        torch_cell = f"{r['torch_steps_per_s']:.0f}" if r["torch_steps_per_s"] else "n/a"
        ratio = f"{r['users_vs_torch']:.1f}×" if r["users_vs_torch"] else "n/a"
        lines.append(
            f"| {r['mode']} | {torch_cell} | {r['optax_loop_steps_per_s']:.0f} | {r['fit_steps_per_s']:.0f} | {r['fit_as_users_write_it_steps_per_s']:.0f} "
            f"| {ratio} | {r['users_vs_optax_loop']:.1f}× | {r['fit_vs_optax_loop']:.1f}× | {r['fit_compile_s']:.2f} | {100 * r['progress_overhead']:.1f}% |"
        )
    if processes:
        lines.append("")
        lines.append("whole process: " + ", ".join(f"{k} {v:.2f}" for k, v in processes.items()))
    (OUT / "batch_modes.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
