"""Normalization layers, model families and the functional model contract (lecture §6).

Modules are Flax NNX modules written here. :func:`functional` turns any model (NNX, Linen, a
plain function) into the pure triple ``(apply, params, state)`` that the rest of jaxtrain
trains, differentiates and diagnoses.
"""

from jaxtrain.nn._batchnorm import BatchNorm
from jaxtrain.nn._functional import functional
from jaxtrain.nn._mlp import MLP
from jaxtrain.nn._normalization import GroupNorm, InstanceNorm, LayerNorm

__all__ = [
    "MLP",
    "BatchNorm",
    "GroupNorm",
    "InstanceNorm",
    "LayerNorm",
    "functional",
]
