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
- :mod:`jaxtrain.monitor` — measurements inside the compiled training loop (§2–§4).
- :mod:`jaxtrain.lecture` — the lecture's experiments, one function per claim.
- :mod:`jaxtrain.cli` — the ``jaxtrain`` command line.

``import jaxtrain`` is light: each subpackage is imported on first use as an attribute
(``jaxtrain.optim.adam``), so the command line answers ``--help`` without loading jax.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

__all__ = ["__version__"]

_SUBPACKAGES = (
    "cli",
    "curvature",
    "data",
    "diagnose",
    "landscape",
    "lecture",
    "losses",
    "monitor",
    "nn",
    "optim",
    "plot",
    "train",
)


def __getattr__(name: str) -> ModuleType:
    # PEP 562: called only for names not yet in the module, i.e. a subpackage's first use.
    # importlib sets the attribute, so later accesses never come back here.
    if name in _SUBPACKAGES:
        return importlib.import_module(f"jaxtrain.{name}")
    raise AttributeError(f"module 'jaxtrain' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBPACKAGES})
