"""The lecture's data: scikit-learn's 8×8 digits, split once per seed, shared by the sections."""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["digits_splits"]


@functools.lru_cache(maxsize=4)
def digits_splits(
    seed: int, *, flatten: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Digits as ``((x_train, y_train), (x_val, y_val))``: 80/20, stratified, pixels in [0, 1]."""
    from jaxtrain.data import load_digits, train_val_test_split

    x, y = load_digits(flatten=flatten)
    splits = train_val_test_split(x, y, val_fraction=0.2, seed=seed)
    return splits.train, splits.val
