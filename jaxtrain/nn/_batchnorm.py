"""Batch normalization with running statistics for test time (lecture §6)."""

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jaxtrain._text import counted
from jaxtrain.nn import _statistics

Initializer = Callable[..., jax.Array]


class BatchNorm(nnx.Module):
    r"""Batch normalization: normalize each feature with the batch's mean and variance.

    Feature normalization makes the error surface less elongated, so one learning rate suits
    every direction. Inside a network the features of the next layer change as the weights
    change, so BatchNorm normalizes them on the fly with the statistics of the current batch,
    which makes the examples of a batch interact: the batch is part of the network.

    Training mode (``use_running_average=False`` or ``model.train()``), for features x over the
    batch B and α = ``momentum``:

    .. math::

        μ = \frac{1}{|B|}\sum_{b} x_b,\qquad σ^2 = \frac{1}{|B|}\sum_b (x_b - μ)^2,\qquad
        y = γ \odot \frac{x - μ}{\sqrt{σ^2 + ε}} + β,

    and the running statistics move toward the batch's: μ̄ ← α μ̄ + (1 − α) μ,
    σ̄² ← α σ̄² + (1 − α) σ². Test mode (``use_running_average=True`` or ``model.eval()``) uses
    μ̄ and σ̄² instead, so a test example's output does not depend on the other examples (with
    batch statistics, a test batch of one normalizes every feature to β and predicts chance).
    γ is ``scale`` (starts at 1), β is ``bias`` (starts at 0), ε is ``epsilon``. μ̄ and σ̄² are
    ``nnx.BatchStat`` variables (``mean``, ``var``; start at 0 and 1), never gradients' targets:
    the update is wrapped in ``stop_gradient``.

    The variance is computed two-pass, mean((x − μ)²), so inputs with a large mean and a small
    spread keep their variance (Flax's default ``use_fast_variance=True`` computes
    E[x²] − μ², which collapses to 0 for mean 1e3 and spread 0.1 in float32).

    ``axis_name`` averages μ and σ² over a mapped axis (``jax.vmap(..., axis_name=...)``,
    ``shard_map``, ``pmap``), so data-parallel replicas normalize with global statistics (with a
    ``mask``, those of all replicas' kept entries pooled, not the average of each replica's). Under
    plain ``jax.jit`` with the batch sharded across devices the statistics are global already
    (XLA inserts the reduction) and ``axis_name`` must stay ``None``.

    .. warning::
        PyTorch's ``momentum`` is the weight on the *new* batch: PyTorch
        ``momentum=0.1`` is ``momentum=0.9`` here (α_torch = 1 − α). PyTorch also stores the
        *unbiased* batch variance σ² · n/(n − 1) in its running variance (n = batch elements
        per feature), while normalizing with the biased one, as here.

    Complex inputs are normalized with σ² = mean(|x − μ|²), so the output has unit variance
    (as in Flax). The constructor takes flax.nnx.BatchNorm's arguments, in its order and with its
    defaults, except ``use_fast_variance`` (``False`` here); ``use_fast_variance=True`` gives
    Flax's numbers bit for bit, except for a feature of which ``mask`` keeps no entry: it has
    no batch statistics (0/0), and where Flax makes its outputs and running statistics NaN for
    good, it is normalized with its running statistics, which it leaves unchanged.

    Args:
        num_features: size of the feature axis.
        use_running_average: default mode; ``True`` normalizes with the running statistics.
        axis: the feature axis (``-1``: channels last, NHWC).
        momentum: α, the weight kept on the old running value.
        epsilon: ε added to the variance.
        dtype: output and computation dtype (default: inferred from the input and parameters).
        param_dtype: dtype of γ and β.
        use_bias: learn β.
        use_scale: learn γ.
        bias_init: initializer of β.
        scale_init: initializer of γ.
        axis_name: mapped axis over which the statistics are averaged.
        axis_index_groups: groups of indices of ``axis_name`` averaged separately
            (``[[0, 1], [2, 3]]``: two groups of two devices; see ``jax.lax.psum``).
        use_fast_variance: use the one-pass E[|x|²] − |μ|² (Flax's default) instead of two-pass.
        promote_dtype: called as ``promote_dtype((x, mean, var, scale, bias), dtype=dtype)``
            to bring the input and the variables to one dtype (Flax's function by default).
        rngs: ``nnx.Rngs``; one ``params`` key is drawn per learned vector, as ``nnx.BatchNorm``
            does, so swapping one for the other keeps the rest of a model's initialization.
        bias_metadata: metadata of β's ``nnx.Param`` (e.g. ``sharding_names``).
        scale_metadata: metadata of γ's ``nnx.Param``.

    Raises:
        ValueError: if ``num_features`` < 1, ``momentum`` is outside [0, 1] or ``epsilon`` < 0.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from flax import nnx
        >>> from jaxtrain.nn import BatchNorm
        >>> bn = BatchNorm(3, momentum=0.9, rngs=nnx.Rngs(0))
        >>> x = 5.0 + 2.0 * jax.random.normal(jax.random.key(0), (256, 3))
        >>> y = bn(x)  # training mode: batch statistics, running averages move
        >>> print(round(float(abs(y.mean(0)).max()), 4), round(float(y.std(0).min()), 3))
        0.0 1.0
        >>> print([round(float(m), 2) for m in bn.mean[...]])  # 0.9 · 0 + 0.1 · 5
        [0.49, 0.52, 0.5]
        >>> bn.eval()
        >>> print(bn(x[:1]).shape)
        (1, 3)

    References:
        Ioffe and Szegedy, `Batch Normalization: Accelerating Deep Network Training by Reducing
        Internal Covariate Shift <https://arxiv.org/abs/1502.03167>`_, 2015.

        Santurkar et al., `How Does Batch Normalization Help Optimization?
        <https://arxiv.org/abs/1805.11604>`_, 2018.
    """

    def __init__(
        self,
        num_features: int,
        *,
        use_running_average: bool | None = False,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-5,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        use_bias: bool = True,
        use_scale: bool = True,
        bias_init: Initializer = jax.nn.initializers.zeros,
        scale_init: Initializer = jax.nn.initializers.ones,
        axis_name: str | None = None,
        axis_index_groups: Any = None,
        use_fast_variance: bool = False,
        promote_dtype: Callable[..., Any] = _statistics.promote_dtype,
        rngs: nnx.Rngs,
        bias_metadata: Mapping[str, Any] = MappingProxyType({}),
        scale_metadata: Mapping[str, Any] = MappingProxyType({}),
    ):
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
        if epsilon < 0:
            raise ValueError(f"epsilon must be non-negative, got {epsilon}")
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
        shape = (num_features,)
        self.mean = nnx.BatchStat(jnp.zeros(shape, jnp.float32))
        self.var = nnx.BatchStat(jnp.ones(shape, jnp.float32))
        self.num_features = num_features
        self.use_running_average = use_running_average
        self.axis = axis
        self.momentum = momentum
        self.epsilon = epsilon
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.use_bias = use_bias
        self.use_scale = use_scale
        self.axis_name = axis_name
        self.axis_index_groups = axis_index_groups
        self.use_fast_variance = use_fast_variance
        self.promote_dtype = promote_dtype

    def __call__(
        self,
        x: jax.Array,
        use_running_average: bool | None = None,
        *,
        mask: jax.Array | None = None,
    ) -> jax.Array:
        """Normalizes ``x``; in training mode also moves the running statistics.

        Args:
            x: input whose ``axis`` has ``num_features`` entries; every other axis is reduced.
            use_running_average: overrides the module's mode for this call.
            mask: booleans broadcastable to ``x``; only the ``True`` entries enter μ and σ²
                (e.g. padding excluded). Every entry is still normalized.

        Returns:
            The normalized, scaled and shifted input, same shape as ``x``.

        Raises:
            ValueError: if the feature axis does not have ``num_features`` entries, no mode
                is given (``use_running_average`` ``None`` here and in the constructor), or a
                training-mode batch has no entries to take statistics over (e.g. shape (0, F)).
        """
        if use_running_average is None:
            use_running_average = self.use_running_average
        if use_running_average is None:
            raise ValueError(
                "use_running_average is None in both BatchNorm's constructor and its call; "
                "pass True (running statistics) or False (batch statistics)"
            )
        feature_axes = _statistics.canonical_axes(x.ndim, self.axis)
        if x.shape[feature_axes[0]] != self.num_features:
            raise ValueError(
                f"BatchNorm expected {counted(self.num_features, 'feature')} on axis "
                f"{self.axis}, got "
                f"input of shape {x.shape}"
            )
        reduction_axes = tuple(i for i in range(x.ndim) if i not in feature_axes)
        scale = self.scale[...] if self.scale is not None else None
        bias = self.bias[...] if self.bias is not None else None
        x, mean, var, scale, bias = self.promote_dtype(
            (x, self.mean[...], self.var[...], scale, bias), dtype=self.dtype
        )
        if not use_running_average:
            _check_entries_to_reduce(x.shape, reduction_axes)
            running_mean, running_var = mean, var
            mean, var = _statistics.mean_and_variance(
                x,
                reduction_axes,
                dtype=self.dtype,
                axis_name=self.axis_name,
                axis_index_groups=self.axis_index_groups,
                use_fast_variance=self.use_fast_variance,
                mask=mask,
            )
            # A feature the mask keeps no entry of has no batch statistics (0/0): it keeps its
            # running ones, to normalize with and to carry on, instead of NaN for good.
            seen = None
            if mask is not None:
                kept = _statistics.kept_count(
                    mask,
                    x.shape,
                    reduction_axes,
                    jnp.int32,
                    axis_name=self.axis_name,
                    axis_index_groups=self.axis_index_groups,
                )
                seen = kept > 0
                mean, var = jnp.where(seen, mean, running_mean), jnp.where(seen, var, running_var)
            alpha = self.momentum
            for stat, batch_value in ((self.mean, mean), (self.var, var)):
                # Running statistics are bookkeeping for test time, never a path for gradients.
                moved = alpha * stat[...] + (1 - alpha) * batch_value
                if seen is not None:
                    moved = jnp.where(seen, moved, stat[...])
                value = jax.lax.stop_gradient(moved)
                stat_dtype = stat[...].dtype
                complex_into_real = jnp.issubdtype(
                    value.dtype, jnp.complexfloating
                ) and not jnp.issubdtype(stat_dtype, jnp.complexfloating)
                if not complex_into_real:
                    # Kept in its own dtype, as Flax keeps it: a float64 batch under x64 must
                    # not turn a float32 statistic float64 (the state would change dtype).
                    stat[...] = value.astype(stat_dtype)
                else:
                    # A complex μ in a float32 BatchStat would lose its imaginary part (Flax's
                    # behaviour, with a FutureWarning): the running mean becomes complex instead.
                    _replace_value(stat, value)
        return _statistics.normalize(
            x, mean, var, scale, bias, reduction_axes, feature_axes, self.epsilon, self.dtype
        )

    def set_view(self, use_running_average: bool | None = None) -> None:
        """Sets the mode for ``nnx.view(model, use_running_average=...)`` (flax ≥ 0.12).

        Args:
            use_running_average: ``True`` for running statistics, ``False`` for the batch's;
                ``None`` leaves the mode as it is.
        """
        if use_running_average is not None:
            self.use_running_average = use_running_average


def _check_entries_to_reduce(shape: tuple[int, ...], reduction_axes: tuple[int, ...]) -> None:
    """Refuse batch statistics over no entries: μ = 0/0 = NaN would become the running mean.

    The running statistics keep NaN for good (α·NaN stays NaN), so every later test-time output
    would be NaN. The shape is static, so the check costs nothing under ``jit``.
    """
    if math.prod(shape[axis] for axis in reduction_axes) == 0:
        raise ValueError(
            f"BatchNorm in training mode takes each feature's mean and variance over axes "
            f"{reduction_axes}, but an input of shape {shape} has no entries there; skip empty "
            f"batches (or call with use_running_average=True)"
        )


def _replace_value(variable: nnx.Variable, value: jax.Array) -> None:
    """Give ``variable`` a new array, dtype included (``set_value`` on flax ≥ 0.12)."""
    if hasattr(variable, "set_value"):
        variable.set_value(value)
    else:
        variable.value = value
