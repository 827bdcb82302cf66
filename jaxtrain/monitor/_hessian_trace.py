"""The Hessian trace tr(H) of the training loss, estimated during training (Hutchinson)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax.numpy as jnp

from jaxtrain.curvature import hvp, trace
from jaxtrain.curvature._operators import highest_precision
from jaxtrain.monitor._monitor import ProbeMonitor, StepView, check_int

__all__ = ["HessianTrace", "hessian_trace"]


@dataclasses.dataclass(frozen=True)
class HessianTrace(ProbeMonitor):
    """The monitor :func:`hessian_trace` returns."""

    num_samples: int = 10

    name: ClassVar[str] = "hessian_trace"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("num_samples", self.num_samples, 1)

    def record_names(self, params: Any) -> tuple[str, ...]:
        del params
        return ("hessian_trace",)

    def init(self, params: Any) -> Any:
        del params
        return ()

    def measure(self, state: Any, view: StepView):
        with highest_precision():
            product = hvp(view.probe_loss, view.params)
            estimate = trace(product, view.params, num_samples=int(self.num_samples), key=view.key)
        return state, {"hessian_trace": jnp.asarray(estimate.estimate)}


def hessian_trace(every: int, *, num_samples: int = 10, probe_size: int | None = None):
    r"""Tracks tr(H), the sum of the Hessian's eigenvalues, on the fixed probe batch.

    Hutchinson's estimator: for Rademacher vectors z (entries ±1), E[zᵀHz] = tr(H), so
    tr(H) ≈ (1/m) Σᵢ zᵢᵀHzᵢ with m = ``num_samples`` Hessian-vector products (vmapped; the
    forward pass is linearized once). The trace is the curvature summed over all directions,
    where λmax is the sharpest one: Keskar et al. and Cockpit's "business" set read it as a
    measure of flatness. Drawn from the step's key, so a resumed run draws the same vectors.

    Args:
      every: measure every this many steps (from step 0).
      num_samples: m, the Hessian-vector products per measurement.
      probe_size: examples in the probe batch; default min(N, 2,048) (shared with
        :func:`sharpness`).

    Returns:
      A :class:`HessianTrace` monitor recording ``history.per_step["hessian_trace"]``.

    Raises:
      ValueError: for ``every``, ``num_samples`` or ``probe_size`` below 1.

    Examples:
      >>> from jaxtrain.monitor import hessian_trace
      >>> hessian_trace(every=100, num_samples=20).num_samples
      20

    References:
      Hutchinson, "A stochastic estimator of the trace of the influence matrix for Laplacian
      smoothing splines", 1989. Schneider, Dangel, Hennig, "Cockpit", NeurIPS 2021,
      https://arxiv.org/abs/2102.06604
    """
    return HessianTrace(every, num_samples=num_samples, probe_examples=probe_size)
