"""The digits images shipped with the package: shape, dtype, classes, pixels, the first image."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxopt_course import data

CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]  # digits 0..9
FIRST_IMAGE = [  # the file's first row, a 0
    [0, 0, 5, 13, 9, 1, 0, 0],
    [0, 0, 13, 15, 10, 15, 5, 0],
    [0, 3, 15, 2, 0, 11, 8, 0],
    [0, 4, 12, 0, 0, 8, 8, 0],
    [0, 5, 8, 0, 0, 9, 8, 0],
    [0, 4, 11, 0, 1, 12, 7, 0],
    [0, 2, 14, 5, 10, 12, 0, 0],
    [0, 0, 6, 13, 10, 0, 0, 0],
]


def test_digits_shape_dtype_and_class_counts():
    """1797 images of 64 float32 pixels, int32 labels, each class with its known count."""
    x, y = data.load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(np.asarray(y), minlength=10), CLASS_COUNTS)


def test_digits_pixels_are_the_integers_0_to_16_and_scale_divides_by_16():
    """Unscaled pixels are integers in 0..16 (both ends reached); scale=True divides them by 16."""
    x, _ = data.load_digits()
    pixels = np.asarray(x)
    assert pixels.min() == 0.0 and pixels.max() == 16.0
    np.testing.assert_array_equal(pixels, np.round(pixels))
    scaled, _ = data.load_digits(scale=True)
    np.testing.assert_array_equal(np.asarray(scaled), pixels / 16.0)
    with pytest.raises(ValueError, match="scale"):
        data.load_digits(scale=16)


def test_digits_first_image_is_the_known_zero():
    """The first row is the file's first image, a 0, read row by row."""
    x, y = data.load_digits()
    assert int(y[0]) == 0
    np.testing.assert_array_equal(np.asarray(x[0]).reshape(8, 8), FIRST_IMAGE)


def test_digits_split_is_deterministic_and_a_partition():
    """train_test_split of the digits: the same key gives the same split, covering every image once."""
    x, y = data.load_digits()
    labelled = (np.asarray(x), np.arange(len(y)))
    (train_x, train_rows), (test_x, test_rows) = data.train_test_split(labelled, 0.2, jax.random.PRNGKey(0))
    (_, again_rows), _ = data.train_test_split(labelled, 0.2, jax.random.PRNGKey(0))
    assert len(test_rows) == round(0.2 * 1797)
    np.testing.assert_array_equal(train_rows, again_rows)
    np.testing.assert_array_equal(np.sort(np.concatenate([train_rows, test_rows])), np.arange(1797))
    np.testing.assert_array_equal(train_x, np.asarray(x)[train_rows])
