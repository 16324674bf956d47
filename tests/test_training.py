"""fit: equal to a hand-written loop, every sample once per epoch, reproducible, vmappable, safe."""

from __future__ import annotations

import functools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from compiles import Traces

import jaxopt_course as jc
from jaxopt_course import data, models, training
from jaxopt_course.training import EarlyStopping, batches, fit, make_plan, reporting, train

X = jnp.linspace(-1.0, 1.0, 10).reshape(-1, 1)
Y = 3.0 * X - 1.0
DATA = (X, Y)
LINEAR_PARAMS = {"w": jnp.zeros((1, 1)), "b": jnp.zeros((1,))}


def linear_loss(params, batch):
    x, y = batch
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def index_loss(params, batch):
    """Loss whose gradient counts, per sample, how often it was in a batch (x holds the index)."""
    x, _ = batch
    return jnp.sum(params["seen"][x[:, 0].astype(jnp.int32)])


@functools.partial(jax.jit, static_argnums=0)  # one compile per optimiser and batch size, not one per operation
def _hand_written_step(optimizer, params, state, batch):
    """One step of a hand-written loop: the loss and its gradient, the optimiser's update."""
    loss, grads = jax.value_and_grad(linear_loss)(params, batch)
    updates, state = optimizer.update(grads, state, params)
    return loss, optax.apply_updates(params, updates), state


def test_fit_equals_hand_written_loop_over_the_same_batches():
    """Epoch mode with a partial last batch equals a Python loop over the same permutations."""
    optimizer = jc.sgd(0.1, momentum=0.9)
    key = jax.random.PRNGKey(3)
    history = fit(linear_loss, LINEAR_PARAMS, optimizer, DATA, batch_size=4, num_epochs=2, key=key, progress=False)
    sample_key, _ = jax.random.split(key)
    params, state, losses = LINEAR_PARAMS, optimizer.init(LINEAR_PARAMS), []
    for epoch in range(2):
        order = np.asarray(jax.random.permutation(jax.random.fold_in(sample_key, epoch), 10))
        for batch_indices in (order[0:4], order[4:8], order[8:10]):  # 4, 4, then the last 2
            batch = (np.asarray(X)[batch_indices], np.asarray(Y)[batch_indices])
            loss, params, state = _hand_written_step(optimizer, params, state, batch)
            losses.append(float(loss))
    chex.assert_trees_all_close(history.params, params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history.step_loss, losses, rtol=1e-5, atol=1e-6)
    # the epoch loss is the sample-weighted mean: the 2-sample batch weighs half a full one
    first_epoch = (4 * losses[0] + 4 * losses[1] + 2 * losses[2]) / 10
    np.testing.assert_allclose(history.epoch_loss[0], first_epoch, rtol=1e-5)


@pytest.mark.parametrize("batch_size,drop_last", [(3, False), (5, False), (10, False), (3, True)])
@pytest.mark.filterwarnings("ignore:History.learning_rate will be NaN")  # optax's own optimiser, on purpose
def test_epoch_mode_visits_every_sample_exactly_once(batch_size, drop_last):
    """In "epoch" mode each epoch sees every sample once: ceil(N/B)·epochs steps (N//B dropping)."""
    indices = jnp.arange(10, dtype=jnp.float32).reshape(-1, 1)
    params = {"seen": jnp.zeros(10)}
    num_epochs = 3
    history = fit(
        index_loss,
        params,
        optax.sgd(-1.0),
        (indices, indices),
        batch_size=batch_size,
        num_epochs=num_epochs,
        key=jax.random.PRNGKey(0),
        drop_last=drop_last,
        progress=False,
    )
    steps = (10 // batch_size if drop_last else math.ceil(10 / batch_size)) * num_epochs
    assert history.step_loss.shape == (steps,)
    counts = np.asarray(history.params["seen"])
    if drop_last:
        assert counts.sum() == num_epochs * (10 // batch_size) * batch_size and counts.max() <= num_epochs
    else:
        np.testing.assert_array_equal(counts, num_epochs)


@pytest.mark.parametrize("sampling, batch_size", [("single_batch", 4), ("single_batch", 6), ("replacement", 6)])
@pytest.mark.filterwarnings("ignore:History.learning_rate will be NaN")  # optax's own optimiser, on purpose
def test_per_step_modes_draw_batches_of_the_right_kind(sampling, batch_size):
    """single_batch draws B distinct samples per step (B ≤ N/2 by distinct draws, above by top_k);
    replacement may repeat; both are random."""
    indices = jnp.arange(10, dtype=jnp.float32).reshape(-1, 1)

    def duplicates_loss(params, batch):
        x, _ = batch
        sorted_x = jnp.sort(x[:, 0])
        return params["p"] * 0.0 + jnp.sum(sorted_x[1:] == sorted_x[:-1]).astype(jnp.float32)

    history = fit(
        duplicates_loss,
        {"p": jnp.zeros(())},
        optax.sgd(0.1),
        (indices, indices),
        batch_size=batch_size,
        num_steps=200,
        key=jax.random.PRNGKey(1),
        sampling=sampling,
        progress=False,
    )
    repeats = np.asarray(history.step_loss)
    if sampling == "single_batch":
        assert repeats.max() == 0
    else:
        assert repeats.mean() > 0.5  # 6 draws from 10 with replacement repeat ~80% of the time


@pytest.mark.parametrize("n", [3, 10, 1000, 65535, 65536, 65537, 60_000_007, 2**30 + 1, 2**31 - 1])
def test_uniform_below_is_the_exact_multiply_shift_with_lemire_rejection(n):
    """High word of bits·n (by 16-bit halves) and the rejection of low words below 2³² mod n,
    against numpy's 64-bit arithmetic."""
    bits = np.random.default_rng(n).integers(0, 2**32, 50_000, dtype=np.uint64)
    bits[:3] = [0, 2**32 - 1, 2**31]
    values, kept = batches._uniform_below(jnp.asarray(bits.astype(np.uint32)), n)
    np.testing.assert_array_equal(np.asarray(values), (bits * n) >> 32)
    np.testing.assert_array_equal(np.asarray(kept), (bits * n) % 2**32 >= 2**32 % n)


@pytest.mark.parametrize("per_round", [None, 1, 3])
def test_distinct_draws_are_a_uniform_ordered_sample_without_replacement(per_round):
    """All 20 ordered pairs from 5 items are equally likely (chi-square over 20 000 keys, also with
    rounds of 1 or 3 draws, which need many rounds), and a large draw never repeats."""
    keys = jax.random.split(jax.random.key(0), 20_000)
    pairs = np.asarray(jax.vmap(lambda k: training.distinct_draws(k, 5, 2, per_round=per_round))(keys))
    assert (pairs[:, 0] != pairs[:, 1]).all() and pairs.min() >= 0 and pairs.max() <= 4
    counts = np.bincount(pairs[:, 0] * 5 + pairs[:, 1], minlength=25).reshape(5, 5)
    assert (np.diag(counts) == 0).all()
    expected = len(keys) / 20
    chi_square = ((counts[~np.eye(5, dtype=bool)] - expected) ** 2 / expected).sum()
    assert chi_square < 50.0  # 19 degrees of freedom: P(χ² > 50) ≈ 1e-4
    large = np.asarray(training.distinct_draws(jax.random.key(1), 1000, 500, per_round=per_round))
    assert len(set(large.tolist())) == 500 and large.min() >= 0 and large.max() < 1000


@pytest.mark.parametrize(
    "arguments, name",
    [
        (dict(n=10, count=11), "count"),
        (dict(n=10, count=0), "count"),
        (dict(n=0, count=1), "n"),
        (dict(n=10, count=3, per_round=0), "per_round"),
        (dict(n=2**31, count=1), "n"),
    ],
)
def test_distinct_draws_refuses_counts_it_cannot_draw(arguments, name):
    """More values than exist (or none) would loop forever; n past int32 would wrap: refused by name."""
    with pytest.raises(ValueError, match=f"{name} must be an integer"):
        training.distinct_draws(jax.random.key(0), **arguments)


def test_same_key_gives_bit_identical_histories_and_other_keys_differ():
    """Reproducibility: the same key, the same numbers bit for bit; another key, another run."""
    kwargs = dict(batch_size=3, num_epochs=2, progress=False, sampling="single_batch")
    first = fit(linear_loss, LINEAR_PARAMS, jc.adam(0.1), DATA, key=jax.random.PRNGKey(7), **kwargs)
    second = fit(linear_loss, LINEAR_PARAMS, jc.adam(0.1), DATA, key=jax.random.PRNGKey(7), **kwargs)
    other = fit(linear_loss, LINEAR_PARAMS, jc.adam(0.1), DATA, key=jax.random.PRNGKey(8), **kwargs)
    chex.assert_trees_all_equal(first, second)
    assert not np.array_equal(first.step_loss, other.step_loss)


def test_history_records_the_learning_rate_of_each_step():
    """History.learning_rate is the value a schedule gave each step (step 0 first)."""
    schedule = lambda step: 0.1 * 0.5 ** (step // 4)  # noqa: E731
    history = fit(
        linear_loss,
        LINEAR_PARAMS,
        jc.sgd(schedule),
        DATA,
        batch_size=5,
        num_epochs=4,
        key=jax.random.PRNGKey(0),
        progress=False,
    )
    np.testing.assert_allclose(history.learning_rate, [0.1 * 0.5 ** (k // 4) for k in range(8)], rtol=1e-6)


def test_vmap_over_keys_and_learning_rates_equals_one_at_a_time():
    """fit under vmap (keys x learning rates) gives each run's own numbers."""
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    rates = jnp.array([0.05, 0.2])

    def run(key, learning_rate):
        return fit(linear_loss, LINEAR_PARAMS, jc.sgd(learning_rate, 0.5), DATA, batch_size=4, num_epochs=3, key=key)

    swept = jax.jit(jax.vmap(jax.vmap(run, in_axes=(None, 0)), in_axes=(0, None)))(keys, rates)
    swept = jax.tree.map(np.asarray, swept)  # each run's numbers read on the host, not by a compiled slice each
    for i in range(2):
        for j in range(2):
            alone = fit(
                linear_loss,
                LINEAR_PARAMS,
                jc.sgd(float(rates[j]), 0.5),
                DATA,
                batch_size=4,
                num_epochs=3,
                key=keys[i],
                progress=False,
            )
            chex.assert_trees_all_close(jax.tree.map(lambda a: a[i, j], swept), alone, rtol=1e-5, atol=1e-6)


def test_one_compile_per_run_shape():
    """Calling fit again with the same shapes and optimiser reuses the compiled program."""
    optimizer = jc.sgd(0.1)
    traces = Traces()

    def counting_loss(params, batch):
        traces()
        return linear_loss(params, batch)

    for seed in range(3):
        fit(
            counting_loss,
            LINEAR_PARAMS,
            optimizer,
            DATA,
            batch_size=5,
            num_epochs=2,
            key=jax.random.PRNGKey(seed),
            progress=False,
        )
    first = traces.count
    fit(
        counting_loss,
        LINEAR_PARAMS,
        optimizer,
        (X + 1.0, Y),
        batch_size=5,
        num_epochs=2,
        key=jax.random.PRNGKey(9),
        progress=False,
    )
    assert first > 0 and traces.count == first


def test_progress_bar_advances_within_an_epoch_and_reaches_its_total(monkeypatch):
    """progress=True: the bar gets reports during a single long epoch, ends at the step count,
    and a second run of the same shape compiles nothing new."""
    from jaxopt_course import progress

    totals, ticks, traces = [], [], Traces()
    original_exit = progress.ProgressBar.__exit__

    def recording_exit(self, *exc_info):
        original_exit(self, *exc_info)
        totals.append((self.bar.n, self.total))

    monkeypatch.setattr(progress.ProgressBar, "__exit__", recording_exit)
    monkeypatch.setattr(reporting, "tick", lambda n: (ticks.append(int(n)), progress.tick(n)))

    def counting_loss(params, batch):
        traces()
        return linear_loss(params, batch)

    x, optimizer = jnp.linspace(-1.0, 1.0, 4600).reshape(-1, 1), jc.sgd(0.01)
    for seed in range(2):
        fit(
            counting_loss,
            LINEAR_PARAMS,
            optimizer,
            (x, 3.0 * x),
            batch_size=1,
            num_epochs=1,
            key=jax.random.PRNGKey(seed),
            progress=True,
        )
    assert totals == [(4600, 4600), (4600, 4600)]
    assert ticks == [1150] * 4 * 2  # every max(4600 // 20, 2000) steps: 1150 divides 4600, inside the one epoch
    traced = traces.count
    fit(
        counting_loss,
        LINEAR_PARAMS,
        optimizer,
        (x, 3.0 * x),
        batch_size=1,
        num_epochs=1,
        key=jax.random.PRNGKey(5),
        progress=True,
    )
    assert traces.count == traced == 1
    # many one-step epochs: a report after every chunk of 2000 epochs, no per-epoch branch
    ticks.clear()
    fit(
        linear_loss,
        LINEAR_PARAMS,
        optimizer,
        DATA,
        batch_size=10,
        num_epochs=8000,
        key=jax.random.PRNGKey(0),
        progress=True,
    )
    assert ticks == [2000] * 4 and totals[-1] == (8000, 8000)
    # a short run reports nothing from inside; the bar is filled when the run ends
    ticks.clear()
    fit(
        linear_loss,
        LINEAR_PARAMS,
        optimizer,
        DATA,
        batch_size=10,
        num_epochs=40,
        key=jax.random.PRNGKey(0),
        progress=True,
    )
    assert ticks == [] and totals[-1] == (40, 40)


def test_progress_chunks_do_not_change_the_numbers():
    """With progress on, the steps run in chunks (with a remainder when no chunk divides the epoch):
    every step bit-identical to the run without, in per-step and epoch modes."""
    x = jnp.linspace(-1.0, 1.0, 97).reshape(-1, 1)
    for sampling, batch_size, kwargs in (("single_batch", 4, {"num_steps": 97 * 2}), ("epoch", 1, {"num_epochs": 2})):
        plan = make_plan(97, batch_size, sampling=sampling, **kwargs)
        runs = [
            jax.jit(
                lambda every: train(
                    linear_loss,
                    LINEAR_PARAMS,
                    jc.sgd(0.05, 0.9),
                    (x, 2.0 * x),
                    jax.random.PRNGKey(3),
                    plan,
                    progress_every=every,
                ),
                static_argnums=0,
            )(every)
            for every in (0, 7, 13)  # 13 divides nothing near it: chunks of 13 and a remainder
        ]
        for other in runs[1:]:  # every step identical; the epoch mean may sum in another order
            chex.assert_trees_all_equal(other._replace(epoch_loss=runs[0].epoch_loss), runs[0])
            chex.assert_trees_all_close(other.epoch_loss, runs[0].epoch_loss, rtol=1e-6)


def test_per_step_modes_run_flat_or_by_epoch_alike():
    """single_batch without evaluation runs as one flat scan; with eval_data, epoch by epoch: the
    same steps, bit for bit, and the same epoch means (a tail of steps included)."""
    x = jnp.linspace(-1.0, 1.0, 20).reshape(-1, 1)
    plan = make_plan(20, 3, sampling="single_batch", num_steps=47)  # 7 steps an epoch: 6 epochs and a tail of 5
    run = jax.jit(
        lambda eval_data: train(
            linear_loss, LINEAR_PARAMS, jc.sgd(0.05, 0.9), (x, 2.0 * x), jax.random.PRNGKey(4), plan, eval_data
        )
    )
    flat, by_epoch = run(None), run((x, 2.0 * x))
    chex.assert_trees_all_equal(
        (flat.step_loss, flat.params, flat.learning_rate), (by_epoch.step_loss, by_epoch.params, by_epoch.learning_rate)
    )
    chex.assert_trees_all_close(flat.epoch_loss, by_epoch.epoch_loss, rtol=1e-6)
    assert flat.epoch_loss.shape == (7,) and bool(jnp.all(jnp.isnan(flat.eval_loss)))
    np.testing.assert_allclose(flat.epoch_loss[-1], np.mean(np.asarray(flat.step_loss)[42:]), rtol=1e-6)


def test_partial_tail_of_steps_is_its_own_epoch():
    """num_steps not a multiple of ceil(N/B) in a per-step mode: the remainder forms a last epoch."""
    history = fit(
        linear_loss,
        LINEAR_PARAMS,
        jc.sgd(0.1),
        DATA,
        batch_size=4,
        num_steps=7,
        key=jax.random.PRNGKey(0),
        sampling="replacement",
        eval_data=DATA,
        progress=False,
    )
    assert history.step_loss.shape == (7,) and history.epoch_loss.shape == (3,) and history.eval_loss.shape == (3,)
    np.testing.assert_allclose(history.epoch_loss[2], history.step_loss[6], rtol=1e-6)
    np.testing.assert_allclose(history.eval_loss[-1], linear_loss(history.params, DATA), rtol=1e-5)


def test_dropout_is_active_in_training_and_off_at_evaluation():
    """Inverted dropout: a training pass zeroes units and rescales the rest; evaluation is exact."""
    params, apply = models.mlp(jax.random.PRNGKey(0), 4, [64, 1], dropout_rate=0.5)
    x, y = np.ones((8, 4), np.float32), np.zeros((8, 1), np.float32)
    jitted = jax.jit(apply)  # one compile for evaluation, one for training, not one per operation
    assert np.array_equal(jitted(params, x), jitted(params, x))
    first, second = jitted(params, x, jax.random.PRNGKey(1)), jitted(params, x, jax.random.PRNGKey(2))
    assert not np.allclose(first, second)
    kept = np.asarray(
        jax.jit(models.inverted_dropout, static_argnums=1)(np.ones(10000, np.float32), 0.25, jax.random.PRNGKey(3))
    )
    np.testing.assert_allclose(np.unique(kept), [0.0, 1 / 0.75], rtol=1e-6)
    assert abs(float(np.mean(kept)) - 1.0) < 0.03  # the expectation is unchanged
    loss_fn = models.supervised_loss(apply)
    history = fit(
        loss_fn,
        params,
        jc.sgd(0.01),
        (x, y),
        batch_size=8,
        num_steps=3,
        key=jax.random.PRNGKey(4),
        sampling="single_batch",
        eval_data=(x, y),
        progress=False,
    )
    assert training.takes_key(loss_fn)
    np.testing.assert_allclose(history.eval_loss[-1], jax.jit(loss_fn)(history.params, (x, y)), rtol=1e-6)


def test_early_stopping_restores_the_best_parameters():
    """Eval loss that worsens after a point: training stops after `patience` epochs, best restored."""
    x_eval, y_eval = X, -Y  # the opposite task: training on DATA makes the eval loss rise
    with pytest.warns(RuntimeWarning, match="no epoch improved on the initial parameters"):
        history = fit(
            linear_loss,
            {"w": -3.0 * jnp.ones((1, 1)), "b": jnp.ones((1,))},
            jc.sgd(0.1),
            DATA,
            batch_size=10,
            num_epochs=30,
            key=jax.random.PRNGKey(0),
            eval_data=(x_eval, y_eval),
            early_stopping=EarlyStopping(patience=3),
            progress=False,
        )
    best, stopped = int(history.best_epoch), int(history.stopped_epoch)
    assert stopped == best + 3 and stopped < 29
    assert np.all(np.isnan(history.epoch_loss[stopped + 1 :]))
    np.testing.assert_allclose(linear_loss(history.params, (x_eval, y_eval)), np.nanmin(history.eval_loss), rtol=1e-6)


def test_early_stopping_from_a_perfect_fit_warns_without_dividing_by_zero():
    """Parameters that fit eval_data exactly (eval loss 0 at the start): the warning still comes, with no ratio."""
    with pytest.warns(RuntimeWarning, match=r"against 0 at the start; the run diverged"):
        fit(
            linear_loss,
            {"w": jnp.zeros((1, 1)), "b": jnp.zeros((1,))},
            jc.sgd(0.1),
            DATA,
            batch_size=10,
            num_epochs=30,  # the run and stopping rule of the test above: its compiled program
            key=jax.random.PRNGKey(0),
            eval_data=(X, jnp.zeros_like(Y)),
            early_stopping=EarlyStopping(patience=3),
            progress=False,
        )


def test_nonfinite_loss_is_flagged_at_its_step():
    """A diverging run records its first non-finite step, warns naming it, or raises."""
    kwargs = dict(batch_size=10, num_epochs=400, key=jax.random.PRNGKey(0), progress=False)
    with pytest.warns(RuntimeWarning, match=r"non-finite at step \d+"):
        history = fit(linear_loss, LINEAR_PARAMS, jc.sgd(5.0), DATA, **kwargs)
    step = int(history.first_nonfinite_step)
    assert step > 0 and not np.isfinite(history.step_loss[step]) and np.all(np.isfinite(history.step_loss[:step]))
    with pytest.raises(FloatingPointError, match=f"step {step}"):
        fit(linear_loss, LINEAR_PARAMS, jc.sgd(5.0), DATA, on_nonfinite="raise", **kwargs)
    healthy = fit(linear_loss, LINEAR_PARAMS, jc.sgd(0.1), DATA, **kwargs)
    assert int(healthy.first_nonfinite_step) == -1


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(batch_size=0, num_epochs=1), "batch_size must be an integer in \\[1, 10\\]"),
        (dict(batch_size=11, num_epochs=1), "batch_size must be an integer in \\[1, 10\\]"),
        (dict(batch_size=2), "exactly one of num_epochs and num_steps"),
        (dict(batch_size=2, num_epochs=1, num_steps=5), "exactly one of num_epochs and num_steps"),
        (dict(batch_size=2, num_epochs=0), "num_epochs must be a positive integer"),
        (dict(batch_size=3, num_steps=5), "not a whole number of epochs"),
        (dict(batch_size=2, num_epochs=1, sampling="shuffle"), "sampling must be one of"),
        (dict(batch_size=2, num_epochs=1, on_nonfinite="ignore"), "on_nonfinite must be"),
        (dict(batch_size=2, num_epochs=1, early_stopping=EarlyStopping()), "early_stopping needs eval_data"),
    ],
)
def test_bad_arguments(kwargs, match):
    """Bad run arguments raise ValueError naming the argument and what is accepted."""
    with pytest.raises(ValueError, match=match):
        fit(linear_loss, LINEAR_PARAMS, jc.sgd(0.1), DATA, key=jax.random.PRNGKey(0), progress=False, **kwargs)


def test_bad_data():
    """Data arrays of different lengths, or with NaN, are refused before training."""
    with pytest.raises(ValueError, match="leading length"):
        fit(linear_loss, LINEAR_PARAMS, jc.sgd(0.1), (X, Y[:5]), batch_size=2, num_epochs=1, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="data contains NaN"):
        fit(
            linear_loss,
            LINEAR_PARAMS,
            jc.sgd(0.1),
            (X.at[3].set(jnp.nan), Y),
            batch_size=2,
            num_epochs=1,
            key=jax.random.PRNGKey(0),
        )
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)


def test_plan_counts_steps():
    """ceil(N/B) steps per epoch, N//B with drop_last, and a tail for per-step modes."""
    assert make_plan(1000, 128, num_epochs=2).num_steps == 16
    assert make_plan(1000, 128, num_epochs=2, drop_last=True).num_steps == 14
    plan = make_plan(1000, 128, num_steps=1000, sampling="single_batch")
    assert (plan.num_epochs, plan.tail_steps, plan.num_steps) == (125, 0, 1000)
    assert make_plan(10, 4, num_steps=7, sampling="replacement").tail_steps == 1


def test_train_is_the_pure_core_of_fit():
    """train() under jit gives fit's history."""
    plan = make_plan(10, 5, num_epochs=2)
    pure = jax.jit(lambda key: train(linear_loss, LINEAR_PARAMS, jc.sgd(0.1), DATA, key, plan))(jax.random.PRNGKey(0))
    wrapped = fit(
        linear_loss,
        LINEAR_PARAMS,
        jc.sgd(0.1),
        DATA,
        batch_size=5,
        num_epochs=2,
        key=jax.random.PRNGKey(0),
        progress=False,
    )
    chex.assert_trees_all_close(pure, wrapped, rtol=1e-6)


def test_mlp_learns_the_course_parabola():
    """The E3 set-up trains: an MLP 1-32-32-1 with Adam fits 0.3x² + noise to near the noise floor."""
    x, y = data.parabola(numpy_seed=0, num_samples=200)
    params, apply = models.mlp(jax.random.PRNGKey(0), 1, [32, 32, 1])
    history = fit(
        models.supervised_loss(apply),
        params,
        jc.adam(1e-2),
        (x, y),
        batch_size=50,
        num_epochs=150,
        key=jax.random.PRNGKey(1),
        progress=False,
    )
    assert float(history.epoch_loss[-1]) < 1.5 < float(history.epoch_loss[0])


def test_sequential_mode_keeps_the_data_order():
    """sampling="sequential" visits batches in the data's order every epoch (no shuffle)."""
    history = fit(
        linear_loss,
        LINEAR_PARAMS,
        jc.sgd(0.1),
        DATA,
        batch_size=4,
        num_epochs=2,
        key=jax.random.PRNGKey(0),
        sampling="sequential",
        progress=False,
    )
    optimizer = jc.sgd(0.1)
    params, state, losses = LINEAR_PARAMS, optimizer.init(LINEAR_PARAMS), []
    for _ in range(2):
        for start in (0, 4, 8):
            batch = (np.asarray(X)[start : start + 4], np.asarray(Y)[start : start + 4])
            loss, params, state = _hand_written_step(optimizer, params, state, batch)
            losses.append(float(loss))
    np.testing.assert_allclose(history.step_loss, losses, rtol=1e-5)


def test_run_in_pieces_equals_the_whole_run():
    """init + advance(2) + advance(3) gives the whole 5-epoch run's parameters and logs, bit for bit."""
    for sampling, eval_data in (("epoch", None), ("single_batch", None), ("single_batch", (X, Y))):
        plan = training.make_plan(10, 4, num_epochs=5, sampling=sampling)
        trainer = training.make_train(linear_loss, plan, eval_data=eval_data)
        optimizer = jc.sgd(0.05, momentum=0.9)
        whole = jax.jit(lambda key: trainer(LINEAR_PARAMS, optimizer, DATA, key))(jax.random.PRNGKey(4))
        carry = trainer.init(LINEAR_PARAMS, optimizer, jax.random.PRNGKey(4))
        advance = jax.jit(
            lambda carry, num_epochs: trainer.advance(carry, optimizer, DATA, num_epochs), static_argnums=1
        )
        carry, first = advance(carry, 2)
        carry, second = advance(carry, 3)
        assert int(carry.epoch) == 5
        chex.assert_trees_all_equal(carry.params, whole.params)
        np.testing.assert_array_equal(np.concatenate([first.step_loss, second.step_loss]), whole.step_loss)
        np.testing.assert_array_equal(np.concatenate([first.eval_loss, second.eval_loss]), whole.eval_loss)


def test_batch_norm_running_statistics_are_carried_and_used_for_evaluation():
    """fit carries a BatchNorm's running statistics: they move from their start, training loss
    falls, and the eval loss is the loss under the final running statistics (not batch ones)."""
    x = np.linspace(-2.0, 2.0, 64, dtype=np.float32).reshape(-1, 1)
    y = np.sin(2.0 * x) + np.float32(3.0)
    params, model_state, apply = models.batch_norm_mlp(jax.random.PRNGKey(0), 1, [16, 16, 1])
    loss_fn = models.supervised_loss(apply, stateful=True)
    history = fit(
        loss_fn,
        params,
        jc.adam(0.01),
        (x, y),
        batch_size=16,
        num_epochs=30,
        key=jax.random.PRNGKey(1),
        eval_data=(x, y),
        model_state=model_state,
        progress=False,
    )
    assert float(history.epoch_loss[-1]) < 0.1 * float(history.epoch_loss[0])
    start_mean = jax.tree.leaves(model_state)[0]
    final_mean = jax.tree.leaves(history.model_state)[0]
    assert not np.allclose(start_mean, final_mean)
    loss = jax.jit(lambda params, key, model_state: models.mse(apply(params, x, key, model_state)[0], y))
    running = loss(history.params, None, history.model_state)
    np.testing.assert_allclose(history.eval_loss[-1], running, rtol=1e-5)
    batch_stats_loss = loss(history.params, jax.random.PRNGKey(0), history.model_state)
    assert abs(float(batch_stats_loss) - float(running)) > 1e-7  # evaluation did use the running statistics
