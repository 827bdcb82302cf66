"""plot_loss_slice_1d / plot_loss_surface_2d draw the slices jaxtrain.landscape computes."""

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pytest

from jaxtrain.landscape import loss_slice_1d, loss_surface_2d
from jaxtrain.plot import plot_loss_slice_1d, plot_loss_surface_2d


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def toy(w):
    return (1.0 - w[0] * w[1]) ** 2


def test_slice_line_and_origin_marker():
    alphas = jnp.linspace(-2.0, 2.0, 21)
    u = jnp.array([1.0, 1.0]) / jnp.sqrt(2.0)
    losses = loss_slice_1d(toy, jnp.zeros(2), u, alphas)
    _, ax = plt.subplots()
    out = plot_loss_slice_1d(alphas, losses, ax, label="escape direction")
    assert out is ax
    line, marker = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), np.asarray(losses))
    np.testing.assert_allclose(marker.get_ydata(), [1.0])  # the saddle's loss at α = 0
    assert ax.get_legend().get_texts()[0].get_text() == "escape direction"


def test_surface_contours_are_transposed_for_matplotlib():
    alphas, betas = jnp.linspace(-2.0, 2.0, 9), jnp.linspace(-1.0, 1.0, 5)
    surface = loss_surface_2d(
        toy, jnp.zeros(2), jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]), alphas, betas
    )
    ax = plot_loss_surface_2d(alphas, betas, surface, levels=10)
    assert len(ax.figure.axes) == 2  # the plot and its colorbar
    assert ax.get_xlim() == (-2.0, 2.0) and ax.get_ylim() == (-1.0, 1.0)
    ax_log = plot_loss_surface_2d(
        alphas, betas, surface, log_scale=True, filled=False, colorbar=False, mark_origin=False
    )
    assert len(ax_log.figure.axes) == 1 and not ax_log.get_lines()


def test_bad_shapes():
    with pytest.raises(ValueError, match="equal length"):
        plot_loss_slice_1d(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=r"\(len\(alphas\), len\(betas\)\) = \(3, 2\)"):
        plot_loss_surface_2d(np.zeros(3), np.zeros(2), np.zeros((2, 3)))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_cell_does_not_blank_a_log_scaled_surface(bad):
    # The floor was 1e-6 × max(losses): NaN or inf with one bad cell, and every cell with it.
    alphas = np.linspace(-1.0, 1.0, 5)
    losses = np.add.outer(alphas**2, alphas**2) + 0.1
    losses[0, 0] = bad
    ax = plot_loss_surface_2d(alphas, alphas, losses, log_scale=True)
    drawn = np.asarray(ax.collections[0].get_array(), dtype=float)
    levels = ax.collections[0].levels
    assert np.isfinite(levels).all() and levels.max() - levels.min() > 0.5
    assert drawn.size > 0
    plt.close(ax.figure)


def test_the_origin_marker_sits_on_the_curve_for_descending_alphas():
    alphas = np.linspace(1.0, -1.0, 5)
    ax = plot_loss_slice_1d(alphas, (alphas - 0.5) ** 2)
    (marker,) = [line for line in ax.lines if line.get_marker() == "o"]
    np.testing.assert_allclose(marker.get_ydata(), [0.25])
    plt.close(ax.figure)


def test_an_empty_slice_is_refused():
    with pytest.raises(ValueError, match=r"non-empty 1-D arrays of equal length, got \(0,\)"):
        plot_loss_slice_1d(np.array([]), np.array([]))


@pytest.mark.parametrize(
    ("alphas", "betas", "drawn"),
    [
        (np.linspace(4.0, 6.0, 5), np.linspace(4.0, 6.0, 4), False),
        (np.linspace(4.0, 6.0, 5), np.linspace(-1.0, 1.0, 4), False),  # β spans 0, α not
        (np.linspace(-1.0, 1.0, 5), np.linspace(0.0, 1.0, 4), True),  # 0 on an edge
    ],
)
def test_the_origin_is_marked_only_where_the_surface_holds_it(alphas, betas, drawn):
    # A marker outside the grid stretched the axes from [4, 6] to [-0.3, 6].
    ax = plot_loss_surface_2d(alphas, betas, np.add.outer(alphas, betas))
    assert len(ax.get_lines()) == int(drawn)
    assert ax.get_xlim() == (alphas[0], alphas[-1]) and ax.get_ylim() == (betas[0], betas[-1])


@pytest.mark.parametrize(("num_alphas", "num_betas"), [(1, 4), (4, 1), (0, 4)])
def test_a_surface_needs_two_ticks_on_each_axis(num_alphas, num_betas):
    # loss_surface_2d computes one α well, but a contour of one column is matplotlib's
    # TypeError, not the ValueError the docstring promises.
    alphas, betas = np.linspace(0.0, 1.0, num_alphas), np.linspace(0.0, 1.0, num_betas)
    with pytest.raises(
        ValueError,
        match=f"contours need at least 2 alphas and 2 betas, got {num_alphas} and {num_betas}",
    ):
        plot_loss_surface_2d(alphas, betas, np.ones((num_alphas, num_betas)))


@pytest.mark.parametrize("floor", [0.0, -1e-6, np.inf, np.nan])
def test_a_log_floor_that_is_not_positive_and_finite_is_refused(floor):
    # floor = 0 drew the valley's exact minima at log₁₀ 0 = −∞: blank cells, not "drawn at" it.
    alphas = np.linspace(-1.0, 1.0, 5)
    losses = np.add.outer(alphas**2, alphas**2)  # L = 0 at the origin
    with pytest.raises(ValueError, match=rf"a log floor must be positive and finite, got {floor}"):
        plot_loss_surface_2d(alphas, alphas, losses, log_scale=True, floor=floor)


def test_log_scale_true_refuses_a_loss_below_zero():
    # The same rule as plot_trajectories: log₁₀ would draw the whole side where L < 0 at the
    # floor, one flat band.
    alphas = np.linspace(-1.0, 1.0, 5)
    saddle = np.subtract.outer(alphas**2, alphas**2)
    with pytest.raises(ValueError, match=r"8 of the 25 finite losses are negative"):
        plot_loss_surface_2d(alphas, alphas, saddle, log_scale=True)


def test_a_slice_on_a_log_scale_takes_the_surfaces_rule():
    # A log axis has no place for L < 0: 15 of these 21 points were left out without a word,
    # where the surface refuses them. The same rule now: True refuses, None chooses.
    alphas = np.linspace(-1.0, 1.0, 21)
    with pytest.raises(ValueError, match=r"15 of the 21 finite losses are negative"):
        plot_loss_slice_1d(alphas, alphas**2 - 0.5, log_scale=True)
    assert plot_loss_slice_1d(alphas, alphas**2 - 0.5, log_scale=None).get_yscale() == "linear"
    assert plot_loss_slice_1d(alphas, alphas**2 + 0.5, log_scale=None).get_yscale() == "log"


@pytest.mark.parametrize(("shift", "label"), [(0.0, "loss"), (1.0, "log₁₀ loss")])
def test_log_scale_none_chooses_by_the_sign_of_the_losses(shift, label):
    alphas = np.linspace(-1.0, 1.0, 5)
    losses = np.subtract.outer(alphas**2, alphas**2) + shift  # shift 1: no loss below zero
    ax = plot_loss_surface_2d(alphas, alphas, losses, log_scale=None)
    assert ax.figure.axes[1].get_ylabel() == label


def test_a_slice_through_a_zero_loss_keeps_its_minimum_on_a_log_axis():
    # L = α² reaches 0 at α = 0: on a log axis that point and the marked origin lay off the
    # axis (0.0079 to 1.26 shown), and an all-zero slice drew an empty panel. Zeros sit on the
    # contour maps' floor, 10⁻⁶ × the largest loss.
    alphas = np.linspace(-1.0, 1.0, 21)
    ax = plot_loss_slice_1d(alphas, alphas**2, log_scale=None)
    ax.figure.canvas.draw()
    line, marker = ax.get_lines()
    assert ax.get_yscale() == "log"
    assert marker.get_ydata()[0] == pytest.approx(1e-6)
    low, high = ax.get_ylim()
    assert low <= marker.get_ydata()[0] <= high and low <= np.min(line.get_ydata())
    flat = plot_loss_slice_1d(alphas, np.zeros(21), log_scale=True)
    np.testing.assert_allclose(flat.get_lines()[0].get_ydata(), 1e-6)
    # Off a log axis the losses are drawn as they are.
    plain = plot_loss_slice_1d(alphas, alphas**2)
    np.testing.assert_array_equal(plain.get_lines()[0].get_ydata(), alphas**2)
