"""A device mesh as jaxtrain's data parallelism uses it: every axis Auto, unless inside
``jax.set_mesh``.

``jax.make_mesh`` makes its axes Explicit in newer jax: arrays sharded over them carry their
sharding in their types, and an operation that sums over a sharded axis (a loss's mean over
the batch, ``with_sharding_constraint`` of a batch) must be told where its result lives.
jaxtrain splits only the batch and lets the compiler place the rest, which is what Auto axes
mean; so a mesh passed to ``fit``, ``evaluate`` or ``curvature.loss_from_model`` is taken
with the same devices and names, every axis Auto.

Inside ``jax.set_mesh`` computations are traced against the context's axis types, and an
Auto copy would clash with them: there a mesh is used as it is, the context's own by
default (:func:`context_mesh`), and a batch is split over an Explicit axis with
``jax.sharding.reshard``.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

__all__ = ["context_mesh", "is_explicit", "with_auto_axes"]


def with_auto_axes(mesh: Mesh) -> Mesh:
    """``mesh``'s devices and axis names, every axis Auto (the ``Mesh`` default); ``mesh``
    itself inside ``jax.set_mesh``, where computations are traced against the context's axis
    types and an Auto copy would clash with them."""
    if not jax.sharding.get_abstract_mesh().empty:
        return mesh
    return Mesh(mesh.devices, mesh.axis_names)


def context_mesh() -> Mesh | None:
    """The mesh of the enclosing ``jax.set_mesh``; ``None`` outside one (or inside one that
    names no devices, ``jax.sharding.use_abstract_mesh``)."""
    if jax.sharding.get_abstract_mesh().empty:
        return None
    get_mesh = getattr(jax.sharding, "get_mesh", None)
    if get_mesh is not None:
        mesh = get_mesh()
    else:
        # jax 0.7 has no public getter: a value placed by the context's mesh carries it.
        try:
            mesh = jax.sharding.reshard(np.zeros((), np.float32), P()).sharding.mesh
        except (ValueError, TypeError, RuntimeError):
            return None
    return None if mesh.empty else mesh


def is_explicit(mesh: Mesh, axis: str) -> bool:
    """Whether ``axis`` of ``mesh`` is Explicit: arrays carry its sharding in their types,
    and only ``jax.sharding.reshard`` moves them (``with_sharding_constraint`` asserts)."""
    axis_type = dict(zip(mesh.axis_names, mesh.axis_types, strict=True))[axis]
    return axis_type == jax.sharding.AxisType.Explicit
