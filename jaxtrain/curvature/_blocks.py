"""Per-block spectra: the curvature of one layer (or any group of parameters) at a time."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import register_pytree_node_class

from jaxtrain.curvature._lanczos import _check_num_iters, check_k, eigenvalues
from jaxtrain.curvature._memory import DEFAULT_MAX_BYTES
from jaxtrain.curvature._operators import (
    PytreeOperator,
    as_pytree_callable,
    check_key,
    flat_space,
    linearized,
    unflatten_like,
)

__all__ = ["BlockEigenResult", "block_eigenvalues", "block_labels"]

_MODES = ("layer", "leaf")
_WHICH = ("largest", "smallest", "both")


class BlockEigenResult(NamedTuple):
    """Extreme eigenvalues of one diagonal block H_bb, from :func:`block_eigenvalues`.

    Attributes:
        size: n_b, the number of parameters in the block.
        eigenvalues: the Ritz values, ordered as :class:`~jaxtrain.curvature.EigenResult`'s
            for the ``which`` asked.
        eigenvectors: the Ritz vectors in the space of all parameters (a pytree like
            ``params`` with a leading axis, zero outside the block), or ``None``.
        residuals: ‖H_bb y − θy‖ of each pair.
        num_matvecs: the products with H used for this block.
        converged: whether every wanted value met the tolerance.
    """

    size: int
    eigenvalues: jax.Array
    eigenvectors: Any
    residuals: jax.Array
    num_matvecs: int
    converged: bool


def _key_name(key: Any) -> str:
    for attribute in ("key", "name", "idx"):
        if hasattr(key, attribute):
            return str(getattr(key, attribute))
    return str(key)


def _without_variable_value(path: tuple[Any, ...]) -> tuple[Any, ...]:
    """A leaf's path without the ``.value`` of the NNX Variable that holds it (an
    ``nnx.State``'s leaves sit one attribute below their names)."""
    last = path[-1] if path else None
    if isinstance(last, jax.tree_util.GetAttrKey) and last.name == "value":
        return path[:-1]
    return path


def _joined(names: list[list[str]]) -> list[str]:
    """The names joined by "/", refused where two different paths read the same."""
    labels = ["/".join(name) for name in names]
    paths: dict[str, set[tuple[str, ...]]] = {}
    for label, name in zip(labels, names, strict=True):
        paths.setdefault(label, set()).add(tuple(name))
    for label, found in paths.items():
        if len(found) > 1:
            raise ValueError(
                f"blocks: {len(found)} different paths read {label!r} once joined by '/' (a "
                "key holds a '/'); pass a pytree of labels instead"
            )
    return labels


def block_labels(params: Any, blocks: Any = "layer") -> list[Any]:
    """The block label of each leaf of ``params``, in ``jax.tree.leaves`` order.

    Args:
        params: the parameters θ.
        blocks: ``"layer"``: a leaf's path without its last key (``"layers/0"`` for
            ``layers/0/kernel``: the module that owns it in NNX and Linen parameters, an
            ``nnx.State`` included, or a ``{"w", "b"}`` dict of a layer); a leaf at the top
            level is a block of its own.
            ``"leaf"``: every array its own block, named by its path. A pytree of labels
            with the structure of ``params`` (as ``optax.multi_transform``'s
            ``param_labels``), or a callable ``params -> such a pytree``.

    Returns:
        One hashable label per leaf.

    Raises:
        ValueError: for an unknown mode, labels whose structure is not that of ``params``,
            or two paths that read the same once joined by "/".
    """
    paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    if isinstance(blocks, str):
        if blocks not in _MODES:
            raise ValueError(
                f"blocks must be one of {_MODES}, a pytree of labels or a callable, got {blocks!r}"
            )
        names = [[_key_name(key) for key in _without_variable_value(path)] for path in paths]
        if blocks != "leaf":
            names = [name[:-1] if len(name) > 1 else name for name in names]
        return _joined(names)
    labels = blocks(params) if callable(blocks) else blocks
    structure, expected = jax.tree.structure(labels), jax.tree.structure(params)
    if structure != expected:
        raise ValueError(
            f"blocks: the labels' structure {structure} is not that of params {expected}"
        )
    return jax.tree.leaves(labels)


@register_pytree_node_class
class _Restricted(PytreeOperator):
    """The diagonal block H_bb: v_b ↦ (H [v_b; 0])_b on the block's flat vector.

    A pytree whose children are the full operator and the block's positions in the flat
    parameter vector (an integer array, not a static value), so blocks of one size share one
    compiled Lanczos program; only the layout of ``params`` (structure, shapes, dtypes) is
    static. ``linearize`` passes through, so an :func:`hvp` built once serves every block
    without a second forward pass.
    """

    def __init__(self, matvec: Any, positions: jax.Array, layout: tuple[Any, ...]):
        self.matvec = matvec
        self.positions = positions
        self.layout = layout

    def linearize(self) -> _Restricted:
        return _Restricted(linearized(self.matvec), self.positions, self.layout)

    def __call__(self, v_block: jax.Array) -> jax.Array:
        full = jnp.zeros(_size(self.layout), v_block.dtype).at[self.positions].set(v_block)
        out = self.matvec(_unflatten(self.layout, full))
        return _flatten(out, v_block.dtype)[self.positions]

    def tree_flatten(self) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        return (self.matvec, self.positions), self.layout

    @classmethod
    def tree_unflatten(cls, layout: tuple[Any, ...], children: tuple[Any, ...]) -> _Restricted:
        return cls(*children, layout)


def _size(layout: tuple[Any, ...]) -> int:
    return sum(math.prod(leaf.shape) for leaf in layout[1])


def _flatten(tree: Any, dtype: Any) -> jax.Array:
    return jnp.concatenate([jnp.ravel(leaf).astype(dtype) for leaf in jax.tree.leaves(tree)])


def _unflatten(layout: tuple[Any, ...], flat: jax.Array) -> Any:
    treedef, leaves = layout
    return unflatten_like(flat, treedef.unflatten(leaves))


@functools.partial(jax.jit, static_argnums=2)
def _embed(vectors: jax.Array, positions: np.ndarray, layout: tuple[Any, ...]) -> Any:
    """Rows of block vectors as a pytree like ``params`` with a leading axis, zero elsewhere."""
    full = jnp.zeros((vectors.shape[0], _size(layout)), vectors.dtype)
    return jax.vmap(functools.partial(_unflatten, layout))(full.at[:, positions].set(vectors))


def _one_by_one(
    block: _Restricted,
    dtype: Any,
    which: str,
    return_vectors: bool,
    positions: np.ndarray,
    layout: tuple[Any, ...],
) -> BlockEigenResult:
    # A 1 × 1 block is its own eigenvalue, H_bb = e_bᵀHe_b: one product, no Lanczos program
    # to compile; for "both" it is the smallest and the largest value at once.
    count = 2 if which == "both" else 1
    unit = np.ones((1,), dtype)
    values, residuals = _diagonal_entry(block, unit, count)
    vectors = _embed(np.tile(unit, (count, 1)), positions, layout) if return_vectors else None
    converged = bool(jnp.all(jnp.isfinite(values)))
    return BlockEigenResult(1, values, vectors, residuals, 1, converged)


@functools.partial(jax.jit, static_argnums=2)
def _diagonal_entry(block: _Restricted, unit: jax.Array, count: int) -> tuple[jax.Array, jax.Array]:
    """``(values, residuals)`` of a 1 × 1 block, each repeated ``count`` times.

    The value is exact, so its residual is 0, unless the product gave NaN or ±∞: no
    eigenvalue, so the residual is NaN, as a Lanczos block's would be. One program: run
    eagerly, the product compiles each of its operations on its own.
    """
    value = block(unit)
    residual = jnp.where(jnp.isfinite(value), 0.0, jnp.nan).astype(value.dtype)
    return jnp.tile(value, count), jnp.tile(residual, count)


def block_eigenvalues(
    matvec: Callable[[Any], Any],
    params: Any,
    *,
    key: jax.Array,
    blocks: Any = "layer",
    k: int = 1,
    which: str = "both",
    num_iters: int | None = None,
    return_vectors: bool = False,
    tol: float = 1e-4,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict[Any, BlockEigenResult]:
    """Extreme eigenvalues of each diagonal block H_bb of a symmetric operator, by Lanczos.

    Partition θ into blocks θ_b (layers, by default). H_bb = ∂²L/∂θ_b² is the curvature of
    the loss when only block b moves; its product is H's with v zero outside the block, read
    back inside it: H_bb v_b = (H [v_b; 0])_b. Each block runs
    :func:`~jaxtrain.curvature.eigenvalues` in its own n_b-dimensional space, so its λmin and
    top-k are H_bb's own. By Cauchy interlacing λmin(H) ≤ λmin(H_bb) ≤ λmax(H_bb) ≤ λmax(H):
    a block with a negative eigenvalue proves negative curvature of H; a block without one
    does not prove its absence (the way down may mix blocks).

    Args:
        matvec: v ↦ Hv on pytrees like ``params``: :func:`~jaxtrain.curvature.hvp`,
            :func:`~jaxtrain.curvature.ggn`, :func:`~jaxtrain.curvature.empirical_fisher`.
            Its vector-independent work runs once for all blocks.
        params: the parameters, fixing the vector space.
        key: ``jax.random`` key; block i starts from ``fold_in(key, i)``.
        blocks: how to partition the leaves (see :func:`block_labels`): ``"layer"``,
            ``"leaf"``, a pytree of labels or a callable returning one.
        k: eigenvalues at each wanted end, capped per block at what its dimension allows
            (n_b, or ⌊n_b/2⌋ for ``"both"``; a one-parameter block reports its one value as
            both ends).
        which: ``"largest"``, ``"smallest"`` or ``"both"``, as for ``eigenvalues``.
        num_iters: the most Lanczos steps per block (default as ``eigenvalues``').
        return_vectors: also return each block's Ritz vectors.
        tol: relative tolerance on each eigenvalue.
        max_bytes: the largest Lanczos basis allowed for one block, in bytes.

    Returns:
        ``{label: BlockEigenResult}`` in the order the blocks first appear among the leaves.
        A block of no parameters (only empty leaves) has no spectrum and is left out.

    Raises:
        ValueError: for a bad ``blocks``, ``k``, ``which``, ``num_iters`` or ``tol`` (see
            ``eigenvalues``), whatever the blocks' sizes, or ``params`` without array leaves.
        MemoryLimitError: if a block's basis would exceed ``max_bytes``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxtrain.curvature import block_eigenvalues, hvp
        >>> def loss(p):  # H = [[2, 1], [1, 6]]: H_aa = 2, H_bb = 6, each its λmin and λmax
        ...     return p["a"][0] * p["b"][0] + p["a"][0] ** 2 + 3.0 * p["b"][0] ** 2
        >>> params = {"a": jnp.ones(1), "b": jnp.ones(1)}
        >>> spectra = block_eigenvalues(hvp(loss, params), params, key=jax.random.key(0))
        >>> for name, result in spectra.items():
        ...     print(name, result.size, [round(float(x), 3) for x in result.eigenvalues])
        a 1 [2.0, 2.0]
        b 1 [6.0, 6.0]

    References:
        Ghorbani, Krishnan, Xiao, 2019, https://arxiv.org/abs/1901.10159 (spectra per layer).

        Sankar et al., "A deeper look at the Hessian eigenspectrum of deep neural networks and
        its applications to regularization", AAAI 2021, https://arxiv.org/abs/2012.03801
    """
    key = check_key(key)
    _check_block_arguments(k, which, tol, num_iters)
    layout, dtype, positions_by_label = _block_positions(params, blocks)
    # The full operator's forward pass runs here, once, not once per block. A plain function
    # travels into the compiled programs as a pytree, as every other entry point takes it.
    matvec = as_pytree_callable(linearized(matvec), (params,))
    results = {}
    for number, (label, positions) in enumerate(positions_by_label.items()):
        size = int(positions.size)
        if size == 0:
            continue
        block = _Restricted(matvec, jnp.asarray(positions, jnp.int32), layout)
        if size == 1:
            results[label] = _one_by_one(block, dtype, which, return_vectors, positions, layout)
            continue
        result = eigenvalues(
            block,
            jnp.zeros(size, dtype),
            k=min(k, size // 2 if which == "both" else size),
            key=jax.random.fold_in(key, number),
            which=which,
            num_iters=num_iters,
            return_vectors=return_vectors,
            tol=tol,
            max_bytes=max_bytes,
        )
        vectors = result.eigenvectors
        if vectors is not None:
            vectors = _embed(vectors, positions, layout)
        results[label] = BlockEigenResult(
            size,
            result.eigenvalues,
            vectors,
            result.residuals,
            result.num_matvecs,
            result.converged,
        )
    return results


def _check_block_arguments(k: Any, which: Any, tol: Any, num_iters: Any) -> None:
    """Refuses a bad ``k``, ``which``, ``tol`` or ``num_iters`` whatever the blocks' sizes."""
    check_k(k)
    if which not in _WHICH:
        raise ValueError(f"which must be one of {_WHICH}, got {which!r}")
    # Checked here, not only by eigenvalues, which blocks of one parameter never call.
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    if num_iters is not None:
        _check_num_iters(num_iters, 1)


def _block_positions(
    params: Any, blocks: Any
) -> tuple[tuple[Any, ...], Any, dict[Any, np.ndarray]]:
    """``(layout, dtype, {label: positions})``: the leaves' layout, the flat vector's working
    dtype (float32 for half-precision leaves, as :func:`~jaxtrain.curvature.eigenvalues`
    computes in, so a one-parameter block's value has the other blocks' dtype) and each
    block's positions in the flat vector, blocks in the order they first appear."""
    leaves, treedef = jax.tree.flatten(params)
    if not leaves:
        raise ValueError(f"params has no array leaves, so no blocks: got {params!r}")
    labels = block_labels(params, blocks)
    specs = tuple(jax.ShapeDtypeStruct(jnp.shape(leaf), jnp.result_type(leaf)) for leaf in leaves)
    layout = (treedef, specs)
    offsets = np.cumsum([0] + [math.prod(spec.shape) for spec in specs])
    members: dict[Any, list[int]] = {}
    for index, label in enumerate(labels):
        members.setdefault(label, []).append(index)
    positions = {
        label: np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in indices])
        for label, indices in members.items()
    }
    return layout, flat_space(params).dtype, positions
