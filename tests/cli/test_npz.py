"""Reading and checking .npz data files: every problem is one clear CommandError line."""

import hashlib
import io
import os
import pathlib
import pickle
import re
import warnings
import zipfile

import numpy as np
import pytest

from jaxtrain.cli._data_ref import _split_off_validation, data_reference, load_reference
from jaxtrain.cli._errors import CommandError
from jaxtrain.cli._npz import file_digest, load_splits, read_arrays
from jaxtrain.data import train_val_test_split


def arrays(n=20, classes=3, **override):
    rng = np.random.default_rng(0)
    data = {
        "x_train": rng.normal(size=(n, 4)),
        "y_train": np.arange(n) % classes,
        "x_val": rng.normal(size=(n // 2, 4)),
        "y_val": np.arange(n // 2) % classes,
    }
    data.update(override)
    return {k: v for k, v in data.items() if v is not None}


def labels_with(index, value, dtype=np.int64, n=20):
    y = (np.arange(n) % 3).astype(dtype)
    y[index] = value
    return y


def save(tmp_path, name="data.npz", **data):
    path = tmp_path / name
    np.savez(path, **data)
    return path


def test_a_good_classification_file(tmp_path):
    path = save(tmp_path, **arrays(x_test=np.zeros((5, 4)), y_test=np.array([0, 1, 2, 3, 0])))
    splits = load_splits(path)
    assert splits.task == "classification"
    assert splits.x_train.dtype == np.float32 and splits.y_train.dtype == np.int32
    assert splits.x_test.shape == (5, 4)
    assert splits.num_outputs == 4  # the test set has label 3
    assert splits.pair("val")[0].shape == (10, 4)


def test_a_good_regression_file_with_1d_inputs_and_targets(tmp_path):
    data = {
        "x_train": np.linspace(0, 1, 10),
        "y_train": np.linspace(0, 2, 10),
        "x_val": np.linspace(0, 1, 4),
        "y_val": np.linspace(0, 2, 4),
    }
    splits = load_splits(save(tmp_path, **data))
    assert splits.task == "regression"
    assert splits.x_train.shape == (10, 1) and splits.y_train.shape == (10, 1)
    assert splits.num_outputs == 1 and splits.pair("test") is None


def test_a_separate_test_file_with_x_and_y(tmp_path):
    path = save(tmp_path, **arrays())
    test = save(tmp_path, "test.npz", x=np.ones((3, 4)), y=np.array([0, 1, 1]))
    assert load_splits(path, test_path=test).y_test.tolist() == [0, 1, 1]


def test_validation_is_optional_when_not_required(tmp_path):
    path = save(tmp_path, **arrays(x_val=None, y_val=None))
    assert load_splits(path, require_val=False).x_val is None


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (arrays(y_val=None), r"has no 'y_val' array \(found: x_train, x_val, y_train\)"),
        (arrays(x_test=np.zeros((2, 4))), "has 'x_test' but no 'y_test'"),
        (arrays(y_train=np.arange(7)), "'y_train' has 7 entries but 'x_train' has 20 examples"),
        (arrays(x_val=np.zeros((10, 5))), r"'x_val' has examples of shape \(5,\)"),
        (
            arrays(x_train=np.full((20, 4), np.nan)),
            r"the entries of 'x_train' hold 80 NaN and 0 inf values \(first in example 0\)",
        ),
        (
            arrays(y_val=-np.ones(10, dtype=int)),
            r"y_val labels are negative \(e\.g\. -1 at index 0",
        ),
        (arrays(y_val=np.zeros(10)), "'y_val' holds floats but y_train holds integer"),
        (arrays(y_train=np.zeros((20, 2), dtype=int)), r"integer labels of shape \(20, 2\)"),
        (arrays(x_train=np.array(["a"] * 20)), r"'x_train' is not numeric \(dtype <U1\)"),
        (arrays(x_train=np.zeros((20, 4), complex)), "not numeric"),
        (arrays(x_train=np.zeros((0, 4))), "'x_train' is empty"),
        (arrays(x_train=np.float64(1.0)), "'x_train' is a scalar"),
        (
            arrays(y_train=np.zeros((20, 2)), y_val=np.zeros((10, 3))),
            r"'y_val' has targets of shape \(3,\) but 'y_train' has \(2,\)",
        ),
        (
            arrays(y_train=np.zeros(20), y_val=np.zeros(10, int)),
            "'y_val' holds integers but y_train holds float",
        ),
        (
            arrays(y_train=np.full(20, np.inf), y_val=np.zeros(10)),
            "the entries of 'y_train' hold 0 NaN and 20 inf",
        ),
    ],
)
def test_bad_arrays_raise_one_line(tmp_path, data, match):
    with pytest.raises(CommandError, match=match) as info:
        load_splits(save(tmp_path, **data))
    assert "\n" not in str(info.value)
    assert "data.npz" in str(info.value)


def test_object_arrays_are_never_unpickled(tmp_path):
    data = arrays(y_train=np.array([{"a": 1}] * 20, dtype=object))
    with pytest.raises(CommandError, match=r"'y_train' is not numeric \(an object array"):
        load_splits(save(tmp_path, **data))


def test_unreadable_files(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        load_splits(tmp_path / "missing.npz")
    with pytest.raises(CommandError, match="is a directory"):
        load_splits(tmp_path)
    text = tmp_path / "text.npz"
    text.write_text("x_train,y_train\n1,2\n")
    with pytest.raises(CommandError, match=r"not an \.npz file"):
        load_splits(text)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(CommandError, match="single array"):
        load_splits(single)
    good = save(tmp_path, **arrays())
    broken = tmp_path / "broken.npz"
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CommandError, match=r"cannot (read|be read)"):
        load_splits(broken)


def test_a_test_file_without_a_pair(tmp_path):
    path = save(tmp_path, **arrays())
    test = save(tmp_path, "test.npz", features=np.ones((3, 4)))
    with pytest.raises(CommandError, match=r"test.npz has no test pair \(found: features\)"):
        load_splits(path, test_path=test)
    with pytest.raises(CommandError, match="no such file"):
        load_splits(path, test_path=tmp_path / "nope.npz")


def test_read_arrays_and_digest(tmp_path):
    path = save(tmp_path, a=np.arange(3), b=np.ones(2))
    assert sorted(read_arrays(path, ["a"], ["b", "c"])) == ["a", "b"]
    assert file_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_digest_reads_the_whole_file_past_its_first_mebibyte(tmp_path):
    # Audit (2026-12-07): a digest of only the first 1 MiB block passed, as the test above
    # compared a digest with itself on a file of a few bytes.
    path = tmp_path / "big.npz"
    data = bytearray(np.random.default_rng(0).bytes(3 << 20))
    path.write_bytes(bytes(data))
    before = file_digest(path)
    assert before == hashlib.sha256(data).hexdigest()
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    assert file_digest(path) != before


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npz_of(tmp_path, members, compression=zipfile.ZIP_STORED, name="hostile.npz"):
    """An .npz whose members are raw bytes: what a damaged or crafted file holds."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression) as archive:
        for key, payload in members.items():
            archive.writestr(f"{key}.npy", payload)
    return path


def header_only(shape, descr="<f8"):
    """A .npy header claiming ``shape``, followed by 16 bytes of data."""
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + bytes(16)


X, Y = np.zeros((40, 3), np.float32), np.arange(40) % 2
GOOD_X, GOOD_Y = npy_bytes(X), npy_bytes(Y)
# A NUL byte inside the header's dict: what a corrupted deflate stream decompresses to.
GARBLED = GOOD_X.replace(b"(40, 3), }", b"(40, 3\x00 }")


@pytest.mark.parametrize(
    ("members", "compression", "match"),
    [
        # Each was TokenError, "an object array", AttributeError: 'bytes', MemoryError.
        ({"x_train": GARBLED}, zipfile.ZIP_DEFLATED, r"'x_train' has a corrupt \.npy header"),
        ({"x_train": GOOD_X[:-50]}, zipfile.ZIP_STORED, r"'x_train': .*\(40, 3\).* truncated"),
        (
            {"y_train": pickle.dumps(Y)},
            zipfile.ZIP_STORED,
            "'y_train' is not a .npy array .*pickle",
        ),
        ({"x_train": header_only((10**13,))}, zipfile.ZIP_DEFLATED, r"'x_train': .*80,000,000"),
        ({"x_train": header_only((40, 10**6), "<f4")}, zipfile.ZIP_STORED, r"160,000,000 bytes"),
        ({"x_train": b""}, zipfile.ZIP_STORED, r"'x_train' is not a .npy array \(it holds nothing"),
        ({"x_train": GOOD_X + b"tail"}, zipfile.ZIP_STORED, "longer than its header says"),
    ],
)
def test_hostile_members_give_one_line_naming_file_and_key(tmp_path, members, compression, match):
    path = npz_of(tmp_path, {"x_train": GOOD_X, "y_train": GOOD_Y, **members}, compression)
    with pytest.raises(CommandError, match=match) as info:
        load_splits(path, require_val=False)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_a_header_claiming_megabytes_is_refused_before_it_is_read(tmp_path):
    """A .npy 2.0 header may claim 4 GiB, and deflate packs 20 MB of spaces into 20 KB:
    NumPy's reader read and decoded every claimed byte before its own limit (10,000) refused
    them (~2 bytes of memory per claimed byte), and advised ``allow_pickle=True``."""
    import struct
    import tracemalloc

    claimed = 20_000_000
    bomb = b"\x93NUMPY\x02\x00" + struct.pack("<I", claimed) + b" " * claimed
    path = npz_of(tmp_path, {"x_train": bomb, "y_train": GOOD_Y}, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(CommandError, match=r"'x_train' has a corrupt \.npy header") as info:
            load_splits(path, require_val=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, peak
    assert "20,000,000" in str(info.value) and "allow_pickle" not in str(info.value)


def test_a_stored_member_shorter_than_its_directory_says_is_called_truncated(tmp_path):
    # Both of x_train's entries (local and central) claim 10**6 more bytes than the file has.
    payload = header_only((10**6 + 16,), "|u1")
    path = npz_of(tmp_path, {"y_train": GOOD_Y, "x_train": payload})
    raw = bytearray(path.read_bytes())
    claimed = (len(payload) + 10**6).to_bytes(4, "little")
    local = raw.index(b"PK\x03\x04", raw.index(GOOD_Y))  # x_train's local header
    central = raw.index(b"PK\x01\x02", raw.index(b"PK\x01\x02") + 4)  # its directory entry
    raw[local + 18 : local + 26] = claimed * 2
    raw[central + 20 : central + 28] = claimed * 2
    path.write_bytes(bytes(raw))
    with pytest.raises(CommandError, match=r"'x_train' cannot be read: .*truncated") as info:
        load_splits(path, require_val=False)
    assert "EOFError" not in str(info.value)


def test_a_long_garbled_header_is_not_echoed_whole(tmp_path):
    garbled = npy_bytes(np.zeros((40, 3), np.dtype([(f"field{i}", "<f4") for i in range(300)])))
    garbled = garbled.replace(b"'shape'", b"'sh\x00pe'", 1)
    path = npz_of(tmp_path, {"x_train": garbled, "y_train": GOOD_Y})
    with pytest.raises(CommandError, match=r"'x_train' has a corrupt \.npy header") as info:
        load_splits(path, require_val=False)
    assert len(str(info.value)) < 500 + len(str(path))


def test_a_member_whose_data_are_corrupt_fails_its_crc(tmp_path):
    path = npz_of(tmp_path, {"x_train": GOOD_X, "y_train": GOOD_Y})
    raw = bytearray(path.read_bytes())
    raw[raw.index(GOOD_X) + len(GOOD_X) - 5] ^= 0xFF  # one data byte of x_train
    path.write_bytes(bytes(raw))
    with pytest.raises(CommandError, match=r"'x_train' cannot be read: Bad CRC-32"):
        load_splits(path, require_val=False)


def test_a_member_claiming_more_than_its_compressed_bytes_hold(tmp_path):
    # The zip directory and the .npy header agree on 10**9 bytes; 16 stored bytes cannot.
    payload = header_only((10**9,), "|u1")
    path = npz_of(tmp_path, {"x_train": payload, "y_train": GOOD_Y})
    raw = bytearray(path.read_bytes())
    entry = raw.index(b"PK\x01\x02")  # x_train's central directory entry
    raw[entry + 24 : entry + 28] = (len(payload) - 16 + 10**9).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises(CommandError, match=r"'x_train': .*expand to at most 144") as info:
        load_splits(path, require_val=False)
    assert "\n" not in str(info.value)


def test_an_unsupported_compression_method_is_one_line(tmp_path):
    path = npz_of(tmp_path, {"x_train": GOOD_X, "y_train": GOOD_Y})
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = raw.index(signature)
        raw[at + offset : at + offset + 2] = (99).to_bytes(2, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises(CommandError, match=r"'x_train' cannot be read: .*compression"):
        load_splits(path, require_val=False)


@pytest.mark.parametrize(
    ("y_train", "match"),
    [
        # Each trained as class 1 (or 5) after the cast to int32.
        (labels_with(3, 2**32 + 1), r"y_train label 4294967297 at index 3 is out of range"),
        (labels_with(5, 2**63 + 5, np.uint64), r"y_train label 9223372036854775813 at index 5"),
        # A one-hot of 10**9 columns was 32 GB (RESOURCE_EXHAUSTED).
        (labels_with(7, 10**9), r"y_train label 1000000000 at index 7 .* up to 300"),
        (np.zeros(20, np.int64), r"y_train holds a single class \(0\) in all 20 examples"),
    ],
)
def test_labels_are_checked_before_the_cast(tmp_path, y_train, match):
    path = save(tmp_path, **arrays(y_train=y_train))
    with pytest.raises(CommandError, match=match) as info:
        load_splits(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_a_given_class_count(tmp_path):
    path = save(tmp_path, **arrays())
    assert load_splits(path, num_classes=5).num_outputs == 5
    with pytest.raises(CommandError, match=r"y_train labels go out of range \(e\.g\. 2 at index 2"):
        load_splits(path, num_classes=2)
    with pytest.raises(CommandError, match="--num-classes: `num_classes` is 1"):
        load_splits(path, num_classes=1)
    test = save(tmp_path, "test.npz", x=np.ones((3, 4)), y=np.array([0, 1, 7]))
    with pytest.raises(CommandError, match=r"^\S*test\.npz: y_test labels go out of range"):
        load_splits(path, test_path=test, num_classes=3)


def test_a_class_count_for_float_targets_is_refused(tmp_path):
    # Before: --num-classes 3 with labels stored as floats (0.0, 1.0, 2.0) was ignored and the
    # run silently became a regression on those numbers.
    path = save(tmp_path, **arrays(y_train=np.arange(20.0) % 3, y_val=np.arange(10.0) % 3))
    with pytest.raises(CommandError, match=r"--num-classes 3 is for integer class labels") as info:
        load_splits(path, num_classes=3)
    assert "y.astype(int)" in str(info.value) and "\n" not in str(info.value)
    assert load_splits(path).task == "regression"  # without the flag, floats are targets


def test_a_file_that_is_not_a_regular_file_is_refused_before_reading(tmp_path):
    # Before: a FIFO blocked the command forever; /dev/zero was read without end.
    fifo = tmp_path / "data.npz"
    os.mkfifo(fifo)
    for path in (fifo, pathlib.Path("/dev/zero")):
        with pytest.raises(CommandError, match="not a regular file"):
            load_splits(path)
        # `jaxtrain train --data` hashed the file before anything else looked at it.
        with pytest.raises(CommandError, match="not a regular file"):
            data_reference(str(path), seed=0, val_fraction=0.2, standardize=False)


def test_a_recorded_data_file_that_became_a_pipe_or_a_folder_is_refused_before_its_digest(
    tmp_path,
):
    """A checkpoint's data file replaced by a FIFO made ``jaxtrain hessian`` wait forever in
    the SHA-256 comparison, and a folder gave a raw IsADirectoryError."""
    import threading

    path = tmp_path / "moving.npz"
    reference = {"source": "file", "path": str(path), "sha256": "0" * 64, "seed": 0}
    path.mkdir()
    with pytest.raises(
        CommandError, match=r"it is a directory, not a file; save the data to an \.npz file"
    ):
        load_reference(reference, "mlp")
    path.rmdir()
    os.mkfifo(path)

    def unblock():  # should the digest open the pipe again, it ends instead of hanging
        with open(path, "wb"):
            pass

    guard = threading.Timer(5.0, unblock)
    guard.start()
    try:
        with pytest.raises(CommandError, match="not a regular file"):
            load_reference(reference, "mlp")
    finally:
        guard.cancel()


def test_two_members_of_one_name_are_refused(tmp_path):
    # Before: "y_train" and "y_train.npy" (or the same name twice) collapsed to one key and
    # the last one won, where numpy.load returns the first: two readers, two data sets.
    path = tmp_path / "twice.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_train.npy", GOOD_X)
        archive.writestr("y_train.npy", GOOD_Y)
        archive.writestr("y_train", npy_bytes(1 - Y))
    with pytest.raises(CommandError, match=r"holds 2 members named 'y_train'") as info:
        load_splits(path, require_val=False)
    assert str(info.value).startswith(f"{path}: ")


def test_a_float64_value_beyond_float32s_range_is_named_as_such(tmp_path):
    # Before: "contains NaN or infinite values" about a finite 1e300, after NumPy's overflow
    # warning of the cast to float32.
    x = np.zeros((20, 4))
    x[2, 1] = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CommandError, match="beyond float32's range") as info:
            load_splits(save(tmp_path, **arrays(x_train=x)))
    assert "\n" not in str(info.value) and "example 2" in str(info.value)
    assert "x64" not in str(info.value)  # the file is read into float32 whatever x64 says
    # With x64 on, the same file loaded as inf (the check skipped float32's range there).
    from jax_modes import x64_enabled

    with x64_enabled(), pytest.raises(CommandError, match="beyond float32's range"):
        load_splits(save(tmp_path, "x64.npz", **arrays(x_train=x)))


@pytest.mark.parametrize(
    ("members", "match"),
    [
        # Each was a bare ValueError or TypeError naming neither the file nor the array.
        ({"x_train": header_only((1,) * 65)}, r"'x_train' has a corrupt \.npy header"),
        ({"x_train": header_only((True, 2))}, r"'x_train' has a corrupt \.npy header"),
        ({"x_train": npy_bytes(np.zeros((40, 0)))}, r"'x_train' has examples of shape \(0,\)"),
        ({"y_train": npy_bytes(np.zeros((40, 0)))}, r"'y_train' has targets of shape \(0,\)"),
    ],
)
def test_empty_feature_axes_and_impossible_shapes_are_one_line(tmp_path, members, match):
    path = npz_of(tmp_path, {"x_train": GOOD_X, "y_train": GOOD_Y, **members})
    with pytest.raises(CommandError, match=match) as info:
        load_splits(path, require_val=False)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_the_command_line_splits_regression_files_at_random():
    # The command line knows the task: a regression file's targets are outputs even where
    # each row happens to sum to 1, and are never refused for "classes".
    y = np.eye(3)[[0, 1, 2, 0, 1, 2]]  # three "classes" of two: 4 cannot be held out
    x = np.arange(6.0)[:, None]
    train, val = _split_off_validation(x, y, 0.6, 0, "f.npz", task="regression")
    assert (len(train[0]), len(val[0])) == (2, 4)
    expected = train_val_test_split(x, y, val_fraction=0.6, stratify=False, seed=0)
    np.testing.assert_array_equal(val[0], expected.val[0])
    with pytest.raises(CommandError, match="keeps a training example of each of the 3 classes"):
        _split_off_validation(x, np.arange(6) % 3, 0.6, 0, "f.npz", task="classification")


@pytest.mark.parametrize(
    ("n", "fraction"), [(3000, 0.999), (3000, 0.9985), (8, 0.99), (1234, 0.9999)]
)
def test_the_suggested_val_fraction_splits(n, fraction):
    # Before: "lower it to 0.998 or less" rounded room / n = 0.99767 up, and 0.998 held out
    # one example too many, with the same advice again.
    x, y = np.zeros((n, 2), np.float32), np.arange(n) % 7
    with pytest.raises(CommandError, match=r"lower it to (\S+) or less") as info:
        _split_off_validation(x, y, fraction, 0, "f.npz", task="classification")
    suggested = float(re.search(r"lower it to (\S+) or less", str(info.value)).group(1))
    train, val = _split_off_validation(x, y, suggested, 0, "f.npz", task="classification")
    assert len(train[0]) + len(val[0]) == n


def test_a_file_named_like_a_built_in_set_is_pointed_out(tmp_path, monkeypatch, capsys):
    # Before: --data digits with a file ./digits took the built-in set without a word.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digits").write_bytes(b"")
    assert data_reference("digits", seed=0, val_fraction=0.2, standardize=False)["source"] == (
        "builtin"
    )
    assert "for the file of that name here, give --data ./digits" in capsys.readouterr().err
    assert data_reference("./digits", seed=0, val_fraction=0.2, standardize=False) is not None
    (tmp_path / "digits").unlink()
    (tmp_path / "digits").mkdir()  # a folder (an earlier --out digits) is no data file
    data_reference("digits", seed=0, val_fraction=0.2, standardize=False)
    assert capsys.readouterr().err == ""
