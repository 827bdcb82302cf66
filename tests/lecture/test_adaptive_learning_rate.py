"""§4's claims at the quick size: a stalled loss with a large ‖g‖, one step per parameter on a
narrow valley, how fast σ forgets, decay against Adagrad's blow-up, schedules, warmup alone, m
and σ, and the edge of stability."""

import math

import numpy as np
import pytest

from jaxtrain import lecture
from jaxtrain.lecture import adaptive_learning_rate

QUICK = lecture.LectureConfig(quick=True)


@pytest.fixture(scope="module")
def claims():
    return {claim.id: claim for claim in adaptive_learning_rate.SECTION.claims(QUICK, seed=0)}


def test_a_stalled_loss_keeps_a_large_gradient(claims):
    numbers = claims["stuck_is_not_small_gradient"].numbers
    assert numbers["learning_rate"] == 0.5 and numbers["loss"].shape == (numbers["steps"],)
    assert numbers["grad_norm"].shape == (numbers["steps"],)
    # The last half's loss falls by under a tenth of what its gradient gives to first order
    # (Σ η‖g_t‖²), and by a smaller share than in the first half ...
    last = numbers["last_half_fall"] / numbers["last_half_first_order_fall"]
    first = numbers["first_half_fall"] / numbers["first_half_first_order_fall"]
    assert 0 < last < min(0.1, first)
    # ... while the loss rises at many of its steps, at λmax·η/2 ≥ 1.
    assert numbers["last_half_loss_rises"] > 0.2
    assert numbers["last_half_sharpness_ratio_median"] >= 1.0
    caption = claims["stuck_is_not_small_gradient"].caption
    assert f"median of {numbers['last_half_grad_norm_median']:.3g}" in caption
    assert "barely descend although ‖g‖ is not small, so a stalling loss does not mean" in caption
    assert "a step of η overshoots along the sharpest direction" in caption


def test_one_step_per_parameter_beats_one_step_for_all_on_the_narrow_valley(claims):
    numbers = claims["narrow_surface"].numbers
    runs = numbers["runs"]
    assert list(runs) == ["sgd_large", "sgd_small", "adagrad", "rmsprop", "adam"]
    for run in runs.values():
        assert run["path"].shape == (numbers["steps"] + 1, 2)
        np.testing.assert_allclose(run["path"][0], (-9.0, 1.5))
        # The recorded losses are the valley's at the recorded points.
        lam1, lam2 = numbers["curvatures"]
        expected = 0.5 * (lam1 * run["path"][:, 0] ** 2 + lam2 * run["path"][:, 1] ** 2)
        np.testing.assert_allclose(run["loss"], expected, rtol=1e-4, atol=1e-30)
    best_sgd = min(runs["sgd_large"]["final_loss"], runs["sgd_small"]["final_loss"])
    assert best_sgd > 0.01
    for key in ("adagrad", "rmsprop", "adam"):
        assert runs[key]["final_loss"] < 0.1 * best_sgd
    # Adagrad's η/σᵢ: large along the flat w₁, small across the steep w₂.
    assert numbers["adagrad_step_size_along"] > 5 * numbers["adagrad_step_size_across"]
    assert "all below the better SGD" in claims["narrow_surface"].caption


def test_rmsprop_first_step_is_eta_over_root_one_minus_alpha(claims):
    numbers = claims["narrow_surface"].numbers
    eta, alpha = numbers["rmsprop_learning_rate"], numbers["rmsprop_decay"]
    np.testing.assert_allclose(numbers["rmsprop_first_step"], eta / math.sqrt(1 - alpha), rtol=1e-5)
    assert f"{eta / math.sqrt(1 - alpha):.3f} = η/√(1 − α)" in claims["narrow_surface"].caption


def test_rmsprop_spikes_once_its_step_across_passes_two_over_lambda(claims):
    numbers = claims["narrow_surface"].numbers
    spike, threshold = numbers["rmsprop_spike"], numbers["stability_threshold_across"]
    assert threshold == 1.0
    assert spike["spikes"] == 1
    assert spike["spike_ratio"] > 5 and spike["loss_at_spike"] > 5 * spike["loss_before_spike"]
    # σ₂ forgot the large early gradients: the step across grew from far below 2/λ₂ to above.
    assert spike["step_size_at_start"] < 0.2 * threshold
    assert spike["onset"] is not None and spike["onset"] < spike["peak_step"] < spike["spike_step"]
    assert spike["peak_step_size"] > 3 * threshold
    step_sizes = numbers["runs"]["rmsprop"]["step_size"][:, 1]
    assert np.all(step_sizes[spike["onset"] : spike["spike_step"]] > threshold)
    assert step_sizes[spike["onset"] - 1] <= threshold
    # w₂ was thrown out of the valley floor, and the large gradient brought the step back down.
    assert spike["w2_at_onset"] < 1e-6 < 0.1 < spike["w2_at_spike"]
    assert spike["step_size_at_spike"] < threshold
    caption = claims["narrow_surface"].caption
    assert f"jumps at step {spike['spike_step']}" in caption
    assert f"reached {spike['peak_step_size']:.2f} at step {spike['peak_step']}" in caption


def test_small_alpha_forgets_quickly_and_adagrad_never_does(claims):
    numbers = claims["rmsprop_alpha"].numbers
    methods = numbers["methods"]
    assert list(methods) == ["RMSProp α = 0.5", "RMSProp α = 0.99", "Adagrad"]
    up, down = numbers["phases"][0], numbers["phases"][0] + numbers["phases"][1]
    # Bias-corrected RMSProp and Adagrad start at σ = |g|: η/σ is exactly η/|g| before the jump.
    for method in methods.values():
        np.testing.assert_allclose(method["step_size"][:up], numbers["ideal_step_size"][:up], 1e-4)
    fast, slow, adagrad = methods.values()
    assert fast["steps_to_react_up"] <= 2 and fast["steps_to_react_down"] <= 15
    assert slow["steps_to_react_up"] > 5 * fast["steps_to_react_up"]
    assert slow["steps_to_react_down"] is None
    assert adagrad["steps_to_react_up"] > fast["steps_to_react_up"]
    assert adagrad["steps_to_react_down"] is None
    # Back on the flat part Adagrad's step stays far below η/|g| = 1.
    assert adagrad["step_size_at_end"] < 0.1 * numbers["ideal_step_size"][-1]
    assert fast["step_size_at_end"] == pytest.approx(numbers["ideal_step_size"][-1], rel=1e-3)
    assert fast["step_size_end_of_steep"] == pytest.approx(
        numbers["ideal_step_size"][down - 1], rel=1e-3
    )
    caption = claims["rmsprop_alpha"].caption
    assert "α = 0.5 forgets faster and follows both jumps sooner" in caption
    assert f"{numbers['ideal_step_size'][-1] / adagrad['step_size_at_end']:.0f}× too small" in (
        caption
    )


def test_decay_stops_adagrads_late_blow_up(claims):
    numbers = claims["learning_rate_decay"].numbers
    threshold = numbers["stability_threshold_across"]
    blow = numbers["blow_up"]
    # Constant η: the loss falls very low, η/σ₂ passes 2/λ₂, then the loss jumps far above.
    assert blow["spikes"] >= 1 and blow["spike_ratio"] > 1e6 and blow["loss_at_spike"] > 1.0
    assert blow["onset"] is not None and blow["onset"] < blow["spike_step"]
    assert blow["peak_step_size"] > threshold
    # ηᵗ = η/√(t+1): ηᵗ/σ₂ never reaches 2/λ₂ and the loss never jumps.
    assert numbers["decayed_max_step_size"] < 0.5 * threshold
    assert numbers["decayed_spikes"] == 0 and numbers["decayed_largest_rise"] < 1.5
    across = numbers["runs"]["decayed"]["step_size_across"]
    assert np.all(np.diff(across) <= 1e-6)  # η/√Σg₂² only shrinks
    # The lecture's mean form with η/√(t+1) is the root-sum form with s₀ = 0.
    assert numbers["root_sum_max_distance"] < 1e-5
    caption = claims["learning_rate_decay"].caption
    assert f"jumps to {blow['loss_at_spike']:.2g} at step {blow['spike_step']}" in caption
    assert "falls without a blow-up" in caption and "takes the same steps" in caption


def test_schedules_reach_their_stated_values(claims):
    numbers = claims["schedules"].numbers
    peak, steps, warm = numbers["peak"], numbers["steps"], numbers["warmup_steps"]
    schedules = numbers["schedules"]
    np.testing.assert_array_equal(numbers["marks"], [0, warm, steps // 2, steps - 1])
    for schedule in schedules.values():
        assert schedule["eta"].shape == (steps,) and np.all(schedule["eta"] >= 0)
        assert schedule["eta"].max() <= peak * (1 + 1e-6)
    np.testing.assert_allclose(schedules["constant"]["eta"], peak)
    warmed = schedules[f"warmup {warm} + cosine decay"]["at_marks"]
    assert warmed[0] == 0 and warmed[1] == pytest.approx(peak)
    assert schedules["cosine decay"]["at_marks"][2] == pytest.approx(0.5 * peak, rel=1e-5)
    assert schedules["step decay (÷10 at 500, 800)"]["at_marks"][3] == pytest.approx(peak / 100)
    # The Transformer's s/√t at t = count + 1 = steps, scaled to peak at the warmup's end.
    transformer = schedules["Transformer: warmup, then 1/√t"]["at_marks"]
    assert transformer[3] == pytest.approx(peak * math.sqrt(warm / steps), rel=1e-5)
    assert "0.50·η at step 500" in claims["schedules"].caption


def test_warmup_alone_removes_the_early_spike(claims):
    numbers = claims["warmup"].numbers
    runs, seeds = numbers["runs"], numbers["seeds"]
    assert list(runs) == ["none", "warmup"] and len(seeds) == 2  # RAdam only at full size
    none, warm = runs["none"], runs["warmup"]
    np.testing.assert_allclose(none["first_loss"], warm["first_loss"])  # same nets, same data
    assert np.all(none["early_spike"] > 1.3)
    assert np.all(warm["early_spike"] < 1.2)
    assert np.all(warm["early_spike"] < none["early_spike"])
    # The two runs differ only by the warmup: η rises over 50 steps, then both are the same.
    early = numbers["warmup_steps"]
    assert warm["learning_rate"][0] == 0
    np.testing.assert_allclose(warm["learning_rate"][early:], numbers["peak_learning_rate"])
    np.testing.assert_allclose(none["learning_rate"], numbers["peak_learning_rate"])
    assert np.all(np.isfinite(none["final_train_loss"])) and np.all(warm["final_train_loss"] < 1)
    caption = claims["warmup"].caption
    assert f"{none['early_spike'][0]:.2f}" in caption and f"{warm['early_spike'][1]:.2f}" in caption
    assert "removes most of the early spike in every seed" in caption
    # Each panel of lines names them (the learning-rate panel had no legend).
    ax_loss, _, ax_lr = claims["warmup"].figure.axes
    for ax in (ax_loss, ax_lr):
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [
            run["label"] for run in runs.values()
        ]


def test_m_and_sigma_do_not_cancel(claims):
    numbers = claims["momentum_and_sigma"].numbers
    assert numbers["theory_bouncing"] == pytest.approx(0.1 / 1.9)
    np.testing.assert_allclose(
        numbers["m_over_sigma_last"], [1.0, numbers["theory_bouncing"]], rtol=1e-3
    )
    eta = numbers["learning_rate"]
    adam = numbers["methods"]["Adam (m and σ)"]["last_step"]
    rms = numbers["methods"]["RMSProp (σ only)"]["last_step"]
    np.testing.assert_allclose(adam, [eta, eta * numbers["theory_bouncing"]], rtol=1e-3)
    np.testing.assert_allclose(rms, [eta, eta], rtol=1e-3)  # σ alone: every step is η
    assert "they do not cancel" in claims["momentum_and_sigma"].caption


def test_gradient_descent_hovers_at_two_over_eta(claims):
    numbers = claims["edge_of_stability"].numbers
    assert list(numbers["runs"]) == ["gd η=0.5"]  # Adam's run at full size only
    run = numbers["runs"]["gd η=0.5"]
    assert numbers["steps"] == {"gd η=0.5": 240}
    np.testing.assert_array_equal(run["measured_steps"], np.arange(0, 240, 20))
    assert run["threshold"] == pytest.approx(4.0)  # 2/η
    # λmax starts above 2/η, falls below it, comes back and stays near it.
    assert run["sharpness_start"] > run["threshold"]
    assert run["lowest_ratio"] < 0.95 and run["edge_step"] is not None
    assert 0.95 < run["hover_min"] <= run["hover_median"] <= run["hover_max"] < 1.5
    assert run["loss_end"] < 0.1 * run["loss_start"]
    # The title names the comparison; whether λmax reaches 2/η is the caption's, from numbers.
    assert claims["edge_of_stability"].title == "The edge of stability: λmax beside 2/η"
    caption = claims["edge_of_stability"].caption
    assert f"λmax·η/2 = {run['hover_min']:.2f}–{run['hover_max']:.2f}" in caption


def test_claims_carry_their_section_and_a_figure(claims):
    experiments = adaptive_learning_rate.SECTION.experiments
    assert list(claims) == [experiment.__name__ for experiment in experiments]
    assert set(adaptive_learning_rate.__all__) == {"SECTION"} | set(claims)
    for claim in claims.values():
        assert claim.section == "adaptive_learning_rate"
        assert claim.figure.axes and claim.caption.endswith(".")


def test_the_notebook_prints_numbers_its_claims_have(claims, check_notebook_numbers):
    check_notebook_numbers("adaptive_learning_rate", claims)
