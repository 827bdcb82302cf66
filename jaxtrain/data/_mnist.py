"""Readers for the IDX format of MNIST (and Fashion-MNIST, KMNIST), gzip-compressed or not.

An IDX file is a 4-byte magic number — two zero bytes, a type code, the number of dimensions
d — then d big-endian uint32 sizes, then the values in big-endian row-major order. Every
field is checked against the file's length, so a truncated download or a wrong file fails
with a message naming the file and the problem instead of returning garbage. No pickle.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from jaxtrain._text import counted
from jaxtrain.data._errors import DataFileError, refuse_a_non_file
from jaxtrain.data._labels import check_class_labels
from jaxtrain.data._streams import read_up_to, warn_if_blank_tail

_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
# Deflate expands its input at most 1032-fold (zlib's technical details), so a gzip file of
# n bytes cannot hold more than 1032 n: a header promising more is refused before reading.
_DEFLATE_MAX_RATIO = 1032
# NumPy 1.x arrays have at most 32 dimensions (2.x: 64); IDX data sets use 1 to 4.
_MAX_NDIM = 32
_MNIST_URL = "https://yann.lecun.com/exdb/mnist/"


def _read_idx(stream: BinaryIO, path: Path, file_size: int, compressed: bool) -> np.ndarray:
    head = read_up_to(stream, 4)
    if head.size < 4:
        raise DataFileError(
            path, f"{counted(head.size, 'byte')} is too short for an IDX header (4 bytes)."
        )
    code, ndim, magic = int(head[2]), int(head[3]), head.tobytes().hex()
    if head[0] != 0 or head[1] != 0:
        raise DataFileError(
            path,
            f"bad magic number 0x{magic}; an IDX file starts with two zero bytes. Is this "
            "an MNIST IDX file (not HTML from a failed download)?",
        )
    if code not in _IDX_TYPES:
        raise DataFileError(
            path,
            f"bad magic number 0x{magic}: unknown IDX type code 0x{code:02x} (known: "
            f"{', '.join(f'0x{c:02x}' for c in _IDX_TYPES)}).",
        )
    if ndim == 0:
        raise DataFileError(path, f"bad magic number 0x{magic}: zero dimensions.")
    if ndim > _MAX_NDIM:
        raise DataFileError(
            path,
            f"bad magic number 0x{magic}: {ndim} dimensions, more than the {_MAX_NDIM} an "
            "array may have here (MNIST files have 1 or 3): the file is corrupt or not IDX.",
        )
    sizes = read_up_to(stream, 4 * ndim)
    header = 4 + 4 * ndim
    if sizes.size < 4 * ndim:
        raise DataFileError(
            path,
            f"truncated header: {counted(ndim, 'dimension')} {'needs' if ndim == 1 else 'need'} "
            f"{header} bytes, the file has "
            f"{4 + sizes.size}.",
        )
    shape = struct.unpack(f">{ndim}I", sizes.tobytes())
    dtype = _IDX_TYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    promise = (
        f"the header promises shape {shape} of {dtype.name} ({counted(expected, 'data byte')})"
    )
    if not compressed and file_size - header != expected:
        found = file_size - header
        problem = "it is truncated" if found < expected else "it has trailing bytes"
        raise DataFileError(
            path, f"{promise} but the file holds {found}: {problem}. Download it again."
        )
    if compressed and expected > _DEFLATE_MAX_RATIO * file_size:
        # Checked before decompressing the data: nothing is allocated for what cannot be there.
        raise DataFileError(
            path,
            f"{promise} but {file_size} compressed bytes expand to at most "
            f"{_DEFLATE_MAX_RATIO * file_size}: the file is corrupt. Download it again.",
        )
    data = read_up_to(stream, expected)
    if data.size < expected:
        raise DataFileError(
            path, f"{promise} but the file holds {data.size}: it is truncated. Download it again."
        )
    if stream.read(1):
        # Decompression stops one byte past the promise, however much more the file would give.
        raise DataFileError(
            path, f"{promise} but the file holds more: it has trailing bytes. Download it again."
        )
    array = data.view(dtype).reshape(shape)
    if not compressed:  # gzip's checksum refuses a file whose end was never written
        warn_if_blank_tail(path, array)
    return array.astype(dtype.newbyteorder("="))


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads one IDX file (``.gz`` or uncompressed) into a NumPy array.

    Args:
      path: the file, e.g. ``train-images-idx3-ubyte.gz``; gzip is detected from the content.

    Returns:
      The array with the file's shape, in native byte order: uint8 for MNIST images (N, H, W)
      and labels (N,).

    Raises:
      FileNotFoundError: if the file does not exist.
      DataFileError: a ValueError naming the file, for corrupt gzip data, a bad magic number
        (non-zero leading bytes, an unknown type code, zero or more than 32 dimensions), a
        truncated header, or a data length that does not match the header's shape
        (truncated file or trailing bytes). A gzip file is decompressed as a stream and
        only up to one byte past the header's promise, so a small file that would expand
        to gigabytes is refused after reading what the header promised.

    Examples:
      >>> import tempfile, pathlib, struct
      >>> from jaxtrain.data import load_idx
      >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
      >>> _ = path.write_bytes(struct.pack(">4BI", 0, 0, 0x08, 1, 3) + bytes([7, 0, 9]))
      >>> load_idx(path).tolist()
      [7, 0, 9]

    References:
      LeCun, Cortes and Burges, *The MNIST database of handwritten digits* (file format),
      https://yann.lecun.com/exdb/mnist/
    """
    path = Path(path)
    refuse_a_non_file(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file.")
    with open(path, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            return _read_idx(raw, path, path.stat().st_size, compressed=False)
        try:
            with gzip.GzipFile(fileobj=raw) as stream:
                return _read_idx(stream, path, path.stat().st_size, compressed=True)
        except (OSError, EOFError, zlib.error) as error:
            raise DataFileError(
                path, f"corrupt or truncated gzip data ({error}); download the file again."
            ) from None


def _find(directory: Path, stem: str, kind: str) -> Path:
    # The official names, plus the dotted spelling some mirrors use.
    names = [
        f"{stem}-{kind}-idx{3 if kind == 'images' else 1}-ubyte",
        f"{stem}-{kind}.idx{3 if kind == 'images' else 1}-ubyte",
    ]
    candidates = [directory / (name + suffix) for name in names for suffix in (".gz", "")]
    for candidate in candidates:
        if candidate.exists():  # not a regular file: load_idx says what it is
            return candidate
    raise FileNotFoundError(
        f"no MNIST {kind} file in {directory}: looked for {[c.name for c in candidates]}. "
        f"Download them from {_MNIST_URL} (or a mirror) into that directory."
    )


def load_mnist(
    directory: str | os.PathLike, split: str = "train", *, num_classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Loads MNIST (or Fashion-MNIST, same files) from its IDX files in ``directory``.

    Reads ``train-images-idx3-ubyte[.gz]`` and ``train-labels-idx1-ubyte[.gz]`` (split
    ``"train"``) or the ``t10k-…`` pair (``"test"``), checks both, and returns images in NHWC
    layout so they go straight into convolutions and augmentations. Nothing is downloaded.

    Args:
      directory: the folder holding the four files.
      split: ``"train"`` or ``"test"``.
      num_classes: the labels must lie in 0..num_classes − 1: 10 for MNIST, Fashion-MNIST
        and KMNIST (EMNIST's splits have 10 to 62).

    Returns:
      ``(x, y)``: x uint8 of shape (N, H, W, 1) (28×28 for MNIST), y int32 of shape (N,).
      Divide x by 255 for pixels in [0, 1].

    Raises:
      FileNotFoundError: if a file is missing (the message lists the names tried).
      ValueError: for a bad ``split``, a corrupt file (see :func:`load_idx`), images that are
        not (N, H, W) uint8, labels that are not (N,) uint8, or different counts.
      LabelError: for a label byte outside 0..num_classes − 1, naming the file, the label
        and its index.

    Examples:
      >>> import tempfile, pathlib, struct
      >>> from jaxtrain.data import load_mnist
      >>> folder = pathlib.Path(tempfile.mkdtemp())
      >>> _ = (folder / "t10k-images-idx3-ubyte").write_bytes(
      ...     struct.pack(">4B3I", 0, 0, 8, 3, 2, 2, 2) + bytes(range(8)))
      >>> _ = (folder / "t10k-labels-idx1-ubyte").write_bytes(
      ...     struct.pack(">4BI", 0, 0, 8, 1, 2) + bytes([3, 5]))
      >>> x, y = load_mnist(folder, split="test")
      >>> x.shape, y.tolist()
      ((2, 2, 2, 1), [3, 5])

    References:
      LeCun, Bottou, Bengio and Haffner, *Gradient-Based Learning Applied to Document
      Recognition*, Proc. IEEE 86(11), 1998, https://doi.org/10.1109/5.726791
    """
    if split not in ("train", "test"):
        raise ValueError(f'`split` must be "train" or "test"; got {split!r}.')
    directory = Path(directory)
    stem = "train" if split == "train" else "t10k"
    images_path = _find(directory, stem, "images")
    labels_path = _find(directory, stem, "labels")
    images, labels = load_idx(images_path), load_idx(labels_path)
    # The likely mix-up behind a wrong shape is the two files; behind a wrong type, the file.
    swapped = images.ndim == 1 and labels.ndim == 3
    hint = " Are the images and labels swapped?" if swapped else ""
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataFileError(
            images_path,
            "expected uint8 images of shape (N, H, W) (magic 0x00000803), got "
            f"{images.dtype.name} of shape {images.shape}.{hint}",
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataFileError(
            labels_path,
            "expected uint8 labels of shape (N,) (magic 0x00000801), got "
            f"{labels.dtype.name} of shape {labels.shape}.{hint}",
        )
    if len(images) == 0:
        raise DataFileError(images_path, "holds no images (N = 0); download the file again.")
    if 0 in images.shape[1:]:
        height, width = images.shape[1:]
        raise DataFileError(
            images_path, f"holds images of {height}×{width} pixels; download the file again."
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{images_path.name} holds {counted(len(images), 'image')} but {labels_path.name} "
            f"holds {counted(len(labels), 'label')}; the two files come from different "
            "downloads."
        )
    check_class_labels(labels, num_classes, name=str(labels_path))
    return images[..., None], labels.astype(np.int32)
