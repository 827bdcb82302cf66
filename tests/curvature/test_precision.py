"""Every entry point traces its products at precision=HIGHEST (no bfloat16/TF32 passes)."""

import jax
import jax.numpy as jnp
import pytest

from jaxtrain.curvature import (
    analyze_critical_point,
    eigenvalues,
    hessian,
    hvp,
    lanczos,
    power_iteration,
    spectral_density,
    trace,
)

A = jnp.diag(jnp.arange(1.0, 7.0))


class PrecisionSpy:
    """A linear operator that records the default matmul precision whenever it is traced."""

    def __init__(self):
        self.seen = []

    def __call__(self, v):
        self.seen.append(jax.config.jax_default_matmul_precision)
        return A @ v


def _loss_spy(seen):
    def loss(w):
        seen.append(jax.config.jax_default_matmul_precision)
        return 0.5 * w @ (A @ w)

    return loss


@pytest.mark.parametrize(
    "run",
    [
        lambda mv: lanczos(mv, jnp.zeros(6), 4, jax.random.key(0)),
        lambda mv: eigenvalues(mv, jnp.zeros(6), k=1, key=jax.random.key(0)),
        lambda mv: power_iteration(mv, jnp.zeros(6), k=1, key=jax.random.key(0)),
        lambda mv: trace(mv, jnp.zeros(6), num_samples=3, key=jax.random.key(0)),
        lambda mv: spectral_density(
            mv, jnp.zeros(6), num_probes=1, num_iters=3, key=jax.random.key(0)
        ),
    ],
    ids=["lanczos", "eigenvalues", "power_iteration", "trace", "spectral_density"],
)
def test_matrix_free_entry_points(run):
    spy = PrecisionSpy()
    run(spy)
    assert spy.seen and set(spy.seen) == {"highest"}
    assert jax.config.jax_default_matmul_precision is None  # restored afterwards


@pytest.mark.parametrize(
    "run",
    [
        lambda loss: hessian(loss, jnp.ones(6)),
        lambda loss: analyze_critical_point(loss, jnp.ones(6)),
        lambda loss: hvp(loss, jnp.ones(6))(jnp.ones(6)),
    ],
    ids=["hessian", "analyze_critical_point", "hvp"],
)
def test_dense_entry_points(run):
    seen = []
    run(_loss_spy(seen))
    assert seen and set(seen) == {"highest"}


def test_hvp_jaxpr_carries_highest_precision():
    matvec = hvp(lambda w: 0.5 * w @ (A @ w), jnp.ones(6))
    jaxpr = str(jax.make_jaxpr(matvec)(jnp.ones(6)))
    assert "dot_general" in jaxpr
    assert "HIGHEST" in jaxpr and "DEFAULT" not in jaxpr
