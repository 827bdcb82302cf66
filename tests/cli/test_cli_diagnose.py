"""jaxtrain diagnose DATA.npz: the verdict, evidence and remedies, files in --out."""

import json

import numpy as np
import pytest

from jaxtrain import data
from jaxtrain.cli import main

QUICK = ["--steps", "60", "--seeds", "2", "--no-curvature"]


@pytest.fixture(scope="module")
def digits_file(tmp_path_factory):
    x, y = data.load_digits()
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, x_train=x[:500], y_train=y[:500], x_val=x[500:700], y_val=y[500:700])
    return path


def test_markdown_report_and_files(digits_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["diagnose", str(digits_file), "--out", str(out), *QUICK]) == 0
    stdout = capsys.readouterr().out
    report = json.loads((out / "diagnosis.json").read_text())
    assert stdout.startswith(f"# Diagnosis: {report['verdict']}")
    assert "## Why" in stdout and "## Remedies" in stdout and "| mlp-2x64-relu ★ |" in stdout
    assert f"wrote {out / 'diagnosis.json'}" in stdout
    assert (out / "diagnosis.md").read_text().startswith("# Diagnosis:")
    assert (out / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert report["budget"]["steps"] == 60 and report["budget"]["seeds"] == [0, 1]


@pytest.mark.slow
def test_json_output_with_a_test_file_and_all_candidates(digits_file, tmp_path, capsys):
    x, y = data.load_digits()
    test, out = tmp_path / "test.npz", tmp_path / "out"
    np.savez(test, x_test=x[700:800], y_test=y[700:800])
    argv = ["diagnose", str(digits_file), "--test", str(test), "--out", str(out), "--json"]
    assert main([*argv, "--depth", "1", "--width", "16", "--train-all", *QUICK]) == 0
    report = json.loads(capsys.readouterr().out)
    names = [c["name"] for c in report["candidates"]]
    assert names == ["linear", "mlp-1x16-relu", "mlp-1x64-relu"]
    assert report["primary"] == "mlp-1x16-relu"
    assert all(len(c["test_loss"]) == 2 for c in report["candidates"])
    assert report["verdict"] in ("ok", "overfitting", "mismatch", "model_bias", "optimization")
    assert {p.name for p in out.glob("curves_*.png")} == {
        "curves_linear.png",
        "curves_mlp-1x16-relu.png",
        "curves_mlp-1x64-relu.png",
    }


def test_regression_data_and_standardize(tmp_path, capsys):
    x, y = data.make_regression_curve(200, seed=0)
    path = tmp_path / "curve.npz"
    np.savez(path, x_train=100 * x[:150], y_train=y[:150, 0], x_val=100 * x[150:], y_val=y[150:, 0])
    argv = ["diagnose", str(path), "--out", str(tmp_path / "o"), "--json", "--standardize", *QUICK]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["task"] == "regression"
    np.testing.assert_allclose(report["baseline"], np.var(y[:150]), rtol=1e-4)


def test_cnn_on_images(tmp_path, capsys):
    x, y = data.load_digits(flatten=False)
    path = tmp_path / "images.npz"
    np.savez(
        path, x_train=x[:200, ..., 0], y_train=y[:200], x_val=x[200:260, ..., 0], y_val=y[200:260]
    )
    argv = ["diagnose", str(path), "--model", "cnn", "--width", "4", "--depth", "1", "--json"]
    assert (
        main(
            [*argv, "--out", str(tmp_path / "o"), "--steps", "20", "--seeds", "1", "--no-curvature"]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["primary"] == "cnn-1x4-relu"


def test_an_unwritable_output_folder_fails_with_one_line(digits_file, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    argv = ["diagnose", str(digits_file), "--out", str(blocker / "out"), "--steps", "5"]
    assert main([*argv, "--seeds", "1", "--no-curvature"]) == 2  # a bad --out, found first
    err = capsys.readouterr().err
    assert err.startswith("jaxtrain diagnose: error: cannot write to") and err.count("\n") == 1


@pytest.mark.parametrize("command", ["diagnose", "explain"])
def test_a_refused_argument_leaves_no_empty_out_folder(command, digits_file, tmp_path, capsys):
    # --out (and its new parents) was created before the arguments were checked, and left
    # empty when one was refused: a CNN on vectors here. A bad --out is still found first.
    out = tmp_path / "new" / "out"
    assert main([command, str(digits_file), "--out", str(out), "--model", "cnn"]) == 1
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("command", ["diagnose", "explain"])
def test_data_refused_by_the_run_leave_no_empty_out_folder(command, tmp_path, capsys):
    # Constant regression targets pass the file's checks and are refused by the run itself
    # (no baseline to judge a loss against): --out was already made, and was left empty.
    x = np.random.default_rng(0).normal(size=(80, 3)).astype(np.float32)
    y = np.ones(80, np.float32)
    path = tmp_path / "constant.npz"
    np.savez(path, x_train=x, y_train=y, x_val=x[:10], y_val=y[:10])
    out = tmp_path / "new" / "out"
    assert main([command, str(path), "--out", str(out), "--steps", "5"]) == 1
    assert "constant" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
