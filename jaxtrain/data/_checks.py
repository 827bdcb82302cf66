"""Input checks run before training: bad data fail here with a fix, not as a NaN loss later."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from jaxtrain._dtypes import check_integers_fit_the_device, first_flagged_example
from jaxtrain._numbers import is_real_dtype
from jaxtrain._text import counted
from jaxtrain.data._errors import LabelError
from jaxtrain.data._labels import (
    check_class_labels,
    check_num_classes,
    negative_entries,
    row_sums_off_one,
)


def check_finite(values: np.ndarray, what: str, *, into_float32: bool = False) -> None:
    """Refuses NaN and inf ``values``, and, without x64, float64 ones beyond float32's range
    (either part of a complex128 one) and 64-bit integers beyond 32 bits' (floats always
    with ``into_float32``: a reader that casts to float32 whatever x64 says); ``what`` names
    them, plural ("training inputs x hold ...")."""
    if np.issubdtype(values.dtype, np.integer):
        # A float32 reader rounds a large integer but never wraps it.
        if not into_float32:
            check_integers_fit_the_device(values, what)
        return
    if not np.issubdtype(values.dtype, np.inexact):
        return
    nan, inf = np.isnan(values), np.isinf(values)
    if nan.any() or inf.any():
        bad = nan | inf
        raise ValueError(
            f"{what} hold {int(nan.sum())} NaN and {int(inf.sum())} inf values (first in "
            f"example {first_flagged_example(bad)}); drop or impute those examples before training."
        )
    # Without x64, JAX computes in float32: a float64 value beyond its range turns into inf
    # on the device, and the run would stop at a non-finite loss, not at the data.
    if values.dtype.itemsize > 4 and (into_float32 or not jax.config.jax_enable_x64):
        largest = float(np.finfo(np.float32).max)
        beyond = np.abs(values.real) > largest
        if np.iscomplexobj(values):
            beyond |= np.abs(values.imag) > largest  # complex64 holds each part in float32
        if beyond.any():
            why = (
                "which they are read into" if into_float32 else "which JAX computes in (x64 is off)"
            )
            fix = "rescale them." if into_float32 else "rescale them (or enable jax_enable_x64)."
            raise ValueError(
                f"{what} hold {counted(int(beyond.sum()), 'value')} beyond float32's range "
                f"(±{largest:.3g}), first in example {first_flagged_example(beyond)}, {why}; {fix}"
            )


def check_unmasked(values: Any, what: str) -> None:
    """Refuses a NumPy masked array with masked entries: ``np.asarray`` drops the mask and
    keeps the values beneath it (often a fill such as 999 or -1) as if they were data;
    ``what`` names them, plural ("training inputs x hold ...")."""
    if not isinstance(values, np.ma.MaskedArray):
        return
    mask = np.ma.getmaskarray(values)
    if mask.ndim and mask.any():
        raise ValueError(
            f"{what} hold {counted(int(mask.sum()), 'masked value')} (first in example "
            f"{first_flagged_example(mask)}); drop or impute those examples before training (a "
            "masked array's mask is lost when it becomes an array, and the values beneath it "
            "pass as data)."
        )


def _check_target_rows(y: np.ndarray, num_classes: int, where: str) -> None:
    if not is_real_dtype(y.dtype):
        raise LabelError(
            f"{where} one-hot/soft targets have dtype {y.dtype.name}; a classification needs "
            "real numbers, a probability per class in each row: cast them with "
            "y.astype(np.float32).",
            name=where,
        )
    if y.shape[1] != num_classes:
        raise ValueError(
            f"{where} targets have {y.shape[1]} columns but num_classes={num_classes}; one-hot "
            "or soft targets need one column per class (or pass integer labels of shape (N,))."
        )
    check_finite(y, f"{where} targets")
    if negative_entries(y).any():
        raise ValueError(
            f"{where} one-hot/soft targets hold negative values; each row must be a "
            "probability distribution over the classes."
        )
    sums, off = row_sums_off_one(y)
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"{where} one-hot/soft targets must sum to 1 per row; row {i} sums to "
            f"{sums[i]:.4g}. Normalize them (y / y.sum(1, keepdims=True)) or pass class indices."
        )


def _numeric(dtype: Any) -> bool:
    """Bools, integers, floats (bfloat16 too, which NumPy does not count a number) and
    complex numbers."""
    return is_real_dtype(dtype) or np.issubdtype(dtype, np.complexfloating)


def check_dataset(x: Any, y: Any, *, num_classes: int | None = None, name: str = "data") -> None:
    """Checks a data set ``(x, y)`` before training and raises a ValueError with the fix.

    A NaN in one input turns the loss into NaN after the first step; a label equal to
    ``num_classes`` makes a one-hot row of zeros and a silently wrong cross-entropy. These
    checks run once on the host (NumPy), outside the jitted step.

    Checked: both are arrays with the examples on axis 0; there is at least one example;
    x and y have the same length; neither is a masked array with masked entries; x is
    numeric and free of NaN/inf (float y too); without
    x64, where JAX computes in 32 bits, x and y hold no float64 values beyond float32's range
    and no 64-bit integers beyond 32 bits' (they would turn into inf, or wrap around). With
    ``num_classes``, y must be integer class indices of shape (N,) in 0..num_classes − 1,
    or one-hot/soft targets of shape (N, num_classes), real numbers whose rows are
    distributions (non-negative and summing to 1, both within 1e-3).

    Args:
      x: inputs, N examples on axis 0.
      y: targets, N on axis 0.
      num_classes: the number of classes of a classification task; ``None`` for regression
        (no label checks).
      name: what to call the data in messages (``"train_data"``, ``"val_data"``).

    Returns:
      None; the data are fine when no error is raised.

    Raises:
      LabelError: a ValueError naming the first bad label and its index, for class labels
        that are not integers or lie outside 0..num_classes − 1 (compared in their own
        dtype, before any cast: see :func:`check_class_labels`), or naming the dtype of
        one-hot/soft targets that are not real numbers.
      ValueError: naming the problem and the fix, for each other failed check.

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.data import check_dataset
      >>> check_dataset(np.zeros((3, 2)), np.array([0, 2, 1]), num_classes=3)
      >>> try:
      ...     check_dataset(np.zeros((3, 2)), np.array([0, 3, 1]), num_classes=3)
      ... except ValueError as error:
      ...     print(str(error).split(";")[0])
      data labels go out of range (e.g. 3 at index 1) for num_classes=3

    References:
      Karpathy, *A Recipe for Training Neural Networks*, 2019 ("become one with the data"),
      https://karpathy.github.io/2019/04/25/recipe/
    """
    if num_classes is not None:
        num_classes = check_num_classes(num_classes)
    given_x, given_y = x, y
    x, y = np.asarray(x), np.asarray(y)
    for array, label in ((x, "inputs x"), (y, "targets y")):
        if array.ndim == 0:
            raise ValueError(
                f"{name}: {label} is a scalar; pass an array with the examples on axis 0."
            )
    if len(x) == 0 or len(y) == 0:
        raise ValueError(
            f"{name} is empty (x has {len(x)} examples, y has {len(y)}); check the loading "
            "and the split fractions."
        )
    if len(x) != len(y):
        raise ValueError(
            f"{name}: x has {counted(len(x), 'example')} but y has {len(y):,}; they must have "
            "the same length on axis 0 (was one of them shuffled, filtered or transposed alone?)."
        )
    check_unmasked(given_x, f"{name} inputs x")
    check_unmasked(given_y, f"{name} targets y")
    if not _numeric(x.dtype):
        raise ValueError(
            f"{name}: inputs x have dtype {x.dtype}; they must be numeric (convert strings or "
            "objects to numbers first)."
        )
    check_finite(x, f"{name} inputs x")
    if num_classes is None:
        if not _numeric(y.dtype):
            raise ValueError(f"{name}: targets y have dtype {y.dtype}; they must be numeric.")
        check_finite(y, f"{name} targets y")
        return
    if y.ndim == 1:
        check_class_labels(y, num_classes, name=name)
    elif y.ndim == 2 and y.shape[1] == 1:
        raise ValueError(
            f"{name} labels have shape {y.shape}; class indices must be 1-D of shape "
            f"({len(y)},): use y.reshape(-1)."
        )
    elif y.ndim == 2:
        _check_target_rows(y, num_classes, name)
    else:
        raise ValueError(
            f"{name} targets have shape {y.shape}; a classification takes class indices (N,) "
            f"or one-hot/soft targets (N, {num_classes})."
        )
