"""The sweep experiments' quick runs and their key numbers."""

from __future__ import annotations

import json

import numpy as np

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


def test_lr_momentum_sweep_finds_a_good_cell_and_flags_divergence(tmp_path):
    """The best cell learns; the largest learning rate with the largest momentum diverges."""
    assert lr_momentum_sweep.main(["--quick", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    records = {(r["learning_rate"], r["momentum"]): r["epoch_loss"] for r in metrics["records"]}
    assert metrics["best"]["score"] < 3.0 and np.isfinite(metrics["best"]["score"])
    worst = records[max(records)]  # lr 0.1 with momentum 0.9
    assert worst is None or not np.isfinite(worst) or worst > 10 * metrics["best"]["score"]
    assert (tmp_path / "sweep.csv").read_text().startswith("learning_rate,momentum,epoch_loss")
