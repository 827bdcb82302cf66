"""The IDX (MNIST) reader on small files written here: round trips and every failure."""

import gzip
import os
import struct
import tracemalloc
import warnings

import numpy as np
import pytest

from jaxtrain.data import DataFileError, LabelError, load_idx, load_mnist

IDX_CODES = {
    np.uint8: 0x08,
    np.int8: 0x09,
    np.int16: 0x0B,
    np.int32: 0x0C,
    np.float32: 0x0D,
    np.float64: 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">4B", 0, 0, IDX_CODES[array.dtype.type], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, payload: bytes, compress: bool = False):
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


@pytest.mark.parametrize("dtype", list(IDX_CODES))
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, dtype, compress):
    array = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    loaded = load_idx(write(tmp_path / "a-idx3-ubyte", idx_bytes(array), compress))
    assert loaded.dtype == np.dtype(dtype) and loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, array)


@pytest.mark.parametrize(
    "payload,match",
    [
        (b"\x00\x00", "too short"),
        (b"<htm" + bytes(20), "bad magic number 0x3c68746d"),
        (b"\x00\x00\x07\x01" + bytes(8), "unknown IDX type code 0x07"),
        (b"\x00\x00\x08\x00" + bytes(8), "zero dimensions"),
        (b"\x00\x00\x08\x03" + bytes(8), "truncated header"),
        (idx_bytes(np.zeros((3, 4), np.uint8))[:-1], "truncated"),
        (idx_bytes(np.zeros((3, 4), np.uint8)) + b"\x00", "trailing bytes"),
        (idx_bytes(np.zeros((3,), np.int32))[:-2], r"\(3,\) of int32"),
    ],
)
def test_idx_corrupt_files_raise(tmp_path, payload, match):
    path = write(tmp_path / "bad-idx-ubyte", payload)
    with pytest.raises(ValueError, match=match) as info:
        load_idx(path)
    assert "bad-idx-ubyte" in str(info.value)  # the message names the file


def test_idx_corrupt_gzip(tmp_path):
    full = gzip.compress(idx_bytes(np.zeros((50, 5), np.uint8)))
    path = write(tmp_path / "cut.gz", full[: len(full) // 2])
    with pytest.raises(ValueError, match=r"cut\.gz: corrupt or truncated gzip"):
        load_idx(path)
    broken = bytearray(full)
    broken[12:20] = b"\xff" * 8
    with pytest.raises(ValueError, match="gzip"):
        load_idx(write(tmp_path / "flip.gz", bytes(broken)))


def test_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        load_idx(tmp_path / "nope")


def test_a_folder_or_a_pipe_at_the_files_name_is_named_as_such(tmp_path):
    # Before: both were "no such file".
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(DataFileError, match="folder: it is a directory, not a file"):
        load_idx(tmp_path / "folder")
    with pytest.raises(DataFileError, match=r"pipe: it is not a regular file \(a pipe"):
        load_idx(tmp_path / "pipe")
    os.mkfifo(tmp_path / "train-images-idx3-ubyte")
    os.mkfifo(tmp_path / "train-labels-idx1-ubyte")
    with pytest.raises(DataFileError, match="not a regular file"):
        load_mnist(tmp_path)


def make_mnist(folder, stem, n=5, side=4, compress=True, dotted=False):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    sep = "." if dotted else "-"
    suffix = ".gz" if compress else ""
    write(folder / f"{stem}-images{sep}idx3-ubyte{suffix}", idx_bytes(images), compress)
    write(folder / f"{stem}-labels{sep}idx1-ubyte{suffix}", idx_bytes(labels), compress)
    return images, labels


@pytest.mark.parametrize("compress,dotted", [(True, False), (False, False), (False, True)])
def test_mnist_round_trip(tmp_path, compress, dotted):
    train = make_mnist(tmp_path, "train", n=6, compress=compress, dotted=dotted)
    test = make_mnist(tmp_path, "t10k", n=3, compress=compress, dotted=dotted)
    for split, (images, labels) in (("train", train), ("test", test)):
        x, y = load_mnist(tmp_path, split=split)
        assert x.shape == (*images.shape, 1) and x.dtype == np.uint8 and y.dtype == np.int32
        np.testing.assert_array_equal(x[..., 0], images)
        np.testing.assert_array_equal(y, labels)


def test_mnist_errors(tmp_path):
    with pytest.raises(ValueError, match="`split`"):
        load_mnist(tmp_path, split="validation")
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte\.gz"):
        load_mnist(tmp_path)
    make_mnist(tmp_path, "train", n=5)
    write(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(4, np.uint8)), True)
    with pytest.raises(ValueError, match=r"5 images but train-labels-idx1-ubyte\.gz holds 4"):
        load_mnist(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros((5, 2, 2), np.uint8)), True)
    with pytest.raises(ValueError, match="expected uint8 labels of shape"):
        load_mnist(tmp_path)
    write(tmp_path / "train-images-idx3-ubyte.gz", idx_bytes(np.zeros(5, np.uint8)), True)
    with pytest.raises(ValueError, match=r"expected uint8 images of shape.*swapped"):
        load_mnist(tmp_path)
    # Images of the wrong type, not swapped files: the file, not the pair, is to blame.
    make_mnist(tmp_path, "train", n=5)
    write(tmp_path / "train-images-idx3-ubyte.gz", idx_bytes(np.zeros((5, 2, 2), np.int8)), True)
    with pytest.raises(ValueError, match="expected uint8 images") as info:
        load_mnist(tmp_path)
    assert "swapped" not in str(info.value)


def test_mnist_label_bytes_beyond_the_classes_are_refused(tmp_path):
    make_mnist(tmp_path, "train", n=5)
    labels = np.array([3, 1, 200, 0, 9], np.uint8)
    write(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(labels), True)
    with pytest.raises(LabelError, match=r"labels-idx1-ubyte\.gz labels .*200 at index 2"):
        load_mnist(tmp_path)
    # EMNIST's letters have more classes: the caller says how many.
    assert load_mnist(tmp_path, num_classes=256)[1].tolist() == labels.tolist()


def test_an_idx_header_with_255_dimensions_names_the_file(tmp_path):
    # 255 sizes of 1 and one data byte: consistent lengths, but no NumPy array has 255 axes.
    payload = struct.pack(">4B", 0, 0, 0x08, 255) + struct.pack(">255I", *[1] * 255) + b"\x07"
    with pytest.raises(DataFileError, match=r"many-idx-ubyte: .*255 dimensions") as info:
        load_idx(write(tmp_path / "many-idx-ubyte", payload))
    assert "\n" not in str(info.value)


def test_a_gzip_is_decompressed_only_up_to_the_headers_promise(tmp_path):
    # 10 promised bytes followed by 64 MiB of zeros: a 64 KiB gzip.
    payload = idx_bytes(np.arange(10, dtype=np.uint8)) + bytes(64 << 20)
    path = write(tmp_path / "bomb-idx1-ubyte.gz", gzip.compress(payload, compresslevel=1))
    tracemalloc.start()
    try:
        with pytest.raises(DataFileError, match=r"bomb-idx1-ubyte\.gz: .* trailing bytes"):
            load_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"{peak} bytes allocated for a 10-byte promise"


def test_a_gzip_promising_more_than_it_can_hold_is_refused_before_decompressing(tmp_path):
    header = struct.pack(">4B3I", 0, 0, 0x08, 3, 60_000, 4096, 4096)  # 1 TB of images
    path = write(tmp_path / "huge-idx3-ubyte.gz", gzip.compress(header + bytes(100)))
    with pytest.raises(DataFileError, match=r"huge-idx3-ubyte\.gz: .* expand to at most"):
        load_idx(path)


@pytest.mark.parametrize(
    ("shape", "match"), [((0, 28, 28), "holds no images"), ((5, 0, 0), r"images of 0×0 pixels")]
)
def test_an_empty_set_or_empty_images_are_refused(tmp_path, shape, match):
    # Before: 0 images, or images of 0×0 pixels, came back as a data set to train on
    # (load_cifar10 refuses its empty file).
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros(shape, np.uint8)))
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(shape[0], np.uint8)))
    with pytest.raises(DataFileError, match=match):
        load_mnist(tmp_path)


def test_images_ending_in_blank_records_are_flagged_as_a_possibly_incomplete_file(tmp_path):
    # A download that reserved the file's full size and stopped leaves zeros at its end: the
    # file has the promised length and read as valid, its last images black, labelled 0.
    images = np.full((10, 4, 4), 7, np.uint8)
    images[6:] = 0
    path = write(tmp_path / "a-idx3-ubyte", idx_bytes(images))
    with pytest.warns(UserWarning, match="the last 4 of 10 records are all zero bytes"):
        load_idx(path)
    # One black image at the end is data, not a sign.
    images[6:9] = 7
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_idx(write(tmp_path / "b-idx3-ubyte", idx_bytes(images)))
