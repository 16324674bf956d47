"""Result files (SweepResult / HalvingResult / HyperbandResult save and load): load never imports,
ml_dtypes and typed PRNG keys come back exactly, unloadable metrics are refused at save, edited
metadata and truncated or corrupt files are a ValueError naming the file."""

from __future__ import annotations

import json
import re
import sys
from typing import NamedTuple

import jax
import ml_dtypes
import numpy as np
import pytest
from test_halving import quadratic_advance, quadratic_init

import jaxopt_course as jc
from jaxopt_course.sweeps import halving
from jaxopt_course.sweeps.results import SweepResult

GRID = {"learning_rate": np.array([0.1, 0.2], np.float32), "momentum": np.array([0.0, 0.9], np.float32)}


class Pair(NamedTuple):
    loss: np.ndarray
    steps: np.ndarray


def rewrite(path, edit_meta=None, **arrays) -> None:
    """Rewrites the .npz at ``path`` with its meta passed through ``edit_meta`` and ``arrays`` replaced."""
    with np.load(path, allow_pickle=False) as stored:
        contents = {name: stored[name] for name in stored.files}
    meta = json.loads(str(contents.pop("meta")))
    if edit_meta is not None:
        edit_meta(meta)
    np.savez(path, meta=np.array(json.dumps(meta)), **{**contents, **arrays})


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def rename_namedtuples(node, module, qualname):
    """The encoded structure with every NamedTuple claiming ``module``.``qualname``."""
    if isinstance(node, dict):
        if "namedtuple" in node:
            node["namedtuple"][:2] = [module, qualname]
        for value in node.values():
            rename_namedtuples(value, module, qualname)
    elif isinstance(node, list):
        for value in node:
            rename_namedtuples(value, module, qualname)


def test_load_imports_no_module_named_in_the_file(tmp_path, monkeypatch):
    """A file naming module ``this`` or a module placed beside it on sys.path loads without importing
    either (no side effect); NamedTuples come from ``namedtuples``, else as stand-ins."""
    path = tmp_path / "crafted.npz"
    SweepResult(GRID, {"pair": Pair(np.zeros((2, 1)), np.ones((2, 1), np.int32))}, seeds=1).save(path)
    (tmp_path / "planted_module.py").write_text(
        f"open({str(tmp_path / 'ran')!r}, 'w').close()\nclass Pair(tuple):\n    _fields = ('loss', 'steps')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in ("this", "planted_module"):
        had = module in sys.modules
        rewrite(path, lambda meta, m=module: rename_namedtuples(meta["metrics"], m, "Pair"))
        loaded = SweepResult.load(path)
        assert (module in sys.modules) == had and not (tmp_path / "ran").exists()
        assert type(loaded.metrics["pair"]).__name__ == "Pair" and loaded.metrics["pair"]._fields == ("loss", "steps")
        assert type(loaded.metrics["pair"]) is not Pair and same_bits(
            loaded.metrics["pair"].steps, np.ones((2, 1), np.int32)
        )
        assert (
            type(SweepResult.load(path, namedtuples=(Pair,)).metrics["pair"]) is Pair
        )  # matched by qualname and fields

    class Other(NamedTuple):
        loss: np.ndarray

    Other.__qualname__ = "Pair"
    with pytest.raises(ValueError, match=r"crafted\.npz.*namedtuples gives Pair with fields \('loss',\)"):
        SweepResult.load(path, namedtuples=[Other])
    with pytest.raises(TypeError, match="namedtuples must hold NamedTuple classes"):
        SweepResult.load(path, namedtuples=(dict,))


@pytest.mark.parametrize(
    "dtype", [ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn, np.float16, np.int32, np.bool_, np.complex64]
)
def test_every_dtype_round_trips_bit_for_bit(tmp_path, dtype):
    """bfloat16 and float8 (numpy would keep void bytes) come back with their dtype and bits, as do numpy's own."""
    values = np.array([[[1.5, -0.0, np.inf]], [[np.nan, 3.0, -2.25]]], np.float32)
    array = {np.bool_: values > 0, np.int32: np.array([[[7, -1, 2**31 - 1]], [[-(2**31), 0, 3]]])}.get(
        dtype, values
    ).astype(dtype)
    result = SweepResult(GRID, {"x": array, "nested": [array[:, :, :1]]}, seeds=1)
    result.save(tmp_path / "dtypes.npz")
    loaded = SweepResult.load(tmp_path / "dtypes.npz")
    assert loaded.metrics["x"].dtype == np.dtype(dtype) and same_bits(loaded.metrics["x"], array)
    assert same_bits(loaded.metrics["nested"][0], array[:, :, :1])


def test_dict_keys_that_json_cannot_keep_are_refused_at_save(tmp_path):
    """A tuple key would come back a list (unhashable): save refuses it, naming the key; int keys round-trip."""
    with pytest.raises(TypeError, match=re.escape("metrics['outer'] has the key (1, 2) (tuple)")):
        SweepResult(GRID, {"outer": {(1, 2): np.zeros((2, 1))}}, seeds=1).save(tmp_path / "keys.npz")
    assert not (tmp_path / "keys.npz").exists()
    SweepResult(GRID, {3: np.zeros((2, 1))}, seeds=1).save(tmp_path / "int_keys.npz")
    assert list(SweepResult.load(tmp_path / "int_keys.npz").metrics) == [3]


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg"])
def test_typed_prng_keys_round_trip(tmp_path, impl):
    keys = jax.random.split(jax.random.key(0, impl=impl), 2).reshape(2, 1)
    SweepResult(GRID, {"key": keys, "loss": np.zeros((2, 1))}, seeds=1).save(tmp_path / "keys.npz")
    loaded = SweepResult.load(tmp_path / "keys.npz").metrics["key"]
    assert jax.dtypes.issubdtype(loaded.dtype, jax.dtypes.prng_key) and loaded.shape == (2, 1)
    assert str(jax.random.key_impl(loaded)) == impl and same_bits(
        jax.random.key_data(loaded), jax.random.key_data(keys)
    )


def test_edited_seeds_or_grid_lengths_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "sweep.npz"
    SweepResult(GRID, {"loss": np.zeros((2, 3, 4))}, seeds=3).save(path)
    rewrite(path, lambda meta: meta.update(seeds=2))
    with pytest.raises(
        ValueError, match=r"sweep\.npz.*metric 'loss' has shape \(2, 3, 4\).*\[2, 2\] \(2 grid values, seeds=2\)"
    ):
        SweepResult.load(path)
    rewrite(path, lambda meta: meta.update(seeds=3), grid_1=np.zeros(5, np.float32))
    with pytest.raises(ValueError, match=r"sweep\.npz.*grid arrays must be 1-D of one length.*'momentum': \(5,\)"):
        SweepResult.load(path)
    rewrite(path, lambda meta: meta.update(seeds="three"), grid_1=GRID["momentum"])
    with pytest.raises(ValueError, match=r"sweep\.npz.*seeds must be a positive integer; the metadata has 'three'"):
        SweepResult.load(path)
    rewrite(path, lambda meta: meta.pop("grid"))
    with pytest.raises(ValueError, match=r"sweep\.npz.*metadata does not describe its arrays"):
        SweepResult.load(path)


def small_hyperband():
    rates = np.array([0.05, 0.1, 0.2, 0.3, 0.35, 0.42, 0.6, 0.7, 0.9], np.float32)
    return jc.hyperband(
        quadratic_init,
        quadratic_advance,
        {"learning_rate": rates},
        max_advances=9,
        eta=3,
        seeds=2,
        key=jax.random.key(1),
        progress=False,
    )


def test_hyperband_result_round_trips_and_halving_seeds_are_checked(tmp_path):
    result = small_hyperband()
    result.save(tmp_path / "hyperband.npz")
    loaded = halving.HyperbandResult.load(tmp_path / "hyperband.npz")
    assert list(loaded.grid) == list(result.grid) and all(
        same_bits(loaded.grid[n], result.grid[n]) for n in result.grid
    )
    assert loaded.max_advances == 9 and all(
        same_bits(a, b) for a, b in zip(loaded.members, result.members, strict=True)
    )
    for ours, theirs in zip(loaded.brackets, result.brackets, strict=True):
        assert (ours.metric, ours.mode, ours.seeds, ours.advances, ours.chunk_size) == (
            theirs.metric,
            theirs.mode,
            theirs.seeds,
            theirs.advances,
            theirs.chunk_size,
        )
        assert same_bits(ours.scores, theirs.scores) and same_bits(ours.stopped_rung, theirs.stopped_rung)
        assert all(
            same_bits(a, b)
            for a, b in zip(
                jax.tree.leaves([r.metrics for r in ours.rungs]),
                jax.tree.leaves([r.metrics for r in theirs.rungs]),
                strict=True,
            )
        )
    assert loaded.best() == result.best() and loaded.cost() == result.cost()
    with pytest.raises(ValueError, match="not a file written by HyperbandResult.save"):
        result.brackets[0].save(tmp_path / "bracket.npz")
        halving.HyperbandResult.load(tmp_path / "bracket.npz")
    halving.HalvingResult.load(tmp_path / "bracket.npz")  # a bracket is a whole HalvingResult
    rewrite(tmp_path / "bracket.npz", lambda meta: meta.update(seeds=1))
    with pytest.raises(ValueError, match=r"bracket\.npz.*metric 'loss' \(rung 0\) has shape \(9, 2\).*seeds=1"):
        halving.HalvingResult.load(tmp_path / "bracket.npz")
    rewrite(tmp_path / "hyperband.npz", lambda meta: meta["brackets"][1].update(seeds=3))
    with pytest.raises(ValueError, match=r"hyperband\.npz.*\(rung 0 of bracket 1\).*seeds=3"):
        halving.HyperbandResult.load(tmp_path / "hyperband.npz")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_truncated_or_corrupt_files_are_one_value_error_naming_the_file(tmp_path, damage):
    path = tmp_path / "result.npz"
    SweepResult(GRID, {"loss": np.zeros((2, 1))}, seeds=1).save(path)
    contents = path.read_bytes()
    path.write_bytes(
        {"truncated": contents[: len(contents) // 2], "garbage": b"\x00not an npz file\xff" * 64, "empty": b""}[damage]
    )
    with pytest.raises(
        ValueError,
        match=r"result\.npz' is truncated or corrupt .*re-run what made it and save it again with SweepResult\.save",
    ):
        SweepResult.load(path)


def test_a_whole_npz_or_npy_of_another_writer_is_not_ours(tmp_path):
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(ValueError, match=r"array\.npy' is not a file written by HalvingResult\.save"):
        halving.HalvingResult.load(tmp_path / "array.npy")
