"""Tour §3–§4 measured during training: the edge of stability and the critical batch size.

Two experiments on the first N standardized digits (a tanh MLP with three hidden layers of 64,
squared error on one-hot targets), each a pure function of its arguments (seeded, nothing
global) that trains with :func:`jaxtrain.train.fit` and measures with :mod:`jaxtrain.monitor`
inside the compiled steps:

- :func:`edge_of_stability`: full-batch gradient descent (or Adam) with the sharpness λmax
  recorded beside the stability threshold 2/η (38/η for Adam's preconditioned sharpness);
- :func:`critical_batch_size`: steps to reach a training loss as the batch size B grows, beside
  the gradient noise scale B_simple recorded during the same runs.

The tour's figures (:func:`edge_of_stability_figure` in §4, :func:`critical_batch_size_figure`
in §3), ``examples/edge_of_stability.py`` and notebook 04 all call these functions; the
figures and captions are built here too, from the returned numbers only. The experiments'
future home is ``jaxtrain.lecture``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrain.cli._tour import TourContext

__all__ = [
    "ADAM_SETTINGS",
    "BATCH_SETTINGS",
    "EDGE_SETTINGS",
    "critical_batch_size",
    "critical_batch_size_caption",
    "critical_batch_size_figure",
    "edge_of_stability",
    "edge_of_stability_caption",
    "edge_of_stability_figure",
    "edge_summary",
    "half_squared_error",
    "plot_critical_batch_size",
    "plot_edge_of_stability",
    "stability_digits",
]

# The sizes of the tour's figures, examples/edge_of_stability.py and notebook 04: (quick, full).
EDGE_SETTINGS = (
    MappingProxyType({"learning_rates": (0.5,), "steps": 240, "every": 20}),
    MappingProxyType({"learning_rates": (0.1, 0.2, 0.5), "steps": 3000, "every": 25}),
)
# Adam's preconditioned run (full size only).
ADAM_SETTINGS = MappingProxyType({"learning_rates": (3e-3,), "steps": 2000, "every": 25})
BATCH_SETTINGS = (
    MappingProxyType({"batch_sizes": (1, 16, None), "target_loss": 0.2, "max_steps": 1000}),
    MappingProxyType(
        {"batch_sizes": (1, 4, 16, 64, 256, None), "target_loss": 0.1, "max_steps": 6000}
    ),
)

# λ/threshold at or above this counts as "at the edge".
_AT_EDGE = 0.95
# Runs after the first to reach the target stop at this many times its steps (+ a window).
_CAP_MARGIN = 1.5
# "At the edge" in a caption: every ratio of the last part within this of 1.
_NEAR = 0.1
# The hover ratio is summarized over this last fraction of the run.
_LAST_PART = 0.5


def half_squared_error(predictions: jax.Array, labels: jax.Array) -> jax.Array:
    r"""L = ½ Σₖ (ŷₖ − yₖ)² over the 10 classes, averaged over the batch (y one-hot).

    Five times :func:`jaxtrain.losses.mse` (which averages over the 10 outputs too), so its
    curvature, and the η at which training meets 2/η, differ by that factor: the step sizes
    η ∈ {0.1, 0.2, 0.5} of this experiment belong to this loss.
    """
    from jaxtrain.losses import mse

    return 0.5 * jnp.mean(jnp.sum(mse(predictions, labels, reduction="none"), axis=-1))


@functools.lru_cache(maxsize=4)
def stability_digits(num_examples: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """The first ``num_examples`` digits, standardized with their own per-pixel μ and σ.

    Returns read-only arrays ``(x float32 [N, 64], y int32 [N])``.
    """
    from jaxtrain.data import fit_standardizer, load_digits, standardize

    x, y = load_digits()
    if isinstance(num_examples, bool) or not 2 <= int(num_examples) <= len(x):
        raise ValueError(f"num_examples must be in [2, {len(x)}]; got {num_examples!r}")
    x, y = x[: int(num_examples)], y[: int(num_examples)]
    mean, std = fit_standardizer(x)
    x = standardize(x, mean, std)
    for array in (x, y):
        array.setflags(write=False)
    return x, y


@functools.lru_cache(maxsize=4)
def _model(seed: int) -> Any:
    """The network as one ``(apply, params, state)`` triple per seed: runs that share the
    triple and the optimizer share ``fit``'s compiled steps (``fit`` copies the arrays)."""
    from flax import nnx

    from jaxtrain.nn import MLP, functional

    return functional(MLP(64, 64, 10, depth=3, activation="tanh", rngs=nnx.Rngs(seed)))


@functools.lru_cache(maxsize=32)
def _optimizer(name: str, learning_rate: float) -> Any:
    # One optimizer object per setting: fit reuses its compiled steps for an equal optimizer.
    from jaxtrain.optim import adam, sgd

    return adam(learning_rate) if name == "adam" else sgd(learning_rate)


def edge_of_stability(
    learning_rates: Sequence[float],
    *,
    steps: int,
    every: int,
    optimizer: str = "gd",
    num_examples: int = 1000,
    seed: int = 0,
) -> dict[float, dict[str, np.ndarray]]:
    r"""Full-batch training with the sharpness λmax measured beside its stability threshold.

    On a quadratic, gradient descent θ ← θ − ηg is stable only while λmax < 2/η. Cohen et
    al. (2021) found that full-batch training *sharpens* (λmax rises) until λmax ≈ 2/η and
    then hovers there, λmax·η/2 ≈ 1, while the loss keeps falling, non-monotonically. Adam
    does the same with its preconditioned sharpness λmax(P^{-1/2} H P^{-1/2}) against
    (2 + 2β₁)/((1 − β₁)η) = 38/η (Cohen et al. 2022).

    Each η trains the same initial network (tanh MLP, three hidden layers of 64) on
    :func:`stability_digits` with :func:`half_squared_error`, with
    ``jaxtrain.monitor.sharpness(every)`` measuring λmax on the whole training set.

    Args:
      learning_rates: the step sizes η, one run each.
      steps: full-batch steps per run.
      every: measure λmax at steps t ≡ 0 (mod ``every``).
      optimizer: ``"gd"`` (gradient descent, threshold 2/η) or ``"adam"`` (preconditioned
        sharpness, threshold 38/η).
      num_examples: N, the first N digits.
      seed: the network's initialization.

    Returns:
      ``{η: {"step", "loss", "sharpness", "threshold"}}``, each an array over the ``steps``
      steps: the loss L(θₜ) before step t, and λmax and its threshold (NaN at steps not
      measured).

    References:
      Cohen, Kaur, Li, Kolter, Talwalkar, "Gradient Descent on Neural Networks Typically
      Occurs at the Edge of Stability", ICLR 2021, https://arxiv.org/abs/2103.00065

      Cohen et al., "Adaptive Gradient Methods at the Edge of Stability", 2022,
      https://arxiv.org/abs/2207.14484
    """
    from jaxtrain import monitor
    from jaxtrain.train import fit

    if optimizer not in ("gd", "adam"):
        raise ValueError(f"optimizer must be 'gd' or 'adam'; got {optimizer!r}")
    data = stability_digits(num_examples)
    sharpness = monitor.sharpness(every, preconditioned=optimizer == "adam")
    runs = {}
    for eta in learning_rates:
        _, history = fit(
            _model(seed),
            _optimizer(optimizer, float(eta)),
            data,
            loss=half_squared_error,
            steps=steps,
            batch_size=None,
            seed=seed,
            monitors=[sharpness],
            progress=False,
        )
        records = history.per_step
        runs[float(eta)] = {
            "step": np.arange(steps),
            "loss": np.asarray(records["loss"]),
            "sharpness": np.asarray(records["sharpness"]),
            "threshold": np.asarray(records["stability_threshold"]),
        }
    return runs


def edge_summary(run: dict[str, np.ndarray], *, last: float = _LAST_PART) -> dict[str, Any]:
    """The numbers of one :func:`edge_of_stability` run: where λ/threshold went and stayed.

    The ratio λ/threshold is λmax·η/2 for gradient descent. ``edge_step`` is the first
    measured step at or after the ratio's lowest point where it is ≥ 0.95 (``None`` if it
    never is); ``hover_*`` summarize the ratio over the measured steps of the last ``last``
    of the run, and ``loss_rises`` is the fraction of steps there at which the loss rose.
    """
    measured = np.isfinite(run["sharpness"])
    steps = run["step"][measured]
    ratio = run["sharpness"][measured] / run["threshold"][measured]
    total = len(run["step"])
    tail = steps >= total - math.ceil(last * total)
    tail[-1] = True  # at least the last measurement, however short the run
    low = int(np.argmin(ratio))
    reached = np.nonzero(ratio[low:] >= _AT_EDGE)[0]
    loss = run["loss"]
    tail_loss = loss[total - math.ceil(last * total) :]
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
        "loss_start": float(loss[0]),
        "loss_end": float(loss[-1]),
        "loss_rises": float(np.mean(np.diff(tail_loss) > 0)) if len(tail_loss) > 1 else 0.0,
    }


def _centered_mean(values: np.ndarray, width: int) -> np.ndarray:
    """Means over windows of ``width`` values; entry i is centred on step i + width // 2."""
    if width <= 1:
        return values
    return np.convolve(values, np.ones(width) / width, mode="valid")


def critical_batch_size(
    batch_sizes: Sequence[int | None],
    *,
    target_loss: float,
    max_steps: int,
    learning_rate: float = 0.05,
    num_examples: int = 1000,
    seed: int = 0,
    window: int = 200,
    ema: float = 0.95,
) -> dict[str, Any]:
    r"""Steps S(B) to reach a training loss as the batch size B grows, and B_simple beside it.

    Lecture §3: a batch of B examples estimates the gradient with noise of covariance Σ/B.
    McCandlish et al. (2018) model the steps to reach a loss as S(B) = S_min(1 + B_crit/B):
    below the critical batch size B_crit doubling B nearly halves the steps, above it extra
    examples are wasted, and B_crit is close to the noise scale B_simple = tr(Σ)/|G|² (for a
    learning rate tuned at each B; here η is fixed).

    Each B trains the same network as :func:`edge_of_stability` with SGD (fixed η) and
    ``jaxtrain.monitor.gradient_noise_scale(ema=ema)``, every batch of exactly B examples (an
    epoch leaves N mod B for the next shuffle). The training loss at step t is the mean
    of the batch losses over about ``window`` examples centred on t (exact at B = N). The sizes
    run in increasing order, and each run after one that reached the target is capped at 1.5·S
    + window/B of that run's S (steps to a loss do not grow with B, up to noise), rounded up
    to whole epochs.
    ``S_min`` and ``B_crit`` are fitted to the reached sizes by least squares on the relative
    error of S = S_min + S_min·B_crit/B.

    Args:
      batch_sizes: the B to try (``None`` or N for the whole set).
      target_loss: the training loss to reach.
      max_steps: the most steps of any run.
      learning_rate: η of SGD, the same for every B.
      num_examples: N, the first N digits.
      seed: initialization and shuffling.
      window: examples averaged into the training loss estimate.
      ema: the noise scale's moving-average decay.

    Returns:
      A dict: ``batch_size`` (array), ``steps`` (steps to the target, NaN where not reached),
      ``run_steps`` (steps each run trained), ``noise_scale`` (per B, the median of the
      records up to the target: +inf where most records are, i.e. |G|² was not resolved
      above the noise; NaN at B = 1, which has no halves), ``loss`` and ``noise_records``
      (per B, the smoothed loss and the records), ``s_min``, ``b_crit`` (NaN without a
      fit), ``b_simple`` (the median at the largest batch, whose gradient is the most
      exact), and the settings.

    References:
      McCandlish, Kaplan, Amodei, "An Empirical Model of Large-Batch Training", 2018,
      https://arxiv.org/abs/1812.06162
    """
    from jaxtrain import monitor
    from jaxtrain.train import fit

    data = stability_digits(num_examples)
    n = len(data[0])
    sizes = sorted({n if b is None else min(int(b), n) for b in batch_sizes})
    optimizer = _optimizer("gd", float(learning_rate))
    noise = monitor.gradient_noise_scale(ema=ema)
    steps, run_steps, medians, losses, noise_records = [], [], [], [], []
    cap = max_steps
    for size in sizes:
        # Whole epochs only, where the cap allows: a shorter last segment compiles again.
        per_epoch = n // size
        cap = min(max_steps, -(-cap // per_epoch) * per_epoch)
        _, history = fit(
            _model(seed),
            optimizer,
            data,
            loss=half_squared_error,
            steps=cap,
            batch_size=size,
            drop_last=True,  # every batch has B examples: one compilation per B
            seed=seed,
            monitors=[noise],
            progress=False,
        )
        width = -(-window // size)
        smooth = _centered_mean(np.asarray(history.per_step["loss"], np.float64), width)
        below = np.nonzero(smooth <= target_loss)[0]
        reached = int(below[0]) + width // 2 if below.size else None
        records = np.asarray(history.per_step["noise_scale"], np.float64)
        upto = slice(0, cap if reached is None else reached + 1)
        seen = ~np.isnan(records[upto])  # +inf counts: |G|² not resolved above the noise
        median = float(np.median(records[upto][seen])) if seen.any() else math.nan
        steps.append(math.nan if reached is None else reached)
        run_steps.append(cap)
        medians.append(median)
        losses.append(smooth)
        noise_records.append(records)
        if reached is not None:
            cap = min(max_steps, math.ceil(_CAP_MARGIN * reached) + width)
    sizes_arr, steps_arr = np.asarray(sizes), np.asarray(steps, np.float64)
    s_min = b_crit = math.nan
    ok = np.isfinite(steps_arr)
    if ok.sum() >= 2:
        # S = a + b/B, fitted on relative error: rows divided by the measured S.
        design = np.stack([np.ones(ok.sum()), 1.0 / sizes_arr[ok]], axis=1) / steps_arr[ok, None]
        a, b = np.linalg.lstsq(design, np.ones(ok.sum()), rcond=None)[0]
        if a > 0 and b > 0:
            s_min, b_crit = float(a), float(b / a)
    medians_arr = np.asarray(medians)
    with_records = np.nonzero(~np.isnan(medians_arr))[0]
    return {
        "batch_size": sizes_arr,
        "steps": steps_arr,
        "run_steps": np.asarray(run_steps),
        "noise_scale": medians_arr,
        "loss": losses,
        "noise_records": noise_records,
        "s_min": s_min,
        "b_crit": b_crit,
        "b_simple": float(medians_arr[with_records[-1]]) if with_records.size else math.nan,
        "target_loss": float(target_loss),
        "learning_rate": float(learning_rate),
        "num_examples": n,
        "window": int(window),
    }


# ---- figures and captions: built from the returned numbers only ----


def plot_edge_of_stability(
    runs: dict[float, dict[str, np.ndarray]],
    adam_runs: dict[float, dict[str, np.ndarray]] | None = None,
) -> Any:
    """Cohen et al.'s figure: λmax against its threshold per η (top), the loss (bottom)."""
    import matplotlib.pyplot as plt

    columns = 2 if adam_runs else 1
    fig, axes = plt.subplots(
        2, columns, figsize=(6 + 5 * (columns - 1), 6), sharex="col", squeeze=False
    )
    panels = [(runs, "λmax(H)", "threshold 2/η", "gradient descent, full batch")]
    if adam_runs:
        panels.append((adam_runs, "λmax(P^-1/2 H P^-1/2)", "threshold 38/η", "Adam, full batch"))
    for column, (group, ylabel, label, title) in enumerate(panels):
        ax_sharp, ax_loss = axes[0, column], axes[1, column]
        for eta, run in group.items():
            measured = np.isfinite(run["sharpness"])
            (line,) = ax_sharp.plot(
                run["step"][measured], run["sharpness"][measured], lw=1.2, label=f"η = {eta:g}"
            )
            ax_sharp.axhline(
                run["threshold"][measured][0], color=line.get_color(), ls="--", lw=1, alpha=0.8
            )
            ax_loss.plot(run["step"], run["loss"], color=line.get_color(), lw=1)
        ax_sharp.set(ylabel=ylabel, title=f"{title}: sharpness (dashed: {label})")
        ax_sharp.legend(fontsize=8)
        ax_loss.set(xlabel="step t", ylabel="training loss", yscale="log")
    fig.tight_layout()
    return fig


def _steps_text(value: float | None) -> str:
    return "not reached" if value is None or not math.isfinite(value) else f"{int(value):,}"


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


def edge_of_stability_caption(
    runs: dict[float, dict[str, np.ndarray]],
    adam_runs: dict[float, dict[str, np.ndarray]] | None = None,
    *,
    num_examples: int,
) -> str:
    """One sentence per run, from :func:`edge_summary` of the runs' own numbers."""
    steps = len(next(iter(runs.values()))["step"])
    parts = [
        f"Full-batch gradient descent on {num_examples:,} digits (tanh MLP, ½Σ squared "
        f"error), {steps:,} steps; dashed: 2/η. Over the last half of each run:"
    ]
    for eta, run in runs.items():
        s = edge_summary(run)
        sentence = (
            f"η = {eta:g}: λmax·η/2 = {s['hover_min']:.2f}–{s['hover_max']:.2f} over steps "
            f"{s['hover_from']:,}–{s['hover_to']:,}, {_where(s)} 2/η"
        )
        if s["edge_step"] is not None and s["lowest_ratio"] < _AT_EDGE:
            sentence += (
                f" (λmax·η/2 rose from {s['lowest_ratio']:.2f} at step {s['lowest_step']:,} "
                f"to 0.95 by step {s['edge_step']:,})"
            )
        parts.append(
            f"{sentence}; the loss went {s['loss_start']:.2f} → {s['loss_end']:.4f}, rising "
            f"at {100 * s['loss_rises']:.0f}% of those steps."
        )
    for eta, run in (adam_runs or {}).items():
        s = edge_summary(run)
        parts.append(
            f"Adam η = {eta:g}: its preconditioned sharpness over 38/η = {s['hover_min']:.2f}–"
            f"{s['hover_max']:.2f} over steps {s['hover_from']:,}–{s['hover_to']:,}, "
            f"{_where(s)} 38/η (first ≥ 0.95 at step {_steps_text(s['edge_step'])})."
        )
    return " ".join(parts)


def _number(value: Any, missing: str) -> Any:
    """``value`` for the report's numbers, or ``missing`` where it is None or not finite."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    return value


def edge_of_stability_figure(ctx: TourContext) -> None:
    """λmax rises to 2/η and hovers there while the loss keeps falling (Cohen et al. 2021)."""
    settings = ctx.size(*EDGE_SETTINGS)
    steps, every, num_examples = settings["steps"], settings["every"], 1000
    runs = edge_of_stability(**settings, num_examples=num_examples, seed=ctx.seed)
    adam_runs = None
    if not ctx.quick:  # Adam's run for the full tour only
        adam_runs = edge_of_stability(
            **ADAM_SETTINGS, optimizer="adam", num_examples=num_examples, seed=ctx.seed
        )
    numbers: dict[str, Any] = {"steps": steps, "every": every, "num_examples": num_examples}
    for prefix, group in (("gd", runs), ("adam", adam_runs or {})):
        for eta, run in group.items():
            summary = edge_summary(run)
            numbers[f"{prefix} η={eta:g}"] = {
                k: _number(v, "not reached") for k, v in summary.items()
            }
    ctx.add_figure(
        "edge_of_stability",
        plot_edge_of_stability(runs, adam_runs),
        edge_of_stability_caption(runs, adam_runs, num_examples=num_examples),
        numbers,
    )


def plot_critical_batch_size(result: dict[str, Any]) -> Any:
    """Loss per B, steps to the target against B with the fit, and the B_simple records."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_steps, ax_noise) = plt.subplots(1, 3, figsize=(14, 4))
    n, target = result["num_examples"], result["target_loss"]
    sizes, steps = result["batch_size"], result["steps"]
    for size, smooth, records, reached in zip(
        sizes, result["loss"], result["noise_records"], steps, strict=True
    ):
        width = -(-result["window"] // int(size))
        label = f"B = {size}" + (" (all)" if size == n else "")
        (line,) = ax_loss.plot(width // 2 + np.arange(len(smooth)), smooth, lw=1, label=label)
        if math.isfinite(reached):
            ax_loss.plot([reached], [target], "o", color=line.get_color(), ms=4)
        positive = np.isfinite(records) & (records > 0)
        if positive.any():
            ax_noise.plot(
                np.nonzero(positive)[0],
                records[positive],
                lw=0.8,
                color=line.get_color(),
                label=label,
            )
    ax_loss.axhline(target, color="gray", ls=":", lw=1)
    ax_loss.set(xlabel="step", ylabel="training loss", xscale="log", yscale="log")
    ax_loss.set_title(f"SGD η = {result['learning_rate']:g}, target {target:g}")
    ax_loss.legend(fontsize=7)
    ok = np.isfinite(steps)
    ax_steps.plot(sizes[ok], steps[ok], "o-", label="measured S(B)")
    b_crit, b_simple = result["b_crit"], result["b_simple"]
    right = max(n, b_simple if math.isfinite(b_simple) else n) * 2
    if math.isfinite(b_crit):
        grid = np.geomspace(1, right, 100)
        ax_steps.plot(
            grid,
            result["s_min"] * (1 + b_crit / grid),
            "--",
            color="gray",
            label=f"S_min(1 + B_crit/B), B_crit = {b_crit:.1f}",
        )
        ax_steps.axvline(b_crit, color="gray", ls=":", lw=1)
    if math.isfinite(b_simple):
        ax_steps.axvline(
            b_simple, color="tab:red", ls=":", lw=1, label=f"B_simple = {b_simple:.0f}"
        )
        ax_noise.axhline(b_simple, color="tab:red", ls=":", lw=1)
    ax_steps.set(
        xscale="log",
        yscale="log",
        xlabel="batch size B",
        ylabel="steps to the target",
        xlim=(0.7, right),
        title="steps to reach the target loss",
    )
    ax_steps.legend(fontsize=7)
    ax_noise.set(
        xlabel="step",
        ylabel="B_simple = tr(Σ)/|G|²",
        yscale="log",
        title="monitor.gradient_noise_scale",
    )
    ax_noise.legend(fontsize=7)
    fig.tight_layout()
    return fig


def critical_batch_size_caption(result: dict[str, Any]) -> str:
    """What :func:`critical_batch_size` measured: S(B), the knee and B_simple."""
    sizes, steps = result["batch_size"], result["steps"]
    ok = np.nonzero(np.isfinite(steps))[0]
    n = result["num_examples"]
    head = (
        f"SGD with one η = {result['learning_rate']:g} at every batch size on {n:,} digits: "
        f"steps to reach training loss {result['target_loss']:g}"
    )
    if ok.size == 0:
        return head + " were not reached at any batch size."
    text = (
        f"{head} go from {_steps_text(steps[ok[0]])} at B = {sizes[ok[0]]} to "
        f"{_steps_text(steps[ok[-1]])} at B = {sizes[ok[-1]]}"
    )
    missed = [int(b) for b, s in zip(sizes, steps, strict=True) if not math.isfinite(s)]
    if missed:
        text += f" (not reached within the cap at B = {', '.join(map(str, missed))})"
    b_crit, b_simple = result["b_crit"], result["b_simple"]
    if math.isfinite(b_crit):
        text += (
            f"; S = S_min(1 + B_crit/B) fits S_min = {result['s_min']:.0f}, B_crit = {b_crit:.2f}"
        )
    else:
        text += "; S = S_min(1 + B_crit/B) does not fit these steps"
    measured = np.nonzero(~np.isnan(result["noise_scale"]))[0]
    if measured.size:
        largest = sizes[measured[-1]]
        text += f". The noise scale recorded during the run at B = {largest} (median up to the "
        if math.isfinite(b_simple):
            text += f"target) is B_simple = {b_simple:.2f}"
            if math.isfinite(b_crit):
                ratio = b_simple / b_crit
                where = f"{ratio:.1f}× below" if ratio >= 1 else f"{1 / ratio:.1f}× above"
                text += f": the knee sits {where} it"
        else:
            text += "target) is +inf: |G|² was not resolved above the gradient noise"
        small = [
            (int(b), m)
            for b, m in zip(sizes, result["noise_scale"], strict=True)
            if not math.isnan(m) and b != largest
        ]
        if small:
            b, m = small[0]
            text += f" (the run at B = {b} records a median of {m:.1f})"
    return text + "."


def critical_batch_size_figure(ctx: TourContext) -> None:
    """Steps to a target loss against the batch size, beside the gradient noise scale."""
    result = critical_batch_size(**ctx.size(*BATCH_SETTINGS), seed=ctx.seed)
    numbers = {
        "batch_sizes": result["batch_size"],
        "steps_to_target": [_number(float(s), "not reached") for s in result["steps"]],
        "run_steps": result["run_steps"],
        "noise_scale_median": [_number(float(m), "n/a") for m in result["noise_scale"]],
        "s_min": _number(result["s_min"], "no fit"),
        "b_crit": _number(result["b_crit"], "no fit"),
        "b_simple": _number(result["b_simple"], "n/a"),
        "target_loss": result["target_loss"],
        "learning_rate": result["learning_rate"],
        "num_examples": result["num_examples"],
    }
    ctx.add_figure(
        "critical_batch_size",
        plot_critical_batch_size(result),
        critical_batch_size_caption(result),
        numbers,
    )
