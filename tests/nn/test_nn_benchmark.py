"""Smoke test: benchmarks/nn.py runs at --quick size and times equal programs."""

import importlib.util
import pathlib

BENCHMARK = pathlib.Path(__file__).parents[2] / "benchmarks" / "nn.py"


def test_benchmark_quick(capsys):
    spec = importlib.util.spec_from_file_location("nn_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    medians = module.main(["--quick"])
    assert set(medians) == set(module.VARIANTS)
    assert all(value > 0 for value in medians.values())
    out = capsys.readouterr().out
    assert "same op counts: True" in out and "ratio" in out
