"""hoisted: a plain function as a jit argument, read afresh at each call and compared by what
it computes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.tree_util import Partial

from jaxtrain._hoisted import hoisted, static_now


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


def test_one_trace_per_signature_and_a_hoisted_function_as_it_is():
    def mean(x):
        return jnp.mean(x)

    both = hoisted(mean, (jnp.ones(4),), (jnp.ones(3),))
    assert float(both(jnp.arange(4.0))) == 1.5 and float(both(jnp.arange(3.0))) == 1.0
    assert hoisted(both, (jnp.ones(4),)) is both


def test_a_partials_function_is_read_afresh_too():
    weights = jnp.array([1.0, 2.0])

    def scaled(bias, x):
        return x * weights + bias

    x = jnp.ones(2)
    first = hoisted(Partial(scaled, jnp.float32(1.0)), (x,))
    weights = jnp.array([3.0, 4.0])
    second = hoisted(Partial(scaled, jnp.float32(1.0)), (x,))
    assert second.func == first.func
    np.testing.assert_allclose(_apply(second, x), [4.0, 5.0])
    # A function and a Partial of it are told apart (jaxlib 0.7 raised comparing them).
    assert hoisted(Partial(scaled, jnp.float32(1.0)), (x,)).func != hoisted(jnp.sin, (x,)).func


def test_traced_values_it_closes_over_are_differentiated():
    def loss(w):
        return _apply(hoisted(lambda x: jnp.sum((x * w) ** 2), (jnp.ones(2),)), jnp.ones(2))

    np.testing.assert_allclose(jax.grad(loss)(jnp.array([1.0, 3.0])), [2.0, 6.0])


def _custom_sine(slope):
    """sin with a custom derivative ``slope · cos``: its jaxpr prints the same for any slope
    (the rule is a function, printed with its address masked)."""

    @jax.custom_jvp
    def sine(x):
        return jnp.sin(x)

    sine.defjvp(
        lambda primals, tangents: (sine(*primals), slope * jnp.cos(primals[0]) * tangents[0])
    )
    return sine


def test_functions_whose_jaxprs_print_alike_are_not_confused():
    x = jnp.float32(0.0)
    true_slope, doubled_slope = _custom_sine(1.0), _custom_sine(2.0)
    assert str(jax.make_jaxpr(true_slope)(x)) == str(jax.make_jaxpr(doubled_slope)(x))
    slopes = [
        jax.grad(lambda x, f=f: _apply(hoisted(f, (x,)), x))(x) for f in (true_slope, doubled_slope)
    ]
    np.testing.assert_allclose(slopes, [1.0, 2.0])

    def counter():
        calls = []

        def f(x):
            jax.debug.callback(lambda: calls.append(1))
            return x

        return f, calls

    (f, f_calls), (g, g_calls) = counter(), counter()
    for fn in (f, g):
        jax.block_until_ready(_apply(hoisted(fn, (x,)), x))
    jax.effects_barrier()
    assert (len(f_calls), len(g_calls)) == (1, 1)


def test_static_now_is_equal_only_while_the_function_reads_the_same():
    weights, shift, table = jnp.array([1.0, 2.0]), 0.0, np.zeros(2)

    def f(x):
        return x * weights + shift + table

    x = (jnp.ones(2),)
    first = static_now(f, x)
    assert static_now(f, x) == first and hash(static_now(f, x)) == hash(first)
    assert static_now(first, x) is first and first.__name__ == "f"
    np.testing.assert_allclose(first(jnp.ones(2)), [1.0, 2.0])
    shift = 1.0  # a number: the jaxpr's text changes
    assert static_now(f, x) != first
    shift, weights = 0.0, jnp.array([1.0, 2.0])  # an equal but new JAX array
    assert static_now(f, x) != first
    before = static_now(f, x)
    # A NumPy array is compared by value (jax 0.7 makes its constant anew at each trace).
    assert static_now(f, x) == before
    table = np.ones(2)
    assert static_now(f, x) != before
    assert static_now(jnp.sin, x) != static_now(jnp.cos, x)


def test_static_now_of_an_unhashable_callable_refuses_to_hash_as_the_callable_does():
    import dataclasses

    @dataclasses.dataclass
    class Scale:  # eq=True: no hash
        factor: float

        def __call__(self, x):
            return self.factor * x

    with pytest.raises(TypeError):
        hash(static_now(Scale(2.0), (jnp.ones(2),)))
