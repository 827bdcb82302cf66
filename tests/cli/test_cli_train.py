"""jaxtrain train: built-in and file data, optimizers and schedules, checkpoints, errors."""

import argparse
import json
import math
import shutil

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
        "num_classes": 3,  # resolved, not the --num-classes given
    }
    assert meta["loss"] == "softmax_cross_entropy" and meta["optimizer"]["name"] == "adam"
    # The JSON says what the text says: the optimizer and the per-epoch table.
    assert summary["optimizer"] == meta["optimizer"]
    assert set(summary["per_epoch"]) == {"train_loss", "val_loss", "val_accuracy"}
    assert all(len(column) == 2 for column in summary["per_epoch"].values())
    assert summary["per_epoch"]["train_loss"][-1] == summary["final_train_loss"]
    # The same directory again is refused without --resume: one line, exit 1.
    assert main([*argv, "--checkpoint-dir", str(ckpt)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("jaxtrain train: error: ") and err.count("\n") == 1
    # In the command line's terms: the flag, not fit's keyword argument.
    assert "--resume" in err and "resume=True" not in err


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
    ("argv", "message", "status"),
    [
        (["--data", "mnist"], "neither a built-in set", 1),
        (["--data", "spirals", "--model", "cnn"], "--model cnn needs images", 1),
        (["--data", "blobs", "--model", "cnn", "--depth", "0"], "images", 1),
        # Bad arguments, found after parsing: exit 2 as argparse's own (they exited 1).
        (["--data", "spirals", "--batch-size", "5000"], "larger than the 960 training examples", 2),
        (["--resume"], "--resume needs --checkpoint-dir", 2),
        (
            ["--data", "spirals", "--schedule", "warmup-cosine", "--warmup-steps", "10000"],
            "warmup",
            2,
        ),
        (
            ["--data", "spirals", "--warmup-steps", "10"],
            "--warmup-steps needs --schedule warmup",
            2,
        ),
        # Before: trained a plain linear model, recorded both, then refused its --resume.
        (
            ["--data", "blobs", "--depth", "0", "--norm", "batch", "--activation", "tanh"],
            "a linear model (--depth 0) has no hidden layer for --norm batch and --activation tanh",
            2,
        ),
        (
            ["--data", "blobs", "--depth", "0", "--norm", "layer"],
            "hidden layer for --norm layer",
            2,
        ),
        # Accepted and recorded (a linear model has no hidden units for it), even if equal to
        # the default.
        (["--data", "blobs", "--depth", "0", "--width", "16"], "hidden layer for --width 16", 2),
        (["--data", "blobs", "--depth", "0", "--width", "64"], "hidden layer for --width 64", 2),
    ],
)
def test_failures_are_one_line(capsys, argv, message, status):
    assert main(["train", "--epochs", "1", *argv]) == status
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


def _one_line_error(capsys, command="train"):
    err = capsys.readouterr().err
    assert err.startswith(f"jaxtrain {command}: error: ") and err.count("\n") == 1, err
    return err


def _file(tmp_path, y, n=40):
    path = tmp_path / "hostile.npz"
    np.savez(path, x_train=np.random.default_rng(0).normal(size=(n, 3)), y_train=y)
    return path


def _with(index, value, dtype=np.int64, n=40):
    y = (np.arange(n) % 2).astype(dtype)
    y[index] = value
    return y


@pytest.mark.parametrize(
    ("y", "n", "message"),
    [
        # Trained as class 1 (int32 wrap-around), with exit 0.
        (_with(3, 2**32 + 1), 40, "y_train label 4294967297 at index 3 is out of range"),
        (_with(5, 2**63 + 5, np.uint64), 40, "label 9223372036854775813 at index 5"),
        # RESOURCE_EXHAUSTED: a one-hot and a head of 10**9 columns.
        (_with(7, 10**9), 40, "label 1000000000 at index 7 is out of range"),
        # Trained to loss 0.
        (np.zeros(40, np.int64), 40, "y_train holds a single class (0) in all 40 examples"),
        # `cannot reshape array of size 0`. No --val-fraction can split these: said so (0.2
        # was told "raise it" and 0.5 "lower it"), with the way out, and as a usage error.
        (np.array([0, 1]), 2, "cannot split the 2 examples of"),
        (np.array([0, 1]), 2, "no fraction can: it keeps a training example of each of the 2"),
        (np.array([0.5]), 1, "no fraction can: it keeps a training example, which"),  # regression
    ],
)
def test_labels_and_tiny_files_fail_before_training(tmp_path, capsys, y, n, message):
    code = 2 if "cannot split" in message or "no fraction" in message else 1
    assert main(["train", "--data", str(_file(tmp_path, y, n)), "--depth", "0"]) == code
    err = _one_line_error(capsys)
    assert message in err, err
    if code == 2:
        assert err.endswith("or give the file its own x_val and y_val\n"), err


def test_channels_first_images_are_refused_for_a_cnn(tmp_path, capsys):
    # Before: (N, 3, 8, 8) trained silently as 3 × 8 images of 8 channels.
    path = tmp_path / "nchw.npz"
    x = np.random.default_rng(0).normal(size=(40, 3, 8, 8)).astype(np.float32)
    np.savez(path, x_train=x, y_train=np.arange(40) % 2)
    assert main(["train", "--data", str(path), "--model", "cnn", "--epochs", "1"]) == 1
    err = _one_line_error(capsys)
    assert "shape (3, 8, 8), which looks channels-first" in err and "transpose(0, 2, 3, 1)" in err


def test_a_data_file_whose_name_is_not_utf8_is_printed(tmp_path, monkeypatch):
    # Before: the summary's print failed ("surrogates not allowed") where stdout is strict
    # UTF-8, after the run, and the command exited 1.
    import io
    import os

    path = tmp_path / os.fsdecode(b"bad\xffname.npz")
    np.savez(path, x_train=np.random.default_rng(0).normal(size=(40, 3)), y_train=np.arange(40) % 2)
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    monkeypatch.setattr("sys.stdout", stdout)
    argv = ["train", "--data", str(path), "--depth", "0", "--epochs", "1", "--batch-size", "8"]
    assert main(argv) == 0
    stdout.flush()
    assert b"bad\xffname.npz" in stdout.buffer.getvalue()  # the name's own bytes, as ls


def test_a_split_that_would_take_a_class_out_of_training_speaks_in_flags(tmp_path, capsys):
    # Said "pass stratify=False", an argument of the library the command line does not have.
    path = _file(tmp_path, np.repeat(np.arange(3), 2), 6)
    # A value the data cannot take: exit 2, as --batch-size above the examples.
    assert main(["train", "--data", str(path), "--depth", "0", "--val-fraction", "0.6"]) == 2
    err = _one_line_error(capsys)
    assert "stratify" not in err
    assert (
        "--val-fraction 0.6 cannot split the 6 examples of " in err
        and "it keeps a training example of each of the 3 classes, which leaves 3 examples to "
        "hold out 4; lower it to 0.5 or less, or give the file its own x_val and y_val"
        in err
    ), err


def test_the_class_count_can_be_given(tmp_path, capsys, monkeypatch):
    x = np.random.default_rng(0).normal(size=(40, 3))
    path = tmp_path / "three.npz"
    np.savez(path, x_train=x, y_train=np.arange(40) % 3, x_val=x[:9], y_val=np.arange(9) % 3)
    argv = ["train", "--data", str(path), "--depth", "0", "--epochs", "1", "--batch-size", "32"]
    assert main([*argv, "--num-classes", "2"]) == 1
    assert "labels go out of range (e.g. 2 at index 2) for num_classes=2" in _one_line_error(capsys)
    for command in ("diagnose", "explain"):
        assert main([command, str(path), "--num-classes", "1", "--out", str(tmp_path)]) == 2
        assert "expected an integer >= 2, got '1'" in capsys.readouterr().err
    # The given count is the model's width and is kept in the data reference; fit is stubbed,
    # as what it would train is all this test needs.
    seen = {}

    def fit(model, optimizer, train_data, **kwargs):
        seen["head"] = model[1]["head"]["kernel"].shape
        seen["reference"] = kwargs["metadata"]["data"]
        raise RuntimeError("stop before training")

    monkeypatch.setattr(train, "fit", fit)
    assert main([*argv, "--num-classes", "5"]) == 1
    assert seen["head"] == (3, 5) and seen["reference"]["num_classes"] == 5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--width", "100000000"],
            "the model (mlp-2x100000000-relu) has 1e+16 variables (4e+16 bytes",
        ),
        (["--depth", "100000"], "--depth 100000: at most 1,000 layers"),
    ],
)
def test_a_model_too_large_for_memory_is_refused_at_once(capsys, argv, message):
    assert main(["train", "--data", "blobs", *argv]) == 1
    assert message in _one_line_error(capsys)


@pytest.mark.parametrize("command", ["train", "explain", "tour"])
@pytest.mark.parametrize("seed", ["-1", "4294967296", str(2**70)])
def test_seeds_outside_32_bits_are_refused(capsys, command, seed):
    # 2**70 raised OverflowError inside jax.random.key.
    argv = [command] + (["d.npz"] if command == "explain" else [])
    assert main([*argv, "--seed", seed]) == 2
    assert f"argument --seed: expected an integer in [0, 2**32), got '{seed}'" in (
        capsys.readouterr().err
    )


def test_weight_decay_zero_turns_it_off_and_momentum_names_what_it_applies_to():
    import argparse

    from jaxtrain.cli._train import add_optimizer_arguments

    parser = argparse.ArgumentParser()
    add_optimizer_arguments(parser, ("--learning-rate",), help="η")
    assert parser.parse_args(["--weight-decay", "0"]).weight_decay == 0.0
    momentum = next(a for a in parser._actions if a.dest == "momentum")
    assert "rmsprop" not in momentum.help  # RMSProp takes no momentum from this flag


def test_a_diverging_run_is_explained_in_the_command_lines_terms(capsys):
    argv = ["train", "--data", "blobs", "--depth", "0", "--epochs", "3", "--batch-size", "256"]
    assert main([*argv, "--optimizer", "sgd", "--learning-rate", "1e38"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("jaxtrain train: error: ") and err.count("\n") == 1
    assert "training stopped" in err and "--learning-rate" in err
    # Python advice means nothing here: there is no error object and no such option.
    assert "on_nonfinite" not in err and ".state" not in err


def test_a_diverging_run_with_checkpoints_says_the_last_good_one_is_kept(tmp_path, capsys):
    # Before: the Python message's "The last good checkpoint (step N) is kept." was dropped
    # with the rest of its advice, so the command never said its checkpoint survived.
    argv = ["train", "--data", "blobs", "--depth", "0", "--batch-size", "256"]
    ckpt = tmp_path / "run"
    common = ["--optimizer", "sgd", "--checkpoint-dir", str(ckpt)]
    assert main([*argv, "--epochs", "1", *common, "--learning-rate", "0.1"]) == 0
    capsys.readouterr()
    steps = sorted(p.name for p in ckpt.iterdir() if p.name.isdigit())
    assert main([*argv, "--epochs", "3", *common, "--learning-rate", "1e38", "--resume"]) == 1
    note, err = capsys.readouterr().err.splitlines()
    assert note.endswith("resuming with other settings: optimizer.learning_rate 0.1 → 1e+38")
    assert err.startswith("jaxtrain train: error: ") and "training stopped" in err
    assert f"the last good checkpoint (step {steps[-1]}) in {ckpt} is kept" in err


def _train_argv(data, ckpt, *extra, depth=1):
    # A linear model (depth 0) has no width to give.
    model = ["--depth", "1", "--width", "4"] if depth else ["--depth", "0"]
    return [
        "train",
        "--data",
        str(data),
        *model,
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--checkpoint-dir",
        str(ckpt),
        *extra,
    ]


def _blobs(path, *, shift=0.0, val=False):
    """Three blobs of 200 examples in an .npz; with ``val``, 40 of them also as its own
    validation split."""
    x, y = data.make_blobs(200, centers=3, seed=0)
    extra = {"x_val": x[:40], "y_val": y[:40]} if val else {}
    np.savez(path, x_train=x + shift, y_train=y, **extra)
    return path


def test_a_resume_with_other_data_or_options_is_refused(tmp_path, capsys):
    # Before: --resume went on with another data file of the same size, standardized, at a
    # 500× learning rate, exit 0; the checkpoint's metadata then named the new data.
    _blobs(tmp_path / "a.npz")
    _blobs(tmp_path / "b.npz", shift=1.0)
    ckpt = tmp_path / "ck"
    assert main(_train_argv(tmp_path / "a.npz", ckpt)) == 0
    capsys.readouterr()
    for extra, named in [
        (["--data", str(tmp_path / "b.npz")], "data.sha256"),
        (["--standardize"], "data.standardize: checkpoint False, this run True"),
        (["--activation", "tanh"], "model.activation: checkpoint relu, this run tanh"),
    ]:
        assert main([*_train_argv(tmp_path / "a.npz", ckpt), *extra, "--resume"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("jaxtrain train: error: cannot resume") and named in err, err
        assert err.count("\n") == 1
    # More epochs is how a run is continued, not said under a constant η; a new learning
    # rate (as after a divergence) is taken and said.
    argv = [*_train_argv(tmp_path / "a.npz", ckpt), "--epochs", "2", "--learning-rate", "0.5"]
    assert main([*argv, "--resume"]) == 0
    assert capsys.readouterr().err == (
        "jaxtrain train: resuming with other settings: optimizer.learning_rate 0.001 → 0.5\n"
    )


@pytest.mark.parametrize("flag", ["--checkpoint-dir", "--out"])
def test_an_empty_folder_name_is_refused(capsys, flag):
    # Before: --checkpoint-dir "" wrote checkpoints into the current folder and reported none.
    command = "train" if flag == "--checkpoint-dir" else "diagnose"
    assert main([command, "--data", "blobs", flag, ""]) == 2
    assert "expected a folder name, got ''" in capsys.readouterr().err


def test_messages_name_what_the_user_gave(tmp_path, capsys):
    # A warmup nobody asked for is not blamed on --warmup-steps.
    argv = ["train", "--data", "spirals", "--depth", "0", "--epochs", "1", "--batch-size", "960"]
    assert main([*argv, "--schedule", "warmup-cosine"]) == 2
    err = capsys.readouterr().err
    assert "--warmup-steps" not in err.split("error: ")[1].split(";")[0], err
    assert "the default warmup of 1 step" in err
    # An impossible split of built-in data names the flag, not Python's arguments.
    assert main(["train", "--data", "blobs", "--val-fraction", "0.9999", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "--val-fraction 0.9999" in err and "test_fraction" not in err and "ValueError" not in err
    assert "lower it to" in err and "x_val" not in err, err  # no file to give a split to
    # One class is no classification: refused as a usage error, before any data is read.
    assert main(["train", "--data", "blobs", "--num-classes", "1"]) == 2
    assert "expected an integer >= 2, got '1'" in capsys.readouterr().err


def test_the_follow_up_command_can_be_pasted(tmp_path, capsys):
    ckpt = tmp_path / "my run"
    argv = ["train", "--data", "blobs", "--depth", "0", "--epochs", "1"]
    assert main([*argv, "--checkpoint-dir", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert f"inspect it with: jaxtrain hessian '{ckpt}'" in out


def test_more_epochs_under_a_schedule_say_how_the_learning_rate_jumps(tmp_path, capsys):
    # Before: the cosine, re-planned over the longer run without a word, took η from ~0 at
    # the checkpoint's last step back up to η/2 at the next.
    ckpt = tmp_path / "run"
    argv = ["train", "--data", "blobs", "--depth", "0", "--batch-size", "256"]
    argv += ["--schedule", "cosine", "--learning-rate", "0.01", "--checkpoint-dir", str(ckpt)]
    assert main([*argv, "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main([*argv, "--epochs", "2", "--resume"]) == 0
    assert capsys.readouterr().err == (
        "jaxtrain train: resuming with other settings: optimizer.epochs 1 → 2 re-plans the "
        "cosine schedule over 8 steps: η 1.5e-03 at step 4 → 5.0e-03 at step 5\n"
    )
    # The numbers are the ones the run used.
    eta = train.load_checkpoint(ckpt).history.per_step["learning_rate"]
    assert (f"{eta[3]:.1e}", f"{eta[4]:.1e}") == ("1.5e-03", "5.0e-03")


def test_a_resume_the_checkpoint_cannot_take_is_refused_in_flags_before_training(tmp_path, capsys):
    # Before: "resuming with other settings: optimizer.batch_size 64 → 32", then fit's refusal
    # in keyword arguments and pytree paths ("[1].count: not in the checkpoint").
    path, ckpt = _blobs(tmp_path / "a.npz"), tmp_path / "ck"
    assert main(_train_argv(path, ckpt)) == 0
    capsys.readouterr()
    other = ["--optimizer", "sgd", "--schedule", "cosine", "--batch-size", "32", "--resume"]
    assert main([*_train_argv(path, ckpt), *other]) == 1
    err = _one_line_error(capsys)
    assert err.startswith(f"jaxtrain train: error: cannot resume from {ckpt}: "), err
    assert "optimizer.batch_size: checkpoint 64, this run 32" in err and "resuming" not in err
    assert err.endswith(
        "Resume with --optimizer adam --schedule constant --batch-size 64, or choose another "
        "--checkpoint-dir\n"
    )
    # An optimizer of the same state goes on, and is said: RAdam keeps Adam's moments.
    assert main([*_train_argv(path, ckpt), "--optimizer", "radam", "--resume"]) == 0
    assert capsys.readouterr().err == (
        "jaxtrain train: resuming with other settings: optimizer.name adam → radam\n"
        "jaxtrain train: --resume: the checkpoint is at step 3, the last of 1 epoch, so "
        "nothing was trained (raise --epochs to train on)\n"
    )


def test_options_that_leave_data_and_model_alone_do_not_block_a_resume(tmp_path, capsys):
    # Before: refused for --val-fraction beside the file's own validation split, and for
    # --num-classes 3 where 3 was inferred ("data.num_classes: checkpoint None, this run 3").
    path, ckpt = _blobs(tmp_path / "a.npz", val=True), tmp_path / "ck"
    assert main(_train_argv(path, ckpt)) == 0
    reference = train.load_checkpoint(ckpt).metadata["data"]
    assert "val_fraction" not in reference and reference["num_classes"] == 3
    same = ["--val-fraction", "0.3", "--num-classes", "3", "--epochs", "2", "--resume"]
    assert main([*_train_argv(path, ckpt), *same]) == 0, capsys.readouterr().err


def test_a_linear_models_width_activation_and_norm_do_not_block_a_resume(
    tmp_path, capsys, monkeypatch
):
    # A linear model has no hidden layer; its --width (recorded all the same) was compared,
    # and so were the --activation and --norm that checkpoints written before they were
    # refused for it recorded (and the --width they recorded as given).
    path, ckpt = _blobs(tmp_path / "a.npz", val=True), tmp_path / "ck"
    fit = train.fit

    def as_before(*args, **kwargs):
        kwargs["metadata"]["model"].update(width=16, activation="tanh", norm="batch")
        return fit(*args, **kwargs)

    monkeypatch.setattr(train, "fit", as_before)
    assert main(_train_argv(path, ckpt, depth=0)) == 0
    monkeypatch.undo()
    resumed = ["--epochs", "2", "--resume"]
    assert main(_train_argv(path, ckpt, *resumed, depth=0)) == 0, capsys.readouterr().err
    # One hidden layer of another width is another model.
    ckpt = tmp_path / "ck1"
    assert main(_train_argv(path, ckpt)) == 0
    assert main([*_train_argv(path, ckpt), "--width", "16", "--epochs", "2", "--resume"]) == 1
    assert "model.width: checkpoint 4, this run 16" in capsys.readouterr().err


def test_a_checkpoint_that_recorded_the_raw_options_still_resumes(tmp_path, capsys, monkeypatch):
    # Checkpoints written before kept --val-fraction where it was unused and --num-classes
    # as given (none when inferred).
    path, ckpt = _blobs(tmp_path / "a.npz", val=True), tmp_path / "ck"
    fit = train.fit

    def as_before(*args, **kwargs):
        reference = kwargs["metadata"]["data"]
        reference.pop("num_classes", None)
        reference["val_fraction"] = 0.2
        return fit(*args, **kwargs)

    monkeypatch.setattr(train, "fit", as_before)
    assert main(_train_argv(path, ckpt)) == 0
    monkeypatch.undo()
    same = ["--val-fraction", "0.3", "--num-classes", "3", "--epochs", "2", "--resume"]
    assert main([*_train_argv(path, ckpt), *same]) == 0, capsys.readouterr().err
    # Another class count is still another model.
    assert main([*_train_argv(path, ckpt), "--num-classes", "4", "--epochs", "3", "--resume"]) == 1
    assert "data.num_classes: checkpoint 3, this run 4" in _one_line_error(capsys)


def test_a_linear_model_keeps_norm_and_activation_for_the_variants_diagnose_trains():
    # diagnose also trains one hidden layer beside a linear model: the options are its.
    from jaxtrain.cli._args import spec_from_args

    args = argparse.Namespace(model="mlp", depth=0, width=4, activation="tanh", norm="batch")
    spec = spec_from_args(args, (10, 2), 3, variants=True)
    assert (spec.wider().activation, spec.wider().norm) == ("tanh", "batch")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (["--schedule", "exponential"], "optimizer.schedule cosine → exponential"),
        (["--learning-rate", "0.02"], "optimizer.learning_rate 0.01 → 0.02"),
    ],
)
def test_another_schedule_or_learning_rate_says_how_the_learning_rate_jumps(
    tmp_path, capsys, change, named
):
    # Only an --epochs change gave the η of the checkpoint's last step and of the next; another
    # schedule or η was named without what it does to η there.
    ckpt = tmp_path / "run"
    argv = ["train", "--data", "blobs", "--depth", "0", "--batch-size", "256", "--epochs", "2"]
    argv += ["--schedule", "cosine", "--learning-rate", "0.01", "--checkpoint-dir", str(ckpt)]
    assert main(argv) == 0
    shutil.rmtree(ckpt / "8")  # as if stopped after its first epoch (step 4 of 8)
    capsys.readouterr()
    assert main([*argv, *change, "--resume"]) == 0
    eta = train.load_checkpoint(ckpt).history.per_step["learning_rate"]
    assert capsys.readouterr().err == (
        f"jaxtrain train: resuming with other settings: {named}; "
        f"η {eta[3]:.1e} at step 4 → {eta[4]:.1e} at step 5\n"
    )


def test_the_same_learning_rate_at_the_next_step_needs_no_word(tmp_path, capsys):
    ckpt = tmp_path / "run"
    argv = ["train", "--data", "blobs", "--depth", "0", "--batch-size", "256"]
    argv += ["--learning-rate", "0.01", "--checkpoint-dir", str(ckpt)]
    assert main([*argv, "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main([*argv, "--epochs", "2", "--resume"]) == 0
    assert capsys.readouterr().err == ""


def test_a_resume_says_when_it_starts_anew_or_trains_nothing(tmp_path, capsys):
    # A mistyped --checkpoint-dir started a new run without a word; a run already at its
    # last step printed its old table and trained nothing, also without a word; Adam's
    # resume named a --momentum it does not read as a changed setting.
    ckpt = tmp_path / "typo"
    argv = ["train", "--data", "blobs", "--depth", "0", "--epochs", "1"]
    argv += ["--batch-size", "256", "--checkpoint-dir", str(ckpt), "--resume"]
    assert main(argv) == 0
    assert capsys.readouterr().err == (
        f"jaxtrain train: --resume: no checkpoint in {ckpt} yet, so a new run starts\n"
    )
    assert main(argv) == 0
    assert capsys.readouterr().err == (
        "jaxtrain train: --resume: the checkpoint is at step 4, the last of 1 epoch, so "
        "nothing was trained (raise --epochs to train on)\n"
    )
    assert main([*argv, "--momentum", "0.5", "--weight-decay", "0.1", "--epochs", "2"]) == 0
    assert capsys.readouterr().err == ""
    # Fewer epochs than the checkpoint has run: a value the run cannot take, named by its
    # flag (it said "past the 4 steps this run asks for", exit 1).
    assert main([*argv, "--epochs", "1"]) == 2
    assert _one_line_error(capsys).endswith(
        f"--epochs 1 is fewer than the checkpoint in {ckpt} has run: it is at step 8, past "
        "the 4 steps of 1 epoch; give --epochs 2 or more to go on from it, or choose another "
        "--checkpoint-dir\n"
    )


def test_too_few_num_classes_for_the_labels_is_a_usage_error_naming_the_flag(tmp_path, capsys):
    # "y_train labels go out of range (e.g. 9 at index 4) for num_classes=5 ... Increase
    # num_classes", exit 1: the library's words, and an index into the shuffled split.
    assert main(["train", "--data", "digits", "--num-classes", "5", "--epochs", "1"]) == 2
    assert _one_line_error(capsys).endswith(
        "--num-classes 5 is too few: the labels go up to 9, and class indices must be in "
        "0..4; give --num-classes 10 or more, or leave it out to count the classes\n"
    )
