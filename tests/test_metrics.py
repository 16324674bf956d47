"""``metrics=`` of fit and make_train: evaluated on eval_data (initially and per epoch), recorded in
History, keyed in fit's program cache, refused clearly when malformed, and usable as sweep metrics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from compiles import compiles

import jaxopt_course as jc
from jaxopt_course import models, training
from jaxopt_course.sweeps import SweepResult, sweep

# a fixed linear classifier of 3 inputs into 4 classes, and 6 samples whose argmax is known
W = np.array([[1.0, 0.0, 0.0, -1.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.5]], np.float32)
X = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [-1, 0, 0], [2, 0, 1]], np.float32)  # no tied logits
Y = np.array([0, 1, 3, 2, 0, 0], np.int32)
KEY = jax.random.key(0)


def apply(params, x, key=None):
    return x @ params["w"] + params["b"]


def fixed_params():
    return {"w": jnp.asarray(W), "b": jnp.zeros((4,), jnp.float32)}


def hand_accuracy(w, b, x, y) -> float:
    """The fraction of rows whose largest logit is the label, in numpy."""
    logits = x.astype(np.float64) @ np.asarray(w, np.float64) + np.asarray(b, np.float64)
    return float(np.mean(np.argmax(logits, axis=1) == y))


def fit(metrics, *, eval_data=(X, Y), num_epochs=3, learning_rate=0.1, **options):
    loss_fn = models.supervised_loss(apply, "cross_entropy")
    return jc.fit(
        loss_fn,
        fixed_params(),
        jc.sgd(learning_rate),
        (X, Y),
        batch_size=3,
        num_epochs=num_epochs,
        key=KEY,
        eval_data=eval_data,
        metrics=metrics,
        progress=False,
        **options,
    )


def test_accuracy_matches_a_hand_computation_on_a_fixed_model():
    """models.accuracy of a fixed linear model is numpy's argmax-equals-label fraction (4 of 6 here)."""
    accuracy = models.accuracy(apply)
    assert hand_accuracy(W, np.zeros(4), X, Y) == pytest.approx(4 / 6)
    assert float(accuracy(fixed_params(), (X, Y))) == pytest.approx(4 / 6)
    assert float(accuracy(fixed_params(), (X, Y[:, None]))) == pytest.approx(4 / 6)  # labels [N, 1]
    assert jnp.result_type(accuracy(fixed_params(), (X, Y))) == jnp.float32


def test_metrics_are_recorded_per_epoch_and_for_the_initial_parameters():
    """eval_metrics[name] is [num_epochs], the metric of each epoch's parameters; the initial one is the start's."""
    history = fit(
        {"accuracy": models.accuracy(apply), "loss_again": models.supervised_loss(apply, "cross_entropy")}, num_epochs=4
    )
    assert set(history.eval_metrics) == {"accuracy", "loss_again"}
    assert history.eval_metrics["accuracy"].shape == (4,) and history.eval_metrics["accuracy"].dtype == jnp.float32
    assert float(history.initial_eval_metrics["accuracy"]) == pytest.approx(hand_accuracy(W, np.zeros(4), X, Y))
    np.testing.assert_allclose(history.eval_metrics["loss_again"], history.eval_loss, rtol=1e-6)
    # the last epoch's accuracy is that of the final parameters, by hand
    final = hand_accuracy(history.params["w"], history.params["b"], X, Y)
    assert float(history.eval_metrics["accuracy"][-1]) == pytest.approx(final)
    # one run cut into pieces by the trainer records the same per-epoch values (the loss, a
    # continuous metric, tells a wrong step apart where six samples' accuracy may not)
    plan = training.make_plan(6, 3, num_epochs=4)
    trainer = training.make_train(
        models.supervised_loss(apply, "cross_entropy"),
        plan,
        eval_data=(X, Y),
        metrics={"accuracy": models.accuracy(apply), "loss_again": models.supervised_loss(apply, "cross_entropy")},
    )
    advance = jax.jit(trainer.advance, static_argnums=3)
    carry = trainer.init(fixed_params(), jc.sgd(0.1), KEY)
    carry, first = advance(carry, jc.sgd(0.1), (X, Y), 1)
    carry, rest = advance(carry, jc.sgd(0.1), (X, Y), 3)
    for name in ("accuracy", "loss_again"):
        pieces = np.concatenate([first.eval_metrics[name], rest.eval_metrics[name]])
        np.testing.assert_allclose(pieces, history.eval_metrics[name], rtol=1e-6, err_msg=name)


def test_without_metrics_the_history_has_empty_metric_dicts():
    """No metrics: eval_metrics and initial_eval_metrics are {} (no leaves), the old fields unchanged."""
    history = fit(None, eval_data=None)
    assert history.eval_metrics == {} and history.initial_eval_metrics == {}
    assert history.epoch_loss.shape == (3,) and bool(jnp.all(jnp.isnan(history.eval_loss)))


def test_early_stopping_leaves_frozen_epochs_nan():
    """Epochs after early stopping fired record NaN metrics, as they record a NaN eval loss."""
    history = fit(
        {"accuracy": models.accuracy(apply)},
        num_epochs=30,
        learning_rate=50.0,
        early_stopping=jc.EarlyStopping(patience=1, restore_best=False),
        on_nonfinite="warn",
    )
    stopped = int(history.stopped_epoch)
    assert 0 <= stopped < 29
    assert bool(jnp.all(jnp.isnan(history.eval_metrics["accuracy"][stopped + 1 :])))
    assert bool(jnp.all(jnp.isfinite(history.eval_metrics["accuracy"][: stopped + 1])))


def test_with_a_model_state_metrics_get_the_running_statistics():
    """A batch-norm model: each metric is fn(params, batch, model_state), evaluated as the eval loss is."""
    params, state, bn_apply = models.batch_norm_mlp(jax.random.key(1), 3, [8, 4])
    loss_fn = models.supervised_loss(bn_apply, "cross_entropy", stateful=True)

    def top_logit(params, batch, model_state):
        return jnp.mean(jnp.max(bn_apply(params, batch[0], None, model_state)[0], axis=-1))

    history = jc.fit(
        loss_fn,
        params,
        jc.adam(1e-2),
        (X, Y),
        batch_size=3,
        num_epochs=3,
        key=KEY,
        eval_data=(X, Y),
        model_state=state,
        metrics={"accuracy": models.accuracy(bn_apply, stateful=True), "top_logit": top_logit},
        progress=False,
    )
    logits = jax.jit(bn_apply)(history.params, X, None, history.model_state)[0]  # one compile, not one per operation
    expected = float(np.mean(np.argmax(np.asarray(logits), 1) == Y))
    assert float(history.eval_metrics["accuracy"][-1]) == pytest.approx(expected)
    # a continuous metric: the running statistics' value, which the batch's statistics would not give
    assert float(history.eval_metrics["top_logit"][-1]) == pytest.approx(float(np.mean(np.max(logits, 1))), rel=1e-5)


def test_an_equal_rebuilt_metric_dict_compiles_nothing_and_another_dict_compiles_its_own():
    """fit keys its program on the metrics: rebuilt equal ones reuse it, different ones do not share it."""
    first = fit({"accuracy": models.accuracy(apply)})
    with compiles() as compiled:
        again = fit({"accuracy": models.accuracy(apply)})
    assert "jit(train_program)" not in compiled, compiled
    np.testing.assert_array_equal(again.eval_metrics["accuracy"], first.eval_metrics["accuracy"])
    top_logit = lambda params, batch: jnp.mean(jnp.max(apply(params, batch[0]), axis=-1))  # noqa: E731
    with compiles() as compiled:
        other = fit({"accuracy": top_logit})
    assert compiled.count("jit(train_program)") == 1, compiled
    assert not np.allclose(other.eval_metrics["accuracy"], first.eval_metrics["accuracy"])
    with compiles() as compiled:
        renamed = fit({"correct": models.accuracy(apply)})
    assert compiled.count("jit(train_program)") == 1 and set(renamed.eval_metrics) == {"correct"}


@pytest.mark.parametrize(
    ("metrics", "options", "error", "message"),
    [
        ([models.accuracy(apply)], {}, TypeError, "metrics must be a dict"),
        ({"accuracy": 0.5}, {}, TypeError, "metrics['accuracy'] must be a function"),
        ({3: models.accuracy(apply)}, {}, TypeError, "metrics' names must be non-empty strings"),
        (
            {"per_sample": lambda params, batch: apply(params, batch[0])[:, 0]},
            {},
            ValueError,
            "metrics['per_sample'] must return a scalar",
        ),
        (
            {"accuracy": models.accuracy(apply)},
            {"eval_data": None},
            ValueError,
            "metrics are evaluated on eval_data; give eval_data=(x, y)",
        ),
    ],
    ids=["not_a_dict", "not_callable", "not_a_string_name", "not_a_scalar", "no_eval_data"],
)
def test_bad_metrics_are_refused_before_any_work_naming_the_argument(metrics, options, error, message):
    """Each malformed metrics= raises before anything compiles, with a message naming metrics."""
    with compiles() as compiled, pytest.raises(error) as raised:
        fit(metrics, **options)
    assert message in str(raised.value), str(raised.value)
    assert "jit(train_program)" not in compiled


def test_make_train_refuses_metrics_without_eval_data():
    """make_train checks metrics= as fit does."""
    plan = training.make_plan(6, 3, num_epochs=1)
    with pytest.raises(ValueError, match="metrics are evaluated on eval_data; give eval_data"):
        training.make_train(
            models.supervised_loss(apply, "cross_entropy"), plan, metrics={"accuracy": models.accuracy(apply)}
        )


def test_a_sweeps_run_fn_returning_a_history_exposes_its_metrics(tmp_path):
    """sweep over a run_fn returning train's History: eval_metrics.accuracy is a named metric that best() ranks, and survives save/load."""
    loss_fn = models.supervised_loss(apply, "cross_entropy")
    plan = training.make_plan(6, 3, num_epochs=3)
    metrics = {"accuracy": models.accuracy(apply)}

    def run_fn(hparams, key):
        history = training.train(
            loss_fn,
            fixed_params(),
            jc.sgd(hparams["learning_rate"]),
            (X, Y),
            key,
            plan,
            eval_data=(X, Y),
            metrics=metrics,
        )
        return history._replace(params=None)

    rates = [0.0, 0.1, 1.0]
    result = sweep(run_fn, {"learning_rate": rates}, seeds=2, key=KEY, progress=False)
    assert "eval_metrics.accuracy" in result.metric_names() and "initial_eval_metrics.accuracy" in result.metric_names()
    final = result.final("eval_metrics.accuracy")
    assert final[0] == pytest.approx(4 / 6)  # learning rate 0: the fixed model's accuracy
    best = result.best("eval_metrics.accuracy", mode="max")
    assert best["index"] == int(np.argmax(final)) and best["score"] == pytest.approx(float(final.max()))
    one_run = jax.jit(run_fn)  # compiled once for every rate and seed
    for rate, accuracy in zip(rates, final):  # each configuration as one run on its own, seed by seed
        seeds = jax.random.split(KEY, 2)
        alone = [float(one_run({"learning_rate": jnp.float32(rate)}, k).eval_metrics["accuracy"][-1]) for k in seeds]
        assert accuracy == pytest.approx(np.mean(alone), abs=1e-6)
    result.save(tmp_path / "sweep.npz")
    loaded = SweepResult.load(tmp_path / "sweep.npz", namedtuples=(training.History,))
    assert isinstance(loaded.metrics, training.History)
    np.testing.assert_array_equal(loaded.metrics.eval_metrics["accuracy"], result.metrics.eval_metrics["accuracy"])
    assert loaded.best("eval_metrics.accuracy", mode="max") == best
