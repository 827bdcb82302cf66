"""Time per jitted optimizer step, jaxtrain.optim against optax, on a ~10M-parameter pytree.

One step is ``update`` + ``optax.apply_updates`` compiled together, with the parameter and
optimizer-state buffers donated (replaced in place, as in a real training loop). Both sides
run in this process on the same gradients; their repeats are interleaved (ours, optax's,
optax's, ours, ...) so that machine noise hits both alike. Each repeat times ``--inner``
consecutive steps; the table shows the median over ``--repeats`` repeats per step and the
ratio jaxtrain/optax (target: <= 1.05).

    python benchmarks/optim.py            # ~10M parameters in 100 leaves
    python benchmarks/optim.py --quick    # a tiny pytree, a few repeats (smoke run)
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxtrain import optim

OPTIMIZERS: dict[str, tuple[Callable, Callable]] = {
    "sgd": (lambda: optim.sgd(0.01), lambda: optax.sgd(0.01)),
    "sgd_momentum": (lambda: optim.sgd(0.01, 0.9), lambda: optax.sgd(0.01, 0.9)),
    "adagrad": (lambda: optim.adagrad(0.01), lambda: optax.adagrad(0.01)),
    "rmsprop": (lambda: optim.rmsprop(0.01), lambda: optax.rmsprop(0.01)),
    "adam": (lambda: optim.adam(0.001), lambda: optax.adam(0.001)),
    "adamw": (lambda: optim.adamw(0.001), lambda: optax.adamw(0.001)),
    "radam": (lambda: optim.radam(0.001), lambda: optax.radam(0.001)),
}


def make_tree(num_pairs: int, rows: int, cols: int, seed: int) -> dict[str, jax.Array]:
    """``num_pairs`` (rows, cols) weight matrices and (cols,) biases: 2·num_pairs leaves."""
    keys = jax.random.split(jax.random.key(seed), num_pairs)
    tree = {}
    for i, key in enumerate(keys):
        tree[f"layer{i:03d}/w"] = jax.random.normal(key, (rows, cols), jnp.float32)
        tree[f"layer{i:03d}/b"] = jnp.zeros((cols,), jnp.float32)
    return tree


def compiled_step(opt: optax.GradientTransformation) -> Callable:
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return jax.jit(step, donate_argnums=(0, 1))


class Side:
    """One optimizer's compiled step and its live (donated) buffers."""

    def __init__(self, opt: optax.GradientTransformation, params, grads):
        self.step = compiled_step(opt)
        # Each side owns a copy: donation invalidates the buffers it is given.
        self.params = jax.tree.map(jnp.copy, params)
        self.state = opt.init(self.params)
        self.grads = grads
        self.times: list[float] = []

    def run(self, inner: int, record: bool = True) -> None:
        start = time.perf_counter()
        for _ in range(inner):
            self.params, self.state = self.step(self.params, self.state, self.grads)
        jax.block_until_ready((self.params, self.state))
        if record:
            self.times.append((time.perf_counter() - start) / inner)


def bench(name: str, params, grads, repeats: int, inner: int, warmup: int) -> tuple[Side, Side]:
    ours_factory, optax_factory = OPTIMIZERS[name]
    ours = Side(ours_factory(), params, grads)
    theirs = Side(optax_factory(), params, grads)
    for side in (ours, theirs):
        side.run(warmup, record=False)  # compile and settle
    for repeat in range(repeats):
        order = (ours, theirs) if repeat % 2 == 0 else (theirs, ours)
        for side in order:
            side.run(inner)
    # Both sides took the same steps from the same start: a fast wrong answer stops here.
    for mine, reference in zip(
        jax.tree.leaves(ours.params), jax.tree.leaves(theirs.params), strict=True
    ):
        np.testing.assert_allclose(np.asarray(mine), np.asarray(reference), rtol=1e-5, atol=1e-7)
    return ours, theirs


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    """Runs the benchmark; returns ``{name: (jaxtrain_seconds, optax_seconds)}`` per step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny pytree, few repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (>= 20)")
    parser.add_argument("--inner", type=int, default=None, help="steps per repeat")
    parser.add_argument("--only", nargs="*", default=None, help="optimizer names to run")
    args = parser.parse_args(argv)

    if args.quick:
        num_pairs, rows, cols = 5, 16, 32
        repeats, inner, warmup = args.repeats or 3, args.inner or 2, 2
    else:
        # 50 × (256·768 + 768) = 9,868,800 parameters in 100 leaves.
        num_pairs, rows, cols = 50, 256, 768
        repeats, inner, warmup = args.repeats or 25, args.inner or 3, 3
    params = make_tree(num_pairs, rows, cols, seed=0)
    grads = jax.tree.map(lambda p: 1e-2 * p, make_tree(num_pairs, rows, cols, seed=1))
    size = sum(leaf.size for leaf in jax.tree.leaves(params))
    leaves = len(jax.tree.leaves(params))
    print(
        f"{size:,} float32 parameters in {leaves} leaves; {jax.devices()[0].platform}; "
        f"median of {repeats} interleaved repeats × {inner} steps (jax {jax.__version__}, "
        f"optax {optax.__version__})"
    )
    # "ratio" compares medians; "best ratio" the fastest repeats, less sensitive to a busy machine.
    header = f"{'optimizer':14s} {'jaxtrain ms':>12s} {'optax ms':>10s} {'ratio':>7s}"
    print(header + f" {'best ratio':>11s}")
    results = {}
    for name in args.only or list(OPTIMIZERS):
        ours_side, theirs_side = bench(name, params, grads, repeats, inner, warmup)
        ours, theirs = statistics.median(ours_side.times), statistics.median(theirs_side.times)
        best = min(ours_side.times) / min(theirs_side.times)
        results[name] = (ours, theirs)
        print(
            f"{name:14s} {1e3 * ours:12.3f} {1e3 * theirs:10.3f} {ours / theirs:7.3f} {best:11.3f}"
        )
    return results


if __name__ == "__main__":
    main()
