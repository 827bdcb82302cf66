"""A fully connected network whose depth, normalization and skip connections are arguments."""

import itertools

import jax
from flax import nnx

from jaxtrain.nn import _activations, _norm_choice
from jaxtrain.nn._activations import Activation
from jaxtrain.nn._norm_choice import Norm
from jaxtrain.nn._sizes import check_sizes


class _DenseBlock(nnx.Module):
    """Linear → norm → activation → dropout, with an optional identity skip around it."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        activation: Activation,
        kernel_init,
        norm: Norm,
        residual: bool,
        dropout: float,
        rngs: nnx.Rngs,
    ):
        # A norm that subtracts each feature's mean (batch, instance) cancels the bias.
        self.linear = nnx.Linear(
            in_features,
            out_features,
            use_bias=not _norm_choice.cancels_bias(norm, out_features),
            kernel_init=kernel_init,
            rngs=rngs,
        )
        self.norm = _norm_choice.make_norm(norm, out_features, conv=False, rngs=rngs)
        self.dropout = nnx.Dropout(dropout, rngs=rngs) if dropout > 0 else None
        self.activation = activation
        self.residual = residual and in_features == out_features

    def __call__(self, x: jax.Array) -> jax.Array:
        h = self.linear(x)
        if self.norm is not None:
            h = self.norm(h)
        h = self.activation(h)
        if self.dropout is not None:
            h = self.dropout(h)
        return x + h if self.residual else h


class MLP(nnx.Module):
    r"""Multilayer perceptron: ``depth`` hidden layers of width ``hidden``, then a linear head.

    Each hidden layer computes h ← σ(N(W h)) (+ h with ``residual``), where N is the chosen
    normalization (none, BatchNorm, LayerNorm, or any factory) and σ the activation; dropout
    follows σ when ``dropout > 0``. The head is linear, so the output is logits. Weights start
    with the variance that keeps the activation's signal scale: He (2/fan_in) for ReLU and
    GELU, Glorot for tanh and sigmoid, LeCun (1/fan_in) otherwise; biases at 0 (and no bias
    before a norm, which would cancel it).

    With ``norm="batch"`` the model keeps running statistics; train it through
    :func:`functional`, which returns them as ``state``. Residual connections skip every hidden
    layer whose input and output widths agree (all but the first, unless ``in_features`` equals
    ``hidden``).

    Args:
        in_features: input size.
        hidden: width of every hidden layer.
        out_features: output size (number of classes for logits).
        depth: number of hidden layers (0 makes a linear model).
        activation: ``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"gelu"``, ``"identity"`` or a
            callable.
        norm: ``None``, ``"batch"``, ``"layer"``, or a factory ``norm(num_features, rngs=...)``
            such as ``nnx.BatchNorm``.
        residual: add identity skips around the hidden layers.
        dropout: dropout rate after each hidden activation.
        rngs: ``nnx.Rngs``; a ``dropout`` stream (or the default one) feeds dropout.

    Examples:
        >>> import jax
        >>> from flax import nnx
        >>> from jaxtrain.nn import MLP
        >>> model = MLP(64, 32, 10, depth=3, activation="tanh", norm="layer", rngs=nnx.Rngs(0))
        >>> print(model(jax.numpy.ones((5, 64))).shape)
        (5, 10)

    References:
        He et al., `Delving Deep into Rectifiers <https://arxiv.org/abs/1502.01852>`_, 2015
        (He initialization).

        Glorot and Bengio, `Understanding the difficulty of training deep feedforward neural
        networks <https://proceedings.mlr.press/v9/glorot10a.html>`_, 2010.
    """

    def __init__(
        self,
        in_features: int,
        hidden: int,
        out_features: int,
        depth: int = 2,
        activation: str | Activation = "relu",
        norm: Norm = None,
        residual: bool = False,
        dropout: float = 0.0,
        *,
        rngs: nnx.Rngs,
    ):
        check_sizes(1, in_features=in_features, hidden=hidden, out_features=out_features)
        check_sizes(0, depth=depth)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        fn, kernel_init = _activations.resolve_activation(activation)
        widths = [in_features] + [hidden] * depth
        self.layers = _norm_choice.module_list(
            [
                _DenseBlock(
                    fan_in,
                    fan_out,
                    activation=fn,
                    kernel_init=kernel_init,
                    norm=norm,
                    residual=residual,
                    dropout=dropout,
                    rngs=rngs,
                )
                for fan_in, fan_out in itertools.pairwise(widths)
            ]
        )
        self.head = nnx.Linear(
            widths[-1], out_features, kernel_init=_activations.LECUN_NORMAL, rngs=rngs
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        """Logits of shape ``[..., out_features]`` for inputs ``[..., in_features]``."""
        for layer in self.layers:
            x = layer(x)
        return self.head(x)
