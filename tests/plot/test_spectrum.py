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


def test_a_bin_holding_both_signs_is_as_tall_as_its_count():
    # A Hessian's bulk straddles 0 with both signs: one bin holds most of each group. Drawn
    # one over the other, the bin read as the larger group (534 of 1,000); stacked, each
    # bin's top is its count and each color's share its group's.
    rng = np.random.default_rng(0)
    eigenvalues = np.r_[rng.normal(0.0, 0.01, 1000), 10.0 + rng.normal(0.0, 0.1, 5)]
    ax = plot_spectrum(eigenvalues, bins=60)
    edges = np.linspace(eigenvalues.min(), eigenvalues.max(), 61)
    counts, _ = np.histogram(eigenvalues, edges)
    tops = {}
    for patch in ax.patches:
        left = int(np.argmin(np.abs(edges[:-1] - patch.get_x())))
        tops[left] = max(tops.get(left, 0.0), patch.get_y() + patch.get_height())
    np.testing.assert_array_equal([tops.get(i, 0.0) for i in range(60)], counts)
    assert counts.max() > 990


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


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_values_that_are_not_finite_are_counted_apart_and_the_rest_drawn(bad):
    # One NaN made every histogram edge NaN (nothing drawn) and inf was counted as λ > 0.
    ax = plot_spectrum(np.array([-1.0, 1.0, 2.0, bad]), log_scale=False)
    assert sum(patch.get_height() for patch in ax.patches) == 3
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["λ < 0: 1", "λ > 0: 2", "not finite, not drawn: 1"]


def test_no_finite_eigenvalue_is_refused():
    with pytest.raises(ValueError, match="no finite eigenvalue to draw: all 2 are NaN or ±∞"):
        plot_spectrum(np.array([np.nan, np.inf]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        # A negative eig_tol counted λ = 0 in two groups and printed "λ < --0.5".
        ({"eig_tol": -0.5}, "eig_tol must be >= 0 and finite, got -0.5"),
        ({"eig_tol": np.nan}, "eig_tol must be >= 0 and finite, got nan"),
        ({"eig_tol": np.inf}, "eig_tol must be >= 0 and finite, got inf"),
        ({"bins": 0}, "bins must be a positive int, got 0"),
        ({"bins": 2.5}, "bins must be a positive int, got 2.5"),
    ],
)
def test_bad_tolerance_or_bins(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_spectrum(np.array([-1.0, 0.0, 1.0]), **kwargs)


def test_finite_eigenvalues_wider_than_an_axis_are_refused_in_one_line():
    # ±1e308 are finite, but their span overflows float64: every bin edge was NaN and numpy
    # raised "bins must increase monotonically"; a span of 8e307 still draws.
    with pytest.raises(ValueError, match="wider than one linear axis can draw"):
        plot_spectrum(np.array([-1e308, 1.0, 1e308]))
    ax = plot_spectrum(np.array([-4e307, 1.0, 4e307]))
    ax.figure.canvas.draw()
    assert ax.get_xlim()[1] >= 4e307


def test_eigenvalues_whose_span_with_zero_overflows_are_refused_at_once():
    # The dashed line at λ = 0 is on the axis too: [1e308, 1.7e308] passed the check and
    # failed later, in savefig ("arange: cannot compute length").
    with pytest.raises(ValueError, match="wider than one linear axis"):
        plot_spectrum(np.array([1e308, 1.7e308]))


def test_equal_eigenvalues_of_any_size_draw_a_bar():
    # Widened by ±0.5, 1e16 stayed 1e16: every bar had zero width and none showed.
    ax = plot_spectrum(np.array([1e16, 1e16]))
    widths = [patch.get_width() for patch in ax.patches]
    assert max(widths) > 0


@pytest.mark.parametrize("floor", [0.0, -1.0, float("nan")])
def test_a_density_floor_that_is_not_positive_is_refused(floor):
    # floor=nan drew an empty plot; floor=0 stretched the log axis over 40 decades.
    with pytest.raises(ValueError, match="floor"):
        plot_density(_density(), floor=floor)
