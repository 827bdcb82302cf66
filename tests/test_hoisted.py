"""hoisted: a plain function as a jit argument, read afresh at each call and compared by what
it computes."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from jaxtrain._hoisted import hoisted


@jax.jit
def _apply(fn, x):
    return fn(x)


def test_closed_over_arrays_are_arguments_and_equal_computations_share_a_program():
    weights = jnp.array([1.0, 2.0])

    def f(x):
        return x * weights

    x = jnp.ones(2)
    first = hoisted(f, (x,))
    np.testing.assert_allclose(_apply(first, x), [1.0, 2.0])
    compiled = _apply._cache_size()
    weights = jnp.array([3.0, 4.0])
    second = hoisted(f, (x,))
    assert second.func == first.func and hash(second.func) == hash(first.func)
    np.testing.assert_allclose(_apply(second, x), [3.0, 4.0])
    assert _apply._cache_size() == compiled


def test_a_changed_number_or_computation_is_another_function():
    scale = 2.0

    def f(x):
        return x * scale

    x = jnp.ones(2)
    first = hoisted(f, (x,))
    scale = 3.0
    assert hoisted(f, (x,)).func != first.func
    np.testing.assert_allclose(_apply(hoisted(f, (x,)), x), [3.0, 3.0])
    assert hoisted(jnp.sin, (x,)).func != hoisted(jnp.cos, (x,)).func


def test_one_trace_per_signature_and_a_partial_as_it_is():
    def mean(x):
        return jnp.mean(x)

    both = hoisted(mean, (jnp.ones(4),), (jnp.ones(3),))
    assert float(both(jnp.arange(4.0))) == 1.5 and float(both(jnp.arange(3.0))) == 1.0
    given = Partial(mean)
    assert hoisted(given, (jnp.ones(4),)) is given


def test_traced_values_it_closes_over_are_differentiated():
    def loss(w):
        return _apply(hoisted(lambda x: jnp.sum((x * w) ** 2), (jnp.ones(2),)), jnp.ones(2))

    np.testing.assert_allclose(jax.grad(loss)(jnp.array([1.0, 3.0])), [2.0, 6.0])
