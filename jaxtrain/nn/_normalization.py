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
"""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxtrain.nn import _statistics

Initializer = Callable[..., jax.Array]


class _PerExampleNorm(nnx.Module):
    """γ and β over the feature axis, shared by the per-example normalizations."""

    def _init_affine(
        self,
        num_features: int,
        *,
        epsilon: float,
        use_bias: bool,
        use_scale: bool,
        use_fast_variance: bool,
        axis_name: str | None,
        dtype: jnp.dtype | None,
        param_dtype: jnp.dtype,
        bias_init: Initializer,
        scale_init: Initializer,
        rngs: nnx.Rngs,
    ) -> None:
        if num_features < 1:
            raise ValueError(f"num_features must be positive, got {num_features}")
        shape = (num_features,)
        # One params key per vector, in nnx's order, so swapping layers keeps later inits.
        self.scale = nnx.Param(scale_init(rngs.params(), shape, param_dtype)) if use_scale else None
        self.bias = nnx.Param(bias_init(rngs.params(), shape, param_dtype)) if use_bias else None
        self.num_features = num_features
        self.epsilon = epsilon
        self.use_bias = use_bias
        self.use_scale = use_scale
        self.use_fast_variance = use_fast_variance
        self.axis_name = axis_name
        self.dtype = dtype
        self.param_dtype = param_dtype

    def _affine(self) -> tuple[jax.Array | None, jax.Array | None]:
        scale = self.scale[...] if self.scale is not None else None
        bias = self.bias[...] if self.bias is not None else None
        return scale, bias

    def _check_features(self, x: jax.Array, axes: tuple[int, ...]) -> None:
        size = 1
        for axis in axes:
            size *= x.shape[axis]
        if size != self.num_features:
            raise ValueError(
                f"{type(self).__name__} expected {self.num_features} features, got input of "
                f"shape {x.shape}"
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
        epsilon: ε.
        use_bias: learn β.
        use_scale: learn γ.
        reduction_axes: axes whose entries share one μ, σ² (default: the last).
        feature_axes: axes that γ and β run along (default: the last).
        use_fast_variance: one-pass E[x²] − μ² instead of two-pass.
        axis_name: mapped axis over which to average the statistics (a model split across
            devices along its features).
        dtype: output dtype (default: inferred).
        param_dtype: dtype of γ and β.
        bias_init: initializer of β (zeros).
        scale_init: initializer of γ (ones).
        rngs: ``nnx.Rngs``.

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
        use_bias: bool = True,
        use_scale: bool = True,
        reduction_axes: int | Sequence[int] = -1,
        feature_axes: int | Sequence[int] = -1,
        use_fast_variance: bool = False,
        axis_name: str | None = None,
        dtype: jnp.dtype | None = None,
        param_dtype: jnp.dtype = jnp.float32,
        bias_init: Initializer = jax.nn.initializers.zeros,
        scale_init: Initializer = jax.nn.initializers.ones,
        rngs: nnx.Rngs,
    ):
        self._init_affine(
            num_features,
            epsilon=epsilon,
            use_bias=use_bias,
            use_scale=use_scale,
            use_fast_variance=use_fast_variance,
            axis_name=axis_name,
            dtype=dtype,
            param_dtype=param_dtype,
            bias_init=bias_init,
            scale_init=scale_init,
            rngs=rngs,
        )
        self.reduction_axes = reduction_axes
        self.feature_axes = feature_axes

    def __call__(self, x: jax.Array) -> jax.Array:
        """Normalizes every example of ``x`` over ``reduction_axes``.

        Args:
            x: input with ``num_features`` entries along ``feature_axes``.

        Returns:
            The normalized, scaled and shifted input, same shape as ``x``.
        """
        reduction_axes = _statistics.canonical_axes(x.ndim, self.reduction_axes)
        feature_axes = _statistics.canonical_axes(x.ndim, self.feature_axes)
        self._check_features(x, feature_axes)
        mean, var = _statistics.mean_and_variance(
            x, reduction_axes, axis_name=self.axis_name, use_fast_variance=self.use_fast_variance
        )
        scale, bias = self._affine()
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
    not). Equal to ``flax.nnx.GroupNorm`` with ``use_fast_variance=False``.

    Args:
        num_features: C, the number of channels.
        num_groups: G; must divide C. Give ``None`` to set ``group_size`` instead.
        group_size: channels per group (C/G), an alternative to ``num_groups``.
        epsilon: ε.
        use_bias: learn β.
        use_scale: learn γ.
        use_fast_variance: one-pass E[x²] − μ² instead of two-pass.
        axis_name: mapped axis over which to average the statistics.
        dtype: output dtype (default: inferred).
        param_dtype: dtype of γ and β.
        bias_init: initializer of β (zeros).
        scale_init: initializer of γ (ones).
        rngs: ``nnx.Rngs``.

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
        use_bias: bool = True,
        use_scale: bool = True,
        use_fast_variance: bool = False,
        axis_name: str | None = None,
        dtype: jnp.dtype | None = None,
        param_dtype: jnp.dtype = jnp.float32,
        bias_init: Initializer = jax.nn.initializers.zeros,
        scale_init: Initializer = jax.nn.initializers.ones,
        rngs: nnx.Rngs,
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
        self._init_affine(
            num_features,
            epsilon=epsilon,
            use_bias=use_bias,
            use_scale=use_scale,
            use_fast_variance=use_fast_variance,
            axis_name=axis_name,
            dtype=dtype,
            param_dtype=param_dtype,
            bias_init=bias_init,
            scale_init=scale_init,
            rngs=rngs,
        )
        self.num_groups = num_groups
        self.group_size = num_features // num_groups

    def __call__(self, x: jax.Array) -> jax.Array:
        """Normalizes every example of ``x`` (batch first, channels last) per channel group.

        Args:
            x: input of shape ``[batch, ..., num_features]``.

        Returns:
            The normalized, scaled and shifted input, same shape as ``x``.
        """
        if x.ndim < 2:
            raise ValueError(f"GroupNorm needs [batch, ..., channels], got shape {x.shape}")
        self._check_features(x, (x.ndim - 1,))
        spatial = tuple(range(1, x.ndim - 1))
        grouped = x.reshape((*x.shape[:-1], self.num_groups, self.group_size))
        mean, var = _statistics.mean_and_variance(
            grouped,
            (*spatial, grouped.ndim - 1),
            axis_name=self.axis_name,
            use_fast_variance=self.use_fast_variance,
        )
        # (batch, groups) → (batch, channels): each channel takes its group's statistics.
        mean = jnp.repeat(mean, self.group_size, axis=1)
        var = jnp.repeat(var, self.group_size, axis=1)
        scale, bias = self._affine()
        return _statistics.normalize(
            x, mean, var, scale, bias, spatial, (x.ndim - 1,), self.epsilon, self.dtype
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
    ``use_fast_variance=False``.

    Args:
        num_features: C, the number of channels (last axis).
        epsilon: ε.
        use_bias: learn β.
        use_scale: learn γ.
        use_fast_variance: one-pass E[x²] − μ² instead of two-pass.
        axis_name: mapped axis over which to average the statistics.
        dtype: output dtype (default: inferred).
        param_dtype: dtype of γ and β.
        bias_init: initializer of β (zeros).
        scale_init: initializer of γ (ones).
        rngs: ``nnx.Rngs``.

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
        use_bias: bool = True,
        use_scale: bool = True,
        use_fast_variance: bool = False,
        axis_name: str | None = None,
        dtype: jnp.dtype | None = None,
        param_dtype: jnp.dtype = jnp.float32,
        bias_init: Initializer = jax.nn.initializers.zeros,
        scale_init: Initializer = jax.nn.initializers.ones,
        rngs: nnx.Rngs,
    ):
        self._init_affine(
            num_features,
            epsilon=epsilon,
            use_bias=use_bias,
            use_scale=use_scale,
            use_fast_variance=use_fast_variance,
            axis_name=axis_name,
            dtype=dtype,
            param_dtype=param_dtype,
            bias_init=bias_init,
            scale_init=scale_init,
            rngs=rngs,
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        """Normalizes every example and channel of ``x`` over its spatial axes.

        Args:
            x: input of shape ``[batch, ..., num_features]`` with at least one spatial axis.

        Returns:
            The normalized, scaled and shifted input, same shape as ``x``.
        """
        if x.ndim < 3:
            raise ValueError(
                f"InstanceNorm needs [batch, spatial..., channels], got shape {x.shape}"
            )
        feature_axes = (x.ndim - 1,)
        self._check_features(x, feature_axes)
        reduction_axes = tuple(range(1, x.ndim - 1))
        mean, var = _statistics.mean_and_variance(
            x, reduction_axes, axis_name=self.axis_name, use_fast_variance=self.use_fast_variance
        )
        scale, bias = self._affine()
        return _statistics.normalize(
            x, mean, var, scale, bias, reduction_axes, feature_axes, self.epsilon, self.dtype
        )
