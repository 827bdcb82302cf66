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


def _checked_number(convert, accept, expected: str, doc: str):
    """An argparse type: ``convert`` the text, then keep it only when ``accept(value)``."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__doc__ = doc
    parse.__name__ = expected  # argparse names the type by it in its own messages
    return parse


positive_int = _checked_number(int, lambda v: v >= 1, "a positive integer", "An int ≥ 1.")
non_negative_int = _checked_number(int, lambda v: v >= 0, "an integer >= 0", "An int ≥ 0.")
positive_float = _checked_number(
    float, lambda v: v > 0 and math.isfinite(v), "a positive number", "A finite float > 0."
)
fraction = _checked_number(float, lambda v: 0 < v < 1, "a number in (0, 1)", "A float in (0, 1).")


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
