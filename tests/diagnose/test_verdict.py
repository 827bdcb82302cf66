"""The flowchart as a pure function: every branch from hand-made numbers."""

import json
import math
import re

import numpy as np
import pytest

from jaxtrain.diagnose import CandidateResult, Thresholds, compare_candidates, decide


def result(name, train, heldout=None, val=None, test=None, n_params=100, se=1e-4):
    """A candidate's losses per seed, each mean measured to a standard error ``se`` (a
    mismatch needs the gap difference beyond a measured noise)."""
    train = list(train)
    heldout = list(heldout) if heldout is not None else [t + 0.01 for t in train]
    val = list(val) if val is not None else [t + 0.01 for t in train]
    known = [se] * len(train)
    return CandidateResult(
        name,
        n_params,
        train,
        heldout,
        val,
        test_loss=test or (),
        heldout_se=known,
        val_se=known,
        test_se=known if test else (),
    )


def test_simpler_candidate_training_better_is_optimization():
    shallow = result("shallow", [0.10, 0.12, 0.11])
    deep = result("deep", [0.95, 0.97, 0.93])
    decision = decide([shallow, deep], baseline=1.0)
    assert decision.verdict == "optimization"
    (cmp,) = decision.numbers["comparisons"]
    assert cmp["candidate"] == "shallow" and cmp["role"] == "simpler" and cmp["better"]
    np.testing.assert_allclose(cmp["difference"], np.mean([0.85, 0.85, 0.82]), rtol=1e-12)
    assert "optimizer failed" in decision.reasons[-1]


def test_a_difference_within_seed_noise_is_not_optimization():
    # Mean difference 0.3 but one seed reverses it: the standard error is too large.
    shallow = result("shallow", [0.2, 0.9, 0.3])
    deep = result("deep", [0.9, 0.5, 0.9])
    decision = decide([shallow, deep], baseline=1.0)
    cmp = decision.numbers["comparisons"][0]
    d = np.array([0.7, -0.4, 0.6])
    np.testing.assert_allclose(cmp["standard_error"], d.std(ddof=1) / math.sqrt(3), rtol=1e-12)
    assert not cmp["better"]
    assert decision.verdict == "model_bias"


def test_a_tiny_difference_is_not_optimization_even_without_noise():
    shallow = result("shallow", [0.50, 0.50])
    deep = result("deep", [0.52, 0.52])
    assert decide([shallow, deep], baseline=1.0).verdict == "model_bias"
    loose = Thresholds(min_difference=0.01)
    assert decide([shallow, deep], baseline=1.0, thresholds=loose).verdict == "optimization"


def test_more_flexible_candidate_training_better_is_model_bias():
    linear = result("linear", [0.9, 0.92, 0.91])
    mlp = result("mlp", [0.05, 0.04, 0.06])
    decision = decide([linear, mlp], primary="linear", baseline=1.0)
    assert decision.verdict == "model_bias"
    assert decision.numbers["comparisons"][0]["role"] == "more_flexible"
    assert "more flexible candidate 'mlp'" in decision.reasons[-1]


def test_no_candidate_better_is_model_bias_with_the_reason():
    small = result("small", [0.9, 0.9])
    big = result("big", [0.88, 0.89])
    decision = decide([small, big], baseline=1.0)
    assert decision.verdict == "model_bias"
    assert "No simpler candidate trains better" in decision.reasons[-1]
    alone = decide([big], baseline=1.0)
    assert alone.verdict == "model_bias"
    assert "Only one candidate" in alone.reasons[-1]
    first = decide([small, big], primary=0, baseline=1.0)
    assert "No candidate gets the training loss down" in first.reasons[-1]


def test_optimization_wins_over_model_bias_when_both_hold():
    shallow = result("shallow", [0.3, 0.3])
    deep = result("deep", [0.9, 0.9])
    wide = result("wide", [0.1, 0.1])
    assert decide([shallow, deep, wide], primary="deep", baseline=1.0).verdict == "optimization"


def test_small_train_small_gaps_is_ok():
    decision = decide([result("m", [0.02, 0.03], [0.05, 0.06], [0.06, 0.07])], baseline=2.0)
    assert decision.verdict == "ok"
    assert decision.numbers["train_large"] is False
    np.testing.assert_allclose(decision.numbers["gaps"]["val"], (0.065 - 0.025) / 2.0)


def test_bad_heldout_and_bad_val_is_overfitting():
    m = result("m", [0.01, 0.01], heldout=[0.8, 0.9], val=[0.9, 1.0])
    decision = decide([m], baseline=1.0)
    assert decision.verdict == "overfitting"
    assert "held-out split of the training distribution is bad" in decision.reasons[-1]


def test_good_heldout_and_bad_val_is_mismatch():
    m = result("m", [0.01, 0.02], heldout=[0.04, 0.05], val=[1.5, 1.7])
    decision = decide([m], baseline=1.0)
    assert decision.verdict == "mismatch"
    assert decision.numbers["worst_external"] == "val"
    assert decision.numbers["gap_ratio"] > 2


def test_mismatch_needs_the_validation_gap_much_larger_than_the_heldout_gap():
    # Held-out gap 0.09 (just "small"), validation gap 0.15: not twice as large.
    m = result("m", [0.01], heldout=[0.10], val=[0.16])
    assert decide([m], baseline=1.0).verdict == "overfitting"
    assert decide([m], baseline=1.0, thresholds=Thresholds(mismatch_factor=1.5)).verdict == (
        "mismatch"
    )


def test_overfitting_notes_an_additional_mismatch():
    m = result("m", [0.01], heldout=[0.5], val=[3.0])
    decision = decide([m], baseline=1.0)
    assert decision.verdict == "overfitting"
    assert "mismatch may add" in decision.reasons[-1]


def test_the_worse_of_val_and_test_decides():
    m = result("m", [0.01, 0.01], heldout=[0.02, 0.02], val=[0.03, 0.03], test=[2.0, 2.0])
    decision = decide([m], baseline=1.0)
    assert decision.verdict == "mismatch"
    assert decision.numbers["worst_external"] == "test"


def test_ok_with_a_noisy_heldout_split_says_so():
    m = result("m", [0.01], heldout=[0.5], val=[0.05])
    decision = decide([m], baseline=1.0)
    assert decision.verdict == "ok"
    assert "held-out split is small" in decision.reasons[-1]


def test_a_diverged_primary_is_large_and_worse_than_a_finite_one():
    shallow = result("shallow", [0.5, 0.5])
    deep = result("deep", [float("nan"), 0.6], heldout=[1, 1], val=[1, 1])
    decision = decide([shallow, deep], baseline=1.0)
    assert decision.numbers["train_large"]
    assert decision.verdict == "optimization"


def test_a_primary_that_diverged_where_nothing_trained_lower_is_no_model_bias():
    # Before: every candidate diverged, and the verdict was model bias, "the model family is
    # too restricted", which no finite number supported. A diverged run is the optimizer's
    # failure (a step too large for the curvature), whatever the model can represent.
    nan = float("nan")
    alone = decide([result("m", [nan, 0.9], heldout=[1, 1], val=[1, 1])], baseline=1.0)
    both = decide(
        [result("a", [nan, nan], heldout=[1, 1], val=[1, 1]), result("b", [nan, 0.5])],
        primary="b",
        baseline=1.0,
    )
    for decision in (alone, both):
        assert decision.verdict == "optimization"
        assert "diverged" in decision.reasons[-1] and "too restricted" not in decision.reasons[-1]


def test_primary_by_index_or_name_and_losses_relative_to_the_baseline():
    a = result("a", [0.2])
    b = result("b", [4.0])
    by_name = decide([a, b], primary="a", baseline=4.0)
    by_index = decide([a, b], primary=0, baseline=4.0)
    assert by_name == by_index
    assert by_name.numbers["relative_losses"]["b"]["train"] == pytest.approx(1.0)
    assert by_name.numbers["train_relative"] == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"candidates": []}, "empty"),
        ({"baseline": 0.0}, "positive"),
        ({"primary": "zzz"}, "not a candidate name"),
        ({"primary": 5}, "out of range"),
    ],
)
def test_bad_inputs_raise(kwargs, match):
    args = {"candidates": [result("a", [0.1])], "baseline": 1.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        decide(args.pop("candidates"), **args)


def test_candidates_over_different_seed_counts_raise():
    with pytest.raises(ValueError, match="same seeds"):
        decide([result("a", [0.1]), result("b", [0.1, 0.2])], baseline=1.0)


def test_no_validation_loss_raises():
    m = CandidateResult("m", 1, [0.01], [0.02], [])
    with pytest.raises(ValueError, match="no validation loss"):
        decide([m], baseline=1.0)


def test_compare_candidates_single_seed_and_errors():
    one = compare_candidates([0.9], [0.1], baseline=2.0)
    assert (
        one["standard_error"] is None and one["worse"] and one["difference"] == pytest.approx(0.4)
    )
    assert not compare_candidates([0.1], [0.9], baseline=2.0)["worse"]
    with pytest.raises(ValueError, match="same, non-zero number of seeds"):
        compare_candidates([0.1, 0.2], [0.1], baseline=1.0)
    with pytest.raises(ValueError, match="baseline"):
        compare_candidates([0.1], [0.1], baseline=-1.0)


def test_a_small_heldout_split_cannot_vouch_for_mismatch():
    # Held-out gap 0.05, validation gap 0.3: mismatch by the gaps alone, but the held-out
    # split is tiny (standard error 0.2) so the difference is within the noise.
    noisy = CandidateResult(
        "m", 1, [0.0, 0.0], [0.05, 0.05], [0.3, 0.3], heldout_se=[0.3, 0.3], val_se=[0.02, 0.02]
    )
    decision = decide([noisy], baseline=1.0)
    assert decision.verdict == "overfitting"
    assert "too small to vouch" in decision.reasons[-1]
    np.testing.assert_allclose(
        decision.numbers["gap_noise"], math.hypot(math.hypot(0.3, 0.3) / 2, 0.02)
    )
    assert decision.numbers["gap_beyond_noise"] is False
    precise = CandidateResult(
        "m", 1, [0.0, 0.0], [0.05, 0.05], [0.3, 0.3], heldout_se=[0.02, 0.02], val_se=[0.02, 0.02]
    )
    assert decide([precise], baseline=1.0).verdict == "mismatch"
    # The noise is in units of the baseline.
    assert decide([precise], baseline=0.1).numbers["gap_noise"] == pytest.approx(
        10 * math.hypot(0.02 / math.sqrt(2), 0.02)
    )


def test_an_unknown_heldout_noise_cannot_vouch_for_mismatch_either():
    # Before: a NaN standard error (one held-out example per seed, or a loss without
    # per-example values) counted as "beyond the noise", and the verdict said mismatch.
    nan = float("nan")
    unknown = CandidateResult(
        "m", 1, [0.01, 0.01], [0.05, 0.05], [0.5, 0.5], heldout_se=[nan, nan], val_se=[0.01] * 2
    )
    decision = decide([unknown], baseline=1.0)
    assert decision.verdict == "overfitting"
    assert decision.numbers["gap_noise"] is None and decision.numbers["gap_beyond_noise"] is False
    assert "sampling noise is unknown" in decision.reasons[-1]


def test_standard_errors_pool_over_heldout_splits_but_not_over_a_fixed_val_set():
    r = CandidateResult(
        "m", 1, [0.1] * 4, [0.2] * 4, [0.3] * 4, heldout_se=[0.2] * 4, val_se=[0.1, 0.3, 0.1, 0.3]
    )
    assert r.standard_error("heldout") == pytest.approx(0.1)
    assert r.standard_error("val") == pytest.approx(0.2)
    assert math.isnan(r.standard_error("test"))


def test_a_diverged_primary_with_two_better_candidates_is_an_optimization_issue():
    # A diverged primary has no finite Δ to any candidate (None); ranking two better ones
    # compared None with None and raised TypeError before Δ = None ranked as the largest.
    # And it was then judged model bias, "'small' is too simple for the data", which a run
    # that diverged cannot show: its step was too large for the curvature.
    nan = math.nan
    primary = CandidateResult("small", 10, [nan, nan], [nan, nan], [nan, nan])
    wide = CandidateResult("wide", 50, [0.1, 0.1], [0.1, 0.1], [0.1, 0.1])
    wider = CandidateResult("wider", 90, [0.05, 0.05], [0.1, 0.1], [0.1, 0.1])
    decision = decide([primary, wide, wider], primary=0, baseline=1.0)
    assert decision.verdict == "optimization"
    reason = decision.reasons[-1]
    assert "diverged" in reason and "too simple" not in reason


# Every reason reads right from its own numbers (a reviewer's findings, each a test first).


def test_one_seed_gives_no_error_bar_and_counts_one_seed():
    shallow = result("shallow", [0.10])
    deep = result("deep", [0.95])
    reason = decide([shallow, deep], baseline=1.0).reasons[-1]
    assert "n/a" not in reason and "1 seeds" not in reason
    assert "one seed" in reason
    three = decide([result("s", [0.1, 0.12, 0.11]), result("d", [0.95, 0.97, 0.93])], baseline=1.0)
    assert re.search(r"± \d\.\d+(e-\d+)? over 3 seeds", three.reasons[-1])


def test_a_diverged_primary_is_said_to_have_diverged_not_n_a():
    shallow = result("shallow", [0.5, 0.5])
    deep = result("deep", [math.inf, math.inf], heldout=[1, 1], val=[1, 1])
    decision = decide([shallow, deep], baseline=1.0)
    assert decision.verdict == "optimization"
    text = " ".join(decision.reasons)
    assert "n/a" not in text
    assert "not finite" in decision.reasons[0]
    assert "diverged" in decision.reasons[-1]
    flexible = decide([deep, shallow], primary=0, baseline=1.0)
    assert "n/a" not in " ".join(flexible.reasons)


def test_a_value_next_to_its_threshold_shows_the_digits_that_decide():
    m = result("mlp", [0.2004], heldout=[0.21], val=[0.21])
    decision = decide([m], baseline=1.0)
    assert decision.numbers["train_large"]
    assert "0.2004 × the baseline (threshold 0.2)" in decision.reasons[0]


def test_a_heldout_gap_within_its_threshold_is_not_called_bad():
    # Held-out gap 0.08 ≤ large_gap 0.1; validation gap 0.15 > 0.1 but not 2 × 0.08.
    m = result("mlp", [0.05], heldout=[0.13], val=[0.20])
    decision = decide([m], baseline=1.0)
    assert decision.verdict == "overfitting"
    text = " ".join(decision.reasons)
    assert "bad as well" not in text
    assert "0.08" in decision.reasons[-1] and "threshold 0.1" in decision.reasons[-1]
    bad = decide([result("mlp", [0.05], heldout=[0.30], val=[0.35])], baseline=1.0)
    assert "bad as well" in bad.reasons[-1]


def test_a_lower_loss_within_seed_noise_is_not_said_to_be_absent():
    small = result("small", [0.9, 0.9, 0.9])
    big = result("big", [0.4, 0.95, 0.5])  # lower by 0.25 on average, but noisy
    decision = decide([small, big], primary=0, baseline=1.0)
    assert decision.verdict == "model_bias"
    assert not decision.numbers["comparisons"][0]["better"]
    reason = decision.reasons[-1]
    assert "No candidate gets the training loss down" not in reason
    assert "'big'" in reason and "seed noise" in reason
    middle = decide([result("tiny", [0.9] * 3), small, big], primary=1, baseline=1.0)
    assert "no candidate gets the training loss down" not in middle.reasons[-1]
    assert "'big'" in middle.reasons[-1]


def test_differences_and_gaps_are_printed_beside_the_threshold_that_decided():
    # Δ = 0.05004 > min_difference 0.05 counts (one seed): not "worse by 0.05 × the baseline".
    optimization = decide([result("s", [0.9]), result("d", [0.95004])], baseline=1.0)
    assert optimization.verdict == "optimization"
    assert "worse by 0.05004 ×" in optimization.reasons[-1], optimization.reasons[-1]
    # Validation gap 0.16004 > 2 × held-out gap 0.08: not "the val gap is 0.16 (more than 2×".
    mismatch = decide([result("m", [0.01], heldout=[0.09], val=[0.17004])], baseline=1.0)
    assert mismatch.verdict == "mismatch"
    assert "val gap is 0.16004 (more than 2×" in mismatch.reasons[-1], mismatch.reasons[-1]


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_a_validation_loss_that_is_not_finite_is_an_infinite_gap_not_a_missing_one(bad):
    # The loss overflowed on the validation data (the mismatch case itself): dropped as if
    # unmeasured, the test split alone decided "ok", or "no validation loss" was claimed.
    with_test = result("m", [0.01, 0.01], heldout=[0.02, 0.02], val=[bad, bad], test=[0.03, 0.03])
    decision = decide([with_test], baseline=1.0)
    assert decision.verdict == "mismatch"
    assert decision.numbers["worst_external"] == "val"
    alone = result("m", [0.01, 0.01], heldout=[0.5, 0.6], val=[bad, bad])
    assert decide([alone], baseline=1.0).verdict == "overfitting"
    no_heldout = result("m", [0.01, 0.01], heldout=[bad, bad], val=[0.02, 0.02])
    assert decide([no_heldout], baseline=1.0).verdict == "ok"  # the bad held-out is noted


def test_a_seed_that_diverged_gives_no_standard_error_rather_than_nan():
    c = compare_candidates([math.inf, 0.9], [0.1, 0.12], baseline=1.0)
    assert c["standard_error"] is None and c["worse"]


def test_a_heldout_loss_below_the_training_loss_gives_no_gap_ratio():
    # A negative held-out gap: external / max(gap, 1e-12) recorded 5e11.
    m = result("m", [0.05, 0.05], heldout=[0.04, 0.04], val=[1.5, 1.7])
    decision = decide([m], baseline=1.0)
    assert decision.verdict == "mismatch" and decision.numbers["gap_ratio"] is None


def test_seeds_that_share_a_heldout_fold_pool_as_one_fold():
    # Before: 4 seeds on 2 folds (more seeds than folds) pooled as 4 independent held-out
    # sets, √(4·0.2²)/4 = 0.1, though only 2 sets of examples were ever held out. Seeds on
    # one fold share its examples, as seeds share the validation set: per fold, the mean of
    # their losses and of their SEs; then over the distinct folds, √(Σ SE_f²)/F.
    r = CandidateResult(
        "m",
        1,
        [0.1] * 4,
        [0.2, 0.4, 0.2, 0.4],
        [0.3] * 4,
        heldout_se=[0.2] * 4,
        heldout_folds=[0, 1, 0, 1],
    )
    assert r.standard_error("heldout") == pytest.approx(math.sqrt(2 * 0.2**2) / 2)
    # The mean weighs every fold once (fold 0 twice over would weigh its examples double).
    uneven = CandidateResult("m", 1, [0.1] * 3, [0.2, 0.4, 0.2], [0.3] * 3, heldout_folds=[0, 1, 0])
    assert uneven.mean("heldout") == pytest.approx(0.3)
    assert json.loads(json.dumps(uneven.to_dict()))["heldout_folds"] == [0, 1, 0]
    # Without folds given, each seed held out its own.
    assert CandidateResult("m", 1, [0.1] * 3, [0.2, 0.4, 0.2], [0.3] * 3).mean(
        "heldout"
    ) == pytest.approx(0.8 / 3)
    with pytest.raises(ValueError, match="heldout_folds"):
        CandidateResult("m", 1, [0.1] * 2, [0.2] * 2, [0.3] * 2, heldout_folds=[0])


NAN = float("nan")


def headline(candidates, primary=-1):
    """The report's headline for the verdict ``decide`` reaches on ``candidates``."""
    from jaxtrain.diagnose import HEADLINES

    return HEADLINES[decide(candidates, primary=primary, baseline=1.0).verdict]


@pytest.mark.parametrize(
    ("candidates", "verdict", "not_claimed"),
    [
        # Nothing trained lower: the primary diverged alone. The headline said "a simpler
        # model trains better" where the reason said "no candidate trains lower".
        ([result("deep", [NAN, NAN])], "optimization", "simpler model trains better"),
        # One candidate: the reason says an optimization issue cannot be ruled out; the
        # headline said "no setting of its parameters fits the training data".
        ([result("deep", [0.9, 0.9])], "model_bias", "no setting of its parameters"),
        # The held-out split of the training distribution is fine (gap 0.01) and the
        # validation gap is within its noise: the headline said "new data from the same
        # distribution get a large loss", which the 0.01 gap contradicts.
        (
            [
                CandidateResult(
                    "mlp",
                    100,
                    [0.01, 0.01],
                    [0.02, 0.02],
                    [0.30, 0.30],
                    heldout_se=[0.2, 0.2],
                    val_se=[0.2, 0.2],
                )
            ],
            "overfitting",
            "same distribution",
        ),
    ],
)
def test_the_headline_claims_only_what_every_branch_of_its_verdict_shows(
    candidates, verdict, not_claimed
):
    assert decide(candidates, baseline=1.0).verdict == verdict
    assert not_claimed not in headline(candidates)


def test_candidates_out_of_capacity_order_are_refused():
    # Given [big, small], "small" was taken as the more flexible model, and the big model's
    # lower loss read as "the simpler candidate 'big' trains better": an optimization issue.
    big = result("big", [0.10, 0.11], n_params=10_000)
    small = result("small", [0.90, 0.92], n_params=100)
    with pytest.raises(ValueError, match=r"'small' \(100 parameters\) after 'big' \(10,000"):
        decide([big, small], baseline=1.0)
    assert decide([small, big], primary="small", baseline=1.0).verdict == "model_bias"


def test_an_unknown_noise_names_the_split_it_is_unknown_for():
    # The held-out noise is known (0.01 a seed); only the one-example validation set has none.
    fine = CandidateResult(
        "mlp",
        100,
        [0.01, 0.01],
        [0.02, 0.02],
        [0.9, 0.9],
        heldout_se=[0.01, 0.01],
        val_se=[NAN, NAN],
    )
    decision = decide([fine], baseline=1.0)
    assert decision.verdict == "overfitting"
    text = decision.reasons[-1]
    assert "held-out loss of one example" not in text
    assert "val loss" in text and "unknown" in text


def test_a_validation_gap_at_the_threshold_is_ok():
    # "G_v ≤ large_gap: ok": a gap of exactly the default 0.1 of the baseline is no
    # overfitting (mutation audit, 2026-12-07: "<" passed every flowchart test).
    candidate = CandidateResult("mlp", 10, [0.0], [0.0], [0.1])
    assert Thresholds().large_gap == 0.1
    assert decide([candidate], baseline=1.0).verdict == "ok"
