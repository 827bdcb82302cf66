"""ResNet-style networks whose depth, normalization and skip connections are switchable."""

import jax
from flax import nnx

from jaxtrain.nn import _activations, _images, _norm_choice
from jaxtrain.nn._activations import Activation
from jaxtrain.nn._norm_choice import Norm
from jaxtrain.nn._sizes import check_sizes


class _BasicBlock(nnx.Module):
    """Two 3×3 convolutions; with ``residual`` the input is added back before the last σ."""

    def __init__(self, c_in, c_out, stride, *, residual, activation, kernel_init, norm, rngs):
        def conv(a, b, kernel, s):
            return nnx.Conv(
                a,
                b,
                kernel_size=(kernel, kernel),
                strides=(s, s),
                padding="SAME",
                use_bias=not _norm_choice.cancels_bias(norm, b),
                kernel_init=kernel_init,
                rngs=rngs,
            )

        self.conv1 = conv(c_in, c_out, 3, stride)
        self.norm1 = _norm_choice.make_norm(norm, c_out, conv=True, rngs=rngs)
        self.conv2 = conv(c_out, c_out, 3, 1)
        self.norm2 = _norm_choice.make_norm(norm, c_out, conv=True, rngs=rngs)
        # A 1×1 projection where the shape changes (He et al.'s option B); identity elsewhere.
        needs_projection = residual and (stride != 1 or c_in != c_out)
        self.project = conv(c_in, c_out, 1, stride) if needs_projection else None
        self.project_norm = (
            _norm_choice.make_norm(norm, c_out, conv=True, rngs=rngs) if needs_projection else None
        )
        self.residual = residual
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        h = self.conv1(x)
        if self.norm1 is not None:
            h = self.norm1(h)
        h = self.conv2(self.activation(h))
        if self.norm2 is not None:
            h = self.norm2(h)
        if self.residual:
            skip = x
            if self.project is not None:
                skip = self.project(x)
                if self.project_norm is not None:
                    skip = self.project_norm(skip)
            h = h + skip
        return self.activation(h)


class ResNet(nnx.Module):
    r"""CIFAR-style ResNet with ``depth`` = 6n + 2 layers, plain or residual.

    A 3×3 stem convolution, three stages of n two-convolution blocks with ``width``,
    2·``width`` and 4·``width`` channels (the last two start with stride 2), global average
    pooling and a linear head: 6n + 2 weight layers. With ``residual=True`` each block computes
    σ(x + F(x)); with ``residual=False`` it is the plain σ(F(x)) of the same depth, the lecture's
    case where a 56-layer network trains *worse* than a 20-layer one, which is an optimization
    failure (not overfitting), since the deeper network could copy the shallower one. The
    skip connections fix it.

    ``ResNet(3, 10, depth=20)`` vs ``ResNet(3, 10, depth=56, residual=False)`` is the
    comparison; ``width=4`` or ``8`` keeps it CPU-sized.

    Args:
        in_channels: image channels (gray images may come as ``[N, H, W]``).
        num_classes: number of logits.
        depth: 6n + 2 (8, 14, 20, 32, 44, 56, 110, …).
        width: channels of the first stage.
        norm: ``"batch"`` (default), ``None``, ``"layer"``, ``"group"``, ``"instance"``, or a
            factory ``norm(num_features, rngs=...)``.
        residual: use skip connections.
        activation: ``"relu"`` and the other names, or a callable.
        rngs: ``nnx.Rngs``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from jaxtrain.nn import ResNet
        >>> plain = ResNet(1, 10, depth=8, width=4, residual=False, rngs=nnx.Rngs(0))
        >>> print(plain(jnp.ones((2, 8, 8, 1))).shape)
        (2, 10)

    References:
        He et al., `Deep Residual Learning for Image Recognition
        <https://arxiv.org/abs/1512.03385>`_, 2016.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        depth: int = 20,
        width: int = 16,
        norm: Norm = "batch",
        residual: bool = True,
        activation: str | Activation = "relu",
        *,
        rngs: nnx.Rngs,
    ):
        check_sizes(1, in_channels=in_channels, num_classes=num_classes, width=width)
        check_sizes(1, depth=depth)
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n ≥ 1 (8, 14, 20, 56, …), got {depth}")
        fn, kernel_init = _activations.resolve_activation(activation)
        blocks_per_stage = (depth - 2) // 6
        self.stem = nnx.Conv(
            in_channels,
            width,
            kernel_size=(3, 3),
            padding="SAME",
            use_bias=not _norm_choice.cancels_bias(norm, width),
            kernel_init=kernel_init,
            rngs=rngs,
        )
        self.stem_norm = _norm_choice.make_norm(norm, width, conv=True, rngs=rngs)
        blocks = []
        c_in = width
        for stage in range(3):
            c_out = width * 2**stage
            for index in range(blocks_per_stage):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(
                    _BasicBlock(
                        c_in,
                        c_out,
                        stride,
                        residual=residual,
                        activation=fn,
                        kernel_init=kernel_init,
                        norm=norm,
                        rngs=rngs,
                    )
                )
                c_in = c_out
        self.blocks = _norm_choice.module_list(blocks)
        self.head = nnx.Linear(c_in, num_classes, kernel_init=_activations.LECUN_NORMAL, rngs=rngs)
        self.activation = fn
        self.in_channels = in_channels
        self.depth = depth

    def __call__(self, x: jax.Array) -> jax.Array:
        """Logits ``[N, num_classes]`` for images ``[N, H, W, in_channels]``."""
        h = self.stem(_images.as_nhwc(x, self.in_channels, "ResNet"))
        if self.stem_norm is not None:
            h = self.stem_norm(h)
        h = self.activation(h)
        for block in self.blocks:
            h = block(h)
        return self.head(h.mean(axis=(1, 2)))
