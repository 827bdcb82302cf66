"""check_dataset: every bad input raises a ValueError that names the problem and the fix."""

import re

import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrain.data import check_dataset

X = np.zeros((4, 3), np.float32)


@pytest.mark.parametrize(
    "y,num_classes",
    [
        (np.array([0, 1, 2, 1]), 3),
        (np.array([0, 1, 1, 0], np.uint8), 2),
        (np.array([True, False, True, True]), 2),
        (np.eye(3, dtype=np.float32)[[0, 1, 2, 0]], 3),
        (np.full((4, 3), 1 / 3, np.float32), 3),
        (np.linspace(-1, 1, 4, dtype=np.float32), None),
        (np.linspace(-1, 1, 8, dtype=np.float32).reshape(4, 2), None),
        (jnp.array([0, 1, 2, 1]), 3),
    ],
)
def test_valid_data_pass(y, num_classes):
    assert check_dataset(X, y, num_classes=num_classes) is None


def test_integer_and_image_inputs_pass():
    assert check_dataset(np.zeros((2, 8, 8, 1), np.uint8), np.array([3, 9]), num_classes=10) is None


@pytest.mark.parametrize(
    "x,y,kwargs,match",
    [
        (np.zeros((0, 3)), np.zeros(0, int), {}, "is empty"),
        (X, np.zeros(3, int), {}, "x has 4 examples but y has 3"),
        (np.float32(1.0), np.zeros(1), {}, "scalar"),
        (np.array([["a"], ["b"]]), np.zeros(2), {}, "numeric"),
        (X, np.array(["a", "b", "c", "d"]), {}, "numeric"),
        (np.zeros((4, 3), dtype=object), np.zeros(4), {}, "numeric"),
    ],
)
def test_structural_problems(x, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_dataset(x, y, **kwargs)


def test_non_finite_inputs_and_targets():
    x = X.copy()
    x[2, 1] = np.nan
    x[3, 0] = np.inf
    with pytest.raises(ValueError, match=r"1 NaN and 1 inf values \(first in example 2\)"):
        check_dataset(x, np.zeros(4, int), num_classes=2, name="train_data")
    with pytest.raises(ValueError, match="train_data inputs x"):
        check_dataset(x, np.zeros(4, int), name="train_data")
    y = np.zeros(4, np.float32)
    y[1] = np.inf
    with pytest.raises(ValueError, match="targets y hold 0 NaN and 1 inf"):
        check_dataset(X, y)
    with pytest.raises(ValueError, match="NaN"):
        check_dataset(X, np.array([0.0, np.nan, 1.0, 0.0]), num_classes=2)


@pytest.mark.parametrize(
    "y,num_classes,match",
    [
        (np.array([0, -1, 1, 0]), 2, r"negative \(e\.g\. -1 at index 1\)"),
        (np.array([0, 1, 3, 0]), 3, r"out of range \(e\.g\. 3 at index 2\).*0\.\.2"),
        (np.array([1, 2, 3, 3]), 3, "look 1-based: subtract 1"),
        (np.array([0, 0.5, 1, 0]), 2, r"non-integer values \(e\.g\. 0\.5 at index 1\)"),
        (np.array([0.0, 1.0, 1.0, 0.0]), 2, r"dtype float64.*y\.astype\(np\.int32\)"),
        (np.array([[0], [1], [1], [0]]), 2, r"use y\.reshape\(-1\)"),
        (np.eye(3)[[0, 1, 2, 0]], 4, "3 columns but num_classes=4"),
        (np.array([[0.5, 0.6], [1, 0], [0, 1], [1, 0]]), 2, "row 0 sums to 1.1"),
        (np.array([[1.5, -0.5], [1, 0], [0, 1], [1, 0]]), 2, "negative values"),
        (np.zeros((4, 2, 2)), 2, "shape"),
    ],
)
def test_label_problems(y, num_classes, match):
    with pytest.raises(ValueError, match=match):
        check_dataset(X, y, num_classes=num_classes)


@pytest.mark.parametrize("num_classes", [0, -3, 2.5, True, "10"])
def test_bad_num_classes(num_classes):
    with pytest.raises(ValueError, match="`num_classes`"):
        check_dataset(X, np.zeros(4, int), num_classes=num_classes)


def test_float64_inputs_beyond_float32s_range_are_refused_while_jax_computes_in_float32():
    # 1e39 is finite in float64 and inf once JAX casts it to float32: the run would stop at
    # step 0 with a non-finite loss instead of naming the data.
    x = np.array([[1.0], [1e39]])
    with pytest.raises(ValueError, match=r"float32.*example 1"):
        check_dataset(x, np.array([0.0, 1.0]))
    from jax_modes import x64_enabled

    with x64_enabled():  # float64 on the device: nothing to lose
        check_dataset(x, np.array([0.0, 1.0]))


@pytest.mark.parametrize(
    "x,y,match",
    [
        # ids or timestamps beyond int32: JAX would store 2**31 + 5 as -2**31 + 5
        (np.array([[1], [2**31 + 5]], np.int64), np.array([0.0, 1.0]), r"inputs x.*example 1"),
        (np.array([[-(2**31) - 1], [0]], np.int64), np.array([0.0, 1.0]), r"inputs x.*example 0"),
        (np.array([[0], [2**32]], np.uint64), np.array([0.0, 1.0]), r"uint32.*example 1"),
        (np.zeros((2, 1), np.float32), np.array([0, 2**40], np.int64), r"targets y.*example 1"),
    ],
    ids=["int64_above", "int64_below", "uint64", "int64_regression_targets"],
)
def test_64_bit_integers_beyond_32_bits_are_refused_while_jax_computes_in_32_bits(x, y, match):
    with pytest.raises(ValueError, match=match) as caught:
        check_dataset(x, y)
    assert "jax_enable_x64" in str(caught.value) and "astype" in str(caught.value)
    from jax_modes import x64_enabled

    with x64_enabled():  # 64-bit integers on the device: nothing wraps
        check_dataset(x, y)


def test_64_bit_integers_within_32_bits_pass():
    x = np.array([[-(2**31)], [2**31 - 1]], np.int64)
    assert check_dataset(x, np.array([0.0, 1.0])) is None
    assert check_dataset(np.array([[0], [2**32 - 1]], np.uint64), np.array([0.0, 1.0])) is None


def test_complex_inputs_with_an_imaginary_part_beyond_float32s_range_are_refused():
    # Before: only the real part was checked, and 1 + 1e300j reached the device as 1 + inf j.
    x = np.array([[2.0 + 0j], [1.0 + 1e300j]])
    with pytest.raises(ValueError, match=r"1 value beyond float32's range.*example 1"):
        check_dataset(x, np.array([0.0, 1.0]))
    check_dataset(np.array([[2.0 + 0j], [1.0 + 1e30j]]), np.array([0.0, 1.0]))
    from jax_modes import x64_enabled

    with x64_enabled():  # complex128 on the device: nothing to lose
        check_dataset(x, np.array([0.0, 1.0]))


@pytest.mark.parametrize(
    "y",
    [
        np.array([[1.0, 0.0], [np.nan, 1.0], [0.0, 1.0], [1.0, 0.0]], dtype=object),
        np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=object),
        np.array([["1", "0"]] * 4),
        np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.complex64),
        np.array([["2020-01-01", "2020-01-02"]] * 4, dtype="datetime64[D]"),
    ],
    ids=["object_nan", "object", "str", "complex", "datetime"],
)
def test_one_hot_targets_that_are_no_real_numbers_are_refused(y):
    # Before: an object array with a NaN passed; a str array raised NumPy's UFuncTypeError.
    dtype = re.escape(y.dtype.name)
    with pytest.raises(ValueError, match=rf"data one-hot/soft targets have dtype {dtype}; "):
        check_dataset(X, y, num_classes=2)


def test_bool_one_hot_targets_pass():
    assert check_dataset(X, np.eye(2, dtype=bool)[[0, 1, 1, 0]], num_classes=2) is None


_MASK = [[0, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0]]


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "match"),
    [
        (np.ma.array(X, mask=_MASK), np.zeros(4), {}, r"inputs x hold 1 masked value"),
        (X, np.ma.array([0.0, 1.0, 0.0, 0.0], mask=[0, 1, 0, 0]), {}, r"targets y hold 1"),
        (X, np.ma.array([0, 1, 0, 1], mask=[0, 0, 0, 1]), {"num_classes": 2}, r"targets y"),
    ],
    ids=["inputs", "regression_targets", "labels"],
)
def test_masked_entries_are_refused_like_nans(x, y, kwargs, match):
    # Before: np.asarray dropped the mask and the values beneath it (often a fill such as
    # 999) passed as data.
    with pytest.raises(ValueError, match=match) as info:
        check_dataset(x, y, name="data", **kwargs)
    assert "drop or impute those examples" in str(info.value)
    assert "(first in example" in str(info.value)


def test_masked_arrays_without_a_masked_entry_pass():
    labels = np.ma.array([0, 1, 0, 1], mask=False)
    assert check_dataset(np.ma.array(X), labels, num_classes=2) is None
