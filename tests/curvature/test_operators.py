"""flat_space: the flat vector space of a pytree, found without flattening it; unflatten_like:
ravel_pytree's unravel without its closure."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxtrain.curvature._operators import flat_space, unflatten_like


def test_flat_space_is_ravel_pytrees_shape_and_dtype_without_a_compiled_program():
    tree = {"w": jnp.ones((3, 4), jnp.float32), "b": [jnp.zeros(2, jnp.float16), jnp.ones(())]}
    flat = ravel_pytree(tree)[0]
    space = flat_space(tree)
    assert (space.shape, space.dtype) == (flat.shape, flat.dtype) == ((15,), np.float32)
    # Tracing only: abstract leaves are enough, so nothing is copied or compiled.
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), tree)
    assert flat_space(abstract) == space


def test_unflatten_like_is_ravel_pytrees_unravel_from_arrays_or_their_shapes():
    tree = {
        "w": np.ones((3, 4), np.float32),
        "b": [np.zeros(2, np.float16), np.ones((), np.float32)],
    }
    flat = np.arange(15, dtype=np.float32) / 7
    expected = ravel_pytree(tree)[1](jnp.asarray(flat))
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), tree)
    # One program for both: abstract leaves trace the same as concrete ones.
    got, got_abstract = jax.jit(lambda v: (unflatten_like(v, tree), unflatten_like(v, abstract)))(
        flat
    )
    for result in (got, got_abstract):
        assert jax.tree.structure(result) == jax.tree.structure(expected)
        for leaf, want in zip(jax.tree.leaves(result), jax.tree.leaves(expected), strict=True):
            assert (leaf.shape, leaf.dtype) == (want.shape, want.dtype)
            np.testing.assert_array_equal(leaf, want)
