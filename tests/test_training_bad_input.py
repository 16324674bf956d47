"""What a newcomer gets wrong when training: each is a clear error naming the argument, raised
before any compile, or a warning where the run itself went wrong."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_course as jc
from jaxopt_course import data, models, training

X = jnp.linspace(-1.0, 1.0, 12).reshape(-1, 1)
Y = 2.0 * X + 1.0
PARAMS, APPLY = models.linear(None, 1)
LOSS = models.supervised_loss(APPLY)
KEY = jax.random.PRNGKey(0)


def _fit(**changes):
    arguments = dict(
        loss_fn=LOSS,
        params=PARAMS,
        optimizer=jc.sgd(0.1),
        data=(X, Y),
        batch_size=4,
        num_epochs=2,
        key=KEY,
        progress=False,
    )
    arguments.update(changes)
    return jc.fit(**arguments)


def test_plan_for_other_data_is_refused():
    """A Plan whose num_samples differs from the data is refused, naming both counts."""
    plan = training.make_plan(10, 4, num_epochs=1)
    with pytest.raises(ValueError, match=r"num_samples=10 but data has 12 rows"):
        training.train(LOSS, PARAMS, jc.sgd(0.1), (X, Y), KEY, plan)
    trainer = training.make_train(LOSS, plan)
    with pytest.raises(ValueError, match=r"num_samples=10 but data has 12 rows"):
        trainer.advance(trainer.init(PARAMS, jc.sgd(0.1), KEY), jc.sgd(0.1), (X, Y), 1)


def test_targets_of_another_shape_are_refused():
    """[N] targets against [N, 1] predictions would broadcast to [N, N]: refused by shape."""
    with pytest.raises(ValueError, match=r"predictions have shape \(4, 1\) but targets have shape \(4,\)"):
        _fit(data=(X, Y.reshape(-1)))


@pytest.mark.parametrize(
    "key",
    [None, 0, np.int64(3), jnp.zeros(3, jnp.uint32), jnp.zeros(2, jnp.float32)],
    ids=["None", "int", "np.int64", "uint32[3]", "float[2]"],
)
def test_key_must_be_a_prng_key(key):
    """key=None, an int or an array that is no key is refused, naming key and both key kinds."""
    with pytest.raises(
        TypeError, match=r"key must be a PRNG key, jax.random.PRNGKey\(seed\) or jax.random.key\(seed\)"
    ):
        _fit(key=key)


def test_typed_keys_are_accepted():
    """A typed key from jax.random.key trains as well as a raw PRNGKey."""
    history = _fit(key=jax.random.key(0), sampling="single_batch", num_epochs=None, num_steps=30)
    assert float(history.step_loss[-1]) < 0.2 * float(history.step_loss[0])


def test_uncalled_factory_and_strings_are_refused():
    """optimizer=jc.sgd (the factory) says to call it; a string is refused too."""
    with pytest.raises(TypeError, match=r"got the function 'sgd': call it"):
        _fit(optimizer=jc.sgd)
    with pytest.raises(TypeError, match="optimizer must be an optax.GradientTransformation"):
        _fit(optimizer="adam")


def test_loss_returning_a_vector_is_refused():
    """A loss_fn that returns per-sample losses (not their mean) is refused by name."""
    with pytest.raises(ValueError, match=r"loss_fn must return a scalar.*shape \(4, 1\)"):
        _fit(loss_fn=lambda params, batch: (APPLY(params, batch[0]) - batch[1]) ** 2)


def test_bare_array_data_and_uneven_eval_data_are_refused():
    """data must be a pair (x, y); eval_data whose x and y differ in length is named."""
    with pytest.raises(ValueError, match=r"data must be a pair \(x, y\)"):
        _fit(data=X)
    with pytest.raises(ValueError, match=r"eval_data: .*leading length"):
        _fit(eval_data=(X, Y[:5]))


def test_integer_parameters_are_refused():
    """Integer parameters cannot move under a gradient step: refused, naming the leaf."""
    with pytest.raises(ValueError, match=r"params\['w'\] has dtype int32; parameters must be floating point"):
        _fit(params={"w": jnp.zeros((1, 1), jnp.int32), "b": jnp.zeros((1,))})


@pytest.mark.parametrize("num_samples", [0, -3, 2.5, True])
def test_plan_needs_samples(num_samples):
    """make_plan(num_samples=0) (or a non-integer count) is refused by name."""
    with pytest.raises(ValueError, match="num_samples must be a positive integer"):
        training.make_plan(num_samples, 1, num_epochs=1)


def test_numpy_integer_counts_are_accepted():
    """np.int64 steps, epochs, batch sizes and patience are valid counts."""
    plan = training.make_plan(np.int64(12), np.int64(4), num_epochs=np.int64(2))
    assert plan.num_steps == 6 and type(plan.num_samples) is int
    history = _fit(
        batch_size=np.int64(4),
        num_epochs=None,
        num_steps=np.int64(6),
        eval_data=(X, Y),
        early_stopping=training.EarlyStopping(patience=np.int64(2)),
    )
    assert history.step_loss.shape == (6,)
    folds = data.kfold((X, Y), np.int64(3))
    assert folds[0][0].shape[0] == 3
    assert data.d2l_linear(KEY, np.int64(5))[0].shape == (5, 2)


def test_diverging_run_under_early_stopping_is_flagged():
    """Early stopping that keeps a diverged run's 'best' parameters says so."""
    with pytest.warns(RuntimeWarning) as caught:
        history = _fit(
            optimizer=jc.sgd(3.0), num_epochs=6, eval_data=(X, Y), early_stopping=training.EarlyStopping(patience=2)
        )
    messages = " ".join(str(w.message) for w in caught)
    assert "no epoch improved on the initial parameters" in messages
    assert float(history.eval_loss[int(history.best_epoch)]) > 100 * float(history.initial_eval_loss)


def test_healthy_run_under_early_stopping_is_quiet(recwarn):
    """A run that improves on its start raises no divergence warning."""
    _fit(optimizer=jc.sgd(0.1), num_epochs=4, eval_data=(X, Y), early_stopping=training.EarlyStopping(patience=2))
    assert not [w for w in recwarn if "improved" in str(w.message)]


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: models.mlp(KEY, 0, [4, 1]), "in_features must be a positive integer"),
        (lambda: models.mlp(KEY, 1, [2.5, 1]), "widths must be a non-empty sequence of positive integers"),
        (lambda: models.mlp(KEY, 1, []), "widths must be a non-empty sequence"),
        (lambda: models.mlp(KEY, 1, 4), "widths must be a non-empty sequence"),
        (lambda: models.linear(None, 0), "in_features must be a positive integer"),
        (lambda: data.d2l_linear(KEY, 10, noise_scale=float("nan")), "noise_scale must be a finite number >= 0"),
        (lambda: data.bowl(KEY, 10, noise_scale=-1.0), "noise_scale must be a finite number >= 0"),
    ],
)
def test_models_and_data_refuse_bad_sizes(build, message):
    """Models and data generators refuse sizes and noise that would give NaNs or truncation."""
    with pytest.raises(ValueError, match=message):
        build()


def test_make_train_checks_its_options():
    """make_train names a missing eval_data, a wrong plan and a bad progress interval."""
    plan = training.make_plan(12, 4, num_epochs=1)
    with pytest.raises(ValueError, match="early_stopping needs eval_data"):
        training.make_train(LOSS, plan, early_stopping=training.EarlyStopping())
    with pytest.raises(TypeError, match="plan must be a Plan"):
        training.make_train(LOSS, {"batch_size": 4})
    with pytest.raises(ValueError, match="progress_every must be an integer >= 0"):
        training.make_train(LOSS, plan, progress_every=-1)
    with pytest.raises(TypeError, match="loss_fn must be a function"):
        training.make_train("mse", plan)
