"""Smoke test: examples/batch_norm.py at --quick size, and its claims."""

import importlib.util
import pathlib

import pytest

EXAMPLE = pathlib.Path(__file__).parents[2] / "examples" / "batch_norm.py"


def _load():
    spec = importlib.util.spec_from_file_location("batch_norm_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_runs_quick_and_batch_of_one_needs_running_statistics(tmp_path, capsys):
    result = _load().main(["--out", str(tmp_path), "--quick"])
    assert (tmp_path / "batch_norm" / "batch_norm.png").stat().st_size > 0
    plain, with_bn = result["losses"][False], result["losses"][True]
    assert with_bn[-20:].mean() < 0.5 * plain[-20:].mean()
    acc = result["test_accuracy"]
    assert acc["running stats, whole test set"] > 0.85
    assert acc["running stats, batches of 1"] == pytest.approx(
        acc["running stats, whole test set"], abs=1e-6
    )
    assert acc["batch stats, batches of 1"] < 0.2  # chance: every output is the same
    assert "BatchNorm network at test time" in capsys.readouterr().out
