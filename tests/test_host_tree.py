"""host_flat / host_unflat: ravel_pytree's vector and unravel, on the host, without programs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxtrain._host_tree import host_flat, host_unflat


def _tree():
    rng = np.random.default_rng(0)
    return {
        "w": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32),
        "layers": [jnp.asarray(rng.normal(size=4), jnp.bfloat16), jnp.arange(2, dtype=jnp.int32)],
        "empty": jnp.zeros((0, 5)),
        "scalar": np.float32(1.5),
    }


def test_the_vector_and_its_inverse_are_ravel_pytrees():
    tree = _tree()
    flat, unravel = jax.jit(lambda t: ravel_pytree(t)[0])(tree), ravel_pytree(tree)[1]
    got = host_flat(tree)
    assert isinstance(got, np.ndarray) and got.dtype == flat.dtype == jnp.float32
    np.testing.assert_array_equal(got, np.asarray(flat))

    vector = np.linspace(-1.0, 1.0, got.size, dtype=np.float32)
    expected = unravel(jnp.asarray(vector))
    back = host_unflat(vector, tree)
    assert jax.tree.structure(back) == jax.tree.structure(expected)
    for b, e in zip(jax.tree.leaves(back), jax.tree.leaves(expected), strict=True):
        assert isinstance(b, np.ndarray) and b.dtype == e.dtype and b.shape == e.shape
        np.testing.assert_array_equal(b, np.asarray(e))


def test_a_requested_dtype_widens_exactly():
    tree = {"a": jnp.asarray([0.1, 3.0], jnp.float32)}
    wide = host_flat(tree, np.float64)
    assert wide.dtype == np.float64
    np.testing.assert_array_equal(wide, np.asarray(tree["a"]).astype(np.float64))


def test_an_empty_tree_is_an_empty_vector():
    assert host_flat({}).shape == (0,)
    assert host_unflat(np.zeros(0), {}) == {}


def test_no_device_program_is_compiled(caplog):
    tree = _tree()
    with jax.log_compiles(), caplog.at_level("WARNING"):
        host_unflat(host_flat(tree) * 2, tree)
    assert not [r for r in caplog.records if "Compiling" in r.getMessage()], caplog.text


@pytest.mark.parametrize("bad", [np.zeros(7), np.zeros((2, 6))])
def test_a_vector_of_the_wrong_size_is_refused(bad):
    with pytest.raises(ValueError, match="expected a vector of 12 entries for this pytree"):
        host_unflat(bad, {"a": jnp.zeros((3, 4))})
