"""``all_finite``, the test of the training step's state and of ``skip_nonfinite``'s updates:
exact for every floating dtype, at any magnitude."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrain.optim._finite import all_finite as all_finite_eager

all_finite = jax.jit(all_finite_eager)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32, jnp.complex64])
def test_the_largest_finite_values_are_finite(dtype):
    # A plain sum of these overflows to inf; the test must not call them non-finite.
    largest = jnp.finfo(dtype).max
    tree = {"big": jnp.full((1000, 64), largest, dtype), "neg": -jnp.full(7, largest, dtype)}
    assert bool(all_finite(tree))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32])
def test_one_non_finite_entry_anywhere_is_found(bad, dtype):
    for position in [(0, 0), (17, 3), (999, 63)]:
        leaf = jnp.ones((1000, 64), dtype).at[position].set(bad)
        assert not bool(all_finite(({"fine": jnp.zeros(3, dtype)}, leaf)))


def test_inf_and_minus_inf_together_are_found():
    assert not bool(all_finite(jnp.array([np.inf, -np.inf, 1.0], jnp.float32)))


def test_a_complex_entry_with_a_non_finite_part_is_found():
    leaf = jnp.zeros(5, jnp.complex64).at[2].set(complex(0.0, np.nan))
    assert not bool(all_finite(leaf))


def test_integers_keys_and_empty_trees_count_as_finite():
    tree = (jnp.arange(3), jax.random.key(0), jnp.zeros((0,), jnp.float32))
    assert bool(all_finite(tree))
    assert bool(all_finite(()))


def test_leaves_of_one_shape_are_tested_together_without_overflow_or_cancellation():
    # A weight, its momentum and its second moment share a shape and are summed as one.
    largest = jnp.finfo(jnp.float32).max
    same = [jnp.full((40, 8), largest, jnp.float32) for _ in range(3)]
    assert bool(all_finite(same))
    # inf in one leaf and -inf at the same place in another must not cancel.
    plus = jnp.zeros((40, 8), jnp.float32).at[3, 4].set(np.inf)
    minus = jnp.zeros((40, 8), jnp.float32).at[3, 4].set(-np.inf)
    assert not bool(all_finite([plus, minus]))
    # Same shape, other dtype: tested apart, and still found.
    assert not bool(all_finite([jnp.ones((40, 8), jnp.bfloat16), plus]))


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.complex64])
def test_grouped_leaves_of_other_dtypes(dtype):
    largest = jnp.finfo(dtype).max
    grouped = [jnp.full((5, 3), largest, dtype), -jnp.full((5, 3), largest, dtype)]
    assert bool(all_finite(grouped))
    bad = np.inf if dtype == jnp.float16 else complex(0.0, np.inf)
    assert not bool(all_finite([grouped[0], grouped[1].at[4, 2].set(bad)]))
