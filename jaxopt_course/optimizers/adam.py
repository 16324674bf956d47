"""Adam, AMSGrad and AdamW: momentum and RMSProp together, with bias correction.

The blocks here hold the published algorithms.  Framework variants (Keras's ε̂, float32 bias
corrections, AMSGrad's maximum over the raw moment, torch's multiplicative decay) are small named
pieces in ``jaxopt_course.conventions.variants``, passed in by keyword; docs/conventions.md lists
which framework uses which.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from optax import tree_utils as otu

from jaxopt_course.base import ArrayLike, ScalarOrSchedule
from jaxopt_course.checks import check_decay, check_range, check_same_structure
from jaxopt_course.hyperparams import hyperparameters
from jaxopt_course.learning_rate import scale_by_learning_rate
from jaxopt_course.numerics import abs_sq, as_float32, bias_correction, one_minus_and_log, safe_increment
from jaxopt_course.regularizers import decoupled_weight_decay

# (v̂, ε, ε_root, 1 - β2^t) -> the denominator of the step
Denominator = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]


def accurate_correction(beta: ArrayLike, count: jax.Array) -> jax.Array:
    """``1 - β^t = -expm1(t log β)``, accurate to float32 rounding for β close to 1."""
    _, log_beta = one_minus_and_log(beta)
    return bias_correction(log_beta, count)


class Rounding(NamedTuple):
    """How ``1 - β`` (the moving-average weight) and ``1 - β^t`` (the bias correction) are formed."""

    one_minus: Callable[[ArrayLike], jax.Array]  # β -> 1 - β, float32
    correction: Callable[[ArrayLike, jax.Array], jax.Array]  # (β, t) -> 1 - β^t, float32


# 1 - β exact for the float32 β, and the corrections accurate to float32 rounding
ACCURATE = Rounding(one_minus=lambda beta: one_minus_and_log(beta)[0], correction=accurate_correction)


def adam_denominator(v_hat, eps, eps_root, correction2):
    """Kingma and Ba: ``sqrt(v̂ + ε_root) + ε``."""
    del correction2
    return jnp.sqrt(v_hat + eps_root) + eps


class ScaleByAdamState(NamedTuple):
    """State of :func:`scale_by_adam`."""

    count: jax.Array  # int32 scalar: updates taken; t = count + 1 in the bias corrections
    mu: optax.Updates  # m_t, first moment (moving average of g), in mu_dtype
    nu: optax.Updates  # v_t, second moment (moving average of |g|²)


class ScaleByAmsgradState(NamedTuple):
    """State of :func:`scale_by_amsgrad`."""

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates
    nu_max: optax.Updates  # running maximum of the second moment


def _check_adam(b1, b2, eps, eps_root):
    check_decay("b1", b1)
    check_decay("b2", b2)
    check_range("eps", eps, low=0.0)
    check_range("eps_root", eps_root, low=0.0)


def _moments(updates, state, b1, b2, rounding):
    """``m_t = β1 m + (1-β1) g`` and ``v_t = β2 v + (1-β2) |g|²``, each in its state's dtype."""
    c1, c2 = rounding.one_minus(b1), rounding.one_minus(b2)
    mu = jax.tree.map(lambda g, m: (m + c1 * (g - m)).astype(m.dtype), updates, state.mu)
    nu = jax.tree.map(lambda g, v: (as_float32(b2) * v + c2 * abs_sq(g)).astype(v.dtype), updates, state.nu)
    return mu, nu


def _first_moment_hat(mu, updates, b1, count, bc1, rounding, nesterov):
    """``m̂_t = m_t / (1 - β1^t)``, or NAdam's look-ahead ``β1 m_t / (1 - β1^{t+1}) + (1 - β1) g_t / (1 - β1^t)``."""
    if not nesterov:
        return jax.tree.map(lambda m: m / bc1, mu)
    bc1_next, c1 = rounding.correction(b1, safe_increment(count)), rounding.one_minus(b1)
    return jax.tree.map(lambda m, g: as_float32(b1) * m / bc1_next + c1 * g / bc1, mu, updates)


def _second_moment_hat(nu, nu_max, bc2, maximum):
    """``(v̂_t, new running maximum)``: ``v_t / (1 - β2^t)`` for Adam (no maximum: None); for
    AMSGrad the v̂ that ``maximum(v̂_max, v_t, 1 - β2^t)`` returns beside the maximum, kept in
    the maximum's dtype."""
    if maximum is None:
        return jax.tree.map(lambda v: v / bc2, nu), None
    pairs = jax.tree.map(lambda vm, v: maximum(vm, v, bc2), nu_max, nu)
    new_max = jax.tree.map(lambda _, pair, vm: pair[0].astype(vm.dtype), nu, pairs, nu_max)
    return jax.tree.map(lambda _, pair: pair[1], nu, pairs), new_max


def _adam_transform(b1, b2, eps, eps_root, mu_dtype, *, nesterov, rounding, denominator, maximum):
    """Adam's direction, and AMSGrad's when ``maximum`` (see :func:`scale_by_amsgrad`) is given:
    the same moments, corrections and denominator, with a running maximum of the second moment."""
    name = "Adam" if maximum is None else "AMSGrad"

    def init_fn(params):
        state = ScaleByAdamState(
            count=jnp.zeros([], jnp.int32),
            mu=otu.tree_zeros_like(params, dtype=mu_dtype),
            nu=otu.tree_zeros_like(params),
        )
        return state if maximum is None else ScaleByAmsgradState(*state, nu_max=otu.tree_zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        check_same_structure(updates, state.mu, f"{name} moments built by init()")
        mu, nu = _moments(updates, state, b1, b2, rounding)
        count = safe_increment(state.count)
        bc1, bc2 = rounding.correction(b1, count), rounding.correction(b2, count)
        m_hat = _first_moment_hat(mu, updates, b1, count, bc1, rounding, nesterov)
        v_hat, nu_max = _second_moment_hat(nu, None if maximum is None else state.nu_max, bc2, maximum)
        e, e_root = as_float32(eps), as_float32(eps_root)
        direction = jax.tree.map(
            lambda m, v, g: (m / denominator(v, e, e_root, bc2)).astype(g.dtype), m_hat, v_hat, updates
        )
        moments = ScaleByAdamState(count=count, mu=mu, nu=nu)
        return direction, moments if maximum is None else ScaleByAmsgradState(*moments, nu_max=nu_max)

    return optax.GradientTransformation(init_fn, update_fn)


@hyperparameters
def scale_by_adam(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    rounding: Rounding = ACCURATE,
    denominator: Denominator = adam_denominator,
) -> optax.GradientTransformation:
    """Adam's direction (Kingma and Ba, Algorithm 1).

    .. math::
        m_t = β_1 m_{t-1} + (1 - β_1) g_t, \\qquad v_t = β_2 v_{t-1} + (1 - β_2) |g_t|^2

        \\hat m_t = m_t / (1 - β_1^t), \\qquad \\hat v_t = v_t / (1 - β_2^t)

        d_t = \\hat m_t / (\\sqrt{\\hat v_t + ε_{root}} + ε)

    With ``nesterov`` (Dozat's NAdam) ``m̂_t = β_1 m_t / (1 - β_1^{t+1}) + (1 - β_1) g_t / (1 - β_1^t)``.
    ``|g|² = g · conj(g)`` for complex parameters.

    Args:
      b1: β1 in [0, 1).
      b2: β2 in [0, 1).
      eps: ε >= 0, outside the root.
      eps_root: ε_root >= 0, inside the root.
      mu_dtype: dtype of the first moment (None: the parameters'); the second moment keeps the
        parameters' dtype, and so does the state across updates.
      nesterov: NAdam's look-ahead first moment.
      rounding: how ``1 - β`` and ``1 - β^t`` are formed; accurate to float32 rounding by default
        (``conventions.variants.float32_rounding`` is optax's and Keras's arithmetic; see
        docs/conventions.md).
      denominator: ``(v̂, ε, ε_root, 1 - β2^t) -> denominator`` (Keras's ε̂ is one; see
        ``conventions.variants``).

    References:
      Kingma, Ba, "Adam: A method for stochastic optimization", 2015.
      Dozat, "Incorporating Nesterov momentum into Adam", 2016.
    """
    _check_adam(b1, b2, eps, eps_root)
    return _adam_transform(
        b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, rounding=rounding, denominator=denominator, maximum=None
    )


def corrected_maximum(nu_max, nu, correction2):
    """optax's AMSGrad maximum: over the *corrected* moments, ``v̂_max = max(v̂_max, v_t / (1-β2^t))``.

    Returns ``(new running maximum, the v̂ the step divides by)``."""
    new_max = jnp.maximum(nu_max, nu / correction2)
    return new_max, new_max


@hyperparameters
def scale_by_amsgrad(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
    *,
    rounding: Rounding = ACCURATE,
    denominator: Denominator = adam_denominator,
    maximum: Callable = corrected_maximum,
) -> optax.GradientTransformation:
    """AMSGrad's direction (Reddi, Kale, Kumar): Adam whose denominator never shrinks.

    .. math::
        \\hat v^{max}_t = \\max(\\hat v^{max}_{t-1}, v_t / (1 - β_2^t)), \\qquad
        d_t = \\hat m_t / (\\sqrt{\\hat v^{max}_t + ε_{root}} + ε)

    with m_t, v_t and m̂_t as in :func:`scale_by_adam`.  ``maximum`` chooses the moment the maximum
    runs over: the corrected one by default; ``conventions.variants.raw_maximum`` keeps
    ``max(v_t)`` and corrects afterwards (torch, Keras).  The two agree while the maximum is the
    current value.

    References:
      Reddi, Kale, Kumar, "On the convergence of Adam and beyond", 2018.
    """
    _check_adam(b1, b2, eps, eps_root)
    return _adam_transform(
        b1, b2, eps, eps_root, mu_dtype, nesterov=False, rounding=rounding, denominator=denominator, maximum=maximum
    )


@hyperparameters
def adam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    amsgrad: bool = False,
) -> optax.GradientTransformation:
    """Adam: ``p_{t+1} = p_t - η_t m̂_t / (sqrt(v̂_t) + ε)``; see :func:`scale_by_adam`.

    optax's signature and defaults; the bias corrections are accurate to float32 rounding
    (``conventions.optax_compat.adam`` rounds them in float32 as optax does).

    Args:
      learning_rate: η: a number >= 0, an array, or a schedule ``step -> η``.
      b1, b2, eps, eps_root, mu_dtype, nesterov: see :func:`scale_by_adam`.
      amsgrad: use :func:`scale_by_amsgrad` (no nesterov then).

    Returns:
      An ``optax.GradientTransformation``.

    Example:
      >>> import jax.numpy as jnp, optax, jaxopt_course as jc
      >>> opt = optax.chain(optax.clip_by_global_norm(1.0), jc.adam(0.1))
      >>> p = jnp.array([1.0, -2.0])
      >>> u, _ = opt.update(p, opt.init(p))
      >>> [round(float(x), 4) for x in optax.apply_updates(p, u)]
      [0.9, -1.9]

    References:
      Kingma, Ba, 2015.
    """
    if amsgrad and nesterov:
        raise ValueError("amsgrad=True and nesterov=True cannot be combined; choose one")
    if amsgrad:
        direction = scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype)
    else:
        direction = scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov)
    return optax.chain(direction, scale_by_learning_rate(learning_rate))


@hyperparameters
def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
) -> optax.GradientTransformation:
    """AMSGrad: :func:`scale_by_amsgrad` followed by the learning-rate step.

    References:
      Reddi, Kale, Kumar, 2018.
    """
    return optax.chain(scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype), scale_by_learning_rate(learning_rate))


@hyperparameters
def adamw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
    weight_decay: ArrayLike = 1e-4,
    mask=None,
    *,
    nesterov: bool = False,
    amsgrad: bool = False,
) -> optax.GradientTransformation:
    """AdamW: Adam with weight decay decoupled from the gradient.

    .. math::
        p_{t+1} = p_t - η_t \\left( \\hat m_t / (\\sqrt{\\hat v_t} + ε) + λ p_t \\right)

    The decay λ p never enters the moments (compare L2 regularisation, where λ p is added to g).

    Args:
      learning_rate: η: a number >= 0, an array, or a schedule.
      weight_decay: λ >= 0 (optax 1e-4; torch 1e-2; Keras 0.004).
      mask: a pytree of booleans like the params, or a callable params -> such pytree: the
        leaves that decay (biases are usually left out).
      b1, b2, eps, eps_root, mu_dtype, nesterov, amsgrad: see :func:`adam`.

    Note:
      As in optax, torch and Keras, the decay is multiplied by the *scheduled* learning rate; the
      paper multiplies it by the schedule's multiplier only.

    References:
      Loshchilov, Hutter, "Decoupled weight decay regularization", 2019.
    """
    adam_step = adam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, amsgrad=amsgrad)
    return optax.chain(adam_step, decoupled_weight_decay(weight_decay, learning_rate, mask=mask))
