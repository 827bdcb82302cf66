"""Class labels are checked in their own dtype before any cast; the class count is bounded."""

import re

import numpy as np
import pytest

from jaxtrain.data import LabelError, check_class_labels, check_dataset, class_count


def labels(n=40, dtype=np.int64, **at):
    y = (np.arange(n) % 2).astype(dtype)
    for index, value in at.items():
        y[int(index[1:])] = value
    return y


# Each wraps to a small valid class in int32 (2**32 + 1 -> 1, 2**63 + 5 -> 5).
WRAPPING = [
    (labels(i3=2**32 + 1), "4294967297 at index 3"),
    (labels(dtype=np.uint64, i5=2**63 + 5), "9223372036854775813 at index 5"),
]


@pytest.mark.parametrize(("y", "named"), WRAPPING)
def test_labels_that_wrap_in_int32_are_refused_by_their_exact_value(y, named):
    with pytest.raises(LabelError, match=named) as info:
        class_count({"y_train": y})
    assert info.value.name == "y_train" and info.value.value == int(y.max())
    with pytest.raises(LabelError, match=named):
        class_count({"y_train": y}, num_classes=10)
    with pytest.raises(LabelError, match=f"out of range \\(e\\.g\\. {named}\\)"):
        check_dataset(np.zeros((40, 2)), y, num_classes=10)


def test_negative_and_non_integer_labels_name_the_label_and_index():
    with pytest.raises(LabelError, match=r"y_val labels are negative \(e\.g\. -7 at index 4\)"):
        class_count({"y_train": labels(), "y_val": labels(8, i4=-7)})
    with pytest.raises(LabelError, match=r"non-integer values \(e\.g\. 0\.5 at index 1\)"):
        class_count({"y_train": np.array([0, 0.5, 1.0])})
    with pytest.raises(LabelError, match=r"NaN or inf values \(e\.g\. nan at index 2\)"):
        check_class_labels(np.array([0, 1.0, np.nan]), 2)
    with pytest.raises(LabelError, match=r"dtype float64.*astype\(np\.int32\)"):
        class_count({"y_train": np.array([0.0, 1.0])})
    with pytest.raises(LabelError, match=r"shape \(4, 1\)"):
        class_count({"y_train": np.zeros((4, 1), int)})


def test_the_inferred_class_count_is_bounded_by_the_examples_and_a_cap():
    # 40 examples: at most 10 classes per example, so labels up to 399.
    assert class_count({"y_train": labels(i0=399)}) == 400
    with pytest.raises(LabelError, match=r"y_train label 400 at index 0 .* up to 400") as info:
        class_count({"y_train": labels(i0=400)})
    assert info.value.index == 0
    # One stray label of 10**9 would be a one-hot of 10**9 columns (32 GB in float32).
    with pytest.raises(LabelError, match=r"label 1000000000 at index 7 .*\(num_classes"):
        class_count({"y_train": labels(i7=10**9)})
    # The cap holds however many examples there are.
    many = labels(20_000, dtype=np.int32, i9=100_000)
    with pytest.raises(LabelError, match=r"up to 100,000"):
        class_count({"y_train": many})
    # A given class count lifts the bound (its own range check still holds).
    assert class_count({"y_train": labels(i7=10**9)}, num_classes=10**9 + 1) == 10**9 + 1
    assert class_count({"y_train": labels(), "y_val": labels(4, i1=3)}, num_classes=4) == 4


def test_a_single_class_is_refused():
    with pytest.raises(LabelError, match=r"y_train holds a single class \(3\) in all 40"):
        class_count({"y_train": np.full(40, 3)})
    with pytest.raises(LabelError, match="at least two classes"):
        class_count({"y_train": np.zeros(5, np.uint8), "y_val": np.array([0, 1])}, num_classes=2)
    with pytest.raises(ValueError, match="`num_classes` is 1"):
        class_count({"y_train": labels()}, num_classes=1)
    # Validation labels may hold fewer classes than the training labels.
    assert class_count({"y_train": labels(), "y_val": np.zeros(3, int)}) == 2
    # One example is counted in the singular.
    with pytest.raises(LabelError, match=r"a single class \(3\) in its 1 example;"):
        class_count({"y_train": np.full(1, 3)})


def test_bool_and_unsigned_labels_are_classes():
    assert class_count({"y": np.array([True, False, True])}) == 2
    assert class_count({"y": np.array([0, 5, 2], np.uint64)}) == 6


@pytest.mark.parametrize("num_classes", [2.5, None, True, "3", 0])
def test_check_class_labels_refuses_a_class_count_that_is_no_count(num_classes):
    # Before: 2.5 accepted label 2 (compared as < 2.5), None raised a bare TypeError.
    with pytest.raises(ValueError, match=r"`num_classes` (must be an int >= 1|is 0)"):
        check_class_labels(np.array([0, 1, 2]), num_classes)


@pytest.mark.parametrize("y", [np.array([[0, 1], [1, 0]]), np.array(5), np.zeros((2, 1), int)])
def test_check_class_labels_refuses_labels_that_are_not_one_per_example(y):
    # Before: 2-D labels and a 0-d label passed, although labels are documented as (N,).
    shape = re.escape(str(y.shape))
    with pytest.raises(LabelError, match=rf"y labels have shape {shape}; .*shape \(N,\)"):
        check_class_labels(y, 10)
