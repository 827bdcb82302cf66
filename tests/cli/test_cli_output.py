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
    assert not re.search(r"\d\.\d{5,}", line), line
    # Lanczos's float32 values differ a little between jax versions (-1e-4 or -9.995e-05, 0 or
    # -1.2e-08): what is printed is each one to 4 significant digits, never a bare "-0".
    lowest_text = re.search(r"lowest eigenvalues \[([^\]]*)\]", line).group(1)
    assert not re.search(r"(?<![\d.])-0(?:\.0*)?(?![\d.e])", line), line
    lowest = [float(v) for v in lowest_text.split(",")]
    assert lowest[0] == pytest.approx(-1e-4, rel=1e-2) and abs(lowest[1]) < 1e-6
    assert report["extreme_eigenvalues"][0] == pytest.approx(-1e-4, rel=1e-2)  # unrounded
