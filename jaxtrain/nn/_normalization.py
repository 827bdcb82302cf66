"""Per-example normalizations: LayerNorm, GroupNorm, InstanceNorm (the lecture's "famous
normalizations" besides BatchNorm).

All three normalize each example with its own statistics, so, unlike BatchNorm, they behave the
same in training and at test time, keep no running statistics, and work with a batch of one.
They differ only in which axes form a group that shares one μ and σ²:

===============  ========================================  ===================================
layer            statistics over                            typical use
===============  ========================================  ===================================
BatchNorm        batch (and height, width) per channel      CNNs with batches of ~32 or more
LayerNorm        all features of one example                transformers, RNNs, MLPs
GroupNorm        height, width and a group of channels      detection/segmentation, small batches
InstanceNorm     height and width per channel               style transfer, per-image contrast
===============  ========================================  ===================================

Each takes flax.nnx's constructor arguments (names, order, defaults) and its ``mask=`` call
argument, except ``use_fast_variance``: ``False`` here, since the one-pass variance loses σ² when
|μ| ≫ σ; ``use_fast_variance=True`` gives Flax's numbers bit for bit. Complex inputs are
normalized with σ² = mean(|x − μ|²), so the output has unit variance.
"""

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jaxtrain._text import counted
from jaxtrain.nn import _statistics

Initializer = Callable[..., jax.Array]


class _PerExampleNorm(nnx.Module):
    """γ, β and the settings shared by the per-example normalizations (flax.nnx's arguments)."""

    def _init_common(
        self,
        num_features: int,
        *,
        epsilon: float,
        dtype: Any,
        param_dtype: Any,
        use_bias: bool,
        use_scale: bool,
        bias_init: Initializer,
        scale_init: Initializer,
        axis_name: str | None,
        axis_index_groups: Any,
        use_fast_variance: bool,
        promote_dtype: Callable[..., Any],
        rngs: nnx.Rngs,
        bias_metadata: Mapping[str, Any],
        scale_metadata: Mapping[str, Any],
    ) -> None:
        self.scale, self.bias = _statistics.affine_parameters(
            num_features,
            use_scale=use_scale,
            use_bias=use_bias,
            param_dtype=param_dtype,
            scale_init=scale_init,
            bias_init=bias_init,
            scale_metadata=scale_metadata,
            bias_metadata=bias_metadata,
            rngs=rngs,
        )
        self.num_features = num_features
        self.epsilon = epsilon
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.use_bias = use_bias
        self.use_scale = use_scale
        self.axis_name = axis_name
        self.axis_index_groups = axis_index_groups
        self.use_fast_variance = use_fast_variance
        self.promote_dtype = promote_dtype

    def _promoted(self, x: jax.Array) -> tuple[jax.Array, jax.Array | None, jax.Array | None]:
        """``x``, γ and β brought to one dtype by ``promote_dtype`` (as flax.nnx does)."""
        scale = self.scale[...] if self.scale is not None else None
        bias = self.bias[...] if self.bias is not None else None
        return self.promote_dtype((x, scale, bias), dtype=self.dtype)

    def _moments(
        self, x: jax.Array, axes: Sequence[int], mask: jax.Array | None
    ) -> tuple[jax.Array, jax.Array]:
        return _statistics.mean_and_variance(
            x,
            axes,
            dtype=self.dtype,
            axis_name=self.axis_name,
            axis_index_groups=self.axis_index_groups,
            use_fast_variance=self.use_fast_variance,
            mask=mask,
        )

    def _check_features(self, x: jax.Array, axes: tuple[int, ...]) -> None:
        size = 1
        for axis in axes:
            size *= x.shape[axis]
        if size != self.num_features:
            raise ValueError(
                f"{type(self).__name__} expected {counted(self.num_features, 'feature')}, got "
                f"input of shape {x.shape}"
            )


class LayerNorm(_PerExampleNorm):
    r"""Layer normalization: each example normalized over its own features.

    For one example with features x₁…x_d (``reduction_axes``),

    .. math::

        μ = \frac{1}{d}\sum_i x_i,\quad σ^2 = \frac{1}{d}\sum_i (x_i - μ)^2,\quad
        y = γ \odot \frac{x - μ}{\sqrt{σ^2 + ε}} + β .

    No statistic crosses examples, so training and test behave the same and any batch size,
    including one, works: the normalization of choice for transformers and recurrent networks,
    where batch statistics are awkward (variable lengths, small batches). γ is ``scale``, β
    ``bias``, ε ``epsilon``; variance two-pass unless ``use_fast_variance``. Equal to
    ``flax.nnx.LayerNorm`` with ``use_fast_variance=False``.

    Args:
        num_features: number of features along ``feature_axes`` (the size of γ and β).
        epsilon: ε added to σ².
        dtype: output and computation dtype (default: inferred from the input and parameters).
        param_dtype: dtype of γ and β.
        use_bias: learn β.
        use_scale: learn γ.
        bias_init: initializer of β (zeros).
        scale_init: initializer of γ (ones).
        reduction_axes: axes whose entries share one μ, σ² (default: the last).
        feature_axes: axes that γ and β run along (default: the last).
        axis_name: mapped axis over which to average the statistics (a model split across
            devices; under plain ``jax.jit`` XLA inserts the reduction and this stays ``None``).
        axis_index_groups: groups of indices of ``axis_name`` averaged separately (see
            ``jax.lax.psum``).
        use_fast_variance: one-pass E[|x|²] − |μ|² (Flax's default, bit for bit Flax's numbers)
            instead of two-pass mean(|x − μ|²).
        promote_dtype: called as ``promote_dtype((x, scale, bias), dtype=dtype)`` to bring the
            input and parameters to one dtype (Flax's function by default).
        rngs: ``nnx.Rngs``; one ``params`` key per learned vector, as flax.nnx draws them.
        bias_metadata: metadata of β's ``nnx.Param`` (e.g. ``sharding_names``).
        scale_metadata: metadata of γ's ``nnx.Param``.

    Raises:
        ValueError: if ``num_features`` < 1.

    Examples:
        >>> import jax
        >>> from flax import nnx
        >>> from jaxtrain.nn import LayerNorm
        >>> x = 3.0 + jax.random.normal(jax.random.key(0), (2, 6))
        >>> y = LayerNorm(6, rngs=nnx.Rngs(0))(x)
        >>> print(round(float(abs(y.mean(-1)).max()), 4), round(float(y.std(-1).min()), 3))
        0.0 1.0

    References:
        Ba, Kiros and Hinton, `Layer Normalization <https://arxiv.org/abs/1607.06450>`_, 2016.
    """

    def __init__(
        self,
        num_features: int,
        *,
        epsilon: float = 1e-6,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        use_bias: bool = True,
        use_scale: bool = True,
        bias_init: Initializer = jax.nn.initializers.zeros,
        scale_init: Initializer = jax.nn.initializers.ones,
        reduction_axes: int | Sequence[int] = -1,
        feature_axes: int | Sequence[int] = -1,
        axis_name: str | None = None,
        axis_index_groups: Any = None,
        use_fast_variance: bool = False,
        promote_dtype: Callable[..., Any] = _statistics.promote_dtype,
        rngs: nnx.Rngs,
        bias_metadata: Mapping[str, Any] = MappingProxyType({}),
        scale_metadata: Mapping[str, Any] = MappingProxyType({}),
    ):
        self._init_common(
            num_features,
            epsilon=epsilon,
            dtype=dtype,
            param_dtype=param_dtype,
            use_bias=use_bias,
            use_scale=use_scale,
            bias_init=bias_init,
            scale_init=scale_init,
            axis_name=axis_name,
            axis_index_groups=axis_index_groups,
            use_fast_variance=use_fast_variance,
            promote_dtype=promote_dtype,
            rngs=rngs,
            bias_metadata=bias_metadata,
            scale_metadata=scale_metadata,
        )
        self.reduction_axes = reduction_axes
        self.feature_axes = feature_axes

    def __call__(self, x: jax.Array, *, mask: jax.Array | None = None) -> jax.Array:
        """Normalizes every example of ``x`` over ``reduction_axes``.

        Args:
            x: input with ``num_features`` entries along ``feature_axes``.
            mask: booleans broadcastable to ``x``; only the ``True`` entries enter μ and σ².

        Returns:
            The normalized, scaled and shifted input, same shape as ``x``.
        """
        reduction_axes = _statistics.canonical_axes(x.ndim, self.reduction_axes)
        feature_axes = _statistics.canonical_axes(x.ndim, self.feature_axes)
        self._check_features(x, feature_axes)
        x, scale, bias = self._promoted(x)
        mean, var = self._moments(x, reduction_axes, mask)
        return _statistics.normalize(
            x, mean, var, scale, bias, reduction_axes, feature_axes, self.epsilon, self.dtype
        )


class GroupNorm(_PerExampleNorm):
    r"""Group normalization: each example normalized per group of channels.

    The C channels (last axis) are split into G = ``num_groups`` groups of C/G; μ and σ² are
    taken over every non-batch axis (height, width, …) and the channels of one group, per
    example:

    .. math::

        y_{n,\dots,c} = γ_c \frac{x_{n,\dots,c} - μ_{n,g(c)}}{\sqrt{σ^2_{n,g(c)} + ε}} + β_c .

    G = 1 is LayerNorm over (height, width, channels); G = C is InstanceNorm. Independent of the
    batch size, so it replaces BatchNorm where batches are tiny (detection, segmentation, video:
    Wu and He report BatchNorm's error growing sharply below a batch of ~8 and GroupNorm's
    not). Equal to ``flax.nnx.GroupNorm`` with ``use_fast_variance=False`` for the default
    ``reduction_axes`` (every axis but the batch's). Where ``reduction_axes`` leave another
    axis unreduced, flax.nnx spreads each group's statistics over its channels along axis 1,
    which scrambles them; this spreads them along the channel axis, as ``flax.linen`` does.

    Args:
        num_features: C, the number of channels (last axis).
        num_groups: G; must divide C. Give ``None`` to set ``group_size`` instead.
        group_size: channels per group (C/G), an alternative to ``num_groups``.
        epsilon: ε added to σ².
        dtype: output and computation dtype (default: inferred from the input and parameters).
        param_dtype: dtype of γ and β.
        use_bias: learn β.
        use_scale: learn γ.
        bias_init: initializer of β (zeros).
        scale_init: initializer of γ (ones).
        reduction_axes: axes reduced per group; must include the channel axis ``-1``
            (default: every axis but the first, the batch).
        axis_name: mapped axis over which to average the statistics (a model split across
            devices; under plain ``jax.jit`` XLA inserts the reduction and this stays ``None``).
        axis_index_groups: groups of indices of ``axis_name`` averaged separately (see
            ``jax.lax.psum``).
        use_fast_variance: one-pass E[|x|²] − |μ|² (Flax's default, bit for bit Flax's numbers)
            instead of two-pass mean(|x − μ|²).
        promote_dtype: called as ``promote_dtype((x, scale, bias), dtype=dtype)`` to bring the
            input and parameters to one dtype (Flax's function by default).
        rngs: ``nnx.Rngs``; one ``params`` key per learned vector, as flax.nnx draws them.
        bias_metadata: metadata of β's ``nnx.Param`` (e.g. ``sharding_names``).
        scale_metadata: metadata of γ's ``nnx.Param``.

    Raises:
        ValueError: if ``num_features`` < 1, or not exactly one of ``num_groups`` and
            ``group_size`` is given, or it does not divide ``num_features``.

    Examples:
        >>> import jax
        >>> from flax import nnx
        >>> from jaxtrain.nn import GroupNorm
        >>> x = jax.random.normal(jax.random.key(0), (2, 4, 4, 8))  # NHWC
        >>> print(GroupNorm(8, num_groups=2, rngs=nnx.Rngs(0))(x).shape)
        (2, 4, 4, 8)

    References:
        Wu and He, `Group Normalization <https://arxiv.org/abs/1803.08494>`_, 2018.
    """

    def __init__(
        self,
        num_features: int,
        num_groups: int | None = 32,
        group_size: int | None = None,
        *,
        epsilon: float = 1e-6,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        use_bias: bool = True,
        use_scale: bool = True,
        bias_init: Initializer = jax.nn.initializers.zeros,
        scale_init: Initializer = jax.nn.initializers.ones,
        reduction_axes: int | Sequence[int] | None = None,
        axis_name: str | None = None,
        axis_index_groups: Any = None,
        use_fast_variance: bool = False,
        promote_dtype: Callable[..., Any] = _statistics.promote_dtype,
        rngs: nnx.Rngs,
        bias_metadata: Mapping[str, Any] = MappingProxyType({}),
        scale_metadata: Mapping[str, Any] = MappingProxyType({}),
    ):
        if (num_groups is None) == (group_size is None):
            raise ValueError(
                "give exactly one of num_groups and group_size (num_groups=None to use group_size)"
            )
        if group_size is not None:
            if group_size < 1 or num_features % group_size:
                raise ValueError(f"group_size {group_size} does not divide {num_features}")
            num_groups = num_features // group_size
        elif num_groups < 1 or num_features % num_groups:
            raise ValueError(f"num_groups {num_groups} does not divide num_features {num_features}")
        self._init_common(
            num_features,
            epsilon=epsilon,
            dtype=dtype,
            param_dtype=param_dtype,
            use_bias=use_bias,
            use_scale=use_scale,
            bias_init=bias_init,
            scale_init=scale_init,
            axis_name=axis_name,
            axis_index_groups=axis_index_groups,
            use_fast_variance=use_fast_variance,
            promote_dtype=promote_dtype,
            rngs=rngs,
            bias_metadata=bias_metadata,
            scale_metadata=scale_metadata,
        )
        self.num_groups = num_groups
        self.group_size = num_features // num_groups
        self.reduction_axes = reduction_axes

    def __call__(self, x: jax.Array, *, mask: jax.Array | None = None) -> jax.Array:
        """Normalizes every example of ``x`` (batch first, channels last) per channel group.

        Args:
            x: input of shape ``[batch, ..., num_features]``.
            mask: booleans of ``x``'s shape (broadcastable before the channel axis); only the
                ``True`` entries enter μ and σ².

        Returns:
            The normalized, scaled and shifted input, same shape as ``x``.

        Raises:
            ValueError: if ``x`` has fewer than 2 axes, not ``num_features`` channels, or
                ``reduction_axes`` leaves out the channel axis.
        """
        if x.ndim < 2:
            raise ValueError(f"GroupNorm needs [batch, ..., channels], got shape {x.shape}")
        self._check_features(x, (x.ndim - 1,))
        if self.reduction_axes is None:
            reduction_axes = tuple(range(1, x.ndim))
        else:
            reduction_axes = _statistics.canonical_axes(x.ndim, self.reduction_axes)
            if reduction_axes[-1] != x.ndim - 1:
                raise ValueError(
                    f"GroupNorm's reduction_axes {self.reduction_axes} must include the channel "
                    f"axis (-1) of an input of shape {x.shape}"
                )
        group_shape = (*x.shape[:-1], self.num_groups, self.group_size)
        if mask is not None:
            mask = mask.reshape((*mask.shape[:-1], self.num_groups, self.group_size))
        x, scale, bias = self._promoted(x)
        # The channel axis splits into (groups, size): the size axis is reduced with the others.
        mean, var = self._moments(
            x.reshape(group_shape), (*reduction_axes[:-1], len(group_shape) - 1), mask
        )
        # (..., groups) → (..., channels): each channel takes its group's statistics. On the last
        # axis, as flax.linen: flax.nnx repeats on axis 1, which scrambles the statistics when
        # reduction_axes leaves a non-batch axis unreduced.
        mean = jnp.repeat(mean, self.group_size, axis=-1)
        var = jnp.repeat(var, self.group_size, axis=-1)
        return _statistics.normalize(
            x, mean, var, scale, bias, reduction_axes[:-1], (x.ndim - 1,), self.epsilon, self.dtype
        )


class InstanceNorm(_PerExampleNorm):
    r"""Instance normalization: each example and channel normalized over its spatial axes.

    For an image x of shape ``[H, W, C]`` in a batch, μ_{n,c} and σ²_{n,c} are taken over the
    H·W positions of channel c of example n:

    .. math::

        y_{n,h,w,c} = γ_c \frac{x_{n,h,w,c} - μ_{n,c}}{\sqrt{σ^2_{n,c} + ε}} + β_c .

    It removes each image's per-channel contrast and brightness, which is what style transfer
    and image generation want, and is GroupNorm with one channel per group. Equal to
    ``flax.nnx.InstanceNorm`` (flax ≥ 0.12) and ``flax.linen.InstanceNorm`` with
    ``use_fast_variance=False``. An input ``[batch, C]`` has no axis to reduce: σ² = 0 and the
    output is β, as in Flax.

    Args:
        num_features: number of features along ``feature_axes`` (the size of γ and β).
        epsilon: ε added to σ².
        dtype: output and computation dtype (default: inferred from the input and parameters).
        param_dtype: dtype of γ and β.
        use_bias: learn β.
        use_scale: learn γ.
        bias_init: initializer of β (zeros).
        scale_init: initializer of γ (ones).
        feature_axes: axes that γ and β run along (default: the last); every axis but these
            and the first (the batch) is reduced.
        axis_name: mapped axis over which to average the statistics (a model split across
            devices; under plain ``jax.jit`` XLA inserts the reduction and this stays ``None``).
        axis_index_groups: groups of indices of ``axis_name`` averaged separately (see
            ``jax.lax.psum``).
        use_fast_variance: one-pass E[|x|²] − |μ|² (Flax's default, bit for bit Flax's numbers)
            instead of two-pass mean(|x − μ|²).
        promote_dtype: called as ``promote_dtype((x, scale, bias), dtype=dtype)`` to bring the
            input and parameters to one dtype (Flax's function by default).
        rngs: ``nnx.Rngs``; one ``params`` key per learned vector, as flax.nnx draws them.
        bias_metadata: metadata of β's ``nnx.Param`` (e.g. ``sharding_names``).
        scale_metadata: metadata of γ's ``nnx.Param``.

    Raises:
        ValueError: if ``num_features`` < 1.

    Examples:
        >>> import jax
        >>> from flax import nnx
        >>> from jaxtrain.nn import InstanceNorm
        >>> x = 2.0 + jax.random.normal(jax.random.key(0), (2, 5, 5, 3))
        >>> y = InstanceNorm(3, rngs=nnx.Rngs(0))(x)
        >>> print(round(float(abs(y.mean((1, 2))).max()), 4))
        0.0

    References:
        Ulyanov, Vedaldi and Lempitsky, `Instance Normalization: The Missing Ingredient for Fast
        Stylization <https://arxiv.org/abs/1607.08022>`_, 2016.
    """

    def __init__(
        self,
        num_features: int,
        *,
        epsilon: float = 1e-6,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        use_bias: bool = True,
        use_scale: bool = True,
        bias_init: Initializer = jax.nn.initializers.zeros,
        scale_init: Initializer = jax.nn.initializers.ones,
        feature_axes: int | Sequence[int] = -1,
        axis_name: str | None = None,
        axis_index_groups: Any = None,
        use_fast_variance: bool = False,
        promote_dtype: Callable[..., Any] = _statistics.promote_dtype,
        rngs: nnx.Rngs,
        bias_metadata: Mapping[str, Any] = MappingProxyType({}),
        scale_metadata: Mapping[str, Any] = MappingProxyType({}),
    ):
        self._init_common(
            num_features,
            epsilon=epsilon,
            dtype=dtype,
            param_dtype=param_dtype,
            use_bias=use_bias,
            use_scale=use_scale,
            bias_init=bias_init,
            scale_init=scale_init,
            axis_name=axis_name,
            axis_index_groups=axis_index_groups,
            use_fast_variance=use_fast_variance,
            promote_dtype=promote_dtype,
            rngs=rngs,
            bias_metadata=bias_metadata,
            scale_metadata=scale_metadata,
        )
        self.feature_axes = feature_axes

    def __call__(self, x: jax.Array, *, mask: jax.Array | None = None) -> jax.Array:
        """Normalizes every example of ``x`` over its axes other than the batch and features.

        Args:
            x: input of shape ``[batch, ..., num_features]`` (features on ``feature_axes``).
            mask: booleans broadcastable to ``x``; only the ``True`` entries enter μ and σ².

        Returns:
            The normalized, scaled and shifted input, same shape as ``x``.

        Raises:
            ValueError: if ``feature_axes`` includes the batch axis 0 or the features do not
                number ``num_features``.
        """
        feature_axes = _statistics.canonical_axes(x.ndim, self.feature_axes)
        if 0 in feature_axes:
            raise ValueError(
                f"InstanceNorm's feature_axes {self.feature_axes} include axis 0, the batch axis"
            )
        self._check_features(x, feature_axes)
        reduction_axes = tuple(i for i in range(1, x.ndim) if i not in feature_axes)
        x, scale, bias = self._promoted(x)
        mean, var = self._moments(x, reduction_axes, mask)
        return _statistics.normalize(
            x, mean, var, scale, bias, reduction_axes, feature_axes, self.epsilon, self.dtype
        )
