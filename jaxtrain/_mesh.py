"""A device mesh as jaxtrain's data parallelism uses it: every axis Auto.

``jax.make_mesh`` makes its axes Explicit in newer jax: arrays sharded over them carry their
sharding in their types, and an operation that sums over a sharded axis (a loss's mean over
the batch, ``with_sharding_constraint`` of a batch) must be told where its result lives.
jaxtrain splits only the batch and lets the compiler place the rest, which is what Auto axes
mean; so a mesh passed to ``fit``, ``evaluate`` or ``curvature.loss_from_model`` is taken
with the same devices and names, every axis Auto.
"""

from __future__ import annotations

import jax
from jax.sharding import Mesh

__all__ = ["with_auto_axes"]


def with_auto_axes(mesh: Mesh) -> Mesh:
    """``mesh``'s devices and axis names, every axis Auto (the ``Mesh`` default); ``mesh``
    itself inside ``jax.set_mesh``, where computations are traced against the context's axis
    types and an Auto copy would clash with them."""
    if not jax.sharding.get_abstract_mesh().empty:
        return mesh
    return Mesh(mesh.devices, mesh.axis_names)
