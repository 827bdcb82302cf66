"""Smoke test: examples/batch_size_and_momentum.py at --quick size, and its claims."""

import importlib.util
import pathlib

EXAMPLE = pathlib.Path(__file__).parents[2] / "examples" / "batch_size_and_momentum.py"


def _load():
    spec = importlib.util.spec_from_file_location("batch_size_and_momentum_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_runs_quick_small_batches_fit_more_and_momentum_is_faster(tmp_path, capsys):
    result = _load().main(["--out", str(tmp_path), "--quick"])
    folder = tmp_path / "batch_size_and_momentum"
    for name in ("batch_size.png", "momentum.png", "history_batch16.png"):
        assert (folder / name).stat().st_size > 0, name
    n = result["num_train"]
    small, full = result["batch_sizes"][16], result["batch_sizes"][n]
    # same epochs, same η: batch 16 makes ⌈N/16⌉ updates per epoch and fits far better
    assert small["updates_per_epoch"] == -(-n // 16) and full["updates_per_epoch"] == 1
    assert small["train_accuracy"] > full["train_accuracy"] + 0.2
    assert small["history"].num_steps == result["epochs"] * small["updates_per_epoch"]
    assert full["seconds_per_epoch"] > 0 and small["seconds_per_update"] > 0
    for r in (small, full):
        assert r["gap"] == r["train_accuracy"] - r["val_accuracy"]
    momentum = result["momentum"]  # at batch 16 in quick mode, the same η
    assert momentum["momentum 0.9"]["train_loss"] < 0.8 * momentum["plain SGD"]["train_loss"]
    assert "full batch" in capsys.readouterr().out
