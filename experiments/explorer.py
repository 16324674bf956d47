"""The optimiser explorer: one offline page where the learning rate and a second knob move a path.

``python -m experiments explorer [--quick] [--out DIR]`` writes ``DIR/index.html`` (default
``results/explorer``).  Five of the course's problems (E2's x² + 2y², E10's 0.1x₁² + 2x₂²,
Rosenbrock, E11's saddle and plateau) × eight optimisers, each in the convention the course uses
for it.  Every (problem, optimiser) grid of (log-spaced learning rate η) × (knob: momentum β,
β₁, decay γ or ρ) is ONE ``jaxopt_course.sweep`` call; GD and AdaGrad have no knob (one column).

What the page holds, per cell, and how it is stored (``decode_pair`` reads it back):

* the path ``x_0 … x_T``, each coordinate quantised to uint16 over the problem's window widened
  by one window on every side (``MARGIN``): ``q = round((x - lo') / (hi' - lo') · 65534)``.  A
  point outside that box, or not finite, is ``65535`` in both coordinates; the page draws a path
  up to its first such point (a diverged run is drawn as far as it stays in view);
* the loss curve ``ℓ_t``: ``log10(f(x_t) - f*)`` for a problem with a minimum f*, and for the
  saddle (unbounded below) ``asinh(f/τ)/ln 10`` with τ = 10⁻³ (a symmetric-log axis); quantised
  to uint16 over ``LOSS_RANGE``, 65535 for not finite;
* per cell metrics for the heat map: the final loss (not for the saddle), the convergence rate
  where there is a minimiser and no escape (per-step contraction of ``‖x_t - x*‖``, the
  definition of the ``momentum_theory`` experiment), and for E11's problems the escape step
  (saddle: first ``|y| > 1``; plateau: first ``f < 0.5``).

The arrays of one pair are byte-planes (high bytes, then low bytes) of step-wise differences,
compressed with gzip and written as base64; the page inflates them with the browser's
``DecompressionStream`` (no ``fetch``, so it works from ``file://``).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import gzip
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments._common import parse_args
from experiments.momentum_theory import Config as TheoryConfig
from experiments.momentum_theory import theory
from jaxopt_course import compilation, problems
from jaxopt_course.conventions import d2l, pytorch
from jaxopt_course.sweeps import sweep
from jaxopt_course.sweeps.files import write_text

ASSETS = Path(__file__).with_name("explorer_assets")
MARGIN = 1.0  # the quantisation box: the window widened by this many windows on every side
SENTINEL = 65535  # not finite, or outside the box
LEVELS = 65534  # q in [0, LEVELS]
LOSS_RANGE = (-46.0, 40.0)  # stored loss values (log10 units), clipped to this
SADDLE_SCALE = 1e-3  # τ of the saddle's symmetric-log loss axis


@dataclasses.dataclass(frozen=True)
class Config:
    num_steps: int = 100
    num_learning_rates: int = 41
    knob_values: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(20)) + (0.99,)
    num_contour: int = 160  # the contour background: num_contour² samples of f


QUICK = Config(num_steps=30, num_learning_rates=9, knob_values=(0.0, 0.5, 0.9, 0.99), num_contour=64)


@dataclasses.dataclass(frozen=True)
class Optimizer:
    """One optimiser of the page: how to build it from (η, knob), and what the page says about it."""

    label: str
    knob: str | None  # the second hyper-parameter's grid key, None for GD and AdaGrad
    build: Callable  # (learning_rate, knob or None) -> optax.GradientTransformation
    scale: str  # which learning-rate range of the problem: "gd", "adaptive" or "adadelta"
    convention: str
    equations: str
    lowest_knob: float = 0.0  # knob values below it are raised to it


OPTIMIZERS = {
    "gd": Optimizer(
        "GD", None, lambda lr, _: d2l.sgd(lr), "gd", "d2l sgd (torch.optim.SGD is the same)", "x ← x − η g"
    ),
    "momentum": Optimizer(
        "Momentum",
        "momentum",
        lambda lr, b: d2l.sgd(lr, momentum=b),
        "gd",
        "d2l sgd_momentum, as in E10 (torch.optim.SGD(momentum=β) and Polyak's heavy ball are the same)",
        "v ← β v + g;  x ← x − η v   (v₀ = 0)",
    ),
    "nesterov": Optimizer(
        "Nesterov",
        "momentum",
        lambda lr, b: pytorch.sgd(lr, momentum=b, nesterov=True),
        "gd",
        "torch.optim.SGD(momentum=β, nesterov=True), as in E4",
        "b ← β b + g;  x ← x − η (g + β b)   (b₁ = g)",
        lowest_knob=0.01,
    ),  # torch refuses nesterov with β = 0
    "adagrad": Optimizer(
        "AdaGrad",
        None,
        lambda lr, _: d2l.adagrad(lr),
        "adaptive",
        "d2l adagrad, as in E10 (ε = 10⁻⁶ inside the root)",
        "s ← s + g²;  x ← x − η g / √(s + ε)",
    ),
    "rmsprop": Optimizer(
        "RMSProp",
        "decay",
        lambda lr, g: d2l.rmsprop(lr, gamma=g),
        "adaptive",
        "d2l rmsprop, as in E10 (ε = 10⁻⁶ inside the root)",
        "s ← γ s + (1 − γ) g²;  x ← x − η g / √(s + ε)",
    ),
    "adadelta": Optimizer(
        "AdaDelta",
        "rho",
        lambda lr, r: pytorch.adadelta(lr, rho=r),
        "adadelta",
        "torch.optim.Adadelta(lr=η, rho=ρ), as in E4 (ε = 10⁻⁶; d2l's has no η, i.e. η = 1)",
        "s ← ρ s + (1 − ρ) g²;  Δ = √(δ + ε) / √(s + ε) · g;  δ ← ρ δ + (1 − ρ) Δ²;  x ← x − η Δ",
    ),
    "adam": Optimizer(
        "Adam",
        "b1",
        lambda lr, b1: d2l.adam(lr, b1=b1),
        "adaptive",
        "d2l adam, as in E10 (β₂ = 0.999, ε = 10⁻⁶)",
        "m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g²;  x ← x − η (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)",
    ),
    "amsgrad": Optimizer(
        "AMSGrad",
        "b1",
        lambda lr, b1: pytorch.adam(lr, betas=(b1, 0.999), amsgrad=True),
        "adaptive",
        "torch.optim.Adam(amsgrad=True) (β₂ = 0.999, ε = 10⁻⁸); the course names it, torch is its framework",
        "m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g²;  v̂ ← max(v̂, v);  x ← x − η (m / (1 − β₁ᵗ)) / (√v̂ / √(1 − β₂ᵗ) + ε)",
    ),
}

# The cells first shown: the course's own settings (E2, E10, E11), nearest on the grid; any other
# pair opens on its best cell.
COURSE_CELLS = {
    ("bowl", "gd"): (0.1, None),
    ("ill", "gd"): (0.4, None),
    ("ill", "momentum"): (0.4, 0.5),
    ("ill", "adagrad"): (0.4, None),
    ("ill", "rmsprop"): (0.4, 0.9),
    ("ill", "adadelta"): (1.0, 0.9),
    ("ill", "adam"): (0.4, 0.9),
    **{
        (problem, name): (0.05, knob)
        for problem in ("saddle", "plateau")
        for name, knob in (("gd", None), ("momentum", 0.9), ("rmsprop", 0.9), ("adam", 0.9))
    },
}

KNOB_NAMES = {"momentum": "momentum β", "decay": "decay γ", "rho": "ρ", "b1": "β₁"}


@dataclasses.dataclass(frozen=True)
class Page:
    """One problem of the page: the course's problem and start, and its learning-rate ranges."""

    key: str
    problem: problems.Problem
    source: str
    learning_rates: dict  # scale -> (lowest, highest) learning rate, log-spaced between
    escape: str | None = None  # "saddle" (|y| > 1) or "plateau" (f < 0.5), E11's criteria


# learning-rate ranges span four decades, so 41 values are 10 per decade and land on 10^(k/10)
# (the course's 0.1 is a grid value)
PAGES = {
    "bowl": Page("bowl", problems.BOWL, "E2", {"gd": (1e-4, 1.0), "adaptive": (1e-3, 10.0), "adadelta": (1e-2, 1e2)}),
    "ill": Page(
        "ill", problems.ILL_CONDITIONED, "E10", {"gd": (1e-4, 1.0), "adaptive": (1e-3, 10.0), "adadelta": (1e-2, 1e2)}
    ),
    "rosenbrock": Page(
        "rosenbrock",
        problems.ROSENBROCK,
        "Rosenbrock",
        {"gd": (1e-6, 1e-2), "adaptive": (1e-4, 1.0), "adadelta": (1e-2, 1e2)},
    ),
    "saddle": Page(
        "saddle",
        problems.SADDLE,
        "E11",
        {"gd": (1e-4, 1.0), "adaptive": (1e-3, 10.0), "adadelta": (1e-2, 1e2)},
        escape="saddle",
    ),
    "plateau": Page(
        "plateau",
        problems.PLATEAU,
        "E11",
        {"gd": (1e-2, 1e2), "adaptive": (1e-3, 10.0), "adadelta": (1e-2, 1e2)},
        escape="plateau",
    ),
}
PROBLEM_FUNCTIONS = tuple(page.problem.f for page in PAGES.values())
VALUES_AND_GRADIENTS = tuple(
    jax.value_and_grad(f) for f in PROBLEM_FUNCTIONS
)  # a switch over these compiles faster than grad of a switch
STARTS = np.array([page.problem.start for page in PAGES.values()], np.float32)


def learning_rates(page: Page, optimizer: Optimizer, cfg: Config) -> np.ndarray:
    low, high = page.learning_rates[optimizer.scale]
    return np.logspace(math.log10(low), math.log10(high), cfg.num_learning_rates).astype(np.float32)


def grid(page: Page, optimizer: Optimizer, cfg: Config) -> dict:
    """The sweep grid: the problem and the optimiser (one value each, indices into ``PAGES`` and
    ``OPTIMIZERS``), then η, then the knob (last key fastest; one value, 0, without a knob)."""
    knobs = (
        np.maximum(np.asarray(cfg.knob_values, np.float32), np.float32(optimizer.lowest_knob))
        if optimizer.knob
        else [0.0]
    )
    return {
        "problem": [list(PAGES).index(page.key)],
        "optimizer": [list(OPTIMIZERS.values()).index(optimizer)],
        "learning_rate": learning_rates(page, optimizer, cfg),
        "knob": knobs,
    }


@functools.cache
def make_run_fn(num_steps: int) -> Callable:
    """``run_fn(hparams, key) -> {"path": [T+1, 2], "value": [T+1]}`` (points and f), any pair.

    The problem and the optimiser are grid keys, so all forty pairs share ONE compiled program
    (eight per-optimiser programs took five times as long to compile as this one): ``lax.switch``
    picks the function and the update, the start is read from a table.  Under ``vmap`` a switch
    runs every branch and keeps one, so each step computes all eight updates on a 2-vector and
    carries all eight states; only the chosen one moves the point.
    """
    specs = tuple(OPTIMIZERS.values())

    def run_fn(hparams, key):
        del key
        problem, chosen = hparams["problem"].astype(jnp.int32), hparams["optimizer"].astype(jnp.int32)
        optimizers = [spec.build(hparams["learning_rate"], hparams["knob"] if spec.knob else None) for spec in specs]

        def update(k):  # branch k: optimiser k's update, the other states passed through
            def branch(gradient, states, x):
                updates, state = optimizers[k].update(gradient, states[k], x)
                return updates, states[:k] + (state,) + states[k + 1 :]

            return branch

        branches = [update(k) for k in range(len(optimizers))]

        def step(carry, _):
            x, states = carry
            value, gradient = jax.lax.switch(problem, VALUES_AND_GRADIENTS, x)
            updates, states = jax.lax.switch(chosen, branches, gradient, states, x)
            return (optax.apply_updates(x, updates), states), (x, value)

        x0 = jnp.asarray(STARTS)[problem]
        states = tuple(optimizer.init(x0) for optimizer in optimizers)
        (last, _), (path, values) = jax.lax.scan(step, (x0, states), None, length=num_steps)
        final = jax.lax.switch(problem, PROBLEM_FUNCTIONS, last)
        return {"path": jnp.concatenate([path, last[None]]), "value": jnp.concatenate([values, final[None]])}

    return run_fn


def loss_curve(page: Page, values: np.ndarray) -> np.ndarray:
    """The plotted loss (log10 units, float64) of function values f: see the module docstring."""
    f = np.asarray(values, np.float64)
    with np.errstate(all="ignore"):
        if page.key == "saddle":
            return np.arcsinh(f / SADDLE_SCALE) / math.log(10.0)
        return np.log10(np.maximum(f, 0.0))


def quantise_path(page: Page, path: np.ndarray) -> np.ndarray:
    lo, hi = box(page)
    with np.errstate(all="ignore"):
        q = np.round((path.astype(np.float64) - lo) / (hi - lo) * LEVELS)
        bad = ~np.all(np.isfinite(q) & (q >= 0) & (q <= LEVELS), axis=-1, keepdims=True)
    return np.where(bad, SENTINEL, q).astype(np.uint16)


def quantise_loss(values: np.ndarray) -> np.ndarray:
    low, high = LOSS_RANGE
    with np.errstate(all="ignore"):
        q = np.round((np.clip(values, low, high) - low) / (high - low) * LEVELS)
    return np.where(np.isnan(values) | np.isposinf(values), SENTINEL, np.where(np.isneginf(values), 0, q)).astype(
        np.uint16
    )


def box(page: Page) -> tuple[np.ndarray, np.ndarray]:
    """The quantisation box (lo, hi), per coordinate: the window widened by MARGIN windows."""
    window = np.asarray(page.problem.window, np.float64)
    width = window[:, 1] - window[:, 0]
    return window[:, 0] - MARGIN * width, window[:, 1] + MARGIN * width


def metrics(page: Page, path: np.ndarray, loss: np.ndarray) -> dict:
    """Per-cell heat-map values from float32 paths ``[cells, T+1, 2]`` and the loss curve.

    The final loss is in the loss curve's units, an exact zero at the floor of ``LOSS_RANGE``; the
    saddle, unbounded below, has only its escape step.
    """
    out = {} if page.key == "saddle" else {"final loss": np.where(np.isneginf(loss[:, -1]), LOSS_RANGE[0], loss[:, -1])}
    if page.escape is None:
        distance = np.linalg.norm(path.astype(np.float64) - np.asarray(page.problem.minimiser), axis=-1)
        out["rate"] = convergence_rate(distance)
    else:
        if page.escape == "saddle":
            escaped = np.abs(path[..., 1].astype(np.float64)) > 1.0
        else:
            escaped = loss < math.log10(0.5)
        hit = np.argmax(escaped, axis=1).astype(np.float64)
        out["escape step"] = np.where(escaped.any(axis=1), hit, np.inf)
    return out


def convergence_rate(distance: np.ndarray, reduction: float = 1e-6) -> np.ndarray:
    """Per-step contraction of ``distance [cells, T+1]``, as the ``momentum_theory`` experiment defines it.

    A cell that gets within ``reduction`` of its start distance at step k has rate
    ``reduction^(1/k)``; a slower one the contraction over the last quarter of the run.  Not
    finite (diverged): inf.
    """
    steps = distance.shape[1] - 1
    tail = max(steps // 4, 1)
    with np.errstate(all="ignore"):
        reached = distance <= reduction * distance[:, :1]
        fast = reduction ** (1.0 / np.maximum(np.argmax(reached, axis=1), 1))
        slow = (distance[:, -1] / distance[:, -1 - tail]) ** (1.0 / tail)
        rate = np.where(reached.any(axis=1), fast, slow)
    return np.where(np.isfinite(rate), rate, np.inf)


def pack(*arrays: np.ndarray) -> str:
    """uint16 arrays ``[cells, T+1, ...]`` -> base64 gzip of the byte-planes of their step-wise differences."""
    planes = []
    for array in arrays:
        delta = np.diff(array.astype(np.int64), axis=1, prepend=0).astype(np.uint16)  # mod 2¹⁶
        raw = delta.astype("<u2").tobytes()
        planes.append(np.frombuffer(raw, np.uint8).reshape(-1, 2).T.copy().tobytes())
    return base64.b64encode(gzip.compress(b"".join(planes), compresslevel=6, mtime=0)).decode("ascii")


def unpack(blob: str, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """The inverse of :func:`pack` (the page's JavaScript does the same)."""
    raw = np.frombuffer(gzip.decompress(base64.b64decode(blob)), np.uint8)
    out, offset = [], 0
    for shape in shapes:
        count = int(np.prod(shape))
        planes = raw[offset : offset + 2 * count].reshape(2, count)
        offset += 2 * count
        delta = planes[0].astype(np.uint16) | (planes[1].astype(np.uint16) << 8)
        out.append(np.cumsum(delta.reshape(shape).astype(np.int64), axis=1).astype(np.uint16))
    return out


def dequantise_path(page: Page, q: np.ndarray) -> np.ndarray:
    """Quantised points -> coordinates (NaN for the sentinel)."""
    lo, hi = box(page)
    return np.where(q == SENTINEL, np.nan, lo + q.astype(np.float64) / LEVELS * (hi - lo))


def drawn_points(page: Page, q: np.ndarray, step: int | None = None) -> np.ndarray:
    """The points the page draws for one cell's quantised path ``[T+1, 2]``: up to its first
    out-of-box point, and up to ``step``."""
    points = dequantise_path(page, q)[: None if step is None else step + 1]
    bad = np.flatnonzero(np.isnan(points[:, 0]))
    return points[: bad[0]] if bad.size else points


def contour_field(page: Page, n: int) -> dict:
    """f on an n × n grid over the window (rows from the bottom), as the page's background."""
    (x0, x1), (y0, y1) = page.problem.window
    points = np.stack(np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))).astype(np.float32)  # [2, n, n]
    values = loss_curve(page, page.problem.f(jnp.asarray(points)))
    values = np.where(np.isfinite(values), values, LOSS_RANGE[0])
    low, high = float(np.percentile(values, 1)), float(values.max())
    q = np.round((np.clip(values, low, high) - low) / max(high - low, 1e-12) * 255).astype(np.uint8)
    return {"n": n, "low": low, "high": high, "data": base64.b64encode(q.tobytes()).decode("ascii")}


def momentum_theory(page: Page) -> dict | None:
    """Polyak's optimum for heavy-ball momentum on a quadratic with the page problem's curvatures."""
    curvatures = page.problem.curvatures
    if page.escape is not None or curvatures is None or min(curvatures) <= 0:
        return None
    t = theory(TheoryConfig(curvatures=tuple(curvatures)))
    return {
        "learning_rate": t["heavy_ball_learning_rate"],
        "momentum": t["heavy_ball_momentum"],
        "rate": t["heavy_ball_rate"],
        "gd_learning_rate": t["gd_learning_rate"],
        "gd_rate": t["gd_rate"],
        "kappa": t["kappa"],
    }


def run_pair(page: Page, name: str, cfg: Config) -> dict:
    """One (problem, optimiser) grid as one sweep; its stored arrays and heat-map metrics."""
    spec = OPTIMIZERS[name]
    axes = grid(page, spec, cfg)
    # chunks as long as the learning-rate axis, the whole grid of GD and AdaGrad: every pair's
    # sweep then runs the one compiled program at one shape
    # 26 240 runs in all: LLVM's level 1 pays for itself (3.9 against 5.2 CPU-s for every pair)
    with compilation.long_runs():
        result = sweep(
            make_run_fn(cfg.num_steps),
            axes,
            key=jax.random.PRNGKey(0),
            progress=False,
            chunk_size=cfg.num_learning_rates,
        )
    path = result.metrics["path"][:, 0]  # [cells, T+1, 2], float32
    loss = loss_curve(page, result.metrics["value"][:, 0])
    knobs = list(axes["knob"]) if spec.knob else [None]
    shape = (len(axes["learning_rate"]), len(knobs))
    return {
        "path": path,
        "loss": loss,
        "shape": shape,
        "learning_rates": [float(v) for v in axes["learning_rate"]],
        "knobs": [None if v is None else float(v) for v in knobs],
        "metrics": {k: v.reshape(shape) for k, v in metrics(page, path, loss).items()},
    }


def initial_cell(key: str, name: str, pair: dict) -> list[int]:
    """The course's setting of ``COURSE_CELLS`` (nearest cell), else the best cell by the first metric."""
    if (key, name) not in COURSE_CELLS:
        first = next(iter(pair["metrics"].values()))
        return [int(v) for v in np.unravel_index(np.argmin(np.where(np.isfinite(first), first, np.inf)), first.shape)]
    lr, knob = COURSE_CELLS[key, name]
    i = int(np.argmin(np.abs(np.log(pair["learning_rates"]) - math.log(lr))))
    j = 0 if knob is None else int(np.argmin(np.abs(np.asarray(pair["knobs"]) - knob)))
    return [i, j]


def finite_or_none(values: np.ndarray) -> list:
    return [[None if not np.isfinite(v) else float(np.float32(v)) for v in row] for row in values]


def run(cfg: Config) -> dict:
    """Every pair's data for the page (pure: no I/O)."""
    data = {
        "steps": cfg.num_steps,
        "levels": LEVELS,
        "sentinel": SENTINEL,
        "loss_range": LOSS_RANGE,
        "saddle_scale": SADDLE_SCALE,
        "optimizers": {},
        "problems": {},
        "pairs": {},
    }
    for name, spec in OPTIMIZERS.items():
        data["optimizers"][name] = {
            "label": spec.label,
            "knob": KNOB_NAMES.get(spec.knob),
            "convention": spec.convention,
            "equations": spec.equations,
        }
    for key, page in PAGES.items():
        lo, hi = box(page)
        data["problems"][key] = {
            "label": page.problem.name,
            "source": page.source,
            "start": list(page.problem.start),
            "window": page.problem.window,
            "minimiser": page.problem.minimiser,
            "box": [lo.tolist(), hi.tolist()],
            "loss_kind": "symlog" if key == "saddle" else "log",
            "contour": contour_field(page, cfg.num_contour),
            "theory": momentum_theory(page),
            "start_loss": float(loss_curve(page, page.problem(np.asarray(page.problem.start, np.float32)))),
        }
        for name in OPTIMIZERS:
            pair = run_pair(page, name, cfg)
            data["pairs"][f"{key}/{name}"] = {
                "shape": pair["shape"],
                "learning_rates": pair["learning_rates"],
                "knobs": pair["knobs"],
                "metrics": {k: finite_or_none(v) for k, v in pair["metrics"].items()},
                "initial": initial_cell(key, name, pair),
                "blob": pack(quantise_path(page, pair["path"]), quantise_loss(pair["loss"])),
            }
    return data


def decode_pair(data: dict, key: str) -> tuple[np.ndarray, np.ndarray]:
    """One pair's stored (path [lr, knob, T+1, 2] uint16, loss [lr, knob, T+1] uint16)."""
    pair = data["pairs"][key]
    n_lr, n_knob = pair["shape"]
    steps = data["steps"] + 1
    path, loss = unpack(pair["blob"], [(n_lr * n_knob, steps, 2), (n_lr * n_knob, steps)])
    return path.reshape(n_lr, n_knob, steps, 2), loss.reshape(n_lr, n_knob, steps)


def read_data(page_html: str) -> dict:
    """The data embedded in a written page."""
    start = page_html.index('<script id="explorer-data" type="application/json">') + len(
        '<script id="explorer-data" type="application/json">'
    )
    return json.loads(page_html[start : page_html.index("</script>", start)])


def render(data: dict) -> str:
    """The self-contained page: the template with its CSS, JavaScript and data inline."""
    template = (ASSETS / "template.html").read_text(encoding="utf-8")
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")
    return (
        template.replace("/*CSS*/", (ASSETS / "explorer.css").read_text(encoding="utf-8"))
        .replace("/*JS*/", (ASSETS / "explorer.js").read_text(encoding="utf-8"))
        .replace("/*DATA*/", payload)
    )


def main(argv=None) -> int:
    args = parse_args(argv, "explorer", "the optimiser explorer: an offline page of paths, losses and heat maps")
    began = time.perf_counter()
    cfg = QUICK if args.quick else Config()
    data = run(cfg)
    path = Path(args.out) / "index.html"
    write_text(path, render(data))
    cells = sum(pair["shape"][0] * pair["shape"][1] for pair in data["pairs"].values())
    summary = (
        f"{len(PAGES)} problems × {len(OPTIMIZERS)} optimisers, {cells} runs of {cfg.num_steps} steps "
        f"({len(data['pairs'])} sweeps), in a page of {path.stat().st_size / 1e6:.1f} MB written in {time.perf_counter() - began:.1f} s."
    )
    write_text(Path(args.out) / "summary.txt", summary + "\n")
    print(summary)
    return 0
