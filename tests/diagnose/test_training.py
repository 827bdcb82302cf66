"""One candidate run through jaxtrain.train.fit: shared compilation, standard errors."""

import logging

import jax
import numpy as np
import pytest

from jaxtrain import losses
from jaxtrain.diagnose import Budget, Candidate, ModelSpec
from jaxtrain.diagnose._training import (
    equal_sizes,
    evaluate_loss,
    fit_candidate,
    loss_standard_error,
)


class _Compilations(logging.Handler):
    """Collects the names of the functions XLA compiles (``jax.log_compiles``)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.names = []

    def emit(self, record):
        message = record.getMessage()
        if message.startswith("Finished XLA compilation of "):
            self.names.append(message.split(" of ")[1].split(" in ")[0])


def test_seeds_after_the_first_reuse_its_apply_and_compilation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    candidate = Candidate("m", ModelSpec("mlp", (3,), 2, width=8, depth=2))
    budget = Budget(steps=24, batch_size=32)
    optimizer = budget.make_optimizer()
    kwargs = {"loss": losses.softmax_cross_entropy, "budget": budget, "optimizer": optimizer}
    logger = logging.getLogger("jax")
    first_log, second_log = _Compilations(), _Compilations()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        with jax.log_compiles(True):
            logger.addHandler(first_log)
            first = fit_candidate(candidate, 0, (x, y), **kwargs)
            logger.removeHandler(first_log)
            logger.addHandler(second_log)
            second = fit_candidate(candidate, 1, (x, y), previous=first, **kwargs)
    finally:
        logger.removeHandler(first_log)
        logger.removeHandler(second_log)
        logger.setLevel(level)
    assert second.apply is first.apply
    assert not np.allclose(second.params0["head"]["kernel"], first.params0["head"]["kernel"])
    assert int(second.final.step) == 24 and not second.diverged
    # The scanned training epochs compile for the first seed only.
    assert "jit(run)" in first_log.names
    assert "jit(run)" not in second_log.names


def test_standard_error_matches_numpy_and_needs_per_example_losses():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 3)).astype(np.float32)
    y = rng.integers(0, 2, size=50).astype(np.int32)
    candidate = Candidate("m", ModelSpec("mlp", (3,), 2, width=4, depth=1))
    budget = Budget(steps=5, batch_size=25)
    run = fit_candidate(
        candidate,
        0,
        (x, y),
        loss=losses.softmax_cross_entropy,
        budget=budget,
        optimizer=budget.make_optimizer(),
    )
    logits, _ = run.final.apply(run.final.params, run.final.model_state, x, train=False)
    per_example = np.asarray(losses.softmax_cross_entropy(logits, y, reduction="none"))
    se = loss_standard_error(run.final, (x, y), losses.softmax_cross_entropy)
    np.testing.assert_allclose(se, per_example.std(ddof=1) / np.sqrt(50), rtol=1e-5)
    mean = evaluate_loss(run.final, (x, y), losses.softmax_cross_entropy)
    np.testing.assert_allclose(mean, per_example.mean(), rtol=1e-5)

    def no_reduction(predictions, targets):
        return losses.softmax_cross_entropy(predictions, targets)

    assert np.isnan(loss_standard_error(run.final, (x, y), no_reduction))
    assert np.isnan(loss_standard_error(run.final, None, no_reduction))
    assert np.isnan(evaluate_loss(run.final, None, no_reduction))
    assert np.isnan(loss_standard_error(run.final, (x[:1], y[:1]), losses.softmax_cross_entropy))

    # A loss read at each call: before, a weight changed since the first call was not seen.
    weight = 1.0

    def weighted(predictions, targets, reduction="mean"):
        return weight * losses.softmax_cross_entropy(predictions, targets, reduction=reduction)

    assert loss_standard_error(run.final, (x, y), weighted) == pytest.approx(se, rel=1e-6)
    weight = 3.0
    assert loss_standard_error(run.final, (x, y), weighted) == pytest.approx(3 * se, rel=1e-6)


def test_standard_error_in_chunks_is_one_program_without_a_python_loop():
    rng = np.random.default_rng(2)
    # Large, alike losses: E[ℓ²] − E[ℓ]² would lose most of the spread in float32.
    x = rng.normal(size=(103, 3)).astype(np.float32)
    y = np.zeros(103, np.float32)
    calls = []

    def apply(params, state, x, *, train, rng=None):
        calls.append(x.shape[0])
        return 1000.0 + x @ params, state

    params = np.array([0.3, -0.1, 0.2], np.float32)
    state = type("State", (), {"apply": staticmethod(apply), "params": params, "model_state": {}})
    losses_64 = (1000.0 + x.astype(np.float64) @ params.astype(np.float64)) ** 2
    expected = losses_64.std(ddof=1) / np.sqrt(losses_64.size)
    for chunk in (7, 10, 103, 500):  # a remainder of 5, 3, none; one chunk larger than n
        calls.clear()
        se = loss_standard_error(state, (x, y), losses.mse, chunk_size=chunk)
        np.testing.assert_allclose(se, expected, rtol=1e-4)
        # Traced for the shift, the output's shape, the scanned body and the remainder, never
        # run chunk by chunk from Python (103 / 7 is 15 chunks); and at one example, where
        # the loss is read.
        assert len(calls) <= 5 and calls.count(1) == 1, calls
        calls.clear()
        assert loss_standard_error(state, (x, y), losses.mse, chunk_size=chunk) == se
        # Only the loss's reading again: the same shapes reuse the compiled program.
        assert calls == [1], calls


def test_equal_sizes_trims_to_the_shortest():
    pairs = [(np.zeros((5, 2)), np.zeros(5)), (np.zeros((4, 2)), np.zeros(4))]
    assert [x.shape[0] for x, _ in equal_sizes(pairs)] == [4, 4]
    with pytest.raises(ValueError):
        equal_sizes([])
