"""The course's data sets (synthetic ones, and the digits images shipped with the package),
splits and K-fold folds.

A data set is a pair ``(x, y)`` of arrays with the same leading length N (one row per sample);
``x`` is ``[N, features]``, float32, and ``y`` is ``[N, 1]`` float32 targets or ``[N]`` int32
class labels.
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_course import compilation
from jaxopt_course.checks import check_count, check_key, is_count

Data = tuple[jax.Array, jax.Array]


def _column(values) -> jax.Array:
    return jnp.asarray(values, jnp.float32).reshape(-1, 1)


def parabola(key: jax.Array | None = None, num_samples: int = 1000, *, numpy_seed: int | None = None) -> Data:
    """E3: ``y = 0.3 x² + ε``, ε ~ N(0, 1), on ``x = linspace(-5, 5, N)``.

    With ``numpy_seed`` the noise is numpy's ``np.random.seed(s); np.random.randn(N)``, the
    course's own draw; otherwise it comes from ``key``.
    """
    check_count("num_samples", num_samples)
    x = np.linspace(-5.0, 5.0, num_samples)
    noise = _noise(key, num_samples, numpy_seed)
    return _column(x), _column(0.3 * x**2 + noise)


def bowl(key: jax.Array, num_samples: int = 1000, *, noise_scale: float = 1.0) -> Data:
    """E4/E5: ``z = x² + 2 y² + s·ε`` with x, y ~ U(0, 1), ε ~ N(0, 1) (s = 1 in E4, 3 in E5)."""
    check_count("num_samples", num_samples)
    _check_noise_scale(noise_scale)
    key_xy, key_noise = jax.random.split(key)
    xy = jax.random.uniform(key_xy, (num_samples, 2))
    z = xy[:, 0] ** 2 + 2.0 * xy[:, 1] ** 2 + noise_scale * jax.random.normal(key_noise, (num_samples,))
    return xy, _column(z)


def line(key: jax.Array, num_samples: int = 100) -> Data:
    """E7: ``y = 2x + 3 + ε`` with x, ε ~ N(0, 1)."""
    check_count("num_samples", num_samples)
    key_x, key_noise = jax.random.split(key)
    x = jax.random.normal(key_x, (num_samples, 1))
    return x, 2.0 * x + 3.0 + jax.random.normal(key_noise, (num_samples, 1))


D2L_TRUE_W = (2.0, -3.4)
D2L_TRUE_B = 4.2


def d2l_linear(key: jax.Array, num_samples: int = 1000, *, noise_scale: float = 0.01) -> Data:
    """E8 (d2l): ``y = X w + b + ε`` with w = [2, -3.4], b = 4.2, X ~ N(0, 1), ε ~ N(0, 0.01²)."""
    check_count("num_samples", num_samples)
    _check_noise_scale(noise_scale)
    key_x, key_noise = jax.random.split(key)
    x = jax.random.normal(key_x, (num_samples, 2))
    y = x @ jnp.array(D2L_TRUE_W) + D2L_TRUE_B + noise_scale * jax.random.normal(key_noise, (num_samples,))
    return x, _column(y)


def three_points() -> Data:
    """E9: x = [1, 2, 3], y = [2, 4, 6] (the line y = 2x)."""
    return _column([1.0, 2.0, 3.0]), _column([2.0, 4.0, 6.0])


DIGITS_FILE = "datasets/digits.csv.gz"  # inside the package; its origin and licence: datasets/LICENSE


def load_digits(*, scale: bool = False) -> Data:
    """The digits images: 1797 handwritten digits, 8×8 pixels each, 10 classes.

    scikit-learn's ``load_digits`` data (the test set of the UCI "Optical Recognition of
    Handwritten Digits" data set), shipped with this package: no download, no scikit-learn.
    Rows come in the file's order (the first image is a 0).  Split them with
    :func:`train_test_split` (deterministic for a given key).

    Args:
      scale: divide the pixels by 16, to [0, 1]; by default they are unscaled.

    Returns:
      ``(x, y)``: ``x`` float32 [1797, 64], each row an image read row by row, pixel values the
      integers 0..16 (divided by 16, in [0, 1], with ``scale=True``); ``y`` int32 [1797], the
      digits 0..9.
    """
    if not isinstance(scale, (bool, np.bool_)):
        raise ValueError(f"scale must be True or False; got {scale!r}")
    pixels, labels = _digits_table()
    x = pixels / np.float32(16.0) if scale else pixels
    return jnp.asarray(x, jnp.float32), jnp.asarray(labels, jnp.int32)


@functools.cache
def _digits_table() -> tuple[np.ndarray, np.ndarray]:
    """The file's pixels (float32 [N, 64]) and labels (int32 [N]), read once per process."""
    with (
        importlib.resources.files("jaxopt_course").joinpath(DIGITS_FILE).open("rb") as packed,
        gzip.open(packed, "rt") as text,
    ):
        table = np.loadtxt(text, delimiter=",", dtype=np.int32)
    pixels, labels = table[:, :-1].astype(np.float32), table[:, -1]
    pixels.flags.writeable = labels.flags.writeable = False  # shared by every call
    return pixels, labels


def num_samples_of(data: Data) -> int:
    """N, after checking that every array of ``data`` has the same leading length."""
    lengths = {np.shape(array)[0] if np.ndim(array) else None for array in data}
    if len(lengths) != 1 or None in lengths:
        shapes = ", ".join(str(np.shape(array)) for array in data)
        raise ValueError(f"data arrays must share their leading length (one row per sample); got shapes {shapes}")
    return lengths.pop()


def check_data(data, name: str = "data") -> int:
    """``data`` is a pair ``(x, y)`` of arrays with one row per sample; returns N."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        shown = f"an array of shape {np.shape(data)}" if hasattr(data, "shape") else f"{type(data).__name__}"
        raise ValueError(f"{name} must be a pair (x, y) of arrays with one row per sample; got {shown}")
    for part, array in zip("xy", data):
        if isinstance(array, (list, tuple)):
            raise TypeError(
                f"{name}'s {part} is a Python {type(array).__name__}; give arrays: {name}=(np.asarray(x), np.asarray(y))"
            )
        dtype = getattr(array, "dtype", None)
        if dtype is None or not (np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.bool_)):
            shown = f"an array of dtype {dtype}" if dtype is not None else f"a {type(array).__name__}"
            raise TypeError(f"{name}'s {part} is {shown}; give numeric arrays (numpy or JAX), one row per sample")
    try:
        count = num_samples_of(data)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    if count == 0:
        raise ValueError(f"{name} has 0 rows: give at least one sample (x and y with one row per sample)")
    return count


def train_test_split(data: Data, test_fraction: float, key: jax.Array) -> tuple[Data, Data]:
    """A random split: ``round(test_fraction · N)`` samples for test, the rest for training."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction!r}")
    n = check_data(data)
    check_key(key)
    num_test = int(round(test_fraction * n))
    if num_test == 0 or num_test == n:
        raise ValueError(f"test_fraction={test_fraction} leaves an empty side of the split for {n} samples")
    order = _permutation(key, n)
    test, train = order[:num_test], order[num_test:]
    return tuple(_rows(a, train) for a in data), tuple(_rows(a, test) for a in data)


def kfold(data: Data, k: int, key: jax.Array | None = None) -> tuple[Data, Data]:
    """K-fold cross-validation folds, stacked on a leading axis of length k, ready for ``vmap``.

    Returns ``(train, validation)``: ``validation[i]`` is the i-th of k disjoint blocks of
    ``N // k`` samples and ``train[i]`` is everything else (``N - N // k`` samples), in the order
    of a permutation drawn from ``key`` (the data's own order without a key).  When k does not
    divide N, the ``N mod k`` leftover samples are never validated on and always trained on, so
    that every fold has the same shape.
    """
    n = check_data(data)
    if key is not None:
        check_key(key)
    if not is_count(k) or k < 2 or k > n:
        raise ValueError(f"k must be an integer in [2, {n}] (the number of samples); got {k!r}")
    order = _permutation(key, n) if key is not None else np.arange(n)
    fold_size = n // k
    validation_idx = order[: k * fold_size].reshape(k, fold_size)
    train_idx = np.stack([np.concatenate([order[: i * fold_size], order[(i + 1) * fold_size :]]) for i in range(k)])
    return tuple(_rows(a, train_idx) for a in data), tuple(_rows(a, validation_idx) for a in data)


@compilation.jit(static_argnums=1)
def _jitted_permutation(key: jax.Array, n: int) -> jax.Array:
    return jax.random.permutation(key, n)


def _permutation(key: jax.Array, n: int):
    """``jax.random.permutation(key, n)``: as one compiled program and on the host (numpy), or,
    inside a trace (a traced key), as the traced permutation itself."""
    if isinstance(key, jax.core.Tracer):
        return jax.random.permutation(key, n)
    return np.asarray(_jitted_permutation(key, n))


def _rows(array, indices):
    """``array[indices]``: the same values, of the same kind (numpy or JAX, on the same device).

    A small array on one device is gathered on the host: a split is a one-off copy, and an eager
    gather on a JAX array compiles several small programs for every new shape.  Traced, sharded or multi-host arrays, and traced indices, use JAX's own gather.
    """
    if isinstance(array, jax.core.Tracer) or isinstance(indices, jax.core.Tracer):
        return array[indices]
    if isinstance(array, jax.Array):
        if not array.is_fully_addressable or len(array.sharding.device_set) != 1:
            return array[indices]
        return jax.device_put(np.asarray(array)[indices], array.sharding)
    return np.asarray(array)[indices]


def _noise(key, num_samples, numpy_seed):
    if numpy_seed is not None:
        return np.random.RandomState(numpy_seed).randn(num_samples)
    if key is None:
        raise ValueError("give a PRNG key, or numpy_seed for the course's own numpy draw")
    return np.asarray(jax.random.normal(key, (num_samples,)))


def _check_noise_scale(noise_scale: float) -> None:
    if (
        isinstance(noise_scale, bool)
        or not isinstance(noise_scale, (int, float, np.integer, np.floating))
        or not (np.isfinite(noise_scale) and noise_scale >= 0)
    ):
        raise ValueError(f"noise_scale must be a finite number >= 0; got {noise_scale!r}")
