"""Batch size and momentum (lecture §3) on real data: scikit-learn's 8×8 handwritten digits.

Part 1, small vs large batches. The same MLP is trained for the same number of epochs with
batch sizes from 16 to the whole training set (full-batch gradient descent) and the same
learning rate η. An epoch of batch B makes ⌈N/B⌉ updates, so at a fixed number of epochs
small batches take many noisy steps and fit the training set, while full batch takes one
exact step per epoch and is still far from done. Each step of a large batch computes more
in parallel, so the time per *epoch* stays about the same (on a GPU it falls with B), while
the time per *update* grows with B. The generalization gap is the training accuracy minus
the validation accuracy of the final parameters; Keskar et al. (2017) report that large
batches at equal training loss generalize worse (sharp minima).

Part 2, plain vs momentum SGD. With momentum each update adds the previous one, scaled by
λ = 0.9: m ← λm − ηg, θ ← θ + m. Along a consistent direction the step grows to η/(1 − λ),
and across a ravine the oscillations cancel, so the training loss falls much faster at the
same η.

    python examples/batch_size_and_momentum.py --out jaxtrain-out
    python examples/batch_size_and_momentum.py --quick     # seconds: fewer epochs and sizes
"""

from __future__ import annotations

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from flax import nnx

from jaxtrain.data import load_digits, train_val_test_split
from jaxtrain.losses import accuracy, softmax_cross_entropy
from jaxtrain.nn import MLP, functional
from jaxtrain.optim import sgd
from jaxtrain.plot import plot_history
from jaxtrain.train import evaluate, fit

LEARNING_RATE = 0.02


def run_batch_sizes(triple, train, val, *, batch_sizes, epochs, learning_rate, seed):
    """Trains the same initial model with each batch size; returns per-size results."""
    results = {}
    for batch_size in batch_sizes:
        state, history = fit(
            triple,
            sgd(learning_rate),
            train,
            loss=softmax_cross_entropy,
            epochs=epochs,
            batch_size=batch_size,
            val_data=val,
            metrics=[accuracy],
            seed=seed,
            progress=False,
        )
        train_scores = evaluate(state, train, loss=softmax_cross_entropy, metrics=[accuracy])
        # fit evaluated the validation set after the last epoch (evaluation mode, as here)
        val_scores = {
            "loss": float(history.per_epoch["val_loss"][-1]),
            "accuracy": float(history.per_epoch["val_accuracy"][-1]),
        }
        # The first epoch includes compilation; later ones are the steady state.
        seconds = float(np.median(history.per_epoch["epoch_time"][1:]))
        updates = -(-len(train[0]) // batch_size)
        results[batch_size] = {
            "history": history,
            "train_accuracy": train_scores["accuracy"],
            "val_accuracy": val_scores["accuracy"],
            "train_loss": train_scores["loss"],
            "val_loss": val_scores["loss"],
            "gap": train_scores["accuracy"] - val_scores["accuracy"],
            "seconds_per_epoch": seconds,
            "seconds_per_update": seconds / updates,
            "updates_per_epoch": updates,
        }
    return results


def run_momentum(triple, train, val, plain, *, batch_size, epochs, learning_rate, seed):
    """Heavy-ball momentum (λ = 0.9) from the same start as ``plain``, the plain-SGD run at
    the same batch size and η (the batch-size comparison already trained it)."""
    state, history = fit(
        triple,
        sgd(learning_rate, momentum=0.9),
        train,
        loss=softmax_cross_entropy,
        epochs=epochs,
        batch_size=batch_size,
        val_data=val,
        metrics=[accuracy],
        seed=seed,
        progress=False,
    )
    scores = evaluate(state, train, loss=softmax_cross_entropy)
    return {
        "plain SGD": {"history": plain["history"], "train_loss": plain["train_loss"]},
        "momentum 0.9": {"history": history, "train_loss": scores["loss"]},
    }


def _label(batch_size, n):
    return f"full batch ({n})" if batch_size == n else f"batch {batch_size}"


def plot_batch_sizes(results, n, epochs, path):
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    (ax_loss, ax_acc), (ax_gap, ax_time) = axes
    for batch_size, r in results.items():
        h = r["history"].per_epoch
        (line,) = ax_loss.plot(h["epoch"], h["train_loss"], label=_label(batch_size, n))
        ax_loss.plot(h["epoch"], h["val_loss"], "--", color=line.get_color())
        ax_acc.plot(
            h["epoch"], h["train_accuracy"], color=line.get_color(), label=_label(batch_size, n)
        )
        ax_acc.plot(h["epoch"], h["val_accuracy"], "--", color=line.get_color())
    ax_loss.set(
        yscale="log",
        xlabel="epoch",
        ylabel="loss",
        title="training (solid) and validation (dashed) loss",
    )
    ax_acc.set(
        xlabel="epoch",
        ylabel="accuracy",
        ylim=(0, 1.02),
        title="training (solid) and validation (dashed) accuracy",
    )
    ax_loss.legend(fontsize=8)
    labels = [_label(b, n) for b in results]
    positions = np.arange(len(results))
    train_acc = [r["train_accuracy"] for r in results.values()]
    val_acc = [r["val_accuracy"] for r in results.values()]
    ax_gap.bar(positions - 0.2, train_acc, 0.4, label="train")
    ax_gap.bar(positions + 0.2, val_acc, 0.4, label="validation")
    for i, r in enumerate(results.values()):
        ax_gap.text(
            i, max(train_acc[i], val_acc[i]) + 0.02, f"gap {r['gap']:+.3f}", ha="center", fontsize=8
        )
    ax_gap.set(
        xticks=positions,
        xticklabels=labels,
        ylim=(0, 1.12),
        ylabel="accuracy",
        title=f"after {epochs} epochs: accuracy and generalization gap",
    )
    ax_gap.legend(fontsize=8, loc="lower left")
    per_epoch = [1e3 * r["seconds_per_epoch"] for r in results.values()]
    per_update = [1e3 * r["seconds_per_update"] for r in results.values()]
    ax_time.bar(positions - 0.2, per_epoch, 0.4, label="ms per epoch")
    ax_time.bar(positions + 0.2, per_update, 0.4, label="ms per update")
    ax_time.set(
        xticks=positions,
        xticklabels=labels,
        ylabel="milliseconds",
        title="time (median over epochs, after compiling)",
    )
    ax_time.legend(fontsize=8)
    for ax in (ax_gap, ax_time):
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(f"Same MLP, same η, {epochs} epochs: small batches make more updates")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_momentum(results, path):
    fig, (ax_step, ax_val) = plt.subplots(1, 2, figsize=(11, 4))
    for name, r in results.items():
        h = r["history"]
        ax_step.plot(np.arange(1, h.num_steps + 1), h.per_step["loss"], lw=0.7, label=name)
        ax_val.plot(h.per_epoch["epoch"], h.per_epoch["val_accuracy"], "o-", ms=3, label=name)
    ax_step.set(
        yscale="log",
        xlabel="update",
        ylabel="training loss (per batch)",
        title="m ← λm − ηg, θ ← θ + m",
    )
    ax_val.set(
        xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1.02), title="validation accuracy"
    )
    for ax in (ax_step, ax_val):
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="./jaxtrain-out", help="folder for the PNGs")
    parser.add_argument("--quick", action="store_true", help="a few seconds, for smoke tests")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out) / "batch_size_and_momentum"
    out.mkdir(parents=True, exist_ok=True)

    x, y = load_digits()
    splits = train_val_test_split(x, y, val_fraction=0.25, seed=args.seed)
    train, val = splits.train, splits.val
    n = len(train[0])
    epochs = 6 if args.quick else 40
    hidden = 32 if args.quick else 128
    batch_sizes = (16, n) if args.quick else (16, 64, 256, n)
    triple = functional(MLP(64, hidden, 10, depth=1, rngs=nnx.Rngs(args.seed)))

    batches = run_batch_sizes(
        triple,
        train,
        val,
        batch_sizes=batch_sizes,
        epochs=epochs,
        learning_rate=LEARNING_RATE,
        seed=args.seed,
    )
    plot_batch_sizes(batches, n, epochs, out / "batch_size.png")
    momentum_batch = 16 if args.quick else 64
    momentum = run_momentum(
        triple,
        train,
        val,
        batches[momentum_batch],
        batch_size=momentum_batch,
        epochs=epochs,
        learning_rate=LEARNING_RATE,
        seed=args.seed,
    )
    plot_momentum(momentum, out / "momentum.png")
    axes = plot_history(batches[16]["history"], title="batch 16: the whole record")
    axes[0].figure.savefig(out / "history_batch16.png", dpi=100)
    plt.close(axes[0].figure)

    print(
        f"digits: {n} training / {len(val[0])} validation examples, {epochs} epochs, "
        f"η = {LEARNING_RATE}"
    )
    print(
        f"{'batch':>16} {'updates/epoch':>14} {'train acc':>10} {'val acc':>8} {'gap':>7} "
        f"{'ms/epoch':>9} {'ms/update':>10}"
    )
    for batch_size, r in batches.items():
        print(
            f"{_label(batch_size, n):>16} {r['updates_per_epoch']:>14} "
            f"{r['train_accuracy']:>10.3f} {r['val_accuracy']:>8.3f} {r['gap']:>+7.3f} "
            f"{1e3 * r['seconds_per_epoch']:>9.2f} {1e3 * r['seconds_per_update']:>10.3f}"
        )
    for name, r in momentum.items():
        print(
            f"{name}: final training loss {r['train_loss']:.4f} "
            f"(batch {momentum_batch}, η = {LEARNING_RATE})"
        )
    return {
        "batch_sizes": batches,
        "momentum": momentum,
        "momentum_batch_size": momentum_batch,
        "num_train": n,
        "epochs": epochs,
    }


if __name__ == "__main__":
    main()
