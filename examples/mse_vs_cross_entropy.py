"""MSE after softmax vs cross-entropy: the lecture's error surfaces and a training race.

For a 2-class problem the network's two logits (z₀, z₁) go through a softmax, and the loss
compares the probabilities ŷ with the one-hot target y = (1, 0):

- MSE:            e = (ŷ₀ − 1)² + ŷ₁²
- cross-entropy:  e = −log ŷ₀

Both are small at the bottom-right (z₀ ≫ z₁) and large at the top-left (z₀ ≪ z₁). But at the
top-left the softmax saturates: MSE's surface is a flat plateau there (gradient ~e^{−|z₀−z₁|}),
while cross-entropy keeps a slope of about 1, so gradient descent started at a bad point
escapes with cross-entropy and stalls with MSE (lecture §5).

The script draws both surfaces side by side with gradient-descent paths from a poor start
(z = (−10, 10)), prints the gradient sizes there (2 and 3 classes), then trains the same
small MLP on two Gaussian blobs from a poor start (final-layer bias (−10, 10)) with each loss
and prints its losses and accuracies.

    python examples/mse_vs_cross_entropy.py --out jaxtrain-out --quick
"""

from __future__ import annotations

import argparse
import pathlib

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
from flax import nnx

from jaxtrain.losses import accuracy, mse, softmax_cross_entropy
from jaxtrain.nn import MLP, functional

TARGET = jnp.array([0])  # class 0: y = (1, 0)
POOR_START = jnp.array([-10.0, 10.0])


def mse_of_softmax(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """The lecture's Σᵢ(ŷᵢ − yᵢ)² per example, averaged over examples."""
    return mse(jax.nn.softmax(logits), labels, reduction="none").sum(-1).mean()


LOSSES = {"MSE after softmax": mse_of_softmax, "cross-entropy": softmax_cross_entropy}


def surface(loss, grid: np.ndarray) -> np.ndarray:
    """Loss at every logit pair (z₀, z₁) of the grid, target class 0."""
    z0, z1 = np.meshgrid(grid, grid)
    logits = jnp.stack([z0.ravel(), z1.ravel()], axis=-1)
    per_point = jax.vmap(lambda z: loss(z[None], TARGET))(logits)
    return np.asarray(per_point).reshape(z0.shape)


def descend(loss, start: jax.Array, *, learning_rate: float, steps: int) -> np.ndarray:
    """Gradient-descent path of the logits themselves, as in the lecture's picture."""

    def step(z, _):
        z = z - learning_rate * jax.grad(lambda z: loss(z[None], TARGET))(z)
        return z, z

    _, path = jax.lax.scan(step, start, None, length=steps)
    return np.concatenate([np.asarray(start)[None], np.asarray(path)])


def gradient_table() -> list[tuple[str, str, float]]:
    """‖∂e/∂z‖ at saturated wrong logits for both losses (REFERENCES.md's numbers)."""
    rows = []
    for name, logits in (
        ("(-10, 10)", jnp.array([[-10.0, 10.0]])),
        ("(-10, 10, -1000)", jnp.array([[-10.0, 10.0, -1000.0]])),
    ):
        for loss_name, loss in LOSSES.items():
            norm = float(jnp.linalg.norm(jax.grad(loss)(logits, TARGET)))
            rows.append((name, loss_name, norm))
    return rows


def two_blobs(n: int, seed: int) -> tuple[jax.Array, jax.Array]:
    """Two separable Gaussian blobs in 2-D, labels 0 and 1."""
    key_x, key_y = jax.random.split(jax.random.key(seed))
    y = jax.random.randint(key_y, (n,), 0, 2)
    centers = jnp.array([[-1.5, 0.0], [1.5, 0.0]])
    return centers[y] + 0.7 * jax.random.normal(key_x, (n, 2)), y


def train_from_poor_start(loss, x, y, *, steps: int, learning_rate: float, seed: int = 0):
    """Full-batch gradient descent on an MLP whose final bias starts at (−10, 10).

    The head's weights start at zero, so every example begins at logits (−10, 10): confident
    and wrong for class 0. Returns per-step losses and the final accuracy.
    """
    model = MLP(2, 16, 2, depth=1, activation="tanh", rngs=nnx.Rngs(seed))
    model.head.kernel[...] = jnp.zeros_like(model.head.kernel[...])
    model.head.bias[...] = POOR_START
    apply, params, state = functional(model)
    optimizer = optax.sgd(learning_rate)

    def objective(params):
        logits, _ = apply(params, state, x, train=True)
        return loss(logits, y)

    def step(carry, _):
        params, opt_state = carry
        value, grads = jax.value_and_grad(objective)(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        return (optax.apply_updates(params, updates), opt_state), value

    (params, _), losses = jax.jit(lambda c: jax.lax.scan(step, c, None, length=steps))(
        (params, optimizer.init(params))
    )
    logits, _ = apply(params, state, x, train=False)
    return np.asarray(losses), float(accuracy(logits, y))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="jaxtrain-out", help="output folder")
    parser.add_argument("--quick", action="store_true", help="coarser grid, fewer steps")
    args = parser.parse_args(argv)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(-12.0, 12.0, 41 if args.quick else 121)
    path_steps = 60 if args.quick else 200
    train_steps = 150 if args.quick else 600

    print("gradient size at a confident wrong prediction (target class 0)")
    print(f"{'logits':<18}{'loss':<20}{'|de/dz|':>10}")
    grads = gradient_table()
    for logits, loss_name, norm in grads:
        print(f"{logits:<18}{loss_name:<20}{norm:10.2e}")

    x, y = two_blobs(256, seed=0)
    results = {}
    for name, loss in LOSSES.items():
        results[name] = train_from_poor_start(loss, x, y, steps=train_steps, learning_rate=1.0)
    print(f"\ntraining an MLP from final bias (-10, 10), {train_steps} steps of gradient descent")
    print(f"{'loss':<20}{'first loss':>11}{'last loss':>11}{'accuracy':>10}")
    for name, (losses, acc) in results.items():
        print(f"{name:<20}{losses[0]:11.4f}{losses[-1]:11.4f}{acc:10.3f}")

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    for ax, (name, loss) in zip(axes[:2], LOSSES.items(), strict=True):
        values = surface(loss, grid)
        image = ax.contourf(grid, grid, values, levels=30, cmap="viridis")
        fig.colorbar(image, ax=ax)
        path = descend(loss, POOR_START, learning_rate=1.0, steps=path_steps)
        ax.plot(path[:, 0], path[:, 1], "r.-", markersize=3, label=f"{path_steps} GD steps")
        ax.plot(*POOR_START, "r*", markersize=12, label="start (-10, 10)")
        ax.set_xlim(grid[0], grid[-1])
        ax.set_ylim(grid[0], grid[-1])
        ax.set_xlabel("logit z0 (target class)")
        ax.set_ylabel("logit z1")
        ax.set_title(f"{name}, target y = (1, 0)")
        ax.legend(loc="lower left", fontsize=8)
    for name, (losses, _) in results.items():
        axes[2].plot(losses / losses[0], label=name)
    axes[2].set_xlabel("step")
    axes[2].set_ylabel("loss / initial loss")
    axes[2].set_title("MLP from a poor start")
    axes[2].legend()
    fig.tight_layout()
    out = pathlib.Path(args.out) / "mse_vs_cross_entropy"
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "mse_vs_cross_entropy.png", dpi=100)
    plt.close(fig)
    print(f"wrote {out / 'mse_vs_cross_entropy.png'}")
    return {"gradients": grads, "training": results}


if __name__ == "__main__":
    main()
