"""Loss functions over fixed data, built for curvature: several batches, models, devices."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jax.tree_util import Partial

from jaxtrain._mesh import with_auto_axes
from jaxtrain._text import counted
from jaxtrain.curvature._operators import check_callable
from jaxtrain.losses import chunked_mean

__all__ = ["batched_loss", "loss_from_model"]


def _batch_size(batch: Any, index: int) -> int:
    leaves = jax.tree.leaves(batch)
    if not leaves:
        raise ValueError(f"batch {index} holds no arrays")
    sizes = {jnp.shape(leaf)[0] if jnp.ndim(leaf) else None for leaf in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            f"batch {index}: every array needs the same leading (example) dimension, got"
            f" shapes {[jnp.shape(leaf) for leaf in leaves]}"
        )
    size = sizes.pop()
    if size == 0:
        raise ValueError(f"batch {index} is empty")
    return int(size)


def _group(batches: Sequence[Any], mesh: Mesh | None) -> tuple[list[Any], list[int]]:
    """Joins batches of equal shapes into one data set each, so one ``lax.scan`` runs a group.

    A group of m batches of s examples becomes arrays of s·m examples in which example i of
    batch j sits at i·m + j: :func:`jaxtrain.losses.chunked_mean` with chunks of s then takes
    examples j, j + m, … as its chunk j, which is batch j again, whole and unmixed (BatchNorm
    in training mode sees exactly the user's batches). Sharded along that axis, every device
    holds the same rows of every batch.
    """
    if isinstance(batches, (str, bytes)) or not isinstance(batches, Sequence) or not batches:
        raise ValueError(
            "batches must be a non-empty sequence of batches, e.g. [(x1, y1), (x2, y2)];"
            " wrap a single batch as [(x, y)]"
        )
    groups: dict[Any, list[Any]] = {}
    for index, batch in enumerate(batches):
        batch = batch if isinstance(batch, tuple) else (batch,)
        size = _batch_size(batch, index)
        if mesh is not None and size % mesh.size:
            raise ValueError(
                f"batch {index} has {counted(size, 'example')}, not divisible by the "
                f"{mesh.size} devices of the mesh it is sharded over"
            )
        signature = (
            jax.tree.structure(batch),
            tuple((jnp.shape(x), jnp.result_type(x)) for x in jax.tree.leaves(batch)),
        )
        groups.setdefault(signature, []).append(batch)
    joined, sizes = [], []
    for members in groups.values():
        group = jax.tree.map(_interleaved, *members)
        if mesh is not None:
            # Examples split over every device of the mesh; plain jit then partitions the
            # per-batch loss and its derivatives across them.
            spec = PartitionSpec(tuple(mesh.axis_names))
            group = jax.device_put(group, NamedSharding(mesh, spec))
        joined.append(group)
        sizes.append(_batch_size(members[0], 0))
    return joined, sizes


def _interleaved(*arrays: Any) -> jax.Array:
    """Equal-shaped arrays of m batches as one, example i of batch j at row i·m + j.

    One batch is itself, and batches on the host are joined there: no eager device program
    (one compilation per shape otherwise) for data that only needs copying.
    """
    if all(isinstance(a, np.ndarray) for a in arrays):
        # device_put, not jnp.asarray: the same dtype rules without a copy program.
        return jax.device_put(np.stack(arrays, axis=1).reshape(-1, *arrays[0].shape[1:]))
    if len(arrays) == 1:
        return jnp.asarray(arrays[0])
    return jnp.stack(arrays, axis=1).reshape(-1, *jnp.shape(arrays[0])[1:])


def _at(loss_fn, params, *batch):
    return loss_fn(params, *batch)


def _weighted_mean(loss_fn, groups, sizes, params):
    counts = [jax.tree.leaves(group)[0].shape[0] for group in groups]
    total = sum(counts)
    # A Partial of a module-level function: its leaves (the loss's data, θ) are arguments of
    # chunked_mean's jitted program, so an eager call with new θ reuses the compilation.
    per_batch = Partial(_at, loss_fn, params)
    result = None
    for count, size, group in zip(counts, sizes, groups, strict=True):
        term = (count / total) * chunked_mean(per_batch, group, chunk_size=size)
        result = term if result is None else result + term
    return result


@dataclasses.dataclass(frozen=True)
class _BatchedMean:
    """Callable part of :func:`batched_loss`; ``sizes`` are Python ints, hence static."""

    sizes: tuple[int, ...]

    def __call__(self, loss_fn, groups, params):
        return _weighted_mean(loss_fn, groups, self.sizes, params)


def batched_loss(
    loss_fn: Callable[..., jax.Array],
    batches: Sequence[Any],
    *,
    mesh: Mesh | None = None,
) -> Callable[[Any], jax.Array]:
    """The loss over several fixed batches, weighted by batch size: L(θ) as one function.

    L(θ) = Σ_b n_b L_b(θ) / Σ_b n_b, with L_b(θ) = ``loss_fn(params, *batch_b)`` the mean
    loss on batch b of n_b examples, so unequal batches (a short last one) weigh what they
    hold and L is the mean over all examples. The data are held fixed, so the Hessian of L
    is well defined. Batches of equal shapes are joined and scanned by
    :func:`jaxtrain.losses.chunked_mean` (one compiled body per shape), so the forward pass
    holds one batch's activations at a time plus the data; reverse-mode derivatives keep
    every batch's residuals (wrap ``loss_fn`` in ``jax.checkpoint`` to recompute them
    instead).

    Args:
        loss_fn: ``loss_fn(params, *batch) -> scalar``, the mean loss of one batch.
        batches: a non-empty sequence of batches, each a tuple of arrays sharing their
            leading (example) dimension, e.g. ``[(x1, y1), (x2, y2)]``.
        mesh: if given, each batch's examples are sharded over all devices of the mesh, and
            every product runs data-parallel under plain ``jit``.

    Returns:
        ``loss(params) -> scalar``, a pytree-callable (``jax.tree_util.Partial``) whose
        leaves are the data, so jitted curvature code takes it without baking the data in.

    Raises:
        ValueError: for an empty sequence, arrays of unequal leading dimension in a batch, or
            a batch not divisible by the mesh's device count.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.curvature import batched_loss
        >>> mse = lambda w, x, y: jnp.mean((x * w - y) ** 2)
        >>> batches = [(jnp.ones(3), jnp.zeros(3)), (jnp.ones(1), jnp.full(1, 4.0))]
        >>> loss = batched_loss(mse, batches)
        >>> print(loss(jnp.asarray(0.0)))  # (3·0 + 1·16) / 4
        4.0
    """
    groups, sizes = _group(batches, None if mesh is None else with_auto_axes(mesh))
    # The loss is read by the algorithm it is handed to (as_pytree_callable, at θ's signature).
    return Partial(_BatchedMean(tuple(sizes)), Partial(check_callable(loss_fn)), groups)


@dataclasses.dataclass(frozen=True)
class _ModelBatchLoss:
    """Loss of one batch through the functional model contract; ``train`` is static."""

    train: bool

    def __call__(self, apply, loss, state, rng, params, x, y):
        predictions, _ = apply(params, state, x, train=self.train, rng=rng)
        # In train mode BatchNorm normalizes with this batch's statistics; the updated
        # running statistics are dropped, so the loss stays a function of params alone.
        return loss(predictions, y)


def loss_from_model(
    apply: Callable[..., tuple[Any, Any]],
    state: Any,
    batches: Sequence[tuple[Any, Any]],
    loss: Callable[[Any, Any], jax.Array],
    *,
    train: bool = False,
    rng: jax.Array | None = None,
    mesh: Mesh | None = None,
) -> Callable[[Any], jax.Array]:
    """``loss_fn(params)`` for curvature, from a model in the functional contract.

    L(θ) = Σ_b n_b ℓ(f(θ, x_b), y_b) / Σ_b n_b with f(θ, x) = ``apply(params, state, x,
    train=train, rng=rng)[0]`` and ℓ = ``loss(predictions, targets)`` (mean over the batch).
    ``state`` (BatchNorm running statistics) is held fixed. With ``train=False`` BatchNorm
    uses its running statistics; with ``train=True`` it uses each batch's statistics and the
    updated statistics are discarded, so the Hessian is that of the training-mode loss on
    these exact batches. ``rng`` (dropout) is held fixed too, the same for every batch.

    Args:
        apply: ``apply(params, state, x, *, train, rng=None) -> (y, new_state)``, e.g. from
            ``jaxtrain.nn.functional``.
        state: the non-trainable variables (``{}`` when there are none).
        batches: a non-empty sequence of ``(x, y)`` batches.
        loss: ``loss(predictions, targets) -> scalar`` with mean reduction.
        train: the model's mode while the loss is evaluated.
        rng: a fixed key passed to ``apply`` (for dropout in train mode).
        mesh: shard each batch's examples over this mesh's devices (see
            :func:`batched_loss`).

    Returns:
        ``loss_fn(params) -> scalar`` for :func:`~jaxtrain.curvature.hvp`,
        :func:`~jaxtrain.curvature.hessian` and the rest; a pytree-callable whose leaves
        are ``state``, ``rng`` and the data.

    Raises:
        ValueError: for malformed batches (see :func:`batched_loss`).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.curvature import loss_from_model
        >>> apply = lambda params, state, x, *, train, rng=None: (x @ params, state)
        >>> mse = lambda pred, y: jnp.mean((pred - y) ** 2)
        >>> loss_fn = loss_from_model(apply, {}, [(jnp.eye(2), jnp.ones(2))], mse)
        >>> print(loss_fn(jnp.zeros(2)))
        1.0
    """
    for index, batch in enumerate(batches if isinstance(batches, Sequence) else ()):
        if not isinstance(batch, tuple) or len(batch) != 2:
            raise ValueError(f"batch {index} must be an (x, y) pair, got {type(batch).__name__}")
    per_batch = Partial(
        _ModelBatchLoss(bool(train)),
        Partial(check_callable(apply)),
        Partial(check_callable(loss)),
        state,
        rng,
    )
    return batched_loss(per_batch, batches, mesh=mesh)
