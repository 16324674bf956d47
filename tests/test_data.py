"""The course's data sets follow their formulas; splits and folds partition the data."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import data


def test_parabola_is_the_course_draw():
    """E3: x = linspace(-5, 5, N), y = 0.3x² + numpy's seed-0 standard normal noise."""
    x, y = data.parabola(numpy_seed=0)
    assert x.shape == y.shape == (1000, 1)
    expected_noise = np.random.RandomState(0).randn(1000)
    x, y = np.asarray(x), np.asarray(y)  # float32 arithmetic in numpy, not an eager compile per operation
    np.testing.assert_allclose(y[:, 0] - 0.3 * x[:, 0] ** 2, expected_noise, atol=1e-5)
    np.testing.assert_allclose(x[[0, -1], 0], [-5.0, 5.0])


def test_bowl_line_and_d2l_follow_their_formulas():
    """E4/E5, E7 and E8: the residual of each formula is noise of the stated scale."""

    @jax.jit  # the three draws and their residuals as one program, not an eager compile per operation
    def statistics(key):
        xy, z = data.bowl(key, 4000, noise_scale=3.0)
        bowl = z[:, 0] - (xy[:, 0] ** 2 + 2 * xy[:, 1] ** 2)
        x, y = data.line(key, 4000)
        line = y - 2 * x - 3
        x, y = data.d2l_linear(key)
        d2l = y[:, 0] - (x @ jnp.array(data.D2L_TRUE_W) + data.D2L_TRUE_B)
        residuals = (bowl, line, d2l)
        return xy.min(), xy.max(), [jnp.mean(r) for r in residuals], [jnp.std(r) for r in residuals]

    low, high, means, (bowl, line, d2l) = statistics(jax.random.PRNGKey(0))
    assert 0.0 <= float(low) and float(high) <= 1.0
    assert abs(float(bowl) - 3.0) < 0.15
    assert abs(float(line) - 1.0) < 0.05
    assert float(d2l) == pytest.approx(0.01, rel=0.1)
    # the residuals are centred: 4 standard errors of a mean over 4000, 4000 and 1000 draws (a shifted
    # intercept or a wrong term of the formula moves them)
    for name, mean, bound in zip(
        ("bowl", "line", "d2l"), means, (4 * 3.0 / 4000**0.5, 4 / 4000**0.5, 4 * 0.01 / 1000**0.5)
    ):
        assert abs(float(mean)) < bound, (name, float(mean), bound)
    x, y = data.three_points()
    np.testing.assert_allclose(y, 2 * x)


def test_train_test_split_partitions_the_samples():
    """A split is a partition: sizes round(f·N) and N - that, no sample in both."""
    ids = jnp.arange(100.0).reshape(-1, 1)
    (train_x, _), (test_x, _) = data.train_test_split((ids, ids), 0.2, jax.random.PRNGKey(0))
    assert train_x.shape == (80, 1) and test_x.shape == (20, 1)
    assert sorted(np.concatenate([train_x, test_x])[:, 0].tolist()) == list(range(100))


def test_split_is_the_keys_permutation_and_keeps_the_array_kind():
    """Test rows are the first round(f·N) of ``jax.random.permutation(key, N)``, the rest train;
    JAX arrays come back as JAX arrays (float32), numpy arrays as numpy."""
    key = jax.random.PRNGKey(5)
    order = np.asarray(jax.random.permutation(key, 10))
    x = jnp.arange(20.0).reshape(10, 2)
    labels = np.arange(10) * 7
    (train_x, train_labels), (test_x, test_labels) = data.train_test_split((x, labels), 0.3, key)
    np.testing.assert_array_equal(test_x, np.asarray(x)[order[:3]])
    np.testing.assert_array_equal(train_labels, labels[order[3:]])
    assert isinstance(train_x, jax.Array) and train_x.dtype == jnp.float32 and isinstance(test_labels, np.ndarray)
    traced = jax.jit(lambda k, a: data.train_test_split((a, a), 0.3, k))(key, x)  # splits still trace
    np.testing.assert_array_equal(traced[1][0], test_x)
    folds = jax.jit(lambda a: data.kfold((a, a), 5)[1][0])(x)
    np.testing.assert_array_equal(folds, np.asarray(x).reshape(5, 2, 2))


@pytest.mark.parametrize("n,k", [(10, 5), (11, 3)])
def test_kfold_folds_are_disjoint_and_cover_the_data(n, k):
    """Validation folds are disjoint blocks of N//k; each training set is the rest."""
    ids = jnp.arange(float(n)).reshape(-1, 1)
    (train_x, _), (val_x, _) = data.kfold((ids, ids), k, jax.random.PRNGKey(1))
    assert val_x.shape == (k, n // k, 1) and train_x.shape == (k, n - n // k, 1)
    train_x, val_x = np.asarray(train_x), np.asarray(val_x)  # the folds' rows read in numpy, not eagerly
    validated = val_x[..., 0].ravel()
    assert len(set(validated.tolist())) == k * (n // k)
    for i in range(k):
        together = sorted(np.concatenate([train_x[i, :, 0], val_x[i, :, 0]]).tolist())
        assert together == list(range(n))


def test_bad_arguments():
    """Bad sizes, fractions and fold counts raise ValueError naming the argument."""
    with pytest.raises(ValueError, match="num_samples"):
        data.bowl(jax.random.PRNGKey(0), 0)
    with pytest.raises(ValueError, match="test_fraction"):
        data.train_test_split(data.three_points(), 1.5, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="k must be an integer"):
        data.kfold(data.three_points(), 4)
    with pytest.raises(ValueError, match="noise_scale"):
        data.bowl(jax.random.PRNGKey(0), noise_scale=-1.0)
    with pytest.raises(ValueError, match="PRNG key"):
        data.parabola()


def test_splits_refuse_a_bare_array_and_a_key_that_is_not_one():
    """A bare x is not the pair (x, y) (its rows would be taken for arrays), and an int seed is
    not a key: each refused by name before anything is drawn."""
    x = jnp.arange(10.0).reshape(-1, 1)
    with pytest.raises(ValueError, match=r"data must be a pair \(x, y\)"):
        data.train_test_split(x, 0.2, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match=r"data must be a pair \(x, y\)"):
        data.kfold(x, 5)
    with pytest.raises(TypeError, match="key must be a PRNG key"):
        data.train_test_split((x, x), 0.2, 0)
    with pytest.raises(TypeError, match="key must be a PRNG key"):
        data.kfold((x, x), 5, key=3)
