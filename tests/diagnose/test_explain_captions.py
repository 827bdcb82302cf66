"""explain_run, its causes and their captions: numbers, edge cases, wording.

Captions must say what the numbers say: a re-run's loss is called "lower" only when it is,
percentages print in fixed point, counts agree with their noun, and a run that failed is never
titled healthy. The numeric evidence must match an independent computation, and bad arguments
are refused before any training. Runs are tiny (64 examples of two features, a 2-4-K MLP, at
most 20 steps).
"""

import itertools
import json
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.flatten_util import ravel_pytree

from jaxtrain import losses, nn, optim
from jaxtrain.diagnose import (
    CauseThresholds,
    RunEvidence,
    RunExplanation,
    analyze_stall,
    explain_run,
    feature_spread,
    rank_causes,
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 2)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int32)


def mlp(outputs=2):
    return nn.MLP(2, 4, outputs, depth=1, rngs=nnx.Rngs(0))


def cause(evidence, name):
    return next(c for c in rank_causes(evidence) if c.name == name)


def strict_loads(text):
    def refuse(constant):
        raise ValueError(f"not RFC 8259 JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


# An oscillating run (large gradient, loss rose, sharpness past the threshold) whose lower-η
# probe gives `probe_gain`.
UNSTABLE = dict(loss_ratio=0.9, grad_ratio=0.5, loss_rise=1.0, sharpness_ratio=2.0)
UNSTABLE.update(sharpness_ratio_max=3.0, lambda_eta_over_2=2.0, threshold_rule="2/η")
UNSTABLE.update(probe_factor=0.1, probe_steps=100.0)
# A stuck run at a saddle (as in rank_causes' doctest).
STUCK = dict(loss_ratio=1.0, late_drop=0.0, grad_ratio=1e-5, lambda_min=-2.0, lambda_max=2.0)
STUCK.update(eig_tol=1e-3, escape_change=-0.1, escape_step=0.3, escape_along="eigenvector")


@pytest.mark.parametrize(
    ("changes", "wording"),
    [
        (
            {"probe_gain": 0.5},
            "the loss over their last tenth was 2 × higher",
        ),  # the probe ended 2× higher
        ({"probe_gain": 0.0}, "the re-run diverged:"),  # the probe diverged, the run did not
        (
            {"probe_gain": 1.0},
            "the loss over their last tenth was the same",
        ),  # the probe ended where the run did
        # Both diverged: the gain is 1.
        ({"probe_gain": 1.0, "diverged": True, "diverged_at": 3.0}, "the re-run diverged too"),
    ],
)
def test_probe_caption_never_calls_a_higher_or_equal_loss_lower(changes, wording):
    # The lower-η re-run's gain is the run's loss over the re-run's. The caption says
    # "× lower" only for a gain above 1; a re-run that ended higher, the same, or diverged
    # (alone or like the run) is worded as such, since calling it "0.5 × lower" or
    # "1 × lower" would read as evidence that η is too large.
    text = cause(RunEvidence(**{**UNSTABLE, **changes}), "learning_rate_too_high").explanation
    assert "× lower" not in text, text
    assert wording in text, text


def test_percentages_are_not_written_in_scientific_notation():
    # Percentages print in fixed point: whole percents from 10% up ("100%", "150%") and two
    # significant digits below, never %g's scientific form ("1e+02%", "1.5e+02%").
    text = cause(RunEvidence(**UNSTABLE, probe_gain=3.0), "learning_rate_too_high").explanation
    assert "rose up to 100% above its best" in text, text


def test_a_diverged_run_with_no_reported_cause_is_not_titled_healthy():
    # A run that diverged (here at step 0, e.g. a NaN loss, where the probe diverges too) or
    # ended at or above the failed-loss threshold is not healthy, even when no cause reaches
    # the report score: its title says "no cause found" so it agrees with the headline.
    e = RunEvidence(diverged=True, diverged_at=0.0, final_loss=math.inf, loss_ratio=math.inf)
    r = RunExplanation(rank_causes(e.replace(probe_gain=1.0, probe_factor=0.01)), e)
    assert r.reported == () and "diverged" in r.headline
    assert not r.healthy
    title = r.to_markdown().splitlines()[0]
    assert "healthy" not in title.lower()
    assert title == "# Run explanation: no cause found", title


@pytest.mark.parametrize(("loss_ratio", "healthy"), [(0.2, False), (0.5, False), (0.19, True)])
def test_a_run_at_or_above_the_failed_loss_is_not_healthy(loss_ratio, healthy):
    # failed_loss = 0.2: "at or past it" is a failed run, as the causes' own rule reads it.
    r = RunExplanation((), RunEvidence(loss_ratio=loss_ratio))
    assert r.healthy is healthy and r.failed is not healthy
    title = r.to_markdown().splitlines()[0]
    assert title == f"# Run explanation: {'healthy' if healthy else 'no cause found'}", title
    assert r.headline.startswith("Healthy:") is healthy


def test_markdown_counts_are_singular_for_one():
    # steps=1 and a one-example data set are legal, so counts agree with their noun:
    # "1 step", "1 example", "1 parameter", never "1 steps".
    e = RunEvidence(steps=1, batch_size=1, num_examples=1, n_params=1, loss_ratio=0.01)
    md = RunExplanation((), e).to_markdown()
    assert not re.search(r"\b1 (steps|examples|parameters)\b", md), md
    assert "1 step of batch 1 on 1 example, 1 parameter" in md, md


def test_saddle_caption_does_not_call_a_hessian_with_a_negative_eigenvalue_degenerate():
    # When a random direction beats the eigenvector in the escape test, the caption names
    # the random direction; it calls the Hessian degenerate only when it has no negative
    # eigenvalue (λmin ≥ −eig_tol), which λmin = −2 ≫ eig_tol is not.
    text = cause(RunEvidence(**{**STUCK, "escape_along": "random"}), "saddle_point").explanation
    assert not ("a negative eigenvalue" in text and "degenerate" in text), text
    assert "a negative eigenvalue" in text and "along a random direction" in text, text


def test_stuck_caption_does_not_call_a_rising_loss_falling():
    # A loss that rose 3% over the last quarter counts as flat for the rule (soft_le of a
    # negative late_drop is 1), but the caption words the change as a rise, "rising 3%",
    # never "falling only -3%".
    c = cause(RunEvidence(**{**STUCK, "late_drop": -0.03}), "saddle_point")
    assert c.score >= 0.5
    assert "falling only -" not in c.explanation and "falling only −" not in c.explanation
    assert "rising 3%" in c.explanation, c.explanation


def test_stall_summary_kept_falling_factor_is_a_fall():
    # "kept falling, X× more" measures the fall from the stall step s to the lowest smoothed
    # loss after it, L̄_s/min_{t≥s} L̄_t, so X > 1; a loss that fell to about 1e-3 and then
    # rose to about 0.046 says that it rose again, rather than folding the rise into X.
    curve = np.concatenate([np.geomspace(1.0, 1e-3, 360), np.linspace(1e-3, 0.06, 40)])
    r = analyze_stall(curve, initial_grad_norm=1.0, final_grad_norm=0.5, baseline=1.0)
    found = re.search(r"kept falling, ([0-9.e+-]+)× more", r.summary)
    assert found is not None, r.summary
    assert float(found.group(1)) > 1, r.summary
    assert "then rose to" in r.summary, r.summary


def test_a_negative_seed_is_refused_as_fit_refuses_it():
    # jax.random.key(-1) is key(2³² − 1) without x64 and another key with it: a run's seed
    # is an int in [0, 2³²), the same key either way.
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2³²\)"):
        explain_run(mlp(), optim.sgd(1e-3), (X, Y), steps=5, batch_size=16, seed=-1)


def test_a_one_output_classifier_gets_its_baseline_on_the_training_label_shape():
    # Training (fit, evaluate, saturation_at) calls loss(outputs (N, 1), y (N,)), so the
    # baseline passes the labels in that same shape: a loss that trains, such as sigmoid BCE
    # on z[:, 0], also gives the baseline, the entropy of the label prior.
    def bce(z, y):
        return losses.sigmoid_binary_cross_entropy(z[:, 0], y)

    r = explain_run(mlp(1), optim.sgd(0.5), (X, Y), loss=bce, steps=5, batch_size=16)
    prior = Y.mean()
    entropy = -(prior * np.log(prior) + (1 - prior) * np.log(1 - prior))
    assert r.evidence.baseline == pytest.approx(entropy, rel=1e-4)


def test_one_logit_per_example_without_an_axis_is_explained():
    # A binary classifier whose apply returns logits (N,), trained by fit with sigmoid BCE:
    # explain_run built the baseline's constant logit as (N, 1), and the loss refused y (N,)
    # "(squeeze a trailing output axis of size 1 if the model has one)": the model has none.
    def apply(params, state, xb, *, train, rng=None):
        return xb @ params["w"] + params["b"], state

    features = X.shape[1]
    triple = (apply, {"w": jnp.zeros(features), "b": jnp.zeros(())}, {})
    y = (Y > 0).astype(np.int32)
    loss = losses.sigmoid_binary_cross_entropy
    r = explain_run(triple, optim.sgd(0.5), (X, y), loss=loss, steps=5, batch_size=16)
    prior = y.mean()
    entropy = -(prior * np.log(prior) + (1 - prior) * np.log(1 - prior))
    assert r.evidence.baseline == pytest.approx(entropy, rel=1e-4)
    assert math.isfinite(r.evidence.loss_start)


def test_a_one_output_classifier_refuses_labels_beyond_its_two_classes():
    # One output means two classes, so labels must be 0 or 1, checked before training as
    # they are for K outputs; a label 2 would otherwise count as class 0 in the prior and
    # always as wrong in wrong_share.
    def bce(z, y):
        return optax.sigmoid_binary_cross_entropy(z.reshape(-1), y.reshape(-1) * 1.0).mean()

    y = Y.copy()
    y[::5] = 2
    with pytest.raises(ValueError, match="label"):
        explain_run(mlp(1), optim.sgd(0.1), (X, y), loss=bce, steps=2, batch_size=16)


# ---- evidence, JSON, thresholds, ranking and arguments ----


def test_evidence_numbers_match_an_independent_computation_and_are_deterministic():
    eta = 1e-3
    r = explain_run(mlp(), optim.sgd(eta), (X, Y), steps=20, batch_size=16, seed=3)
    e = r.evidence
    apply, params, state = nn.functional(mlp())

    def loss(p):
        return losses.softmax_cross_entropy(apply(p, state, X, train=False)[0], Y)

    g0 = np.linalg.norm(np.asarray(ravel_pytree(jax.grad(loss)(params))[0], np.float64))
    assert e.grad_norm_start == pytest.approx(g0, rel=1e-4)
    prior = np.bincount(Y) / Y.size
    assert e.baseline == pytest.approx(-np.sum(prior * np.log(prior)), rel=1e-5)
    assert e.feature_spread == pytest.approx(feature_spread(X), rel=1e-12)
    assert e.loss_ratio == pytest.approx(e.final_loss / e.baseline, rel=1e-12)
    ps = r.history.per_step
    lam, limit = np.asarray(ps["sharpness"]), np.asarray(ps["stability_threshold"])
    measured = np.flatnonzero(np.isfinite(lam))  # plain GD keeps step 0
    np.testing.assert_allclose(limit[measured], 2 / eta, rtol=1e-6)  # plain GD: 2/η
    assert e.threshold_rule == "2/η" and not e.preconditioned
    assert e.sharpness_ratio == pytest.approx(np.median(lam[measured] * eta / 2), rel=1e-5)
    assert e.lambda_eta_over_2 == pytest.approx(e.sharpness_ratio, rel=1e-5)
    assert e.max_update_ratio == pytest.approx(np.nanmax(ps["update_ratio"]), rel=1e-6)
    # The failed run gets the dense Hessian: ρ and κ as documented from λmax.
    assert e.curvature_method == "dense" and e.lambda_min <= e.lambda_max
    assert e.progress > 0 and e.valley_ratio >= 1 - 1e-3  # κ = λmax‖g‖²/gᵀHg ≥ 1
    again = explain_run(mlp(), optim.sgd(eta), (X, Y), steps=20, batch_size=16, seed=3)
    first, second = r.to_dict(), again.to_dict()
    first.pop("seconds"), second.pop("seconds")
    assert first == second


def test_steps_1_regression_full_batch_gives_strict_json():
    y = X.sum(axis=1)
    r = explain_run(mlp(1), optim.sgd(0.1), (X, y), steps=1, batch_size=None)
    report = strict_loads(r.to_json())
    assert report["settings"]["steps"] == 1 and report["evidence"]["task"] == "regression"
    assert report["evidence"]["wrong_share"] is None  # no saturation for regression
    assert report["evidence"]["baseline"] == pytest.approx(float(np.var(y)), rel=1e-4)


def test_json_of_a_diverged_run_is_rfc_json_and_round_trips():
    e = RunEvidence(
        diverged=True, diverged_at=4.0, final_loss=math.inf, loss_ratio=math.inf, baseline=0.7
    )
    r = RunExplanation(rank_causes(e.replace(loss_rise=math.inf)), e)
    report = strict_loads(r.to_json())
    assert (
        report["evidence"]["loss_ratio"] == "Infinity" and report["evidence"]["lambda_min"] is None
    )
    assert report["evidence"]["diverged_at"] == 4.0 and report["evidence"]["baseline"] == 0.7
    assert strict_loads(json.dumps(report, allow_nan=False)) == report


def test_thresholds_compare_in_the_documented_direction():
    t = CauseThresholds()
    assert t.soft_ge(t.failed_loss, t.failed_loss) == 0.5  # at the threshold: reported
    assert t.soft_ge(0.1999, 0.2, 2.0) < 0.5 < t.soft_ge(0.2001, 0.2, 2.0)
    assert t.soft_le(0.0099, 0.01) > 0.5 > t.soft_le(0.0101, 0.01)
    assert t.soft_ge(math.nan, 1.0) == 0.0 == t.soft_le(math.nan, 1.0)
    # Spread exactly at 100 is reported; just below, the caption says "one scale".
    at = cause(RunEvidence(loss_ratio=1.0, feature_spread=100.0), "ill_conditioned")
    below = cause(RunEvidence(loss_ratio=1.0, feature_spread=99.0), "ill_conditioned")
    assert at.score == 0.5 and "largest input feature is 100" in at.explanation
    assert below.score < 0.5 and "one scale" in below.explanation


def test_ranking_follows_the_scores():
    rng = np.random.default_rng(1)
    t = CauseThresholds()
    log = {"grad_ratio": (-4, 0), "sharpness_ratio": (-2, 1), "feature_spread": (0, 3)}
    log["batch_to_noise"] = (-2, 2)
    lin = {"loss_ratio": (0, 2), "late_drop": (-0.1, 0.3), "late_share": (0, 0.5)}
    lin.update(loss_rise=(0, 1), tail_fluctuation=(0, 0.5), probe_gain=(0, 3))
    for _ in range(200):
        numbers = {k: float(10 ** rng.uniform(*r)) for k, r in log.items()}
        e = RunEvidence(**numbers, **{k: float(rng.uniform(*r)) for k, r in lin.items()})
        causes = rank_causes(e, t)
        reported = [c.score >= t.report_score for c in causes]
        assert reported == sorted(reported, reverse=True)  # reported ones first
        kept = [c for c in causes if c.score >= t.report_score and c.evidence.get("direction") != 1]
        assert all(a.score >= b.score for a, b in itertools.pairwise(kept))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"probe_size": 5000}, "probe_size=5000 exceeds the 64"),
        ({"measure_every": 0}, "`measure_every` must be a positive int"),
        ({"epochs": True, "steps": None}, "`epochs` must be a positive int"),
        ({"seed": np.float32(1)}, "`seed` must be an int"),
        ({"val_data": (X[:8], np.full(8, 7))}, "val_data labels go out of range"),
    ],
)
def test_bad_arguments_are_refused_before_training(changes, message):
    kwargs = dict(steps=5, batch_size=16)
    kwargs.update(changes)
    with pytest.raises(ValueError, match=message):
        explain_run(mlp(), optim.sgd(0.1), (X, Y), **kwargs)


def test_a_score_just_below_the_report_score_is_not_printed_at_it():
    # 0.4996 < report_score ½ leaves the cause unreported; its table row must not print 0.50,
    # the report score itself, and a reported 0.5004 must not print it either.
    from jaxtrain.diagnose import Cause

    below = Cause("saddle_point", "§2", 0.4996, {}, "stuck", "use momentum")
    above = Cause("learning_rate_too_high", "§4", 0.5004, {}, "bounces", "lower η")
    md = RunExplanation((above, below), RunEvidence(loss_ratio=0.9)).to_markdown()
    assert "| saddle_point | §2 | 0.4996 |" in md, md
    assert "score 0.5004" in md, md
