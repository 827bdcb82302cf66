"""The size of the model the flags describe, counted from its spec before anything is built.

``--width 100000000`` asked for 19 GB and was killed by the kernel; ``--depth 100000`` spent
minutes building layers before printing anything. Both are known from the flags alone: the
variables of an MLP or CNN are a closed-form function of its :class:`ModelSpec`, so the
command refuses such a model at once, with the count.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from jaxtrain.cli._errors import CommandError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "check_model_size", "variable_count"]

# The models' variables are float32, and training holds about four copies of them (the
# parameters, the gradient, Adam's two moments): 1 GiB of variables is 4 GiB or more to train.
MAX_BYTES = 1 << 30
_ITEMSIZE = 4
# Layers are built and compiled one by one: beyond this a run spends minutes before its first
# step (the lecture's deepest network has 56).
MAX_DEPTH = 1000


def _norm_variables(norm: str | None, channels: int) -> int:
    """Variables of the norm after a layer of ``channels`` outputs, or of the bias without one."""
    if norm is None:
        return channels  # the layer's own bias
    if norm == "batch":
        return 4 * channels  # scale and shift, and the running mean and variance (no bias)
    # LayerNorm (GroupNorm with one group for a CNN): scale and shift, and the layer's bias,
    # which a mean over all the features does not cancel.
    return 3 * channels


def variable_count(spec: Any) -> int:
    """The number of float32 variables of ``spec``'s model, without building it.

    Counts weights, biases, the norms' scales and shifts and BatchNorm's running statistics,
    in closed form (a CNN's filters double per block, a geometric sum), so a spec of any
    width or depth is counted at once.

    Args:
      spec: a :class:`jaxtrain.diagnose.ModelSpec`.

    Returns:
      The count as a Python int (exact, however large).

    Examples:
      >>> from jaxtrain.diagnose import ModelSpec
      >>> variable_count(ModelSpec("mlp", (64,), 10, width=32, depth=2))
      3466
    """
    w, d, out = spec.width, spec.depth, spec.out_features
    if spec.family == "mlp":
        fan_in = spec.in_shape[0]
        if d == 0:
            return fan_in * out + out
        kernels = fan_in * w + (d - 1) * w * w
        return kernels + d * _norm_variables(spec.norm, w) + w * out + out
    # A CNN's block i has w·2^i filters of 3 × 3 × (its input channels); the sum over the
    # blocks of 9 · w2^(i-1) · w2^i is 6w²(4^(d-1) − 1).
    kernels = 9 * spec.in_shape[-1] * w + 6 * w * w * (4 ** (d - 1) - 1)
    channels = w * (2**d - 1)
    last = w * 2 ** (d - 1)
    return kernels + _norm_variables(spec.norm, channels) + last * out + out


def _number(n: int) -> str:
    if n < 10**15:
        return f"{n:,}"
    if n < 10**300:
        return f"{float(n):.3g}"
    # Beyond a float (and str() of an int over 4,300 digits raises): the magnitude is enough.
    return f"about 10^{math.floor(math.log10(n))}"


def check_model_size(spec: Any, *, variants: bool = False, max_bytes: int = MAX_BYTES) -> None:
    """Refuses a spec deeper than :data:`MAX_DEPTH` or larger than ``max_bytes`` of variables.

    Args:
      spec: the :class:`~jaxtrain.diagnose.ModelSpec` the flags describe.
      variants: also check the shallower and wider variants ``jaxtrain diagnose`` trains.
      max_bytes: the most bytes of float32 variables one model may have.

    Raises:
      CommandError: naming the flags, the variable count and its bytes.
    """
    flags = f"--model {spec.family} --width {spec.width} --depth {spec.depth}"
    if spec.depth > MAX_DEPTH:
        raise CommandError(
            f"{flags}: at most {MAX_DEPTH:,} layers; deeper networks take minutes to build and "
            "compile before their first step"
        )
    for model in spec.variants()[0] if variants else [spec]:
        count = variable_count(model)
        if count * _ITEMSIZE > max_bytes:
            what = "the model" if model == spec else "the variant diagnose compares it with"
            size, limit = _number(count * _ITEMSIZE), _number(max_bytes)
            if size == limit:  # rounded alike: in full, so that "above" shows
                size, limit = f"{count * _ITEMSIZE:,}", f"{max_bytes:,}"
            # The outputs are to blame where they outnumber the width and the same layers
            # with one output fit; else the width or the depth.
            one_output = dataclasses.replace(model, out_features=1)
            fix = (
                f"its {model.out_features:,} outputs are too many (--num-classes, or the "
                "targets' width)"
                if model.out_features > model.width
                and variable_count(one_output) * _ITEMSIZE <= max_bytes
                else "choose a smaller --width or --depth"
            )
            raise CommandError(
                f"{flags}: {what} ({model.name}) has {_number(count)} variables "
                f"({size} bytes of float32), above the limit of {limit} bytes; {fix}"
            )
