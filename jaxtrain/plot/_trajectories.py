"""Optimizer paths over a contour map of the loss, and learning-rate schedules over time."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrain._numbers import is_int, real_pair
from jaxtrain.optim import learning_rate_at
from jaxtrain.plot._log_scale import contour_values


def _axes(ax: Any, figsize: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def _limits(points: np.ndarray, margin: float = 0.15) -> tuple[tuple[float, float], ...]:
    """The paths' range plus ``margin`` × their larger range on every side: a coordinate they
    do not move in gets a margin too (a path along θ₁ alone must still show the valley's
    walls; its own range gave a map 0.002 high)."""
    low, high = points.min(axis=0), points.max(axis=0)
    pad = max(float(np.max(high - low)) * margin, 1e-3)
    return tuple((float(lo - pad), float(hi + pad)) for lo, hi in zip(low, high, strict=True))


def _two_numbers(
    name: str, given: Any, meaning: str, *, different: bool = False
) -> tuple[float, float]:
    """``given`` as two finite floats (:func:`jaxtrain._numbers.real_pair`: a tuple, a list, a
    NumPy or JAX array of two; no text, no bools), different ones where ``different``."""
    pair = real_pair(given)
    finite = pair is not None and all(np.isfinite(pair))
    if not finite or (different and pair[0] == pair[1]):
        kind = "different finite" if different else "finite"
        raise ValueError(f"`{name}` must be two {kind} numbers ({meaning}), got {given!r}")
    return pair


def plot_trajectories(
    loss_fn: Callable[[jax.Array], jax.Array],
    paths: Mapping[str, Any],
    ax: Any = None,
    *,
    xlim: Any = None,
    ylim: Any = None,
    grid_size: int = 200,
    levels: int = 30,
    log_scale: bool | None = None,
    minimum: Any = None,
    xlabel: str = "θ₁",
    ylabel: str = "θ₂",
) -> Any:
    """Draws optimizer paths θ⁰, θ¹, … over the contour lines of a 2-D loss L(θ₁, θ₂).

    The lecture's picture of §3–§4: on a long narrow valley plain gradient descent zigzags
    across the steep direction and crawls along the flat one, momentum smooths the zigzag,
    and Adagrad, RMSProp and Adam rescale each coordinate by its own σ. Paths typically come
    from :func:`jaxtrain.optim.optimize_trajectory`; the loss is evaluated on a
    ``grid_size``² grid with one vmapped call.

    Args:
      loss_fn: L(θ) for θ of shape (2,), jit/vmap-traceable.
      paths: ``{label: array of shape (T + 1, 2)}``, one line per optimizer.
      ax: the matplotlib ``Axes`` to draw on; a new figure if ``None``.
      xlim: the θ₁ range of the map, two different finite numbers (low, high) in any
        sequence (a tuple, a NumPy or JAX array); by default the paths' range plus 15% of
        their larger range (θ₁'s or θ₂'s) on each side.
      ylim: the θ₂ range of the map, as ``xlim``; by default the paths' range plus a margin.
      grid_size: grid points per axis (an int ≥ 2).
      levels: number of contour levels.
      log_scale: contour log₁₀ L (shows the valley floor; losses are floored at 10⁻⁸ × max).
        A log scale cannot show a loss below zero: every such cell would sit on the floor,
        the descending side of a saddle one flat band. So ``None`` (the default) contours
        log₁₀ L where no loss on the grid is negative and L itself otherwise; ``True``
        refuses a negative loss; ``False`` contours L itself. The rule of
        :func:`jaxtrain.plot.plot_loss_surface_2d` too.
      minimum: optional θ*, two finite numbers (θ₁, θ₂), to mark with a star.
      xlabel: the x-axis label.
      ylabel: the y-axis label.

    Returns:
      The ``Axes`` drawn on.

    Raises:
      ValueError: if a path is not of shape (T, 2) with T ≥ 1, ``paths`` is empty,
        ``xlim``, ``ylim`` or ``minimum`` is not two finite numbers (the limits
        different), ``grid_size`` is no int ≥ 2,
        or ``log_scale=True`` meets a negative loss on the grid.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim import optimize_trajectory, sgd
      >>> from jaxtrain.plot import plot_trajectories
      >>> loss = lambda p: 0.5 * (p[0] ** 2 + 10.0 * p[1] ** 2)
      >>> path, _ = optimize_trajectory(sgd(0.05), loss, jnp.array([2.0, 1.0]), 30)
      >>> ax = plot_trajectories(loss, {"SGD": path}, grid_size=40, minimum=(0.0, 0.0))
      >>> [line.get_label() for line in ax.get_lines()][:1]
      ['SGD']
    """
    if not paths:
        raise ValueError("`paths` must hold at least one path.")
    # A contour map needs two points per axis at least (matplotlib: "at least a (2, 2)").
    if not is_int(grid_size) or grid_size < 2:
        raise ValueError(f"grid_size must be an int >= 2, got {grid_size!r}")
    arrays = {label: np.asarray(path, dtype=float) for label, path in paths.items()}
    for label, path in arrays.items():
        # An empty path has no start or end to mark.
        if path.ndim != 2 or path.shape[1] != 2 or path.shape[0] == 0:
            raise ValueError(
                f"path {label!r} must have shape (T, 2) with T >= 1, got {path.shape}."
            )
    finite = np.concatenate([p[np.all(np.isfinite(p), axis=1)] for p in arrays.values()])
    default_x, default_y = _limits(finite if finite.size else np.zeros((1, 2)))
    xlim = default_x if xlim is None else _two_numbers("xlim", xlim, "low, high", different=True)
    ylim = default_y if ylim is None else _two_numbers("ylim", ylim, "low, high", different=True)
    if minimum is not None:
        minimum = _two_numbers("minimum", minimum, "θ₁, θ₂")
    xs = np.linspace(*xlim, grid_size)
    ys = np.linspace(*ylim, grid_size)
    X, Y = np.meshgrid(xs, ys)
    # float64 where x64 is on: a float32 grid near 1e4 had columns alike, its map off by 12%.
    grid = jnp.asarray(np.stack([X.ravel(), Y.ravel()], axis=1), dtype=float)
    Z = np.asarray(jax.jit(jax.vmap(loss_fn))(grid), dtype=float).reshape(X.shape)
    Z, _ = contour_values(Z, log_scale, 1e-8)
    ax = _axes(ax, (6.0, 4.5))
    ax.contourf(X, Y, Z, levels=levels, cmap="Greys", alpha=0.35)
    ax.contour(X, Y, Z, levels=levels, colors="k", linewidths=0.4, alpha=0.4)
    for label, path in arrays.items():
        (line,) = ax.plot(path[:, 0], path[:, 1], "-", lw=1.6, label=label)
        ax.plot(path[-1, 0], path[-1, 1], "o", color=line.get_color(), ms=4)
    start = next(iter(arrays.values()))[0]
    ax.plot(start[0], start[1], "s", color="k", ms=6)
    if minimum is not None:
        ax.plot(*minimum, "*", color="tab:red", ms=12)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_schedules(
    schedules: Mapping[str, Any],
    num_steps: int,
    ax: Any = None,
    *,
    log_scale: bool = False,
    xlabel: str = "step t",
    ylabel: str = "learning rate η",
) -> Any:
    """Draws learning-rate schedules η(t) for t = 0 … ``num_steps`` − 1, one line each.

    The lecture's picture of learning-rate scheduling (§4): warmup then decay, exponential
    and step decays, the Transformer's inverse square root. Each schedule is evaluated with
    :func:`jaxtrain.optim.learning_rate_at` (vectorized over steps).

    Args:
      schedules: ``{label: schedule or number}``.
      num_steps: the number of steps to draw (> 0), a Python or NumPy integer.
      ax: the matplotlib ``Axes`` to draw on; a new figure if ``None``.
      log_scale: logarithmic η axis.
      xlabel: the x-axis label.
      ylabel: the y-axis label.

    Returns:
      The ``Axes`` drawn on.

    Raises:
      ValueError: if ``schedules`` is empty or ``num_steps`` < 1.

    Examples:
      >>> from jaxtrain.optim.schedules import cosine_decay, exponential_decay
      >>> from jaxtrain.plot import plot_schedules
      >>> ax = plot_schedules(
      ...     {"cosine": cosine_decay(1.0, 100), "exp": exponential_decay(1.0, 10, 0.8)}, 100
      ... )
      >>> [line.get_label() for line in ax.get_lines()]
      ['cosine', 'exp']
    """
    if not schedules:
        raise ValueError("`schedules` must hold at least one schedule.")
    if not is_int(num_steps) or num_steps < 1:
        raise ValueError(f"`num_steps` must be an integer >= 1, got {num_steps!r}.")
    steps = np.arange(int(num_steps))
    ax = _axes(ax, (6.0, 3.5))
    for label, schedule in schedules.items():
        ax.plot(steps, np.asarray(learning_rate_at(schedule, steps), dtype=float), label=label)
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="best", fontsize="small")
    return ax
