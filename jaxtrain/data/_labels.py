"""Class labels: checked in their own dtype before any cast, and the class count they imply.

Casting first and checking after hides the worst labels: 2³² + 1 (int64) and 2⁶³ + 5
(uint64) both become class 1 in int32, and trains as if nothing were wrong. Here every
comparison runs in the labels' own dtype, so the message names the label exactly as the user
stored it, with its index.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from jaxtrain._numbers import is_int, is_real_dtype
from jaxtrain._text import counted
from jaxtrain.data._errors import LabelError

__all__ = [
    "CLASSES_PER_EXAMPLE",
    "MAX_CLASSES",
    "check_class_labels",
    "class_count",
    "class_indices",
]

# The class count is inferred as the largest label + 1 only up to min(MAX_CLASSES,
# CLASSES_PER_EXAMPLE × the examples): one stray label of 10⁹ would otherwise ask for a
# one-hot encoding (and a model head) of 10⁹ columns. ImageNet-21k has 21,841 classes.
MAX_CLASSES = 100_000
CLASSES_PER_EXAMPLE = 10
_INT32_STOP = 2**31
# One-hot and soft targets are rows of probabilities: each sums to 1 up to this, which
# forgives a softmax's rounding in float32 (or float16), not a row that is off by a class.
ROW_SUM_TOLERANCE = 1e-3


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def negative_entries(y: np.ndarray) -> np.ndarray:
    """Where probabilities are negative beyond :data:`ROW_SUM_TOLERANCE` (a rounding error
    such as −1e-9, left by computing soft labels in floats, is none)."""
    return y < -ROW_SUM_TOLERANCE


def row_sums_off_one(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sums, off)``: the row sums of 2-D targets in float64, and where they miss 1 by more
    than :data:`ROW_SUM_TOLERANCE` (a NaN sum misses it too)."""
    sums = y.astype(np.float64).sum(axis=1)
    return sums, ~(np.abs(sums - 1.0) <= ROW_SUM_TOLERANCE)


def are_soft_labels(y: np.ndarray) -> bool:
    """Whether ``y`` holds one-hot or soft labels, rows (N, K) of probabilities: real numbers
    (bools too), finite, non-negative and each row summing to 1, both within
    :data:`ROW_SUM_TOLERANCE`. The rows :func:`~jaxtrain.data.check_dataset` accepts as
    targets of a classification, and the rows a split stratifies by their likeliest class;
    other 2-D float targets are a regression's outputs."""
    if y.ndim != 2 or y.shape[1] == 0 or not is_real_dtype(y.dtype):
        return False
    if not np.isfinite(y).all() or negative_entries(y).any():
        return False
    return not row_sums_off_one(y)[1].any()


def _integer_dtype(y: np.ndarray, name: str, num_classes: int | None) -> None:
    """Refuses labels that are not integers, naming a non-integer value where there is one."""
    if np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
        return
    wanted = "integer class indices" + (
        f" 0..{num_classes - 1}" if num_classes is not None else " 0..K-1"
    )
    if np.issubdtype(y.dtype, np.floating):
        finite = np.isfinite(y)
        bad = ~finite if not finite.all() else y != np.round(y)
        if bad.any():
            i = _first(bad)
            kind = "non-integer values" if finite.all() else "NaN or inf values"
            raise LabelError(
                f"{name} labels hold {kind} (e.g. {y[i].item()!r} at index {i}) but a "
                f"classification was asked; labels must be {wanted} (for a regression target "
                "pass num_classes=None).",
                name=name,
                index=i,
                value=y[i].item(),
            )
    raise LabelError(
        f"{name} labels have dtype {y.dtype.name}; a classification needs {wanted}: cast "
        "them with y.astype(np.int32).",
        name=name,
    )


def _check_one_per_example(y: np.ndarray, name: str) -> None:
    if y.ndim == 1:
        return
    column = y.ndim == 2 and y.shape[1] == 1
    raise LabelError(
        f"{name} labels have shape {y.shape}; class labels are one index per example, shape "
        f"(N,){': use y.reshape(-1)' if column else ''}.",
        name=name,
    )


def _first_out_of_range(y: np.ndarray, stop: int) -> tuple[int, Any] | None:
    """``(index, label)`` of the first label outside 0..stop-1, compared in y's own dtype."""
    bad = y >= stop
    if np.issubdtype(y.dtype, np.signedinteger):
        bad |= y < 0
    if not bad.any():
        return None
    i = _first(bad)
    return i, y[i].item()


def _negative(name: str, i: int, value: Any, stop_text: str) -> LabelError:
    return LabelError(
        f"{name} labels are negative (e.g. {value} at index {i}); class indices must be in "
        f"{stop_text}. Drop unlabelled (-1) examples or re-map the labels.",
        name=name,
        index=i,
        value=value,
    )


def check_num_classes(num_classes: Any, *, minimum: int = 1) -> int:
    """``num_classes`` as an int, refused unless it is an int (NumPy's too, not a bool) of
    at least ``minimum``."""
    if not is_int(num_classes):
        raise ValueError(f"`num_classes` must be an int >= {minimum}; got {num_classes!r}.")
    if num_classes < minimum:
        need = "a classification needs at least two classes" if minimum == 2 else "too few"
        raise ValueError(f"`num_classes` is {num_classes}; {need}.")
    return int(num_classes)


def check_class_labels(y: Any, num_classes: int, *, name: str = "y") -> None:
    """Checks integer class labels of shape (N,) against ``num_classes``, before any cast.

    Args:
      y: the labels, shape (N,), any integer (or bool) dtype.
      num_classes: K; the labels must be in 0..K − 1.
      name: what to call the labels in the message.

    Returns:
      None; the labels are fine when no error is raised.

    Raises:
      LabelError: for labels not of shape (N,), float labels (naming a non-integer one), or
        the first label outside 0..K − 1 with its index, compared in the labels' own dtype
        (2³² + 1 is named as such, never as the class 1 an int32 cast would make of it).
      ValueError: for a ``num_classes`` that is not an int ≥ 1.

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.data import LabelError, check_class_labels
      >>> check_class_labels(np.array([0, 2, 1]), 3)
      >>> try:
      ...     check_class_labels(np.array([0, 2**32 + 1]), 3, name="y_train")
      ... except LabelError as error:
      ...     print(str(error).split(";")[0])
      y_train labels go out of range (e.g. 4294967297 at index 1) for num_classes=3
    """
    num_classes = check_num_classes(num_classes)
    y = np.asarray(y)
    _check_one_per_example(y, name)
    _integer_dtype(y, name, num_classes)
    found = _first_out_of_range(y, num_classes)
    if found is None:
        return
    i, value = found
    if value < 0:
        raise _negative(name, i, value, f"0..{num_classes - 1}")
    hint = (
        " They look 1-based: subtract 1."
        if y.min() >= 1 and y.max() == num_classes
        else " Increase num_classes or re-map the labels."
    )
    raise LabelError(
        f"{name} labels go out of range (e.g. {value} at index {i}) for "
        f"num_classes={num_classes}; class indices must be in 0..{num_classes - 1}.{hint}",
        name=name,
        index=i,
        value=value,
    )


def class_indices(y: Any, *, name: str = "y") -> np.ndarray:
    """Integer class labels as int32, after refusing every label the cast would change.

    Args:
      y: integer (or bool) labels of any shape.
      name: what to call the labels in the message.

    Returns:
      ``y`` as int32, equal to the input label for label.

    Raises:
      LabelError: for non-integer labels, or the first label that is negative or above
        int32's 2,147,483,647, with its index (compared in y's own dtype).

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.data import LabelError, class_indices
      >>> class_indices(np.array([0, 2, 1], np.uint64)).dtype
      dtype('int32')
      >>> try:
      ...     class_indices(np.array([0, 2**32 + 1]))
      ... except LabelError as error:
      ...     print(str(error).split(";")[0])
      y label 4294967297 at index 1 does not fit a class index
    """
    y = np.asarray(y)
    _integer_dtype(y, name, None)
    found = _first_out_of_range(y, _INT32_STOP)
    if found is not None:
        i, value = found
        if value < 0:
            raise _negative(name, i, value, "0..K-1")
        raise LabelError(
            f"{name} label {value} at index {i} does not fit a class index; class indices are "
            f"0..K-1 with K at most {_INT32_STOP - 1:,} (int32), and far fewer in practice.",
            name=name,
            index=i,
            value=value,
        )
    return y.astype(np.int32)


def _inference_bound(examples: int) -> int:
    return min(MAX_CLASSES, CLASSES_PER_EXAMPLE * examples)


def _check_inferable(y: np.ndarray, name: str, bound: int, examples: int) -> None:
    found = _first_out_of_range(y, bound)
    if found is None:
        return
    i, value = found
    if value < 0:
        raise _negative(name, i, value, "0..K-1")
    raise LabelError(
        f"{name} label {value} at index {i} is out of range: the class count is inferred as "
        f"the largest label + 1 only up to {bound:,} ({CLASSES_PER_EXAMPLE} per example for "
        f"{counted(examples, 'example')}, never above {MAX_CLASSES:,}); re-map the labels to "
        "0..K-1 or give the class count (num_classes, --num-classes).",
        name=name,
        index=i,
        value=value,
    )


def _check_two_classes(y: np.ndarray, name: str) -> None:
    classes = np.unique(y)
    if classes.size >= 2:
        return
    if not classes.size:
        held = "no labels"
    elif y.size == 1:
        held = f"a single class ({classes[0].item()}) in its 1 example"
    else:
        held = f"a single class ({classes[0].item()}) in all {y.size:,} examples"
    raise LabelError(
        f"{name} holds {held}; a classification needs at least two classes (a model would "
        "learn to always answer the one it sees).",
        name=name,
    )


def class_count(labels: Mapping[str, Any], *, num_classes: int | None = None) -> int:
    """K, the number of classes of integer labels: given, or inferred within a bound.

    Without ``num_classes`` K is the largest label + 1, but only up to
    min(:data:`MAX_CLASSES`, :data:`CLASSES_PER_EXAMPLE` × the examples): a label beyond
    that is far more likely a corrupt or mis-encoded value than a class, and it would ask
    for a one-hot encoding and a model head of that many columns. With ``num_classes``
    every label must lie in 0..K − 1. Either way the first array (the training labels) must
    hold at least two classes. All checks run in the labels' own dtype, before any cast.

    Args:
      labels: named label arrays of shape (N,), the training labels first, e.g.
        ``{"y_train": y_train, "y_val": y_val}``.
      num_classes: K when known; ``None`` infers it.

    Returns:
      K as a Python int.

    Raises:
      LabelError: naming the array, the label and its index, for a label out of range
        (negative, ≥ ``num_classes``, or beyond the inference bound), non-integer labels,
        labels not of shape (N,), or training labels of a single class.
      ValueError: for no label arrays or a ``num_classes`` below 2.

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.data import LabelError, class_count
      >>> class_count({"y_train": np.array([0, 1, 1, 2]), "y_val": np.array([3, 0])})
      4
      >>> try:
      ...     class_count({"y_train": np.array([0, 1, 10**9, 1])})
      ... except LabelError as error:
      ...     print(str(error).split(":")[0])
      y_train label 1000000000 at index 2 is out of range
    """
    arrays = {name: np.asarray(y) for name, y in labels.items()}
    if not arrays:
        raise ValueError("`labels` is empty: give at least the training labels.")
    for name, y in arrays.items():
        _check_one_per_example(y, name)
    if num_classes is not None:
        num_classes = check_num_classes(num_classes, minimum=2)
        for name, y in arrays.items():
            check_class_labels(y, num_classes, name=name)
    else:
        examples = sum(y.size for y in arrays.values())
        bound = _inference_bound(examples)
        for name, y in arrays.items():
            _integer_dtype(y, name, None)
            _check_inferable(y, name, bound, examples)
    name, y_train = next(iter(arrays.items()))
    _check_two_classes(y_train, name)
    if num_classes is not None:
        return int(num_classes)
    return 1 + max(int(y.max()) for y in arrays.values() if y.size)
