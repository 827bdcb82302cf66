"""warmup_constant and warmup_cosine_decay ≡ optax's; inverse_sqrt ≡ its NumPy closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schedule_checks import STEPS, assert_schedules_equal, values

from jaxtrain.optim import schedules


@pytest.mark.parametrize("warmup_steps", [0, 1, 40])
def test_warmup_constant_equals_optax(warmup_steps):
    ours = schedules.warmup_constant(0.0, 0.5, warmup_steps)
    theirs = optax.warmup_constant_schedule(0.0, 0.5, warmup_steps)
    assert_schedules_equal(ours, theirs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(init_value=0.0, peak_value=1.0, warmup_steps=20, decay_steps=200),
        dict(init_value=0.1, peak_value=0.5, warmup_steps=0, decay_steps=100, end_value=0.01),
        dict(init_value=0.0, peak_value=1e-3, warmup_steps=50, decay_steps=120, exponent=2.0),
        dict(init_value=0.0, peak_value=0.0, warmup_steps=5, decay_steps=10),
    ],
    ids=["standard", "no_warmup", "exponent", "zero_peak"],
)
def test_warmup_cosine_decay_equals_optax(kwargs):
    ours = schedules.warmup_cosine_decay(**kwargs)
    theirs = optax.warmup_cosine_decay_schedule(**kwargs)
    assert_schedules_equal(ours, theirs)


def test_warmup_cosine_decay_steps_include_the_warmup():
    sched = schedules.warmup_cosine_decay(0.0, 1.0, warmup_steps=10, decay_steps=30, end_value=0.2)
    np.testing.assert_allclose(
        values(sched, [0, 5, 10, 30, 1000]), [0, 0.5, 1.0, 0.2, 0.2], rtol=1e-6
    )


def _inverse_sqrt_numpy(model_dim, warmup_steps, scale, counts):
    t = np.asarray(counts, np.float64) + 1
    if warmup_steps == 0:
        return scale * model_dim**-0.5 * t**-0.5
    return scale * model_dim**-0.5 * np.minimum(t**-0.5, t * warmup_steps**-1.5)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    model_dim=st.sampled_from([1, 64, 512]),
    warmup_steps=st.integers(0, 300),
    scale=st.floats(0.1, 10.0),
)
def test_inverse_sqrt_matches_numpy_closed_form(model_dim, warmup_steps, scale):
    sched = schedules.inverse_sqrt(model_dim, warmup_steps, scale=scale)
    expected = _inverse_sqrt_numpy(model_dim, warmup_steps, scale, STEPS)
    ours = np.asarray(sched(jnp.asarray(STEPS, jnp.int32)))
    np.testing.assert_allclose(ours, expected, rtol=1e-6)


def test_inverse_sqrt_is_the_transformer_schedule():
    sched = schedules.inverse_sqrt(model_dim=512, warmup_steps=4000)
    peak_count = 3999  # t = count + 1 = w: the top of the warmup
    peak = 512**-0.5 * 4000**-0.5
    np.testing.assert_allclose(values(sched, [peak_count]), [peak], rtol=1e-6)
    assert float(sched(peak_count - 100)) < peak and float(sched(peak_count + 100)) < peak
    vmapped = jax.jit(jax.vmap(sched))(jnp.arange(10, dtype=jnp.int32))
    np.testing.assert_allclose(vmapped, _inverse_sqrt_numpy(512, 4000, 1.0, range(10)), rtol=1e-6)


def test_warmup_constant_without_warmup_steps_stays_at_its_start_as_documented():
    # optax's rule, kept for parity and said in the docstring: a ramp of no steps never
    # reaches the peak.
    steps = jnp.arange(3)
    ours = schedules.warmup_constant(0.0, 1.0, 0)(steps)
    np.testing.assert_array_equal(ours, optax.warmup_constant_schedule(0.0, 1.0, 0)(steps))
    np.testing.assert_array_equal(ours, 0.0)
