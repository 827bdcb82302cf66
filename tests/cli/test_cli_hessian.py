"""jaxtrain hessian CHECKPOINT: the model and data rebuilt from the checkpoint's metadata."""

import contextlib
import io
import json
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxtrain import curvature, data, train
from jaxtrain.cli import main

BLOCKS_AND_BATCHES = ["--max-examples", "300", "--blocks", "layer", "--batches", "3", "--top", "2"]
# 51 parameters: --dense-max-params 10 takes every part of the report to Lanczos.
LANCZOS = ["--dense-max-params", "10"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("hessian") / "run"
    argv = ["train", "--data", "spirals", "--depth", "1", "--width", "8", "--epochs", "3"]
    assert main([*argv, "--learning-rate", "0.02", "--checkpoint-dir", str(ckpt)]) == 0
    return ckpt


def _text_and_report(run_dir, out, *argv):
    """``(report, text, out)``: one run prints the text report and writes the JSON into out."""
    capture = io.StringIO()
    with contextlib.redirect_stdout(capture):
        assert main(["hessian", str(run_dir), *argv, "--out", str(out)]) == 0
    return json.loads((out / "hessian.json").read_text()), capture.getvalue(), out


@pytest.fixture(scope="module")
def dense_300(run_dir, tmp_path_factory):
    """``(report, text, out)`` of ``hessian run --max-examples 300 --out out`` with per-layer
    spectra and 3 batches, run once: the dense report that one test checks by hand and others
    compare Lanczos with, and the blocks and batches that three tests check."""
    return _text_and_report(run_dir, tmp_path_factory.mktemp("dense-300"), *BLOCKS_AND_BATCHES)


@pytest.fixture(scope="module")
def lanczos_300(run_dir, tmp_path_factory):
    """``(report, text, out, calls)``: the same run above --dense-max-params, every part by
    Lanczos; ``calls`` holds the arguments the command passed to
    ``curvature.eigenvalues_over_batches`` and ``curvature.block_eigenvalues``, so that a test
    reruns them on the very same operator (its compiled programs reused: no second compile)."""
    out = tmp_path_factory.mktemp("lanczos-300")
    calls = {}

    def spy(name):
        original = getattr(curvature, name)

        def recorded(*args, **kwargs):
            calls[name] = args
            return original(*args, **kwargs)

        return recorded

    with pytest.MonkeyPatch.context() as patch:
        for name in ("eigenvalues_over_batches", "block_eigenvalues"):
            patch.setattr(curvature, name, spy(name))
        return (*_text_and_report(run_dir, out, *BLOCKS_AND_BATCHES, *LANCZOS), calls)


def test_dense_report_matches_the_curvature_package(run_dir, dense_300):
    report, _, tmp_path = dense_300
    assert report["method"] == "dense" and report["model"] == "mlp-1x8-relu"
    assert report["n_params"] == 2 * 8 + 8 + 8 * 3 + 3
    assert report["num_negative"] + report["num_positive"] + report["num_zero"] == 51
    assert report["examples"] == 300 and report["split"] == "train"
    assert report["kind"] in curvature.KINDS
    # Rebuild the same loss by hand: spirals split, first 300 training examples.
    from flax import nnx

    from jaxtrain import losses, nn
    from jaxtrain.diagnose import ModelSpec

    ckpt = train.load_checkpoint(run_dir)
    apply, _, _ = nn.functional(ModelSpec.from_dict(ckpt.metadata["model"]).build(nnx.Rngs(0)))
    x, y = data.make_spirals(1200, classes=3, noise=0.05, seed=0)
    (xt, yt), _, _ = data.train_val_test_split(x, y, val_fraction=0.2, seed=0)
    loss_fn = curvature.loss_from_model(
        apply, ckpt.model_state, [(xt[:300], yt[:300])], losses.softmax_cross_entropy
    )
    expected = curvature.analyze_critical_point(loss_fn, ckpt.params, grad_tol=1e-3)
    np.testing.assert_allclose(report["loss"], expected.loss, rtol=1e-5)
    np.testing.assert_allclose(report["lowest"], expected.eigenvalues[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(report["highest"], expected.eigenvalues[-1], rtol=1e-4)
    assert report["kind"] == expected.kind
    assert (tmp_path / "spectrum.png").read_bytes()[:4] == b"\x89PNG"


def test_lanczos_above_the_dense_limit_finds_the_same_extremes(dense_300, lanczos_300):
    dense, lanczos = dense_300[0], lanczos_300[0]
    assert lanczos["method"] == "lanczos" and len(lanczos["extreme_eigenvalues"]) == 4
    np.testing.assert_allclose(lanczos["highest"], dense["highest"], rtol=1e-3)
    np.testing.assert_allclose(lanczos["lowest"], dense["lowest"], rtol=1e-2, atol=1e-4)
    assert 0.0 <= lanczos["minimum_ratio"] <= 1.0
    assert (lanczos["num_negative"] > 0) == (dense["lowest"] < -lanczos["eig_tol"])
    # The highest are printed from the top down, as the blocks' "top" column is.
    printed = re.search(r"the 2 highest \[([^\]]*)\]", lanczos_300[1]).group(1).split(", ")
    assert float(printed[0]) == pytest.approx(lanczos["highest"], rel=1e-3)
    assert float(printed[0]) >= float(printed[1])


def test_a_batchnorm_checkpoint_is_restored_into_the_models_shapes_alone(tmp_path, capsys):
    # The command builds only the model's shapes (nnx.eval_shape, no initialization): every
    # parameter and running statistic comes from the checkpoint, and the model applies them.
    from jaxtrain.cli._hessian import _restore

    run = tmp_path / "run"
    argv = ["train", "--data", "spirals", "--depth", "1", "--width", "4", "--norm", "batch"]
    assert main([*argv, "--epochs", "1", "--checkpoint-dir", str(run)]) == 0
    capsys.readouterr()
    _, ckpt, _, apply = _restore(str(run), None)
    saved = train.load_checkpoint(run)  # no target: the stored arrays as nested dicts
    restored = (ckpt.params, ckpt.model_state)
    assert jax.tree.structure(restored) == jax.tree.structure((saved.params, saved.model_state))
    assert len(jax.tree.leaves(ckpt.model_state)) == 2  # the running mean and variance
    for got, expected in zip(
        jax.tree.leaves(restored), jax.tree.leaves((saved.params, saved.model_state)), strict=True
    ):
        assert isinstance(got, jax.Array)
        np.testing.assert_array_equal(got, expected)
    x = np.asarray(data.make_spirals(8, classes=3, seed=0)[0])
    logits, _ = apply(ckpt.params, ckpt.model_state, x, train=False)
    assert logits.shape == (8, 3) and np.isfinite(np.asarray(logits)).all()


def test_text_report_and_validation_split(run_dir, capsys):
    assert main(["hessian", str(run_dir), "--split", "val", "--max-examples", "50"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mlp-1x8-relu at step 45, loss on 50 val examples (classification)")
    assert "kind:" in out and "eigenvalue" in out


def test_failures_are_one_line(tmp_path, capsys, run_dir):
    def fails(*argv, message):
        assert main(["hessian", *map(str, argv)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("jaxtrain hessian: error: ") and err.count("\n") == 1, err
        assert message in err

    fails(tmp_path / "missing", message="no such directory")
    (tmp_path / "empty").mkdir()
    fails(tmp_path / "empty", message="holds no complete checkpoint")
    params = {"w": jnp.ones(2)}
    state = train.TrainState(
        apply=None,
        params=params,
        model_state={},
        opt_state=optax.sgd(0.1).init(params),
        step=jnp.int32(1),
        key=jax.random.key(0),
    )
    train.save_checkpoint(tmp_path / "foreign", state, metadata={"note": "hand-made"})
    fails(tmp_path / "foreign", message="carries no model spec and data reference")
    fails(run_dir, "--step", "999", message="has no checkpoint of step 999")


def test_a_damaged_checkpoint_is_one_line_naming_the_step_and_the_file(run_dir, tmp_path, capsys):
    # Issue 13, case 2: flipped bytes loaded silently (a loss of 5.7e34 reported as usual);
    # a truncated file gave a traceback. Now the checksums refuse the step before reading.
    import shutil

    damaged = tmp_path / "run"
    shutil.copytree(run_dir, damaged)
    params = damaged / "45" / "params"
    largest = max((p for p in params.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    original = largest.read_bytes()
    flipped = bytearray(original)
    for offset in range(len(flipped) // 2, len(flipped) // 2 + 10):
        flipped[offset] ^= 0xFF
    for content, problem in ((bytes(flipped), "has changed"), (original[:50], "has 50 bytes")):
        largest.write_bytes(content)
        assert main(["hessian", str(damaged)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("jaxtrain hessian: error: ") and err.count("\n") == 1, err
        assert f"{damaged}/45 is damaged: " in err and "(item params)" in err
        assert problem in err
        # Damage, not a mismatch: the arrays are read after the metadata, by a second load.
        assert f"cannot read checkpoint {damaged}: " in err and "model spec" not in err


def test_a_changed_data_file_is_refused(tmp_path, capsys):
    x, y = data.make_blobs(120, centers=2, seed=0)
    path = tmp_path / "blobs.npz"
    np.savez(path, x_train=x, y_train=y)
    ckpt = tmp_path / "run"
    argv = ["train", "--data", str(path), "--depth", "0", "--epochs", "1"]
    assert main([*argv, "--checkpoint-dir", str(ckpt)]) == 0
    capsys.readouterr()
    np.savez(path, x_train=x + 1.0, y_train=y)
    assert main(["hessian", str(ckpt)]) == 1
    assert "changed since training" in capsys.readouterr().err


def test_a_moved_data_file_is_read_from_data_when_its_sha256_matches(tmp_path, capsys, run_dir):
    # Review finding 6: with the data file moved, the checkpoint could never be analysed, and
    # the error named the absolute path of training time without saying where it came from.
    x, y = data.make_blobs(120, centers=2, seed=0)
    trained_on = tmp_path / "blobs.npz"
    np.savez(trained_on, x_train=x, y_train=y)
    ckpt = tmp_path / "run"
    argv = ["train", "--data", str(trained_on), "--depth", "0", "--epochs", "1"]
    assert main([*argv, "--checkpoint-dir", str(ckpt)]) == 0
    moved = tmp_path / "elsewhere.npz"
    trained_on.rename(moved)
    capsys.readouterr()

    def fails(*argv):
        assert main(["hessian", str(ckpt), *argv]) == 1
        err = capsys.readouterr().err
        assert err.startswith("jaxtrain hessian: error: ") and err.count("\n") == 1, err
        return err

    err = fails()
    assert f"the checkpoint's data file {trained_on.resolve()} (recorded at training)" in err
    assert "--data" in err
    other = tmp_path / "other.npz"
    np.savez(other, x_train=x + 1.0, y_train=y)
    err = fails("--data", str(other))
    assert f"--data {other} is not the data file the checkpoint was trained on" in err
    assert "SHA-256" in err and str(trained_on.resolve()) in err
    assert f"cannot read --data {tmp_path / 'nowhere.npz'}: no such file" in fails(
        "--data", str(tmp_path / "nowhere.npz")
    )
    assert main(["hessian", str(ckpt), "--data", str(moved), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_params"] == 2 * 2 + 2
    # A built-in set has no file to move.
    assert main(["hessian", str(run_dir), "--data", str(moved)]) == 1
    assert "trained on the built-in set 'spirals'" in capsys.readouterr().err


def _quadratic(d, w):
    return 0.5 * jnp.sum(d * w**2)


def test_dense_and_lanczos_reports_classify_alike():
    from jaxtrain.cli._hessian import hessian_report

    common = {"top": 2, "lanczos_steps": 6, "probes": 1, "grad_tol": 1e-3}
    for diagonal in (
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        [-1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        [0.0, 2.0, 3.0, 4.0, 5.0, 6.0],  # a flat direction: dense and Lanczos say degenerate
        [-1.0, -2.0, -3.0, -4.0, -5.0, -6.0],
    ):
        # One pytree-callable for all four: the Lanczos programs compile once.
        loss_fn = jax.tree_util.Partial(_quadratic, jnp.asarray(diagonal))
        expected = curvature.analyze_critical_point(loss_fn, jnp.zeros(6), grad_tol=1e-3).kind
        dense, _ = hessian_report(loss_fn, jnp.zeros(6), dense_max_params=10, **common)
        lanczos, _ = hessian_report(loss_fn, jnp.zeros(6), dense_max_params=1, **common)
        assert dense["method"] == "dense" and lanczos["method"] == "lanczos"
        assert dense["kind"] == lanczos["kind"] == expected, diagonal
        assert lanczos["explanation"].startswith(f"kind: {expected}.")


def test_the_counts_say_among_how_many_eigenvalues_in_the_json_and_the_text():
    # Review finding 5: num_positive, num_negative and num_zero counted all n eigenvalues of
    # the dense Hessian but only the 2·--top extremes of Lanczos, with nothing in the JSON to
    # tell the two apart, and the dense JSON left out the eigenvalues spectrum.png plots.
    from jaxtrain.cli._hessian import hessian_report

    diagonal = [-1.0, 0.0, 2.0, 3.0, 4.0, 5.0]
    loss_fn = jax.tree_util.Partial(_quadratic, jnp.asarray(diagonal))
    common = {"top": 2, "lanczos_steps": 6, "probes": 1, "grad_tol": 1e-3}
    counted = re.compile(
        r"(\d+) positive, (\d+) negative and (\d+) zero \(\|λ\| ≤ \S+\) of (?:these )?(\d+) "
        "eigenvalues"
    )
    # Dense: all 6 eigenvalues; Lanczos: the 2 at each end, -1, 0, 4 and 5.
    for dense_max_params, counts in ((10, [4, 1, 1]), (1, [2, 1, 1])):
        report, _ = hessian_report(
            loss_fn, jnp.zeros(6), dense_max_params=dense_max_params, **common
        )
        assert [report[f"num_{sign}"] for sign in ("positive", "negative", "zero")] == counts
        assert report["num_eigenvalues"] == sum(counts)
        printed = counted.search(report["explanation"])
        assert printed, report["explanation"]
        assert [int(v) for v in printed.groups()] == [*counts, sum(counts)], printed.group(0)
        if report["method"] == "dense":
            np.testing.assert_allclose(report["eigenvalues"], diagonal, atol=1e-6)


def test_a_top_whose_lanczos_basis_is_over_the_memory_limit_is_refused_naming_the_flag():
    # Issue 13, case 14: `--top 100000` ran for minutes (k = n/2 at both ends is a full
    # n × n basis); now the basis is checked against the limit before anything runs.
    from jaxtrain.cli._errors import CommandError
    from jaxtrain.cli._hessian import hessian_report

    params = jnp.zeros(1000)
    with pytest.raises(CommandError, match=r"--top 100000 .*4,000,000 bytes"):
        hessian_report(
            lambda w: jnp.sum(w**2),
            params,
            dense_max_params=10,
            top=100_000,
            lanczos_steps=80,
            probes=1,
            grad_tol=1e-3,
            max_bytes=1_000_000,
        )


@pytest.mark.parametrize("dense_max_params", [10, 1], ids=["dense", "lanczos"])
def test_a_diverged_point_is_a_command_error_not_a_kind(dense_max_params):
    # A checkpoint of a run that diverged: L is NaN. NaN compares False with every
    # tolerance, so it used to pass for a small gradient and come out as some kind.
    from jaxtrain.cli._errors import CommandError
    from jaxtrain.cli._hessian import hessian_report

    with pytest.raises(CommandError, match="not finite"):
        hessian_report(
            lambda w: jnp.sum(w**2) * jnp.nan,
            jnp.zeros(4),
            dense_max_params=dense_max_params,
            top=1,
            lanczos_steps=4,
            probes=1,
            grad_tol=1e-3,
        )


def test_per_layer_spectra_lie_within_the_whole_hessians(dense_300):
    report = dense_300[0]
    assert report["method"] == report["blocks"]["method"] == "dense"
    assert report["blocks"]["partition"] == "layer"
    rows = report["blocks"]["blocks"]
    assert [(row["block"], row["n_params"]) for row in rows] == [
        ("head", 8 * 3 + 3),
        ("layers/0/linear", 2 * 8 + 8),
    ]
    for row in rows:
        assert row["converged"] and len(row["lowest"]) == len(row["highest"]) == 2
        # Cauchy interlacing: a diagonal block's extremes lie within the whole Hessian's
        # (the dense report's), up to float32 round-off.
        slack = 1e-5 * max(abs(report["lowest"]), report["highest"])
        assert report["lowest"] - slack <= row["lowest"][0] <= row["lowest"][1]
        assert row["highest"][1] <= row["highest"][0] <= report["highest"] + slack


def test_top_eigenvalues_with_error_bars_over_batches(dense_300):
    report = dense_300[0]
    batches = report["batches"]
    assert batches["method"] == "dense" and batches["converged"]
    assert batches["num_batches"] == 3 and batches["batch_size"] == 100
    per_batch = np.asarray(batches["per_batch"])
    assert per_batch.shape == (3, 2)
    np.testing.assert_allclose(batches["mean"], per_batch.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(
        batches["stderr"], per_batch.std(axis=0, ddof=1) / np.sqrt(3), rtol=1e-5
    )
    # The three batches hold all 300 examples: together they are the dense report's loss.
    np.testing.assert_allclose(batches["full"][0], report["highest"], rtol=1e-4)
    assert batches["full"][0] <= batches["mean"][0] * (1 + 1e-5)  # λmax is convex in H


def _printed_to(text, value, decimals):
    """Whether ``text`` is ``value`` rounded to ``decimals`` places, as printed."""
    places = len(text.partition(".")[2])
    return places == decimals and abs(float(text) - value) <= 0.5 * 10.0**-decimals * (1 + 1e-9)


def _check_batch_lines(text, batches):
    """Each "λi = mean ± stderr (together: full)" line: the error to 2 significant digits, the
    mean and the full-data value to the same decimal place (for people; the JSON is exact)."""
    assert (
        f"Top 2 eigenvalues on 3 batches of {batches['batch_size']} examples, "
        "mean ± standard error, and on all 300 together:"
    ) in text
    for i, (mean, stderr, full) in enumerate(
        zip(batches["mean"], batches["stderr"], batches["full"], strict=True)
    ):
        (line,) = [line for line in text.splitlines() if line.startswith(f"  λ{i + 1} = ")]
        printed = re.fullmatch(rf"  λ{i + 1} = (\S+) ± (\S+)   \(together: (\S+)\)", line)
        # The error to 2 significant digits, and the other two to its last decimal place.
        assert float(printed.group(2)) == float(f"{stderr:.2g}"), (line, stderr)
        decimals = len(printed.group(2).partition(".")[2])
        assert all(
            _printed_to(part, value, decimals)
            for part, value in zip(printed.groups(), (mean, stderr, full), strict=True)
        ), (line, mean, stderr, full)


def _check_block_lines(text, blocks, how):
    """Each block's row: λmin and the top eigenvalues rounded to 4 significant digits of the
    block's largest |λ| (float32 round-off such as -8e-09 beside 0.36 prints as 0)."""
    assert (
        f"Hessian of each layer alone (its diagonal block H_bb, {how}): λmin and the top 2" in text
    )
    for row in blocks["blocks"]:
        (line,) = [line for line in text.splitlines() if line.startswith(f"  {row['block']} ")]
        name, size, lowest, top = re.fullmatch(r"  (\S+) +([\d,]+) +(\S+)  \[(.*)\]", line).groups()
        assert (name, size) == (row["block"], f"{row['n_params']:,}")
        values = [*row["lowest"], *row["highest"]]
        step = 10.0 ** (math.floor(math.log10(max(map(abs, values)))) - 3)
        shown = [float(lowest), *map(float, top.split(", "))]
        exact = [row["lowest"][0], *row["highest"]]
        np.testing.assert_allclose(shown, exact, rtol=5e-4, atol=0.5 * step * (1 + 1e-9))
        assert "e-" not in lowest + top and lowest != "-0", line


def test_blocks_and_batches_as_text(dense_300):
    report, text, _ = dense_300
    _check_block_lines(text, report["blocks"], "of the dense Hessian")
    _check_batch_lines(text, report["batches"])


def test_bad_blocks_and_batches_are_refused_naming_the_flag_and_the_value(run_dir, capsys):
    # Bad values of the flags alone are argparse's refusals, as --batches 0 and every other
    # flag's: the usage, then one error line naming the flag and the value; exit 2.
    for argv, message in (
        (["--batches", "1"], "argument --batches: expected an integer >= 2 "),
        (["--batches", "0"], "argument --batches: expected an integer >= 2 "),
        (["--blocks", "layers"], "argument --blocks: invalid choice: 'layers'"),
    ):
        assert main(["hessian", str(run_dir), *argv]) == 2
        last = capsys.readouterr().err.splitlines()[-1]
        assert last.startswith(f"jaxtrain hessian: error: {message}"), last
        assert f"'{argv[1]}'" in last
    # More batches than examples depends on the data: found once it is loaded, one line and
    # exit 2, as train's and explain's --batch-size larger than the training examples.
    assert main(["hessian", str(run_dir), "--batches", "61", "--max-examples", "60"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "jaxtrain hessian: error: --batches 61: more batches than the 60 examples of the loss\n"
    )


def test_lanczos_batches_are_eigenvalues_over_batches_and_the_dense_ones(dense_300, lanczos_300):
    report, text, _, calls = lanczos_300
    batches = report["batches"]
    assert report["method"] == batches["method"] == "lanczos" and batches["converged"]
    assert batches["num_batches"] == 3 and batches["batch_size"] == 100
    # The command's batches are the first 300 training examples of the spirals, in thirds.
    batch_loss, params, thirds = calls["eigenvalues_over_batches"]
    x, y = data.make_spirals(1200, classes=3, noise=0.05, seed=0)
    (xt, yt), _, _ = data.train_val_test_split(x, y, val_fraction=0.2, seed=0)
    assert len(thirds) == 3
    for i, (xb, yb) in enumerate(thirds):
        np.testing.assert_array_equal(xb, xt[i * 100 : (i + 1) * 100])
        np.testing.assert_array_equal(yb, yt[i * 100 : (i + 1) * 100])
    # Run directly, with the command's seed 0 and --top 2: the same numbers, up to the JSON's
    # float64 printing of float32 values.
    direct = curvature.eigenvalues_over_batches(
        batch_loss, params, thirds, key=jax.random.key(0), k=2
    )
    for name in ("per_batch", "mean", "stderr", "full"):
        np.testing.assert_allclose(batches[name], getattr(direct, name), rtol=1e-6, err_msg=name)
    # Against the dense route (each batch's Hessian and eigh): Lanczos's tolerance is 1e-4.
    exact = dense_300[0]["batches"]
    for name in ("per_batch", "mean", "full"):
        np.testing.assert_allclose(batches[name], exact[name], rtol=1e-3, err_msg=name)
    # Three equal batches hold all 300 examples: together they are the whole report's λmax,
    # below the batches' mean (λmax is convex in H).
    np.testing.assert_allclose(batches["full"][0], report["highest"], rtol=1e-3)
    assert batches["full"][0] <= batches["mean"][0] * (1 + 1e-4)
    _check_batch_lines(text, batches)


def test_lanczos_blocks_are_block_eigenvalues_and_the_dense_ones(dense_300, lanczos_300):
    report, text, _, calls = lanczos_300
    blocks = report["blocks"]
    assert blocks["method"] == "lanczos" and blocks["partition"] == "layer"
    matvec, params = calls["block_eigenvalues"]
    direct = curvature.block_eigenvalues(
        matvec, params, key=jax.random.key(0), blocks="layer", k=2, which="both"
    )
    dense_rows = dense_300[0]["blocks"]["blocks"]
    assert [row["block"] for row in blocks["blocks"]] == [str(name) for name in direct]
    assert [row["block"] for row in dense_rows] == [str(name) for name in direct]
    pairs = zip(blocks["blocks"], direct.items(), dense_rows, strict=True)
    for row, (name, result), exact in pairs:
        assert row["converged"] and row["n_params"] == result.size == exact["n_params"], name
        values = np.asarray(result.eigenvalues)  # the 2 lowest, then the 2 highest, ascending
        np.testing.assert_allclose(row["lowest"], values[:2], rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(row["highest"], values[2:][::-1], rtol=1e-6)
        # Against the dense H_bb's eigh; its λmin is ≈ 0 (ReLU), so the lowest compare on the
        # block's scale.
        scale = exact["highest"][0]
        np.testing.assert_allclose(row["highest"], exact["highest"], rtol=1e-3)
        np.testing.assert_allclose(row["lowest"], exact["lowest"], atol=1e-3 * scale)
    _check_block_lines(text, blocks, "by Lanczos")


def _regression_loss(params, x, y):
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def test_lanczos_blocks_agree_with_the_dense_ones():
    # Above --dense-max-params the table comes from block_eigenvalues; on a 2-parameter
    # model both routes must agree.
    from jaxtrain.cli._hessian import block_report

    rng = np.random.default_rng(0)
    params = {"b": jnp.zeros(1), "w": jnp.asarray(rng.standard_normal(1), jnp.float32)}
    x = jnp.asarray(rng.standard_normal((12, 1)), jnp.float32)
    y = jnp.asarray(rng.standard_normal(12), jnp.float32)
    whole = jax.tree_util.Partial(_regression_loss, x=x, y=y)
    common = {"blocks": "leaf", "top": 1}
    dense, _ = block_report(whole, params, dense=True, **common)
    lanczos, lines = block_report(whole, params, dense=False, **common)
    assert [row["block"] for row in lanczos["blocks"]] == ["b", "w"]
    assert "by Lanczos" in lines[0]
    for exact, approx in zip(dense["blocks"], lanczos["blocks"], strict=True):
        np.testing.assert_allclose(approx["lowest"], exact["lowest"], rtol=1e-4)
        np.testing.assert_allclose(approx["highest"], exact["highest"], rtol=1e-4)
    # (batch_report's Lanczos route is eigenvalues_over_batches, which
    # tests/curvature/test_uncertainty.py checks against dense per-batch Hessians.)


def test_both_routes_list_as_many_values_per_block_and_leave_out_empty_blocks():
    # A block of 3 parameters has min(top, 3 // 2) = 1 value at each end by Lanczos; the dense
    # route listed top = 2 of them (overlapping) until it followed the same rule.
    from jaxtrain.cli._hessian import block_report

    rng = np.random.default_rng(1)
    params = {
        "b": jnp.zeros(1),
        "none": jnp.zeros((0,)),
        "w": jnp.asarray(rng.standard_normal(3), jnp.float32),
    }
    x = jnp.asarray(rng.standard_normal((12, 3)), jnp.float32)
    y = jnp.asarray(rng.standard_normal(12), jnp.float32)
    whole = jax.tree_util.Partial(_regression_loss, x=x, y=y)
    dense, _ = block_report(whole, params, dense=True, blocks="leaf", top=2)
    lanczos, _ = block_report(whole, params, dense=False, blocks="leaf", top=2)
    for report in (dense, lanczos):
        assert [(row["block"], len(row["lowest"])) for row in report["blocks"]] == [
            ("b", 1),
            ("w", 1),
        ]
    for exact, approx in zip(dense["blocks"], lanczos["blocks"], strict=True):
        np.testing.assert_allclose(approx["lowest"], exact["lowest"], rtol=1e-4)
        np.testing.assert_allclose(approx["highest"], exact["highest"], rtol=1e-4)


def test_numbers_for_people_keep_the_digits_that_mean_something():
    from jaxtrain.cli._hessian import _listed, _rounded, _with_error

    # Against the largest |λ| beside it: float32 round-off prints 0, never -0 or 1e-09.
    assert _listed(np.array([-8.4e-09, 0.3585, 0.08107])) == "[0, 0.3585, 0.0811]"
    assert _rounded(-2e-9, 2.151) == "0" and _rounded(7.7e-05, 2.151) == "0"
    assert _rounded(1e-9, 0.0) == "1e-09"  # nothing beside it to round against
    assert _rounded(float("nan"), 1.0) == "nan" and _listed(np.array([np.inf, 1.0])) == "[inf, 1]"
    # The error to 2 significant digits, the mean (and what it is compared with) to its place.
    assert _with_error(4.0413, 0.5912) == ("4.04", "0.59", 2)
    assert _with_error(1587.3, 340.2) == ("1590", "340", -1)
    assert _with_error(-0.00012, 0.0031) == ("-0.0001", "0.0031", 4)
    # An error that rounds up to the next decade keeps 2 significant digits: 0.0996 → 0.10.
    assert _with_error(1.2345, 0.0996) == ("1.23", "0.10", 2)
    assert _with_error(1234.5, 99.7) == ("1230", "100", -1)
    assert _with_error(2.5, 0.0) == ("2.5", "0", None)  # identical batches: no place to round to
    assert _with_error(float("nan"), float("nan")) == ("nan", "nan", None)
    # Far from 1, the error's place would print hundreds of digits: significant digits instead.
    assert _with_error(0.5, 1e-300) == ("0.5", "1e-300", None)
    assert _with_error(1e300, 3e298) == ("1e+300", "3e+298", None)


def test_memory_refusals_name_the_flags_that_lower_them():
    # Before: a Lanczos basis over the limit blamed --top (at its default) and suggested
    # max_bytes, which the command line does not have; a dense Hessian over the limit gave
    # Python advice (curvature.eigenvalues(hvp(...))) through the catch-all "error: ...".
    from jaxtrain.cli._errors import CommandError
    from jaxtrain.cli._hessian import hessian_report

    def report(**kw):
        settings = dict(top=5, lanczos_steps=80, probes=2, grad_tol=1e-3, max_bytes=1_000_000)
        return hessian_report(lambda w: jnp.sum(w**2), jnp.zeros(1000), **{**settings, **kw})

    with pytest.raises(CommandError) as error:
        report(dense_max_params=10, lanczos_steps=900)
    message = str(error.value)
    assert "--lanczos-steps 900" in message and "max_bytes" not in message
    with pytest.raises(CommandError) as error:
        report(dense_max_params=5000)
    message = str(error.value)
    assert "--dense-max-params 5000" in message and "hvp(" not in message


def test_a_density_of_one_step_per_probe_cannot_contradict_the_extremes():
    # Before: --lanczos-steps 1 reported a minimum ratio of 1.0 (every eigenvalue positive)
    # beside 4 negative eigenvalues found by the same command.
    from jaxtrain.cli._hessian import hessian_report

    curvatures = jnp.linspace(-1.0, 2.0, 100)
    numbers, _ = hessian_report(
        lambda w: 0.5 * jnp.sum(curvatures * w**2),
        jnp.zeros(100),
        dense_max_params=10,
        top=5,
        lanczos_steps=1,
        probes=2,
        grad_tol=1e-3,
    )
    n, negative, positive = numbers["n_params"], numbers["num_negative"], numbers["num_positive"]
    assert negative == 5
    assert positive / n <= numbers["minimum_ratio"] <= 1 - negative / n


def test_a_failed_run_leaves_no_out_folder_and_a_file_is_not_called_missing(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["hessian", str(tmp_path / "missing"), "--out", str(out)]) == 1
    assert not out.exists()
    capsys.readouterr()
    notes = tmp_path / "data.npz"
    notes.write_bytes(b"")
    assert main(["hessian", str(notes)]) == 1
    err = capsys.readouterr().err
    assert "is a file, not a checkpoint directory" in err and "no such" not in err


def _linear_regression_run(tmp_path):
    """A checkpoint of a linear model (4 parameters) on 51 training examples of a line."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    path = tmp_path / "regression.npz"
    np.savez(path, x_train=x, y_train=x @ np.array([1.0, -2.0, 0.5], np.float32))
    ckpt = tmp_path / "run"
    argv = ["train", "--data", str(path), "--depth", "0", "--epochs", "1", "--batch-size", "16"]
    assert main([*argv, "--checkpoint-dir", str(ckpt)]) == 0
    return ckpt


def test_eigenvalues_that_are_round_off_on_every_batch_print_as_zero(tmp_path):
    # One example's Hessian of a linear model has rank 1: λ2..λ4 of each batch are 0, and
    # were printed "λ2 = 3.729e-07 ± 6.4e-08 (together: 2.357)", as if they meant something.
    ckpt = _linear_regression_run(tmp_path)
    capture = io.StringIO()
    with contextlib.redirect_stdout(capture):
        assert main(["hessian", str(ckpt), "--batches", "51", "--top", "4"]) == 0
    lines = [line.strip() for line in capture.getvalue().splitlines()]
    rows = {line.split()[0]: line for line in lines if line[:1] == "λ" and line[1:2].isdigit()}
    assert "round-off" not in rows["λ1"]
    for name in ("λ2", "λ3", "λ4"):
        assert "= 0 on every batch (|λ| ≤" in rows[name] and "e-0" not in rows[name]


def test_a_density_ratio_moved_only_by_rounding_is_not_called_outside(tmp_path, monkeypatch):
    # A float32 ratio of 0.99999988, kept to the 1.0 that 4 positive eigenvalues of 4 allow,
    # printed "1.000 (the density alone gave 1.000, outside the 4 positive ... found)".
    ckpt = _linear_regression_run(tmp_path)
    monkeypatch.setattr(curvature, "minimum_ratio_estimate", lambda *a, **k: 0.99999988)
    capture = io.StringIO()
    with contextlib.redirect_stdout(capture):
        assert main(["hessian", str(ckpt), "--dense-max-params", "1"]) == 0
    line = next(x for x in capture.getvalue().splitlines() if x.startswith("Minimum ratio"))
    assert line.endswith(": 1.000.") and "outside" not in line, line


def test_the_block_header_says_a_small_block_lists_fewer_than_the_top(tmp_path):
    # "λmin and the top 50" above a 12-parameter block that listed 6 (each route lists at most
    # half a block: Lanczos finds k at each end).
    ckpt = _linear_regression_run(tmp_path)
    capture = io.StringIO()
    with contextlib.redirect_stdout(capture):
        assert main(["hessian", str(ckpt), "--blocks", "leaf", "--top", "3"]) == 0
    header = next(x for x in capture.getvalue().splitlines() if x.startswith("Hessian of each"))
    assert header.endswith("λmin and the top 3 (at most half of a block's parameters)."), header
