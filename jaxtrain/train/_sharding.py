"""Data parallelism: the batch split over a mesh's data axis, everything else replicated.

Single process: the data set is put on every device once (replicated) and each step gathers
its batch there, constrained to be split over the data axis, so every device computes the
forward and backward pass of its slice and XLA all-reduces the gradients. Because one
``jit`` sees the global batch, BatchNorm's batch statistics are global too (no
``axis_name``). Multi-process (``jax.process_count() > 1``, a TPU pod slice or a GPU
cluster after ``jax.distributed.initialize()``): each process keeps its own examples on the
host and feeds its local share of every global batch through
``jax.make_array_from_process_local_data``.

Inside ``jax.set_mesh`` the context's mesh is the default and a mesh is used as it is
(``jaxtrain._mesh``): ``fit`` and ``evaluate`` then run under the mesh passed to them
(:func:`mesh_scope`), and a batch is split over an Explicit data axis with
``jax.sharding.reshard``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxtrain._mesh import context_mesh, is_explicit, with_auto_axes

__all__ = ["Placement", "mesh_scope", "resolve_placement"]


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where arrays live: nowhere special (one device), or on ``mesh`` split over ``axis``."""

    mesh: Mesh | None = None
    axis: str | None = None

    @property
    def num_shards(self) -> int:
        return 1 if self.mesh is None else int(self.mesh.shape[self.axis])

    @property
    def multi_process(self) -> bool:
        return jax.process_count() > 1

    def replicated(self) -> NamedSharding | None:
        return None if self.mesh is None else NamedSharding(self.mesh, P())

    def batch_spec(self, batch_size: int) -> P | None:
        """How a batch of ``batch_size`` is laid out: split if it divides evenly, else whole."""
        if self.mesh is None:
            return None
        return P(self.axis) if batch_size % self.num_shards == 0 else P()

    def constrain_batch(self, tree: Any) -> Any:
        """Inside ``jit``: the batch (leading axis) split over the data axis when it divides."""
        if self.mesh is None:
            return tree
        return jax.tree.map(
            lambda leaf: self._constrain(leaf, self.batch_spec(leaf.shape[0])), tree
        )

    def take_batch(self, data: Any, rows: jax.Array) -> Any:
        """Inside ``jit``: each leaf of ``data`` (on every device) at ``rows``, the rows split
        over the data axis when they divide, so that each device gathers its own slice."""
        rows = self.constrain_batch(rows)
        if self.mesh is None or not is_explicit(self.mesh, self.axis):
            return jax.tree.map(lambda a: a[rows], data)
        # Over an Explicit axis a gather must be told where its result lives.
        sharding = NamedSharding(self.mesh, self.batch_spec(rows.shape[0]))
        return jax.tree.map(lambda a: a.at[rows].get(out_sharding=sharding), data)

    def constrain_replicated(self, tree: Any) -> Any:
        """Inside ``jit``: every leaf replicated (parameters and optimizer state)."""
        if self.mesh is None:
            return tree
        return jax.tree.map(lambda a: self._constrain(a, P()), tree)

    def _constrain(self, leaf: Any, spec: P) -> Any:
        sharding = NamedSharding(self.mesh, spec)
        if is_explicit(self.mesh, self.axis):
            # An Explicit axis is in the array's type: with_sharding_constraint only asserts
            # it, reshard moves the array.
            return jax.sharding.reshard(leaf, sharding)
        return jax.lax.with_sharding_constraint(leaf, sharding)

    def put_replicated(self, tree: Any) -> Any:
        """Places a host or device tree on every device (the same value on every process)."""
        if self.mesh is None:
            return jax.device_put(tree)
        if not self.multi_process:
            return jax.device_put(tree, self.replicated())
        sharding = self.replicated()

        def one(leaf):
            # Every process holds the whole value: a replicated global array is built from
            # each process's copy (typed keys travel as their raw data).
            if jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key):
                data = np.asarray(jax.random.key_data(leaf))
                data = jax.make_array_from_process_local_data(sharding, data)
                return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
            return jax.make_array_from_process_local_data(sharding, np.asarray(leaf))

        return jax.tree.map(one, tree)

    def put_data(self, array: Any) -> jax.Array:
        """A whole data set on the devices (replicated; every process passes all of it)."""
        return self.put_replicated(np.asarray(array))

    def put_local_batches(self, local: np.ndarray) -> jax.Array:
        """Stacked batches ``[k, b, ...]`` of this process → global ``[k, b·P, ...]`` arrays.

        With one process this is the batches themselves, split over the data axis.
        """
        if self.mesh is None:
            return jax.device_put(local)
        global_batch = local.shape[1] * jax.process_count()
        spec = P(None, self.axis) if global_batch % self.num_shards == 0 else None
        if spec is None:
            # A last partial batch that does not divide over the devices: every process
            # gathers the whole batch and every device computes all of it.
            whole = local
            if jax.process_count() > 1:
                from jax.experimental import multihost_utils

                # Concatenates the processes' examples on axis 0, so gather batch by batch.
                whole = np.stack(
                    [np.asarray(multihost_utils.process_allgather(b, tiled=True)) for b in local]
                )
            return jax.make_array_from_process_local_data(self.replicated(), whole)
        shape = (local.shape[0], global_batch, *local.shape[2:])
        return jax.make_array_from_process_local_data(NamedSharding(self.mesh, spec), local, shape)


def mesh_scope(mesh: Any) -> contextlib.AbstractContextManager:
    """Where ``fit`` and ``evaluate`` run: inside ``jax.set_mesh``, under the ``mesh`` passed
    to them, so that everything they trace sees the mesh their arrays live on (a mesh passed
    inside another's context too); elsewhere, or without a mesh (the context's is used),
    nothing changes. Enter it at once (``with mesh_scope(mesh):``): ``jax.set_mesh`` acts
    when called."""
    if isinstance(mesh, Mesh) and not jax.sharding.get_abstract_mesh().empty:
        return jax.set_mesh(mesh)
    return contextlib.nullcontext()


def resolve_placement(mesh: Mesh | None) -> Placement:
    """The mesh ``fit`` uses: the given one; else the mesh of an enclosing ``jax.set_mesh``;
    else all devices on one ``"data"`` axis.

    Raises:
      ValueError: if ``mesh`` has several axes and none is called ``"data"``, or, with several
        processes, leaves out some of their devices.
    """
    if mesh is None:
        mesh = context_mesh()
    if mesh is None:
        if jax.device_count() == 1:
            return Placement()
        mesh = Mesh(np.asarray(jax.devices()), ("data",))
    if not isinstance(mesh, Mesh):
        raise ValueError(f"mesh must be a jax.sharding.Mesh or None; got {type(mesh).__name__}")
    if jax.process_count() > 1 and mesh.devices.size < jax.device_count():
        # Every process makes the same mesh from its own view, so all refuse it alike.
        raise ValueError(
            f"the mesh has {mesh.devices.size} of the {jax.device_count()} devices of the "
            f"{jax.process_count()} processes: with several processes the batch is split over "
            "every process's devices; build the mesh from jax.devices(), not "
            "jax.local_devices()"
        )
    mesh = with_auto_axes(mesh)  # a jax.make_mesh mesh too (jaxtrain._mesh)
    names = tuple(mesh.axis_names)
    if "data" in names:
        axis = "data"
    elif len(names) == 1:
        axis = names[0]
    else:
        raise ValueError(
            f"the mesh has axes {names}; name the data-parallel one 'data' (the batch is split "
            "over it, everything else replicated)"
        )
    return Placement(mesh, axis)
