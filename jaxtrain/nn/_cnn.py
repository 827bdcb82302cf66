"""A small convolutional network for 8×8 to 32×32 images."""

import itertools
from collections.abc import Sequence

import jax
from flax import nnx

from jaxtrain.nn import _activations, _images, _norm_choice
from jaxtrain.nn._activations import Activation
from jaxtrain.nn._norm_choice import Norm
from jaxtrain.nn._sizes import check_sizes


class _ConvBlock(nnx.Module):
    """3×3 convolution → norm → activation → 2×2 max-pool."""

    def __init__(self, c_in, c_out, *, kernel_size, activation, kernel_init, norm, rngs):
        self.conv = nnx.Conv(
            c_in,
            c_out,
            kernel_size=(kernel_size, kernel_size),
            padding="SAME",
            use_bias=not _norm_choice.cancels_bias(norm, c_out),
            kernel_init=kernel_init,
            rngs=rngs,
        )
        self.norm = _norm_choice.make_norm(norm, c_out, conv=True, rngs=rngs)
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        h = self.conv(x)
        if self.norm is not None:
            h = self.norm(h)
        h = self.activation(h)
        # Pool only while there is something to pool: an 8×8 input survives three stages.
        if h.shape[1] >= 2 and h.shape[2] >= 2:
            h = nnx.max_pool(h, window_shape=(2, 2), strides=(2, 2))
        return h


class CNN(nnx.Module):
    r"""Convolution stages then a linear head: a small image classifier (NHWC).

    Each stage is a 3×3 convolution with ``channels[i]`` filters, an optional normalization,
    the activation and a 2×2 max-pool (halving height and width); global average pooling and a
    linear layer then give the logits. Two stages of 16 and 32 channels train on 8×8 digits
    in seconds on a CPU; add a stage for 32×32 images. Convolutions share weights across
    positions, the lecture's example of a constrained (lower-variance) model family.

    Args:
        in_channels: channels of the input images (1 for gray, 3 for RGB). Gray images may
            also come as ``[N, H, W]``, except of width 1 (``[N, H, 1]`` reads as one image
            with channels last): give those as ``[N, H, 1, 1]``.
        num_classes: number of logits.
        channels: filters per stage.
        activation: ``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"gelu"``, ``"identity"`` or a
            callable (initialization follows it: He for ReLU/GELU, Glorot for tanh/sigmoid).
        norm: ``None``, ``"batch"``, ``"layer"`` (over height, width and channels),
            ``"group"``, ``"instance"``, or a factory ``norm(num_features, rngs=...)``.
        dropout: dropout rate before the head.
        kernel_size: side of the square convolution kernels.
        rngs: ``nnx.Rngs``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from jaxtrain.nn import CNN
        >>> model = CNN(1, 10, channels=(8, 16), norm="batch", rngs=nnx.Rngs(0))
        >>> print(model(jnp.ones((4, 8, 8, 1))).shape)
        (4, 10)

    References:
        LeCun et al., `Gradient-Based Learning Applied to Document Recognition
        <https://doi.org/10.1109/5.726791>`_, 1998.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        channels: Sequence[int] = (16, 32),
        activation: str | Activation = "relu",
        norm: Norm = None,
        dropout: float = 0.0,
        kernel_size: int = 3,
        *,
        rngs: nnx.Rngs,
    ):
        channels = tuple(channels)
        if not channels:
            raise ValueError("channels must name at least one convolution's width, got ()")
        check_sizes(1, in_channels=in_channels, num_classes=num_classes, kernel_size=kernel_size)
        check_sizes(1, **{f"channels[{i}]": c for i, c in enumerate(channels)})
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        fn, kernel_init = _activations.resolve_activation(activation)
        widths = (in_channels, *channels)
        self.blocks = _norm_choice.module_list(
            [
                _ConvBlock(
                    c_in,
                    c_out,
                    kernel_size=kernel_size,
                    activation=fn,
                    kernel_init=kernel_init,
                    norm=norm,
                    rngs=rngs,
                )
                for c_in, c_out in itertools.pairwise(widths)
            ]
        )
        self.dropout = nnx.Dropout(dropout, rngs=rngs) if dropout > 0 else None
        self.head = nnx.Linear(
            channels[-1], num_classes, kernel_init=_activations.LECUN_NORMAL, rngs=rngs
        )
        self.in_channels = in_channels

    def __call__(self, x: jax.Array) -> jax.Array:
        """Logits ``[N, num_classes]`` for images ``[N, H, W, in_channels]``."""
        h = _images.as_nhwc(x, self.in_channels, "CNN")
        for block in self.blocks:
            h = block(h)
        h = h.mean(axis=(1, 2))
        if self.dropout is not None:
            h = self.dropout(h)
        return self.head(h)
