"""map_in_batches: the same values as vmap, and no batched products one slice at a time."""

import re

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


def _batched_products(batch_size):
    """How many of the traced matrix products have batch dimensions."""
    text = str(jax.make_jaxpr(lambda xs: map_in_batches(_layer, xs, batch_size))(jnp.ones((4, 8))))
    products = re.findall(
        r"dot_general\[[^\]]*?dimension_numbers=\(\(\[[^\]]*\], \[[^\]]*\]\), \((\[[^\]]*\])",
        text,
        re.S,
    )
    assert products, text
    return sum(batch != "[]" for batch in products)


def test_one_at_a_time_runs_plain_products_where_lax_map_would_batch_them():
    # lax.map(batch_size=1) vmaps a batch of one: every product becomes a batched one,
    # which ran spectral_density's Lanczos loop 1.9× slower on a CPU.
    assert _batched_products(1) == 0
    assert _batched_products(2) == 1
