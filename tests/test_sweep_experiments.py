"""The sweep experiments' quick runs and their key numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments import lr_momentum_sweep, momentum_theory


def test_momentum_theory_measured_optimum_lands_on_polyaks(tmp_path):
    """The fastest (η, β) cell is within two grid cells of 4/(√L+√μ)², ((√κ-1)/(√κ+1))²."""
    assert momentum_theory.main(["--quick", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    theory, best, gd = metrics["theory"], metrics["measured_best"], metrics["measured_gd_best"]
    cfg = momentum_theory.Config()
    d_eta, d_beta = 1.0 / 30, cfg.max_momentum / 23  # the quick grid's spacing
    assert abs(best["learning_rate"] - theory["heavy_ball_learning_rate"]) <= 2 * d_eta
    assert abs(best["momentum"] - theory["heavy_ball_momentum"]) <= 2 * d_beta
    assert abs(best["score"] - theory["heavy_ball_rate"]) < 0.05 and best["score"] < theory["gd_rate"] - 0.2
    assert abs(gd["learning_rate"] - theory["gd_learning_rate"]) <= d_eta
    assert abs(gd["score"] - theory["gd_rate"]) < 0.01


@pytest.fixture(scope="module")
def lr_momentum_quick(tmp_path_factory):
    """The quick lr × momentum run (full grid and successive halving), once for this module's tests."""
    folder = tmp_path_factory.mktemp("lr_momentum_sweep")
    assert lr_momentum_sweep.main(["--quick", "--out", str(folder)]) == 0
    return folder


def test_lr_momentum_sweep_finds_a_good_cell_and_flags_divergence(lr_momentum_quick):
    """The best cell learns; the largest learning rate with the largest momentum diverges."""
    tmp_path = lr_momentum_quick
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    records = {(r["learning_rate"], r["momentum"]): r["epoch_loss"] for r in metrics["records"]}
    assert metrics["best"]["score"] < 3.0 and np.isfinite(metrics["best"]["score"])
    worst = records[max(records)]  # lr 0.1 with momentum 0.9
    assert worst is None or not np.isfinite(worst) or worst > 10 * metrics["best"]["score"]
    assert (tmp_path / "sweep.csv").read_text().startswith("learning_rate,momentum,epoch_loss")


def test_lr_momentum_successive_halving_saves_half_and_agrees_with_the_full_grid(lr_momentum_quick):
    """Quick grid of 6: rungs keep ⌈6/3⌉ = 2 then 1 (9 of 18 configuration-epochs); the pick is the
    full grid's best, and its loss after the last rung is the full run's loss (float32 rounding)."""
    tmp_path = lr_momentum_quick
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    halving = metrics["successive_halving"]
    assert halving["survivors_per_rung"] == [6, 2, 1]
    assert halving["config_epochs"] == 9 and halving["full_grid_config_epochs"] == 18 and halving["saved"] == 0.5
    assert halving["same_best_as_full_grid"] and halving["best"]["index"] == metrics["best"]["index"]
    assert np.isclose(halving["best"]["score"], metrics["best"]["score"], rtol=1e-4)
    assert (tmp_path / "halving.png").stat().st_size > 10_000
