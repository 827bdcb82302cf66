"""Reading and checking .npz data files: every problem is one clear CommandError line."""

import numpy as np
import pytest

from jaxtrain.cli._errors import CommandError
from jaxtrain.cli._npz import file_digest, load_splits, read_arrays


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
        (arrays(x_train=np.full((20, 4), np.nan)), "'x_train' contains NaN"),
        (arrays(y_val=-np.ones(10, dtype=int)), "negative class label"),
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
        (arrays(y_train=np.full(20, np.inf), y_val=np.zeros(10)), "'y_train' contains NaN"),
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
    assert len(file_digest(path)) == 64
    assert file_digest(path) == file_digest(path)
