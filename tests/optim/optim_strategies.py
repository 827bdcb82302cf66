"""Hypothesis strategies shared by the optim property tests (kept small: 25 examples)."""

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

PROPERTY = settings(max_examples=25, deadline=None, derandomize=True)


@st.composite
def gradient_sequences(draw, max_steps=6, max_size=4, allow_zero=True):
    """A (T, n) float64 array of gradients, T in [1, max_steps], n in [1, max_size]."""
    steps = draw(st.integers(1, max_steps))
    size = draw(st.integers(1, max_size))
    magnitude = st.floats(1e-3, 10.0)
    values = st.one_of(magnitude, magnitude.map(lambda x: -x))
    if allow_zero:
        values = st.one_of(values, st.just(0.0))
    return draw(hnp.arrays(np.float64, (steps, size), elements=values))


decays = st.floats(0.0, 0.99)
epsilons = st.sampled_from([1e-8, 1e-6, 1e-3, 0.1])
