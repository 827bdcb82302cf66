"""Pictures of error surfaces: the loss along a line and over a plane through θ."""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxtrain.plot._log_scale import contour_values, draws_log, log10_above_floor

# On a log scale a loss below this share of the largest (a zero, round-off) sits at it.
_LOG_FLOOR = 1e-6

__all__ = ["plot_loss_slice_1d", "plot_loss_surface_2d"]


def _axes(ax: Any, figsize: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def _holds_zero(ticks: np.ndarray) -> bool:
    """Whether 0 lies within the ticks' range: a mark at θ elsewhere would stretch the axes."""
    return bool(ticks.min() <= 0.0 <= ticks.max())


def plot_loss_slice_1d(
    alphas: Any,
    losses: Any,
    ax: Any = None,
    *,
    label: str | None = None,
    log_scale: bool | None = False,
    mark_origin: bool = True,
    xlabel: str = "step α along d",
) -> Any:
    """Draws L(θ + α·d) against α, from :func:`jaxtrain.landscape.loss_slice_1d`.

    Args:
        alphas: the 1-D step sizes α.
        losses: the losses, same length.
        ax: the matplotlib ``Axes`` to draw on; a new figure if ``None``.
        label: legend label (several slices can share one ``ax``).
        log_scale: logarithmic loss axis (``True``, refusing a loss below 0, which a log axis
            has no place for), ``None`` for one where no loss is below 0, or ``False``. On a
            log axis a loss below 10⁻⁶ × the largest (a zero) is drawn at that floor, as the
            contour maps draw it.
        mark_origin: mark θ itself (α = 0) with a dot, where the α range holds 0.
        xlabel: the x-axis label.

    Returns:
        The ``Axes`` drawn on.

    Raises:
        ValueError: if the arrays are not non-empty, 1-D and of equal length, or with
            ``log_scale=True`` if a finite loss is negative.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.landscape import loss_slice_1d
        >>> from jaxtrain.plot import plot_loss_slice_1d
        >>> loss = lambda w: (1.0 - w[0] * w[1]) ** 2
        >>> alphas = jnp.linspace(-2.0, 2.0, 41)
        >>> u = jnp.array([1.0, 1.0]) / jnp.sqrt(2.0)
        >>> ax = plot_loss_slice_1d(alphas, loss_slice_1d(loss, jnp.zeros(2), u, alphas))
        >>> ax.get_ylabel()
        'loss'
    """
    alphas = np.asarray(alphas, dtype=float)
    losses = np.asarray(losses, dtype=float)
    if alphas.ndim != 1 or alphas.size == 0 or losses.shape != alphas.shape:
        raise ValueError(
            "alphas and losses must be non-empty 1-D arrays of equal length, got"
            f" {alphas.shape} and {losses.shape}"
        )
    logged = draws_log(losses, log_scale)
    if logged:
        # Zeros (a minimum at 0) and round-off sit on the contour maps' floor, not off the axis.
        losses = 10.0 ** log10_above_floor(losses, _LOG_FLOOR)
    ax = _axes(ax, (5.0, 3.5))
    (line,) = ax.plot(alphas, losses, label=label)
    if mark_origin and _holds_zero(alphas):
        order = np.argsort(alphas)  # np.interp reads increasing abscissae only
        at_origin = np.interp(0.0, alphas[order], losses[order])
        ax.plot([0.0], [at_origin], "o", color=line.get_color())
    if logged:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    if label is not None:
        ax.legend()
    return ax


def plot_loss_surface_2d(
    alphas: Any,
    betas: Any,
    losses: Any,
    ax: Any = None,
    *,
    levels: int = 30,
    log_scale: bool | None = False,
    floor: float | None = None,
    filled: bool = True,
    colorbar: bool = True,
    mark_origin: bool = True,
    xlabel: str = "α along d₁",
    ylabel: str = "β along d₂",
) -> Any:
    """Draws the contours of L(θ + α·d₁ + β·d₂), from :func:`jaxtrain.landscape.loss_surface_2d`.

    Args:
        alphas: the 1-D coefficients α (x-axis).
        betas: the 1-D coefficients β (y-axis).
        losses: shape ``(len(alphas), len(betas))``, as ``loss_surface_2d`` returns it.
        ax: the matplotlib ``Axes`` to draw on; a new figure if ``None``.
        levels: number of contour levels.
        log_scale: contour log₁₀ of the loss (shows structure near a minimum). A log scale
            cannot show a loss below zero (every such cell would sit on the floor, one flat
            band), so ``True`` refuses one, and ``None`` contours log₁₀ where no loss is
            negative and the loss itself otherwise, as :func:`jaxtrain.plot.plot_trajectories`
            does.
        floor: with a log scale, losses below this are drawn at it (it must be positive);
            ``None`` is 10⁻⁶ × the largest loss, so an exact zero (a valley of minima) does
            not swallow the scale.
        filled: filled contours (``contourf``) under line contours.
        colorbar: add a colorbar for the filled contours.
        mark_origin: mark θ itself (α = β = 0) with a cross, where the grid holds it.
        xlabel: the x-axis label.
        ylabel: the y-axis label.

    Returns:
        The ``Axes`` drawn on.

    Raises:
        ValueError: if the shapes do not fit together, an axis has fewer than the 2 ticks
            a contour needs, ``log_scale=True`` meets a negative loss, or ``floor`` is not
            positive and finite on a log scale.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.landscape import loss_surface_2d
        >>> from jaxtrain.plot import plot_loss_surface_2d
        >>> loss = lambda w: (1.0 - w[0] * w[1]) ** 2
        >>> ticks = jnp.linspace(-2.0, 2.0, 21)
        >>> e1, e2 = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
        >>> surface = loss_surface_2d(loss, jnp.zeros(2), e1, e2, ticks, ticks)
        >>> ax = plot_loss_surface_2d(ticks, ticks, surface, xlabel="w₁", ylabel="w₂")
        >>> ax.get_xlabel(), ax.get_ylabel()
        ('w₁', 'w₂')
    """
    alphas = np.asarray(alphas, dtype=float)
    betas = np.asarray(betas, dtype=float)
    losses = np.asarray(losses, dtype=float)
    if alphas.ndim != 1 or betas.ndim != 1 or losses.shape != (alphas.size, betas.size):
        raise ValueError(
            f"losses must have shape (len(alphas), len(betas)) = ({alphas.size}, {betas.size}),"
            f" got {losses.shape}"
        )
    if alphas.size < 2 or betas.size < 2:
        raise ValueError(
            f"contours need at least 2 alphas and 2 betas, got {alphas.size} and {betas.size}"
        )
    values, logged = contour_values(losses, log_scale, _LOG_FLOOR, floor)
    ax = _axes(ax, (5.0, 4.2))
    # Matplotlib's contour wants Z[y, x]: rows follow β, columns α.
    Z = values.T
    if filled:
        filled_set = ax.contourf(alphas, betas, Z, levels=levels, cmap="viridis")
        if colorbar:
            ax.figure.colorbar(filled_set, ax=ax, label="log₁₀ loss" if logged else "loss")
    ax.contour(alphas, betas, Z, levels=levels, colors="k", linewidths=0.4, alpha=0.5)
    if mark_origin and _holds_zero(alphas) and _holds_zero(betas):
        ax.plot([0.0], [0.0], "x", color="tab:red", markersize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax
