"""The run's numbers read what they claim: a way down is a descent path, a short run's last
quarter is not measured, a smooth fall is not noise, a noise-free gradient does not crash,
and a diverged run's sharpness comes from before the blow-up."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrain.diagnose import (
    CauseThresholds,
    RunEvidence,
    loss_curve_statistics,
    noise_statistics,
    rank_causes,
    sharpness_statistics,
)
from jaxtrain.diagnose._measure import _curvature, escape_test

NAN = math.nan
THRESHOLDS = CauseThresholds()


def reported(evidence):
    return [c.name for c in rank_causes(evidence) if c.score >= THRESHOLDS.report_score]


# ---- finding 2: a way down must be a descent path, not a jump over a barrier ----


def _double_well_with_a_flat_parameter(theta):
    # A shallow well at w ≈ 0.93, a deeper one at w ≈ −1.06; z does not enter: λmin = 0.
    w = theta[0]
    return (w**2 - 1.0) ** 2 + 0.5 * (w + 1.0) + 0.2 + 0.0 * theta[1]


def _shallow_minimum():
    w = 0.9
    for _ in range(50):  # Newton on L'(w) = 4w(w² − 1) + 0.5
        w -= (4 * w * (w * w - 1) + 0.5) / (12 * w * w - 4)
    return jnp.array([w, 20.0], jnp.float32)


def test_a_jump_over_a_barrier_is_no_way_down():
    theta = _shallow_minimum()
    # Steps reach ‖θ‖ ≈ 20: a step of 6 along (−1, √8)/3 lands in the deeper well (−85%),
    # but the loss rises first (beyond its first-order part): no step is a way down from θ.
    direction = jnp.array([-1.0, 8.0**0.5]) / 3.0
    change, step = escape_test(_double_well_with_a_flat_parameter, theta, direction)
    assert change > 0, (change, step)
    assert abs(step) == pytest.approx(1e-3 * float(jnp.linalg.norm(theta)), rel=1e-3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_minimum_with_a_flat_direction_is_a_local_minimum_not_a_saddle(seed):
    theta = _shallow_minimum()
    loss = _double_well_with_a_flat_parameter
    measured = _curvature(
        loss, theta, float(loss(theta)), thresholds=THRESHOLDS, key=jax.random.key(seed)
    )
    assert measured["lambda_min"] <= measured["eig_tol"]  # degenerate, not a strict minimum
    assert measured["escape_change"] > -THRESHOLDS.escape_decrease, measured
    evidence = RunEvidence(loss_ratio=0.9, late_drop=0.0, grad_ratio=1e-5, **measured)
    assert reported(evidence)[0] == "local_minimum"


def test_a_degenerate_saddle_beside_a_curved_direction_is_found():
    # L = 1 + w₀² + w₁w₂w₃ at 0 (a deep linear net's shape: an output bias curves, the weights
    # go down at third order): H = diag(2, 0, 0, 0). No eigenvector lowers the loss, and a
    # random direction with a w₀ part rises first; one in the flat subspace of H falls.
    def loss(w):
        return 1.0 + w[0] ** 2 + w[1] * w[2] * w[3]

    measured = _curvature(loss, jnp.zeros(4), 1.0, thresholds=THRESHOLDS, key=jax.random.key(0))
    assert measured["escape_along"] == "random" and measured["escape_change"] < -1e-3
    evidence = RunEvidence(loss_ratio=0.9, late_drop=0.0, grad_ratio=1e-5, **measured)
    assert reported(evidence)[0] == "saddle_point"


def test_a_negative_curvature_saddle_is_still_found_along_its_eigenvector():
    change, step = escape_test(
        lambda w: (1.0 - w[0] * w[1]) ** 2, jnp.zeros(2), jnp.array([1.0, 1.0]) / 2**0.5
    )
    assert change == pytest.approx(-0.75, abs=1e-5) and abs(step) == 1.0


# ---- finding 3: a last quarter needs two points ----


@pytest.mark.parametrize("curve", [[4.0], [4.0, 2.0], [4.0, 2.0, 1.0], [4.0, 2.0, 1.0, 0.5]])
def test_too_short_for_a_last_quarter_is_not_measured(curve):
    stats = loss_curve_statistics(curve)
    assert math.isnan(stats["late_drop"]) and math.isnan(stats["late_share"])
    assert math.isnan(stats["tail_fluctuation"])


def test_five_points_hold_a_last_quarter():
    stats = loss_curve_statistics([5.0, 4.0, 3.0, 2.0, 1.0])
    assert stats["late_drop"] == pytest.approx(0.5) and stats["late_share"] == pytest.approx(0.25)


def test_an_unmeasured_last_quarter_is_no_flat_loss_and_no_steady_fall():
    evidence = RunEvidence(
        steps=4,
        loss_ratio=0.9,
        grad_ratio=1e-5,
        late_drop=NAN,
        late_share=NAN,
        lambda_min=-1.0,
        lambda_max=1.0,
        eig_tol=1e-3,
        escape_change=-0.1,
        escape_step=0.3,
        escape_along="eigenvector",
    )
    causes = {c.name: c for c in rank_causes(evidence)}
    assert causes["saddle_point"].score == 0.0  # "flat" is not measured: no degree of 1
    assert causes["learning_rate_too_low"].score == 0.0
    assert "not measured" in causes["saddle_point"].explanation


# ---- finding 4: a trend is not noise ----


def test_a_smooth_fall_is_not_a_noisy_loss():
    t = np.arange(400)
    for offset in (1.0, 0.1):  # the same shape at a lower level
        stats = loss_curve_statistics(2.0 * np.exp(-t / 200.0) + offset)
        assert stats["tail_fluctuation"] < 0.01 * THRESHOLDS.noisy_loss, offset
    steady = loss_curve_statistics(np.linspace(2.0, 1.0, 400))
    assert steady["tail_fluctuation"] < 1e-9


def test_a_smooth_fall_does_not_make_the_batch_too_small():
    t = np.arange(400)
    curve = loss_curve_statistics(2.0 * np.exp(-t / 200.0) + 0.1)
    evidence = RunEvidence(
        steps=400,
        batch_size=32,
        loss_ratio=0.5,
        grad_ratio=0.3,
        noise_scale=1000.0,
        batch_to_noise=0.032,
        **curve,
    )
    assert "batch_size" not in reported(evidence)


@pytest.mark.parametrize("level, trend", [(1.0, 0.0), (0.5, 1.5)])
def test_batch_noise_reads_as_its_relative_standard_deviation(level, trend):
    # White noise of 20% of the level on a flat or a falling trend: the fluctuation is the
    # noise's std over the level, whatever the trend.
    t = np.arange(400)
    smooth = level + trend * np.exp(-t / 100.0)
    noise = np.random.default_rng(0).normal(size=t.size)
    stats = loss_curve_statistics(smooth * (1.0 + 0.2 * noise))
    assert stats["tail_fluctuation"] == pytest.approx(0.2, rel=0.2)


def test_a_small_batch_run_is_still_noisy():
    from flax import nnx

    from jaxtrain import data, losses, nn, optim
    from jaxtrain.diagnose._training import fit_run

    x, y = data.load_digits()
    x = np.asarray(data.standardize(x, *data.fit_standardizer(x))[:512], np.float32)
    model = nn.functional(nn.MLP(64, 16, 10, depth=1, rngs=nnx.Rngs(0)))
    run = fit_run(
        model,
        optim.sgd(0.05),
        (x, y[:512]),
        loss=losses.softmax_cross_entropy,
        steps=400,
        batch_size=2,
        seed=0,
        progress=False,
    )
    losses = np.asarray(run.history.per_step["loss"], np.float64)
    stats = loss_curve_statistics(losses)
    assert stats["tail_fluctuation"] > THRESHOLDS.noisy_loss * THRESHOLDS.narrow_span


# ---- finding 6: a noise-free gradient ----


@pytest.mark.parametrize("values", [[0.0, 0.0, 5.0], [NAN, 0.0]])
def test_a_noise_free_gradient_has_an_infinite_batch_to_noise(values):
    stats = noise_statistics(values, 32)
    assert stats["noise_scale"] == 0.0 and stats["batch_to_noise"] == math.inf


# ---- finding 7: a diverged run's sharpness ----


def test_plain_sharpness_keeps_step_zero_and_preconditioned_does_not():
    lam, limit = [5.0, NAN, 30.0, NAN, 40.0], [20.0] * 5
    plain = sharpness_statistics(lam, limit, [0.1] * 5, preconditioned=False)
    assert plain["sharpness_ratio"] == 1.5 and plain["lambda_eta_over_2"] == 1.5
    adaptive = sharpness_statistics(lam, limit, preconditioned=True)
    assert adaptive["sharpness_ratio"] == 1.75


def test_sharpness_after_the_loss_blew_up_is_left_out():
    lam = [3.95, NAN, NAN, 3.3e7, NAN]  # λmax; ×η/2 = 395 at θ₀, 3.3·10⁹ at step 3
    losses = [1.19, 6755.0, 2.2e10, 8.6e19, 9.7e26]
    stats = sharpness_statistics(
        lam, [2.0 / 200] * 5, [200.0] * 5, preconditioned=False, losses=losses
    )
    assert stats["sharpness_ratio"] == pytest.approx(395.0)
    assert stats["sharpness_ratio_max"] == pytest.approx(395.0)
    # Only what was measured after the blow-up: nothing is left to read.
    late = sharpness_statistics(
        [NAN, NAN, NAN, 3.3e7, NAN], [0.01] * 5, preconditioned=False, losses=losses
    )
    assert math.isnan(late["sharpness_ratio"])


def test_a_diverged_runs_probe_runs_at_a_factor_a_run_can_train_with():
    from flax import nnx

    from jaxtrain import nn, optim
    from jaxtrain.diagnose import explain_run

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int32)
    model = nn.MLP(4, 16, 2, depth=2, rngs=nnx.Rngs(0))
    r = explain_run(model, optim.sgd(200.0), (x, y), steps=60, batch_size=32)
    e = r.evidence
    assert e.diverged and e.sharpness_ratio < 1e4  # from θ₀, not from exploding parameters
    assert e.probe_factor >= THRESHOLDS.probe_factor**3
    probe = np.asarray(r.probe_history.per_step["loss"], np.float64)
    assert np.all(np.isfinite(probe)) and probe[-10:].mean() < 0.9 * probe[0]  # it trained


@pytest.mark.parametrize(
    "ratio, factor",
    [(NAN, 0.1), (2.0, 0.1), (20.0, 0.025), (395.0, 0.01), (3.3e9, 0.01)],
)
def test_the_first_probe_factor_follows_the_sharpness_down_to_a_floor(ratio, factor):
    from jaxtrain.diagnose._measure import _first_probe_factor

    assert _first_probe_factor(ratio, 0.1) == pytest.approx(factor)


def test_explain_run_leaves_out_step_0_of_a_preconditioned_sharpness_only():
    # Adam's preconditioner at step 0 is built from one gradient: that reading is dropped.
    from jaxtrain import optim
    from jaxtrain.diagnose import explain_run

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]

    def apply(params, state, x, *, train, rng=None):
        del train, rng
        return jnp.tanh(x @ params["w1"]) @ params["w2"], state

    params = {"w1": jnp.full((3, 4), 0.3), "w2": jnp.full((4, 1), 0.2)}
    r = explain_run(
        (apply, params, {}), optim.adam(0.05), (x, y), steps=12, batch_size=16, curvature=False
    )
    ps = r.history.per_step
    ratio = np.asarray(ps["sharpness"]) / np.asarray(ps["stability_threshold"])
    measured = np.flatnonzero(np.isfinite(ratio))
    assert measured[0] == 0 and r.evidence.preconditioned
    assert r.evidence.sharpness_ratio == pytest.approx(np.median(ratio[measured[1:]]), rel=1e-5)


def test_explain_run_on_a_gradient_without_noise_does_not_crash():
    import optax

    from jaxtrain.diagnose import explain_run

    def apply(params, state, x, *, train, rng=None):
        del train, rng
        return jnp.broadcast_to(params["b"], (x.shape[0], 1)), state

    def loss(pred, y, reduction="mean"):
        del y  # every example pulls the bias to 3 alike: tr(Σ) = 0, B_simple = 0
        values = (pred - 3.0) ** 2
        return values if reduction == "none" else jnp.mean(values)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 2)).astype(np.float32)
    y = rng.normal(size=(64, 1)).astype(np.float32)
    r = explain_run(
        (apply, {"b": jnp.zeros((1,))}, {}),
        optax.sgd(0.01),
        (x, y),
        loss=loss,
        steps=20,
        batch_size=16,
        curvature=False,
        probe=False,
    )
    assert r.evidence.noise_scale == 0.0 and r.evidence.batch_to_noise == math.inf


# ---- a gradient lost in the noise, as the monitor records it ----


def _noise_scale_records(half_grads, batch_size=8):
    """What ``monitor.gradient_noise_scale`` records, step by step, for these halves."""
    from jaxtrain import monitor
    from jaxtrain.monitor import StepView

    noise = monitor.gradient_noise_scale(ema=0.5)
    state = noise.init(None)
    records = []
    for halves in half_grads:
        view = StepView(
            step=jnp.int32(0),
            params=None,
            new_params=None,
            opt_state=(),
            learning_rate=jnp.float32(0.1),
            grads=None,
            half_grads={"w": jnp.asarray(halves, jnp.float32)},
            batch_size=batch_size,
            probe_loss=None,
            key=jax.random.key(0),
        )
        state, out = noise.measure(state, view)
        records.append(float(out["noise_scale"]))
    return np.array(records)


def test_the_monitor_records_a_lost_gradient_as_inf_never_negative():
    # The docstring of noise_statistics said the monitor's tr(Σ)/|G|² "turns negative"
    # when the |G|² estimate does; the monitor records +inf there and never a negative value.
    rng = np.random.default_rng(0)
    opposite = [np.stack([g, -g]) for g in rng.normal(size=(3, 5))]  # G_big = 0: all noise
    lost = _noise_scale_records(opposite)
    assert (lost == math.inf).all()
    noisy = _noise_scale_records(rng.normal(size=(50, 2, 5)) + 0.1)
    assert not (noisy < 0).any() and (noisy == math.inf).any() and np.isfinite(noisy).any()
    stats = noise_statistics(lost, 8)
    assert stats["noise_scale"] == math.inf and stats["batch_to_noise"] == 0.0


def test_a_batchnorm_runs_starting_gradient_is_the_one_it_trained_with():
    # ‖g₀‖ was read in evaluation mode, where BatchNorm normalizes with the running
    # statistics it starts with (mean 0, variance 1) and the run never used: inputs ×10⁴
    # train exactly as inputs ×1, but ‖g₀‖ read 2.4e4 where the run's own was 1.4, so
    # ‖g_T‖/‖g₀‖ = 5.5e-5 and the top cause became a saddle point.
    from flax import nnx

    from jaxtrain import data, nn, optim
    from jaxtrain.diagnose import explain_run

    x, y = data.load_digits()
    x = np.asarray(data.standardize(x, *data.fit_standardizer(x))[:256], np.float32)
    y = y[:256]
    starts = []
    for scale in (1.0, 1e4):
        model = nn.MLP(64, 16, 10, depth=2, norm="batch", rngs=nnx.Rngs(0))
        report = explain_run(model, optim.sgd(1e-4), (x * scale, y), steps=40, batch_size=64)
        starts.append(report.evidence.grad_norm_start)
        assert report.evidence.grad_ratio > 0.5, report.evidence.grad_ratio
        assert report.top is None or report.top.name != "saddle_point", report.top
    np.testing.assert_allclose(starts[1], starts[0], rtol=1e-3)


def test_a_run_that_diverges_after_the_probes_window_is_blamed_on_its_learning_rate():
    # A linear warmup past 2/λmax diverges at step 263 of 300. The lower-η re-run covered
    # min(T, max(100, T/2)) = 150 steps and compared their last tenth, where the run had not
    # diverged and the lower η was merely slower (gain 0.185): "no cause". It now runs up to
    # the step the run diverged at.
    import optax

    from jaxtrain import optim
    from jaxtrain.diagnose import explain_run

    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 4)).astype(np.float32)
    x[:, 0] *= 3
    w = np.array([[1.0], [2.0], [-1.0], [0.5]], np.float32)
    y = (x @ w + 0.3 * rng.normal(size=(512, 1))).astype(np.float32)

    def apply(params, state, xb, train=False, rng=None):
        return xb @ params["w"] + params["b"], state

    triple = (apply, {"w": jnp.zeros((4, 1)), "b": jnp.zeros(1)}, {})
    warmup = optax.linear_schedule(0.0, 0.2, 300)
    report = explain_run(triple, optim.sgd(warmup), (x, y), steps=300, batch_size=64)
    evidence = report.evidence
    assert evidence.diverged and evidence.diverged_at > 150
    assert evidence.probe_steps >= evidence.diverged_at + 1
    assert report.top is not None and report.top.name == "learning_rate_too_high", report.headline


def test_a_batch_that_only_wastes_compute_is_not_the_headline_of_a_failed_run():
    # Heavy-ball momentum 0.99 at full batch fails (L/B 0.26, the loss 10× above its best);
    # the one reported cause, a batch far above the noise scale, "wastes compute but does
    # not stop training", yet it was the top cause and the headline.
    from jaxtrain import optim
    from jaxtrain.diagnose import explain_run

    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 4)).astype(np.float32)
    x[:, 0] *= 3
    y = (x @ np.array([[1.0], [2.0], [-1.0], [0.5]], np.float32)).astype(np.float32)

    def apply(params, state, xb, train=False, rng=None):
        return xb @ params["w"] + params["b"], state

    triple = (apply, {"w": jnp.zeros((4, 1)), "b": jnp.zeros(1)}, {})
    optimizer = optim.sgd(0.002, momentum=0.99)
    report = explain_run(triple, optimizer, (x, y), steps=100, batch_size=None)
    assert report.failed
    assert [c.name for c in report.reported] == ["batch_size"]
    assert report.top is None and not report.healthy
    assert "no cause of failure (a batch far above the noise scale" in report.headline


def test_one_logit_per_example_in_zero_to_one_is_read_as_a_logit_under_sigmoid_cross_entropy():
    # A net stuck at the prior 0.502 outputs the logit log(251/249) = 0.008 for every example:
    # all in [0, 1], it was read as the probability 0.008, every label-1 example a saturated
    # wrong prediction, and the run was blamed on "MSE after a softmax" (§5).
    from jaxtrain import losses
    from jaxtrain.diagnose._measure import saturation_at

    y = np.zeros(500, np.int32)
    y[np.random.default_rng(0).permutation(500)[:251]] = 1
    logit = float(np.log(251 / 249))

    def apply(params, state, xb, train=False, rng=None):
        return jnp.full((xb.shape[0], 1), logit) + 0.0 * params["b"], state

    def bce(z, t):
        return losses.sigmoid_binary_cross_entropy(z[:, 0], t)

    x = np.zeros((500, 2), np.float32)
    stats = saturation_at(apply, {"b": jnp.zeros(())}, {}, x, y, bce, THRESHOLDS)
    assert stats["saturated_share"] == 0.0
    assert stats["wrong_share"] == pytest.approx(249 / 500)

    # The same outputs under MSE on probabilities (a sigmoid inside the model) still are.
    def mse(p, t):
        return jnp.mean((p[:, 0] - t) ** 2)

    stats = saturation_at(apply, {"b": jnp.zeros(())}, {}, x, y, mse, THRESHOLDS)
    assert stats["wrong_share"] == pytest.approx(251 / 500)


def test_the_json_score_is_exact_and_the_markdown_prints_whole_numbers_whole():
    # The JSON rounded a score of 0.49996 (not reported) to 0.5, the report score; the
    # Markdown evidence table printed a batch of 1024 as "1.02e+03" and step 12345 as
    # "1.23e+04" beside sentences saying 1024 and 12345.
    import json

    from jaxtrain.diagnose._explanation import RunExplanation

    e = RunEvidence(
        loss_ratio=1.0,
        late_drop=0.0,
        wrong_share=0.5,
        saturated_share=0.25 * (1 - 5e-5),
        push_ratio=1e-3,
        task="classification",
    )
    report = RunExplanation(rank_causes(e, THRESHOLDS), e, thresholds=THRESHOLDS)
    score = report.cause("saturated_loss").score
    assert score < THRESHOLDS.report_score
    saved = next(c for c in json.loads(report.to_json())["causes"] if c["name"] == "saturated_loss")
    assert saved["score"] == score
    e = RunEvidence(
        steps=20000,
        batch_size=1024,
        num_examples=60000,
        loss_ratio=0.05,
        noise_scale=1.5,
        batch_to_noise=1024 / 1.5,
        task="classification",
    )
    markdown = RunExplanation(rank_causes(e), e).to_markdown()
    assert "| batch_size | 1024 |" in markdown, markdown
    assert "| noise_scale | 1.5 |" in markdown


def test_a_dropout_run_that_never_moved_has_a_gradient_ratio_of_one():
    # η = 0: θ_T = θ₀, so ‖g_T‖/‖g₀‖ is 1. With ‖g₀‖ in training mode (one dropout mask)
    # and ‖g_T‖ in evaluation mode the ratio read 0.22 at dropout 0.9: both ends are read in
    # training mode, by one key.
    import optax
    from flax import nnx

    from jaxtrain import nn
    from jaxtrain.diagnose import explain_run

    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 8)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    model = nn.MLP(8, 32, 2, depth=2, dropout=0.9, rngs=nnx.Rngs(0))
    report = explain_run(
        model,
        optax.sgd(0.0),
        (x, y),
        steps=20,
        batch_size=32,
        learning_rate=0.0,
        curvature=False,
        probe=False,
    )
    assert report.evidence.grad_ratio == pytest.approx(1.0, rel=1e-6)


def test_diagnose_and_explain_run_agree_that_a_wasted_batch_explains_no_failure():
    # The same ranked causes: explain_run's top skipped the batch far above the noise scale
    # for a failed run, diagnose's top_cause still named it (and put its remedy first).
    from jaxtrain.diagnose import Diagnosis, RunExplanation

    e = RunEvidence(loss_ratio=1.0, batch_size=4096, noise_scale=10.0, batch_to_noise=409.6)
    causes = rank_causes(e)
    assert causes[0].name == "batch_size"
    assert RunExplanation(causes=causes, evidence=e).top is None
    fields = dict(reasons=(), remedies=(), candidates=(), primary="m", baseline=1.0)
    failed = Diagnosis(verdict="optimization", task="classification", causes=causes, **fields)
    assert failed.top_cause is None
    fine = Diagnosis(verdict="overfitting", task="classification", causes=causes, **fields)
    assert fine.top_cause is not None and fine.top_cause.name == "batch_size"
