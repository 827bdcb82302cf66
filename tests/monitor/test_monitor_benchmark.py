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
