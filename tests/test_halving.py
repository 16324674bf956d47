"""successive_halving: closed-form scores on a quadratic, survivors bit-identical to the full grid
through the same rung program, equal to a plain sweep, no retrace for a same-shape grid, clear errors."""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from compiles import Traces, compiles

import jaxopt_course as jc
from jaxopt_course.sweeps import halving, sweep
from jaxopt_course.sweeps.halving import successive_halving

CURVATURE = 2.0
STEPS_PER_RUNG = 3


def quadratic_init(hparams, key):
    w = jnp.float32(1.0)
    return w, jc.sgd(hparams["learning_rate"]).init(w)


def quadratic_advance(state, hparams):
    """STEPS_PER_RUNG steps of gradient descent on f(w) = a w² / 2."""
    optimizer = jc.sgd(hparams["learning_rate"])

    def step(carry, _):
        w, opt_state = carry
        updates, opt_state = optimizer.update(CURVATURE * w, opt_state, w)
        return (w + updates, opt_state), None

    (w, opt_state), _ = jax.lax.scan(step, state, None, length=STEPS_PER_RUNG)
    return (w, opt_state), {"loss": 0.5 * CURVATURE * w**2}


def test_scores_follow_the_closed_form_and_the_best_third_survives():
    """f after k steps is a/2 (1 - ηa)^{2k}; each rung keeps the ⌈n/3⌉ smallest, the best is η nearest 1/a."""
    rates = np.array([0.05, 0.1, 0.2, 0.3, 0.35, 0.42, 0.6, 0.7, 0.9], np.float32)  # 1/a = 0.5
    result = successive_halving(
        quadratic_init,
        quadratic_advance,
        {"learning_rate": rates},
        metric="loss",
        rungs=3,
        keep=1 / 3,
        key=jax.random.PRNGKey(0),
        progress=False,
    )
    closed = lambda rung, eta: 0.5 * CURVATURE * (1 - eta * CURVATURE) ** (2 * STEPS_PER_RUNG * (rung + 1))  # noqa: E731
    alive = np.arange(9)
    for rung in range(3):
        np.testing.assert_array_equal(result.indices[rung], alive)
        np.testing.assert_allclose(
            result.scores[rung, alive], closed(rung, rates[alive].astype(np.float64)), rtol=1e-4, atol=1e-30
        )
        assert np.all(np.isnan(np.delete(result.scores[rung], alive)))
        by_hand = closed(rung, rates[alive].astype(np.float64))
        alive = np.sort(alive[np.argsort(by_hand, kind="stable")[: -(-len(alive) // 3)]])
    assert [len(i) for i in result.indices] == [9, 3, 1]
    assert result.best()["index"] == 5 and result.best()["learning_rate"] == pytest.approx(0.42)
    np.testing.assert_array_equal(result.stopped_rung, [0, 0, 0, 0, 1, 2, 1, 0, 0])  # |1 - 2η|: 0.16, then 0.2 and 0.3
    assert result.config_rungs == 13 and result.cost()["saved"] == pytest.approx(1 - 13 / 27)
    assert len(result.history(5)) == 3 and len(result.history(0)) == 1


X = jnp.linspace(-1.0, 1.0, 12).reshape(-1, 1)
Y = 2.0 * X + 0.5


def regression_init(hparams, key):
    params = {"w": jax.random.normal(key, (1, 1)), "b": jnp.zeros((1,))}
    return params, jc.sgd(hparams["learning_rate"], hparams["momentum"]).init(params)


def regression_advance(state, hparams):
    """Four full-batch steps of SGD with momentum on linear least squares."""
    optimizer = jc.sgd(hparams["learning_rate"], hparams["momentum"])
    loss = lambda p: jnp.mean((X @ p["w"] + p["b"] - Y) ** 2)  # noqa: E731

    def step(carry, _):
        params, opt_state = carry
        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (jax.tree.map(jnp.add, params, updates), opt_state), value

    (params, opt_state), losses = jax.lax.scan(step, state, None, length=4)
    return (params, opt_state), {"loss": losses, "w": params["w"][0, 0]}


GRID = {"learning_rate": [0.01, 0.05, 0.1, 0.3, 0.6], "momentum": [0.0, 0.5, 0.9]}  # 15 configurations


def test_survivors_equal_the_full_grid_through_the_same_program_bit_for_bit():
    """Halving (keep 1/3) against keep=1 of the same width: every survivor's rung metrics are identical."""
    kwargs = dict(metric="loss", rungs=3, seeds=2, key=jax.random.PRNGKey(3), chunk_size=4, progress=False)
    halved = successive_halving(regression_init, regression_advance, GRID, keep=1 / 3, **kwargs)
    full = successive_halving(regression_init, regression_advance, GRID, keep=1.0, **kwargs)
    assert [len(i) for i in halved.indices] == [15, 5, 2] and [len(i) for i in full.indices] == [15, 15, 15]
    assert halved.computed_config_rungs == (16 + 8 + 4) and full.computed_config_rungs == 3 * 16
    for rung in range(3):
        ours = halved.rungs[rung].metrics
        theirs = jax.tree.map(lambda a: a[halved.indices[rung]], full.rungs[rung].metrics)
        for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
            assert np.array_equal(a, b)
    np.testing.assert_array_equal(full.stopped_rung, 2)


def test_the_full_grid_through_rungs_equals_one_sweep_of_the_whole_run():
    """keep=1: each rung's metrics equal a sweep of init + that many advances (float32 rounding)."""

    def whole_run(hparams, key):
        state = regression_init(hparams, key)
        out = []
        for _ in range(3):
            state, metrics = regression_advance(state, hparams)
            out.append(metrics)
        return out

    reference = sweep(whole_run, GRID, seeds=2, key=jax.random.PRNGKey(3), progress=False)
    full = successive_halving(
        regression_init,
        regression_advance,
        GRID,
        metric="w",
        keep=1.0,
        rungs=3,
        seeds=2,
        key=jax.random.PRNGKey(3),
        progress=False,
    )
    for rung in range(3):
        chex.assert_trees_all_close(full.rungs[rung].metrics, reference.metrics[rung], rtol=2e-5, atol=1e-6)


def test_a_same_shape_grid_traces_and_compiles_nothing_the_second_time():
    """init_fn and advance_fn trace once; a new grid of the same shape adds no trace and no gather compile."""
    init_traces, advance_traces = Traces(), Traces()

    def init(hparams, key):
        init_traces()
        return regression_init(hparams, key)

    def advance(state, hparams):
        advance_traces()
        return regression_advance(state, hparams)

    kwargs = dict(metric="loss", rungs=3, key=jax.random.PRNGKey(0), progress=False)
    successive_halving(init, advance, GRID, **kwargs)
    assert (init_traces.count, advance_traces.count) == (1, 1)
    other = {"learning_rate": [0.02, 0.04, 0.2, 0.25, 0.5], "momentum": [0.1, 0.3, 0.8]}
    with compiles() as compiled:
        again = successive_halving(init, advance, other, **kwargs)
    assert (init_traces.count, advance_traces.count) == (1, 1) and compiled == []
    assert again.grid["learning_rate"][-1] == np.float32(0.5)


def test_rungs_as_advance_counts_and_diverging_configurations_rank_last():
    """rungs=(1, 2): rung 1 runs two advances (score after 3 rungs' steps); NaN losses never survive."""
    rates = np.array([0.1, 0.3, 1.2, 5.0, 9.0], np.float32)  # 5 and 9 diverge (overflow to inf, then NaN)
    result = successive_halving(
        quadratic_init,
        quadratic_advance,
        {"learning_rate": rates},
        rungs=(1, 2),
        keep=0.5,
        key=jax.random.PRNGKey(0),
        progress=False,
    )
    assert result.advances == (1, 2) and set(result.indices[1]) == {0, 1, 2}
    closed = 0.5 * CURVATURE * (1 - rates[:3].astype(np.float64) * CURVATURE) ** (2 * STEPS_PER_RUNG * 3)
    np.testing.assert_allclose(result.scores[1, :3], closed, rtol=1e-4)
    assert result.best()["index"] == 1 and result.cost()["full_grid_config_advances"] == 15


class Curves(NamedTuple):
    loss: jax.Array
    steps: jax.Array


def test_save_and_load_round_trip_every_field_exactly(tmp_path):
    """HalvingResult.save/load: grid, every rung's metrics (NaN from diverged runs, NamedTuple
    structure), indices, stopped rungs, scores and counts come back with the same dtypes and bits."""

    def advance(state, hparams):
        state, metrics = quadratic_advance(state, hparams)
        return state, {"curves": Curves(metrics["loss"], jnp.int32(STEPS_PER_RUNG)), "loss": metrics["loss"]}

    rates = np.array([0.1, 0.3, 1.2, 1e8, 9.0, 0.4], np.float32)  # 1e8 overflows to inf
    result = successive_halving(
        quadratic_init,
        advance,
        {"learning_rate": rates},
        metric="loss",
        rungs=(1, 2),
        keep=0.5,
        seeds=2,
        key=jax.random.PRNGKey(0),
        chunk_size=2,
        progress=False,
    )
    assert (
        np.isnan(result.scores).any() and np.isinf(result.rungs[0].metrics["loss"]).any()
    )  # the diverged runs are in the file
    result.save(tmp_path / "halving.npz")
    loaded = halving.HalvingResult.load(tmp_path / "halving.npz")

    def same_bits(a, b):
        leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
        return len(leaves_a) == len(leaves_b) and all(
            np.asarray(x).dtype == np.asarray(y).dtype and np.array_equal(x, y, equal_nan=True)
            for x, y in zip(leaves_a, leaves_b)
        )

    assert list(loaded.grid) == list(result.grid) and same_bits(loaded.grid, result.grid)
    assert len(loaded.rungs) == 2 and all(
        same_bits(ours.metrics, theirs.metrics) and same_bits(ours.grid, theirs.grid) and ours.seeds == 2
        for ours, theirs in zip(loaded.rungs, result.rungs)
    )
    assert type(loaded.rungs[1].metrics["curves"]) is Curves
    assert jax.tree.structure(loaded.rungs[0].metrics) == jax.tree.structure(result.rungs[0].metrics)
    assert (
        same_bits(loaded.indices, result.indices)
        and same_bits(loaded.stopped_rung, result.stopped_rung)
        and same_bits(loaded.scores, result.scores)
    )
    fields = ("metric", "mode", "seeds", "chunk_size", "advances", "config_rungs", "computed_config_rungs")
    assert {f: getattr(loaded, f) for f in fields} == {f: getattr(result, f) for f in fields} and loaded.advances == (
        1,
        2,
    )
    assert (
        loaded.best() == result.best()
        and loaded.cost() == result.cost()
        and same_bits(loaded.history(1), result.history(1))
    )
    with pytest.raises(ValueError, match="not a file written by HalvingResult.save"):
        loaded.rungs[0].save(tmp_path / "rung.npz")
        halving.HalvingResult.load(tmp_path / "rung.npz")
    with pytest.raises(ValueError, match="not a file written by SweepResult.save"):
        jc.SweepResult.load(tmp_path / "halving.npz")


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"keep": 0.0}, ValueError, "keep must be a fraction in"),
        ({"keep": 1.5}, ValueError, "keep must be a fraction in"),
        ({"rungs": 0}, ValueError, "rungs must be a positive integer"),
        ({"rungs": []}, ValueError, "rungs must be a positive integer"),
        ({"mode": "best"}, ValueError, "mode must be"),
        ({"metric": "accuracy"}, ValueError, r"metric must be one of \['loss'\]"),
        ({"seeds": 0}, ValueError, "seeds"),
        ({"key": 0}, TypeError, "key must be a PRNG key"),
        (
            {"advance_fn": lambda state, h: {"loss": state[0]}},
            TypeError,
            r"advance_fn must return a pair \(state, metrics\)",
        ),
        (
            {"advance_fn": lambda state, h: ((state[0] * jnp.ones(2), state[1]), {"loss": h["learning_rate"]})},
            TypeError,
            "structure, shapes and dtypes",
        ),
        ({"advance_fn": lambda state, h: (state, None)}, TypeError, "advance_fn returned None"),
        ({"init_fn": lambda h, key: None}, TypeError, "init_fn returned None"),
        (
            {"grid": {"learning_rate": [0.1], "momentum": [0.5]}},
            ValueError,
            r"grid keys \['momentum'\] are not used by init_fn and advance_fn",
        ),
    ],
)
def test_bad_arguments(kwargs, error, match):
    """Fractions, rung counts, modes, metric names, keys and ill-formed functions are refused by name."""
    arguments = {
        "init_fn": quadratic_init,
        "advance_fn": quadratic_advance,
        "grid": {"learning_rate": [0.1, 0.2]},
        "key": jax.random.PRNGKey(0),
        "progress": False,
        **kwargs,
    }
    with pytest.raises(error, match=match):
        successive_halving(arguments.pop("init_fn"), arguments.pop("advance_fn"), arguments.pop("grid"), **arguments)


def test_hyperband_brackets_follow_li_et_al():
    """R = 81, η = 3 gives Li et al.'s table: n = 81, 34, 15, 8, 5 starting at r = 1, 3, 9, 27, 81."""
    brackets = halving.hyperband_brackets(81, 3)
    assert [n for n, _ in brackets] == [81, 34, 15, 8, 5]
    assert [advances[0] for _, advances in brackets] == [1, 3, 9, 27, 81]
    assert all(sum(advances) == 81 for _, advances in brackets)
    assert brackets[0][1] == (1, 2, 6, 18, 54)


def test_hyperband_on_the_quadratic_finds_the_closed_form_best():
    """R = 9, η = 3: brackets of 9, 5, 3 configurations; finalists' scores are the closed form after 9 rungs' steps."""
    rates = np.array([0.05, 0.1, 0.2, 0.3, 0.35, 0.42, 0.6, 0.7, 0.9], np.float32)
    result = jc.hyperband(
        quadratic_init,
        quadratic_advance,
        {"learning_rate": rates},
        max_advances=9,
        eta=3,
        key=jax.random.key(1),
        progress=False,
    )
    assert [b.num_configurations for b in result.brackets] == [9, 5, 3]
    assert [b.advances for b in result.brackets] == [(1, 2, 6), (3, 6), (9,)]
    for bracket, members in zip(result.brackets, result.members):
        finalists = members[bracket.indices[-1]]
        closed = 0.5 * CURVATURE * (1 - rates[finalists].astype(np.float64) * CURVATURE) ** (2 * STEPS_PER_RUNG * 9)
        np.testing.assert_allclose(
            bracket.scores[-1, bracket.indices[-1]], closed, rtol=1e-3, atol=1e-30
        )  # float32 flushes below 1e-38
    assert result.best()["index"] == 5
    assert result.cost()["config_advances"] == (9 + 3 * 2 + 6) + (5 * 3 + 2 * 6) + 3 * 9


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"eta": 1}, "eta must be an integer >= 2"),
        ({"eta": 2.5}, "eta must be"),
        ({"max_advances": 0}, "max_advances must be a positive integer"),
        ({"key": None}, "key must be a PRNG key"),
    ],
)
def test_hyperband_bad_arguments(kwargs, match):
    """η below 2 or fractional, no budget, no key: refused by name before any run."""
    arguments = {"max_advances": 9, "eta": 3, "key": jax.random.PRNGKey(0), **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        jc.hyperband(quadratic_init, quadratic_advance, {"learning_rate": [0.1, 0.2]}, progress=False, **arguments)


def test_hyperband_cost_counts_against_the_configurations_drawn_and_warns_when_few():
    """A 60-configuration grid with R = 9, η = 3 draws at most 17: cost() compares with those drawn
    (not with 60 never-trained ones), and a warning says how few were drawn."""
    rates = np.linspace(0.01, 0.9, 60).astype(np.float32)
    with pytest.warns(UserWarning, match=r"hyperband drew (\d+) of the grid's 60 configurations"):
        result = jc.hyperband(
            quadratic_init,
            quadratic_advance,
            {"learning_rate": rates},
            max_advances=9,
            eta=3,
            key=jax.random.key(1),
            progress=False,
        )
    drawn = np.unique(np.concatenate(result.members))
    cost = result.cost()
    assert cost["drawn_configurations"] == len(drawn) <= 17 and cost["grid_configurations"] == 60
    assert cost["config_advances"] == (9 + 3 * 2 + 6) + (5 * 3 + 2 * 6) + 3 * 9
    assert cost["saved"] == pytest.approx(1 - cost["config_advances"] / (len(drawn) * 9))
    assert "full_grid_config_advances" not in cost
