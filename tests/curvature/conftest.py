"""Fixtures for the curvature tests (the problems live in ``curvature_problems.py``)."""

import pytest
from curvature_problems import TraceCounter, make_mlp_problem, mlp_loss, toy_loss, x64_enabled


@pytest.fixture
def x64():
    """float64 for the duration of one test (both jax 0.7.2 and 0.10 accept the config)."""
    with x64_enabled():
        yield


@pytest.fixture
def mlp_problem():
    """Factory: ``(params, x, y)`` of a small tanh MLP regression; ``mlp_loss`` is its loss."""
    return make_mlp_problem


@pytest.fixture
def toy():
    """The lecture's toy loss L(w₁, w₂) = (1 − w₁w₂)²."""
    return toy_loss


@pytest.fixture
def mlp_loss_fn():
    return mlp_loss


@pytest.fixture
def trace_counter():
    return TraceCounter
