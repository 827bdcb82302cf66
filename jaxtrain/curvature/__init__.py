"""Critical points and curvature (lecture §2): Hessians, saddle points, spectra.

Where the gradient vanishes, the Hessian H = ∇²L(θ) tells a local minimum (all eigenvalues
λ > 0) from a local maximum (all λ < 0) and a saddle point (both signs); an eigenvector u of a
negative λ is a way down, L(θ + u) ≈ L(θ) + ½λ‖u‖². :func:`classify_critical_point` is that
rule, with |λ| ≤ :func:`eigenvalue_tolerance` counting as zero, and :data:`KINDS` its words
(``"minimum"``, ``"maximum"``, ``"saddle"``, ``"degenerate"``, ``"not_critical"``), the ones
every report of jaxtrain uses.

Two paths share one interface, ``loss_fn(params, *args) -> scalar``:

- dense, for small models: :func:`hessian` and :func:`analyze_critical_point`;
- matrix-free, for any size: :func:`hvp` (v ↦ Hv), :func:`eigenvalues` and :func:`lanczos`,
  :func:`power_iteration`, :func:`trace`, :func:`spectral_density`,
  :func:`minimum_ratio_estimate` and :func:`spectrum` (the extremes and the density at once,
  the extremes' run serving as one of the density's probes). :func:`batched_loss` and
  :func:`loss_from_model` build the loss over fixed data (several batches, the functional
  model contract, sharded devices).

Beside H, two positive semi-definite curvatures take the place of :func:`hvp` in every
algorithm: :func:`ggn` (Gauss–Newton, JᵀH_ℓJ) and :func:`empirical_fisher`; having no negative
eigenvalue, they cannot see a saddle's way down. :func:`block_eigenvalues` gives the spectrum of
each layer's diagonal block, :func:`eigenvalues_over_batches` the batch-to-batch error bars.

All matrix products run at ``precision=HIGHEST``; with ``jax_enable_x64`` the dense path
computes in float64.
"""

from jaxtrain.curvature._blocks import BlockEigenResult, block_eigenvalues, block_labels
from jaxtrain.curvature._critical import (
    KINDS,
    CriticalPointReport,
    analyze_critical_point,
    classify_critical_point,
    eigenvalue_tolerance,
)
from jaxtrain.curvature._density import SpectralDensity, minimum_ratio_estimate, spectral_density
from jaxtrain.curvature._gauss_newton import GaussNewtonProduct, empirical_fisher, ggn
from jaxtrain.curvature._hessian import hessian
from jaxtrain.curvature._hvp import HessianVectorProduct, hvp
from jaxtrain.curvature._lanczos import EigenResult, LanczosResult, eigenvalues, lanczos
from jaxtrain.curvature._memory import DEFAULT_MAX_BYTES, MemoryLimitError
from jaxtrain.curvature._model_loss import batched_loss, loss_from_model
from jaxtrain.curvature._power import PowerIterationResult, power_iteration
from jaxtrain.curvature._spectrum import Spectrum, spectrum
from jaxtrain.curvature._trace import TraceEstimate, trace
from jaxtrain.curvature._uncertainty import BatchEigenvalues, eigenvalues_over_batches

__all__ = [
    "DEFAULT_MAX_BYTES",
    "KINDS",
    "BatchEigenvalues",
    "BlockEigenResult",
    "CriticalPointReport",
    "EigenResult",
    "GaussNewtonProduct",
    "HessianVectorProduct",
    "LanczosResult",
    "MemoryLimitError",
    "PowerIterationResult",
    "SpectralDensity",
    "Spectrum",
    "TraceEstimate",
    "analyze_critical_point",
    "batched_loss",
    "block_eigenvalues",
    "block_labels",
    "classify_critical_point",
    "eigenvalue_tolerance",
    "eigenvalues",
    "eigenvalues_over_batches",
    "empirical_fisher",
    "ggn",
    "hessian",
    "hvp",
    "lanczos",
    "loss_from_model",
    "minimum_ratio_estimate",
    "power_iteration",
    "spectral_density",
    "spectrum",
    "trace",
]
