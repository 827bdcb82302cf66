"""Smoke run of benchmarks/monitor.py at --quick size (no timing is asserted)."""

import pathlib
import runpy

BENCHMARK = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "monitor.py"


def test_benchmark_quick_compares_every_monitor_set(capsys):
    main = runpy.run_path(str(BENCHMARK), run_name="monitor_benchmark")["main"]
    results = main(["--quick"])
    assert results["none"]["ratio_median"] == 1.0
    assert set(results) == {"none", "issue set"}
    assert all(r["ratio_median"] > 0 for r in results.values())
    assert "Cockpit" in capsys.readouterr().out


def test_a_hessian_measurement_is_not_charged_the_noise_scales_every_step_cost():
    # Before: the issue set's extra time, noise scale included, was divided among its 12
    # Hessian measurements (61 steps each on the 256 probe instead of 52).
    from jaxtrain import monitor

    module = runpy.run_path(str(BENCHMARK), run_name="monitor_benchmark")
    noise = monitor.gradient_noise_scale(every=1)
    sets = {
        "none": [],
        "issue set": [monitor.sharpness(every=50), noise],
        "noise scale/1": [monitor.gradient_noise_scale(every=1)],
    }
    extra = {"none": 0.0, "issue set": 1.0, "noise scale/1": 0.25}
    assert module["every_step_cost"](sets["issue set"], sets, extra) == 0.25
    assert module["every_step_cost"](sets["issue set"], {"none": []}, extra) == 0.0
