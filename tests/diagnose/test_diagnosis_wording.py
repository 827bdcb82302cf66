"""The diagnosis report's wording: every sentence, cell and heading says what its numbers show.

Hand-made candidates, decisions and stall reports at the edges a real run reaches (one seed, a
diverged candidate, a value just above its threshold, counts of one); no training, except one
command-line call that stops on its argument check before any.
"""

import dataclasses
import math
import re

import jax
import jax.numpy as jnp
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from jaxtrain.cli import main
from jaxtrain.diagnose import (
    CandidateResult,
    Diagnosis,
    Thresholds,
    analyze_stall,
    decide,
    remedies,
)
from jaxtrain.diagnose._critical_point import curvature_check
from jaxtrain.diagnose._cross_validate import CrossValidation

matplotlib.use("Agg")
NAN = float("nan")


def diagnosis(candidates, primary, *, baseline=1.0, stall=None):
    decision = decide(candidates, primary=primary, baseline=baseline)
    return Diagnosis(
        verdict=decision.verdict,
        reasons=decision.reasons,
        remedies=tuple(remedies(decision.verdict, stall=stall)),
        candidates=tuple(candidates),
        primary=primary,
        baseline=baseline,
        task="classification",
        numbers=decision.numbers,
        stall=stall,
        thresholds=Thresholds(),
        budget={"steps": 200},
        seconds=1.0,
    )


def section(markdown, heading):
    """The text from the ``## heading`` line to the next ``## `` heading."""
    start = markdown.index(f"## {heading}")
    end = markdown.find("\n## ", start + 3)
    return markdown[start : None if end < 0 else end]


def row(markdown, name):
    """The cells of the table row of candidate ``name``."""
    (line,) = [line for line in markdown.splitlines() if re.match(rf"\| {re.escape(name)}\b", line)]
    return [cell.strip() for cell in line.strip("|").split("|")]


def comparison_markdown(primary_losses, simpler_losses):
    seeds = len(primary_losses)
    simpler = CandidateResult("shallow", 5, simpler_losses, simpler_losses, simpler_losses)
    deep = CandidateResult("deep", 50, primary_losses, [1.0] * seeds, [1.0] * seeds)
    return diagnosis([simpler, deep], "deep").to_markdown()


# --- The losses table ---------------------------------------------------------------------


def test_train_cell_just_above_the_large_threshold_is_not_printed_as_the_threshold():
    # L_train/B = 0.20004 > large_train_loss = 0.2 makes the verdict "large"; the train cell
    # must show a relative loss above 0.2 (jaxtrain._text.beside), not "0.2×B".
    primary = CandidateResult("mlp", 10, [0.20004], [0.3], [0.3])
    markdown = diagnosis([primary], "mlp").to_markdown()
    train = row(markdown, "mlp")[2]
    relative = float(re.search(r"\(([^×]+)×B\)", train).group(1))
    assert relative > Thresholds().large_train_loss, train


@pytest.mark.parametrize(
    "train_loss",
    [[NAN, NAN, NAN], [0.9, NAN, 0.9]],
    ids=["every-seed-diverged", "one-of-three-seeds-diverged"],
)
def test_losses_table_says_a_missing_mean_is_a_diverged_run(train_loss):
    # A diverged seed makes the candidate's mean NaN, printed as a bare "–"; the losses
    # section must say that the run (1 of 3 seeds, or every seed) diverged.
    shallow = CandidateResult("shallow", 5, [0.8] * 3, [0.8] * 3, [0.8] * 3)
    deep = CandidateResult("deep", 50, train_loss, train_loss, train_loss)
    markdown = diagnosis([shallow, deep], "deep").to_markdown()
    assert "diverged" in section(markdown, "Losses")


# --- The comparisons table ----------------------------------------------------------------


def test_delta_just_above_min_difference_is_not_printed_as_min_difference():
    # Δ = 0.05004 > min_difference = 0.05 makes "trains better: yes" (one seed); the Δ cell
    # must show a number above 0.05, not "0.05".
    markdown = comparison_markdown([0.95004], [0.9])
    cells = row(section(markdown, "Candidates compared"), "shallow")
    assert cells[-1] == "yes"
    assert float(cells[2]) > Thresholds().min_difference, cells


def test_delta_and_standard_error_cells_show_delta_beyond_noise_factor_se():
    # Δ = 0.1 and SE = 0.04996 give Δ > 2·SE, "yes"; the SE cell must not round to 0.05,
    # which shows Δ equal to 2·SE.
    markdown = comparison_markdown([1.14996, 1.05004], [1.0, 1.0])
    cells = row(section(markdown, "Candidates compared"), "shallow")
    assert cells[-1] == "yes"
    assert float(cells[2]) > Thresholds().noise_factor * float(cells[3]), cells


def test_a_diverged_candidate_is_not_blamed_on_the_primary():
    # Before: the shallow candidate diverged in one seed, and the note said "Δ is – where
    # deep diverged ... every candidate that trained counts as better" (its row: "no").
    markdown = comparison_markdown([0.9, 0.9], [NAN, 0.5])
    compared = section(markdown, "Candidates compared")
    assert "where deep diverged" not in compared
    assert "where the candidate diverged" in compared and row(compared, "shallow")[-1] == "no"


def test_comparison_with_one_seed_says_why_there_is_no_standard_error():
    # With one seed the SE cell is "–" and the header's "Δ > 2 standard errors" does not
    # apply; the section must say there is one seed.
    markdown = comparison_markdown([0.95], [0.5])
    compared = section(markdown, "Candidates compared")
    assert row(compared, "shallow")[3] == "–"
    assert re.search(r"\b(one|1) seed\b", compared), compared


def test_comparison_table_prints_no_nan_standard_error_for_a_diverged_primary():
    # The primary diverged on every seed: the SE of its differences is NaN and must not be
    # printed as "nan".
    markdown = comparison_markdown([NAN, NAN, NAN], [0.9, 0.9, 0.9])
    cells = row(section(markdown, "Candidates compared"), "shallow")
    assert "nan" not in cells[3].lower(), cells


def test_comparison_table_says_the_primary_diverged_where_delta_is_missing():
    # Δ is "–" yet "trains better" is "yes", against the header's "Δ > 0.05": the section
    # must say that the primary diverged.
    markdown = comparison_markdown([NAN, NAN, NAN], [0.9, 0.9, 0.9])
    compared = section(markdown, "Candidates compared")
    assert row(compared, "shallow")[-1] == "yes"
    assert "diverged" in compared, compared


# --- Gaps, stall and curvature sections ---------------------------------------------------


def test_gap_just_above_large_gap_is_not_printed_as_large_gap():
    # The val gap 0.10004 > large_gap = 0.1 decides "much larger"; the gaps line must show
    # it above 0.1, not "val 0.1".
    primary = CandidateResult("mlp", 10, [0.01], [0.02], [0.11004])
    markdown = diagnosis([primary], "mlp").to_markdown()
    (gaps,) = [line for line in markdown.splitlines() if line.startswith("Gaps")]
    value = float(re.search(r"\bval ([0-9.]*[0-9])", gaps).group(1))
    assert value > Thresholds().large_gap, gaps


def test_stall_heading_does_not_say_stalled_for_a_loss_still_falling():
    # The loss was still falling at the end (stalled False); no heading may say that
    # training stalled.
    stall = analyze_stall(
        np.linspace(2.0, 0.6, 200), initial_grad_norm=1.0, final_grad_norm=0.5, baseline=1.0
    )
    assert not stall.stalled
    primary = CandidateResult("mlp", 10, [0.6], [0.6], [0.6])
    markdown = diagnosis([primary], "mlp", stall=dataclasses.replace(stall, seed=0)).to_markdown()
    headings = [line for line in markdown.splitlines() if line.startswith("#")]
    assert not any("stalled" in heading for heading in headings), headings


def test_stall_section_names_the_one_seed_it_analyzed():
    # Three seeds were trained, the stall analysis read seed 0's run only; its section
    # must name seed 0 rather than speak for the model's training as a whole.
    plateau = np.concatenate([np.linspace(2.0, 0.6, 50), np.full(150, 0.6)])
    stall = analyze_stall(plateau, initial_grad_norm=1.0, final_grad_norm=0.5, baseline=1.0)
    stall = dataclasses.replace(stall, seed=0)
    primary = CandidateResult("mlp", 10, [0.6] * 3, [0.6] * 3, [0.6] * 3, seeds=[0, 1, 2])
    markdown = diagnosis([primary], "mlp", stall=stall).to_markdown()
    start = markdown.rindex("\n## ", 0, markdown.index(stall.summary))
    end = markdown.find("\n## ", start + 1)
    assert re.search(r"\bseed 0\b", markdown[start:end]), markdown[start:end]


def test_degenerate_curvature_summary_counts_one_zero_eigenvalue_in_the_singular():
    # Eigenvalues −1 and 0: "1 negative and 1 zero eigenvalue", not "1 zero eigenvalues".
    check = curvature_check(
        lambda w: -0.5 * w[0] ** 2, jnp.zeros(2), dense_max_params=10, key=jax.random.key(0)
    )
    assert (check.num_negative, check.num_zero) == (1, 1)
    assert "1 zero eigenvalues" not in check.summary, check.summary


def test_curvature_summary_counts_one_parameter_in_the_singular():
    # A one-parameter model: "1 parameter", not "1 parameters".
    check = curvature_check(
        lambda w: w[0] ** 2, jnp.ones(1), dense_max_params=10, key=jax.random.key(0)
    )
    assert check.n_params == 1
    assert "1 parameters" not in check.summary, check.summary


def test_lanczos_curvature_summary_does_not_count_negatives_over_all_parameters():
    # 20 of the 40 eigenvalues are negative; Lanczos computed the 5 lowest and 5 highest and
    # found 5 negative. The summary must say the 5 are among the 10 computed (or "at least
    # 5"), not "5 negative eigenvalues" of the 40-parameter Hessian.
    a = jnp.asarray(np.r_[-np.arange(1, 21), np.arange(1, 21)], dtype=jnp.float32)
    check = curvature_check(
        lambda w: 0.5 * jnp.sum(a * w**2),
        jnp.zeros(40),
        dense_max_params=10,
        key=jax.random.key(0),
    )
    assert (check.method, check.num_negative, check.eigenvalues_counted) == ("lanczos", 5, 10)
    assert re.search(r"at least 5|5 of (the )?10|of the 10", check.summary), check.summary


# --- Figures ------------------------------------------------------------------------------


def test_training_curves_legend_counts_one_parameter_in_the_singular():
    # A one-parameter candidate's legend entry: "1 param", not "1 params".
    steps = np.arange(1, 51)
    tiny = CandidateResult("tiny", 1, [0.9], [0.9], [0.9], seeds=[0], curves=[1.0 / steps])
    ax = diagnosis([tiny], "tiny").plot_curves()
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    plt.close(ax.figure)
    assert not any("1 params" in label for label in labels), labels


# --- Remedies -----------------------------------------------------------------------------


def test_remedies_for_a_diverged_run_do_not_say_the_gradient_stayed_large():
    # The loss became non-finite: the run diverged, it did not stop falling with a large
    # finite gradient and oscillate.
    losses = np.r_[np.linspace(2.0, 1.0, 50), np.full(10, np.inf)]
    stall = analyze_stall(losses, initial_grad_norm=1.0, final_grad_norm=math.inf, baseline=1.0)
    assert stall.diverged
    advice = remedies("optimization", stall=stall)
    assert not any("stayed large" in r or "oscillates" in r for r in advice), advice[0]


def test_remedies_for_a_converged_stall_do_not_say_the_learning_rate_is_too_large():
    # Seed 0's loss levelled off small ("converged as it should", says its summary) while the
    # mean over seeds is large; the remedies must not read that stall as an oscillating,
    # too-large learning rate.
    curve = np.r_[np.linspace(2.0, 0.1, 50), np.full(150, 0.1)]
    stall = analyze_stall(curve, initial_grad_norm=1.0, final_grad_norm=0.5, baseline=1.0)
    assert stall.converged and not stall.critical
    advice = remedies("model_bias", stall=stall)
    assert not any("stayed large" in r or "oscillates" in r for r in advice), advice[0]


# --- Cross-validation ---------------------------------------------------------------------


def test_cross_validation_table_prints_no_nan_or_inf_for_a_diverged_candidate():
    # A diverged fold makes a candidate's mean NaN (an overflowed loss inf); the table must say
    # what that means instead of printing "nan" or "inf".
    cv = CrossValidation(
        3, [], {"a": NAN, "b": math.inf, "c": 0.3}, {"a": NAN, "b": NAN, "c": 0.01}, "c"
    )
    markdown = cv.to_markdown()
    cells = [cell for name in "abc" for cell in row(markdown, name)[1:]]
    assert not any(re.search(r"\b(nan|inf)\b", cell, re.I) for cell in cells), cells


def test_cross_validation_choice_among_no_finite_losses_says_so():
    # Every candidate's mean is non-finite, so none has the lowest loss; the first line must
    # say that no candidate has a finite loss rather than name a plain "choice".
    cv = CrossValidation(3, [], {"a": NAN, "b": math.inf}, {"a": NAN, "b": NAN}, "a")
    first = cv.to_markdown().splitlines()[0]
    assert re.search(r"diverged|finite", first), first


def test_cross_validation_means_that_decided_the_choice_do_not_print_equal():
    # c (0.30001) was chosen over b (0.30004) for its lower mean; their cells must differ.
    cv = CrossValidation(3, [], {"b": 0.30004, "c": 0.30001}, {"b": 0.01, "c": 0.01}, "c")
    markdown = cv.to_markdown()
    assert row(markdown, "b")[1] != row(markdown, "c")[1], markdown


# --- Command line -------------------------------------------------------------------------


def test_explain_batch_size_error_counts_one_training_example_in_the_singular(tmp_path, capsys):
    # One training example: "the 1 training example", not "the 1 training examples".
    path = tmp_path / "one.npz"
    np.savez(path, x_train=np.zeros((1, 2), np.float32), y_train=np.array([0.5], np.float32))
    argv = ["explain", str(path), "--out", str(tmp_path / "out"), "--batch-size", "4"]
    assert main(argv) == 2  # a usage error
    err = capsys.readouterr().err
    assert "--batch-size 4" in err, err
    assert "1 training examples" not in err, err


# --- The causes of the analyzed run -------------------------------------------------------


def test_the_causes_name_the_seed_whose_run_they_describe_and_print_scores_beside_the_bar():
    # Three seeds were trained; the causes are those of seed 0's run, as the stall section's
    # heading says, and a score of 0.5004 (reported: ≥ ½) does not print as "0.50".
    from jaxtrain.diagnose import Cause

    plateau = np.concatenate([np.linspace(2.0, 0.6, 50), np.full(150, 0.6)])
    stall = analyze_stall(plateau, initial_grad_norm=1.0, final_grad_norm=0.5, baseline=1.0)
    primary = CandidateResult("mlp", 10, [0.6] * 3, [0.6] * 3, [0.6] * 3, seeds=[0, 1, 2])
    causes = (
        Cause("learning_rate_too_high", "§4", 0.9, {}, "Bounces.", "Lower η."),
        Cause("saddle_point", "§2", 0.5004, {}, "Stuck.", "Use momentum."),
    )
    report = dataclasses.replace(
        diagnosis([primary], "mlp", stall=dataclasses.replace(stall, seed=0)), causes=causes
    )
    markdown = report.to_markdown()
    (top,) = [line for line in markdown.splitlines() if line.startswith("Top cause")]
    assert re.search(r"\bseed 0\b", top), top
    assert re.search(r"## Other causes in the run of mlp, seed 0\b", markdown), markdown
    assert "score 0.5004" in markdown, markdown


def _three_seeds(train, heldout, val):
    return CandidateResult(
        "mlp", 10, [train] * 3, [heldout] * 3, [val] * 3,
        heldout_se=[1e-3] * 3, val_se=[1e-3] * 3, seeds=[0, 1, 2],
    )  # fmt: skip


def _stall_of(curve, grad):
    stall = analyze_stall(curve, initial_grad_norm=1.0, final_grad_norm=grad, baseline=1.0)
    return dataclasses.replace(stall, seed=0)


_LEVELLED_SMALL = np.r_[np.linspace(2.0, 0.1, 50), np.full(150, 0.1)]
_LEVELLED_LARGE = np.r_[np.linspace(2.0, 0.6, 50), np.full(150, 0.6)]


@pytest.mark.parametrize(
    ("primary", "curve", "verdict"),
    [
        # The evaluation-mode mean over seeds is large (model bias) while seed 0's mini-batch
        # curve levelled off small: "converged as it should" beside "model bias".
        (_three_seeds(0.6, 0.6, 0.6), _LEVELLED_SMALL, "model_bias"),
        # The other way round (dropout, or BatchNorm's batch statistics, raise the mini-batch
        # loss): "ok" beside "the learning rate is too large for the curvature".
        (_three_seeds(0.05, 0.06, 0.07), _LEVELLED_LARGE, "ok"),
    ],
)
def test_stall_and_verdict_name_their_measurements_and_flag_a_disagreement(primary, curve, verdict):
    # Before: the verdict read the full-batch evaluation-mode training loss, mean over seeds,
    # the stall section seed 0's smoothed mini-batch curve; the two contradicted each other
    # without a word about reading different numbers.
    d = diagnosis([primary], "mlp", stall=_stall_of(curve, 0.5))
    assert d.verdict == verdict
    markdown = d.to_markdown()
    assert "full batch, evaluation mode, mean over 3 seeds" in d.reasons[0], d.reasons[0]
    start = markdown.rindex("\n## ", 0, markdown.index(d.stall.summary))
    stall_section = markdown[start : markdown.find("\n## ", start + 1)]
    assert "smoothed mini-batch" in stall_section, stall_section
    assert "disagree" in stall_section, stall_section


def test_a_stall_reading_that_agrees_with_the_verdict_has_no_disagreement_note():
    d = diagnosis([_three_seeds(0.6, 0.6, 0.6)], "mlp", stall=_stall_of(_LEVELLED_LARGE, 0.5))
    assert "disagree" not in d.to_markdown()
