"""§3 Batch and momentum: small vs large batches, the critical batch size, momentum over a ridge.

An epoch sees each of the N training examples once, in batches of B; each batch b gives one
update θ ← θ − η·g_b with g_b = ∇L_b(θ), so an epoch makes ⌈N/B⌉ updates (N/B with
``drop_last``). A batch's gradient estimates the full gradient G with noise of covariance Σ/B:
small batches make many noisy updates per epoch, large ones few precise ones, and on parallel
hardware a large batch costs little more time than a small one. The gradient noise scale
B_simple = tr(Σ)/|G|² compares that noise with the signal; McCandlish et al. (2018) model the
steps to reach a loss as S(B) = S_min(1 + B_crit/B), with B_crit close to B_simple.

Momentum moves by a weighted sum of all past gradients, m ← λm − ηg, θ ← θ + m: along a steady
direction the step grows to η/(1 − λ), and the movement built up going downhill can carry θ
over a ridge or a flat region where g = 0.

Experiments:

- :func:`batch_size`: batch 16 against the full batch at equal epochs *and* at equal updates,
  over several seeds, with the time per epoch and per update;
- :func:`critical_batch_size`: the steps S(B) to a training loss as B grows, the fit of
  S_min(1 + B_crit/B), and B_simple recorded by :func:`jaxtrain.monitor.gradient_noise_scale`
  during the same runs (the setting of :mod:`jaxtrain.lecture._stability_setup`);
- :func:`momentum_ridge`: gradient descent and momentum on L(θ) = θ⁴ − 4θ² + θ, and the same
  comparison training an MLP on digits, beside plain SGD at the step η/(1 − λ).

References:
  McCandlish, Kaplan, Amodei, "An Empirical Model of Large-Batch Training", 2018,
  https://arxiv.org/abs/1812.06162
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from jaxtrain._text import beside, counted, printed, side_by_side, signed
from jaxtrain.lecture._claim import Claim, LectureConfig
from jaxtrain.lecture._digits import digits_splits
from jaxtrain.lecture._section import Section
from jaxtrain.lecture._stability_setup import (
    half_squared_error,
    stability_digits,
    stability_model,
    stability_optimizer,
)

__all__ = ["SECTION", "batch_size", "critical_batch_size", "momentum_ridge"]

_ID = "batch_and_momentum"

# ---- the digits MLP shared by the batch-size and momentum experiments ----

_SMALL_BATCH = 16
_LEARNING_RATE = 0.1  # batch_size's η
_MOMENTUM = 0.9
# momentum_ridge's η: η/(1 − λ) = 0.01/0.1 is batch_size's η, so its plain-SGD run at the
# larger step is batch_size's batch-16 run.
_MOMENTUM_LEARNING_RATE = 0.01
# Momentum's final loss "about" plain SGD's at the larger step η/(1 − λ): within this fraction.
_ABOUT = 0.1
_HIDDEN = 64


def _epochs(config: LectureConfig) -> int:
    return config.size(quick=5, full=20)


def _seeds(config: LectureConfig, seed: int) -> tuple[int, ...]:
    return tuple(seed + i for i in range(config.size(quick=2, full=3)))


@functools.lru_cache(maxsize=8)
def _sgd(learning_rate: float, momentum: float) -> Any:
    # One optimizer object per setting: fit reuses its compiled steps for an equal optimizer.
    from jaxtrain.optim import sgd

    return sgd(learning_rate, momentum)


@functools.lru_cache(maxsize=8)
def _mlp(seed: int) -> Any:
    """The one-hidden-layer MLP as an ``(apply, params, state)`` triple.

    Every seed's triple carries the ``apply`` of seed 0 (the same network, other initial
    values), so runs of all seeds share ``fit``'s compiled steps.
    """
    from flax import nnx

    from jaxtrain.nn import MLP, functional

    apply, params, state = functional(MLP(64, _HIDDEN, 10, depth=1, rngs=nnx.Rngs(seed)))
    return (_mlp(0)[0] if seed else apply), params, state


@functools.lru_cache(maxsize=32)
def _digits_run(
    seed: int, batch: int | None, epochs: int, learning_rate: float, momentum: float = 0.0
) -> dict[str, Any]:
    """One SGD run of the one-hidden-layer MLP on digits; ``batch=None`` is the whole set.

    Returns the training loss per epoch, the updates made, the steady epoch time (median after
    the first, which compiles) and the final parameters' training and validation accuracy.
    """
    from jaxtrain.losses import accuracy, softmax_cross_entropy
    from jaxtrain.train import evaluate, fit

    train, val = digits_splits(seed)
    size = len(train[0]) if batch is None else batch
    state, history = fit(
        _mlp(seed),
        _sgd(learning_rate, momentum),
        train,
        loss=softmax_cross_entropy,
        epochs=epochs,
        batch_size=size,
        drop_last=True,  # every batch has B examples: one compilation per B
        seed=seed,
        progress=False,
    )
    times = np.asarray(history.per_epoch["epoch_time"], np.float64)
    train_loss = np.array(history.per_epoch["train_loss"], np.float64)
    train_loss.setflags(write=False)  # cached and shared by the claims that read it
    train_scores = evaluate(state, train, loss=softmax_cross_entropy, metrics=[accuracy])
    val_scores = evaluate(state, val, loss=softmax_cross_entropy, metrics=[accuracy])
    return {
        "train_loss": train_loss,
        "updates": int(history.num_steps),
        "seconds_per_epoch": float(np.median(times[1:] if len(times) > 1 else times)),
        "final_train_loss": float(train_scores["loss"]),
        "train_accuracy": float(train_scores["accuracy"]),
        "val_accuracy": float(val_scores["accuracy"]),
    }


# ---- batch size: equal epochs and equal updates ----

# (key, label) of the three runs of batch_size, in the figure's order.
_BATCH_RUNS = (
    ("batch_16", "batch 16"),
    ("full_equal_epochs", "full batch,\nequal epochs"),
    ("full_equal_updates", "full batch,\nequal updates"),
)


def batch_size(config: LectureConfig, seed: int = 0) -> Claim:
    """Batch 16 against the full batch, at equal epochs and at equal updates, over seeds.

    At equal epochs batch 16 makes N/16 times more updates than the full batch, so a gap
    between them may be the number of updates rather than the noise. A third run gives the
    full batch as many updates as batch 16 made; each run repeats over seeds (split and
    initialization), and the times per epoch and per update come from the first seed.

    Returns:
      A claim whose numbers hold each run's updates, training and validation accuracy per
      seed, the first seed's training loss per epoch, and the steady times.
    """
    epochs = _epochs(config)
    seeds = _seeds(config, seed)
    n_train = len(digits_splits(seeds[0])[0][0])
    updates = epochs * (n_train // _SMALL_BATCH)
    settings = {
        "batch_16": (_SMALL_BATCH, epochs),
        "full_equal_epochs": (None, epochs),
        # One update per epoch: the full batch gets as many updates as batch 16 made.
        "full_equal_updates": (None, updates),
    }
    numbers: dict[str, Any] = {
        "learning_rate": _LEARNING_RATE,
        "epochs": epochs,
        "n_train": n_train,
        "seeds": np.asarray(seeds),
    }
    for key, (batch, run_epochs) in settings.items():
        runs = [_digits_run(s, batch, run_epochs, _LEARNING_RATE) for s in seeds]
        numbers[f"{key}_updates"] = runs[0]["updates"]
        numbers[f"{key}_train_accuracy"] = np.asarray([r["train_accuracy"] for r in runs])
        numbers[f"{key}_val_accuracy"] = np.asarray([r["val_accuracy"] for r in runs])
        numbers[f"{key}_train_loss"] = runs[0]["train_loss"]
    small = _digits_run(seeds[0], _SMALL_BATCH, epochs, _LEARNING_RATE)
    full = _digits_run(seeds[0], None, updates, _LEARNING_RATE)
    numbers["batch_16_seconds_per_epoch"] = small["seconds_per_epoch"]
    numbers["full_batch_seconds_per_epoch"] = full["seconds_per_epoch"]
    return Claim(
        section=_ID,
        id="batch_size",
        title="Small vs large batches: equal epochs and equal updates",
        numbers=numbers,
        figure=_batch_figure(numbers),
        caption=_batch_caption(numbers),
    )


def _batch_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc, ax_time) = plt.subplots(1, 3, figsize=(15, 4))
    n, small_updates = numbers["n_train"], numbers["batch_16_updates"]
    per_epoch_small = small_updates // numbers["epochs"]
    small_loss = numbers["batch_16_train_loss"]
    ax_loss.plot(
        # An epoch's mean loss belongs to the middle of its updates.
        per_epoch_small * (np.arange(len(small_loss)) + 0.5),
        small_loss,
        "o-",
        ms=3,
        label="batch 16 (mean over each epoch)",
    )
    full_loss = numbers["full_equal_updates_train_loss"]
    ax_loss.plot(np.arange(1, len(full_loss) + 1), full_loss, label=f"full batch ({n})")
    equal_epochs = numbers["full_equal_epochs_updates"]
    ax_loss.plot(
        [equal_epochs], [full_loss[equal_epochs - 1]], "s", color="C1", label="equal epochs"
    )
    ax_loss.axvline(small_updates, color="gray", ls=":", lw=1, label="equal updates")
    ax_loss.set(
        xscale="log",
        yscale="log",
        xlabel="update",
        ylabel="training loss",
        title=f"SGD η = {numbers['learning_rate']:g}, against updates",
    )
    ax_loss.legend(fontsize=8)

    positions = np.arange(len(_BATCH_RUNS))
    for offset, split, color in ((-0.2, "train", "C0"), (0.2, "val", "C2")):
        values = [numbers[f"{key}_{split}_accuracy"] for key, _ in _BATCH_RUNS]
        label = "training" if split == "train" else "validation"
        ax_acc.bar(positions + offset, [v.mean() for v in values], 0.4, color=color, label=label)
        for i, v in enumerate(values):  # every seed's value, so the spread shows
            ax_acc.plot(np.full(len(v), i + offset), v, "k.", ms=4)
    ax_acc.set(
        xticks=positions,
        xticklabels=[
            f"{label}\n({numbers[f'{key}_updates']:,} updates)" for key, label in _BATCH_RUNS
        ],
        ylim=(0, 1.05),
        ylabel="accuracy (final parameters)",
        title=f"mean over {len(numbers['seeds'])} seeds (dots: each seed)",
    )
    ax_acc.tick_params(axis="x", labelsize=8)
    ax_acc.legend(fontsize=8, loc="lower left")

    small_epoch = 1e3 * numbers["batch_16_seconds_per_epoch"]
    full_epoch = 1e3 * numbers["full_batch_seconds_per_epoch"]
    names = ["batch 16", f"full batch ({n})"]
    ax_time.bar(np.arange(2) - 0.2, [small_epoch, full_epoch], 0.4, label="ms per epoch")
    ax_time.bar(
        np.arange(2) + 0.2,
        [small_epoch / per_epoch_small, full_epoch],
        0.4,
        label="ms per update",
    )
    ax_time.set(
        xticks=np.arange(2),
        xticklabels=names,
        ylabel="milliseconds",
        title="time (median epoch after compiling)",
    )
    ax_time.legend(fontsize=8)
    fig.set_layout_engine("tight")
    return fig


def _compare(a: np.ndarray, b: np.ndarray, what: str) -> str:
    """Batch 16's per-seed values ``a`` against the full batch's ``b``, in words and points."""
    diff = np.asarray(a) - np.asarray(b)
    mean = 100 * float(diff.mean())  # accuracy points
    if np.all(diff > 0):
        return f"batch 16 is ahead in {what} in every seed, by {mean:.1f} points on average"
    if np.all(diff < 0):
        return f"the full batch is ahead in {what} in every seed, by {-mean:.1f} points on average"
    ahead, behind = int((diff > 0).sum()), int((diff < 0).sum())
    return (
        f"{what} has no consistent winner ({signed(mean)} points for batch 16 on average; ahead "
        f"in {ahead}, behind in {behind}, tied in {len(diff) - ahead - behind} of "
        f"{counted(len(diff), 'seed')})"
    )


# A mean accuracy gap below this is round-off: a real one is at least one validation example
# over all seeds, 1/(360·seeds) here.
_NO_GAP = 1e-9


def _gap_share_text(equal_updates_gap: float, equal_epochs_gap: float) -> str:
    """How much of the equal-epochs validation gap is left at equal updates, in words: a
    share of a gap that is not there (a tie, or seeds that cancel) is no share."""
    if abs(equal_epochs_gap) < _NO_GAP:
        if abs(equal_updates_gap) < _NO_GAP:
            return (
                "There is no mean validation gap at equal epochs or at equal updates, so "
                "nothing for the number of updates to explain"
            )
        return (
            "There is no mean validation gap at equal epochs, so none for the number of "
            f"updates to explain (at equal updates {signed(100 * equal_updates_gap)} points for "
            "batch 16)"
        )
    if equal_epochs_gap < 0:
        # Batch 16 made more updates in those epochs and is still behind: more updates are
        # no reason for it.
        return (
            f"The full batch leads at equal epochs ({signed(100 * equal_epochs_gap)} points for "
            "batch 16) although batch 16 made more updates, so the number of updates does not "
            f"explain that gap (at equal updates {signed(100 * equal_updates_gap)} points)"
        )
    share = abs(equal_updates_gap) / abs(equal_epochs_gap)
    # A gap of the other sign is no share of the first one (below 1% it is one in words).
    if equal_updates_gap * equal_epochs_gap < 0 and share >= 0.01:
        return (
            "The validation gap reverses at equal updates ("
            f"{signed(100 * equal_updates_gap)} points for batch 16, against "
            f"{signed(100 * equal_epochs_gap)} at equal epochs), so the number of updates "
            "explains all of the equal-epochs gap"
        )
    return (
        f"The validation gap at equal updates is "
        f"{f'{beside(100 * share, 50.0, 0, fixed=True)}%' if share >= 0.01 else 'under 1%'} "
        "of the one at equal epochs, so "
        + (
            "most of the equal-epochs gap is the number of updates"
            if share < 0.5
            else "the number of updates does not explain most of the equal-epochs gap"
        )
    )


def _batch_caption(numbers: dict[str, Any]) -> str:
    def accuracies(key: str) -> str:
        train = numbers[f"{key}_train_accuracy"].mean()
        val = numbers[f"{key}_val_accuracy"].mean()
        return f"{train:.3f}/{val:.3f}"

    small, seeds = numbers["batch_16_updates"], len(numbers["seeds"])
    text = (
        f"One-hidden-layer MLP on digits, SGD η = {numbers['learning_rate']:g}, train/val "
        f"accuracy as the mean over {counted(seeds, 'seed')}. Equal epochs "
        f"({numbers['epochs']}): batch 16 makes {small:,} updates and reaches "
        f"{accuracies('batch_16')}; the full batch ({numbers['n_train']:,}) makes "
        f"{numbers['full_equal_epochs_updates']:,} and reaches "
        f"{accuracies('full_equal_epochs')}. Equal updates ({small:,}): the full batch "
        f"reaches {accuracies('full_equal_updates')}. "
    )
    small_val = numbers["batch_16_val_accuracy"]
    full_val = numbers["full_equal_updates_val_accuracy"]
    small_train = numbers["batch_16_train_accuracy"]
    full_train = numbers["full_equal_updates_train_accuracy"]
    text += (
        f"At equal updates {_compare(small_val, full_val, 'validation accuracy')}, and "
        f"{_compare(small_train, full_train, 'training accuracy')}. "
    )
    equal_updates_gap = float((small_val - full_val).mean())
    equal_epochs_gap = float((small_val - numbers["full_equal_epochs_val_accuracy"]).mean())
    text += (
        _gap_share_text(equal_updates_gap, equal_epochs_gap)
        + "; the lecture's claim that the noise of small batches helps generalization "
        + (
            "shows here as batch 16's lead at equal updates. "
            if np.all(small_val > full_val)
            else "does not show in these runs. "
        )
    )
    small_epoch = numbers["batch_16_seconds_per_epoch"]
    full_epoch = numbers["full_batch_seconds_per_epoch"]
    per_update = small_epoch / (small // numbers["epochs"])
    # Two significant digits at least: a fast epoch of 0.04 ms is not "0.0 ms".
    small_ms, full_ms = side_by_side(
        [1e3 * small_epoch, 1e3 * full_epoch], decimals=2, significant=True
    )
    text += (
        f"An epoch took {small_ms} ms with batch 16 ({1e3 * per_update:.2g} ms per "
        f"update) and {full_ms} ms with the full batch (one update): "
    )
    # The ratio of the times as printed, as a reader would work it out.
    speed_up = printed(small_ms) / printed(full_ms) if printed(full_ms) > 0 else math.inf
    if full_epoch < small_epoch:
        text += (
            f"the full batch's epoch is {beside(speed_up, 1.0, 1, fixed=True)}× "
            "faster (the lecture's "
            "reason: a batch's examples are computed in parallel)."
        )
    else:
        text += (
            "here the full batch's epoch is not faster; the lecture's parallelism argument "
            "needs a model large enough to keep the hardware busy."
        )
    return text


# ---- the critical batch size ----

# The quick and full settings; None is the whole set.
_CRITICAL_QUICK = {"batch_sizes": (1, 16, None), "target_loss": 0.2, "max_steps": 1000}
_CRITICAL_FULL = {
    "batch_sizes": (1, 4, 16, 64, 256, None),
    "target_loss": 0.1,
    "max_steps": 6000,
}
_CRITICAL_LEARNING_RATE = 0.05
_NUM_EXAMPLES = 1000
_WINDOW = 200  # examples averaged into the training-loss estimate at a step
_NOISE_EMA = 0.95
# Runs after the first to reach the target stop at this many times its steps (+ a window).
_CAP_MARGIN = 1.5
# The curves kept in the numbers (and drawn): at most about this many steps, spaced evenly on
# the log-step axis of the figure.
_CURVE_POINTS = 400


def _centered_mean(values: np.ndarray, width: int) -> np.ndarray:
    """Means over windows of ``width`` values; entry i is centred on step i + width // 2."""
    if width <= 1:
        return values
    return np.convolve(values, np.ones(width) / width, mode="valid")


def _log_spaced(length: int) -> np.ndarray:
    """At most about ``_CURVE_POINTS`` indices of ``range(length)``, even on a log axis."""
    grid = np.geomspace(1, length, _CURVE_POINTS) - 1 if length > 1 else np.zeros(length)
    return np.unique(np.round(grid).astype(int))


def critical_batch_size(config: LectureConfig, seed: int = 0) -> Claim:
    r"""Steps S(B) to reach a training loss as the batch size B grows, and B_simple beside it.

    A batch of B examples estimates the gradient with noise of covariance Σ/B. McCandlish et
    al. (2018) model the steps to reach a loss as S(B) = S_min(1 + B_crit/B): below the
    critical batch size B_crit doubling B nearly halves the steps, above it extra examples are
    wasted, and B_crit is close to the noise scale B_simple = tr(Σ)/|G|² (for a learning rate
    tuned at each B; here η is fixed).

    Each B trains the same network (:mod:`jaxtrain.lecture._stability_setup`: the first 1,000
    standardized digits, a tanh MLP, ½Σ squared error) with SGD at one η and
    :func:`jaxtrain.monitor.gradient_noise_scale` inside the compiled steps, every batch of
    exactly B examples. The training loss at step t is the mean of the batch losses over about
    200 examples centred on t (exact at B = N). The sizes run in increasing order, and each run
    after one that reached the target is capped at 1.5·S + 200/B of that run's S (steps to a
    loss do not grow with B, up to noise), rounded up to whole epochs. S_min and B_crit are
    fitted to the reached sizes by least squares on the relative error of
    S = S_min + S_min·B_crit/B.

    Returns:
      A claim whose numbers hold per B the steps to the target (NaN where not reached), the
      steps trained, the median noise-scale record up to the target (+inf where |G|² was not
      resolved above the noise; NaN at B = 1, which has no halves), the smoothed loss and the
      records (thinned to the figure's log-spaced steps), the fit's ``s_min`` and ``b_crit``
      (NaN without a fit) and ``b_simple``, the median at the largest batch.
    """
    from jaxtrain import monitor
    from jaxtrain.train import fit

    settings = config.size(quick=_CRITICAL_QUICK, full=_CRITICAL_FULL)
    target = float(settings["target_loss"])
    data = stability_digits(_NUM_EXAMPLES)
    n = len(data[0])
    sizes = sorted({n if b is None else min(int(b), n) for b in settings["batch_sizes"]})
    optimizer = stability_optimizer("gd", _CRITICAL_LEARNING_RATE)
    noise = monitor.gradient_noise_scale(ema=_NOISE_EMA)
    numbers: dict[str, Any] = {
        "batch_size": np.asarray(sizes),
        "target_loss": target,
        "learning_rate": _CRITICAL_LEARNING_RATE,
        "num_examples": n,
        "window": _WINDOW,
        "curves": {},
    }
    steps, run_steps, medians = [], [], []
    cap = settings["max_steps"]
    for size in sizes:
        # Whole epochs only, where the cap allows: a shorter last segment compiles again.
        per_epoch = n // size
        cap = -(-cap // per_epoch) * per_epoch
        if cap > settings["max_steps"]:
            # Whole epochs below the cap rather than a partial one above it.
            cap = max(per_epoch, settings["max_steps"] // per_epoch * per_epoch)
        _, history = fit(
            stability_model(seed),
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
        width = -(-_WINDOW // size)
        smooth = _centered_mean(np.asarray(history.per_step["loss"], np.float64), width)
        below = np.nonzero(smooth <= target)[0]
        reached = int(below[0]) + width // 2 if below.size else None
        records = np.asarray(history.per_step["noise_scale"], np.float64)
        upto = slice(0, cap if reached is None else reached + 1)
        seen = ~np.isnan(records[upto])  # +inf counts: |G|² not resolved above the noise
        medians.append(float(np.median(records[upto][seen])) if seen.any() else math.nan)
        steps.append(math.nan if reached is None else reached)
        run_steps.append(cap)
        loss_at = _log_spaced(len(smooth))
        record_at = _log_spaced(len(records))
        numbers["curves"][f"B={size}"] = {
            "loss_step": loss_at + width // 2,
            "loss": smooth[loss_at],
            "noise_step": record_at,
            "noise_scale": records[record_at],
        }
        if reached is not None:
            cap = min(settings["max_steps"], math.ceil(_CAP_MARGIN * reached) + width)
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
    numbers.update(
        steps=steps_arr,
        run_steps=np.asarray(run_steps),
        noise_scale=medians_arr,
        s_min=s_min,
        b_crit=b_crit,
        b_simple=float(medians_arr[with_records[-1]]) if with_records.size else math.nan,
    )
    return Claim(
        section=_ID,
        id="critical_batch_size",
        title="The critical batch size and the gradient noise scale",
        numbers=numbers,
        figure=_critical_figure(numbers),
        caption=_critical_caption(numbers),
    )


def _critical_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_steps, ax_noise) = plt.subplots(1, 3, figsize=(14, 4))
    n, target = numbers["num_examples"], numbers["target_loss"]
    sizes, steps = numbers["batch_size"], numbers["steps"]
    for size, reached in zip(sizes, steps, strict=True):
        curve = numbers["curves"][f"B={size}"]
        label = f"B = {size}" + (" (all)" if size == n else "")
        (line,) = ax_loss.plot(curve["loss_step"] + 1, curve["loss"], lw=1, label=label)
        if math.isfinite(reached):
            ax_loss.plot([reached + 1], [target], "o", color=line.get_color(), ms=4)
        records = curve["noise_scale"]
        positive = np.isfinite(records) & (records > 0)
        if positive.any():
            ax_noise.plot(
                curve["noise_step"][positive] + 1,
                records[positive],
                lw=0.8,
                color=line.get_color(),
                label=label,
            )
    ax_loss.axhline(target, color="gray", ls=":", lw=1)
    ax_loss.set(xlabel="step", ylabel="training loss", xscale="log", yscale="log")
    ax_loss.set_title(f"SGD η = {numbers['learning_rate']:g}, target {target:g}")
    ax_loss.legend(fontsize=7)
    ok = np.isfinite(steps)
    ax_steps.plot(sizes[ok], steps[ok], "o-", label="measured S(B)")
    if not ok.any():
        # Nothing to place on the log scale of steps: say so where the points would be.
        ax_steps.text(
            0.5,
            0.5,
            "the target was\nnot reached at any batch size",
            ha="center",
            va="center",
            transform=ax_steps.transAxes,
        )
    b_crit, b_simple = numbers["b_crit"], numbers["b_simple"]
    right = max(n, b_simple if math.isfinite(b_simple) else n) * 2
    if math.isfinite(b_crit):
        grid = np.geomspace(1, right, 100)
        ax_steps.plot(
            grid,
            numbers["s_min"] * (1 + b_crit / grid),
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
        yscale="log" if ok.any() else "linear",
        xlabel="batch size B",
        ylabel="steps to the target",
        xlim=(0.7, right),
        title="steps to reach the target loss",
    )
    ax_steps.legend(fontsize=7)
    ax_noise.set(
        xlabel="step",
        ylabel="B_simple = tr(Σ)/|G|²",
        xscale="log",
        yscale="log",
        title="monitor.gradient_noise_scale",
    )
    ax_noise.legend(fontsize=7)
    fig.set_layout_engine("tight")
    return fig


def _steps_text(value: float) -> str:
    return "not reached" if not math.isfinite(value) else f"{int(value):,}"


def _critical_caption(numbers: dict[str, Any]) -> str:
    sizes, steps = numbers["batch_size"], numbers["steps"]
    ok = np.nonzero(np.isfinite(steps))[0]
    head = (
        f"SGD with one η = {numbers['learning_rate']:g} at every batch size on "
        f"{numbers['num_examples']:,} digits: steps to reach training loss "
        f"{numbers['target_loss']:g}"
    )
    if ok.size == 0:
        return head + " were not reached at any batch size."
    if ok.size == 1:
        text = f"{head} are {_steps_text(steps[ok[0]])} at B = {sizes[ok[0]]}"
    else:
        text = (
            f"{head} go from {_steps_text(steps[ok[0]])} at B = {sizes[ok[0]]} to "
            f"{_steps_text(steps[ok[-1]])} at B = {sizes[ok[-1]]}"
        )
    missed = [int(b) for b, s in zip(sizes, steps, strict=True) if not math.isfinite(s)]
    if missed:
        text += f" (not reached within the cap at B = {', '.join(map(str, missed))})"
    b_crit, b_simple = numbers["b_crit"], numbers["b_simple"]
    if math.isfinite(b_crit):
        text += (
            f"; S = S_min(1 + B_crit/B) fits S_min = {numbers['s_min']:.0f}, B_crit = {b_crit:.2f}"
        )
    else:
        text += "; S = S_min(1 + B_crit/B) does not fit these steps"
    measured = np.nonzero(~np.isnan(numbers["noise_scale"]))[0]
    if measured.size:
        largest = sizes[measured[-1]]
        over = (
            "median up to the target"
            if math.isfinite(steps[measured[-1]])
            else "median over the whole run; it did not reach the target"
        )
        text += f". The noise scale recorded during the run at B = {largest} ({over}) is "
        if b_simple <= 0:
            # At B = N a batch is the whole set: no sampling noise, and the estimate of tr(Σ)
            # for batches drawn without replacement is 0.
            text += (
                f"B_simple = {beside(b_simple, 0.0, 2, fixed=True)}: the estimate of tr(Σ) is "
                "not positive there, so B_simple gives no scale to compare the knee with"
            )
        elif math.isfinite(b_simple):
            text += f"B_simple = {b_simple:.2f}"
            if math.isfinite(b_crit):
                ratio = b_simple / b_crit
                # Printed beside the 3× that tells close from far.
                where = (
                    f"{beside(ratio, 3.0, 1, fixed=True)}× below"
                    if ratio >= 1
                    else f"{beside(1 / ratio, 3.0, 1, fixed=True)}× above"
                )
                text += f": the knee sits {where} it, "
                text += (
                    "close to McCandlish et al.'s B_crit ≈ B_simple"
                    if 1 / 3 <= ratio <= 3
                    else "far from McCandlish et al.'s B_crit ≈ B_simple, which assumes η "
                    "tuned at each B (here η is fixed)"
                )
        else:
            text += "+inf: |G|² was not resolved above the gradient noise"
        small = [
            (int(b), m)
            for b, m in zip(sizes, numbers["noise_scale"], strict=True)
            if not math.isnan(m) and b != largest
        ]
        if small:
            b, m = small[0]
            median = (
                f"{m:.1f}"
                if math.isfinite(m)
                else "+inf: |G|² was not resolved above the gradient noise"
            )
            text += f" (the run at B = {b} records a median of {median})"
    return text + "."


# ---- momentum over a ridge, and on digits ----

_RIDGE_START, _RIDGE_STEPS, _RIDGE_LEARNING_RATE = 2.5, 150, 0.01


def _ridge(theta: Any) -> Any:
    # A shallow minimum near θ = 1.35, a ridge near θ = 0.13, the deeper minimum near −1.47.
    return theta[0] ** 4 - 4.0 * theta[0] ** 2 + theta[0]


def _ridge_value(theta: float) -> float:
    return float(theta**4 - 4.0 * theta**2 + theta)


def momentum_ridge(config: LectureConfig, seed: int = 0) -> Claim:
    """Gradient descent and momentum on a 1-D surface with a ridge, then on digits.

    On L(θ) = θ⁴ − 4θ² + θ, started in the shallow valley's outer slope, gradient descent
    stops where g = 0; momentum m ← λm − ηg, θ ← θ + m keeps the movement built up going down.
    On digits the same comparison trains the MLP of :func:`batch_size` with batch 16; since a
    steady direction makes momentum's step η/(1 − λ), plain SGD at that larger η runs beside it.

    Returns:
      A claim whose numbers hold the stationary points of L, each path's θ over the steps and
      where it ends, and each digits run's training loss per epoch (first seed) and final
      training loss per seed.
    """
    import jax.numpy as jnp

    from jaxtrain.optim import optimize_trajectory

    # L'(θ) = 4θ³ − 8θ + 1 = 0: the two minima and the ridge between them.
    left, ridge, right = np.sort(np.roots([4.0, 0.0, -8.0, 1.0]).real)
    numbers: dict[str, Any] = {
        "start": _RIDGE_START,
        "steps": _RIDGE_STEPS,
        "learning_rate": _RIDGE_LEARNING_RATE,
        "momentum": _MOMENTUM,
        "ridge_theta": float(ridge),
        "left_minimum_theta": float(left),
        "right_minimum_theta": float(right),
    }
    start = jnp.array([_RIDGE_START])
    for key, momentum in (("gd", 0.0), ("momentum", _MOMENTUM)):
        path, _ = optimize_trajectory(
            _sgd(_RIDGE_LEARNING_RATE, momentum), _ridge, start, _RIDGE_STEPS
        )
        theta = np.asarray(path, np.float64)[:, 0]
        numbers[f"{key}_theta"] = theta
        numbers[f"{key}_final_theta"] = float(theta[-1])
        numbers[f"{key}_final_loss"] = _ridge_value(theta[-1])

    epochs, seeds = _epochs(config), _seeds(config, seed)
    numbers.update(
        digits_epochs=epochs,
        digits_batch_size=_SMALL_BATCH,
        digits_learning_rate=_MOMENTUM_LEARNING_RATE,
        digits_large_learning_rate=_LEARNING_RATE,
        digits_seeds=np.asarray(seeds),
    )
    for key, learning_rate, momentum in (
        ("sgd", _MOMENTUM_LEARNING_RATE, 0.0),
        ("momentum", _MOMENTUM_LEARNING_RATE, _MOMENTUM),
        ("sgd_large", _LEARNING_RATE, 0.0),  # η/(1 − λ): batch_size's batch-16 runs
    ):
        runs = [_digits_run(s, _SMALL_BATCH, epochs, learning_rate, momentum) for s in seeds]
        numbers[f"digits_{key}_train_loss"] = runs[0]["train_loss"]
        numbers[f"digits_{key}_final_loss"] = np.asarray([r["final_train_loss"] for r in runs])
    return Claim(
        section=_ID,
        id="momentum_ridge",
        title="Momentum rolls over a ridge",
        numbers=numbers,
        figure=_momentum_figure(numbers),
        caption=_momentum_caption(numbers),
    )


def _momentum_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, (ax_curve, ax_time, ax_digits) = plt.subplots(1, 3, figsize=(15, 4))
    theta = np.linspace(-2.2, 2.7, 300)
    ax_curve.plot(theta, theta**4 - 4.0 * theta**2 + theta, color="black", lw=1, label="L(θ)")
    names = (("gd", "gradient descent"), ("momentum", f"momentum λ = {numbers['momentum']:g}"))
    for (key, label), marker in zip(names, ("o", "s"), strict=True):
        path = numbers[f"{key}_theta"]
        ax_curve.plot(path, path**4 - 4.0 * path**2 + path, marker, ms=3, alpha=0.6, label=label)
        ax_time.plot(path, label=label)
    ax_curve.set(xlabel="θ", ylabel="loss", ylim=(-7, 18), title="the path on the error surface")
    ax_curve.legend(fontsize=8)
    ax_time.axhline(numbers["ridge_theta"], color="gray", ls=":", lw=1, label="ridge (g = 0)")
    ax_time.set(xlabel="step t", ylabel="θ", title=f"θ over time, η = {numbers['learning_rate']:g}")
    ax_time.legend(fontsize=8)

    epoch_axis = np.arange(1, numbers["digits_epochs"] + 1)
    eta, large = numbers["digits_learning_rate"], numbers["digits_large_learning_rate"]
    for key, label in (
        ("sgd", f"SGD η = {eta:g}"),
        ("momentum", f"momentum λ = {numbers['momentum']:g}, η = {eta:g}"),
        ("sgd_large", f"SGD η = η/(1 − λ) = {large:g}"),
    ):
        ax_digits.plot(epoch_axis, numbers[f"digits_{key}_train_loss"], "o-", ms=3, label=label)
    ax_digits.set(
        xlabel="epoch",
        ylabel="training loss (mean over the epoch)",
        yscale="log",
        title=f"MLP on digits, batch {numbers['digits_batch_size']}",
    )
    ax_digits.legend(fontsize=8)
    fig.set_layout_engine("tight")
    return fig


def _side(theta: float, numbers: dict[str, Any]) -> str:
    """Which valley of L(θ) ``theta`` lies in, in words."""
    if not math.isfinite(theta):
        return "not finite (diverged)"
    if theta < numbers["ridge_theta"]:
        return "past the ridge, in the deeper valley"
    return "in the shallow valley, short of the ridge"


def _momentum_caption(numbers: dict[str, Any]) -> str:
    gd, mom = numbers["gd_final_theta"], numbers["momentum_final_theta"]
    ridge = numbers["ridge_theta"]
    # Both ends and the ridge in as many decimals (from 2) as show each end's side of it.
    gd_text, mom_text, ridge_text = side_by_side([gd, mom, ridge])
    text = (
        f"L(θ) = θ⁴ − 4θ² + θ, from θ = {numbers['start']:g}, {numbers['steps']} steps of "
        f"η = {numbers['learning_rate']:g}: gradient descent ends at θ = {gd_text} (loss "
        f"{numbers['gd_final_loss']:.2f}), {_side(gd, numbers)}; momentum λ = "
        f"{numbers['momentum']:g} (m ← λm − ηg, θ ← θ + m) ends at θ = {mom_text} (loss "
        f"{numbers['momentum_final_loss']:.2f}), {_side(mom, numbers)} (ridge at θ = "
        f"{ridge_text})."
    )
    if mom < numbers["ridge_theta"] <= gd:
        text += (
            " The lecture's explanation: the movement built up on the way down carries θ on "
            "through points where the gradient is 0."
        )
    plain = numbers["digits_sgd_final_loss"]
    momentum = numbers["digits_momentum_final_loss"]
    large = numbers["digits_sgd_large_final_loss"]
    seeds = len(numbers["digits_seeds"])
    eta = numbers["digits_learning_rate"]
    text += (
        f" On digits (batch {numbers['digits_batch_size']}, {numbers['digits_epochs']} epochs, "
        f"mean of {counted(seeds, 'seed')}) the final training loss is {plain.mean():.3f} with "
        f"plain SGD η = {eta:g}, {momentum.mean():.3f} with momentum at the same η and "
        f"{large.mean():.3f} with plain SGD at η/(1 − λ) = "
        f"{numbers['digits_large_learning_rate']:g}: "
    )
    if not np.all(momentum < plain):
        text += "momentum is not lower than plain SGD in every seed"
        if np.all(momentum > plain):
            return text + (
                f"; it ends higher in each ({momentum.mean():.3f} vs {plain.mean():.3f})."
            )
        lower = int((momentum < plain).sum())
        return text + (
            f" (lower in {lower} of {counted(seeds, 'seed')}; {momentum.mean():.3f} vs "
            f"{plain.mean():.3f} on average)."
        )
    gain = beside(plain.mean() / momentum.mean(), 1.0, 1, fixed=True)
    text += f"momentum ends {gain}× lower than plain SGD"
    ratio = momentum.mean() / large.mean()
    if abs(ratio - 1) <= _ABOUT:
        text += (
            f", and within {_ABOUT:.0%} of plain SGD at the larger step: here its gain on digits "
            "is about what the step η/(1 − λ) gives."
        )
    elif ratio < 1:
        text += (
            f", and {beside(1 / ratio, 1 / (1 - _ABOUT), 2, fixed=True)}× lower than the larger "
            "step, which does not explain all of it."
        )
    else:
        text += f", but {beside(ratio, 1 + _ABOUT, 2, fixed=True)}× higher than the larger step."
    return text


SECTION = Section(
    id=_ID,
    title="3. Batch and momentum",
    summary=(
        "An epoch sees every example once, in batches of B; each batch gives one update "
        "θ ← θ − ηg. Large batches use parallel hardware well (an epoch is fast) but give few, "
        "precise updates; small batches give many noisy updates, and the lecture argues the "
        "noise helps optimization and generalization (the first experiment compares them at "
        "equal updates as well as equal epochs). The gradient noise scale B_simple = "
        "tr(Σ)/|G|² measures that noise against the signal. Momentum moves by m ← λm − ηg, "
        "θ ← θ + m: a weighted sum of all past gradients that can roll through a ridge or a "
        "flat region."
    ),
    experiments=(batch_size, critical_batch_size, momentum_ridge),
)
"""§3 of the lecture: its summary and its claims, in the order the tour, the examples and
the notebooks show them (``SECTION.claims(config, seed=...)``)."""
