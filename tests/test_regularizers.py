"""Clipping against optax and torch (edge cases included), weight decay, L1 and masks."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_course as jc
from jaxopt_course import regularizers
from jaxopt_course.conventions import variants

CLIP_CASES = {
    "norm 5, max 1": ({"a": jnp.array([3.0, 0.0]), "b": jnp.array([0.0, 4.0])}, 1.0),
    "tiny norm 0.01, max 0.001": ({"a": jnp.array([0.006, 0.0]), "b": jnp.array([0.0, 0.008])}, 0.001),
    "norm equal to max": ({"a": jnp.array([0.6, 0.0]), "b": jnp.array([0.0, 0.8])}, 1.0),
    "below max": ({"a": jnp.array([0.3, 0.0]), "b": jnp.array([0.0, 0.4])}, 1.0),
    "matrix leaves": ({"w": jnp.arange(6.0).reshape(2, 3) - 2.5, "b": jnp.array([1.5])}, 2.0),
    "all-zero gradients": ({"a": jnp.zeros(2), "b": jnp.zeros(2)}, 1.0),
    "norm 1e-8, max 1e-9 (torch's 1e-6 dominates)": ({"a": jnp.array([6e-9, 0.0]), "b": jnp.array([0.0, 8e-9])}, 1e-9),
}


@pytest.mark.parametrize("case", list(CLIP_CASES))
def test_clip_by_global_norm_matches_optax(case):
    """optax's form: unchanged below the threshold, scaled to it at or above."""
    grads, max_norm = CLIP_CASES[case]
    ours = regularizers.clip_by_global_norm(max_norm).update(grads, None)[0]
    reference = optax.clip_by_global_norm(max_norm).update(grads, optax.EmptyState())[0]
    chex.assert_trees_all_close(ours, reference, rtol=2e-7, atol=0)


@pytest.mark.parametrize("case", list(CLIP_CASES))
def test_clip_by_global_norm_torch_matches_torch(case):
    """torch's clip_grad_norm_: the 1e-6 in the denominator, a multiply every time."""
    torch = pytest.importorskip("torch")
    grads, max_norm = CLIP_CASES[case]
    tensors = [torch.zeros(np.shape(g), requires_grad=True) for g in jax.tree.leaves(grads)]
    for tensor, g in zip(tensors, jax.tree.leaves(grads)):
        tensor.grad = torch.tensor(np.asarray(g))
    torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    ours = jax.tree.leaves(regularizers.clip_by_global_norm_torch(max_norm).update(grads, None)[0])
    for tensor, got in zip(tensors, ours):
        np.testing.assert_allclose(np.asarray(got), tensor.grad.numpy(), rtol=2e-7, atol=0)


def test_torch_clip_differs_from_optax_where_numerics_say():
    """At a norm of 0.01 torch's clip is 1e-4 relative low; at the threshold it still scales by 1/(1+1e-6)."""
    grads, max_norm = CLIP_CASES["tiny norm 0.01, max 0.001"]
    torch_form = regularizers.clip_by_global_norm_torch(max_norm).update(grads, None)[0]["a"][0]
    optax_form = regularizers.clip_by_global_norm(max_norm).update(grads, None)[0]["a"][0]
    assert float(torch_form / optax_form) == pytest.approx(1 - 1e-4, abs=2e-6)


def test_clip_by_value_matches_torch():
    """Element-wise clipping equals torch's clip_grad_value_."""
    torch = pytest.importorskip("torch")
    g = jnp.array([-3.0, -0.5, 0.0, 0.7, 9.0])
    tensor = torch.zeros(5, requires_grad=True)
    tensor.grad = torch.tensor(np.asarray(g))
    torch.nn.utils.clip_grad_value_([tensor], 0.6)
    np.testing.assert_array_equal(regularizers.clip_by_value(0.6).update(g, None)[0], tensor.grad.numpy())


def test_add_l2_is_torch_weight_decay():
    """add_l2 before SGD is torch's SGD(weight_decay=λ): the Appendix A fixture."""
    p = jnp.array([1.0, -2.0, 0.5])
    optimizer = optax.chain(regularizers.add_l2(0.1), jc.sgd(0.1))
    state, path = optimizer.init(p), []
    for g in ([0.1, -0.2, 0.3], [0.4, 0.1, -0.5], [-0.3, 0.2, 0.05]):
        updates, state = optimizer.update(jnp.array(g), state, p)
        p = optax.apply_updates(p, updates)
        path.append(p)
    np.testing.assert_allclose(path[-1], [0.95089805, -1.950896, 0.50024647], atol=2e-7)


def test_decoupled_decay_shrinks_by_lr_times_lambda():
    """A zero step leaves p · (1 - ηλ): additive and torch's multiplicative float32 factor."""
    p = jnp.array([3.0, -1.0])
    zero = jnp.zeros(2)
    for decay in (regularizers.decoupled_weight_decay(1e-2, 1e-3), variants.torch_decoupled_decay(1e-2, 1e-3)):
        updates, _ = decay.update(zero, decay.init(p), p)
        np.testing.assert_allclose(optax.apply_updates(p, updates), p * (1 - 1e-5), rtol=1e-7)
    # the factor torch applies is float32(1 - 1e-5) = 0.99998999..., which this reproduces exactly
    decay = variants.torch_decoupled_decay(1e-2, 1e-3)
    updates, _ = decay.update(zero, decay.init(p), p)
    np.testing.assert_array_equal(optax.apply_updates(p, updates), p * np.float32(1 - 1e-5))


def test_decoupled_decay_follows_a_schedule():
    """The decay uses the learning rate of its own step: η_t from the schedule."""
    decay = regularizers.decoupled_weight_decay(0.5, lambda step: 0.1 * (step + 1))
    p, state = jnp.ones(1), decay.init(jnp.ones(1))
    for expected in (0.05, 0.1, 0.15):
        updates, state = decay.update(jnp.zeros(1), state, p)
        np.testing.assert_allclose(-updates, expected, rtol=1e-6)


def test_l1_adds_the_sign():
    """add_l1: g + λ sign(p), 0 at p = 0."""
    p = jnp.array([2.0, 0.0, -0.1])
    updates, _ = regularizers.add_l1(0.3).update(jnp.zeros(3), None, p)
    np.testing.assert_allclose(updates, [0.3, 0.0, -0.3])


def test_masks_leave_biases_alone():
    """A boolean pytree or a callable mask: masked-out leaves pass through untouched."""
    params = {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}}
    grads = jax.tree.map(jnp.zeros_like, params)
    for mask in (regularizers.exclude_biases, {"dense": {"kernel": True, "bias": False}}):
        for transform in (regularizers.add_l2(0.5, mask=mask), regularizers.add_l1(0.5, mask=mask)):
            updates, _ = transform.update(grads, transform.init(params), params)
            assert jnp.all(updates["dense"]["kernel"] == 0.5) and jnp.all(updates["dense"]["bias"] == 0.0)
        decay = regularizers.decoupled_weight_decay(0.5, 0.1, mask=mask)
        updates, _ = decay.update(grads, decay.init(params), params)
        assert jnp.all(updates["dense"]["kernel"] < 0) and jnp.all(updates["dense"]["bias"] == 0.0)
    with pytest.raises(ValueError, match="mask must have the params' tree structure"):
        regularizers.add_l2(0.5, mask={"dense": True}).update(grads, None, params)


def test_hyperparameters_may_be_traced_and_are_checked_when_concrete():
    """vmap over a clip threshold works; negative or zero thresholds are refused by name."""
    g = {"a": jnp.array([3.0, 4.0])}
    clipped = jax.vmap(lambda c: regularizers.clip_by_global_norm(c).update(g, None)[0]["a"])(jnp.array([1.0, 10.0]))
    np.testing.assert_allclose(clipped, [[0.6, 0.8], [3.0, 4.0]], rtol=1e-6)
    for build, name in [
        (lambda: regularizers.clip_by_global_norm(0.0), "max_norm"),
        (lambda: regularizers.clip_by_global_norm_torch(-1.0), "max_norm"),
        (lambda: regularizers.clip_by_value(-1.0), "max_delta"),
        (lambda: regularizers.add_l1(-0.1), "weight_decay"),
        (lambda: regularizers.decoupled_weight_decay(0.1, -1.0), "learning_rate"),
    ]:
        with pytest.raises(ValueError, match=f"^{name} must be"):
            build()
