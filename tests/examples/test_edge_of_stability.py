"""Smoke test: examples/edge_of_stability.py at a tiny size, and its claims."""

import importlib.util
import math
import pathlib
from types import MappingProxyType

import numpy as np

EXAMPLE = pathlib.Path(__file__).parents[2] / "examples" / "edge_of_stability.py"


def _load():
    spec = importlib.util.spec_from_file_location("edge_of_stability_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_runs_tiny_records_sharpness_at_two_over_eta_and_steps_per_batch_size(
    tmp_path, capsys, monkeypatch
):
    example = _load()
    # --quick's settings, shortened further: the same code paths in a few seconds.
    tiny_edge = MappingProxyType({"learning_rates": (0.5,), "steps": 40, "every": 10})
    tiny_batches = MappingProxyType(
        {"batch_sizes": (20, None), "target_loss": 0.5, "max_steps": 100}
    )
    monkeypatch.setattr(example, "EDGE_SETTINGS", (tiny_edge, tiny_edge))
    monkeypatch.setattr(example, "BATCH_SETTINGS", (tiny_batches, tiny_batches))
    result = example.main(["--out", str(tmp_path), "--quick"])

    folder = tmp_path / "edge_of_stability"
    for name in ("edge_of_stability.png", "critical_batch_size.png"):
        assert (folder / name).read_bytes()[:4] == b"\x89PNG", name
    assert result["adam"] is None  # Adam's run is for the full size only

    run = result["edge"][0.5]
    measured = np.isfinite(run["sharpness"])
    np.testing.assert_array_equal(np.nonzero(measured)[0], [0, 10, 20, 30])
    assert np.all(run["sharpness"][measured] > 0)
    np.testing.assert_allclose(run["threshold"][measured], 2 / 0.5, rtol=1e-6)  # 2/η
    summary = result["summaries"][("GD", 0.5)]
    assert summary["threshold"] == 4.0 and summary["hover_min"] <= summary["hover_max"]
    # λmax at the start is above 2/η = 4 for η = 0.5, and gradient descent brings it down.
    assert summary["sharpness_start"] > 4.0 > summary["lowest_ratio"] * 4.0
    assert summary["loss_end"] < summary["loss_start"]

    batches = result["batches"]
    np.testing.assert_array_equal(batches["batch_size"], [20, 1000])
    assert np.all(np.isfinite(batches["steps"]))
    assert np.all(batches["steps"] < batches["run_steps"])
    assert math.isfinite(batches["b_simple"]) and batches["b_simple"] > 0

    out = capsys.readouterr().out
    assert "GD η=0.5" in out and "λmax·η/2 = " in out
    assert "B_simple" in out and "steps to training loss 0.5" in out
