"""Tour §3, batch and momentum: small vs large batches, and momentum rolling over a ridge."""

from __future__ import annotations

from jaxtrain.cli._tour import TourContext, TourSection
from jaxtrain.cli._tour_data import digits_splits
from jaxtrain.cli._tour_stability import critical_batch_size_figure

_RIDGE_START = 2.5


def _ridge(theta):
    # A shallow local minimum near θ = 1.35, a ridge near θ = 0.13, the global one near −1.47.
    return theta[0] ** 4 - 4.0 * theta[0] ** 2 + theta[0]


def batch_size(ctx: TourContext) -> None:
    """Same epochs, same η: batch 16 vs the full batch, in accuracy and in seconds per epoch."""
    import matplotlib.pyplot as plt
    import numpy as np
    from flax import nnx

    from jaxtrain.losses import accuracy, softmax_cross_entropy
    from jaxtrain.nn import MLP
    from jaxtrain.optim import sgd
    from jaxtrain.train import evaluate, fit

    (x_train, y_train), _ = digits_splits(ctx.seed)
    epochs, lr = ctx.size(5, 20), 0.1
    fig, (ax_loss, ax_time) = plt.subplots(1, 2, figsize=(10, 3.8))
    numbers: dict = {"epochs": epochs, "learning_rate": lr, "n_train": len(x_train)}
    labels = {16: "batch 16", len(x_train): f"full batch ({len(x_train)})"}
    for size, label in labels.items():
        state, history = fit(
            MLP(64, 64, 10, depth=1, rngs=nnx.Rngs(ctx.seed)),
            sgd(lr),
            (x_train, y_train),
            loss=softmax_cross_entropy,
            epochs=epochs,
            batch_size=size,
            drop_last=True,
            seed=ctx.seed,
            progress=False,
        )
        train = evaluate(state, (x_train, y_train), loss=softmax_cross_entropy, metrics=[accuracy])
        # The first epoch includes compilation; later ones are the steady state.
        epoch_times = np.asarray(history.per_epoch["epoch_time"])
        seconds = (
            float(np.median(epoch_times[1:])) if len(epoch_times) > 1 else float(epoch_times[0])
        )
        key = "batch_16" if size == 16 else "full_batch"
        numbers[f"{key}_train_accuracy"] = train["accuracy"]
        numbers[f"{key}_updates"] = len(history.per_step["loss"])
        numbers[f"{key}_seconds_per_epoch"] = seconds
        ax_loss.plot(
            np.arange(1, epochs + 1),
            history.per_epoch["train_loss"],
            marker="o",
            ms=3,
            label=f"{label}: train acc {train['accuracy']:.2f}",
        )
    ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log", title=f"SGD η = {lr}")
    ax_loss.legend(fontsize=8)
    names = list(labels.values())
    times = [numbers["batch_16_seconds_per_epoch"], numbers["full_batch_seconds_per_epoch"]]
    ax_time.bar(names, [1e3 * t for t in times], color=["tab:blue", "tab:orange"])
    ax_time.set(ylabel="milliseconds per epoch", title="time per epoch (after compiling)")
    fig.tight_layout()
    ctx.add_figure(
        "batch_size",
        fig,
        f"{epochs} epochs of SGD (η = {lr}) on digits. Batch 16 makes "
        f"{numbers['batch_16_updates']} noisy updates: train acc "
        f"{numbers['batch_16_train_accuracy']:.2f}; the full batch makes "
        f"{numbers['full_batch_updates']} precise ones: "
        f"{numbers['full_batch_train_accuracy']:.2f}. An epoch took {1e3 * times[0]:.1f} ms "
        f"with batch 16 and {1e3 * times[1]:.1f} ms with the full batch: "
        + (
            f"{times[0] / times[1]:.1f}× faster per epoch with the large batch, which uses the "
            "hardware's parallelism, but it needs far more epochs."
            if times[1] < times[0]
            else "here the small batch is not slower per epoch (a tiny model leaves the "
            "hardware idle), and it needs far fewer epochs."
        ),
        numbers,
    )


def momentum_ridge(ctx: TourContext) -> None:
    """Gradient descent stops in the first valley; with momentum it crosses the ridge."""
    import jax.numpy as jnp
    import matplotlib.pyplot as plt
    import numpy as np

    from jaxtrain.optim import optimize_trajectory, sgd

    steps, lr = 150, 0.01
    start = jnp.array([_RIDGE_START])
    paths = {}
    for name, optimizer in (("gradient descent", sgd(lr)), ("momentum λ = 0.9", sgd(lr, 0.9))):
        path, losses = optimize_trajectory(optimizer, _ridge, start, steps)
        paths[name] = (np.asarray(path)[:, 0], np.asarray(losses))
    theta = np.linspace(-2.2, 2.7, 300)
    curve = theta**4 - 4.0 * theta**2 + theta

    fig, (ax_curve, ax_time) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax_curve.plot(theta, curve, color="black", lw=1, label="L(θ)")
    for (name, (path, losses)), marker in zip(paths.items(), ("o", "s"), strict=True):
        ax_curve.plot(path, losses, marker, ms=3, alpha=0.6, label=name)
        ax_time.plot(path, label=name)
    ax_curve.set(xlabel="θ", ylabel="loss", ylim=(-7, 18), title="the path on the error surface")
    ax_curve.legend(fontsize=8)
    ax_time.axhline(0.13, color="gray", ls=":", lw=1, label="ridge")
    ax_time.set(xlabel="step t", ylabel="θ", title="θ over time")
    ax_time.legend(fontsize=8)
    fig.tight_layout()
    gd_end = float(paths["gradient descent"][0][-1])
    momentum_end = float(paths["momentum λ = 0.9"][0][-1])
    ctx.add_figure(
        "momentum_ridge",
        fig,
        f"From θ = {_RIDGE_START}, {steps} steps of η = {lr}. Gradient descent stops where "
        f"g = 0 in the first valley (θ = {gd_end:.2f}, loss {_ridge([gd_end]):.2f}). With "
        f"momentum, m ← λm − ηg, θ ← θ + m, the movement built up on the way down carries θ "
        f"over the ridge to the deeper minimum (θ = {momentum_end:.2f}, loss "
        f"{_ridge([momentum_end]):.2f}).",
        {
            "steps": steps,
            "learning_rate": lr,
            "momentum": 0.9,
            "gd_final_theta": gd_end,
            "momentum_final_theta": momentum_end,
            "gd_final_loss": float(paths["gradient descent"][1][-1]),
            "momentum_final_loss": float(paths["momentum λ = 0.9"][1][-1]),
        },
    )


SECTION = TourSection(
    id="batch_and_momentum",
    title="3. Batch and momentum",
    summary=(
        "An epoch sees every example once, in batches of B; each batch gives one update "
        "θ ← θ − ηg. Large batches use parallel hardware well (an epoch is fast) but give few, "
        "precise updates; small batches give many noisy updates, and the noise helps "
        "optimization and generalization. The gradient noise scale B_simple = tr(Σ)/|G|² "
        "measures that noise against the signal. Momentum moves by m ← λm − ηg, θ ← θ + m: a "
        "weighted sum of all past gradients that can roll through a ridge or a flat region."
    ),
    figures=(batch_size, critical_batch_size_figure, momentum_ridge),
)
