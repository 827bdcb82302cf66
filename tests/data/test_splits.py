"""Splits, k-fold indices and standardization fitted on the training split only."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrain.data import (
    Splits,
    Standardizer,
    check_dataset,
    fit_standardizer,
    kfold_indices,
    standardize,
    train_val_test_split,
)
from jaxtrain.data._splits import class_labels


def _data(n=100, classes=(0, 1, 2), weights=(0.6, 0.3, 0.1)):
    counts = np.round(np.asarray(weights) * n).astype(int)
    y = np.repeat(np.asarray(classes), counts)
    x = np.arange(len(y) * 2, dtype=np.float32).reshape(len(y), 2)
    return x, y


def test_split_sizes_partition_and_pairing():
    x, y = _data()
    train, val, test = train_val_test_split(x, y, val_fraction=0.2, test_fraction=0.1, seed=0)
    assert (len(train[0]), len(val[0]), len(test[0])) == (70, 20, 10)
    rows = np.concatenate([train[0][:, 0], val[0][:, 0], test[0][:, 0]])
    np.testing.assert_array_equal(np.sort(rows), x[:, 0])  # every example exactly once
    for xs, ys in (train, val, test):
        np.testing.assert_array_equal(y[(xs[:, 0] / 2).astype(int)], ys)  # x and y stay paired


def test_split_is_stratified():
    x, y = _data(n=200)
    splits = train_val_test_split(x, y, val_fraction=0.25, test_fraction=0.25, seed=3)
    for _, ys in splits:
        np.testing.assert_allclose(np.bincount(ys, minlength=3) / len(ys), [0.6, 0.3, 0.1])


def test_stratifies_one_hot_targets_and_keeps_them():
    x, y = _data(n=200)
    onehot = np.eye(3, dtype=np.float32)[y]
    _, val, _ = train_val_test_split(x, onehot, val_fraction=0.25, seed=1)
    assert val[1].shape == (50, 3)
    np.testing.assert_array_equal(val[1].sum(0), [30, 15, 5])


def test_unstratified_and_regression_splits():
    x, y = _data(n=200)
    splits = train_val_test_split(x, y, val_fraction=0.3, stratify=False, seed=0)
    assert isinstance(splits, Splits) and splits.test is None and len(splits.val[0]) == 60
    targets = np.linspace(0, 1, 50, dtype=np.float32)[:, None]
    train, val, test = train_val_test_split(targets, targets, val_fraction=0.2, seed=0)
    assert len(val[0]) == 10 and test is None
    np.testing.assert_array_equal(train[0], train[1])


def test_split_reproducible_per_seed():
    x, y = _data()
    a = train_val_test_split(x, y, val_fraction=0.2, seed=7)
    b = train_val_test_split(x, y, val_fraction=0.2, seed=7)
    c = train_val_test_split(x, y, val_fraction=0.2, seed=8)
    np.testing.assert_array_equal(a.val[0], b.val[0])
    assert not np.array_equal(a.val[0], c.val[0])


def test_split_accepts_jax_arrays_and_zero_val():
    x, y = _data(n=20)
    train, val, test = train_val_test_split(jnp.asarray(x), jnp.asarray(y), val_fraction=0, seed=0)
    assert isinstance(train[0], np.ndarray) and len(train[0]) == 20
    assert val is None and test is None


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"val_fraction": 1.0}, "`val_fraction`"),
        ({"val_fraction": -0.1}, "`val_fraction`"),
        ({"val_fraction": 0.2, "test_fraction": 1.2}, "`test_fraction`"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "below 1"),
        ({"val_fraction": 0.6, "test_fraction": 0.39}, "no training example"),
    ],
)
def test_split_bad_fractions(kwargs, match):
    x, y = _data(n=10, classes=(0, 1), weights=(0.5, 0.5))
    with pytest.raises(ValueError, match=match):
        train_val_test_split(x, y, seed=0, **kwargs)


def test_split_bad_data():
    with pytest.raises(ValueError, match="same length"):
        train_val_test_split(np.zeros((5, 2)), np.zeros(4), val_fraction=0.2, seed=0)
    with pytest.raises(ValueError, match="empty"):
        train_val_test_split(np.zeros((0, 2)), np.zeros(0), val_fraction=0.2, seed=0)


@pytest.mark.parametrize(
    ("n", "kwargs", "match"),
    [
        (1, {"val_fraction": 0.2}, r"round\(1 × 0\.2\) = 0 validation examples.* at least 3"),
        (2, {"val_fraction": 0.2}, r"round\(2 × 0\.2\) = 0 validation examples.* at least 3"),
        (4, {"val_fraction": 0.5, "test_fraction": 0.1}, r"= 0 test examples.* at least 6"),
        # Before: OverflowError (0.5 / 1e-320 is inf), and an endless loop for 1e-300.
        (10, {"val_fraction": 1e-320}, r"= 0 validation examples.* more than 1\.8e\+308"),
        (10, {"val_fraction": 1e-300}, r"= 0 validation examples.* more than 5e\+299"),
    ],
)
def test_a_split_too_small_to_hold_an_example_is_refused(n, kwargs, match):
    # Was an empty validation split, and later `cannot reshape array of size 0`.
    with pytest.raises(ValueError, match=match) as info:
        train_val_test_split(np.zeros((n, 2)), np.arange(n) % 2, seed=0, **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("n,k", [(10, 2), (10, 3), (101, 5), (7, 7)])
def test_kfold_val_folds_partition(n, k):
    folds = kfold_indices(n, k, seed=0)
    assert len(folds) == k
    counts = np.zeros(n, dtype=int)
    for train_idx, val_idx in folds:
        counts[val_idx] += 1
        np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, val_idx])), np.arange(n))
        assert np.intersect1d(train_idx, val_idx).size == 0
    np.testing.assert_array_equal(counts, 1)  # every index is in exactly one val fold
    sizes = [len(v) for _, v in folds]
    assert max(sizes) - min(sizes) <= 1


def test_kfold_stratified_and_reproducible():
    _, y = _data(n=100)
    folds = kfold_indices(100, 5, seed=0, stratify_labels=y)
    for _, val_idx in folds:
        np.testing.assert_array_equal(np.bincount(y[val_idx], minlength=3), [12, 6, 2])
    again = kfold_indices(100, 5, seed=0, stratify_labels=y)
    other = kfold_indices(100, 5, seed=1, stratify_labels=y)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))
    onehot = kfold_indices(100, 5, seed=0, stratify_labels=np.eye(3)[y])
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, onehot, strict=True))


@pytest.mark.parametrize(
    "args,kwargs,match",
    [
        ((0, 2), {}, "`n`"),
        ((10, 1), {}, "`k`"),
        ((3, 4), {}, "`k`"),
        ((10, 2), {"stratify_labels": np.zeros(9)}, "`stratify_labels`"),
    ],
)
def test_kfold_bad_arguments(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        kfold_indices(*args, seed=0, **kwargs)


def test_standardizer_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    x_train = rng.normal(5.0, 3.0, size=(500, 4)).astype(np.float32)
    x_train[:, 2] = 7.0  # a constant feature must not divide by zero
    x_val = rng.normal(5.0, 3.0, size=(50, 4)).astype(np.float32)
    st = fit_standardizer(x_train)
    assert isinstance(st, Standardizer) and st.mean.shape == (4,) and st.mean.dtype == np.float32
    z = st.transform(x_train)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), [1.0, 1.0, 0.0, 1.0], atol=1e-5)
    mean, std = st
    expected = (x_val.astype(np.float64) - x_train.mean(0)) / np.where(
        x_train.std(0) > 0, x_train.std(0), 1.0
    )
    np.testing.assert_allclose(standardize(x_val, mean, std), expected, rtol=1e-5, atol=1e-5)
    assert np.all(np.isfinite(standardize(x_val, mean, std)))
    np.testing.assert_allclose(st.inverse_transform(st.transform(x_val)), x_val, rtol=1e-5)


def test_standardizer_per_channel_images():
    x = np.random.default_rng(1).uniform(size=(10, 4, 4, 3)).astype(np.float32)
    x[..., 1] *= 100.0
    mean, std = fit_standardizer(x, axis=(0, 1, 2))
    assert mean.shape == (1, 1, 3)
    z = standardize(x, mean, std)
    np.testing.assert_allclose(z.reshape(-1, 3).std(0), 1.0, rtol=1e-4)


def test_standardizer_integer_input_gives_float32():
    st = fit_standardizer(np.array([[0, 10], [2, 10]], dtype=np.uint8))
    assert st.mean.dtype == np.float32
    np.testing.assert_array_equal(st.transform(np.array([[1, 10]], np.uint8)), [[0.0, 0.0]])


@pytest.mark.parametrize("dtype", [np.float16, jnp.bfloat16], ids=["float16", "bfloat16"])
def test_standardizer_keeps_a_half_precision_inputs_dtype(dtype):
    # "Stored in the input's float dtype": bfloat16, which NumPy does not count a float,
    # came out float32 (statistics and standardized data); float16 stayed float16.
    x = np.random.default_rng(0).normal(3, 2, (100, 3)).astype(dtype)
    st = fit_standardizer(x)
    assert st.mean.dtype == st.std.dtype == np.dtype(dtype)
    z = st.transform(x)
    assert z.dtype == np.dtype(dtype)
    np.testing.assert_allclose(np.asarray(z, np.float32).std(0), 1.0, rtol=2e-2)
    assert standardize(x, st.mean, st.std).dtype == np.dtype(dtype)


def test_standardizer_bad_inputs():
    with pytest.raises(ValueError, match="empty"):
        fit_standardizer(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="NaN or inf"):
        fit_standardizer(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="`std`"):
        standardize(np.ones(2), np.zeros(2), np.array([1.0, 0.0]))


def test_a_spread_the_dtype_cannot_hold_counts_as_constant():
    # Before: float16 inputs with a spread of 6e-8 (above eps) stored std = 0, which
    # standardize then refused, telling the user to call fit_standardizer.
    x = np.array([[0.0], [6e-8]], np.float16)
    st = fit_standardizer(x)
    assert st.std.dtype == np.float16 and float(st.std[0]) > 0
    assert np.all(np.isfinite(st.transform(x)))


def test_the_spread_of_huge_finite_inputs_does_not_overflow():
    # Before: the variance of ±1e200 overflowed, std = inf, and the column became all zeros.
    x = np.array([[1e200, 1.0], [-1e200, 2.0], [5e199, 3.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        st = fit_standardizer(x)
    expected = np.array([1e200 * np.std(x[:, 0] / 1e200), np.std(x[:, 1])])
    np.testing.assert_allclose(st.std, expected, rtol=1e-12)
    np.testing.assert_allclose(st.transform(x), (x - x.mean(0)) / expected, rtol=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf, 0.0, -1.0])
def test_standardize_refuses_a_std_that_is_not_a_positive_finite_number(bad):
    # Before: a NaN std gave NaN features and an inf one zeros, without a word.
    with pytest.raises(ValueError, match="`std` holds"):
        standardize(np.array([[1.0, 2.0]]), np.zeros(2), np.array([bad, 1.0]))


def test_a_stratified_split_keeps_every_class_in_training():
    # Before: classes 2, 3 and 4 (one example each) went to validation and test for every
    # seed, so the model never trained on them.
    y = np.concatenate([np.repeat([0, 1], 50), np.arange(2, 12)])
    x = np.arange(len(y), dtype=np.float32)[:, None]
    for seed in range(4):
        train, val, test = train_val_test_split(
            x, y, val_fraction=0.2, test_fraction=0.1, seed=seed
        )
        assert (len(train[1]), len(val[1]), len(test[1])) == (77, 22, 11)
        np.testing.assert_array_equal(np.unique(train[1]), np.arange(12))
        # The singletons' shares go to the two large classes, still in proportion.
        np.testing.assert_array_equal(np.bincount(val[1], minlength=12)[:2], [11, 11])
        assert sorted(np.bincount(test[1], minlength=12)[:2].tolist()) == [5, 6]


def test_a_split_that_kept_every_class_is_the_proportional_split_as_before():
    # Review: allocating anew around the one-example-in-training rule moved the largest
    # remainders for data where no class had lost its training examples, so a checkpoint's
    # data reference rebuilt another split. Class counts [1, 11, 32, 27, 1], 20% held out:
    # the proportional shares leave every class a training example.
    y = np.repeat(np.arange(5), [1, 11, 32, 27, 1])
    x = np.arange(len(y), dtype=np.float32)[:, None]
    train, val, _ = train_val_test_split(x, y, val_fraction=0.2, seed=0)
    np.testing.assert_array_equal(np.bincount(train[1], minlength=5), [1, 9, 26, 21, 1])
    np.testing.assert_array_equal(np.bincount(val[1], minlength=5), [0, 2, 6, 6, 0])


def test_a_class_too_small_for_every_split_keeps_training_first():
    # Two examples of class 0 cannot reach train, val and test. Before: its largest
    # remainders sent one to test and the other to validation.
    y = np.repeat([0, 1], [2, 18])
    x = np.arange(20, dtype=np.float32)[:, None]
    for seed in range(4):
        train, val, test = train_val_test_split(
            x, y, val_fraction=0.45, test_fraction=0.3, seed=seed
        )
        assert (len(train[1]), len(val[1]), len(test[1])) == (5, 9, 6)
        assert (train[1] == 0).sum() == 1 and (val[1] == 0).sum() + (test[1] == 0).sum() == 1


def test_classes_that_cannot_all_stay_in_training_are_refused():
    # Ten classes of one example each: a validation example would take a class out.
    x, y = np.zeros((10, 1)), np.arange(10)
    with pytest.raises(ValueError, match=r"10 classes.*stratify=False"):
        train_val_test_split(x, y, val_fraction=0.2, seed=0)
    assert len(train_val_test_split(x, y, val_fraction=0.2, stratify=False, seed=0).val[1]) == 2


_MINORITY = np.repeat([0, 1], [90, 10])


@pytest.mark.parametrize(
    "targets",
    [
        _MINORITY,
        np.eye(2, dtype=np.float32)[_MINORITY],
        np.eye(2, dtype=np.int64)[_MINORITY],
        np.eye(2, dtype=bool)[_MINORITY],
        _MINORITY[:, None],
        _MINORITY[:, None].astype(np.uint8),
    ],
    ids=["labels", "float_one_hot", "int_one_hot", "bool_one_hot", "column", "uint8_column"],
)
def test_stratifies_integer_one_hot_targets_and_label_columns(targets):
    # Before: integer one-hot rows and (N, 1) columns were split at random (1 to 4 of the
    # 10 minority examples in a validation split of 20) although stratify=True.
    x = np.zeros((100, 1), np.float32)
    for seed in range(5):
        _, val, _ = train_val_test_split(x, targets, val_fraction=0.2, seed=seed)
        assert val[1].shape == (20, *targets.shape[1:]) and val[1].dtype == targets.dtype
        labels = val[1].argmax(1) if val[1].ndim == 2 and val[1].shape[1] > 1 else val[1]
        assert int(labels.astype(np.int64).sum()) == 2


@pytest.mark.parametrize(
    "labels",
    [_MINORITY[:, None], np.eye(2, dtype=np.int64)[_MINORITY]],
    ids=["column", "int_one_hot"],
)
def test_kfold_stratifies_label_columns_like_labels(labels):
    # Before: argmax over the one column of an (N, 1) array made every label 0, and two
    # folds held no minority example.
    expected = kfold_indices(100, 5, seed=0, stratify_labels=_MINORITY)
    folds = kfold_indices(100, 5, seed=0, stratify_labels=labels)
    assert [int(_MINORITY[v].sum()) for _, v in folds] == [2] * 5
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, expected, strict=True))


def test_kfold_refuses_labels_it_cannot_stratify():
    with pytest.raises(ValueError, match=r"`stratify_labels`.*\(10, 2, 2\)"):
        kfold_indices(10, 2, seed=0, stratify_labels=np.zeros((10, 2, 2)))


@pytest.mark.parametrize("seed", [None, 1.5, "0", True, np.float64(2.0)])
@pytest.mark.parametrize("make", ["split", "kfold"])
def test_a_seed_that_is_not_an_int_is_refused(make, seed):
    # Before: seed=None drew new folds on every call, and 1.5 got NumPy's SeedSequence error.
    with pytest.raises(TypeError, match="`seed` must be an int"):
        if make == "split":
            train_val_test_split(np.zeros((10, 1)), np.arange(10) % 2, val_fraction=0.2, seed=seed)
        else:
            kfold_indices(10, 2, seed=seed)


def test_a_negative_seed_is_refused_and_numpy_ints_are_seeds():
    with pytest.raises(ValueError, match="`seed` must be a non-negative int"):
        kfold_indices(10, 2, seed=-1)
    folds = kfold_indices(10, 2, seed=np.int64(3))
    np.testing.assert_array_equal(folds[0][1], kfold_indices(10, 2, seed=3)[0][1])


@pytest.mark.parametrize("fraction", ["0.2", True, False, np.bool_(True), np.array([0.2])])
def test_a_fraction_that_is_no_number_is_refused(fraction):
    # Before: "0.2" was read as 0.2, True as 1.0 (then "below 1") and False as no split.
    with pytest.raises(ValueError, match=r"`val_fraction` must be a float in \[0, 1\); got"):
        train_val_test_split(np.zeros((10, 1)), np.arange(10) % 2, val_fraction=fraction, seed=0)


@pytest.mark.parametrize("fraction", [np.float32(0.2), jnp.float32(0.2), np.float64(0.2)])
def test_numpy_and_jax_fractions_split_like_python_floats(fraction):
    x, y = np.arange(10.0)[:, None], np.arange(10) % 2
    got = train_val_test_split(x, y, val_fraction=fraction, test_fraction=fraction, seed=0)
    expected = train_val_test_split(
        x, y, val_fraction=float(fraction), test_fraction=float(fraction), seed=0
    )
    assert len(got.val[0]) == len(got.test[0]) == 2
    for split, same in zip(got, expected, strict=True):
        np.testing.assert_array_equal(split[0], same[0])


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((True, 2), r"`n` must be a positive int; got True"),
        ((np.bool_(True), 2), r"`n` must be a positive int"),
        ((10, True), r"`k` must be an int with 2 <= k <= n = 10; got True"),
    ],
)
def test_kfold_refuses_bools_as_counts(args, match):
    # Before: kfold_indices(True, 2) took n = 1 and blamed k ("2 <= k <= n = True").
    with pytest.raises(ValueError, match=match):
        kfold_indices(*args, seed=0)


def test_kfold_takes_numpy_counts():
    folds = kfold_indices(np.int64(10), np.int32(3), seed=0)
    assert [len(v) for _, v in folds] == [4, 3, 3]


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.array([[1], [2]], dtype=object), r"`x_train` has dtype object; .*numbers"),
        (np.array([["a"], ["b"]]), r"`x_train` has dtype <U1; .*numbers"),
        (np.array([[1 + 1j], [2]]), r"`x_train` has dtype complex128; .*real"),
    ],
)
def test_fit_standardizer_refuses_inputs_that_are_no_real_numbers(x, match):
    # Before: a raw TypeError from np.isfinite for objects, and complex inputs lost their
    # imaginary part to a float32 mean.
    with pytest.raises(ValueError, match=match):
        fit_standardizer(x)


@pytest.mark.parametrize(
    ("mean", "std", "match"),
    [
        (np.array([np.nan, 0.0]), np.ones(2), r"`mean` holds NaN or infinite values"),
        (np.array([0.0, -np.inf]), np.ones(2), r"`mean` holds NaN or infinite values"),
        (np.array(["0", "0"]), np.ones(2), r"`mean` has dtype <U1; .*numbers"),
        (np.zeros(2), np.array([1, None], dtype=object), r"`std` has dtype object; .*numbers"),
    ],
)
def test_standardize_refuses_statistics_that_are_not_finite_numbers(mean, std, match):
    # Before: a NaN mean gave NaN features without a word; string or object statistics a
    # raw NumPy TypeError.
    with pytest.raises(ValueError, match=match):
        standardize(np.array([[1.0, 2.0]]), mean, std)


_MASKED = np.ma.array(np.arange(6.0)[:, None], mask=[[0], [0], [0], [1], [0], [0]])


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (_MASKED, np.arange(6) % 2, r"the inputs `x` hold 1 masked value \(first in example 3\)"),
        (
            np.zeros((6, 1)),
            np.ma.array(np.arange(6) % 2, mask=[1, 0, 0, 0, 0, 0]),
            r"the targets `y` hold 1.*example 0\)",
        ),
    ],
    ids=["inputs", "targets"],
)
def test_a_split_refuses_masked_entries(x, y, match):
    # Before: the mask was dropped and the value beneath it (3.0 here) split as data.
    with pytest.raises(ValueError, match=match) as info:
        train_val_test_split(x, y, val_fraction=0.5, stratify=False, seed=0)
    assert "drop or impute those examples" in str(info.value)


def test_a_split_takes_a_masked_array_without_a_masked_entry():
    x = np.ma.array(np.arange(6.0)[:, None], mask=False)
    train, val, _ = train_val_test_split(x, np.arange(6) % 2, val_fraction=0.5, seed=0)
    np.testing.assert_array_equal(np.sort(np.concatenate([train[0], val[0]]), axis=0), x)


def test_fit_standardizer_refuses_masked_entries():
    with pytest.raises(
        ValueError, match=r"training inputs `x_train` hold 1 masked value \(first in example 3\)"
    ):
        fit_standardizer(_MASKED)


def test_multi_output_regression_targets_are_split_at_random():
    # Before: argmax of each row was taken for a class, and the split was refused because
    # each of the "4 classes" had to keep a training example.
    train, val, _ = train_val_test_split(
        np.zeros((4, 1)), np.eye(4) + 0.1, val_fraction=0.5, seed=0
    )
    assert train[1].shape == val[1].shape == (2, 4)
    y = np.random.default_rng(0).normal(size=(50, 3))
    x = np.arange(50.0)[:, None]
    for seed in range(3):
        got = train_val_test_split(x, y, val_fraction=0.2, test_fraction=0.2, seed=seed)
        at_random = train_val_test_split(
            x, y, val_fraction=0.2, test_fraction=0.2, stratify=False, seed=seed
        )
        for split, same in zip(got, at_random, strict=True):
            np.testing.assert_array_equal(split[0], same[0])


_SMOOTHED = 0.9 * np.eye(2)[_MINORITY] + 0.05


@pytest.mark.parametrize(
    ("targets", "stratified"),
    [
        (_SMOOTHED, True),  # label smoothing: soft labels
        (_SMOOTHED.astype(np.float32) * np.float32(1 + 3e-4), True),  # rounding forgiven
        (_SMOOTHED * 1.01, False),  # rows summing to 1.01: outputs, not probabilities
        (_SMOOTHED - [0.06, -0.06], False),  # a negative entry
        (np.eye(2, dtype=np.int64)[_MINORITY] * 3, False),  # integer counts per output
        (np.eye(2, dtype=np.int64)[_MINORITY], True),
        (np.eye(2, dtype=bool)[_MINORITY], True),
    ],
    ids=["smoothed", "float32_rounding", "sum_1.01", "negative", "int_counts", "int", "bool"],
)
def test_only_rows_of_probabilities_are_stratified(targets, stratified):
    # The rows check_dataset takes as one-hot/soft targets of a classification, and only
    # those: other 2-D targets are a regression's outputs.
    from jaxtrain.data._splits import class_labels

    x = np.arange(100.0)[:, None]
    assert (class_labels(targets) is not None) == stratified
    for seed in range(3):
        got = train_val_test_split(x, targets, val_fraction=0.2, seed=seed)
        at_random = train_val_test_split(x, targets, val_fraction=0.2, stratify=False, seed=seed)
        if stratified:
            assert int(_MINORITY[got.val[0][:, 0].astype(int)].sum()) == 2
        else:
            np.testing.assert_array_equal(got.val[0], at_random.val[0])


def test_soft_labels_with_rounding_below_zero_are_stratified_and_checked_alike():
    # Rows with −1e-9 (soft labels computed in floats) were split at random without a word,
    # and refused by check_dataset as negative.
    y = np.tile(np.eye(2), (10, 1)) * (1 + 2e-9) - 1e-9
    assert (y < 0).any()
    np.testing.assert_array_equal(class_labels(y), np.tile([0, 1], 10))
    check_dataset(np.zeros((20, 1)), y, num_classes=2)
    with pytest.raises(ValueError, match="negative values"):
        check_dataset(np.zeros((2, 1)), np.array([[1.01, -0.01], [0.0, 1.0]]), num_classes=2)


def test_a_spread_equal_to_eps_counts_as_constant():
    # Spreads "at or below" eps are constant and kept at 1: x = [0, 1] has σ = 0.5 exactly
    # (mutation audit, 2026-12-07: "<" passed every standardizer test).
    x = np.array([[0.0], [1.0]])
    assert fit_standardizer(x, eps=0.5).std.tolist() == [1.0]
    assert fit_standardizer(x, eps=0.25).std.tolist() == [0.5]
