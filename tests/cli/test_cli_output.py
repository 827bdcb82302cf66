"""What the long commands print for people: a line per stage, the files written, rounded numbers.

On a terminal the stages are a tqdm bar (``tests/train/test_progress.py``); under pytest stderr
is no terminal, so each stage is one line, as in a log or CI.
"""

import json
import re

import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrain.cli import main
from jaxtrain.cli._hessian import hessian_report


def _stage_lines(err: str, command: str) -> list[tuple[int, int, str]]:
    pattern = re.compile(rf"^jaxtrain {command} \[(\d+)/(\d+)\]: (.+)$")
    lines = [pattern.match(line) for line in err.splitlines()]
    assert all(lines), err
    return [(int(m[1]), int(m[2]), m[3]) for m in lines]


def _assert_counted(stages):
    assert [i for i, _, _ in stages] == list(range(1, len(stages) + 1))
    assert stages[-1][0] == stages[-1][1], stages  # the last stage is the last announced


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("output") / "run"
    argv = ["train", "--data", "blobs", "--depth", "0", "--epochs", "1", "--checkpoint-dir"]
    assert main([*argv, str(ckpt)]) == 0
    return ckpt


def test_hessian_prints_its_stages_and_the_folder_of_every_file(run_dir, tmp_path, capsys):
    out = tmp_path / "hess"
    assert main(["hessian", str(run_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    stages = _stage_lines(printed.err, "hessian")
    _assert_counted(stages)
    assert "gradient" in stages[0][2] and "Hessian" in stages[1][2]
    assert stages[-1][2] == f"writing {out / 'hessian.json'} and {out / 'spectrum.png'}"
    assert f"wrote {out / 'hessian.json'} and {out / 'spectrum.png'}" in printed.out
    assert (out / "spectrum.png").exists()


def test_diagnose_prints_one_line_per_stage(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    y = (x[:, 0] > 0).astype(np.int64)
    path = tmp_path / "d.npz"
    np.savez(path, x_train=x[:80], y_train=y[:80], x_val=x[80:], y_val=y[80:])
    argv = ["diagnose", str(path), "--out", str(tmp_path / "o"), "--steps", "20", "--seeds", "2"]
    assert main([*argv, "--no-curvature", "--json"]) == 0
    printed = capsys.readouterr()
    json.loads(printed.out)  # stdout stays the result alone
    stages = _stage_lines(printed.err, "diagnose")
    _assert_counted(stages)
    assert [text for _, _, text in stages[:2]] == [
        "training mlp-2x64-relu, seed 0",
        "training mlp-2x64-relu, seed 1",
    ]


def test_lanczos_eigenvalues_are_printed_for_people_and_kept_exact_in_json():
    # float32 eigenvalues -1e-4 and 0: printed as -0.0001 and 0, never -9.999999747e-05 or -0.0.
    d = jnp.asarray([-1e-4, 0.0, 0.3, 1.0, 2.0, 3.0, 4.0, 5.0], dtype=jnp.float32)

    def loss(w):
        return 0.5 * jnp.sum(d * w**2)

    report, _ = hessian_report(
        loss, jnp.ones(8), dense_max_params=1, top=2, lanczos_steps=8, probes=1, grad_tol=10.0
    )
    line = report["explanation"].splitlines()[1]
    # No float noise: every number has at most 4 significant digits (-0.0001001, not
    # -9.999999747e-05).
    for number in re.findall(r"\d[\d.]*(?:e[+-]?\d+)?", line):
        mantissa = number.split("e")[0].replace(".", "").lstrip("0")
        assert len(mantissa) <= 4, (number, line)
    # Lanczos's float32 values differ a little between jax versions (-1e-4 or -9.995e-05, 0 or
    # -1.2e-08): what is printed is each one to 4 significant digits, never a bare "-0".
    lowest_text = re.search(r"lowest eigenvalues \[([^\]]*)\]", line).group(1)
    assert not re.search(r"(?<![\d.])-0(?:\.0*)?(?![\d.e])", line), line
    lowest = [float(v) for v in lowest_text.split(",")]
    assert lowest[0] == pytest.approx(-1e-4, rel=1e-2) and abs(lowest[1]) < 1e-6
    assert report["extreme_eigenvalues"][0] == pytest.approx(-1e-4, rel=1e-2)  # unrounded


# --out: refused before any work when it holds files that are not this command's own output
# (issue 13, item 7). The work is replaced by a function that fails the test if it is reached.

FOREIGN_FILES = [
    ("diagnose", "diagnosis.json"),
    ("diagnose", "diagnosis.md"),
    ("diagnose", "training_curves.png"),
    ("explain", "explanation.json"),
    ("explain", "explanation.md"),
    ("explain", "explanation.png"),
    ("hessian", "hessian.json"),
    ("hessian", "spectrum.png"),
    ("tour", "report.html"),
    ("tour", "report.json"),
    ("tour", "figures/critical_points-toy_saddle.png"),
]


@pytest.fixture
def no_work(monkeypatch):
    """Training, explaining and the tour's sections fail the test if a command reaches them."""
    from jaxtrain import diagnose, lecture

    def work(*args, **kwargs):
        raise AssertionError("the command started its work before checking --out")

    monkeypatch.setattr(diagnose, "diagnose", work)
    monkeypatch.setattr(diagnose, "explain_run", work)
    monkeypatch.setattr(lecture, "LectureConfig", work)


def _argv(command, tmp_path, out):
    if command in ("diagnose", "explain"):
        data = tmp_path / "d.npz"
        x = np.random.default_rng(0).normal(size=(40, 3))
        y = np.arange(40) % 2
        np.savez(data, x_train=x[:30], y_train=y[:30], x_val=x[30:], y_val=y[30:])
        return [command, str(data), "--out", str(out)]
    if command == "hessian":  # the refusal comes before the checkpoint is read
        return [command, str(tmp_path / "no-run"), "--out", str(out)]
    return [command, "--quick", "--out", str(out)]


def _one_error_line(err, command):
    assert err.count("\n") == 1 and err.startswith(f"jaxtrain {command}: error: "), err
    return err


@pytest.mark.parametrize(("command", "name"), FOREIGN_FILES)
def test_a_file_the_command_did_not_write_is_never_overwritten(
    command, name, tmp_path, no_work, capsys
):
    out = tmp_path / "out"
    (out / name).parent.mkdir(parents=True)
    (out / name).write_text("mine")
    assert main(_argv(command, tmp_path, out)) == 2
    err = _one_error_line(capsys.readouterr().err, command)
    assert str(out) in err and "not an earlier output" in err and "--overwrite" in err
    assert (out / name).read_text() == "mine"


def test_a_link_in_a_foreign_out_is_refused_and_its_target_kept(tmp_path, no_work, capsys):
    victim = tmp_path / "victim.json"
    victim.write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / "diagnosis.json").symlink_to(victim)
    assert main(_argv("diagnose", tmp_path, out)) == 2
    assert "'diagnosis.json'" in _one_error_line(capsys.readouterr().err, "diagnose")
    assert victim.read_text() == "keep"


def test_a_foreign_folder_is_named_with_its_entries(tmp_path, no_work, capsys):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("notes.txt", "photo.jpg", "thesis.tex", "z.bib"):
        (out / name).write_text("mine")
    assert main(_argv("explain", tmp_path, out)) == 2
    err = _one_error_line(capsys.readouterr().err, "explain")
    assert "holds 4 entries ('notes.txt', 'photo.jpg', 'thesis.tex' and 1 more)" in err


def test_the_output_of_another_command_is_refused_by_name(tmp_path, no_work, capsys):
    from jaxtrain._output_dir import OutputDir

    out = tmp_path / "out"
    OutputDir(out, "jaxtrain diagnose").write_text("diagnosis.md", "# Diagnosis: ok\n")
    assert main(_argv("explain", tmp_path, out)) == 2
    err = _one_error_line(capsys.readouterr().err, "explain")
    assert "holds the output of jaxtrain diagnose, not of jaxtrain explain" in err


@pytest.mark.parametrize("command", ["diagnose", "explain", "hessian", "tour"])
def test_an_out_that_is_a_file_is_refused_before_any_work(command, tmp_path, no_work, capsys):
    # The tour used to run every section and only then find that it cannot write.
    out = tmp_path / "a-file"
    out.write_text("mine")
    assert main(_argv(command, tmp_path, out)) == 2
    err = _one_error_line(capsys.readouterr().err, command)
    assert f"cannot write to {out}: it is a file, not a folder" in err
    assert out.read_text() == "mine"


@pytest.mark.parametrize("command", ["diagnose", "explain", "hessian", "tour"])
def test_an_out_linked_to_a_missing_folder_is_refused_before_any_work(
    command, tmp_path, no_work, capsys
):
    # Before: explain and hessian did all their work, then "cannot write to dl: File exists".
    out = tmp_path / "dl"
    out.symlink_to(tmp_path / "no" / "such")
    assert main(_argv(command, tmp_path, out)) == 2
    err = _one_error_line(capsys.readouterr().err, command)
    assert f"{out} is a symbolic link to {tmp_path / 'no' / 'such'}, which does not exist" in err
    assert not (tmp_path / "no").exists()


def _unreachable(tmp_path):
    # A folder name longer than any file system takes: the OSError root (these tests' user)
    # meets too, standing in for a parent folder the user cannot search.
    return tmp_path / ("x" * 300) / "out"


@pytest.mark.parametrize("command", ["diagnose", "explain", "hessian", "tour"])
def test_an_out_the_system_refuses_is_one_line_and_exit_2(command, tmp_path, no_work, capsys):
    # Before: "error: PermissionError: [Errno 13] ..." and exit 1 for a parent it cannot search.
    out = _unreachable(tmp_path)
    assert main(_argv(command, tmp_path, out)) == 2
    err = _one_error_line(capsys.readouterr().err, command)
    assert f"cannot write to {out}: File name too long" in err


def _example_section(tmp_path):
    from jaxtrain import lecture

    def experiment(config, seed=0):
        import matplotlib.pyplot as plt

        figure, _ = plt.subplots(figsize=(1, 1))
        return lecture.Claim("stand_in", "first", "T", {}, figure, "caption")

    experiment.__name__ = "first"
    return lecture.Section("stand_in", "0. A stand-in", "Nothing is trained.", (experiment,))


def test_an_example_script_refuses_an_out_the_system_refuses_in_one_line(tmp_path, capsys):
    # Before: a traceback ending in PermissionError for a parent it cannot search.
    from jaxtrain import lecture

    with pytest.raises(SystemExit) as refused:
        lecture.run_example(_example_section(tmp_path), ["--out", str(_unreachable(tmp_path))])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and err.count("\n") == 1, err
    assert "error: cannot write to" in err and "File name too long" in err


def test_an_example_script_stops_in_one_line_before_a_file_its_output_does_not_list(
    tmp_path, capsys
):
    from jaxtrain import lecture
    from jaxtrain._output_dir import OutputDir
    from jaxtrain.lecture._claim import EXAMPLES

    OutputDir(tmp_path, EXAMPLES).write_bytes("other-claim.png", b"png")
    (tmp_path / "stand_in-first.png").write_bytes(b"mine")
    with pytest.raises(SystemExit) as refused:
        lecture.run_example(_example_section(tmp_path), ["--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and err.count("\n") == 1, err
    assert "stand_in-first.png is not" in err and "--overwrite" in err
    assert (tmp_path / "stand_in-first.png").read_bytes() == b"mine"


def test_an_example_script_that_cannot_write_stops_in_one_line(tmp_path, monkeypatch, capsys):
    import os

    from jaxtrain import lecture

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(SystemExit) as stopped:
        lecture.run_example(_example_section(tmp_path), ["--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert stopped.value.code == 1 and err.count("\n") == 1, err
    assert f"error: cannot write to {tmp_path}: No space left on device" in err


def test_overwrite_reaches_the_writer_of_a_file_the_command_did_not_write(tmp_path, capsys):
    # The folder is hessian's own earlier output, but spectrum.png in it is the user's: refused
    # without --overwrite (exit 2), replaced with it.
    run = tmp_path / "run"
    argv = ["train", "--data", "blobs", "--depth", "0", "--epochs", "1"]
    assert main([*argv, "--checkpoint-dir", str(run)]) == 0
    out = tmp_path / "out"
    assert main(["hessian", str(run), "--out", str(out)]) == 0
    (out / "spectrum.png").unlink()
    (out / "spectrum.png").write_text("mine")
    manifest = json.loads((out / ".jaxtrain-output.json").read_text())
    manifest["written_by"]["jaxtrain hessian"].remove("spectrum.png")
    (out / ".jaxtrain-output.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(["hessian", str(run), "--out", str(out)]) == 2
    assert "not an earlier output" in capsys.readouterr().err
    assert (out / "spectrum.png").read_text() == "mine"
    assert main(["hessian", str(run), "--out", str(out), "--overwrite"]) == 0
    assert (out / "spectrum.png").read_bytes()[:4] == b"\x89PNG"
