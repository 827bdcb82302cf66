"""Tour §2, critical points: the toy saddle, a trained network's spectrum, minimum ratio vs loss."""

from __future__ import annotations

import functools
from typing import Any

from jaxtrain.cli._tour import TourContext, TourSection

_WIDTH, _DEPTH = 16, 2


def _toy_loss(w):
    # ŷ = w₁·w₂·x with x = 1 and target 1, squared error: the lecture's one-example network.
    return (1.0 - w[0] * w[1]) ** 2


def toy_saddle(ctx: TourContext) -> None:
    """The toy network's saddle at θ = 0: H's eigenvalues ±2 and the escape along (1, 1)/√2."""
    import jax.numpy as jnp
    import matplotlib.pyplot as plt
    import numpy as np

    from jaxtrain.curvature import analyze_critical_point
    from jaxtrain.landscape import loss_slice_1d, loss_surface_2d
    from jaxtrain.plot import plot_loss_slice_1d, plot_loss_surface_2d

    saddle = analyze_critical_point(_toy_loss, jnp.zeros(2))
    valley = analyze_critical_point(_toy_loss, jnp.ones(2))
    u = np.asarray(saddle.escape_direction)
    step = 0.5
    _, measured = saddle.escape(step)
    predicted = saddle.predict(step)

    fig, (ax_surface, ax_slice) = plt.subplots(1, 2, figsize=(10, 4.2))
    ticks = jnp.linspace(-2.0, 2.0, 81)
    e1, e2 = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
    surface = loss_surface_2d(_toy_loss, jnp.zeros(2), e1, e2, ticks, ticks)
    plot_loss_surface_2d(
        ticks,
        ticks,
        np.minimum(np.asarray(surface), 4.0),
        ax_surface,
        levels=16,
        xlabel="w₁",
        ylabel="w₂",
    )
    ax_surface.plot(1, 1, "*", color="gold", markersize=12, label="w₁w₂ = 1 (minima)")
    for sign in (1.0, -1.0):
        ax_surface.annotate(
            "",
            xy=(sign * 1.2 * u[0], sign * 1.2 * u[1]),
            xytext=(0, 0),
            arrowprops={"arrowstyle": "->", "color": "white", "lw": 2},
        )
    ax_surface.set(title="ŷ = w₁w₂x: saddle at 0, escape ±u", aspect="equal")
    ax_surface.legend(loc="lower left", fontsize=8)

    alphas = jnp.linspace(-1.6, 1.6, 161)
    exact = loss_slice_1d(_toy_loss, jnp.zeros(2), jnp.asarray(u), alphas)
    plot_loss_slice_1d(alphas, exact, ax_slice, label="L(θ + t·u), exact", xlabel="t along u")
    t = np.asarray(alphas)
    ax_slice.plot(t, saddle.loss + 0.5 * saddle.escape_eigenvalue * t**2, "--", label="L + ½λt²")
    ax_slice.axvline(step, color="gray", lw=0.8)
    ax_slice.set(ylim=(-0.2, 2.2), title=f"along u: λ = {saddle.escape_eigenvalue:.2f}")
    ax_slice.legend(fontsize=8)
    fig.tight_layout()

    eigs = [float(v) for v in saddle.eigenvalues]
    ctx.add_figure(
        "toy_saddle",
        fig,
        f"At θ = (0, 0) the gradient is 0 and the Hessian's eigenvalues are {eigs[0]:.2f} and "
        f"{eigs[1]:.2f}: a {saddle.kind} point, not a minimum. Moving t = {step} along the "
        f"eigenvector u = ({u[0]:.3f}, {u[1]:.3f}) of λ = {saddle.escape_eigenvalue:.2f} "
        f"lowers the loss by {-measured:.3f} (½λt² predicts {-predicted:.3f}). On the valley "
        f"w₁w₂ = 1 the eigenvalues are {float(valley.eigenvalues[0]):.2f} and "
        f"{float(valley.eigenvalues[1]):.2f} ({valley.kind}: flat along the valley).",
        {
            "kind": saddle.kind,
            "grad_norm": saddle.grad_norm,
            "eigenvalues": eigs,
            "escape_direction": u,
            "escape_step": step,
            "measured_loss_change": measured,
            "predicted_loss_change": predicted,
            "valley_eigenvalues": valley.eigenvalues,
            "valley_kind": valley.kind,
        },
    )


@functools.lru_cache(maxsize=2)
def _trained_spiral_nets(seed: int, quick: bool) -> dict[str, Any]:
    """Several seeds of one small tanh MLP, trained full batch on two spirals.

    One ``apply`` (and so one loss function) serves every seed, so the training run and the
    Hessian compile once and each further seed costs milliseconds.
    """
    import jax
    from flax import nnx

    from jaxtrain.curvature import analyze_critical_point, loss_from_model
    from jaxtrain.data import make_spirals
    from jaxtrain.losses import softmax_cross_entropy
    from jaxtrain.nn import MLP, functional
    from jaxtrain.optim import adam, optimize_trajectory

    def build(s):
        return MLP(2, _WIDTH, 2, depth=_DEPTH, activation="tanh", rngs=nnx.Rngs(s))

    x, y = make_spirals(200, seed=seed)
    apply, _, state = functional(build(seed))
    loss_fn = loss_from_model(apply, state, [(x, y)], softmax_cross_entropy)
    optimizer, steps = adam(0.01), 1500 if quick else 3000
    runs = []
    for run in range(4 if quick else 12):
        params = functional(build(seed + run))[1]
        path, losses = optimize_trajectory(optimizer, loss_fn, params, steps)
        final = jax.tree.map(lambda p: p[-1], path)
        runs.append(
            {"params": final, "losses": losses, "report": analyze_critical_point(loss_fn, final)}
        )
    return {"loss_fn": loss_fn, "runs": runs, "steps": steps, "n_examples": len(x)}


def trained_spectrum(ctx: TourContext) -> None:
    """The Hessian spectrum of a trained network: dense eigenvalues and the Lanczos density."""
    import jax
    import matplotlib.pyplot as plt
    import numpy as np

    from jaxtrain.curvature import hvp, spectral_density
    from jaxtrain.plot import plot_density, plot_spectrum

    trained = _trained_spiral_nets(ctx.seed, ctx.quick)
    run = trained["runs"][0]
    report = run["report"]
    matvec = hvp(trained["loss_fn"], run["params"])
    num_iters = 40
    density = spectral_density(
        matvec, run["params"], num_probes=4, num_iters=num_iters, key=jax.random.key(ctx.seed)
    )
    eigs = np.asarray(report.eigenvalues)
    fig, (ax_hist, ax_density) = plt.subplots(1, 2, figsize=(10, 3.8))
    plot_spectrum(eigs, ax_hist, eig_tol=report.eig_tol)
    ax_hist.set_title(f"dense Hessian, n = {eigs.size}")
    plot_density(density, ax_density, label="stochastic Lanczos quadrature")
    ax_density.set_title("spectral density by Lanczos (Hessian-vector products)")
    fig.tight_layout()
    # The Lanczos nodes (Ritz values) converge to the extreme eigenvalues first.
    nodes = np.asarray(density.nodes)
    ctx.add_figure(
        "trained_spectrum",
        fig,
        f"A {_DEPTH}-layer tanh MLP ({eigs.size} parameters) after {trained['steps']} Adam "
        f"steps on two spirals: loss {report.loss:.3f}, ‖g‖ = {report.grad_norm:.1e}. Its "
        f"Hessian has {report.num_positive} positive, {report.num_negative} negative and "
        f"{report.num_zero} near-zero eigenvalues (|λ| ≤ {report.eig_tol:.1e}), from "
        f"{eigs[0]:.3g} to {eigs[-1]:.3g}: a few large curvatures and a bulk near 0. Lanczos "
        f"quadrature with {num_iters} Hessian-vector products per probe, the route for large "
        f"models, finds the same range ({nodes.min():.3g} to {nodes.max():.3g}).",
        {
            "n_params": eigs.size,
            "loss": report.loss,
            "grad_norm": report.grad_norm,
            "num_positive": report.num_positive,
            "num_negative": report.num_negative,
            "num_zero": report.num_zero,
            "eig_tol": report.eig_tol,
            "min_eigenvalue": eigs[0],
            "max_eigenvalue": eigs[-1],
            "lanczos_min": nodes.min(),
            "lanczos_max": nodes.max(),
            "minimum_ratio": report.minimum_ratio,
        },
    )


def minimum_ratio_vs_loss(ctx: TourContext) -> None:
    """The lecture's scatter: training loss against the share of positive eigenvalues."""
    import matplotlib.pyplot as plt
    import numpy as np

    trained = _trained_spiral_nets(ctx.seed, ctx.quick)
    reports = [run["report"] for run in trained["runs"]]
    losses = np.array([r.loss for r in reports])
    ratios = np.array([r.minimum_ratio for r in reports])
    grad_norms = np.array([r.grad_norm for r in reports])
    strict = np.array([(r.eigenvalues > 0).mean() for r in reports])
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    points = ax.scatter(ratios, losses, c=np.log10(grad_norms), cmap="viridis", label="λ > tol")
    ax.scatter(strict, losses, marker="x", color="gray", label="λ > 0 (no tolerance)")
    fig.colorbar(points, ax=ax, label="log₁₀ ‖g‖")
    ax.set(xlabel="minimum ratio (share of positive eigenvalues)", ylabel="training loss")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    correlation = float(np.corrcoef(ratios, np.log(losses))[0, 1]) if len(losses) > 2 else 0.0
    ctx.add_figure(
        "minimum_ratio_vs_loss",
        fig,
        f"{len(reports)} training runs of the same network from different seeds, stopped after "
        f"{trained['steps']} steps. Minimum ratio (positive eigenvalues above the tolerance, "
        f"over all) from {ratios.min():.2f} to {ratios.max():.2f}; correlation with log loss "
        f"{correlation:+.2f}. Most eigenvalues are near zero, and none of these points is a "
        "strict local minimum: where training stalls is rarely a true local minimum. The "
        "lecture's trend (lower loss, higher ratio) is shown, not promised: it varies with the "
        "activation and the tolerance.",
        {
            "losses": losses,
            "minimum_ratios": ratios,
            "ratios_without_tolerance": strict,
            "grad_norms": grad_norms,
            "correlation_ratio_log_loss": correlation,
            "num_zero": [r.num_zero for r in reports],
        },
    )


SECTION = TourSection(
    id="critical_points",
    title="2. Critical points",
    summary=(
        "Where the gradient g vanishes, training stalls, but not necessarily at a local "
        "minimum. The Hessian H = ∇²L(θ) decides: near θ, L(θ + u) ≈ L(θ) + ½ uᵀHu, so all "
        "eigenvalues λ > 0 means a local minimum, mixed signs a saddle point, and the "
        "eigenvector u of a negative λ is a way down. The minimum ratio is the share of "
        "positive eigenvalues."
    ),
    figures=(toy_saddle, trained_spectrum, minimum_ratio_vs_loss),
)
