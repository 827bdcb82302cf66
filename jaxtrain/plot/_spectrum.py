"""Pictures of a Hessian spectrum: exact eigenvalues or a stochastic Lanczos density."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from jaxtrain._numbers import is_int

__all__ = ["plot_density", "plot_spectrum"]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(5.0, 3.5))
    return ax


def _is_density(values: Any) -> bool:
    return all(hasattr(values, name) for name in ("grid", "density", "nodes", "weights"))


def plot_density(
    density: Any,
    ax: Any = None,
    *,
    log_scale: bool = True,
    floor: float = 1e-8,
    label: str | None = None,
    color: str | None = None,
) -> Any:
    """Draws a smoothed eigenvalue density φ(t) from :func:`jaxtrain.curvature.spectral_density`.

    The density of a network's Hessian is a bulk near zero with a few large outliers, so the
    y-axis is logarithmic by default (values below ``floor`` are clipped to it) and the
    zero line is marked: the mass right of it is the minimum ratio.

    Args:
        density: a :class:`jaxtrain.curvature.SpectralDensity`.
        ax: the matplotlib ``Axes`` to draw on; a new figure if ``None``.
        log_scale: logarithmic density axis.
        floor: smallest density drawn on a log axis.
        label: legend label of the curve.
        color: line color.

    Returns:
        The ``Axes`` drawn on.

    Raises:
        TypeError: if ``density`` is not a spectral density.
        ValueError: if ``floor`` is not a positive finite number.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxtrain.curvature import spectral_density
        >>> from jaxtrain.plot import plot_density
        >>> H = jnp.diag(jnp.array([-1.0, 1.0, 2.0, 3.0]))
        >>> d = spectral_density(lambda v: H @ v, jnp.zeros(4), num_probes=2, num_iters=4,
        ...                      key=jax.random.key(0))
        >>> ax = plot_density(d)
        >>> ax.get_xlabel()
        'eigenvalue λ'
    """
    if not _is_density(density):
        raise TypeError(
            "plot_density takes a SpectralDensity from jaxtrain.curvature.spectral_density;"
            " for an array of eigenvalues use plot_spectrum"
        )
    # A floor of 0 stretched the log axis over 40 decades; NaN drew nothing.
    try:
        positive = 0 < float(floor) < math.inf
    except (TypeError, ValueError):
        positive = False
    if not positive:
        raise ValueError(f"floor must be a positive finite number, got {floor!r}")
    ax = _axes(ax)
    grid = np.asarray(density.grid)
    values = np.asarray(density.density)
    if log_scale:
        values = np.maximum(values, floor)
    ax.plot(grid, values, label=label, color=color)
    if log_scale:
        ax.set_yscale("log")
    ax.axvline(0.0, color="0.6", linewidth=0.8, linestyle="--")
    ax.set_xlabel("eigenvalue λ")
    ax.set_ylabel("density φ(λ)")
    if label is not None:
        ax.legend()
    return ax


def plot_spectrum(
    values: Any,
    ax: Any = None,
    *,
    bins: int = 60,
    eig_tol: float = 0.0,
    log_scale: bool = True,
    label: str | None = None,
    color: str | None = None,
) -> Any:
    """Draws a Hessian spectrum: a histogram of eigenvalues, or a spectral density.

    Given an array of eigenvalues λ (from ``analyze_critical_point(...).eigenvalues``,
    ``eigh`` or Lanczos), draws their histogram with negative, zero (|λ| ≤ ``eig_tol``)
    and positive curvature in three colors, stacked (a bin's height is its count), and the
    counts in the legend: the lecture's saddle/minimum reading at a glance. Eigenvalues
    that are not finite (NaN, ±∞: a diverged run) have no place on the axis; the rest are
    drawn and the legend counts those apart.
    Given a :class:`jaxtrain.curvature.SpectralDensity`, hands over to :func:`plot_density`.

    Args:
        values: 1-D eigenvalues, or a spectral density.
        ax: the matplotlib ``Axes`` to draw on; a new figure if ``None``.
        bins: histogram bins, a positive int.
        eig_tol: eigenvalues with |λ| ≤ ``eig_tol`` are drawn as zero curvature (finite, ≥ 0).
        log_scale: logarithmic count axis (the bulk near zero dwarfs the outliers).
        label: a title-like prefix for the legend entries.
        color: color of a density curve (ignored for eigenvalues).

    Returns:
        The ``Axes`` drawn on.

    Raises:
        ValueError: for an empty or non-1-D array of eigenvalues, one without a finite value
            or whose finite values span more than float64 can hold, ``bins`` < 1 or not an
            int, or an ``eig_tol`` that is negative or not finite.

    Examples:
        >>> import numpy as np
        >>> from jaxtrain.plot import plot_spectrum
        >>> ax = plot_spectrum(np.array([-2.0, 0.0, 1.0, 4.0]), eig_tol=1e-6)
        >>> [text.get_text() for text in ax.get_legend().get_texts()]
        ['λ < -1e-06: 1', '|λ| ≤ 1e-06: 1', 'λ > 1e-06: 2']
    """
    if _is_density(values):
        return plot_density(values, ax, log_scale=log_scale, label=label, color=color)
    eigenvalues = np.asarray(values, dtype=float)
    if eigenvalues.ndim != 1 or eigenvalues.size == 0:
        raise ValueError(
            f"eigenvalues must be a non-empty 1-D array, got shape {eigenvalues.shape}"
        )
    # A negative eig_tol would count λ = 0 both below -eig_tol and above it; NaN in no group.
    if not 0 <= eig_tol < math.inf:
        raise ValueError(f"eig_tol must be >= 0 and finite, got {eig_tol}")
    if not is_int(bins) or bins < 1:
        raise ValueError(f"bins must be a positive int, got {bins!r}")
    finite = np.isfinite(eigenvalues)
    if not finite.any():
        raise ValueError(f"no finite eigenvalue to draw: all {eigenvalues.size} are NaN or ±∞")
    # One NaN would make every bin edge NaN and blank the whole histogram.
    not_finite = int(eigenvalues.size - finite.sum())
    eigenvalues = eigenvalues[finite]
    ax = _axes(ax)
    low, high = float(eigenvalues.min()), float(eigenvalues.max())
    if high == low:
        # ±0.5 is nothing beside 1e16: widened in proportion, every bar keeps a width.
        pad = max(0.5, 1e-6 * abs(low))
        low, high = low - pad, high + pad
    # A span that overflows float64 (finite ends beyond ±9e307: a diverged run's Hessian)
    # made every bin edge NaN, and matplotlib's axis needs twice the span besides (margins).
    # The dashed line at λ = 0 is on the axis too, so the span reaches 0.
    half_span = max(high, 0.0) / 2.0 - min(low, 0.0) / 2.0  # cannot overflow
    if not math.isfinite(4.0 * half_span):
        raise ValueError(
            f"the finite eigenvalues span {low:.3g} to {high:.3g}, wider than one linear axis "
            "can draw (its width overflows float64); leave out or clip the extremes"
        )
    edges = np.linspace(low, high, bins + 1)
    prefix = f"{label}: " if label else ""
    tol = _bound_text(eigenvalues, eig_tol)
    groups = (
        (eigenvalues < -eig_tol, "tab:red", f"λ < -{tol}" if eig_tol else "λ < 0"),
        (np.abs(eigenvalues) <= eig_tol, "0.5", f"|λ| ≤ {tol}"),
        (eigenvalues > eig_tol, "tab:blue", f"λ > {tol}" if eig_tol else "λ > 0"),
    )
    drawn = [group for group in groups if group[0].any()]
    # Stacked: a bin holding both signs (a Hessian's bulk around 0) is as tall as its count,
    # each color its group's share; drawn one over the other it read as the larger group.
    ax.hist(
        [eigenvalues[mask] for mask, _, _ in drawn],
        bins=edges,
        stacked=True,
        color=[group_color for _, group_color, _ in drawn],
        alpha=0.8,
        label=[f"{prefix}{name}: {int(mask.sum())}" for mask, _, name in drawn],
    )
    if not_finite:
        # An entry without a mark, so the legend's counts add up to every value given.
        ax.plot([], [], " ", label=f"{prefix}not finite, not drawn: {not_finite}")
    if log_scale:
        ax.set_yscale("log")
    ax.axvline(0.0, color="0.3", linewidth=0.8, linestyle="--")
    ax.set_xlabel("eigenvalue λ")
    ax.set_ylabel("count")
    ax.legend()
    return ax


def _bound_text(eigenvalues: np.ndarray, eig_tol: float) -> str:
    """``eig_tol`` in 3 significant digits, or as many more as every label needs: each
    eigenvalue must compare with the printed bound as with ``eig_tol`` (3.453e-4 counted
    within 3.4549e-4 must not read "|λ| ≤ 0.000345")."""
    magnitudes = np.abs(eigenvalues)
    for digits in range(3, 18):
        text = f"{eig_tol:.{digits}g}"
        shown = float(text)
        if np.array_equal(magnitudes <= shown, magnitudes <= eig_tol) and np.array_equal(
            eigenvalues > shown, eigenvalues > eig_tol
        ):
            return text
    return repr(float(eig_tol))
