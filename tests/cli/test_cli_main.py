"""The jaxtrain entry point: help, exit codes, and one clear stderr line per failure."""

import os
import subprocess
import sys

import numpy as np
import pytest

from jaxtrain.cli import main
from jaxtrain.cli._main import COMMANDS, build_parser


def test_top_level_help_lists_the_commands_with_examples(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("diagnose", "explain", "train", "hessian"):
        assert command in out
    assert "examples" in out and "jaxtrain diagnose digits.npz" in out


@pytest.mark.parametrize("command", ["diagnose", "explain", "train", "hessian", "tour"])
def test_every_command_has_help_with_an_example(capsys, command):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"usage: jaxtrain {command}" in out
    epilog = out.split("\nexample")[-1]  # "example:" or "examples:" opens the epilog
    assert epilog.startswith(("s:", ":")) and f"jaxtrain {command} " in epilog


def test_commands_are_listed_in_one_tuple():
    assert COMMANDS[:4] == ("_diagnose", "_explain", "_train", "_hessian")
    actions = [a for a in build_parser()._actions if a.dest == "command"]
    assert {"diagnose", "explain", "train", "hessian"} <= set(actions[0].choices)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("jaxtrain ")


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "jaxtrain: error: choose a command (see jaxtrain --help)"


@pytest.mark.parametrize(
    "argv",
    [
        ["frobnicate"],
        ["diagnose"],
        ["diagnose", "d.npz", "--model", "rnn"],
        ["diagnose", "d.npz", "--steps", "0"],
        ["diagnose", "d.npz", "--learning-rate", "-1"],
        ["diagnose", "d.npz", "--holdout", "1.5"],
        ["diagnose", "d.npz", "--holdout", "0.6"],  # exit 1 after reading the data, before
        ["train", "--epochs", "x"],
        ["explain"],
        ["explain", "d.npz", "--lr", "0"],
        ["explain", "d.npz", "--optimizer", "lion"],
        ["explain", "d.npz", "--batch-size", "-1"],
        ["hessian"],
    ],
)
def test_bad_arguments_exit_2(capsys, argv):
    assert main(argv) == 2
    assert "error:" in capsys.readouterr().err


def _data(tmp_path, **override):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.normal(size=(40, 4)),
        "y_train": np.arange(40) % 2,
        "x_val": rng.normal(size=(10, 4)),
        "y_val": np.arange(10) % 2,
    }
    arrays.update(override)
    path = tmp_path / "data.npz"
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"y_val": None}, "has no 'y_val' array"),
        ({"x_val": np.zeros((10, 3))}, "'x_val' has examples of shape (3,)"),
        ({"x_train": np.array(["a"] * 40)}, "'x_train' is not numeric"),
        ({"y_train": np.array([None] * 40, dtype=object)}, "'y_train' is not numeric"),
    ],
)
def test_bad_data_files_fail_with_one_line(tmp_path, capsys, override, message):
    path = _data(tmp_path, **override)
    assert main(["diagnose", str(path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("jaxtrain diagnose: error: ")
    assert message in err
    assert "Traceback" not in err


def test_unreadable_files_fail_with_one_line(tmp_path, capsys):
    assert main(["diagnose", str(tmp_path / "missing.npz")]) == 1
    assert "no such file" in capsys.readouterr().err
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"\x00\x01not a zip")
    assert main(["diagnose", str(junk)]) == 1
    err = capsys.readouterr().err
    assert "not an .npz file" in err and len(err.strip().splitlines()) == 1


def test_cnn_on_flat_features_fails_with_one_line(tmp_path, capsys):
    assert main(["diagnose", str(_data(tmp_path)), "--model", "cnn"]) == 1
    err = capsys.readouterr().err
    assert "--model cnn needs images" in err and len(err.strip().splitlines()) == 1


def test_unexpected_errors_are_one_line_unless_debugging(tmp_path, capsys, monkeypatch):
    import jaxtrain.cli._diagnose as command

    def boom(args):
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(command, "run", boom)
    path = str(_data(tmp_path))
    assert main(["diagnose", path]) == 1
    assert capsys.readouterr().err == "jaxtrain diagnose: error: RuntimeError: something broke\n"
    monkeypatch.setenv("JAXTRAIN_DEBUG", "1")
    assert main(["diagnose", path]) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "status"),
    [(["hessian", "no-such-checkpoint"], 1), (["train", "--batch-size", "100000"], 2)],
)
def test_debugging_shows_the_traceback_of_an_expected_failure_too(
    capsys, monkeypatch, argv, status
):
    # Before: JAXTRAIN_DEBUG=1 showed one only for an unexpected exception.
    assert main(argv) == status
    assert "Traceback" not in capsys.readouterr().err
    monkeypatch.setenv("JAXTRAIN_DEBUG", "1")
    assert main(argv) == status
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().splitlines()[-1].startswith("jaxtrain ")


def test_main_leaves_stdout_as_it_found_it(monkeypatch):
    import io

    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main(["train", "--batch-size", "100000"]) == 2
    assert stdout.errors == "strict"


def test_a_closed_pipe_ends_quietly(tmp_path, capsys, monkeypatch):
    # `jaxtrain diagnose ... --json | head` ended with "error: BrokenPipeError" and exit 1.
    import jaxtrain.cli._diagnose as command

    def reader_gone(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(command, "run", reader_gone)
    assert main(["diagnose", str(_data(tmp_path))]) == 141
    assert capsys.readouterr().err == ""


def test_the_tour_examples_are_the_tours_own_flags(capsys):
    # tour is too long to run per example in the suite (tests/cli/test_tour.py runs it): each
    # example is parsed as the command line parses it.
    assert main(["tour", "--help"]) == 0
    examples = [
        line.split()[1:]
        for line in capsys.readouterr().out.split("examples:")[1].splitlines()
        if line.strip().startswith("jaxtrain tour")
    ]
    assert len(examples) == 3
    for argv in examples:
        build_parser().parse_args(argv)


def _run(*args, cwd):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_python_dash_m_and_the_console_script(tmp_path):
    result = _run(sys.executable, "-m", "jaxtrain", "--help", cwd=tmp_path)
    assert result.returncode == 0 and "usage: jaxtrain" in result.stdout
    result = _run(sys.executable, "-m", "jaxtrain", "diagnose", "nope.npz", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "jaxtrain diagnose: error: cannot read nope.npz: no such file\n"
    result = _run(sys.executable, "-m", "jaxtrain", "diagnose", cwd=tmp_path)
    assert result.returncode == 2 and "the following arguments are required" in result.stderr
    script = os.path.join(os.path.dirname(sys.executable), "jaxtrain")
    if os.path.exists(script):
        result = _run(script, "diagnose", "--help", cwd=tmp_path)
        assert result.returncode == 0 and "usage: jaxtrain diagnose" in result.stdout
