"""Remedies per verdict, sharpened by the stall analysis."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrain.diagnose import REMEDIES, VERDICTS, analyze_stall, remedies
from jaxtrain.diagnose._critical_point import curvature_check

_PLATEAU = np.concatenate([np.linspace(2.0, 0.5, 50), np.full(150, 0.5)])


def _stalled_at(loss_fn, params):
    """A stall at a critical point, with the Hessian's verdict on ``loss_fn`` at ``params``."""
    stall = analyze_stall(_PLATEAU, initial_grad_norm=1.0, final_grad_norm=1e-5)
    check = curvature_check(loss_fn, params, dense_max_params=10, key=jax.random.key(0))
    return dataclasses.replace(stall, curvature=check)


def _toy(w):
    return (1.0 - w[0] * w[1]) ** 2


def test_every_verdict_has_remedies():
    assert set(REMEDIES) == set(VERDICTS)
    for verdict in VERDICTS:
        assert remedies(verdict) == list(REMEDIES[verdict])
        assert len(remedies(verdict)) >= 3


def test_remedies_name_the_lecture_fixes():
    text = " ".join(remedies("optimization")).lower()
    for fix in ("adam", "normalization", "residual", "warmup"):
        assert fix in text
    text = " ".join(remedies("overfitting")).lower()
    for fix in ("more training data", "augment", "weight decay", "fewer parameters", "stop early"):
        assert fix in text
    assert "target distribution" in remedies("mismatch")[0]
    assert "more flexible" in remedies("model_bias")[0].lower()


def test_stall_findings_come_first():
    oscillating = analyze_stall(_PLATEAU, initial_grad_norm=1.0, final_grad_norm=0.8)
    assert oscillating.stalled and not oscillating.critical
    assert "learning rate" in remedies("optimization", stall=oscillating)[0]
    saddle = _stalled_at(_toy, jnp.zeros(2))
    assert saddle.curvature.kind == "saddle"
    assert "saddle" in remedies("model_bias", stall=saddle)[0]
    minimum = _stalled_at(lambda w: jnp.sum(w**2), jnp.zeros(2))
    assert minimum.curvature.kind == "minimum"
    assert "local minimum" in remedies("optimization", stall=minimum)[0]
    # Generalization verdicts are not about the optimizer.
    assert remedies("overfitting", stall=oscillating) == list(REMEDIES["overfitting"])


def test_every_kind_at_a_critical_point_has_its_remedy():
    flat = _stalled_at(_toy, jnp.ones(2))  # eigenvalues {0, 4}: no way down at second order
    assert flat.curvature.kind == "degenerate" and flat.curvature.num_negative == 0
    assert "degenerate" in remedies("optimization", stall=flat)[0]
    down = _stalled_at(lambda w: -jnp.sum(w**2) + w[0] ** 4, jnp.zeros(2))
    assert down.curvature.kind == "maximum"
    assert "negative eigenvalue (maximum)" in remedies("optimization", stall=down)[0]
    unmeasured = analyze_stall(_PLATEAU, initial_grad_norm=1.0, final_grad_norm=1e-5)
    assert remedies("optimization", stall=unmeasured) == list(REMEDIES["optimization"])


def test_unknown_verdict_raises():
    with pytest.raises(ValueError, match="unknown verdict"):
        remedies("bad_luck")


def test_a_loss_that_barely_moved_is_not_told_to_lower_the_learning_rate():
    # η far too small: 2% of fall in 300 steps with the gradient unchanged. Nothing measured
    # says η is too large, so no remedy may say "Lower it".
    barely = analyze_stall(np.linspace(1.0, 0.98, 300), initial_grad_norm=1.0, final_grad_norm=0.99)
    assert not any("Lower it" in remedy for remedy in remedies("optimization", stall=barely))
    assert remedies("optimization", stall=barely) == list(REMEDIES["optimization"])
    # A loss that rose 80% above its best without falling did overshoot: lower η.
    rose = np.concatenate([np.full(100, 1.0), np.full(100, 1.8), np.full(100, 1.0)])
    rising = analyze_stall(rose, initial_grad_norm=1.0, final_grad_norm=0.9)
    assert "Lower it" in remedies("optimization", stall=rising)[0]


def test_a_run_too_short_to_tell_adds_no_stall_remedy():
    short = analyze_stall([4.0, 2.0, 1.0], initial_grad_norm=1.0, final_grad_norm=0.9)
    assert remedies("optimization", stall=short) == list(REMEDIES["optimization"])
