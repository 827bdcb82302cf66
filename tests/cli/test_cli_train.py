"""jaxtrain train: built-in and file data, optimizers and schedules, checkpoints, errors."""

import argparse
import json
import math

import numpy as np
import optax
import pytest

from jaxtrain import data, train
from jaxtrain.cli import main
from jaxtrain.cli._train import OPTIMIZERS, SCHEDULES, make_optimizer


def _args(**kw):
    base = dict(
        learning_rate=0.1,
        momentum=0.9,
        weight_decay=1e-4,
        schedule="constant",
        warmup_steps=None,
        optimizer="adam",
    )
    return argparse.Namespace(**{**base, **kw})


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_optimizer_and_schedule_builds_and_steps(name, schedule):
    import jax.numpy as jnp

    opt = make_optimizer(_args(optimizer=name, schedule=schedule), total_steps=100)
    params = {"w": jnp.ones(3)}
    updates, _ = opt.update({"w": jnp.ones(3)}, opt.init(params), params)
    assert updates["w"].shape == (3,)
    if schedule == "warmup-cosine" and name == "sgd":
        # Warmup starts at η = 0: the first step does not move.
        assert float(jnp.abs(updates["w"]).max()) == 0.0


def test_plain_sgd_matches_optax():
    import jax.numpy as jnp

    ours, ref = make_optimizer(_args(optimizer="momentum"), 10), optax.sgd(0.1, momentum=0.9)
    p, g = {"w": jnp.arange(3.0)}, {"w": jnp.array([1.0, -1.0, 2.0])}
    s1, s2 = ours.init(p), ref.init(p)
    for _ in range(3):
        u1, s1 = ours.update(g, s1, p)
        u2, s2 = ref.update(g, s2, p)
    np.testing.assert_allclose(u1["w"], u2["w"], rtol=1e-6)


def test_train_on_a_builtin_set_with_a_checkpoint(tmp_path, capsys):
    ckpt = tmp_path / "run"
    argv = ["train", "--data", "spirals", "--depth", "1", "--width", "8", "--epochs", "2"]
    assert main([*argv, "--batch-size", "128", "--checkpoint-dir", str(ckpt), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == "mlp-1x8-relu" and summary["task"] == "classification"
    assert summary["steps"] == 2 * math.ceil(960 / 128)
    assert set(summary["val"]) == {"loss", "accuracy"}
    loaded = train.load_checkpoint(ckpt)
    assert loaded.step == summary["steps"]
    meta = loaded.metadata
    assert meta["model"]["family"] == "mlp" and meta["model"]["in_shape"] == [2]
    assert meta["data"] == {
        "source": "builtin",
        "name": "spirals",
        "seed": 0,
        "val_fraction": 0.2,
        "standardize": False,
    }
    assert meta["loss"] == "softmax_cross_entropy" and meta["optimizer"]["name"] == "adam"
    # The same directory again is refused without --resume: one line, exit 1.
    assert main([*argv, "--checkpoint-dir", str(ckpt)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("jaxtrain train: error: ") and err.count("\n") == 1


def test_text_output_has_the_epoch_table(capsys):
    argv = ["train", "--data", "blobs", "--depth", "0", "--epochs", "2", "--batch-size", "256"]
    assert main([*argv, "--optimizer", "sgd", "--learning-rate", "0.1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("linear on blobs (classification)")
    assert "epoch    train_loss      val_loss  val_accuracy" in out
    assert "validation: loss" in out


def test_a_regression_file_without_validation_split(tmp_path, capsys):
    x, y = data.make_regression_curve(100, seed=0)
    path = tmp_path / "curve.npz"
    np.savez(path, x_train=x, y_train=y[:, 0])
    ckpt = tmp_path / "ck"
    argv = ["train", "--data", str(path), "--depth", "1", "--width", "8", "--epochs", "2"]
    assert main([*argv, "--standardize", "--checkpoint-dir", str(ckpt), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["task"] == "regression" and set(summary["val"]) == {"loss"}
    meta = train.load_checkpoint(ckpt).metadata
    assert meta["data"]["source"] == "file" and len(meta["data"]["sha256"]) == 64
    assert meta["data"]["standardize"] is True and meta["loss"] == "mse"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data", "mnist"], "neither a built-in set"),
        (["--data", "spirals", "--batch-size", "5000"], "larger than the 960 training examples"),
        (["--resume"], "--resume needs --checkpoint-dir"),
        (["--data", "spirals", "--model", "cnn"], "--model cnn needs images"),
        (["--data", "spirals", "--schedule", "warmup-cosine", "--warmup-steps", "10000"], "warmup"),
        (["--data", "blobs", "--model", "cnn", "--depth", "0"], "images"),
    ],
)
def test_failures_are_one_line(capsys, argv, message):
    assert main(["train", "--epochs", "1", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("jaxtrain train: error: ") and err.count("\n") == 1
    assert message in err


def test_a_file_as_checkpoint_dir_is_refused_before_training(tmp_path, capsys):
    # Issue 13, case 6: the whole run trained, then orbax printed a traceback.
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    argv = ["train", "--data", "blobs", "--depth", "0", "--epochs", "1"]
    assert main([*argv, "--checkpoint-dir", str(path)]) == 1
    captured = capsys.readouterr()
    assert (
        captured.err == f"jaxtrain train: error: the checkpoint directory {path} is a file; "
        "give a directory (it is created if missing)\n"
    )
    assert captured.out == "" and path.read_text() == "mine"


def test_a_cnn_on_digit_images(capsys):
    argv = ["train", "--data", "digits", "--model", "cnn", "--width", "4", "--depth", "1"]
    assert main([*argv, "--epochs", "1", "--batch-size", "256", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "cnn-1x4-relu"
