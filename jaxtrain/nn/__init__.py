"""Normalization layers, model families and the functional model contract (lecture §6).

Modules are Flax NNX modules written here. :func:`functional` turns any model (NNX, Linen, a
plain function) into the pure triple ``(apply, params, state)`` that the rest of jaxtrain
trains, differentiates and diagnoses.
"""

from jaxtrain.nn._batchnorm import BatchNorm
from jaxtrain.nn._cnn import CNN
from jaxtrain.nn._functional import functional
from jaxtrain.nn._mlp import MLP
from jaxtrain.nn._normalization import GroupNorm, InstanceNorm, LayerNorm
from jaxtrain.nn._resnet import ResNet

__all__ = [
    "CNN",
    "MLP",
    "BatchNorm",
    "GroupNorm",
    "InstanceNorm",
    "LayerNorm",
    "ResNet",
    "functional",
]
