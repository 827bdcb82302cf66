"""§6 Batch normalization: why feature scales matter, and BatchNorm in training and at test time.

Inputs and hidden features on very different scales make the error surface steep in some
directions and flat in others. Batch normalization standardizes every feature over the batch,
z̃ᵢ = (zᵢ − μ)/σ, then rescales, ẑᵢ = γ ⊙ z̃ᵢ + β. At test time there may be no batch, so it uses
running averages μ̄ ← p·μ̄ + (1 − p)·μ collected during training.

Experiments:

- :func:`input_scales`: the lecture's two-weight linear model with inputs on [0, 1] and
  [0, 100], before and after standardizing them: the Hessian's eigenvalues, its condition
  number and gradient descent on both surfaces;
- :func:`with_and_without`: one deep sigmoid MLP on digits trained with
  ``jaxtrain.train.fit``, without normalization and with :class:`jaxtrain.nn.BatchNorm` after
  every hidden linear layer;
- :func:`network_curvature`: the dense Hessian spectrum of a narrower copy of that MLP at the
  same initialization, with and without BatchNorm;
- :func:`statistics_at_test_time`: the trained BatchNorm MLP tested with running and with
  batch statistics, on the whole validation set and one example at a time.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from jaxtrain._text import beside, counted, percent, side_by_side
from jaxtrain.lecture._claim import Claim, LectureConfig
from jaxtrain.lecture._digits import digits_splits
from jaxtrain.lecture._section import Section

__all__ = [
    "SECTION",
    "input_scales",
    "network_curvature",
    "statistics_at_test_time",
    "with_and_without",
]

_ID = "batch_normalization"
# Flax's default keeps 0.99 of the old running value per step; a lecture run takes only a few
# hundred steps, so the running statistics follow the batches faster (PyTorch's 0.1).
_RUNNING_MOMENTUM = 0.9
_DEPTH, _LEARNING_RATE, _BATCH_SIZE = 4, 0.5, 64
# A training loss above this fraction of ln 10 (uniform over 10 classes) is at chance.
_AT_CHANCE = 0.98
# Two shares of eigenvalues within this fraction of the larger one are about the same.
_SAME = 0.1


# ---- feature scales: the lecture's two-weight linear model ----

_SCALE_EXAMPLES = 200
_SCALES = (1.0, 100.0)  # x₁ ~ U[0, 1], x₂ ~ U[0, 100]
_TRUE_WEIGHTS = (2.0, 0.03)  # y = 2x₁ + 0.03x₂ + noise: both features move y by a few units
_NOISE = 0.1
_SCALE_STEPS = 100
_WINDOW = 3.0  # the surfaces span w* ± 3 along both weights, the same in both panels
_INPUTS = {"raw": "inputs as they are", "standardized": "standardized inputs"}


def _scale_data(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(x, y) as drawn and with each feature standardized (and y centered: no bias)."""
    from jaxtrain.data import fit_standardizer, standardize

    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (_SCALE_EXAMPLES, 2)) * np.asarray(_SCALES)
    y = x @ np.asarray(_TRUE_WEIGHTS) + _NOISE * rng.normal(size=_SCALE_EXAMPLES)
    x, y = x.astype(np.float32), y.astype(np.float32)
    statistics = fit_standardizer(x)
    # The model has no bias; standardized inputs have mean 0, so the target is centered too
    # (its mean is what a bias would fit, and it decouples from the weights).
    return {
        "raw": (x, y),
        "standardized": (standardize(x, statistics.mean, statistics.std), y - y.mean()),
    }


def input_scales(config: LectureConfig, seed: int = 0) -> Claim:
    """ŷ = w₁x₁ + w₂x₂ with x₁ on [0, 1] and x₂ on [0, 100]: the Hessian's condition number.

    L(w) = (1/N) Σₙ (yₙ − w·xₙ)² (``jaxtrain.losses.mse``) is quadratic, so its Hessian
    H = (2/N) Σₙ xₙxₙᵀ is the same everywhere and its eigenvalues λmin ≤ λmax are the surface's
    curvatures along its axes; κ = λmax/λmin is the condition number. Gradient descent is
    stable only for η < 2/λmax and shrinks the error along λmin's axis by 1 − ηλmin per step,
    so at η = 1/λmax it needs about κ steps per factor e. Standardizing each input,
    x̃ = (x − μ)/σ (``jaxtrain.data.standardize``), makes H close to 2·I. The data are drawn
    from ``seed``; ``config`` does not change this small experiment.

    Returns:
      A claim whose numbers hold, for the raw and the standardized inputs, the Hessian, its
      eigenvalues and condition number, the least-squares weights, and gradient descent at
      η = 1/λmax from w = 0: its path, losses and the share of the excess loss left.
    """
    del config
    import jax.numpy as jnp

    from jaxtrain.curvature import hessian
    from jaxtrain.landscape import loss_surface_2d
    from jaxtrain.losses import mse
    from jaxtrain.optim import optimize_trajectory, sgd

    offsets = np.linspace(-_WINDOW, _WINDOW, 61)
    numbers: dict[str, Any] = {
        "examples": _SCALE_EXAMPLES,
        "scales": list(_SCALES),
        "true_weights": list(_TRUE_WEIGHTS),
        "steps": _SCALE_STEPS,
        "offsets": offsets,
    }
    for key, (x, y) in _scale_data(seed).items():
        x_jax, y_jax = jnp.asarray(x), jnp.asarray(y)

        def loss_fn(w: Any, x: Any = x_jax, y: Any = y_jax) -> Any:
            return mse(x @ w, y)

        matrix = np.asarray(hessian(loss_fn, jnp.zeros(2)), dtype=np.float64)
        low, high = np.linalg.eigvalsh(matrix)
        best = np.linalg.lstsq(x.astype(np.float64), y.astype(np.float64), rcond=None)[0]
        best_loss = float(np.mean((y - x.astype(np.float64) @ best) ** 2))
        learning_rate = float(1.0 / high)
        path, losses = optimize_trajectory(sgd(learning_rate), loss_fn, jnp.zeros(2), _SCALE_STEPS)
        losses = np.asarray(losses, dtype=np.float64)
        e1, e2 = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
        surface = loss_surface_2d(loss_fn, jnp.asarray(best, jnp.float32), e1, e2, offsets, offsets)
        numbers[key] = {
            "hessian": matrix,
            "eigenvalues": np.array([low, high]),
            "condition_number": float(high / low),
            "best_weights": best,
            "best_loss": best_loss,
            "learning_rate": learning_rate,
            "path": np.asarray(path, dtype=np.float64),
            "losses": losses,
            "excess_left": float((losses[-1] - best_loss) / (losses[0] - best_loss)),
            # The error along λmin's axis after the run, as predicted: (1 − ηλmin)^steps.
            "predicted_slow_factor": float((1.0 - learning_rate * low) ** _SCALE_STEPS),
            "surface": np.asarray(surface),
        }
    return Claim(
        section=_ID,
        id="input_scales",
        title="Inputs on different scales: the condition number",
        numbers=numbers,
        figure=_scales_figure(numbers),
        caption=_scales_caption(numbers),
    )


def _scales_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    from jaxtrain.plot import plot_loss_surface_2d

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    offsets = numbers["offsets"]
    for ax, (key, label) in zip(axes[:2], _INPUTS.items(), strict=True):
        run = numbers[key]
        w1, w2 = run["best_weights"]
        plot_loss_surface_2d(
            w1 + offsets,
            w2 + offsets,
            run["surface"],
            ax,
            levels=20,
            log_scale=True,
            mark_origin=False,
            xlabel="w₁ (weight of x₁)",
            ylabel="w₂ (weight of x₂)",
        )
        ax.plot(run["path"][:, 0], run["path"][:, 1], ".-", color="white", ms=2, lw=1)
        ax.plot(w1, w2, "*", color="red", ms=10, label="minimum")
        ax.set(aspect="equal", title=f"{label}: κ = {_kappa(run['condition_number'])}")
        ax.legend(loc="lower left", fontsize=8)
    for key, label in _INPUTS.items():
        run = numbers[key]
        excess = np.maximum(run["losses"] - run["best_loss"], 1e-12)
        axes[2].plot(excess, label=f"{label}, η = 1/λmax = {run['learning_rate']:.3g}")
    axes[2].set(
        xlabel="gradient descent step",
        ylabel="L − L* (log)",
        yscale="log",
        title="the same descent on both surfaces",
    )
    axes[2].legend(fontsize=8)
    fig.set_layout_engine("tight")
    return fig


def _kappa(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _share_left(value: float) -> str:
    # float32 resolves a loss to about 1e-7 of itself; a smaller remainder is rounding.
    return "under 10⁻⁶" if value < 1e-6 else percent(value)


_WEIGHTS = ("w₁", "w₂")
_FEATURES = ("x₁", "x₂")


def _raw_shape(numbers: dict[str, Any]) -> tuple[str, int]:
    """The raw surface in words, from its Hessian, and the weight it is flat along (0: w₁)."""
    raw = numbers["raw"]
    _, vectors = np.linalg.eigh(raw["hessian"])
    steep = int(np.argmax(np.abs(vectors[:, -1])))  # the weight λmax's direction leans on
    flat = 1 - steep
    if raw["condition_number"] < 2:  # as for the standardized contours: nearly round
        return "a nearly round surface", flat
    scales = numbers["scales"]
    large = f" ({_FEATURES[steep]} is large)" if scales[steep] > scales[flat] else ""
    shape = f"a surface steep along {_WEIGHTS[steep]}{large} and flat along {_WEIGHTS[flat]}"
    return shape, flat


def _scales_conclusion(numbers: dict[str, Any]) -> str:
    """The lecture's conclusion where the descents show it: the surface of the smaller κ
    leaves less of its excess loss, as printed."""
    raw, standardized = numbers["raw"], numbers["standardized"]
    raw_left, standardized_left = (_share_left(r["excess_left"]) for r in (raw, standardized))
    if (
        standardized["condition_number"] < raw["condition_number"]
        and standardized["excess_left"] < raw["excess_left"]
        and standardized_left != raw_left
    ):
        return ": one learning rate suits every direction only when the curvatures are alike."
    return (
        ": these two descents do not show that one learning rate suits every direction only "
        "when the curvatures are alike."
    )


def _scales_caption(numbers: dict[str, Any]) -> str:
    raw, standardized = numbers["raw"], numbers["standardized"]
    low, high = raw["eigenvalues"]
    s_low, s_high = standardized["eigenvalues"]
    kappa, s_kappa = raw["condition_number"], standardized["condition_number"]
    low_scale, high_scale = numbers["scales"]
    if kappa > 10 * s_kappa:
        verdict = (
            f"standardizing the inputs lowers the condition number {kappa / s_kappa:,.0f}-fold"
        )
    else:
        fold = beside(kappa / s_kappa, 10.0, 1, fixed=True)  # beside the 10 that would count
        verdict = f"here standardizing changes the condition number only {fold}-fold"
    # κ ≈ 1 is round; a standardized κ that is still large keeps elongated contours.
    contours = "round contours" if s_kappa < 2 else "contours still elongated"
    steps = numbers["steps"]
    shape, flat = _raw_shape(numbers)
    return (
        f"ŷ = w₁x₁ + w₂x₂ on {numbers['examples']} points with x₁ ∈ [0, {low_scale:g}] and "
        f"x₂ ∈ [0, {high_scale:g}], L = mean (y − ŷ)². The Hessian H = 2·mean xxᵀ has "
        f"eigenvalues {low:.3g} and {high:,.5g}: condition number κ = λmax/λmin = "
        f"{_kappa(kappa)}, {shape}. With each "
        f"input standardized (and y centered) the eigenvalues are {s_low:.3g} and "
        f"{s_high:.3g}, κ = {_kappa(s_kappa)}: {contours}, and {verdict}. Gradient descent "
        f"from w = 0 at η = 1/λmax of each surface (above 2/λmax it would diverge) for {steps} "
        "steps leaves "
        f"{_share_left(raw['excess_left'])} of the excess loss L − L* on the raw inputs, where "
        f"each step shrinks the error along the flat axis only by 1 − ηλmin = 1 − 1/κ "
        f"((1 − ηλmin)^{steps} = {raw['predicted_slow_factor']:.3g} of that error is left; "
        f"{_WEIGHTS[flat]} has moved from 0 to {raw['path'][-1, flat]:.3g} of its optimum "
        f"{raw['best_weights'][flat]:.3g}), and "
        f"{_share_left(standardized['excess_left'])} on the standardized ones"
        + _scales_conclusion(numbers)
    )


def _epochs(config: LectureConfig) -> int:
    return config.size(quick=8, full=30)


@functools.lru_cache(maxsize=4)
def _trained(with_batchnorm: bool, config: LectureConfig, seed: int) -> tuple[Any, Any]:
    """(TrainState, History) of the deep sigmoid MLP; both experiments share the two runs."""
    from flax import nnx

    from jaxtrain.losses import accuracy, softmax_cross_entropy
    from jaxtrain.nn import MLP, BatchNorm
    from jaxtrain.optim import sgd
    from jaxtrain.train import fit

    norm = functools.partial(BatchNorm, momentum=_RUNNING_MOMENTUM) if with_batchnorm else None
    model = MLP(64, 64, 10, depth=_DEPTH, activation="sigmoid", norm=norm, rngs=nnx.Rngs(seed))
    (x_train, y_train), (x_val, y_val) = digits_splits(seed)
    return fit(
        model,
        sgd(_LEARNING_RATE),
        (x_train, y_train),
        loss=softmax_cross_entropy,
        epochs=_epochs(config),
        batch_size=_BATCH_SIZE,
        val_data=(x_val, y_val),
        metrics=[accuracy],
        drop_last=True,
        seed=seed,
        progress=False,
    )


def with_and_without(config: LectureConfig, seed: int = 0) -> Claim:
    """A deep sigmoid MLP at one learning rate, with and without BatchNorm.

    Returns:
      A claim whose numbers hold each run's training loss per epoch and final validation
      accuracy; the caption states which run ends lower and by how much.
    """
    numbers: dict[str, Any] = {
        "epochs": _epochs(config),
        "depth": _DEPTH,
        "learning_rate": _LEARNING_RATE,
    }
    for key, with_batchnorm in (("plain", False), ("bn", True)):
        _, history = _trained(with_batchnorm, config, seed)
        numbers[f"{key}_train_loss"] = np.asarray(history.per_epoch["train_loss"])
        numbers[f"{key}_val_accuracy"] = np.asarray(history.per_epoch["val_accuracy"])
        numbers[f"{key}_final_val_accuracy"] = float(history.per_epoch["val_accuracy"][-1])
    return Claim(
        section=_ID,
        id="with_and_without",
        title="With and without BatchNorm",
        numbers=numbers,
        figure=_training_figure(numbers),
        caption=_training_caption(numbers),
    )


def _training_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    epoch_axis = np.arange(1, numbers["epochs"] + 1)
    for key, label in (("plain", "without BatchNorm"), ("bn", "with BatchNorm")):
        ax_loss.plot(epoch_axis, numbers[f"{key}_train_loss"], label=label)
        ax_acc.plot(epoch_axis, numbers[f"{key}_val_accuracy"], label=label)
    ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log", title="training loss")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1), title="validation")
    for ax in (ax_loss, ax_acc):
        ax.legend(fontsize=8)
    fig.set_layout_engine("tight")
    return fig


def _training_caption(numbers: dict[str, Any]) -> str:
    plain_curve = np.asarray(numbers["plain_train_loss"])
    plain_loss = float(plain_curve[-1])
    bn_loss = float(numbers["bn_train_loss"][-1])
    # The ratio kept off 1 and the two losses apart, as the words compare them.
    if not math.isfinite(bn_loss) or not math.isfinite(plain_loss):  # a run diverged
        outcome = (
            "neither training loss ends finite"
            if not math.isfinite(bn_loss) and not math.isfinite(plain_loss)
            else "BatchNorm's training loss ends finite, the plain network's does not"
            if math.isfinite(bn_loss)
            else "here BatchNorm does not help: its training loss does not end finite"
        )
    elif bn_loss < plain_loss:
        ratio = beside(plain_loss / bn_loss, 1.0, 1, fixed=True)
        outcome = f"BatchNorm ends with a training loss {ratio}× lower"
    elif bn_loss > plain_loss:
        ratio = beside(bn_loss / plain_loss, 1.0, 1, fixed=True)
        outcome = f"here BatchNorm does not help: its training loss ends {ratio}× higher"
    else:
        outcome = "here BatchNorm does not help: both training losses end the same"
    bn_text, plain_text = side_by_side([bn_loss, plain_loss], decimals=3)
    chance = float(np.log(10.0))
    tolerance = f"{100 * (1 - _AT_CHANCE):.0f}%"
    if np.all(np.abs(plain_curve / chance - 1) <= 1 - _AT_CHANCE):
        plain = (
            f" Without it the training loss stays within {tolerance} of "
            f"ln 10 = {chance:.2f}, the loss of giving every class 1/10, for all "
            f"{numbers['epochs']} epochs: at this η the plain network's training loss stays "
            "at chance."
        )
    elif plain_curve.min() > _AT_CHANCE * chance:
        plain = (
            f" Without it the training loss goes {plain_curve[0]:.2f} → {plain_curve[-1]:.2f} "
            f"and never falls more than {tolerance} below ln 10 = {chance:.2f}, the loss of "
            f"giving every class 1/10, in {numbers['epochs']} epochs: at this η the plain "
            "network's training loss stays at chance or worse."
        )
    else:
        plain = ""
    return (
        f"A {numbers['depth']}-layer sigmoid MLP on digits, SGD η = {numbers['learning_rate']}, "
        f"{numbers['epochs']} epochs: {outcome} ({bn_text} vs {plain_text}); validation "
        f"accuracy in the last epoch {numbers['bn_final_val_accuracy']:.2f} with it, "
        f"{numbers['plain_final_val_accuracy']:.2f} without (medians over the "
        f"{counted(numbers['epochs'], 'epoch')}: {np.median(numbers['bn_val_accuracy']):.2f} and "
        f"{np.median(numbers['plain_val_accuracy']):.2f}).{plain} This run alone does not "
        "show why; the lecture's reason, that normalized features keep the curvatures alike "
        "so one learning rate suits all directions, is measured on the Hessian in "
        "network_curvature."
    )


# ---- the curvature of a real network, with and without BatchNorm ----

# A narrower copy of the trained MLP, so that its dense Hessian (n ≈ 1,400) is cheap.
_CURVATURE_WIDTH = 12
# Directions whose curvature is within this factor of λmax: at η ≈ 1/λmax a step makes at
# least 1/_NEAR_TOP of the progress along them that it makes along the steepest one.
_NEAR_TOP = 100.0
_MODELS = {"plain": "without BatchNorm", "bn": "with BatchNorm"}


def _curvature_spectrum(with_batchnorm: bool, seed: int, examples: int) -> dict[str, Any]:
    """The dense Hessian's spectrum of the narrow MLP at its initialization, training mode."""
    import jax
    from flax import nnx

    from jaxtrain.curvature import eigenvalue_tolerance, hessian, loss_from_model
    from jaxtrain.losses import softmax_cross_entropy
    from jaxtrain.nn import MLP, BatchNorm, functional

    norm = functools.partial(BatchNorm, momentum=_RUNNING_MOMENTUM) if with_batchnorm else None
    model = MLP(
        64,
        _CURVATURE_WIDTH,
        10,
        depth=_DEPTH,
        activation="sigmoid",
        norm=norm,
        rngs=nnx.Rngs(seed),
    )
    apply, params, state = functional(model)
    (x_train, y_train), _ = digits_splits(seed)
    batch = (x_train[:examples], y_train[:examples])
    # train=True: BatchNorm normalizes with the batch's statistics, as it does in training.
    loss_fn = loss_from_model(apply, state, [batch], softmax_cross_entropy, train=True)
    n_params = sum(np.size(leaf) for leaf in jax.tree.leaves(params))
    # All n columns in one vectorized product: compiles faster than the default chunks, and
    # n Hessian-vector products of this small network fit in memory.
    matrix = hessian(loss_fn, params, chunk_size=n_params)
    values = np.linalg.eigvalsh(np.asarray(matrix, dtype=np.float64))
    tol = eigenvalue_tolerance(values, np.float32)
    top = float(values[-1])
    positive = values[values > tol]
    return {
        "eigenvalues": values,
        "n_params": int(values.size),
        "eig_tol": tol,
        "max": top,
        "min": float(values[0]),
        "num_negative": int(np.sum(values < -tol)),
        "num_zero": int(np.sum(np.abs(values) <= tol)),
        "num_positive": int(positive.size),
        "share_near_top": float(np.mean(values >= top / _NEAR_TOP)),
        "share_negative_near_top": float(np.mean(values <= -top / _NEAR_TOP)),
        "median_relative": float(np.median(np.abs(values)) / top),
        # λmax over the smallest eigenvalue above the tolerance, and the most it can be.
        "positive_condition_number": float(top / positive.min()),
        "condition_number_bound": float(top / tol),
    }


def network_curvature(config: LectureConfig, seed: int = 0) -> Claim:
    """The Hessian of a deep sigmoid MLP at initialization, with and without BatchNorm.

    A 4-layer sigmoid MLP of width 12 on digits (1,378 parameters, so the dense Hessian
    of the training-mode loss is cheap), from one initialization per seed, with and without
    BatchNorm after each hidden linear layer. A network's Hessian has negative and near-zero
    eigenvalues, so the two-weight model's κ = λmax/λmin has no direct counterpart; the
    experiment reports it over the positive part and, as the measure of "one learning rate
    suits all directions", the share of eigenvalues within 100× of λmax: at η ≈ 1/λmax each
    step shrinks the error along eigenvector i by ηλᵢ, so these are the directions that step
    serves.

    Returns:
      A claim whose numbers hold, per model and seed, the eigenvalues and their counts, λmax,
      λmin, the condition number of the positive part with its float32 bound, and the share of
      eigenvalues within 100× of λmax.
    """
    examples = config.size(quick=256, full=None)  # None: the whole training split
    seeds = tuple(seed + i for i in range(config.size(quick=1, full=3)))
    numbers: dict[str, Any] = {
        "width": _CURVATURE_WIDTH,
        "depth": _DEPTH,
        "near_top": _NEAR_TOP,
        "seeds": list(seeds),
        "examples": examples or len(digits_splits(seed)[0][1]),
    }
    for key, with_batchnorm in (("plain", False), ("bn", True)):
        spectra = [_curvature_spectrum(with_batchnorm, s, numbers["examples"]) for s in seeds]
        numbers[key] = {name: [spectrum[name] for spectrum in spectra] for name in spectra[0]}
    return Claim(
        section=_ID,
        id="network_curvature",
        title="The Hessian of a network with and without BatchNorm",
        numbers=numbers,
        figure=_curvature_figure(numbers),
        caption=_curvature_caption(numbers),
    )


def _curvature_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, (ax_spectrum, ax_share) = plt.subplots(
        1, 2, figsize=(11.5, 4.0), gridspec_kw={"width_ratios": [1.6, 1]}
    )
    for (key, label), color in zip(_MODELS.items(), ("C0", "C2"), strict=True):
        values = numbers[key]["eigenvalues"][0]
        relative = np.sort(values)[::-1] / values[-1]
        rank = np.arange(1, relative.size + 1) / relative.size
        ax_spectrum.plot(rank, relative, color=color, label=f"{label} (n = {relative.size})")
        ax_spectrum.axhline(numbers[key]["eig_tol"][0] / values[-1], color=color, ls=":", lw=1)
    ax_spectrum.axhline(1 / numbers["near_top"], color="gray", ls="--", lw=1)
    ax_spectrum.plot([], [], "k:", lw=1, label="float32 tolerance (|λ| below: zero)")
    ax_spectrum.plot([], [], "--", color="gray", lw=1, label=f"λmax/{numbers['near_top']:.0f}")
    ax_spectrum.set(
        xlabel="share of the eigenvalues (sorted, largest first)",
        ylabel="λ/λmax",
        yscale="symlog",
        title=f"Hessian at initialization, seed {numbers['seeds'][0]}",
    )
    ax_spectrum.set_yscale("symlog", linthresh=1e-5)
    ax_spectrum.legend(fontsize=8)

    for i, key in enumerate(_MODELS):
        shares = np.asarray(numbers[key]["share_near_top"])
        ax_share.bar(i, shares.mean(), color=("C0", "C2")[i])
        ax_share.plot(np.full(shares.size, i), shares, "k.", ms=5)
        ax_share.annotate(f"{shares.mean():.1%}", (i, shares.max()), ha="center", va="bottom")
    ax_share.set_xticks(range(len(_MODELS)), list(_MODELS.values()))
    ax_share.set(
        ylim=(0, 1),
        ylabel=f"share of λ ≥ λmax/{numbers['near_top']:.0f}",
        title=f"{counted(len(numbers['seeds']), 'seed')}: bar the mean, dots each seed",
    )
    fig.set_layout_engine("tight")
    return fig


def _curvature_caption(numbers: dict[str, Any]) -> str:
    def mean(key: str, name: str) -> float:
        return float(np.mean(numbers[key][name]))

    seeds, near = len(numbers["seeds"]), f"{numbers['near_top']:.0f}×"
    plain_share, bn_share = mean("plain", "share_near_top"), mean("bn", "share_near_top")
    more = int(
        np.sum(np.asarray(numbers["bn"]["share_near_top"]) > numbers["plain"]["share_near_top"])
    )
    ratio = bn_share / plain_share if plain_share > 0 else math.inf
    # "1.0× as many" must not be called more, so the ratio is judged as printed.
    as_many = f"{ratio:.1f}× as many" if math.isfinite(ratio) else "none without"
    in_seeds = f"more in {more} of {counted(seeds, 'seed')}"
    # Percentages in as many decimals (from 1) as keep the two shares apart.
    shares = side_by_side([100 * bn_share, 100 * plain_share], decimals=1)
    if more == seeds and round(ratio, 1) > 1.0:
        outcome = (
            f"What differs is the spread below λmax: with BatchNorm {shares[0]}% of the "
            f"eigenvalues are within {near} of λmax, against {shares[1]}% without ({as_many}, "
            f"{in_seeds}): a step of η ≈ 1/λmax makes at least 1/{near[:-1]} of its steepest "
            "progress along many more directions, the lecture's 'one learning rate suits all "
            "directions' measured"
        )
    elif more == seeds:
        outcome = (
            "Below λmax, BatchNorm spreads the curvature consistently, but only slightly: "
            f"{shares[0]}% of the eigenvalues are within {near} of λmax with it, {shares[1]}% "
            f"without ({in_seeds})"
        )
    elif bn_share > plain_share:
        outcome = (
            "Below λmax, BatchNorm makes no consistent difference: "
            f"{shares[0]}% of the eigenvalues are within {near} of λmax with it, {shares[1]}% "
            f"without ({as_many}, {in_seeds})"
        )
    else:
        outcome = (
            "Below λmax, BatchNorm does not spread the curvature: "
            f"{shares[0]}% of the eigenvalues are within {near} of λmax with it, {shares[1]}% "
            "without"
        )
    kappas = {key: mean(key, "positive_condition_number") for key in _MODELS}
    bounds = {key: mean(key, "condition_number_bound") for key in _MODELS}
    kappa = (
        f"the condition number of the positive part, λmax over the smallest λ above the float32 "
        f"tolerance tol, is {kappas['plain']:,.0f} without and {kappas['bn']:,.0f} with BatchNorm"
    )
    if all(kappas[key] > 0.9 * bounds[key] for key in _MODELS):
        kappa += (
            f", each near its bound λmax/tol ({bounds['plain']:,.0f} and {bounds['bn']:,.0f}): "
            "both Hessians have eigenvalues down to float32's resolution, so κ cannot tell the "
            "two apart"
        )
    negative = {key: mean(key, "share_negative_near_top") for key in _MODELS}
    if abs(negative["bn"] - negative["plain"]) <= _SAME * max(negative.values()):
        compared = "about as much"
    else:
        compared = "more" if negative["bn"] > negative["plain"] else "less"
    negatives = side_by_side([100 * negative["bn"], 100 * negative["plain"]], decimals=1)
    return (
        f"The dense Hessian of a {numbers['depth']}-layer sigmoid MLP of width "
        f"{numbers['width']} ({numbers['plain']['n_params'][0]:,} parameters; "
        f"{numbers['bn']['n_params'][0]:,} with BatchNorm's γ, β) at initialization, on "
        f"{numbers['examples']} digits, mean over {counted(seeds, 'seed')}. λmax is "
        f"{mean('plain', 'max'):.3g} without and {mean('bn', 'max'):.3g} with BatchNorm, λmin "
        f"{mean('plain', 'min'):.3g} and {mean('bn', 'min'):.3g}: with negative and near-zero "
        f"eigenvalues λmax/λmin means nothing for a network, and {kappa}. {outcome}. The "
        "median |λ| is "
        f"{mean('plain', 'median_relative'):.1e}·λmax without and "
        f"{mean('bn', 'median_relative'):.1e}·λmax with it; BatchNorm's network has "
        f"{compared} negative curvature ({negatives[0]}% of the eigenvalues below "
        f"−λmax/{near[:-1]}, against {negatives[1]}% without)."
    )


_TEST_MODES = (
    ("running statistics, whole validation set", False, False),
    ("running statistics, batches of one", False, True),
    ("batch statistics, whole validation set", True, False),
    ("batch statistics, batches of one", True, True),
)


def statistics_at_test_time(config: LectureConfig, seed: int = 0) -> Claim:
    """The trained BatchNorm MLP tested four ways: running vs batch statistics, whole set vs one.

    With batch statistics a batch of one normalizes every feature to 0 (x − μ = 0), so the
    output ignores the input; the running averages give the same answer for any batch size.

    Returns:
      A claim whose numbers hold the validation accuracy of each way of testing.
    """
    import jax

    from jaxtrain.losses import accuracy

    _, (x_val, y_val) = digits_splits(seed)
    state, _ = _trained(True, config, seed)
    apply, params, running = state.apply, state.params, state.model_state

    def predict(x: Any, *, train: bool) -> Any:
        return apply(params, running, x, train=train)[0]

    def predict_one_at_a_time(x: Any, *, train: bool) -> Any:
        return jax.vmap(lambda xi: predict(xi[None], train=train)[0])(x)

    numbers: dict[str, Any] = {"running_momentum": _RUNNING_MOMENTUM, "epochs": _epochs(config)}
    numbers["accuracy"] = {}
    for name, train, one_at_a_time in _TEST_MODES:
        logits = (predict_one_at_a_time if one_at_a_time else predict)(x_val, train=train)
        numbers["accuracy"][name] = float(accuracy(logits, y_val))
    return Claim(
        section=_ID,
        id="statistics_at_test_time",
        title="BatchNorm at test time",
        numbers=numbers,
        figure=_test_time_figure(numbers),
        caption=_test_time_caption(numbers),
    )


def _test_time_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    accuracies = numbers["accuracy"]
    names = list(accuracies)
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    ax.barh(names, [accuracies[n] for n in names], color=["C2", "C2", "C0", "C3"])
    ax.axvline(0.1, color="gray", ls="--", lw=1, label="chance (10 classes)")
    for i, name in enumerate(names):
        ax.text(min(accuracies[name] + 0.01, 0.9), i, f"{accuracies[name]:.2f}", va="center")
    ax.set(xlim=(0, 1), xlabel="validation accuracy", title="BatchNorm at test time")
    ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize=8)
    fig.set_layout_engine("tight")
    return fig


def _test_time_caption(numbers: dict[str, Any]) -> str:
    accuracies = numbers["accuracy"]
    running_whole, running_one, batch_whole, batch_one = (accuracies[n] for n, _, _ in _TEST_MODES)
    whole_text, one_text = side_by_side([running_whole, running_one])
    gap = abs(running_whole - running_one)
    same = (
        "the same, as testing needs"
        if gap < 1e-6
        else f"different (by {gap:.2g}), though testing needs the same answer for any batch size"
    )
    return (
        "The trained BatchNorm MLP, tested on the validation set. With batch statistics a batch "
        f"of one normalizes every feature to 0 (x − μ = 0), so the prediction ignores the input: "
        f"accuracy {batch_one:.2f}, against {batch_whole:.2f} with the whole set as one batch. "
        f"With the running averages μ̄, σ̄² collected during training (p = "
        f"{numbers['running_momentum']}) the accuracy is {whole_text} for the whole set "
        f"and {one_text} one example at a time: {same}."
    )


SECTION = Section(
    id=_ID,
    title="6. Batch normalization",
    summary=(
        "Inputs and hidden features on very different scales make the error surface steep in "
        "some directions and flat in others. Batch normalization standardizes every feature "
        "over the batch, z̃ᵢ = (zᵢ − μ)/σ, then rescales, ẑᵢ = γ ⊙ z̃ᵢ + β. At test time "
        "there may be no batch, so it uses running averages μ̄ ← p·μ̄ + (1 − p)·μ collected "
        "during training."
    ),
    experiments=(input_scales, with_and_without, network_curvature, statistics_at_test_time),
)
"""§6 of the lecture: its summary and its claims, in the order the tour, the examples and
the notebooks show them (``SECTION.claims(config, seed=...)``)."""
