"""Saddle or minimum? The second-order check at a point where training stalled (§2)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

__all__ = ["curvature_check"]


def _eig_tol(eigs: np.ndarray, dtype: Any) -> float:
    # The curvature package's convention: |λ| ≤ √ε · max(max|λ|, 1) is zero curvature.
    eps = float(np.finfo(dtype).eps)
    return float(math.sqrt(eps) * max(float(np.max(np.abs(eigs))), 1.0))


def _extremes(eigs: np.ndarray, k: int) -> np.ndarray:
    return eigs if eigs.size <= 2 * k else np.concatenate([eigs[:k], eigs[-k:]])


def curvature_check(
    loss_fn: Callable[[Any], jax.Array],
    params: Any,
    *,
    dense_max_params: int,
    key: jax.Array,
    k: int = 5,
) -> dict[str, Any]:
    """Counts the signs of the Hessian's eigenvalues: dense for small models, Lanczos above.

    With n ≤ ``dense_max_params`` parameters the full Hessian H = ∇²L(θ) is built and every
    eigenvalue counted (:func:`jaxtrain.curvature.analyze_critical_point`); above, Lanczos on
    Hessian-vector products (:func:`jaxtrain.curvature.eigenvalues` over
    :func:`jaxtrain.curvature.hvp`) gives the ``k`` smallest and ``k`` largest eigenvalues,
    enough to see whether any λ < 0. A negative λ beyond the round-off tolerance makes θ a
    saddle (there is a way down, L(θ + t·u) ≈ L(θ) + ½λt²); none makes it a minimum.
    """
    flat, _ = ravel_pytree(params)
    n = int(flat.size)
    from jaxtrain import curvature

    if n <= dense_max_params:
        report = curvature.analyze_critical_point(loss_fn, params, grad_tol=math.inf)
        eigs = np.asarray(report.eigenvalues, dtype=np.float64)
        num_negative, num_positive, num_zero = (
            report.num_negative,
            report.num_positive,
            report.num_zero,
        )
        method, tol, counted = "dense", report.eig_tol, n
    else:
        k = min(k, n // 2)
        result = curvature.eigenvalues(
            curvature.hvp(loss_fn, params), params, k=k, key=key, which="both"
        )
        eigs = np.sort(np.asarray(result.eigenvalues, dtype=np.float64))
        tol = _eig_tol(eigs, flat.dtype)
        num_negative = int(np.sum(eigs < -tol))
        num_positive = int(np.sum(eigs > tol))
        num_zero = int(eigs.size - num_negative - num_positive)
        method, counted = "lanczos", int(eigs.size)
    kind = "saddle" if num_negative > 0 else "minimum"
    lowest, highest = float(eigs[0]), float(eigs[-1])
    if kind == "saddle":
        text = (
            f"{num_negative} negative eigenvalue(s) (lowest {lowest:.3g}, highest {highest:.3g}): "
            "a saddle point; the loss falls along the lowest eigenvector."
        )
    else:
        text = (
            f"no negative eigenvalue beyond round-off (lowest {lowest:.3g}, highest "
            f"{highest:.3g}): a local minimum (flat directions: {num_zero})."
        )
    return {
        "method": method,
        "n_params": n,
        "eigenvalues_counted": counted,
        "num_negative": num_negative,
        "num_positive": num_positive,
        "num_zero": num_zero,
        "eig_tol": float(tol),
        "lowest": lowest,
        "highest": highest,
        # The dense path knows every eigenvalue; keep the k lowest and k highest, as Lanczos.
        "extreme_eigenvalues": [float(v) for v in _extremes(eigs, k)],
        "kind": kind,
        "summary": f"Hessian ({method}, {n} parameters): {text}",
    }
