"""Figure helpers, each drawing on an ``ax`` it is given.

No helper touches pyplot's global state: experiments make a figure with :func:`new_figure` and
pass its axes here.  Colours follow one palette so an optimiser or a mode keeps its colour across
figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]


def new_figure(rows: int = 1, columns: int = 1, *, width: float = 5.0, height: float = 3.6, **kwargs):
    """A figure of ``rows × columns`` panels, each about ``width × height`` inches, and its axes."""
    figure = Figure(figsize=(width * columns, height * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False, **kwargs)
    return figure, axes


def ewma(values: Sequence[float], beta: float = 0.9) -> np.ndarray:
    """Bias-corrected exponentially weighted moving average ``s_t = β s_{t-1} + (1-β) x_t``.

    The course smooths noisy loss curves this way (E9); NaN values are skipped.
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1); got {beta!r}")
    values = np.asarray(values, dtype=np.float64)
    smoothed, average, weight = np.empty_like(values), 0.0, 0.0
    for t, value in enumerate(values):
        if np.isfinite(value):
            average = beta * average + (1.0 - beta) * value
            weight = beta * weight + (1.0 - beta)
        smoothed[t] = average / weight if weight > 0 else np.nan
    return smoothed


def plot_loss(
    ax,
    losses: Sequence[float],
    *,
    x: Sequence[float] | None = None,
    label: str | None = None,
    color: str | None = None,
    smooth: float | None = None,
    raw_alpha: float = 0.25,
    log: bool = False,
    linewidth: float = 1.6,
) -> None:
    """One loss curve; with ``smooth`` the raw values are drawn faintly under their EWMA."""
    losses = np.asarray(losses, dtype=np.float64)
    x = np.arange(len(losses)) if x is None else np.asarray(x)
    if smooth is not None:
        ax.plot(x, losses, color=color, alpha=raw_alpha, linewidth=0.7)
        ax.plot(x, ewma(losses, smooth), color=color, label=label, linewidth=linewidth)
    else:
        ax.plot(x, losses, color=color, label=label, linewidth=linewidth)
    if log:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3, which="both")


def label_axes(ax, *, xlabel: str, ylabel: str, title: str | None = None, legend: bool = False) -> None:
    """Axis labels, an optional title, and a legend when asked."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(frameon=False)


def is_log_spaced(values: Sequence[float]) -> bool:
    """True for three or more positive values with a constant ratio (a log grid)."""
    values = np.unique(np.asarray(values, dtype=np.float64))
    if len(values) < 3 or np.any(values <= 0):
        return False
    ratios = np.diff(np.log(values))
    return bool(np.allclose(ratios, ratios[0], rtol=1e-2))


def plot_heatmap(
    ax,
    result,
    metric: str | None,
    x: str,
    y: str,
    *,
    log_color: bool = True,
    mark_best: str | None = "min",
    colorbar_label: str | None = None,
):
    """A final metric over two hyper-parameters, one cell per grid value, the best cell starred.

    Cells sit at equal spacing, so a log-spaced grid reads as a log axis (the label says so).
    Cells whose value is NaN or inf (diverged runs) are grey with a ×.  Returns the image.
    """
    from matplotlib.colors import LogNorm, Normalize

    xs, ys = np.unique(result.grid[x]), np.unique(result.grid[y])
    table = np.full((len(ys), len(xs)), np.nan)
    for value, xv, yv in zip(result.final(metric), result.grid[x], result.grid[y]):
        table[np.searchsorted(ys, yv), np.searchsorted(xs, xv)] = value
    finite = np.isfinite(table)
    positive = finite & (table > 0)
    norm = (
        LogNorm(vmin=table[positive].min(), vmax=table[positive].max()) if log_color and positive.any() else Normalize()
    )
    ax.set_facecolor("#d9d9d9")
    image = ax.imshow(
        np.ma.masked_where(~finite, table),
        origin="lower",
        aspect="auto",
        cmap="viridis_r",
        norm=norm,
        interpolation="nearest",
    )
    for j, i in zip(*np.nonzero(~finite)):
        ax.text(i, j, "×", ha="center", va="center", color="#555555", fontsize=10)
    ax.set_xticks(range(len(xs)), [f"{v:.3g}" for v in xs], rotation=45 if len(xs) > 6 else 0)
    ax.set_yticks(range(len(ys)), [f"{v:.3g}" for v in ys])
    ax.set_xlabel(x + (" (log scale)" if is_log_spaced(xs) else ""))
    ax.set_ylabel(y + (" (log scale)" if is_log_spaced(ys) else ""))
    if mark_best:
        best = result.best(metric, mode=mark_best)
        column, row = np.searchsorted(xs, np.float32(best[x])), np.searchsorted(ys, np.float32(best[y]))
        ax.plot(
            column,
            row,
            marker="*",
            markersize=18,
            color="#d62728",
            markeredgecolor="white",
            linestyle="none",
            label=f"best: {x} {best[x]:.3g}, {y} {best[y]:.3g}",
        )
        ax.legend(loc="upper right", frameon=True, fontsize=8)
    colorbar = ax.get_figure().colorbar(image, ax=ax)
    colorbar.set_label(colorbar_label or (metric or "metric"))
    return image


def plot_top_curves(
    ax,
    result,
    metric: str,
    *,
    k: int = 3,
    mode: str = "min",
    x: Sequence[float] | None = None,
    log: bool = True,
    describe=None,
):
    """The k best configurations' curves (mean over seeds) with a min–max band over seeds."""
    scores = result.final(metric)
    ranked = np.where(np.isfinite(scores), scores, np.inf if mode == "min" else -np.inf)
    order = np.argsort(ranked)[:k] if mode == "min" else np.argsort(-ranked)[:k]
    curves = np.asarray(result.metrics[metric] if isinstance(result.metrics, dict) else result.metrics)
    for rank, (index, color) in enumerate(zip(order, PALETTE)):
        seeds = curves[index]
        steps = np.arange(1, seeds.shape[-1] + 1) if x is None else np.asarray(x)
        label = describe(index) if describe else ", ".join(f"{n}={v[index]:.3g}" for n, v in result.grid.items())
        ax.fill_between(steps, np.nanmin(seeds, axis=0), np.nanmax(seeds, axis=0), color=color, alpha=0.2, linewidth=0)
        ax.plot(steps, np.nanmean(seeds, axis=0), color=color, linewidth=1.8, label=f"#{rank + 1}: {label}")
    if log:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(frameon=False, fontsize=8)


def plot_contour_paths(
    ax, f, window, paths: dict, *, levels=30, markers: bool = True, resolution: int = 200, clip=None
):
    """Contours of ``f`` over ``window`` with each optimiser's path drawn on top.

    ``paths`` maps a label to an array ``[steps, 2]``; points outside the window are still drawn
    (the axes keep the window), so a diverging path visibly leaves it.
    """
    import jax
    import jax.numpy as jnp

    (x0, x1), (y0, y1) = window
    xs, ys = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
    zs = np.asarray(jax.vmap(f)(jnp.asarray(grid, jnp.float32))).reshape(xs.shape)
    ax.contour(xs, ys, zs, levels=levels, cmap="Greys", linewidths=0.6, alpha=0.8)
    for (label, path), color in zip(paths.items(), PALETTE):
        path = np.asarray(path)
        ax.plot(path[:, 0], path[:, 1], "-", color=color, label=label, linewidth=1.6)
        if markers:
            ax.plot(path[:, 0], path[:, 1], "o", color=color, markersize=3)
    ax.plot(*np.asarray(next(iter(paths.values())))[0], "ks", markersize=6)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="box")
