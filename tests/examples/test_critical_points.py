"""Smoke test: examples/critical_points.py at --quick size, in process."""

import pathlib
import runpy

import pytest

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "critical_points.py"


@pytest.mark.slow
def test_critical_points_quick(tmp_path, capsys):
    main = runpy.run_path(str(EXAMPLE), run_name="critical_points_example")["main"]
    results = main(["--quick", "--out", str(tmp_path)])
    out = tmp_path / "critical_points"
    names = {
        "toy_error_surface.png",
        "escape_vs_gradient_descent.png",
        "trained_spectrum.png",
        "trained_slices.png",
        "minimum_ratio_vs_loss.png",
    }
    assert names <= {p.name for p in out.glob("*.png")}
    assert all((out / name).stat().st_size > 10_000 for name in names)
    # Gradient descent from the saddle does not move; the escape step goes down.
    assert results["toy"]["stuck"] == 1.0
    assert results["toy"]["escape_change"] < -0.2
    assert results["toy"]["after"] < 1e-3
    assert results["trained"]["grad_norm"] < 1e-2
    assert set(results["scatter"]) == {"tanh", "relu"}
    printed = capsys.readouterr().out
    assert "saddle" in printed and "Frye et al. 2021" in printed
