"""scale_by_momentum: optax.trace parity, NumPy reference, and the lecture's m ← λm − ηg form."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optim_numpy_references as ref
from hypothesis import given
from hypothesis import strategies as st
from optim_cases import x64_enabled
from optim_strategies import PROPERTY, decays, gradient_sequences

from jaxtrain.optim import ScaleByMomentumState, optimize_trajectory, scale_by_momentum, sgd


@PROPERTY
@given(grads=gradient_sequences(), decay=decays, nesterov=st.booleans())
def test_matches_numpy_reference(grads, decay, nesterov):
    with x64_enabled():
        ours = ref.transform_directions(scale_by_momentum(decay, nesterov=nesterov), grads)
    np.testing.assert_allclose(ours, ref.momentum(grads, decay, nesterov), rtol=1e-12, atol=1e-12)


def test_equals_optax_trace():
    grads = jax.random.normal(jax.random.key(0), (10, 3))
    for nesterov in (False, True):
        ours = ref.transform_directions(
            scale_by_momentum(0.8, nesterov=nesterov), grads, use_jit=True
        )
        theirs = ref.transform_directions(optax.trace(0.8, nesterov=nesterov), grads, use_jit=True)
        np.testing.assert_array_equal(ours, theirs)


def test_sgd_momentum_takes_the_lectures_iterates():
    """θ ← θ − η b with b ← g + λb equals m ← λm − ηg, θ ← θ + m for a constant η."""
    scales = np.array([1.0, 10.0])

    def loss(theta):
        return 0.5 * jnp.sum(scales * theta**2)

    with x64_enabled():
        start = jnp.array([2.0, -1.0])
        path, _ = optimize_trajectory(sgd(0.05, momentum=0.9), loss, start, 40)
        lecture = ref.lecture_momentum_iterates(
            np.array([2.0, -1.0]), lambda th: scales * th, 0.05, 0.9, 40
        )
    np.testing.assert_allclose(path, lecture, rtol=1e-12, atol=1e-14)


def test_accumulator_dtype_is_kept():
    tx = scale_by_momentum(0.9, accumulator_dtype=jnp.bfloat16)
    state = tx.init(jnp.zeros(3))
    assert isinstance(state, ScaleByMomentumState)
    assert state.trace.dtype == jnp.bfloat16
    direction, state = jax.jit(tx.update)(jnp.ones(3), state)
    assert state.trace.dtype == jnp.bfloat16
    assert direction.dtype == jnp.float32
