"""plot_augmentations: a grid of originals and reproducible augmented copies."""

import jax
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from jaxtrain.data import augment_batch, horizontal_flip, random_crop
from jaxtrain.plot import plot_augmentations

KEY = jax.random.key(0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _shown(ax):
    return np.asarray(ax.images[0].get_array())


@pytest.mark.parametrize(
    "images",
    [
        np.random.default_rng(0).uniform(size=(3, 8, 8, 1)).astype(np.float32),
        np.random.default_rng(0).uniform(size=(2, 6, 6)).astype(np.float32),
        np.random.default_rng(0).integers(0, 256, size=(2, 6, 6, 3), dtype=np.uint8),
    ],
    ids=["grey_nhwc", "grey_nhw", "rgb_uint8"],
)
def test_grid_shape_and_cells(images, tmp_path):
    aug = random_crop(1)
    fig, axes = plot_augmentations(
        aug, images, KEY, num_augmented=3, labels=list(range(len(images)))
    )
    assert isinstance(fig, matplotlib.figure.Figure)
    assert axes.shape == (len(images), 4)
    assert axes[0, 0].get_title() == "original" and axes[0, 3].get_title() == "augmented 3"
    assert axes[1, 0].get_ylabel() == "1"
    # Column j shows augment_batch with the j-th split of the key: reproducible pictures.
    keys = jax.random.split(KEY, 3)
    expected = np.asarray(augment_batch(aug, keys[1], images), dtype=np.float64)
    shown = _shown(axes[0, 2])
    if images.dtype == np.uint8:
        np.testing.assert_allclose(shown, expected[0] / 255.0)
    else:
        np.testing.assert_allclose(shown, expected[0].reshape(shown.shape))
        np.testing.assert_allclose(_shown(axes[1, 0]), images[1].reshape(shown.shape))
    fig.savefig(tmp_path / "grid.png")
    assert (tmp_path / "grid.png").stat().st_size > 0


def test_flip_visible_in_the_grid():
    images = np.arange(2 * 4 * 5, dtype=np.float32).reshape(2, 4, 5) / 40
    _, axes = plot_augmentations(horizontal_flip(1.0), images, KEY, num_augmented=1)
    np.testing.assert_allclose(_shown(axes[1, 1]), images[1][:, ::-1])


def test_draws_into_given_axes():
    fig, given = plt.subplots(2, 3)
    images = np.zeros((2, 5, 5, 3), np.float32)
    out_fig, axes = plot_augmentations(horizontal_flip(), images, KEY, num_augmented=2, axes=given)
    assert out_fig is fig and axes[1, 2] is given[1, 2]
    with pytest.raises(ValueError, match="`axes`"):
        plot_augmentations(horizontal_flip(), images, KEY, num_augmented=3, axes=given)
    # The right count in another grid shape spread each image's copies over two rows.
    _, transposed = plt.subplots(3, 2)
    with pytest.raises(ValueError, match=r"`axes` holds 6 Axes in shape \(3, 2\)"):
        plot_augmentations(horizontal_flip(), images, KEY, num_augmented=2, axes=transposed)
    _, flat = plot_augmentations(
        horizontal_flip(), images, KEY, num_augmented=2, axes=list(given.ravel())
    )
    assert flat[1, 2] is given[1, 2]


def test_a_numpy_integer_count_of_copies_is_taken():
    images = np.zeros((1, 5, 5), np.float32)
    _, axes = plot_augmentations(horizontal_flip(), images, KEY, num_augmented=np.int64(2))
    assert axes.shape == (1, 3)


@pytest.mark.parametrize(
    "images,kwargs,match",
    [
        (np.zeros((8, 8)), {}, "`images`"),
        (np.zeros((0, 8, 8)), {}, "`images`"),
        (np.zeros((2, 3, 8, 8)), {}, "channels last"),
        (np.zeros((2, 8, 8)), {"num_augmented": 0}, "`num_augmented`"),
        (np.zeros((2, 8, 8)), {"labels": [1]}, "`labels`"),
    ],
)
def test_bad_arguments(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_augmentations(horizontal_flip(), images, KEY, **kwargs)


def test_one_nan_pixel_does_not_blank_the_other_images():
    # The shared brightness range was min/max, NaN with one NaN pixel: every cell one colour.
    images = np.random.default_rng(0).uniform(-2, 3, size=(2, 6, 6, 1)).astype(np.float32)
    images[0, 0, 0, 0] = np.nan
    fig, axes = plot_augmentations(horizontal_flip(), images, jax.random.key(0), num_augmented=1)
    low, high = axes.flat[-1].get_images()[0].get_clim()
    assert np.isfinite(low) and np.isfinite(high) and high > low
    plt.close(fig)
