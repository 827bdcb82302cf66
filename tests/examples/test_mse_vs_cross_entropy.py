"""Smoke test: examples/mse_vs_cross_entropy.py at --quick size, and its claims."""

import importlib.util
import pathlib

EXAMPLE = pathlib.Path(__file__).parents[2] / "examples" / "mse_vs_cross_entropy.py"


def _load():
    spec = importlib.util.spec_from_file_location("mse_vs_cross_entropy", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_runs_quick_and_shows_the_plateau(tmp_path, capsys):
    result = _load().main(["--out", str(tmp_path), "--quick"])
    assert (tmp_path / "mse_vs_cross_entropy" / "mse_vs_cross_entropy.png").stat().st_size > 0
    grads = {(logits, loss): norm for logits, loss, norm in result["gradients"]}
    # REFERENCES.md: at (−10, 10, −1000) the MSE gradient is ~1e-8, cross-entropy's ~1.4.
    assert grads[("(-10, 10, -1000)", "MSE after softmax")] < 1e-7
    assert 1.3 < grads[("(-10, 10, -1000)", "cross-entropy")] < 1.5
    mse_losses, mse_acc = result["training"]["MSE after softmax"]
    ce_losses, ce_acc = result["training"]["cross-entropy"]
    assert mse_losses[-1] > 0.95 * mse_losses[0]  # stalls on the plateau
    assert ce_losses[-1] < 0.01 * ce_losses[0] and ce_acc > 0.9  # escapes
    assert mse_acc < 0.6
    assert "cross-entropy" in capsys.readouterr().out
