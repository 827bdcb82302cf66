"""Smoke run of benchmarks/optim.py at --quick size (no timing is asserted)."""

import pathlib
import runpy

BENCHMARK = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "optim.py"


def test_benchmark_quick_runs_every_optimizer(capsys):
    main = runpy.run_path(str(BENCHMARK), run_name="optim_benchmark")["main"]
    results = main(["--quick", "--repeats", "2", "--inner", "1", "--only", "sgd", "adam"])
    assert set(results) == {"sgd", "adam"}
    assert all(ours > 0 and theirs > 0 for ours, theirs in results.values())
    assert "ratio" in capsys.readouterr().out
