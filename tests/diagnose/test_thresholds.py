"""Thresholds: documented defaults and validation."""

import dataclasses

import pytest

from jaxtrain.diagnose import CauseThresholds, Thresholds


def test_defaults_are_the_documented_ones():
    t = Thresholds()
    assert t.to_dict() == {
        "large_train_loss": 0.2,
        "large_gap": 0.1,
        "mismatch_factor": 2.0,
        "min_difference": 0.05,
        "noise_factor": 2.0,
        "critical_grad_ratio": 0.01,
        "critical_grad_norm": 1e-3,
        "stall_tolerance": 0.05,
        "dense_max_params": 2000,
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.large_gap = 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"large_train_loss": 0.0}, "large_train_loss"),
        ({"large_gap": float("nan")}, "large_gap"),
        ({"mismatch_factor": "x"}, "mismatch_factor"),
        ({"noise_factor": -1.0}, "noise_factor"),
        ({"stall_tolerance": 1.5}, "stall_tolerance"),
        ({"dense_max_params": 0}, "dense_max_params"),
        ({"dense_max_params": 10.5}, "dense_max_params"),
    ],
)
def test_bad_thresholds_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Thresholds(**kwargs)


def test_zero_is_allowed_where_it_means_off():
    t = Thresholds(noise_factor=0.0, min_difference=0.0, critical_grad_norm=0.0)
    assert t.noise_factor == 0.0


@pytest.mark.parametrize(
    "make",
    [
        lambda: Thresholds(large_gap="0.1"),
        lambda: CauseThresholds(failed_loss="0.2"),
        lambda: Thresholds(large_gap=True),
    ],
)
def test_a_threshold_given_as_a_string_or_bool_is_refused(make):
    # Before: "0.1" passed float() and was kept as a string; the run failed after training.
    with pytest.raises(ValueError, match="must be a number"):
        make()


def test_a_numpy_int_is_an_int_threshold():
    import numpy as np

    assert Thresholds(dense_max_params=np.int64(500)).dense_max_params == 500
