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
