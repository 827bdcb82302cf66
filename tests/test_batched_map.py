"""map_in_batches: the same values as vmap, and no batched products one slice at a time."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrain._batched_map import map_in_batches


def _layer(w):
    """A product of two factors that both depend on the mapped argument, as in a
    Hessian-vector product: vmapped, a batched matmul."""
    a = jnp.outer(w[:3], w[3:7])
    return jnp.tanh(a @ w.reshape(4, 2))


@pytest.mark.parametrize("batch_size", [None, 1, 2, 3, 5])
def test_every_batch_size_gives_vmaps_values(batch_size):
    xs = jax.random.normal(jax.random.key(0), (5, 8))
    expected = jax.vmap(_layer)(xs)
    got = jax.jit(lambda xs: map_in_batches(_layer, xs, batch_size))(xs)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def _products(jaxpr):
    """The ``dot_general`` equations of a jaxpr and of the jaxprs inside it (loops, maps)."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            yield eqn
        for param in eqn.params.values():
            for inner in param if isinstance(param, tuple | list) else (param,):
                inner = getattr(inner, "jaxpr", inner)  # a ClosedJaxpr's own jaxpr
                if hasattr(inner, "eqns"):
                    yield from _products(inner)


def _batched_products(batch_size):
    """How many of the traced matrix products have batch dimensions."""
    closed = jax.make_jaxpr(lambda xs: map_in_batches(_layer, xs, batch_size))(jnp.ones((4, 8)))
    products = list(_products(closed.jaxpr))
    assert products
    # dimension_numbers: ((lhs contracting, rhs contracting), (lhs batch, rhs batch))
    return sum(bool(eqn.params["dimension_numbers"][1][0]) for eqn in products)


def test_one_at_a_time_runs_plain_products_where_lax_map_would_batch_them():
    # lax.map(batch_size=1) vmaps a batch of one: every product becomes a batched one,
    # which ran spectral_density's Lanczos loop 1.9× slower on a CPU.
    assert _batched_products(1) == 0
    assert _batched_products(2) == 1


@pytest.mark.parametrize("batch_size", [0, -1, 2.0, True, "4"])
def test_a_batch_size_below_one_or_no_int_is_refused(batch_size):
    # 2.0 and "4" failed inside lax.map (a TypeError, "'<' not supported"), True ran as 1.
    with pytest.raises(ValueError, match="batch_size must be a positive int or None"):
        map_in_batches(_layer, jnp.ones((4, 8)), batch_size)
