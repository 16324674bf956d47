"""``python -m experiments all``: run every experiment, then write ``results/index.html``.

The page shows each experiment's figures with captions saying what they teach, its one-paragraph
reading, the course's published numbers where it printed some, and a note wherever the published
code had a bug.  It opens offline: images sit beside it and are linked by relative path.  After the
experiments come the ``PAGES``, pages built from the library itself (the optimiser explorer); a
result folder holding an ``index.html`` is linked from the page.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import html
import importlib
import io
import json
import multiprocessing
import os
import textwrap
import time
import traceback
from pathlib import Path

from experiments import REGISTRY
from experiments._common import configure_jax, prepare_out_dir

PAGES: dict[str, tuple[str, str]] = {
    # name: (module, what it shows); run after the experiments by ``all``, and on their own by name
    "explorer": (
        "experiments.explorer",
        "The optimiser explorer: learning rate × momentum (β₁, decay, ρ) of 8 optimisers on 5 problems, in one offline page",
    ),
}


def everything() -> dict[str, tuple[str, str]]:
    """The experiments, then the pages: name -> (module, description)."""
    return {**REGISTRY, **PAGES}


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.95em; margin-top: 0.3em; }
.bug { background: #fff4e5; border-left: 4px solid #f0a030; padding: 0.5em 0.8em; margin: 0.8em 0; }
.failed { background: #fdecea; border-left: 4px solid #d62728; padding: 0.5em 0.8em; }
.published { font-size: 0.95em; color: #333; } code { background: #f4f4f4; padding: 0 0.25em; }
nav a { margin-right: 0.8em; } .time { color: #777; font-size: 0.85em; }
.page-link { font-size: 1.1em; background: #eef6fb; border-left: 4px solid #17becf; padding: 0.5em 0.8em; }
"""


# the longest experiments start first, so that with several workers none is left running alone at the end
LONGEST_FIRST = (
    "model_selection",
    "optimizer_comparison",
    "lr_momentum_sweep",
    "batch_modes",
    "lr_scheduler",
    "explorer",
)


def default_jobs() -> int:
    """Workers for ``all``: one per CPU core, at most 4 (each holds its own JAX and compiled programs)."""
    return max(1, min(4, os.cpu_count() or 1))


def run_one(name: str, module_name: str, argv: list[str]) -> dict:
    """Runs one experiment's ``main(argv)``; its outcome (seconds, error or None, what it printed,
    and what the page shows of its module: ``CAPTIONS``, ``PUBLISHED``, ``BUGS``)."""
    began = time.perf_counter()
    printed = io.StringIO()
    shown = {}
    try:
        module = importlib.import_module(module_name)
        shown = {attribute: getattr(module, attribute, None) for attribute in ("CAPTIONS", "PUBLISHED", "BUGS")}
        with contextlib.redirect_stdout(printed):
            status = module.main(argv) or 0
        error = None if status == 0 else f"exited with status {status}"
    except Exception:  # noqa: BLE001 - one experiment's failure must not stop the others
        error = traceback.format_exc()
    return {
        "name": name,
        "seconds": time.perf_counter() - began,
        "error": error,
        "printed": printed.getvalue(),
        "shown": shown,
    }


def run_all(
    out_root: str | Path, *, quick: bool = False, seed: int = 0, names: list[str] | None = None, jobs: int = 1
) -> list[dict]:
    """Runs each experiment, then each of ``PAGES``, into ``out_root/<name>``; a failure is
    recorded, the others still run.

    ``jobs`` > 1 runs them in that many worker processes (started fresh, so each has its own
    JAX), longest first: on a CPU most of an experiment's time is XLA compiling its programs, one
    core per compile, so two workers on two cores take about half the time.  The outcomes and the
    page keep the experiments' order; each one's output is printed when it finishes.
    """
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer (worker processes); got {jobs!r}")
    root = prepare_out_dir(out_root)
    table = everything()
    names = list(table) if names is None else names
    arguments = {
        name: (name, table[name][0], ["--out", str(root / name), "--seed", str(seed)] + (["--quick"] if quick else []))
        for name in names
    }

    def report(number: int, name: str, outcome: dict) -> None:
        print(f"[{number}/{len(names)}] {name}: {table[name][1]}", flush=True)
        if outcome["printed"]:
            print(textwrap.indent(outcome["printed"].rstrip(), "    "), flush=True)
        print(f"    {'ok' if outcome['error'] is None else 'FAILED'} in {outcome['seconds']:.1f} s", flush=True)

    outcomes: dict[str, dict] = {}
    if jobs == 1 or len(names) == 1:
        for name in names:
            outcomes[name] = run_one(*arguments[name])
            report(len(outcomes), name, outcomes[name])
    else:
        order = sorted(names, key=lambda n: LONGEST_FIRST.index(n) if n in LONGEST_FIRST else len(LONGEST_FIRST))
        workers = min(jobs, len(names))
        context = multiprocessing.get_context("spawn")  # a forked JAX is unsafe
        print(f"running {len(names)} experiments in {workers} worker processes", flush=True)
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=configure_jax) as pool:
            futures = {pool.submit(run_one, *arguments[name]): name for name in order}
            import jaxopt_course.sweeps.files  # noqa: F401  (for write_index: its 0.6 s import overlaps the workers' runs)

            for future in concurrent.futures.as_completed(futures):
                name = futures[future]
                try:
                    outcomes[name] = future.result()
                except Exception:  # noqa: BLE001 - a worker that died (killed, out of memory)
                    outcomes[name] = {"name": name, "seconds": 0.0, "error": traceback.format_exc(), "printed": ""}
                report(len(outcomes), name, outcomes[name])
    ordered = [outcomes[name] for name in names]
    write_index(root, ordered)
    return ordered


def _section(root: Path, outcome: dict) -> str:
    name = outcome["name"]
    description = everything()[name][1]
    parts = [
        f'<h2 id="{name}">{html.escape(description)}</h2>',
        f'<p class="time"><code>python -m experiments {name}</code> · {outcome["seconds"]:.1f} s</p>',
    ]
    if outcome["error"]:
        parts.append(
            f'<div class="failed"><b>This experiment failed.</b><pre>{html.escape(outcome["error"][-2000:])}</pre></div>'
        )
        return "\n".join(parts)
    shown = outcome.get("shown") or {}
    folder = root / name
    if (folder / "index.html").exists():
        parts.append(
            f'<p class="page-link"><a href="{name}/index.html">Open the page: {html.escape(description)}</a></p>'
        )
    summary = folder / "summary.txt"
    if summary.exists():
        parts.append(f"<p>{html.escape(summary.read_text().strip())}</p>")
    published = shown.get("PUBLISHED")
    if published:
        items = ", ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in published.items())
        parts.append(f'<p class="published"><b>The course printed:</b> {items}</p>')
    bugs = shown.get("BUGS")
    if bugs:
        parts.append(f'<div class="bug"><b>Bug in the published code:</b> {html.escape(bugs)}</div>')
    captions = shown.get("CAPTIONS") or {}
    manifest = folder / "manifest.json"
    figures = json.loads(manifest.read_text())["figures"] if manifest.exists() else []
    for image in figures:  # this run's figures only: a stale PNG of an older run is not shown
        stem = Path(image).stem
        caption = captions.get(stem, "")
        parts.append(
            f'<figure><img src="{name}/{image}" alt="{html.escape(caption or stem)}"><figcaption>{html.escape(caption)}</figcaption></figure>'
        )
    return "\n".join(parts)


def write_index(root: Path, outcomes: list[dict]) -> Path:
    """Writes ``index.html`` atomically from the experiments' result folders."""
    failed = [o["name"] for o in outcomes if o["error"]]
    nav = " ".join(f'<a href="#{o["name"]}">{o["name"]}</a>' for o in outcomes)
    total = sum(o["seconds"] for o in outcomes)
    header = (
        f"<h1>jaxopt_course — the course, reproduced</h1><p>{len(outcomes)} experiments in {total:.0f} s"
        + (f'; <b class="failed">failed: {", ".join(failed)}</b>' if failed else "")
        + f"</p><nav>{nav}</nav>"
        + "".join(
            f'<p class="page-link"><a href="{o["name"]}/index.html">{html.escape(everything()[o["name"]][1])}</a></p>'
            for o in outcomes
            if o["name"] in PAGES and not o["error"]
        )
    )
    from jaxopt_course.sweeps.files import write_text

    body = "\n".join(_section(root, o) for o in outcomes)
    page = f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>jaxopt_course results</title><style>{STYLE}</style></head>\n<body>\n{header}\n{body}\n</body></html>\n'
    path = root / "index.html"
    write_text(path, page)
    return path
