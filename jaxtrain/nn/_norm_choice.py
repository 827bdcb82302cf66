"""The ``norm=`` argument of the model families: a name or a factory, turned into a layer."""

from collections.abc import Callable
from typing import Any

from flax import nnx

NormFactory = Callable[..., nnx.Module]
Norm = str | NormFactory | None

_DENSE = ("batch", "layer")
_CONV = ("batch", "layer", "group", "instance")
_NO_POSITIONS = (
    "instance normalization (or group normalization of one feature per group, which "
    "normalizes each feature alone) needs image positions to average over: each feature of a "
    "dense layer has one value per example, which it would set to β (every activation the "
    "same). Use 'batch' in an MLP, or 'layer' where it has more than one feature"
)


def make_norm(norm: Norm, num_features: int, *, conv: bool, rngs: nnx.Rngs) -> nnx.Module | None:
    """The normalization layer ``norm`` names for ``num_features`` channels, or ``None``.

    ``"batch"`` is :class:`BatchNorm`; ``"layer"`` normalizes each example over its features
    (over height, width and channels in a convolutional network, as ``GroupNorm`` with one
    group); ``"group"`` is :class:`GroupNorm` with up to 8 groups; ``"instance"`` is
    :class:`InstanceNorm`. A callable is called as ``norm(num_features, rngs=rngs)``, so
    ``nnx.BatchNorm`` or a ``functools.partial`` of any norm layer fits.

    Raises:
      ValueError: an unknown name, or, in a dense network (``conv`` False), a layer that
        normalizes each feature alone (instance norm by name or as a factory, group norm of
        one feature per group).
    """
    # Imported here: the norm modules import nothing from the model families, but the package
    # __init__ imports both, and this keeps the dependency one-way.
    from jaxtrain.nn._batchnorm import BatchNorm
    from jaxtrain.nn._normalization import GroupNorm, InstanceNorm, LayerNorm

    if norm is None:
        return None
    if norm == "instance" and not conv:
        raise ValueError(_NO_POSITIONS)
    if callable(norm):
        layer = norm(num_features, rngs=rngs)
        if not conv and _each_feature_alone(layer, num_features):
            raise ValueError(_NO_POSITIONS)
        return layer
    allowed = _CONV if conv else _DENSE
    if norm not in allowed:
        raise ValueError(f"unknown norm {norm!r}; use None, one of {allowed}, or a callable")
    if norm == "batch":
        return BatchNorm(num_features, rngs=rngs)
    if norm == "layer":
        if conv:
            return GroupNorm(num_features, num_groups=1, rngs=rngs)
        return LayerNorm(num_features, rngs=rngs)
    if norm == "group":
        return GroupNorm(num_features, num_groups=_largest_divisor(num_features, 8), rngs=rngs)
    return InstanceNorm(num_features, rngs=rngs)


def _each_feature_alone(layer: nnx.Module, num_features: int) -> bool:
    """Whether ``layer`` normalizes every feature of one example over its own values only:
    instance norm, or group norm (jaxtrain's or flax's) of one feature per group over its
    default axes (one reducing over the batch too is a batch norm of another name)."""
    from jaxtrain.nn._normalization import GroupNorm, InstanceNorm

    # flax's own InstanceNorm where it has one (0.12+; Colab's 0.11 has none).
    instance_norms = (InstanceNorm, *filter(None, [getattr(nnx, "InstanceNorm", None)]))
    if isinstance(layer, instance_norms):
        return True
    return (
        isinstance(layer, GroupNorm | nnx.GroupNorm)
        and layer.num_groups == num_features
        and getattr(layer, "reduction_axes", None) is None
    )


def cancels_bias(norm: Norm, num_features: int) -> bool:
    """Whether ``norm`` subtracts each feature's own mean, so a bias before it cancels.

    BatchNorm (the mean over the batch) and InstanceNorm (over the positions) do, feature by
    feature, so the layer before them needs no bias. LayerNorm and GroupNorm subtract one
    mean over many features, which leaves a per-feature bias its differences; RMSNorm
    subtracts nothing. For those, and any other layer, the bias stays. A factory is judged by
    the layer it makes, built abstractly (``nnx.eval_shape``: no random key is drawn, so the
    model's weights are those it would have anyway).
    """
    from jaxtrain.nn._batchnorm import BatchNorm
    from jaxtrain.nn._normalization import InstanceNorm

    if norm is None:
        return False
    if isinstance(norm, str):
        return norm in ("batch", "instance")
    layer = nnx.eval_shape(lambda: norm(num_features, rngs=nnx.Rngs(0)))
    return isinstance(layer, BatchNorm | InstanceNorm | nnx.BatchNorm)


def _largest_divisor(n: int, at_most: int) -> int:
    return max(d for d in range(1, at_most + 1) if n % d == 0)


def module_list(modules: list[Any]) -> Any:
    """A list of submodules Flax tracks: ``nnx.List`` where it exists (0.12+), else a list."""
    return nnx.List(modules) if hasattr(nnx, "List") else list(modules)
