"""The errors the data layer raises: unusable class labels, and a data file that is corrupt."""

from __future__ import annotations

import os
from typing import Any

from jaxtrain._regular_file import what_is_there

__all__ = ["DataFileError", "LabelError"]


class LabelError(ValueError):
    """Class labels that a classification cannot use, naming the first bad label.

    Raised by :func:`~jaxtrain.data.class_count` and :func:`~jaxtrain.data.check_dataset`
    before any cast: a label of 2³² + 1 cast to int32 would become class 1, and a label of
    10⁹ would ask for a one-hot encoding with 10⁹ columns.

    Attributes:
      name: what the labels are called in the message (``"y_train"``, ``"train_data"``).
      index: the index of the first bad label, or ``None`` when no single label is at fault
        (one class only).
      value: that label as an exact Python number, or ``None``.

    Examples:
      >>> from jaxtrain.data import LabelError
      >>> issubclass(LabelError, ValueError)
      True
    """

    def __init__(
        self, message: str, *, name: str, index: int | None = None, value: Any = None
    ) -> None:
        super().__init__(message)
        self.name = name
        self.index = index
        self.value = value


class DataFileError(ValueError):
    """A data file (IDX, CIFAR-10 binary) that is corrupt, truncated or of another format.

    The message starts with the file's path and says what is wrong with it; no file is
    decompressed or allocated beyond the size its own header promises.

    Attributes:
      path: the file.

    Examples:
      >>> from jaxtrain.data import DataFileError
      >>> issubclass(DataFileError, ValueError)
      True
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path


def refuse_a_non_file(path: Any) -> None:
    """Refuses a folder, pipe, device or socket at a data file's name, saying which (a FIFO
    would block the read, a device never end it); a missing file is the caller's to word."""
    there = what_is_there(path)
    if there is not None:
        raise DataFileError(path, f"it is {there}.")
