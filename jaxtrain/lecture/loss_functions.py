"""§5 Loss functions: softmax and its two-class sigmoid, and why cross-entropy beats MSE.

For classification the network's logits z pass through softmax, ŷᵢ = exp(zᵢ)/Σⱼ exp(zⱼ), and
the loss compares ŷ with the one-hot target y. With two classes softmax is the sigmoid of the
logit difference, softmax(z₀, z₁)₁ = σ(z₁ − z₀) = 1/(1 + e^{−(z₁ − z₀)}), so two-class softmax
cross-entropy and sigmoid binary cross-entropy are one loss.

The two losses of the lecture, per example (a batch takes the mean over its examples):

- mean squared error after softmax, e = Σᵢ (yᵢ − ŷᵢ)², the *sum* over the classes;
- cross-entropy, e = −Σᵢ yᵢ ln ŷᵢ = −ln ŷ_target.

Cross-entropy's gradient with respect to the logits is ∂e/∂zⱼ = ŷⱼ − yⱼ: it stays of order 1
while the prediction is confidently wrong. MSE's passes through the softmax Jacobian,
∂e/∂zⱼ = 2 Σᵢ (ŷᵢ − yᵢ) ŷᵢ (δᵢⱼ − ŷⱼ), which vanishes where the softmax saturates (every ŷᵢ
near 0 or 1): its error surface has a plateau there, and changing the loss function changes
how hard the optimization is.

Experiments:

- :func:`two_class_softmax`: softmax over two classes against the sigmoid of the difference,
  and their cross-entropies, on random logits;
- :func:`error_surfaces`: both losses over two free logits, and gradient descent on the logits
  from a confidently wrong start;
- :func:`training`: an MLP on digits whose head starts confidently wrong, trained with each
  loss.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from jaxtrain._text import beside, non_finite
from jaxtrain.lecture._claim import Claim, LectureConfig
from jaxtrain.lecture._digits import digits_splits
from jaxtrain.lecture._section import Section

__all__ = ["SECTION", "error_surfaces", "training", "two_class_softmax"]

_ID = "loss_functions"
_NAMES = {"mse": "MSE after softmax", "ce": "cross-entropy"}


def _mse_after_softmax(logits: Any, labels: Any) -> Any:
    """The lecture's e = Σᵢ (yᵢ − ŷᵢ)² per example (sum over classes), mean over examples."""
    import jax

    from jaxtrain.losses import mse

    return mse(jax.nn.softmax(logits), labels, reduction="none").sum(-1).mean()


def _losses() -> dict[str, Any]:
    from jaxtrain.losses import softmax_cross_entropy

    return {"mse": _mse_after_softmax, "ce": softmax_cross_entropy}


# ---- softmax over two classes is a sigmoid ----

_NUM_PAIRS = 2000
_NUM_SHOWN = 300  # pairs drawn in the figure
_LOGIT_SCALE = 10.0  # random logits N(0, 10²): confident predictions both ways, not only near 0
_OFFSETS = (-5.0, 0.0, 5.0)  # z₀ for the curves P(class 1) against z₁ − z₀
# Two float32 results of different formulas agree to a few units of rounding, relative to their
# size: 1e-5 of (1 + |value|) is ~80 units of float32 rounding.
_FLOAT32_AGREEMENT = 1e-5


def _two_class_measurements(key: Any) -> dict[str, Any]:
    """Random logit pairs: softmax against sigmoid, their losses and gradients (jit-able)."""
    import jax
    import jax.numpy as jnp

    from jaxtrain.losses import sigmoid_binary_cross_entropy, softmax_cross_entropy

    key_z, key_y = jax.random.split(key)
    logits = _LOGIT_SCALE * jax.random.normal(key_z, (_NUM_PAIRS, 2))
    labels = jax.random.bernoulli(key_y, 0.5, (_NUM_PAIRS,)).astype(jnp.int32)
    difference = logits[:, 1] - logits[:, 0]
    softmax_ce = softmax_cross_entropy(logits, labels, reduction="none")
    sigmoid_bce = sigmoid_binary_cross_entropy(difference, labels, reduction="none")
    # Per-example gradients: each example's logits enter only its own term of the sum.
    grad_softmax = jax.grad(lambda z: softmax_cross_entropy(z, labels, reduction="sum"))(logits)
    grad_sigmoid = jax.grad(lambda d: sigmoid_binary_cross_entropy(d, labels, reduction="sum"))(
        difference
    )
    curve_difference = jnp.linspace(-8.0, 8.0, 33)
    out = {
        "probability_max_difference": jnp.max(
            jnp.abs(jax.nn.softmax(logits)[:, 1] - jax.nn.sigmoid(difference))
        ),
        "loss_max_relative_difference": jnp.max(
            jnp.abs(softmax_ce - sigmoid_bce) / (1.0 + jnp.abs(sigmoid_bce))
        ),
        "gradient_max_difference": jnp.max(jnp.abs(grad_softmax[:, 1] - grad_sigmoid)),
        # ∂e/∂z₀ = −∂e/∂z₁: only the difference z₁ − z₀ matters.
        "gradient_sum_max": jnp.max(jnp.abs(grad_softmax.sum(-1))),
        "largest_loss": jnp.max(softmax_ce),
        "curve_difference": curve_difference,
        "curve_sigmoid": jax.nn.sigmoid(curve_difference),
        "sample_difference": difference[:_NUM_SHOWN],
        "sample_softmax_ce": softmax_ce[:_NUM_SHOWN],
        "sample_sigmoid_bce": sigmoid_bce[:_NUM_SHOWN],
    }
    for offset in _OFFSETS:
        pair = jnp.stack([jnp.full_like(curve_difference, offset), offset + curve_difference], -1)
        out[f"curve_softmax z0={offset:g}"] = jax.nn.softmax(pair)[:, 1]
    return out


def two_class_softmax(config: LectureConfig, seed: int = 0) -> Claim:
    """Softmax over (z₀, z₁) against σ(z₁ − z₀), and their cross-entropies, on random logits.

    ``seed`` draws the logits and labels; ``config`` does not change this instant experiment.

    Returns:
      A claim whose numbers hold the largest differences between softmax(z)₁ and σ(z₁ − z₀),
      between two-class softmax cross-entropy and sigmoid binary cross-entropy on z₁ − z₀, and
      between their gradients (∂e/∂z₁ of the first against ∂e/∂(z₁ − z₀) of the second), with
      the curves and losses the figure shows.
    """
    import jax

    del config
    # One compiled program instead of a compilation per operation.
    measured = jax.jit(_two_class_measurements)(jax.random.key(seed))
    measured = {name: np.asarray(value) for name, value in measured.items()}
    numbers: dict[str, Any] = {
        "num_pairs": _NUM_PAIRS,
        "logit_scale": _LOGIT_SCALE,
        "tolerance": _FLOAT32_AGREEMENT,
    }
    for name in (
        "probability_max_difference",
        "loss_max_relative_difference",
        "gradient_max_difference",
        "gradient_sum_max",
        "largest_loss",
    ):
        numbers[name] = float(measured.pop(name))
    numbers.update(measured)
    return Claim(
        section=_ID,
        id="two_class_softmax",
        title="Softmax over two classes is a sigmoid",
        numbers=numbers,
        figure=_two_class_figure(numbers),
        caption=_two_class_caption(numbers),
    )


def _two_class_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, (ax_p, ax_e) = plt.subplots(1, 2, figsize=(10, 3.8))
    d = numbers["curve_difference"]
    ax_p.plot(d, numbers["curve_sigmoid"], color="black", lw=3, alpha=0.3, label="σ(z₁ − z₀)")
    for offset, marker in zip(_OFFSETS, "o^s", strict=True):
        values = numbers[f"curve_softmax z0={offset:g}"]
        ax_p.plot(d, values, marker, ms=3, fillstyle="none", label=f"softmax, z₀ = {offset:g}")
    ax_p.set(xlabel="z₁ − z₀", ylabel="ŷ₁", ylim=(0, 1), title="probability of class 1")
    ax_p.legend(fontsize=8)

    difference = numbers["sample_difference"]
    ax_e.plot(difference, numbers["sample_sigmoid_bce"], "o", ms=6, color="C0", alpha=0.3)
    ax_e.plot(difference, numbers["sample_softmax_ce"], ".", ms=2, color="C3")
    ax_e.plot([], [], "o", color="C0", alpha=0.3, label="sigmoid BCE of z₁ − z₀")
    ax_e.plot([], [], ".", color="C3", label="softmax cross-entropy over (z₀, z₁)")
    ax_e.set(xlabel="z₁ − z₀", ylabel="loss", ylim=(0, None), title="loss, random logits")
    ax_e.legend(fontsize=8)
    fig.set_layout_engine("tight")
    return fig


def _two_class_caption(numbers: dict[str, Any]) -> str:
    tolerance = numbers["tolerance"]
    measured = (
        numbers["probability_max_difference"],
        numbers["loss_max_relative_difference"],
        numbers["gradient_max_difference"],
        numbers["gradient_sum_max"],
    )
    probability, loss, gradient, gradient_sum = map(_scientific, measured)
    largest_loss = numbers["largest_loss"]
    conclusion = ""
    # max() passes over a NaN after the first item, so finiteness is checked first.
    if not all(math.isfinite(value) for value in measured):
        names = ("probabilities", "losses", "gradients", "gradient sums")
        bad = [
            name for name, value in zip(names, measured, strict=True) if not math.isfinite(value)
        ]
        which = (
            f"difference of the {bad[0]} is"
            if len(bad) == 1
            else (f"differences of the {', '.join(bad[:-1])} and {bad[-1]} are")
        )
        why = (
            " (a loss overflowed)"
            if math.isinf(largest_loss)
            else " (a loss is NaN)"
            if math.isnan(largest_loss)
            else ""
        )
        verdict = f"not equal here: the largest {which} not finite{why}"
    elif max(measured) <= tolerance:
        verdict = "equal up to float32 rounding"
        conclusion = (
            " Only the difference z₁ − z₀ matters, so a two-class network can use one output "
            "and a sigmoid."
        )
    else:
        largest = beside(max(measured), tolerance, digits=2)
        verdict = f"not equal here: the largest difference, {largest}, exceeds {tolerance:g}"
    largest_loss = (
        f"{largest_loss:.1f}" if math.isfinite(largest_loss) else non_finite(largest_loss)
    )
    return (
        f"{numbers['num_pairs']:,} random logit pairs (z₀, z₁) ~ N(0, "
        f"{numbers['logit_scale']:g}²) with random labels: softmax(z)₁ and σ(z₁ − z₀) differ "
        f"by at most {probability}, two-class softmax cross-entropy and sigmoid BCE of z₁ − z₀ "
        f"by at most {loss} relative (losses up to {largest_loss}), their gradients by "
        f"{gradient}, and ∂e/∂z₀ + ∂e/∂z₁ is at most {gradient_sum}: {verdict}.{conclusion}"
    )


def _scientific(value: float) -> str:
    """A small difference in two significant digits (:func:`non_finite` if it is not)."""
    return f"{value:.1e}" if math.isfinite(value) else non_finite(value)


# ---- the error surfaces of the two losses over two logits ----

# Three classes, the third logit pinned far below the others, target class 1 (index 0): the
# surface over the two free logits (z₁, z₂), the lecture's picture.
_PINNED_LOGIT = -1000.0
_POOR_START = (-10.0, 10.0)
_SURFACE_LEARNING_RATE = 1.0
# A loss still above this fraction of its starting value after all the steps has not left the
# plateau it started on.
_STUCK_FRACTION = 0.9
# A gradient below this fraction of the other loss's gradient, at the same point, has vanished.
_VANISHED = 1e-3


def _logits(z: Any) -> Any:
    import jax.numpy as jnp

    return jnp.stack([z[0], z[1], jnp.asarray(_PINNED_LOGIT, z.dtype)])[None]


def error_surfaces(config: LectureConfig, seed: int = 0) -> Claim:
    """MSE's plateau against cross-entropy's slope over two logits, from the same poor start.

    Logits z = (z₁, z₂, −1000), target class 1: the start z = (−10, 10) is confidently wrong.
    Gradient descent (η = 1) moves the logits themselves. The experiment is deterministic;
    ``seed`` is unused.

    Returns:
      A claim whose numbers hold each loss's surface over the grid, its gradient norm and loss
      at the start, the descent path and the loss along it.
    """
    import jax
    import jax.numpy as jnp

    from jaxtrain.landscape import loss_surface_2d
    from jaxtrain.optim import optimize_trajectory, sgd

    del seed
    steps = config.size(quick=200, full=400)
    grid = jnp.linspace(-12.0, 12.0, config.size(quick=61, full=97))
    start = jnp.asarray(_POOR_START)
    e1, e2 = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
    target = jnp.array([0])
    numbers: dict[str, Any] = {
        "start_logits": np.asarray(_POOR_START),
        "pinned_logit": _PINNED_LOGIT,
        "steps": steps,
        "learning_rate": _SURFACE_LEARNING_RATE,
        "grid": np.asarray(grid),
    }
    for key, loss in _losses().items():

        def loss_fn(z: Any, loss: Any = loss) -> Any:
            return loss(_logits(z), target)

        path, values = optimize_trajectory(sgd(_SURFACE_LEARNING_RATE), loss_fn, start, steps)
        numbers[f"{key}_surface"] = np.asarray(
            loss_surface_2d(loss_fn, jnp.zeros(2), e1, e2, grid, grid)
        )
        gradient = jax.jit(jax.grad(loss_fn))(start)
        numbers[f"{key}_grad_norm_at_start"] = float(np.linalg.norm(np.asarray(gradient)))
        numbers[f"{key}_loss_at_start"] = float(values[0])
        numbers[f"{key}_loss_after"] = float(values[-1])
        numbers[f"{key}_losses"] = np.asarray(values)
        numbers[f"{key}_path"] = np.asarray(path)
    return Claim(
        section=_ID,
        id="error_surfaces",
        title="Error surfaces of MSE and cross-entropy",
        numbers=numbers,
        figure=_surfaces_figure(numbers),
        caption=_surfaces_caption(numbers),
    )


def _surfaces_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    from jaxtrain.plot import plot_loss_surface_2d

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    grid, start = numbers["grid"], numbers["start_logits"]
    for ax, key in zip(axes[:2], _NAMES, strict=True):
        plot_loss_surface_2d(
            grid, grid, numbers[f"{key}_surface"], ax, levels=20, mark_origin=False
        )
        path = numbers[f"{key}_path"]
        ax.plot(path[:, 0], path[:, 1], ".-", color="white", markersize=2, lw=1)
        grad_norm = numbers[f"{key}_grad_norm_at_start"]
        ax.plot(*start, "o", color="red", label=f"start, ‖g‖ = {grad_norm:.2g}")
        ax.set(xlabel="z₁ (target class)", ylabel="z₂", title=_NAMES[key], aspect="equal")
        ax.legend(loc="lower left", fontsize=8)
    for key, name in _NAMES.items():
        axes[2].plot(numbers[f"{key}_losses"], label=name)
    axes[2].set(
        xlabel=f"gradient step (η = {numbers['learning_rate']:g})",
        ylabel="loss e",
        ylim=(0, None),
        title="loss along the descent",
    )
    axes[2].legend(fontsize=8)
    fig.set_layout_engine("tight")
    return fig


def _surfaces_caption(numbers: dict[str, Any]) -> str:
    def outcome(key: str) -> str:
        first, last = numbers[f"{key}_loss_at_start"], numbers[f"{key}_loss_after"]
        if not math.isfinite(last):  # every comparison with NaN is False: it would "fall"
            return f"goes from {first:.3g} to {non_finite(last)} (not finite)"
        if last > first:
            return f"rises from {first:.3g} to {last:.3g}"
        if last == first:
            return f"stays at {last:.3g}"
        if last > _STUCK_FRACTION * first:
            return f"stays at {last:.3g} (it started at {first:.3g})"
        return f"falls from {first:.3g} to {last:.3g}"

    mse_norm, ce_norm = numbers["mse_grad_norm_at_start"], numbers["ce_grad_norm_at_start"]
    if mse_norm == 0:
        compare = ": MSE's start sits on an exactly flat plateau"
    elif mse_norm < _VANISHED * ce_norm:
        compare = f": MSE's start sits on a plateau, {ce_norm / mse_norm:.1e}× flatter"
    else:
        ratio = beside(ce_norm / mse_norm, 1 / _VANISHED, digits=2)
        compare = f" (a ratio of {ratio}, no plateau)"
    start = tuple(float(v) for v in numbers["start_logits"])
    return (
        f"Logits z = (z₁, z₂, {numbers['pinned_logit']:g}), target class 1, e per example "
        f"(MSE summed over the classes), start z = ({start[0]:g}, {start[1]:g}), confidently "
        f"wrong. The gradient there is ‖g‖ = {mse_norm:.1e} with softmax + MSE and "
        f"{ce_norm:.2f} with cross-entropy{compare}. After {numbers['steps']} gradient "
        f"steps on z (η = {numbers['learning_rate']:g}) the MSE loss {outcome('mse')} and the "
        f"cross-entropy loss {outcome('ce')}."
    )


# ---- training a network from a confidently wrong start ----

_EPOCHS = {"quick": 3, "full": 10}
_TRAIN_LEARNING_RATE, _BATCH_SIZE, _HIDDEN = 0.5, 64, 64
_WRONG_CLASS, _WRONG_BIAS = 9, 10.0


def _confidently_wrong_mlp(seed: int) -> Any:
    """An MLP on digits whose head predicts class 9 with certainty for every input."""
    import jax.numpy as jnp
    from flax import nnx

    from jaxtrain.nn import MLP

    model = MLP(64, _HIDDEN, 10, depth=1, rngs=nnx.Rngs(seed))
    # Zero head weights and a bias of ±10: the logits are the same for every digit.
    model.head.kernel[...] = jnp.zeros_like(model.head.kernel[...])
    model.head.bias[...] = jnp.where(jnp.arange(10) == _WRONG_CLASS, _WRONG_BIAS, -_WRONG_BIAS)
    return model


def _gradient_norm(model: Any, loss: Any, data: tuple[Any, Any]) -> float:
    """‖∇θ L‖ over all the parameters θ, on the whole data set."""
    import jax
    import jax.numpy as jnp

    from jaxtrain.nn import functional

    apply, params, state = functional(model)
    x, y = data

    def objective(params: Any) -> Any:
        return loss(apply(params, state, x, train=False)[0], y)

    grads = jax.jit(jax.grad(objective))(params)
    return float(jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree.leaves(grads))))


def training(config: LectureConfig, seed: int = 0) -> Claim:
    """The same MLP from a confidently wrong start, trained on digits with each loss.

    The head's weights start at zero and its bias at +10 for class 9, −10 for the others, so
    every digit starts predicted "9" with certainty (on the plateau for nine digits in ten).

    Returns:
      A claim whose numbers hold, for each loss, the gradient norm ‖∇θ L‖ at the start, the
      per-step training loss, the running training accuracy per epoch and the training
      accuracy of the final network.
    """
    from jaxtrain.losses import accuracy
    from jaxtrain.optim import sgd
    from jaxtrain.train import evaluate, fit

    (x_train, y_train), _ = digits_splits(seed)
    epochs = config.size(**_EPOCHS)
    numbers: dict[str, Any] = {
        "epochs": epochs,
        "learning_rate": _TRAIN_LEARNING_RATE,
        "batch_size": _BATCH_SIZE,
        "wrong_bias": _WRONG_BIAS,
        "wrong_class": _WRONG_CLASS,
        "start_train_accuracy": float(
            evaluate(
                _confidently_wrong_mlp(seed),
                (x_train, y_train),
                loss=_mse_after_softmax,
                metrics=[accuracy],
            )["accuracy"]
        ),
    }
    for key, loss in _losses().items():
        model = _confidently_wrong_mlp(seed)
        numbers[f"{key}_grad_norm_at_start"] = _gradient_norm(model, loss, (x_train, y_train))
        state, history = fit(
            model,
            sgd(_TRAIN_LEARNING_RATE),
            (x_train, y_train),
            loss=loss,
            epochs=epochs,
            batch_size=_BATCH_SIZE,
            metrics=[accuracy],
            drop_last=True,
            seed=seed,
            progress=False,
        )
        final = evaluate(state, (x_train, y_train), loss=loss, metrics=[accuracy])
        numbers[f"{key}_losses"] = np.asarray(history.per_step["loss"])
        numbers[f"{key}_first_loss"] = float(history.per_step["loss"][0])
        numbers[f"{key}_last_loss"] = float(history.per_step["loss"][-1])
        numbers[f"{key}_epoch_accuracy"] = np.asarray(history.per_epoch["train_accuracy"])
        numbers[f"{key}_train_accuracy"] = float(final["accuracy"])
    return Claim(
        section=_ID,
        id="training",
        title="Training from a confidently wrong start",
        numbers=numbers,
        figure=_training_figure(numbers),
        caption=_training_caption(numbers),
    )


def _training_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    epoch_axis = np.arange(1, numbers["epochs"] + 1)
    for key, name in _NAMES.items():
        losses = numbers[f"{key}_losses"]
        ax_loss.plot(np.arange(1, len(losses) + 1), losses / losses[0], label=name)
        ax_acc.plot(epoch_axis, numbers[f"{key}_epoch_accuracy"], "o-", label=name)
    ax_acc.axhline(
        numbers["start_train_accuracy"], color="gray", ls="--", lw=1, label="at the start"
    )
    ax_loss.set(xlabel="step", ylabel="loss / first loss", yscale="log", title="training loss")
    ax_acc.set(
        xlabel="epoch", ylabel="accuracy (running, in training)", ylim=(0, 1), title="accuracy"
    )
    ax_acc.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (ax_loss, ax_acc):
        ax.legend(fontsize=8)
    fig.set_layout_engine("tight")
    return fig


def _training_caption(numbers: dict[str, Any]) -> str:
    mse_acc, ce_acc = numbers["mse_train_accuracy"], numbers["ce_train_accuracy"]
    start_acc = numbers["start_train_accuracy"]

    def change(key: str) -> str:
        first, last = numbers[f"{key}_first_loss"], numbers[f"{key}_last_loss"]
        return f"loss {first:.3g} → {last:.3g}"

    mse_norm, ce_norm = numbers["mse_grad_norm_at_start"], numbers["ce_grad_norm_at_start"]
    # The lecture's mechanism, stated only when the measured gradients show it.
    why = (
        ": MSE's gradient has vanished (the lecture's reason: the softmax saturates)"
        if mse_norm < _VANISHED * ce_norm
        else ""
    )
    shown_ce, shown_mse = round(ce_acc, 2), round(mse_acc, 2)  # judged as printed
    if shown_ce > shown_mse:
        outcome = (
            f"cross-entropy ends {shown_ce - shown_mse:.2f} higher in training accuracy "
            f"({shown_ce:.2f} vs {shown_mse:.2f})"
        )
    elif ce_acc > mse_acc:
        outcome = (
            f"cross-entropy ends as accurate in training to two decimals ({ce_acc:.4f} vs "
            f"{mse_acc:.4f})"
        )
    else:
        outcome = f"here cross-entropy does not do better ({ce_acc:.2f} vs {mse_acc:.2f})"
    return (
        f"An MLP on digits whose head starts confidently wrong (logit {numbers['wrong_bias']:g} "
        f"for class {numbers['wrong_class']}, −{numbers['wrong_bias']:g} for the rest; training "
        f"accuracy {start_acc:.2f}), {numbers['epochs']} epochs of SGD η = "
        f"{numbers['learning_rate']:g}. At the start ‖∇θ L‖ is "
        f"{numbers['mse_grad_norm_at_start']:.1e} for MSE after softmax and "
        f"{numbers['ce_grad_norm_at_start']:.2f} for cross-entropy{why}. Same model, same "
        f"data, only the loss changed: {outcome}; MSE's {change('mse')}, "
        f"cross-entropy's {change('ce')}."
    )


SECTION = Section(
    id=_ID,
    title="5. Loss functions",
    summary=(
        "For classification the network's logits z pass through softmax, ŷᵢ = exp(zᵢ)/Σⱼ "
        "exp(zⱼ), and the loss compares ŷ with the one-hot target y; with two classes softmax "
        "is the sigmoid of z₁ − z₀. Cross-entropy e = −Σᵢ yᵢ ln ŷᵢ keeps a slope where the "
        "prediction is confidently wrong; mean squared error e = Σᵢ (yᵢ − ŷᵢ)² goes flat "
        "there, because the softmax saturates: changing the loss function changes how hard "
        "optimization is. (Both e are per example, summed over the classes; a batch takes "
        "their mean.)"
    ),
    experiments=(two_class_softmax, error_surfaces, training),
)
"""§5 of the lecture: its summary and its claims, in the order the tour, the examples and
the notebooks show them (``SECTION.claims(config, seed=...)``)."""
