"""Data for the lecture's §1: augmentation, splits, standardization, data sets and checks.

Arrays in, arrays out: every function takes NumPy (or JAX) arrays and returns NumPy arrays,
except the augmentations, which are pure JAX functions ``aug(key, x) -> x`` of ONE example
(shape (H, W, C) or (H, W)) applied to a batch with :func:`augment_batch`.
"""

from jaxtrain.data._augment import (
    additive_noise,
    augment_batch,
    compose,
    horizontal_flip,
    random_crop,
    random_zoom,
    vertical_flip,
)
from jaxtrain.data._checks import check_dataset
from jaxtrain.data._cifar import load_cifar10
from jaxtrain.data._datasets import (
    load_digits,
    make_blobs,
    make_regression_curve,
    make_spirals,
)
from jaxtrain.data._errors import DataFileError, LabelError
from jaxtrain.data._labels import check_class_labels, class_count, class_indices
from jaxtrain.data._mnist import load_idx, load_mnist
from jaxtrain.data._splits import (
    Splits,
    Standardizer,
    fit_standardizer,
    kfold_indices,
    standardize,
    train_val_test_split,
)

__all__ = [
    "DataFileError",
    "LabelError",
    "Splits",
    "Standardizer",
    "additive_noise",
    "augment_batch",
    "check_class_labels",
    "check_dataset",
    "class_count",
    "class_indices",
    "compose",
    "fit_standardizer",
    "horizontal_flip",
    "kfold_indices",
    "load_cifar10",
    "load_digits",
    "load_idx",
    "load_mnist",
    "make_blobs",
    "make_regression_curve",
    "make_spirals",
    "random_crop",
    "random_zoom",
    "standardize",
    "train_val_test_split",
    "vertical_flip",
]
