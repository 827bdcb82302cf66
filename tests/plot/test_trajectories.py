"""plot_trajectories refuses what it cannot draw with a message that says so."""

import re

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pytest

from jaxtrain.plot import plot_trajectories


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
