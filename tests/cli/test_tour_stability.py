"""The edge-of-stability and critical-batch-size experiments: records, summaries, captions."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrain.cli import _tour_stability as ts
from jaxtrain.losses import mse


def _run(ratios, *, eta=0.5, every=10, loss=None):
    """A synthetic edge_of_stability run whose λ/threshold at the measured steps is ``ratios``."""
    steps = every * len(ratios)
    sharpness = np.full(steps, np.nan)
    threshold = np.full(steps, np.nan)
    sharpness[::every] = np.asarray(ratios) * 2 / eta
    threshold[::every] = 2 / eta
    loss = np.linspace(1.0, 0.1, steps) if loss is None else np.asarray(loss)
    return {"step": np.arange(steps), "loss": loss, "sharpness": sharpness, "threshold": threshold}


def test_half_squared_error_is_half_the_sum_over_classes():
    rng = np.random.default_rng(0)
    predictions = jnp.asarray(rng.normal(size=(7, 10)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, 10, size=7), jnp.int32)
    one_hot = np.eye(10)[np.asarray(labels)]
    expected = 0.5 * np.mean(np.sum((np.asarray(predictions) - one_hot) ** 2, axis=-1))
    assert float(ts.half_squared_error(predictions, labels)) == pytest.approx(expected, rel=1e-6)
    # five times jaxtrain.losses.mse, which also averages over the 10 outputs
    assert float(ts.half_squared_error(predictions, labels)) == pytest.approx(
        5 * float(mse(predictions, labels)), rel=1e-6
    )


def test_stability_digits_are_the_first_n_standardized_and_read_only():
    x, y = ts.stability_digits(300)
    assert x.shape == (300, 64) and y.shape == (300,) and x.dtype == np.float32
    assert np.abs(x.mean(axis=0)).max() < 1e-5
    spread = x.std(axis=0)
    assert np.all((np.abs(spread - 1) < 1e-3) | (spread == 0))  # constant pixels map to 0
    assert not x.flags.writeable and not y.flags.writeable
    with pytest.raises(ValueError, match="num_examples"):
        ts.stability_digits(5000)


def test_edge_of_stability_records_sharpness_and_two_over_eta_at_measured_steps():
    runs = ts.edge_of_stability((0.5,), steps=12, every=5)
    assert list(runs) == [0.5]
    for eta, run in runs.items():
        assert set(run) == {"step", "loss", "sharpness", "threshold"}
        for values in run.values():
            assert values.shape == (12,)
        np.testing.assert_array_equal(run["step"], np.arange(12))
        measured = np.isfinite(run["sharpness"])
        np.testing.assert_array_equal(np.nonzero(measured)[0], [0, 5, 10])
        np.testing.assert_array_equal(np.isfinite(run["threshold"]), measured)
        np.testing.assert_allclose(run["threshold"][measured], 2 / eta, rtol=1e-6)
        assert np.all(run["sharpness"][measured] > 0) and np.all(np.isfinite(run["loss"]))


def test_adam_is_measured_preconditioned_against_38_over_eta():
    run = ts.edge_of_stability((1e-3,), steps=6, every=5, optimizer="adam")[1e-3]
    measured = np.isfinite(run["sharpness"])
    np.testing.assert_allclose(run["threshold"][measured], 38 / 1e-3, rtol=1e-5)
    with pytest.raises(ValueError, match="'gd' or 'adam'"):
        ts.edge_of_stability((0.1,), steps=2, every=1, optimizer="rmsprop")


def test_edge_summary_finds_the_rise_and_the_hover():
    ratios = [1.2, 0.6, 0.7, 0.8, 0.96, 1.01, 0.98, 1.03, 0.99, 1.02]
    loss = np.array([1.0, 0.9] * 50)  # rises at every other step
    s = ts.edge_summary(_run(ratios, eta=0.2, loss=loss))
    assert s["threshold"] == pytest.approx(10.0)
    assert s["sharpness_start"] == pytest.approx(12.0)
    assert (s["lowest_step"], s["lowest_ratio"]) == (10, pytest.approx(0.6))
    assert s["edge_step"] == 40  # the first ≥ 0.95 after the lowest point, not step 0
    assert (s["hover_from"], s["hover_to"]) == (50, 90)
    assert s["hover_min"] == pytest.approx(0.98) and s["hover_max"] == pytest.approx(1.03)
    assert s["loss_rises"] == pytest.approx(0.5, abs=0.02)
    assert ts.edge_summary(_run([0.5, 0.55, 0.6, 0.62]))["edge_step"] is None


def test_caption_states_the_measured_range_and_where_it_lies():
    runs = {
        0.2: _run([0.6, 0.7, 0.96, 0.99, 1.02, 1.01], eta=0.2),
        0.1: _run([0.4, 0.45, 0.5, 0.55, 0.58, 0.6], eta=0.1),
        0.5: _run([2.0, 0.9, 1.15, 1.3, 1.2, 1.25], eta=0.5),
    }
    caption = ts.edge_of_stability_caption(runs, num_examples=1000)
    assert "η = 0.2: λmax·η/2 = 0.99–1.02 over steps 30–50, within 10% of 2/η" in caption
    assert "rose from 0.60 at step 0 to 0.95 by step 20" in caption
    assert "η = 0.1: λmax·η/2 = 0.55–0.60 over steps 30–50, below 2/η" in caption
    assert "η = 0.5: λmax·η/2 = 1.20–1.30 over steps 30–50, above 2/η" in caption
    adam = {3e-3: _run([0.5, 0.8, 0.97, 0.85, 1.04, 0.99], eta=3e-3)}
    caption = ts.edge_of_stability_caption(runs, adam, num_examples=1000)
    assert "Adam η = 0.003: its preconditioned sharpness over 38/η = 0.85–1.04" in caption
    assert "on both sides of 38/η (first ≥ 0.95 at step 20)" in caption


def test_critical_batch_size_returns_steps_and_noise_scale_per_batch_size():
    result = ts.critical_batch_size((None, 10), target_loss=0.6, max_steps=60)
    np.testing.assert_array_equal(result["batch_size"], [10, 1000])
    assert np.all(np.isfinite(result["steps"]))
    assert result["steps"][0] <= result["run_steps"][0] == 60
    # the full-batch run is capped at 1.5 S(10) + 200/10 steps (whole epochs of one step)
    assert result["run_steps"][1] == min(60, math.ceil(1.5 * result["steps"][0]) + 20)
    assert np.all(np.isfinite(result["noise_scale"])) and np.all(result["noise_scale"] > 0)
    assert result["b_simple"] == result["noise_scale"][-1]
    assert len(result["loss"]) == len(result["noise_records"]) == 2
    assert len(result["loss"][1]) == result["run_steps"][1]  # window 1 at B = N: exact loss
    caption = ts.critical_batch_size_caption(result)
    assert f"{result['b_simple']:.2f}" in caption and "B = 1000" in caption


def test_critical_batch_size_caption_names_sizes_that_missed_the_target():
    result = {
        "batch_size": np.array([1, 16, 1000]),
        "steps": np.array([np.nan, 120.0, 80.0]),
        "run_steps": np.array([500, 500, 181]),
        "noise_scale": np.array([np.nan, 40.0, 90.0]),
        "s_min": math.nan,
        "b_crit": math.nan,
        "b_simple": 90.0,
        "target_loss": 0.2,
        "learning_rate": 0.05,
        "num_examples": 1000,
    }
    caption = ts.critical_batch_size_caption(result)
    assert "from 120 at B = 16 to 80 at B = 1000" in caption
    assert "not reached within the cap at B = 1" in caption
    assert "does not fit" in caption and "B_simple = 90.00" in caption
    result.update(s_min=70.0, b_crit=5.0, b_simple=1000.0)
    caption = ts.critical_batch_size_caption(result)
    assert "B_simple = 1000.00: the knee sits 200.0× below it" in caption
    assert "the run at B = 16 records a median of 40.0" in caption
    # A median record of +inf: |G|² was not resolved, and the caption says so.
    result.update(b_simple=math.inf, noise_scale=np.array([np.nan, 40.0, np.inf]))
    caption = ts.critical_batch_size_caption(result)
    assert "is +inf: |G|² was not resolved" in caption


@pytest.mark.slow
def test_gradient_descent_sharpens_to_two_over_eta():
    """η = 0.2: λmax falls below 2/η early, then rises back to it (Cohen et al.'s sharpening)."""
    run = ts.edge_of_stability((0.2,), steps=450, every=25)[0.2]
    summary = ts.edge_summary(run)
    assert summary["threshold"] == pytest.approx(10.0)
    assert summary["lowest_ratio"] < 0.8
    assert summary["edge_step"] is not None and summary["edge_step"] <= 450
    measured = np.isfinite(run["sharpness"])
    assert np.max(run["sharpness"][measured][-4:]) * 0.2 / 2 > 0.95
    assert run["loss"][-1] < 0.1 * run["loss"][0]
