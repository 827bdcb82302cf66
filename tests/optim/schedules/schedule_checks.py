"""Helpers for the schedule tests: evaluate eagerly, under jit with a traced int32 count."""

import jax
import jax.numpy as jnp
import numpy as np

STEPS = np.arange(0, 260)


def values(schedule, steps=STEPS):
    """η(t) for each t, one call per step with a Python int (as optax's tests do)."""
    return np.array([np.asarray(schedule(int(t)), np.float64) for t in steps])


def jitted_values(schedule, steps=STEPS):
    """η(t) with t a traced int32 scalar inside jit (as in an optimizer update)."""
    fn = jax.jit(schedule)
    return np.array([np.asarray(fn(jnp.int32(t)), np.float64) for t in steps])


def vmapped_values(schedule, steps=STEPS):
    """η(t) for a traced int32 vector of steps (vmap inside jit)."""
    return np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(steps, jnp.int32)), np.float64)


def assert_schedules_equal(ours, reference, rtol=1e-6, atol=1e-7):
    """Ours equals ``reference`` at every step of :data:`STEPS`, eagerly and under jit.

    ``atol`` is one float32 rounding of a value of size 1 (cosine tails cancel to ~0).
    """
    expected = values(reference)
    np.testing.assert_allclose(values(ours), expected, rtol=rtol, atol=atol)
    np.testing.assert_allclose(vmapped_values(ours), expected, rtol=rtol, atol=atol)
