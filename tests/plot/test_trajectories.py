"""plot_trajectories and plot_schedules draw what they are given and refuse, with a message
that says so, what they cannot draw."""

import re

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pytest

from jaxtrain.plot import plot_schedules, plot_trajectories


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("shape", [(0, 2), (3, 3), (4,)])
def test_a_path_that_is_not_t_by_2_is_refused(shape):
    # An empty path has the (T, 2) shape with T = 0 but no last point to mark: IndexError.
    message = re.escape(f"path 'gd' must have shape (T, 2) with T >= 1, got {shape}")
    with pytest.raises(ValueError, match=message):
        plot_trajectories(lambda p: jnp.sum(p**2), {"gd": np.zeros(shape)}, grid_size=10)


def _saddle(p):
    return p[0] ** 2 - p[1] ** 2


_SADDLE_PATH = {"gd": np.array([[1.0, 0.1], [0.5, 0.2], [0.1, 1.0]])}


def test_a_loss_below_zero_is_contoured_as_it_is_by_default():
    # log₁₀ floored at 1e-8 × max drew the saddle's descending half (49% of the grid) as one
    # flat band at −8, with every level crowded along L = 0: the way down looked flat.
    ax = plot_trajectories(_saddle, _SADDLE_PATH, xlim=(-1, 1), ylim=(-1, 1), grid_size=21)
    levels = ax.collections[0].levels
    assert levels.min() <= -1.0 and levels.max() >= 1.0  # L itself, −1 … 1


def test_log_scale_true_refuses_a_loss_below_zero():
    message = r"log_scale=True .* 200 of the 441 finite losses are negative \(lowest -1\)"
    with pytest.raises(ValueError, match=message):
        plot_trajectories(
            _saddle, _SADDLE_PATH, xlim=(-1, 1), ylim=(-1, 1), grid_size=21, log_scale=True
        )


@pytest.mark.parametrize("log_scale", [None, True])
def test_a_loss_never_below_zero_is_contoured_on_a_log_scale(log_scale):
    # The bowl's minimum L = 0 sits on the grid: drawn at the floor log₁₀(1e-8 × 2).
    ax = plot_trajectories(
        lambda p: jnp.sum(p**2),
        _SADDLE_PATH,
        xlim=(-1, 1),
        ylim=(-1, 1),
        grid_size=21,
        log_scale=log_scale,
    )
    levels = ax.collections[0].levels
    assert levels.min() <= np.log10(2e-8) and levels.max() <= np.log10(2.0) + 0.5


@pytest.mark.parametrize("as_array", [np.array, jnp.array, list])
def test_limits_may_be_any_sequence_of_two_numbers(as_array):
    # `xlim or default` asked an array for its truth value: ValueError "ambiguous".
    ax = plot_trajectories(
        lambda p: jnp.sum(p**2),
        _SADDLE_PATH,
        xlim=as_array([-1.5, 1.5]),
        ylim=as_array([-0.5, 2.0]),
        grid_size=10,
    )
    assert ax.get_xlim() == (-1.5, 1.5) and ax.get_ylim() == (-0.5, 2.0)


@pytest.mark.parametrize("name", ["xlim", "ylim"])
@pytest.mark.parametrize(
    "limits",
    # Before, the last five were taken: text read as numbers, True as 1, and NaN, inf or one
    # point spanned no grid (a blank plot, or NumPy's warnings).
    [(0.0, 1.0, 2.0), ("-1", "1"), (True, 2.0), (float("nan"), 1.0), (0.0, np.inf), (1.0, 1.0)],
)
def test_limits_that_are_not_two_different_finite_numbers_are_refused(name, limits):
    with pytest.raises(
        ValueError, match=rf"`{name}` must be two different finite numbers \(low, high\), got"
    ):
        plot_trajectories(lambda p: jnp.sum(p**2), _SADDLE_PATH, grid_size=10, **{name: limits})


@pytest.mark.parametrize(
    "minimum", [np.array([[0.5, 0.7]]), (0.5, 0.7, 9.0), 0.5, ("0", "1"), (np.nan, 0.5)]
)
def test_a_minimum_that_is_not_two_finite_numbers_is_refused(minimum):
    # [[0.5, 0.7]] drew stars at (0, 0.5) and (1, 0.7), three numbers one at (0, 9).
    with pytest.raises(ValueError, match=r"`minimum` must be two finite numbers \(θ₁, θ₂\), got"):
        plot_trajectories(lambda p: jnp.sum(p**2), _SADDLE_PATH, grid_size=10, minimum=minimum)


@pytest.mark.parametrize("grid_size", [0, 1, 2.5, True])
def test_a_grid_of_fewer_than_two_points_per_axis_is_refused(grid_size):
    with pytest.raises(ValueError, match="grid_size must be an int >= 2, got"):
        plot_trajectories(lambda p: jnp.sum(p**2), _SADDLE_PATH, grid_size=grid_size)


def test_a_coordinate_the_paths_do_not_move_in_gets_a_map_of_the_others_scale():
    # A path along θ₁ alone had a map 0.002 high: the valley's walls out of sight.
    path = np.stack([np.linspace(2.0, 0.0, 11), np.zeros(11)], axis=1)
    ax = plot_trajectories(lambda p: p[0] ** 2 + 10 * p[1] ** 2, {"GD": path}, grid_size=10)
    low, high = ax.get_ylim()
    assert low == pytest.approx(-0.3) and high == pytest.approx(0.3)
    assert ax.get_xlim() == pytest.approx((-0.3, 2.3))


def test_schedules_take_a_numpy_integer_count():
    # is_int's rule for every count: np.int64(5) was refused as "not an integer".
    ax = plot_schedules({"constant": 0.1}, np.int64(5))
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), np.arange(5))


@pytest.mark.parametrize("num_steps", [True, 5.0, 0, np.int64(0)])
def test_schedules_refuse_a_count_that_is_not_an_integer_of_at_least_one(num_steps):
    message = re.escape(f"`num_steps` must be an integer >= 1, got {num_steps!r}")
    with pytest.raises(ValueError, match=message):
        plot_schedules({"constant": 0.1}, num_steps)


def test_with_x64_the_map_is_evaluated_at_float64_points():
    # The grid was float32 whatever the mode: zoomed in near 1e4, 15 of 50 columns were
    # alike and the map was off by 12% of its range.
    from jax_modes import x64_enabled

    seen = []

    def loss(p):
        seen.append(p.dtype)
        return jnp.sum((p - 1e4) ** 2)

    with x64_enabled():
        plot_trajectories(loss, {"p": np.array([[1e4 - 1e-3, 1e4], [1e4, 1e4]])}, grid_size=5)
    assert seen and all(dtype == jnp.float64 for dtype in seen), seen
