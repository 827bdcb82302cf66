"""Train/validation/test splits, k-fold cross-validation and standardization.

The lecture (§1) chooses a model on a validation set, never on the test set (the public
leaderboard would be overfitted), and uses k-fold cross-validation when data are few.
Preprocessing statistics such as the mean and spread of each feature are part of the model:
they are fitted on the training split only and then applied unchanged to validation and test.

Host-side randomness (permutations of indices) comes from ``numpy.random.default_rng(seed)``:
an explicit seeded generator, no global state, the same seed gives the same split.
"""

from __future__ import annotations

import math
import sys
from typing import Any, NamedTuple

import numpy as np

from jaxtrain._numbers import is_float_dtype, is_int, is_real_dtype, real_number
from jaxtrain._text import counted
from jaxtrain.data._checks import check_unmasked
from jaxtrain.data._labels import are_soft_labels

ArrayPair = tuple[np.ndarray, np.ndarray]


class Splits(NamedTuple):
    """The result of :func:`train_val_test_split`: ``(x, y)`` pairs per split.

    Attributes:
      train: ``(x_train, y_train)``.
      val: ``(x_val, y_val)``, or ``None`` when ``val_fraction == 0``.
      test: ``(x_test, y_test)``, or ``None`` when ``test_fraction == 0``.
    """

    train: ArrayPair
    val: ArrayPair | None
    test: ArrayPair | None


def _check_fraction(value: float, name: str) -> float:
    fraction = real_number(value)
    if fraction is None:
        raise ValueError(
            f"`{name}` must be a float in [0, 1); got {value!r}, which is no number: pass "
            f"e.g. {name}=0.2."
        )
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"`{name}` must be a float in [0, 1); got {value!r}.")
    return fraction


def seeded_rng(seed: Any) -> np.random.Generator:
    """``numpy.random.default_rng(seed)`` for a result that must be reproducible: None would
    draw fresh entropy from the OS on every call, so two calls would differ silently."""
    if not is_int(seed):
        raise TypeError(
            f"`seed` must be an int, so that the same seed gives the same result; got "
            f"{seed!r}. Pass a fixed int such as seed=0."
        )
    if seed < 0:
        raise ValueError(f"`seed` must be a non-negative int; got {seed!r}.")
    return np.random.default_rng(int(seed))


def _smallest_n(fraction: float) -> str:
    """The fewest examples n with round(n · fraction) ≥ 1, as text for a message."""
    bound = 0.5 / fraction
    if bound > 2**53:
        # Adding 1 no longer moves n · fraction once n is past the integers a float holds
        # exactly; a subnormal fraction even makes the bound inf.
        return f"more than {min(bound, sys.float_info.max):.2g} examples"
    n = max(1, math.floor(bound))
    while round(n * fraction) == 0:
        n += 1
    return f"at least {n} examples"


def _label_column(y: np.ndarray) -> np.ndarray:
    """One label per row of 2-D targets: the entry of an (N, 1) column of labels, or the most
    likely class of one-hot or soft rows (N, K)."""
    return y[:, 0] if y.shape[1] == 1 else np.argmax(y, axis=1)


def class_labels(y: np.ndarray) -> np.ndarray | None:
    """Class labels for stratification: integer or bool labels (N,) or (N, 1), or the likeliest
    class of one-hot/soft rows (N, K), K > 1, as :func:`check_dataset` defines them (every row
    non-negative and summing to 1); None for regression targets (floats (N,) or (N, 1), and
    other rows (N, K), a regression's outputs) and targets of other shapes."""
    is_label = np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_
    if y.ndim == 1 and is_label:
        return y
    column = y.ndim == 2 and y.shape[1] == 1 and is_label
    if column or (y.ndim == 2 and y.shape[1] > 1 and are_soft_labels(y)):
        return _label_column(y)
    return None


def _allocate(counts: np.ndarray, total: int) -> np.ndarray:
    """Splits ``total`` over groups in proportion to ``counts`` (largest remainder)."""
    if counts.sum() == 0:
        return np.zeros_like(counts)
    ideal = counts * (total / counts.sum())
    share = np.minimum(np.floor(ideal).astype(np.int64), counts)
    remainder = total - int(share.sum())
    order = np.argsort(-(ideal - share), kind="stable")
    for group in order:
        if remainder == 0:
            break
        if share[group] < counts[group]:
            share[group] += 1
            remainder -= 1
    return share


def _keep_one_in_training(
    counts: np.ndarray, test_share: np.ndarray, val_share: np.ndarray
) -> None:
    """Gives back to training one example of each class the held-out shares took whole, and
    takes one of the class with the most training examples (the first, on a tie) in its place.

    In place. Needs ``test_share + val_share <= counts - 1`` summed over the classes, so that
    a class with two training examples or more is left to give. Repairing the proportional
    shares, rather than allocating anew, leaves a split where every class kept an example as
    it was: a checkpoint's data reference rebuilds the split it was trained on.
    """
    for lost in np.flatnonzero(counts - test_share - val_share == 0):
        held_out = val_share if val_share[lost] else test_share
        donor = int(np.argmax(counts - test_share - val_share))
        held_out[lost] -= 1
        held_out[donor] += 1


def _split_indices(
    n: int,
    labels: np.ndarray | None,
    n_val: int,
    n_test: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if labels is None:
        perm = rng.permutation(n)
        return perm[n_val + n_test :], perm[:n_val], perm[n_val : n_val + n_test]
    classes, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(classes))
    # One example of every class stays in training: a class the model never sees in
    # training cannot be learnt, and its validation score would only measure that.
    movable = counts - 1
    if n_val + n_test > movable.sum():
        raise ValueError(
            f"stratify=True keeps at least one training example of each of the "
            f"{len(classes):,} classes, which leaves {counted(int(movable.sum()), 'example')} "
            f"for the {n_val + n_test:,} validation and test examples; pass stratify=False "
            "(integer regression targets are no classes), smaller fractions, or more data."
        )
    test_share = _allocate(counts, n_test)
    val_share = _allocate(counts - test_share, n_val)
    _keep_one_in_training(counts, test_share, val_share)
    train, val, test = [], [], []
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(inverse == c))
        t, v = test_share[c], val_share[c]
        test.append(members[:t])
        val.append(members[t : t + v])
        train.append(members[t + v :])
    # Interleave classes so a split is not ordered by label.
    return tuple(rng.permutation(np.concatenate(part)) for part in (train, val, test))


def train_val_test_split(
    x: Any,
    y: Any,
    *,
    val_fraction: float,
    test_fraction: float = 0.0,
    stratify: bool = True,
    seed: int,
) -> Splits:
    """Splits (x, y) into training, validation and (optionally) test sets.

    Model selection (§1): fit on ``train``, choose hyperparameters on ``val``, report once on
    ``test``. With ``stratify=True`` and classification labels (integer or bool labels of
    shape (N,) or (N, 1), or one-hot/soft rows (N, K): real numbers, every row non-negative
    and summing to 1 within 1e-3, as :func:`check_dataset` takes them) every class keeps its
    share in each split: the validation estimate is not skewed by an unlucky draw. Every class
    keeps at least one training example: where the proportional shares would hold a class
    out whole, one of its examples stays in training and the class with the most training
    examples gives one in its place (a split where every class kept one is the proportional
    split itself, as before this rule).
    Regression targets (floats of shape (N,) or (N, 1), and rows (N, K) that are not
    probabilities: a regression's outputs) are split at random. Split sizes are
    ``round(n · test_fraction)`` and ``round(n · val_fraction)``.

    Args:
      x: inputs, N examples on axis 0 (any array-like).
      y: targets, N on axis 0.
      val_fraction: share of the examples for validation, in [0, 1).
      test_fraction: share for the test set, in [0, 1); 0 gives ``test=None``.
      stratify: keep the class proportions in every split (classification labels only).
      seed: seed of the permutation, a non-negative int; the same seed gives the same split.

    Returns:
      :class:`Splits` ``(train, val, test)`` of ``(x, y)`` NumPy pairs; ``val``/``test`` are
      ``None`` when their fraction is 0.

    Raises:
      TypeError: if ``seed`` is not an int (``None`` would give a new split on every call).
      ValueError: for mismatched lengths, empty data, masked entries (a NumPy masked array
        loses its mask here), fractions that are no numbers, outside [0, 1) or summing to
        1 or more, a positive fraction that rounds to no example (1 or 2 examples with
        ``val_fraction=0.2``), a split that would leave no training data, a stratified
        split that cannot keep a training example of every class, or a negative ``seed``.

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.data import train_val_test_split
      >>> x, y = np.arange(20.0)[:, None], np.repeat([0, 1], 10)
      >>> train, val, test = train_val_test_split(x, y, val_fraction=0.2, test_fraction=0.2, seed=0)
      >>> len(train[0]), len(val[0]), len(test[0]), np.bincount(val[1]).tolist()
      (12, 4, 4, [2, 2])

    References:
      Hastie, Tibshirani and Friedman, *The Elements of Statistical Learning*, §7.2 and §7.10
      (train/validation/test, cross-validation), https://hastie.su.domains/ElemStatLearn/
    """
    check_unmasked(x, "the inputs `x`")
    check_unmasked(y, "the targets `y`")
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError("`x` and `y` must have the examples on axis 0; got a scalar.")
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(
            f"`x` has {n} examples but `y` has {y.shape[0]}; they must have the same length."
        )
    if n == 0:
        raise ValueError("`x` and `y` are empty: there is nothing to split.")
    val_fraction = _check_fraction(val_fraction, "val_fraction")
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"`val_fraction` + `test_fraction` must be below 1 to leave training data; got "
            f"{val_fraction} + {test_fraction}."
        )
    n_test = round(n * test_fraction)
    n_val = round(n * val_fraction)
    for what, fraction, size in (
        ("validation", val_fraction, n_val),
        ("test", test_fraction, n_test),
    ):
        if fraction > 0 and size == 0:
            # An empty split would only fail later, as a reshape of size 0 deep in training.
            raise ValueError(
                f"with {n} example{'s' * (n != 1)}, round({n} × {fraction}) = 0 {what} "
                f"examples; a "
                f"{what} split needs {_smallest_n(fraction)} at that fraction "
                "(or a larger fraction, or a file that holds its own split)."
            )
    if n_val + n_test >= n:
        raise ValueError(
            f"with {counted(n, 'example')}, val_fraction={val_fraction} and test_fraction="
            f"{test_fraction} leave no training example; use smaller fractions or more data."
        )
    rng = seeded_rng(seed)
    labels = class_labels(y) if stratify else None
    train, val, test = _split_indices(n, labels, n_val, n_test, rng)
    return Splits(
        train=(x[train], y[train]),
        val=(x[val], y[val]) if val_fraction > 0 else None,
        test=(x[test], y[test]) if test_fraction > 0 else None,
    )


def kfold_indices(
    n: int,
    k: int,
    *,
    seed: int,
    stratify_labels: Any = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Index pairs for k-fold cross-validation: every example is validated exactly once.

    The N indices are shuffled and dealt into k folds of sizes differing by at most one; fold
    i is the validation set of round i and the other k − 1 folds its training set. With
    ``stratify_labels`` each class is dealt round-robin across the folds, so every fold keeps
    the class proportions. The lecture's model selection averages the k validation losses.

    Args:
      n: the number of examples N.
      k: the number of folds, 2 <= k <= N.
      seed: seed of the shuffle, a non-negative int; the same seed gives the same folds.
      stratify_labels: optional class labels of length N: labels (N,), a column of labels
        (N, 1), or one-hot rows (N, K).

    Returns:
      A list of k pairs ``(train_idx, val_idx)`` of sorted int64 index arrays; the val folds
      partition ``range(n)``.

    Raises:
      TypeError: if ``seed`` is not an int (``None`` would give new folds on every call).
      ValueError: if ``n`` or ``k`` are out of range, ``seed`` is negative, or the labels
        have the wrong length or shape.

    Examples:
      >>> from jaxtrain.data import kfold_indices
      >>> folds = kfold_indices(10, 3, seed=0)
      >>> [len(val) for _, val in folds], sorted(sum((v.tolist() for _, v in folds), []))[:4]
      ([4, 3, 3], [0, 1, 2, 3])

    References:
      Stone, *Cross-Validatory Choice and Assessment of Statistical Predictions*, JRSS B
      36(2), 1974, https://doi.org/10.1111/j.2517-6161.1974.tb00994.x
    """
    if not is_int(n) or n < 1:
        raise ValueError(f"`n` must be a positive int; got {n!r}.")
    if not is_int(k) or not 2 <= k <= n:
        raise ValueError(f"`k` must be an int with 2 <= k <= n = {n}; got {k!r}.")
    rng = seeded_rng(seed)
    if stratify_labels is None:
        order = rng.permutation(n)
    else:
        labels = np.asarray(stratify_labels)
        if labels.ndim not in (1, 2) or labels.shape[-1] == 0:
            raise ValueError(
                f"`stratify_labels` must be class labels (N,), a column of them (N, 1) or "
                f"one-hot rows (N, K); got shape {labels.shape}."
            )
        if labels.shape[0] != n:
            raise ValueError(
                f"`stratify_labels` has {counted(labels.shape[0], 'entry', 'entries')} but "
                f"n = {n}; give one label per example."
            )
        if labels.ndim == 2:
            labels = _label_column(labels)
        # Shuffle within each class, then lay classes end to end: dealing this order
        # round-robin puts ⌊n_c/k⌋ or ⌈n_c/k⌉ members of class c in every fold.
        shuffled = rng.permutation(n)
        order = shuffled[np.argsort(labels[shuffled], kind="stable")]
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[order] = np.arange(n) % k
    folds = []
    for i in range(k):
        is_val = fold_of == i
        folds.append((np.flatnonzero(~is_val), np.flatnonzero(is_val)))
    return folds


class Standardizer(NamedTuple):
    """Per-feature mean μ and spread σ fitted on the training split: x̃ = (x − μ) / σ.

    Made by :func:`fit_standardizer`; unpacks as ``mean, std = standardizer``. Apply the
    *same* standardizer to training, validation and test data.

    Attributes:
      mean: μ, broadcastable against one batch of inputs.
      std: σ, with constant features' zero spread replaced by 1 (no division by zero).
    """

    mean: np.ndarray
    std: np.ndarray

    def transform(self, x: Any) -> np.ndarray:
        """Returns (x − μ) / σ; see :func:`standardize`."""
        return standardize(x, self.mean, self.std)

    def inverse_transform(self, x: Any) -> np.ndarray:
        """Returns x̃ · σ + μ, undoing :meth:`transform` (e.g. for predicted targets)."""
        x = np.asarray(x)
        return (x * self.std + self.mean).astype(np.result_type(x.dtype, self.mean.dtype))


def _check_real(values: np.ndarray, name: str, remedy: str) -> None:
    """Refuses ``values`` of no real dtype (strings, objects, complex numbers), naming
    ``name`` and ending the message with ``remedy``."""
    if not is_real_dtype(values.dtype):
        raise ValueError(f"`{name}` has dtype {values.dtype}; it must hold real numbers{remedy}")


def fit_standardizer(
    x_train: Any, *, axis: int | tuple[int, ...] = 0, eps: float = 1e-8
) -> Standardizer:
    """Fits the per-feature mean μ and standard deviation σ on the training split only.

    Features of very different scales make the error surface a long narrow valley that
    gradient descent crosses slowly; standardizing each to mean 0 and spread 1 rounds it.
    μ = mean(x_train), σ = std(x_train) over ``axis`` (computed in float64, stored in the
    input's float dtype); a feature with σ <= ``eps`` (constant) gets σ = 1, so it maps to 0
    instead of dividing by zero.

    Args:
      x_train: training inputs, N examples on axis 0.
      axis: the axes averaged over: 0 for per-feature (per-pixel) statistics, (0, 1, 2) for
        per-channel statistics of (N, H, W, C) images.
      eps: spreads at or below this count as constant.

    Returns:
      A :class:`Standardizer` ``(mean, std)`` with the averaged axes kept as size 1.

    Raises:
      ValueError: if ``x_train`` is empty, holds NaN/inf or masked entries, or does not hold
        real numbers (strings, objects, complex numbers).

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.data import fit_standardizer, standardize
      >>> x = np.array([[1.0, 5.0], [3.0, 5.0]])
      >>> mean, std = fit_standardizer(x)
      >>> standardize(x, mean, std).tolist()
      [[-1.0, 0.0], [1.0, 0.0]]

    References:
      LeCun, Bottou, Orr and Müller, *Efficient BackProp*, 1998, §4.3 (normalizing the
      inputs), https://doi.org/10.1007/3-540-49430-8_2
    """
    check_unmasked(x_train, "the training inputs `x_train`")
    x = np.asarray(x_train)
    if x.size == 0 or x.ndim == 0:
        raise ValueError(f"`x_train` is empty (shape {x.shape}); fit on the training inputs.")
    _check_real(
        x,
        "x_train",
        " (convert strings or objects to numbers first, and split complex inputs into real "
        "features).",
    )
    if not np.all(np.isfinite(x)):
        raise ValueError(
            "`x_train` holds NaN or inf; clean or impute the data before fitting the standardizer."
        )
    dtype = x.dtype if is_float_dtype(x.dtype) else np.dtype(np.float32)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axis, keepdims=True)
    # The spread of deviations scaled to at most 1: squares of finite inputs near 1e200
    # would overflow the variance to inf (and standardize those features to zeros).
    scale = np.abs(x64 - mean).max(axis=axis, keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    std = scale * ((x64 - mean) / scale).std(axis=axis, keepdims=True)
    # A spread the dtype cannot hold (it rounds to 0 in float16) is a constant there too.
    std = np.where((std <= eps) | (std.astype(dtype) == 0), 1.0, std)
    # Drop the leading example axis so the statistics broadcast against any batch size.
    if axis == 0 or (isinstance(axis, tuple) and 0 in axis):
        mean, std = mean[0], std[0]
    return Standardizer(mean=mean.astype(dtype), std=std.astype(dtype))


def standardize(x: Any, mean: Any, std: Any) -> np.ndarray:
    """Standardizes inputs with statistics fitted on the training split: x̃ = (x − μ) / σ.

    Args:
      x: inputs, any batch size.
      mean: μ from :func:`fit_standardizer`.
      std: σ from :func:`fit_standardizer` (already free of zeros).

    Returns:
      The standardized inputs as a NumPy array in the statistics' float dtype.

    Raises:
      ValueError: if ``mean`` or ``std`` do not hold real numbers, ``mean`` holds NaN or
        inf, or ``std`` holds a value that is not a positive finite number.

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.data import standardize
      >>> standardize(np.array([2.0, 4.0]), np.float64(3.0), np.float64(2.0)).tolist()
      [-0.5, 0.5]

    References:
      LeCun, Bottou, Orr and Müller, *Efficient BackProp*, 1998, §4.3,
      https://doi.org/10.1007/3-540-49430-8_2
    """
    mean, std = np.asarray(mean), np.asarray(std)
    for values, name in ((mean, "mean"), (std, "std")):
        _check_real(values, name, ": fit it with fit_standardizer.")
    if not np.all(np.isfinite(mean)):
        raise ValueError(
            "`mean` holds NaN or infinite values; fit it with fit_standardizer on finite "
            "training inputs."
        )
    if not np.all((std > 0) & np.isfinite(std)):
        raise ValueError(
            "`std` holds zero, negative, NaN or infinite values; fit it with fit_standardizer, "
            "which replaces the spread of constant features by 1."
        )
    x = np.asarray(x)
    dtype = np.result_type(mean.dtype, std.dtype)
    if not is_float_dtype(dtype):
        dtype = np.dtype(np.float32)
    return ((x - mean) / std).astype(dtype)
