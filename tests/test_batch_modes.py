"""E3's quick run: every mode's loss falls, and stochastic is the noisiest step to step."""

from __future__ import annotations

import json

import pytest

from experiments import batch_modes


@pytest.mark.slow
def test_quick_run_reproduces_the_lesson(tmp_path):
    """--quick writes figures and metrics; each mode learns; B=1 is noisier than full batch."""
    assert batch_modes.main(["--quick", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {p.name for p in tmp_path.iterdir()} >= {
        "published.png",
        "corrected.png",
        "metrics.json",
        "config.json",
        "summary.txt",
    }
    published = metrics["published"]
    for mode in ("Batch", "Minibatch"):
        assert published[mode]["last_loss"] < 0.5 * published[mode]["first_loss"], mode
    assert published["Stochastic"]["step_to_step_noise"] > 10 * published["Batch"]["step_to_step_noise"]
    corrected = metrics["corrected"]
    # per epoch, the smaller the batch the further the loss gets
    assert (
        corrected["Stochastic"]["final_epoch_loss"]
        < corrected["Minibatch"]["final_epoch_loss"]
        < corrected["Batch"]["final_epoch_loss"]
    )
    for name, mode in corrected.items():  # with real epochs every mode learns, stochastic too
        assert mode["final_epoch_loss"] < mode["first_epoch_loss"], name
    assert all(
        "steps_per_second" not in mode for kind in metrics.values() for mode in kind.values()
    )  # timing lives in benchmarks/
