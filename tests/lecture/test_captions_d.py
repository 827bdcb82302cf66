"""What a claim shows people, against hand-built numbers: the numbers text of a claim and the
captions of §3 and §4 at counts of one and at values beside the thresholds they were compared
with. No training runs; each dict has the keys its claim builds."""

import math

import caption_numbers
import numpy as np
import pytest

from jaxtrain.lecture import Claim
from jaxtrain.lecture import adaptive_learning_rate as alr
from jaxtrain.lecture import batch_and_momentum as bm

NAN, INF = math.nan, math.inf


# ---- Claim.numbers_text ----


def test_numbers_text_does_not_print_a_bare_nan_or_inf():
    # A fit that failed leaves B_crit = NaN, a batch size that missed the target NaN steps and
    # an unresolved noise scale +inf; the numbers a notebook prints say what those mean (as
    # jaxtrain._text does with "n/a" and "∞") instead of Python's "nan" and "inf".
    numbers = {"b_crit": NAN, "steps": np.asarray([480.0, NAN, NAN]), "b_simple": INF}
    text = Claim("s", "c", "T", numbers, None, "").numbers_text("b_crit", "steps", "b_simple")
    assert "nan" not in text and "inf" not in text


def test_numbers_text_does_not_print_none_for_a_step_count():
    # rmsprop_alpha stores None for a method that never came within 2× (Adagrad after the drop),
    # and §4's notebook shows methods/Adagrad/steps_to_react_down: the line says what the
    # missing count means rather than printing Python's "None".
    numbers = {"methods": {"Adagrad": {"steps_to_react_down": None}}}
    claim = Claim("s", "c", "T", numbers, None, "")
    assert "None" not in claim.numbers_text("methods/Adagrad/steps_to_react_down")


def test_numbers_text_of_a_mapping_of_mappings_reads_like_its_outer_items():
    # §2's notebook prints saddle_escapes' "steps", {case: {method: steps or None}}: each
    # inner mapping went through str(dict), with Python's None for a missed target and floats
    # in all their digits ("0.4060549736022949"). Inner items read as the outer ones do.
    numbers = {
        "steps": {"toy": {"gradient descent": None, "perturbed GD": 40}},
        "final_loss": {"toy": {"gradient descent": 1.0, "perturbed GD": 0.4060549736022949}},
    }
    text = Claim("s", "c", "T", numbers, None, "").numbers_text("steps", "final_loss")
    assert text.splitlines() == [
        "steps:",
        "  toy = {gradient descent: n/a, perturbed GD: 40}",
        "final_loss:",
        "  toy = {gradient descent: 1, perturbed GD: 0.4061}",
    ]


def test_numbers_text_prints_apart_the_numbers_a_caption_compares():
    # model_bias's caption prints "linear 0.300041, MLP 0.300039 ('large' above 0.3)" and says
    # the linear loss stays large and the MLP gets it lower; 4 significant digits printed all
    # three as 0.3, the tie the caption's digits were widened to avoid. Different numbers
    # shown together print apart; 4 digits stay where they suffice.
    train = {"linear": 0.300041, "mlp": 0.300039}
    numbers = caption_numbers.flowchart("model_bias", train) | {"large_train_loss": 0.3}
    claim = Claim("s", "c", "T", numbers, None, "")
    assert claim.numbers_text("train_loss_over_baseline", "large_train_loss").splitlines() == [
        "train_loss_over_baseline:",
        "  linear = 0.300041",
        "  mlp = 0.300039",
        "large_train_loss = 0.3",
    ]
    assert claim.numbers_text("large_train_loss", "learning_rate") == (
        "large_train_loss = 0.3\nlearning_rate = 0.03"
    )


# ---- §4 the narrow valley and RMSProp's spike ----


def _no_spike(ratio):
    return {
        "spikes": 0,
        "spike_step": 50,
        "spike_ratio": ratio,
        "loss_before_spike": 1e-3,
        "loss_at_spike": 1.9e-3,
        "step_size_at_spike": 0.5,
        "step_size_at_start": 0.3,
        "largest_step_size_before": 0.4,
        "onset": None,
        "peak_step_size": NAN,
        "peak_step": None,
        "w2_at_onset": NAN,
        "w2_at_spike": 0.01,
        "grad_across_at_onset": NAN,
    }


def _spike_after(peak_step_size):
    return _no_spike(40.0) | {
        "spikes": 1,
        "loss_at_spike": 0.04,
        "onset": 30,
        "peak_step_size": peak_step_size,
        "peak_step": 45,
        "w2_at_onset": 1e-5,
        "grad_across_at_onset": 2e-5,
    }


def _valley(across=0.5, spike=None):
    labels = {
        "sgd_large": "SGD η = 0.9",
        "sgd_small": "SGD η = 0.2",
        "adagrad": "Adagrad η = 0.5",
        "rmsprop": "RMSProp η = 0.1",
        "adam": "Adam η = 0.1",
    }
    losses = {"sgd_large": 0.5, "sgd_small": 0.4, "adagrad": 1e-3, "rmsprop": 1e-3, "adam": 1e-3}
    return {
        "runs": {key: {"label": labels[key], "final_loss": losses[key]} for key in labels},
        "curvatures": (0.02, 2.0),
        "steps": 100,
        "start": np.asarray([-9.0, 1.5]),
        "stability_threshold_across": 1.0,
        "adagrad_step_size_along": 2.0,
        "adagrad_step_size_across": across,
        "rmsprop_first_step": np.asarray([0.316, 0.316]),
        "rmsprop_learning_rate": 0.1,
        "rmsprop_decay": 0.9,
        "rmsprop_spike": _no_spike(1.5) if spike is None else spike,
    }


def test_narrow_caption_adagrad_step_above_the_threshold_is_not_shown_equal_to_it():
    # Adagrad's step across ends at 1.0004, above 2/λ₂ = 1: the caption prints it with the
    # digits that show it above 1 (jaxtrain._text.beside), not as "1 across, already above 1".
    caption = alr._narrow_caption(_valley(across=1.0004))
    assert "already above" in caption
    assert "and 1 across" not in caption


def test_rmsprop_largest_rise_below_the_spike_factor_is_not_shown_at_it():
    # Without a spike the largest rise is below _SPIKE = 2 (here 1.999×): "2.00×" would show
    # the rise at the very factor that counts as a spike.
    text = alr._rmsprop_spike_text(_no_spike(1.999), _valley())
    assert "does not spike" in text
    assert "2.00×" not in text


def test_rmsprop_step_that_passed_the_threshold_is_not_shown_equal_to_it():
    # η/σ₂ passed 2/λ₂ = 1 and peaked at 1.003: "reached 1.00" shows it at the threshold it
    # crossed; the peak is printed with the digits that keep it above 1.
    text = alr._rmsprop_spike_text(_spike_after(1.003), _valley())
    assert "passed 2/λ₂ = 1" in text
    assert "reached 1.00 " not in text


def test_rmsprop_multiplier_beyond_minus_one_is_not_shown_as_minus_one():
    # Above 2/λ₂ the factor 1 − λ₂η/σ₂ is below −1 (here 1 − 2·1.003 = −1.006), which is why
    # |w₂| grows; "(down to -1.0)" shows a factor that would not grow it.
    text = alr._rmsprop_spike_text(_spike_after(1.003), _valley())
    assert "so |w₂| grew" in text
    assert "(down to -1.0)" not in text


# ---- §4 learning-rate decay ----


def _decay(blow, **extra):
    return {
        "learning_rate": 0.5,
        "steps": 300,
        "stability_threshold_across": 1.0,
        "blow_up": blow,
        "decayed_max_step_size": 0.5,
        "decayed_spikes": 0,
        "decayed_final_loss": 1e-3,
        "constant_final_loss": 1e-2,
        "decayed_largest_rise": 1.0,
        "root_sum_max_distance": 1e-7,
        **extra,
    }


def test_decay_caption_largest_rise_below_the_spike_factor_is_not_shown_at_it():
    # "never rises above 2× … (largest rise 2.00×)" reads as a rise at the factor itself; the
    # rise is 1.999×, below it.
    caption = alr._decay_caption(_decay(_no_spike(1.999)))
    assert "never rises above 2×" in caption
    assert "largest rise 2.00×" not in caption


def test_decay_caption_peak_step_that_passed_the_threshold_is_not_shown_equal_to_it():
    # The constant-η step across passed 2/λ₂ = 1 and peaked at 1.003, not at "1.00".
    caption = alr._decay_caption(_decay(_spike_after(1.003)))
    assert "passed 2/λ₂ = 1" in caption
    assert "reached 1.00 " not in caption


def test_decay_caption_largest_decayed_step_below_the_threshold_is_not_shown_at_it():
    # The decayed step's largest value 0.9996 is below 2/λ₂ = 1, and the caption says
    # "below"; "1.000, below 2/λ₂" shows it equal to the threshold.
    caption = alr._decay_caption(_decay(_no_spike(1.5), decayed_max_step_size=0.9996))
    assert "1.000, below" not in caption


def test_decay_caption_below_the_threshold_only_at_the_step_before_the_spike_says_so():
    # η/σ₂ = 1.6, above 2/λ₂ = 1, on 19 of the 30 steps before the spike, and 0.9 at the
    # step just before it (so no unbroken stretch above it ends there: onset None). The
    # caption said η/σ₂ "stayed below 2/λ₂ before it".
    steps, spike = 40, 30
    loss = np.full(steps + 1, 1e-3)
    loss[:10] = np.geomspace(1.0, 1e-3, 10)
    loss[spike], loss[spike + 1 :] = 1.0, 1e-4
    across = np.full(steps, 1.6)
    across[:10], across[spike - 1] = 0.3, 0.9
    run = {
        "loss": loss,
        "step_size": np.stack([np.ones(steps), across], 1),
        "path": np.zeros((steps + 1, 2)),
        "grad": np.zeros((steps, 2)),
    }
    blow = alr._blow_up(run, 1.0)
    assert blow["onset"] is None and blow["largest_step_size_before"] == pytest.approx(1.6)
    caption = alr._decay_caption(_decay(blow, steps=steps))
    assert "stayed below" not in caption, caption
    assert "was below 2/λ₂ = 1 at the step before it (it reached 1.60 earlier)" in caption
    # Below it at every step before the spike, it stayed below.
    across[10:] = 0.8
    blow = alr._blow_up(run | {"step_size": np.stack([np.ones(steps), across], 1)}, 1.0)
    assert "stayed below 2/λ₂ = 1 before it" in alr._decay_caption(_decay(blow, steps=steps))


def test_decay_caption_names_no_blow_up_of_a_constant_run_that_had_none():
    # The constant-η run has no spike ("no blow-up in these steps") yet ends lower than the
    # decayed one: the comparison may say where it ends, not that it ends "after its blow-up".
    numbers = _decay(_no_spike(1.5), decayed_final_loss=1e-2, constant_final_loss=1e-3)
    caption = alr._decay_caption(numbers)
    assert "no blow-up in these steps" in caption
    assert "after its blow-up" not in caption


def test_decay_caption_paths_apart_do_not_show_the_sum_form_is_the_mean_form():
    # The decayed rule and optax's root-sum Adagrad end 0.3 apart: "not quite the same steps
    # (paths at most 3e-01 apart): the sum form is the lecture's mean form with decay", a
    # conclusion the distance just measured does not support.
    apart = alr._decay_caption(_decay(_no_spike(1.5), root_sum_max_distance=0.3))
    assert "does not take the same steps as optax's root-sum Adagrad with s₀ = 0 (paths up " in (
        apart
    )
    assert "(paths up to 0.3 apart)" in apart
    assert ": the sum form is the lecture's mean form with decay" not in apart
    assert "these paths do not show that the sum form is the lecture's mean form" in apart
    same = alr._decay_caption(_decay(_no_spike(1.5)))  # 1e-7 apart
    assert same.endswith("(paths at most 1e-07 apart): the sum form is the lecture's mean form "
                         "with decay.")  # fmt: skip
    unknown = alr._decay_caption(_decay(_no_spike(1.5), root_sum_max_distance=NAN))
    assert "could not be compared" in unknown and "mean form with decay." in unknown
    assert ": the sum form is" not in unknown


# ---- §4 RMSProp's α against Adagrad ----


def _alpha(adagrad_down, adagrad_end=0.01):
    def method(up, down, end):
        return {"steps_to_react_up": up, "steps_to_react_down": down, "step_size_at_end": end}

    return {
        "slopes": np.asarray([0.1, 10.0, 0.1]),
        "phases": np.asarray([60, 30, 90]),
        "learning_rate": 0.1,
        "ideal_step_size": np.full(180, 1.0),
        "methods": {
            "RMSProp α = 0.5": method(1, 2, 1.0),
            "RMSProp α = 0.99": method(5, 40, 1.0),
            "Adagrad": method(3, adagrad_down, adagrad_end),
        },
    }


def test_alpha_caption_says_one_step_in_the_singular():
    # Adagrad came within 2× one step after the drop: "within 1 step", not "1 steps".
    caption = alr._alpha_caption(_alpha(1))
    assert "within 1 steps" not in caption and "within 1 step " in caption


def test_alpha_caption_a_step_not_within_2x_is_not_shown_as_2x_too_small():
    # Adagrad did not come within 2× of η/|g| (steps_to_react_down None); its last step is
    # 2.4× too small. ".0f" prints "2× too small", which is within 2×.
    caption = alr._alpha_caption(_alpha(None, adagrad_end=1 / 2.4))
    assert "stays 2× too small" not in caption


# ---- §4 edge of stability ----


def _edge(**changes):
    return {"num_examples": 1000, "runs": {"gd η=0.5": caption_numbers.edge_run(**changes)}}


def test_edge_caption_a_ratio_below_one_is_not_shown_as_one_beside_both_sides():
    # The last half's ratio runs 0.999–1.2, "on both sides of 2/η"; "1.00–1.20" shows no value
    # below 1. The lower end is printed with the digits that keep it below 1.
    caption = alr._edge_caption(_edge(hover_min=0.999, hover_max=1.2))
    assert "on both sides of 2/η" in caption
    assert "= 1.00–1.20" not in caption


def test_edge_caption_a_ratio_that_never_reaches_095_is_not_shown_as_095():
    # λmax·η/2 starts at its lowest, 0.9496, and never reaches 0.95: "never reaches ≥ 0.95;
    # lowest 0.95" contradicts itself. The ratio is printed with the digits that keep it
    # below 0.95.
    numbers = _edge(
        sharpness_start=4.0 * 0.9496, lowest_ratio=0.9496, edge_step=None, hover_min=0.9496
    )
    caption = alr._edge_caption(numbers)
    assert "never reaches ≥ 0.95" in caption
    assert "lowest 0.95)" not in caption


def test_edge_caption_a_loss_that_rose_at_some_steps_is_not_shown_rising_at_0_percent():
    # The loss rose at 0.3% of the last half's steps: "rising at 0% of those steps" says it
    # never rose (jaxtrain._text.percent gives "0.3%").
    caption = alr._edge_caption(_edge(loss_rises=0.003))
    assert "rising at 0% of" not in caption


# ---- §4 a stalled loss ----


_stuck = caption_numbers.stuck


def test_stuck_caption_a_loss_that_rose_at_some_steps_is_not_shown_rising_at_0_percent():
    # The loss rose at 0.4% of the last half's steps, not "0%".
    caption = alr._stuck_caption(_stuck(last_half_loss_rises=0.004))
    assert "rising at 0% of" not in caption


def test_stuck_caption_a_ratio_below_one_is_not_shown_as_one():
    # The median λmax·η/2 is 0.996, below 1, and the caption goes on "below 1": "a median of
    # 1.00: below 1" contradicts itself.
    caption = alr._stuck_caption(_stuck(last_half_sharpness_ratio_median=0.996))
    assert "below 1, so" in caption
    assert "median of 1.00:" not in caption


def _gradient_descent_on_a_parabola(eta_lambda, steps=200):
    """L(θ) = ½λθ² from θ = 1 (λ = 2) at η = ηλ/λ: each step lowers L by exactly
    (1 − ηλ/2)·η‖g‖², so both halves' share of the first-order fall is 1 − ηλ/2."""
    lam, eta = 2.0, eta_lambda / 2.0
    theta = (1.0 - eta * lam) ** np.arange(steps)
    return 0.5 * lam * theta**2, np.abs(lam * theta), eta


@pytest.mark.parametrize("eta_lambda", [0.2, 1.99])
def test_stuck_numbers_share_of_the_first_order_fall_is_one_minus_half_eta_lambda(eta_lambda):
    loss, grad_norm, eta = _gradient_descent_on_a_parabola(eta_lambda)
    numbers = alr.stuck_numbers(loss, grad_norm, eta, 0.5 * eta_lambda)
    for half in ("first_half", "last_half"):
        share = numbers[f"{half}_fall"] / numbers[f"{half}_first_order_fall"]
        np.testing.assert_allclose(share, 1.0 - eta_lambda / 2.0, rtol=1e-9)
    assert numbers["last_half_from"] == 100
    np.testing.assert_allclose(numbers["last_half_fall"], loss[100] - loss[199], rtol=1e-12)


def test_stuck_caption_a_loss_falling_at_its_gradients_pace_is_not_a_stall():
    # Review (2026-12-07): a run whose loss and ‖g‖ fall smoothly all along was captioned
    # "progress slowed while ‖g‖ grew, so a stalling loss does not mean a small gradient"
    # (a median against the first half's smallest ‖g‖). Gradient descent at ηλ = 0.2 on a
    # parabola lowers the loss by 90% of η‖g‖² at every step: no stall, and ‖g‖ shrinks.
    loss, grad_norm, eta = _gradient_descent_on_a_parabola(0.2)
    caption = alr._stuck_caption(alr.stuck_numbers(loss, grad_norm, eta, 0.1))
    assert "90% of it (first half: 90%)" in caption
    assert "this run does not show a stall at a large gradient" in caption
    assert "does not mean a small gradient" not in caption and "grew" not in caption


def test_stuck_caption_a_bounce_from_the_first_step_sets_in_no_stall():
    # At ηλ = 1.99 θ flips sign every step and the loss keeps 99% of itself: 0.5% of η‖g‖²
    # in both halves, a bounce from the start, not a stall that sets in.
    loss, grad_norm, eta = _gradient_descent_on_a_parabola(1.99)
    caption = alr._stuck_caption(alr.stuck_numbers(loss, grad_norm, eta, 0.995))
    assert "0.5% of it (first half: 0.5%)" in caption
    assert "The first half's share was not 3× higher" in caption
    assert "barely descend" not in caption


def test_stuck_caption_a_share_just_under_the_threshold_is_not_shown_at_it():
    caption = alr._stuck_caption(_stuck(last_half_fall=0.996, last_half_first_order_fall=10.0))
    assert "9.96% of it" in caption and "barely descend" in caption


def test_stuck_caption_a_share_under_the_threshold_in_both_halves_is_no_stall():
    # Review (2026-12-07): a share under 10% in the last half said "barely descend" even
    # where the first half's share was as low (a run at the edge from its first steps); the
    # stall is a share that dropped, to at most a third of the first half's.
    caption = alr._stuck_caption(_stuck(first_half_fall=0.16, first_half_first_order_fall=10.0))
    assert "1% of it (first half: 1.6%)" in caption
    assert "barely descend" not in caption and "shows no stall that set in" in caption


def test_stuck_caption_a_converged_run_with_a_vanishing_gradient_is_no_stall_at_a_large_one():
    # The share drops to 0 at convergence too, where ‖g‖ has all but vanished (1e-12 against
    # the first half's 0.3): the stall came with a gradient that shrank.
    caption = alr._stuck_caption(
        _stuck(
            last_half_fall=0.0, last_half_first_order_fall=1e-24, last_half_grad_norm_median=1e-12
        )
    )
    assert "barely descend" not in caption and "with a gradient that shrank" in caption


def test_stuck_numbers_need_a_step_in_each_half():
    # Review: with 1 or 2 steps a half has no step (Σ η‖g‖² = 0 beside "never fell below 1"),
    # and 0 steps raised an IndexError.
    for steps in (0, 1, 2):
        with pytest.raises(ValueError, match="3 steps or more"):
            alr.stuck_numbers(np.ones(steps), np.ones(steps), 0.1, 1.0)
    numbers = alr.stuck_numbers(np.array([3.0, 2.0, 1.5]), np.ones(3), 0.5, 1.0)
    assert (numbers["first_half_fall"], numbers["last_half_fall"]) == (1.0, 0.5)
    assert numbers["first_half_first_order_fall"] == numbers["last_half_first_order_fall"] == 0.5


def test_stuck_caption_without_a_gradient_or_with_a_nan_judges_nothing_large():
    zero = alr._stuck_caption(_stuck(last_half_fall=0.0, last_half_first_order_fall=0.0))
    assert "a critical point, not a large gradient" in zero
    nan = alr._stuck_caption(_stuck(last_half_fall=math.nan))
    assert "not finite over the last half, so nothing is judged" in nan
    for caption in (zero, nan):
        assert "barely descend" not in caption and "does not show a stall" not in caption


# ---- §4 warmup ----


def test_warmup_caption_says_one_seed_in_the_singular():
    # A run over one seed: "1 seed", never "1 seeds" (nor "of 1 seeds").
    run = {"early_spike": np.asarray([3.0]), "final_train_loss": np.asarray([0.1])}
    numbers = {
        "runs": {"none": run, "warmup": run | {"early_spike": np.asarray([4.0])}},
        "seeds": np.asarray([0]),
        "early_steps": 50,
        "peak_learning_rate": 0.03,
        "depth": 4,
        "batch_size": 64,
        "epochs": 4,
        "warmup_steps": 50,
    }
    assert "1 seeds" not in alr._warmup_caption(numbers)


def test_warmup_caption_prints_apart_the_values_it_compares():
    # Every seed's spike is lower with warmup (1.004 → 1.001, 1.003 → 1.000) and one seed's
    # last-epoch loss (0.1004 → 0.1001), but 2 and 3 decimals printed "1.00, 1.00 without
    # warmup, 1.00, 1.00 with it: warmup removes most of the early spike" and "0.100, 0.200
    # without, 0.100, 0.200 with warmup (lower with warmup in 1 of 2 seeds)".
    def run(spike, final):
        return {"early_spike": np.asarray(spike), "final_train_loss": np.asarray(final)}

    none, warm = run([1.004, 1.003], [0.1004, 0.2]), run([1.001, 1.0], [0.1001, 0.2])
    numbers = {
        "runs": {"none": none, "warmup": warm},
        "seeds": np.asarray([0, 1]),
        "early_steps": 50,
        "peak_learning_rate": 0.03,
        "depth": 4,
        "batch_size": 64,
        "epochs": 4,
        "warmup_steps": 50,
    }
    caption = alr._warmup_caption(numbers)
    assert "1.004, 1.003 without warmup, 1.001, 1.000 with it: warmup removes most" in caption
    assert "0.1004, 0.2000 without, 0.1001, 0.2000 with warmup (lower with warmup in 1 of" in (
        caption
    )


# ---- §3 batch size ----


def _batch(seeds=(0, 1), small_epoch=0.02, full_epoch=0.01, full_updates_val=0.8):
    n = len(seeds)
    numbers = {"learning_rate": 0.1, "epochs": 5, "n_train": 1437, "seeds": np.asarray(seeds)}
    numbers["batch_16_seconds_per_epoch"] = small_epoch
    numbers["full_batch_seconds_per_epoch"] = full_epoch
    for key, updates in (("batch_16", 445), ("full_equal_epochs", 5), ("full_equal_updates", 445)):
        numbers[f"{key}_updates"] = updates
        numbers[f"{key}_train_accuracy"] = np.full(n, 0.95)
        numbers[f"{key}_val_accuracy"] = np.full(n, 0.9)
    numbers["full_equal_epochs_val_accuracy"] = np.full(n, 0.3)
    numbers["full_equal_updates_val_accuracy"] = np.full(n, full_updates_val)
    return numbers


def test_batch_caption_says_one_seed_in_the_singular():
    # "mean over 1 seed" (and "… of 1 seed"), never "1 seeds".
    assert "1 seeds" not in bm._batch_caption(_batch(seeds=(0,)))


def test_batch_caption_faster_is_not_shown_as_1x():
    # The full batch's epoch is 1.04× faster: "1.0× faster" shows no speed-up where the
    # caption claims one.
    caption = bm._batch_caption(_batch(small_epoch=0.0104, full_epoch=0.01))
    assert "1.0× faster" not in caption


def test_batch_caption_states_the_speed_up_its_printed_times_give():
    # Review (2026-12-07): "9.8 ms … 1.5 ms …: 6.6× faster" (the unrounded times' ratio);
    # a reader dividing the printed times gets 6.5.
    caption = bm._batch_caption(_batch(small_epoch=0.009817946, full_epoch=0.0014830964))
    assert "An epoch took 9.8 ms with batch 16" in caption and "1.5 ms with the full" in caption
    assert "6.5× faster" in caption


def test_batch_caption_share_below_half_is_not_shown_as_half():
    # The equal-updates gap is 49.6% of the equal-epochs one, below the 50% that makes it
    # "most of the equal-epochs gap": "50% … so most of" puts it at the threshold.
    caption = bm._batch_caption(_batch(full_updates_val=0.9 - 0.496 * 0.6))
    assert "most of the equal-epochs gap is the number of updates" in caption
    assert "is 50% of the one" not in caption


def test_batch_caption_without_an_equal_epochs_gap_has_nothing_to_explain():
    # The share of the equal-epochs gap left at equal updates was divided by a gap floored at
    # 1e-12: no gap anywhere read "under 1% … so most of the equal-epochs gap is the number of
    # updates", and no gap at equal epochs (one exact tie, one pair of seeds that cancel) gave
    # shares of 12 digits. Without a gap there is no share.
    def caption(epochs_val, updates_val):
        numbers = _batch(full_updates_val=updates_val)
        numbers["full_equal_epochs_val_accuracy"] = np.asarray(epochs_val)
        return bm._batch_caption(numbers)

    none = caption([0.9, 0.9], 0.9)
    assert "There is no mean validation gap at equal epochs or at equal updates" in none
    for epochs_val in ([0.9, 0.9], [0.9 - 1 / 360, 0.9 + 1 / 360]):
        tied = caption(epochs_val, 0.9 - 1 / 360)
        assert "There is no mean validation gap at equal epochs, so none for" in tied
        assert "(at equal updates +0.3 points for batch 16)" in tied
        assert "%" not in tied and "the number of updates does not explain" not in tied


# ---- §3 the critical batch size ----


def test_critical_caption_ratio_beyond_3_is_not_shown_as_3():
    # B_simple/B_crit = 3.04 is beyond the 3× that counts as close, and the caption says "far
    # from": "3.0× below it, far from" puts the ratio at the boundary of "close".
    numbers = {
        "batch_size": np.asarray([1, 16, 1000]),
        "steps": np.asarray([480.0, 300.0, 250.0]),
        "noise_scale": np.asarray([NAN, 60.0, 60.8]),
        "learning_rate": 0.05,
        "num_examples": 1000,
        "target_loss": 0.2,
        "b_crit": 20.0,
        "s_min": 240.0,
        "b_simple": 60.8,
    }
    caption = bm._critical_caption(numbers)
    assert "far from McCandlish" in caption
    assert "3.0× below" not in caption


# ---- §3 momentum over a ridge and on digits ----


def _ridge(plain, momentum, large, gd_theta=1.35, ridge=0.13):
    numbers = {"start": 2.5, "steps": 150, "learning_rate": 0.01, "momentum": 0.9}
    numbers |= {"ridge_theta": ridge, "gd_final_theta": gd_theta, "gd_final_loss": -2.6}
    numbers |= {"momentum_final_theta": -1.47, "momentum_final_loss": -5.4, "digits_epochs": 5}
    numbers |= {"digits_batch_size": 16, "digits_learning_rate": 0.01}
    numbers |= {"digits_large_learning_rate": 0.1, "digits_seeds": np.arange(len(plain))}
    numbers["digits_sgd_final_loss"] = np.asarray(plain)
    numbers["digits_momentum_final_loss"] = np.asarray(momentum)
    numbers["digits_sgd_large_final_loss"] = np.asarray(large)
    return numbers


def test_momentum_caption_says_one_seed_in_the_singular():
    # One seed at equal losses: "mean of 1 seed" and "lower in 0 of 1 seed", never "1 seeds".
    caption = bm._momentum_caption(_ridge([0.5], [0.5], [0.5]))
    assert "1 seeds" not in caption


def test_momentum_caption_lower_is_not_shown_as_1x():
    # Momentum ends 1.04× lower than plain SGD in every seed: "1.0× lower" shows no gain.
    caption = bm._momentum_caption(_ridge([0.52, 0.52], [0.5, 0.5], [0.5, 0.5]))
    assert "1.0× lower" not in caption


def test_momentum_caption_theta_short_of_the_ridge_is_not_shown_at_it():
    # Gradient descent ends at θ = 0.1304, short of the ridge at 0.1296: "θ = 0.13 … (ridge at
    # θ = 0.13)" shows it on the ridge; both are printed with digits that tell them apart.
    caption = bm._momentum_caption(_ridge([0.5], [0.4], [0.4], gd_theta=0.1304, ridge=0.1296))
    assert "short of the ridge" in caption
    assert "ends at θ = 0.13 (" not in caption


def test_a_loss_that_only_fell_is_not_said_to_rise():
    # A largest "rise" of 0.5× its lowest value so far is no rise: the loss only fell.
    text = alr._rmsprop_spike_text(_no_spike(0.5), _valley())
    assert "never rose above its lowest value" in text and "0.50×" not in text
    caption = alr._decay_caption(_decay(_no_spike(0.5)))
    assert "never rose above its lowest value" in caption and "0.50×" not in caption


def test_edge_caption_says_which_steps_the_loss_numbers_cover():
    # "Over the last half of each run … the loss went A → B" read as the last half's change;
    # A is the loss at step 0.
    caption = alr._edge_caption(_edge())
    assert "(step 0) →" in caption and "of the last half's steps" in caption


def test_batch_caption_epoch_times_differ_in_print_where_one_is_called_faster():
    # 10.04 ms against 10.00 ms printed as "10.0 ms … 10.0 ms: … 1.004× faster" reads as a
    # tie called a speed-up; the two times print in as many decimals as keep them apart.
    caption = bm._batch_caption(_batch(small_epoch=0.01004, full_epoch=0.01))
    assert "10.04 ms with batch 16" in caption and "10 ms with the full batch" in caption
    assert "1.004× faster" in caption


def test_each_blow_up_is_counted_even_below_an_earlier_low():
    # The constant-η Adagrad run of the tour: low 2.4e-22 → 5.3 at step 175, down to 6.1e-32,
    # up to 3.9, down to 9.1e-19, up to 3.3. Before, a blow-up was a stretch above 2× the
    # lowest loss so far, and the last two (never back near 6.1e-32) counted as one: "the first
    # of 2 blow-ups" under a figure of three.
    losses = np.concatenate(
        [
            np.geomspace(1.0, 2.4e-22, 143),
            np.geomspace(2.4e-22, 5.3, 33)[1:],
            np.geomspace(5.3, 6.1e-32, 133)[1:],
            np.geomspace(6.1e-32, 3.9, 170)[1:],
            np.geomspace(3.9, 9.1e-19, 282)[1:],
            np.geomspace(9.1e-19, 3.3, 110)[1:],
        ]
    )
    spikes = alr._spikes(losses)
    assert [step for step, _ in spikes] == [174, 475, 865]  # the three tops
    assert spikes[0][1] == pytest.approx(5.3 / 2.4e-22, rel=1e-6)
    # A loss that only falls, however unevenly, has none.
    assert alr._spikes(np.asarray([1.0, 0.6, 0.7, 0.3, 0.35, 0.1])) == []


def test_edge_caption_tells_an_adam_run_that_started_at_the_edge_and_its_own_length():
    # The tour's Adam run: ratio 0.994 at step 0, 0.099 at step 25, back at ≥ 0.95 by step
    # 725, 2,000 steps beside gradient descent's 3,000. Before: "(first ≥ 0.95 at step 725)"
    # and only gradient descent's 3,000 steps named.
    adam = caption_numbers.edge_run(
        optimizer="adam",
        learning_rate=0.003,
        loss=np.ones(2000),
        threshold=12666.7,
        sharpness_start=12595.7,
        lowest_ratio=0.099,
        lowest_step=25,
        edge_step=725,
    )
    numbers = _edge()
    numbers["runs"]["adam η=0.003"] = adam
    caption = alr._edge_caption(numbers)
    assert "first ≥ 0.95" not in caption
    assert "Adam η = 0.003 (2,000 steps)" in caption
    assert "fell to 0.10 at step 25 and was back at ≥ 0.95 by step 725" in caption


def test_momentum_caption_a_diverged_theta_is_in_no_valley():
    # A NaN θ fell through to "in the shallow valley, short of the ridge".
    numbers = _ridge([0.5], [0.4], [0.4], gd_theta=float("nan"), ridge=0.1296)
    caption = bm._momentum_caption(numbers)
    assert "not finite (diverged)" in caption
    assert caption.count("short of the ridge") + caption.count("past the ridge") == 1


def test_gap_share_a_gap_that_reverses_is_no_share_of_it():
    # Batch 16 leads by 5 points at equal epochs and trails by 5 at equal updates: "100% of
    # the one at equal epochs … does not explain most" — the sign flipped, so the number of
    # updates explains all of it.
    text = bm._gap_share_text(-0.05, 0.05)
    # The full batch ahead at equal epochs, though batch 16 made more updates: the number of
    # updates explains none of that, whatever happens at equal updates.
    for equal_updates in (0.05, -0.01, -0.08):
        behind = bm._gap_share_text(equal_updates, -0.05)
        assert "does not explain that gap" in behind and "explains all" not in behind
    assert "reverses" in text and "%" not in text
    assert "explains all of the equal-epochs gap" in text
    assert "under 1%" in bm._gap_share_text(-0.0001, 0.05)


def test_edge_caption_says_what_is_above_the_threshold():
    # "λmax·η/2 = 1.07–1.12 …, above 2/η" put a ratio of 1.1 above 2/η = 4.
    caption = alr._edge_caption(_edge(hover_min=1.07, hover_max=1.12))
    assert "so λmax is above 2/η" in caption
    adam = caption_numbers.edge_run(optimizer="adam", hover_min=1.07, hover_max=1.12)
    numbers = {"num_examples": 1000, "runs": {"gd η=0.5": caption_numbers.edge_run(), "adam": adam}}
    assert "so the preconditioned sharpness is above 38/η" in alr._edge_caption(numbers)


def test_batch_caption_a_full_batch_epoch_printed_as_zero_is_no_division_by_zero():
    # Review (2026-12-07): a full-batch epoch time of 0 raised ZeroDivisionError.
    caption = bm._batch_caption(_batch(small_epoch=0.002, full_epoch=0.0))
    assert "∞× faster" in caption
