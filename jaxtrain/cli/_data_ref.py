"""Data by reference: a built-in set or an .npz file, rebuilt identically from a small dict.

``jaxtrain train`` stores the reference in its checkpoint; ``jaxtrain hessian`` rebuilds the
exact same splits from it (same generator seed, same split seed, same standardization), and
refuses a data file whose bytes changed since training.
"""

from __future__ import annotations

import math
import pathlib
import sys
from typing import Any

import numpy as np

from jaxtrain._text import counted
from jaxtrain.cli._errors import CommandError, UsageError

__all__ = ["BUILTIN", "data_reference", "load_data", "load_reference", "output_count"]

BUILTIN = ("digits", "spirals", "blobs")

_Pair = tuple[np.ndarray, np.ndarray]

# Sizes of the synthetic built-in sets: big enough to train, small enough for seconds on a CPU.
_SYNTHETIC_N = 1200


def data_reference(
    source: str,
    *,
    seed: int,
    val_fraction: float,
    standardize: bool,
    num_classes: int | None = None,
) -> dict[str, Any]:
    """The reference of a built-in name or an .npz path (with the file's SHA-256).

    ``num_classes`` (``--num-classes``) is kept only when given, so that the labels are
    checked against the same count when the data are rebuilt.
    """
    from jaxtrain.cli._npz import file_digest

    common = {"seed": int(seed), "val_fraction": float(val_fraction), "standardize": standardize}
    if num_classes is not None:
        common["num_classes"] = int(num_classes)
    if source in BUILTIN:
        if pathlib.Path(source).is_file():  # (a folder of that name is no data file)
            # The name wins, as documented; the user may have meant the file.
            print(
                f"jaxtrain: --data {source} is the built-in set; for the file of that name "
                f"here, give --data ./{source}",
                file=sys.stderr,
            )
        return {"source": "builtin", "name": source, **common}
    path = pathlib.Path(source)
    if not path.exists():
        raise CommandError(
            f"--data {source!r} is neither a built-in set ({', '.join(BUILTIN)}) nor an "
            "existing .npz file"
        )
    digest = file_digest(path, source)
    return {"source": "file", "path": str(path.resolve()), "sha256": digest, **common}


def _builtin(name: str, seed: int, family: str) -> tuple[np.ndarray, np.ndarray]:
    from jaxtrain import data

    if name == "digits":
        return data.load_digits(flatten=family == "mlp")
    if name == "spirals":
        return data.make_spirals(_SYNTHETIC_N, classes=3, noise=0.05, seed=seed)
    return data.make_blobs(_SYNTHETIC_N, centers=4, spread=1.5, seed=seed)


def _split_off_validation(
    x: np.ndarray,
    y: np.ndarray,
    val_fraction: float,
    seed: int,
    where: str,
    *,
    task: str,
    from_file: bool = False,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(train, val)``: ``--val-fraction`` of the examples held out, stratified for a
    classification and at random for a regression (whose rows of outputs may happen to sum
    to 1 like probabilities); a split that cannot be made is refused in the command line's
    terms (the library's names ``val_fraction`` and ``test_fraction`` mean nothing to its
    user)."""
    from jaxtrain import data
    from jaxtrain.data._splits import class_labels

    stratify = task == "classification"
    try:
        train, val, _ = data.train_val_test_split(
            x, y, val_fraction=val_fraction, stratify=stratify, seed=seed
        )
    except ValueError as error:
        n = x.shape[0]
        held_out = round(n * val_fraction)
        labels = class_labels(y) if stratify else None
        classes = 0 if labels is None else len(np.unique(labels))
        # The split keeps a training example of each class (stratified; the library's other
        # way, stratify=False, is no option of the command line), and one at least.
        room = n - max(classes, 1)
        kept = (
            f"a training example of each of the {classes:,} classes"
            if classes
            else "a training example"
        )
        reason = (
            f"no fraction can: it keeps {kept}, which leaves no example to hold out"
            if room < 1
            else f"it holds out none (round({n} × {val_fraction:g}) = 0); raise it to "
            f"{1 / n:.3g} or more"
            if held_out == 0
            else f"it keeps {kept}, which leaves {counted(room, 'example')} to hold out "
            f"{held_out:,}; lower it to {_rounded_down(room / n):g} or less"
            if held_out > room
            else str(error)
        )
        own = ", or give the file its own x_val and y_val" if from_file else ""
        raise UsageError(
            f"--val-fraction {val_fraction:g} cannot split the {counted(n, 'example')} "
            f"of {where}: {reason}{own}"
        ) from None
    return train, val


def _rounded_down(fraction: float, digits: int = 3) -> float:
    """``fraction`` to ``digits`` significant digits, rounded down: a largest fraction
    suggested to people must not hold out one example more than can be."""
    scale = 10.0 ** (digits - 1 - math.floor(math.log10(fraction)))
    return math.floor(fraction * scale) / scale


def load_data(
    source: str,
    *,
    seed: int,
    val_fraction: float,
    standardize: bool,
    num_classes: int | None,
    family: str,
) -> tuple[dict[str, Any], _Pair, _Pair, str, int]:
    """``(reference, train, val, task, outputs)``: the data of ``--data`` and the reference a
    checkpoint records to rebuild them.

    The reference holds what the data were made with, not the options as given:
    ``val_fraction`` only where it split off the validation set (a file's own split leaves
    it unused), and ``num_classes`` as the count resolved, given or inferred. An option that
    changed nothing thus never makes a checkpoint refuse to resume.
    """
    reference = data_reference(
        source,
        seed=seed,
        val_fraction=val_fraction,
        standardize=standardize,
        num_classes=num_classes,
    )
    # data_reference has just taken the file's SHA-256: no second read of it to compare.
    train, val, task, split_off = _rebuild(reference, family, verified=True)
    outputs = output_count(train, val, task, num_classes)
    if not split_off:
        del reference["val_fraction"]
    if task == "classification":
        reference["num_classes"] = outputs
    return reference, train, val, task, outputs


def load_reference(
    reference: dict[str, Any], family: str, *, verified: bool = False
) -> tuple[_Pair, _Pair, str]:
    """``(train, val, task)`` rebuilt from the reference :func:`load_data` records, inputs
    for ``family``. A data file whose SHA-256 is not the recorded one is refused, unless
    ``verified``: the caller has compared it already."""
    train, val, task, _ = _rebuild(reference, family, verified=verified)
    return train, val, task


def _val_fraction(reference: dict[str, Any]) -> float:
    if "val_fraction" not in reference:
        raise CommandError(
            f"the data reference {reference!r} records no val_fraction, yet its data have "
            "no validation split of their own"
        )
    return float(reference["val_fraction"])


def _rebuild(
    reference: dict[str, Any], family: str, *, verified: bool
) -> tuple[_Pair, _Pair, str, bool]:
    """:func:`load_reference`'s ``(train, val, task)``, and whether ``val`` was split off."""
    from jaxtrain import data
    from jaxtrain.cli._args import shape_inputs
    from jaxtrain.cli._npz import file_digest, load_splits

    seed, split_off = int(reference["seed"]), True
    if reference.get("source") == "builtin":
        if reference.get("name") not in BUILTIN:
            raise CommandError(f"unknown built-in data set {reference.get('name')!r}")
        x, y = _builtin(reference["name"], seed, family)
        task = "classification"
        train, val = _split_off_validation(
            x, y, _val_fraction(reference), seed, reference["name"], task=task
        )
    elif reference.get("source") == "file":
        path = pathlib.Path(reference["path"])
        compare = not verified and path.exists() and reference.get("sha256")
        if compare and file_digest(path, f"the data file {path}") != reference["sha256"]:
            raise CommandError(
                f"the data file {path} changed since training (its SHA-256 differs); the "
                "model cannot be checked on the data it was trained on"
            )
        splits = load_splits(path, require_val=False, num_classes=reference.get("num_classes"))
        task = splits.task
        train = splits.pair("train")
        val = splits.pair("val")
        split_off = val is None
        if split_off:
            where = f"{path}, which holds no validation split of its own"
            train, val = _split_off_validation(
                *train, _val_fraction(reference), seed, where, task=task, from_file=True
            )
    else:
        raise CommandError(f"unknown data reference {reference!r}")
    train = (shape_inputs(train[0], family, "x_train"), train[1])
    val = (shape_inputs(val[0], family, "x_val"), val[1])
    if reference.get("standardize"):
        mean, std = data.fit_standardizer(train[0])
        train = (data.standardize(train[0], mean, std), train[1])
        val = (data.standardize(val[0], mean, std), val[1])
    return train, val, task, split_off


def output_count(
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    task: str,
    num_classes: int | None = None,
) -> int:
    """The model's outputs: the class count (given or inferred) or the target width.

    Raises:
      CommandError: for labels out of range, or training labels of a single class (after
        the validation split was held out), naming the array, the label and its index.
    """
    from jaxtrain.data import LabelError, class_count

    if task != "classification":
        return int(np.prod(train[1].shape[1:], dtype=np.int64))
    try:
        return class_count({"y_train": train[1], "y_val": val[1]}, num_classes=num_classes)
    except LabelError as error:
        if num_classes is not None and isinstance(error.value, int) and error.value >= num_classes:
            # A value the data cannot take, as --batch-size above the examples: named by its
            # flag (the error's index is one of the shuffled split's, not of the file).
            largest = max(int(np.max(labels)) for labels in (train[1], val[1]) if labels.size)
            raise UsageError(
                f"--num-classes {num_classes} is too few: the labels go up to {largest}, and "
                f"class indices must be in 0..{num_classes - 1}; give --num-classes "
                f"{largest + 1} or more, or leave it out to count the classes"
            ) from None
        raise CommandError(str(error)) from None
    except ValueError as error:
        raise CommandError(f"--num-classes: {error}") from None
