"""k-fold model selection: the per-fold table and the choice."""

import json

import numpy as np
import pytest

from jaxtrain.diagnose import Budget, CrossValidation, ModelSpec, cross_validate
from jaxtrain.diagnose._cross_validate import choose


def xor(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    return x, (x[:, 0] * x[:, 1] > 0).astype(np.int32)


@pytest.mark.slow
def test_cross_validation_chooses_the_flexible_model_on_xor():
    x, y = xor()
    linear = ModelSpec("mlp", (2,), 2, depth=0)
    mlp = ModelSpec("mlp", (2,), 2, width=32, depth=1)
    cv = cross_validate(
        [linear, mlp], (x, y), k=3, budget=Budget(steps=150, learning_rate=0.03, seeds=1)
    )
    assert cv.choice == "mlp-1x32-relu"
    assert len(cv.table) == 6
    assert [(r["candidate"], r["fold"]) for r in cv.table[:3]] == [("linear", i) for i in range(3)]
    assert cv.mean_val_loss["linear"] > 0.6 > 0.4 > cv.mean_val_loss["mlp-1x32-relu"]
    linear_rows = [r["val_loss"] for r in cv.table if r["candidate"] == "linear"]
    np.testing.assert_allclose(cv.mean_val_loss["linear"], np.mean(linear_rows))
    np.testing.assert_allclose(cv.std_val_loss["linear"], np.std(linear_rows))
    assert cv.table[0]["n_params"] == 6
    assert json.loads(cv.to_json())["choice"] == cv.choice
    assert "| mlp-1x32-relu ★ |" in cv.to_markdown()


def test_folds_come_from_kfold_indices_and_validate_every_example_once(monkeypatch):
    from jaxtrain import data

    calls = []
    original = data.kfold_indices

    def spy(n, k, *, seed, stratify_labels=None):
        calls.append((n, k, seed, stratify_labels is not None))
        return original(n, k, seed=seed, stratify_labels=stratify_labels)

    monkeypatch.setattr(data, "kfold_indices", spy)
    x, y = xor(60)
    cv = cross_validate(
        [ModelSpec("mlp", (2,), 2, depth=0)], (x, y), k=4, budget=Budget(steps=5, seeds=1), seed=7
    )
    assert calls == [(60, 4, 7, True)]
    assert sorted(r["fold"] for r in cv.table) == [0, 1, 2, 3]


def test_ties_and_divergence_pick_the_earlier_finite_candidate():
    nan = float("nan")
    assert choose({"a": nan, "b": 0.5, "c": 0.5}) == "b"
    assert choose({"a": 0.7, "b": 0.2}) == "b"
    assert choose({"a": nan, "b": nan}) == "a"
    cv = CrossValidation(2, [], {"a": nan, "b": 0.5}, {"a": nan, "b": 0.0}, "b")
    assert cv.to_dict()["mean_val_loss"]["a"] is None


def test_bad_k_raises():
    x, y = xor(20)
    with pytest.raises(ValueError, match="k"):
        cross_validate([ModelSpec("mlp", (2,), 2, depth=0)], (x, y), k=1)
