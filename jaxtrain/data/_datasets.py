"""Small data sets that run in seconds on a CPU: scikit-learn's digits and synthetic problems.

Each returns NumPy arrays ``(x, y)``: inputs in float32, class labels in int32, regression
targets in float32 of shape (N, 1). Synthetic generators draw from
``numpy.random.default_rng(seed)``: the same seed gives the same data.
"""

from __future__ import annotations

import importlib.util
import pathlib
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxtrain._numbers import is_int, is_real_dtype, real_number
from jaxtrain.data._splits import seeded_rng


def _check_count(n: int, name: str = "n", minimum: int = 1) -> int:
    if not is_int(n) or n < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}; got {n!r}.")
    return int(n)


# The data are float32: a centre, range, spread or noise beyond a millionth of its largest
# value leaves room for the others (and for several standard deviations of noise), and past
# the largest the data are inf.
_LARGEST_INPUT = float(np.finfo(np.float32).max) * 1e-6


def _check_in_float32(values: Any, name: str) -> np.ndarray:
    """``values`` as float64, refused unless numbers (not bools or strings), finite and well
    inside float32's range."""
    array = np.asarray(values)
    if array.dtype == np.bool_ or not is_real_dtype(array.dtype):
        raise ValueError(
            f"`{name}` must hold real numbers; got {values!r} (dtype {array.dtype}): pass floats."
        )
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)) or np.any(np.abs(array) > _LARGEST_INPUT):
        raise ValueError(
            f"`{name}` must be finite and within ±{_LARGEST_INPUT:.3g} (the data are "
            f"float32); got {values!r}."
        )
    return array


def _check_non_negative(value: float, name: str) -> float:
    number = real_number(value)
    if number is None:
        raise ValueError(
            f"`{name}` must be a non-negative float; got {value!r}, which is no number: pass "
            f"e.g. {name}=1.0."
        )
    if not 0.0 <= number < float("inf"):
        raise ValueError(f"`{name}` must be a non-negative finite float; got {value!r}.")
    return float(_check_in_float32(number, name))


def load_digits(*, flatten: bool = True, dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 handwritten 8×8 digits bundled with scikit-learn (offline), pixels in [0, 1].

    A real, small classification problem (10 classes, about 180 images each) that trains in
    seconds: big enough to overfit, to need a validation set and to show augmentation.
    The raw pixels are counts 0–16; they are divided by 16.

    Args:
      flatten: ``True`` gives x of shape (1797, 64) for MLPs; ``False`` gives images
        (1797, 8, 8, 1) in NHWC for convolutions and augmentation.
      dtype: the float dtype of x.

    Returns:
      ``(x, y)``: x in [0, 1] of ``dtype``, y int32 labels 0–9 of shape (1797,).

    Examples:
      >>> from jaxtrain.data import load_digits
      >>> x, y = load_digits(flatten=False)
      >>> x.shape, y.shape, float(x.min()), float(x.max()), int(y.max())
      ((1797, 8, 8, 1), (1797,), 0.0, 1.0, 9)

    References:
      Alpaydin and Kaynak, *Optical Recognition of Handwritten Digits*, UCI Machine Learning
      Repository, 1998, https://doi.org/10.24432/C50P49
    """
    if not jnp.issubdtype(dtype, jnp.floating):  # bfloat16 is no NumPy float, but a float
        # Pixels are 0, 1/16, …, 1: an integer dtype would keep only the black and white ones.
        raise ValueError(f"`dtype` must be a float dtype (pixels lie in [0, 1]); got {dtype!r}.")
    pixels, labels = _digits_table()
    images = pixels / 16.0
    x = images if flatten else images.reshape(-1, 8, 8, 1)
    return x.astype(dtype), labels


def _digits_table() -> tuple[np.ndarray, np.ndarray]:
    """The digits' pixel counts (1797, 64) as float64 and labels as int32.

    Read straight from the CSV file scikit-learn bundles (``datasets/data/digits.csv.gz``:
    64 pixel counts and the label per row): 20 ms, where importing scikit-learn to call its
    loader takes about a second, a large part of a command's start. Its own loader serves
    when the file is not where this version of scikit-learn keeps it.
    """
    spec = importlib.util.find_spec("sklearn")  # finds the package without importing it
    if spec is not None and spec.origin is not None:
        path = pathlib.Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            table = np.loadtxt(path, delimiter=",", dtype=np.float64)
            return table[:, :-1], table[:, -1].astype(np.int32)
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return np.asarray(bunch.data, np.float64), np.asarray(bunch.target, np.int32)


def _split_counts(n: int, groups: int) -> np.ndarray:
    counts = np.full(groups, n // groups, dtype=np.int64)
    counts[: n % groups] += 1
    return counts


def make_spirals(
    n: int,
    *,
    classes: int = 2,
    noise: float = 0.1,
    turns: float = 1.0,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved 2-D spirals, one arm per class: a problem no linear model can solve.

    Arm c at position t ∈ [0, 1] is r(t)·(cos φ, sin φ) with radius r = 0.1 + 0.9·t and angle
    φ = 2π·(``turns``·t + c/``classes``), plus Gaussian noise of standard deviation
    ``noise``. A small MLP separates them only when it has enough capacity *and* the
    optimization succeeds — the lecture's "model bias or optimization?" question.

    Args:
      n: total number of points, dealt as evenly as possible over the classes.
      classes: number of arms, >= 2.
      noise: standard deviation of the Gaussian jitter (the arms' radius is 1).
      turns: how many full turns each arm winds.
      seed: seed of the generator, a non-negative int.

    Returns:
      ``(x, y)``: x float32 (n, 2), y int32 (n,) in [0, classes).

    Raises:
      TypeError: if ``seed`` is not an int (``None`` would give new data on every call).
      ValueError: for ``n < classes``, ``classes < 2``, ``noise`` or ``turns`` negative or
        beyond ±3.4e32 (the points would not be finite in float32), or a negative ``seed``.

    Examples:
      >>> from jaxtrain.data import make_spirals
      >>> x, y = make_spirals(300, classes=3, noise=0.05, seed=0)
      >>> x.shape, x.dtype.name, y.tolist().count(2)
      ((300, 2), 'float32', 100)

    References:
      Lang and Witbrock, *Learning to Tell Two Spirals Apart*, Proceedings of the 1988
      Connectionist Models Summer School.
    """
    classes = _check_count(classes, "classes", minimum=2)
    n = _check_count(n, "n", minimum=classes)
    noise = _check_non_negative(noise, "noise")
    turns = _check_non_negative(turns, "turns")
    rng = seeded_rng(seed)
    xs, ys = [], []
    for c, count in enumerate(_split_counts(n, classes)):
        t = np.linspace(0.0, 1.0, int(count))
        radius = 0.1 + 0.9 * t
        angle = 2 * np.pi * (turns * t + c / classes)
        points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
        xs.append(points + noise * rng.standard_normal(points.shape))
        ys.append(np.full(int(count), c))
    perm = rng.permutation(n)
    x = np.concatenate(xs)[perm].astype(np.float32)
    return x, np.concatenate(ys)[perm].astype(np.int32)


def make_blobs(
    n: int,
    *,
    centers: int | Any = 3,
    dim: int = 2,
    spread: float = 1.0,
    box: float = 5.0,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters, one per class: x = μ_c + ``spread``·ε, ε ~ N(0, I).

    Well-separated blobs are the easy case (a linear model suffices); a large ``spread``
    makes the classes overlap, so the training loss cannot reach zero whatever the model.

    Args:
      n: total number of points, dealt as evenly as possible over the clusters.
      centers: the number of clusters (their centres drawn uniformly from
        [−``box``, ``box``]^dim) or an array (k, dim) of centres.
      dim: the input dimension (ignored when ``centers`` is an array).
      spread: the standard deviation of each cluster.
      box: half-width of the box the random centres are drawn from.
      seed: seed of the generator, a non-negative int.

    Returns:
      ``(x, y)``: x float32 (n, dim), y int32 (n,) — the index of the point's cluster.

    Raises:
      TypeError: if ``seed`` is not an int (``None`` would give new data on every call).
      ValueError: for ``n`` smaller than the number of clusters, a bad ``centers``,
        ``dim < 1``, ``spread`` or ``box`` negative or beyond ±3.4e32 (the points would not
        be finite in float32), or a negative ``seed``.

    Examples:
      >>> from jaxtrain.data import make_blobs
      >>> x, y = make_blobs(90, centers=[[0.0, 0.0], [10.0, 10.0]], spread=0.1, seed=0)
      >>> x.shape, bool((x[y == 1].mean(0) > 9).all())
      ((90, 2), True)

    References:
      Hastie, Tibshirani and Friedman, *The Elements of Statistical Learning*, §2.3.3
      (Gaussian mixtures as a classification testbed),
      https://hastie.su.domains/ElemStatLearn/
    """
    spread = _check_non_negative(spread, "spread")
    rng = seeded_rng(seed)
    if is_int(centers):
        k = _check_count(centers, "centers")
        dim = _check_count(dim, "dim")
        box = _check_non_negative(box, "box")
        means = rng.uniform(-box, box, size=(k, dim))
    else:
        means = _check_in_float32(centers, "centers")
        if means.ndim != 2 or means.shape[0] < 1 or means.shape[1] < 1:
            raise ValueError(
                f"`centers` must be an int or an array of shape (k, dim); got shape {means.shape}."
            )
        k, dim = means.shape
    n = _check_count(n, "n", minimum=k)
    y = np.repeat(np.arange(k), _split_counts(n, k))
    x = means[y] + spread * rng.standard_normal((n, dim))
    perm = rng.permutation(n)
    return x[perm].astype(np.float32), y[perm].astype(np.int32)


def make_regression_curve(
    n: int,
    *,
    noise: float = 0.1,
    seed: int,
    fn: Callable[[np.ndarray], np.ndarray] = np.sin,
    x_range: tuple[float, float] = (-3.0, 3.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy samples of a 1-D curve: y = f(x) + ``noise``·ε, x ~ U(x_range), ε ~ N(0, 1).

    The smallest regression task on which to watch a model underfit (too simple for f) or
    overfit (a flexible model chasing ε): the noise variance ``noise``² is the floor the
    test MSE cannot beat.

    Args:
      n: the number of samples.
      noise: the standard deviation σ of the additive Gaussian noise.
      seed: seed of the generator, a non-negative int.
      fn: the true curve f, applied element-wise to a float64 array.
      x_range: the interval (low, high) of the inputs.

    Returns:
      ``(x, y)``: both float32 of shape (n, 1).

    Raises:
      TypeError: if ``seed`` is not an int (``None`` would give new data on every call).
      ValueError: for ``n < 1``, ``noise`` negative or beyond ±3.4e32, an ``x_range`` that
        is not a pair (low, high) with low < high, an ``fn`` that does not return one value
        per input, finite and within ±3.4e32 (the targets are float32), or a negative
        ``seed``.

    Examples:
      >>> from jaxtrain.data import make_regression_curve
      >>> x, y = make_regression_curve(50, noise=0.0, seed=0, fn=lambda x: 2 * x)
      >>> x.shape, bool(abs(y - 2 * x).max() < 1e-6)
      ((50, 1), True)

    References:
      Bishop, *Pattern Recognition and Machine Learning*, 2006, §1.1 (the noisy sine curve),
      https://www.microsoft.com/en-us/research/publication/pattern-recognition-machine-learning/
    """
    n = _check_count(n)
    noise = _check_non_negative(noise, "noise")
    bounds = _check_in_float32(x_range, "x_range")
    if bounds.shape != (2,) or not bounds[0] < bounds[1]:
        raise ValueError(f"`x_range` must be (low, high) with low < high; got {x_range!r}.")
    rng = seeded_rng(seed)
    x = np.sort(rng.uniform(bounds[0], bounds[1], size=n))
    clean = np.asarray(fn(x), dtype=np.float64)
    if clean.shape != x.shape:
        raise ValueError(
            f"`fn` must map the inputs (shape {x.shape}) element-wise to finite values; got "
            f"shape {clean.shape}."
        )
    bad = ~(np.abs(clean) <= _LARGEST_INPUT)  # NaN fails the comparison too
    if bad.any():
        raise ValueError(
            f"`fn` must map the inputs to finite values within ±{_LARGEST_INPUT:.3g} (the "
            f"targets are float32); it gave {clean[bad][0]:.6g} at x = {x[bad][0]:.6g}."
        )
    y = clean + noise * rng.standard_normal(n)
    return x[:, None].astype(np.float32), y[:, None].astype(np.float32)
