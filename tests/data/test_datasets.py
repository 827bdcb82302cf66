"""The bundled digits and the synthetic generators: shapes, ranges, reproducibility, errors."""

import warnings

import numpy as np
import pytest

from jaxtrain.data import load_digits, make_blobs, make_regression_curve, make_spirals


def test_digits_flat_and_image_forms():
    x, y = load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int32
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y) >= 170, True)
    images, labels = load_digits(flatten=False, dtype=np.float64)
    assert images.shape == (1797, 8, 8, 1) and images.dtype == np.float64
    np.testing.assert_allclose(images.reshape(1797, 64), x, atol=1e-7)
    np.testing.assert_array_equal(labels, y)


def test_digits_are_scikit_learns_read_without_importing_it(monkeypatch):
    import importlib.util
    import subprocess
    import sys

    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x, y = load_digits(dtype=np.float64)
    np.testing.assert_array_equal(x, bunch.data / 16.0)
    np.testing.assert_array_equal(y, bunch.target)
    code = (
        "import sys; from jaxtrain.data import load_digits; load_digits(); "
        "print('sklearn' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    # Where the bundled file is not found, scikit-learn's own loader gives the same arrays.
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, package=None: None)
    fallback_x, fallback_y = load_digits(dtype=np.float64)
    np.testing.assert_array_equal(fallback_x, x)
    np.testing.assert_array_equal(fallback_y, y)


@pytest.mark.parametrize("classes", [2, 3, 5])
def test_spirals(classes):
    uneven_counts = np.bincount(make_spirals(301, classes=classes, seed=0)[1])
    assert uneven_counts.sum() == 301 and uneven_counts.max() - uneven_counts.min() == 1
    x, y = make_spirals(300, classes=classes, noise=0.0, seed=0)
    assert x.shape == (300, 2) and x.dtype == np.float32 and y.dtype == np.int32
    counts = np.bincount(y)
    assert counts.tolist() == [300 // classes] * classes
    radius = np.linalg.norm(x, axis=1)
    assert radius.min() >= 0.1 - 1e-6 and radius.max() <= 1.0 + 1e-6
    # Noise-free arms are rotations of each other by 2π/classes.
    angle = 2 * np.pi / classes
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    arm0 = x[y == 0][np.argsort(np.linalg.norm(x[y == 0], axis=1))]
    arm1 = x[y == 1][np.argsort(np.linalg.norm(x[y == 1], axis=1))]
    np.testing.assert_allclose(arm0 @ rot.T, arm1, atol=1e-5)


def test_spirals_noise_and_seed():
    a = make_spirals(200, noise=0.2, seed=1)
    b = make_spirals(200, noise=0.2, seed=1)
    c = make_spirals(200, noise=0.2, seed=2)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    clean = make_spirals(200, noise=0.0, seed=1)
    assert not np.allclose(np.sort(a[0], axis=0), np.sort(clean[0], axis=0))


def test_blobs_random_and_given_centres():
    x, y = make_blobs(300, centers=4, dim=5, spread=0.01, seed=0)
    assert x.shape == (300, 5) and np.bincount(y).tolist() == [75] * 4
    assert np.abs(x).max() <= 5.1  # centres inside the default box
    for c in range(4):
        assert x[y == c].std(0).max() < 0.02
    centres = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    x, y = make_blobs(3000, centers=centres, spread=0.5, seed=1)
    for c in range(3):
        np.testing.assert_allclose(x[y == c].mean(0), centres[c], atol=0.06)
        np.testing.assert_allclose(x[y == c].std(0), 0.5, atol=0.05)
    np.testing.assert_array_equal(make_blobs(50, seed=3)[0], make_blobs(50, seed=3)[0])


def test_regression_curve():
    x, y = make_regression_curve(5000, noise=0.3, seed=0)
    assert x.shape == y.shape == (5000, 1) and x.dtype == y.dtype == np.float32
    assert x.min() >= -3 and x.max() <= 3
    residual = (y - np.sin(x.astype(np.float64)))[:, 0]
    assert abs(residual.mean()) < 0.02 and abs(residual.std() - 0.3) < 0.02
    x, y = make_regression_curve(40, noise=0.0, seed=1, fn=np.square, x_range=(0, 2))
    np.testing.assert_allclose(y, x.astype(np.float64) ** 2, rtol=1e-6)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: make_spirals(1, classes=2, seed=0), "`n`"),
        (lambda: make_spirals(10, classes=1, seed=0), "`classes`"),
        (lambda: make_spirals(10, noise=-1.0, seed=0), "`noise`"),
        (lambda: make_blobs(2, centers=3, seed=0), "`n`"),
        (lambda: make_blobs(10, centers=0, seed=0), "`centers`"),
        (lambda: make_blobs(10, centers=np.zeros(3), seed=0), "`centers`"),
        (lambda: make_blobs(10, dim=0, seed=0), "`dim`"),
        (lambda: make_blobs(10, spread=-0.5, seed=0), "`spread`"),
        (lambda: make_regression_curve(0, seed=0), "`n`"),
        (lambda: make_regression_curve(10, noise=-0.1, seed=0), "`noise`"),
        (lambda: make_regression_curve(10, seed=0, x_range=(1, 1)), "`x_range`"),
        (lambda: make_regression_curve(10, seed=0, fn=np.log, x_range=(-1, 1)), "`fn`"),
        (lambda: make_regression_curve(10, seed=0, fn=lambda x: x[:3]), "`fn`"),
        # Each returned non-finite inputs, or binary "images", without a word.
        (lambda: make_blobs(10, centers=[[np.nan, 0.0], [1.0, 1.0]], seed=0), "`centers`"),
        (lambda: make_blobs(10, box=1e300, seed=0), "`box`"),
        (lambda: make_regression_curve(5, seed=0, x_range=(0, 1e300)), "`x_range`"),
        (lambda: load_digits(dtype=np.int32), "`dtype` must be a float dtype"),
        (lambda: load_digits(dtype="U5"), "`dtype` must be a float dtype"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match), np.errstate(all="ignore"):
        call()


def test_digits_in_bfloat16():
    # bfloat16 is no NumPy float subtype: the float-dtype check refused it at first.
    import jax.numpy as jnp

    x, _ = load_digits(dtype=jnp.bfloat16)
    assert x.dtype == jnp.bfloat16 and float(x.max()) == 1.0


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: make_blobs(10, spread=1e39, seed=0), "`spread`"),
        (lambda: make_spirals(10, noise=1e39, seed=0), "`noise`"),
        (lambda: make_spirals(10, turns=1e308, seed=0), "`turns`"),
        (lambda: make_regression_curve(10, noise=1e39, seed=0), "`noise`"),
        (lambda: make_regression_curve(10, seed=0, fn=lambda x: 1e39 * x), "`fn`"),
    ],
    ids=["blobs_spread", "spirals_noise", "spirals_turns", "curve_noise", "curve_fn"],
)
def test_settings_that_give_non_finite_data_are_refused(call, match):
    # Before: inf inputs or targets (NaN for the turns), with only NumPy's RuntimeWarning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=match):
            call()


@pytest.mark.parametrize("x_range", [(0.0, 1.0, 2.0), (1.0,), ((0.0, 1.0),)])
def test_an_x_range_that_is_not_a_pair_is_refused(x_range):
    # Before: Python's "too many values to unpack (expected 2)".
    with pytest.raises(ValueError, match=r"`x_range` must be \(low, high\)"):
        make_regression_curve(10, seed=0, x_range=x_range)


_GENERATORS = {
    "spirals": lambda seed: make_spirals(10, seed=seed),
    "blobs": lambda seed: make_blobs(10, seed=seed),
    "curve": lambda seed: make_regression_curve(10, seed=seed),
}


@pytest.mark.parametrize("seed", [None, 1.5, "0", True])
@pytest.mark.parametrize("name", sorted(_GENERATORS))
def test_a_seed_that_is_not_an_int_is_refused(name, seed):
    # Before: seed=None gave new data on every call, and 1.5 NumPy's SeedSequence error.
    with pytest.raises(TypeError, match="`seed` must be an int"):
        _GENERATORS[name](seed)


@pytest.mark.parametrize("name", sorted(_GENERATORS))
def test_numpy_int_seeds_give_the_same_data_as_python_ints(name):
    for a, b in zip(_GENERATORS[name](np.int64(4)), _GENERATORS[name](4), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="`seed` must be a non-negative int"):
        _GENERATORS[name](-3)


@pytest.mark.parametrize(
    "call,match",
    [
        # Before: NumPy's "high - low < 0".
        (lambda: make_blobs(10, box=-5.0, seed=0), r"`box` must be a non-negative .*got -5\.0"),
        (lambda: make_blobs(10, box=float("inf"), seed=0), "`box`"),
        (lambda: make_blobs(10, box=True, seed=0), r"`box` must be a non-negative float"),
        (lambda: make_blobs(10, spread="1", seed=0), r"`spread` must be a non-negative float"),
        (lambda: make_spirals(10, noise=True, seed=0), r"`noise` must be a non-negative float"),
        (lambda: make_spirals(10, turns="2", seed=0), r"`turns` must be a non-negative float"),
        (lambda: make_regression_curve(10, seed=0, x_range=("0", "1")), "`x_range`"),
        (lambda: make_regression_curve(10, seed=0, x_range=(False, True)), "`x_range`"),
        (lambda: make_blobs(10, centers=[["0", "1"], ["1", "0"]], seed=0), "`centers`"),
        (lambda: make_blobs(10, centers=[[0, 1j], [1, 0]], seed=0), "`centers` must hold"),
    ],
)
def test_bools_strings_and_negative_boxes_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_numpy_and_jax_numbers_are_settings_like_python_ones():
    import jax.numpy as jnp

    for a, b in zip(
        make_blobs(10, box=np.float32(2.0), spread=jnp.float32(0.5), seed=0),
        make_blobs(10, box=2.0, spread=0.5, seed=0),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(
        make_spirals(10, noise=np.float64(0.25), turns=np.int64(2), seed=0),
        make_spirals(10, noise=0.25, turns=2.0, seed=0),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
