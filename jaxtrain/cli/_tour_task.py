"""Tour §1, task strategy: the flowchart's verdicts, and augmentations good and bad."""

from __future__ import annotations

from jaxtrain.cli._tour import TourContext, TourSection
from jaxtrain.cli._tour_data import digits_splits
from jaxtrain.cli._tour_explain import what_went_wrong


def _budget(ctx: TourContext):
    from jaxtrain.diagnose import Budget

    return Budget(steps=ctx.size(150, 400), seeds=ctx.size(1, 3), learning_rate=3e-3)


def _relative(diagnosis, split: str) -> list[float]:
    return [c.mean(split) / diagnosis.baseline for c in diagnosis.candidates]


def deep_vs_shallow(ctx: TourContext) -> None:
    """A deep plain sigmoid net trains worse than a shallow one: an optimization issue."""
    import matplotlib.pyplot as plt

    from jaxtrain.diagnose import ModelSpec, diagnose

    train, val = digits_splits(ctx.seed)
    depth = 6
    shallow = ModelSpec("mlp", (64,), 10, width=32, depth=1, activation="sigmoid")
    deep = ModelSpec("mlp", (64,), 10, width=32, depth=depth, activation="sigmoid")
    budget = _budget(ctx)
    diagnosis = diagnose([shallow, deep], train, val, budget=budget, curvature=False)
    fig, ax = plt.subplots(figsize=(7.5, 4))
    diagnosis.plot_curves(ax)
    ax.set_title(f"verdict: {diagnosis.verdict}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    train_rel = _relative(diagnosis, "train")
    names = [c.name for c in diagnosis.candidates]
    ctx.add_figure(
        "deep_vs_shallow",
        fig,
        f"jaxtrain.diagnose on digits with the same budget ({budget.steps} Adam steps, "
        f"{len(budget.seed_list())} seed(s)) for a 1-layer and a {depth}-layer plain sigmoid "
        f"MLP. Training loss relative to the constant-prediction baseline B: shallow "
        f"{train_rel[0]:.2f}, deep {train_rel[1]:.2f}. The deep net can represent everything "
        f"the shallow one can, yet fits the training data worse: verdict "
        f"“{diagnosis.verdict}”, not model bias (He et al. 2016).",
        {
            "verdict": diagnosis.verdict,
            "candidates": names,
            "train_loss_over_baseline": train_rel,
            "val_loss_over_baseline": _relative(diagnosis, "val"),
            "baseline": diagnosis.baseline,
            "steps": budget.steps,
            "seeds": len(budget.seed_list()),
        },
    )


def overfitting_and_mismatch(ctx: TourContext) -> None:
    """Small training loss, large validation loss: too few examples vs another distribution."""
    import matplotlib.pyplot as plt

    from jaxtrain.data import make_spirals
    from jaxtrain.diagnose import Budget, ModelSpec, diagnose

    (x_train, y_train), (x_val, y_val) = digits_splits(ctx.seed)
    few, noise = 80, 0.2
    seeds = ctx.size(1, 3)
    cases = {
        "overfitting_case": (
            f"{few} noisy spiral points",
            ModelSpec("mlp", (2,), 2, width=128, depth=2),
            make_spirals(few, noise=noise, seed=ctx.seed),
            make_spirals(400, noise=noise, seed=ctx.seed + 1),
            Budget(steps=ctx.size(300, 600), seeds=seeds, learning_rate=0.01),
        ),
        "mismatch_case": (
            "digits, validation ink inverted",
            ModelSpec("mlp", (64,), 10, width=64, depth=1),
            (x_train, y_train),
            (1.0 - x_val, y_val),
            Budget(steps=ctx.size(150, 400), seeds=seeds, learning_rate=3e-3),
        ),
    }
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    numbers: dict = {"seeds": seeds}
    for ax, (key, (name, spec, train, val, budget)) in zip(axes, cases.items(), strict=True):
        diagnosis = diagnose(spec, train, val, budget=budget, curvature=False)
        values = [_relative(diagnosis, split)[0] for split in ("train", "heldout", "val")]
        bars = ax.bar(["training", "held-out\n(same distribution)", "validation"], values)
        for bar, value in zip(bars, values, strict=True):
            ax.annotate(f"{value:.2f}", (bar.get_x() + bar.get_width() / 2, value), ha="center")
        ax.set(title=f"{name}: {diagnosis.verdict}", ylabel="loss / baseline B")
        ax.set_ylim(0, 1.15 * max(max(values), 1.0))
        numbers[f"{key}_verdict"] = diagnosis.verdict
        numbers[f"{key}_steps"] = budget.steps
        numbers[f"{key}_loss_over_baseline"] = dict(
            zip(("train", "heldout", "val"), values, strict=True)
        )
    fig.tight_layout()
    over = numbers["overfitting_case_loss_over_baseline"]
    mis = numbers["mismatch_case_loss_over_baseline"]
    ctx.add_figure(
        "overfitting_and_mismatch",
        fig,
        f"Both models fit their training data (training loss {over['train']:.2f} B and "
        f"{mis['train']:.2f} B). A flexible MLP on only {few} noisy spiral points fails on "
        f"unseen points of the same distribution too (held-out {over['heldout']:.2f} B): "
        f"“{numbers['overfitting_case_verdict']}”. The digits model generalizes within its "
        f"distribution (held-out {mis['heldout']:.2f} B) but not to inverted ink "
        f"({mis['val']:.2f} B): “{numbers['mismatch_case_verdict']}”; more data of the "
        "training kind would not help.",
        {**numbers, "few": few, "noise": noise},
    )


def augmentation(ctx: TourContext) -> None:
    """Augmented digits, and what training on them does: a shift helps, upside down hurts."""
    import jax
    import matplotlib.pyplot as plt
    from flax import nnx

    from jaxtrain.data import random_crop, vertical_flip
    from jaxtrain.losses import accuracy, softmax_cross_entropy
    from jaxtrain.nn import MLP
    from jaxtrain.optim import adam
    from jaxtrain.plot import plot_augmentations
    from jaxtrain.train import fit

    (x_train, y_train), (x_val, y_val) = digits_splits(ctx.seed)
    shift = random_crop(1)
    upside_down = vertical_flip(0.5)

    def on_flat(image_aug):
        # The MLP takes flat 64-pixel rows; the augmentations work on 8×8 images.
        return lambda key, x: image_aug(key, x.reshape(8, 8, 1)).reshape(x.shape)

    epochs = ctx.size(8, 30)
    accuracies = {}
    for name, aug in (("none", None), ("upside down (p = 0.5)", on_flat(upside_down))):
        _, history = fit(
            MLP(64, 64, 10, depth=1, rngs=nnx.Rngs(ctx.seed)),
            adam(3e-3),
            (x_train, y_train),
            loss=softmax_cross_entropy,
            epochs=epochs,
            batch_size=64,
            drop_last=True,
            val_data=(x_val, y_val),
            metrics=[accuracy],
            augment=aug,
            seed=ctx.seed,
            progress=False,
        )
        accuracies[name] = float(history.per_epoch["val_accuracy"][-1])

    images = x_train.reshape(-1, 8, 8, 1)
    sixes_and_nines = [int((y_train == 6).argmax()), int((y_train == 9).argmax())]
    fig = plt.figure(figsize=(11, 4.2))
    left, middle, right = fig.subfigures(1, 3, width_ratios=(1.2, 1, 1))
    key_shift, key_flip = jax.random.split(jax.random.key(ctx.seed))
    plot_augmentations(
        shift,
        images[sixes_and_nines],
        key_shift,
        num_augmented=3,
        labels=["6", "9"],
        axes=left.subplots(2, 4),
    )
    left.suptitle("shift ±1 pixel: still the same digit", fontsize=10)
    plot_augmentations(
        vertical_flip(1.0),
        images[sixes_and_nines],
        key_flip,
        num_augmented=1,
        labels=["6", "9"],
        axes=middle.subplots(2, 2),
    )
    middle.suptitle("upside down: a 6 becomes a 9", fontsize=10)
    ax = right.subplots()
    values = list(accuracies.values())
    bars = ax.bar(["none", "upside down\n(p = 0.5)"], values, color=["gray", "tab:red"])
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(f"{value:.3f}", (bar.get_x() + bar.get_width() / 2, value), ha="center")
    ax.set(ylim=(max(0.0, min(values) - 0.1), 1.0), ylabel="validation accuracy")
    right.suptitle(f"training with each ({epochs} epochs)", fontsize=10)
    ctx.add_figure(
        "augmentation",
        fig,
        f"Augmentation makes new training examples from old ones, and must produce inputs "
        f"the model will meet: a digit shifted by a pixel is one. An upside-down 6 is a 9, so "
        f"flipping teaches wrong labels: validation accuracy after {epochs} epochs "
        f"{accuracies['none']:.3f} without augmentation, "
        f"{accuracies['upside down (p = 0.5)']:.3f} with half the digits upside down.",
        {"epochs": epochs, "val_accuracy": accuracies},
    )


SECTION = TourSection(
    id="task_strategy",
    title="1. Task strategy",
    summary=(
        "Look at the training loss first. Large: model bias (no θ in the model fits: make it "
        "more flexible) or an optimization issue (a simpler model trains better, so gradient "
        "descent missed a good θ). Small, but the validation loss is large: overfitting (more "
        "data, augmentation, constraints) or mismatch (the validation data come from another "
        "distribution). Losses are judged against the baseline B of a constant prediction. "
        "For one run, explain_run names the cause (§2–§6) with its numbers."
    ),
    figures=(deep_vs_shallow, what_went_wrong, overfitting_and_mismatch, augmentation),
)
