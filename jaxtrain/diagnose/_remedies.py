"""What to do about each verdict: the lecture's remedies, sharpened by the measured evidence."""

from __future__ import annotations

from collections.abc import Mapping

from jaxtrain.diagnose._critical_point import CurvatureCheck
from jaxtrain.diagnose._stall import StallReport

__all__ = ["REMEDIES", "remedies"]

REMEDIES: Mapping[str, tuple[str, ...]] = {
    "model_bias": (
        "Make the model more flexible: more hidden units or layers, or a family that fits the "
        "data's structure (a CNN for images).",
        "Give it better features: inputs that carry the information the target depends on "
        "(e.g. polar coordinates for spirals, more days of history for a time series).",
        "Check the training loss again after each change: model bias is gone when a candidate "
        "gets it well below the baseline.",
    ),
    "optimization": (
        "Use a better optimizer: Adam or RMSProp (adaptive learning rates, §4) with momentum "
        "instead of plain SGD, and tune the learning rate.",
        "Add normalization (BatchNorm, §6) so every layer sees well-scaled inputs.",
        "Add residual connections: a deep network then starts close to its shallow version "
        "(He et al. 2016).",
        "Use a learning-rate schedule with warmup, then decay (§4).",
        "Prefer ReLU-like activations to sigmoid/tanh in deep plain networks (no saturation).",
        "Start from the shallow model that trains and deepen it step by step.",
    ),
    "overfitting": (
        "Get more training data from the same distribution.",
        "Augment the data (flips, crops, zooms, noise that keep the label, "
        "`jaxtrain.data.compose`).",
        "Constrain the model: fewer parameters, shared parameters (a CNN), weight decay "
        "(`jaxtrain.optim.adamw`), dropout.",
        "Stop early: keep the parameters of the epoch with the lowest validation loss.",
        "Select the model by k-fold cross-validation (`jaxtrain.diagnose.cross_validate`), not "
        "by the public test set.",
    ),
    "mismatch": (
        "Collect training data from the target distribution (the one the validation/test data "
        "come from): more data of the old kind will not help.",
        "Check the preprocessing of both sets: the same scaling, crop and label encoding.",
        "If the shift is known (rescaled inputs, re-weighted classes), correct it: standardize "
        "with statistics of the target data, re-weight the training loss by class.",
        "Look at examples from both distributions side by side to find what differs.",
    ),
    "ok": (
        "Nothing to fix: the training loss is small and the model generalizes.",
        "Report the test loss once, after all choices are made on validation data.",
        "If a smaller loss is needed, try a larger model with regularization and check again.",
    ),
}
"""The lecture's remedies for each verdict of :data:`VERDICTS`, most direct first: what
:func:`remedies` chooses from (and orders by the stall and curvature readings)."""


def _at_critical_point(check: CurvatureCheck) -> str:
    """The remedy for a stall at a critical point, by the Hessian's kind."""
    if check.kind == "saddle":
        return (
            "Training sits at a saddle point (a negative Hessian eigenvalue): momentum or a "
            "step along the negative-curvature direction escapes it (§2, §3)."
        )
    if check.num_negative > 0:  # a maximum, or degenerate with negative curvature
        return (
            f"Training sits where the Hessian has a negative eigenvalue ({check.kind}): a step "
            "along its eigenvector goes down; momentum escapes it (§2, §3)."
        )
    if check.kind == "minimum":
        return (
            "Training sits at a local minimum (no negative Hessian eigenvalue): restart "
            "from other seeds, or change the model so the minimum is lower."
        )
    return (
        "Training sits where the Hessian has no negative eigenvalue but flat directions "
        "(degenerate, §2): it cannot tell a local minimum from a degenerate saddle. Momentum (§3) "
        "carries θ through flat regions; if the loss stays, restart from other seeds or change "
        "the model."
    )


def remedies(verdict: str, *, stall: StallReport | None = None) -> list[str]:
    """The concrete remedies for a verdict, first the ones the measured stall points at.

    The base list per verdict is :data:`REMEDIES`. For ``"optimization"`` and
    ``"model_bias"`` the stall analysis adds its own: a run that diverged needs a smaller
    learning rate; a loss that stopped falling (short of converging), or rose without ever
    falling, while the gradient stayed large (‖g‖ not small) means the learning rate η is too
    large for the curvature (the iterate bounces across a valley, §4), so lower η or decay it.
    A loss that barely moved is no stall (:func:`~jaxtrain.diagnose.analyze_stall`): nothing
    measured says η is too large, so it adds nothing here (η may be too small). A saddle point
    (a negative Hessian eigenvalue λ < 0, §2) is escaped along its eigenvector u, since
    L(θ + t·u) ≈ L(θ) + ½·λ·t² falls; at a true local minimum only a new start or a new
    model helps; at a degenerate point without negative curvature (flat directions, §2)
    momentum may carry θ through, else the same. The kinds are
    :data:`jaxtrain.curvature.KINDS`.

    Args:
      verdict: one of ``"model_bias"``, ``"optimization"``, ``"overfitting"``,
        ``"mismatch"``, ``"ok"``.
      stall: the :class:`~jaxtrain.diagnose.StallReport` (with its ``curvature`` where
        measured), or ``None``.

    Returns:
      The remedies, most specific first.

    Raises:
      ValueError: for an unknown verdict.

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.diagnose import analyze_stall, remedies
      >>> remedies("mismatch")[0][:43]
      'Collect training data from the target distr'
      >>> fell = np.concatenate([np.linspace(2.0, 0.5, 50), np.full(150, 0.5)])
      >>> stuck = analyze_stall(fell, initial_grad_norm=1.0, final_grad_norm=0.9)
      >>> remedies("optimization", stall=stuck)[0][:35]
      'The loss stopped falling while the '
      >>> flat = analyze_stall(np.full(100, 1.0), initial_grad_norm=1.0, final_grad_norm=0.9)
      >>> remedies("optimization", stall=flat)[0][:35]  # barely moved: no stall, base list
      'Use a better optimizer: Adam or RMS'
    """
    if verdict not in REMEDIES:
        raise ValueError(f"unknown verdict {verdict!r}; choose from {sorted(REMEDIES)}.")
    specific: list[str] = []
    if stall is not None and verdict in ("optimization", "model_bias"):
        if stall.diverged:
            specific.append(
                "The loss became non-finite: training diverged. Lower the learning rate "
                "(by 10× to start with), or add warmup and gradient clipping (§4)."
            )
        elif stall.stalled and not stall.critical and not stall.converged:
            # A stall at step 0 that is no critical point is a loss that rose without falling
            # (one that barely moved is no stall).
            what = "rose instead of falling" if stall.stall_step == 0 else "stopped falling"
            specific.append(
                f"The loss {what} while the gradient stayed large: the learning rate "
                "is too large for the curvature and the iterate oscillates. Lower it, or add "
                "warmup and decay (§4)."
            )
        elif stall.curvature is not None:
            specific.append(_at_critical_point(stall.curvature))
    return specific + list(REMEDIES[verdict])
