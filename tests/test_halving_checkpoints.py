"""successive_halving and hyperband with checkpoint_dir: a resumed run equals an uninterrupted one
bit for bit (from saved rungs and saved states), and a folder of another run, or a rung file that
is not this rung of this run, is refused by name."""

from __future__ import annotations

import shutil

import jax
import numpy as np
import pytest
from test_halving import regression_advance, regression_init

from jaxopt_course.sweeps import hyperband, successive_halving

RATES = np.array([0.05, 0.1, 0.2, 0.3, 0.35, 0.42, 0.6, 0.7, 0.9], np.float32)
GRID = {"learning_rate": RATES, "momentum": [0.5]}
init_fn, advance_fn = regression_init, regression_advance  # four steps of SGD with momentum per rung


def halve(folder=None, advance=None, **changes):
    arguments = dict(
        metric="loss",
        rungs=3,
        keep=1 / 3,
        seeds=2,
        chunk_size=3,
        key=jax.random.PRNGKey(3),
        progress=False,
        checkpoint_dir=folder,
    )
    return successive_halving(init_fn, advance or advance_fn, changes.pop("grid", GRID), **{**arguments, **changes})


def assert_same(a, b):
    """Two halving results: the same survivors, scores and every metric, bit for bit."""
    assert [i.tolist() for i in a.indices] == [i.tolist() for i in b.indices]
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.computed_config_rungs == b.computed_config_rungs
    for x, y in zip(a.rungs, b.rungs, strict=True):
        for p, q in zip(jax.tree.leaves(x.metrics), jax.tree.leaves(y.metrics), strict=True):
            assert p.dtype == q.dtype and np.array_equal(p, q)


@pytest.fixture(scope="module")
def reference():
    return halve()


@pytest.fixture(scope="module")
def finished(tmp_path_factory, reference):
    folder = tmp_path_factory.mktemp("halving") / "run"
    result = halve(folder)
    assert_same(result, reference)
    return folder


def copy_of(folder, tmp_path):
    return shutil.copytree(folder, tmp_path / "copy")


def test_a_checkpointed_run_writes_one_file_per_rung(finished):
    """The folder holds the manifest, the lock and one verified file per rung."""
    assert sorted(p.name for p in finished.iterdir()) == [
        "halving.json",
        "rung_00000.npz",
        "rung_00001.npz",
        "rung_00002.npz",
        "sweep.lock",
    ]


def test_a_rerun_loads_every_rung_and_equals_the_uninterrupted_run(finished, reference, tmp_path):
    """All rungs finished: nothing is recomputed (the files stay as they were) and the result is the same."""
    folder = copy_of(finished, tmp_path)
    before = {p.name: p.stat().st_ino for p in folder.glob("rung_*.npz")}  # an atomic rewrite is a new file
    assert_same(halve(folder), reference)
    assert {p.name: p.stat().st_ino for p in folder.glob("rung_*.npz")} == before


@pytest.mark.parametrize("kept", [1, 2])
def test_a_crash_after_some_rungs_resumes_bit_for_bit(finished, reference, tmp_path, kept):
    """Later rungs deleted (a crash): the rerun continues from the last saved rung's states, bit for bit."""
    folder = copy_of(finished, tmp_path)
    kept_files = {r: (folder / f"rung_{r:05d}.npz").stat().st_ino for r in range(kept)}
    for rung in range(kept, 3):
        (folder / f"rung_{rung:05d}.npz").unlink()
    assert_same(halve(folder), reference)
    assert all((folder / f"rung_{r:05d}.npz").stat().st_ino == inode for r, inode in kept_files.items())
    assert (folder / "rung_00002.npz").exists()


def test_another_rung_in_a_rung_file_is_refused(finished, tmp_path):
    """rung 1's file in rung 0's place is named, not loaded."""
    folder = copy_of(finished, tmp_path)
    shutil.copy(folder / "rung_00001.npz", folder / "rung_00000.npz")
    with pytest.raises(ValueError, match=r"rung_00000\.npz' is rung 1 of this successive_halving run, not rung 0"):
        halve(folder)


def test_a_rung_file_of_another_run_is_refused(finished, tmp_path):
    """A rung file of a run with another key, in a folder whose manifest was deleted, is refused."""
    folder = copy_of(finished, tmp_path)
    other = tmp_path / "other"
    halve(other, key=jax.random.PRNGKey(4), rungs=1)
    (folder / "halving.json").unlink()
    for rung in range(3):
        (folder / f"rung_{rung:05d}.npz").unlink()
    shutil.copy(other / "rung_00000.npz", folder / "rung_00000.npz")
    with pytest.raises(ValueError, match=r"rung_00000\.npz' is from another successive_halving run"):
        halve(folder)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"keep": 0.5}, "keep"),
        ({"seeds": 1}, "seeds"),
        ({"mode": "max"}, "mode"),
        ({"rungs": 2}, "rungs"),
        (
            {"grid": {"learning_rate": RATES * 2, "momentum": [0.5]}},
            r"configuration 0 has learning_rate = 0\.05 there, 0\.1 now",
        ),
    ],
)
def test_other_arguments_are_refused_naming_what_differs(finished, tmp_path, changes, named):
    """Another keep, seeds, mode, rungs or grid: refused before any work, naming the difference."""
    folder = copy_of(finished, tmp_path)
    with pytest.raises(ValueError, match=named):
        halve(folder, **changes)


def test_an_edited_advance_fn_is_refused_by_name(finished, tmp_path):
    """advance_fn with another step count: refused naming advance_fn."""
    folder = copy_of(finished, tmp_path)

    def advance_fn(state, hparams):
        return state, {"loss": hparams["learning_rate"] * hparams["momentum"]}

    with pytest.raises(ValueError, match="different advance_fn"):
        halve(folder, advance=advance_fn)


@pytest.mark.parametrize("bad", ["", " ", b"folder", 3])
def test_a_bad_checkpoint_dir_is_refused_before_any_work(bad):
    """The empty string, bytes or a number: refused by name, for halving and hyperband alike."""
    with pytest.raises((TypeError, ValueError), match="checkpoint_dir"):
        halve(bad)
    with pytest.raises((TypeError, ValueError), match="checkpoint_dir"):
        hyperband(
            init_fn,
            advance_fn,
            GRID,
            max_advances=3,
            metric="loss",
            key=jax.random.PRNGKey(0),
            progress=False,
            checkpoint_dir=bad,
        )


@pytest.mark.filterwarnings("ignore:hyperband drew")  # R = 3 draws few of the 9: not what this test is about
def test_hyperband_keeps_one_folder_per_bracket_and_resumes(tmp_path):
    """hyperband(checkpoint_dir=) writes bracket_0, bracket_1, …; a rerun after losing a bracket's
    last rung equals the uninterrupted run bit for bit."""
    arguments = dict(max_advances=3, eta=3, metric="loss", key=jax.random.PRNGKey(0), progress=False)
    plain = hyperband(init_fn, advance_fn, GRID, **arguments)
    folder = tmp_path / "hyperband"
    hyperband(init_fn, advance_fn, GRID, checkpoint_dir=folder, **arguments)
    assert sorted(p.name for p in folder.iterdir()) == [f"bracket_{b}" for b in range(len(plain.brackets))]
    last = sorted((folder / "bracket_0").glob("rung_*.npz"))[-1]
    last.unlink()
    resumed = hyperband(init_fn, advance_fn, GRID, checkpoint_dir=folder, **arguments)
    for a, b in zip(plain.brackets, resumed.brackets, strict=True):
        assert_same(a, b)
