"""Where training stalled, and whether the gradient was really small there (§2 vs §4)."""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import Any, NamedTuple

import numpy as np

from jaxtrain._text import beside, counted, percent
from jaxtrain.diagnose._critical_point import CurvatureCheck
from jaxtrain.diagnose._evidence import largest_rise
from jaxtrain.diagnose._thresholds import CauseThresholds, Thresholds

__all__ = ["Plateau", "StallReport", "analyze_stall"]

# A plateau must last at least this share of the budget to count as a stall; a loss still
# falling in its last quarter was cut short by the budget, not stuck.
_MIN_PLATEAU_SHARE = 0.25
# Flat needs two steps at least (one change of the loss); a single point is no plateau.
_MIN_PLATEAU_STEPS = 2
# Both the stall rule (the last quarter) and the plateau rule (a quarter) read a quarter of
# the run, so a quarter must hold _MIN_PLATEAU_STEPS: 8 steps. Below that, the last step of a
# 1-4-step run always "stalled" (n − 1 ≤ ¾n) and one point made a "plateau".
_MIN_STEPS = math.ceil(_MIN_PLATEAU_STEPS / _MIN_PLATEAU_SHARE)
# A loss that never fell oscillated only if its moving mean climbed this share above its
# running minimum: explain_run's ``loss_rise``, so both readings of one run agree. Mini-batch
# noise alone makes the step losses fluctuate at any η, so a fluctuation is no evidence.
_OSCILLATION_RISE = CauseThresholds().loss_rise
# The stall rule reads the loss on a linear scale; the diagnosis plots it on a log scale, where
# a converged loss may keep falling many-fold after "95% of the decrease". A converged loss has
# levelled off where less than this factor of fall is still to come, as the figure shows it.
_LOG_FALL = 2.0
# Batch noise alone moves the moving mean: over a run with no trend at all its start lies
# above its lowest value by up to 6.5-8.1 of its noise (as _noise_fall estimates it) in 99
# of 100 runs, and 9.4-11.3 in 999 of 1,000 (simulated, runs of 40 to 5,000 steps). A fall
# must exceed this many to be one.
_NOISE_FALL = 10.0


class Plateau(NamedTuple):
    """A stretch of steps [``start``, ``end``] over which the smoothed loss sat at ``level``."""

    start: int
    end: int
    level: float


@dataclasses.dataclass(frozen=True)
class StallReport:
    """Where the training loss stopped falling, and why: :func:`analyze_stall`'s answer.

    Attributes:
      steps: T, the number of steps of the loss curve.
      stalled: whether the loss stopped falling with at least a quarter of the budget left
        (after a fall, at a critical point, or while it rose). A loss that barely moved with a
        large gradient never fell, so it did not stall; nor did a run too short to tell.
      stall_step: the step s where it did (``None`` when not stalled).
      critical: whether the final full-batch gradient is small (a critical point, §2).
      diverged: whether the loss or its gradient became non-finite.
      converged: whether the loss levelled off at a small value (relative to the baseline).
      initial_grad_norm: ‖g₀‖ (``None`` if not finite).
      final_grad_norm: ‖g_T‖ (``None`` if not finite).
      grad_norm_ratio: ‖g_T‖/‖g₀‖ (``None`` if not finite).
      loss_start: the smoothed loss L̄₀ (``None`` if not finite).
      loss_end: the smoothed loss L̄_T (``None`` when diverged).
      tail_fluctuation: std/mean of the losses after the stall (``None`` when not stalled).
      plateau: the longest flat stretch the loss later left (a :class:`Plateau`), or ``None``.
      summary: one or more sentences for the report.
      seed: the seed of the analyzed run, where :func:`~jaxtrain.diagnose.diagnose` set it.
      curvature: the Hessian's verdict at the end (a :class:`CurvatureCheck`), where
        :func:`~jaxtrain.diagnose.diagnose` measured it.
    """

    steps: int
    stalled: bool
    stall_step: int | None
    critical: bool
    diverged: bool
    converged: bool
    initial_grad_norm: float | None
    final_grad_norm: float | None
    grad_norm_ratio: float | None
    loss_start: float | None
    loss_end: float | None
    tail_fluctuation: float | None
    plateau: Plateau | None
    summary: str
    seed: int | None = None
    curvature: CurvatureCheck | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready Python values; ``seed`` and ``curvature`` only when set."""
        out = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name not in ("plateau", "seed", "curvature")
        }
        out["plateau"] = None if self.plateau is None else self.plateau._asdict()
        if self.seed is not None:
            out["seed"] = self.seed
        if self.curvature is not None:
            out["curvature"] = self.curvature.to_dict()
        return out


def _window(steps: int) -> int:
    """w, the moving mean's window: 1/20 of the run."""
    return max(1, steps // 20)


def _smooth(losses: np.ndarray) -> np.ndarray:
    """A centred moving mean over 1/20 of the run, one value per step.

    Mini-batch losses are noisy; the moving mean keeps the trend. The mean of steps
    i..i+w−1 belongs to their middle, i + (w−1)/2: it is placed there (the ends repeat the
    first and last full means), so an index into the result is a step of the run.
    """
    window = _window(losses.size)
    kernel = np.full(window, 1.0 / window)
    means = np.convolve(losses, kernel, mode="valid")
    before = (window - 1) // 2
    return np.pad(means, (before, window - 1 - before), mode="edge")


def _noise_fall(losses: np.ndarray) -> float:
    """How far below its start batch noise alone can take the moving mean: ``_NOISE_FALL``
    times the noise of a mean over w steps, read from the changes between the means of
    consecutive w-step blocks (their median absolute deviation: a trend moves them alike).
    Read on the means themselves, not on single steps: a loss that repeats a pattern from
    batch to batch (a fixed order of batches of unequal difficulty) varies a lot from step to
    step, but not from block to block, where the moving mean sees it."""
    window = _window(losses.size)
    blocks = losses.size // window
    if blocks < 3:
        return 0.0
    means = losses[: blocks * window].reshape(blocks, window).mean(axis=1)
    changes = np.diff(means)
    spread = float(np.median(np.abs(changes - np.median(changes))))
    # 1.4826 × MAD estimates a normal standard deviation; a change holds two means' noise.
    return _NOISE_FALL * 1.4826 * spread / math.sqrt(2.0)


def _longest_plateau(smooth: np.ndarray, tol: float) -> tuple[int, int]:
    """The longest stretch [a, b] over which L̄ moves by at most ``tol`` of its level.

    Two pointers with monotone queues of the window's max and min: O(n). Extending a
    window never shrinks (max − min)/max for positive losses, so the scan is exact there.
    """
    best, lo = (0, 0), 0
    top: collections.deque[int] = collections.deque()
    bottom: collections.deque[int] = collections.deque()
    for hi, value in enumerate(smooth):
        while top and smooth[top[-1]] <= value:
            top.pop()
        top.append(hi)
        while bottom and smooth[bottom[-1]] >= value:
            bottom.pop()
        bottom.append(hi)
        while smooth[top[0]] - smooth[bottom[0]] > tol * max(
            abs(smooth[top[0]]), abs(smooth[bottom[0]])
        ):
            lo += 1
            if top[0] < lo:
                top.popleft()
            if bottom[0] < lo:
                bottom.popleft()
        if hi - lo > best[1] - best[0]:
            best = (lo, hi)
    return best


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def analyze_stall(
    losses: Any,
    *,
    initial_grad_norm: float,
    final_grad_norm: float,
    baseline: float | None = None,
    diverged_at: int | None = None,
    thresholds: Thresholds | None = None,
) -> StallReport:
    """Finds where the training loss stopped falling and asks: critical point or oscillation?

    The per-step losses Lₜ are smoothed by a moving mean (window T/20) to L̄ₜ. With the total
    decrease D = L̄₀ − minₜ L̄ₜ, training *stalled* at the first step s after which less than
    τ·D of the decrease was still to come (L̄ₛ − min_{t≥s} L̄ₜ ≤ τ·D, τ = ``stall_tolerance``),
    or at s = 0 if the loss never fell: by no more than τ·|L̄₀|, or than batch noise alone
    moves the moving mean (10 × the noise of a w-step mean, read from the median absolute
    deviation of the changes between consecutive w-step block means: a loss without a trend
    falls below its start by noise alone, 7-8 of them in one run of 100). A stall that
    leaves less than a quarter of the budget is no stall: the loss was still falling when
    the budget ran out. A run of fewer than 8 steps is too short to tell: a quarter of it
    must hold two steps to show a flat loss.

    Then the lecture's two readings of a stalled loss:

    - ‖g‖ small (the full-batch gradient at the end, ‖g_T‖ ≤ ``critical_grad_ratio`` · ‖g₀‖
      or ≤ ``critical_grad_norm``): a *critical point* (§2); the Hessian decides between
      saddle and minimum.
    - ‖g‖ not small: the loss stopped falling although the gradient is large: the learning
      rate η is too large for the curvature and θ bounces between the walls of a valley (§4).
      A loss that never fell shows this only if its moving mean rose (by 50% above its
      running minimum, as :func:`~jaxtrain.diagnose.explain_run` reads an oscillation);
      otherwise it *barely moved*: a step lowers L by about η‖g‖², so η is too small, or θ
      has sat on a plateau since the start. That is no stall.

    With the ``baseline`` B, a loss that levelled off at a small value (L̄_T/B ≤
    ``large_train_loss``) is reported as *converged*: a stall there is the goal, not a
    problem, whatever the gradient says (mini-batch noise keeps ‖g‖ from vanishing). Its
    summary reads the curve on a log scale, as the diagnosis plots it: it levelled off where
    less than a factor 2 of fall was still to come (min_{t≥s} L̄ₜ ≥ L̄ₛ/2), and a loss that
    keeps falling many-fold after the stall step s is said to, as is one that rose again
    (by more than τ) after its lowest point. There ``stall_step`` is where it levelled off on
    that scale, if it did.

    Args:
      losses: the training loss of every step (mini-batch values are fine).
      initial_grad_norm: ‖g₀‖, the full-batch gradient norm at the initial parameters.
      final_grad_norm: ‖g_T‖, the full-batch gradient norm at the final parameters; a
        non-finite one (it overflowed) makes the run diverged, at the last step if neither
        the losses nor ``diverged_at`` say earlier.
      baseline: B, the loss of the best constant prediction; enables the "converged" reading.
      diverged_at: the step at which training stopped on a non-finite loss or gradient (a
        loss curve can stay finite while its gradient overflows); ``None`` if it did not.
      thresholds: supplies ``stall_tolerance``, ``critical_grad_ratio`` and
        ``critical_grad_norm`` (default :class:`Thresholds` ()).

    A *plateau* is the longest stretch (at least a quarter of the run) over which L̄ moves by
    less than ``stall_tolerance`` of its level, reported when the loss later fell below it:
    the flat region around a saddle point that a deep plain network sits on before it
    learns.

    Returns:
      A :class:`StallReport`.

    Raises:
      ValueError: for an empty loss curve or negative gradient norms.

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.diagnose import analyze_stall
      >>> plateau = np.concatenate([np.linspace(2.0, 0.5, 50), np.full(150, 0.5)])
      >>> r = analyze_stall(plateau, initial_grad_norm=1.0, final_grad_norm=1e-4)
      >>> r.stalled, r.stall_step, r.critical
      (True, 47, True)
      >>> analyze_stall(plateau, initial_grad_norm=1.0, final_grad_norm=0.8).critical
      False
      >>> analyze_stall(plateau, initial_grad_norm=1.0, final_grad_norm=0.8, baseline=5.0).converged
      True
    """
    thresholds = Thresholds() if thresholds is None else thresholds
    values = np.asarray(losses, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("`losses` is empty: there is no training curve to analyze.")
    g0, gT = float(initial_grad_norm), float(final_grad_norm)
    if g0 < 0 or gT < 0:
        raise ValueError(f"gradient norms must be >= 0; got {g0} and {gT}.")
    ratio, critical = _gradient_reading(g0, gT, thresholds)
    grads = {
        "steps": int(values.size),
        "initial_grad_norm": _finite_or_none(g0),
        "final_grad_norm": _finite_or_none(gT),
        "grad_norm_ratio": _finite_or_none(ratio),
    }
    diverged_step = _divergence_step(values, diverged_at, gT)
    if diverged_step is not None:
        return _diverged_report(grads, values, diverged_step)
    smooth = _smooth(values)
    converged = bool(
        baseline is not None
        and baseline > 0
        and float(smooth[-1]) / baseline <= thresholds.large_train_loss
    )
    grad_text = _grad_text(g0, gT, ratio, thresholds)
    if values.size < _MIN_STEPS:
        return _too_short_report(grads, smooth, critical, converged, grad_text)
    suffix_min = np.minimum.accumulate(smooth[::-1])[::-1]
    noise_fall = _noise_fall(values)
    least_fall = max(thresholds.stall_tolerance * abs(float(smooth[0])), noise_fall)
    stall_step = _stall_step(smooth, suffix_min, least_fall, thresholds.stall_tolerance)
    stalled = bool(stall_step <= (1.0 - _MIN_PLATEAU_SHARE) * values.size)
    never_fell = _never_fell(smooth, suffix_min, least_fall)
    rise = largest_rise(smooth) if never_fell else None
    if converged:
        stall_step, summary = _converged_reading(
            smooth, suffix_min, stall_step, stalled, baseline, grad_text, thresholds
        )
    elif never_fell and not critical and rise <= _OSCILLATION_RISE:
        stalled = False
        summary = _barely_moved_summary(
            smooth, rise, grad_text, thresholds.stall_tolerance, noise_fall
        )
    else:
        summary = _stall_summary(grad_text, stalled, critical, stall_step, values.size, rise)
    plateau = _escaped_plateau(values, smooth, thresholds.stall_tolerance)
    if plateau is not None:
        summary = _plateau_sentence(plateau, baseline) + summary
    tail = values[stall_step:]
    fluctuation = float(np.std(tail) / max(abs(float(np.mean(tail))), 1e-12))
    return StallReport(
        **grads,
        stalled=stalled,
        stall_step=stall_step if stalled else None,
        critical=critical,
        diverged=False,
        converged=converged,
        loss_start=float(smooth[0]),
        loss_end=float(smooth[-1]),
        tail_fluctuation=fluctuation if stalled else None,
        plateau=plateau,
        summary=summary,
    )


def _escaped_plateau(values: np.ndarray, smooth: np.ndarray, tolerance: float) -> Plateau | None:
    """The longest flat stretch of the smoothed loss, if it is long and the loss later left it:
    a flat region (near a saddle point) that held training up. ``smooth`` is centred and one
    value per step, so its indices are the run's steps."""
    a, b = _longest_plateau(smooth, tolerance)
    level = float(np.mean(smooth[a : b + 1]))
    escaped = float(smooth[-1]) < level - tolerance * abs(level)
    long_enough = max(_MIN_PLATEAU_STEPS, _MIN_PLATEAU_SHARE * values.size)
    if b + 1 - a >= long_enough and escaped:
        return Plateau(int(a), int(b), level)
    return None


def _diverged_report(grads: dict[str, Any], values: np.ndarray, step: int) -> StallReport:
    """The report of a run that diverged at ``step``: stalled there, no curvature reading."""
    return StallReport(
        **grads,
        stalled=True,
        stall_step=step,
        critical=False,
        diverged=True,
        converged=False,
        loss_start=_finite_or_none(values[0]),
        loss_end=None,
        tail_fluctuation=None,
        plateau=None,
        summary=(
            f"The loss or its gradient became non-finite at step {step}: training diverged; "
            "the learning rate is far too large (§4)."
        ),
    )


def _too_short_report(
    grads: dict[str, Any], smooth: np.ndarray, critical: bool, converged: bool, grad_text: str
) -> StallReport:
    """The report of a run under ``_MIN_STEPS`` steps: no stall, no plateau, just its ends."""
    steps = grads["steps"]
    summary = (
        f"The run recorded only {counted(steps, 'step')}, fewer than the {_MIN_STEPS} steps a "
        f"stall reading needs (a quarter of the run must hold {_MIN_PLATEAU_STEPS} steps to "
        "show a flat loss): too short to tell whether training stalled. The loss went from "
        f"{float(smooth[0]):.3g} to {float(smooth[-1]):.3g} ({grad_text})."
    )
    return StallReport(
        **grads,
        stalled=False,
        stall_step=None,
        critical=critical,
        diverged=False,
        converged=converged,
        loss_start=float(smooth[0]),
        loss_end=float(smooth[-1]),
        tail_fluctuation=None,
        plateau=None,
        summary=summary,
    )


def _stall_step(
    smooth: np.ndarray, suffix_min: np.ndarray, least_fall: float, tolerance: float
) -> int:
    """The first step after which less than ``tolerance`` of the total decrease is still to
    come (0 if the loss never fell by more than ``least_fall``)."""
    if _never_fell(smooth, suffix_min, least_fall):
        return 0
    total = float(smooth[0] - suffix_min[0])
    return int(np.argmax(smooth - suffix_min <= tolerance * total))


def _never_fell(smooth: np.ndarray, suffix_min: np.ndarray, least_fall: float) -> bool:
    """Whether the moving mean never fell below its start by more than ``least_fall``."""
    return float(smooth[0] - suffix_min[0]) <= least_fall


def _gradient_reading(g0: float, gT: float, thresholds: Thresholds) -> tuple[float, bool]:
    """``(‖g_T‖/‖g₀‖, critical)``: a finite ‖g_T‖ at most ``critical_grad_norm``, or at most
    ``critical_grad_ratio`` of ‖g₀‖, is a critical point (§2). An overflowed ‖g₀‖ makes no
    ratio (∞): ‖g_T‖/∞ = 0 would read as a gradient that vanished."""
    ratio = gT / g0 if 0 < g0 < math.inf else math.inf
    critical = math.isfinite(gT) and (
        gT <= thresholds.critical_grad_norm or ratio <= thresholds.critical_grad_ratio
    )
    return ratio, bool(critical)


def _grad_text(g0: float, gT: float, ratio: float, thresholds: Thresholds) -> str:
    """‖g‖ at the end and its ratio to ‖g₀‖, each printed beside the critical-point threshold
    it was compared with, with the digits that decide."""
    text = f"‖g‖ = {beside(gT, thresholds.critical_grad_norm)} at the end"
    if math.isfinite(ratio):
        text += f", {beside(ratio, thresholds.critical_grad_ratio)} × its initial {g0:.3g}"
    return text


def _divergence_step(
    values: np.ndarray, diverged_at: int | None, final_grad_norm: float
) -> int | None:
    """The step at which training diverged, or ``None``: the first non-finite loss, else the
    caller's ``diverged_at``, else the last step if the final gradient overflowed (the loss
    curve can stay finite while its gradient does not)."""
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        return int(bad[0])
    if diverged_at is not None:
        return int(diverged_at)
    if not math.isfinite(final_grad_norm):
        return int(values.size - 1)
    return None


def _converged_reading(
    smooth: np.ndarray,
    suffix_min: np.ndarray,
    stall_step: int,
    stalled: bool,
    baseline: float,
    grad_text: str,
    thresholds: Thresholds,
) -> tuple[int, str]:
    """The stall step and summary of a loss that ended small, read on the log scale of the
    figure: where it levelled off within a factor ``_LOG_FALL`` of the rest, or that it kept
    falling many-fold after the linear-scale stall step; either way, whether it then rose
    again from its lowest point."""
    end = f"{float(smooth[-1]) / baseline:.3g} × the baseline"
    tolerance = thresholds.stall_tolerance
    # Levelled off on the log scale once within _LOG_FALL of the lowest level still to come
    # (a curve that reaches 0 or below has no log scale: the linear reading stands).
    on_log_scale = float(suffix_min[0]) > 0
    log_step = int(np.argmax(smooth <= _LOG_FALL * suffix_min)) if on_log_scale else stall_step
    if not stalled:
        where, rose = f"was still falling at the end, at {end}", None
    elif log_step <= (1.0 - _MIN_PLATEAU_SHARE) * smooth.size:
        stall_step = log_step
        rose = _rise_after_lowest(smooth, stall_step, baseline, tolerance)
        # A loss that rose again did not level off at its end: say where it turned.
        where = f"fell to {rose}" if rose else f"levelled off from step {stall_step} at {end}"
    else:
        # The fall to the lowest level after the stall step: a loss that then rose again
        # did not fall by its ratio to the last value.
        fall_after = float(smooth[stall_step]) / float(suffix_min[stall_step])
        rose = _rise_after_lowest(smooth, stall_step, baseline, tolerance)
        where = (
            f"made {1.0 - tolerance:.0%} of its decrease by step "
            f"{stall_step} and kept falling, {fall_after:.3g}× more, to {rose or end}"
        )
    # Small at the end all the same; a rise from the lowest point is no convergence to speak
    # of as "as it should" (the causes name what drove it).
    verdict = "small, but above its lowest" if rose else "small, so training converged as it should"
    summary = f"The training loss {where}: {verdict} ({grad_text})."
    return stall_step, summary


def _rise_after_lowest(
    smooth: np.ndarray, start: int, baseline: float, tolerance: float
) -> str | None:
    """``"X × the baseline at step s, then rose to Y × the baseline"`` for a smoothed loss
    that ended more than ``tolerance`` above its lowest value X (at step s ≥ ``start``), as a
    stall counts a rise; ``None`` for one that ended within that of its lowest."""
    low_step = start + int(np.argmin(smooth[start:]))
    lowest, last = float(smooth[low_step]), float(smooth[-1])
    if last <= lowest + tolerance * abs(lowest):
        return None
    return (
        f"{lowest / baseline:.3g} × the baseline at step {low_step}, then rose to "
        f"{last / baseline:.3g} × the baseline"
    )


def _barely_moved_summary(
    smooth: np.ndarray, rise: float, grad_text: str, tolerance: float, noise_fall: float
) -> str:
    """The summary of a loss that never fell nor rose, at a large gradient: η too small, or a
    plateau from the start; nothing measured says η is too large. ``noise_fall``: how far
    batch noise alone moves the moving mean, said where it, not ``tolerance``, decided."""
    start, lowest = float(smooth[0]), float(np.min(smooth))
    fall = (start - lowest) / abs(start) if start != lowest else 0.0
    if rise > 0:
        climb = f"rose at most {percent(rise, against=_OSCILLATION_RISE)} above its lowest"
    else:
        climb = "never rose above its lowest"
    noise = noise_fall / abs(start) if start else (math.inf if noise_fall else 0.0)
    if noise > tolerance:
        bound = (
            f"no more than batch noise alone moves it ({percent(noise)}: "
            f"{_NOISE_FALL:g} × the noise of its {_window(smooth.size)}-step means)"
        )
    else:
        bound = f"no more than the stall tolerance {percent(tolerance)}"
    return (
        f"The loss barely moved in the {counted(smooth.size, 'step')}: its moving mean fell "
        f"{percent(fall, against=max(tolerance, noise))} (from {start:.3g} to {lowest:.3g}), "
        f"{bound}, "
        f"and {climb} (an oscillation rises "
        f"{percent(_OSCILLATION_RISE)}), while the gradient stayed large ({grad_text}): not "
        "a critical point. A step lowers the loss by about η‖g‖², so the learning rate is "
        "too small to make progress, or θ has sat on a plateau since the start (§2, §4)."
    )


def _stall_summary(
    grad_text: str,
    stalled: bool,
    critical: bool,
    stall_step: int,
    steps: int,
    rise: float | None = None,
) -> str:
    """The summary of a loss that did not end small: still falling, critical or oscillating
    (``rise``: the climb of a loss that never fell, which shows the oscillation)."""
    if not stalled:
        return (
            f"The loss was still falling at the end of the {counted(steps, 'step')} "
            f"({grad_text}): "
            "the budget ran out before training stalled; train longer."
        )
    if critical:
        return (
            f"Training stalled at step {stall_step} of {steps} with a small gradient "
            f"({grad_text}): a critical point (§2); the Hessian says which kind."
        )
    if rise is not None:
        return (
            f"The loss never fell in the {counted(steps, 'step')}: its moving mean rose "
            f"{percent(rise, against=_OSCILLATION_RISE)} above its lowest although the "
            f"gradient stayed large ({grad_text}): not a critical point; steps went uphill, "
            "so the learning rate is too large for the curvature and the iterate oscillates "
            "(§4)."
        )
    return (
        f"The loss stopped falling at step {stall_step} of {steps} although the "
        f"gradient stayed large ({grad_text}): not a critical point; the learning rate is "
        "too large for the curvature and the iterate oscillates (§4)."
    )


def _plateau_sentence(plateau: Plateau, baseline: float | None) -> str:
    scale = " × the baseline" if baseline else ""
    shown = plateau.level / baseline if baseline else plateau.level
    return (
        f"The loss sat on a plateau at {shown:.3g}{scale} from step {plateau.start} to "
        f"{plateau.end} before falling again: a flat region (around a saddle point, §2) "
        "that held training up. "
    )
