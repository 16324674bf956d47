"""E6's quick run: the figure's key values are the frameworks' own."""

from __future__ import annotations

import json

from experiments import schedules


def test_schedule_sheet_numbers(tmp_path):
    """StepLR halves at 100, torch's cosine rises again, Keras's boundary is left-inclusive, the
    published warm-up never exceeds 0.001 x base."""
    assert schedules.main(["--quick", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (tmp_path / "schedules.png").stat().st_size > 10_000
    assert set(json.loads((tmp_path / "manifest.json").read_text())["figures"]) == {
        f"{name}.png" for name in schedules.CAPTIONS
    }
    step = metrics["StepLR(100, γ=0.5)"]
    assert abs(step["99"] - 0.1) < 1e-8 and abs(step["100"] - 0.05) < 1e-8
    cosine = metrics["CosineAnnealingLR(T=100, η_min=1e-5)"]
    assert abs(cosine["100"] - 1e-5) < 1e-8 and abs(cosine["200"] - 0.1) < 1e-7
    piecewise = metrics["PiecewiseConstantDecay([100, 200], [0.1, 0.05, 0.01])"]
    assert abs(piecewise["100"] - 0.1) < 1e-8 and abs(piecewise["101"] - 0.05) < 1e-8
    assert max(metrics["warm-up as published: min(t/20, 0.001)"].values()) <= 1e-4 * (1 + 1e-6)
    assert abs(metrics["warm-up as meant: min(t/20, 1)"]["20"] - 0.1) < 1e-8
