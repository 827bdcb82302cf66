"""Tour §5, loss functions: MSE vs cross-entropy error surfaces, and training with each."""

from __future__ import annotations

from jaxtrain.cli._tour import TourContext, TourSection
from jaxtrain.cli._tour_data import digits_splits

# Three classes, the third logit pinned far below the others, target class 0 (the lecture's
# picture): the surface over the two free logits (z₁, z₂).
_PINNED_LOGIT = -1000.0
_POOR_START = (-10.0, 10.0)


def _logits(z):
    import jax.numpy as jnp

    return jnp.stack([z[0], z[1], jnp.asarray(_PINNED_LOGIT, z.dtype)])


def _surface_losses():
    import jax

    from jaxtrain.losses import mse, softmax_cross_entropy

    def mse_loss(z):
        return mse(jax.nn.softmax(_logits(z)), 0)

    def ce_loss(z):
        return softmax_cross_entropy(_logits(z), 0)

    return {"MSE (after softmax)": mse_loss, "cross-entropy": ce_loss}


def error_surfaces(ctx: TourContext) -> None:
    """MSE's plateau vs cross-entropy's slope from the same poor start."""
    import jax
    import jax.numpy as jnp
    import matplotlib.pyplot as plt
    import numpy as np

    from jaxtrain.landscape import loss_surface_2d
    from jaxtrain.optim import optimize_trajectory, sgd
    from jaxtrain.plot import plot_loss_surface_2d

    losses = _surface_losses()
    start = jnp.asarray(_POOR_START)
    steps = ctx.size(200, 400)
    grid = jnp.linspace(-12.0, 12.0, 97)
    e1, e2 = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    numbers = {"start_logits": list(_POOR_START), "steps": steps, "learning_rate": 1.0}
    for ax, (name, loss_fn) in zip(axes, losses.items(), strict=True):
        surface = loss_surface_2d(loss_fn, jnp.zeros(2), e1, e2, grid, grid)
        grad_norm = float(jnp.linalg.norm(jax.jit(jax.grad(loss_fn))(start)))
        path, losses = optimize_trajectory(sgd(1.0), loss_fn, start, steps)
        path, final_loss = np.asarray(path), float(losses[-1])
        plot_loss_surface_2d(grid, grid, surface, ax, levels=20, mark_origin=False)
        ax.plot(path[:, 0], path[:, 1], ".-", color="white", markersize=2, lw=1)
        ax.plot(*_POOR_START, "o", color="red", label=f"start, ‖g‖ = {grad_norm:.2g}")
        ax.set(xlabel="z₁ (target class)", ylabel="z₂", title=name, aspect="equal")
        ax.legend(loc="lower left", fontsize=8)
        key = "mse" if name.startswith("MSE") else "ce"
        numbers[f"{key}_grad_norm_at_start"] = grad_norm
        numbers[f"{key}_loss_after"] = final_loss
        numbers[f"{key}_final_logits"] = path[-1]
    fig.tight_layout()
    ctx.add_figure(
        "error_surfaces",
        fig,
        f"Logits z = (z₁, z₂, {_PINNED_LOGIT:g}), target class 1, start at z = "
        f"{_POOR_START}. With softmax + MSE the start sits on a plateau: ‖g‖ = "
        f"{numbers['mse_grad_norm_at_start']:.1e}, and {steps} gradient steps (η = 1) leave "
        f"the loss at {numbers['mse_loss_after']:.3f}. Cross-entropy's gradient there is "
        f"{numbers['ce_grad_norm_at_start']:.2f}; the same steps bring its loss to "
        f"{numbers['ce_loss_after']:.3f}.",
        numbers,
    )


def _mse_after_softmax(logits, labels):
    # The lecture's e = Σᵢ (yᵢ − ŷᵢ)² per example, averaged over the batch.
    import jax

    from jaxtrain.losses import mse

    return mse(jax.nn.softmax(logits), labels, reduction="none").sum(-1).mean()


def training(ctx: TourContext) -> None:
    """The same network from a confidently wrong start, trained with each loss."""
    import jax.numpy as jnp
    import matplotlib.pyplot as plt
    import numpy as np
    from flax import nnx

    from jaxtrain.losses import accuracy, softmax_cross_entropy
    from jaxtrain.nn import MLP
    from jaxtrain.optim import sgd
    from jaxtrain.train import evaluate, fit

    (x_train, y_train), _ = digits_splits(ctx.seed)
    epochs, lr = ctx.size(3, 10), 0.5
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    numbers: dict = {"epochs": epochs, "learning_rate": lr}
    for name, loss in (
        ("MSE after softmax", _mse_after_softmax),
        ("cross-entropy", softmax_cross_entropy),
    ):
        model = MLP(64, 64, 10, depth=1, rngs=nnx.Rngs(ctx.seed))
        # Zero head weights and a bias of ±10: every digit starts predicted "9" with certainty.
        model.head.kernel[...] = jnp.zeros_like(model.head.kernel[...])
        model.head.bias[...] = jnp.where(jnp.arange(10) == 9, 10.0, -10.0)
        state, history = fit(
            model,
            sgd(lr),
            (x_train, y_train),
            loss=loss,
            epochs=epochs,
            batch_size=64,
            metrics=[accuracy],
            drop_last=True,
            seed=ctx.seed,
            progress=False,
        )
        train = evaluate(state, (x_train, y_train), loss=loss, metrics=[accuracy])
        key = "mse" if loss is _mse_after_softmax else "ce"
        numbers[f"{key}_train_accuracy"] = train["accuracy"]
        numbers[f"{key}_first_loss"] = float(history.per_step["loss"][0])
        numbers[f"{key}_last_loss"] = float(history.per_step["loss"][-1])
        steps = np.arange(1, len(history.per_step["loss"]) + 1)
        ax_loss.plot(steps, history.per_step["loss"] / history.per_step["loss"][0], label=name)
        ax_acc.plot(np.arange(1, epochs + 1), history.per_epoch["train_accuracy"], "o-", label=name)
    ax_loss.set(xlabel="step", ylabel="loss / first loss", yscale="log", title="training loss")
    ax_acc.set(
        xlabel="epoch", ylabel="accuracy (running, in training)", ylim=(0, 1), title="accuracy"
    )
    for ax in (ax_loss, ax_acc):
        ax.legend(fontsize=8)
    fig.tight_layout()
    ctx.add_figure(
        "training",
        fig,
        f"An MLP on digits whose head starts confidently wrong (logit 10 for class 9, −10 "
        f"for the rest), {epochs} epochs of SGD η = {lr}. Cross-entropy pulls it off the "
        f"plateau: train acc {numbers['ce_train_accuracy']:.2f}. With MSE after softmax the "
        f"gradients vanish where the softmax saturates: train acc "
        f"{numbers['mse_train_accuracy']:.2f}. Same model, same data: only the loss changed "
        "how hard the optimization is.",
        numbers,
    )


SECTION = TourSection(
    id="loss_functions",
    title="5. Loss functions",
    summary=(
        "For classification the network's logits z pass through softmax, ŷᵢ = exp(zᵢ)/Σⱼ "
        "exp(zⱼ), and the loss compares ŷ with the one-hot target y. Cross-entropy "
        "e = −Σᵢ yᵢ ln ŷᵢ keeps a slope where the prediction is confidently wrong; mean "
        "squared error e = Σᵢ (yᵢ − ŷᵢ)² goes flat there, because the softmax saturates: "
        "changing the loss function changes how hard optimization is."
    ),
    figures=(error_surfaces, training),
)
