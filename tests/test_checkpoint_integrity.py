"""Checkpoints verify what they load: every chunk file says which sweep and which chunk it holds,
and a chunk of another sweep, another chunk of this one, a corrupt file, a changed data file, a
switched x64 mode or a second sweep in the same folder is refused by name, never loaded."""

from __future__ import annotations

import fcntl
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course.sweeps import sweep

GRID = {"learning_rate": [0.1, 0.2, 0.3, 0.4], "momentum": [0.0, 0.5]}  # 8 configurations, chunks of 2


def run_fn(hparams, key):
    w = jax.random.normal(key, ())
    for _ in range(3):
        w = w - hparams["learning_rate"] * (w - hparams["momentum"])
    return {"w": w}


def run(folder, fn=run_fn, grid=GRID, key=None, **kwargs):
    key = jax.random.PRNGKey(0) if key is None else key
    return sweep(fn, grid, seeds=2, key=key, chunk_size=2, checkpoint_dir=folder, progress=False, **kwargs)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished sweep's folder (copied by each test that edits it) and its result."""
    folder = tmp_path_factory.mktemp("finished")
    return folder, run(folder)


def copy_of(finished, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(finished[0], folder)
    return folder


def test_another_chunk_of_the_same_sweep_is_refused(finished, tmp_path):
    folder = copy_of(finished, tmp_path)
    shutil.copy(folder / "chunk_00001.npz", folder / "chunk_00000.npz")
    with pytest.raises(ValueError, match=r"chunk_00000\.npz' is chunk 1 of this sweep, not chunk 0"):
        run(folder)


@pytest.mark.parametrize(
    "other", [{"grid": {**GRID, "momentum": [0.0, 0.6]}}, {"key": jax.random.PRNGKey(7)}, {"chunk_size": 4}]
)
def test_a_chunk_of_another_sweep_is_refused(finished, tmp_path, other):
    """A chunk file written by a sweep with another grid, key or chunk size, dropped into the folder."""
    folder, elsewhere = copy_of(finished, tmp_path), tmp_path / "other"
    arguments = {"grid": GRID, "key": jax.random.PRNGKey(0), "chunk_size": 2, **other}
    sweep(
        run_fn,
        arguments["grid"],
        seeds=2,
        key=arguments["key"],
        chunk_size=arguments["chunk_size"],
        checkpoint_dir=elsewhere,
        progress=False,
    )
    shutil.copy(elsewhere / "chunk_00000.npz", folder / "chunk_00000.npz")
    with pytest.raises(ValueError, match=r"chunk_00000\.npz' is from another sweep"):
        run(folder)


def test_a_chunk_of_another_dtype_is_refused(finished, tmp_path):
    folder, elsewhere = copy_of(finished, tmp_path), tmp_path / "other"

    def half_run(hparams, key):
        return jax.tree.map(lambda w: w.astype(jnp.float16), run_fn(hparams, key))

    run(elsewhere, fn=half_run)
    shutil.copy(elsewhere / "chunk_00000.npz", folder / "chunk_00000.npz")
    with pytest.raises(ValueError, match=r"chunk_00000\.npz' is from another sweep"):
        run(folder)


@pytest.mark.parametrize("other", [{"grid": {**GRID, "momentum": [0.0, 0.6]}}, {"key": jax.random.PRNGKey(7)}])
def test_a_deleted_manifest_then_other_arguments_is_refused(finished, tmp_path, other):
    """Without sweep.json the chunks still say which sweep wrote them."""
    folder = copy_of(finished, tmp_path)
    (folder / "sweep.json").unlink()
    with pytest.raises(ValueError, match=r"chunk_00000\.npz' is from another sweep"):
        run(folder, **other)


def test_a_deleted_manifest_then_the_same_arguments_resumes(finished, tmp_path):
    folder = copy_of(finished, tmp_path)
    (folder / "sweep.json").unlink()
    again = run(folder)
    np.testing.assert_array_equal(again.metrics["w"], finished[1].metrics["w"])


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_corrupt_chunk_is_one_error_naming_the_file_and_how_to_recompute(finished, tmp_path, damage):
    folder = copy_of(finished, tmp_path)
    path = folder / "chunk_00002.npz"
    path.write_bytes(path.read_bytes()[:100] if damage == "truncate" else b"not a zip file at all")
    with pytest.raises(
        ValueError,
        match=r"chunk_00002\.npz' is corrupt or truncated .*delete chunk_00002\.npz and call sweep again to recompute",
    ):
        run(folder)


def test_orphan_temporary_files_are_removed(finished, tmp_path):
    folder = copy_of(finished, tmp_path)
    orphans = [folder / ".chunk_00001.npz.abc123.tmp", folder / ".sweep.json.xyz.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"half written")
    keep = folder / "notes.txt"
    keep.write_text("the user's")
    run(folder)
    assert not any(orphan.exists() for orphan in orphans) and keep.exists()


def test_a_second_sweep_in_a_folder_in_use_is_refused(finished, tmp_path):
    """Another process holds sweep.lock (a separate open file: flock conflicts even in one process)."""
    folder = copy_of(finished, tmp_path)
    with open(folder / "sweep.lock", "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RuntimeError, match=r"is in use by another sweep \(it holds sweep\.lock there\)"):
            run(folder, key=jax.random.PRNGKey(3))
    run(folder)  # released: the folder is usable again


def test_a_data_file_read_by_path_that_changed_is_refused(tmp_path):
    data = tmp_path / "targets.npy"
    np.save(data, np.array([0.5], np.float32))
    path = str(data)

    def reading_run(hparams, key):
        target = np.load(path)[0]
        return {"w": run_fn(hparams, key)["w"] - target}

    folder = tmp_path / "checkpoints"
    first = run(folder, fn=reading_run)
    np.save(data, np.array([0.25], np.float32))
    with pytest.raises(ValueError, match="holds a sweep with a different run_fn"):
        run(folder, fn=reading_run)
    np.save(data, np.array([0.5], np.float32))
    np.testing.assert_array_equal(run(folder, fn=reading_run).metrics["w"], first.metrics["w"])


def test_switching_x64_on_resume_is_refused(finished, tmp_path):
    folder = copy_of(finished, tmp_path)
    with jax.enable_x64(True):
        with pytest.raises(ValueError, match=r"holds a sweep with a different x64 \(False there, True now\)"):
            run(folder)


@pytest.mark.parametrize(
    "bad,error,message",
    [
        ("", ValueError, "checkpoint_dir must name a folder; got the empty string"),
        ("   ", ValueError, "checkpoint_dir must name a folder"),
        (3, TypeError, "checkpoint_dir must be a folder path"),
    ],
)
def test_a_checkpoint_dir_that_names_no_folder_is_refused(bad, error, message):
    with pytest.raises(error, match=message):
        sweep(run_fn, GRID, key=jax.random.PRNGKey(0), checkpoint_dir=bad, progress=False)


def test_a_file_as_checkpoint_dir_is_refused(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        run(path)


def test_a_refused_grid_names_the_first_differing_value(finished, tmp_path):
    folder = copy_of(finished, tmp_path)
    with pytest.raises(
        ValueError, match=r"different grid \(configuration 4 has learning_rate = 0\.3 there, 0\.35 now\)"
    ):
        run(folder, grid={**GRID, "learning_rate": [0.1, 0.2, 0.35, 0.4]})
