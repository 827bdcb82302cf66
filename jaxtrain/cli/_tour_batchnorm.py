"""Tour §6, batch normalization: training with vs without it, and test-time statistics."""

from __future__ import annotations

import functools
from typing import Any

from jaxtrain.cli._tour import TourContext, TourSection
from jaxtrain.cli._tour_data import digits_splits

# Flax's default keeps 0.99 of the old running value per step; a short tour run takes only a
# few hundred steps, so the running statistics follow the batches faster (PyTorch's 0.1).
_RUNNING_MOMENTUM = 0.9
_DEPTH, _LEARNING_RATE = 4, 0.5


def _batchnorm(num_features, *, rngs):
    from jaxtrain.nn import BatchNorm

    return BatchNorm(num_features, momentum=_RUNNING_MOMENTUM, rngs=rngs)


def _mlp(norm, depth, seed):
    from flax import nnx

    from jaxtrain.nn import MLP

    return MLP(64, 64, 10, depth=depth, activation="sigmoid", norm=norm, rngs=nnx.Rngs(seed))


@functools.lru_cache(maxsize=4)
def _trained(with_batchnorm: bool, seed: int, quick: bool) -> tuple[Any, Any]:
    """(TrainState, History) of the deep sigmoid MLP, shared by both figures."""
    from jaxtrain.losses import accuracy, softmax_cross_entropy
    from jaxtrain.optim import sgd
    from jaxtrain.train import fit

    (x_train, y_train), (x_val, y_val) = digits_splits(seed)
    return fit(
        _mlp(_batchnorm if with_batchnorm else None, _DEPTH, seed),
        sgd(_LEARNING_RATE),
        (x_train, y_train),
        loss=softmax_cross_entropy,
        epochs=_epochs(quick),
        batch_size=64,
        val_data=(x_val, y_val),
        metrics=[accuracy],
        drop_last=True,
        seed=seed,
        progress=False,
    )


def _epochs(quick: bool) -> int:
    return 8 if quick else 30


def with_and_without(ctx: TourContext) -> None:
    """A deep sigmoid MLP at one learning rate: BatchNorm makes the error surface easier."""
    import matplotlib.pyplot as plt
    import numpy as np

    epochs, depth, lr = _epochs(ctx.quick), _DEPTH, _LEARNING_RATE
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    numbers = {"epochs": epochs, "depth": depth, "learning_rate": lr}
    for label, norm in (("without BatchNorm", False), ("with BatchNorm", True)):
        _, history = _trained(norm, ctx.seed, ctx.quick)
        train_loss = np.asarray(history.per_epoch["train_loss"])
        val_acc = np.asarray(history.per_epoch["val_accuracy"])
        epoch_axis = np.arange(1, epochs + 1)
        ax_loss.plot(epoch_axis, train_loss, label=label)
        ax_acc.plot(epoch_axis, val_acc, label=label)
        key = "bn" if norm else "plain"
        numbers[f"{key}_train_loss"] = train_loss
        numbers[f"{key}_final_val_accuracy"] = float(val_acc[-1])
    ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log", title="training loss")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1), title="validation")
    for ax in (ax_loss, ax_acc):
        ax.legend(fontsize=8)
    fig.tight_layout()
    ctx.add_figure(
        "with_and_without",
        fig,
        f"A {depth}-layer sigmoid MLP on digits, SGD η = {lr}, {epochs} epochs. Without "
        f"BatchNorm: validation accuracy {numbers['plain_final_val_accuracy']:.2f}; with "
        f"BatchNorm: {numbers['bn_final_val_accuracy']:.2f}. Normalizing every layer's "
        "inputs keeps their scales alike, so one learning rate suits all directions.",
        numbers,
    )


def test_time_statistics(ctx: TourContext) -> None:
    """At test time a batch of one has no batch statistics: the running averages stand in."""
    import jax
    import matplotlib.pyplot as plt

    from jaxtrain.losses import accuracy

    _, (x_val, y_val) = digits_splits(ctx.seed)
    epochs = _epochs(ctx.quick)
    state, _ = _trained(True, ctx.seed, ctx.quick)
    apply, params, running = state.apply, state.params, state.model_state

    def one_example(x, *, train):
        logits, _ = apply(params, running, x[None], train=train)
        return logits[0]

    predictions = {
        "running statistics (eval mode)": jax.vmap(lambda x: one_example(x, train=False))(x_val),
        "batch statistics, whole test set": apply(params, running, x_val, train=True)[0],
        "batch statistics, batch of one": jax.vmap(lambda x: one_example(x, train=True))(x_val),
    }
    accuracies = {name: float(accuracy(logits, y_val)) for name, logits in predictions.items()}
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    names = list(accuracies)
    ax.barh(names, [accuracies[n] for n in names], color=["tab:green", "tab:blue", "tab:red"])
    ax.axvline(0.1, color="gray", ls="--", lw=1, label="chance (10 classes)")
    for i, name in enumerate(names):
        ax.text(min(accuracies[name] + 0.01, 0.9), i, f"{accuracies[name]:.2f}", va="center")
    ax.set(xlim=(0, 1), xlabel="test accuracy", title="BatchNorm at test time")
    ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    running_acc = accuracies["running statistics (eval mode)"]
    single_acc = accuracies["batch statistics, batch of one"]
    ctx.add_figure(
        "test_time_statistics",
        fig,
        f"The trained BatchNorm MLP, tested one example at a time. With batch "
        f"statistics a batch of one normalizes every feature to 0 (x − μ = 0), so each "
        f"prediction is the same: accuracy {single_acc:.2f}, chance. With the running "
        f"averages μ̄, σ̄² collected during training (momentum {_RUNNING_MOMENTUM}): "
        f"{running_acc:.2f}.",
        {
            "running_stats_accuracy": running_acc,
            "batch_stats_full_batch_accuracy": accuracies["batch statistics, whole test set"],
            "batch_of_one_accuracy": single_acc,
            "running_momentum": _RUNNING_MOMENTUM,
            "epochs": epochs,
        },
    )


SECTION = TourSection(
    id="batch_normalization",
    title="6. Batch normalization",
    summary=(
        "Inputs and hidden features on very different scales make the error surface steep in "
        "some directions and flat in others. Batch normalization standardizes every feature "
        "over the batch, z̃ᵢ = (zᵢ − μ)/σ, then rescales, ẑᵢ = γ ⊙ z̃ᵢ + β. At test time "
        "there may be no batch, so it uses running averages μ̄ ← p·μ̄ + (1 − p)·μ collected "
        "during training."
    ),
    figures=(with_and_without, test_time_statistics),
)
