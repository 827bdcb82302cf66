"""plot_spectrum / plot_density draw what they are given, on a given or a new Axes."""

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pytest

from jaxtrain.curvature import spectral_density
from jaxtrain.plot import plot_density, plot_spectrum


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _density():
    H = jnp.diag(jnp.array([-1.0, 0.5, 1.0, 2.0, 3.0]))
    return spectral_density(
        lambda v: H @ v, jnp.zeros(5), num_probes=3, num_iters=5, key=jax.random.key(0)
    )


def test_histogram_splits_negative_zero_positive():
    _, ax = plt.subplots()
    out = plot_spectrum(np.array([-2.0, -1.0, 0.0, 1e-9, 1.0, 4.0]), ax, eig_tol=1e-6)
    assert out is ax
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["λ < -1e-06: 2", "|λ| ≤ 1e-06: 2", "λ > 1e-06: 2"]
    assert ax.get_yscale() == "log"
    heights = sum(patch.get_height() for patch in ax.patches)
    assert heights == 6


def test_histogram_of_identical_values_and_labels():
    ax = plot_spectrum(np.full(4, 2.0), log_scale=False, label="trained")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["trained: λ > 0: 4"]
    assert ax.get_yscale() == "linear"


def test_density_is_drawn_on_its_grid():
    density = _density()
    ax = plot_density(density, label="SLQ")
    (line,) = ax.get_lines()[:1]
    np.testing.assert_allclose(line.get_xdata(), np.asarray(density.grid))
    assert np.all(line.get_ydata() >= 1e-8)
    assert ax.get_yscale() == "log"
    # plot_spectrum hands a density over to plot_density.
    ax2 = plot_spectrum(density, log_scale=False)
    np.testing.assert_allclose(ax2.get_lines()[0].get_ydata(), np.asarray(density.density))


def test_bad_inputs():
    with pytest.raises(ValueError, match="non-empty 1-D"):
        plot_spectrum(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="non-empty 1-D"):
        plot_spectrum(np.array([]))
    with pytest.raises(TypeError, match="SpectralDensity"):
        plot_density(np.array([1.0, 2.0]))
