"""BatchNorm on real data: the same deep network with and without it, and what test time needs.

A deep sigmoid MLP (8 hidden layers) on scikit-learn's 8×8 handwritten digits, trained with
plain SGD, once without normalization and once with ``jaxtrain.nn.BatchNorm`` after every
hidden linear layer (lecture §6). Without it the signal and the gradients shrink through the
sigmoids and training crawls; with it every layer sees normalized inputs and the loss falls
quickly at the same learning rate.

Then the BatchNorm network is tested four ways: with the running statistics (test mode, the
right way), with the test set's own batch statistics, and with test batches of one example.
With batch statistics a batch of one normalizes every feature to β, so the output ignores the
input and accuracy drops to chance; the running statistics fix it.

The training loop is a few lines of optax on the functional contract
``apply(params, state, x, train=..., rng=...) -> (y, new_state)``, with ``lax.scan`` over the
steps.

    python examples/batch_norm.py --out jaxtrain-out --quick
"""

from __future__ import annotations

import argparse
import functools
import pathlib

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
from flax import nnx

from jaxtrain.data import load_digits
from jaxtrain.losses import accuracy, softmax_cross_entropy
from jaxtrain.nn import MLP, BatchNorm, functional


def split_digits(seed: int = 0, test_fraction: float = 0.25):
    """Digits as flat 64-pixel vectors, shuffled into train and test sets."""
    x, y = load_digits()
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(len(x) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return (x[train], y[train]), (x[test], y[test])


def make_model(*, batch_norm: bool, depth: int, seed: int):
    """The deep sigmoid MLP, with or without BatchNorm (momentum 0.9 for short runs)."""
    norm = functools.partial(BatchNorm, momentum=0.9) if batch_norm else None
    return MLP(64, 64, 10, depth=depth, activation="sigmoid", norm=norm, rngs=nnx.Rngs(seed))


def train(model, x, y, *, steps: int, batch_size: int, learning_rate: float, seed: int):
    """Minibatch SGD through the functional contract, compiled once as a ``lax.scan``.

    Returns the final ``(apply, params, state)`` and the per-step training losses.
    """
    apply, params, state = functional(model)
    optimizer = optax.sgd(learning_rate, momentum=0.9)
    rng = np.random.default_rng(seed)
    epochs = -(-steps * batch_size // len(x))
    order = np.concatenate([rng.permutation(len(x)) for _ in range(epochs)])
    batches = jnp.asarray(order[: steps * batch_size].reshape(steps, batch_size))
    x, y = jnp.asarray(x), jnp.asarray(y)

    def loss_fn(params, state, xb, yb):
        logits, new_state = apply(params, state, xb, train=True)
        return softmax_cross_entropy(logits, yb), new_state

    def step(carry, index):
        params, state, opt_state = carry
        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, state, x[index], y[index]
        )
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), state, opt_state), loss

    @jax.jit
    def run(params, state, opt_state, batches):
        return jax.lax.scan(step, (params, state, opt_state), batches)

    (params, state, _), losses = run(params, state, optimizer.init(params), batches)
    return (apply, params, state), np.asarray(losses)


def accuracies_at_test_time(triple, x, y) -> dict[str, float]:
    """Test accuracy four ways: running vs batch statistics, whole test set vs batches of one."""
    apply, params, state = triple
    x, y = jnp.asarray(x), jnp.asarray(y)

    def one_at_a_time(train: bool):
        per_example = jax.vmap(lambda xi: apply(params, state, xi[None], train=train)[0][0])
        return float(accuracy(per_example(x), y))

    return {
        "running stats, whole test set": float(
            accuracy(apply(params, state, x, train=False)[0], y)
        ),
        "running stats, batches of 1": one_at_a_time(train=False),
        "batch stats, whole test set": float(accuracy(apply(params, state, x, train=True)[0], y)),
        "batch stats, batches of 1": one_at_a_time(train=True),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="jaxtrain-out", help="output folder")
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    parser.add_argument("--depth", type=int, default=8, help="hidden layers")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = 300 if args.quick else 1500
    (x_train, y_train), (x_test, y_test) = split_digits(args.seed)
    runs = {}
    for batch_norm in (False, True):
        model = make_model(batch_norm=batch_norm, depth=args.depth, seed=args.seed)
        runs[batch_norm] = train(
            model, x_train, y_train, steps=steps, batch_size=64, learning_rate=0.05, seed=args.seed
        )

    print(f"deep sigmoid MLP ({args.depth} hidden layers), {steps} SGD steps on digits")
    print(f"{'network':<16}{'first loss':>11}{'last loss':>11}{'test acc':>10}")
    for batch_norm, (triple, losses) in runs.items():
        apply, params, state = triple
        acc = float(accuracy(apply(params, state, jnp.asarray(x_test), train=False)[0], y_test))
        name = "with BatchNorm" if batch_norm else "plain"
        print(f"{name:<16}{losses[0]:11.4f}{losses[-10:].mean():11.4f}{acc:10.3f}")

    accuracies = accuracies_at_test_time(runs[True][0], x_test, y_test)
    print("\nBatchNorm network at test time (chance is about 0.10)")
    for name, acc in accuracies.items():
        print(f"  {name:<32}{acc:6.3f}")

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for batch_norm, (_, losses) in runs.items():
        smooth = np.convolve(losses, np.ones(10) / 10, mode="valid")
        ax_loss.plot(smooth, label="with BatchNorm" if batch_norm else "plain")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("training loss (10-step mean)")
    ax_loss.set_title(f"deep sigmoid MLP ({args.depth} hidden layers) on digits")
    ax_loss.legend()
    names = list(accuracies)
    ax_acc.barh(names, [accuracies[n] for n in names], color=["C2", "C2", "C1", "C3"])
    ax_acc.axvline(0.1, color="k", linestyle="--", label="chance")
    ax_acc.set_xlim(0, 1)
    ax_acc.set_xlabel("test accuracy")
    ax_acc.set_title("BatchNorm network at test time")
    ax_acc.legend(loc="lower right")
    fig.tight_layout()
    out = pathlib.Path(args.out) / "batch_norm"
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "batch_norm.png", dpi=100)
    plt.close(fig)
    print(f"wrote {out / 'batch_norm.png'}")
    return {"losses": {bn: runs[bn][1] for bn in runs}, "test_accuracy": accuracies}


if __name__ == "__main__":
    main()
