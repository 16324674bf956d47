"""Two local processes (jax.distributed on 127.0.0.1, gloo CPU collectives, two forced CPU devices
each) run an uneven grid, a chunked grid (also checkpointed to a shared folder, then resumed from
it), a typed key and successive halving: every process gets the whole result, the same on both,
equal to a one-process run to float32 rounding."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from test_sweeps import run_fn  # the single-process tests' run: a small linear regression

from jaxopt_course.sweeps import sweep
from jaxopt_course.sweeps.halving import successive_halving
from jaxopt_course.sweeps.results import SweepResult


def typed_run_fn(hparams, key):
    return run_fn(hparams, jax.random.key_data(key))


def run_all(prefix: str) -> None:
    """The four cases, each result saved as ``{prefix}_{case}.npz`` (halving: one file per rung)."""
    uneven = sweep(
        run_fn,
        {"learning_rate": np.geomspace(0.01, 0.3, 7), "momentum": [0.5]},
        seeds=2,
        key=jax.random.PRNGKey(0),
        progress=False,
    )
    chunked = sweep(
        run_fn,
        {"learning_rate": np.geomspace(0.01, 0.3, 5), "momentum": [0.0, 0.9]},
        key=jax.random.PRNGKey(1),
        chunk_size=3,
        progress=False,
    )
    typed = sweep(
        typed_run_fn, {"learning_rate": [0.05, 0.1, 0.2], "momentum": [0.0, 0.5]}, key=jax.random.key(2), progress=False
    )
    shared = Path(prefix).parent / ("checkpoints" if jax.process_count() > 1 else f"{Path(prefix).name}_checkpoints")
    grid = {"learning_rate": np.geomspace(0.01, 0.3, 5), "momentum": [0.0, 0.9]}
    checkpointed = sweep(run_fn, grid, key=jax.random.PRNGKey(1), chunk_size=3, checkpoint_dir=shared, progress=False)
    resumed = sweep(
        run_fn, grid, key=jax.random.PRNGKey(1), chunk_size=3, checkpoint_dir=shared, progress=False
    )  # loads every chunk
    for name, result in (
        ("uneven", uneven),
        ("chunked", chunked),
        ("typed", typed),
        ("checkpointed", checkpointed),
        ("resumed", resumed),
    ):
        result.save(f"{prefix}_{name}.npz")
    from test_halving import GRID, regression_advance, regression_init

    halved = successive_halving(
        regression_init,
        regression_advance,
        GRID,
        metric="loss",
        rungs=3,
        seeds=2,
        key=jax.random.PRNGKey(3),
        progress=False,
    )
    for rung, result in enumerate(halved.rungs):
        result.save(f"{prefix}_halving{rung}.npz")
    Path(f"{prefix}_halving.json").write_text(
        json.dumps({"indices": [i.tolist() for i in halved.indices], "stopped": halved.stopped_rung.tolist()})
    )


WORKER = textwrap.dedent(
    """
    import sys
    import jax
    sys.path.insert(0, {tests!r})
    process_id, port, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    try:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(f"127.0.0.1:{{port}}", num_processes=2, process_id=process_id, initialization_timeout=60)
    except Exception as error:  # a jaxlib without gloo, or no loopback networking
        print("NO_GLOO", repr(error), flush=True)
        sys.exit(3)
    assert jax.process_count() == 2 and jax.device_count() == 4 and jax.local_device_count() == 2, jax.devices()
    from test_multiprocess_sweeps import run_all
    run_all(prefix)
    """
)

CASES = ["uneven", "chunked", "typed", "checkpointed", "resumed", "halving0", "halving1", "halving2"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_processes_get_the_whole_result_equal_to_one_process(tmp_path):
    """Complete on every process, identical across processes, equal to one process to float32 rounding."""
    root = Path(__file__).resolve().parents[1]
    env = dict(
        os.environ,
        XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=str(root),
    )
    script, port = WORKER.format(tests=str(root / "tests")), str(free_port())
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(i), port, str(tmp_path / f"process{i}")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = []
    for worker in workers:
        try:
            outputs.append(worker.communicate(timeout=300))
        except subprocess.TimeoutExpired:
            for other in workers:
                other.kill()
            pytest.fail("the two-process sweep did not finish in 300 s")
    if any(w.returncode == 3 and "NO_GLOO" in out for w, (out, _) in zip(workers, outputs)):
        pytest.skip(f"gloo CPU collectives unavailable here: {outputs[0][0].strip()[:300]}")
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, (out + err)[-3000:]
    sys.path.insert(0, str(root / "tests"))
    run_all(str(tmp_path / "single"))
    for case in CASES:
        first, second, single = (
            SweepResult.load(tmp_path / f"{who}_{case}.npz") for who in ("process0", "process1", "single")
        )
        assert first.num_configurations == single.num_configurations
        for a, b, c in zip(
            jax.tree.leaves(first.metrics),
            jax.tree.leaves(second.metrics),
            jax.tree.leaves(single.metrics),
            strict=True,
        ):
            assert a.shape == c.shape and np.array_equal(a, b)
            np.testing.assert_allclose(a, c, rtol=2e-5, atol=1e-6)
    assert len({(tmp_path / f"{who}_halving.json").read_text() for who in ("process0", "process1", "single")}) == 1
    resumed, checkpointed = (
        SweepResult.load(tmp_path / f"process1_{case}.npz") for case in ("resumed", "checkpointed")
    )
    assert all(
        np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(resumed.metrics), jax.tree.leaves(checkpointed.metrics), strict=True)
    )
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "chunk_00000.npz",
        "chunk_00001.npz",
        "chunk_00002.npz",
        "sweep.json",
        "sweep.lock",
    ]
