"""jaxtrain: a pure-JAX training library that teaches why a neural network fails to train.

Subpackages, one per lecture section (see ``DESIGN.md``):

- :mod:`jaxtrain.optim` — momentum, adaptive learning rates and schedules (§3–§4), as
  ``optax.GradientTransformation`` s.
- :mod:`jaxtrain.losses` — softmax cross-entropy, MSE, sigmoid BCE, accuracy (§5).
- :mod:`jaxtrain.nn` — BatchNorm and the other normalizations, model families, and the
  functional model contract (§6).
- :mod:`jaxtrain.train` and :mod:`jaxtrain.data` — the training loop, batches, augmentation,
  data sets, checkpoints (§1, §3).
- :mod:`jaxtrain.curvature` — Hessians, critical points, Lanczos spectra (§2).
- :mod:`jaxtrain.diagnose` — the task-strategy flowchart as a tool (§1).
- :mod:`jaxtrain.landscape` and :mod:`jaxtrain.plot` — error surfaces and pictures.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
