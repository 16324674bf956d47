"""Messages a newcomer meets: each names the argument and the fix, raised before any long work."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course.models import cross_entropy

LOGITS = jnp.zeros((4, 3))


def test_cross_entropy_takes_integer_labels_and_matches_the_closed_form():
    """Equal logits over 3 classes: the loss is log 3 for labels [N] and [N, 1] alike."""
    labels = jnp.array([0, 1, 2, 0])
    assert float(cross_entropy(LOGITS, labels)) == pytest.approx(np.log(3.0), rel=1e-6)
    assert float(cross_entropy(LOGITS, labels[:, None])) == pytest.approx(np.log(3.0), rel=1e-6)


def test_one_hot_labels_are_refused_with_the_integer_form():
    """One-hot labels [N, C]: the message says argmax, or the one-hot loss."""
    with pytest.raises(
        ValueError, match=r"one-hot labels: pass labels\.argmax\(axis=-1\), or use optax\.softmax_cross_entropy"
    ):
        cross_entropy(LOGITS, jax.nn.one_hot(jnp.array([0, 1, 2, 0]), 3))


@pytest.mark.parametrize("label", [3, -1])
def test_labels_outside_the_classes_are_refused_naming_the_class_count(label):
    """A label C or -1 for C logits: named, with the number of outputs the model would need."""
    with pytest.raises(ValueError, match=rf"class indices in \[0, 3\).*such as {label}"):
        cross_entropy(LOGITS, jnp.array([0, 1, label, 0]))


def test_fractional_labels_are_refused():
    """0.5 is no class."""
    with pytest.raises(ValueError, match="integer class labels; got non-integer values such as 0.5"):
        cross_entropy(LOGITS, np.array([0.5, 1.0, 2.0, 0.0]))


def test_traced_labels_are_not_checked_for_range_but_still_for_shape():
    """Inside jit the range cannot be read; the shape still is."""
    assert np.isfinite(jax.jit(cross_entropy)(LOGITS, jnp.array([0, 1, 2, 0])))
    with pytest.raises(ValueError, match="one-hot"):
        jax.jit(cross_entropy)(LOGITS, jnp.eye(3)[jnp.array([0, 1, 2, 0])])


# --------------------------------------------------------------------------- fit's input
import jaxopt_course as jc  # noqa: E402
from jaxopt_course import models, schedules  # noqa: E402

KEY = jax.random.PRNGKey(0)
PARAMS, APPLY = models.mlp(KEY, 4, (8, 3))
LOSS = models.supervised_loss(APPLY, "cross_entropy")
X = np.random.default_rng(0).random((20, 4), dtype=np.float32)
Y = np.random.default_rng(1).integers(0, 3, 20)


def fit(loss_fn=LOSS, params=PARAMS, optimizer=None, data=(X, Y), **changes):
    arguments = {"key": KEY, "batch_size": 4, "num_steps": 3, "sampling": "single_batch", "progress": False, **changes}
    return jc.fit(loss_fn, params, jc.sgd(0.1) if optimizer is None else optimizer, data, **arguments)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"optimizer": schedules.cosine_decay(0.1, 10)},
            r"optimizer is a learning-rate schedule .*jc\.sgd\(learning_rate=schedule\)",
        ),
        ({"optimizer": lambda count: 0.1 * 0.9**count}, r"optimizer is a learning-rate schedule"),
        ({"optimizer": jc.sgd}, r"got the function 'sgd': call it, e\.g\. sgd\(learning_rate=0\.1\)"),
        ({"params": (PARAMS, APPLY)}, r"params\[1\] is a function .*params, apply = models\.mlp\(\.\.\.\)"),
        ({"params": {**PARAMS, "name": "mlp"}}, r"params\['name'\] is the string 'mlp'"),
        (
            {"data": (X.tolist(), Y.tolist())},
            r"data's x is a Python list; give arrays: data=\(np\.asarray\(x\), np\.asarray\(y\)\)",
        ),
        ({"data": (X.astype(str), Y)}, r"data's x is an array of dtype <U.*give numeric arrays"),
        ({"data": (X[:0], Y[:0])}, r"data has 0 rows"),
        (
            {"loss_fn": lambda params, x, y: models.cross_entropy(APPLY(params, x), y)},
            r"loss_fn takes \(params, x, y\).*def loss_fn\(params, batch\): x, y = batch",
        ),
        (
            {"data": (X, Y + 5)},
            r"data: cross_entropy's labels must be class indices in \[0, 3\).*give the model \d+ outputs",
        ),
        ({"data": (X, np.eye(3)[Y])}, r"data: .*one-hot labels: pass labels\.argmax\(axis=-1\)"),
        ({"eval_data": (X, Y - 1)}, r"eval_data: cross_entropy's labels must be class indices in \[0, 3\).*such as -1"),
    ],
)
def test_fit_refuses_a_newcomers_mistake_naming_the_argument_and_the_fix(changes, message):
    """Each mistake is one clear error naming what to pass instead, before anything compiles."""
    with pytest.raises((TypeError, ValueError), match=message):
        fit(**changes)


def test_a_numpy_integer_is_a_count():
    """num_steps=np.int64(5) and batch_size=np.int32(4) are counts like 5 and 4."""
    history = fit(num_steps=np.int64(5), batch_size=np.int32(4))
    assert history.step_loss.shape == (5,)


def test_a_loss_taking_a_key_is_not_mistaken_for_one_taking_x_and_y():
    """loss_fn(params, batch, key) (dropout) stays accepted."""
    history = fit(loss_fn=lambda params, batch, key: LOSS(params, batch))
    assert np.all(np.isfinite(history.step_loss))


def test_fit_warns_when_the_schedule_ends_before_the_run():
    """torch's CosineAnnealingLR(T_max=2) stepped per epoch of 5 steps covers 10 steps; a 20-step
    run warns (naming T_max), a 10-step run does not."""
    from jaxopt_course.conventions import pytorch

    optimizer = pytorch.sgd(pytorch.cosine_annealing_lr(0.1, T_max=2, steps_per_epoch=5))
    with pytest.warns(UserWarning, match="T_max"):
        fit(optimizer=optimizer, num_steps=20)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(optimizer=optimizer, num_steps=10)


def test_an_optimiser_that_keeps_no_learning_rate_is_said_plainly():
    """optax.adam keeps no η in its state: fit says History.learning_rate is unknown (NaN);
    optax.inject_hyperparams(optax.adam) records it, and ours record it, with no warning."""
    import optax

    with pytest.warns(UserWarning, match=r"History\.learning_rate will be NaN \(unknown\).*optax\.inject_hyperparams"):
        history = fit(optimizer=optax.adam(1e-3))
    assert np.all(np.isnan(history.learning_rate))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        injected = fit(optimizer=optax.inject_hyperparams(optax.adam)(learning_rate=1e-3))
        ours = fit(optimizer=jc.adam(1e-3))
    np.testing.assert_allclose(injected.learning_rate, 1e-3, rtol=1e-6)
    np.testing.assert_allclose(ours.learning_rate, 1e-3, rtol=1e-6)


def test_the_label_check_follows_the_model_it_is_given():
    """The model's output width is kept by the model and its inputs' shapes: labels 0..3 are refused
    for a 3-output MLP, then accepted for a 4-output one, then refused for the 3-output one again."""
    params4, apply4 = models.mlp(KEY, 4, (8, 4))
    labels = np.arange(20) % 4
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\)"):
        fit(data=(X, labels))
    fit(loss_fn=models.supervised_loss(apply4, "cross_entropy"), params=params4, data=(X, labels))
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\)"):
        fit(data=(X, labels))


def test_an_uncalled_metric_factory_is_named():
    """metrics={"acc": models.accuracy} (the factory, not the metric): named, with the call to make."""
    with pytest.raises(
        TypeError, match=r"metrics\['acc'\] takes \(apply.*call it, e\.g\. \{'acc': models\.accuracy\(apply\)\}"
    ):
        fit(eval_data=(X, Y), metrics={"acc": models.accuracy})


@pytest.mark.parametrize("argument", ["data", "eval_data"])
def test_inputs_the_model_cannot_take_are_refused_naming_the_argument(argument):
    """x with 5 features for a model whose first layer takes 4: named as data or eval_data, with
    x's shape and the model's own reason, before anything trains."""
    import jaxopt_course as jc
    from jaxopt_course import models

    params, apply = models.mlp(jax.random.PRNGKey(0), 4, [3])
    good = (np.zeros((6, 4), np.float32), np.zeros(6, np.int32))
    bad = (np.zeros((6, 5), np.float32), np.zeros(6, np.int32))
    data, eval_data = (bad, good) if argument == "data" else (good, bad)
    with pytest.raises(ValueError, match=rf"^{argument}: the model cannot be applied to its x, of shape \(6, 5\)"):
        jc.fit(
            models.supervised_loss(apply, "cross_entropy"),
            params,
            jc.sgd(0.1),
            data,
            batch_size=3,
            num_epochs=1,
            key=jax.random.PRNGKey(1),
            eval_data=eval_data,
            progress=False,
        )
