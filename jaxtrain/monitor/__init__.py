"""Measurements taken inside the compiled training loop (lecture §2–§4).

Passed as ``jaxtrain.train.fit(..., monitors=[...])``, each monitor runs inside the scanned
epoch under a ``lax.cond`` on the step number: no host synchronization, no recompilation,
its state checkpointed with the run and exact on resume.

- :func:`sharpness`: λmax of the Hessian of the training loss on a fixed probe batch
  (warm-started Lanczos), beside the optimizer's stability threshold
  (:func:`stability_threshold`: 2/η for gradient descent): the edge of stability.
- :func:`gradient_noise_scale`: B_simple = tr(Σ)/|G|² from the batch's two halves, the
  critical batch size of §3.
- :func:`hessian_trace`: tr(H) by Hutchinson's estimator on the probe batch.
- :func:`update_ratio`: ‖Δθ‖/‖θ‖, overall and per layer.

Results are ``history.per_step[name]``, NaN at steps not measured. New monitors subclass
:class:`Monitor` (or :class:`ProbeMonitor`, for measurements on the probe batch).
"""

from jaxtrain.monitor._hessian_trace import HessianTrace, hessian_trace
from jaxtrain.monitor._monitor import Monitor, ProbeMonitor, RunSetup, StepView
from jaxtrain.monitor._noise_scale import (
    GradientNoiseScale,
    GradientNoiseScaleState,
    gradient_noise_scale,
    noise_terms,
)
from jaxtrain.monitor._sharpness import Sharpness, SharpnessState, sharpness
from jaxtrain.monitor._threshold import StabilityThreshold, stability_threshold
from jaxtrain.monitor._update_ratio import UpdateRatio, update_ratio

__all__ = [
    "GradientNoiseScale",
    "GradientNoiseScaleState",
    "HessianTrace",
    "Monitor",
    "ProbeMonitor",
    "RunSetup",
    "Sharpness",
    "SharpnessState",
    "StabilityThreshold",
    "StepView",
    "UpdateRatio",
    "gradient_noise_scale",
    "hessian_trace",
    "noise_terms",
    "sharpness",
    "stability_threshold",
    "update_ratio",
]
