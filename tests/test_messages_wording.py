"""User-facing messages state only what their own numbers show: singular for one, the counts
that hold, and values that read on the right side of the limits they were compared with."""

import io
import re
import struct
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxtrain.cli._errors import CommandError
from jaxtrain.cli._model_size import check_model_size, variable_count
from jaxtrain.cli._npz import load_splits
from jaxtrain.data import (
    check_dataset,
    class_count,
    load_cifar10,
    load_idx,
    load_mnist,
    train_val_test_split,
)
from jaxtrain.data._splits import kfold_indices
from jaxtrain.diagnose import ModelSpec
from jaxtrain.monitor import sharpness
from jaxtrain.train import CheckpointCorruptError, History
from jaxtrain.train._batching import BatchPlan
from jaxtrain.train._checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from jaxtrain.train._nonfinite import _reason
from jaxtrain.train._run_checkpoints import check_resumable
from jaxtrain.train._settings import _probe_size
from jaxtrain.train._state import TrainState

# --- jaxtrain/train -------------------------------------------------------------------------


def test_batch_size_above_a_single_example_counts_it_in_the_singular():
    # BatchPlan.create: "batch_size=2 exceeds the 1 training examples" must say "1 training
    # example".
    with pytest.raises(ValueError) as caught:
        BatchPlan.create(1, 2, drop_last=False)
    assert "1 training examples" not in str(caught.value), caught.value


def test_probe_size_above_a_single_example_counts_it_in_the_singular():
    # _probe_size: "probe_size=2 exceeds the 1 training examples" must say "1 training example".
    with pytest.raises(ValueError) as caught:
        _probe_size((sharpness(1, probe_size=2),), 1, 1)
    assert "1 training examples" not in str(caught.value), caught.value


_CONFIG = {
    "num_examples": 30,
    "batch_size": 8,
    "drop_last": False,
    "steps_per_epoch": 4,
    "total_steps": 1,
    "on_nonfinite": "raise",
    "seed": 0,
    "probe_size": 1,
}


def test_resume_past_a_run_of_one_step_counts_it_in_the_singular():
    # check_resumable: "past the 1 steps this run asks for" must say "the 1 step".
    checkpoint = Checkpoint(step=2, params={}, model_state={}, config=dict(_CONFIG))
    with pytest.raises(ValueError) as caught:
        check_resumable(checkpoint, _CONFIG)
    assert "1 steps" not in str(caught.value), caught.value


def test_resume_with_a_probe_batch_of_one_example_counts_it_in_the_singular():
    # check_resumable: "a probe batch of 1 examples" must say "1 example".
    checkpoint = Checkpoint(step=0, params={}, model_state={}, config={**_CONFIG, "probe_size": 1})
    with pytest.raises(ValueError) as caught:
        check_resumable(checkpoint, {**_CONFIG, "probe_size": 2})
    assert "1 examples" not in str(caught.value), caught.value


def test_history_of_one_step_and_one_epoch_is_described_in_the_singular():
    # History.__repr__: "History(1 steps: ...; 1 epochs: ...)" must say "1 step", "1 epoch".
    history = History({"loss": np.array([0.5])}, {"train_loss": np.array([0.5])})
    text = repr(history)
    assert "1 steps" not in text and "1 epochs" not in text, text


def _apply(params, state, x, *, train, rng=None):
    return x @ params["w"], state


def test_a_checkpoint_file_cut_to_one_byte_counts_it_in_the_singular(tmp_path):
    # verify_checksums: "has 1 bytes where N were saved" must say "1 byte".
    params = {"w": jnp.asarray(np.ones((64, 32)), jnp.float32)}
    state = TrainState(
        apply=_apply,
        params=params,
        model_state={},
        opt_state=optax.sgd(0.1).init(params),
        step=jnp.int32(5),
        key=jax.random.key(0),
    )
    save_checkpoint(tmp_path, state)
    files = [p for p in (tmp_path / "5" / "params").rglob("*") if p.is_file()]
    target = max(files, key=lambda p: p.stat().st_size)
    target.write_bytes(target.read_bytes()[:1])
    with pytest.raises(CheckpointCorruptError) as caught:
        load_checkpoint(tmp_path)
    assert "has 1 bytes" not in str(caught.value), caught.value


# --- jaxtrain/data --------------------------------------------------------------------------


def test_check_dataset_counts_a_single_x_example_in_the_singular():
    # check_dataset: "x has 1 examples but y has 2" must say "x has 1 example".
    with pytest.raises(ValueError) as caught:
        check_dataset(np.zeros((1, 2)), np.zeros(2))
    assert "1 examples" not in str(caught.value), caught.value


def test_a_split_of_one_example_counts_it_in_the_singular():
    # train_val_test_split: "with 1 examples, val_fraction=0.6 ... leave no training example"
    # must say "with 1 example".
    with pytest.raises(ValueError) as caught:
        train_val_test_split(np.zeros((1, 2)), np.zeros(1), val_fraction=0.6, seed=0)
    assert "1 examples" not in str(caught.value), caught.value


def test_kfold_with_one_stratify_label_counts_it_in_the_singular():
    # kfold_indices: "`stratify_labels` has 1 entries but n = 4" must say "1 entry".
    with pytest.raises(ValueError) as caught:
        kfold_indices(4, 2, stratify_labels=np.zeros(1), seed=0)
    assert "1 entries" not in str(caught.value), caught.value


def test_the_inference_bound_of_one_example_counts_it_in_the_singular():
    # class_count: "(10 per example for 1 examples, ...)" must say "for 1 example".
    with pytest.raises(ValueError) as caught:
        class_count({"y_train": np.array([10])})
    assert "1 examples" not in str(caught.value), caught.value


def test_an_idx_file_of_one_byte_counts_it_in_the_singular(tmp_path):
    # _read_idx: "1 bytes is too short for an IDX header" must say "1 byte".
    path = tmp_path / "one-idx-ubyte"
    path.write_bytes(b"\x00")
    with pytest.raises(ValueError) as caught:
        load_idx(path)
    assert "1 bytes" not in str(caught.value), caught.value


def test_an_idx_header_of_one_dimension_counts_it_in_the_singular(tmp_path):
    # _read_idx: "truncated header: 1 dimensions need 8 bytes" must say "1 dimension".
    path = tmp_path / "cut-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x08\x01\x00")
    with pytest.raises(ValueError) as caught:
        load_idx(path)
    assert "1 dimensions" not in str(caught.value), caught.value
    assert "1 dimension needs 8 bytes" in str(caught.value), caught.value  # and its verb


def test_an_idx_header_promising_one_data_byte_counts_it_in_the_singular(tmp_path):
    # _read_idx: "the header promises shape (1,) of uint8 (1 data bytes)" must say "1 data byte".
    path = tmp_path / "long-idx1-ubyte"
    path.write_bytes(struct.pack(">4BI", 0, 0, 0x08, 1, 1) + bytes([3, 4]))
    with pytest.raises(ValueError) as caught:
        load_idx(path)
    assert "1 data bytes" not in str(caught.value), caught.value


def test_mnist_files_of_one_image_count_it_in_the_singular(tmp_path):
    # load_mnist: "... holds 1 images but ... holds 2 labels" must say "1 image".
    images = struct.pack(">4B3I", 0, 0, 8, 3, 1, 2, 2) + bytes(4)
    labels = struct.pack(">4BI", 0, 0, 8, 1, 2) + bytes([0, 1])
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(images)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(labels)
    with pytest.raises(ValueError) as caught:
        load_mnist(tmp_path, split="test")
    assert "1 images" not in str(caught.value), caught.value


def test_a_cifar_file_of_one_byte_counts_it_in_the_singular(tmp_path):
    # _read_cifar_file: "1 bytes is not a whole number of 3073-byte records" must say "1 byte".
    (tmp_path / "test_batch.bin").write_bytes(b"\x00")
    with pytest.raises(ValueError) as caught:
        load_cifar10(tmp_path, "test", records_per_file=None)
    assert "1 bytes" not in str(caught.value), caught.value


def test_a_cifar_file_of_one_record_counts_it_in_the_singular(tmp_path):
    # _read_cifar_file: "holds 1 records, expected 2" must say "holds 1 record".
    (tmp_path / "test_batch.bin").write_bytes(bytes(3073))
    with pytest.raises(ValueError) as caught:
        load_cifar10(tmp_path, "test", records_per_file=2)
    assert "1 records" not in str(caught.value), caught.value


# --- jaxtrain/cli ---------------------------------------------------------------------------


def _npz(tmp_path, **arrays):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return path


def test_npz_targets_of_one_entry_count_it_in_the_singular(tmp_path):
    # _check_y: "'y_train' has 1 entries but 'x_train' has 2 examples" must say "1 entry".
    path = _npz(
        tmp_path,
        x_train=np.zeros((2, 3), np.float32),
        y_train=np.zeros(1, np.int64),
        x_val=np.zeros((2, 3), np.float32),
        y_val=np.zeros(2, np.int64),
    )
    with pytest.raises(CommandError) as caught:
        load_splits(path, require_val=False)
    assert "1 entries" not in str(caught.value), caught.value


def test_npz_inputs_of_one_example_count_it_in_the_singular(tmp_path):
    # _check_y: "'y_train' has 2 entries but 'x_train' has 1 examples" must say "1 example".
    path = _npz(
        tmp_path,
        x_train=np.zeros((1, 3), np.float32),
        y_train=np.zeros(2, np.int64),
        x_val=np.zeros((2, 3), np.float32),
        y_val=np.zeros(2, np.int64),
    )
    with pytest.raises(CommandError) as caught:
        load_splits(path, require_val=False)
    assert "1 examples" not in str(caught.value), caught.value


def test_an_npz_member_promising_one_byte_counts_it_in_the_singular(tmp_path):
    # _read_member: "its header promises shape (1,) of int8 (1 bytes)" must say "1 byte".
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.zeros(1, np.int8))
    path = tmp_path / "data.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_train.npy", buffer.getvalue() + b"\x00")
        archive.writestr("y_train.npy", buffer.getvalue())
    with pytest.raises(CommandError) as caught:
        load_splits(path, require_val=False)
    assert "(1 bytes)" not in str(caught.value), caught.value


def _one_array_state(step=5):
    params = {"w": jnp.ones((2, 2), jnp.float32)}
    return TrainState(
        apply=_apply,
        params=params,
        model_state={},
        opt_state=optax.sgd(0.1).init(params),
        step=jnp.int32(step),
        key=jax.random.key(0),
    )


def test_save_checkpoint_names_its_own_keep_argument(tmp_path):
    # save_checkpoint(keep=0) -> CheckpointWriter: "keep_checkpoints must be a positive int"
    # names fit's argument; save_checkpoint's is `keep`, and the message must name it.
    with pytest.raises(ValueError) as caught:
        save_checkpoint(tmp_path / "run", _one_array_state(), keep=0)
    message = str(caught.value)
    assert "keep_checkpoints" not in message and "keep" in message, message


def test_a_missing_step_in_a_directory_without_checkpoints_does_not_print_an_empty_list(
    tmp_path,
):
    # _chosen_step: "has no checkpoint of step 3; it has []" must say that it holds none.
    (tmp_path / "run").mkdir()
    with pytest.raises(FileNotFoundError) as caught:
        load_checkpoint(tmp_path / "run", step=3)
    assert "[]" not in str(caught.value), caught.value


def test_model_bytes_just_above_a_large_limit_do_not_print_as_the_limit():
    # check_model_size: 250,001,571,626,410 variables are 1,000,006,286,505,640 bytes, just
    # above max_bytes = 10**15, yet both print as "1e+15" ("(1e+15 bytes of float32), above
    # the limit of 1e+15 bytes"); the bytes must print with the digits that show them above.
    spec = ModelSpec("mlp", (64,), 10, width=15_811_400)
    assert variable_count(spec) * 4 > 10**15
    with pytest.raises(CommandError) as caught:
        check_model_size(spec, max_bytes=10**15)
    message = str(caught.value)
    found = re.search(r"\(([^ ]+) bytes of float32\), above the limit of ([^ ]+) bytes", message)
    assert found is not None, message
    assert found.group(1) != found.group(2), message


def test_a_nonfinite_loss_or_gradient_norm_is_named_not_printed_as_nan_or_inf():
    # _nonfinite._reason: "the training loss is nan", "the gradient norm is inf" print
    # Python's float repr where the sentence promises a value; they must say what it means
    # (NaN, not a number; infinite), as the project's other messages do.
    common = dict(step=3, epoch=0, batch=3, spe=4)
    loss_text = _reason(value=float("nan"), grad_norm=1.0, **common)
    norm_text = _reason(value=0.5, grad_norm=float("inf"), **common)
    assert "loss is nan" not in loss_text, loss_text
    assert "norm is inf" not in norm_text, norm_text
