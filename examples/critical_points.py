"""Critical points (lecture §2): saddle or minimum, the way down, and the minimum ratio.

Four pictures, each printed as numbers too:

1. ``toy_error_surface.png``: the lecture's network ŷ = w₁w₂x (x = 1, target 1, MSE). The
   origin is a saddle point: H = [[0, −2], [−2, 0]], eigenvalues ±2, and the eigenvector of
   −2, ±(1, 1)/√2, is drawn as the way down to the valley of minima w₁w₂ = 1.
2. ``escape_vs_gradient_descent.png``: gradient descent started exactly at the saddle never
   moves (g = 0); one step along the escape direction, then the same gradient descent, goes
   down to the minimum.
3. ``trained_spectrum.png`` and ``trained_slices.png``: a small tanh network trained until
   the gradient is tiny, its Hessian spectrum (dense eigenvalues and the Lanczos density
   estimate) and 1-D / 2-D loss slices through it.
4. ``minimum_ratio_vs_loss.png``: the lecture's scatter of minimum ratio against training
   loss over many training runs (vmapped over seeds), for tanh and ReLU. The lecture shows a
   trend (lower loss, higher ratio); whether it appears depends on the network and the
   activation, so this script shows the scatter and the rank correlation and promises
   nothing.

    python examples/critical_points.py --out jaxtrain-out --quick
"""

from __future__ import annotations

import argparse
import itertools
import pathlib
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from jaxtrain import curvature, landscape

# ---------------------------------------------------------------------------------------------
# 1-2. The lecture's toy: a saddle at the origin.


def toy_loss(w: jax.Array) -> jax.Array:
    """L(w₁, w₂) = (1 − w₁w₂·x)² with x = 1 and target 1."""
    return (1.0 - w[0] * w[1]) ** 2


def gradient_descent(loss: Callable, w: jax.Array, steps: int, lr: float) -> np.ndarray:
    """Losses along ``steps`` plain gradient-descent steps (one compiled scan)."""
    optimizer = optax.sgd(lr)

    def step(carry, _):
        w, state = carry
        value, grad = jax.value_and_grad(loss)(w)
        updates, state = optimizer.update(grad, state, w)
        return (optax.apply_updates(w, updates), state), value

    _, losses = jax.lax.scan(step, (w, optimizer.init(w)), None, length=steps)
    return np.asarray(losses)


def toy_pictures(out: pathlib.Path, *, quick: bool) -> dict:
    import matplotlib.pyplot as plt

    report = curvature.analyze_critical_point(toy_loss, jnp.zeros(2))
    print("The lecture's toy at (0, 0):")
    print("  Hessian", np.asarray(curvature.hessian(toy_loss, jnp.zeros(2))).tolist())
    print("  " + str(report).replace("\n", "\n  "))
    u = np.asarray(report.escape_direction)

    ticks = jnp.linspace(-2.0, 2.0, 41 if quick else 161)
    e1, e2 = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
    surface = landscape.loss_surface_2d(toy_loss, jnp.zeros(2), e1, e2, ticks, ticks)
    from jaxtrain.plot import plot_loss_slice_1d, plot_loss_surface_2d

    fig, (ax, ax_line) = plt.subplots(1, 2, figsize=(10.5, 4.2))
    plot_loss_surface_2d(
        ticks, ticks, surface, ax, levels=25, log_scale=True, xlabel="w₁", ylabel="w₂"
    )
    hyperbola = np.linspace(0.5, 2.0, 50)
    for sign in (1.0, -1.0):
        ax.plot(sign * hyperbola, sign / hyperbola, color="w", linewidth=1.5)
        ax.annotate(
            "",
            xy=(sign * u[0], sign * u[1]),
            xytext=(0.0, 0.0),
            arrowprops={"arrowstyle": "->", "color": "tab:red", "linewidth": 2},
        )
    ax.set_title(f"saddle at (0, 0): λ = {report.eigenvalues[0]:.0f}, {report.eigenvalues[1]:.0f}")
    ax.text(0.45, 1.75, "minima: w₁w₂ = 1", color="w")
    alphas = jnp.linspace(-2.0, 2.0, 81)
    down = landscape.loss_slice_1d(toy_loss, jnp.zeros(2), jnp.asarray(u), alphas)
    across = landscape.loss_slice_1d(toy_loss, jnp.zeros(2), jnp.array([u[0], -u[1]]), alphas)
    plot_loss_slice_1d(alphas, down, ax_line, label="escape u (λ = −2)")
    plot_loss_slice_1d(alphas, across, ax_line, label="across (λ = +2)", xlabel="step along")
    ax_line.set_ylim(0.0, 4.0)
    ax_line.set_title("through the saddle")
    fig.tight_layout()
    fig.savefig(out / "toy_error_surface.png", dpi=120)
    plt.close(fig)

    steps = 30 if quick else 60
    stuck = gradient_descent(toy_loss, jnp.zeros(2), steps, 0.1)
    escaped_params, change = report.escape(0.5)
    escaped = gradient_descent(toy_loss, escaped_params, steps, 0.1)
    print(f"  gradient descent from (0, 0): loss {stuck[0]:.4f} -> {stuck[-1]:.4f} (stuck)")
    print(
        f"  one escape step t = 0.5: loss change {change:.4f} (predicted ½λt² ="
        f" {report.predict(0.5):.4f}), then gradient descent reaches {escaped[-1]:.2e}"
    )
    fig, ax = plt.subplots(figsize=(5.0, 3.5))
    ax.plot(stuck, label="gradient descent from the saddle")
    path = np.concatenate([[stuck[0]], escaped])
    ax.plot(np.maximum(path, 1e-12), label="escape step, then gradient descent")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "escape_vs_gradient_descent.png", dpi=120)
    plt.close(fig)
    return {"stuck": float(stuck[-1]), "escape_change": change, "after": float(escaped[-1])}


# ---------------------------------------------------------------------------------------------
# 3-4. Small networks.


def init_mlp(key: jax.Array, sizes: tuple[int, ...]) -> list[dict[str, jax.Array]]:
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        key, sub = jax.random.split(key)
        w = jax.random.normal(sub, (fan_in, fan_out)) * jnp.sqrt(1.0 / fan_in)
        params.append({"w": w, "b": jnp.zeros(fan_out)})
    return params


def mlp(params, x, activation):
    for layer in params[:-1]:
        x = activation(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def regression_data(n: int) -> tuple[jax.Array, jax.Array]:
    x = jnp.linspace(-2.0, 2.0, n)[:, None]
    return x, jnp.sin(2.0 * x) + 0.3 * x


def make_loss(activation) -> Callable:
    def loss(params, x, y):
        return jnp.mean((mlp(params, x, activation) - y) ** 2)

    return loss


def train_until_flat(loss: Callable, params, x, y, *, steps: int):
    """Adam to get close, then L-BFGS to drive the gradient down (one compiled loop each)."""
    adam = optax.adam(1e-2)

    def adam_step(carry, _):
        params, state = carry
        grads = jax.grad(loss)(params, x, y)
        updates, state = adam.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.jit(
        lambda p: jax.lax.scan(adam_step, (p, adam.init(p)), None, length=steps)
    )(params)
    lbfgs = optax.lbfgs()
    value_fn = lambda p: loss(p, x, y)  # noqa: E731
    value_and_grad = optax.value_and_grad_from_state(value_fn)

    def lbfgs_step(carry, _):
        params, state = carry
        value, grad = value_and_grad(params, state=state)
        updates, state = lbfgs.update(
            grad, state, params, value=value, grad=grad, value_fn=value_fn
        )
        return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.jit(
        lambda p: jax.lax.scan(lbfgs_step, (p, lbfgs.init(p)), None, length=steps)
    )(params)
    return params


def trained_network_pictures(out: pathlib.Path, *, quick: bool) -> dict:
    import matplotlib.pyplot as plt

    from jaxtrain.plot import (
        plot_density,
        plot_loss_slice_1d,
        plot_loss_surface_2d,
        plot_spectrum,
    )

    x, y = regression_data(64)
    loss = make_loss(jnp.tanh)
    params = init_mlp(jax.random.key(0), (1, 12, 12, 1))
    params = train_until_flat(loss, params, x, y, steps=300 if quick else 2000)
    report = curvature.analyze_critical_point(loss, params, x, y, grad_tol=1e-3)
    n = report.eigenvalues.size
    print(f"\nA 1-12-12-1 tanh network ({n} parameters) trained until the gradient is tiny:")
    print("  " + str(report).replace("\n", "\n  "))

    matvec = curvature.hvp(loss, params, x, y)
    key = jax.random.key(1)
    top = curvature.eigenvalues(matvec, params, k=3, which="both", key=key)
    density = curvature.spectral_density(
        matvec, params, num_probes=4 if quick else 16, num_iters=min(n, 60), key=key
    )
    slq_ratio = float(curvature.minimum_ratio_estimate(density, tol=report.eig_tol))
    values = ", ".join(f"{v:.4g}" for v in np.asarray(top.eigenvalues))
    print(
        f"  Lanczos, 3 smallest and 3 largest: {values} ({top.num_matvecs} products);"
        f" SLQ minimum ratio {slq_ratio:.3f} vs dense {report.minimum_ratio:.3f}"
    )

    fig, (ax_hist, ax_density) = plt.subplots(1, 2, figsize=(10.5, 3.8))
    plot_spectrum(report.eigenvalues, ax_hist, eig_tol=report.eig_tol)
    ax_hist.set_title(f"dense Hessian, {report.kind}, ‖g‖ = {report.grad_norm:.1e}")
    plot_density(density, ax_density, label="stochastic Lanczos quadrature")
    ax_density.set_title(f"SLQ density: minimum ratio ≈ {slq_ratio:.2f}")
    fig.tight_layout()
    fig.savefig(out / "trained_spectrum.png", dpi=120)
    plt.close(fig)

    # Slices: along the direction of least curvature (the escape direction when negative)
    # and along a filter-normalized random direction; a 2-D surface on two random ones.
    flat, unravel = ravel_pytree(params)
    H = curvature.hessian(loss, params, x, y)
    lowest = unravel(jnp.linalg.eigh(H)[1][:, 0].astype(flat.dtype))
    d1 = landscape.random_direction(jax.random.key(2), params)
    d2 = landscape.random_direction(jax.random.key(3), params)
    alphas = jnp.linspace(-1.0, 1.0, 41 if quick else 101)
    fig, (ax_line, ax_plane) = plt.subplots(1, 2, figsize=(10.5, 4.0))
    for direction, label in ((lowest, "lowest-curvature eigenvector"), (d1, "random (filter)")):
        plot_loss_slice_1d(
            alphas,
            landscape.loss_slice_1d(loss, params, direction, alphas, x, y),
            ax_line,
            label=label,
            log_scale=True,
        )
    ticks = jnp.linspace(-1.0, 1.0, 21 if quick else 61)
    surface = landscape.loss_surface_2d(loss, params, d1, d2, ticks, ticks, x, y)
    plot_loss_surface_2d(ticks, ticks, surface, ax_plane, log_scale=True)
    ax_plane.set_title("two filter-normalized random directions")
    fig.tight_layout()
    fig.savefig(out / "trained_slices.png", dpi=120)
    plt.close(fig)
    return {"kind": report.kind, "grad_norm": report.grad_norm, "ratio": report.minimum_ratio}


def ratio_scatter(out: pathlib.Path, *, quick: bool) -> dict:
    """Minimum ratio vs training loss over many runs, all runs of an activation in one vmap."""
    import matplotlib.pyplot as plt

    num_runs = 24 if quick else 256
    steps = 300 if quick else 3000
    x, y = regression_data(32)
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.0), sharey=True)
    correlations = {}
    for ax, (name, activation) in zip(
        axes, (("tanh", jnp.tanh), ("relu", jax.nn.relu)), strict=True
    ):
        loss = make_loss(activation)
        keys = jax.random.split(jax.random.key(10), num_runs)
        sizes = (1, 4, 4, 1)
        params = jax.vmap(lambda k, sizes=sizes: init_mlp(k, sizes))(keys)
        optimizer = optax.sgd(0.05, momentum=0.9)

        def train(p, loss=loss, optimizer=optimizer):
            def step(carry, _):
                p, state = carry
                updates, state = optimizer.update(jax.grad(loss)(p, x, y), state, p)
                return (optax.apply_updates(p, updates), state), None

            (p, _), _ = jax.lax.scan(step, (p, optimizer.init(p)), None, length=steps)
            return p

        def measure(p, loss=loss):
            value, grad = jax.value_and_grad(loss)(p, x, y)
            evals = jnp.linalg.eigvalsh(curvature.hessian(loss, p, x, y))
            tol = jnp.sqrt(jnp.finfo(evals.dtype).eps) * jnp.maximum(jnp.max(jnp.abs(evals)), 1)
            return value, jnp.linalg.norm(ravel_pytree(grad)[0]), jnp.mean(evals > tol)

        trained = jax.jit(jax.vmap(train))(params)
        values, grad_norms, ratios = (np.asarray(a) for a in jax.vmap(measure)(trained))
        rank = lambda a: np.argsort(np.argsort(a))  # noqa: E731
        rho = float(np.corrcoef(rank(values), rank(ratios))[0, 1])
        correlations[name] = rho
        scatter = ax.scatter(values, ratios, c=np.log10(grad_norms + 1e-12), cmap="viridis", s=18)
        ax.set_xscale("log")
        ax.set_xlabel("training loss")
        ax.set_title(f"{name}: Spearman ρ(loss, ratio) = {rho:+.2f}")
        print(
            f"  {name}: {num_runs} runs, loss {values.min():.2e}..{values.max():.2e},"
            f" minimum ratio {ratios.min():.2f}..{ratios.max():.2f}, rank correlation {rho:+.2f},"
            f" median gradient norm {np.median(grad_norms):.1e}"
        )
    axes[0].set_ylabel("minimum ratio (λ > tol) / n")
    fig.colorbar(scatter, ax=axes, label="log₁₀ ‖g‖ (read the ratio with it)")
    fig.savefig(out / "minimum_ratio_vs_loss.png", dpi=120)
    plt.close(fig)
    return correlations


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="jaxtrain-out", help="output folder")
    parser.add_argument("--quick", action="store_true", help="small grids, few runs")
    args = parser.parse_args(argv)
    matplotlib.use("Agg")
    out = pathlib.Path(args.out) / "critical_points"
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results = {"toy": toy_pictures(out, quick=args.quick)}
    results["trained"] = trained_network_pictures(out, quick=args.quick)
    print("\nMinimum ratio vs training loss (the trend is not robust: look, don't trust):")
    results["scatter"] = ratio_scatter(out, quick=args.quick)
    print(f"\nwrote {sorted(p.name for p in out.glob('*.png'))} to {out}")
    print(f"({time.perf_counter() - start:.1f} s)")
    return results


if __name__ == "__main__":
    main()
