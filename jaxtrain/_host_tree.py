"""Parameter pytrees as one flat NumPy vector on the host, in ``ravel_pytree`` order.

Reports read norms, dot products and eigenvectors of gradients and directions that are
already computed. ``jax.flatten_util.ravel_pytree`` does that on the device: for each new
model it compiles a concatenation and a reshape per leaf shape, and its ``unravel`` a slice
and a reshape per leaf, each compilation costing more than the arithmetic it serves. These
copy the values to the host once and do the same in NumPy: the same order, dtype rule and
values, and no device program.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["host_flat", "host_unflat"]


def host_flat(tree: Any, dtype: Any = None) -> np.ndarray:
    """``ravel_pytree(tree)[0]`` as a NumPy vector (``dtype``: cast to it, else the leaves' own
    promoted dtype, as ``ravel_pytree`` promotes them).

    Example:
      >>> import jax.numpy as jnp
      >>> host_flat({"b": jnp.ones(2), "w": jnp.zeros((1, 2))})
      array([1., 1., 0., 0.], dtype=float32)
    """
    leaves = jax.tree.leaves(tree)
    if dtype is None:
        dtype = jnp.result_type(*leaves) if leaves else jnp.float32
    if not leaves:
        return np.zeros(0, dtype)
    return np.concatenate([np.ravel(np.asarray(a, dtype)) for a in jax.device_get(leaves)])


def host_unflat(vector: Any, like: Any) -> Any:
    """The inverse of :func:`host_flat`: ``vector`` cut into ``like``'s leaves (NumPy arrays of
    each leaf's shape and dtype), as ``ravel_pytree(like)[1](vector)``.

    Raises:
      ValueError: if ``vector`` is not a vector of as many entries as ``like`` has.

    Example:
      >>> import jax.numpy as jnp
      >>> host_unflat([0.0, 1.0, 2.0], {"b": jnp.zeros(1), "w": jnp.zeros((1, 2), jnp.int32)})
      {'b': array([0.], dtype=float32), 'w': array([[1, 2]], dtype=int32)}
    """
    leaves, treedef = jax.tree.flatten(like)
    vector = np.asarray(vector)
    sizes = [int(np.size(leaf)) for leaf in leaves]
    if vector.ndim != 1 or vector.size != sum(sizes):
        raise ValueError(
            f"expected a vector of {sum(sizes)} entries for this pytree, got shape {vector.shape}"
        )
    parts = np.split(vector, np.cumsum(sizes)[:-1]) if leaves else []
    return treedef.unflatten(
        [
            part.reshape(np.shape(leaf)).astype(jnp.result_type(leaf), copy=False)
            for part, leaf in zip(parts, leaves, strict=True)
        ]
    )
