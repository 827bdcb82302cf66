"""§6 Batch normalization: the same deep network with and without it, and what test time needs.

Inputs and hidden features on very different scales make the error surface steep in some
directions and flat in others. Batch normalization standardizes every feature over the batch,
z̃ᵢ = (zᵢ − μ)/σ, then rescales, ẑᵢ = γ ⊙ z̃ᵢ + β. At test time there may be no batch, so it uses
running averages μ̄ ← p·μ̄ + (1 − p)·μ collected during training.

Both experiments train one deep sigmoid MLP on digits with ``jaxtrain.train.fit``, once without
normalization and once with :class:`jaxtrain.nn.BatchNorm` after every hidden linear layer.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from jaxtrain.lecture._claim import Claim, LectureConfig
from jaxtrain.lecture._digits import digits_splits
from jaxtrain.lecture._section import Section

__all__ = ["SECTION", "statistics_at_test_time", "with_and_without"]

_ID = "batch_normalization"
# Flax's default keeps 0.99 of the old running value per step; a lecture run takes only a few
# hundred steps, so the running statistics follow the batches faster (PyTorch's 0.1).
_RUNNING_MOMENTUM = 0.9
_DEPTH, _LEARNING_RATE, _BATCH_SIZE = 4, 0.5, 64


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
    fig.tight_layout()
    return fig


def _training_caption(numbers: dict[str, Any]) -> str:
    plain_loss = float(numbers["plain_train_loss"][-1])
    bn_loss = float(numbers["bn_train_loss"][-1])
    if bn_loss < plain_loss:
        outcome = f"BatchNorm ends with a training loss {plain_loss / bn_loss:.1f}× lower"
    else:
        ratio = bn_loss / plain_loss
        outcome = f"here BatchNorm does not help: its training loss ends {ratio:.1f}× higher"
    return (
        f"A {numbers['depth']}-layer sigmoid MLP on digits, SGD η = {numbers['learning_rate']}, "
        f"{numbers['epochs']} epochs: {outcome} ({bn_loss:.3f} vs {plain_loss:.3f}); validation "
        f"accuracy {numbers['bn_final_val_accuracy']:.2f} with it, "
        f"{numbers['plain_final_val_accuracy']:.2f} without. (The lecture's reason: normalized "
        "inputs keep every layer's scales alike, so one learning rate suits all directions.)"
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
    fig.tight_layout()
    return fig


def _test_time_caption(numbers: dict[str, Any]) -> str:
    accuracies = numbers["accuracy"]
    running_whole, running_one, batch_whole, batch_one = (accuracies[n] for n, _, _ in _TEST_MODES)
    same = "the same" if abs(running_whole - running_one) < 1e-6 else "different"
    return (
        "The trained BatchNorm MLP, tested on the validation set. With batch statistics a batch "
        f"of one normalizes every feature to 0 (x − μ = 0), so the prediction ignores the input: "
        f"accuracy {batch_one:.2f}, against {batch_whole:.2f} with the whole set as one batch. "
        f"With the running averages μ̄, σ̄² collected during training (p = "
        f"{numbers['running_momentum']}) the accuracy is {running_whole:.2f} for the whole set "
        f"and {running_one:.2f} one example at a time: {same}, as testing needs."
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
    experiments=(with_and_without, statistics_at_test_time),
)
