"""join ≡ optax.join_schedules: later schedules see the step relative to their boundary."""

import numpy as np
import optax
from schedule_checks import assert_schedules_equal, values

from jaxtrain.optim import schedules


def test_join_equals_optax_join_schedules():
    parts = [
        schedules.linear(0.0, 1.0, transition_steps=30),
        schedules.constant(1.0),
        schedules.exponential_decay(1.0, transition_steps=20, decay_rate=0.5),
    ]
    optax_parts = [
        optax.linear_schedule(0.0, 1.0, transition_steps=30),
        optax.constant_schedule(1.0),
        optax.exponential_decay(1.0, transition_steps=20, decay_rate=0.5),
    ]
    assert_schedules_equal(
        schedules.join(parts, [30, 100]), optax.join_schedules(optax_parts, [30, 100])
    )


def test_single_schedule_and_relative_steps():
    assert_schedules_equal(
        schedules.join([schedules.constant(0.2)], []), optax.constant_schedule(0.2)
    )
    joined = schedules.join([schedules.constant(5.0), schedules.linear(1.0, 0.0, 10)], [4])
    np.testing.assert_allclose(values(joined, [0, 3, 4, 9, 14, 20]), [5, 5, 1, 0.5, 0, 0])
