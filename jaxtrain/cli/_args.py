"""argparse value types and the model options that ``diagnose`` and ``train`` share."""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from jaxtrain.cli._errors import CommandError

__all__ = [
    "add_model_arguments",
    "fraction",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "shape_inputs",
    "spec_from_args",
]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu")
NORMS = ("none", "batch", "layer")


def positive_int(text: str) -> int:
    """An int ≥ 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An int ≥ 0 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite float > 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A float in (0, 1) (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


def add_model_arguments(parser: argparse.ArgumentParser, *, depth: int, width: int) -> None:
    """``--model``, ``--width``, ``--depth``, ``--activation``, ``--norm``."""
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
        default=width,
        help="hidden units per layer (MLP) or filters of the first block (CNN) "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--depth",
        type=non_negative_int,
        default=depth,
        help="hidden layers (MLP; 0 = linear) or convolution blocks (CNN) (default: %(default)s)",
    )
    group.add_argument(
        "--activation", choices=ACTIVATIONS, default="relu", help="(default: %(default)s)"
    )
    group.add_argument("--norm", choices=NORMS, default="none", help="(default: %(default)s)")


def shape_inputs(x: np.ndarray, family: str, name: str = "x_train") -> np.ndarray:
    """Flattens inputs for an MLP; brings images to (N, H, W, C) for a CNN."""
    if family == "mlp":
        return x.reshape(x.shape[0], -1)
    if x.ndim == 3:
        return x[..., None]
    if x.ndim == 4:
        return x
    raise CommandError(
        f"--model cnn needs images of shape (N, H, W) or (N, H, W, C), but {name} has shape "
        f"{x.shape}; use --model mlp for flat features"
    )


def spec_from_args(args: Any, x_shape: tuple[int, ...], num_outputs: int) -> Any:
    """The :class:`jaxtrain.diagnose.ModelSpec` the options describe."""
    from jaxtrain.diagnose import ModelSpec

    if args.model == "cnn" and args.depth < 1:
        raise CommandError("--model cnn needs --depth >= 1 (convolution blocks)")
    return ModelSpec(
        args.model,
        tuple(x_shape[1:]),
        int(num_outputs),
        width=args.width,
        depth=args.depth,
        activation=args.activation,
        norm=None if args.norm == "none" else args.norm,
    )
