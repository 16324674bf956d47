"""The keras, d2l and optax conventions against the frameworks' own numbers.

The expected trajectories are the ones measured on Keras 3.15, d2l and optax 0.2.8 (docs/conventions.md
describes the fixture): p0 = [1, -2, 0.5] and the fixed gradients G1..G3.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import trajectories

import jaxopt_course as jc
from jaxopt_course.conventions import d2l, keras
from jaxopt_course.conventions import optax_compat as optax_convention
from jaxopt_course.conventions import pytorch as torch_convention

P0 = jnp.array([1.0, -2.0, 0.5])
GRADS = [jnp.array([0.1, -0.2, 0.3]), jnp.array([0.4, 0.1, -0.5]), jnp.array([-0.3, 0.2, 0.05])]

APPENDIX_A = {
    "keras sgd wd": (
        lambda: keras.sgd(0.1, weight_decay=0.1),
        [[0.98000002, -1.96, 0.465], [0.93019998, -1.9504, 0.51034999], [0.95089799, -1.950896, 0.50024652]],
    ),
    "keras sgd momentum": (
        lambda: keras.sgd(0.1, momentum=0.9),
        [[0.99, -1.98, 0.47], [0.941, -1.972, 0.493], [0.9269, -1.9848, 0.5087]],
    ),
    "keras sgd nesterov": (
        lambda: keras.sgd(0.1, momentum=0.9, nesterov=True),
        [[0.981, -1.962, 0.443], [0.8969, -1.9648, 0.5137], [0.91421, -1.99632, 0.52283]],
    ),
    "keras rmsprop": (
        lambda: keras.rmsprop(0.01),
        [
            [0.96837878, -1.9683776, 0.46837741],
            [0.93760967, -1.9831216, 0.49585986],
            [0.9568904, -2.0052891, 0.49297503],
        ],
    ),
    "keras adadelta": (
        lambda: keras.adadelta(),
        [[0.99999857, -1.9999986, 0.4999986], [0.9999966, -1.9999995, 0.5000003], [0.99999827, -2.000001, 0.50000006]],
    ),
    "keras adam": (
        lambda: keras.adam(0.1),
        [
            [0.90000379, -1.9000022, 0.4000017],
            [0.81156772, -1.8733692, 0.42935738],
            [0.79389709, -1.9006385, 0.44650534],
        ],
    ),
    "keras adam eps 1e-8": (
        lambda: keras.adam(0.1, epsilon=1e-8),
        [
            [0.90000099, -1.9000008, 0.40000078],
            [0.81156433, -1.8733674, 0.42935658],
            [0.79389358, -1.900637, 0.44650462],
        ],
    ),
    "keras adam eps-hat": (
        lambda: keras.adam(0.1, epsilon=0.1),
        [
            [0.99693465, -1.9940517, 0.49133524],
            [0.98673421, -1.9922935, 0.49590498],
            [0.98428124, -1.9946553, 0.4985815],
        ],
    ),
    "d2l adagrad": (
        lambda: d2l.adagrad(0.1),
        [
            [0.90000498, -1.9000013, 0.40000057],
            [0.80299103, -1.9447222, 0.48574975],
            [0.86182576, -2.0113885, 0.4772062],
        ],
    ),
    "d2l adadelta": (
        lambda: d2l.adadelta(0.9),
        [
            [0.9900496, -1.9900125, 0.49000555],
            [0.97632736, -1.996595, 0.50229084],
            [0.98816979, -2.0072911, 0.50060695],
        ],
    ),
    "d2l adam": (
        lambda: d2l.adam(0.1),
        [
            [0.90000099, -1.9000005, 0.40000033],
            [0.81156367, -1.873367, 0.42935637],
            [0.79389292, -1.9006364, 0.44650441],
        ],
    ),
    "d2l momentum": (
        lambda: d2l.sgd(0.1, momentum=0.9),
        [[0.99, -1.98, 0.47], [0.941, -1.972, 0.493], [0.9269, -1.9848, 0.5087]],
    ),
    "optax adagrad": (
        lambda: optax_convention.adagrad(0.1),
        [
            [0.96984887, -1.9465477, 0.43117529],
            [0.89286888, -1.9723676, 0.50655311],
            [0.94286889, -2.0182507, 0.49903664],
        ],
    ),
    "optax rmsprop": (
        lambda: optax_convention.rmsprop(0.01),
        [
            [0.96837741, -1.9683772, 0.46837723],
            [0.93760818, -1.9831214, 0.49585971],
            [0.95688891, -2.0052888, 0.49297488],
        ],
    ),
    "optax adam": (
        lambda: optax_convention.adam(0.1),
        [
            [0.90000069, -1.9000007, 0.40000066],
            [0.81156397, -1.8733673, 0.42935649],
            [0.79389322, -1.9006369, 0.44650453],
        ],
    ),
    "optax adamw": (
        lambda: optax_convention.adamw(0.1, weight_decay=0.1),
        [
            [0.89000064, -1.8800007, 0.39500067],
            [0.79266387, -1.8345673, 0.42040649],
            [0.76706648, -1.8434912, 0.43335047],
        ],
    ),
    "torch adamw": (
        lambda: torch_convention.adamw(0.1, weight_decay=0.1),
        [[0.88999999, -1.88, 0.39500001], [0.79266238, -1.8345662, 0.42040613], [0.76706493, -1.8434904, 0.43335018]],
    ),
    "torch adagrad lr_decay": (
        lambda: torch_convention.adagrad(0.1, lr_decay=0.5),
        [[0.89999998, -1.9, 0.40000001], [0.83532381, -1.9298142, 0.45716619], [0.86474121, -1.9631475, 0.45289442]],
    ),
}


def trajectory(optimizer, params=P0, grads=GRADS):
    state, path = optimizer.init(params), []
    for g in grads:
        updates, state = optimizer.update(g, state, params)
        params = optax.apply_updates(params, updates)
        path.append(params)
    return jnp.stack(path)


@pytest.mark.parametrize("case", list(APPENDIX_A))
def test_matches_framework_three_step_fixture(case):
    """Each convention reproduces the framework's measured three-step trajectory."""
    factory, expected = APPENDIX_A[case]
    chex.assert_trees_all_close(trajectory(factory()), jnp.array(expected), rtol=0, atol=5e-7)


def test_keras_course_numbers():
    """The course's Keras examples: lr 0.1 on var²/2 from 1.0 gives 0.9; momentum steps 0.1, 0.18."""
    var = jnp.array(1.0)
    (after,) = trajectory(keras.sgd(0.1), var, [var])
    assert float(after) == pytest.approx(0.9, abs=1e-7)
    optimizer, state, path = keras.sgd(0.1, momentum=0.9), None, [var]
    state = optimizer.init(var)
    for _ in range(2):
        updates, state = optimizer.update(path[-1], state, path[-1])  # gradient of var²/2 is var
        path.append(optax.apply_updates(path[-1], updates))
    steps = -np.diff(np.array(path))
    np.testing.assert_allclose(steps, [0.1, 0.18], atol=1e-7)


def test_keras_sgd_keeps_the_learning_rate_inside_the_buffer():
    """Under a schedule Keras accumulates already-scaled steps; torch scales the whole buffer."""
    schedule = lambda step: jnp.where(step < 1, 1.0, 0.1)  # noqa: E731
    grads = [jnp.array(1.0), jnp.array(1.0)]
    keras_path = trajectory(keras.sgd(schedule, momentum=0.9), jnp.array(0.0), grads)
    torch_path = trajectory(torch_convention.sgd(schedule, momentum=0.9), jnp.array(0.0), grads)
    # Keras: m = 0.9·(-1) - 0.1 = -1.0 on step 2; torch: p -= 0.1·(0.9 + 1) = -0.19.
    np.testing.assert_allclose(keras_path, [-1.0, -2.0], atol=1e-6)
    np.testing.assert_allclose(torch_path, [-1.0, -1.19], atol=1e-6)


def test_hand_computed_first_steps():
    """First steps from the formulas: SGD -ηg; AdaGrad (torch) -η sign(g); Adam -η g/(|g|+ε)."""
    g = jnp.array([0.5, -2.0])
    p = jnp.zeros(2)

    def first_update(optimizer):
        return optimizer.update(g, optimizer.init(p), p)[0]

    np.testing.assert_allclose(first_update(jc.sgd(0.1)), -0.1 * g, rtol=1e-7)
    np.testing.assert_allclose(first_update(torch_convention.adagrad(0.1)), -0.1 * jnp.sign(g), rtol=1e-6)
    np.testing.assert_allclose(first_update(jc.adagrad(0.1, 0.0, 0.0)), -0.1 * jnp.sign(g), rtol=1e-6)
    np.testing.assert_allclose(first_update(jc.adam(0.1)), -0.1 * g / (jnp.abs(g) + 1e-8), rtol=1e-6)
    # RMSProp, v0 = 0: v1 = (1-γ) g², so the step is η / sqrt(1-γ) per coordinate.
    np.testing.assert_allclose(
        first_update(torch_convention.rmsprop(0.01)), -0.01 * jnp.sign(g) / np.sqrt(0.01), rtol=1e-5
    )
    # AdaDelta: Δx0 = 0, s1 = (1-ρ) g², step = sqrt(ε)/sqrt(s1+ε) g.
    expected = -np.sqrt(1e-6) / np.sqrt(0.1 * np.asarray(g) ** 2 + 1e-6) * np.asarray(g)
    np.testing.assert_allclose(first_update(jc.adadelta(1.0, 0.9, 1e-6)), expected, rtol=1e-5)


def test_every_convention_exposes_the_same_names():
    """optax, torch, keras and d2l each expose sgd, adagrad, rmsprop, adadelta, adam and adamw."""
    from jaxopt_course import conventions

    for namespace in (conventions.optax_compat, conventions.pytorch, conventions.keras, conventions.d2l):
        for name in ("sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw"):
            assert callable(getattr(namespace, name)), (namespace.__name__, name)
    with pytest.raises(NotImplementedError, match="no AdamW"):
        d2l.adamw(0.1)


def test_optax_convention_matches_optax_over_many_steps():
    """conventions.optax_compat.adam and .adamw follow optax's float32 arithmetic over 200 steps
    (both as one jitted scan each: the gradients are the noise, whatever the parameters)."""
    noise = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (200, 3)))
    still = np.zeros(3, np.float32)  # no curvature: g_t = noise_t
    for ours, reference in [
        (optax_convention.adam(1e-2), optax.adam(1e-2)),
        (optax_convention.adamw(1e-2, weight_decay=0.1), optax.adamw(1e-2, weight_decay=0.1)),
        (optax_convention.rmsprop(1e-2, centered=True, momentum=0.9), optax.rmsprop(1e-2, centered=True, momentum=0.9)),
    ]:
        chex.assert_trees_all_close(
            trajectories.jax_trajectory(ours, P0, noise, still),
            trajectories.jax_trajectory(reference, P0, noise, still),
            rtol=1e-5,
            atol=1e-6,
        )


AMSGRAD_GRADS = [jnp.array(g) for g in ([1.0, -2.0, 0.5], [0.01, 0.02, -0.01], [0.02, -0.01, 0.01], [0.01, 0.01, 0.01])]


def test_keras_amsgrad_matches_keras_fixture():
    """Keras Adam(0.1, epsilon=1e-8, amsgrad=True): Keras's measured 4 steps (raw-moment maximum, ε̂)."""
    expected = [
        [0.90000069, -1.9000007, 0.40000072],
        [0.83228493, -1.8337731, 0.33451739],
        [0.77868867, -1.782285, 0.28264594],
        [0.734227, -1.7404209, 0.23901528],
    ]
    got = trajectory(keras.adam(0.1, epsilon=1e-8, amsgrad=True), P0, AMSGRAD_GRADS)
    # 4 steps, a tenfold drop in |g| after step 1: 5.4e-7 measured (a few float32 ulps); optax's
    # corrected-moment variant is 6.5e-2 away, torch's float64 corrections 2.1e-6
    chex.assert_trees_all_close(got, jnp.array(expected), rtol=0, atol=1e-6)


# Keras configured like torch, against torch's measured rows (docs/conventions.md); the
# tolerance is the measured torch-vs-Keras gap of the matched configuration (ε inside the root).
TORCH_ROWS = {
    "Adagrad": [
        [0.89999998, -1.9, 0.40000001],
        [0.80298573, -1.9447213, 0.4857493],
        [0.86182058, -2.0113881, 0.47720572],
    ],
    "RMSprop centered": [
        [0.89949632, -1.8994963, 0.39949626],
        [0.80173451, -1.9444412, 0.48541147],
        [0.86081702, -2.011482, 0.47681096],
    ],
    "RMSprop momentum": [
        [0.9000001, -1.9000001, 0.40000004],
        [0.71295738, -1.8549014, 0.39586306],
        [0.60365844, -1.8813137, 0.38354218],
    ],
    "AdamW": [
        [0.88999999, -1.88, 0.39500001],
        [0.79266238, -1.8345662, 0.42040613],
        [0.76706493, -1.8434904, 0.43335018],
    ],
}
KERAS_LIKE_TORCH = {
    "Adagrad": (lambda: keras.adagrad(0.1, initial_accumulator_value=0.0, epsilon=1e-10), 1e-6),
    "RMSprop centered": (lambda: keras.rmsprop(0.01, rho=0.99, epsilon=1e-8, centered=True), 6e-6),
    "RMSprop momentum": (lambda: keras.rmsprop(0.01, rho=0.99, momentum=0.9, epsilon=1e-8), 1.5e-5),
    "AdamW": (lambda: keras.adamw(0.1, weight_decay=0.1, epsilon=1e-8), 2.5e-6),
}


@pytest.mark.parametrize("case", list(KERAS_LIKE_TORCH))
def test_keras_configured_like_torch_lands_on_torch(case):
    """keras.adagrad, centered and momentum rmsprop, and adamw agree with torch within the measured framework gap."""
    factory, tolerance = KERAS_LIKE_TORCH[case]
    got = np.asarray(trajectory(factory()))
    gap = np.abs(got - np.array(TORCH_ROWS[case])).max()
    assert gap <= tolerance, (case, gap)


def test_d2l_rmsprop_is_the_formula():
    """d2l's rmsprop by hand: s = γ s + (1-γ) g², p -= η g / sqrt(s + ε), ε = 1e-6 inside the root."""
    p, s, expected = np.array(P0, np.float64), np.zeros(3), []
    for g in GRADS:
        g = np.asarray(g, np.float64)
        s = 0.9 * s + 0.1 * g**2
        p = p - 0.01 * g / np.sqrt(s + 1e-6)
        expected.append(p.copy())
    np.testing.assert_allclose(np.asarray(trajectory(d2l.rmsprop(0.01, 0.9))), expected, rtol=0, atol=1e-6)


def test_conventions_pass_at_most_two_positional_arguments_to_the_package():
    """Inside conventions/, every call of one of the package's factories names its arguments
    after the first two (a long positional list hides which option is which)."""
    import ast
    from pathlib import Path

    import jaxopt_course
    from jaxopt_course import optimizers, regularizers, schedules
    from jaxopt_course.conventions import variants

    ours = set(optimizers.__all__) | set(schedules.__all__) | {n for n in dir(variants) if not n.startswith("__")}
    ours |= {n for n in dir(regularizers) if not n.startswith("_")} | {"scale_by_learning_rate"}
    ours |= {f"_{name}" for name in ours} | {"adam", "sgd", "rmsprop", "adagrad", "adadelta", "adamw", "amsgrad"}
    ours -= {"jax", "jnp", "optax", "np", "otu", "annotations", "NamedTuple", "numbers"}
    ours = {name for name in ours if "check" not in name}  # argument checks are not factories
    folder = Path(jaxopt_course.__file__).parent / "conventions"
    offenders = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
                owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else None
                if name in ours and owner not in ("jnp", "jax", "np", "optax", "_optax", "math") and len(node.args) > 2:
                    offenders.append(f"{path.name}:{node.lineno} {name}")
    assert not offenders, offenders
