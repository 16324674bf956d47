"""The digits experiment's quick run: its files, accuracy well above chance, and halving's rank
consistent with the full grid's own ranking."""

from __future__ import annotations

import json

import numpy as np
import pytest

import experiments
from experiments import digits


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """``digits --quick`` once for this module's tests: (folder, metrics.json)."""
    folder = tmp_path_factory.mktemp("digits")
    assert digits.main(["--quick", "--out", str(folder)]) == 0
    return folder, json.loads((folder / "metrics.json").read_text())


def test_quick_run_writes_its_figures_and_numbers_for_the_page(quick_run):
    """Both figures, with a caption each, the summary and the manifest; registered for ``all``."""
    folder, _ = quick_run
    manifest = json.loads((folder / "manifest.json").read_text())
    assert sorted(manifest["figures"]) == ["digits_learning_rate.png", "digits_optimizers.png"]
    for name in manifest["figures"]:
        assert (folder / name).stat().st_size > 20_000 and name.removesuffix(".png") in digits.CAPTIONS
    assert experiments.REGISTRY["digits"][0] == "experiments.digits"
    summary = (folder / "summary.txt").read_text()
    assert "Test accuracy after the last epoch" in summary and "configuration-epochs" in summary


def test_every_optimiser_learns_far_above_chance(quick_run):
    """Four epochs lift the test accuracy of every run well above chance (0.1)."""
    _, metrics = quick_run
    accuracies = metrics["test_accuracy"]
    assert set(accuracies) == {"SGD", "Adam + cosine decay"}
    for name, accuracy in accuracies.items():
        assert accuracy["min_over_seeds"] > 0.5, (name, accuracy)
    assert metrics["sizes"] == {"train": 1078, "validation": 360, "test": 359}


def test_halvings_rank_is_the_full_grids_ranking_of_its_pick(quick_run):
    """The reported rank is 1 + the learning rates whose full-run validation accuracy beats the pick's; the cost adds up."""
    _, metrics = quick_run
    compared = metrics["learning_rate_sweep"]
    validation = {r["learning_rate"]: r["eval_metrics.accuracy"] for r in metrics["records"]}
    picked = compared["halving_pick"]
    assert picked["full_grid_validation_accuracy"] == pytest.approx(validation[picked["learning_rate"]])
    rank = 1 + sum(value > validation[picked["learning_rate"]] for value in validation.values())
    assert compared["halving_rank_in_full_grid"] == rank
    assert compared["same_best_as_full_grid"] == (rank == 1)
    best = max(validation.values())
    assert compared["full_grid_best"]["validation_accuracy"] == pytest.approx(best) and best > 0.5
    # quick grid of 3 with keep 1/3 over 2 rungs of 2 epochs: 3 + 1 configurations trained 2 epochs each, of 3 · 4
    assert compared["survivors_per_rung"] == [3, 1]
    assert compared["config_epochs"] == 8 and compared["full_grid_config_epochs"] == 12
    assert compared["saved"] == pytest.approx(1 / 3)
    summary = "halving picked the full grid's best" if rank == 1 else f"picked the {digits.ordinal(rank)} best"
    assert summary in metrics_summary(quick_run).lower()


def metrics_summary(quick_run) -> str:
    folder, _ = quick_run
    return (folder / "summary.txt").read_text()


def test_rank_counts_strictly_better_scores_with_nan_last():
    """rank_in: ties share a rank; NaN (a diverged run) ranks below every number."""
    scores = np.array([0.9, 0.95, np.nan, 0.95, 0.5])
    assert [digits.rank_in(scores, i) for i in range(5)] == [3, 1, 5, 1, 4]
    assert [digits.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
    ]
