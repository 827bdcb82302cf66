"""Every example of ``jaxtrain COMMAND --help`` runs as printed and shows what its comment says.

The examples are read from the parsers' epilogs, so a test runs exactly what a reader would
paste; ``PROMISES`` holds, for each example, the check of the outcome its comment states, and
an example without one fails :func:`test_every_example_has_a_promise`. The examples are sized
to run in seconds: no size is reduced here.
"""

import argparse
import contextlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from jaxtrain._fast_compile import fast_compile_flags
from jaxtrain.cli import main
from jaxtrain.cli._main import _DESCRIPTION, build_parser

COMMANDS = ("diagnose", "explain", "train", "hessian")


def _epilog(command: str) -> str:
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return subparsers.choices[command].epilog


def _examples(text: str) -> list[str]:
    """The shell lines of an epilog: continuations joined as bash joins them, comments out."""
    joined = text.replace("\\\n", "")
    examples = []
    for line in joined.splitlines():
        if line.strip().startswith("python -c "):
            examples.append(line.strip())
        elif line.strip().startswith("jaxtrain "):
            # A continuation's indentation is blanks between words, to bash as to us.
            examples.append(" ".join(line.split()))
    return examples


def _argv(example: str) -> list[str]:
    return shlex.split(example, comments=True)


def _with_xla_defaults() -> dict[str, str]:
    """This process's environment without the suite's fast-compile XLA settings."""
    env = dict(os.environ)
    fast = tuple(f"--{flag}=" for flag in fast_compile_flags())
    env["XLA_FLAGS"] = " ".join(
        flag for flag in env.get("XLA_FLAGS", "").split() if not flag.startswith(fast)
    )
    return env


def _run(example: str, capsys) -> str:
    """Runs one example in the current folder; returns its stdout."""
    argv = _argv(example)
    if argv[0] == "python":
        done = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout
    if "cnn" in argv:
        # As a user runs it: a process with XLA's own settings. A conv net's programs run
        # long enough to repay XLA's optimizations; under the suite's fast-compile settings
        # this example took 13.3 s instead of 8.7 s (Colab's jax, fresh processes).
        command = [sys.executable, "-m", "jaxtrain", *argv[1:]]
        done = subprocess.run(command, capture_output=True, text=True, env=_with_xla_defaults())
        assert done.returncode == 0, done.stderr
        return done.stdout
    capsys.readouterr()
    assert main(argv[1:]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def _accuracy(out: str) -> float:
    return float(re.search(r"^validation: loss [\d.]+, accuracy ([\d.]+)$", out, re.M)[1])


def _diagnosis_ok(out, folder):
    assert out.startswith("# Diagnosis: ok\n")
    assert (folder / "diagnosis" / "training_curves.png").exists()


def _diagnosis_mismatch(out, folder):
    assert out.startswith("# Diagnosis: mismatch\n")
    gaps = json.loads((folder / "inverted" / "diagnosis.json").read_text())["numbers"]["gaps"]
    assert gaps["val"] > 10 * gaps["heldout"], gaps


def _diagnosis_optimization(out, folder):
    report = json.loads(out)
    assert report["verdict"] == "optimization"
    assert report["candidates"][0]["name"] == "mlp-1x32-sigmoid"  # the simpler one did better


def _explanation(folder, name="jaxtrain-explain"):
    return json.loads((folder / name / "explanation.json").read_text())


def _too_high(out, folder):
    why = _explanation(folder)
    assert out.startswith("# Run explanation: learning_rate_too_high\n")
    assert "### 1. learning_rate_too_high (§4)" in out and "*Remedy:*" in out
    assert why["top"] == "learning_rate_too_high"
    evidence = next(c for c in why["causes"] if c["name"] == "learning_rate_too_high")["evidence"]
    assert evidence["lambda_eta_over_2"] > 2 and evidence["probe_gain"] > 1
    assert why["settings"]["steps"] == 200 and why["settings"]["batch_size"] == 64
    written = folder / "jaxtrain-explain"
    assert "wrote jaxtrain-explain/explanation.json, jaxtrain-explain/explanation.md" in out
    assert (written / "explanation.md").read_text().startswith("# Run explanation:")
    assert (written / "explanation.png").read_bytes()[:4] == b"\x89PNG"


def _healthy(out, folder):
    why = json.loads(out)
    assert why["healthy"] and why["reported"] == [] and why["top"] is None


def _too_low(out, folder):
    why = _explanation(folder, "why")
    assert why["top"] == "learning_rate_too_low"
    evidence = next(c for c in why["causes"] if c["name"] == "learning_rate_too_low")["evidence"]
    assert evidence["loss_ratio"] > 0.5 and evidence["lambda_eta_over_2"] < 0.1


def _digits_mlp(out, folder):
    assert _accuracy(out) > 0.9 and (folder / "run").is_dir()


def _spirals_sgd(out, folder):
    assert "optimizer sgd" in out and _accuracy(out) > 0.95


def _digits_cnn(out, folder):
    summary = json.loads(out)
    assert summary["model"] == "cnn-2x8-relu-batchnorm" and summary["val"]["accuracy"] > 0.95


def _spirals_for_hessian(out, folder):
    assert _accuracy(out) > 0.95


def _not_critical(out, folder):
    text = out.splitlines()
    assert text[1].startswith("kind: not_critical.")
    counts = re.search(r"(\d+) positive, (\d+) negative and (\d+) zero", out)
    positive, negative, zero = map(int, counts.groups())
    assert zero > positive > negative > 0 and positive + negative + zero == 371


def _layers_alone(out, folder):
    # The table's rows: "  <block>  <parameters>  <λmin>  [<top eigenvalues>]".
    rows = re.findall(r"^  (\S+) +([\d,]+) +(\S+)  \[(.*)\]$", out, re.M)
    assert [row[:2] for row in rows] == [
        ("head", "51"),
        ("layers/0/linear", "48"),
        ("layers/1/linear", "272"),
    ], out
    for _, _, lowest, top in rows:
        # λmin ≈ 0 as printed (rounded against the block's top eigenvalue), never negative.
        assert float(lowest) == 0.0 and float(top.split(", ")[0]) > 0, (lowest, top)
    escape = float(re.search(r"^Escape direction u with λ = (\S+):", out, re.M)[1])
    assert escape < 0


def _error_bars(out, folder):
    assert "Top 5 eigenvalues on 8 batches of 120 examples" in out
    found = re.search(r"^  λ1 = (\S+) ± (\S+)   \(together: (\S+)\)$", out, re.M)
    mean, stderr, together = map(float, found.groups())
    assert stderr > 0 and mean - together > stderr, found[0]


def _validation_report(out, folder):
    report = json.loads(out)
    assert report["split"] == "val" and report["examples"] == 200
    assert report["kind"] == "not_critical" and report["grad_norm"] > report["grad_tol"]
    assert json.loads((folder / "hessian" / "hessian.json").read_text()) == report
    assert (folder / "hessian" / "spectrum.png").exists()


PROMISES = {
    "diagnose": {
        "jaxtrain diagnose digits.npz --out diagnosis": _diagnosis_ok,
        "jaxtrain diagnose inverted.npz --out inverted": _diagnosis_mismatch,
        "jaxtrain diagnose digits.npz --depth 8 --width 32 --activation sigmoid --seeds 2 --json": (
            _diagnosis_optimization
        ),
    },
    "explain": {
        "jaxtrain explain digits.npz --optimizer sgd --lr 10 --standardize --activation tanh "
        "--steps 200": _too_high,
        "jaxtrain explain digits.npz --optimizer adam --lr 3e-3 --steps 200 --json": _healthy,
        "jaxtrain explain digits.npz --optimizer sgd --lr 1e-3 --steps 400 --out why": _too_low,
    },
    "train": {
        "jaxtrain train --data digits --epochs 10 --checkpoint-dir run": _digits_mlp,
        "jaxtrain train --data spirals --depth 3 --width 64 --optimizer sgd --learning-rate 0.1 "
        "--schedule warmup-cosine --warmup-steps 100 --batch-size 32 --epochs 30": _spirals_sgd,
        "jaxtrain train --data digits --model cnn --width 8 --norm batch --optimizer adamw "
        "--learning-rate 3e-3 --epochs 20 --json": _digits_cnn,
    },
    "hessian": {
        "jaxtrain train --data spirals --depth 2 --width 16 --learning-rate 0.01 --epochs 30 "
        "--checkpoint-dir run": _spirals_for_hessian,
        "jaxtrain hessian run": _not_critical,
        "jaxtrain hessian run --blocks layer": _layers_alone,
        "jaxtrain hessian run --batches 8": _error_bars,
        "jaxtrain hessian run --split val --max-examples 200 --out hessian --json": (
            _validation_report
        ),
    },
}

# (command, example) in the order of the help text; each runs in its own folder, with the data
# and the checkpoint that the examples before it made.
CASES = [
    (command, example)
    for command in COMMANDS
    for example in _examples(_epilog(command))
    if example.startswith("jaxtrain ")
]


def test_every_example_has_a_promise():
    for command in COMMANDS:
        shown = [e for e in _examples(_epilog(command)) if e.startswith("jaxtrain ")]
        assert shown == list(PROMISES[command]), command
        # Each example says what it shows, in a comment line just above it.
        lines = [
            " ".join(line.split()) for line in _epilog(command).replace("\\\n", "").splitlines()
        ]
        for example in shown:
            assert lines[lines.index(example) - 1].startswith("# "), example


def test_the_top_level_examples_are_the_commands_own():
    """``jaxtrain --help`` repeats examples of the commands, tested here, and the tour's (its
    own tests run the tour)."""
    tested = {e for command in COMMANDS for e in _examples(_epilog(command))}
    top = [" ".join(_argv(line)) for line in _examples(_DESCRIPTION)]
    assert len(top) == 5 and top[-1].startswith("jaxtrain tour ")
    assert set(top[:-1]) <= tested, set(top[:-1]) - tested


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """digits.npz and inverted.npz, made by the diagnose help's own first example."""
    folder = tmp_path_factory.mktemp("help-data")
    (make,) = [e for e in _examples(_epilog("diagnose")) if e.startswith("python ")]
    subprocess.run([sys.executable, *_argv(make)[1:]], cwd=folder, check=True)
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """``(folder, stdout)`` of the hessian help's training example, run once for its tests."""
    folder = tmp_path_factory.mktemp("help-checkpoint")
    train = next(e for e in PROMISES["hessian"] if e.startswith("jaxtrain train "))
    previous = os.getcwd()
    os.chdir(folder)
    try:
        capture = io.StringIO()
        with contextlib.redirect_stdout(capture):
            assert main(_argv(train)[1:]) == 0
    finally:
        os.chdir(previous)
    return folder, capture.getvalue()


@pytest.mark.parametrize(
    ("command", "example"), CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(CASES)]
)
def test_the_example_shows_what_it_promises(
    command, example, digits, request, tmp_path, monkeypatch, capsys
):
    for name in ("digits.npz", "inverted.npz"):
        shutil.copy(digits / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    if command == "hessian":
        folder, out = request.getfixturevalue("checkpoint")
        shutil.copytree(folder / "run", tmp_path / "run")
        if example.startswith("jaxtrain train "):
            # The checkpoint fixture ran this very example; its output is the one to check.
            PROMISES[command][example](out, folder)
            return
    out = _run(example, capsys)
    PROMISES[command][example](out, tmp_path)
