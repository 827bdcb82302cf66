"""Remedies per verdict, sharpened by the stall analysis."""

import pytest

from jaxtrain.diagnose import REMEDIES, VERDICTS, remedies


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
    oscillating = {"stalled": True, "critical": False}
    assert "learning rate" in remedies("optimization", stall=oscillating)[0]
    saddle = {"stalled": True, "critical": True, "curvature": {"kind": "saddle"}}
    assert "saddle" in remedies("model_bias", stall=saddle)[0]
    minimum = {"stalled": True, "critical": True, "curvature": {"kind": "minimum"}}
    assert "local minimum" in remedies("optimization", stall=minimum)[0]
    # Generalization verdicts are not about the optimizer.
    assert remedies("overfitting", stall=oscillating) == list(REMEDIES["overfitting"])


def test_unknown_verdict_raises():
    with pytest.raises(ValueError, match="unknown verdict"):
        remedies("bad_luck")
