"""Adam, AMSGrad and AdamW: momentum and RMSProp together, with bias correction."""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax
from optax import tree_utils as otu

from jaxopt_course.base import ArrayLike, ScalarOrSchedule
from jaxopt_course.checks import check_decay, check_range, check_same_structure
from jaxopt_course.learning_rate import scale_by_learning_rate
from jaxopt_course.numerics import as_float32, bias_correction, one_minus_and_log, one_minus_in_double, safe_increment
from jaxopt_course.regularizers import decoupled_weight_decay

BiasCorrection = Literal["accurate", "float32"]
AmsgradMax = Literal["corrected", "raw"]


class ScaleByAdamState(NamedTuple):
    """State of :func:`scale_by_adam`."""

    count: jax.Array  # int32 scalar: updates taken; t = count + 1 in the bias corrections
    mu: optax.Updates  # m_t, first moment (moving average of g)
    nu: optax.Updates  # v_t, second moment (moving average of g²)
    nu_max: optax.Updates  # running maximum for AMSGrad; () when amsgrad=False


def _corrections(b1, b2, t, precision: BiasCorrection):
    """``(1 - β1^t, 1 - β2^t)``: accurately, or as float32 powers (optax, Keras)."""
    if precision == "float32":
        return 1.0 - as_float32(b1) ** t, 1.0 - as_float32(b2) ** t
    (_, log_b1), (_, log_b2) = one_minus_and_log(b1), one_minus_and_log(b2)
    return bias_correction(log_b1, t), bias_correction(log_b2, t)


def scale_by_adam(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    *,
    amsgrad: bool = False,
    amsgrad_max: AmsgradMax = "corrected",
    eps_hat: bool = False,
    bias_correction_precision: BiasCorrection = "accurate",
) -> optax.GradientTransformation:
    """Adam's direction (Kingma and Ba, Algorithm 1), with AMSGrad and Keras's ε̂ as options.

    .. math::
        m_t = β_1 m_{t-1} + (1 - β_1) g_t, \\qquad v_t = β_2 v_{t-1} + (1 - β_2) g_t^2

        \\hat m_t = m_t / (1 - β_1^t), \\qquad \\hat v_t = v_t / (1 - β_2^t)

        d_t = \\hat m_t / (\\sqrt{\\hat v_t + ε_{root}} + ε)

    With ``amsgrad`` the denominator uses a running maximum of the second moment instead:
    ``amsgrad_max="corrected"`` (optax) keeps ``max(v̂_t)``; ``"raw"`` (torch, Keras, the paper)
    keeps ``max(v_t)`` and bias-corrects afterwards.  The two agree only while the maximum is
    the current value.  With ``eps_hat`` (Keras, TensorFlow) ε is added to the *uncorrected*
    root: ``d_t = m_t \\sqrt{1 - β_2^t} / (1 - β_1^t) / (\\sqrt{v_t} + ε)``.

    Args:
      b1: β1 in [0, 1).
      b2: β2 in [0, 1).
      eps: ε >= 0, outside the root.
      eps_root: ε_root >= 0, inside the root (optax's; no torch counterpart).
      amsgrad: use AMSGrad's running maximum.
      amsgrad_max: which second moment the maximum is taken over, "corrected" or "raw".
      eps_hat: Keras's ε̂ placement.
      bias_correction_precision: "accurate" computes ``1 - β^t = -expm1(t log β)`` with log β in
        double for a Python float (what torch and d2l get from Python doubles); "float32"
        computes ``1 - β^t`` in float32 as optax and Keras do (a 1.3e-5 relative error for
        β2 = 0.999: NUMERICS.md §5.1).

    References:
      Kingma, Ba, "Adam: A method for stochastic optimization", 2015.
      Reddi, Kale, Kumar, "On the convergence of Adam and beyond", 2018 (AMSGrad).
    """
    check_decay("b1", b1)
    check_decay("b2", b2)
    check_range("eps", eps, low=0.0)
    check_range("eps_root", eps_root, low=0.0)
    if amsgrad_max not in ("corrected", "raw"):
        raise ValueError(f"amsgrad_max must be 'corrected' or 'raw'; got {amsgrad_max!r}")
    if bias_correction_precision not in ("accurate", "float32"):
        raise ValueError(f"bias_correction_precision must be 'accurate' or 'float32'; got {bias_correction_precision!r}")

    def init_fn(params):
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32),
            mu=otu.tree_zeros_like(params),
            nu=otu.tree_zeros_like(params),
            nu_max=otu.tree_zeros_like(params) if amsgrad else (),
        )

    def update_fn(updates, state, params=None):
        del params
        check_same_structure(updates, state.mu, "Adam moments built by init()")
        if bias_correction_precision == "float32":  # optax's and Keras's arithmetic, as it is
            c1, c2 = one_minus_in_double(b1), one_minus_in_double(b2)
        else:
            (c1, _), (c2, _) = one_minus_and_log(b1), one_minus_and_log(b2)
        beta2 = as_float32(b2)
        count = safe_increment(state.count)
        bc1, bc2 = _corrections(b1, b2, count, bias_correction_precision)
        mu = jax.tree.map(lambda g, m: m + c1 * (g - m), updates, state.mu)
        nu = jax.tree.map(lambda g, v: beta2 * v + c2 * (g * g), updates, state.nu)
        nu_max = state.nu_max
        if amsgrad and amsgrad_max == "corrected":
            nu_max = jax.tree.map(lambda vm, v: jnp.maximum(vm, v / bc2), state.nu_max, nu)
            v_hat = nu_max
            v_raw = jax.tree.map(lambda vm: vm * bc2, nu_max)
        else:
            if amsgrad:
                nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu)
            v_raw = nu_max if amsgrad else nu
            v_hat = jax.tree.map(lambda v: v / bc2, v_raw)
        epsilon, epsilon_root = as_float32(eps), as_float32(eps_root)
        if eps_hat:
            scale = jnp.sqrt(bc2) / bc1
            direction = jax.tree.map(lambda m, v: scale * m / (jnp.sqrt(v + epsilon_root) + epsilon), mu, v_raw)
        else:
            direction = jax.tree.map(lambda m, v: (m / bc1) / (jnp.sqrt(v + epsilon_root) + epsilon), mu, v_hat)
        updates = jax.tree.map(lambda d, g: d.astype(g.dtype), direction, updates)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu, nu_max=nu_max)

    return optax.GradientTransformation(init_fn, update_fn)


def adam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    amsgrad: bool = False,
    *,
    amsgrad_max: AmsgradMax = "corrected",
    eps_hat: bool = False,
    bias_correction_precision: BiasCorrection = "accurate",
) -> optax.GradientTransformation:
    """Adam: ``p_{t+1} = p_t - η_t m̂_t / (sqrt(v̂_t) + ε)``; see :func:`scale_by_adam`.

    Defaults follow optax, except that the bias corrections are accurate to float32 rounding by
    default (``bias_correction_precision="float32"`` gives optax's exact numbers).

    Args:
      learning_rate: η: a number >= 0, an array, or a schedule ``step -> η``.
      b1, b2, eps, eps_root, amsgrad, amsgrad_max, eps_hat, bias_correction_precision: see
        :func:`scale_by_adam`.

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
    direction = scale_by_adam(
        b1,
        b2,
        eps,
        eps_root,
        amsgrad=amsgrad,
        amsgrad_max=amsgrad_max,
        eps_hat=eps_hat,
        bias_correction_precision=bias_correction_precision,
    )
    return optax.chain(direction, scale_by_learning_rate(learning_rate))


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    weight_decay: ArrayLike = 1e-4,
    amsgrad: bool = False,
    *,
    mask=None,
    multiplicative_decay: bool = False,
    amsgrad_max: AmsgradMax = "corrected",
    eps_hat: bool = False,
    bias_correction_precision: BiasCorrection = "accurate",
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
      multiplicative_decay: torch's form ``p ← p · float32(1 - η_t λ)`` before the Adam step,
        instead of subtracting ``η_t λ p`` (NUMERICS.md §2.4: the float32 factor changes the
        decay by up to 0.14%).
      b1, b2, eps, eps_root, amsgrad, amsgrad_max, eps_hat, bias_correction_precision: see
        :func:`scale_by_adam`.

    Note:
      As in optax, torch and Keras, the decay is multiplied by the *scheduled* learning rate; the
      paper multiplies it by the schedule's multiplier only.

    References:
      Loshchilov, Hutter, "Decoupled weight decay regularization", 2019.
    """
    adam_step = adam(
        learning_rate,
        b1,
        b2,
        eps,
        eps_root,
        amsgrad,
        amsgrad_max=amsgrad_max,
        eps_hat=eps_hat,
        bias_correction_precision=bias_correction_precision,
    )
    decay = decoupled_weight_decay(weight_decay, learning_rate, multiplicative=multiplicative_decay, mask=mask)
    return optax.chain(adam_step, decay)
