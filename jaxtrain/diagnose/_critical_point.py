"""Saddle or minimum? The second-order check at a point where training stalled (§2)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxtrain._text import counted

__all__ = ["CurvatureCheck", "curvature_check"]


@dataclasses.dataclass(frozen=True)
class CurvatureCheck:
    """What the Hessian H = ∇²L(θ) says about the point where training stalled.

    Built by :func:`jaxtrain.diagnose.diagnose` when the stall analysis finds a critical point
    (a small full-batch gradient); it is :attr:`StallReport.curvature`.

    Attributes:
      method: ``"dense"`` (every eigenvalue of H) or ``"lanczos"`` (the extremes).
      n_params: n, the number of parameters.
      eigenvalues_counted: how many eigenvalues the counts below are over (n when dense).
      num_negative: counted eigenvalues below ``-eig_tol``.
      num_positive: counted eigenvalues above ``eig_tol``.
      num_zero: counted eigenvalues with |λ| ≤ ``eig_tol`` (flat directions).
      eig_tol: the zero-curvature threshold
        (:func:`jaxtrain.curvature.eigenvalue_tolerance`).
      lowest: λmin.
      highest: λmax.
      extreme_eigenvalues: the k lowest and k highest eigenvalues, ascending.
      kind: one of :data:`jaxtrain.curvature.KINDS`, by
        :func:`jaxtrain.curvature.classify_critical_point` (never ``"not_critical"``: the stall
        analysis decided criticality).
      summary: one or two sentences for the report.
    """

    method: str
    n_params: int
    eigenvalues_counted: int
    num_negative: int
    num_positive: int
    num_zero: int
    eig_tol: float
    lowest: float
    highest: float
    extreme_eigenvalues: tuple[float, ...]
    kind: str
    summary: str

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready Python values (the eigenvalues as a list)."""
        out = dataclasses.asdict(self)
        out["extreme_eigenvalues"] = list(self.extreme_eigenvalues)
        return out


def _extremes(eigs: np.ndarray, k: int) -> np.ndarray:
    return eigs if eigs.size <= 2 * k else np.concatenate([eigs[:k], eigs[-k:]])


def _summary(kind: str, num_negative: int, num_zero: int, lowest: float, highest: float) -> str:
    span = f"lowest {lowest:.3g}, highest {highest:.3g}"
    if kind == "saddle":
        return (
            f"{counted(num_negative, 'negative eigenvalue')} ({span}): a saddle point; the "
            "loss falls along the lowest eigenvector."
        )
    if kind == "minimum":
        return (
            f"every eigenvalue above round-off ({span}): the loss curves up in every direction, "
            "a local minimum."
        )
    if kind == "maximum":
        return f"every eigenvalue negative ({span}): a local maximum; any step goes down."
    if num_negative:
        return (
            f"{counted(num_negative, 'negative eigenvalue')} and "
            f"{counted(num_zero, 'zero eigenvalue')} ({span}): degenerate; "
            "not a minimum, the loss falls along the lowest eigenvector, but the Hessian "
            "cannot tell a maximum from a saddle."
        )
    return (
        f"no negative eigenvalue beyond round-off, {counted(num_zero, 'flat direction')} "
        f"({span}): degenerate; the Hessian cannot prove a minimum, along the flat directions "
        "the loss may still fall at higher order."
    )


def curvature_check(
    loss_fn: Callable[[Any], jax.Array],
    params: Any,
    *,
    dense_max_params: int,
    key: jax.Array,
    k: int = 5,
) -> CurvatureCheck:
    """Counts the signs of the Hessian's eigenvalues: dense for small models, Lanczos above.

    With n ≤ ``dense_max_params`` parameters the full Hessian H = ∇²L(θ) is built and every
    eigenvalue counted (:func:`jaxtrain.curvature.analyze_critical_point`); above, Lanczos on
    Hessian-vector products (:func:`jaxtrain.curvature.eigenvalues` over
    :func:`jaxtrain.curvature.hvp`) gives the ``k`` smallest and ``k`` largest eigenvalues,
    which is all :func:`jaxtrain.curvature.classify_critical_point` needs. A negative λ beyond
    the round-off tolerance is a way down, L(θ + t·u) ≈ L(θ) + ½λt²: a saddle (or, with
    flat directions and no positive λ, a degenerate point); none and no flat direction is a
    minimum. The caller has found the gradient small, so the gradient test is skipped.

    Returns:
      A :class:`CurvatureCheck`.
    """
    flat, _ = ravel_pytree(params)
    n = int(flat.size)
    from jaxtrain import curvature

    if n <= dense_max_params:
        report = curvature.analyze_critical_point(loss_fn, params, grad_tol=math.inf)
        eigs = np.asarray(report.eigenvalues, dtype=np.float64)
        method, tol, kind = "dense", report.eig_tol, report.kind
    else:
        k = min(k, n // 2)
        result = curvature.eigenvalues(
            curvature.hvp(loss_fn, params), params, k=k, key=key, which="both"
        )
        eigs = np.sort(np.asarray(result.eigenvalues, dtype=np.float64))
        tol = curvature.eigenvalue_tolerance(eigs, flat.dtype)
        kind = curvature.classify_critical_point(
            eigs, grad_norm=0.0, grad_tol=math.inf, eig_tol=tol
        )
        method = "lanczos"
    num_negative = int(np.sum(eigs < -tol))
    num_positive = int(np.sum(eigs > tol))
    num_zero = int(eigs.size - num_negative - num_positive)
    lowest, highest = float(eigs[0]), float(eigs[-1])
    text = _summary(kind, num_negative, num_zero, lowest, highest)
    if method == "lanczos":
        # Lanczos found the extremes only: its counts are over those, not over all n.
        text = f"of the {counted(int(eigs.size), 'computed eigenvalue')}, {text}"
    return CurvatureCheck(
        method=method,
        n_params=n,
        eigenvalues_counted=int(eigs.size),
        num_negative=num_negative,
        num_positive=num_positive,
        num_zero=num_zero,
        eig_tol=float(tol),
        lowest=lowest,
        highest=highest,
        # The dense path knows every eigenvalue; keep the k lowest and k highest, as Lanczos.
        extreme_eigenvalues=tuple(float(v) for v in _extremes(eigs, k)),
        kind=kind,
        summary=f"Hessian ({method}, {counted(n, 'parameter')}): {text}",
    )
