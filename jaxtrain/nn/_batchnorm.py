"""Batch normalization with running statistics for test time (lecture §6)."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

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
    ``shard_map``, ``pmap``), so data-parallel replicas normalize with global statistics. Under
    plain ``jax.jit`` with the batch sharded across devices the statistics are global already
    (XLA inserts the reduction) and ``axis_name`` must stay ``None``.

    .. warning::
        PyTorch's ``momentum`` is the weight on the *new* batch: PyTorch
        ``momentum=0.1`` is ``momentum=0.9`` here (α_torch = 1 − α). PyTorch also stores the
        *unbiased* batch variance σ² · n/(n − 1) in its running variance (n = batch elements
        per feature), while normalizing with the biased one, as here.

    Args:
        num_features: size of the feature axis.
        momentum: α, the weight kept on the old running value.
        epsilon: ε added to the variance.
        use_running_average: default mode; ``True`` normalizes with the running statistics.
        axis: the feature axis (``-1``: channels last, NHWC).
        axis_name: mapped axis over which the statistics are averaged.
        use_bias: learn β.
        use_scale: learn γ.
        use_fast_variance: use the one-pass E[x²] − μ² (Flax's default) instead of two-pass.
        dtype: output dtype (default: inferred from the input and the parameters).
        param_dtype: dtype of γ and β.
        bias_init: initializer of β.
        scale_init: initializer of γ.
        rngs: ``nnx.Rngs``; one ``params`` key is drawn per learned vector, as ``nnx.BatchNorm``
            does, so swapping one for the other keeps the rest of a model's initialization.

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
        momentum: float = 0.99,
        epsilon: float = 1e-5,
        use_running_average: bool = False,
        axis: int = -1,
        axis_name: str | None = None,
        use_bias: bool = True,
        use_scale: bool = True,
        use_fast_variance: bool = False,
        dtype: jnp.dtype | None = None,
        param_dtype: jnp.dtype = jnp.float32,
        bias_init: Initializer = jax.nn.initializers.zeros,
        scale_init: Initializer = jax.nn.initializers.ones,
        rngs: nnx.Rngs,
    ):
        if num_features < 1:
            raise ValueError(f"num_features must be positive, got {num_features}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
        if epsilon < 0:
            raise ValueError(f"epsilon must be non-negative, got {epsilon}")
        shape = (num_features,)
        self.mean = nnx.BatchStat(jnp.zeros(shape, jnp.float32))
        self.var = nnx.BatchStat(jnp.ones(shape, jnp.float32))
        self.scale = nnx.Param(scale_init(rngs.params(), shape, param_dtype)) if use_scale else None
        self.bias = nnx.Param(bias_init(rngs.params(), shape, param_dtype)) if use_bias else None
        self.num_features = num_features
        self.momentum = momentum
        self.epsilon = epsilon
        self.use_running_average = use_running_average
        self.axis = axis
        self.axis_name = axis_name
        self.use_bias = use_bias
        self.use_scale = use_scale
        self.use_fast_variance = use_fast_variance
        self.dtype = dtype
        self.param_dtype = param_dtype

    def __call__(self, x: jax.Array, use_running_average: bool | None = None) -> jax.Array:
        """Normalizes ``x``; in training mode also moves the running statistics.

        Args:
            x: input whose ``axis`` has ``num_features`` entries; every other axis is reduced.
            use_running_average: overrides the module's mode for this call.

        Returns:
            The normalized, scaled and shifted input, same shape as ``x``.
        """
        if use_running_average is None:
            use_running_average = self.use_running_average
        feature_axes = _statistics.canonical_axes(x.ndim, self.axis)
        if x.shape[feature_axes[0]] != self.num_features:
            raise ValueError(
                f"BatchNorm expected {self.num_features} features on axis {self.axis}, got "
                f"input of shape {x.shape}"
            )
        reduction_axes = tuple(i for i in range(x.ndim) if i not in feature_axes)
        if use_running_average:
            mean, var = self.mean[...], self.var[...]
        else:
            mean, var = _statistics.mean_and_variance(
                x,
                reduction_axes,
                axis_name=self.axis_name,
                use_fast_variance=self.use_fast_variance,
            )
            alpha = self.momentum
            # Running statistics are bookkeeping for test time, never a path for gradients.
            self.mean[...] = jax.lax.stop_gradient(alpha * self.mean[...] + (1 - alpha) * mean)
            self.var[...] = jax.lax.stop_gradient(alpha * self.var[...] + (1 - alpha) * var)
        return _statistics.normalize(
            x,
            mean,
            var,
            self.scale[...] if self.scale is not None else None,
            self.bias[...] if self.bias is not None else None,
            reduction_axes,
            feature_axes,
            self.epsilon,
            self.dtype,
        )
