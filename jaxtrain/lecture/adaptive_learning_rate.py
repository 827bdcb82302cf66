"""§4 Adaptive learning rate: one step size per parameter, and a step size that changes in time.

When the loss stops falling the gradient is often not small: the parameters bounce between the
walls of a valley. One learning rate cannot suit a steep and a flat direction at once, so each
parameter i gets its own step, θᵢᵗ⁺¹ = θᵢᵗ − (η/σᵢᵗ) gᵢᵗ, with σᵢ built from its past gradients:

- Adagrad: σᵢᵗ = √((1/(t+1)) Σₖ₌₀ᵗ (gᵢᵏ)²), the root mean square of all of them;
- RMSProp: (σᵢᵗ)² = α(σᵢᵗ⁻¹)² + (1 − α)(gᵢᵗ)², which forgets old gradients at the rate α;
- Adam: RMSProp with the momentum m (a moving average of g, signs included) in place of g.

Scheduling makes η depend on time too, ηᵗ: decay (Adagrad's σ shrinks when the gradients do,
and ηᵗ = η/√(t+1) keeps ηᵗ/σ from growing), and warmup at the start, while σ rests on only a
few gradients. On a quadratic a step of η is stable only while the curvature λ < 2/η: the
step size meets the curvature, and Cohen et al. (2021) found full-batch gradient descent
sharpening until λmax ≈ 2/η.

Experiments:

- :func:`stuck_is_not_small_gradient`: a full-batch run whose loss stalls while ‖g‖ stays
  large;
- :func:`narrow_surface`: SGD, Adagrad, RMSProp and Adam on a valley 100 times steeper across
  than along, with RMSProp's step across the valley measured at its loss spike;
- :func:`edge_of_stability`: λmax against 2/η during full-batch training (Adam's
  preconditioned sharpness against 38/η at full size);
- :func:`rmsprop_alpha`: how fast σ follows a slope that jumps from 0.1 to 10 and back, for
  RMSProp at α = 0.5 and 0.99 and for Adagrad;
- :func:`learning_rate_decay`: Adagrad's late blow-up on the valley, and ηᵗ = η/√(t+1) fixing
  it;
- :func:`schedules`: decay and warmup schedules ηᵗ;
- :func:`warmup`: Adam on digits with the same η with and without warmup, over seeds;
- :func:`momentum_and_sigma`: why m and σ do not cancel in Adam.

The toy runs use :func:`jaxtrain.optim.optimize_trajectory` and read η/σᵢ with
:func:`jaxtrain.optim.effective_step_size`; the network runs use :func:`jaxtrain.train.fit`.

References:
  Duchi, Hazan, Singer, "Adaptive Subgradient Methods", JMLR 2011,
  https://jmlr.org/papers/v12/duchi11a.html; Kingma and Ba, "Adam", 2014,
  https://arxiv.org/abs/1412.6980; Cohen, Kaur, Li, Kolter, Talwalkar, "Gradient Descent on
  Neural Networks Typically Occurs at the Edge of Stability", ICLR 2021,
  https://arxiv.org/abs/2103.00065; Cohen et al., "Adaptive Gradient Methods at the Edge of
  Stability", 2022, https://arxiv.org/abs/2207.14484
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from jaxtrain._text import beside, counted, non_finite, percent, side_by_side
from jaxtrain.lecture._claim import Claim, LectureConfig
from jaxtrain.lecture._digits import digits_splits
from jaxtrain.lecture._section import Section
from jaxtrain.lecture._stability_setup import (
    half_squared_error,
    stability_digits,
    stability_model,
    stability_optimizer,
)

__all__ = [
    "SECTION",
    "edge_of_stability",
    "learning_rate_decay",
    "momentum_and_sigma",
    "narrow_surface",
    "rmsprop_alpha",
    "schedules",
    "stuck_is_not_small_gradient",
    "warmup",
]

_ID = "adaptive_learning_rate"


def _read_only(array: Any, dtype: Any = np.float64) -> np.ndarray:
    """A NumPy copy that cached runs can share without one claim changing another's numbers."""
    out = np.array(array, dtype=dtype)
    out.setflags(write=False)
    return out


# A loss spikes when it rises more than this many times above its lowest value so far.
_SPIKE = 2.0


def _rises(losses: np.ndarray) -> np.ndarray:
    """L(θᵗ)/minₛ₍ₜ L(θˢ) for t = 1 … T: how far the loss stands above its lowest value so far."""
    running_min = np.minimum.accumulate(losses)
    return losses[1:] / np.maximum(running_min[:-1], np.finfo(np.float64).tiny)


def _spikes(losses: np.ndarray) -> list[tuple[int, float]]:
    """(step, rise) at the top of each blow-up, in order: a climb to more than ``_SPIKE``
    times the lowest loss since the previous blow-up's top, whose top is the highest loss
    before it falls back below 1/``_SPIKE`` of it (the last may not have fallen yet).

    The lowest loss *since the previous top*, not of the whole run: a loss that blew up from
    1e-22, fell to 1e-32 and blew up twice more from 1e-25 and 1e-19 has three blow-ups,
    though it never came back within 2× of 1e-32.
    """
    tiny = np.finfo(np.float64).tiny
    spikes, low, top = [], float(losses[0]), None
    for step, loss in enumerate(map(float, losses)):
        if top is None:
            if loss > _SPIKE * max(low, tiny):
                top = step
            low = min(low, loss)
        elif loss > losses[top]:
            top = step
        elif loss * _SPIKE < losses[top]:  # fell back: the blow-up is over
            spikes.append((top, float(losses[top]) / max(low, tiny)))
            top, low = None, loss
    if top is not None:
        spikes.append((top, float(losses[top]) / max(low, tiny)))
    return spikes


# ---- the long narrow valley ----

# Curvature λ₁ = 0.02 along w₁ and λ₂ = 2 across it (condition number 100).
_CURVATURE = (0.02, 2.0)
_START = (-9.0, 1.5)
_VALLEY_STEPS = 100
_ADAGRAD_LEARNING_RATE = 0.5


def _valley(w: Any) -> Any:
    return 0.5 * (_CURVATURE[0] * w[0] ** 2 + _CURVATURE[1] * w[1] ** 2)


def _lecture_adagrad(learning_rate: Any) -> Any:
    """The lecture's Adagrad: σ the root *mean* square of all past gradients, then −η."""
    import optax

    from jaxtrain.optim import scale_by_learning_rate, scale_by_root_mean_square_history

    return optax.chain(scale_by_root_mean_square_history(), scale_by_learning_rate(learning_rate))


_RMSPROP_LEARNING_RATE, _RMSPROP_DECAY = 0.1, 0.9
_VALLEY_LABELS = {
    "sgd_large": "SGD η = 0.9",
    "sgd_small": "SGD η = 0.2",
    "adagrad": f"Adagrad η = {_ADAGRAD_LEARNING_RATE:g}",
    "rmsprop": f"RMSProp η = {_RMSPROP_LEARNING_RATE:g}",
    "adam": "Adam η = 0.3",
    # learning_rate_decay's runs: the lecture's decay ηᵗ = η/√(t+1), and optax's root-sum form.
    "adagrad_decay": f"Adagrad ηᵗ = {_ADAGRAD_LEARNING_RATE:g}/√(t+1)",
    "adagrad_sum": f"root-sum Adagrad η = {_ADAGRAD_LEARNING_RATE:g}, s₀ = 0",
}
_NARROW_KEYS = ("sgd_large", "sgd_small", "adagrad", "rmsprop", "adam")


@functools.lru_cache(maxsize=16)
def _valley_optimizer(key: str) -> Any:
    """The optimizer of ``_VALLEY_LABELS[key]``, one object per key: optimize_trajectory
    caches its compiled run per optimizer object."""
    from jaxtrain.optim import adagrad, adam, rmsprop, sgd
    from jaxtrain.optim.schedules import inverse_sqrt

    eta = _ADAGRAD_LEARNING_RATE
    factories: dict[str, Callable[[], Any]] = {
        "sgd_large": lambda: sgd(0.9),
        "sgd_small": lambda: sgd(0.2),
        "adagrad": lambda: _lecture_adagrad(eta),
        "rmsprop": lambda: rmsprop(_RMSPROP_LEARNING_RATE, decay=_RMSPROP_DECAY),
        "adam": lambda: adam(0.3),
        "adagrad_decay": lambda: _lecture_adagrad(inverse_sqrt(1, 0, scale=eta)),
        "adagrad_sum": lambda: adagrad(eta, initial_accumulator_value=0.0),
    }
    return factories[key]()


@functools.lru_cache(maxsize=16)
def _valley_run(key: str, steps: int) -> dict[str, np.ndarray]:
    """One optimizer's path on the valley, with the gradient and η/σᵢ at every step.

    Returns ``path`` (θ⁰ … θᵀ), ``loss`` (L(θ⁰) … L(θᵀ)), ``grad`` (gᵗ, t < T) and, for the
    adaptive methods, ``step_size`` (the ηᵗ/σᵢᵗ that step t used, read from the state by
    :func:`jaxtrain.optim.effective_step_size`).
    """
    import jax
    import jax.numpy as jnp

    from jaxtrain.optim import effective_step_size, optimize_trajectory

    optimizer = _valley_optimizer(key)
    path, losses = optimize_trajectory(optimizer, _valley, jnp.asarray(_START), steps)
    adaptive = not key.startswith("sgd")

    def replay(state: Any, theta: Any) -> tuple[Any, Any]:
        grad = jax.grad(_valley)(theta)
        _, state = optimizer.update(grad, state, theta)
        return state, (grad, effective_step_size(optimizer, state) if adaptive else grad)

    _, (grads, step_sizes) = jax.jit(lambda p: jax.lax.scan(replay, optimizer.init(p[0]), p[:-1]))(
        path
    )
    run = {"path": _read_only(path), "loss": _read_only(losses), "grad": _read_only(grads)}
    if adaptive:
        run["step_size"] = _read_only(step_sizes)
    return run


def _valley_surface() -> dict[str, np.ndarray]:
    import jax.numpy as jnp

    from jaxtrain.landscape import loss_surface_2d

    w1, w2 = jnp.linspace(-10.0, 2.0, 121), jnp.linspace(-2.5, 2.5, 61)
    e1, e2 = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
    surface = loss_surface_2d(_valley, jnp.zeros(2), e1, e2, w1, w2)
    return {"w1": np.asarray(w1), "w2": np.asarray(w2), "loss": np.asarray(surface)}


def _blow_up(run: dict[str, np.ndarray], threshold: float) -> dict[str, Any]:
    """The loss's first spike (or, without one, its largest rise) and the step across before it.

    ``onset`` is the first step of the unbroken stretch, ending just before the spike, in
    which the step across the valley η/σ₂ stayed above ``threshold`` = 2/λ₂ (``None`` if the
    step before the spike was below it); ``peak_step_size`` is its largest value there, and
    ``largest_step_size_before`` its largest value at any step before the spike.
    """
    losses, across = run["loss"], run["step_size"][:, 1]
    spikes = _spikes(losses)
    if spikes:
        spike, ratio = spikes[0]
    else:  # no spike: describe the largest rise
        spike = int(np.argmax(_rises(losses))) + 1
        ratio = float(_rises(losses)[spike - 1])
    below = np.nonzero(across[:spike] <= threshold)[0]
    onset = int(below[-1]) + 1 if below.size else 0
    stretch = slice(onset, spike)
    out: dict[str, Any] = {
        "spikes": len(spikes),
        "spike_step": spike,
        "spike_ratio": ratio,
        "loss_before_spike": float(np.min(losses[:spike])),
        "loss_at_spike": float(losses[spike]),
        "step_size_at_spike": float(across[spike]) if spike < len(across) else math.nan,
        "largest_step_size_before": float(np.max(across[:spike])) if spike else math.nan,
        "onset": None,
        "peak_step_size": math.nan,
        "peak_step": None,
        "w2_at_onset": math.nan,
        "w2_at_spike": float(abs(run["path"][spike, 1])),
        "grad_across_at_onset": math.nan,
    }
    if onset < spike:
        peak = onset + int(np.argmax(across[stretch]))
        out.update(
            onset=onset,
            peak_step_size=float(across[peak]),
            peak_step=peak,
            w2_at_onset=float(abs(run["path"][onset, 1])),
            grad_across_at_onset=float(abs(run["grad"][onset, 1])),
        )
    return out


def narrow_surface(config: LectureConfig, seed: int = 0) -> Claim:
    """SGD, Adagrad, RMSProp and Adam on a long narrow valley, from the same start.

    L(w) = ½(λ₁w₁² + λ₂w₂²) with λ₁ = 0.02 along the valley and λ₂ = 2 across it. SGD is
    stable across only for η < 2/λ₂ = 1 and then crawls along; the adaptive methods divide by
    σᵢ per parameter (Adagrad here is the lecture's, σ the root *mean* square). RMSProp's
    step across the valley, η/σ₂, is read from its state at every step: the measurement
    behind its loss spike. The run is deterministic; ``config`` and ``seed`` do not change it.

    Returns:
      A claim whose numbers hold each optimizer's path and losses, the loss surface, Adagrad's
      and RMSProp's η/σᵢ per step, RMSProp's first step and its spike (``rmsprop_spike``).
    """
    del config, seed  # a 2-D toy: the same at every size and seed
    threshold = 2.0 / _CURVATURE[1]
    numbers: dict[str, Any] = {
        "steps": _VALLEY_STEPS,
        "start": np.asarray(_START),
        "curvatures": np.asarray(_CURVATURE),
        "stability_threshold_across": threshold,
        "surface": _valley_surface(),
        "runs": {},
    }
    for key in _NARROW_KEYS:
        run = _valley_run(key, _VALLEY_STEPS)
        numbers["runs"][key] = {
            "label": _VALLEY_LABELS[key],
            "path": run["path"],
            "loss": run["loss"],
            "final_loss": float(run["loss"][-1]),
        }
        if "step_size" in run:
            numbers["runs"][key]["step_size"] = run["step_size"]
    adagrad_steps = numbers["runs"]["adagrad"]["step_size"][-1]
    numbers["adagrad_step_size_along"] = float(adagrad_steps[0])
    numbers["adagrad_step_size_across"] = float(adagrad_steps[1])
    rmsprop = _valley_run("rmsprop", _VALLEY_STEPS)
    numbers["rmsprop_learning_rate"] = _RMSPROP_LEARNING_RATE
    numbers["rmsprop_decay"] = _RMSPROP_DECAY
    numbers["rmsprop_first_step"] = np.abs(rmsprop["path"][1] - rmsprop["path"][0])
    numbers["rmsprop_spike"] = {
        "step_size_at_start": float(rmsprop["step_size"][0, 1]),
        **_blow_up(rmsprop, threshold),
    }
    return Claim(
        section=_ID,
        id="narrow_surface",
        title="A long narrow valley: one η for all, or one per parameter",
        numbers=numbers,
        figure=_narrow_figure(numbers),
        caption=_narrow_caption(numbers),
    )


def _valley_panels(surface: dict[str, Any]) -> tuple[Any, tuple[Any, Any, Any]]:
    """Three panels: the valley's contours (for paths), the loss and the step size per step."""
    import matplotlib.pyplot as plt

    from jaxtrain.plot import plot_loss_surface_2d

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4), width_ratios=(1.5, 1, 1))
    plot_loss_surface_2d(
        surface["w1"],
        surface["w2"],
        surface["loss"],
        axes[0],
        levels=25,
        colorbar=False,
        xlabel="w₁",
        ylabel="w₂",
    )
    return fig, tuple(axes)


def _narrow_figure(numbers: dict[str, Any]) -> Any:
    fig, (ax_path, ax_loss, ax_step) = _valley_panels(numbers["surface"])
    colors = {}
    for key, run in numbers["runs"].items():
        path = run["path"]
        (line,) = ax_path.plot(path[:, 0], path[:, 1], ".-", ms=2, lw=1, label=run["label"])
        colors[key] = line.get_color()
        ax_loss.plot(run["loss"], color=colors[key], label=run["label"])
    lam1, lam2 = numbers["curvatures"]
    ax_path.set(title=f"{numbers['steps']} steps on L = ½({lam1:g} w₁² + {lam2:g} w₂²)")
    ax_path.legend(fontsize=7, loc="upper right")
    ax_loss.set(xlabel="step t", ylabel="loss", yscale="log", title="loss")
    spike = numbers["rmsprop_spike"]
    ax_loss.axvline(spike["spike_step"], color=colors["rmsprop"], ls=":", lw=1)
    for key in ("adagrad", "rmsprop"):
        run = numbers["runs"][key]
        ax_step.plot(run["step_size"][:, 1], color=colors[key], label=f"{run['label']}: η/σ₂")
    ax_step.axhline(
        numbers["stability_threshold_across"], color="gray", ls="--", lw=1, label="2/λ₂"
    )
    ax_step.axvline(spike["spike_step"], color=colors["rmsprop"], ls=":", lw=1)
    ax_step.set(xlabel="step t", ylabel="step across the valley η/σ₂", yscale="log", title="η/σ₂")
    ax_step.legend(fontsize=7)
    fig.set_layout_engine("tight")
    return fig


def _narrow_caption(numbers: dict[str, Any]) -> str:
    runs = numbers["runs"]
    lam1, lam2 = numbers["curvatures"]
    sgd = {key: runs[key]["final_loss"] for key in ("sgd_large", "sgd_small")}
    best_sgd = min(sgd.values())
    adaptive = {key: runs[key]["final_loss"] for key in ("adagrad", "rmsprop", "adam")}
    beat = [runs[k]["label"].split(" η")[0] for k, v in adaptive.items() if v < best_sgd]
    text = (
        f"A valley {lam2 / lam1:.0f}× steeper across (w₂, λ₂ = {lam2:g}) than along (w₁, λ₁ = "
        f"{lam1:g}), {numbers['steps']} steps from ({numbers['start'][0]:g}, "
        f"{numbers['start'][1]:g}). One η for both: SGD η = 0.9 (below 2/λ₂ = "
        f"{numbers['stability_threshold_across']:g}) zig-zags across and ends at loss "
        f"{sgd['sgd_large']:.3g}, η = 0.2 crawls along and ends at {sgd['sgd_small']:.3g}. "
        f"One step per parameter: Adagrad (σ the root mean square of past gradients) ends at "
        f"{adaptive['adagrad']:.1e}, RMSProp at {adaptive['rmsprop']:.1e}, Adam at "
        f"{adaptive['adam']:.1e}"
    )
    if len(beat) == len(adaptive):
        text += ", all below the better SGD"
    elif beat:
        text += f"; only {' and '.join(beat)} end below the better SGD"
    else:
        text += "; none ends below the better SGD"
    across = numbers["adagrad_step_size_across"]
    text += (
        f". Adagrad's step η/σᵢ ends at {numbers['adagrad_step_size_along']:.3g} along and "
        f"{beside(across, numbers['stability_threshold_across'])} across"
        + (
            f", already above 2/λ₂ = {numbers['stability_threshold_across']:g} (the "
            "learning-rate-decay claim runs on from here). "
            if across > numbers["stability_threshold_across"]
            else ". "
        )
    )
    first = numbers["rmsprop_first_step"]
    eta, alpha = numbers["rmsprop_learning_rate"], numbers["rmsprop_decay"]
    text += (
        f"RMSProp's first step moves each coordinate by {first[0]:.3f} = η/√(1 − α) "
        f"(η = {eta:g}, α = {alpha:g}): its σ² starts at 0, as in optax and PyTorch, where "
        f"the lecture's σ⁰ = |g⁰| would move η = {eta:g}. "
    )
    return text + _rmsprop_spike_text(numbers["rmsprop_spike"], numbers)


def _rmsprop_spike_text(spike: dict[str, Any], numbers: dict[str, Any]) -> str:
    threshold = numbers["stability_threshold_across"]
    lam2 = numbers["curvatures"][1]
    if not spike["spikes"]:
        return f"RMSProp's loss does not spike here ({_largest_rise(spike['spike_ratio'])})."
    text = (
        f"RMSProp's loss jumps at step {spike['spike_step']} from {spike['loss_before_spike']:.2g}"
        f" to {spike['loss_at_spike']:.2g}. "
    )
    if spike["onset"] is None:
        # ``onset`` is None when the step just before the spike was below the threshold: that
        # step is what was measured, not every step before it.
        return text + (
            f"Its measured step across, η/σ₂, was below 2/λ₂ = {threshold:g} at the step before "
            "it, so the forgetting of σ does not explain this spike."
        )
    multiplier = 1 - lam2 * spike["peak_step_size"]
    return text + (
        f"The measured step across the valley explains it: η/σ₂ was "
        f"{spike['step_size_at_start']:.3f} at step 0, but once w₂ had settled σ₂² ← ασ₂² "
        f"forgot the large early gradients, and η/σ₂ passed 2/λ₂ = {threshold:g} at step "
        f"{spike['onset']} (where |g₂| = {spike['grad_across_at_onset']:.0e}) and "
        f"reached {beside(spike['peak_step_size'], threshold, 2, fixed=True)} at step "
        f"{spike['peak_step']}. Above 2/λ₂ each step multiplies w₂ by 1 − λ₂η/σ₂ (down to "
        f"{beside(multiplier, -1.0, 1, fixed=True)}), so |w₂| grew from "
        f"{spike['w2_at_onset']:.0e} to {spike['w2_at_spike']:.2f}; the large gradient then "
        f"raised σ₂ and η/σ₂ fell back to {spike['step_size_at_spike']:.2f}."
    )


# ---- learning-rate decay fixes Adagrad's late blow-up ----


def _decay_steps(config: LectureConfig) -> int:
    return config.size(quick=300, full=1000)


def learning_rate_decay(config: LectureConfig, seed: int = 0) -> Claim:
    """The lecture's Adagrad on the valley for longer: constant η blows up late, ηᵗ = η/√(t+1)
    does not.

    With a constant η, once w₂ has settled its gradients are ≈ 0, so σ₂ = √(Σₖ (g₂ᵏ)²/(t+1))
    shrinks and η/σ₂ grows until it passes 2/λ₂, and w₂ is thrown out of the valley. With
    ηᵗ = η/√(t+1) the √(t+1) cancels: ηᵗ/σ₂ = η/√(Σₖ (g₂ᵏ)²) never grows. That decayed rule
    is exactly the root-*sum* Adagrad of optax (and :func:`jaxtrain.optim.adagrad`) with
    s₀ = 0, which the claim checks by running both. Deterministic: ``seed`` is not used.

    Returns:
      A claim whose numbers hold both runs' paths, losses and η/σ₂ per step, the constant-η
      run's blow-up (``blow_up``) and count of blow-ups, the decayed run's largest ηᵗ/σ₂ and
      loss rise, and the largest distance between the decayed and the root-sum paths.
    """
    del seed
    steps = _decay_steps(config)
    threshold = 2.0 / _CURVATURE[1]
    constant = _valley_run("adagrad", steps)
    decayed = _valley_run("adagrad_decay", steps)
    root_sum = _valley_run("adagrad_sum", steps)
    numbers: dict[str, Any] = {
        "steps": steps,
        "learning_rate": _ADAGRAD_LEARNING_RATE,
        "curvatures": np.asarray(_CURVATURE),
        "stability_threshold_across": threshold,
        "surface": _valley_surface(),
        "runs": {
            key: {
                "label": _VALLEY_LABELS[optimizer],
                "path": run["path"],
                "loss": run["loss"],
                "step_size_across": run["step_size"][:, 1],
            }
            for key, optimizer, run in (
                ("constant", "adagrad", constant),
                ("decayed", "adagrad_decay", decayed),
            )
        },
        "blow_up": _blow_up(constant, threshold),
        "decayed_spikes": len(_spikes(decayed["loss"])),
        "decayed_largest_rise": float(np.max(_rises(decayed["loss"]))),
        "decayed_max_step_size": float(np.max(decayed["step_size"][:, 1])),
        "decayed_final_loss": float(decayed["loss"][-1]),
        "constant_final_loss": float(constant["loss"][-1]),
        "root_sum_max_distance": float(np.max(np.abs(decayed["path"] - root_sum["path"]))),
    }
    return Claim(
        section=_ID,
        id="learning_rate_decay",
        title="Learning-rate decay fixes Adagrad's late blow-up",
        numbers=numbers,
        figure=_decay_figure(numbers),
        caption=_decay_caption(numbers),
    )


def _decay_figure(numbers: dict[str, Any]) -> Any:
    fig, (ax_path, ax_loss, ax_step) = _valley_panels(numbers["surface"])
    for key, style in (("constant", "C2"), ("decayed", "C4")):
        run = numbers["runs"][key]
        path = run["path"]
        ax_path.plot(path[:, 0], path[:, 1], ".-", ms=2, lw=0.8, color=style, label=run["label"])
        ax_loss.plot(run["loss"], color=style, label=run["label"])
        ax_step.plot(run["step_size_across"], color=style, label=run["label"])
    ax_path.set(title=f"the lecture's Adagrad, {numbers['steps']} steps")
    ax_path.legend(fontsize=7, loc="upper right")
    ax_loss.set(xlabel="step t", ylabel="loss", yscale="log", title="loss")
    ax_loss.legend(fontsize=7)
    ax_step.axhline(numbers["stability_threshold_across"], color="gray", ls="--", lw=1)
    ax_step.text(0, numbers["stability_threshold_across"] * 1.2, "2/λ₂", color="gray")
    ax_step.set(xlabel="step t", ylabel="ηᵗ/σ₂ across the valley", yscale="log", title="ηᵗ/σ₂")
    ax_step.legend(fontsize=7)
    fig.set_layout_engine("tight")
    return fig


def _largest_rise(ratio: float) -> str:
    """The largest rise of the loss over its lowest value so far, in words: a ratio ≤ 1 is
    no rise at all (the loss only fell)."""
    if ratio <= 1:
        return "the loss never rose above its lowest value so far"
    return f"its largest rise is {beside(ratio, _SPIKE, 2, fixed=True)}× its lowest value so far"


# The decayed rule and the root-sum one take "the same steps" where their paths stay closer.
_SAME_PATHS = 1e-4


def _decay_caption(numbers: dict[str, Any]) -> str:
    eta, steps = numbers["learning_rate"], numbers["steps"]
    threshold = numbers["stability_threshold_across"]
    blow = numbers["blow_up"]
    text = f"The lecture's Adagrad on the valley for {steps} steps. With a constant η = {eta:g}"
    if not blow["spikes"]:
        text += (
            f" the loss never rises above {_SPIKE:g}× its lowest value so far "
            f"({_largest_rise(blow['spike_ratio'])}): no blow-up in these steps"
        )
    else:
        text += (
            f" the loss falls to {blow['loss_before_spike']:.1e}, then jumps to "
            f"{blow['loss_at_spike']:.2g} at step {blow['spike_step']}"
        )
        if blow["spikes"] > 1:
            text += f" (the first of {blow['spikes']} blow-ups)"
        if blow["onset"] is not None:
            text += (
                f": with g₂ ≈ 0, σ₂ = √(Σ g₂²/(t+1)) shrinks, and the measured step across "
                f"η/σ₂ passed 2/λ₂ = {threshold:g} at step {blow['onset']} (where |g₂| = "
                f"{blow['grad_across_at_onset']:.0e}) and reached "
                f"{beside(blow['peak_step_size'], threshold, 2, fixed=True)} at step "
                f"{blow['peak_step']}"
            )
        elif blow["largest_step_size_before"] <= threshold:
            text += f", though η/σ₂ stayed below 2/λ₂ = {threshold:g} before it"
        else:
            # Below the threshold just before the spike is all ``onset = None`` says: earlier
            # steps may have crossed it.
            text += (
                f", though η/σ₂ was below 2/λ₂ = {threshold:g} at the step before it (it "
                f"reached {beside(blow['largest_step_size_before'], threshold, 2, fixed=True)} "
                "earlier)"
            )
    decayed_max = numbers["decayed_max_step_size"]
    text += (
        f". With ηᵗ = η/√(t+1) the √(t+1) cancels, ηᵗ/σ₂ = η/√(Σ g₂²) cannot grow: its "
        f"largest value is {beside(decayed_max, threshold, 3, fixed=True)}, "
        + ("below" if decayed_max < threshold else "yet not below")
        + " 2/λ₂, and the loss "
    )
    if not numbers["decayed_spikes"]:
        text += f"falls without a blow-up to {numbers['decayed_final_loss']:.1e}"
        if numbers["constant_final_loss"] < numbers["decayed_final_loss"]:
            blow_ups = numbers["blow_up"]["spikes"]
            text += (
                f", more slowly along the valley than the constant η, which ends at "
                f"{numbers['constant_final_loss']:.1e}"
                + (f" after its blow-up{'s' if blow_ups > 1 else ''}" if blow_ups else "")
            )
    else:
        text += (
            f"still rises {beside(numbers['decayed_largest_rise'], _SPIKE, 2, fixed=True)}× "
            f"over its lowest value (final {numbers['decayed_final_loss']:.1e})"
        )
    return text + _root_sum_text(numbers["root_sum_max_distance"])


def _root_sum_text(distance: float) -> str:
    """The decayed rule's path against optax's root-sum Adagrad's: the lecture's algebra
    makes them one rule, and the caption says so only where the two paths show it."""
    root_sum = "optax's root-sum Adagrad with s₀ = 0"
    apart = beside(distance, _SAME_PATHS, 1)
    if distance < _SAME_PATHS:
        return (
            f". That decayed rule takes the same steps as {root_sum} (paths at most {apart} "
            "apart): the sum form is the lecture's mean form with decay."
        )
    if math.isnan(distance):
        return (
            f". That decayed rule's path could not be compared with {root_sum} (its distance "
            "is n/a), so these runs do not show that the sum form is the lecture's mean form "
            "with decay."
        )
    return (
        f". That decayed rule does not take the same steps as {root_sum} (paths up to {apart} "
        "apart): these paths do not show that the sum form is the lecture's mean form with "
        "decay."
    )


# ---- how fast σ forgets: RMSProp's α against Adagrad ----

# The slope of the 1-D loss L = s·θ at each step: flat, steep, flat again.
_SLOPES = (0.1, 10.0, 0.1)
_PHASES = (60, 30, 90)  # steps in each phase
_ALPHA_LEARNING_RATE = 0.1
_ALPHAS = (0.5, 0.99)
# "Reacted": η/σ within this factor of η/|g| after a jump.
_WITHIN = 2.0


def _slope_stream() -> np.ndarray:
    return np.concatenate([np.full(n, s) for s, n in zip(_SLOPES, _PHASES, strict=True)])


def _stream_step_sizes(optimizer: Any, grads: np.ndarray) -> np.ndarray:
    """η/σᵗ after each gradient of a 1-D stream, read from the optimizer's state."""
    import jax
    import jax.numpy as jnp

    from jaxtrain.optim import effective_step_size

    def step(state: Any, grad: Any) -> tuple[Any, Any]:
        _, state = optimizer.update(grad[None], state)
        return state, effective_step_size(optimizer, state)[0]

    grads = jnp.asarray(grads, jnp.float32)
    _, sizes = jax.jit(lambda g: jax.lax.scan(step, optimizer.init(jnp.zeros(1)), g))(grads)
    return _read_only(sizes)


def _reaction(sizes: np.ndarray, ideal: np.ndarray, start: int, end: int) -> int | None:
    """Steps after the jump at ``start`` until η/σ is within 2× of η/|g| (None: not by ``end``)."""
    ratio = sizes[start:end] / ideal[start:end]
    close = np.nonzero((ratio <= _WITHIN) & (ratio >= 1 / _WITHIN))[0]
    return int(close[0]) + 1 if close.size else None


def rmsprop_alpha(config: LectureConfig, seed: int = 0) -> Claim:
    """How fast η/σ follows a slope that jumps from 0.1 to 10 and back.

    The lecture's picture of RMSProp: the same parameter meets a flat stretch, a steep one and
    a flat one again, and its step should be small on the steep part and large on the flat
    ones. Here the loss is L = s·θ with the slope s = 0.1, then 10, then 0.1 (the gradient is
    s whatever θ is). RMSProp's σ² ← ασ² + (1 − α)g² forgets at the rate α; Adagrad's root
    mean square remembers every gradient equally. RMSProp runs with bias correction, so
    σ⁰ = |g⁰| as in the lecture. Deterministic: ``config`` and ``seed`` do not change it.

    Returns:
      A claim whose numbers hold the slopes, η/σ per step of each method, and the steps each
      took after each jump to come within 2× of η/|g| (None if it did not).
    """
    del config, seed
    from jaxtrain.optim import rmsprop

    grads = _slope_stream()
    ideal = _ALPHA_LEARNING_RATE / grads
    jump_up, jump_down = _PHASES[0], _PHASES[0] + _PHASES[1]
    methods = {
        f"RMSProp α = {a:g}": rmsprop(_ALPHA_LEARNING_RATE, decay=a, bias_correction=True)
        for a in _ALPHAS
    }
    methods["Adagrad"] = _lecture_adagrad(_ALPHA_LEARNING_RATE)
    numbers: dict[str, Any] = {
        "learning_rate": _ALPHA_LEARNING_RATE,
        "slopes": np.asarray(_SLOPES),
        "phases": np.asarray(_PHASES),
        "gradient": _read_only(grads),
        "ideal_step_size": _read_only(ideal),
        "methods": {},
    }
    for name, optimizer in methods.items():
        sizes = _stream_step_sizes(optimizer, grads)
        numbers["methods"][name] = {
            "step_size": sizes,
            "steps_to_react_up": _reaction(sizes, ideal, jump_up, jump_down),
            "steps_to_react_down": _reaction(sizes, ideal, jump_down, len(grads)),
            "step_size_before_up": float(sizes[jump_up - 1]),
            "step_size_end_of_steep": float(sizes[jump_down - 1]),
            "step_size_at_end": float(sizes[-1]),
        }
    return Claim(
        section=_ID,
        id="rmsprop_alpha",
        title="How fast σ forgets: RMSProp's α against Adagrad",
        numbers=numbers,
        figure=_alpha_figure(numbers),
        caption=_alpha_caption(numbers),
    )


def _alpha_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, (ax_slope, ax_step) = plt.subplots(
        2, 1, figsize=(8, 5.6), sharex=True, height_ratios=(1, 2)
    )
    steps = np.arange(len(numbers["gradient"]))
    ax_slope.step(steps, numbers["gradient"], where="post", color="k")
    ax_slope.set(ylabel="slope g = dL/dθ", yscale="log", title="L = s·θ: flat, steep, flat")
    ax_step.plot(steps, numbers["ideal_step_size"], "k--", lw=1, label="η/|g| (a step of η)")
    for name, method in numbers["methods"].items():
        ax_step.plot(steps, method["step_size"], lw=1.4, label=name)
    ax_step.set(xlabel="step t", ylabel="η/σᵗ", yscale="log")
    ax_step.legend(fontsize=8)
    fig.set_layout_engine("tight")
    return fig


def _after(steps: int | None, window: int) -> str:
    return f"{steps} step{'s' if steps != 1 else ''}" if steps is not None else f"> {window} steps"


def _alpha_caption(numbers: dict[str, Any]) -> str:
    slopes, phases = numbers["slopes"], numbers["phases"]
    methods = numbers["methods"]
    up_window, down_window = int(phases[1]), int(phases[2])
    text = (
        f"L = s·θ with the slope s = {slopes[0]:g} for {phases[0]} steps, {slopes[1]:g} for "
        f"{phases[1]}, then {slopes[2]:g} again; η = {numbers['learning_rate']:g}. A step of η "
        f"needs η/σ = η/|g| (dashed). Steps until η/σ is within 2× of it after the jump to "
        f"{slopes[1]:g} / back to {slopes[2]:g}: "
        + "; ".join(
            f"{name} {_after(m['steps_to_react_up'], up_window)} / "
            f"{_after(m['steps_to_react_down'], down_window)}"
            for name, m in methods.items()
        )
        + ". "
    )
    rms = [methods[f"RMSProp α = {a:g}"] for a in _ALPHAS]

    def slower(a: dict[str, Any], b: dict[str, Any], key: str, window: int) -> bool:
        # a reacts later than b (no reaction counts as later than any).
        x = window + 1 if a[key] is None else a[key]
        y = window + 1 if b[key] is None else b[key]
        return x > y

    if slower(rms[1], rms[0], "steps_to_react_up", up_window) and slower(
        rms[1], rms[0], "steps_to_react_down", down_window
    ):
        text += (
            f"The smaller α = {_ALPHAS[0]:g} forgets faster and follows both jumps sooner than "
            f"α = {_ALPHAS[1]:g}. "
        )
    else:
        text += (
            f"Here α = {_ALPHAS[0]:g} does not follow both jumps sooner than α = {_ALPHAS[1]:g}. "
        )
    adagrad = methods["Adagrad"]
    ratio = numbers["ideal_step_size"][-1] / adagrad["step_size_at_end"]
    if adagrad["steps_to_react_down"] is None:
        text += (
            f"Adagrad's σ averages every past gradient, the steep ones included, so back on the "
            f"flat part its step stays {beside(ratio, _WITHIN, 1)}× too small after "
            f"{counted(down_window, 'step')}."
        )
    else:
        text += (
            f"Adagrad's σ, the mean over all past gradients, still follows the drop within "
            f"{counted(adagrad['steps_to_react_down'], 'step')} here."
        )
    return text


# ---- m and σ do not cancel ----

_STREAM_STEPS = 60
_STEADY, _BOUNCING = 0.1, 10.0
_MOMENTUM_LEARNING_RATE, _B1 = 0.01, 0.9
_B2 = 0.999  # Adam's default β₂, which the state does not keep (as in optax)


def _stream_updates(optimizer: Any, grads: np.ndarray) -> tuple[np.ndarray, Any]:
    """The updates an optimizer makes for a stream of gradients [T, n], and its states stacked."""
    import jax
    import jax.numpy as jnp

    def step(state: Any, grad: Any) -> tuple[Any, Any]:
        updates, state = optimizer.update(grad, state)
        return state, (updates, state)

    init = optimizer.init(jnp.zeros(grads.shape[1]))
    _, (updates, states) = jax.jit(lambda g: jax.lax.scan(step, init, g))(
        jnp.asarray(grads, jnp.float32)
    )
    return np.asarray(updates, np.float64), states


def momentum_and_sigma(config: LectureConfig, seed: int = 0) -> Claim:
    """Adam's m and σ both average past gradients, yet they do not cancel.

    m ← β₁m + (1 − β₁)g adds the gradients with their signs; σ² ← β₂σ² + (1 − β₂)g² adds only
    their squares. For a steady gᵗ = c, m̂/σ̂ = 1; for a gradient bouncing gᵗ = ±c (a parameter
    overshooting from one wall of a valley to the other) m̂ → ±c(1 − β₁)/(1 + β₁) while σ̂ = c,
    so m̂/σ̂ → (1 − β₁)/(1 + β₁). The run feeds two parameters such gradients, a steady 0.1
    and a bouncing ±10, to Adam and to RMSProp (σ alone, bias-corrected like Adam's).
    Deterministic: ``config`` and ``seed`` do not change it.

    Returns:
      A claim whose numbers hold the gradients, each method's updates and last step per
      parameter, and Adam's m̂/σ̂ per step beside its limits 1 and (1 − β₁)/(1 + β₁).
    """
    del config, seed
    from jaxtrain.optim import adam, rmsprop

    t = np.arange(_STREAM_STEPS)
    grads = np.stack([np.full(_STREAM_STEPS, _STEADY), _BOUNCING * (-1.0) ** t], axis=1)
    rms_updates, _ = _stream_updates(rmsprop(_MOMENTUM_LEARNING_RATE, bias_correction=True), grads)
    adam_updates, states = _stream_updates(adam(_MOMENTUM_LEARNING_RATE, b1=_B1, b2=_B2), grads)
    moments = states[0]  # ScaleByAdamState, each field stacked over the steps
    count = np.asarray(moments.count, np.float64)[:, None]
    m_hat = np.asarray(moments.mu, np.float64) / (1 - _B1**count)
    b2 = _B2
    sigma_hat = np.sqrt(np.asarray(moments.nu, np.float64) / (1 - b2**count))
    ratio = m_hat / sigma_hat
    numbers: dict[str, Any] = {
        "steps": _STREAM_STEPS,
        "learning_rate": _MOMENTUM_LEARNING_RATE,
        "b1": _B1,
        "gradient": _read_only(grads),
        "theory_steady": 1.0,
        "theory_bouncing": (1 - _B1) / (1 + _B1),
        "m_over_sigma": _read_only(ratio),
        "m_over_sigma_last": np.abs(ratio[-1]),
        "methods": {
            name: {"updates": _read_only(updates), "last_step": np.abs(updates[-1])}
            for name, updates in (
                ("RMSProp (σ only)", rms_updates),
                ("Adam (m and σ)", adam_updates),
            )
        },
    }
    return Claim(
        section=_ID,
        id="momentum_and_sigma",
        title="Why m and σ do not cancel",
        numbers=numbers,
        figure=_momentum_figure(numbers),
        caption=_momentum_caption(numbers),
    )


def _momentum_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, (ax_ratio, ax_step) = plt.subplots(1, 2, figsize=(12, 4))
    steps = np.arange(numbers["steps"])
    names = (f"steady g = {_STEADY:g}", f"bouncing g = ±{_BOUNCING:g}")
    for i, name in enumerate(names):
        (line,) = ax_ratio.plot(steps, np.abs(numbers["m_over_sigma"][:, i]), label=name)
        theory = numbers["theory_steady"] if i == 0 else numbers["theory_bouncing"]
        ax_ratio.axhline(theory, color=line.get_color(), ls="--", lw=1)
    ax_ratio.set(
        xlabel="step t", ylabel="|m̂/σ̂|", yscale="log", title="Adam: |m̂/σ̂| (dashed: limits)"
    )
    ax_ratio.legend(fontsize=8)
    # RMSProp wide and pale underneath, so Adam's lines show where the two coincide.
    for (name, method), (width, alpha) in zip(
        numbers["methods"].items(), ((6, 0.3), (1.4, 1.0)), strict=True
    ):
        for i, param in enumerate(names):
            ax_step.plot(
                steps,
                np.abs(method["updates"][:, i]),
                lw=width,
                alpha=alpha,
                color=f"C{i}",
                label=f"{name}, {param}",
            )
    ax_step.set(
        xlabel="step t",
        ylabel="|Δθᵢ|",
        yscale="log",
        title=f"size of each step, η = {numbers['learning_rate']:g}",
    )
    ax_step.legend(fontsize=7)
    fig.set_layout_engine("tight")
    return fig


def _momentum_caption(numbers: dict[str, Any]) -> str:
    b1 = numbers["b1"]
    steady, bouncing = numbers["m_over_sigma_last"]
    rms = numbers["methods"]["RMSProp (σ only)"]["last_step"]
    adam = numbers["methods"]["Adam (m and σ)"]["last_step"]
    eta, steps = numbers["learning_rate"], numbers["steps"]
    text = (
        f"m adds the gradients with their signs, σ² only their squares: for a steady g = c, "
        f"m̂/σ̂ = 1; for g = ±c bouncing, m̂ → ±c(1 − β₁)/(1 + β₁) while σ̂ = c, so m̂/σ̂ → "
        f"{numbers['theory_bouncing']:.3f} (β₁ = {b1:g}). Fed g = {_STEADY:g} and g = "
        f"±{_BOUNCING:g} for {steps} steps, Adam measures |m̂/σ̂| = {steady:.3f} and "
        f"{bouncing:.3f}; with η = {eta:g} its last steps are {adam[0]:.2g} and "
        f"{adam[1]:.2g}, where RMSProp, σ alone, steps {rms[0]:.2g} and {rms[1]:.2g}. "
    )
    if bouncing < 0.5 * steady:
        return text + (
            "σ removes the gradient's size, m keeps its direction: they do not cancel, and "
            f"Adam's step for the bouncing parameter is {adam[0] / adam[1]:.0f}× smaller than "
            "for the steady one."
        )
    return text + "Here m̂/σ̂ is not much smaller for the bouncing parameter than the steady one."


# ---- full-batch training at the edge of stability (and the stalled loss it shows) ----

_EDGE_QUICK = {"learning_rates": (0.5,), "steps": 240, "every": 20}
_EDGE_FULL = {"learning_rates": (0.1, 0.2, 0.5), "steps": 3000, "every": 25}
_EDGE_ADAM = {"learning_rates": (3e-3,), "steps": 2000, "every": 25}  # full size only
_NUM_EXAMPLES = 1000
# λ/threshold at or above this counts as "at the edge".
_AT_EDGE = 0.95
# "Within 10% of" the threshold in a caption: every ratio of the last part within this of 1.
_NEAR = 0.1
# The hover ratio is summarized over this last fraction of the run.
_LAST_PART = 0.5


@functools.lru_cache(maxsize=16)
def _edge_run(
    optimizer: str, learning_rate: float, steps: int, every: int, seed: int
) -> dict[str, np.ndarray]:
    """Full-batch training of the stability setting with λmax measured every ``every`` steps.

    Returns arrays over the steps: ``loss`` L(θₜ) before step t, ``grad_norm`` ‖gₜ‖, and
    ``sharpness`` and ``threshold`` (NaN at steps not measured).
    """
    from jaxtrain import monitor
    from jaxtrain.train import fit

    _, history = fit(
        stability_model(seed),
        stability_optimizer(optimizer, learning_rate),
        stability_digits(_NUM_EXAMPLES),
        loss=half_squared_error,
        steps=steps,
        batch_size=None,
        seed=seed,
        monitors=[monitor.sharpness(every, preconditioned=optimizer == "adam")],
        progress=False,
    )
    records = history.per_step
    return {
        "loss": _read_only(records["loss"]),
        "grad_norm": _read_only(records["grad_norm"]),
        "sharpness": _read_only(records["sharpness"]),
        "threshold": _read_only(records["stability_threshold"]),
    }


def _edge_summary(run: dict[str, np.ndarray]) -> dict[str, Any]:
    """Where λ/threshold went and stayed in one run.

    The ratio λ/threshold is λmax·η/2 for gradient descent. ``edge_step`` is the first measured
    step at or after the ratio's lowest point where it is ≥ 0.95 (``None`` if it never is);
    ``hover_*`` summarize the ratio over the measured steps of the last half of the run, and
    ``loss_rises`` is the fraction of steps there at which the loss rose.
    """
    measured = np.isfinite(run["sharpness"])
    steps = np.nonzero(measured)[0]
    ratio = run["sharpness"][measured] / run["threshold"][measured]
    total = len(run["loss"])
    tail = steps >= total - math.ceil(_LAST_PART * total)
    tail[-1] = True  # at least the last measurement, however short the run
    low = int(np.argmin(ratio))
    reached = np.nonzero(ratio[low:] >= _AT_EDGE)[0]
    tail_loss = run["loss"][total - math.ceil(_LAST_PART * total) :]
    return {
        "threshold": float(run["threshold"][measured][0]),
        "sharpness_start": float(run["sharpness"][measured][0]),
        "sharpness_end": float(run["sharpness"][measured][-1]),
        "lowest_ratio": float(ratio[low]),
        "lowest_step": int(steps[low]),
        "edge_step": int(steps[low + reached[0]]) if reached.size else None,
        "hover_from": int(steps[tail][0]),
        "hover_to": int(steps[tail][-1]),
        "hover_min": float(ratio[tail].min()),
        "hover_max": float(ratio[tail].max()),
        "hover_median": float(np.median(ratio[tail])),
        "loss_start": float(run["loss"][0]),
        "loss_end": float(run["loss"][-1]),
        "loss_rises": float(np.mean(np.diff(tail_loss) > 0)) if len(tail_loss) > 1 else 0.0,
    }


def _edge_runs(config: LectureConfig, seed: int) -> dict[str, dict[str, Any]]:
    """{"gd η=…" or "adam η=…": the run's arrays, its settings and its summary}."""
    groups = [("gd", "sgd", config.size(quick=_EDGE_QUICK, full=_EDGE_FULL))]
    if not config.quick:  # Adam's run for the full size only
        groups.append(("adam", "adam", _EDGE_ADAM))
    runs = {}
    for prefix, optimizer, settings in groups:
        for eta in settings["learning_rates"]:
            run = _edge_run(optimizer, float(eta), settings["steps"], settings["every"], seed)
            measured = np.nonzero(np.isfinite(run["sharpness"]))[0]
            runs[f"{prefix} η={eta:g}"] = {
                "optimizer": prefix,
                "learning_rate": float(eta),
                "every": settings["every"],
                "loss": run["loss"],
                "grad_norm": run["grad_norm"],
                "measured_steps": measured,
                "sharpness": run["sharpness"][measured],
                **_edge_summary(run),
            }
    return runs


def edge_of_stability(config: LectureConfig, seed: int = 0) -> Claim:
    r"""Full-batch training with the sharpness λmax measured beside its stability threshold.

    On a quadratic, gradient descent θ ← θ − ηg is stable only while λmax < 2/η. Cohen et
    al. (2021) found that full-batch training *sharpens* (λmax rises) until λmax ≈ 2/η and
    then hovers there, λmax·η/2 ≈ 1, while the loss keeps falling, non-monotonically. Adam
    does the same with its preconditioned sharpness λmax(P^{-1/2} H P^{-1/2}) against
    (2 + 2β₁)/((1 − β₁)η) = 38/η (Cohen et al. 2022).

    Each η trains the same initial network (:mod:`jaxtrain.lecture._stability_setup`: a tanh
    MLP with three hidden layers of 64 on the first 1,000 standardized digits, ½Σ squared
    error) with ``jaxtrain.monitor.sharpness(every)`` measuring λmax on the whole training set
    inside the compiled steps. Quick: η = 0.5 for 240 steps; full: η ∈ {0.1, 0.2, 0.5} for
    3,000 steps and Adam at η = 0.003 for 2,000.

    Returns:
      A claim whose numbers hold per run (``runs["gd η=0.5"]`` …) the loss and ‖g‖ per step,
      λmax at the measured steps, and the summary: the threshold, the lowest λ/threshold and
      where, the first step back at ≥ 0.95 (``edge_step``, None if never), the range and
      median of λ/threshold over the last half (``hover_*``) and how often the loss rose there.
    """
    runs = _edge_runs(config, seed)
    numbers: dict[str, Any] = {"num_examples": _NUM_EXAMPLES, "runs": runs}
    numbers["steps"] = {name: len(run["loss"]) for name, run in runs.items()}
    return Claim(
        section=_ID,
        id="edge_of_stability",
        title="The edge of stability: λmax beside 2/η",
        numbers=numbers,
        figure=_edge_figure(numbers),
        caption=_edge_caption(numbers),
    )


def _edge_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    runs = numbers["runs"]
    kinds = [k for k in ("gd", "adam") if any(r["optimizer"] == k for r in runs.values())]
    fig, axes = plt.subplots(
        2, len(kinds), figsize=(6 + 5 * (len(kinds) - 1), 6), sharex="col", squeeze=False
    )
    labels = {
        "gd": ("λmax(H)", "threshold 2/η", "gradient descent, full batch"),
        "adam": ("λmax(P^-1/2 H P^-1/2)", "threshold 38/η", "Adam, full batch"),
    }
    for column, kind in enumerate(kinds):
        ax_sharp, ax_loss = axes[0, column], axes[1, column]
        ylabel, threshold_label, title = labels[kind]
        for run in (r for r in runs.values() if r["optimizer"] == kind):
            (line,) = ax_sharp.plot(
                run["measured_steps"],
                run["sharpness"],
                lw=1.2,
                label=f"η = {run['learning_rate']:g}",
            )
            ax_sharp.axhline(run["threshold"], color=line.get_color(), ls="--", lw=1, alpha=0.8)
            ax_loss.plot(run["loss"], color=line.get_color(), lw=1)
        ax_sharp.set(ylabel=ylabel, title=f"{title}: sharpness (dashed: {threshold_label})")
        ax_sharp.legend(fontsize=8)
        ax_loss.set(xlabel="step t", ylabel="training loss", yscale="log")
    fig.set_layout_engine("tight")
    return fig


def _where(summary: dict[str, Any]) -> str:
    """Where the last part's ratios lie relative to the threshold, in words."""
    low, high = summary["hover_min"], summary["hover_max"]
    if low >= 1 - _NEAR and high <= 1 + _NEAR:
        return "within 10% of"
    if low >= 1:
        return "above"
    if high <= 1:
        return "below"
    return "on both sides of"


def _edge_caption(numbers: dict[str, Any]) -> str:
    runs = numbers["runs"]
    gd = {name: run for name, run in runs.items() if run["optimizer"] == "gd"}
    steps = len(next(iter(gd.values()))["loss"])
    parts = [
        f"Full-batch gradient descent on {numbers['num_examples']:,} digits (tanh MLP, ½Σ "
        f"squared error), {steps:,} steps; dashed: 2/η. Over the last half of each run:"
    ]
    for run in gd.values():
        parts.append(
            f"η = {run['learning_rate']:g}: λmax·η/2 = {_ratio_to_one(run['hover_min'])}–"
            f"{_ratio_to_one(run['hover_max'])} over steps {run['hover_from']:,}–"
            f"{run['hover_to']:,}, so λmax is {_where(run)} 2/η{_arrival(run, 'λmax·η/2')}; the "
            f"loss went "
            f"{run['loss_start']:.2f} (step 0) → {run['loss_end']:.4f} (the last), rising at "
            f"{percent(run['loss_rises'])} of the last half's steps."
        )
    for run in (r for r in runs.values() if r["optimizer"] == "adam"):
        parts.append(
            f"Adam η = {run['learning_rate']:g} ({len(run['loss']):,} steps): its "
            f"preconditioned sharpness over 38/η = {_ratio_to_one(run['hover_min'])}–"
            f"{_ratio_to_one(run['hover_max'])} over steps {run['hover_from']:,}–"
            f"{run['hover_to']:,}, so the preconditioned sharpness is {_where(run)} 38/η"
            f"{_arrival(run, 'the ratio')}."
        )
    return " ".join(parts)


def _arrival(run: dict[str, Any], ratio: str) -> str:
    """How the run's ratio to its threshold (named ``ratio``) came to the edge: from where it
    started, through its lowest, to its first step back at ≥ 0.95, or that it never did."""
    start, lowest = run["sharpness_start"] / run["threshold"], run["lowest_ratio"]
    low = f"{beside(lowest, _AT_EDGE, 2, fixed=True)} at step {run['lowest_step']:,}"
    if run["edge_step"] is not None and lowest < _AT_EDGE:
        edge = f"≥ 0.95 by step {run['edge_step']:,}"
        if start >= _AT_EDGE:
            return f" ({ratio} fell to {low} and was back at {edge})"
        if lowest >= start:
            return f" ({ratio} rose from {low} to {edge})"
        return (
            f" ({ratio} started at {beside(start, _AT_EDGE, 2, fixed=True)}, fell to {low} and "
            f"rose to {edge})"
        )
    if run["edge_step"] is None:
        if start >= _AT_EDGE:
            return f" (never back at ≥ 0.95 after its low of {low})"
        if lowest >= start:
            return f" ({ratio} never reaches ≥ 0.95; lowest {low})"
        return f" ({ratio} does not reach ≥ 0.95 after its low of {low})"
    return ""


# The last half is stuck at a large gradient when its loss fell by less than _STUCK_SHARE of
# its gradient's first-order fall Σ η‖g_t‖², at most 1/_STUCK_SLOWDOWN of the first half's
# share (a share that did not drop says the gradient's size sets the pace), while its median
# ‖g‖ kept at least _KEPT_GRADIENT of the first half's (a converged run's share drops too, at
# a vanishing gradient).
_STUCK_SHARE, _STUCK_SLOWDOWN, _KEPT_GRADIENT = 0.1, 3.0, 0.1


def _ratio_to_one(ratio: float) -> str:
    """λmax·η/2 in two decimals, or as many more as show on which side of 1 it lies."""
    return beside(ratio, 1.0, 2, fixed=True)


def stuck_is_not_small_gradient(config: LectureConfig, seed: int = 0) -> Claim:
    """A run whose loss stalls while the gradient stays large.

    When training stops making progress the usual suspect is a critical point, g = 0. The
    lecture's point is to look at ‖g‖ first: often it is not small, and the parameters bounce
    between the walls of a valley instead. This is the largest-η full-batch run of
    :func:`edge_of_stability` (the two claims share it), with ‖g‖ recorded by ``fit`` at
    every step; the sharpness measured in the same run tells whether a step of η overshoots
    along the sharpest direction there (λmax·η/2 ≥ 1).

    Whether the loss is stuck is measured against its own gradient: to first order a step
    −ηg lowers the loss by η‖g‖², so over each half the loss's fall is compared with
    Σ η‖g_t‖² (see :func:`stuck_numbers`).

    Returns:
      A claim whose numbers are :func:`stuck_numbers`'s for that run.
    """
    runs = _edge_runs(config, seed)
    gd = [run for run in runs.values() if run["optimizer"] == "gd"]
    run = max(gd, key=lambda r: r["learning_rate"])
    numbers = stuck_numbers(
        run["loss"], run["grad_norm"], run["learning_rate"], run["hover_median"]
    )
    return Claim(
        section=_ID,
        id="stuck_is_not_small_gradient",
        title="Training stuck is not a small gradient",
        numbers=numbers,
        figure=_stuck_figure(numbers),
        caption=_stuck_caption(numbers),
    )


def stuck_numbers(
    loss: np.ndarray, grad_norm: np.ndarray, learning_rate: float, sharpness_ratio: float
) -> dict[str, Any]:
    """Each half of a full-batch gradient-descent run: its loss's fall against its gradient's.

    A step θ ← θ − ηg lowers the loss by η‖g‖² to first order, so where the loss falls by
    a small share of Σ η‖g_t‖² over its steps, the steps do not descend although ‖g‖ is not
    small (they overshoot), and where it falls by about that much, a slow loss is a small
    gradient.

    Args:
      loss: L(θ_t) at every step t (float, 1-D).
      grad_norm: ‖∇L(θ_t)‖ at the same steps.
      learning_rate: η of the run.
      sharpness_ratio: the median λmax·η/2 over the last half, measured in the run.

    Returns:
      ``loss`` and ``grad_norm``; ``steps``, η, where the last half starts
      (``last_half_from``), the loss at that step and at the end; for each half
      (``first_half_*``, ``last_half_*``) the loss's ``fall``, its gradient's
      ``first_order_fall`` Σ η‖g_t‖² and the median ‖g‖, over the steps from its first
      recorded loss to its last; the last half's smallest ‖g‖ over the same steps and share
      of steps at which the loss rose; and the median λmax·η/2 given.

    Raises:
      ValueError: for fewer than 3 steps (each half needs a step), or a ``grad_norm`` of
        another shape than ``loss``.
    """
    loss = np.asarray(loss, np.float64)
    grad_norm = np.asarray(grad_norm, np.float64)
    steps = len(loss)
    if steps < 3 or grad_norm.shape != loss.shape:
        raise ValueError(
            "stuck_numbers needs a loss and a gradient norm at each of 3 steps or more (a "
            f"step in each half), got shapes {loss.shape} and {grad_norm.shape}"
        )
    half = steps - math.ceil(_LAST_PART * steps)
    numbers: dict[str, Any] = {
        "learning_rate": learning_rate,
        "steps": steps,
        "loss": loss,
        "grad_norm": grad_norm,
        "last_half_from": half,
        "loss_at_half": float(loss[half]),
        "loss_end": float(loss[-1]),
        "last_half_loss_rises": float(np.mean(np.diff(loss[half:]) > 0)),
        "last_half_grad_norm_min": float(np.min(grad_norm[half : steps - 1])),
        "last_half_sharpness_ratio_median": float(sharpness_ratio),
    }
    # The step from θ_t to θ_t+1 moves L(θ_t) to L(θ_t+1): a half's falls pair each loss it
    # records, but its last, with that step's ‖g_t‖.
    for name, first, last in (("first_half", 0, half), ("last_half", half, steps - 1)):
        numbers[f"{name}_fall"] = float(loss[first] - loss[last])
        numbers[f"{name}_first_order_fall"] = learning_rate * float(
            np.sum(np.square(grad_norm[first:last]))
        )
        numbers[f"{name}_grad_norm_median"] = float(np.median(grad_norm[first:last]))
    return numbers


def _stuck_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, ax_loss = plt.subplots(figsize=(8, 4))
    ax_grad = ax_loss.twinx()
    ax_loss.plot(numbers["loss"], color="C0", lw=1.2, label="training loss")
    ax_grad.plot(numbers["grad_norm"], color="C3", lw=1, label="‖g‖")
    ax_loss.axvspan(numbers["last_half_from"], numbers["steps"], color="gray", alpha=0.1)
    half, last = numbers["last_half_from"], numbers["steps"] - 1
    ax_grad.hlines(
        [numbers["first_half_grad_norm_median"], numbers["last_half_grad_norm_median"]],
        [0, half],
        [half, last],
        color="k",
        linestyles="--",
        lw=1,
        label="median ‖g‖ of each half",
    )
    ax_loss.set(
        xlabel="step t",
        ylabel="training loss",
        yscale="log",
        title=f"full-batch gradient descent, η = {numbers['learning_rate']:g}",
    )
    ax_grad.set(ylabel="‖g‖", yscale="log")
    ax_loss.yaxis.label.set_color("C0")
    ax_grad.yaxis.label.set_color("C3")
    fig.legend(loc="upper right", fontsize=8, bbox_to_anchor=(0.88, 0.88))
    fig.set_layout_engine("tight")
    return fig


def _stuck_caption(numbers: dict[str, Any]) -> str:
    half, steps = numbers["last_half_from"], numbers["steps"]
    start, end = numbers["loss_at_half"], numbers["loss_end"]
    if end < start:
        change = f"{percent(1 - end / start)} lower"
    elif end > start:
        change = f"{percent(end / start - 1)} higher"
    else:
        change = "unchanged"
    median, first_median = (
        numbers[f"{name}_grad_norm_median"] for name in ("last_half", "first_half")
    )
    text = (
        f"Full-batch gradient descent at η = {numbers['learning_rate']:g} (the "
        f"edge-of-stability network). Over the last half (steps {half:,}–{steps - 1:,}; shaded) "
        f"the loss went {_g3(start)} → {_g3(end)} ({change}), "
        f"rising at {percent(numbers['last_half_loss_rises'])} of the steps, while ‖g‖ had a "
        f"median of {_g3(median)} (first half: {_g3(first_median)}; dashed) and never fell "
        f"below {_g3(numbers['last_half_grad_norm_min'])}. "
    )
    fall, first_order = numbers["last_half_fall"], numbers["last_half_first_order_fall"]
    share, first_share = (
        _first_order_share(numbers, "last_half"),
        _first_order_share(numbers, "first_half"),
    )
    if not (math.isfinite(fall) and math.isfinite(first_order)):
        return text + "The loss or ‖g‖ was not finite over the last half, so nothing is judged."
    if first_order == 0:
        text += "‖g‖ was 0 over the last half: a critical point, not a large gradient. "
    else:
        if fall > 0:
            moved = f"fell by {_g3(fall)}, {percent(share, against=_STUCK_SHARE)} of it"
        elif fall < 0:
            moved = f"rose by {_g3(-fall)} instead"
        else:
            moved = "did not change"
        shown_first = "no gradient" if math.isnan(first_share) else percent(first_share)
        text += (
            "To first order a step of η lowers the loss by η‖g‖²: summed over the last half "
            f"that is {_g3(first_order)}, and the loss {moved} (first half: {shown_first}). "
        )
        slowed = first_share > 0 and share <= first_share / _STUCK_SLOWDOWN
        kept = median >= _KEPT_GRADIENT * first_median
        if share >= _STUCK_SHARE:
            text += (
                f"That is at least {percent(_STUCK_SHARE)}: the loss falls at the pace its "
                "gradient sets, so this run does not show a stall at a large gradient. "
            )
        elif not slowed:
            text += (
                f"The first half's share was not {_STUCK_SLOWDOWN:g}× higher: its steps "
                "descended as little, so this run shows no stall that set in at a large "
                "gradient. "
            )
        elif not kept:
            text += (
                f"Its median ‖g‖ fell below {percent(_KEPT_GRADIENT)} of the first half's: here "
                "the loss stalls with a gradient that shrank, so this run does not show a stall "
                "at a large gradient. "
            )
        else:
            text += (
                f"The share fell to at most 1/{_STUCK_SLOWDOWN:g} of the first half's while the "
                f"median ‖g‖ was {beside(median / first_median, 1.0, 2)}× the first half's: the "
                "steps barely descend although ‖g‖ is not small, so a stalling loss does not "
                "mean a small gradient. "
            )
    ratio = numbers["last_half_sharpness_ratio_median"]
    text += f"Over the last half the measured λmax·η/2 had a median of {_ratio_to_one(ratio)}: "
    if ratio >= 1:
        return text + (
            "a step of η overshoots along the sharpest direction (the lecture's explanation of "
            "a large ‖g‖ at a stalled loss: the parameters bounce between the walls of a valley)."
        )
    return text + (
        "below 1, so a step of η does not overshoot along the sharpest direction, and the "
        "lecture's explanation of a large ‖g‖ at a stalled loss (the parameters bounce between "
        "the walls of a valley) does not show here."
    )


def _first_order_share(numbers: dict[str, Any], half: str) -> float:
    """A half's loss fall over its first-order fall Σ η‖g_t‖² (NaN where that is not > 0)."""
    first_order = numbers[f"{half}_first_order_fall"]
    if not first_order > 0:
        return math.nan
    return numbers[f"{half}_fall"] / first_order


def _g3(value: float) -> str:
    """A caption's number in 3 significant digits, or as :func:`non_finite` names it."""
    return f"{value:.3g}" if math.isfinite(value) else non_finite(value)


# ---- learning-rate schedules ----

_SCHEDULE_STEPS, _SCHEDULE_WARMUP, _SCHEDULE_PEAK = 1000, 100, 1e-3


def _schedule_table() -> dict[str, Any]:
    from jaxtrain.optim import schedules as sch

    total, warm, peak = _SCHEDULE_STEPS, _SCHEDULE_WARMUP, _SCHEDULE_PEAK
    return {
        "constant": sch.constant(peak),
        "exponential decay (γ = 0.5 per 250)": sch.exponential_decay(peak, 250, 0.5),
        "step decay (÷10 at 500, 800)": sch.piecewise_constant(peak, {500: 0.1, 800: 0.1}),
        "cosine decay": sch.cosine_decay(peak, total),
        f"warmup {warm} + cosine decay": sch.warmup_cosine_decay(0.0, peak, warm, total),
        "Transformer: warmup, then 1/√t": sch.inverse_sqrt(1.0, warm, scale=peak * warm**0.5),
    }


def schedules(config: LectureConfig, seed: int = 0) -> Claim:
    """Learning-rate schedules ηᵗ: decay, warmup then decay, the Transformer's 1/√t.

    Every schedule of :mod:`jaxtrain.optim.schedules` is a function of the step count,
    evaluated here with :func:`jaxtrain.optim.learning_rate_at` at every step. Deterministic.

    Returns:
      A claim whose numbers hold each schedule's ηᵗ at every step and at the steps 0, the end
      of warmup, the middle and the end.
    """
    del config, seed
    from jaxtrain.optim import learning_rate_at

    t = np.arange(_SCHEDULE_STEPS)
    marks = np.array([0, _SCHEDULE_WARMUP, _SCHEDULE_STEPS // 2, _SCHEDULE_STEPS - 1])
    numbers: dict[str, Any] = {
        "steps": _SCHEDULE_STEPS,
        "warmup_steps": _SCHEDULE_WARMUP,
        "peak": _SCHEDULE_PEAK,
        "marks": marks,
        "schedules": {},
    }
    for name, schedule in _schedule_table().items():
        eta = np.asarray(learning_rate_at(schedule, t), np.float64)
        numbers["schedules"][name] = {"eta": _read_only(eta), "at_marks": eta[marks]}
    return Claim(
        section=_ID,
        id="schedules",
        title="Learning-rate schedules",
        numbers=numbers,
        figure=_schedules_figure(numbers),
        caption=_schedules_caption(numbers),
    )


def _schedules_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, (ax_lin, ax_log) = plt.subplots(1, 2, figsize=(12, 4))
    t = np.arange(numbers["steps"])
    for name, schedule in numbers["schedules"].items():
        (line,) = ax_lin.plot(t, schedule["eta"], label=name)
        positive = schedule["eta"] > 0
        ax_log.plot(t[positive], schedule["eta"][positive], color=line.get_color())
    ax_lin.set(xlabel="step t", ylabel="learning rate ηᵗ", ylim=(0, None), title="schedules")
    ax_lin.legend(fontsize=7)
    ax_log.set(
        xlabel="step t",
        ylabel="learning rate ηᵗ",
        yscale="log",
        ylim=(1e-3 * numbers["peak"], 2 * numbers["peak"]),
        title="the same, log scale",
    )
    fig.set_layout_engine("tight")
    return fig


def _schedules_caption(numbers: dict[str, Any]) -> str:
    peak, warm, steps = numbers["peak"], numbers["warmup_steps"], numbers["steps"]
    marks = numbers["marks"]
    cosine = numbers["schedules"]["cosine decay"]["at_marks"]
    warmed = numbers["schedules"][f"warmup {warm} + cosine decay"]["at_marks"]
    transformer = numbers["schedules"]["Transformer: warmup, then 1/√t"]["at_marks"]
    return (
        f"Scheduling makes η depend on the step t; all start from or rise to η = {peak:g}. "
        "Decay shrinks η over training (the lecture's reason: near a minimum, smaller steps "
        f"stop overshooting it): cosine decay is at {cosine[2] / peak:.2f}·η at step "
        f"{marks[2]} and {cosine[3] / peak:.1g}·η at step {marks[3]}. Warmup raises η from "
        f"{warmed[0]:g} to {warmed[1] / peak:.2f}·η over the first {warm} steps (the "
        "lecture's reason: Adam's σ rests on few gradients at first and is unreliable); the "
        f"Transformer's schedule peaks at {transformer[1] / peak:.2f}·η there and falls as "
        f"1/√t, to {transformer[3] / peak:.2f}·η at step {steps - 1}."
    )


# ---- warmup, alone ----

_WARMUP_PEAK, _WARMUP_STEPS, _WARMUP_BATCH = 0.03, 50, 64
_WARMUP_HIDDEN, _WARMUP_DEPTH = 128, 4


def _warmup_epochs(config: LectureConfig) -> int:
    return config.size(quick=4, full=18)


def _warmup_seeds(config: LectureConfig, seed: int) -> tuple[int, ...]:
    return tuple(seed + i for i in range(config.size(quick=2, full=3)))


@functools.lru_cache(maxsize=8)
def _warmup_model(seed: int) -> Any:
    """The 4-layer MLP as an ``(apply, params, state)`` triple; every seed's triple carries
    the ``apply`` of seed 0 (the same network, other initial values), so runs of all seeds
    share ``fit``'s compiled steps."""
    from flax import nnx

    from jaxtrain.nn import MLP, functional

    apply, params, state = functional(
        MLP(64, _WARMUP_HIDDEN, 10, depth=_WARMUP_DEPTH, rngs=nnx.Rngs(seed))
    )
    return (_warmup_model(0)[0] if seed else apply), params, state


@functools.lru_cache(maxsize=4)
def _warmup_optimizer(kind: str) -> Any:
    # One optimizer object per kind: fit reuses its compiled steps across seeds.
    from jaxtrain.optim import adam, radam
    from jaxtrain.optim import schedules as sch

    if kind == "warmup":
        return adam(sch.warmup_constant(0.0, _WARMUP_PEAK, _WARMUP_STEPS))
    return radam(_WARMUP_PEAK) if kind == "radam" else adam(_WARMUP_PEAK)


_WARMUP_LABELS = {
    "none": "Adam, no warmup",
    "warmup": f"Adam, warmup {_WARMUP_STEPS}",
    "radam": "RAdam, no warmup",
}


def warmup(config: LectureConfig, seed: int = 0) -> Claim:
    """Adam at a high learning rate on digits, with and without warmup and nothing else changed.

    Both runs use the same constant η after step ``_WARMUP_STEPS``; the warmup run raises η
    linearly from 0 over those first steps. The early batch losses show the spike that
    warmup is for; each run repeats over seeds (split and initialization). The full size adds
    RAdam, which rectifies σ's variance instead of warming up.

    Returns:
      A claim whose numbers hold per run and seed the first batch loss, the largest batch loss
      in the first ``early_steps`` and its ratio to the first, and the last epoch's mean
      training loss; the first seed's batch losses and η per step.
    """
    from jaxtrain.losses import softmax_cross_entropy
    from jaxtrain.train import fit

    epochs, seeds = _warmup_epochs(config), _warmup_seeds(config, seed)
    kinds = ("none", "warmup") if config.quick else ("none", "warmup", "radam")
    numbers: dict[str, Any] = {
        "peak_learning_rate": _WARMUP_PEAK,
        "warmup_steps": _WARMUP_STEPS,
        "early_steps": _WARMUP_STEPS,
        "epochs": epochs,
        "batch_size": _WARMUP_BATCH,
        "depth": _WARMUP_DEPTH,
        "seeds": np.asarray(seeds),
        "runs": {},
    }
    for kind in kinds:
        first, peak, final, curves = [], [], [], {}
        for s in seeds:
            train, _ = digits_splits(s)
            _, history = fit(
                _warmup_model(s),
                _warmup_optimizer(kind),
                train,
                loss=softmax_cross_entropy,
                epochs=epochs,
                batch_size=_WARMUP_BATCH,
                drop_last=True,
                seed=s,
                progress=False,
            )
            losses = np.asarray(history.per_step["loss"], np.float64)
            first.append(losses[0])
            peak.append(losses[:_WARMUP_STEPS].max())
            final.append(float(history.per_epoch["train_loss"][-1]))
            if not curves:
                curves = {
                    "loss": _read_only(losses),
                    "learning_rate": _read_only(history.per_step["learning_rate"]),
                }
        numbers["runs"][kind] = {
            "label": _WARMUP_LABELS[kind],
            "first_loss": np.asarray(first),
            "max_early_loss": np.asarray(peak),
            "early_spike": np.asarray(peak) / np.asarray(first),
            "final_train_loss": np.asarray(final),
            **curves,
        }
    return Claim(
        section=_ID,
        id="warmup",
        title="Warmup: the same η with and without it",
        numbers=numbers,
        figure=_warmup_figure(numbers),
        caption=_warmup_caption(numbers),
    )


def _warmup_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_spike, ax_lr) = plt.subplots(1, 3, figsize=(15, 4), width_ratios=(1.6, 1, 1))
    early = numbers["early_steps"]
    runs = numbers["runs"]
    for i, run in enumerate(runs.values()):
        losses = run["loss"]
        ax_loss.plot(np.arange(len(losses)), losses, lw=1, color=f"C{i}", label=run["label"])
        ax_lr.plot(run["learning_rate"], color=f"C{i}", label=run["label"])
    ax_loss.axvspan(0, early, color="gray", alpha=0.1)
    ax_loss.set(
        xlabel="step",
        ylabel="training loss (batch)",
        yscale="log",
        title=f"seed {numbers['seeds'][0]}: batch losses",
    )
    ax_loss.legend(fontsize=8)
    positions = np.arange(len(runs))
    spikes = [run["early_spike"] for run in runs.values()]
    ax_spike.bar(positions, [s.mean() for s in spikes], 0.6, color=[f"C{i}" for i in positions])
    for i, values in enumerate(spikes):  # every seed's value, so the spread shows
        ax_spike.plot(np.full(len(values), i), values, "k.", ms=5)
    ax_spike.axhline(1.0, color="gray", ls=":", lw=1)
    ax_spike.set(
        xticks=positions,
        xticklabels=[run["label"] for run in runs.values()],
        ylabel=f"largest batch loss in steps 0–{early - 1} / first",
        title=f"early spike, {counted(len(numbers['seeds']), 'seed')} (dots: each)",
    )
    ax_spike.tick_params(axis="x", labelsize=8)
    ax_lr.set(xlabel="step", ylabel="η used", title="learning rate")
    ax_lr.legend(fontsize=8)  # its own: the panel is read apart from the losses
    fig.set_layout_engine("tight")
    return fig


def _seed_lists(
    runs: dict[str, dict[str, Any]], key: str, decimals: int, thresholds: tuple[float, ...] = ()
) -> dict[str, str]:
    """Each run's per-seed ``key`` values, listed; all in one number of decimals (from
    ``decimals``) that prints any two different values apart, in their order: the caption
    compares the runs seed by seed, and "1.00, 1.00 … lower in every seed" shows no difference."""
    values = [run[key] for run in runs.values()]
    shown = iter(side_by_side(np.concatenate(values).tolist(), thresholds, decimals))
    return {name: ", ".join(next(shown) for _ in v) for name, v in zip(runs, values, strict=True)}


def _warmup_caption(numbers: dict[str, Any]) -> str:
    runs, seeds = numbers["runs"], len(numbers["seeds"])
    none, warm = runs["none"], runs["warmup"]
    early, peak = numbers["early_steps"], numbers["peak_learning_rate"]
    spikes = _seed_lists(runs, "early_spike", 2, (1.0,))  # 1: the loss never rose at first
    final = _seed_lists(runs, "final_train_loss", 3)
    text = (
        f"A {numbers['depth']}-layer MLP on digits, Adam at η = {peak:g}, batch "
        f"{numbers['batch_size']}, {numbers['epochs']} epochs, {counted(seeds, 'seed')}; the only "
        f"difference is a linear warmup of η from 0 over the first {numbers['warmup_steps']} "
        f"steps. Largest batch loss in the first {early} steps over the first one: "
        f"{spikes['none']} without warmup, {spikes['warmup']} with it"
    )
    if "radam" in runs:
        text += f", {spikes['radam']} for RAdam without warmup"
    lower = int(np.sum(warm["early_spike"] < none["early_spike"]))
    halved = bool(np.all(warm["early_spike"] - 1 < 0.5 * (none["early_spike"] - 1)))
    if lower == seeds:
        text += (
            f": warmup {'removes most of' if halved else 'lowers'} the early spike in "
            f"{'every seed' if seeds > 1 else 'the one seed'} (the lecture's reason: "
            "Adam's σ rests on a handful of gradients at first, so the first full-size steps "
            "are unreliable). "
        )
    else:
        text += f": warmup lowers the early peak in only {lower} of {counted(seeds, 'seed')}. "
    wins = int(np.sum(warm["final_train_loss"] < none["final_train_loss"]))
    return text + (
        f"Last epoch's training loss: {final['none']} without, "
        f"{final['warmup']} with warmup (lower with warmup in {wins} of "
        f"{counted(seeds, 'seed')})."
    )


SECTION = Section(
    id=_ID,
    title="4. Adaptive learning rates and schedules",
    summary=(
        "When the loss stops falling the gradient is often not small: the parameters "
        "oscillate across a narrow valley. Adaptive methods give each parameter its own "
        "step θᵢ ← θᵢ − η gᵢ/σᵢ: Adagrad's σᵢ is the root mean square of all past gᵢ, "
        "RMSProp's a moving average σᵢ² ← ασᵢ² + (1 − α)gᵢ², and Adam adds momentum. "
        "Scheduling makes η depend on time: decay, and warmup at the start. The step size "
        "also meets the curvature: Cohen et al. found full-batch gradient descent sharpening "
        "until λmax reaches 2/η, the most a step of η tolerates, then training at that edge."
    ),
    experiments=(
        stuck_is_not_small_gradient,
        narrow_surface,
        edge_of_stability,
        rmsprop_alpha,
        learning_rate_decay,
        schedules,
        warmup,
        momentum_and_sigma,
    ),
)
"""§4 of the lecture: its summary and its claims, in the order the tour, the examples and
the notebooks show them (``SECTION.claims(config, seed=...)``)."""
