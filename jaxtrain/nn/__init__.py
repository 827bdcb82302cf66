"""Normalization layers, model families and the functional model contract (lecture §6).

Modules are Flax NNX modules written here. :func:`functional` turns any model (NNX, Linen, a
plain function) into the pure triple ``(apply, params, state)`` that the rest of jaxtrain
trains, differentiates and diagnoses.

Which normalization when (all normalize to zero mean and unit variance, then scale by γ and
shift by β; they differ in which values share one μ and σ²):

- :class:`BatchNorm`: each feature over the batch (and image positions). The lecture's
  normalization; CNNs and MLPs trained with batches of ~32 or more. Its output depends on the
  batch, so test time uses running statistics (``model.eval()`` or ``train=False``).
- :class:`LayerNorm`: all features of one example. Transformers and recurrent networks, any
  batch size; the same at training and test time.
- :class:`GroupNorm`: positions and a group of channels of one example. Convolutional networks
  with tiny batches (detection, segmentation), where BatchNorm's estimates get noisy.
- :class:`InstanceNorm`: positions of one channel of one example. Style transfer and image
  generation, where each image's contrast should be removed.

Model families (:class:`MLP`, :class:`CNN`, :class:`ResNet`) take ``norm=`` by name or as a
factory, so the same network runs with another normalization, or with ``flax.nnx.BatchNorm``
for comparison: a convolutional network with any of the four (``"batch"``, ``"layer"``,
``"group"``, ``"instance"``), an MLP with ``"batch"`` or ``"layer"`` (or a factory; instance
normalization, which has no positions to average over there, is refused).
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
