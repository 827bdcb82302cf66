"""Budget: one training budget for every candidate."""

import json

import numpy as np
import optax
import pytest

from jaxtrain.diagnose import Budget


def test_defaults_and_seeds():
    b = Budget()
    assert (b.steps, b.batch_size, b.learning_rate, b.holdout_fraction) == (300, 64, 3e-3, 0.2)
    assert b.seed_list() == (0, 1, 2)
    assert Budget(seeds=[4, 2]).seed_list() == (4, 2)
    assert b.to_dict()["optimizer"] == "adam" and b.to_dict()["seeds"] == [0, 1, 2]


def test_the_default_optimizer_is_adam_with_the_learning_rate():
    import jax.numpy as jnp

    opt = Budget(learning_rate=0.1).make_optimizer()
    ref = optax.adam(0.1)
    params = {"w": jnp.ones(3)}
    grads = {"w": jnp.array([1.0, -2.0, 0.5])}
    u, _ = opt.update(grads, opt.init(params), params)
    u_ref, _ = ref.update(grads, ref.init(params), params)
    assert jnp.allclose(u["w"], u_ref["w"])
    custom = optax.sgd(0.5)
    assert Budget(optimizer=custom).make_optimizer() is custom


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 0}, "steps"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"holdout_fraction": 1.0}, "holdout_fraction"),
        ({"optimizer": "adam"}, "GradientTransformation"),
        ({"seeds": 0}, "seeds"),
        ({"seeds": [1, 1]}, "distinct"),
        ({"seeds": []}, "distinct"),
    ],
)
def test_bad_budgets_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Budget(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        # Each was accepted: inf and True as learning rates, seeds truncated to (0, 1) or
        # read as the characters of "12".
        ({"learning_rate": float("inf")}, "learning_rate"),
        ({"learning_rate": True}, "learning_rate"),
        ({"seeds": [0.5, 1.5]}, "seeds"),
        ({"seeds": "12"}, "seeds"),
    ],
)
def test_budget_values_that_mean_something_else_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Budget(**kwargs)


def test_numpy_numbers_are_budget_values():
    budget = Budget(learning_rate=np.float32(1e-3), steps=np.int64(10), seeds=[np.int64(2)])
    assert budget.seed_list() == (2,)
    assert json.dumps(budget.to_dict())  # plain JSON numbers, not NumPy scalars


def test_a_custom_optimizer_does_not_report_the_unused_default_learning_rate():
    # Before: Budget(optimizer=optax.sgd(0.5)).to_dict() said learning_rate=0.003, the η of
    # the default Adam that never ran.
    custom = Budget(optimizer=optax.sgd(0.5), learning_rate=3e-3).to_dict()
    assert custom["learning_rate"] is None and custom["final_learning_rate"] is None
    # What a run recorded (History.per_step["learning_rate"]) is what was used.
    used = Budget(optimizer=optax.sgd(0.5)).to_dict(learning_rates=np.array([0.5, 0.5, 0.25]))
    assert used["learning_rate"] == 0.5 and used["final_learning_rate"] == 0.25
    unknown = Budget(optimizer=optax.sgd(0.5)).to_dict(learning_rates=np.full(3, np.nan))
    assert unknown["learning_rate"] is None
    default = Budget(learning_rate=0.01).to_dict()
    assert default["learning_rate"] == 0.01 == default["final_learning_rate"]


@pytest.mark.parametrize("seeds", [2.0, True, None])
def test_seeds_that_are_neither_a_count_nor_a_sequence_are_a_value_error(seeds):
    with pytest.raises(ValueError, match="seeds"):
        Budget(seeds=seeds)


def test_negative_seeds_are_refused_before_any_training():
    # Accepted, then the k-fold partition refused seed -1 once the diagnosis ran.
    with pytest.raises(ValueError, match="non-negative"):
        Budget(seeds=[-1, 0])


@pytest.mark.parametrize(("fraction", "folds"), [(0.2, 5), (0.3, 3), (0.4, 2), (0.5, 2)])
def test_the_budget_reports_how_many_folds_the_holdout_fraction_makes(fraction, folds):
    budget = Budget(holdout_fraction=fraction)
    assert budget.holdout_folds == folds
    assert budget.to_dict()["holdout_folds"] == folds


def test_a_holdout_fraction_above_one_half_is_refused():
    # Disjoint folds hold out at most half: 0.9 held out 50 of 100 examples and reported 0.9.
    with pytest.raises(ValueError, match="holdout_fraction"):
        Budget(holdout_fraction=0.9)
