"""Where training stalled, and critical point vs oscillating learning rate."""

import dataclasses
import re

import numpy as np
import pytest

from jaxtrain.diagnose import Thresholds, analyze_stall


def plateau(fall=60, flat=140, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    curve = np.concatenate([np.linspace(2.0, 0.5, fall), np.full(flat, 0.5)])
    return curve + noise * rng.standard_normal(curve.size)


def test_a_plateau_with_a_small_gradient_is_a_critical_point():
    r = analyze_stall(plateau(), initial_grad_norm=2.0, final_grad_norm=1e-3)
    assert r.stalled and r.critical and not r.diverged
    assert 45 <= r.stall_step <= 60
    assert r.grad_norm_ratio == pytest.approx(5e-4)
    assert "critical point" in r.summary


def test_a_plateau_with_a_large_gradient_is_an_oscillating_learning_rate():
    r = analyze_stall(plateau(noise=0.05), initial_grad_norm=2.0, final_grad_norm=1.5)
    assert r.stalled and not r.critical
    assert 35 <= r.stall_step <= 70
    assert r.tail_fluctuation > 0.05
    assert "learning rate is too large" in r.summary


def test_the_absolute_gradient_threshold_also_makes_a_critical_point():
    # The gradient never was large (a plateau from the start); ‖g‖ ≤ 1e-3 still counts.
    r = analyze_stall(np.full(100, 1.0), initial_grad_norm=2e-3, final_grad_norm=5e-4)
    assert r.stall_step == 0 and r.critical
    strict = Thresholds(critical_grad_norm=1e-4)
    assert not analyze_stall(
        np.full(100, 1.0), initial_grad_norm=2e-3, final_grad_norm=5e-4, thresholds=strict
    ).critical


def test_a_loss_still_falling_has_not_stalled():
    r = analyze_stall(np.linspace(2.0, 0.1, 300), initial_grad_norm=1.0, final_grad_norm=0.5)
    assert not r.stalled and r.stall_step is None
    assert "train longer" in r.summary


def test_a_non_finite_loss_is_divergence():
    curve = np.concatenate([np.linspace(1.0, 3.0, 20), [np.inf, np.nan]])
    r = analyze_stall(curve, initial_grad_norm=1.0, final_grad_norm=float("nan"))
    assert r.diverged and r.stall_step == 20 and not r.critical
    assert r.final_grad_norm is None
    assert "diverged" in r.summary


def test_a_gradient_overflow_is_divergence_even_with_finite_losses():
    r = analyze_stall(
        [240.0, 6e10, 5e36], initial_grad_norm=1.0, final_grad_norm=1.0, diverged_at=2
    )
    assert r.diverged and r.stall_step == 2 and "diverged" in r.summary


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="empty"):
        analyze_stall([], initial_grad_norm=1.0, final_grad_norm=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        analyze_stall([1.0], initial_grad_norm=-1.0, final_grad_norm=1.0)


def test_a_plateau_the_loss_left_is_reported():
    # A deep plain net: flat at the baseline for 120 steps, then it starts to learn.
    rng = np.random.default_rng(0)
    curve = np.concatenate([np.full(120, 2.3), np.linspace(2.3, 2.0, 30)])
    curve = curve + 0.02 * rng.standard_normal(150)
    r = analyze_stall(curve, initial_grad_norm=0.4, final_grad_norm=0.2, baseline=2.3)
    assert r.plateau.start == 0 and 115 <= r.plateau.end <= 140
    assert r.plateau.level == pytest.approx(2.3, abs=0.02)
    assert r.summary.startswith("The loss sat on a plateau at 0.99")
    # A plateau the loss never left is the final stall, not a plateau.
    assert analyze_stall(plateau(), initial_grad_norm=1.0, final_grad_norm=1e-4).plateau is None
    # Steady convergence has no plateau.
    steady = 2.3 * np.exp(-np.arange(300) / 30) + 0.02
    assert analyze_stall(steady, initial_grad_norm=1, final_grad_norm=0.1).plateau is None


def test_the_report_is_a_typed_record_that_serializes_as_before():
    from jaxtrain.diagnose import Plateau, StallReport

    curve = np.concatenate([np.full(120, 2.3), np.linspace(2.3, 2.0, 30)])
    r = analyze_stall(curve, initial_grad_norm=0.4, final_grad_norm=0.2, baseline=2.3)
    assert isinstance(r, StallReport) and isinstance(r.plateau, Plateau)
    assert isinstance(r.steps, int) and isinstance(r.plateau.start, int)
    out = r.to_dict()
    assert set(out) == {
        "steps",
        "initial_grad_norm",
        "final_grad_norm",
        "grad_norm_ratio",
        "critical",
        "diverged",
        "converged",
        "plateau",
        "stall_step",
        "stalled",
        "loss_start",
        "loss_end",
        "tail_fluctuation",
        "summary",
    }
    assert out["plateau"] == {"start": 0, "end": r.plateau.end, "level": r.plateau.level}
    diverged = analyze_stall([1.0, np.nan], initial_grad_norm=1.0, final_grad_norm=1.0)
    assert diverged.to_dict()["plateau"] is None and diverged.diverged
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.stalled = False


def test_a_converged_loss_still_falling_tenfold_is_not_said_to_have_levelled_off():
    # Cross-entropy fitting its training set: 95% of the fall is done early, but on the log
    # scale of the diagnosis' figure the loss keeps falling 100-fold after that step.
    curve = 2.3 * 0.97 ** np.arange(300)
    r = analyze_stall(curve, initial_grad_norm=1.0, final_grad_norm=0.01, baseline=2.3)
    assert r.converged and r.stalled
    # The moving mean over 15 steps centred on the stall step, against the last 15 steps'.
    centred = curve[r.stall_step - 7 : r.stall_step + 8]
    later = float(np.mean(centred) / np.mean(curve[-15:]))
    assert later > 10
    assert "levelled off" not in r.summary
    assert f"95% of its decrease by step {r.stall_step}" in r.summary
    assert "kept falling" in r.summary and f"{later:.3g}× more" in r.summary


def test_a_converged_loss_that_is_flat_on_a_log_scale_levelled_off():
    curve = np.concatenate([np.linspace(2.3, 0.05, 60), np.full(240, 0.05)])
    r = analyze_stall(curve, initial_grad_norm=1.0, final_grad_norm=0.01, baseline=2.3)
    step = re.search(r"levelled off from step (\d+) at", r.summary)
    # The fall ends at step 59; the moving mean over 15 steps places it within half a window.
    assert r.converged and step and 52 <= int(step[1]) <= 66


def test_an_overflowed_final_gradient_is_divergence_not_inf_in_words():
    r = analyze_stall(plateau(), initial_grad_norm=2.0, final_grad_norm=float("inf"))
    assert r.diverged and not r.critical and r.final_grad_norm is None
    assert "inf" not in r.summary and "diverged" in r.summary


def test_an_overflowed_initial_gradient_is_not_a_critical_point():
    r = analyze_stall(plateau(), initial_grad_norm=float("inf"), final_grad_norm=1.5)
    assert not r.critical and r.grad_norm_ratio is None
    assert "inf" not in r.summary


def test_one_step_is_counted_in_the_singular():
    r = analyze_stall([1.0], initial_grad_norm=1.0, final_grad_norm=0.5)
    assert "1 steps" not in r.summary


def test_a_gradient_just_above_the_critical_norm_is_printed_above_it():
    # ‖g‖ = 0.0010004 > critical_grad_norm 1e-3 (and the ratio 0.010004 > 0.01): "the
    # gradient stayed large" must not sit beside "‖g‖ = 0.001 … 0.01 × its initial".
    r = analyze_stall(plateau(noise=0.05), initial_grad_norm=0.1, final_grad_norm=0.0010004)
    assert not r.critical
    assert "‖g‖ = 0.0010004" in r.summary and "0.010004 ×" in r.summary, r.summary


def test_the_stall_step_is_a_step_of_the_raw_curve_not_of_the_smoothed_one():
    # The loss falls linearly for 100 steps, then stays flat, over 400: the raw curve first
    # comes within 5% of its floor at step 95. The moving mean over w = 20 steps starting at
    # step i was read as step i, (w − 1)/2 = 9.5 steps early (87).
    from jaxtrain.diagnose import analyze_stall

    losses = np.concatenate([np.linspace(2.0, 1.0, 100), np.full(300, 1.0)])
    report = analyze_stall(losses, initial_grad_norm=1.0, final_grad_norm=1e-4)
    assert 93 <= report.stall_step <= 99


def test_a_loss_that_barely_moved_is_not_said_to_oscillate():
    # η far too small: the loss falls 2% in 300 steps, smoothly, its gradient unchanged. It
    # never fell by the stall tolerance, but nothing rose or fluctuated: no oscillation was
    # measured, and "the learning rate is too large" would point the remedy the wrong way.
    curve = np.linspace(1.0, 0.98, 300)
    r = analyze_stall(curve, initial_grad_norm=1.0, final_grad_norm=0.99, baseline=1.0)
    assert not r.stalled and r.stall_step is None and not r.critical
    assert "too large" not in r.summary and "oscillates" not in r.summary, r.summary
    assert "barely moved" in r.summary and "too small" in r.summary, r.summary
    # Its numbers: the moving mean (15 steps, its ends half a window inside the run) fell
    # 1.9%, from 1 to 0.98, below the 5% stall tolerance.
    assert "fell 1.9% (from 1 to 0.98), no more than the stall tolerance 5%" in r.summary, r.summary
    flat = analyze_stall(np.full(100, 1.0), initial_grad_norm=1.0, final_grad_norm=0.9)
    assert not flat.stalled and "too large" not in flat.summary, flat.summary
    assert "barely moved" in flat.summary and "fell 0%" in flat.summary, flat.summary


def test_a_loss_that_never_fell_but_rose_oscillates():
    # The loss never fell below its start and climbed 80% above its best: steps went uphill.
    curve = np.concatenate([np.full(100, 1.0), np.full(100, 1.8), np.full(100, 1.0)])
    r = analyze_stall(curve, initial_grad_norm=1.0, final_grad_norm=0.9)
    assert r.stalled and r.stall_step == 0 and not r.critical
    assert "rose 80%" in r.summary and "learning rate is too large" in r.summary, r.summary
    # A loss that barely moved at a small gradient stays a critical point (§2).
    still = analyze_stall(np.full(100, 1.0), initial_grad_norm=1.0, final_grad_norm=1e-4)
    assert still.stalled and still.stall_step == 0 and still.critical


@pytest.mark.parametrize("curve", [[4.0], [4.0, 2.0], [4.0, 2.0, 1.0], [8.0, 4.0, 2.0, 1.0]])
def test_a_run_too_short_to_tell_is_not_read_as_a_stall(curve):
    # The last step of a 1–4-step run met the stall test (n − 1 ≤ ¾n), and a one-point
    # "plateau" [0, 0] was a quarter of the run: a loss halving every step was read as a
    # saddle point and a learning rate too large.
    r = analyze_stall(curve, initial_grad_norm=1.0, final_grad_norm=0.9)
    assert not r.stalled and r.stall_step is None and r.plateau is None
    assert not r.diverged and r.tail_fluctuation is None
    assert "too short to tell" in r.summary, r.summary
    assert f"{len(curve)} step" in r.summary and "8 steps" in r.summary, r.summary
    for claim in ("plateau", "saddle", "too large", "stopped falling", "stalled at"):
        assert claim not in r.summary, r.summary


def test_seven_steps_are_too_short_and_eight_are_read():
    halving = 8.0 * 0.5 ** np.arange(7)
    assert "too short" in analyze_stall(halving, initial_grad_norm=1, final_grad_norm=1).summary
    # From 8 steps on a quarter of the run holds two steps: the stall is read as before.
    curve = [4.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    r = analyze_stall(curve, initial_grad_norm=1.0, final_grad_norm=1e-4)
    assert r.stalled and r.stall_step == 2 and r.critical and "critical point" in r.summary


def test_a_short_run_that_diverged_still_reads_diverged():
    r = analyze_stall([1.0, 5.0, np.inf], initial_grad_norm=1.0, final_grad_norm=1.0)
    assert r.diverged and r.stall_step == 2 and "diverged" in r.summary


def test_a_converged_loss_that_rose_after_its_lowest_says_so_where_it_levelled_off():
    # Before, the levelled-off branch named only the end, "levelled off ... at 0.181 × the
    # baseline", for a loss that fell to 0.0083 × B and then rose 22-fold to that end.
    curve = np.concatenate([np.linspace(2.0, 0.004, 100), np.linspace(0.004, 0.38, 100)])
    r = analyze_stall(curve, initial_grad_norm=1.0, final_grad_norm=0.5, baseline=2.0)
    assert r.converged and r.stalled
    found = re.search(r"fell to ([0-9.]+) × the baseline at step (\d+), then rose to ", r.summary)
    assert found is not None, r.summary
    assert float(found[1]) == pytest.approx(0.0083, abs=1e-4)
    # The lowest smoothed point lies within half a window (5 steps) of the curve's, step 99.
    assert 94 <= int(found[2]) <= 105
    assert "then rose to 0.181 × the baseline" in r.summary
    assert "levelled off" not in r.summary


def test_batch_noise_without_a_trend_is_no_fall():
    # Mini-batch noise of 5% around a constant loss: the moving mean's lowest point lies
    # below its start by noise alone. Read as a fall, 14 of 200 such runs "stopped falling"
    # and were told the learning rate is too large (4 more "still falling"); a fall must
    # exceed what the noise moves the moving mean (6 of its standard errors).
    readings = []
    for seed in range(200):
        curve = 1.0 + 0.05 * np.random.default_rng(seed).standard_normal(300)
        r = analyze_stall(curve, initial_grad_norm=1.0, final_grad_norm=1.0)
        readings.append(r.summary.startswith("The loss barely moved") and not r.stalled)
    assert all(readings), f"{readings.count(False)} of 200 read as a fall or a stall"
    r = analyze_stall(
        1.0 + 0.05 * np.random.default_rng(0).standard_normal(300),
        initial_grad_norm=1.0,
        final_grad_norm=1.0,
    )
    assert "batch noise" in r.summary and "too large" not in r.summary, r.summary


def test_a_real_fall_under_batch_noise_is_still_a_fall():
    # The same noise on a loss that falls 30% and then stays: a fall, then a stall.
    rng = np.random.default_rng(1)
    curve = np.concatenate([np.linspace(1.0, 0.7, 100), np.full(200, 0.7)])
    r = analyze_stall(
        curve + 0.05 * rng.standard_normal(300), initial_grad_norm=1.0, final_grad_norm=1e-4
    )
    assert r.stalled and r.critical and 80 <= r.stall_step <= 120, r.summary


def test_a_negative_loss_that_fell_and_stayed_has_no_plateau_and_no_rise():
    # A log-likelihood loss falls from -1 to -3 and stays there: the relative tests of a
    # plateau's escape and of a rise after the lowest point assumed a positive level, and
    # read "a plateau from step 92 to 399 before falling again" and "fell to -3 × the
    # baseline, then rose to -3". Shifted to positive values the same curve reads right.
    curve = np.concatenate([np.linspace(-1.0, -3.0, 100), np.full(300, -3.0)])
    r = analyze_stall(curve, initial_grad_norm=1.0, final_grad_norm=0.5, baseline=1.0)
    assert r.plateau is None, r.plateau
    assert "plateau" not in r.summary and "rose" not in r.summary, r.summary
    shifted = analyze_stall(curve + 4.0, initial_grad_norm=1.0, final_grad_norm=0.5, baseline=10.0)
    assert shifted.plateau is None and "rose" not in shifted.summary
    # A negative loss that rose again still says so.
    back = np.concatenate([curve, np.linspace(-3.0, -2.0, 100)])
    r = analyze_stall(back, initial_grad_norm=1.0, final_grad_norm=0.5, baseline=1.0)
    assert "then rose to" in r.summary, r.summary


def test_a_fall_under_a_repeating_batch_pattern_is_a_fall():
    # A fixed order of 10 batches, each with its own offset, around a level falling 3.0 → 1.5:
    # the moving mean (20 steps) cancels the pattern, but the noise read from step-to-step
    # changes made the fall "no more than batch noise alone moves it (68%)". The noise is
    # read from block means, which the pattern does not move.
    t = np.arange(400)
    offsets = np.array([1.2, -0.8, 0.3, -1.5, 0.9, -0.2, 1.4, -1.1, 0.5, -0.7])
    losses = 3.0 - 1.5 * np.minimum(t / 200, 1.0) + offsets[t % 10] - offsets.mean()
    r = analyze_stall(losses, initial_grad_norm=1.0, final_grad_norm=0.9)
    assert r.stalled and 180 <= r.stall_step <= 200, r.summary
    assert "barely moved" not in r.summary
