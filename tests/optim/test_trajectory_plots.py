"""plot_trajectories and plot_schedules (jaxtrain.plot helpers of the optim pictures)."""

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pytest
from optim_cases import narrow_parabola

from jaxtrain import optim
from jaxtrain.optim import schedules
from jaxtrain.plot import plot_schedules, plot_trajectories


def test_trajectories_over_contours():
    start = jnp.array([-3.0, 0.5])
    paths = {
        name: optim.optimize_trajectory(opt, narrow_parabola, start, 40)[0]
        for name, opt in {"SGD": optim.sgd(0.015), "Adam": optim.adam(0.3)}.items()
    }
    fig, ax = plt.subplots()
    returned = plot_trajectories(narrow_parabola, paths, ax, grid_size=30, minimum=(0.0, 0.0))
    assert returned is ax
    labels = [line.get_label() for line in ax.get_lines()]
    assert "SGD" in labels and "Adam" in labels
    sgd_line = ax.get_lines()[labels.index("SGD")]
    np.testing.assert_allclose(sgd_line.get_xydata(), np.asarray(paths["SGD"]))
    assert ax.collections  # the contour sets
    plt.close(fig)


def test_explicit_limits_and_diverged_paths():
    diverged = np.array([[1.0, 1.0], [np.inf, np.nan]])
    ax = plot_trajectories(
        narrow_parabola, {"boom": diverged}, xlim=(-2, 2), ylim=(-1, 1), grid_size=10
    )
    assert ax.get_xlim() == (-2.0, 2.0) and ax.get_ylim() == (-1.0, 1.0)
    plt.close(ax.figure)


def test_schedules_plot_values():
    scheds = {
        "warmup+cosine": schedules.warmup_cosine_decay(0.0, 1.0, 10, 100),
        "constant": 0.5,
    }
    ax = plot_schedules(scheds, 100, log_scale=False)
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["constant"].get_ydata(), 0.5)
    np.testing.assert_allclose(lines["warmup+cosine"].get_ydata()[10], 1.0, rtol=1e-6)
    plt.close(ax.figure)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: plot_trajectories(narrow_parabola, {}), "at least one path"),
        (lambda: plot_trajectories(narrow_parabola, {"x": np.zeros((3, 3))}), r"shape \(T, 2\)"),
        (lambda: plot_schedules({}, 10), "at least one schedule"),
        (lambda: plot_schedules({"c": 0.1}, 0), "`num_steps`"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_loss_that_overflows_on_part_of_the_grid_keeps_its_contours():
    # exp(40·x²) is inf at the grid's edges: the floor 1e-8 × max was inf, and so was every
    # cell raised to it; the contours came out empty.
    paths = {"a": np.array([[0.0, 1.0], [2.0, 0.0]])}
    ax = plot_trajectories(lambda p: jnp.exp(40 * p[0] ** 2) + p[1] ** 2, paths, grid_size=20)
    levels = ax.collections[0].levels
    assert np.isfinite(levels).all() and levels.max() - levels.min() > 1.0
    plt.close(ax.figure)
