"""`python -m experiments all` and its page; --out errors; atomic result files."""

from __future__ import annotations

import json
import sys
import types

import jax
import numpy as np
import pytest

import experiments
from experiments import __main__ as command
from experiments import report
from experiments._common import prepare_out_dir
from jaxopt_course.sweeps import files as io


def test_all_writes_an_offline_page_with_every_figure_and_caption(tmp_path, monkeypatch):
    """index.html shows each experiment's figures (relative paths), captions, summary and bug note."""
    names = ["gd_1d", "tiny_linear"]
    monkeypatch.setattr(experiments, "REGISTRY", {n: experiments.REGISTRY[n] for n in names})
    monkeypatch.setattr(report, "REGISTRY", experiments.REGISTRY)
    monkeypatch.setattr(report, "PAGES", {})
    outcomes = report.run_all(tmp_path, quick=True)
    assert [o["error"] for o in outcomes] == [None, None]
    page = (tmp_path / "index.html").read_text()
    from experiments import gd_1d

    assert 'src="gd_1d/gd_1d.png"' in page and 'src="tiny_linear/tiny_linear.png"' in page
    assert gd_1d.CAPTIONS["gd_1d"].split(":")[0] in page
    assert "Bug in the published code" in page and "range(0, 2)" in page
    assert "The course printed" in page and "http" not in page.split("<body>")[1]


def test_workers_give_the_same_results_and_page_order_as_one_process(tmp_path, monkeypatch):
    """``jobs=2``: each experiment runs in a fresh worker process (longest first), yet every result
    file equals the one-process run's and the outcomes keep the experiments' order.

    Equal to float32 rounding: this test's process compiles with the library's options, the
    workers with the experiments' short-run ones (``compilation.SHORT_RUN_OPTIONS``); the
    printed summaries are the same text."""
    names = ["tiny_linear", "gd_1d", "keras_steps"]
    monkeypatch.setenv("JAXOPT_COURSE_CACHE", "off")
    alone = report.run_all(tmp_path / "one", quick=True, names=names, jobs=1)
    workers = report.run_all(tmp_path / "two", quick=True, names=names, jobs=2)
    assert [o["name"] for o in workers] == names and all(o["error"] is None for o in alone + workers)
    for name in names:
        one, two = (json.loads((tmp_path / run / name / "metrics.json").read_text()) for run in ("one", "two"))
        assert jax.tree.structure(one) == jax.tree.structure(two)
        for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(two)):
            assert a == b if isinstance(a, (str, bool)) else np.isclose(a, b, rtol=1e-5, atol=1e-9, equal_nan=True), (
                name,
                a,
                b,
            )  # atol: a loss near 0 is a difference of near-equal numbers
    assert all(o["printed"] == p["printed"] for o, p in zip(alone, workers))
    with pytest.raises(ValueError, match="jobs must be a positive integer"):
        report.run_all(tmp_path / "three", names=names, jobs=0)


def test_a_failing_experiment_is_reported_and_the_others_still_run(tmp_path, monkeypatch):
    """One experiment raising: the page says so, the exit code is non-zero, the next one ran."""
    broken = types.ModuleType("broken_experiment")
    broken.main = lambda argv: 1 / 0
    monkeypatch.setitem(sys.modules, "broken_experiment", broken)
    registry = {"broken": ("broken_experiment", "an experiment that fails"), "gd_1d": experiments.REGISTRY["gd_1d"]}
    monkeypatch.setattr(experiments, "REGISTRY", registry)
    monkeypatch.setattr(report, "REGISTRY", registry)
    monkeypatch.setattr(report, "PAGES", {})
    monkeypatch.setenv("JAXOPT_COURSE_CACHE", "off")
    assert (
        command.main(["all", "--quick", "--jobs", "1", "--out", str(tmp_path)]) == 1
    )  # a stand-in module lives in this process only
    page = (tmp_path / "index.html").read_text()
    assert "This experiment failed" in page and "ZeroDivisionError" in page
    assert (tmp_path / "gd_1d" / "metrics.json").exists()


def test_bad_out_gives_a_clear_error(tmp_path, monkeypatch):
    """--out naming a file is refused with a message that names --out."""
    monkeypatch.setenv("JAXOPT_COURSE_CACHE", "off")
    target = tmp_path / "a_file"
    target.write_text("x")
    with pytest.raises(ValueError, match="--out .* is a file"):
        prepare_out_dir(target)
    assert command.main(["all", "--out", str(target)]) == 2


def test_bad_out_fails_before_the_experiment_runs(tmp_path, monkeypatch, capsys):
    """A single experiment given a file, or a folder below a file, as --out: exit 2, message naming --out."""
    monkeypatch.setenv("JAXOPT_COURSE_CACHE", "off")
    target = tmp_path / "a_file"
    target.write_text("x")
    ran = []
    monkeypatch.setattr("experiments.gd_1d.run", lambda cfg: ran.append(cfg))
    assert command.main(["gd_1d", "--out", str(target)]) == 2
    assert "--out" in capsys.readouterr().err and ran == []
    with pytest.raises(ValueError, match="--out .* cannot be created or written"):
        prepare_out_dir(target / "below_a_file")
    assert target.read_text() == "x"


def test_an_interrupted_run_leaves_the_previous_results_intact(tmp_path, monkeypatch):
    """A failure while figures are rendered leaves every earlier file as it was, and no staging folder."""
    import matplotlib.pyplot as plt

    from experiments._common import write_results

    def results(value):
        figure, ax = plt.subplots()
        ax.plot([0, value])
        return {
            "config": {"v": value},
            "metrics": {"v": value},
            "figures": {"curve": figure},
            "summary": f"v = {value}",
        }

    write_results(tmp_path, **results(1))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == ["config.json", "curve.png", "manifest.json", "metrics.json", "summary.txt"]
    broken = results(2)
    broken["figures"]["curve"].savefig = lambda *args, **kwargs: (_ for _ in ()).throw(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        write_results(tmp_path, **broken)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    write_results(tmp_path, **results(3))
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"v": 3}
    assert json.loads((tmp_path / "manifest.json").read_text())["figures"] == ["curve.png"]


def test_results_are_written_atomically(tmp_path, monkeypatch):
    """An interrupted write leaves the previous file intact and no temporary file behind."""
    path = tmp_path / "metrics.json"
    io.write_json(path, {"loss": 1.0})

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "dump", interrupted)
    with pytest.raises(KeyboardInterrupt):
        io.write_json(path, {"loss": 2.0})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"loss": 1.0}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_list_names_every_experiment(capsys):
    """`list` prints one line per registered experiment, then one per page (the explorer)."""
    assert command.main(["list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(experiments.REGISTRY) + len(report.PAGES) and lines[0].startswith("gd_1d")
    assert lines[-1].startswith("explorer")


def test_the_index_links_the_explorer(tmp_path, monkeypatch):
    """`all` runs the pages after the experiments; index.html links explorer/index.html (a stand-in page here)."""
    page = types.ModuleType("stand_in_page")

    def main(argv):
        out = argv[argv.index("--out") + 1]
        prepare_out_dir(out)
        io.write_text(f"{out}/index.html", "<!DOCTYPE html><title>page</title>")
        return 0

    page.main = main
    monkeypatch.setitem(sys.modules, "stand_in_page", page)
    monkeypatch.setattr(report, "REGISTRY", {"gd_1d": experiments.REGISTRY["gd_1d"]})
    monkeypatch.setattr(report, "PAGES", {"explorer": ("stand_in_page", "The optimiser explorer")})
    outcomes = report.run_all(tmp_path, quick=True)
    assert [o["name"] for o in outcomes] == ["gd_1d", "explorer"] and all(o["error"] is None for o in outcomes)
    index = (tmp_path / "index.html").read_text()
    assert index.count('href="explorer/index.html"') == 2  # at the top and in its section
