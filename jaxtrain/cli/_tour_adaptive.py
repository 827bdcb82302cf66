"""Tour §4, adaptive learning rates: the narrow error surface, the schedules, warmup."""

from __future__ import annotations

from jaxtrain.cli._tour import TourContext, TourSection
from jaxtrain.cli._tour_data import digits_splits
from jaxtrain.cli._tour_stability import edge_of_stability_figure

# A long, narrow valley: curvature 0.02 along w₁ and 2 across it (condition number 100).
_CURVATURE = (0.02, 2.0)
_START = (-9.0, 1.5)


def _narrow_valley(w):
    return 0.5 * (_CURVATURE[0] * w[0] ** 2 + _CURVATURE[1] * w[1] ** 2)


def narrow_surface(ctx: TourContext) -> None:
    """SGD, Adagrad, RMSProp and Adam on the long narrow valley, from the same start."""
    import jax
    import jax.numpy as jnp
    import matplotlib.pyplot as plt
    import numpy as np

    from jaxtrain.landscape import loss_surface_2d
    from jaxtrain.optim import adagrad, adam, effective_step_size, optimize_trajectory, rmsprop
    from jaxtrain.optim import sgd as sgd_
    from jaxtrain.plot import plot_loss_surface_2d

    steps = 100
    optimizers = {
        "SGD η = 0.9": sgd_(0.9),
        "SGD η = 0.2": sgd_(0.2),
        "Adagrad η = 1": adagrad(1.0),
        "RMSProp η = 0.1": rmsprop(0.1),
        "Adam η = 0.3": adam(0.3),
    }
    start = jnp.asarray(_START)
    alphas, betas = jnp.linspace(-10.0, 2.0, 121), jnp.linspace(-2.5, 2.5, 61)
    e1, e2 = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
    surface = loss_surface_2d(_narrow_valley, jnp.zeros(2), e1, e2, alphas, betas)

    fig, (ax_path, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2), width_ratios=(1.5, 1))
    plot_loss_surface_2d(
        alphas, betas, surface, ax_path, levels=25, colorbar=False, xlabel="w₁", ylabel="w₂"
    )
    numbers = {"steps": steps, "start": list(_START), "curvatures": list(_CURVATURE)}
    for name, optimizer in optimizers.items():
        path, losses = optimize_trajectory(optimizer, _narrow_valley, start, steps)
        path, losses = np.asarray(path), np.asarray(losses)
        (line,) = ax_path.plot(path[:, 0], path[:, 1], ".-", ms=2, lw=1, label=name)
        ax_loss.plot(losses, color=line.get_color(), label=name)
        numbers[f"final_loss {name}"] = float(losses[-1])
    ax_path.set(title=f"{steps} steps on L = ½(0.02 w₁² + 2 w₂²)")
    ax_path.legend(fontsize=7, loc="upper right")
    ax_loss.set(xlabel="step t", ylabel="loss", yscale="log", title="loss")
    fig.tight_layout()

    # Adagrad's per-parameter step η/σᵢ after the run: large along the flat w₁, small across.
    optimizer = optimizers["Adagrad η = 1"]
    path, _ = optimize_trajectory(optimizer, _narrow_valley, start, steps)

    def replay(opt_state, theta):
        _, opt_state = optimizer.update(jax.grad(_narrow_valley)(theta), opt_state, theta)
        return opt_state, None

    opt_state, _ = jax.jit(lambda s, p: jax.lax.scan(replay, s, p))(
        optimizer.init(start), path[:-1]
    )
    step_sizes = np.asarray(effective_step_size(opt_state))
    numbers["adagrad_effective_step_w1"] = float(step_sizes[0])
    numbers["adagrad_effective_step_w2"] = float(step_sizes[1])

    best_sgd = min(numbers["final_loss SGD η = 0.9"], numbers["final_loss SGD η = 0.2"])
    ctx.add_figure(
        "narrow_surface",
        fig,
        f"A valley 100 times steeper across (w₂) than along (w₁). One learning rate cannot "
        f"suit both: SGD with η = 0.9 zig-zags across, η = 0.2 crawls along; after {steps} "
        f"steps the better SGD is at loss {best_sgd:.3f}. Adaptive methods divide by σᵢ per "
        f"parameter: Adam reaches {numbers['final_loss Adam η = 0.3']:.1e}; Adagrad's "
        f"effective step η/σᵢ ends at {step_sizes[0]:.2f} along w₁ vs {step_sizes[1]:.3f} "
        "across.",
        numbers,
    )


def schedules(ctx: TourContext) -> None:
    """Learning-rate schedules ηᵗ: decay, and warmup followed by decay."""
    import jax
    import jax.numpy as jnp
    import matplotlib.pyplot as plt
    import numpy as np

    from jaxtrain.optim import schedules as sch

    total, warmup, peak = 1000, 100, 1e-3
    curves = {
        "constant": sch.constant(peak),
        "exponential decay (γ = 0.5 per 250)": sch.exponential_decay(peak, 250, 0.5),
        "step decay (÷10 at 500, 800)": sch.piecewise_constant(peak, {500: 0.1, 800: 0.1}),
        "cosine decay": sch.cosine_decay(peak, total),
        f"warmup {warmup} + cosine decay": sch.warmup_cosine_decay(0.0, peak, warmup, total),
        "Transformer: warmup, then 1/√t": sch.inverse_sqrt(1.0, warmup, scale=peak * warmup**0.5),
    }
    t = jnp.arange(total)
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    numbers = {"steps": total, "peak": peak}
    for name, schedule in curves.items():
        eta = np.asarray(jax.jit(schedule)(t))
        ax.plot(np.asarray(t), eta, label=name)
        numbers[f"{name}: η at 0, {warmup}, {total // 2}, {total - 1}"] = eta[
            [0, warmup, total // 2, total - 1]
        ]
    cosine = np.asarray(jax.jit(curves["cosine decay"])(t))
    ax.set(xlabel="step t", ylabel="learning rate ηᵗ", title="learning-rate schedules")
    ax.legend(fontsize=8)
    fig.tight_layout()
    ctx.add_figure(
        "schedules",
        fig,
        f"Scheduling makes η depend on the step t. Decay shrinks η as training nears a "
        f"minimum, so the steps stop overshooting: cosine decay from {peak:g} is at "
        f"{cosine[total // 2] / peak:.2f}·η at step {total // 2} and "
        f"{cosine[-1] / peak:.2f}·η at the end. Warmup raises η from 0 to {peak:g} over the "
        f"first {warmup} steps, while Adam's σ rests on few gradients and is unreliable.",
        numbers,
    )


def warmup(ctx: TourContext) -> None:
    """Adam at a high learning rate: the early loss spikes without warmup, not with it."""
    import matplotlib.pyplot as plt
    import numpy as np
    from flax import nnx

    from jaxtrain.losses import softmax_cross_entropy
    from jaxtrain.nn import MLP
    from jaxtrain.optim import adam, radam
    from jaxtrain.optim import schedules as sch
    from jaxtrain.train import fit

    (x_train, y_train), _ = digits_splits(ctx.seed)
    epochs, batch, peak, warmup_steps, early = ctx.size(7, 18), 64, 0.03, 50, 50
    steps = epochs * (len(x_train) // batch)
    runs = {
        "Adam, no warmup": adam(peak),
        f"Adam, warmup {warmup_steps} + cosine": adam(
            sch.warmup_cosine_decay(0.0, peak, warmup_steps, steps)
        ),
    }
    if not ctx.quick:  # a third run for the full tour only: RAdam needs no warmup
        runs["RAdam, no warmup"] = radam(peak)
    fig, (ax_loss, ax_lr) = plt.subplots(1, 2, figsize=(10, 3.8), width_ratios=(1.6, 1))
    numbers: dict = {"steps": steps, "peak_learning_rate": peak, "early_steps": early}
    keys = dict(zip(runs, ("none", "warmup", "radam"), strict=False))
    for name, optimizer in runs.items():
        _, history = fit(
            MLP(64, 128, 10, depth=4, rngs=nnx.Rngs(ctx.seed)),
            optimizer,
            (x_train, y_train),
            loss=softmax_cross_entropy,
            epochs=epochs,
            batch_size=batch,
            drop_last=True,
            seed=ctx.seed,
            progress=False,
        )
        losses = np.asarray(history.per_step["loss"])
        (line,) = ax_loss.plot(np.arange(1, steps + 1), losses, lw=1, label=name)
        ax_lr.plot(history.per_step["learning_rate"], color=line.get_color(), label=name)
        numbers[f"{keys[name]}_first_loss"] = float(losses[0])
        numbers[f"{keys[name]}_max_early_loss"] = float(losses[:early].max())
        numbers[f"{keys[name]}_final_loss"] = float(losses[-10:].mean())
    ax_loss.set(xlabel="step", ylabel="training loss (batch)", yscale="log", title="loss")
    ax_loss.axvspan(0, early, color="gray", alpha=0.1)
    ax_loss.legend(fontsize=8)
    ax_lr.set(xlabel="step", ylabel="η used", title="learning rate")
    fig.tight_layout()
    ctx.add_figure(
        "warmup",
        fig,
        f"A 4-layer MLP on digits, Adam at η = {peak}. In the first {early} steps the loss "
        f"peaks at {numbers['none_max_early_loss']:.2f} without warmup (it starts at "
        f"{numbers['none_first_loss']:.2f}): σ rests on a handful of gradients and the "
        f"first steps are too large. With {warmup_steps} warmup steps the peak is "
        f"{numbers['warmup_max_early_loss']:.2f}"
        + (
            f"; RAdam, which rectifies σ's variance, {numbers['radam_max_early_loss']:.2f}"
            if "radam_max_early_loss" in numbers
            else ""
        )
        + f". Final loss: "
        f"{numbers['none_final_loss']:.3f} without warmup, {numbers['warmup_final_loss']:.3f} "
        "with it.",
        numbers,
    )


SECTION = TourSection(
    id="adaptive_learning_rate",
    title="4. Adaptive learning rates and schedules",
    summary=(
        "When the loss stops falling the gradient is often not small: the parameters "
        "oscillate across a narrow valley. Adaptive methods give each parameter its own "
        "step θᵢ ← θᵢ − η gᵢ/σᵢ: Adagrad's σᵢ is the root mean square of all past gᵢ, "
        "RMSProp's a moving average σᵢ² ← ασᵢ² + (1 − α)gᵢ², and Adam adds momentum. "
        "Scheduling makes η depend on time: decay, and warmup at the start. The step size "
        "also meets the curvature: Cohen et al. found full-batch gradient descent sharpening "
        "until λmax reaches 2/η, the most a step of η tolerates, then training at that edge."
    ),
    figures=(narrow_surface, edge_of_stability_figure, schedules, warmup),
)
