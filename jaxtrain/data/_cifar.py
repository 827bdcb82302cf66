"""Reader for the binary version of CIFAR-10 (``cifar-10-binary.tar.gz``), without pickle.

Each file is a sequence of 3,073-byte records: one label byte (0–9), then the 32×32 image
as 1,024 red, 1,024 green and 1,024 blue bytes (channel-major, rows top to bottom). The file
length, every label and the record count are checked, so a truncated file or the wrong data
set fails loudly with the file's name.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from jaxtrain._numbers import is_int
from jaxtrain._text import counted
from jaxtrain.data._errors import DataFileError, refuse_a_non_file
from jaxtrain.data._streams import warn_if_blank_tail

_SIDE = 32
_CHANNELS = 3
_RECORD = 1 + _CHANNELS * _SIDE * _SIDE
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"


def _read_cifar_file(path: Path, records_per_file: int | None) -> tuple[np.ndarray, np.ndarray]:
    refuse_a_non_file(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such file. Download and extract the *binary* version "
            f"(cifar-10-binary.tar.gz) from {_CIFAR_URL}."
        )
    # Checked before reading: a wrong multi-GB file would otherwise fill the memory first.
    size = path.stat().st_size
    if size == 0:
        raise DataFileError(path, "the file is empty; download it again.")
    expected = None if records_per_file is None else records_per_file * _RECORD
    if expected is not None and size != expected:
        held = (
            f"holds {counted(size // _RECORD, 'record')}"
            if size % _RECORD == 0
            else f"holds {counted(size, 'byte')}, not a whole number of {_RECORD}-byte records"
        )
        state = "too large" if size > expected else "truncated"
        raise DataFileError(
            path,
            f"{held}, expected {counted(records_per_file, 'record')} ({expected:,} bytes); the "
            f"file is {state} or not from CIFAR-10 (pass records_per_file=None to accept any "
            "count).",
        )
    if size % _RECORD:
        raise DataFileError(
            path,
            f"{counted(size, 'byte')} is not a whole number of {_RECORD}-byte records "
            f"(1 label byte + 3072 pixel bytes): the file is truncated or is not the CIFAR-10 "
            "binary format (the Python version is pickled and is not read here).",
        )
    records = np.fromfile(path, dtype=np.uint8, count=size).reshape(-1, _RECORD)
    warn_if_blank_tail(path, records)
    labels = records[:, 0]
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise DataFileError(
            path,
            f"label byte {int(labels[bad[0]])} in record {int(bad[0])} is outside "
            "0–9: not CIFAR-10 binary data (CIFAR-100 records have two label bytes).",
        )
    chw = records[:, 1:].reshape(-1, _CHANNELS, _SIDE, _SIDE)
    return np.ascontiguousarray(chw.transpose(0, 2, 3, 1)), labels


def load_cifar10(
    directory: str | os.PathLike,
    split: str = "train",
    *,
    records_per_file: int | None = 10_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Loads CIFAR-10 from its binary files ``data_batch_1.bin`` … ``data_batch_5.bin``.

    Split ``"train"`` reads the five training batches (50,000 images), ``"test"`` reads
    ``test_batch.bin`` (10,000). ``directory`` is the extracted ``cifar-10-batches-bin`` folder
    or its parent. Images are converted from the file's CHW to NHWC. Nothing is downloaded
    and nothing is unpickled.

    Args:
      directory: the folder with the ``.bin`` files (or the folder containing
        ``cifar-10-batches-bin``).
      split: ``"train"`` or ``"test"``.
      records_per_file: the number of records each file must hold (10,000 in the real data
        set); ``None`` accepts any whole number of records.

    Returns:
      ``(x, y)``: x uint8 of shape (N, 32, 32, 3), y int32 of shape (N,) in 0–9.

    Raises:
      FileNotFoundError: if a file is missing.
      ValueError: for a bad ``split`` or ``records_per_file``.
      DataFileError: a ValueError naming the file, for an empty file, a length that is not a
        whole number of 3,073-byte records, a wrong record count (a file too large or
        truncated, found from its size before it is read), or a label outside 0–9.

    Examples:
      >>> import tempfile, pathlib
      >>> import numpy as np
      >>> from jaxtrain.data import load_cifar10
      >>> folder = pathlib.Path(tempfile.mkdtemp())
      >>> record = np.concatenate([[7], np.repeat([10, 20, 30], 1024)]).astype(np.uint8)
      >>> _ = (folder / "test_batch.bin").write_bytes(record.tobytes())
      >>> x, y = load_cifar10(folder, split="test", records_per_file=None)
      >>> x.shape, y.tolist(), x[0, 0, 0].tolist()
      ((1, 32, 32, 3), [7], [10, 20, 30])

    References:
      Krizhevsky, *Learning Multiple Layers of Features from Tiny Images*, 2009,
      https://www.cs.toronto.edu/~kriz/learning-features-2009-TR.pdf
    """
    if split not in ("train", "test"):
        raise ValueError(f'`split` must be "train" or "test"; got {split!r}.')
    if records_per_file is not None and (not is_int(records_per_file) or records_per_file < 1):
        raise ValueError(
            f"`records_per_file` must be a positive int or None; got {records_per_file!r}."
        )
    directory = Path(directory)
    if (directory / "cifar-10-batches-bin").is_dir():
        directory = directory / "cifar-10-batches-bin"
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] if split == "train" else ["test_batch.bin"]
    count = None if records_per_file is None else int(records_per_file)
    parts = [_read_cifar_file(directory / name, count) for name in names]
    x = np.concatenate([images for images, _ in parts])
    y = np.concatenate([labels for _, labels in parts]).astype(np.int32)
    return x, y
