"""The CIFAR-10 binary reader on small files written here: round trips and failures."""

import numpy as np
import pytest

from jaxtrain.data import DataFileError, load_cifar10


def cifar_records(n, seed=0, labels=None):
    rng = np.random.default_rng(seed)
    images_hwc = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, size=n).astype(np.uint8) if labels is None else np.asarray(labels)
    chw = images_hwc.transpose(0, 3, 1, 2).reshape(n, -1)
    records = np.concatenate([y.astype(np.uint8)[:, None], chw], axis=1)
    return records.tobytes(), images_hwc, y


@pytest.mark.parametrize("nested", [False, True])
def test_cifar10_round_trip(tmp_path, nested):
    folder = tmp_path / "cifar-10-batches-bin" if nested else tmp_path
    folder.mkdir(exist_ok=True)
    expected_x, expected_y = [], []
    for i in range(1, 6):
        payload, images, labels = cifar_records(3, seed=i)
        (folder / f"data_batch_{i}.bin").write_bytes(payload)
        expected_x.append(images)
        expected_y.append(labels)
    payload, test_images, test_labels = cifar_records(2, seed=9)
    (folder / "test_batch.bin").write_bytes(payload)
    x, y = load_cifar10(tmp_path, "train", records_per_file=3)
    assert x.shape == (15, 32, 32, 3) and x.dtype == np.uint8 and y.dtype == np.int32
    assert x.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(x, np.concatenate(expected_x))
    np.testing.assert_array_equal(y, np.concatenate(expected_y))
    x, y = load_cifar10(tmp_path, split="test", records_per_file=None)
    np.testing.assert_array_equal(x, test_images)
    np.testing.assert_array_equal(y, test_labels)


def test_cifar10_channel_layout(tmp_path):
    # Red plane first in the file: pixel (row 0, col 1) of the red channel is byte 1 + 1.
    record = np.zeros(3073, np.uint8)
    record[0] = 4
    record[1 + 1] = 11  # R at (0, 1)
    record[1 + 1024 + 32] = 22  # G at (1, 0)
    record[1 + 2048 + 1023] = 33  # B at (31, 31)
    (tmp_path / "test_batch.bin").write_bytes(record.tobytes())
    x, y = load_cifar10(tmp_path, "test", records_per_file=1)
    assert y.tolist() == [4]
    assert (x[0, 0, 1, 0], x[0, 1, 0, 1], x[0, 31, 31, 2]) == (11, 22, 33)
    assert int(x.sum()) == 66


@pytest.mark.parametrize(
    "payload,kwargs,match",
    [
        (b"", {"records_per_file": None}, "empty"),
        (cifar_records(2)[0][:-1], {"records_per_file": None}, "not a whole number of 3073"),
        (cifar_records(2)[0] + b"\x00", {"records_per_file": None}, "not a whole number"),
        (cifar_records(2)[0], {}, "holds 2 records, expected 10,000"),
        (cifar_records(3)[0], {"records_per_file": 2}, "holds 3 records, expected 2"),
        (cifar_records(3, labels=[1, 57, 2])[0], {"records_per_file": None}, "57 in record 1"),
    ],
)
def test_cifar10_corrupt_files_raise(tmp_path, payload, kwargs, match):
    (tmp_path / "test_batch.bin").write_bytes(payload)
    with pytest.raises(ValueError, match=match) as info:
        load_cifar10(tmp_path, "test", **kwargs)
    assert "test_batch.bin" in str(info.value)


def test_cifar10_argument_and_missing_file_errors(tmp_path):
    with pytest.raises(ValueError, match="`split`"):
        load_cifar10(tmp_path, "val")
    with pytest.raises(ValueError, match="`records_per_file`"):
        load_cifar10(tmp_path, "test", records_per_file=0)
    (tmp_path / "data_batch_1.bin").write_bytes(cifar_records(1)[0])
    with pytest.raises(FileNotFoundError, match=r"data_batch_2\.bin"):
        load_cifar10(tmp_path, "train", records_per_file=None)


@pytest.mark.parametrize(
    "records,expected,match",
    [
        (3, 2, r"holds 3 records, expected 2 .*too large"),
        (1, 2, r"holds 1 record, expected 2 .*truncated"),
        (None, 2, r"holds 6,147 bytes, not a whole number of 3073-byte records.*too large"),
    ],
)
def test_cifar10_names_a_file_too_large_or_truncated(tmp_path, records, expected, match):
    payload = cifar_records(2)[0] + b"\x00" if records is None else cifar_records(records)[0]
    (tmp_path / "test_batch.bin").write_bytes(payload)
    with pytest.raises(ValueError, match=match):
        load_cifar10(tmp_path, "test", records_per_file=expected)


def test_cifar10_checks_the_size_before_reading(tmp_path, monkeypatch):
    # Before: the whole file was read first (a wrong multi-GB file exhausted the memory),
    # and a file 13 times too large was called "truncated".
    with open(tmp_path / "test_batch.bin", "wb") as file:
        file.truncate(4 * 2**30)  # sparse: no disk space used

    def no_read(*args, **kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(np, "fromfile", no_read)
    with pytest.raises(ValueError, match=r"expected 10,000 .*too large") as info:
        load_cifar10(tmp_path, "test")
    assert "4,294,967,296 bytes" in str(info.value)


def test_cifar10_takes_a_numpy_record_count_and_refuses_a_bool(tmp_path):
    # Before: np.int64(1) was refused as "not a positive int" while True was taken as 1.
    payload, images, labels = cifar_records(1)
    (tmp_path / "test_batch.bin").write_bytes(payload)
    x, y = load_cifar10(tmp_path, "test", records_per_file=np.int64(1))
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    for bad in (True, 1.0, "1"):
        with pytest.raises(ValueError, match=r"`records_per_file` must be a positive int"):
            load_cifar10(tmp_path, "test", records_per_file=bad)


def test_a_file_ending_in_blank_records_is_flagged(tmp_path):
    # A preallocated, partly written download: its zeroed records read as black images of
    # class 0.
    records = np.zeros((5, 3073), np.uint8)
    records[:2] = 9
    records.tofile(tmp_path / "test_batch.bin")
    with pytest.warns(UserWarning, match="the last 3 of 5 records are all zero bytes"):
        load_cifar10(tmp_path, "test", records_per_file=None)


def test_a_folder_at_a_batchs_name_is_named_as_such(tmp_path):
    # Before: "no such file. Download and extract ...".
    (tmp_path / "test_batch.bin").mkdir()
    with pytest.raises(DataFileError, match=r"test_batch\.bin: it is a directory, not a file"):
        load_cifar10(tmp_path, "test")
