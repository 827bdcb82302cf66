"""Smoke test: examples/optimizer_trajectories.py at --quick size, in process."""

import pathlib
import runpy

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "optimizer_trajectories.py"


def test_optimizer_trajectories_quick(tmp_path, capsys):
    main = runpy.run_path(str(EXAMPLE), run_name="optimizer_trajectories_example")["main"]
    results = main(["--quick", "--out", str(tmp_path)])
    out = tmp_path / "optimizer_trajectories"
    for name in ("optimizer_trajectories.png", "learning_rate_schedules.png"):
        assert (out / name).stat().st_size > 20_000
    valley = results["final_loss"]["valley"]
    assert len(valley) == 5 and len(results["final_loss"]["rosenbrock"]) == 5
    start_loss = 0.5 * (9.0**2 + 100 * 0.9**2)
    assert all(loss < 1e-2 * start_loss for loss in valley.values())
    # Momentum and Adam reach the bottom of the narrow valley; plain SGD is still crawling.
    assert valley["momentum (η=0.004, λ=0.9)"] < 1e-6 and valley["Adam (η=0.3)"] < 1e-6
    assert valley["SGD (η=0.019)"] > 1e-4
    values = results["schedules"]["values"]
    assert len(values) == 4 and all(max(v) <= 1e-3 * (1 + 1e-5) for v in values.values())
    printed = capsys.readouterr().out
    assert "rosenbrock" in printed and "learning rate at steps" in printed
