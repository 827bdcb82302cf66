"""Printed text states only what its own numbers show: counts, thresholds, non-finite values."""

import contextlib
import io
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrain import data
from jaxtrain.cli import main

P = jax.tree_util.Partial


def _quadratic(d, g, w):
    """0.5·Σ dᵢwᵢ² + g·w: at w = 0 the Hessian is diag(d) and the gradient g."""
    return 0.5 * jnp.sum(d * w**2) + jnp.dot(g, w)


def _regression(params, x, y):
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def _log_regression(params, x, y):
    # log of a negative input: NaN on a batch holding one, finite elsewhere.
    return jnp.mean(jnp.log(x[:, 0]) * (x @ params["w"] + params["b"] - y) ** 2)


_PARAMS = {"b": jnp.zeros(1), "w": jnp.ones(1)}


@pytest.fixture(scope="module")
def small_lanczos():
    """``(report, stages)``: 6 parameters by Lanczos with --top 1 and --probes 1, at a point
    whose gradient norm 0.0010004 lies just above grad_tol 0.001."""
    from jaxtrain.cli._hessian import hessian_report

    stages = []
    g = jnp.asarray([0.0010004, 0.0, 0.0, 0.0, 0.0, 0.0])
    report, _ = hessian_report(
        P(_quadratic, jnp.arange(1.0, 7.0), g),
        jnp.zeros(6),
        dense_max_params=1,
        top=1,
        lanczos_steps=6,
        probes=1,
        grad_tol=1e-3,
        stage=stages.append,
    )
    return report, stages


def test_lanczos_counts_of_one_are_singular(small_lanczos):
    # --top 1 --probes 1: "the lowest eigenvalue", "1 probe", never "1 lowest eigenvalues"
    # or "1 probes", in the explanation and in the stage line.
    report, stages = small_lanczos
    for text in (report["explanation"], stages[1]):
        assert not re.search(r"\b1 (lowest|highest) eigenvalues\b", text), text
        assert not re.search(r"\b1 probes\b", text), text


def test_lanczos_gradient_norm_prints_on_its_side_of_grad_tol(small_lanczos):
    # ‖g‖ = 0.0010004 is "above grad_tol 0.001": its printed value must be above 0.001 too,
    # not "0.001" (the project's _text.beside keeps the digits that show the side).
    report, _ = small_lanczos
    assert report["grad_norm"] > report["grad_tol"]
    printed = re.search(r"gradient norm (\S+) \(above grad_tol", report["explanation"])
    assert printed, report["explanation"]
    assert float(printed.group(1)) > 1e-3, printed.group(0)


def test_dense_gradient_norm_prints_on_its_side_of_grad_tol():
    # The dense report's "‖g‖ = X > grad_tol = 0.001" (from curvature's explanation) must
    # print an X that is above 0.001, not "0.001 > 0.001".
    from jaxtrain.cli._hessian import hessian_report

    g = jnp.asarray([0.0010004, 0.0, 0.0])
    report, _ = hessian_report(
        P(_quadratic, jnp.arange(1.0, 4.0), g),
        jnp.zeros(3),
        dense_max_params=10,
        top=1,
        lanczos_steps=3,
        probes=1,
        grad_tol=1e-3,
    )
    assert report["kind"] == "not_critical"
    printed = re.search(r"‖g‖ = (\S+) > grad_tol", report["explanation"])
    assert printed, report["explanation"]
    assert float(printed.group(1)) > 1e-3, printed.group(0)


def test_lanczos_lowest_eigenvalues_below_the_tolerance_print_as_negative():
    # λ = -4.5e-4 lies below -eig_tol (3.45e-4) and is counted in "2 of them below …":
    # the list beside that count must show it as negative, not round it to 0.
    from jaxtrain.cli._hessian import hessian_report

    d = jnp.asarray([-1.0, -4.5e-4, 0.2, 0.5, 0.8, 1.0])
    report, _ = hessian_report(
        P(_quadratic, d, jnp.zeros(6)),
        jnp.zeros(6),
        dense_max_params=1,
        top=3,
        lanczos_steps=6,
        probes=1,
        grad_tol=1e-3,
    )
    lowest = report["extreme_eigenvalues"][:3]
    assert sum(v < -report["eig_tol"] for v in lowest) == report["num_negative"] == 2
    listed = re.search(r"lowest eigenvalues \[([^\]]*)\]", report["explanation"]).group(1)
    assert sum(float(v) < 0 for v in listed.split(", ")) == 2, listed


def test_dense_stage_counts_parameters_with_separators():
    # The stage before says "(1,200 parameters)": the next one must not say "1200 × 1200".
    from jaxtrain.cli._hessian import hessian_report

    stages = []

    def stop_at_the_second(text):
        stages.append(text)
        if len(stages) == 2:
            raise KeyboardInterrupt  # the Hessian itself is not needed

    with pytest.raises(KeyboardInterrupt):
        hessian_report(
            P(_quadratic, jnp.ones(1200), jnp.zeros(1200)),
            jnp.zeros(1200),
            dense_max_params=5000,
            top=1,
            lanczos_steps=4,
            probes=1,
            grad_tol=1e-3,
            stage=stop_at_the_second,
        )
    assert "1,200 parameters" in stages[0]
    assert "1,200 × 1,200" in stages[1], stages[1]


def test_lanczos_explanation_counts_parameters_with_separators():
    # The stage line says "(1,200 parameters)" and the block table prints 1,200: the
    # explanation's "Lanczos on N parameters" must write it the same way.
    from jaxtrain.cli._hessian import hessian_report

    report, _ = hessian_report(
        P(_quadratic, jnp.ones(1200), jnp.zeros(1200)),
        jnp.zeros(1200),
        dense_max_params=1,
        top=1,
        lanczos_steps=4,
        probes=1,
        grad_tol=1e-3,
    )
    (line,) = [line for line in report["explanation"].splitlines() if "Lanczos on" in line]
    assert "1,200 parameters" in line, line


def test_batches_of_one_example_are_singular():
    # Two examples in two batches: "batches of 1 example", not "1 examples".
    from jaxtrain.cli._hessian import batch_report

    x, y = jnp.asarray([[1.0], [2.0]]), jnp.asarray([0.0, 1.0])
    _, lines = batch_report(P(_regression), _PARAMS, x, y, num_batches=2, top=1, dense=True)
    assert not re.search(r"\b1 examples\b", lines[0]), lines[0]


def test_batch_header_counts_examples_with_separators():
    # The report's other counts (stage line, block table) print 1,200; the batch header must
    # not print "batches of 1200 examples … on all 2400 together".
    from jaxtrain.cli._hessian import batch_report

    x = jnp.asarray(np.random.default_rng(0).standard_normal((2400, 1)), jnp.float32)
    _, lines = batch_report(
        P(_regression), _PARAMS, x, jnp.zeros(2400), num_batches=2, top=1, dense=True
    )
    assert "1,200" in lines[0] and "2,400" in lines[0], lines[0]


def test_a_batch_with_a_non_finite_eigenvalue_is_not_printed_as_plus_minus_nan():
    # Batch 2's loss is NaN (batch 1's λ1 is 3.47): the line must say so, not "nan ± nan".
    from jaxtrain.cli._hessian import batch_report

    x, y = jnp.asarray([[1.0], [2.0], [-1.0], [3.0]]), jnp.zeros(4)
    numbers, lines = batch_report(
        P(_log_regression), _PARAMS, x, y, num_batches=2, top=1, dense=True
    )
    assert np.isfinite(numbers["per_batch"][0][0]) and np.isnan(numbers["per_batch"][1][0])
    (line,) = [line for line in lines if line.startswith("  λ1")]
    assert "± nan" not in line, line


@pytest.fixture(scope="module")
def one_step_run(tmp_path_factory):
    """``(checkpoint, stdout)`` of `jaxtrain train` on 48 training examples in one batch of 48
    for one epoch: one step."""
    folder = tmp_path_factory.mktemp("wording")
    x, y = data.make_blobs(60, centers=2, seed=0)
    np.savez(folder / "blobs.npz", x_train=x, y_train=y)
    argv = ["train", "--data", str(folder / "blobs.npz"), "--depth", "0", "--epochs", "1"]
    capture = io.StringIO()
    with contextlib.redirect_stdout(capture):
        assert main([*argv, "--batch-size", "48", "--checkpoint-dir", str(folder / "run")]) == 0
    return folder / "run", capture.getvalue()


def test_train_header_says_one_step_in_the_singular(one_step_run):
    # One epoch of one batch: "1 step", not "1 steps".
    _, out = one_step_run
    header = out.splitlines()[0]
    assert ", 1 step" in header and not re.search(r"\b1 steps\b", header), header


def test_hessian_header_says_one_example_in_the_singular(one_step_run, capsys):
    # --max-examples 1: "loss on 1 train example", not "1 train examples".
    assert main(["hessian", str(one_step_run[0]), "--max-examples", "1"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "loss on 1 train example" in header and "1 train examples" not in header, header


def test_more_batches_than_one_example_is_refused_in_the_singular(one_step_run, capsys):
    # --batches 2 on one example: "the 1 example", not "the 1 examples".
    argv = ["hessian", str(one_step_run[0]), "--batches", "2", "--max-examples", "1"]
    assert main(argv) == 2  # a value the data cannot take: a usage error
    err = capsys.readouterr().err
    assert "more batches than" in err and not re.search(r"\b1 examples\b", err), err


def _page(numbers, figures=1):
    from jaxtrain.cli._report import Figure, Report, to_jsonable

    report = Report("wording")
    section = report.section("s", "Section", "summary")
    for i in range(figures):
        section.figures.append(Figure(f"f{i}", "caption", b"", 10, 10, to_jsonable(numbers)))
    return report.to_html()


def test_report_section_of_one_figure_says_figure():
    # A section holding one figure: "1 figure", not "1 figures".
    meta = re.search(r'<p class="meta">(\d+ figures?), ', _page({"x": 1.0})).group(1)
    assert meta == "1 figure", meta


def test_report_does_not_show_a_non_finite_number_as_none():
    # A NaN in a claim's numbers is stored as null in report.json; the HTML must not show it
    # as Python's "None", which says nothing about what the number was.
    page = _page({"loss": float("nan"), "losses": [1.0, float("inf")]})
    numbers = re.findall(r"<dd>(.*?)</dd>", page)
    assert len(numbers) == 2
    assert all("None" not in shown for shown in numbers), numbers


def test_hessian_json_of_a_diverged_checkpoint_is_strict_json():
    # A NaN loss (a diverged run's checkpoint) made `jaxtrain hessian --json` print a bare NaN,
    # which strict JSON readers refuse; NaN is null and ±inf "Infinity", as in every JSON.
    import json

    from jaxtrain.cli._hessian import _json_text

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    text = _json_text({"loss": float("nan"), "extreme_eigenvalues": [np.inf, 1.0]})
    assert json.loads(text, parse_constant=refuse) == {
        "loss": None,
        "extreme_eigenvalues": ["Infinity", 1.0],
    }
