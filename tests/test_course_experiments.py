"""Every course experiment's quick run, with its key number asserted (not only that files appear)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import (
    adagrad_linreg,
    gd_1d,
    gd_2d,
    keras_steps,
    linear_regression,
    lr_scheduler,
    momentum_ill_conditioned,
    optimizer_comparison,
    saddle,
    tiny_linear,
)


def quick(module, tmp_path: Path) -> dict:
    assert module.main(["--quick", "--out", str(tmp_path)]) == 0
    assert list(tmp_path.glob("*.png")), "no figure written"
    return json.loads((tmp_path / "metrics.json").read_text())


def test_e1_gradient_descent_1d(tmp_path):
    """E1: x ends within 1e-5 of the minimiser -2 (the course printed -2.000000238)."""
    metrics = quick(gd_1d, tmp_path)
    assert abs(metrics["final_x"] + 2.0) < 1e-5


def test_e2_gradient_descent_2d(tmp_path):
    """E2: the final point is within 1e-6 of the origin."""
    metrics = quick(gd_2d, tmp_path)
    assert metrics["distance_to_minimum"] < 1e-6
    assert (tmp_path / "gd_2d_surface.png").exists() and (tmp_path / "gd_2d_contour.png").exists()


def test_e4_optimizer_comparison(tmp_path):
    """E4: every optimiser but Adadelta learns at lr 0.01; Adadelta barely moves; Adam beats SGD;
    as published (lr 0.1, whole data for both loaders) the 'test' loss is the training data's."""
    metrics = quick(optimizer_comparison, tmp_path)
    corrected, published = metrics["corrected"], metrics["published"]
    for name, m in corrected.items():
        assert m["final_train"] < m["first_train"], name
    assert corrected["Adam"]["final_test"] < corrected["SGD"]["final_test"]
    assert corrected["Adadelta"]["final_train"] > 0.8 * corrected["Adadelta"]["first_train"]
    # lr 0.1 left over from an earlier cell: Adadelta moves further than at 0.01
    assert published["Adadelta"]["final_train"] < corrected["Adadelta"]["final_train"]
    assert (tmp_path / "optimizer_comparison_published.png").exists()


def test_e5_lr_scheduler(tmp_path):
    """E5: the scheduled learning rate decays by 0.99 per epoch, training reaches the noise floor,
    and as published (train = 'test' data) the two curves are the same data's."""
    metrics = quick(lr_scheduler, tmp_path)
    corrected, published = metrics["corrected"], metrics["published"]
    assert corrected["With lr_scheduler"]["final_learning_rate"] == pytest.approx(0.1 * 0.99**29, rel=1e-5)
    assert corrected["Without lr_scheduler"]["final_learning_rate"] == pytest.approx(0.1)
    for m in [*corrected.values(), *published.values()]:
        assert 7.0 < m["final_train"] < 11.0  # noise variance 9
    for m in published.values():  # the epoch-mean training loss and the end-of-epoch loss on the same samples
        assert m["final_test"] == pytest.approx(m["final_train"], rel=0.1)
    assert (tmp_path / "lr_scheduler_published.png").exists()


def test_e7_adagrad_linreg(tmp_path):
    """E7: at lr 0.01 AdaGrad's loss falls only a little; lr 0.5 reaches the noise floor."""
    metrics = quick(adagrad_linreg, tmp_path)
    slow, fast = metrics["0.01"], metrics["0.5"]
    assert 0.6 * slow["first_loss"] < slow["last_loss"] < slow["first_loss"]
    assert fast["last_loss"] < 1.5


def test_e8_linear_regression(tmp_path):
    """E8: the last epoch loss is near the noise floor 5e-5 and w, b are within 1e-3."""
    metrics = quick(linear_regression, tmp_path)
    assert 2e-5 < metrics["epoch_loss"][-1] < 1e-4
    assert max(abs(e) for e in metrics["w_error"]) < 1e-3 and abs(metrics["b_error"]) < 1e-3


def test_e9_keras_steps(tmp_path):
    """E9: Keras SGD 1.0 -> 0.9; with momentum the first two steps are 0.1 and 0.18."""
    metrics = quick(keras_steps, tmp_path)
    assert metrics["plain_after_one_step"] == pytest.approx(0.9, abs=1e-7)
    assert metrics["momentum_first_steps"][:2] == pytest.approx([0.1, 0.18], abs=1e-6)


def test_e9_tiny_linear(tmp_path):
    """E9: GD takes predict(4) from 4.0 to about 8.0; fixed SGD reaches w = 2, the published one does not use sample 3."""
    metrics = quick(tiny_linear, tmp_path)
    assert metrics["predict_4_before"] == 4.0
    assert metrics["GD"]["predict_4"] == pytest.approx(8.0, abs=1e-2)
    assert metrics["SGD fixed"]["w"] == pytest.approx(2.0, abs=1e-2)
    # the published bug: about a third of the epochs draw the phantom (0, 0), a zero loss; the fix never does
    assert 15 <= metrics["SGD as published"]["zero_loss_steps"] <= 50 and metrics["SGD fixed"]["zero_loss_steps"] == 0


def test_e10_momentum_ill_conditioned(tmp_path):
    """E10: momentum at lr 0.4 and 0.6 ends closer than GD at 0.4; GD at lr 0.6 diverges along x2;
    AdaGrad, RMSProp, AdaDelta and Adam each lower f."""
    metrics = quick(momentum_ill_conditioned, tmp_path)
    distance = metrics["final_distance_to_minimum"]
    assert distance["momentum η=0.4, γ=0.5"] < distance["GD η=0.4"]
    assert distance["GD η=0.6 (diverges along x₂)"] > 100
    assert abs(metrics["final_points"]["GD η=0.6 (diverges along x₂)"][1]) > 100
    # momentum keeps η = 0.6 stable (η·4 = 2.4 < 2(1 + γ) = 3) and gets closer than GD at 0.4
    assert distance["momentum η=0.6, γ=0.5"] < distance["GD η=0.4"]
    start = 0.1 * 5.0**2 + 2.0 * 2.0**2
    adaptive = [name for name in distance if name.split(" ")[0] in ("AdaGrad", "RMSProp", "AdaDelta", "Adam")]
    assert len(adaptive) == 4
    for name in adaptive:  # each lowers f; AdaDelta (no learning rate, ε = 1e-5) only a little in 20 steps
        x1, x2 = metrics["final_points"][name]
        assert 0.1 * x1**2 + 2.0 * x2**2 < start, name


def test_e11_saddle(tmp_path):
    """E11: every optimiser escapes the saddle; plain GD is the slowest there and on the plateau."""
    metrics = quick(saddle, tmp_path)
    others = [m for name, m in metrics.items() if name != "GD"]
    assert all(m["saddle_escape_step"] >= 0 for m in metrics.values())
    assert all(metrics["GD"]["saddle_escape_step"] > m["saddle_escape_step"] for m in others)
    gd_plateau = metrics["GD"]["plateau_escape_step"]
    assert all(m["plateau_escape_step"] >= 0 for m in others)
    assert gd_plateau == -1 or all(gd_plateau > m["plateau_escape_step"] for m in others)


def test_e12_model_selection(tmp_path):
    """E12: CV picks a middle degree; more data helps; L2, dropout and early stopping beat no regularisation;
    gradients vanish towards the input; SGD explodes where clipping trains."""
    from experiments import model_selection

    metrics = quick(model_selection, tmp_path)
    capacity = metrics["capacity"]
    assert 2 <= metrics["best_degree_by_kfold"] <= 7
    assert capacity["kfold"][-1] > 3 * min(capacity["kfold"]) and capacity["train"][-1] < capacity["train"][0]
    assert metrics["size"]["test"][-1] < 0.1 * metrics["size"]["test"][0]
    regularisation = {name.split(" ")[0]: m for name, m in metrics["regularisation"].items()}
    assert regularisation["L2"]["valid_of_returned_params"] < regularisation["no"]["valid_of_returned_params"]
    assert regularisation["early"]["valid_of_returned_params"] < regularisation["no"]["valid_of_returned_params"]
    assert regularisation["dropout"]["valid_of_returned_params"] < regularisation["no"]["valid_of_returned_params"]
    assert regularisation["early"]["stopped_epoch"] >= 0
    norms = metrics["gradient_norms"]["torch initialisation"]
    assert norms[0] < 1e-6 * norms[-1]
    plain, clipped = metrics["clipping"].values()
    assert plain["non_finite_from_step"] >= 0 and clipped["non_finite_from_step"] == -1
    assert clipped["final_loss"] < clipped["first_loss"]
