"""The model options that ``diagnose``, ``explain`` and ``train`` share (the number types of
their flags are in ``jaxtrain._arg_types``)."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from jaxtrain._arg_types import (
    non_negative_int,
    number_of_classes,
    positive_int,
)
from jaxtrain.cli._errors import CommandError, UsageError

__all__ = ["add_model_arguments", "shape_inputs", "spec_from_args"]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu")
_DEFAULT_ACTIVATION = "relu"
NORMS = ("none", "batch", "layer")


def add_model_arguments(parser: argparse.ArgumentParser, *, depth: int, width: int) -> None:
    """``--model``, ``--width``, ``--depth``, ``--activation``, ``--norm``, ``--num-classes``."""
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        choices=("mlp", "cnn"),
        default="mlp",
        help="model family: an MLP on flattened inputs or a CNN on images (default: %(default)s)",
    )
    group.add_argument(
        "--width",
        type=positive_int,
        help=f"hidden units per layer (MLP) or filters of the first block (CNN) (default: {width})",
    )
    # Not the flag's own default: a linear model refuses a --width given, not the default.
    parser.set_defaults(default_width=width)
    group.add_argument(
        "--depth",
        type=non_negative_int,
        default=depth,
        help="hidden layers (MLP; 0 = linear) or convolution blocks (CNN) (default: %(default)s)",
    )
    group.add_argument(
        "--activation",
        choices=ACTIVATIONS,
        default=_DEFAULT_ACTIVATION,
        help="(default: %(default)s)",
    )
    group.add_argument("--norm", choices=NORMS, default="none", help="(default: %(default)s)")
    group.add_argument(
        "--num-classes",
        type=number_of_classes,
        metavar="K",
        help="classes of integer labels, the model's outputs (default: the largest label + 1, "
        "inferred only up to 10 per example and 100,000)",
    )


def shape_inputs(x: np.ndarray, family: str, name: str = "x_train") -> np.ndarray:
    """Flattens inputs for an MLP; brings images to (N, H, W, C) for a CNN."""
    from jaxtrain.data._augment import looks_channels_first

    if family == "mlp":
        return x.reshape(x.shape[0], -1)
    if x.ndim == 3:
        return x[..., None]
    if x.ndim == 4:
        if looks_channels_first(x.shape[1:]):
            # A (N, C, H, W) batch trains as images of C rows and H channels, without an error.
            raise CommandError(
                f"--model cnn needs channels-last images (N, H, W, C), but the examples of "
                f"{name} have shape {x.shape[1:]}, which looks channels-first (C, H, W); save "
                "them transposed, x.transpose(0, 2, 3, 1)"
            )
        return x
    raise CommandError(
        f"--model cnn needs images of shape (N, H, W) or (N, H, W, C), but {name} has shape "
        f"{x.shape}; use --model mlp for flat features"
    )


def _and(items: list[str]) -> str:
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


def spec_from_args(
    args: Any, x_shape: tuple[int, ...], num_outputs: int, *, variants: bool = False
) -> Any:
    """The :class:`jaxtrain.diagnose.ModelSpec` the options describe, checked for size.

    Args:
      args: the parsed options of :func:`add_model_arguments`.
      x_shape: the shape of the inputs, examples first.
      num_outputs: classes, or the width of the regression targets.
      variants: also check the size of the variants ``jaxtrain diagnose`` trains.

    Raises:
      UsageError: for a CNN without blocks, a linear model given ``--width``, ``--norm``
        or an activation (unless ``variants``).
      CommandError: for a model too deep or too large, counted from the spec before anything
        is built (see :mod:`jaxtrain.cli._model_size`).
    """
    from jaxtrain.cli._model_size import check_model_size
    from jaxtrain.diagnose import ModelSpec

    if args.model == "cnn" and args.depth < 1:
        raise UsageError("--model cnn needs --depth >= 1 (convolution blocks)")
    if args.model == "mlp" and args.depth == 0 and not variants:
        # Ignored, they would still be recorded, and the checkpoint would then refuse to
        # resume the same linear model without them. diagnose's wider variant has a hidden
        # layer that uses them.
        unused = []
        if args.width is not None:
            unused.append(f"--width {args.width}")
        if args.norm != "none":
            unused.append(f"--norm {args.norm}")
        if args.activation != _DEFAULT_ACTIVATION:
            unused.append(f"--activation {args.activation}")
        if unused:
            raise UsageError(
                f"a linear model (--depth 0) has no hidden layer for {_and(unused)}; "
                f"drop {'it' if len(unused) == 1 else 'them'}, or give --depth >= 1"
            )
    spec = ModelSpec(
        args.model,
        tuple(x_shape[1:]),
        int(num_outputs),
        width=args.default_width if args.width is None else args.width,
        depth=args.depth,
        activation=args.activation,
        norm=None if args.norm == "none" else args.norm,
    )
    check_model_size(spec, variants=variants)
    return spec
