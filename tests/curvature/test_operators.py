"""flat_space: the flat vector space of a pytree, found without flattening it."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxtrain.curvature._operators import flat_space


def test_flat_space_is_ravel_pytrees_shape_and_dtype_without_a_compiled_program():
    tree = {"w": jnp.ones((3, 4), jnp.float32), "b": [jnp.zeros(2, jnp.float16), jnp.ones(())]}
    flat = ravel_pytree(tree)[0]
    space = flat_space(tree)
    assert (space.shape, space.dtype) == (flat.shape, flat.dtype) == ((15,), np.float32)
    # Tracing only: abstract leaves are enough, so nothing is copied or compiled.
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), tree)
    assert flat_space(abstract) == space
