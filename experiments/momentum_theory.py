"""Momentum's theory, measured: the best (learning rate, momentum) on an ill-conditioned quadratic.

On ``f(x) = 0.1 x1² + 2 x2²`` (E10; Hessian diag(0.2, 4), so μ = 0.2, L = 4, κ = 20) a fine grid of
learning rates × momenta runs as one sweep; each cell's convergence rate is the per-step
contraction of ``‖x_t‖`` over the tail of the run.  Theory for quadratics:

* gradient descent: best step ``2/(μ+L)``, rate ``(κ-1)/(κ+1)``; stable for ``η < 2/L``;
* heavy ball (Polyak): best ``η = 4/(√L+√μ)²`` and ``β = ((√κ-1)/(√κ+1))²``, rate ``(√κ-1)/(√κ+1)``;
  stable for ``0 <= β < 1`` and ``η < 2(1+β)/L``.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxopt_course as jc
from experiments._common import parse_args, write_results
from jaxopt_course import plotting
from jaxopt_course.sweeps import sweep


@dataclasses.dataclass(frozen=True)
class Config:
    curvatures: tuple[float, float] = (0.2, 4.0)  # the Hessian of 0.1 x1² + 2 x2²
    start: tuple[float, float] = (-5.0, -2.0)
    num_learning_rates: int = 60
    num_momenta: int = 50
    max_learning_rate: float = 1.0
    max_momentum: float = 0.9
    num_steps: int = 400
    tail: int = 100  # slow cells: the rate over the last `tail` steps
    reduction: float = 1e-6  # fast cells: the rate is reduction^(1/steps to reach it)


def theory(cfg: Config) -> dict:
    mu, big_l = cfg.curvatures
    kappa = big_l / mu
    return {
        "gd_learning_rate": 2.0 / (mu + big_l),
        "gd_rate": (kappa - 1.0) / (kappa + 1.0),
        "gd_stable_below": 2.0 / big_l,
        "heavy_ball_learning_rate": 4.0 / (math.sqrt(big_l) + math.sqrt(mu)) ** 2,
        "heavy_ball_momentum": ((math.sqrt(kappa) - 1.0) / (math.sqrt(kappa) + 1.0)) ** 2,
        "heavy_ball_rate": (math.sqrt(kappa) - 1.0) / (math.sqrt(kappa) + 1.0),
        "kappa": kappa,
    }


def make_run_fn(cfg: Config):
    curvature = jnp.asarray(cfg.curvatures, jnp.float32)

    def run_fn(hparams, key):
        del key
        optimizer = jc.sgd(hparams["learning_rate"], hparams["momentum"])

        def step(carry, _):
            x, state = carry
            updates, state = optimizer.update(curvature * x, state, x)  # ∇f = diag(μ, L) x
            x = optax.apply_updates(x, updates)
            return (x, state), jnp.linalg.norm(x)

        x0 = jnp.asarray(cfg.start, jnp.float32)
        _, norms = jax.lax.scan(step, (x0, optimizer.init(x0)), None, length=cfg.num_steps)
        # fast cells: the step at which ‖x‖ first falls below 1e-6 ‖x0‖ (before float32 underflows);
        # slow cells never get there: the contraction over the last `tail` steps instead
        reached = norms <= cfg.reduction * jnp.linalg.norm(x0)
        hit = jnp.argmax(reached) + 1
        fast = jnp.exp(jnp.log(cfg.reduction) / hit)
        slow = jnp.exp((jnp.log(norms[-1]) - jnp.log(norms[-1 - cfg.tail])) / cfg.tail)
        rate = jnp.where(jnp.any(reached), fast, slow)
        return {"rate": jnp.where(jnp.isfinite(rate), rate, jnp.inf)}

    return run_fn


def run(cfg: Config) -> dict:
    learning_rates = np.linspace(
        cfg.max_learning_rate / cfg.num_learning_rates, cfg.max_learning_rate, cfg.num_learning_rates
    )
    momenta = np.linspace(0.0, cfg.max_momentum, cfg.num_momenta)
    result = sweep(
        make_run_fn(cfg),
        {"learning_rate": learning_rates, "momentum": momenta},
        key=jax.random.PRNGKey(0),
        progress=False,
    )
    rates = result.final("rate")
    best = result.best("rate")
    gd = result.select(momentum=0.0)
    gd_best = gd.best("rate")
    return {
        "result": result,
        "rates": rates,
        "best": best,
        "gd": gd,
        "gd_best": gd_best,
        "theory": theory(cfg),
        "learning_rates": learning_rates,
        "momenta": momenta,
    }


def plot(results: dict, cfg: Config) -> dict:
    t, best = results["theory"], results["best"]
    lrs, momenta = results["learning_rates"], results["momenta"]
    table = results["rates"].reshape(len(lrs), len(momenta)).T
    figure, axes = plotting.new_figure(1, 2, width=6.4, height=4.8)
    ax = axes[0, 0]
    shown = np.where(np.isfinite(table) & (table < 1.0), table, np.nan)
    image = ax.pcolormesh(lrs, momenta, shown, cmap="magma", shading="nearest", vmin=np.nanmin(shown), vmax=1.0)
    ax.set_facecolor("#bdbdbd")
    figure.colorbar(image, ax=ax).set_label("measured rate ‖x_{t+1}‖/‖x_t‖ (grey: diverges)")
    ax.contour(lrs, momenta, shown, levels=[0.7, 0.8, 0.9, 0.95], colors="white", linewidths=0.7)
    boundary = np.linspace(0, cfg.max_momentum, 100)
    ax.plot(
        2 * (1 + boundary) / cfg.curvatures[1],
        boundary,
        "--",
        color="#2ca02c",
        linewidth=2,
        label="stability edge η = 2(1+β)/L",
    )
    ax.plot(
        t["heavy_ball_learning_rate"],
        t["heavy_ball_momentum"],
        "*",
        color="#17becf",
        markersize=18,
        markeredgecolor="black",
        label=f"theory: η={t['heavy_ball_learning_rate']:.3f}, β={t['heavy_ball_momentum']:.3f}",
    )
    ax.plot(
        best["learning_rate"],
        best["momentum"],
        "o",
        color="white",
        markersize=9,
        markeredgecolor="black",
        label=f"measured: η={best['learning_rate']:.3f}, β={best['momentum']:.3f}",
    )
    ax.set_xlim(lrs[0], lrs[-1])
    ax.set_ylim(momenta[0], momenta[-1])
    plotting.label_axes(
        ax, xlabel="learning rate η", ylabel="momentum β", title=f"heavy ball on 0.1x₁² + 2x₂² (κ = {t['kappa']:.0f})"
    )
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)

    ax = axes[0, 1]
    gd = results["gd"]
    ax.plot(
        gd.grid["learning_rate"],
        np.minimum(gd.final("rate"), 1.5),
        "o",
        color=plotting.PALETTE[0],
        markersize=4,
        label="measured, β = 0",
    )
    eta = np.linspace(lrs[0], lrs[-1], 400)
    mu, big_l = cfg.curvatures
    ax.plot(
        eta,
        np.maximum(np.abs(1 - eta * mu), np.abs(1 - eta * big_l)),
        color=plotting.PALETTE[0],
        label="theory max(|1−ημ|, |1−ηL|)",
    )
    ax.axhline(
        t["gd_rate"], color=plotting.PALETTE[0], linestyle=":", label=f"best GD rate (κ−1)/(κ+1) = {t['gd_rate']:.3f}"
    )
    ax.axhline(
        t["heavy_ball_rate"],
        color=plotting.PALETTE[1],
        linestyle="--",
        label=f"best heavy-ball rate (√κ−1)/(√κ+1) = {t['heavy_ball_rate']:.3f}",
    )
    ax.axhline(
        best["score"],
        color=plotting.PALETTE[1],
        linewidth=0.8,
        label=f"measured best with momentum = {best['score']:.3f}",
    )
    ax.axvline(t["gd_learning_rate"], color="#7f7f7f", linewidth=0.8, linestyle=":")
    ax.set_ylim(0.5, 1.5)
    plotting.label_axes(
        ax,
        xlabel="learning rate η",
        ylabel="rate per step (1 = no progress)",
        title="gradient descent (β = 0) against theory",
        legend=True,
    )
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    figure.suptitle(
        f"Momentum's theory on a quadratic: measured optimum η={best['learning_rate']:.3f}, β={best['momentum']:.3f}; "
        f"Polyak's η={t['heavy_ball_learning_rate']:.3f}, β={t['heavy_ball_momentum']:.3f}",
        fontsize=12,
    )
    return {"momentum_theory": figure}


CAPTIONS = {
    "momentum_theory": "A fine (learning rate, momentum) sweep of heavy-ball gradient descent on the ill-conditioned quadratic. The measured best cell sits on Polyak's optimum and its rate approaches (√κ−1)/(√κ+1), far below plain gradient descent's (κ−1)/(κ+1); beyond the dashed edge the iteration diverges."
}


def main(argv=None) -> int:
    args = parse_args(argv, "momentum_theory", "momentum's convergence-rate theory, measured by a sweep")
    cfg = Config()
    if args.quick:
        cfg = dataclasses.replace(cfg, num_learning_rates=30, num_momenta=24, num_steps=300)
    results = run(cfg)
    t, best, gd_best = results["theory"], results["best"], results["gd_best"]
    metrics = {
        "theory": t,
        "measured_best": best,
        "measured_gd_best": gd_best,
        "configurations": results["result"].num_configurations,
    }
    summary = (
        f"Over {results['result'].num_configurations} (η, β) cells the fastest is η = {best['learning_rate']:.3f}, β = {best['momentum']:.3f} "
        f"(theory {t['heavy_ball_learning_rate']:.3f}, {t['heavy_ball_momentum']:.3f}) with rate {best['score']:.3f} per step "
        f"(theory {t['heavy_ball_rate']:.3f}); plain gradient descent is best at η = {gd_best['learning_rate']:.3f} "
        f"(theory {t['gd_learning_rate']:.3f}) with rate {gd_best['score']:.3f} (theory {t['gd_rate']:.3f})."
    )
    write_results(args.out, config=cfg, metrics=metrics, figures=plot(results, cfg), summary=summary)
    print(summary)
    return 0
