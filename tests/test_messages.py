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
    with pytest.raises(ValueError, match=r"one-hot labels: pass labels\.argmax\(axis=-1\), or use optax\.softmax_cross_entropy"):
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
