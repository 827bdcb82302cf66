"""Directions to slice the loss along, scaled like the network they perturb (Li et al. 2018)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxtrain._dtypes import check_float_leaves, working_dtype

__all__ = ["filter_normalize", "random_direction"]

# A step along an integer or boolean leaf is not a move of the network.
_FLOAT_ONLY = (
    "directions are for floating-point parameters (keep counters and integer state out of params)"
)


def _filter_norms(x: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """‖x‖ over ``axes``, kept: the sum of |x|², real also for complex filters."""
    return jnp.sqrt(jnp.sum(jnp.abs(x) ** 2, axis=axes, keepdims=True))


def _normalize_leaf(d: jax.Array, p: jax.Array, filter_axis: int, zero_1d: bool) -> jax.Array:
    d, p = jnp.asarray(d), jnp.asarray(p)
    if d.shape != p.shape:
        raise ValueError(f"direction leaf of shape {d.shape} does not match parameter {p.shape}")
    if p.ndim <= 1:
        if zero_1d:
            return jnp.zeros_like(d)
        axes: tuple[int, ...] = tuple(range(p.ndim))
    else:
        if not -p.ndim <= filter_axis < p.ndim:
            raise ValueError(f"filter_axis {filter_axis} is outside a parameter of shape {p.shape}")
        axis = filter_axis % p.ndim
        axes = tuple(i for i in range(p.ndim) if i != axis)
    # Norms of half-precision filters in float32: float16 squares under- and overflow.
    work = working_dtype(jnp.result_type(d, p))
    d_work = d.astype(work)
    d_norm = _filter_norms(d_work, axes)
    p_norm = _filter_norms(p.astype(work), axes)
    # A filter whose direction is zero stays zero rather than becoming 0/0.
    return (d_work * p_norm / jnp.where(d_norm > 0, d_norm, 1.0)).astype(jnp.result_type(d, p))


def filter_normalize(
    direction: Any, params: Any, *, filter_axis: int = -1, zero_1d: bool = True
) -> Any:
    """Rescales each filter of ``direction`` to the norm of the same filter in ``params``.

    Filter normalization (Li et al. 2018): for every filter (a neuron's incoming weights, a
    convolution's output channel) dᵢ ← dᵢ · ‖θᵢ‖ / ‖dᵢ‖. A network whose layers are rescaled
    without changing its function (ReLU layers, anything followed by a normalization) then
    gets a direction of the same relative size, so slices of different networks can be
    compared. The filter axis is the last one (Flax's kernels are ``(..., in, out)``);
    1-D and scalar leaves (biases, normalization scales) get a zero direction, as in the
    paper, unless ``zero_1d=False``, which normalizes each of them as one filter. A leaf is
    told by its number of dimensions, not its name: a 2-D bias (attention's
    ``(heads, head_dim)``) is normalized per filter like a kernel. Norms are taken in float32
    at least, so half-precision filters neither underflow to 0 nor overflow.

    Args:
        direction: a pytree like ``params``.
        params: the point θ whose filter norms are matched.
        filter_axis: the axis of a ≥2-D leaf that indexes filters.
        zero_1d: zero the direction on 1-D and scalar leaves.

    Returns:
        The normalized direction, a pytree like ``params``.

    Raises:
        ValueError: if the structures or shapes differ, a leaf is not floating point, or
            ``filter_axis`` is outside a ≥2-D leaf.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.landscape import filter_normalize
        >>> params = {"w": jnp.array([[3.0, 0.0], [4.0, 1.0]]), "b": jnp.ones(2)}
        >>> d = filter_normalize({"w": jnp.ones((2, 2)), "b": jnp.ones(2)}, params)
        >>> print(jnp.round(jnp.linalg.norm(d["w"], axis=0), 4), d["b"])  # θ column norms 5, 1
        [5. 1.] [0. 0.]

    References:
        Li, Xu, Taylor, Studer, Goldstein, "Visualizing the Loss Landscape of Neural Nets",
        NeurIPS 2018, https://arxiv.org/abs/1712.09913
    """
    if jax.tree.structure(direction) != jax.tree.structure(params):
        raise ValueError("direction and params must have the same pytree structure")
    check_float_leaves(params, _FLOAT_ONLY)
    return _normalized(direction, params, filter_axis, zero_1d)


def _normalized(direction: Any, params: Any, filter_axis: int, zero_1d: bool) -> Any:
    """:func:`filter_normalize` past its checks of the structure and the leaves' dtypes."""
    return jax.tree.map(lambda d, p: _normalize_leaf(d, p, filter_axis, zero_1d), direction, params)


def random_direction(
    key: jax.Array,
    params: Any,
    *,
    filter_normalize: bool = True,
    filter_axis: int = -1,
    zero_1d: bool = True,
) -> Any:
    """A random direction like ``params``: Gaussian, filter-normalized by default.

    Every leaf is drawn from 𝒩(0, 1) with its own key; with ``filter_normalize=True`` the
    result goes through :func:`filter_normalize` (per-filter norms matched to θ, 1-D leaves
    zeroed unless ``zero_1d=False``). Two directions from different keys are nearly
    orthogonal in high dimension, which is what a 2-D slice needs.

    Args:
        key: ``jax.random`` key.
        params: the point θ (structure, shapes, dtypes and filter norms).
        filter_normalize: match each filter's norm to θ's (Li et al. 2018).
        filter_axis: see :func:`filter_normalize`.
        zero_1d: see :func:`filter_normalize`.

    Returns:
        A pytree like ``params``.

    Raises:
        ValueError: for a leaf of ``params`` that is not floating point, or a ``filter_axis``
            outside a ≥2-D leaf.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxtrain.landscape import random_direction
        >>> params = {"w": jnp.full((3, 2), 2.0), "b": jnp.ones(2)}
        >>> d = random_direction(jax.random.key(0), params)
        >>> print(jnp.round(jnp.linalg.norm(d["w"], axis=0), 4), d["b"])
        [3.4641 3.4641] [0. 0.]

    References:
        Li, Xu, Taylor, Studer, Goldstein, "Visualizing the Loss Landscape of Neural Nets",
        NeurIPS 2018, https://arxiv.org/abs/1712.09913
    """
    check_float_leaves(params, _FLOAT_ONLY)
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, max(len(leaves), 1))
    direction = jax.tree.unflatten(
        treedef,
        [
            jax.random.normal(k, jnp.shape(p), jnp.result_type(p))
            for k, p in zip(keys, leaves, strict=False)
        ],
    )
    if not filter_normalize:
        return direction
    # The direction was drawn like params, whose leaves were checked above.
    return _normalized(direction, params, filter_axis, zero_1d)
