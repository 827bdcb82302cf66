"""Pictures of a training run: loss curves, metrics, gradient norm and learning rate."""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxtrain._columns import common_length

__all__ = ["plot_history"]

# Per-epoch entries that are bookkeeping, not curves to draw as metrics.
_NOT_METRICS = {"epoch", "step", "skipped_steps", "epoch_time", "train_loss", "val_loss"}


def _positive(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size > 0 and bool((finite > 0).all())


def _positions(per_step: dict, per_epoch: dict) -> tuple[np.ndarray, np.ndarray, str]:
    """The x position of every step and of every epoch, and the axis unit.

    In epochs where the epochs are recorded: a step where its epoch's ``"step"`` says it ran,
    or, without ``"step"``, spread evenly over the epochs (each epoch as many steps). In steps
    where only steps are recorded.
    """
    num_steps, num_epochs = (
        common_length(per_step, "per_step"),
        common_length(per_epoch, "per_epoch"),
    )
    steps = np.arange(1, num_steps + 1, dtype=np.float64)
    epochs = np.asarray(per_epoch.get("epoch", np.arange(1, num_epochs + 1)), dtype=np.float64)
    if num_epochs == 0:
        return steps, epochs, "step"
    ends = per_epoch.get("step")
    if ends is not None:
        return np.interp(steps, np.r_[0.0, ends], np.r_[0.0, epochs]), epochs, "epoch"
    if num_steps == 0:
        return steps, epochs, "epoch"
    return steps * epochs[-1] / num_steps, epochs, "epoch (steps spread evenly)"


def _note(ax: Any, text: str, *, corner: bool = False) -> None:
    """A note in the panel: at its center in an empty panel, else in a corner the curves
    leave (matplotlib's ``loc="best"`` legend keeps off it)."""
    x, y, ha, va = (0.98, 0.97, "right", "top") if corner else (0.5, 0.5, "center", "center")
    ax.text(x, y, text, ha=ha, va=va, fontsize=8 if corner else None, transform=ax.transAxes)


def _monitor_panels(per_step: dict) -> list[str]:
    """The extra panels a run's monitors call for (``jaxtrain.monitor`` records)."""
    return [
        name
        for name in ("sharpness", "noise_scale")
        if name in per_step and np.isfinite(np.asarray(per_step[name], np.float64)).any()
    ]


def _draw_sharpness(ax: Any, x_step: np.ndarray, per_step: dict, unit: str) -> None:
    sharp = np.asarray(per_step["sharpness"], np.float64)
    at = np.isfinite(sharp)
    ax.plot(x_step[at], sharp[at], "o-", ms=2.5, lw=1.0, color="tab:red", label="λmax")
    if "stability_threshold" in per_step:
        threshold = np.asarray(per_step["stability_threshold"], np.float64)
        if np.isfinite(threshold[at]).any():
            ax.plot(x_step[at], threshold[at], "--", color="black", lw=1.0, label="threshold")
    ax.set(title="sharpness λmax vs stability threshold", xlabel=unit, ylabel="λmax")
    ax.legend(fontsize=8)


def _draw_noise_scale(ax: Any, x_step: np.ndarray, per_step: dict, unit: str) -> None:
    noise = np.asarray(per_step["noise_scale"], np.float64)
    at = np.isfinite(noise)
    ax.plot(x_step[at], noise[at], lw=0.8, color="tab:brown", label="B_simple")
    if "batch_size" in per_step:
        _draw_batch_size(ax, np.asarray(per_step["batch_size"], np.float64))
    if _positive(noise):
        ax.set_yscale("log")
    ax.set(title="gradient noise scale B_simple", xlabel=unit, ylabel="examples")
    ax.legend(fontsize=8)


def _draw_batch_size(ax: Any, batch_size: np.ndarray) -> None:
    """The batch size of most steps, as a line: an epoch's partial last batch would comb it."""
    sizes, counts = np.unique(batch_size[np.isfinite(batch_size)], return_counts=True)
    if not sizes.size:
        return
    # On a tie (B < N < 2B: one full and one partial batch an epoch) the full batch's size.
    usual = sizes[counts == counts.max()].max()
    others = ", ".join(f"{size:g}" for size in sizes if size != usual)
    label = f"batch size B = {usual:g}"
    if others:
        other_steps = counts.sum() - counts[sizes == usual][0]
        label += f" ({others} at {other_steps} of {counts.sum()} steps)"
    ax.axhline(usual, ls=":", color="gray", lw=1.0, label=label)


def _draw_loss(
    ax: Any, x_step: np.ndarray, x_epoch: np.ndarray, per_step: dict, per_epoch: dict, unit: str
) -> None:
    """Panel 1: each step's loss, and the epochs' training and validation losses."""
    # A record without one finite value (a run that diverged at once, NaN validation) has
    # nothing to draw: as if not recorded, so it neither turns the axis linear nor hides a note.
    drew = []
    step_loss = np.asarray(per_step.get("loss", []), dtype=np.float64)
    if _any_finite(step_loss):
        ax.plot(x_step, step_loss, lw=0.6, alpha=0.45, color="tab:blue", label="step loss")
        drew.append(step_loss)
    for name, color in (("train_loss", "tab:blue"), ("val_loss", "tab:orange")):
        values = np.asarray(per_epoch.get(name, []), dtype=np.float64)
        if _any_finite(values):
            ax.plot(x_epoch, values, "o-", ms=3, color=color, label=name.replace("_", " "))
            drew.append(values)
    if drew and all(_positive(v) for v in drew):
        ax.set_yscale("log")
    ax.set(title="loss", xlabel=unit, ylabel="loss L")
    if drew:
        ax.legend(fontsize=8)
        if not _any_finite(np.asarray(per_epoch.get("val_loss", []), dtype=np.float64)):
            _note(ax, "no validation data", corner=True)
    else:
        _note(ax, "no loss recorded")


def _any_finite(values: np.ndarray) -> bool:
    return bool(np.isfinite(values).any())


def _draw_metrics(ax: Any, x_epoch: np.ndarray, per_epoch: dict, unit: str) -> None:
    """Panel 2: the epochs' training (dashed) and validation metrics."""
    metrics = sorted(
        k for k in per_epoch if k not in _NOT_METRICS and k.startswith(("train_", "val_"))
    )
    for name in metrics:
        style = "--" if name.startswith("train_") else "-"
        ax.plot(x_epoch, per_epoch[name], style, marker="o", ms=3, label=name.replace("_", " "))
    if metrics:
        ax.legend(fontsize=8)
    else:
        _note(ax, "no metrics recorded")
    ax.set(title="metrics", xlabel=unit)


def _draw_grad_norm(ax: Any, x_step: np.ndarray, per_step: dict, unit: str) -> None:
    """Panel 3: each step's gradient norm."""
    norms = np.asarray(per_step.get("grad_norm", []), dtype=np.float64)
    if _any_finite(norms):
        ax.plot(x_step, norms, lw=0.8, color="tab:green")
        if _positive(norms):
            ax.set_yscale("log")
    else:
        _note(ax, "no finite gradient norm" if norms.size else "gradient norm not recorded")
    ax.set(title="gradient norm ‖g‖", xlabel=unit, ylabel="‖g‖")


def _draw_learning_rate(ax: Any, x_step: np.ndarray, per_step: dict, unit: str) -> None:
    """Panel 4: each step's learning rate, where it was recorded."""
    rates = np.asarray(per_step.get("learning_rate", []), dtype=np.float64)
    if rates.size and np.isfinite(rates).any():
        ax.plot(x_step, rates, lw=1.0, color="tab:purple")
    else:
        _note(ax, "learning rate not recorded\n(pass learning_rate= to fit)")
    ax.set(title="learning rate η", xlabel=unit, ylabel="η")


def plot_history(history: Any, axes: Any = None, *, title: str | None = None) -> np.ndarray:
    """Draws a :class:`jaxtrain.train.History` as panels, the way one reads a run.

    1. **loss**: the per-step training loss L(θₜ) (thin), its per-epoch mean ``train_loss``
       and the validation loss ``val_loss`` after each epoch; a gap that opens between the
       last two is overfitting (lecture §1), a training loss that stays high is model bias
       or an optimization problem;
    2. **metrics**: every ``train_<m>`` and ``val_<m>`` (accuracy, ...);
    3. **gradient norm** ‖g‖ per step (log scale): near zero while the loss is high means
       a critical point (§2); spikes before a blow-up mean a learning rate too large;
    4. **learning rate** η per step, as the optimizer used it (schedules, §4);
    5. with a ``jaxtrain.monitor.sharpness`` record: **sharpness** λmax at each measurement
       against the **stability threshold** (2/η for gradient descent): λmax hovering at the
       threshold is the edge of stability (§4);
    6. with a ``gradient_noise_scale`` record: the **noise scale** B_simple against the batch
       size (§3: batches far above it waste examples).

    The x-axis is in epochs: each step at its fraction of the epoch it ran in, from the
    per-epoch ``"step"`` (the step each epoch ended at); without ``"step"`` the steps are
    spread evenly over the recorded epochs (every epoch as many steps) and the axis says so.
    A history with per-step records only is drawn in steps, one with per-epoch records only
    at its epochs (``"epoch"``, else 1, 2, …). Missing records (no loss, no validation data,
    no metrics, no gradient norm, η not recorded) leave a note in their panel.

    Args:
      history: a :class:`jaxtrain.train.History` (or anything with ``per_step`` and
        ``per_epoch`` dicts of arrays).
      axes: matplotlib ``Axes`` to draw on (any shape), four for the first panels plus one
        per monitor panel; a new figure (2×2, or 2×3 with monitor panels) if ``None``.
      title: a title for the figure.

    Returns:
      The ``Axes`` drawn on, as a flat NumPy array (4 to 6 of them).

    Raises:
      ValueError: if ``axes`` does not hold one ``Axes`` per panel, or the per-step (or the
        per-epoch) records are not all of one length.

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.train import History
      >>> from jaxtrain.plot import plot_history
      >>> h = History({"loss": np.array([2.0, 1.5, 1.0, 0.8]),
      ...              "grad_norm": np.array([3.0, 2.0, 1.0, 0.5]),
      ...              "learning_rate": np.full(4, 0.1)},
      ...             {"epoch": np.array([1.0, 2.0]), "step": np.array([2, 4]),
      ...              "train_loss": np.array([1.75, 0.9]), "val_loss": np.array([1.6, 1.0]),
      ...              "val_accuracy": np.array([0.5, 0.7])})
      >>> axes = plot_history(h)
      >>> [ax.get_title() for ax in axes]
      ['loss', 'metrics', 'gradient norm ‖g‖', 'learning rate η']
    """
    import matplotlib.pyplot as plt

    per_step, per_epoch = dict(history.per_step), dict(history.per_epoch)
    x_step, x_epoch, unit = _positions(per_step, per_epoch)
    extra = _monitor_panels(per_step)
    panels = 4 + len(extra)
    created = axes is None
    if created:
        columns = 2 if not extra else 3
        fig, grid = plt.subplots(2, columns, figsize=(5 * columns, 6.5))
        axes = np.ravel(grid)
        for ax in axes[panels:]:
            ax.remove()
        axes = axes[:panels]
    else:
        axes = np.ravel(np.asarray(axes, dtype=object))
        if axes.size != panels:
            raise ValueError(f"plot_history draws {panels} panels here; got {axes.size} Axes")
        fig = axes[0].figure

    _draw_loss(axes[0], x_step, x_epoch, per_step, per_epoch, unit)
    _draw_metrics(axes[1], x_epoch, per_epoch, unit)
    _draw_grad_norm(axes[2], x_step, per_step, unit)
    _draw_learning_rate(axes[3], x_step, per_step, unit)
    draw = {"sharpness": _draw_sharpness, "noise_scale": _draw_noise_scale}
    for ax, name in zip(axes[4:], extra, strict=True):
        draw[name](ax, x_step, per_step, unit)
    if title:
        fig.suptitle(title)
    if created:
        fig.tight_layout()
    return axes
