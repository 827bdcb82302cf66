"""constant, exponential_decay, piecewise_constant, linear and cosine_decay ≡ optax's."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schedule_checks import STEPS, assert_schedules_equal, jitted_values, values

from jaxtrain.optim import schedules


def test_constant():
    assert_schedules_equal(schedules.constant(0.3), optax.constant_schedule(0.3))
    assert schedules.constant(0.3)(jnp.arange(4)).shape == (4,)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(init_value=1.0, transition_steps=10, decay_rate=0.5),
        dict(init_value=0.1, transition_steps=25, decay_rate=0.1, staircase=True),
        dict(init_value=1.0, transition_steps=7, decay_rate=0.9, transition_begin=30),
        dict(init_value=1.0, transition_steps=10, decay_rate=0.5, end_value=0.05),
        dict(init_value=0.01, transition_steps=10, decay_rate=1.5, end_value=0.2),
        dict(init_value=1.0, transition_steps=0, decay_rate=0.5),
        dict(init_value=1.0, transition_steps=5, decay_rate=0.0),
    ],
    ids=["smooth", "staircase", "begin", "floor", "growth_cap", "no_steps", "zero_rate"],
)
def test_exponential_decay_equals_optax(kwargs):
    assert_schedules_equal(schedules.exponential_decay(**kwargs), optax.exponential_decay(**kwargs))


@pytest.mark.parametrize(
    "boundaries_and_scales",
    [None, {}, {50: 0.1, 150: 0.1}, {100: 2.0, 30: 0.5, 200: 0.0}],
    ids=["none", "empty", "steps", "unsorted"],
)
def test_piecewise_constant_equals_optax(boundaries_and_scales):
    ours = schedules.piecewise_constant(0.4, boundaries_and_scales)
    theirs = optax.piecewise_constant_schedule(0.4, boundaries_and_scales)
    assert_schedules_equal(ours, theirs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(init_value=0.0, end_value=1.0, transition_steps=100),
        dict(init_value=1.0, end_value=0.1, transition_steps=50, transition_begin=20),
        dict(init_value=1.0, end_value=0.0, transition_steps=0),
    ],
    ids=["warmup", "decay_later", "no_steps"],
)
def test_linear_equals_optax(kwargs):
    assert_schedules_equal(schedules.linear(**kwargs), optax.linear_schedule(**kwargs))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(init_value=1.0, decay_steps=100),
        dict(init_value=0.5, decay_steps=37, alpha=0.1),
        dict(init_value=0.5, decay_steps=200, alpha=0.05, exponent=2.0),
    ],
)
def test_cosine_decay_equals_optax(kwargs):
    assert_schedules_equal(schedules.cosine_decay(**kwargs), optax.cosine_decay_schedule(**kwargs))


def test_cosine_decay_numpy_closed_form():
    ours = values(schedules.cosine_decay(2.0, decay_steps=100, alpha=0.1))
    t = np.minimum(STEPS, 100)
    expected = 2.0 * (0.9 * 0.5 * (1 + np.cos(np.pi * t / 100)) + 0.1)
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-7)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    init_value=st.floats(1e-4, 10.0),
    transition_steps=st.integers(1, 100),
    decay_rate=st.floats(0.01, 0.99),
    transition_begin=st.integers(0, 100),
    staircase=st.booleans(),
)
def test_exponential_decay_matches_numpy_closed_form(
    init_value, transition_steps, decay_rate, transition_begin, staircase
):
    kwargs = dict(
        init_value=init_value,
        transition_steps=transition_steps,
        decay_rate=decay_rate,
        transition_begin=transition_begin,
        staircase=staircase,
    )
    steps = np.arange(0, 300, 7)
    ours = np.asarray(schedules.exponential_decay(**kwargs)(jnp.asarray(steps, jnp.int32)))
    elapsed = np.maximum(steps - transition_begin, 0)
    power = elapsed / transition_steps
    if staircase:
        power = np.floor(power)
    # float32 flushes values below ~1e-38 to 0.
    np.testing.assert_allclose(ours, init_value * decay_rate**power, rtol=2e-5, atol=1e-30)


def test_staircase_drops_exactly_at_multiples_under_jit():
    # optax's float32 division puts 55/55 just below 1 under jit on CPU; integer division not.
    sched = schedules.exponential_decay(1.0, 55, 0.5, transition_begin=1, staircase=True)
    np.testing.assert_array_equal(jitted_values(sched, [55, 56, 110, 111]), [1.0, 0.5, 0.5, 0.25])


def test_counts_can_be_traced_int32_inside_an_optimizer():
    sched = schedules.piecewise_constant(1.0, {3: 0.5})
    traced = jax.jit(lambda c: sched(c))(jnp.int32(5))
    assert float(traced) == 0.5


@pytest.mark.parametrize("end_value", [None, 0.01])
def test_a_staircase_at_a_numpy_count_beyond_int32_decays_as_optax(end_value):
    # x64 off: np.int64(3e9) went through JAX's int32 division, wrapped below zero, and the
    # schedule gave init_value 1.0 where optax gives 0.5**3e6 = 0 (end_value 0.01).
    step = np.int64(3_000_000_000)
    kwargs = dict(transition_steps=1000, decay_rate=0.5, staircase=True, end_value=end_value)
    ours = schedules.exponential_decay(1.0, **kwargs)
    theirs = optax.exponential_decay(1.0, **kwargs)
    np.testing.assert_allclose(ours(step), theirs(step), rtol=1e-6)
    np.testing.assert_allclose(ours(step), end_value or 0.0, rtol=1e-6)
    # Concrete counts within int32, as Python and NumPy ints, agree with the traced path.
    for count in (0, 999, 1000, np.int32(2500), np.int64(4000)):
        np.testing.assert_allclose(ours(count), jax.jit(ours)(jnp.asarray(count)), rtol=1e-6)
