"""``jaxtrain tour --quick`` end to end: the report's content, the lecture's claims, the page.

The quick tour runs once per test session (a module fixture, shared between pytest-xdist
workers through a file lock) and every test reads its output.
"""

import contextlib
import json
import math
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from jaxtrain.cli._tour import SECTIONS

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

EXPECTED_FIGURES = {
    "task_strategy": {
        "deep_vs_shallow",
        "what_went_wrong",
        "overfitting_and_mismatch",
        "augmentation",
    },
    "critical_points": {"toy_saddle", "trained_spectrum", "minimum_ratio_vs_loss"},
    "batch_and_momentum": {"batch_size", "critical_batch_size", "momentum_ridge"},
    "adaptive_learning_rate": {"narrow_surface", "edge_of_stability", "schedules", "warmup"},
    "loss_functions": {"error_surfaces", "training"},
    "batch_normalization": {"with_and_without", "test_time_statistics"},
}


@contextlib.contextmanager
def _exclusive(lock_path: pathlib.Path):
    """A lock shared by the xdist workers of one session (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: each worker runs its own tour
        yield
        return
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    """``(out_dir, report.json content, the tour's stderr)`` of one ``--quick`` run."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, shared by all workers
    out = root / "jaxtrain-tour-quick"
    stderr_file = root / "jaxtrain-tour-quick.stderr"
    with _exclusive(root / "jaxtrain-tour-quick.lock"):
        if not (out / "report.json").exists():
            # The real command line in a fresh interpreter, as a user runs it.
            result = subprocess.run(
                [sys.executable, "-m", "jaxtrain", "tour", "--quick", "--out", str(out)],
                capture_output=True,
                text=True,
                timeout=1200,
            )
            stderr_file.write_text(result.stderr)
            assert result.returncode == 0, result.stderr[-3000:]
            assert "wrote" in result.stdout and "report.html" in result.stdout
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return out, report, stderr_file.read_text()


def _numbers(report, section, figure):
    return report["sections"][section]["figures"][figure]["numbers"]


def _leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def test_every_section_and_figure_is_present(tour):
    _, report, _ = tour
    assert list(report["sections"]) == list(SECTIONS)
    for section, figures in EXPECTED_FIGURES.items():
        assert set(report["sections"][section]["figures"]) == figures
    assert report["meta"]["quick"] is True
    assert report["meta"]["backend"] in {"cpu", "gpu", "tpu"}


def test_numbers_are_finite_and_captions_carry_them(tour):
    out, report, _ = tour
    for section in report["sections"].values():
        assert section["summary"]
        for name, figure in section["figures"].items():
            numbers = [v for v in _leaves(figure["numbers"]) if not isinstance(v, str | bool)]
            assert numbers, f"{name} stores no numbers"
            for value in numbers:
                assert value is not None and math.isfinite(value), f"{name}: {value!r}"
            assert re.search(r"\d\.\d\d", figure["caption"]), f"{name}: caption has no result"
            assert (out / figure["file"]).read_bytes()[:4] == b"\x89PNG"


def test_progress_bar_per_section(tour):
    _, report, stderr = tour
    for section in report["sections"].values():
        total = len(section["figures"])
        assert f"{section['title']}: 100%" in stderr
        assert f"{total}/{total}" in stderr


def test_html_is_self_contained(tour):
    out, report, _ = tour
    page = (out / "report.html").read_text(encoding="utf-8")
    total = sum(len(s["figures"]) for s in report["sections"].values())
    assert page.count('<img src="data:image/png;base64,') == total
    for section in report["sections"].values():
        for figure in section["figures"].values():
            # Captions appear escaped in the page (quotes and ampersands included).
            caption = figure["caption"].replace("&", "&amp;").replace('"', "&quot;")
            assert caption.replace("'", "&#x27;") in page


def test_toy_saddle_claims(tour):
    _, report, _ = tour
    saddle = _numbers(report, "critical_points", "toy_saddle")
    assert saddle["kind"] == "saddle"
    assert saddle["eigenvalues"] == pytest.approx([-2.0, 2.0], abs=1e-5)
    u = saddle["escape_direction"]
    assert abs(u[0]) == pytest.approx(2**-0.5, abs=1e-5) and u[0] == pytest.approx(u[1])
    assert saddle["measured_loss_change"] < 0
    assert saddle["valley_eigenvalues"] == pytest.approx([0.0, 4.0], abs=1e-4)


def test_spectrum_claims(tour):
    _, report, _ = tour
    spectrum = _numbers(report, "critical_points", "trained_spectrum")
    total = spectrum["num_positive"] + spectrum["num_negative"] + spectrum["num_zero"]
    assert total == spectrum["n_params"]
    # Lanczos quadrature sees the same extreme curvature as the dense Hessian.
    assert spectrum["lanczos_max"] == pytest.approx(spectrum["max_eigenvalue"], rel=1e-2)
    ratio = _numbers(report, "critical_points", "minimum_ratio_vs_loss")
    assert all(0.0 <= r <= 1.0 for r in ratio["minimum_ratios"])


def test_batch_and_momentum_claims(tour):
    _, report, _ = tour
    batch = _numbers(report, "batch_and_momentum", "batch_size")
    assert batch["batch_16_train_accuracy"] > batch["full_batch_train_accuracy"] + 0.3
    assert batch["batch_16_updates"] > 10 * batch["full_batch_updates"]
    ridge = _numbers(report, "batch_and_momentum", "momentum_ridge")
    assert ridge["gd_final_theta"] == pytest.approx(1.35, abs=0.05)
    assert ridge["momentum_final_theta"] == pytest.approx(-1.47, abs=0.05)


def test_adaptive_claims(tour):
    _, report, _ = tour
    narrow = _numbers(report, "adaptive_learning_rate", "narrow_surface")
    sgd = min(narrow["final_loss SGD η = 0.9"], narrow["final_loss SGD η = 0.2"])
    assert narrow["final_loss Adam η = 0.3"] < sgd / 10
    assert narrow["adagrad_effective_step_w1"] > narrow["adagrad_effective_step_w2"]
    warmup = _numbers(report, "adaptive_learning_rate", "warmup")
    assert warmup["none_max_early_loss"] > 1.5 * warmup["warmup_max_early_loss"]
    assert warmup["none_final_loss"] > warmup["warmup_final_loss"]


def test_stability_claims(tour):
    _, report, _ = tour
    edge = _numbers(report, "adaptive_learning_rate", "edge_of_stability")["gd η=0.5"]
    assert edge["threshold"] == pytest.approx(2 / 0.5)
    # λmax starts above 2/η, gradient descent brings it down, and it ends near 2/η
    assert edge["sharpness_start"] > 2 * edge["threshold"]
    assert 0.9 < edge["hover_min"] <= edge["hover_max"] < 1.3
    assert edge["loss_end"] < 0.1 * edge["loss_start"]
    batch = _numbers(report, "batch_and_momentum", "critical_batch_size")
    assert batch["batch_sizes"][0] == 1 and batch["batch_sizes"][-1] == batch["num_examples"]
    steps = batch["steps_to_target"]
    assert all(isinstance(s, float) for s in steps), steps
    assert steps[0] > 3 * steps[-1]  # one example per step needs far more steps
    assert batch["b_simple"] > 0 and batch["b_crit"] < batch["num_examples"]


def test_loss_claims(tour):
    _, report, _ = tour
    surfaces = _numbers(report, "loss_functions", "error_surfaces")
    assert surfaces["mse_grad_norm_at_start"] < 1e-6
    assert surfaces["ce_grad_norm_at_start"] == pytest.approx(2**0.5, rel=1e-3)
    assert surfaces["ce_loss_after"] < 0.1 < surfaces["mse_loss_after"]
    training = _numbers(report, "loss_functions", "training")
    assert training["ce_train_accuracy"] > training["mse_train_accuracy"] + 0.5


def test_batchnorm_claims(tour):
    _, report, _ = tour
    test_time = _numbers(report, "batch_normalization", "test_time_statistics")
    assert test_time["running_stats_accuracy"] > 0.8
    assert test_time["batch_of_one_accuracy"] < 0.2
    both = _numbers(report, "batch_normalization", "with_and_without")
    assert both["bn_final_val_accuracy"] > both["plain_final_val_accuracy"] + 0.3


def test_task_strategy_claims(tour):
    _, report, _ = tour
    deep = _numbers(report, "task_strategy", "deep_vs_shallow")
    assert deep["verdict"] == "optimization"
    shallow_train, deep_train = deep["train_loss_over_baseline"]
    assert deep_train > shallow_train + 0.2
    cases = _numbers(report, "task_strategy", "overfitting_and_mismatch")
    assert cases["overfitting_case_verdict"] == "overfitting"
    assert cases["mismatch_case_verdict"] == "mismatch"
    augmentation = _numbers(report, "task_strategy", "augmentation")["val_accuracy"]
    assert augmentation["upside down (p = 0.5)"] < augmentation["none"]


def _chromium() -> str | None:
    if os.path.exists("/usr/bin/chromium"):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_report_renders_in_chromium(tour, tmp_path, width):
    executable = _chromium()
    if executable is None:
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    out, report, _ = tour
    total = sum(len(s["figures"]) for s in report["sections"].values())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto((out / "report.html").as_uri(), wait_until="load")
            images = page.evaluate(
                """() => Array.from(document.images).map(img => ({
                    complete: img.complete,
                    natural: img.naturalWidth,
                    width: img.getBoundingClientRect().width,
                    container: img.parentElement.clientWidth,
                }))"""
            )
            figures = page.evaluate(
                """() => Array.from(document.querySelectorAll('figure')).map(f => ({
                    width: f.getBoundingClientRect().width,
                    container: f.parentElement.clientWidth,
                }))"""
            )
            scroll = page.evaluate(
                "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            page.screenshot(path=str(tmp_path / f"report-{width}.png"), full_page=True)
            page.screenshot(path=str(tmp_path / f"report-{width}-top.png"))
        finally:
            browser.close()
    assert len(images) == total
    for image in images:
        assert image["complete"] and image["natural"] > 0, image
        assert image["width"] <= image["container"] + 0.5, image
    assert len(figures) == total
    for figure in figures:
        assert figure["width"] <= figure["container"] + 0.5, figure
    assert scroll[0] <= scroll[1], f"the page scrolls sideways: {scroll}"
    assert (tmp_path / f"report-{width}.png").stat().st_size > 10_000
