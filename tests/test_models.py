"""``models.mlp`` and ``models.batch_norm_mlp`` start exactly where Flax's ``module.init`` does."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from compiles import compiles

from jaxopt_course import models


def same(a, b) -> bool:
    return jax.tree.structure(a) == jax.tree.structure(b) and all(
        np.array_equal(x, y) and x.dtype == y.dtype for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


@pytest.mark.parametrize(
    "in_features, widths, options",
    [
        (1, [32] * 10 + [1], {"activation": "sigmoid"}),
        (2, (8, 1), {}),
        (1, (32, 32, 1), {"dropout_rate": 0.5}),
        (3, (16, 16, 16, 2), {"residual": True}),
    ],
    ids=["deep", "e4", "dropout", "residual"],
)
def test_mlp_params_equal_flax_init_bit_for_bit(in_features, widths, options):
    params, _ = models.mlp(jax.random.PRNGKey(3), in_features, widths, **options)
    module = models.MLP(
        tuple(widths),
        options.get("activation", "relu"),
        options.get("dropout_rate", 0.0),
        residual=options.get("residual", False),
    )
    assert same(params, module.init(jax.random.PRNGKey(3), jnp.zeros((1, in_features)))["params"])


def test_batch_norm_mlp_equals_flax_init_with_a_typed_key():
    params, model_state, _ = models.batch_norm_mlp(jax.random.key(7), 1, [32] * 4 + [1])
    reference = models.MLP(tuple([32] * 4 + [1]), "relu", 0.0, batch_norm=True).init(
        jax.random.key(7), jnp.zeros((2, 1))
    )
    assert same(params, reference["params"]) and same(model_state, reference["batch_stats"])


def test_batch_norm_mlp_builds_inside_a_jit_and_twice():
    """Inside a trace the start values are the same numbers (nothing traced is kept for later)."""
    traced = jax.jit(lambda k: models.batch_norm_mlp(k, 1, (4, 1))[:2])(jax.random.PRNGKey(5))
    eager = models.batch_norm_mlp(jax.random.PRNGKey(5), 1, (4, 1))[:2]
    assert same(traced, eager) and same(models.batch_norm_mlp(jax.random.PRNGKey(5), 1, (4, 1))[:2], eager)


def test_the_same_architecture_again_reuses_the_draw_program():
    """A second build of one dense layout (dropout and batch norm are not part of it) compiles nothing."""
    models.batch_norm_mlp(jax.random.PRNGKey(0), 1, (5, 6, 1))
    with compiles() as compiled:
        models.mlp(jax.random.PRNGKey(1), 1, (5, 6, 1), dropout_rate=0.2)
        models.batch_norm_mlp(jax.random.PRNGKey(2), 1, (5, 6, 1))
    assert compiled == []


@pytest.mark.parametrize("key", [None, 0, jnp.zeros(3, jnp.uint32)], ids=["none", "int", "wrong_shape"])
def test_a_bad_key_is_refused_by_name_before_any_work(key):
    with pytest.raises(TypeError, match="key must be a PRNG key"):
        models.mlp(key, 1, (4, 1))
    with pytest.raises(TypeError, match="key must be a PRNG key"):
        models.batch_norm_mlp(key, 1, (4, 1))


def test_vectorised_draws_refuses_fewer_keys_than_draws():
    """Indexing past the last key would silently draw twice from it."""
    keys = jax.random.split(jax.random.PRNGKey(0), 1)
    with pytest.raises(ValueError, match="1 keys and 2 specs"):
        models.vectorised_draws(lambda k, shape: jax.random.uniform(k, shape), keys, [((2,),), ((2,),)])
