"""The optimiser explorer: its embedded paths against direct runs, its metrics against closed forms,
the page's self-containment, and the page itself in a real browser (Debian's chromium)."""

from __future__ import annotations

import dataclasses
import io
import math
import re
import time
from pathlib import Path

import numpy as np
import pytest
from compiles import compiles

from experiments import explorer
from jaxopt_course import problems

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The --quick page, written by the command, its HTML and its decoded data."""
    out = tmp_path_factory.mktemp("explorer")
    with compiles() as compiled:
        assert explorer.main(["--quick", "--out", str(out)]) == 0
    html = (out / "index.html").read_text(encoding="utf-8")
    return {"path": out / "index.html", "html": html, "data": explorer.read_data(html), "compiled": compiled}


def test_quick_page_is_written_fast_and_is_self_contained(page):
    """--quick compiles one sweep program for all forty pairs; no fetch, no external script, style or link; < 15 MB.

    (A compile per pair or per optimiser would show here as 40 or 8 programs named ``run``; 0 when
    an earlier test of this process compiled it, the sweep keeps it by the run function's code.)
    """
    html = page["html"]
    assert page["compiled"].count("jit(run)") <= 1, page["compiled"]
    assert page["path"].stat().st_size < 15e6
    assert "fetch(" not in html and "XMLHttpRequest" not in html and "import(" not in html
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)=\"(?!data:)", html)
    assert not re.search(r"https?://", html)
    data = page["data"]
    assert set(data["pairs"]) == {f"{p}/{o}" for p in explorer.PAGES for o in explorer.OPTIMIZERS}
    for name, spec in explorer.OPTIMIZERS.items():  # the page says which convention and which equations
        assert (
            data["optimizers"][name]["convention"] == spec.convention and "←" in data["optimizers"][name]["equations"]
        )


def test_full_configuration_meets_the_grid_minimum():
    """The page's grid: ≥ 41 log-spaced learning rates × 21 knob values, ≥ 100 steps, one sweep per pair."""
    cfg = explorer.Config()
    assert cfg.num_learning_rates >= 41 and len(cfg.knob_values) >= 21 and cfg.num_steps >= 100
    for page in explorer.PAGES.values():
        for spec in explorer.OPTIMIZERS.values():
            grid = explorer.grid(page, spec, cfg)
            ratios = np.diff(np.log(grid["learning_rate"]))
            np.testing.assert_allclose(ratios, ratios[0], rtol=1e-4)
            assert len(grid["knob"]) == (21 if spec.knob else 1)


def test_embedded_paths_equal_direct_runs(page):
    """Random cells of every pair: the stored path is a direct run of the optimiser, to the storage precision.

    A step is compared while the run is determined to that precision: a second direct run from a
    start one float32 ulp away stays within a tenth of a quantum of the first (near the edge of
    stability, Rosenbrock and the plateau amplify rounding until no two programs agree).
    """
    data, rng = page["data"], np.random.default_rng(14)
    compared = total = 0
    for key, problem_page in explorer.PAGES.items():
        lo, hi = explorer.box(problem_page)
        quantum = (hi - lo) / explorer.LEVELS
        start = np.asarray(problem_page.problem.start, np.float32)
        for name, spec in explorer.OPTIMIZERS.items():
            pair = data["pairs"][f"{key}/{name}"]
            stored_path, stored_loss = explorer.decode_pair(data, f"{key}/{name}")
            for _ in range(1):  # each cell compiles its own direct run (~0.1 s)
                i, j = rng.integers(pair["shape"][0]), rng.integers(pair["shape"][1])
                optimizer = spec.build(pair["learning_rates"][i], pair["knobs"][j])
                direct = np.asarray(
                    problems.run_optimizer(problem_page.problem, optimizer, start, num_steps=data["steps"]), np.float64
                )
                nudged = np.asarray(
                    problems.run_optimizer(
                        problem_page.problem, optimizer, np.nextafter(start, np.inf), num_steps=data["steps"]
                    ),
                    np.float64,
                )
                with np.errstate(invalid="ignore"):
                    close = np.all(np.abs(nudged - direct) < quantum / 10, axis=1) | np.all(
                        ~np.isfinite(direct) & ~np.isfinite(nudged), axis=1
                    )
                determined = np.cumprod(close).astype(bool)
                inside = np.all(np.isfinite(direct) & (direct >= lo) & (direct <= hi), axis=1)
                near_edge = np.any(np.minimum(np.abs(direct - lo), np.abs(direct - hi)) < quantum, axis=1)
                where = f"{key}/{name} cell ({i}, {j})"
                check = determined & ~near_edge
                np.testing.assert_array_equal(
                    (stored_path[i, j, :, 0] != explorer.SENTINEL)[check], inside[check], err_msg=where
                )
                decoded = explorer.dequantise_path(problem_page, stored_path[i, j])
                shown = determined & inside
                np.testing.assert_array_less(
                    np.abs(decoded - direct)[shown], quantum / 2 + 1e-6 * np.abs(direct[shown]), err_msg=where
                )
                low, high = explorer.LOSS_RANGE
                loss = low + stored_loss[i, j].astype(np.float64) / explorer.LEVELS * (high - low)
                f = np.asarray([float(problem_page.problem.f(x.astype(np.float32))) for x in direct[shown]])
                expected = (
                    np.arcsinh(f / explorer.SADDLE_SCALE) / math.log(10)
                    if key == "saddle"
                    else np.log10(np.maximum(f, 1e-300))
                )
                ok = (
                    np.isfinite(expected) & (expected > low) & (expected < high) & (expected > -30)
                )  # float32 f is exact to its last bits above 1e-30
                np.testing.assert_allclose(
                    loss[shown][ok], expected[ok], atol=(high - low) / explorer.LEVELS, err_msg=where
                )
                compared, total = compared + determined.sum(), total + len(determined)
    assert compared > 0.8 * total, f"only {compared} of {total} steps were determined enough to compare"


def _caption_steps(name: str, lr: float, knob: float, x: np.ndarray, gradient, steps: int) -> np.ndarray:
    """The update equations the page prints for ``name``, by hand in float64: the path x_0 … x_steps."""
    state = {"v": np.zeros(2), "s": np.zeros(2), "d": np.zeros(2), "m": np.zeros(2), "vmax": np.zeros(2)}
    path = [x.copy()]
    for t in range(1, steps + 1):
        g = gradient(x)
        if name == "gd":
            step = g
        elif name == "momentum":  # v ← βv + g
            state["v"] = knob * state["v"] + g
            step = state["v"]
        elif name == "nesterov":  # b₁ = g, b ← βb + g; step g + βb
            state["v"] = g if t == 1 else knob * state["v"] + g
            step = g + knob * state["v"]
        elif name == "adagrad":  # s ← s + g²
            state["s"] = state["s"] + g * g
            step = g / np.sqrt(state["s"] + 1e-6)
        elif name == "rmsprop":
            state["s"] = knob * state["s"] + (1 - knob) * g * g
            step = g / np.sqrt(state["s"] + 1e-6)
        elif name == "adadelta":
            state["s"] = knob * state["s"] + (1 - knob) * g * g
            step = np.sqrt(state["d"] + 1e-6) / np.sqrt(state["s"] + 1e-6) * g
            state["d"] = knob * state["d"] + (1 - knob) * step * step
        else:  # adam, amsgrad (β₂ = 0.999)
            state["m"] = knob * state["m"] + (1 - knob) * g
            state["s"] = 0.999 * state["s"] + 0.001 * g * g
            state["vmax"] = np.maximum(state["vmax"], state["s"])
            m_hat = state["m"] / (1 - knob**t)
            if name == "adam":
                step = m_hat / (np.sqrt(state["s"] / (1 - 0.999**t)) + 1e-6)
            else:
                step = m_hat / (np.sqrt(state["vmax"]) / np.sqrt(1 - 0.999**t) + 1e-8)
        x = x - lr * step
        path.append(x.copy())
    return np.asarray(path)


@pytest.mark.parametrize("name", list(explorer.OPTIMIZERS))
def test_stored_paths_follow_the_printed_equations(page, name):
    """The first steps stored for E10's quadratic are the page's caption equations, computed by hand."""
    data, problem_page = page["data"], explorer.PAGES["ill"]
    pair = data["pairs"][f"ill/{name}"]
    stored, _ = explorer.decode_pair(data, f"ill/{name}")
    lo, hi = explorer.box(problem_page)
    for i in range(pair["shape"][0] // 3, pair["shape"][0] - 2, 2):  # mid-range learning rates, any knob
        for j in range(pair["shape"][1]):
            knob = pair["knobs"][j] if pair["knobs"][j] is not None else 0.0
            by_hand = _caption_steps(
                name, pair["learning_rates"][i], knob, np.array([-5.0, -2.0]), lambda x: np.array([0.2, 4.0]) * x, 6
            )
            if not np.all((by_hand >= lo) & (by_hand <= hi)):
                continue
            decoded = explorer.dequantise_path(problem_page, stored[i, j, :7])
            np.testing.assert_allclose(
                decoded, by_hand, atol=float(np.max(hi - lo)) / explorer.LEVELS, err_msg=f"{name} cell ({i}, {j})"
            )


def test_rate_and_escape_step_match_closed_forms():
    """GD on x² + 2y²: rate max|1 − ηλ| (λ = 2, 4); GD on the saddle: escape at the first t with 10⁻³(1 + 2η)ᵗ > 1."""
    cfg = dataclasses.replace(explorer.QUICK, num_learning_rates=41)
    bowl = explorer.run_pair(explorer.PAGES["bowl"], "gd", cfg)
    eta = np.asarray(bowl["learning_rates"], np.float64)
    modes = np.sort(np.abs(np.stack([1 - 2 * eta, 1 - 4 * eta])), axis=0)
    theory = modes[1]
    measured = bowl["metrics"]["rate"][:, 0]
    # where the slower mode alone is left by the tail of the run (the last quarter)
    slow = ((modes[0] / theory) ** (0.75 * cfg.num_steps) < 1e-4) & (theory**cfg.num_steps > 1e-6)
    assert slow.sum() >= 3 and np.any(theory[slow] > 1)  # converging and diverging cells
    np.testing.assert_allclose(measured[slow], theory[slow], rtol=2e-3)
    saddle = explorer.run_pair(explorer.PAGES["saddle"], "gd", cfg)
    eta = np.asarray(saddle["learning_rates"], np.float64)
    expected = np.ceil(np.log(1e3) / np.log1p(2 * eta))
    expected = np.where(expected <= cfg.num_steps, expected, np.inf)
    measured = saddle["metrics"]["escape step"][:, 0]
    exact = (
        np.abs(np.log(1e3) / np.log1p(2 * eta) - np.round(np.log(1e3) / np.log1p(2 * eta))) > 1e-3
    )  # not on a float32 tie
    np.testing.assert_array_equal(measured[exact], expected[exact])


def test_momentum_theory_marks_polyaks_optimum():
    """The quadratics carry Polyak's optimum for heavy ball; E10's κ = 20 gives β* = ((√20 − 1)/(√20 + 1))²."""
    theory = explorer.momentum_theory(explorer.PAGES["ill"])
    kappa = 20.0
    assert theory["momentum"] == pytest.approx(((math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)) ** 2)
    assert theory["learning_rate"] == pytest.approx(4 / (math.sqrt(4.0) + math.sqrt(0.2)) ** 2)
    assert (
        explorer.momentum_theory(explorer.PAGES["rosenbrock"]) is None
        and explorer.momentum_theory(explorer.PAGES["saddle"]) is None
    )


def test_pack_round_trips_and_quantisation_flags_what_leaves_the_box():
    """pack/unpack is exact; a point outside the box or not finite is the sentinel in both coordinates."""
    bowl = explorer.PAGES["bowl"]
    path = np.array([[[-10.0, -10.0], [5.0, 3.0], [40.0, 0.0], [np.nan, 1.0]]], np.float32)
    q = explorer.quantise_path(bowl, path)
    assert q[0, 2].tolist() == [explorer.SENTINEL] * 2 and q[0, 3].tolist() == [explorer.SENTINEL] * 2
    np.testing.assert_allclose(explorer.dequantise_path(bowl, q[0, :2]), path[0, :2], atol=60 / explorer.LEVELS)
    loss = explorer.quantise_loss(np.array([[-np.inf, 0.0, np.inf, np.nan]]))
    assert loss.tolist() == [[0, round(46 / 86 * explorer.LEVELS), explorer.SENTINEL, explorer.SENTINEL]]
    unpacked = explorer.unpack(explorer.pack(q, loss), [q.shape, loss.shape])
    np.testing.assert_array_equal(unpacked[0], q)
    np.testing.assert_array_equal(unpacked[1], loss)
    assert explorer.drawn_points(bowl, q[0]).shape == (2, 2)


# ---------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium through its own chromedriver; selenium-manager never runs."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(
            f"the browser test needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}): apt-get install chromium chromium-driver"
        )
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="the browser test needs selenium (pip install selenium)"
    )
    from selenium.webdriver.chrome.service import Service

    environment = pytest.MonkeyPatch()
    environment.setenv("SE_OFFLINE", "true")  # selenium-manager, were it ever asked, may download nothing
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,800",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        service=Service(executable_path=str(CHROMEDRIVER)), options=options
    )  # both paths given: no lookup
    yield driver
    driver.quit()
    environment.undo()


def _viewport(driver, width, height):
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def _settled(driver, expect=None, timeout=10.0):
    """Waits until the page has drawn (and its state has the expected entries); returns the state."""
    deadline = time.monotonic() + timeout
    while True:
        state = driver.execute_script(
            "return window.explorer && window.explorer.ready() ? window.explorer.state() : null"
        )
        if state and all(state[k] == v for k, v in (expect or {}).items()):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"the page did not settle on {expect}; state {state}")
        time.sleep(0.05)


def _assert_draws_selected_cell(driver, data, expect=None):
    """The drawn points (JS hook and data- attribute) are the stored path of the selected cell."""
    state = _settled(driver, expect)
    key = f"{state['problem']}/{state['optimizer']}"
    stored, _ = explorer.decode_pair(data, key)
    expected = explorer.drawn_points(
        explorer.PAGES[state["problem"]], stored[state["lr"], state["knob"]], state["step"]
    )
    drawn = np.asarray(driver.execute_script("return window.explorer.drawnPoints()"), np.float64).reshape(-1, 2)
    np.testing.assert_allclose(drawn, expected, rtol=1e-12, atol=1e-12, err_msg=key)
    import json

    attribute = np.asarray(
        json.loads(driver.find_element("id", "path-view").get_attribute("data-points")), np.float64
    ).reshape(-1, 2)
    np.testing.assert_allclose(attribute, expected, rtol=1e-12, atol=1e-12)
    selected = json.loads(driver.execute_script("return document.body.dataset.selected"))
    assert {k: selected[k] for k in ("problem", "optimizer", "lr", "knob")} == {
        k: state[k] for k in ("problem", "optimizer", "lr", "knob")
    }
    return state


def _console_errors(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_page_in_chromium(page, browser, tmp_path):
    """From file://: no console error; switching problem and optimiser, both sliders by keyboard, the
    step slider and a heat-map click each draw the selected cell's path; the screenshot is not blank."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    driver, data = browser, page["data"]
    _viewport(driver, 1280, 800)
    driver.get(page["path"].as_uri())
    state = _assert_draws_selected_cell(driver, data)
    assert [state["lr"], state["knob"]] == data["pairs"][f"{state['problem']}/{state['optimizer']}"]["initial"]
    assert _console_errors(driver) == []

    Select(driver.find_element("id", "problem")).select_by_value("bowl")
    _assert_draws_selected_cell(driver, data, {"problem": "bowl"})
    Select(driver.find_element("id", "optimizer")).select_by_value("adam")
    state = _assert_draws_selected_cell(driver, data, {"problem": "bowl", "optimizer": "adam"})
    n_lr, n_knob = data["pairs"]["bowl/adam"]["shape"]

    lr_slider = driver.find_element("id", "lr")
    lr_slider.send_keys(Keys.HOME)
    _assert_draws_selected_cell(driver, data, {"lr": 0})
    lr_slider.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    _assert_draws_selected_cell(driver, data, {"lr": 2})
    knob_slider = driver.find_element("id", "knob")
    start_knob = state["knob"]
    knob_slider.send_keys(Keys.ARROW_LEFT if start_knob > 0 else Keys.ARROW_RIGHT)
    state = _assert_draws_selected_cell(driver, data, {"lr": 2, "knob": start_knob - 1 if start_knob > 0 else 1})
    step_slider = driver.find_element("id", "step")
    step_slider.send_keys(Keys.END, Keys.ARROW_LEFT, Keys.ARROW_LEFT)
    _assert_draws_selected_cell(driver, data, {"step": data["steps"] - 2})
    step_slider.send_keys(Keys.END)
    driver.find_element("id", "play").click()  # from the last step, play starts again at 0 and runs to the end
    seen = {driver.execute_script("return window.explorer.state().step") for _ in range(20)}
    assert min(seen) < data["steps"], "play did not start from the first step"
    _assert_draws_selected_cell(driver, data, {"step": data["steps"]})
    assert driver.find_element("id", "play").text.startswith("▶")

    target = (n_lr - 2, n_knob - 2)
    heatmap = driver.find_element("id", "heatmap")
    x, y = driver.execute_script("return window.explorer.cellOffset(arguments[0], arguments[1])", *target)
    ActionChains(driver).move_to_element_with_offset(heatmap, x, y).click().perform()
    _assert_draws_selected_cell(driver, data, {"lr": target[0], "knob": target[1], "step": data["steps"]})
    heatmap.send_keys(Keys.ARROW_LEFT, Keys.ARROW_UP)  # the focused heat map follows the arrow keys too
    _assert_draws_selected_cell(driver, data, {"lr": target[0] - 1, "knob": target[1] + 1})

    Select(driver.find_element("id", "problem")).select_by_value("saddle")
    Select(driver.find_element("id", "optimizer")).select_by_value("gd")
    _assert_draws_selected_cell(driver, data, {"problem": "saddle", "optimizer": "gd"})
    assert driver.find_element("id", "knob-field").is_displayed() is False  # GD has no second knob
    assert _console_errors(driver) == []

    screenshot = tmp_path / "explorer.png"
    driver.save_screenshot(str(screenshot))
    _assert_not_blank(screenshot)

    _viewport(driver, 390, 844)  # a phone
    driver.get(page["path"].as_uri())
    _assert_draws_selected_cell(driver, data)
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at a phone's width ({width} px)"
    assert _console_errors(driver) == []


def _assert_not_blank(path: Path):
    """Many colours, and enough pixels that are neither white nor one flat colour."""
    import matplotlib.image

    pixels = (matplotlib.image.imread(io.BytesIO(path.read_bytes()), format="png")[..., :3] * 255).astype(np.uint8)
    assert pixels.shape[0] >= 600 and pixels.shape[1] >= 1200
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 200, f"only {len(colours)} colours in the screenshot"
    assert (pixels.min(axis=-1) < 230).mean() > 0.2  # at least a fifth is not near-white: contours and heat map drawn
