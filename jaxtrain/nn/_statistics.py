"""Mean and variance over chosen axes, and the normalize-scale-shift step every norm shares.

Kept apart from the modules so BatchNorm, LayerNorm, GroupNorm and InstanceNorm compute their
statistics the same way, in the same order of floating-point operations as Flax (so the tests can
demand equality, not closeness).
"""

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from flax.nnx.nn import dtypes as flax_dtypes
from jax import lax

from jaxtrain._text import counted

# Flax's own promotion function is the default ``promote_dtype=`` of every norm, as in flax.nnx:
# the same object, so a model that swaps layers keeps its dtype behaviour.
promote_dtype = flax_dtypes.promote_dtype


def canonical_axes(ndim: int, axes: int | Sequence[int]) -> tuple[int, ...]:
    """Sorted, non-negative, de-duplicated ``axes`` of an ``ndim``-dimensional array."""
    if isinstance(axes, int):
        axes = (axes,)
    out = []
    for axis in axes:
        if not -ndim <= axis < ndim:
            raise ValueError(
                f"axis {axis} is out of range for an input with {counted(ndim, 'dimension')}"
            )
        out.append(axis % ndim)
    return tuple(sorted(set(out)))


def abs_sq(x: jax.Array) -> jax.Array:
    """|x|², elementwise: x² for real x, Re(x)² + Im(x)² for complex x (never complex x²)."""
    if jnp.iscomplexobj(x):
        return lax.square(lax.real(x)) + lax.square(lax.imag(x))
    return lax.square(x)


def mean_and_variance(
    x: jax.Array,
    axes: int | Sequence[int],
    *,
    dtype: Any = None,
    axis_name: str | None = None,
    axis_index_groups: Any = None,
    use_mean: bool = True,
    use_fast_variance: bool = False,
    mask: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    r"""μ and σ² of ``x`` over ``axes`` (and over the mapped axis ``axis_name`` when given).

    σ² = mean(|x − μ|²), two-pass, by default. The one-pass form E[|x|²] − |E[x]|² (Flax's
    default, ``use_fast_variance=True``) subtracts two nearly equal numbers when |μ| ≫ σ and
    loses all digits of σ² in float32: inputs of mean 1e3 and spread 0.1 come out with σ² ≈ 0 or
    even clipped negative. |·|² makes complex inputs come out with unit variance, as in Flax.
    Statistics are computed in at least float32 (the promotion of ``dtype``, default ``x``'s, with
    float32), so bfloat16 inputs do not accumulate in bfloat16. ``mask`` (broadcastable to ``x``)
    selects the entries that count; ``use_mean=False`` gives μ = 0 and σ² = mean(|x|²).

    Over a mapped axis the statistics are those of all replicas' entries pooled. Without a mask
    every replica holds equally many, so each mean is the replicas' average (``pmean``, as Flax).
    With one, replica r keeps n_r entries, and the pooled mean of a value v is

    .. math::

        \bar v = \frac{\sum_r \sum_{i \in K_r} v_i}{\sum_r n_r}

    (K_r the kept entries of replica r, v is x and |x|² one-pass, x then |x − μ|² with the pooled
    μ two-pass): sums and counts are ``psum``-ed separately, since averaging the replicas' means
    would weigh one replica's single kept entry like another's thousand.
    """
    dtype = jnp.promote_types(jnp.result_type(x) if dtype is None else dtype, jnp.float32)
    x = jnp.asarray(x, dtype)
    axes = canonical_axes(x.ndim, axes)

    pooled_count = None
    if axis_name is not None and mask is not None:
        # In ``dtype``, as jnp.mean counts (exact up to 2²⁴ entries per statistic in float32).
        pooled_count = kept_count(
            mask, x.shape, axes, dtype, axis_name=axis_name, axis_index_groups=axis_index_groups
        )

    def global_mean(*values: jax.Array) -> tuple[jax.Array, ...]:
        if pooled_count is not None:
            # psum of a tuple is one collective for all the sums.
            totals = lax.psum(
                tuple(jnp.sum(v, axes, where=mask) for v in values),
                axis_name,
                axis_index_groups=axis_index_groups,
            )
            return tuple(total / pooled_count.astype(total.dtype) for total in totals)
        means = tuple(v.mean(axes, where=mask) for v in values)
        if axis_name is None:
            return means
        if len(means) == 1:
            return (lax.pmean(means[0], axis_name, axis_index_groups=axis_index_groups),)
        # One collective for both moments instead of two round trips.
        stacked = lax.pmean(jnp.stack(means), axis_name, axis_index_groups=axis_index_groups)
        return tuple(stacked[i] for i in range(len(means)))

    if not use_mean:
        (var,) = global_mean(abs_sq(x))
        return jnp.zeros_like(var), var
    if use_fast_variance:
        mean, mean_sq = global_mean(x, abs_sq(x))
        var = jnp.maximum(0.0, mean_sq - abs_sq(mean))
    else:
        (mean,) = global_mean(x)
        centre = mean
        if mask is not None:
            # A statistic that keeps no entry has μ = 0/0. Centred on it, |x − NaN|²'s
            # derivative times the masked entries' zero cotangent is NaN, sent back into x:
            # centre those on 0 (their σ² is 0/0 either way, for the caller to replace).
            counts = pooled_count
            if counts is None:
                counts = kept_count(mask, x.shape, axes, dtype)
            centre = jnp.where(counts > 0, mean, jnp.zeros_like(mean))
        (var,) = global_mean(abs_sq(x - jnp.expand_dims(centre, axes)))
    return mean, var


def kept_count(
    mask: jax.Array,
    shape: tuple[int, ...],
    axes: tuple[int, ...],
    dtype: Any,
    *,
    axis_name: str | None = None,
    axis_index_groups: Any = None,
) -> jax.Array:
    """How many entries ``mask`` (broadcast to ``shape``) keeps per statistic over ``axes``,
    pooled over the mapped axis ``axis_name`` when given."""
    count = jnp.sum(jnp.broadcast_to(mask, shape), axes, dtype=dtype)
    if axis_name is None:
        return count
    return lax.psum(count, axis_name, axis_index_groups=axis_index_groups)


def normalize(
    x: jax.Array,
    mean: jax.Array,
    var: jax.Array,
    scale: jax.Array | None,
    bias: jax.Array | None,
    reduction_axes: int | Sequence[int],
    feature_axes: int | Sequence[int],
    epsilon: float,
    dtype: Any,
) -> jax.Array:
    """y = (x − μ) / √(σ² + ε) · γ + β, with μ, σ² broadcast over ``reduction_axes``."""
    reduction_axes = canonical_axes(x.ndim, reduction_axes)
    feature_axes = canonical_axes(x.ndim, feature_axes)
    stats_shape = [1 if i in reduction_axes else d for i, d in enumerate(x.shape)]
    feature_shape = [d if i in feature_axes else 1 for i, d in enumerate(x.shape)]
    y = x - mean.reshape(stats_shape)
    multiplier = lax.rsqrt(var.reshape(stats_shape) + epsilon)
    if scale is not None:
        multiplier = multiplier * scale.reshape(feature_shape)
    y = y * multiplier
    if bias is not None:
        y = y + bias.reshape(feature_shape)
    dtype = flax_dtypes.canonicalize_dtype(x, scale, bias, dtype=dtype)
    return jnp.asarray(y, dtype)


def affine_parameters(
    num_features: int,
    *,
    use_scale: bool,
    use_bias: bool,
    param_dtype: Any,
    scale_init: Any,
    bias_init: Any,
    scale_metadata: Any,
    bias_metadata: Any,
    rngs: Any,
) -> tuple[Any, Any]:
    """γ and β as ``nnx.Param`` (or ``None``), one ``params`` key each in Flax's order.

    Drawing the keys as flax.nnx does (γ first) keeps the rest of a model's initialization when
    a jaxtrain norm replaces an nnx one; ``*_metadata`` become the Params' metadata (e.g.
    ``sharding_names``), as in flax.nnx.
    """
    if num_features < 1:
        raise ValueError(f"num_features must be positive, got {num_features}")
    shape = (num_features,)
    scale = (
        nnx.Param(scale_init(rngs.params(), shape, param_dtype), **scale_metadata)
        if use_scale
        else None
    )
    bias = (
        nnx.Param(bias_init(rngs.params(), shape, param_dtype), **bias_metadata)
        if use_bias
        else None
    )
    return scale, bias
